// The shipped default model: it loads, it names every entity DESIGN.md "The model" asks for, every
// number has a unit and a source, the published values made it in unchanged, and the generated
// model reference in docs/ is not stale.

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <sstream>

#include "nkscape/model/describe.hpp"
#include "nkscape/model/loader.hpp"

using namespace nkscape::model;

namespace {

const CompiledModel& model() {
    static const CompiledModel m = loadModel(std::filesystem::path(NKSCAPE_SOURCE_DIR "/models/default.toml"));
    return m;
}

struct Expected {
    Kind kind;
    std::vector<const char*> names;
};

// Every entity DESIGN.md "The model" names, by the canonical name the model uses (aliases also
// resolve: "CD226" finds DNAM-1). Grouped as in DESIGN.md.
const std::vector<Expected> kDesignEntities = {
    // NK receptors: activating, inhibitory, mixed; adaptors.
    {Kind::Receptor, {"NKG2D", "DNAM-1", "CD226", "NKp30", "NKp46", "CD16", "FcgRIIIa", "NKG2C", "KIR2DS", "NKG2A", "KIR2DL",
                      "KIR2DL4", "LILRB1", "CD85j", "ILT2", "PD-1", "TIGIT", "TIM-3", "LAG-3", "CTLA-4", "CD247", "DAP12", "TCR"}},
    // Tumour ligands and antibody targets.
    {Kind::Ligand, {"MICA/B", "ULBP", "CD155", "B7-H6", "HLA-I", "HLA-E", "HLA-G", "PD-L1", "Galectin-9", "HMGB1", "CEACAM1",
                    "PtdSer", "MHC-II", "HER2", "EGFR", "MUC1", "GD2", "Fc-IgG"}},
    // Competition and decoys.
    {Kind::Interaction, {"NKG2D:MICA/B", "NKG2D:ULBP", "NKG2D:sMICA", "DNAM-1:CD155", "TIGIT:CD155", "NKG2A:HLA-E", "NKG2C:HLA-E",
                         "KIR2DL4:HLA-G", "LILRB1:HLA-G", "PD-1:PD-L1", "LAG-3:MHC-II", "NKp30:B7-H6", "CD16:Fc-IgG"}},
    // Fields.
    {Kind::Mediator, {"O2", "TGF-b", "IL-10", "IL-6", "IL-2", "IL-15", "IL-21", "IFN-g", "TNF-a", "PGE2", "adenosine", "kynurenine",
                      "sMICA", "VEGF", "CXCL12", "MMP-9", "MMP-7", "DKK1", "ROS/RNS"}},
    // NK functional state and tumour pathways.
    {Kind::Factor, {"perforin", "granzyme B", "FasL", "ADAM17", "ADAM10", "mTOR", "exhaustion", "ILC1 conversion", "Mcl-1", "Bim",
                    "A2AR", "CD73", "EP2", "EP4", "COX-2", "IDO", "STAT3", "PI3K", "AKT", "RAS/MAPK", "GSK-3b", "eIF2B",
                    "miR-20a/93", "miR-183", "APM", "HLA-I methylation", "HLA-G methylation", "chronic stimulation", "granules"}},
    // Cells: NK subsets, the four subtypes, the microenvironment.
    {Kind::CellType, {"CD56dim NK", "CD56bright NK", "ILC1-like NK", "NK-92", "TGF-b-imprinted NK", "HER2 CAR-NK", "EGFR CAR-NK",
                      "MUC1 CAR-NK", "Luminal A", "Luminal B", "HER2-enriched", "TNBC", "CAF", "MDSC", "TAM M1", "TAM M2", "Treg",
                      "CD8 T", "DC"}},
    {Kind::Pathway, {"HER2/HER3-PI3K/AKT", "AKT-GSK-3b-eIF2B"}},
    // Therapies of DESIGN.md "Therapies".
    {Kind::Therapy, {"pembrolizumab", "avelumab", "anti-TIGIT", "MBG453", "TSR-022", "PM1022", "monalizumab", "HP-F1", "trastuzumab",
                     "pertuzumab", "afucosylated anti-HER2", "naxitamab", "DF1001", "autologous NK", "NK-92 oNK", "TGF-b-imprinted NK",
                     "HER2 CAR-NK", "EGFR CAR-NK", "MUC1 CAR-NK", "IL-2", "IL-2 superkine", "IL-15", "N-803", "IL-21", "DNMT inhibitor",
                     "HDAC inhibitor", "STAT3 inhibitor", "GSK-3b modulator", "NOX4 inhibitor", "ADAM10/17 inhibitor", "COX-2 inhibitor",
                     "EP2/EP4 antagonist", "CD73 blocker", "A2AR antagonist", "TGF-b blockade", "everolimus", "eftilagimod alpha",
                     "paclitaxel", "oncolytic HSV-1", "cryosurgery"}},
};

// Looks a DESIGN.md name up in one kind. Names are unique across kinds, so where DESIGN.md uses
// one name for two things (the cell type and the therapy infusing it; the cytokine and its drug),
// the therapy is found through what it infuses or supplies.
std::optional<Index> lookup(const CompiledModel& m, Kind k, const std::string& name) {
    if (auto i = m.indexOf(k, name)) return i;
    // A therapy and its cell product cannot share a name (names are unique across kinds), so a
    // cell-therapy entry may be listed under its product's name: find the therapy whose product it is.
    if (k == Kind::Therapy) {
        if (auto c = m.indexOf(Kind::CellType, name)) {
            for (std::size_t t = 0; t < m.therapies().size(); ++t)
                if (m.therapies()[t].product == *c) return static_cast<Index>(t);
        }
        // Likewise a cytokine therapy and the mediator it supplies ("IL-2"): find the therapy of
        // kind cytokine whose supply mechanism targets that mediator.
        if (auto med = m.indexOf(Kind::Mediator, name)) {
            for (std::size_t t = 0; t < m.therapies().size(); ++t) {
                if (m.therapies()[t].kind != TherapyKind::Cytokine) continue;
                for (const auto& mech : m.therapies()[t].mechanisms)
                    if (mech.action == MechanismAction::Supply && mech.target == EntityRef{Kind::Mediator, *med}) return static_cast<Index>(t);
            }
        }
    }
    return std::nullopt;
}

double valueOf(const CompiledModel& m, const std::string& path) {
    auto p = m.findParameter(path);
    if (!p) {
        ADD_FAILURE() << "no parameter " << path;
        return std::nan("");
    }
    return m.value(*p);
}

std::string normalise(const std::string& s) {
    std::string o;
    for (unsigned char c : s)
        if (std::isalnum(c)) o += static_cast<char>(std::tolower(c));
    return o;
}

}  // namespace

