// The regulation function (synapse/regulation.hpp) on small in-memory models whose set-points are
// computed by hand, and on the shipped default model. docs/synapse.md, "Regulation", states the
// equations these numbers come from.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <string>

#include "nkscape/error.hpp"
#include "nkscape/model/loader.hpp"
#include "nkscape/synapse/regulation.hpp"

#include "default_model.hpp"

using namespace nkscape::model;
using namespace nkscape::synapse;

namespace {

// NK side: TGF-β and hypoxia lower NKG2D, MDSC contact lowers NKp30, the chain
// IL-2 → STAT5 → ADAM17 ⊣ CD16 (declared downstream-first), TGF-β → SMAD3 ⊣ IFN-γ secretion.
// Tumour side: IFN-γ raises PD-L1 (a trait-only level), HLA-I methylation lowers HLA-I, and the
// cascade AKT ⊣ GSK-3β ⊣ ROS ⊣ eIF2B → MICA/B (declared last-edge-first) fed by HER2 → AKT in a
// second pathway declared after it.
const char* kModel = R"TOML(
[model]
name = "regulation-test"
version = "1"

[[receptor]]
name = "NKG2D"
class = "activating"
weight = { value = 1, unit = "1", source = "assumption: test" }

[[receptor]]
name = "NKp30"
class = "activating"
weight = { value = 1, unit = "1", source = "assumption: test" }

[[receptor]]
name = "NKp46"
class = "activating"
weight = { value = 1, unit = "1", source = "assumption: test" }

[[receptor]]
name = "CD16"
class = "activating"
weight = { value = 1, unit = "1", source = "assumption: test" }

[[receptor]]
name = "NKG2A"
class = "inhibitory"
weight = { value = 1, unit = "1", source = "assumption: test" }

[[ligand]]
name = "MICA/B"
form = "membrane"
category = "activating_ligand"

[[ligand]]
name = "HLA-I"
form = "membrane"
category = "self_hla"

[[ligand]]
name = "PD-L1"
form = "membrane"
category = "inhibitory_ligand"

[[ligand]]
name = "HER2"
form = "membrane"
category = "antigen"

[[mediator]]
name = "TGF-b"
kind = "cytokine"
unit = "pg/mL"
basal_level = { value = 50, unit = "pg/mL", source = "assumption: test" }

[[mediator]]
name = "O2"
kind = "gas"
unit = "mM"

[[mediator]]
name = "IL-2"
kind = "cytokine"
unit = "pg/mL"

[[mediator]]
name = "IFN-g"
kind = "cytokine"
unit = "pg/mL"

[[mediator]]
name = "NRG1"
kind = "growth_factor"
unit = "ng/mL"

[[mediator]]
name = "ROS/RNS"
kind = "metabolite"
unit = "uM"
basal_level = { value = 0.1, unit = "uM", source = "assumption: test" }

[[factor]]
name = "STAT5"
role = "signalling"
cells = ["nk"]

[[factor]]
name = "ADAM17"
role = "enzyme"
cells = ["nk", "tumour"]

[[factor]]
name = "SMAD3"
role = "signalling"
cells = ["nk"]

[[factor]]
name = "AKT"
role = "signalling"
cells = ["tumour"]

[[factor]]
name = "GSK-3b"
role = "enzyme"
cells = ["tumour"]

[[factor]]
name = "eIF2B"
role = "signalling"
cells = ["tumour"]

[[factor]]
name = "HLA-I methylation"
role = "epigenetic"
cells = ["tumour"]
baseline = { value = 0.05, unit = "1", source = "assumption: test" }

[[cell_type]]
name = "NK"
category = "nk"
kill_time = { value = 12.8, unit = "min", source = "assumption: test" }
granule_capacity = { value = 5, unit = "1", source = "assumption: test" }
expression = { NKG2D = { value = 2e4, unit = "molecule/cell", source = "assumption: test" }, NKp30 = { value = 5e3, unit = "molecule/cell", source = "assumption: test" }, NKp46 = { value = 1e4, unit = "molecule/cell", source = "assumption: test" }, CD16 = { value = 2e5, unit = "molecule/cell", source = "assumption: test" }, NKG2A = { value = 8e3, unit = "molecule/cell", source = "assumption: test" } }
secretion = { IFN-g = { value = 5e-3, unit = "pg/(cell.h)", source = "assumption: test" } }

[[cell_type]]
name = "CAR NK"
category = "nk"
based_on = "NK"

[[cell_type]]
name = "MDSC"
category = "mdsc"

[[cell_type]]
name = "Tumour"
category = "tumour"
subtype = "tnbc"
expression = { "MICA/B" = { value = 1e4, unit = "molecule/cell", source = "assumption: test" }, HLA-I = { value = 3e4, unit = "molecule/cell", source = "assumption: test" }, HER2 = { value = 1e4, unit = "molecule/cell", source = "assumption: test" } }
secretion = { "ROS/RNS" = { value = 1, unit = "amol/(cell.h)", source = "assumption: test" } }
factors = { "HLA-I methylation" = { value = 0.3, unit = "1", source = "assumption: test" } }
traits = { PD-L1 = { value = 1e5, unit = "molecule/cell", source = "assumption: test", cv = 0.5 } }

# ---- NK ----------------------------------------------------------------------------------------

[[regulation]]
name = "TGF-b lowers NKG2D"
by = "TGF-b"
on = ["nk"]
target = "NKG2D"
direction = "down"
ec50 = { value = 1, unit = "ng/mL", source = "assumption: test" }
emax = { value = 0.6, unit = "1", source = "assumption: test" }
hill = { value = 1, unit = "1", source = "assumption: test" }
tau = { value = 24, unit = "h", source = "assumption: test" }

[[regulation]]
name = "hypoxia lowers NKG2D"
by = "O2"
on = ["nk"]
target = "NKG2D"
direction = "down"
trigger = "low"
ec50 = { value = 0.02, unit = "mM", source = "assumption: test" }
emax = { value = 0.5, unit = "1", source = "assumption: test" }
hill = { value = 2, unit = "1", source = "assumption: test" }
tau = { value = 6, unit = "h", source = "assumption: test" }

[[regulation]]
name = "MDSC lowers NKp30"
by = "MDSC"
on = ["nk"]
target = "NKp30"
direction = "down"
ec50 = { value = 1e3, unit = "cell/uL", source = "assumption: test" }
emax = { value = 0.5, unit = "1", source = "assumption: test" }
hill = { value = 1, unit = "1", source = "assumption: test" }
tau = { value = 48, unit = "h", source = "assumption: test" }

[[regulation]]
name = "ADAM17 sheds CD16"
by = "ADAM17"
on = ["nk"]
target = "CD16"
direction = "down"
ec50 = { value = 2.5, unit = "1", source = "assumption: test" }
emax = { value = 0.8, unit = "1", source = "assumption: test" }
hill = { value = 2, unit = "1", source = "assumption: test" }
tau = { value = 2, unit = "h", source = "assumption: test" }

[[regulation]]
name = "STAT5 raises ADAM17"
by = "STAT5"
on = ["nk"]
target = "ADAM17"
direction = "up"
ec50 = { value = 2, unit = "1", source = "assumption: test" }
emax = { value = 3, unit = "1", source = "assumption: test" }
hill = { value = 1, unit = "1", source = "assumption: test" }
tau = { value = 12, unit = "h", source = "assumption: test" }

[[regulation]]
name = "IL-2 raises STAT5"
by = "IL-2"
on = ["nk"]
target = "STAT5"
direction = "up"
ec50 = { value = 100, unit = "pg/mL", source = "assumption: test" }
emax = { value = 2, unit = "1", source = "assumption: test" }
hill = { value = 1, unit = "1", source = "assumption: test" }
tau = { value = 1, unit = "h", source = "assumption: test" }

# Reads SMAD3, which only the pathway below sets.
[[regulation]]
name = "SMAD3 raises NKG2A"
by = "SMAD3"
on = ["nk"]
target = "NKG2A"
direction = "up"
ec50 = { value = 21, unit = "1", source = "assumption: test" }
emax = { value = 1, unit = "1", source = "assumption: test" }
hill = { value = 1, unit = "1", source = "assumption: test" }
tau = { value = 24, unit = "h", source = "assumption: test" }

[[pathway]]
name = "TGF-b-SMAD3"
cells = ["nk"]
edges = [
  { from = "SMAD3", to = "IFN-g", sign = "-", weight = { value = 1, unit = "1", source = "assumption: test" } },
  { from = "TGF-b", to = "SMAD3", sign = "+", weight = { value = 1, unit = "1", source = "assumption: test" } },
]

# ---- tumour ------------------------------------------------------------------------------------

[[regulation]]
name = "IFN-g raises PD-L1"
by = "IFN-g"
on = ["tumour"]
target = "PD-L1"
direction = "up"
ec50 = { value = 10, unit = "pg/mL", source = "assumption: test" }
emax = { value = 4, unit = "1", source = "assumption: test" }
hill = { value = 1, unit = "1", source = "assumption: test" }
tau = { value = 24, unit = "h", source = "assumption: test" }

[[regulation]]
name = "HLA-I methylation lowers HLA-I"
by = "HLA-I methylation"
on = ["tumour"]
target = "HLA-I"
direction = "down"
ec50 = { value = 0.3, unit = "1", source = "assumption: test" }
emax = { value = 0.9, unit = "1", source = "assumption: test" }
hill = { value = 1, unit = "1", source = "assumption: test" }
tau = { value = 72, unit = "h", source = "assumption: test" }

[[regulation]]
name = "NRG1 raises AKT"
by = "NRG1"
on = ["tumour"]
target = "AKT"
direction = "up"
ec50 = { value = 1, unit = "ng/mL", source = "assumption: test" }
emax = { value = 3, unit = "1", source = "assumption: test" }
hill = { value = 1, unit = "1", source = "assumption: test" }
tau = { value = 4, unit = "h", source = "assumption: test" }

[[pathway]]
name = "AKT-GSK-3b-eIF2B"
cells = ["tumour"]
edges = [
  { from = "eIF2B", to = "MICA/B", sign = "+", weight = { value = 1.5, unit = "1", source = "assumption: test" } },
  { from = "ROS/RNS", to = "eIF2B", sign = "-", weight = { value = 0.5, unit = "1", source = "assumption: test" } },
  { from = "GSK-3b", to = "ROS/RNS", sign = "-", weight = { value = 2, unit = "1", source = "assumption: test" } },
  { from = "AKT", to = "GSK-3b", sign = "-", weight = { value = 1, unit = "1", source = "assumption: test" } },
]

[[pathway]]
name = "HER2-AKT"
cells = ["tumour"]
edges = [ { from = "HER2", to = "AKT", sign = "+", weight = { value = 1, unit = "1", source = "assumption: test" } } ]

# ---- therapies ---------------------------------------------------------------------------------

[[therapy]]
name = "ADAM17 inhibitor"
kind = "small_molecule"
dose_unit = "mg"
pk = { model = "none" }
[[therapy.mechanism]]
action = "inhibit"
target = "ADAM17"
ic50 = { value = 10, unit = "nM", source = "assumption: test" }
emax = { value = 0.9, unit = "1", source = "assumption: test" }

[[therapy]]
name = "DNMT inhibitor"
kind = "small_molecule"
dose_unit = "mg"
pk = { model = "none" }
[[therapy.mechanism]]
action = "restore"
target = "HLA-I methylation"
ic50 = { value = 100, unit = "nM", source = "assumption: test" }
emax = { value = 0.8, unit = "1", source = "assumption: test" }

[[therapy]]
name = "GSK-3b modulator"
kind = "small_molecule"
dose_unit = "mg"
pk = { model = "none" }
[[therapy.mechanism]]
action = "restore"
target = "GSK-3b"
ic50 = { value = 10, unit = "nM", source = "assumption: test" }
emax = { value = 0.7, unit = "1", source = "assumption: test" }

[[therapy]]
name = "HLA-I restorer"
kind = "small_molecule"
dose_unit = "mg"
pk = { model = "none" }
[[therapy.mechanism]]
action = "restore"
target = "HLA-I"
ic50 = { value = 50, unit = "nM", source = "assumption: test" }
emax = { value = 1, unit = "1", source = "assumption: test" }

[[therapy]]
name = "TGF-b trap"
kind = "fusion_protein"
dose_unit = "mg"
pk = { model = "none" }
[[therapy.mechanism]]
action = "neutralise"
target = "TGF-b"
kd = { value = 1, unit = "nM", source = "assumption: test" }

[[therapy]]
name = "TGF-b receptor kinase inhibitor"
kind = "small_molecule"
dose_unit = "mg"
pk = { model = "none" }
[[therapy.mechanism]]
action = "inhibit"
target = "TGF-b"
ic50 = { value = 5, unit = "nM", source = "assumption: test" }
emax = { value = 0.5, unit = "1", source = "assumption: test" }

[[therapy]]
name = "HER2 down-modulator"
kind = "small_molecule"
dose_unit = "mg"
pk = { model = "none" }
[[therapy.mechanism]]
action = "inhibit"
target = "HER2"
ic50 = { value = 1, unit = "nM", source = "assumption: test" }
emax = { value = 0.5, unit = "1", source = "assumption: test" }

[[therapy]]
name = "HER2 CAR-NK"
kind = "cell_therapy"
dose_unit = "cell"
product = "CAR NK"
pk = { model = "none" }
[[therapy.mechanism]]
action = "car"
target = "HER2"
costimulation = "CD28"
gain = { value = 1.5, unit = "1", source = "assumption: test" }
)TOML";

