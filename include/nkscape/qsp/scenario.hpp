#pragma once
/// \file
/// Simulation scenario files (TOML, kind "simulate") for the well-mixed engine: the tumour, its
/// clones, the NK populations, the patient and the doses, how long and how finely to simulate.
/// docs/qsp.md, "Running a simulation", is the format. Loading checks everything and reports every
/// problem together, each with file:line:column, in one model::ModelError — like the assay reader.
/// writeSimulationOutputs() writes timeseries.csv, events.csv and summary.json.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "nkscape/io/budget.hpp"
#include "nkscape/io/run.hpp"
#include "nkscape/model/model.hpp"
#include "nkscape/model/units.hpp"
#include "nkscape/qsp/engine.hpp"
#include "nkscape/qsp/pk.hpp"

namespace nkscape::qsp {

/// One [[dose]] as written (resolved therapy name; start in days).
struct ScenarioDose {
    std::string therapy;   ///< the therapy's canonical name
    std::string amount;    ///< "6 mg/kg"
    std::string loading;   ///< "" = no loading dose
    std::string schedule;  ///< "q3w x 6"
    std::string infusion;  ///< "" = bolus
    double startDay = 0;   ///< d
};

/// Where the keys that set a run's size were written (for resource-budget messages).
struct ScenarioKeyLocations {
    model::SourceLocation duration;        ///< [simulation] duration
    model::SourceLocation outputInterval;  ///< [simulation] output_interval (the table when defaulted)
};

/// A validated simulation scenario (without its model).
struct SimulationScenario {
    std::string path;         ///< the scenario file as given
    std::string name;
    std::string description;
    std::string modelPath;    ///< `model` as written (relative to the scenario file)
    std::string modelFile;    ///< `model` resolved against the scenario's folder
    std::uint64_t seed = 0;
    SimulationSpec spec;      ///< clone 0 is the founding clone "founding"
    BodySize body;            ///< from [patient]
    std::vector<ScenarioDose> doses;
    /// [overrides]: model parameters replaced for this scenario (value in the parameter's internal unit).
    std::vector<std::pair<model::ParamId, double>> overrides;
    ScenarioKeyLocations where;
};

/// A scenario with the model it names, loaded.
struct LoadedSimulationScenario {
    model::CompiledModel model;
    SimulationSpec spec;
    std::string name, description, path, modelFile;
    std::uint64_t seed = 0;
    BodySize body;
    std::vector<ScenarioDose> doses;
    std::vector<std::pair<model::ParamId, double>> overrides;  ///< already applied to `model`
    ScenarioKeyLocations where;
};

/// Reads the scenario file `file`, loads the model its [scenario] `model` key names (relative to
/// the scenario's folder) and checks the scenario against it.
/// \throws model::ModelError listing every problem of the scenario (and of the model, if that
///         fails to load), each with file:line:column.
[[nodiscard]] LoadedSimulationScenario loadSimulationScenario(const std::filesystem::path& file);

/// Checks the scenario text `toml` (named `path` in messages) against the already loaded model
/// `m`; the `model` key is still required but not loaded. For tests and for callers that share
/// one model between scenarios. \throws model::ModelError listing every problem.
[[nodiscard]] SimulationScenario parseSimulationScenario(const std::string& toml, const std::string& path,
                                                         const model::CompiledModel& m);
/// Same, with a unit system the caller keeps: reading udunits2's database (~20 ms) once instead of
/// once per scenario, for callers that read many (fuzzing, sweeps).
[[nodiscard]] SimulationScenario parseSimulationScenario(const std::string& toml, const std::string& path, const model::CompiledModel& m,
                                                         const model::UnitSystem& units);

/// The work (simulated time, output rows) and the peak memory (bytes) of simulating `loaded`,
/// for io::checkBudget before the run (docs/limits.md).
[[nodiscard]] io::ResourceEstimate estimateResources(const LoadedSimulationScenario& loaded);

/// Adds to `run`, then commits it (the output folder then holds this whole run, io/run.hpp):
///   timeseries.csv  time_d, then one column per result column, header "name [unit]";
///   events.csv      time_d,kind,detail: the engine's events and the immunoediting phase changes
///                   (kind "phase");
///   summary.json    scenario, model, nkscape version, resolved inputs, solver statistics, final
///                   state, immunoediting phases, wall time.
/// Create `run` before simulate(), so that an unusable output folder is refused before the
/// computation. `wallSeconds` is the simulation's wall time. Returns the paths written, under the
/// run's target.
/// \throws IoError naming the file or folder that could not be written; InternalError if a result
///         holds NaN or infinity (nothing is written then).
std::vector<std::filesystem::path> writeSimulationOutputs(io::RunFolder& run, const LoadedSimulationScenario& loaded,
                                                          const SimulationResult& result, double wallSeconds = 0);

}  // namespace nkscape::qsp
