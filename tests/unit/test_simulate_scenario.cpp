// Simulation scenario files (qsp/scenario.hpp): units converted, every error reported together
// with file:line and key, the shipped scenarios run, and the output files are written.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "nkscape/io/file.hpp"
#include "nkscape/io/json.hpp"
#include "nkscape/model/diagnostics.hpp"
#include "nkscape/model/loader.hpp"
#include "nkscape/model/units.hpp"
#include "nkscape/qsp/scenario.hpp"

#include "default_model.hpp"

using namespace nkscape;
using namespace nkscape::qsp;

namespace {

using nkscape::testing::defaultModel;

const std::string kHeader = R"([scenario]
name = "test"
kind = "simulate"
model = "../../models/default.toml"
seed = 1
)";

std::vector<std::string> errorsOf(const std::string& toml, const model::CompiledModel& m = defaultModel()) {
    try {
        (void)parseSimulationScenario(toml, "s.toml", m);
    } catch (const model::ModelError& e) {
        std::vector<std::string> out;
        for (const auto& d : e.diagnostics()) out.push_back(d.str());
        return out;
    }
    return {};
}

/// A fresh copy of the shipped models/ in the temporary folder `name`, to edit a test's broken model from.
std::filesystem::path copyOfTheModels(const std::string& name) {
    const auto dir = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(dir);
    std::filesystem::copy(NKSCAPE_SOURCE_DIR "/models", dir, std::filesystem::copy_options::recursive);
    return dir;
}

}  // namespace

TEST(SimulateScenario, ConvertsUnits) {
    const auto s = parseSimulationScenario(kHeader + R"(
[simulation]
duration = { value = 1, unit = "yr" }
output_interval = { value = 1, unit = "week" }
rtol = 1e-7
atol = 1

[tumour]
cell_type = "TNBC"
initial_cells = { value = 1e9, unit = "cell" }

[[clone]]
name = "HLA-I loss"
ligands = { "HLA-I" = { value = 5, unit = "%" } }
switch_per_division = { value = 1e-4, unit = "1" }

[[nk]]
cell_type = "CD56dim NK"
initial_cells = { value = 1e7, unit = "cell" }
influx = { value = 1e6, unit = "cell/h" }

[patient]
weight = { value = 70000, unit = "g" }

[[dose]]
therapy = "trastuzumab"
loading = "8 mg/kg"
amount = "6 mg/kg"
schedule = "q3w x 3"
start = { value = 48, unit = "h" }
)",
                                           "s.toml", defaultModel());
    // udunits2's year is the tropical year, 365.242198781 d.
    EXPECT_NEAR(s.spec.durationDays, 365.242198781, 1e-6);
    EXPECT_DOUBLE_EQ(s.spec.outputIntervalDays, 7.0);
    EXPECT_DOUBLE_EQ(s.spec.ode.rtol, 1e-7);
    EXPECT_DOUBLE_EQ(s.spec.ode.atol, 1.0);
    EXPECT_DOUBLE_EQ(s.spec.mediatorAtol, 1e-1) << "the default: 10 % of each mediator's basal level";
    EXPECT_DOUBLE_EQ(s.spec.fractionAtol, 1e-4) << "the default for the granule and exhaustion fractions";
    EXPECT_DOUBLE_EQ(s.spec.mediatorRtol, 0.0) << "the default: rtol";
    EXPECT_EQ(s.spec.initialMediators, InitialMediators::SteadyState) << "the default: the initial cells' own milieu";
    ASSERT_EQ(s.spec.clones.size(), 2u);
    EXPECT_EQ(s.spec.clones[0].name, "founding");
    EXPECT_DOUBLE_EQ(s.spec.clones[0].initialCells, 1e9);
    EXPECT_EQ(s.spec.clones[1].name, "HLA-I loss");
    EXPECT_DOUBLE_EQ(s.spec.clones[1].initialCells, 0.0);
    ASSERT_EQ(s.spec.clones[1].ligandMultipliers.size(), 1u);
    EXPECT_NEAR(s.spec.clones[1].ligandMultipliers[0].second, 0.05, 1e-12);
    ASSERT_EQ(s.spec.populations.size(), 1u);
    EXPECT_NEAR(s.spec.populations[0].influxPerDay, 24e6, 1e-3);
    ASSERT_TRUE(s.body.weight_kg);
    EXPECT_DOUBLE_EQ(*s.body.weight_kg, 70.0);
    ASSERT_EQ(s.spec.drugs.size(), 1u);
    const auto& doses = s.spec.drugs[0].regimen.doses();
    ASSERT_EQ(doses.size(), 3u);
    EXPECT_DOUBLE_EQ(doses[0].time_d, 2.0);
    EXPECT_DOUBLE_EQ(doses[0].amount, 560.0);  // 8 mg/kg × 70 kg
    EXPECT_DOUBLE_EQ(doses[1].time_d, 23.0);
    EXPECT_DOUBLE_EQ(doses[1].amount, 420.0);  // 6 mg/kg × 70 kg
}