const char* kCarLevel = R"TOML(
[[constant]]
name = "synapse.car_level"
value = { value = 1e5, unit = "molecule/cell", source = "assumption: test" }
)TOML";

const CompiledModel& testModel() {
    static const CompiledModel m = loadModelFromString(std::string(kModel) + kCarLevel, "regulation-test.toml");
    return m;
}

struct Fixture {
    const CompiledModel& m = testModel();
    Regulator reg{m};
    Milieu milieu = Milieu::empty(m);
    Contacts contacts = Contacts::none(m);
    Index nk = m.require(Kind::CellType, "NK");
    Index tumour = m.require(Kind::CellType, "Tumour");

    Index rec(const char* n) const { return m.require(Kind::Receptor, n); }
    Index lig(const char* n) const { return m.require(Kind::Ligand, n); }
    Index med(const char* n) const { return m.require(Kind::Mediator, n); }
    Index fac(const char* n) const { return m.require(Kind::Factor, n); }
    Index drug(const char* n) const { return m.require(Kind::Therapy, n); }
    /// Normoxic enough that hypoxia's effect is known: O2 = 2·EC50 gives h = 1/(1 + 2²) = 0.2.
    void normoxia() { milieu.mediators[med("O2")] = 0.04; }
    CellLevels nkAt() const { return reg.setPoint(nk, milieu, contacts); }
    CellLevels tumourAt() const { return reg.setPoint(tumour, milieu, contacts); }
};

constexpr double kRel = 1e-12;
#define EXPECT_REL(actual, expected) EXPECT_NEAR((actual), (expected), kRel * std::abs(expected) + 1e-300)

}  // namespace

