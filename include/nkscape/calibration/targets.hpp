#pragma once
/// \file
/// Calibration targets as data (issue 12, item 1): every row of ../shared/CALIBRATION.md as a
/// machine-readable target (calibration/targets.toml, docs/calibration.md) — its source, the
/// scenario or trial that produces the simulated value, the statistic, the observed value and the
/// band — and the function that computes the simulated value with the shipped default model.
/// A target the model cannot meet yet is an expected failure with its reason; a row whose
/// statistic nkscape cannot compute yet is "not implemented" with its reason, listed, never dropped.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "nkscape/model/diagnostics.hpp"

namespace nkscape::calibration {

/// What a target measures.
enum class Statistic {
    DoublingTime,    ///< simulate: days until tumour.cells first reaches twice its t = 0 value (d)
    PeakFold,        ///< simulate: max of `column` over the run / its value at t = 0 (1)
    FoldAt,          ///< simulate: `column` at `time_d` / its value at t = 0 (1)
    BloodPerMicrolitre,  ///< simulate: `column` (cells in the blood pool) at t = 0 / blood volume (cell/µL)
    Parameter,       ///< a model parameter's value (its internal unit, times `scale`)
    ObjectiveResponse,   ///< trial: an arm's ORR (1)
    ClinicalBenefit,     ///< trial: an arm's CBR (1)
    DiseaseControl,      ///< trial: an arm's CR + PR + SD rate (1)
    ValueAt,         ///< simulate: `column` at `time_d` (the column's unit)
    PeakTime,        ///< simulate: the output time at which `column` is largest (d)
    RatioToPeakAt,   ///< simulate: `column` at `time_d` / its largest value over the run (1)
    LesionCellDensity,   ///< trial: the tumour cells per cm³ its RECIST geometry converts with (cell/cm³)
    MedianPfs,       ///< trial: an arm's Kaplan–Meier median PFS (d); an error if not reached
    MedianOs,        ///< trial: an arm's Kaplan–Meier median OS (d); an error if not reached
    BiomarkerShare,  ///< trial: share of enrolled patients whose biomarker `level` holds (1)
    AttributeShare,  ///< trial: share of enrolled patients with attribute `level` (1)
    NotImplemented,  ///< nkscape cannot compute this row yet (the reason says why)
};

/// One target.
struct Target {
    std::string id;             ///< the CALIBRATION.md row, e.g. "TA1-TNBC"
    std::string description;
    std::string source;         ///< the paper of the observation
    Statistic statistic = Statistic::NotImplemented;
    std::string file;           ///< scenario or trial, resolved against the targets file
    std::string column;         ///< result column (simulate statistics)
    std::string parameter;      ///< parameter path (Parameter)
    std::string arm, name, level;  ///< trial statistics: arm; biomarker or attribute name and level
    double time_d = 0;          ///< FoldAt
    double scale = 1;           ///< multiplies the simulated value (e.g. 100 for per cent)
    double observed = 0;        ///< the published value, in the statistic's unit × scale
    double low = 0, high = 0;   ///< the band
    std::string unit;           ///< of observed, low, high
    std::optional<std::string> expectedFailure;  ///< why the model cannot meet it yet
    std::string notImplemented; ///< why the statistic cannot be computed yet
    model::SourceLocation where;
};

/// Reads and checks a targets file ([[target]] tables); every problem is reported together with
/// file:line:column. \throws model::ModelError.
[[nodiscard]] std::vector<Target> loadTargets(const std::filesystem::path& file);

/// Reads [[output]] tables of `file` (a sensitivity or attribution file may hold other tables,
/// named in `otherTables`, which are left to its own reader): the same keys as a target, without
/// observed/band/expected_failure. \throws model::ModelError.
[[nodiscard]] std::vector<Target> loadOutputs(const std::filesystem::path& file, const std::vector<std::string>& otherTables = {});

/// The simulated value of `target` with the model its scenario or trial names (× target.scale).
/// \throws InputError if the file cannot be run or the statistic cannot be read from it
///         (e.g. a tumour that never doubles); NotImplementedError for NotImplemented.
[[nodiscard]] double simulateTarget(const Target& target);

/// What produces a statistic's value: a model file, a simulate scenario or a trial.
enum class SourceKind { Model, Simulation, Trial };
/// The kind of file statistic `s` is read from (one table for the evaluator and sensitivity's planner).
[[nodiscard]] SourceKind sourceKind(Statistic s) noexcept;

/// "doubling_time", "peak_fold", ... as in the targets file.
[[nodiscard]] std::string statisticName(Statistic s);

}  // namespace nkscape::calibration
