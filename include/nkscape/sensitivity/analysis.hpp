#pragma once
/// \file
/// Sensitivity analysis files (docs/sensitivity.md, "The analysis file"): which method, which
/// model parameters over which ranges, which outputs — and the glue between the numerics of
/// sensitivity.hpp and the model (calibration::Evaluator).
///
///   [analysis]       name, method (morris | sobol | prcc), samples, seed, bootstrap, levels,
///                    candidates, parameters ("all-with-range" | "listed"), exclude, log_outputs
///   [screening]      optional, Sobol only: Morris first over every parameter, then Sobol over the
///                    `keep` parameters of largest normalised mu*
///   [[parameter]]    path, optional range = [low, high] with unit, optional log = true | false
///   [[output]]       calibration::loadOutputs (value_at, fold_at, objective_response, median_pfs, ...)

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nkscape/calibration/evaluate.hpp"
#include "nkscape/calibration/targets.hpp"
#include "nkscape/io/budget.hpp"
#include "nkscape/model/diagnostics.hpp"
#include "nkscape/sensitivity/sensitivity.hpp"

namespace nkscape::sensitivity {

/// Limits of an analysis file (docs/limits.md); beyond them it is refused as bad input.
inline constexpr std::int64_t kMaxSamples = 10'000'000;     ///< samples, trajectories
inline constexpr std::int64_t kMaxBootstrap = 100'000;      ///< bootstrap resamples
inline constexpr std::int64_t kMaxLevels = 100;             ///< Morris grid levels
inline constexpr std::int64_t kMaxCandidates = 10'000;      ///< Campolongo candidate trajectories
/// Work limit of a whole analysis: evaluations × simulated (patient) days per evaluation, lifted by
/// --allow-large. Measured: the untreated TNBC year costs ~1.5 ms, so 1e8 d is ~10 minutes of one
/// core for simulate outputs (docs/sensitivity.md, "Cost").
inline constexpr double kMaxSimulatedDays = 1e8;
/// Work limit of the Campolongo selection: candidates² × (k + 1)² × k / 2 distance terms.
inline constexpr double kMaxSelectionTerms = 1e10;

/// The method of an analysis.
enum class Method { Morris, Sobol, Prcc };

/// "morris", "sobol", "prcc".
[[nodiscard]] std::string methodName(Method m);
/// The method named `name`, if any.
[[nodiscard]] std::optional<Method> parseMethod(std::string_view name);

/// One [[parameter]] table.
struct ParameterSetting {
    std::string path;
    std::optional<std::pair<double, double>> range;  ///< as written, in `unit`
    std::string unit;                                ///< of `range`; "" = the parameter's internal unit
    std::optional<bool> log;                         ///< log-uniform; nullopt = sensitivity::defaultScale
    model::SourceLocation where, rangeWhere;
};

/// The optional [screening] table.
struct Screening {
    std::size_t trajectories = 0;
    int levels = 4;
    std::size_t candidates = 0;
    std::size_t keep = 0;  ///< parameters kept for the Sobol stage
    bool touch = true;     ///< first drop the parameters no output sees (touchDesign), k + 1 evaluations
};

/// An analysis file as read.
struct Analysis {
    std::string path;  ///< the file, normalised
    std::string name, description;
    Method method = Method::Sobol;
    std::size_t samples = 0;     ///< Morris trajectories, Sobol base samples N, PRCC points
    std::uint64_t seed = 0;
    std::size_t bootstrap = 1000;
    int levels = 4;              ///< Morris
    std::size_t candidates = 0;  ///< Morris: Campolongo candidates (0 = none)
    bool allWithRange = true;    ///< parameters = "all-with-range" (default) or "listed"
    /// Sobol: the share of base rows (0 to 0.5) that may be dropped because an output failed at one
    /// of their points (sobolIndicesOfFiniteRows); past it, or with the default 0, no indices.
    double maxFailedShare = 0;
    /// Most solver steps of one simulated run (`max_steps_per_run`; 0 = no limit): a run past it
    /// is a failed point (qsp::StepBudgetError), counted against max_failed.
    long maxStepsPerRun = 0;
    std::vector<std::string> exclude;     ///< path prefixes left out of "all-with-range"
    std::vector<std::string> logOutputs;  ///< output ids analysed as log10(1 + x) (a value < 0 is a failed point)
    std::optional<Screening> screening;
    std::vector<ParameterSetting> parameters;
    std::vector<calibration::Target> outputs;
    model::SourceLocation where;  ///< of [analysis]
};

/// Reads and checks an analysis file; every problem (of the analysis tables and of the [[output]]
/// tables) is reported together, each with file:line:column. \throws model::ModelError.
[[nodiscard]] Analysis loadAnalysis(const std::filesystem::path& file);

/// A varied parameter, resolved against the model.
struct ResolvedParameter {
    std::string path;
    Dimension dimension;     ///< range in the internal unit, and the scale
    std::string unit;        ///< the internal unit
    double baseline = 0;     ///< the model's value (internal unit)
    bool rangeFromModel = true;
};

/// What an analysis will do.
struct Plan {
    std::vector<ResolvedParameter> parameters;
    /// "all-with-range" parameters left out, with why (set by a scenario's [overrides], drawn per
    /// patient by a trial prior, an empty range, or an `exclude` prefix).
    std::vector<std::pair<std::string, std::string>> skipped;
    double daysPerEvaluation = 0;  ///< simulated (patient) days of one evaluation of every output
    /// Morris stage with [screening] (its touch pass included; the Morris part is an upper bound,
    /// since it covers only the touched parameters), main stage.
    std::size_t screeningEvaluations = 0, evaluations = 0;
};

/// Options that change what an evaluation runs.
struct PlanOptions {
    std::optional<std::int64_t> trialPatients;  ///< replaces every trial file's patient count
};

/// Resolves the parameters of `analysis` against the model of its first output (all-with-range:
/// every parameter of that model with a non-empty range, less the skipped ones; then the
/// [[parameter]] tables) and counts the work.
/// \throws model::ModelError listing every problem (unknown path, a parameter without a range and
/// none given, a range outside the model's plausible range, a unit that does not convert, a log
/// scale on a range through 0, too few or too many parameters for the method).
[[nodiscard]] Plan planAnalysis(const Analysis& analysis, const PlanOptions& options = {});

/// The work (simulated days) and memory (design, outputs, samples.csv) of running `plan`.
[[nodiscard]] io::ResourceEstimate estimateResources(const Analysis& analysis, const Plan& plan);

/// Per design row and output, why the output failed there ("" where it did not). Rows are written
/// by one thread each, so no lock is needed.
struct FailureLog {
    std::size_t outputs = 0;
    std::vector<std::string> messages;  ///< rows × outputs
    FailureLog(std::size_t rows, std::size_t outs) : outputs(outs), messages(rows * outs) {}
    [[nodiscard]] std::string& at(std::size_t row, std::size_t output) { return messages[row * outputs + output]; }
};

/// The point function of `evaluator` over `dims` (one per evaluator parameter, same order): a unit
/// point mapped by fromUnit, every output evaluated; outputs listed in `log10` (by index) are
/// returned as log10(1 + x) (so that 0, a tumour that is gone, is a value; x < 0 fails). A failed output is NaN, with its reason in `failures`
/// (if given). `evaluator` and `failures` must outlive the function.
[[nodiscard]] PointFunction evaluatorFunction(const calibration::Evaluator& evaluator, std::vector<Dimension> dims, std::vector<bool> log10,
                                              FailureLog* failures);

}  // namespace nkscape::sensitivity