TEST(RegulationBaseline, LevelsFromTheCellType) {
    Fixture f;
    const CellLevels b = f.reg.baseline(f.nk);
    EXPECT_EQ(b.receptors.size(), f.m.receptors().size());
    EXPECT_EQ(b.ligands.size(), f.m.ligands().size());
    EXPECT_EQ(b.factors.size(), f.m.factors().size());
    EXPECT_EQ(b.secretion.size(), f.m.mediators().size());
    EXPECT_DOUBLE_EQ(b.receptors[f.rec("NKG2D")], 2e4);
    EXPECT_DOUBLE_EQ(b.receptors[f.rec("CD16")], 2e5);
    EXPECT_DOUBLE_EQ(b.ligands[f.lig("MICA/B")], 0.0);                 // not expressed: 0
    EXPECT_DOUBLE_EQ(b.factors[f.fac("ADAM17")], 1.0);                 // no baseline given: 1
    EXPECT_DOUBLE_EQ(b.factors[f.fac("HLA-I methylation")], 0.05);     // the factor's baseline
    EXPECT_NEAR(b.secretion[f.med("IFN-g")], 5e-3, 1e-15);             // pg/(cell.h) = pg/mL·mL/(cell.h)
    EXPECT_DOUBLE_EQ(b.secretion[f.med("TGF-b")], 0.0);
    // Inheritance, traits and the cell type's own factor levels.
    EXPECT_DOUBLE_EQ(f.reg.baseline(f.m.require(Kind::CellType, "CAR NK")).receptors[f.rec("NKp46")], 1e4);
    const CellLevels t = f.reg.baseline(f.tumour);
    EXPECT_DOUBLE_EQ(t.ligands[f.lig("PD-L1")], 1e5);                  // a trait's mean level
    EXPECT_DOUBLE_EQ(t.factors[f.fac("HLA-I methylation")], 0.3);      // the cell type's, not the factor's
    EXPECT_NEAR(t.secretion[f.med("ROS/RNS")], 1e-9, 1e-21);           // amol/(cell.h) → uM·mL/(cell.h)
}

TEST(RegulationHill, DownRegulationHighTrigger) {
    Fixture f;
    f.normoxia();
    // No TGF-β: only hypoxia's 1 − 0.5·0.2 = 0.9.
    EXPECT_REL(f.nkAt().receptors[f.rec("NKG2D")], 2e4 * 0.9);
    // TGF-β = EC50 (1 ng/mL = 1000 pg/mL): h = ½, 1 − 0.6·½ = 0.7; regulations of one target multiply.
    f.milieu.mediators[f.med("TGF-b")] = 1000;
    EXPECT_REL(f.nkAt().receptors[f.rec("NKG2D")], 2e4 * 0.7 * 0.9);
    // TGF-β = 3·EC50: h = ¾, 1 − 0.45 = 0.55.
    f.milieu.mediators[f.med("TGF-b")] = 3000;
    EXPECT_REL(f.nkAt().receptors[f.rec("NKG2D")], 2e4 * 0.55 * 0.9);
    EXPECT_REL(f.nkAt().receptors[f.rec("NKp46")], 1e4);  // no regulation: untouched
}

TEST(RegulationHill, UpRegulationOfATraitLevel) {
    Fixture f;
    EXPECT_REL(f.tumourAt().ligands[f.lig("PD-L1")], 1e5);
    f.milieu.mediators[f.med("IFN-g")] = 30;  // h = 30/40 = ¾: 1 + 4·¾ = 4
    EXPECT_REL(f.tumourAt().ligands[f.lig("PD-L1")], 4e5);
    // The regulation acts on tumour cells only.
    EXPECT_TRUE(f.nkAt().ligands[f.lig("PD-L1")] == 0.0);
}

TEST(RegulationHill, LowTriggerGrowsAsTheSignalFalls) {
    Fixture f;
    const Index o2 = f.med("O2");
    f.milieu.mediators[o2] = 0.0;  // anoxia: h = 1, 1 − 0.5
    EXPECT_REL(f.nkAt().receptors[f.rec("NKG2D")], 1e4);
    f.milieu.mediators[o2] = 0.02;  // O2 = EC50: h = ½, 1 − 0.25
    EXPECT_REL(f.nkAt().receptors[f.rec("NKG2D")], 1.5e4);
    f.milieu.mediators[o2] = 0.01;  // EC50²/(c² + EC50²) = 4e-4/5e-4 = 0.8: 1 − 0.4
    EXPECT_REL(f.nkAt().receptors[f.rec("NKG2D")], 1.2e4);
}

TEST(RegulationHill, ContactModeReadsCellDensity) {
    Fixture f;
    EXPECT_REL(f.nkAt().receptors[f.rec("NKp30")], 5e3);
    // EC50 1e3 cell/uL = 1e6 cell/mL; touching MDSC at 1e6 cell/mL: 1 − 0.5·½.
    f.contacts.cellTypes[f.m.require(Kind::CellType, "MDSC")] = 1e6;
    EXPECT_REL(f.nkAt().receptors[f.rec("NKp30")], 3750);
    // 3e6 cell/mL: h = ¾, 1 − 0.375.
    f.contacts.cellTypes[f.m.require(Kind::CellType, "MDSC")] = 3e6;
    EXPECT_REL(f.nkAt().receptors[f.rec("NKp30")], 5e3 * 0.625);
    EXPECT_REL(f.nkAt().receptors[f.rec("NKp46")], 1e4);
}

// V7's mechanism: IL-2 activates ADAM17 (here through STAT5), which sheds CD16; an ADAM17 inhibitor
// keeps CD16. The regulations are declared downstream-first, so a single pass in declaration order
// would be wrong.
TEST(RegulationStateChain, Il2ShedsCd16AndAdam17InhibitorKeepsIt) {
    Fixture f;
    const Index cd16 = f.rec("CD16"), adam17 = f.fac("ADAM17"), stat5 = f.fac("STAT5");
    auto shed = [](double a) { return 1.0 - 0.8 * a * a / (a * a + 2.5 * 2.5); };
    // No IL-2: STAT5 = 1; ADAM17 = 1 + 3·1/(1 + 2) = 2; CD16 = 2e5·(1 − 0.8·4/10.25).
    const CellLevels rest = f.nkAt();
    EXPECT_REL(rest.factors[stat5], 1.0);
    EXPECT_REL(rest.factors[adam17], 2.0);
    EXPECT_REL(rest.receptors[cd16], 2e5 * shed(2.0));
    EXPECT_NEAR(rest.receptors[cd16], 137560.97560975610, 1e-6);
    // IL-2 = EC50: STAT5 = 1 + 2·½ = 2; ADAM17 = 1 + 3·½ = 2.5; CD16 = 2e5·(1 − 0.8·½) = 1.2e5.
    f.milieu.mediators[f.med("IL-2")] = 100;
    const CellLevels il2 = f.nkAt();
    EXPECT_REL(il2.factors[stat5], 2.0);
    EXPECT_REL(il2.factors[adam17], 2.5);
    EXPECT_REL(il2.receptors[cd16], 1.2e5);
    EXPECT_LT(il2.receptors[cd16], rest.receptors[cd16]);
    // Plus the inhibitor at its IC50: ADAM17 = 2.5·(1 − 0.9·½) = 1.375, and CD16 is kept.
    f.milieu.therapies[f.drug("ADAM17 inhibitor")] = 10;
    const CellLevels both = f.nkAt();
    EXPECT_REL(both.factors[adam17], 1.375);
    EXPECT_REL(both.receptors[cd16], 2e5 * shed(1.375));
    EXPECT_GT(both.receptors[cd16], il2.receptors[cd16]);
    EXPECT_GT(both.receptors[cd16], rest.receptors[cd16]);
    // Without drug the therapy does nothing.
    f.milieu.therapies[f.drug("ADAM17 inhibitor")] = 0;
    EXPECT_REL(f.nkAt().receptors[cd16], 1.2e5);
}

TEST(RegulationTherapy, RestoreReturnsASilencingMarkToItsReference) {
    Fixture f;
    const Index hla = f.lig("HLA-I"), meth = f.fac("HLA-I methylation");
    // Methylation 0.3 = EC50: HLA-I = 3e4·(1 − 0.9·½) = 16500.
    EXPECT_REL(f.tumourAt().ligands[hla], 16500);
    // DNMT inhibitor at its IC50 (Emax 0.8): 0.4 of the way from 0.3 to the healthy 0.05: 0.2;
    // h = 0.2/0.5 = 0.4.
    f.milieu.therapies[f.drug("DNMT inhibitor")] = 100;
    const CellLevels t = f.tumourAt();
    EXPECT_REL(t.factors[meth], 0.2);
    EXPECT_REL(t.ligands[hla], 3e4 * (1 - 0.9 * 0.4));
    // Saturating: 0.3 + 0.8·(0.05 − 0.3) = 0.1, never below the reference.
    f.milieu.therapies[f.drug("DNMT inhibitor")] = 1e12;
    EXPECT_NEAR(f.tumourAt().factors[meth], 0.1, 1e-9);
}