TEST(DefaultModel, Loads) {
    const auto& m = model();
    EXPECT_EQ(m.info().name, "nkscape-default");
    EXPECT_GT(m.parameters().size(), 200u);
}

TEST(DefaultModel, NamesEveryEntityOfTheDesign) {
    const auto& m = model();
    std::size_t checked = 0;
    for (const auto& group : kDesignEntities) {
        for (const char* name : group.names) {
            EXPECT_TRUE(lookup(m, group.kind, name).has_value())
                << "DESIGN.md names " << kindKey(group.kind) << " '" << name << "' but the default model lacks it";
            ++checked;
        }
    }
    EXPECT_GE(checked, 160u);  // a guard against the list being emptied
}

TEST(DefaultModel, EveryParameterHasUnitSourceAndFiniteValue) {
    const auto& m = model();
    for (const auto& p : m.parameters()) {
        EXPECT_FALSE(p.writtenUnit.empty()) << p.path;
        EXPECT_FALSE(p.internalUnit.empty()) << p.path;
        EXPECT_GE(p.source.size(), 8u) << p.path << ": source too short to say anything: '" << p.source << "'";
        EXPECT_TRUE(std::isfinite(p.value)) << p.path;
        if (p.range) {
            EXPECT_LE(p.range->first, p.value) << p.path;
            EXPECT_GE(p.range->second, p.value) << p.path;
        }
    }
}

TEST(DefaultModel, EveryEntityIsDescribed) {
    const auto& m = model();
    for (Kind k : kAllKinds)
        for (const auto& e : m.entities(k)) EXPECT_FALSE(e.description.empty()) << kindKey(k) << " '" << e.name << "' has no description";
}

