#pragma once
/// \file
/// Evaluating calibration targets and analysis outputs with some model parameters replaced — the
/// one function behind `nkscape calibrate`, `sensitivity`, `attribute` and `twin`.
///
/// An Evaluator loads every scenario and trial its targets name once; each evaluation copies the
/// loaded model, replaces the named parameters and computes the statistics. It is thread-safe
/// (const) and deterministic: the same values give the same numbers whatever thread calls it.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "nkscape/calibration/targets.hpp"
#include "nkscape/model/model.hpp"

namespace nkscape::calibration {

/// How an Evaluator runs its scenarios and trials.
struct EvaluatorOptions {
    /// Replaces every trial file's patient count (e.g. a short form for CI); nullopt keeps the files'.
    std::optional<std::int64_t> trialPatients;
    /// Replaces every trial file's seed; nullopt keeps the files'.
    std::optional<std::uint64_t> trialSeed;
    /// Most solver steps per simulated run (qsp::SimulationSpec::maxRunSteps; 0 = no limit): a
    /// scenario past it is a failed evaluation, a trial patient past it a failed patient.
    long maxStepsPerRun = 0;
};

/// The outcome of one target in one evaluation.
struct Evaluation {
    double value = 0;   ///< the simulated value (target's unit × scale); NaN when `error` is set
    std::string error;  ///< why the statistic could not be computed (e.g. a tumour that never doubles)
    [[nodiscard]] bool ok() const noexcept { return error.empty(); }
};

/// Computes targets (or outputs) with parameters replaced.
class Evaluator {
public:
    /// Loads every scenario/trial of `targets` (NotImplemented targets are kept but never run) and
    /// resolves `parameterPaths` in each of their models.
    /// \throws InputError if a path is not a parameter of a model, or if a trial's population
    ///         replaces that parameter per patient (fit the prior instead); model::ModelError if a
    ///         file does not load.
    Evaluator(std::vector<Target> targets, std::vector<std::string> parameterPaths, EvaluatorOptions options = {});
    ~Evaluator();
    Evaluator(Evaluator&&) noexcept;
    Evaluator& operator=(Evaluator&&) noexcept;
    Evaluator(const Evaluator&) = delete;
    Evaluator& operator=(const Evaluator&) = delete;

    [[nodiscard]] const std::vector<Target>& targets() const noexcept;
    [[nodiscard]] const std::vector<std::string>& parameters() const noexcept;

    /// Every parameter's value (internal unit) in the model of the first target that has one —
    /// the point an evaluation with no change reproduces.
    [[nodiscard]] std::vector<double> baseline() const;
    /// The model of the first target that has one (what baseline() and range() read).
    /// \throws InputError if no target has a model (all NotImplemented).
    [[nodiscard]] const model::CompiledModel& model() const;
    /// Every distinct model (by hash) the targets' files use, in target order.
    [[nodiscard]] std::vector<const model::CompiledModel*> models() const;
    /// The simulated time one evaluation of every target runs (d): each simulation's duration plus,
    /// for each trial that is simulated, its patient runs × follow-up — the work estimate of the
    /// commands that evaluate many points (docs/limits.md).
    [[nodiscard]] double simulatedDaysPerEvaluation() const;
    /// Parameter `i`'s plausible range from the model (internal unit), if it has one.
    [[nodiscard]] std::optional<std::pair<double, double>> range(std::size_t i) const;

    /// Every target with parameters[i] = values[i] (internal units). A trial that several targets
    /// read is run once. `threads` (≥ 1) are used inside trials; callers that evaluate many
    /// points in parallel pass 1. NotImplemented targets give an Evaluation with `error` set.
    /// \throws InputError if `values` has the wrong size or a value fails the parameter's checks
    ///         (model::CompiledModel::valueProblem).
    [[nodiscard]] std::vector<Evaluation> evaluate(std::span<const double> values, int threads = 1) const;

    /// Only the targets in `which` (indices into targets()), same rules.
    [[nodiscard]] std::vector<Evaluation> evaluate(std::span<const double> values, std::span<const std::size_t> which, int threads) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace nkscape::calibration
