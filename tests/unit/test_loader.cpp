// The loader on small in-memory models: what compiles, into what numbers, and what is refused.

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "nkscape/model/constants.hpp"
#include "nkscape/model/describe.hpp"
#include "nkscape/model/loader.hpp"

using namespace nkscape::model;

namespace {

// A small but complete model touching every kind.
const char* kMini = R"TOML(
[model]
name = "mini"
version = "1"

[[receptor]]
name = "NKG2D"
aliases = ["KLRK1"]
class = "activating"
adaptors = ["DAP10"]
weight = { value = 1, unit = "1", source = "assumption: reference receptor", range = [0.5, 2] }

[[receptor]]
name = "DAP10"
class = "adaptor"

[[receptor]]
name = "DNAM-1"
class = "activating"
weight = { value = 0.5, unit = "1", source = "assumption: test" }

[[receptor]]
name = "TIGIT"
class = "inhibitory"
weight = { value = 1, unit = "1", source = "review: TIGIT" }

[[receptor]]
name = "KIR2DL4"
class = "mixed"
weight = { value = 1, unit = "1", source = "assumption: test" }
activating_fraction = { value = 40, unit = "percent", source = "assumption: test" }

[[ligand]]
name = "MICA/B"
form = "membrane"
category = "activating_ligand"
soluble_mediator = "sMICA"

[[ligand]]
name = "CD155"
form = "membrane"
category = "dual_ligand"

[[interaction]]
name = "TIGIT:CD155"
receptor = "TIGIT"
ligand = "CD155"
kd = { value = 2, unit = "nM", source = "paper: Yu et al. 2009 Nat Immunol (unverified)", range = [1, 3] }
competes_with = ["DNAM-1"]

[[interaction]]
name = "DNAM-1:CD155"
receptor = "DNAM-1"
ligand = "CD155"
kd = { value = 0.1, unit = "uM", source = "paper: Yu et al. 2009 Nat Immunol (unverified)" }
competes_with = ["TIGIT"]

[[interaction]]
name = "NKG2D:sMICA"
receptor = "KLRK1"
ligand = "sMICA"
kd = { value = 1, unit = "nM", source = "assumption: test" }

[[mediator]]
name = "sMICA"
kind = "soluble_ligand"
unit = "pg/mL"
ligand_of = "MICA/B"
basal_level = { value = 0.161, unit = "ng/mL", source = "paper: Holdenrieder et al. 2006 Int J Cancer 118:684" }

[[mediator]]
name = "TGF-b"
kind = "cytokine"
unit = "ng/mL"
diffusivity = { value = 2.67e-7, unit = "cm2/s", source = "code: popellab SPQSP_PDAC (Ramanujan 2002)" }
half_life = { value = 3, unit = "min", source = "assumption: test" }

[[factor]]
name = "perforin"
role = "effector"
cells = ["nk"]

[[cell_type]]
name = "CD56dim NK"
category = "nk"
expression = { NKG2D = { value = 2e4, unit = "molecule/cell", source = "assumption: test" } }
secretion = { TGF-b = { value = 1e-3, unit = "pg/(cell.d)", source = "assumption: test" } }
kill_time = { value = 12.8, unit = "min", source = "doi:10.1084/jem.20140964", range = [11.7, 13.9] }

[[cell_type]]
name = "activated NK"
category = "nk"
based_on = "CD56dim NK"
expression = { KLRK1 = { value = 4e4, unit = "molecule/cell", source = "assumption: test" } }
factors = { perforin = { value = 2, unit = "1", source = "assumption: test" } }

[[cell_type]]
name = "TNBC"
category = "tumour"
subtype = "tnbc"
er = false
doubling_time = { value = 103, unit = "d", source = "pmid:24895040 (Ryu et al. 2014)", range = [60, 146] }
traits = { "MICA/B" = { value = 1e4, unit = "molecule/cell", source = "assumption: test", cv = 0.3 } }

[[regulation]]
name = "TGF-b lowers NKG2D"
by = "TGF-b"
on = ["nk"]
target = "NKG2D"
direction = "down"
ec50 = { value = 500, unit = "pg/mL", source = "assumption: test" }
emax = { value = 0.6, unit = "1", source = "assumption: test" }
hill = { value = 1, unit = "1", source = "assumption: test" }
tau = { value = 1, unit = "d", source = "assumption: test" }

[[pathway]]
name = "toy"
cells = ["tumour"]
edges = [ { from = "sMICA", to = "NKG2D", sign = "-", weight = { value = 1, unit = "1", source = "assumption: test" } } ]

[[therapy]]
name = "trastuzumab-like"
kind = "opsonising_antibody"
isotype = "IgG1"
dose_unit = "mg/kg"
pk = { model = "two_compartment", clearance = { value = 0.225, unit = "L/d", source = "paper: Bruno et al. 2005" }, v1 = { value = 2.95, unit = "L", source = "paper: Bruno et al. 2005" }, q = { value = 0.3, unit = "L/d", source = "assumption: test" }, v2 = { value = 2.0, unit = "L", source = "assumption: test" } }
[[therapy.mechanism]]
action = "opsonise"
target = "CD155"
kd = { value = 5, unit = "nM", source = "assumption: test" }
fc_gain = { value = 1, unit = "1", source = "assumption: reference IgG1" }
)TOML";