TEST(RegulationTherapy, RestoreOnALigandUndoesItsDownRegulation) {
    Fixture f;
    // Occupancy ½, Emax 1: HLA-I goes half-way from 16500 back to the cell type's 3e4.
    f.milieu.therapies[f.drug("HLA-I restorer")] = 50;
    EXPECT_REL(f.tumourAt().ligands[f.lig("HLA-I")], 23250);
    // It does not move a ligand that nothing changed.
    EXPECT_REL(f.tumourAt().ligands[f.lig("HER2")], 1e4);
}

TEST(RegulationTherapy, NeutraliseAndInhibitChangeTheMilieuTheCellReads) {
    Fixture f;
    f.normoxia();
    const Index nkg2d = f.rec("NKG2D");
    f.milieu.mediators[f.med("TGF-b")] = 4000;
    // A trap with Kd 1 nM at 3 nM leaves 4000/(1 + 3) = 1000 pg/mL free: h = ½.
    f.milieu.therapies[f.drug("TGF-b trap")] = 3;
    EXPECT_REL(f.nkAt().receptors[nkg2d], 2e4 * 0.7 * 0.9);
    // Plus an inhibitor of the TGF-β signal at its IC50 (Emax ½): the cell reads 1000·0.75 = 750.
    f.milieu.therapies[f.drug("TGF-b receptor kinase inhibitor")] = 5;
    EXPECT_REL(f.nkAt().receptors[nkg2d], 2e4 * (1 - 0.6 * 750.0 / 1750.0) * 0.9);
    // The caller's milieu is not modified.
    EXPECT_DOUBLE_EQ(f.milieu.mediators[f.med("TGF-b")], 4000);
}

// V16's mechanism: AKT up lowers MICA/B through AKT ⊣ GSK-3β ⊣ ROS ⊣ eIF2B → MICA/B. With
// weights 1, 2, 0.5, 1.5 the composed exponent is (−1)(−2)(−0.5)(+1.5) = −1.5.
TEST(RegulationPathway, AktUpLowersMicaByThePowerLaw) {
    Fixture f;
    const Index mica = f.lig("MICA/B"), akt = f.fac("AKT");
    EXPECT_REL(f.tumourAt().ligands[mica], 1e4);  // at rest every ratio is 1
    for (double nrg1 : {1.0, 3.0, 10.0}) {
        f.milieu.mediators[f.med("NRG1")] = nrg1;
        const double aktRatio = 1 + 3 * nrg1 / (nrg1 + 1);  // NRG1 raises AKT, EC50 1 ng/mL
        const CellLevels t = f.tumourAt();
        EXPECT_REL(t.factors[akt], aktRatio);
        EXPECT_REL(t.factors[f.fac("GSK-3b")], 1 / aktRatio);
        EXPECT_REL(t.factors[f.fac("eIF2B")], 1 / aktRatio);
        EXPECT_REL(t.ligands[mica], 1e4 * std::pow(aktRatio, -1.5));
        // ROS is produced inside the cell: its relative level (AKT²) scales the cell's ROS secretion.
        EXPECT_REL(t.secretion[f.med("ROS/RNS")], 1e-9 * aktRatio * aktRatio);
    }
    // NRG1 = 1: AKT = 2.5, MICA/B = 1e4·2.5^-1.5.
    f.milieu.mediators[f.med("NRG1")] = 1;
    EXPECT_NEAR(f.tumourAt().ligands[mica], 2529.8221281347035, 1e-8);
}

TEST(RegulationPathway, RestoringGsk3bInsideTheCascadeKeepsMica) {
    Fixture f;
    f.milieu.mediators[f.med("NRG1")] = 1;  // AKT 2.5, GSK-3β 0.4, MICA/B 1e4·2.5^-1.5
    // The modulator at its IC50 (share 0.35) takes GSK-3β from 0.4 to 0.4 + 0.35·0.6 = 0.61 before
    // the cascade reads it: ROS = 0.61^-2, eIF2B = 0.61, MICA/B = 1e4·0.61^1.5.
    f.milieu.therapies[f.drug("GSK-3b modulator")] = 10;
    const CellLevels t = f.tumourAt();
    EXPECT_REL(t.factors[f.fac("GSK-3b")], 0.61);
    EXPECT_REL(t.factors[f.fac("eIF2B")], 0.61);
    EXPECT_REL(t.ligands[f.lig("MICA/B")], 1e4 * std::pow(0.61, 1.5));
    EXPECT_GT(t.ligands[f.lig("MICA/B")], 1e4 * std::pow(2.5, -1.5));
}

TEST(RegulationPathway, PathwaysSharingANodeComposeWhateverTheirOrder) {
    Fixture f;
    // HER2 → AKT is declared in a later pathway than AKT ⊣ GSK-3β; lowering HER2 by ¼ (inhibit at
    // its IC50, Emax ½) lowers AKT by ¼ and so raises MICA/B by 0.75^-1.5.
    f.milieu.therapies[f.drug("HER2 down-modulator")] = 1;
    const CellLevels t = f.tumourAt();
    EXPECT_REL(t.ligands[f.lig("HER2")], 7500);
    EXPECT_REL(t.factors[f.fac("AKT")], 0.75);
    EXPECT_REL(t.ligands[f.lig("MICA/B")], 1e4 * std::pow(0.75, -1.5));
}

TEST(RegulationPathway, ExternalMediatorIsReadRelativeToNone) {
    Fixture f;
    const Index ifng = f.med("IFN-g"), smad3 = f.fac("SMAD3");
    // No TGF-β: ratio 1 + 0/50 = 1, nothing changes.
    EXPECT_REL(f.nkAt().secretion[ifng], 5e-3);
    // TGF-β 1000 pg/mL with basal 50: ratio 21; SMAD3 = 21, IFN-γ secretion / 21.
    f.milieu.mediators[f.med("TGF-b")] = 1000;
    const CellLevels n = f.nkAt();
    EXPECT_REL(n.factors[smad3], 21.0);
    EXPECT_REL(n.secretion[ifng], 5e-3 / 21.0);
}

TEST(RegulationPathway, RegulationsReadTheLevelsPathwaysSet) {
    Fixture f;
    const Index nkg2a = f.rec("NKG2A");
    // SMAD3 = 1 without TGF-β: h = 1/22.
    EXPECT_REL(f.nkAt().receptors[nkg2a], 8e3 * (1 + 1.0 / 22));
    // TGF-β 1000 pg/mL: the pathway makes SMAD3 21 = EC50, so NKG2A = 8e3·(1 + ½).
    f.milieu.mediators[f.med("TGF-b")] = 1000;
    EXPECT_REL(f.nkAt().receptors[nkg2a], 1.2e4);
}

TEST(RegulationRelax, FollowsTheClosedFormWithTheFastestTau) {
    Fixture f;
    f.milieu.mediators[f.med("TGF-b")] = 3000;
    f.milieu.mediators[f.med("IL-2")] = 100;
    f.contacts.cellTypes[f.m.require(Kind::CellType, "MDSC")] = 1e6;
    const CellLevels x0 = f.reg.baseline(f.nk);
    const CellLevels xs = f.nkAt();
    for (double t : {0.0, 0.5, 3.0, 20.0}) {
        CellLevels x = x0;
        f.reg.relax(f.nk, x, xs, t);
        auto closed = [&](double a, double b, double tau) { return b + (a - b) * std::exp(-t / tau); };
        const Index nkg2d = f.rec("NKG2D"), nkp30 = f.rec("NKp30"), cd16 = f.rec("CD16");
        // NKG2D: TGF-β (24 h) and hypoxia (6 h) act on it; the faster one sets the pace.
        EXPECT_REL(x.receptors[nkg2d], closed(x0.receptors[nkg2d], xs.receptors[nkg2d], 6.0));
        EXPECT_REL(x.receptors[nkp30], closed(x0.receptors[nkp30], xs.receptors[nkp30], 48.0));
        EXPECT_REL(x.receptors[cd16], closed(x0.receptors[cd16], xs.receptors[cd16], 2.0));
        EXPECT_REL(x.factors[f.fac("STAT5")], closed(1.0, 2.0, 1.0));
        EXPECT_REL(x.factors[f.fac("ADAM17")], closed(1.0, xs.factors[f.fac("ADAM17")], 12.0));
        // Nothing regulates NKp46, and SMAD3 and IFN-γ secretion move only through a pathway:
        // they stay where they are.
        EXPECT_DOUBLE_EQ(x.receptors[f.rec("NKp46")], x0.receptors[f.rec("NKp46")]);
        EXPECT_DOUBLE_EQ(x.factors[f.fac("SMAD3")], 1.0);
        EXPECT_DOUBLE_EQ(x.secretion[f.med("IFN-g")], x0.secretion[f.med("IFN-g")]);
    }
    // Two half steps are one full step (the solution is exact, not an Euler step).
    CellLevels a = x0, b = x0;
    f.reg.relax(f.nk, a, xs, 3.0);
    f.reg.relax(f.nk, b, xs, 1.5);
    f.reg.relax(f.nk, b, xs, 1.5);
    EXPECT_REL(b.receptors[f.rec("NKG2D")], a.receptors[f.rec("NKG2D")]);
    EXPECT_THROW(f.reg.relax(f.nk, a, xs, -1.0), nkscape::Error);
}