TEST(SimulateScenario, ReportsEveryErrorTogether) {
    const auto errors = errorsOf(kHeader + R"(
[simulation]
duration = { value = -1, unit = "d" }
output_interval = { value = 7, unit = "kg" }
rtoll = 1e-6
fraction_atol = -1e-4
initial_mediators = "resting"

[tumour]
cell_type = "CD56dim NK"
initial_cells = { value = 1e9, unit = "cell" }

[[clone]]
name = "founding"
ligands = { "HLA-X" = { value = 0.5, unit = "1" } }

[[nk]]
cell_type = "TNBC"

[[dose]]
therapy = "trastuzumob"
amount = "6 mg/kg"
)");
    const std::vector<std::string> expected{
        "s.toml:8:12: error: [simulation]: key 'duration': must be > 0, got -1 d",
        "s.toml:9:39: error: [simulation]: key 'output_interval': unit 'kg' does not convert to 'd' (the unit of this key)",
        "s.toml:10:1: error: [simulation]: key 'rtoll': unknown key for [simulation] (did you mean 'rtol'?)",
        "s.toml:11:17: error: [simulation]: key 'fraction_atol': must be > 0, got -0.0001",
        "s.toml:12:21: error: [simulation]: key 'initial_mediators': expected \"steady state\" or \"basal\"",
        "s.toml:15:13: error: [tumour]: key 'cell_type': cell type 'CD56dim NK' is of category nk; the cell_type must be of category tumour",
        "s.toml:19:8: error: clone 'founding': key 'name': 'founding' is the implicit founding clone (set by [tumour]); choose another name",
        "s.toml:20:13: error: clone 'founding': key 'ligands.HLA-X': no ligand named 'HLA-X' in model 'nkscape-default' (did you mean 'HLA-I'?) "
        "(ligands multiplies the founding clone's ligand levels)",
        "s.toml:23:13: error: nk #1: key 'cell_type': cell type 'TNBC' is of category tumour; the cell_type must be of category nk",
        "s.toml:26:11: error: dose #1: key 'therapy': no therapy named 'trastuzumob' in model 'nkscape-default' (did you mean 'trastuzumab'?) "
        "(the drug given)",
    };
    EXPECT_EQ(errors, expected);
}

TEST(SimulateScenario, DosingErrorsAreDiagnosticsAtTheDose) {
    const std::string toml = kHeader + R"(
[simulation]
duration = { value = 30, unit = "d" }

[tumour]
cell_type = "HER2-enriched"
initial_cells = { value = 1e9, unit = "cell" }

[[dose]]
therapy = "trastuzumab"
amount = "6 mg/kg"
schedule = "q3w x 2"
)";
    // No [patient] weight: DosingRegimen::parse's own message, at the [[dose]]'s line.
    std::string why;
    try {
        DosingSpec spec;
        spec.amount = "6 mg/kg";
        spec.schedule = "q3w x 2";
        (void)DosingRegimen::parse(spec, DrugPk::fromTherapy(defaultModel(), "trastuzumab"), BodySize{});
    } catch (const InputError& e) {
        why = e.what();
    }
    ASSERT_FALSE(why.empty());
    const auto errors = errorsOf(toml);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0], "s.toml:14:1: error: dose #1 (trastuzumab): " + why);
}

