#pragma once
/// \file
/// Killing-assay scenario files (TOML): which NK cells against which targets, in which milieu, at
/// which effector:target ratios, for how long, how many replicates. docs/assay.md is the format.
/// Loading checks everything and reports every problem together, each with file:line:column, in
/// one model::ModelError — like the model loader.

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "nkscape/model/diagnostics.hpp"
#include "nkscape/model/model.hpp"
#include "nkscape/model/units.hpp"

namespace nkscape::assay {

/// What the assay measures as "dead".
enum class Readout : std::uint8_t {
    ChromiumRelease,  ///< a target counts once it has lysed: at the end of the killing contact
    Flow,             ///< a target counts once it has received the lethal hit: at the start of the killing contact
};
/// "chromium_release" or "flow".
[[nodiscard]] std::string_view readoutKey(Readout r) noexcept;

/// FcγRIIIa (CD16a) allotype of the effector donor.
enum class Fcgr3a : std::uint8_t { V158, F158 };
/// "V158" or "F158".
[[nodiscard]] std::string_view fcgr3aKey(Fcgr3a a) noexcept;

/// A model entity with a value, in the unit stated where it is used.
struct IndexedValue {
    model::Index index = model::kNoIndex;
    double value = 0;
};

/// One [[condition]]: an effector cell type against a target cell type in a milieu.
struct AssayCondition {
    std::string name;
    model::Index effector = model::kNoIndex;        ///< cell type, category nk
    model::Index target = model::kNoIndex;          ///< cell type, category tumour
    std::vector<IndexedValue> therapies;            ///< therapy index → free concentration, nM
    std::vector<IndexedValue> mediators;            ///< mediator index → concentration in the mediator's unit
    std::vector<IndexedValue> targetExpression;     ///< ligand index → molecule/cell (replaces the set-point)
    std::vector<IndexedValue> effectorExpression;   ///< receptor index → molecule/cell (replaces the set-point)
    std::vector<IndexedValue> effectorFactors;      ///< factor index → relative level, 1 (replaces the set-point)
    /// factor index → relative level, 1: replaces the target cell type's *baseline* before
    /// regulation and therapies act (Regulator::setPoint with factor baselines), e.g. ADAM10 = 4 for
    /// a shedding line that an ADAM10/17 inhibitor then lowers
    std::vector<IndexedValue> targetFactors;
    Fcgr3a fcgr3a = Fcgr3a::V158;
    model::SourceLocation where;                    ///< the [[condition]] table
};

/// A validated assay scenario, every quantity in the units stated.
struct AssayScenario {
    std::string path;          ///< the scenario file as given
    std::string name;
    std::string description;
    std::string modelPath;     ///< `model` as written (relative to the scenario file)
    std::string modelFile;     ///< `model` resolved against the scenario's folder
    std::uint64_t seed = 0;
    Readout readout = Readout::ChromiumRelease;
    double durationHours = 0;            ///< > 0
    std::vector<double> etRatios;        ///< effector:target ratios, each > 0 in files (>= 0 allowed in code)
    std::uint32_t targets = 0;           ///< target cells simulated per well, >= 1
    std::uint32_t replicates = 0;        ///< wells per condition and ratio, >= 1
    double wellVolumeMl = 0;             ///< > 0, mL
    /// >= 0, h: the targets alone condition the medium this long before the NK cells are added
    /// (docs/assay.md, "Conditioning"); 0 = no conditioning
    double conditioningHours = 0;
    std::vector<AssayCondition> conditions;
    model::SourceLocation where;         ///< of the [assay] table (for resource-budget messages)
};

/// A scenario with the model it names, loaded.
struct LoadedAssayScenario {
    model::CompiledModel model;
    AssayScenario scenario;
};

/// Reads the scenario file `file`, loads the model its [scenario] `model` key names (relative to
/// the scenario's folder) and checks the scenario against it.
/// \throws model::ModelError listing every problem of the scenario (and of the model, if that
///         fails to load), each with file:line:column.
[[nodiscard]] LoadedAssayScenario loadAssayScenario(const std::filesystem::path& file);

/// Checks the scenario text `toml` (named `path` in messages and resolving `model`) against the
/// already loaded model `m`; the `model` key is still required but not loaded. For tests and for
/// callers that share one model between scenarios.
/// \throws model::ModelError listing every problem.
[[nodiscard]] AssayScenario parseAssayScenario(const std::string& toml, const std::string& path, const model::CompiledModel& m);
/// Same, with a unit system the caller keeps: reading udunits2's database (~20 ms) once instead of
/// once per scenario, for callers that read many (fuzzing, sweeps).
[[nodiscard]] AssayScenario parseAssayScenario(const std::string& toml, const std::string& path, const model::CompiledModel& m,
                                               const model::UnitSystem& units);

}  // namespace nkscape::assay
