#pragma once
/// \file
/// Survival statistics for trial data: the Kaplan–Meier estimator with Greenwood standard errors,
/// pointwise confidence intervals and the median; the k-group log-rank test; the Cox proportional
/// hazards model with one covariate (Efron or Breslow ties). The conventions are those of R's
/// `survival` package (survfit, survdiff, coxph, quantile.survfit), so that a result can be checked
/// against R; docs/stats.md gives every formula and the reference values reproduced by the tests.
///
/// Times are in whatever unit the data use (days, months): every time in a result is in that unit.
/// An undefined value (the median of a curve that never reaches 0.5, a confidence limit on a
/// curve at 0) is std::nullopt, never NaN.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nkscape/error.hpp"

namespace nkscape::stats {

/// A fit that has no finite answer for these data (monotone likelihood: the coefficient runs off to
/// infinity; Newton–Raphson that does not converge). An input error: the data cannot support the
/// model, and no number is reported. The message names the data.
class NonConvergenceError : public InputError {
public:
    using InputError::InputError;
};

/// One subject: the time of the event or of censoring (≥ 0, the data's time unit), and whether the
/// event was observed (false: censored at `time`, still event-free then).
struct Observation {
    double time = 0.0;
    bool event = false;
};

/// The subjects of one group (an arm of a trial). `name` is the group's label in the data.
struct SurvivalGroup {
    std::string name;
    std::vector<Observation> observations;
};

/// Survival data in groups. `source` names the data in messages (a file name, "aml").
struct SurvivalData {
    std::string source;
    std::vector<SurvivalGroup> groups;
};

/// The transform on which a pointwise confidence interval of S(t) is symmetric (R's conf.type).
enum class ConfType {
    Log,     ///< log S ± z·SE(log S), R's default: [S·exp(−z·σ), S·exp(z·σ)] clipped to [0, 1]
    LogLog,  ///< log(−log S) ± z·σ/|log S|, mapped back with exp(−exp(·)); undefined at S = 0 and 1
    Plain,   ///< S ± z·SE(S), clipped to [0, 1]
};

/// "log", "log-log" or "plain" as a ConfType. \throws InputError naming `text` and the choices.
[[nodiscard]] ConfType parseConfType(std::string_view text);
/// The name of `type` as parseConfType() reads it.
[[nodiscard]] std::string_view confTypeName(ConfType type) noexcept;

/// One row of a Kaplan–Meier table: a distinct time at which at least one subject had the event or
/// was censored.
struct KmRow {
    double time = 0.0;          ///< the time (data unit)
    std::size_t nRisk = 0;      ///< subjects still under observation just before `time`
    std::size_t nEvent = 0;     ///< events at `time`
    std::size_t nCensor = 0;    ///< censorings at `time` (counted after the events, as in R)
    double survival = 1.0;      ///< S(time), the product-limit estimate just after `time`
    /// Greenwood standard error of S on the survival scale, S·sqrt(Σ d/(n(n−d))); nullopt once S
    /// is 0 (the sum is infinite there; R prints NaN).
    std::optional<double> stdErr;
    std::optional<double> ciLow;   ///< lower pointwise confidence limit; nullopt where undefined
    std::optional<double> ciHigh;  ///< upper pointwise confidence limit; nullopt where undefined
};

/// The median survival time and its confidence interval. Each is nullopt when "not reached": the
/// curve (or the band) does not fall to 0.5 within the follow-up, so the data give no value.
struct MedianEstimate {
    std::optional<double> time;
    std::optional<double> ciLow;   ///< where the lower band first reaches 0.5
    std::optional<double> ciHigh;  ///< where the upper band first reaches 0.5
};

/// The Kaplan–Meier estimate of one group.
struct KmCurve {
    std::string group;
    std::size_t subjects = 0;
    std::size_t events = 0;
    std::vector<KmRow> rows;  ///< in increasing time
    MedianEstimate median;
};

/// Options of kaplanMeier().
struct KmOptions {
    ConfType confType = ConfType::Log;
    double confLevel = 0.95;  ///< two-sided level of the pointwise intervals, in (0, 1)
};

/// The Kaplan–Meier estimate of `group`: S(t) = Π_{t_i ≤ t} (1 − d_i/n_i), its Greenwood SE, the
/// pointwise interval of `options.confType` and the median with its interval (R's rule, see
/// medianSurvival()). A group without subjects gives no rows and a median not reached.
/// \throws InputError naming `source` and the group if a time is negative or not finite, or if
///         the confidence level is not in (0, 1).
[[nodiscard]] KmCurve kaplanMeier(const SurvivalGroup& group, const KmOptions& options = {}, std::string_view source = {});

/// The median of a Kaplan–Meier table by R's rule (quantile.survfit): the first time the curve is
/// ≤ 0.5; when it is exactly 0.5 (within 1.5e-8) on a flat stretch, the midpoint of that stretch's
/// first time and the next event time (or the last follow-up time if it is the end of the curve).
/// The interval applies the same rule to the lower and the upper band. nullopt = not reached.
[[nodiscard]] MedianEstimate medianSurvival(const std::vector<KmRow>& rows);

/// The log-rank test's numbers for one group.
struct LogRankGroup {
    std::string name;
    std::size_t subjects = 0;
    double observed = 0.0;  ///< events observed
    double expected = 0.0;  ///< events expected under equal hazards, Σ_t d_t·n_gt/n_t
};

/// The k-group log-rank test (R's survdiff with rho = 0).
struct LogRankResult {
    std::vector<LogRankGroup> groups;
    double chiSquare = 0.0;  ///< (O−E)ᵀ V⁻¹ (O−E) over all groups but one
    int degreesOfFreedom = 0;  ///< groups with expected > 0, minus one
    double pValue = 1.0;       ///< upper tail of χ² with degreesOfFreedom
};

/// The log-rank test of equal hazards in `data`'s groups. Groups with no one at risk at any event
/// time (expected 0) carry no information and are left out of the statistic, as in R.
/// \throws InputError naming data.source if there are fewer than two groups, fewer than two groups
///         at risk at an event time, or no events at all.
[[nodiscard]] LogRankResult logRank(const SurvivalData& data);

/// How a Cox fit treats tied event times.
enum class Ties {
    Efron,    ///< R's default: the tied subjects leave the risk set in equal fractions
    Breslow,  ///< every tied subject sees the whole risk set
};

/// A Cox proportional hazards fit with one covariate.
struct CoxResult {
    double coef = 0.0;            ///< β, log hazard ratio per unit of the covariate
    double stdErr = 0.0;          ///< 1/sqrt(I(β)), I the observed information
    double hazardRatio = 1.0;     ///< exp(β)
    double hrLow = 1.0;           ///< exp(β − z·SE), Wald interval at `confLevel`
    double hrHigh = 1.0;          ///< exp(β + z·SE)
    double confLevel = 0.95;
    double waldChiSquare = 0.0;   ///< (β/SE)², 1 df
    double waldP = 1.0;
    double lrChiSquare = 0.0;     ///< 2(ℓ(β) − ℓ(0)), 1 df
    double lrP = 1.0;
    double scoreChiSquare = 0.0;  ///< U(0)²/I(0), 1 df (the log-rank test for a two-group indicator)
    double scoreP = 1.0;
    double logLikNull = 0.0;      ///< partial log-likelihood at β = 0
    double logLik = 0.0;          ///< partial log-likelihood at β
    int iterations = 0;           ///< Newton–Raphson steps taken
    std::size_t subjects = 0;
    std::size_t events = 0;
};

/// Options of coxPh().
struct CoxOptions {
    Ties ties = Ties::Efron;
    double confLevel = 0.95;
    int maxIterations = 50;
    double tolerance = 1e-9;  ///< converged when |Δβ| ≤ tolerance·max(1, |β|)
};

/// Fits h(t | x) = h0(t)·exp(β·x) to `observations` with covariate `covariate` (one value per
/// observation) by Newton–Raphson with step halving on the partial likelihood, starting at β = 0.
/// `what` names the data in messages.
/// \throws InputError naming `what` if the sizes differ, a time is negative or not finite, a
///         covariate is not finite, there are no events, or the covariate is constant;
///         NonConvergenceError naming `what` if the likelihood is monotone (every event has the
///         largest, or every event the smallest, covariate of its risk set: β is infinite) or
///         Newton–Raphson does not converge in maxIterations.
[[nodiscard]] CoxResult coxPh(const std::vector<Observation>& observations, const std::vector<double>& covariate,
                              const CoxOptions& options = {}, std::string_view what = {});

/// coxPh() of a two-group comparison: the covariate is 1 in `data.groups[1]` and 0 in
/// `data.groups[0]` (the reference), so the hazard ratio is group 1 vs group 0.
/// \throws InputError naming data.source unless there are exactly two groups; as coxPh().
[[nodiscard]] CoxResult coxPhTwoGroups(const SurvivalData& data, const CoxOptions& options = {});

}  // namespace nkscape::stats