TEST(SimulateScenario, TnbcUntreatedGrowsAndWritesOutputs) {
    const auto loaded = loadSimulationScenario(std::filesystem::path(NKSCAPE_SOURCE_DIR "/scenarios/simulate/tnbc-untreated.toml"));
    EXPECT_EQ(loaded.spec.clones.size(), 4u);  // founding + three evasive variants
    const auto r = simulate(loaded.model, loaded.spec);
    ASSERT_GE(r.rows.size(), 2u);
    ASSERT_EQ(r.columns[0], "tumour.cells");
    EXPECT_DOUBLE_EQ(r.rows.front()[0], 1e9);
    EXPECT_GT(r.rows.back()[0], 2 * r.rows.front()[0]);
    for (std::size_t i = 1; i < r.rows.size(); ++i) EXPECT_GT(r.rows[i][0], r.rows[i - 1][0]) << "t = " << r.times[i];

    const auto dir = std::filesystem::temp_directory_path() / "nkscape-test-simulate-scenario";
    std::filesystem::remove_all(dir);
    io::RunFolder run(dir, "simulate");
    const auto files = writeSimulationOutputs(run, loaded, r, 0.5);
    ASSERT_EQ(files.size(), 3u);
    const std::string series = io::readFile(dir / "timeseries.csv");
    EXPECT_EQ(series.rfind("time_d,tumour.cells [cell],clone.founding [cell],\"clone.HLA-I loss, HLA-E up [cell]\",", 0), 0u);
    const std::string header = series.substr(0, series.find('\n'));
    for (const char* col : {"nk.CD56dim NK [cell]", "blood.CD56dim NK [cell]", "exhaustion.CD56dim NK [1]", "granules.CD56dim NK [1]",
                            "cd8_t.CD8 T [cell]", "mdsc.MDSC [cell]", "caf.CAF [cell]", "mediator.IFN-g [pg/mL]"})
        EXPECT_NE(header.find(col), std::string::npos) << col;
    // The phase at the start, and the three variants (0 cells) followed as whole cells from the start
    // until they reach twice the threshold (small_clones = "stochastic", the default).
    const std::string events = io::readFile(dir / "events.csv");
    EXPECT_EQ(events.rfind("time_d,kind,detail\n", 0), 0u);
    EXPECT_NE(events.find("\n0,phase,escape\n"), std::string::npos) << events;
    EXPECT_NE(events.find("\n0,clone stochastic,\"clone 'MICA shedding': 0 cells, at the start below 100 cells: followed as 0 whole cells\"\n"),
              std::string::npos)
        << events;
    EXPECT_NE(events.find(",clone continuous,clone 'MICA shedding': "), std::string::npos) << events;
    const auto summary = nlohmann::json::parse(io::readFile(dir / "summary.json"));
    EXPECT_EQ(summary["scenario"]["seed"], 1);
    EXPECT_EQ(summary["inputs"]["small_clones"]["mode"], "stochastic");
    EXPECT_EQ(summary["inputs"]["small_clones"]["seed"], 1);
    EXPECT_EQ(summary["inputs"]["small_clones"]["stream"], 0);
    EXPECT_EQ(summary["inputs"]["small_clones"]["threshold_cells"], 100.0);
    EXPECT_FALSE(summary.contains("stopped_at_d"));
    EXPECT_EQ(summary["model"]["name"], "nkscape-default");
    EXPECT_EQ(summary["immunoediting"]["final_phase"], "escape");
    EXPECT_GT(summary["solver"]["steps"].get<long>(), 0);
    std::filesystem::remove_all(dir);
}

