// The in-silico killing assay: scenario files (every error at once, with file:line:column), the
// lysis curve's shape, reproducibility for any thread count, and serial killing limited by granules.
// Runs on a small in-memory model whose numbers are chosen for the tests, not for biology.

#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "nkscape/assay/assay.hpp"
#include "nkscape/assay/scenario.hpp"
#include "nkscape/error.hpp"
#include "nkscape/io/file.hpp"
#include "nkscape/model/loader.hpp"

using namespace nkscape;
using namespace nkscape::assay;
namespace fs = std::filesystem;

namespace {

// The test model (tests/data/assay/model.toml): NK cells with NKG2D, NKG2A and CD16; targets with
// MICA/B, HLA-E and HER2; numbers chosen for the tests.
const std::string& modelText() {
    static const std::string text = io::readFile(NKSCAPE_SOURCE_DIR "/tests/data/assay/model.toml");
    return text;
}

// Replaces the first occurrence of `from` in `s` (which must be there).
std::string replaced(std::string s, const std::string& from, const std::string& to) {
    const auto at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) s.replace(at, from.size(), to);
    return s;
}

const model::CompiledModel& testModel() {
    static const model::CompiledModel m = model::loadModelFromString(modelText(), "assay-test.toml");
    return m;
}

// A valid scenario; `assay` and `conditions` replace the defaults.
std::string scenarioText(const std::string& assay, const std::string& conditions, std::uint64_t seed = 7) {
    return "[scenario]\nname = \"test\"\nkind = \"assay\"\nmodel = \"assay-test.toml\"\nseed = " + std::to_string(seed) + "\n\n[assay]\n" + assay +
           "\n" + conditions;
}

const std::string kAssay = R"(duration = { value = 4, unit = "h" }
effector_target_ratios = [1, 2.5, 5, 10, 20]
targets = 200
replicates = 3
well_volume = { value = 200, unit = "uL" }
)";

const std::string kCondition = R"(
[[condition]]
name = "resting"
effector = "CD56dim NK"
target = "MDA-MB-231"
)";

AssayScenario parse(const std::string& text, const model::CompiledModel& m = testModel()) {
    return parseAssayScenario(text, "scenarios/test.toml", m);
}