CompiledModel mini() { return loadModelFromString(kMini, "mini.toml"); }

std::vector<std::string> errorsOf(const std::string& toml) {
    try {
        (void)loadModelFromString(toml, "t.toml");
    } catch (const ModelError& e) {
        std::vector<std::string> out;
        for (const auto& d : e.diagnostics()) out.push_back(d.str());
        return out;
    }
    return {};
}

bool anyContains(const std::vector<std::string>& v, const std::string& needle) {
    for (const auto& s : v)
        if (s.find(needle) != std::string::npos) return true;
    return false;
}

}  // namespace

TEST(Loader, CompilesEveryKind) {
    const auto m = mini();
    EXPECT_EQ(m.info().name, "mini");
    EXPECT_EQ(m.receptors().size(), 5u);
    EXPECT_EQ(m.ligands().size(), 2u);
    EXPECT_EQ(m.interactions().size(), 3u);
    EXPECT_EQ(m.mediators().size(), 2u);
    EXPECT_EQ(m.factors().size(), 1u);
    EXPECT_EQ(m.cellTypes().size(), 3u);
    EXPECT_EQ(m.regulations().size(), 1u);
    EXPECT_EQ(m.pathways().size(), 1u);
    EXPECT_EQ(m.therapies().size(), 1u);
    EXPECT_EQ(m.info().hash.size(), 16u);
}

TEST(Loader, ConvertsToInternalUnits) {
    const auto m = mini();
    const Index dnam = m.require(Kind::Interaction, "DNAM-1:CD155");
    EXPECT_NEAR(m.value(m.interactions()[dnam].kd), 100.0, 1e-9);  // 0.1 uM → nM
    const Index kir = m.require(Kind::Receptor, "KIR2DL4");
    EXPECT_NEAR(m.value(m.receptors()[kir].activatingFraction), 0.4, 1e-12);  // percent → 1
    const Index smica = m.require(Kind::Mediator, "sMICA");
    EXPECT_NEAR(m.value(m.mediators()[smica].basalLevel), 161.0, 1e-9);  // ng/mL → the mediator's pg/mL
    const Index tgf = m.require(Kind::Mediator, "TGF-b");
    EXPECT_NEAR(m.value(m.mediators()[tgf].diffusivity), 26.7, 1e-9);  // cm2/s → um2/s
    EXPECT_NEAR(m.value(m.mediators()[tgf].halfLife), 0.05, 1e-12);    // min → h
    const auto& nk = m.cellTypes()[m.require(Kind::CellType, "CD56dim NK")];
    EXPECT_NEAR(m.value(nk.param(CellParam::KillTime)), 12.8, 1e-12);
    ASSERT_EQ(nk.secretion.size(), 1u);
    // pg/(cell.d) into the mediator's ng/mL: ng.mL/mL/(cell.h) = ng/(cell.h)
    EXPECT_NEAR(m.value(nk.secretion[0].param), 1e-3 / 1000.0 / 24.0, 1e-15);
    const auto& reg = m.regulations()[0];
    EXPECT_NEAR(m.value(reg.ec50), 0.5, 1e-12);  // pg/mL → TGF-b's ng/mL
    EXPECT_NEAR(m.value(reg.tau), 24.0, 1e-12);
    EXPECT_EQ(reg.mode, RegulationMode::Concentration);
    const auto& pr = m.parameter(m.cellTypes()[2].param(CellParam::DoublingTime));
    ASSERT_TRUE(pr.range.has_value());
    EXPECT_DOUBLE_EQ(pr.range->first, 60.0);
    EXPECT_EQ(pr.sourceKind, SourceKind::Pmid);
}