// [overrides] replace model parameters by path, converted to the parameter's internal unit; clone
// traits resolve to ligand, factor or mediator multipliers; populations read their keys.
TEST(SimulateScenario, OverridesTraitsAndPopulations) {
    const auto& m = defaultModel();
    const auto s = parseSimulationScenario(kHeader + R"(
[simulation]
duration = { value = 30, unit = "d" }
mediator_rtol = 1e-4
mediator_atol = 1e-2
fraction_atol = 1e-5
initial_mediators = "basal"

[tumour]
cell_type = "TNBC"
initial_cells = { value = 1e9, unit = "cell" }

[[clone]]
name = "variant"
traits = { "HLA-I methylation" = { value = 8, unit = "1" }, "MICA/B" = { value = 20, unit = "%" }, "TGF-b" = { value = 2, unit = "1" } }
switch_per_division = { value = 1e-4, unit = "1" }

[[population]]
cell_type = "CD8 T"
initial_cells = { value = 2e7, unit = "cell" }
influx_per_tumour_cell = { value = 4e-4, unit = "1/d" }
blood = true

[overrides]
"cell_type/TNBC/doubling_time" = { value = 10, unit = "week" }
"constant/qsp.encounter_rate/value" = { value = 2, unit = "1/h" }
)",
                                           "s.toml", m);
    ASSERT_EQ(s.overrides.size(), 2u);
    const auto dt = m.findParameter("cell_type/TNBC/doubling_time");
    ASSERT_TRUE(dt.has_value());
    bool sawDoubling = false, sawEncounter = false;
    for (const auto& [id, value] : s.overrides) {
        if (id == *dt) {
            EXPECT_DOUBLE_EQ(value, 70.0);  // days
            sawDoubling = true;
        } else {
            EXPECT_EQ(m.parameter(id).path, "constant/qsp.encounter_rate/value");
            EXPECT_DOUBLE_EQ(value, 48.0);  // 1/d
            sawEncounter = true;
        }
    }
    EXPECT_TRUE(sawDoubling && sawEncounter);
    ASSERT_EQ(s.spec.clones.size(), 2u);
    const auto& v = s.spec.clones[1];
    ASSERT_EQ(v.factorMultipliers.size(), 1u);
    EXPECT_EQ(v.factorMultipliers[0].first, m.require(model::Kind::Factor, "HLA-I methylation"));
    EXPECT_DOUBLE_EQ(v.factorMultipliers[0].second, 8.0);
    ASSERT_EQ(v.ligandMultipliers.size(), 1u);
    EXPECT_DOUBLE_EQ(v.ligandMultipliers[0].second, 0.2);
    ASSERT_EQ(v.secretionMultipliers.size(), 1u);
    EXPECT_EQ(v.secretionMultipliers[0].first, m.require(model::Kind::Mediator, "TGF-b"));
    ASSERT_EQ(s.spec.populations.size(), 1u);
    EXPECT_TRUE(s.spec.populations[0].blood);
    EXPECT_DOUBLE_EQ(s.spec.populations[0].influxPerTumourCell, 4e-4);
    EXPECT_DOUBLE_EQ(s.spec.mediatorRtol, 1e-4);
    EXPECT_DOUBLE_EQ(s.spec.mediatorAtol, 1e-2);
    EXPECT_DOUBLE_EQ(s.spec.fractionAtol, 1e-5);
    EXPECT_EQ(s.spec.initialMediators, InitialMediators::Basal);
}