TEST(RegulatorStates, NkStateCarriesKillTimeGranulesAndCar) {
    Fixture f;
    f.milieu.mediators[f.med("IL-2")] = 100;
    const NkState s = f.reg.nkState(f.nk, f.milieu, f.contacts);
    EXPECT_REL(s.receptors[f.rec("CD16")], 1.2e5);
    EXPECT_REL(s.factors[f.fac("ADAM17")], 2.5);
    EXPECT_REL(s.secretion[f.med("IFN-g")], 5e-3);
    EXPECT_DOUBLE_EQ(s.granules, 5.0);
    EXPECT_DOUBLE_EQ(s.killTime, 12.8);
    EXPECT_FALSE(s.car.has_value());
    // The CAR product inherits kill time and granules and carries the therapy's CAR.
    const NkState car = f.reg.nkState(f.m.require(Kind::CellType, "CAR NK"), f.milieu, f.contacts);
    ASSERT_TRUE(car.car.has_value());
    EXPECT_EQ(car.car->antigen, f.lig("HER2"));
    EXPECT_DOUBLE_EQ(car.car->level, 1e5);
    EXPECT_DOUBLE_EQ(car.car->gain, 1.5);
    EXPECT_DOUBLE_EQ(car.killTime, 12.8);
    // A cell type without kill_time/granule_capacity gets 0 (the synapse default) and 1.
    const NkState mdsc = f.reg.nkState(f.m.require(Kind::CellType, "MDSC"), f.milieu, f.contacts);
    EXPECT_DOUBLE_EQ(mdsc.killTime, 0.0);
    EXPECT_DOUBLE_EQ(mdsc.granules, 1.0);
    // targetState is the ligands of the set-point.
    f.milieu.mediators[f.med("IFN-g")] = 30;
    const TargetState t = f.reg.targetState(f.tumour, f.milieu, f.contacts);
    EXPECT_EQ(t.ligands, f.tumourAt().ligands);
    EXPECT_REL(t.ligands[f.lig("PD-L1")], 4e5);
}

TEST(RegulatorStates, CarWithoutTheConstantNamesIt) {
    const CompiledModel m = loadModelFromString(kModel, "regulation-test.toml");
    const Regulator reg(m);
    const Milieu milieu = Milieu::empty(m);
    const Contacts contacts = Contacts::none(m);
    EXPECT_NO_THROW((void)reg.nkState(m.require(Kind::CellType, "NK"), milieu, contacts));
    try {
        (void)reg.nkState(m.require(Kind::CellType, "CAR NK"), milieu, contacts);
        FAIL() << "expected an error naming synapse.car_level";
    } catch (const nkscape::InputError& e) {
        EXPECT_NE(std::string(e.what()).find("synapse.car_level"), std::string::npos) << e.what();
    }
}

TEST(RegulatorStates, WrongSizesAreRefused) {
    Fixture f;
    Milieu bad = f.milieu;
    bad.mediators.pop_back();
    EXPECT_THROW((void)f.reg.setPoint(f.nk, bad, f.contacts), nkscape::Error);
    EXPECT_THROW((void)f.reg.setPoint(static_cast<Index>(f.m.cellTypes().size()), f.milieu, f.contacts), nkscape::Error);
    EXPECT_THROW((void)f.reg.setPoint(f.nk, f.milieu, Contacts{}), nkscape::Error);
}

namespace {

// Two NK factors for the cycle tests, plus the regulations given.
std::string cycleModel(const std::string& regulations) {
    return R"TOML(
[model]
name = "cycle"
version = "1"

[[factor]]
name = "P"
role = "signalling"
cells = ["nk"]

[[factor]]
name = "Q"
role = "signalling"
cells = ["nk"]

[[cell_type]]
name = "NK"
category = "nk"
)TOML" + regulations;
}

std::string stateReg(const char* name, const char* by, const char* target, const char* dir, double ec50, double emax, double hill) {
    return std::string("\n[[regulation]]\nname = \"") + name + "\"\nby = \"" + by + "\"\non = [\"nk\"]\ntarget = \"" + target +
           "\"\ndirection = \"" + dir + "\"\nec50 = { value = " + std::to_string(ec50) +
           ", unit = \"1\", source = \"assumption: test\" }\nemax = { value = " + std::to_string(emax) +
           ", unit = \"1\", source = \"assumption: test\" }\nhill = { value = " + std::to_string(hill) +
           ", unit = \"1\", source = \"assumption: test\" }\ntau = { value = 1, unit = \"h\", source = \"assumption: test\" }\n";
}

}  // namespace

TEST(RegulationCycle, ContractingCycleSettlesToItsFixedPoint) {
    // P raises Q, Q lowers P: Q = 1 + P/(P + 1), P = 1 − ½·Q/(Q + 1).
    const CompiledModel m = loadModelFromString(cycleModel(stateReg("P raises Q", "P", "Q", "up", 1, 1, 1) +
                                                           stateReg("Q lowers P", "Q", "P", "down", 1, 0.5, 1)));
    const Regulator reg(m);
    const CellLevels x = reg.setPoint(0, Milieu::empty(m), Contacts::none(m));
    const double p = x.factors[m.require(Kind::Factor, "P")], q = x.factors[m.require(Kind::Factor, "Q")];
    EXPECT_NEAR(q, 1 + p / (p + 1), 1e-10);
    EXPECT_NEAR(p, 1 - 0.5 * q / (q + 1), 1e-10);
}

TEST(RegulationCycle, OscillatingCycleThrowsNamingTheFactor) {
    // P lowers itself steeply: the iteration flips between ~1 and ~0.
    const CompiledModel m = loadModelFromString(cycleModel(stateReg("P lowers P", "P", "P", "down", 0.5, 1, 20)));
    const Regulator reg(m);
    try {
        (void)reg.setPoint(0, Milieu::empty(m), Contacts::none(m));
        FAIL() << "expected 'regulation cycle does not settle'";
    } catch (const nkscape::Error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("regulation cycle does not settle"), std::string::npos) << what;
        EXPECT_NE(what.find("'P'"), std::string::npos) << what;
    }
}