TEST(DefaultModel, StructureEncodesTheBiology) {
    const auto& m = model();
    // Adaptors: CD247 serves NKp30, NKp46 and CD16 (review "MDSCs").
    const Index cd247 = m.require(Kind::Receptor, "CD247");
    for (const char* r : {"NKp30", "NKp46", "CD16"}) {
        const auto& ad = m.receptors()[m.require(Kind::Receptor, r)].adaptors;
        EXPECT_NE(std::find(ad.begin(), ad.end(), cd247), ad.end()) << r << " should signal through CD247";
    }
    EXPECT_EQ(m.receptors()[m.require(Kind::Receptor, "KIR2DL4")].cls, ReceptorClass::Mixed);
    // Competition for CD155 and HLA-E, with the inhibitory receptor binding tighter.
    const auto kd = [&](const char* x) { return m.value(m.interactions()[m.require(Kind::Interaction, x)].kd); };
    EXPECT_LT(kd("TIGIT:CD155"), kd("DNAM-1:CD155"));
    EXPECT_LT(kd("NKG2A:HLA-E"), kd("NKG2C:HLA-E"));
    EXPECT_FALSE(m.interactions()[m.require(Kind::Interaction, "TIGIT:CD155")].competesWith.empty());
    EXPECT_FALSE(m.interactions()[m.require(Kind::Interaction, "NKG2A:HLA-E")].competesWith.empty());
    // sMICA is MICA/B's soluble decoy.
    const auto& smica = m.mediators()[m.require(Kind::Mediator, "sMICA")];
    EXPECT_EQ(smica.kind, MediatorKind::SolubleLigand);
    EXPECT_EQ(smica.ligandOf, m.require(Kind::Ligand, "MICA/B"));
    // TGF-β lowers NKG2D and NKp30 but spares NKp46 (Castriconi 2003; review "TGF-β").
    const auto tgf = EntityRef{Kind::Mediator, m.require(Kind::Mediator, "TGF-b")};
    auto regulates = [&](EntityRef by, const char* target, Direction d) {
        const auto t = m.find(target);
        for (const auto& r : m.regulations())
            if (r.by == by && t && r.target == *t && r.direction == d) return true;
        return false;
    };
    // Routed through SMAD3 (TGF-β → SMAD3 → receptor), so that low-SMAD3 (TGF-β-imprinted) cells resist it.
    const auto smad3 = EntityRef{Kind::Factor, m.require(Kind::Factor, "SMAD3")};
    EXPECT_TRUE(regulates(tgf, "SMAD3", Direction::Up));
    EXPECT_TRUE(regulates(smad3, "NKG2D", Direction::Down));
    EXPECT_TRUE(regulates(smad3, "NKp30", Direction::Down));
    EXPECT_FALSE(regulates(smad3, "NKp46", Direction::Down));
    EXPECT_FALSE(regulates(tgf, "NKp46", Direction::Down));
    EXPECT_TRUE(regulates(EntityRef{Kind::Mediator, m.require(Kind::Mediator, "IFN-g")}, "PD-L1", Direction::Up));
}

TEST(DefaultModel, PublishedValuesMadeItIn) {
    const auto& m = model();
    // Ryu et al. 2014 volume doubling times (PARAMETERS.md).
    EXPECT_NEAR(valueOf(m, "cell_type/TNBC/doubling_time"), 103.0, 1e-9);
    EXPECT_NEAR(valueOf(m, "cell_type/HER2-enriched/doubling_time"), 162.0, 1e-9);
    // Trastuzumab PK, Bruno et al. 2005.
    EXPECT_NEAR(valueOf(m, "therapy/trastuzumab/pk.clearance"), 0.225, 1e-12);
    EXPECT_NEAR(valueOf(m, "therapy/trastuzumab/pk.v1"), 2.95, 1e-12);
    // PD-1/PD-L1 Kd 8.2 µM, Cheng et al. 2013.
    EXPECT_NEAR(m.value(m.interactions()[m.require(Kind::Interaction, "PD-1:PD-L1")].kd), 8200.0, 1e-6);
    // PGE2 lowers IFN-γ by 66 % through EP2 and 86 % through EP4 (review "Prostaglandin E2"):
    // both as PGE2's two arms and as the selective agonists of the experiments.
    auto emaxOf = [&](const char* regulation) { return m.value(m.regulations()[m.require(Kind::Regulation, regulation)].emax); };
    EXPECT_DOUBLE_EQ(emaxOf("PGE2 lowers IFN-g via EP2"), 0.66);
    EXPECT_DOUBLE_EQ(emaxOf("PGE2 lowers IFN-g via EP4"), 0.86);
    EXPECT_DOUBLE_EQ(emaxOf("butaprost lowers IFN-g via EP2"), 0.66);
    EXPECT_DOUBLE_EQ(emaxOf("EP4 agonist lowers IFN-g via EP4"), 0.86);
}

TEST(DefaultModel, ReviewSourcesNameRealSections) {
    std::ifstream in(NKSCAPE_SOURCE_DIR "/../shared/seed/review-nk-breast-cancer.txt");
    if (!in) GTEST_SKIP() << "the seed review is not beside this checkout (../shared/seed)";
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string review = normalise(ss.str());
    const auto& m = model();
    std::size_t checked = 0;
    for (const auto& p : m.parameters()) {
        if (p.sourceKind != SourceKind::Review) continue;
        std::string section = p.source.substr(p.source.find(':') + 1);
        section = section.substr(0, section.find_first_of("(;,"));  // "TIGIT (…)" → "TIGIT"
        const std::string n = normalise(section);
        if (n.size() < 3) continue;
        EXPECT_NE(review.find(n), std::string::npos) << p.path << ": review section '" << section << "' not found in the review";
        ++checked;
    }
    EXPECT_GT(checked, 0u);
}

TEST(DefaultModel, ReferenceDocIsNotStale) {
    std::ifstream in(NKSCAPE_SOURCE_DIR "/docs/model-reference.md");
    ASSERT_TRUE(in) << "docs/model-reference.md is missing: run `make docs`";
    std::stringstream ss;
    ss << in.rdbuf();
    EXPECT_TRUE(ss.str() == describeMarkdown(model()))
        << "docs/model-reference.md is stale: regenerate it with `make docs` and commit it";
}