// Loading a scenario applies its overrides to the model it loads (and only to that copy).
TEST(SimulateScenario, LoadingAppliesOverridesToTheLoadedModel) {
    const auto dir = std::filesystem::temp_directory_path() / "nkscape-test-overrides";
    std::filesystem::create_directories(dir);
    const auto file = dir / "s.toml";
    std::ofstream(file) << "[scenario]\nname = \"o\"\nkind = \"simulate\"\nmodel = \"" NKSCAPE_SOURCE_DIR "/models/default.toml\"\n"
                        << R"(
[simulation]
duration = { value = 70, unit = "d" }

[tumour]
cell_type = "TNBC"
initial_cells = { value = 1e9, unit = "cell" }

[overrides]
"cell_type/TNBC/doubling_time" = { value = 10, unit = "week" }
)";
    const auto loaded = loadSimulationScenario(file);
    const auto id = loaded.model.findParameter("cell_type/TNBC/doubling_time");
    ASSERT_TRUE(id.has_value());
    EXPECT_DOUBLE_EQ(loaded.model.value(*id), 70.0);
    EXPECT_NE(defaultModel().value(*id), 70.0);
    // Growth follows the override: 70 days at a 70-day doubling time (logistic, far below capacity).
    const auto r = simulate(loaded.model, loaded.spec);
    EXPECT_NEAR(r.final("tumour.cells") / 1e9, 2.0, 0.01);
    std::filesystem::remove_all(dir);
}

// [overrides] go through the model file's own checks (CompiledModel::valueProblem): the sign or
// fraction rule of the key and the parameter's plausible range, with the loader's words, every
// problem reported at its own file:line:column.
TEST(SimulateScenario, OverridesGetTheModelFilesChecks) {
    const std::string text = std::string("[scenario]\nname = \"o\"\nkind = \"simulate\"\nmodel = \"m.toml\"\n") + R"(
[simulation]
duration = { value = 10, unit = "d" }

[tumour]
cell_type = "TNBC"
initial_cells = { value = 1e9, unit = "cell" }

[overrides]
"cell_type/TNBC/doubling_time" = { value = -5, unit = "d" }
"constant/qsp.encounter_rate/value" = { value = 1000, unit = "1/d" }
"cell_type/Luminal A/doubling_time" = { value = 1e308, unit = "yr" }
)";
    try {
        (void)parseSimulationScenario(text, "o.toml", defaultModel());
        FAIL() << "expected a ModelError";
    } catch (const model::ModelError& e) {
        const std::string what = e.what();
        EXPECT_EQ(e.diagnostics().size(), 3u) << what;
        auto has = [&](const std::string& line, const std::string& message) {
            return what.find("o.toml:" + line + ":") != std::string::npos && what.find(message) != std::string::npos;
        };
        EXPECT_TRUE(has("14", "[overrides]: key 'cell_type/TNBC/doubling_time': value must be > 0 for 'doubling_time' (the model's value: 103 d"))
            << what;
        EXPECT_TRUE(has("15", "key 'constant/qsp.encounter_rate/value': value 1000 1/d is outside its own range [2, 100] 1/d")) << what;
        EXPECT_TRUE(has("16", "key 'cell_type/Luminal A/doubling_time': value 1e+308 yr does not convert to a finite number of 'd'")) << what;
    }
}

// setValue, the programmatic override, applies the same check.
TEST(SimulateScenario, SetValueRefusesWhatTheModelFileWould) {
    auto m = defaultModel();
    const auto id = m.findParameter("cell_type/TNBC/doubling_time");
    ASSERT_TRUE(id.has_value());
    EXPECT_THROW(m.setValue(*id, -1.0), InputError);
    EXPECT_THROW(m.setValue(*id, std::nan("")), InputError);
    EXPECT_NO_THROW(m.setValue(*id, 70.0));
    EXPECT_EQ(m.valueProblem(*id, 70.0), "");
    EXPECT_EQ(m.valueProblem(*id, 0.0), "value must be > 0 for 'doubling_time'");
}