TEST(Loader, ResolvesReferencesAndAliases) {
    const auto m = mini();
    const auto nkg2d = m.find("KLRK1");
    ASSERT_TRUE(nkg2d);
    EXPECT_EQ(m.name(*nkg2d), "NKG2D");
    const auto& r = m.receptors()[nkg2d->index];
    ASSERT_EQ(r.adaptors.size(), 1u);
    EXPECT_EQ(m.entities(Kind::Receptor)[r.adaptors[0]].name, "DAP10");
    const auto& decoy = m.interactions()[m.require(Kind::Interaction, "NKG2D:sMICA")];
    EXPECT_EQ(decoy.ligand.kind, Kind::Mediator);
    const auto& tigit = m.interactions()[m.require(Kind::Interaction, "TIGIT:CD155")];
    ASSERT_EQ(tigit.competesWith.size(), 1u);
    EXPECT_EQ(m.entities(Kind::Receptor)[tigit.competesWith[0]].name, "DNAM-1");
    EXPECT_FALSE(m.indexOf(Kind::Ligand, "NKG2D").has_value());
    EXPECT_THROW((void)m.require(Kind::Ligand, "NKG2D"), nkscape::InputError);
}

TEST(Loader, BasedOnInheritsAndOverrides) {
    const auto m = mini();
    const auto& act = m.cellTypes()[m.require(Kind::CellType, "activated NK")];
    // NKG2D overridden through its alias, kill_time inherited, perforin added.
    ASSERT_EQ(act.expression.size(), 1u);
    EXPECT_NEAR(m.value(act.expression[0].param), 4e4 * 1.0, 1e-6 * 4e4);
    EXPECT_NEAR(m.value(act.param(CellParam::KillTime)), 12.8, 1e-12);
    EXPECT_EQ(act.factors.size(), 1u);
    // The inherited parameter has its own path under the child, with the parent's provenance.
    const auto p = m.findParameter("cell_type/activated NK/kill_time");
    ASSERT_TRUE(p);
    EXPECT_EQ(m.parameter(*p).sourceKind, SourceKind::Doi);
    EXPECT_NE(*p, m.cellTypes()[0].param(CellParam::KillTime));
}

TEST(Loader, TraitsCarryVariation) {
    const auto m = mini();
    const auto& tnbc = m.cellTypes()[m.require(Kind::CellType, "TNBC")];
    ASSERT_EQ(tnbc.traits.size(), 1u);
    EXPECT_DOUBLE_EQ(*m.parameter(tnbc.traits[0].param).cv, 0.3);
    EXPECT_EQ(tnbc.subtype, TumourSubtype::Tnbc);
    EXPECT_EQ(tnbc.er, std::optional<bool>(false));
}

TEST(Loader, TherapyPkAndMechanisms) {
    const auto m = mini();
    const auto& t = m.therapies()[0];
    EXPECT_EQ(t.pk.model, PkModel::TwoCompartment);
    EXPECT_NEAR(m.value(t.pk.param(PkParam::Clearance)), 0.225, 1e-12);
    ASSERT_EQ(t.mechanisms.size(), 1u);
    EXPECT_EQ(t.mechanisms[0].action, MechanismAction::Opsonise);
    EXPECT_NEAR(m.value(t.mechanisms[0].param("kd")), 5.0, 1e-12);
    EXPECT_EQ(t.mechanisms[0].param("ic50"), kNoParam);
}

