#pragma once
/// \file
/// Fitting model parameters to calibration targets (issue 12, item 2; docs/calibration.md,
/// "Fitting: nkscape calibrate").
///
/// The objective is a sum of squared residuals, one per target, each the distance of the simulated
/// value from the observed one in units of the band's half-width on that side (on a log scale when
/// the band spans more than 3-fold), so |r| <= 1 is inside the band. Every free parameter is mapped
/// to [0, 1] across its model `range` (logarithmically when the range spans 10-fold or more). A
/// deterministic global stage (NLopt GN_CRS2_LM seeded with `seed`) is followed by a local polish
/// (LN_BOBYQA; LN_SBPLX for one parameter). A profile likelihood of each free parameter then says
/// whether the targets pin it down.
///
/// Deterministic: the objective sums the targets in their order whatever computed them, and the
/// optimiser runs in one thread, so the same inputs and seed give the same numbers for any thread
/// or rank count.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "nkscape/calibration/evaluate.hpp"

namespace nkscape::calibration {

/// A failed evaluation of a target (e.g. a tumour that never doubles) adds this to the objective,
/// and no successful one adds more: large against in-band residuals (<= 1) and still finite so the
/// optimiser can move away from it.
inline constexpr double kFailurePenalty = 1e3;

/// The residual of `simulated` against target `t` (observed, band low/high; see the file comment):
/// (sim − obs)/(high − obs) above the observed value, (sim − obs)/(obs − low) below it; with
/// logarithms of all four when logScale(t). nullopt when it cannot be computed (a non-positive
/// simulated value on a log scale, a non-finite value).
[[nodiscard]] std::optional<double> residual(const Target& t, double simulated);

/// True when the residual of `t` is taken on a log scale: observed and band positive and
/// high/low > 3.
[[nodiscard]] bool logScale(const Target& t);

/// Why target `t` cannot be fitted (NotImplemented, a band of zero width on both sides, a
/// log-scale band with a bound <= 0), or "".
[[nodiscard]] std::string fitProblem(const Target& t);

/// A free parameter: its path, its range (internal unit) and how it maps to [0, 1].
struct FreeParameter {
    std::string path;
    std::string unit;       ///< internal unit
    double low = 0, high = 0;
    bool log = false;       ///< mapped logarithmically (high/low >= 10 and low > 0)
    double start = 0;       ///< the model's value
    [[nodiscard]] double toValue(double u) const;   ///< [0, 1] → internal unit (clamped into the range)
    [[nodiscard]] double toUnit(double value) const;  ///< internal unit → [0, 1]
};

/// Computes every target of the evaluator at `values` (internal units, one per free parameter).
/// The default splits the targets by file and runs the files in parallel threads; the command
/// line replaces it under mpirun (ranks share the files).
using EvaluateFn = std::function<std::vector<Evaluation>(std::span<const double> values)>;

/// Settings of a fit.
struct FitOptions {
    int threads = 1;                  ///< threads for the default EvaluateFn
    std::int64_t maxEvaluations = 200;  ///< objective evaluations of the global + local stages
    std::uint64_t seed = 1;           ///< NLopt's random seed (the global stage)
    int profilePoints = 0;            ///< points of each profile (0: no profiles; else >= 3)
    /// Profile: local evaluations per point (re-optimising the other free parameters).
    std::int64_t profileEvaluationsPerPoint = 40;
    EvaluateFn evaluate;              ///< empty: the default (threads over files)
    /// Called after every objective evaluation with (done, planned).
    std::function<void(std::size_t done, std::size_t total)> progress;
};

/// One target before and after the fit.
struct TargetFit {
    std::size_t target = 0;           ///< index into the evaluator's targets
    Evaluation before, after;
    std::optional<double> residualBefore, residualAfter;  ///< nullopt: failed
    [[nodiscard]] bool inBandAfter() const { return residualAfter && std::abs(*residualAfter) <= 1.0; }
};

/// One point of a profile.
struct ProfilePoint {
    double value = 0;                 ///< the profiled parameter (internal unit)
    double objective = 0;
    std::vector<double> others;       ///< the re-optimised free parameters (all, internal units)
};

/// The profile likelihood of one free parameter.
struct Profile {
    std::size_t parameter = 0;        ///< index into FitResult::parameters
    std::vector<ProfilePoint> points; ///< ascending values across the range
    double threshold = 3.84;          ///< Δ objective of the 95 % limit (χ², 1 degree of freedom)
    bool crossedLow = false, crossedHigh = false;  ///< Δ >= threshold somewhere below / above the fit
    std::optional<double> limitLow, limitHigh;     ///< interpolated crossings (internal unit)
    double maxDelta = 0;              ///< largest Δ objective along the profile
    /// "identifiable" (crossed on both sides), "practically non-identifiable" (not crossed on at
    /// least one side, but the objective changes), "structurally flat" (the objective does not
    /// change: no target depends on the parameter).
    std::string verdict;
};

/// What a fit found.
struct FitResult {
    std::vector<FreeParameter> parameters;
    std::vector<double> fitted;       ///< internal units
    std::vector<std::size_t> targets; ///< the targets fitted (indices into the evaluator's)
    std::vector<TargetFit> table;     ///< per target, in `targets` order
    double objectiveBefore = 0, objectiveAfter = 0;
    std::int64_t evaluationsGlobal = 0, evaluationsLocal = 0, evaluationsProfile = 0;
    std::string globalAlgorithm, localAlgorithm, globalStop, localStop;
    std::uint64_t seed = 0;
    std::vector<Profile> profiles;
};

/// The free parameters of `evaluator` (its parameters(), each with its model `range`).
/// \throws InputError naming the path if a parameter has no range or a degenerate one.
[[nodiscard]] std::vector<FreeParameter> freeParameters(const Evaluator& evaluator);

/// The objective at `values` over `targets` (indices into the evaluator's targets), from their
/// evaluations: Σ min(r², kFailurePenalty), kFailurePenalty for a failed target.
[[nodiscard]] double objective(const Evaluator& evaluator, std::span<const std::size_t> targets, const std::vector<Evaluation>& evaluations);

/// Evaluates `values` with the targets grouped by file and the groups spread over `threads`
/// threads (the default EvaluateFn). Only `targets` are computed.
[[nodiscard]] std::vector<Evaluation> evaluateParallel(const Evaluator& evaluator, std::span<const double> values,
                                                       std::span<const std::size_t> targets, int threads);

/// Worker threads kept for many evaluations (a fit): evaluate() does what evaluateParallel() does,
/// without starting threads each time — a thread started per evaluation costs more than a short
/// simulation (its malloc arena is trimmed at exit and faulted in again: 7x the page faults).
class EvaluationPool {
public:
    /// `threads` >= 1 (1: everything on the calling thread).
    EvaluationPool(const Evaluator& evaluator, int threads);
    ~EvaluationPool();
    EvaluationPool(const EvaluationPool&) = delete;
    EvaluationPool& operator=(const EvaluationPool&) = delete;
    /// As evaluateParallel(evaluator, values, targets, threads); not reentrant.
    [[nodiscard]] std::vector<Evaluation> evaluate(std::span<const double> values, std::span<const std::size_t> targets);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// Fits the evaluator's parameters to `targets` (indices; each must pass fitProblem()).
/// \throws InputError for a target that cannot be fitted, a parameter without a range, or bad
///         options (maxEvaluations < 2, profilePoints 1 or 2, threads < 1).
[[nodiscard]] FitResult fit(const Evaluator& evaluator, std::vector<std::size_t> targets, const FitOptions& options);

/// The model overlay (docs/model-format.md, "Model overlays") that sets the fitted values on
/// `basePath` (as the overlay's `base`, relative to the overlay's folder), each with source
/// "fit: <ids> (nkscape calibrate, seed S)" naming the targets fitted. Values are written in the
/// internal unit with 17 significant digits, so the overlay reproduces them exactly.
[[nodiscard]] std::string overlayToml(const FitResult& result, const Evaluator& evaluator, const std::string& basePath);

}  // namespace nkscape::calibration