// A therapy the engine cannot dose is reported by the scenario reader at its [[dose]] (file:line),
// with the engine's own reason (qsp::dosingProblem), not later from inside a run.
TEST(SimulateScenario, UndosableTherapyIsReportedAtItsDose) {
    const auto dir = copyOfTheModels("nkscape-test-undosable");
    std::string text = io::readFile(dir / "therapies.toml");
    const auto at = text.find("ic50 = { value = 1, unit = \"nM\", source = \"assumption: Fc-effector depletion");
    ASSERT_NE(at, std::string::npos);
    text.erase(at, text.find('\n', at) - at + 1);  // PM1022's depletion loses its ic50
    std::ofstream(dir / "therapies.toml") << text;
    const auto m = model::loadModel(dir / "default.toml");
    const model::Index pm = m.require(model::Kind::Therapy, "PM1022");
    EXPECT_EQ(dosingProblem(m, pm), "therapy 'PM1022': mechanism deplete of a systemic drug needs ic50 (the concentration of half effect)");
    EXPECT_EQ(dosingProblem(defaultModel(), defaultModel().require(model::Kind::Therapy, "PM1022")), "");
    try {
        (void)parseSimulationScenario(kHeader + R"(
[simulation]
duration = { value = 10, unit = "d" }

[tumour]
cell_type = "TNBC"
initial_cells = { value = 1e9, unit = "cell" }

[patient]
weight = { value = 70, unit = "kg" }

[[dose]]
therapy = "PM1022"
amount = "10 mg/kg"
)",
                                      "s.toml", m);
        ADD_FAILURE() << "the scenario was accepted";
    } catch (const model::ModelError& e) {
        ASSERT_EQ(e.diagnostics().size(), 1u);
        EXPECT_EQ(e.diagnostics()[0].str(),
                  "s.toml:18:11: error: dose #1 (PM1022): key 'therapy': cannot be dosed: therapy 'PM1022': mechanism deplete of a systemic drug "
                  "needs ic50 (the concentration of half effect)");
    }
    std::filesystem::remove_all(dir);
}

// The population problems the engine would meet are reported at the population's cell_type, with
// file:line: a cell type that regulates others by contact (MDSC) in a tumour without a density
// (Luminal A's removed from a copy of the model), and TAM M1 with M2 in a model without the factor
// "M2 polarisation" (renamed in the copy), at the population that completes the pair.
TEST(SimulateScenario, PopulationProblemsAreReportedAtThePopulation) {
    const auto dir = copyOfTheModels("nkscape-test-population-problems");
    std::string cells = io::readFile(dir / "cells.toml");
    const auto lumA = cells.find("name = \"Luminal A\"");
    ASSERT_NE(lumA, std::string::npos);
    const auto density = cells.find("density = ", lumA);
    ASSERT_NE(density, std::string::npos);
    cells.erase(density, cells.find('\n', density) - density + 1);
    std::ofstream(dir / "cells.toml") << cells;
    for (const char* file : {"factors.toml", "regulations.toml"}) {
        std::string text = io::readFile(dir / file);
        for (std::size_t at; (at = text.find("M2 polarisation")) != std::string::npos;) text.replace(at, 15, "M2 bias");
        std::ofstream(dir / file) << text;
    }
    const auto m = model::loadModel(dir / "default.toml");
    const model::Index lum = m.require(model::Kind::CellType, "Luminal A"), mdsc = m.require(model::Kind::CellType, "MDSC");
    EXPECT_EQ(populationProblem(m, mdsc, lum),
              "population 'MDSC' regulates other cells by contact, which needs the tumour cell type 'Luminal A' to give its density (cell/mL)");
    EXPECT_EQ(populationProblem(defaultModel(), mdsc, defaultModel().require(model::Kind::CellType, "Luminal A")), "");
    const auto errors = errorsOf(kHeader + R"(
[simulation]
duration = { value = 10, unit = "d" }

[tumour]
cell_type = "Luminal A"
initial_cells = { value = 1e9, unit = "cell" }

[[population]]
cell_type = "MDSC"

[[population]]
cell_type = "TAM M1"

[[population]]
cell_type = "TAM M2"
)",
                                 m);
    const std::vector<std::string> expected{
        "s.toml:15:13: error: population #1: key 'cell_type': population 'MDSC' regulates other cells by contact, which needs the "
        "tumour cell type 'Luminal A' to give its density (cell/mL)",
        "s.toml:21:13: error: population #3: key 'cell_type': TAM M1 and M2 populations switch by the factor 'M2 polarisation', which "
        "model 'nkscape-default' does not declare",
    };
    EXPECT_EQ(errors, expected);
    std::filesystem::remove_all(dir);
}