TEST(Loader, ParameterPathsAreUnique) {
    const auto m = mini();
    std::set<std::string> paths;
    for (const auto& p : m.parameters()) EXPECT_TRUE(paths.insert(p.path).second) << p.path;
    EXPECT_TRUE(m.findParameter("interaction/TIGIT:CD155/kd"));
    EXPECT_TRUE(m.findParameter("therapy/trastuzumab-like/pk.clearance"));
    EXPECT_TRUE(m.findParameter("therapy/trastuzumab-like/mechanism[0].fc_gain"));
    EXPECT_TRUE(m.findParameter("pathway/toy/edges[0].weight"));
}

TEST(Loader, ReportsAllErrorsTogetherSorted) {
    std::string bad = kMini;
    bad += R"TOML(
[[receptor]]
name = "X1"
class = "activating"
weight = { value = -1, unit = "1", source = "assumption: bad" }

[[receptor]]
name = "X2"
class = "activating"
weight = { value = 1, unit = "h", source = "assumption: bad" }

[[receptor]]
name = "X3"
class = "inhibitory"
weight = { value = 1, unit = "1", source = "somebody told me" }
colour = "blue"
)TOML";
    const auto errs = errorsOf(bad);
    ASSERT_EQ(errs.size(), 4u);
    EXPECT_TRUE(anyContains(errs, "receptor 'X1': key 'weight': value is negative"));
    EXPECT_TRUE(anyContains(errs, "receptor 'X2': key 'weight': unit 'h' does not convert to '1'"));
    EXPECT_TRUE(anyContains(errs, "receptor 'X3': key 'weight': source 'somebody told me' has no known form"));
    EXPECT_TRUE(anyContains(errs, "receptor 'X3': key 'colour': unknown key"));
    // Sorted by line: the diagnostics read top to bottom.
    for (std::size_t i = 1; i < errs.size(); ++i) {
        auto line = [](const std::string& s) { return std::stoi(s.substr(s.find(':') + 1)); };
        EXPECT_LE(line(errs[i - 1]), line(errs[i]));
    }
}

TEST(Loader, FitSourcesAreAKindOfTheirOwn) {
    const auto m = loadModelFromString(
        "[model]\nname = \"m\"\n[[receptor]]\nname = \"R\"\nclass = \"activating\"\n"
        "weight = { value = 1.5, unit = \"1\", source = \"fit: TA1-TNBC, TB2 (nkscape calibrate, 2026-12-03)\", range = [1, 2] }\n",
        "t.toml");
    const auto p = m.findParameter("receptor/R/weight");
    ASSERT_TRUE(p);
    EXPECT_EQ(m.parameter(*p).sourceKind, SourceKind::Fit);
    EXPECT_EQ(sourceKindName(SourceKind::Fit), "fit");
    EXPECT_FALSE(isPublished(SourceKind::Fit));
    EXPECT_FALSE(isPublished(SourceKind::Assumption));
    EXPECT_TRUE(isPublished(SourceKind::Code));
    EXPECT_NE(describeSummary(m).find("fit         1"), std::string::npos) << describeSummary(m);
    // A fit names its targets: an empty one is refused like an empty assumption.
    const auto errs = errorsOf("[model]\nname = \"m\"\n[[receptor]]\nname = \"R\"\nclass = \"activating\"\n"
                               "weight = { value = 1, unit = \"1\", source = \"fit:\" }\n");
    ASSERT_EQ(errs.size(), 1u);
    EXPECT_NE(errs[0].find("source 'fit:' needs a text of at least 3 characters after the colon (the target ids)"), std::string::npos) << errs[0];
}

TEST(Loader, ErrorNamesFileLineColumnEntityKey) {
    const auto errs = errorsOf("[model]\nname = \"m\"\n[[receptor]]\nname = \"R\"\nclass = \"activating\"\nweight = { value = 1, unit = \"1\", source = \"assumption: a test value\", range = [2, 3] }\n");
    ASSERT_EQ(errs.size(), 1u);
    EXPECT_EQ(errs[0], "t.toml:6:80: error: receptor 'R': key 'weight': value 1 is outside its own range [2, 3]");
}