TEST(RegulationCycle, APathwayCycleIsRefusedAtConstruction) {
    const CompiledModel m = loadModelFromString(cycleModel(R"TOML(
[[pathway]]
name = "loop"
cells = ["nk"]
edges = [
  { from = "P", to = "Q", sign = "+", weight = { value = 1, unit = "1", source = "assumption: test" } },
  { from = "Q", to = "P", sign = "-", weight = { value = 1, unit = "1", source = "assumption: test" } },
]
)TOML"));
    try {
        const Regulator reg(m);
        FAIL() << "a pathway cycle was accepted";
    } catch (const nkscape::InputError& e) {
        EXPECT_NE(std::string(e.what()).find("cycle"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("'loop'"), std::string::npos) << e.what();
    }
}

TEST(RegulationSchema, RestoreNeedsAnIc50) {
    std::string toml = cycleModel("") + R"TOML(
[[therapy]]
name = "DNMT inhibitor"
kind = "small_molecule"
dose_unit = "mg"
pk = { model = "none" }
[[therapy.mechanism]]
action = "restore"
target = "P"
emax = { value = 0.5, unit = "1", source = "assumption: test" }
)TOML";
    try {
        (void)loadModelFromString(toml, "t.toml");
        FAIL() << "a restore without ic50 loaded";
    } catch (const ModelError& e) {
        bool found = false;
        for (const auto& d : e.diagnostics()) found = found || d.str().find("mechanism[0].ic50") != std::string::npos;
        EXPECT_TRUE(found);
    }
}

// ---- the shipped default model ---------------------------------------------------------------

namespace {
using nkscape::testing::defaultModel;
}  // namespace

TEST(RegulationDefaultModel, TgfBetaLowersNkg2dAndNkp30ButSparesNkp46) {
    const CompiledModel& m = defaultModel();
    const Regulator reg(m);
    const Index nk = m.require(Kind::CellType, "CD56dim NK");
    Milieu milieu = basalMilieu(m);
    const Contacts contacts = Contacts::none(m);
    const CellLevels basal = reg.setPoint(nk, milieu, contacts);
    milieu.mediators[m.require(Kind::Mediator, "TGF-b")] = 10000;  // 10 ng/mL: saturating in vitro
    const CellLevels tgf = reg.setPoint(nk, milieu, contacts);
    const Index nkg2d = m.require(Kind::Receptor, "NKG2D"), nkp30 = m.require(Kind::Receptor, "NKp30"),
                nkp46 = m.require(Kind::Receptor, "NKp46");
    EXPECT_LT(tgf.receptors[nkg2d], 0.8 * basal.receptors[nkg2d]);
    EXPECT_LT(tgf.receptors[nkp30], 0.8 * basal.receptors[nkp30]);
    EXPECT_DOUBLE_EQ(tgf.receptors[nkp46], basal.receptors[nkp46]);
    EXPECT_LT(tgf.secretion[m.require(Kind::Mediator, "IFN-g")], basal.secretion[m.require(Kind::Mediator, "IFN-g")]);
}

TEST(RegulationDefaultModel, IfnGammaRaisesPdl1OnTnbc) {
    const CompiledModel& m = defaultModel();
    const Regulator reg(m);
    const Index tnbc = m.require(Kind::CellType, "TNBC");
    Milieu milieu = basalMilieu(m);
    const Contacts contacts = Contacts::none(m);
    const Index pdl1 = m.require(Kind::Ligand, "PD-L1");
    const double before = reg.targetState(tnbc, milieu, contacts).ligands[pdl1];
    EXPECT_GT(before, 0.0);
    milieu.mediators[m.require(Kind::Mediator, "IFN-g")] = 1000;  // 1 ng/mL
    const double after = reg.targetState(tnbc, milieu, contacts).ligands[pdl1];
    EXPECT_GT(after, 1.5 * before);
}

TEST(RegulationDefaultModel, EveryCellTypeHasAFiniteSetPointAndItIsFast) {
    const CompiledModel& m = defaultModel();
    const Regulator reg(m);
    Milieu milieu = basalMilieu(m);
    Contacts contacts = Contacts::none(m);
    for (auto& c : contacts.cellTypes) c = 1e6;
    for (auto& c : milieu.mediators) c *= 20;  // an inflamed, suppressive tumour bed
    for (Index ct = 0; ct < m.cellTypes().size(); ++ct) {
        const CellLevels x = reg.setPoint(ct, milieu, contacts);
        for (const auto* v : {&x.receptors, &x.ligands, &x.factors, &x.secretion})
            for (double d : *v) EXPECT_TRUE(std::isfinite(d) && d >= 0) << m.entities(Kind::CellType)[ct].name;
    }
    const Index nk = m.require(Kind::CellType, "CD56dim NK");
    constexpr int kCalls = 2000;
    double sink = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kCalls; ++i) sink += reg.setPoint(nk, milieu, contacts).receptors[0];
    const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / kCalls;
    RecordProperty("setpoint_us", std::to_string(us));
    EXPECT_GT(sink, 0.0);
    EXPECT_LT(us, 1000.0) << "setPoint took " << us << " us";  // loose: also runs under sanitizers
}

// A cell line that over-expresses a factor: its baseline is replaced before anything acts on it.
TEST(RegulationBaselineOverride, FactorBaselinesAreWhatTherapiesAndRegulationsActOn) {
    Fixture f;
    const Index cd16 = f.rec("CD16"), adam17 = f.fac("ADAM17"), stat5 = f.fac("STAT5");
    auto shed = [](double a) { return 1.0 - 0.8 * a * a / (a * a + 2.5 * 2.5); };
    // NK with ADAM17 = 4 as its baseline, no IL-2: STAT5 = 1 raises ADAM17 by 1 + 3·1/(1 + 2) = 2,
    // so ADAM17 = 8 and CD16 = 2e5·(1 − 0.8·64/70.25).
    const FactorBaselines high{{adam17, 4.0}};
    const CellLevels n = f.reg.setPoint(f.nk, f.milieu, f.contacts, high);
    EXPECT_REL(n.factors[stat5], 1.0);
    EXPECT_REL(n.factors[adam17], 8.0);
    EXPECT_REL(n.receptors[cd16], 2e5 * (1.0 - 0.8 * 64.0 / 70.25));
    EXPECT_NEAR(n.receptors[cd16], 54234.875444839858, 1e-6);
    // The inhibitor at its IC50 lowers the new baseline: 4·(1 − 0.9·½) = 2.2, then ×2 = 4.4.
    f.milieu.therapies[f.drug("ADAM17 inhibitor")] = 10;
    const CellLevels ni = f.reg.setPoint(f.nk, f.milieu, f.contacts, high);
    EXPECT_REL(ni.factors[adam17], 4.4);
    EXPECT_REL(ni.receptors[cd16], 2e5 * shed(4.4));
    EXPECT_GT(ni.receptors[cd16], n.receptors[cd16]);
    // nkState carries the same levels; an empty list and the plain call are the cell type itself.
    EXPECT_REL(f.reg.nkState(f.nk, f.milieu, f.contacts, high).receptors[cd16], 2e5 * shed(4.4));
    EXPECT_REL(f.reg.setPoint(f.nk, f.milieu, f.contacts, {}).receptors[cd16], 2e5 * shed(1.1));  // 1·0.55·2
    EXPECT_REL(f.nkAt().receptors[cd16], 2e5 * shed(1.1));
    f.milieu.therapies[f.drug("ADAM17 inhibitor")] = 0;

    // Tumour with HLA-I methylation 0.9 instead of 0.3: HLA-I = 3e4·(1 − 0.9·0.9/1.2) = 9750.
    const Index meth = f.fac("HLA-I methylation"), hla = f.lig("HLA-I");
    const FactorBaselines methylated{{meth, 0.9}};
    EXPECT_REL(f.reg.targetState(f.tumour, f.milieu, f.contacts, methylated).ligands[hla], 9750.0);
    EXPECT_REL(f.tumourAt().ligands[hla], 3e4 * (1.0 - 0.9 * 0.3 / 0.6));  // 16500: the cell type's own 0.3
    // Restore still aims at the factor's own reference (0.05): the DNMT inhibitor at its IC50
    // (share 0.4) takes 0.9 to 0.9 + 0.4·(0.05 − 0.9) = 0.56.
    f.milieu.therapies[f.drug("DNMT inhibitor")] = 100;
    const CellLevels tr = f.reg.setPoint(f.tumour, f.milieu, f.contacts, methylated);
    EXPECT_REL(tr.factors[meth], 0.56);
    EXPECT_REL(tr.ligands[hla], 3e4 * (1.0 - 0.9 * 0.56 / 0.86));
    f.milieu.therapies[f.drug("DNMT inhibitor")] = 0;

    // A pathway edge out of an overridden factor takes the new level as its resting state: AKT = 2
    // as the baseline leaves GSK-3β (AKT ⊣ GSK-3β) and MICA/B at rest.
    const CellLevels ta = f.reg.setPoint(f.tumour, f.milieu, f.contacts, {{f.fac("AKT"), 2.0}});
    EXPECT_REL(ta.factors[f.fac("AKT")], 2.0);
    EXPECT_REL(ta.factors[f.fac("GSK-3b")], 1.0);
    EXPECT_REL(ta.ligands[f.lig("MICA/B")], 1e4);

    // Bad overrides are refused.
    EXPECT_THROW((void)f.reg.setPoint(f.nk, f.milieu, f.contacts, {{static_cast<Index>(f.m.factors().size()), 1.0}}), nkscape::Error);
    EXPECT_THROW((void)f.reg.setPoint(f.nk, f.milieu, f.contacts, {{adam17, -1.0}}), nkscape::Error);
    EXPECT_THROW((void)f.reg.setPoint(f.nk, f.milieu, f.contacts, {{adam17, std::nan("")}}), nkscape::Error);
}