// The error text of parsing `text`, or "" if it parses.
std::string errors(const std::string& text) {
    try {
        (void)parse(text);
    } catch (const model::ModelError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

// ---- scenario files ------------------------------------------------------------------------------

TEST(AssayScenario, ParsesAndConvertsEveryUnit) {
    const auto s = parse(scenarioText(R"(readout = "flow"
duration = { value = 240, unit = "min" }
effector_target_ratios = [1, 2.5]
targets = 100
replicates = 2
well_volume = { value = 0.2, unit = "mL" }
)",
                                      R"(
[[condition]]
name = "blocked"
effector = "CD56dim NK"
target = "MDA-MB-231"
therapies = { monalizumab = { value = 15, unit = "ug/mL" } }
mediators = { "TGF-b" = { value = 5, unit = "ng/mL" }, "PGE2" = { value = 1, unit = "uM" } }
target_expression = { "HLA-E" = { value = 5e4, unit = "molecule/cell" } }
effector_expression = { "NKG2A" = { value = 2e4, unit = "molecule/cell" } }
effector_factors = { "perforin" = { value = 0, unit = "1" } }
fcgr3a = "F158"
)"));
    EXPECT_EQ(s.name, "test");
    EXPECT_EQ(s.seed, 7u);
    EXPECT_EQ(s.modelFile, "scenarios/assay-test.toml");
    EXPECT_EQ(s.readout, Readout::Flow);
    EXPECT_DOUBLE_EQ(s.durationHours, 4.0);
    EXPECT_DOUBLE_EQ(s.wellVolumeMl, 0.2);
    ASSERT_EQ(s.conditions.size(), 1u);
    const auto& c = s.conditions[0];
    EXPECT_EQ(c.fcgr3a, Fcgr3a::F158);
    ASSERT_EQ(c.therapies.size(), 1u);
    EXPECT_NEAR(c.therapies[0].value, 100.0, 1e-9 * 100.0);  // 15 ug/mL of a 150 kDa antibody = 100 nM
    ASSERT_EQ(c.mediators.size(), 2u);
    auto mediator = [&](const char* name) {
        const auto i = testModel().indexOf(model::Kind::Mediator, name);
        for (const auto& x : c.mediators)
            if (i && x.index == *i) return x.value;
        return -1.0;
    };
    EXPECT_NEAR(mediator("TGF-b"), 5000.0, 1e-9 * 5000.0);  // pg/mL
    EXPECT_NEAR(mediator("PGE2"), 1000.0, 1e-9 * 1000.0);   // nM
    EXPECT_DOUBLE_EQ(c.targetExpression.at(0).value, 5e4);
    EXPECT_DOUBLE_EQ(c.effectorExpression.at(0).value, 2e4);
    EXPECT_DOUBLE_EQ(c.effectorFactors.at(0).value, 0.0);
}

TEST(AssayScenario, OptionalKeysHaveTheirDocumentedDefaults) {
    const auto s = parse(scenarioText(kAssay, kCondition));
    EXPECT_EQ(s.readout, Readout::ChromiumRelease);
    EXPECT_EQ(s.conditions.at(0).fcgr3a, Fcgr3a::V158);
    EXPECT_EQ(s.etRatios, (std::vector<double>{1, 2.5, 5, 10, 20}));
}

TEST(AssayScenario, ReportsEveryErrorAtOnceWithFileLineColumn) {
    const std::string text = R"([scenario]
name = "bad"
kind = "assay"
model = "assay-test.toml"
colour = "red"

[assay]
readout = "chromium"
duration = { value = -4, unit = "h" }
effector_target_ratios = [1, 0, -2]
targets = 100
replicates = 0
well_volume = { value = 200, unit = "kg" }

[[condition]]
name = "wrong names"
effector = "MDA-MB-231"
target = "MDA-MB-23"
therapies = { monalizumabb = { value = 10, unit = "ug/mL" }, "TGF-b" = { value = 1, unit = "nM" } }
mediators = { "TGF-b" = { value = 5, unit = "molecule/cell" } }
target_expression = { "NKG2A" = { value = 5e4, unit = "molecule/cell" } }
effector_expression = { "NKG2A" = { value = 2e4 } }
effector_factors = { "APM" = { value = 1, unit = "1" } }
fcgr3a = "V159"

[[condition]]
name = "wrong names"
effector = "CAF"
)";
    const std::string expected =
        "scenarios/test.toml:1:1: error: [scenario]: key 'seed': missing required key (the random seed: the same seed gives the same numbers)\n"
        "scenarios/test.toml:5:1: error: [scenario]: key 'colour': unknown key for [scenario]; expected one of: name, kind, model, seed, description\n"
        "scenarios/test.toml:8:11: error: [assay]: key 'readout': 'chromium' is not one of: chromium_release, flow\n"
        "scenarios/test.toml:9:12: error: [assay]: key 'duration': must be > 0, got -4 h\n"
        "scenarios/test.toml:10:30: error: [assay]: key 'effector_target_ratios': each ratio must be > 0, got 0\n"
        "scenarios/test.toml:10:33: error: [assay]: key 'effector_target_ratios': each ratio must be > 0, got -2\n"
        "scenarios/test.toml:12:14: error: [assay]: key 'replicates': must be in [1, 100000], got 0\n"
        "scenarios/test.toml:13:37: error: [assay]: key 'well_volume': unit 'kg' does not convert to 'mL' (the unit of this key)\n"
        "scenarios/test.toml:17:12: error: condition 'wrong names': key 'effector': cell type 'MDA-MB-231' is of category tumour; the effector must be of category nk\n"
        "scenarios/test.toml:18:10: error: condition 'wrong names': key 'target': no cell type named 'MDA-MB-23' in model 'assay-test' (did you mean 'MDA-MB-231'?) (the target cells of the well)\n"
        "scenarios/test.toml:19:15: error: condition 'wrong names': key 'therapies.monalizumabb': no therapy named 'monalizumabb' in model 'assay-test' (did you mean 'monalizumab'?) (therapies sets drug concentrations)\n"
        "scenarios/test.toml:19:62: error: condition 'wrong names': key 'therapies.TGF-b': 'TGF-b' is a mediator of model 'assay-test', not a therapy (therapies sets drug concentrations)\n"
        "scenarios/test.toml:20:45: error: condition 'wrong names': key 'mediators.TGF-b': unit 'molecule/cell' is not a concentration convertible to 'pg/mL' (the unit of mediator 'TGF-b')\n"
        "scenarios/test.toml:21:23: error: condition 'wrong names': key 'target_expression.NKG2A': 'NKG2A' is a receptor of model 'assay-test', not a ligand (target_expression sets ligands of the target)\n"
        "scenarios/test.toml:22:35: error: condition 'wrong names': key 'effector_expression.NKG2A': missing 'unit' (write \"1\" for a dimensionless number)\n"
        "scenarios/test.toml:23:30: error: condition 'wrong names': key 'effector_factors.APM': factor 'APM' does not live in NK cells (its cells: tumour)\n"
        "scenarios/test.toml:24:10: error: condition 'wrong names': key 'fcgr3a': 'V159' is not one of: V158, F158\n"
        "scenarios/test.toml:26:1: error: condition 'wrong names': key 'target': missing required key (the target cells of the well)\n"
        "scenarios/test.toml:27:8: error: condition 'wrong names': key 'name': two conditions have this name (the other at scenarios/test.toml:15:1)\n"
        "scenarios/test.toml:28:12: error: condition 'wrong names': key 'effector': cell type 'CAF' is of category caf; the effector must be of category nk";
    EXPECT_EQ(errors(text), expected);
}

TEST(AssayScenario, MissingTablesAndKeysAreNamed) {
    EXPECT_EQ(errors("[scenario]\nname = \"x\"\nkind = \"trial\"\nmodel = \"m.toml\"\nseed = 1.5\n"),
              "scenarios/test.toml:1:1: error: key 'assay': missing required table [assay] (duration, effector_target_ratios, targets, replicates, well_volume)\n"
              "scenarios/test.toml:1:1: error: key 'condition': no [[condition]]: an assay needs at least one (effector, target)\n"
              "scenarios/test.toml:3:8: error: [scenario]: key 'kind': 'trial' is not a killing assay; `nkscape assay` runs scenarios of kind \"assay\"\n"
              "scenarios/test.toml:5:8: error: [scenario]: key 'seed': expected an integer (the random seed: the same seed gives the same numbers), got a float");
    EXPECT_EQ(errors(scenarioText("duration = 4\neffector_target_ratios = []\n", kCondition)),
              "scenarios/test.toml:7:1: error: [assay]: key 'targets': missing required key (target cells simulated per well)\n"
              "scenarios/test.toml:7:1: error: [assay]: key 'replicates': missing required key (wells per condition and ratio)\n"
              "scenarios/test.toml:7:1: error: [assay]: key 'well_volume': missing required key (medium per well, e.g. { value = 200, unit = \"uL\" })\n"
              "scenarios/test.toml:8:12: error: [assay]: key 'duration': expected a quantity { value = ..., unit = \"...\" }, got an integer (every number with a dimension needs a unit)\n"
              "scenarios/test.toml:9:26: error: [assay]: key 'effector_target_ratios': must not be empty");
    EXPECT_EQ(errors("[scenario\n"), "scenarios/test.toml:1:10: error: malformed TOML: Error while parsing table header: expected ']', saw '\\n'");
}

TEST(AssayScenario, LoadsTheModelRelativeToTheFileAndReportsBothFilesErrors) {
    const fs::path dir = fs::temp_directory_path() / ("nkscape-assay-" + std::to_string(::getpid()));
    fs::create_directories(dir / "models");
    fs::create_directories(dir / "scenarios");
    io::writeFileAtomic(dir / "models" / "assay-test.toml", modelText());
    io::writeFileAtomic(dir / "scenarios" / "ok.toml",
                        replaced(scenarioText(kAssay, kCondition), "assay-test.toml", "../models/assay-test.toml"));
    const auto loaded = loadAssayScenario(dir / "scenarios" / "ok.toml");
    EXPECT_EQ(loaded.model.info().name, "assay-test");
    EXPECT_EQ(loaded.scenario.conditions.size(), 1u);

    io::writeFileAtomic(dir / "scenarios" / "missing.toml", replaced(scenarioText(kAssay, kCondition), "assay-test.toml", "nope.toml"));
    try {
        (void)loadAssayScenario(dir / "scenarios" / "missing.toml");
        ADD_FAILURE() << "expected ModelError";
    } catch (const model::ModelError& e) {
        EXPECT_NE(std::string(e.what()).find("missing.toml:4:9: error: [scenario]: key 'model': cannot read model file"), std::string::npos) << e.what();
    }
    // A broken model: its errors and the scenario's come together.
    io::writeFileAtomic(dir / "models" / "broken.toml", replaced(modelText(), "value = 2e4, unit = \"molecule/cell\"", "value = 2e4, unit = \"kg\""));
    io::writeFileAtomic(dir / "scenarios" / "broken.toml",
                        replaced(replaced(scenarioText(kAssay, kCondition), "assay-test.toml", "../models/broken.toml"), "targets = 200", "targets = 0"));
    try {
        (void)loadAssayScenario(dir / "scenarios" / "broken.toml");
        ADD_FAILURE() << "expected ModelError";
    } catch (const model::ModelError& e) {
        ASSERT_EQ(e.diagnostics().size(), 2u) << e.what();
        EXPECT_EQ(e.diagnostics()[0].key, "targets");
        EXPECT_NE(e.diagnostics()[1].where.file.find("broken.toml"), std::string::npos);
        EXPECT_NE(e.diagnostics()[1].message.find("does not convert"), std::string::npos) << e.what();
    }
    fs::remove_all(dir);
}

// ---- statistics ----------------------------------------------------------------------------------

TEST(AssayStatistics, StudentTQuantileMatchesTables) {
    EXPECT_NEAR(studentTQuantile(0.975, 1), 12.7062047, 1e-6);
    EXPECT_NEAR(studentTQuantile(0.975, 2), 4.30265273, 1e-6);
    EXPECT_NEAR(studentTQuantile(0.975, 5), 2.57058184, 1e-6);
    EXPECT_NEAR(studentTQuantile(0.975, 30), 2.04227246, 1e-6);
    EXPECT_NEAR(studentTQuantile(0.975, 1e6), 1.95996, 1e-4);
    EXPECT_NEAR(studentTQuantile(0.025, 5), -2.57058184, 1e-6);
}

TEST(AssayStatistics, IntervalIsMeanPlusMinusTSdOverRootN) {
    const auto one = confidenceInterval95({42.0});
    EXPECT_EQ(one.mean, 42.0);
    EXPECT_EQ(one.low, 42.0);
    EXPECT_EQ(one.high, 42.0);
    const auto iv = confidenceInterval95({1.0, 2.0, 3.0});  // sd 1, n 3, t(0.975, 2) = 4.3027
    EXPECT_DOUBLE_EQ(iv.mean, 2.0);
    EXPECT_NEAR(iv.high - iv.mean, 4.30265273 / std::sqrt(3.0), 1e-6);
    EXPECT_NEAR(iv.mean - iv.low, 4.30265273 / std::sqrt(3.0), 1e-6);
}

// ---- the engine ----------------------------------------------------------------------------------

TEST(AssayEngine, LysisRisesWithEtRatioAndSaturatesBelow100) {
    const auto s = parse(scenarioText(kAssay, kCondition));
    const auto r = runAssay(testModel(), s);
    const auto& ratios = r.conditions.at(0).ratios;
    ASSERT_EQ(ratios.size(), 5u);
    for (std::size_t i = 1; i < ratios.size(); ++i)
        EXPECT_GT(ratios[i].lysisPct.mean, ratios[i - 1].lysisPct.mean) << "E:T " << ratios[i].etRatio;
    EXPECT_GT(ratios.front().lysisPct.mean, 3.0);
    EXPECT_LT(ratios.back().lysisPct.mean, 99.0);
    // Saturation: the gain per unit E:T falls from the low end of the curve to the high end.
    const double slopeLow = (ratios[1].lysisPct.mean - ratios[0].lysisPct.mean) / (ratios[1].etRatio - ratios[0].etRatio);
    const double slopeHigh = (ratios[4].lysisPct.mean - ratios[3].lysisPct.mean) / (ratios[4].etRatio - ratios[3].etRatio);
    EXPECT_LT(slopeHigh, 0.5 * slopeLow);
    // IFN-γ rises with the number of NK cells.
    EXPECT_GT(ratios.back().ifng.mean, ratios.front().ifng.mean);
    for (const auto& rr : ratios) {
        EXPECT_LE(rr.lysisPct.low, rr.lysisPct.mean);
        EXPECT_GE(rr.lysisPct.high, rr.lysisPct.mean);
        EXPECT_EQ(rr.wells.size(), 3u);
        EXPECT_EQ(rr.wells[0].effectors, static_cast<std::uint32_t>(std::lround(rr.etRatio * 200)));
    }
}

TEST(AssayEngine, SerialKillersEmerge) {
    // About half of the NK cells kill nothing; the top 10 % make a large share of the kills.
    const auto s = parse(scenarioText(replaced(kAssay, "[1, 2.5, 5, 10, 20]", "[1]"), kCondition));
    const auto r = runAssay(testModel(), s);
    for (const auto& w : r.conditions.at(0).ratios.at(0).wells) {
        EXPECT_GE(static_cast<double>(w.nkWithoutKill) / w.effectors, 0.5);
        EXPECT_GT(w.topDecileKillShare, 0.3);
        EXPECT_GT(w.maxKillsPerNk, 1u);
    }
}

TEST(AssayEngine, SameSeedSameNumbersForAnyThreadCount) {
    const auto s = parse(scenarioText(kAssay, kCondition, 20261123));
    AssayOptions one, two;
    one.threads = 1;
    two.threads = 2;
    const auto r1 = runAssay(testModel(), s, one);
    const auto r2 = runAssay(testModel(), s, two);
    EXPECT_EQ(lysisCsv(testModel(), s, r1), lysisCsv(testModel(), s, r2));
    EXPECT_EQ(ifngCsv(testModel(), s, r1), ifngCsv(testModel(), s, r2));
    const auto r3 = runAssay(testModel(), s, two);
    EXPECT_EQ(lysisCsv(testModel(), s, r2), lysisCsv(testModel(), s, r3));
}

TEST(AssayEngine, DifferentSeedsDiffer) {
    const auto a = parse(scenarioText(kAssay, kCondition, 1));
    const auto b = parse(scenarioText(kAssay, kCondition, 2));
    EXPECT_NE(lysisCsv(testModel(), a, runAssay(testModel(), a)), lysisCsv(testModel(), b, runAssay(testModel(), b)));
}

TEST(AssayEngine, NoNkCellsNoLysis) {
    // 0.001 NK per target × 200 targets rounds to no NK cell at all: only spontaneous death, in
    // the well and its control alike.
    const auto s = parse(scenarioText(replaced(replaced(kAssay, "[1, 2.5, 5, 10, 20]", "[0.001]"), "replicates = 3", "replicates = 8"), kCondition));
    const auto r = runAssay(testModel(), s);
    const auto& rr = r.conditions.at(0).ratios.at(0);
    EXPECT_EQ(rr.wells.at(0).effectors, 0u);
    EXPECT_LE(rr.lysisPct.low, 0.0);
    EXPECT_GE(rr.lysisPct.high, 0.0);
    EXPECT_LT(std::fabs(rr.lysisPct.mean), 5.0);
    EXPECT_EQ(rr.ifng.mean, 0.0);
    for (const auto& w : rr.wells) {
        EXPECT_EQ(w.kills, 0u);
        EXPECT_GT(w.deadControl, 0u);  // spontaneous lysis 10 % of 200 targets
    }
}

TEST(AssayEngine, KillingStopsWhenGranulesAreSpentAndDeathReceptorsDoNothing) {
    const std::string noDeathReceptor =
        replaced(modelText(), "name = \"synapse.death_receptor_efficacy\"\nvalue = { value = 0.2", "name = \"synapse.death_receptor_efficacy\"\nvalue = { value = 0");
    // One kill's worth of granules, refilled after far longer than the assay: one kill per NK cell.
    const auto oneGranule = model::loadModelFromString(
        replaced(replaced(noDeathReceptor, "granule_capacity = { value = 5", "granule_capacity = { value = 1"), "granule_refill_time = { value = 6",
                 "granule_refill_time = { value = 1000"),
        "assay-test.toml");
    const auto s1 = parse(scenarioText(replaced(kAssay, "[1, 2.5, 5, 10, 20]", "[2]"), kCondition), oneGranule);
    const auto r1 = runAssay(oneGranule, s1);
    std::uint32_t kills = 0;
    for (const auto& w : r1.conditions.at(0).ratios.at(0).wells) {
        EXPECT_LE(w.maxKillsPerNk, 1u);
        kills += w.kills;
    }
    EXPECT_GT(kills, 0u);
    // With death receptors, the same cells go on killing after their granule is spent.
    const auto withDeathReceptor = model::loadModelFromString(
        replaced(replaced(modelText(), "granule_capacity = { value = 5", "granule_capacity = { value = 1"), "granule_refill_time = { value = 6",
                 "granule_refill_time = { value = 1000"),
        "assay-test.toml");
    const auto r1b = runAssay(withDeathReceptor, parse(scenarioText(replaced(kAssay, "[1, 2.5, 5, 10, 20]", "[2]"), kCondition), withDeathReceptor));
    std::uint32_t maxKills = 0;
    for (const auto& w : r1b.conditions.at(0).ratios.at(0).wells) maxKills = std::max(maxKills, w.maxKillsPerNk);
    EXPECT_GT(maxKills, 1u);

    // No granules at all: nothing is killed.
    const auto noGranules =
        model::loadModelFromString(replaced(noDeathReceptor, "granule_capacity = { value = 5", "granule_capacity = { value = 0"), "assay-test.toml");
    const auto s0 = parse(scenarioText(kAssay, kCondition), noGranules);
    const auto r0 = runAssay(noGranules, s0);
    for (const auto& rr : r0.conditions.at(0).ratios) {
        for (const auto& w : rr.wells) EXPECT_EQ(w.kills, 0u);
        EXPECT_LT(std::fabs(rr.lysisPct.mean), 5.0);
    }
}

TEST(AssayEngine, BlockingNkg2aRestoresLysisOfHlaEHighTargets) {
    const auto s = parse(scenarioText(replaced(kAssay, "[1, 2.5, 5, 10, 20]", "[2.5]"), R"(
[[condition]]
name = "HLA-E high"
effector = "CD56dim NK"
target = "MDA-MB-231"
target_expression = { "HLA-E" = { value = 5e4, unit = "molecule/cell" } }

[[condition]]
name = "HLA-E high + monalizumab"
effector = "CD56dim NK"
target = "MDA-MB-231"
target_expression = { "HLA-E" = { value = 5e4, unit = "molecule/cell" } }
therapies = { monalizumab = { value = 10, unit = "ug/mL" } }
)"));
    const auto r = runAssay(testModel(), s);
    EXPECT_GT(r.conditions.at(1).ratios.at(0).lysisPct.mean, r.conditions.at(0).ratios.at(0).lysisPct.mean + 10.0);
}

TEST(AssayEngine, MissingAssayConstantsAreNamed) {
    const auto m = model::loadModelFromString(replaced(modelText(), "[[constant]]\nname = \"assay.encounter_rate\"\nvalue = { value = 1, unit = \"1/h\", source = \"assumption: test\" }\n", ""), "assay-test.toml");
    const auto s = parse(scenarioText(kAssay, kCondition), m);
    try {
        (void)runAssay(m, s);
        FAIL() << "expected InputError";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("declares no [[constant]] assay.encounter_rate"), std::string::npos) << e.what();
    }
}

TEST(AssayOutputs, CsvAndSummaryHaveTheDocumentedShape) {
    const auto s = parse(scenarioText(replaced(kAssay, "[1, 2.5, 5, 10, 20]", "[1, 5]"), kCondition));
    const auto r = runAssay(testModel(), s);
    const std::string lysis = lysisCsv(testModel(), s, r);
    EXPECT_EQ(lysis.substr(0, lysis.find('\n')),
              "condition,effector,target,et_ratio,lysis_mean_pct,lysis_ci_low_pct,lysis_ci_high_pct,replicates");
    EXPECT_EQ(std::count(lysis.begin(), lysis.end(), '\n'), 3);
    EXPECT_NE(lysis.find("\nresting,CD56dim NK,MDA-MB-231,5,"), std::string::npos) << lysis;
    const std::string ifng = ifngCsv(testModel(), s, r);
    EXPECT_EQ(ifng.substr(0, ifng.find('\n')),
              "condition,effector,target,et_ratio,ifng_mean_pg_per_mL,ifng_ci_low_pg_per_mL,ifng_ci_high_pg_per_mL,replicates");

    const fs::path dir = fs::temp_directory_path() / ("nkscape-assay-out-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    io::RunFolder run(dir, "assay");
    const auto files = writeAssayOutputs(run, testModel(), s, r);
    EXPECT_EQ(files.size(), 3u);
    EXPECT_EQ(io::readFile(dir / "lysis.csv"), lysis);
    const auto j = nlohmann::json::parse(io::readFile(dir / "summary.json"));
    EXPECT_EQ(j["seed"], 7);
    EXPECT_EQ(j["model"]["name"], "assay-test");
    EXPECT_EQ(j["scenario"]["name"], "test");
    EXPECT_TRUE(j["run"]["threads"].is_number_integer());
    EXPECT_TRUE(j["run"]["wall_time_s"].is_number());
    EXPECT_TRUE(j["results"][0]["top10pct_kill_share"]["mean"].is_number());
    EXPECT_EQ(j["inputs"]["conditions"][0]["fraction_nonkiller"]["from"], "cell type");
    fs::remove_all(dir);
}

// ---- shedding, target factor baselines and conditioning (V5's mechanism) ------------------------

namespace {

// The test model plus MICA/B shedding: ADAM10 in the targets sheds MICA/B and releases sMICA (half-
// life 6 h), which lowers NKG2D on NK cells; an ADAM10 inhibitor. The targets also secrete TGF-β,
// which has no decay in this model. Numbers chosen for the tests.
const std::string& sheddingModelText() {
    static const std::string text = replaced(modelText(), "[[cell_type]]\nname = \"CAF\"",
                                             R"TOML(secretion = { "sMICA" = { value = 0.05, unit = "pg/(cell.h)", source = "assumption: test" }, "TGF-b" = { value = 0.01, unit = "pg/(cell.h)", source = "assumption: test" } }

[[cell_type]]
name = "CAF")TOML") + R"TOML(
[[mediator]]
name = "sMICA"
kind = "soluble_ligand"
ligand_of = "MICA/B"
unit = "pg/mL"
half_life = { value = 6, unit = "h", source = "assumption: test" }

[[factor]]
name = "ADAM10"
role = "enzyme"
cells = ["tumour"]

[[regulation]]
name = "ADAM10 sheds MICA/B"
by = "ADAM10"
on = ["tumour"]
target = "MICA/B"
direction = "down"
ec50 = { value = 3, unit = "1", source = "assumption: test" }
emax = { value = 0.9, unit = "1", source = "assumption: test" }
hill = { value = 1, unit = "1", source = "assumption: test" }
tau = { value = 6, unit = "h", source = "assumption: test" }

[[regulation]]
name = "ADAM10 raises sMICA"
by = "ADAM10"
on = ["tumour"]
target = "sMICA"
direction = "up"
ec50 = { value = 3, unit = "1", source = "assumption: test" }
emax = { value = 3, unit = "1", source = "assumption: test" }
hill = { value = 1, unit = "1", source = "assumption: test" }
tau = { value = 6, unit = "h", source = "assumption: test" }

[[regulation]]
name = "sMICA lowers NKG2D"
by = "sMICA"
on = ["nk"]
target = "NKG2D"
direction = "down"
ec50 = { value = 500, unit = "pg/mL", source = "assumption: test" }
emax = { value = 0.7, unit = "1", source = "assumption: test" }
hill = { value = 1, unit = "1", source = "assumption: test" }
tau = { value = 12, unit = "h", source = "assumption: test" }

[[therapy]]
name = "ADAM10 inhibitor"
kind = "small_molecule"
dose_unit = "mg"
pk = { model = "none" }
[[therapy.mechanism]]
action = "inhibit"
target = "ADAM10"
ic50 = { value = 100, unit = "nM", source = "assumption: test" }
emax = { value = 0.9, unit = "1", source = "assumption: test" }
)TOML";
    return text;
}

const model::CompiledModel& sheddingModel() {
    static const model::CompiledModel m = model::loadModelFromString(sheddingModelText(), "assay-test.toml");
    return m;
}

}  // namespace

TEST(AssayScenario, TargetFactorsAndConditioningParse) {
    const auto s = parse(scenarioText(kAssay + "conditioning = { value = 1, unit = \"d\" }\n", R"(
[[condition]]
name = "shedding"
effector = "CD56dim NK"
target = "MDA-MB-231"
target_factors = { ADAM10 = { value = 4, unit = "1" } }
)"),
                         sheddingModel());
    EXPECT_DOUBLE_EQ(s.conditioningHours, 24.0);
    const auto& c = s.conditions.at(0);
    ASSERT_EQ(c.targetFactors.size(), 1u);
    EXPECT_EQ(c.targetFactors[0].index, *sheddingModel().indexOf(model::Kind::Factor, "ADAM10"));
    EXPECT_DOUBLE_EQ(c.targetFactors[0].value, 4.0);
    EXPECT_DOUBLE_EQ(parse(scenarioText(kAssay, kCondition), sheddingModel()).conditioningHours, 0.0);  // default: none

    std::string err;
    try {
        (void)parse(scenarioText(kAssay + "conditioning = { value = 24, unit = \"uL\" }\n", R"(
[[condition]]
name = "bad"
effector = "CD56dim NK"
target = "MDA-MB-231"
target_factors = { ADAM1 = { value = 4, unit = "1" }, ADAM10 = { value = 4, unit = "nM" }, perforin = { value = 1, unit = "1" } }
)"),
                    sheddingModel());
    } catch (const model::ModelError& e) {
        err = e.what();
    }
    EXPECT_EQ(err,
              "scenarios/test.toml:13:37: error: [assay]: key 'conditioning': unit 'uL' does not convert to 'h' (the unit of this key)\n"
              "scenarios/test.toml:20:20: error: condition 'bad': key 'target_factors.ADAM1': no factor named 'ADAM1' in model 'assay-test' (did you mean 'ADAM10'?) (target_factors sets baseline factors of the target)\n"
              "scenarios/test.toml:20:84: error: condition 'bad': key 'target_factors.ADAM10': unit 'nM' does not convert to '1' (the unit of this key)\n"
              "scenarios/test.toml:20:103: error: condition 'bad': key 'target_factors.perforin': factor 'perforin' does not live in tumour cells (its cells: nk)");
}

TEST(AssayEngine, ConditioningAccumulatesWhatTheTargetsSecrete) {
    // 200 targets in 0.2 mL for 24 h. sMICA: S = 0.05·(1 + 3·1/(1 + 3)) = 0.0875 pg/(cell.h) at
    // ADAM10 = 1, k = ln2/6 h: c = S·N/(V·k)·(1 − 2^−4). TGF-β has no decay: c = S·N·t/V = 240 pg/mL.
    const auto s = parse(scenarioText(replaced(kAssay, "[1, 2.5, 5, 10, 20]", "[1]") + "conditioning = { value = 24, unit = \"h\" }\n", kCondition),
                         sheddingModel());
    const auto r = runAssay(sheddingModel(), s);
    const auto& setup = r.conditions.at(0).setup;
    EXPECT_DOUBLE_EQ(setup.conditioningHours, 24.0);
    ASSERT_EQ(setup.conditioned.size(), 2u);
    const auto& m = sheddingModel();
    const double k = std::log(2.0) / 6.0;
    for (const auto& x : setup.conditioned) {
        if (x.mediator == *m.indexOf(model::Kind::Mediator, "sMICA")) {
            EXPECT_TRUE(x.decays);
            EXPECT_NEAR(x.decayPerHour, k, 1e-15);
            EXPECT_NEAR(x.secretion, 0.0875, 1e-15);
            EXPECT_NEAR(x.concentration, 0.0875 * 200 / (0.2 * k) * (1 - 1.0 / 16), 1e-9);
            EXPECT_NEAR(x.concentration, 710.0764654375367, 1e-9);
        } else {
            EXPECT_EQ(x.mediator, *m.indexOf(model::Kind::Mediator, "TGF-b"));
            EXPECT_FALSE(x.decays);
            EXPECT_NEAR(x.concentration, 240.0, 1e-9);
        }
    }
    // The conditioned medium is the well's medium, and summary.json records it.
    double smica = 0;
    for (const auto& x : setup.milieu)
        if (x.index == *m.indexOf(model::Kind::Mediator, "sMICA")) smica = x.value;
    EXPECT_NEAR(smica, 710.0764654375367, 1e-9);
    const auto j = summaryJson(m, s, r);
    const auto& jc = j["inputs"]["conditions"][0]["conditioning"];
    EXPECT_EQ(jc["duration_h"], 24.0);
    EXPECT_NEAR(jc["mediators"]["sMICA"]["value"].get<double>(), 710.0764654375367, 1e-9);
    EXPECT_EQ(jc["mediators"]["sMICA"]["unit"], "pg/mL");
    EXPECT_TRUE(jc["mediators"]["TGF-b"]["decay_rate_per_h"].is_null());
    // Without conditioning nothing is added.
    const auto r0 = runAssay(m, parse(scenarioText(replaced(kAssay, "[1, 2.5, 5, 10, 20]", "[1]"), kCondition), m));
    EXPECT_TRUE(r0.conditions.at(0).setup.conditioned.empty());
    EXPECT_TRUE(r0.conditions.at(0).setup.milieu.empty());
}

TEST(AssayEngine, SheddingTargetsEscapeAndAnAdamInhibitorRestoresLysis) {
    const std::string conditions = R"(
[[condition]]
name = "control"
effector = "CD56dim NK"
target = "MDA-MB-231"

[[condition]]
name = "shedding"
effector = "CD56dim NK"
target = "MDA-MB-231"
target_factors = { ADAM10 = { value = 4, unit = "1" } }

[[condition]]
name = "shedding + inhibitor"
effector = "CD56dim NK"
target = "MDA-MB-231"
target_factors = { ADAM10 = { value = 4, unit = "1" } }
therapies = { "ADAM10 inhibitor" = { value = 1, unit = "uM" } }
)";
    const auto s = parse(scenarioText(replaced(replaced(kAssay, "[1, 2.5, 5, 10, 20]", "[5]"), "replicates = 3", "replicates = 4") +
                                          "conditioning = { value = 24, unit = \"h\" }\n",
                                      conditions),
                         sheddingModel());
    const auto r = runAssay(sheddingModel(), s);
    const double control = r.conditions.at(0).ratios.at(0).lysisPct.mean;
    const double shedding = r.conditions.at(1).ratios.at(0).lysisPct.mean;
    const double inhibited = r.conditions.at(2).ratios.at(0).lysisPct.mean;
    RecordProperty("lysis_control", std::to_string(control));
    RecordProperty("lysis_shedding", std::to_string(shedding));
    RecordProperty("lysis_inhibited", std::to_string(inhibited));
    std::printf("lysis control %.3f, shedding %.3f, shedding + inhibitor %.3f\n", control, shedding, inhibited);
    EXPECT_LT(shedding, control - 10.0);
    EXPECT_GT(inhibited, shedding + 10.0);
}