TEST(Loader, DanglingAndWrongKindReferences) {
    std::string bad = kMini;
    bad += R"(
[[interaction]]
name = "ghost"
receptor = "NOPE"
ligand = "NKG2D"
kd = { value = 1, unit = "nM", source = "assumption: x" }
)";
    const auto errs = errorsOf(bad);
    EXPECT_TRUE(anyContains(errs, "interaction 'ghost': key 'receptor': unknown name 'NOPE'"));
    EXPECT_TRUE(anyContains(errs, "interaction 'ghost': key 'ligand': 'NKG2D' is a receptor; expected a ligand or mediator"));
}

TEST(Loader, IncludesResolveRelativeAndDetectCycles) {
    MemoryFileSource ok(std::map<std::string, std::string>{
        {"m/root.toml", "include = [\"parts/a.toml\"]\n[model]\nname = \"r\"\n"},
        {"m/parts/a.toml", "include = [\"b.toml\", \"../parts/b.toml\"]\n[[factor]]\nname = \"F\"\nrole = \"state\"\ncells = [\"nk\"]\n"},
        {"m/parts/b.toml", "[[factor]]\nname = \"G\"\nrole = \"state\"\ncells = [\"nk\"]\n"}});
    const auto m = loadModel("m/root.toml", ok);
    EXPECT_EQ(m.factors().size(), 2u);  // b.toml included twice, read once
    EXPECT_EQ(m.info().files.size(), 3u);

    MemoryFileSource cyc(std::map<std::string, std::string>{
        {"root.toml", "include = [\"a.toml\"]\n[model]\nname = \"r\"\n"},
        {"a.toml", "include = [\"root.toml\"]\n"}});
    try {
        (void)loadModel("root.toml", cyc);
        FAIL() << "cycle not detected";
    } catch (const ModelError& e) {
        ASSERT_EQ(e.diagnostics().size(), 1u);
        EXPECT_EQ(e.diagnostics()[0].str(), "a.toml:1:12: error: key 'include': include cycle: root.toml -> a.toml -> root.toml");
    }
}

TEST(Loader, HashIgnoresLocationButNotContent) {
    MemoryFileSource a(std::map<std::string, std::string>{{"x/root.toml", "[model]\nname = \"r\"\n"}});
    MemoryFileSource b(std::map<std::string, std::string>{{"y/z/root.toml", "[model]\nname = \"r\"\n"}});
    MemoryFileSource c(std::map<std::string, std::string>{{"x/root.toml", "[model]\nname = \"s\"\n"}});
    EXPECT_EQ(loadModel("x/root.toml", a).info().hash, loadModel("y/z/root.toml", b).info().hash);
    EXPECT_NE(loadModel("x/root.toml", a).info().hash, loadModel("x/root.toml", c).info().hash);
}

TEST(Describe, EntityShowsParametersWithUnitsAndSources) {
    const auto m = mini();
    const std::string s = describeEntity(m, *m.find("TIGIT:CD155"));
    EXPECT_NE(s.find("kd"), std::string::npos);
    EXPECT_NE(s.find("2 nM"), std::string::npos);
    EXPECT_NE(s.find("[1, 3]"), std::string::npos);
    EXPECT_NE(s.find("paper: Yu et al. 2009"), std::string::npos);
    const std::string sum = describeSummary(m);
    EXPECT_NE(sum.find("receptor     5"), std::string::npos);
}

TEST(Constants, KnownNamesConvertAndUnknownNamesAreRefused) {
    const auto m = loadModelFromString(R"TOML(
[model]
name = "c"
[[constant]]
name = "synapse.scan_time"
value = { value = 0.05, unit = "h", source = "assumption: a few minutes of scanning" }
)TOML");
    EXPECT_NEAR(m.constant("synapse.scan_time"), 3.0, 1e-12);  // h → min
    EXPECT_THROW((void)m.constant("synapse.threshold"), nkscape::InputError);
    const auto errs = errorsOf(R"TOML(
[model]
name = "c"
[[constant]]
name = "synapse.treshold"
value = { value = 1, unit = "1", source = "assumption: typo in the name" }
[[constant]]
name = "synapse.scan_time"
value = { value = 1, unit = "nM", source = "assumption: wrong dimension" }
)TOML");
    ASSERT_EQ(errs.size(), 2u);
    EXPECT_TRUE(anyContains(errs, "constant 'synapse.treshold': key 'name': no engine uses a constant named 'synapse.treshold' (did you mean 'synapse.threshold'?)"));
    EXPECT_TRUE(anyContains(errs, "constant 'synapse.scan_time': key 'value': unit 'nM' does not convert to 'min'"));
}