// `scaled_by`: emax × (factor level / factor baseline), read per cell (a factor-baseline override
// counts), capped at 1 for a down-regulation.
TEST(RegulationScaledBy, EmaxScalesWithTheFactorRelativeToItsReference) {
    const CompiledModel m = loadModelFromString(R"TOML(
[model]
name = "scaled-by-test"
version = "1"

[[mediator]]
name = "IFN-g"
kind = "cytokine"
unit = "pg/mL"

[[ligand]]
name = "PD-L1"
form = "membrane"
category = "inhibitory_ligand"

[[ligand]]
name = "MICA/B"
form = "membrane"
category = "activating_ligand"

[[factor]]
name = "inducibility"
role = "state"
cells = ["tumour"]
baseline = { value = 2, unit = "1", source = "assumption: test" }

[[cell_type]]
name = "T"
category = "tumour"
subtype = "tnbc"
[cell_type.expression]
"PD-L1" = { value = 1e5, unit = "molecule/cell", source = "assumption: test" }
"MICA/B" = { value = 1e4, unit = "molecule/cell", source = "assumption: test" }

[[regulation]]
name = "IFN-g raises PD-L1"
by = "IFN-g"
on = ["tumour"]
target = "PD-L1"
direction = "up"
scaled_by = "inducibility"
ec50 = { value = 10, unit = "pg/mL", source = "assumption: test" }
emax = { value = 4, unit = "1", source = "assumption: test" }
hill = { value = 1, unit = "1", source = "assumption: test" }
tau = { value = 24, unit = "h", source = "assumption: test" }

[[regulation]]
name = "IFN-g lowers MICA/B"
by = "IFN-g"
on = ["tumour"]
target = "MICA/B"
direction = "down"
scaled_by = "inducibility"
ec50 = { value = 10, unit = "pg/mL", source = "assumption: test" }
emax = { value = 0.6, unit = "1", source = "assumption: test" }
hill = { value = 1, unit = "1", source = "assumption: test" }
tau = { value = 24, unit = "h", source = "assumption: test" }
)TOML",
                                                "scaled-by-test.toml");
    const Regulator reg(m);
    const Index t = m.require(Kind::CellType, "T"), pdl1 = m.require(Kind::Ligand, "PD-L1"), mica = m.require(Kind::Ligand, "MICA/B");
    const Index ind = m.require(Kind::Factor, "inducibility");
    auto milieu = Milieu::empty(m);
    milieu.mediators[m.require(Kind::Mediator, "IFN-g")] = 30;  // h = 30/40 = 3/4
    const auto none = Contacts::none(m);
    // At the reference (2): scale 1, 1 + 4·3/4 = 4; 1 − 0.6·3/4 = 0.55.
    auto s = reg.setPoint(t, milieu, none);
    EXPECT_NEAR(s.ligands[pdl1], 4e5, 1e-6);
    EXPECT_NEAR(s.ligands[mica], 5.5e3, 1e-6);
    // Twice the reference: 1 + 8·3/4 = 7; down: emax 1.2 capped at 1, 1 − 3/4 = 0.25.
    s = reg.setPoint(t, milieu, none, {{ind, 4.0}});
    EXPECT_NEAR(s.ligands[pdl1], 7e5, 1e-6);
    EXPECT_NEAR(s.ligands[mica], 2.5e3, 1e-6);
    // Zero: no effect at all.
    s = reg.setPoint(t, milieu, none, {{ind, 0.0}});
    EXPECT_NEAR(s.ligands[pdl1], 1e5, 1e-6);
    EXPECT_NEAR(s.ligands[mica], 1e4, 1e-6);
}

// The allocation-free overloads engines call at every RHS: the same numbers as the value-returning
// forms, whatever the buffers held before (reused across cell types, categories and milieus).
TEST(RegulationDefaultModel, BufferOverloadsEqualTheValueForms) {
    const CompiledModel& m = defaultModel();
    const Regulator reg(m);
    Contacts contacts = Contacts::none(m);
    CellLevels out;
    NkState nkOut;
    CellLevels scratch;
    for (double scale : {0.0, 1.0, 20.0, 1e4}) {
        Milieu milieu = basalMilieu(m);
        for (auto& c : milieu.mediators) c *= scale;
        for (auto& c : milieu.therapies) c = scale;  // every drug at once: inhibit, restore, neutralise
        for (Index ct = 0; ct < m.cellTypes().size(); ++ct) {
            SCOPED_TRACE(m.entities(Kind::CellType)[ct].name + " at " + std::to_string(scale));
            const CellLevels want = reg.setPoint(ct, milieu, contacts);
            reg.setPoint(ct, milieu, contacts, out);
            EXPECT_EQ(out.receptors, want.receptors);
            EXPECT_EQ(out.ligands, want.ligands);
            EXPECT_EQ(out.factors, want.factors);
            EXPECT_EQ(out.secretion, want.secretion);
            if (m.cellTypes()[ct].category != nkscape::model::CellCategory::Nk) continue;
            const NkState nk = reg.nkState(ct, milieu, contacts);
            nkOut.exhaustion = 0.7;  // stale values from an earlier use must not leak through
            nkOut.fitness = 0.2;
            reg.nkState(ct, milieu, contacts, nkOut, scratch);
            EXPECT_EQ(nkOut.receptors, nk.receptors);
            EXPECT_EQ(nkOut.factors, nk.factors);
            EXPECT_EQ(nkOut.secretion, nk.secretion);
            EXPECT_EQ(nkOut.granules, nk.granules);
            EXPECT_EQ(nkOut.killTime, nk.killTime);
            EXPECT_EQ(nkOut.exhaustion, nk.exhaustion);
            EXPECT_EQ(nkOut.fitness, nk.fitness);
            EXPECT_EQ(nkOut.cd16Affinity, nk.cd16Affinity);
            EXPECT_EQ(nkOut.car.has_value(), nk.car.has_value());
        }
    }
}

// mediatorsRead: a mediator outside the list cannot move the set-point (engines rely on it to skip
// recomputation and to leave Jacobian entries out).
TEST(RegulationDefaultModel, MediatorsOutsideMediatorsReadDoNotMoveTheSetPoint) {
    const CompiledModel& m = defaultModel();
    const Regulator reg(m);
    const Contacts contacts = Contacts::none(m);
    Milieu milieu = basalMilieu(m);
    for (auto& c : milieu.therapies) c = 1.0;
    for (Index ct = 0; ct < m.cellTypes().size(); ++ct) {
        const auto read = reg.mediatorsRead(ct);
        EXPECT_TRUE(std::is_sorted(read.begin(), read.end()));
        const CellLevels before = reg.setPoint(ct, milieu, contacts);
        for (Index k = 0; k < m.mediators().size(); ++k) {
            if (std::binary_search(read.begin(), read.end(), k)) continue;
            Milieu changed = milieu;
            changed.mediators[k] = changed.mediators[k] * 1000.0 + 1.0;
            const CellLevels after = reg.setPoint(ct, changed, contacts);
            EXPECT_EQ(after.receptors, before.receptors) << m.entities(Kind::CellType)[ct].name << " / " << m.entities(Kind::Mediator)[k].name;
            EXPECT_EQ(after.ligands, before.ligands);
            EXPECT_EQ(after.factors, before.factors);
            EXPECT_EQ(after.secretion, before.secretion);
        }
    }
    EXPECT_FALSE(reg.mediatorsRead(m.require(Kind::CellType, "CD56dim NK")).empty()) << "TGF-β, IL-2, … regulate NK cells";
    EXPECT_THROW((void)reg.mediatorsRead(static_cast<Index>(m.cellTypes().size())), nkscape::Error);
}

