// The tumour-reactive CD8 share and the tumour's immunogenicity (docs/qsp.md, "Structure added for
// calibration"): the share as documented, and that immunogenicity acts only through PD-1-held CD8
// killing in the synapse.

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "nkscape/error.hpp"
#include "nkscape/qsp/engine.hpp"
#include "nkscape/qsp/scenario.hpp"

#include "default_model.hpp"

using namespace nkscape;
using namespace nkscape::model;
using namespace nkscape::qsp;

namespace {

using nkscape::testing::defaultModel;

std::size_t column(const SimulationResult& r, const std::string& name) {
    for (std::size_t j = 0; j < r.columns.size(); ++j)
        if (r.columns[j] == name) return j;
    throw std::runtime_error("no column " + name);
}

}  // namespace

// The tumour-reactive CD8 share follows the tumour's immunogenicity (docs/qsp.md, "Tumour-reactive
// CD8 T cells follow the tumour's immunogenicity"): min(1, 2 % × I).
TEST(Engine, Cd8ReactiveShareFollowsImmunogenicity) {
    EXPECT_DOUBLE_EQ(cd8TumourReactiveShare(0.02, 1.0), 0.02);
    EXPECT_DOUBLE_EQ(cd8TumourReactiveShare(0.02, 3.0), 0.06);
    EXPECT_DOUBLE_EQ(cd8TumourReactiveShare(0.02, 0.0), 0.0);
    EXPECT_DOUBLE_EQ(cd8TumourReactiveShare(0.02, 100.0), 1.0);  // every CD8 T cell at most
    EXPECT_THROW((void)cd8TumourReactiveShare(0.02, -1.0), InputError);
    EXPECT_THROW((void)cd8TumourReactiveShare(1.5, 1.0), InputError);
    EXPECT_THROW((void)cd8TumourReactiveShare(0.02, std::nan("")), InputError);
    SimulationSpec bad;
    bad.tumourCellType = defaultModel().require(Kind::CellType, "TNBC");
    bad.clones.push_back(CloneSpec{.name = "founding", .initialCells = 1e8});
    bad.durationDays = 10;
    bad.tumourImmunogenicity = -0.5;
    EXPECT_THROW((void)simulate(defaultModel(), bad), InputError);
}

// Immunogenicity acts only through the CD8 T cells' killing in the synapse: in a PD-L1-high TNBC
// (the shipped scenario's founding clone with PD-L1 x5) thirty times the reactive share does little
// untreated, because PD-L1 holds those cells back, while pembrolizumab releases their killing; on
// an HLA-I-lost tumour (no TCR ligand) immunogenicity changes nothing.
TEST(Engine, ImmunogenicityActsThroughPd1HeldCd8KillingOnly) {
    const auto loaded = loadSimulationScenario(std::filesystem::path(NKSCAPE_SOURCE_DIR "/scenarios/simulate/tnbc-untreated.toml"));
    const auto& m = loaded.model;
    EXPECT_DOUBLE_EQ(loaded.spec.tumourImmunogenicity, 1.0);  // the template tumour
    SimulationSpec s = loaded.spec;
    s.durationDays = 84;
    s.outputIntervalDays = 7;
    s.clones.resize(1);  // the founding clone alone: no variants to escape into
    const Index pdl1 = m.require(Kind::Ligand, "PD-L1");
    const Index hla = m.require(Kind::Ligand, "HLA-I");
    s.clones[0].ligandMultipliers = {{pdl1, 5.0}};
    auto finalCells = [&](double immunogenicity, bool pembrolizumab, double hlaMultiplier) {
        SimulationSpec x = s;
        x.tumourImmunogenicity = immunogenicity;
        if (hlaMultiplier != 1.0) x.clones[0].ligandMultipliers.emplace_back(hla, hlaMultiplier);
        if (pembrolizumab) {
            const Index t = m.require(Kind::Therapy, "pembrolizumab");
            DosingSpec d;
            d.amount = "200 mg";
            d.schedule = "q3w x 4";
            d.infusion = "30 min";
            x.drugs.push_back(DrugRegimen{t, DosingRegimen::parse(d, DrugPk::fromTherapy(m, t), BodySize{70.0, 1.8})});
        }
        const auto r = simulate(m, x);
        return r.rows.back()[column(r, "tumour.cells")];
    };
    const double base = finalCells(1, false, 1), inflamed = finalCells(30, false, 1);
    const double baseTreated = finalCells(1, true, 1), inflamedTreated = finalCells(30, true, 1);
    RecordProperty("cells", fmt::format("untreated {:.4g} / {:.4g}, pembrolizumab {:.4g} / {:.4g} (I = 1 / 30)", base, inflamed, baseTreated, inflamedTreated));
    const double benefitBase = base / baseTreated, benefitInflamed = inflamed / inflamedTreated;
    RecordProperty("pembrolizumab benefit", fmt::format("{:.4g} at I = 1, {:.4g} at I = 30", benefitBase, benefitInflamed));
    // Measured: untreated 1.835e9 / 1.684e9 cells after 12 weeks (from 1e9), with pembrolizumab
    // 1.817e9 / 5.92e8 — a benefit of 1.01 at I = 1 and 2.84 at I = 30, the inflamed tumour shrinking.
    EXPECT_LT(benefitBase, 1.05) << "at the template's 2 % share PD-1 blockade releases little";
    EXPECT_GT(benefitInflamed, 2.0) << "PD-1 blockade must release the reactive cells' killing";
    EXPECT_LT(inflamedTreated, 0.7 * s.clones[0].initialCells) << "the inflamed tumour shrinks under pembrolizumab";
    EXPECT_GT(inflamed, 0.85 * base) << "untreated, PD-L1 must hold most of the reactive cells back";
    EXPECT_GT(inflamed, s.clones[0].initialCells) << "untreated, the inflamed PD-L1-high tumour still grows";
    // HLA-I lost: no TCR ligand, so the reactive share kills nothing, whatever its size.
    const double lost = finalCells(1, true, 0.01), lostInflamed = finalCells(30, true, 0.01);
    EXPECT_NEAR(lostInflamed / lost, 1.0, 0.02);
}