TEST(Constants, EveryRegisteredConstantIsDocumented) {
    std::ifstream in(NKSCAPE_SOURCE_DIR "/docs/model-format.md");
    ASSERT_TRUE(in);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string doc = ss.str();
    for (const auto& c : constantSpecs()) {
        const std::string row = "| `" + std::string(c.name) + "` | `" + std::string(c.unit) + "`";
        EXPECT_NE(doc.find(row), std::string::npos) << "docs/model-format.md lacks the constants-table row for " << c.name << " (" << c.unit << ")";
    }
}

// A mediator's plasma compartment (docs/model-format.md): the baseline is converted to the
// mediator's own unit; a baseline or form ratio without plasma_half_life, a non-positive half-life
// and a baseline that is not a concentration are refused, all in one report with file:line.
TEST(Loader, MediatorPlasmaCompartmentKeys) {
    std::string good = kMini;
    const std::string tgf = "half_life = { value = 3, unit = \"min\", source = \"assumption: test\" }\n";
    const auto at = good.find(tgf);
    ASSERT_NE(at, std::string::npos);
    good.insert(at + tgf.size(),
                "plasma_half_life = { value = 100, unit = \"min\", source = \"pmid:2254455\" }\n"
                "plasma_baseline = { value = 1300, unit = \"pg/mL\", source = \"pmid:12751375\" }\n"
                "plasma_form_ratio = { value = 80, unit = \"1\", source = \"fit: TD6\" }\n");
    const CompiledModel m = loadModelFromString(good, "mini.toml");
    const auto& med = m.mediators()[m.require(Kind::Mediator, "TGF-b")];
    EXPECT_NEAR(m.value(med.plasmaHalfLife), 100.0 / 60.0, 1e-12);  // h
    EXPECT_NEAR(m.value(med.plasmaBaseline), 1.3, 1e-12);           // ng/mL, the mediator's unit
    EXPECT_DOUBLE_EQ(m.value(med.plasmaFormRatio), 80.0);
    EXPECT_TRUE(m.findParameter("mediator/TGF-b/plasma_half_life"));
    const auto& smica = m.mediators()[m.require(Kind::Mediator, "sMICA")];
    EXPECT_EQ(smica.plasmaHalfLife, kNoParam) << "no plasma compartment unless declared";

    std::string bad = kMini;
    const std::string smicaLine = "basal_level = { value = 0.161, unit = \"ng/mL\", source = \"paper: Holdenrieder et al. 2006 Int J Cancer 118:684\" }\n";
    const auto s = bad.find(smicaLine);
    ASSERT_NE(s, std::string::npos);
    bad.insert(s + smicaLine.size(), "plasma_baseline = { value = 10, unit = \"pg/mL\", source = \"assumption: test\" }\n");
    const auto t = bad.find(tgf);
    bad.insert(t + tgf.size(),
               "plasma_half_life = { value = 0, unit = \"h\", source = \"assumption: test\" }\n"
               "plasma_baseline = { value = 1, unit = \"h\", source = \"assumption: test\" }\n");
    const auto errs = errorsOf(bad);
    EXPECT_EQ(errs.size(), 3u) << ::testing::PrintToString(errs);
    EXPECT_TRUE(anyContains(errs, "mediator 'sMICA': key 'plasma_baseline': needs plasma_half_life")) << ::testing::PrintToString(errs);
    EXPECT_TRUE(anyContains(errs, "mediator 'TGF-b': key 'plasma_half_life':")) << ::testing::PrintToString(errs);
    EXPECT_TRUE(anyContains(errs, "mediator 'TGF-b': key 'plasma_baseline':")) << ::testing::PrintToString(errs);
    for (const auto& e : errs) EXPECT_NE(e.find("t.toml:"), std::string::npos) << e;
}