namespace {
/// Every level of `a` equals `b`'s, bit for bit.
void expectSameLevels(const CellLevels& a, const CellLevels& b) {
    EXPECT_EQ(a.ligands, b.ligands);
    EXPECT_EQ(a.factors, b.factors);
    EXPECT_EQ(a.secretion, b.secretion);
    EXPECT_EQ(a.receptors, b.receptors);
}
}  // namespace

// A variant baseline built once and reused (engines' clones) gives exactly setPoint(…, factorBaselines).
TEST(RegulationDefaultModel, VariantBaselineOverloadEqualsFactorBaselines) {
    const CompiledModel& m = defaultModel();
    const Regulator reg(m);
    const Index tnbc = m.require(Kind::CellType, "TNBC");
    const FactorBaselines fb{{m.require(Kind::Factor, "HLA-I methylation"), 0.8}, {m.require(Kind::Factor, "ADAM17"), 3.0}};
    const CellLevels base = reg.variantBaseline(tnbc, fb);
    Milieu milieu = basalMilieu(m);
    milieu.mediators[m.require(Kind::Mediator, "IFN-g")] = 500;
    milieu.therapies[m.require(Kind::Therapy, "DNMT inhibitor")] = 100;
    const Contacts none = Contacts::none(m);
    CellLevels out;
    for (int round = 0; round < 2; ++round) {  // the second call reuses `out`
        reg.setPoint(tnbc, base, milieu, none, out);
        const CellLevels expected = reg.setPoint(tnbc, milieu, none, fb);
        expectSameLevels(out, expected);
    }
    EXPECT_THROW(reg.setPoint(tnbc, CellLevels{}, milieu, none, out), nkscape::Error);
    EXPECT_THROW((void)reg.variantBaseline(tnbc, {{m.require(Kind::Factor, "ADAM17"), -1.0}}), nkscape::Error);
}

// A variant evaluated beside its cell type's own set-point (only the levels downstream of its
// changed factors) equals the full evaluation bit for bit: the shipped template's three evasive
// traits, alone and together, in milieus with cytokines, an inhibiting drug and a restoring one.
TEST(RegulationDefaultModel, PartialVariantSetPointEqualsTheFullOne) {
    const CompiledModel& m = defaultModel();
    const Regulator reg(m);
    const Index tnbc = m.require(Kind::CellType, "TNBC");
    const Index methylation = m.require(Kind::Factor, "HLA-I methylation"), adam17 = m.require(Kind::Factor, "ADAM17"),
                inducibility = m.require(Kind::Factor, "PD-L1 inducibility");
    const CellLevels own0 = reg.baseline(tnbc);
    const std::vector<FactorBaselines> variants = {{{methylation, own0.factors[methylation] * 8}},
                                                   {{adam17, own0.factors[adam17] * 3}},
                                                   {{inducibility, own0.factors[inducibility] * 3}},
                                                   {{methylation, 0.9}, {adam17, 2.0}, {inducibility, 0.1}}};
    std::vector<Milieu> milieus(3, basalMilieu(m));
    milieus[1].mediators[m.require(Kind::Mediator, "IFN-g")] = 500;
    milieus[1].mediators[m.require(Kind::Mediator, "TGF-b")] = 5000;
    milieus[2].mediators[m.require(Kind::Mediator, "IFN-g")] = 50;
    milieus[2].therapies[m.require(Kind::Therapy, "DNMT inhibitor")] = 100;
    for (const char* drug : {"ADAM10/17 inhibitor", "GSK-3b modulator"})
        if (const auto t = m.indexOf(Kind::Therapy, drug)) milieus[2].therapies[*t] = 50;
    const Contacts none = Contacts::none(m);
    CellLevels own, out;
    bool anySkipped = false;
    for (const auto& fb : variants) {
        const auto plan = reg.variantPlan(tnbc, fb);
        EXPECT_EQ(plan.base.factors, reg.variantBaseline(tnbc, fb).factors);
        anySkipped = anySkipped || std::count(plan.affected.begin(), plan.affected.end(), 0) > 0;
        for (const auto& milieu : milieus) {
            reg.setPoint(tnbc, milieu, none, own);
            reg.setPoint(plan, own, milieu, none, out);
            const CellLevels expected = reg.setPoint(tnbc, milieu, none, fb);
            expectSameLevels(out, expected);
        }
    }
    EXPECT_TRUE(anySkipped) << "a single trait leaves most of the tumour's regulated levels alone";
    EXPECT_THROW(reg.setPoint(reg.variantPlan(tnbc, variants[0]), CellLevels{}, milieus[0], none, out), nkscape::Error);
}

// Held feedback factors (issue 12, desensitisation): CIS, role "feedback", is induced by IL-15 and
// lowers NK proliferation. Held at its own set-point the result is setPoint()'s exactly; held at
// another level, the proliferation factor is the unheld IL-15 response times (1 − Emax·h(CIS))
// over the same at the set-point's CIS, with h = c⁴/(c⁴ + 8⁴), Emax 0.7 (regulations.toml).
TEST(RegulationDefaultModel, HeldFeedbackFactorIsReadDownstreamAndItsSetPointIsReported) {
    const CompiledModel& m = defaultModel();
    const Regulator reg(m);
    const Index nk = m.require(Kind::CellType, "CD56dim NK");
    const Index cis = m.require(Kind::Factor, "CIS"), prolif = m.require(Kind::Factor, "proliferation");
    ASSERT_EQ(reg.feedbackFactors(nk), std::vector<Index>{cis});
    EXPECT_TRUE(reg.feedbackFactors(m.require(Kind::CellType, "TNBC")).empty());
    Milieu milieu = basalMilieu(m);
    milieu.mediators[m.require(Kind::Mediator, "IL-15")] = 150;  // the EC50 of "IL-15 induces CIS"
    const Contacts contacts = Contacts::none(m);
    const CellLevels free = reg.setPoint(nk, milieu, contacts);
    EXPECT_NEAR(free.factors[cis], 1.0 + 9.0 * 0.5, 1e-12);  // 1 + Emax·c/(c + EC50)
    const std::vector<Index> f{cis};
    std::vector<double> level{free.factors[cis]}, set{0.0};
    CellLevels heldAtSet;
    reg.setPoint(nk, milieu, contacts, HeldFactors{f, level, set}, heldAtSet);
    EXPECT_EQ(set[0], free.factors[cis]);
    EXPECT_EQ(heldAtSet.factors, free.factors);
    EXPECT_EQ(heldAtSet.receptors, free.receptors);
    auto damp = [](double c) { return 1.0 - 0.7 * std::pow(c, 4) / (std::pow(c, 4) + 4096.0); };
    level[0] = 10.0;
    CellLevels desensitised;
    reg.setPoint(nk, milieu, contacts, HeldFactors{f, level, set}, desensitised);
    EXPECT_EQ(set[0], free.factors[cis]);  // the set-point does not depend on the held level
    EXPECT_EQ(desensitised.factors[cis], 10.0);
    EXPECT_NEAR(desensitised.factors[prolif] / free.factors[prolif], damp(10.0) / damp(free.factors[cis]), 1e-12);
    level[0] = 1.0;  // a cell that has not yet induced CIS: the full IL-15 response
    CellLevels fresh;
    reg.setPoint(nk, milieu, contacts, HeldFactors{f, level, set}, fresh);
    EXPECT_NEAR(fresh.factors[prolif] / free.factors[prolif], damp(1.0) / damp(free.factors[cis]), 1e-12);
    EXPECT_GT(fresh.factors[prolif], 1.5 * desensitised.factors[prolif]);
    // Sizes must agree.
    std::vector<double> none;
    EXPECT_THROW(reg.setPoint(nk, milieu, contacts, HeldFactors{f, none, set}, fresh), nkscape::Error);
}
