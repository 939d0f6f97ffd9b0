// Kaplan–Meier, log-rank and Cox, following R's survival package (survfit, survdiff, coxph,
// quantile.survfit) so that every number can be checked against R. Formulas: docs/stats.md.

#include "nkscape/stats/survival.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include <Eigen/Dense>
#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/normal.hpp>
#include <fmt/format.h>

namespace nkscape::stats {
namespace {

/// "SOURCE: " or "" for messages.
std::string prefix(std::string_view source) { return source.empty() ? std::string() : std::string(source) + ": "; }

/// The upper (1 − level)/2 quantile of the standard normal: 1.959964 for 95 %.
double zFor(double level, std::string_view source) {
    if (!(level > 0.0 && level < 1.0))
        throw InputError(prefix(source) + fmt::format("confidence level {} is not between 0 and 1", level));
    return boost::math::quantile(boost::math::complement(boost::math::normal_distribution<double>(), (1.0 - level) / 2.0));
}

/// The upper tail of χ² with `df` degrees of freedom at `x` (x ≥ 0).
double chiSquareP(double x, int df) {
    return boost::math::cdf(boost::math::complement(boost::math::chi_squared_distribution<double>(df), std::max(0.0, x)));
}

void checkTime(double t, std::string_view source, std::string_view group, std::size_t index) {
    const std::string where = prefix(source) + (group.empty() ? std::string() : "group '" + std::string(group) + "': ") +
                              fmt::format("subject {}: time {}", index + 1, t);
    if (!std::isfinite(t)) throw InputError(where + " is not finite");
    if (t < 0.0) throw InputError(where + " is negative");
}

/// The pointwise interval of S at one row; `sigma` = SE(log S) = sqrt(Σ d/(n(n−d))).
void setInterval(KmRow& row, double sigma, double z, ConfType type) {
    const double s = row.survival;
    if (s <= 0.0) return;  // S = 0: σ is infinite, every transform is undefined (R: NA)
    switch (type) {
        case ConfType::Log:
            row.ciLow = s * std::exp(-z * sigma);
            row.ciHigh = std::min(1.0, s * std::exp(z * sigma));
            break;
        case ConfType::LogLog: {
            if (s >= 1.0) return;  // log(−log 1) = −∞: undefined before the first event (R: NA)
            const double ll = std::log(-std::log(s));
            const double w = z * sigma / std::fabs(std::log(s));
            // A larger log(−log S) is a smaller S: the + side gives the lower limit.
            row.ciLow = std::exp(-std::exp(ll + w));
            row.ciHigh = std::exp(-std::exp(ll - w));
            break;
        }
        case ConfType::Plain: {
            const double se = s * sigma;
            row.ciLow = std::max(0.0, s - z * se);
            row.ciHigh = std::min(1.0, s + z * se);
            break;
        }
    }
}

/// R's findq for p = 0.5 on one curve: `value(row)` is S or a band (nullopt rows are skipped, as
/// approx() drops NA), the curve starts at (0, 1).
template <typename Value>
std::optional<double> findMedian(const std::vector<KmRow>& rows, Value value) {
    if (rows.empty()) return std::nullopt;
    constexpr double kP = 0.5;
    const double tol = std::sqrt(std::numeric_limits<double>::epsilon());  // R's default tolerance
    std::vector<double> x{0.0};
    std::vector<double> f{0.0};  // 1 − S: R works on the distribution function
    for (const auto& r : rows)
        if (const std::optional<double> v = value(r)) {
            x.push_back(r.time);
            f.push_back(1.0 - *v);
        }
    const double xmax = rows.back().time;  // the last follow-up time, event or censoring
    std::optional<std::size_t> i1, i2;
    for (std::size_t i = 0; i < f.size(); ++i) {
        if (!i1 && f[i] + tol >= kP) i1 = i;
        if (!i2 && f[i] - tol >= kP) i2 = i;
    }
    if (!i1) return std::nullopt;                    // never reaches 0.5: not reached
    if (i2) return (x[*i1] + x[*i2]) / 2.0;          // equal unless S is exactly 0.5 on a flat
    if (std::fabs(kP - f.back()) < tol) return (x[*i1] + xmax) / 2.0;  // exactly 0.5 to the end
    return std::nullopt;
}

}  // namespace

ConfType parseConfType(std::string_view text) {
    if (text == "log") return ConfType::Log;
    if (text == "log-log") return ConfType::LogLog;
    if (text == "plain") return ConfType::Plain;
    throw InputError("confidence interval type '" + std::string(text) + "' is not one of log, log-log, plain");
}

std::string_view confTypeName(ConfType type) noexcept {
    switch (type) {
        case ConfType::Log: return "log";
        case ConfType::LogLog: return "log-log";
        case ConfType::Plain: return "plain";
    }
    return "log";
}

MedianEstimate medianSurvival(const std::vector<KmRow>& rows) {
    MedianEstimate m;
    m.time = findMedian(rows, [](const KmRow& r) { return std::optional<double>(r.survival); });
    // The lower band reaches 0.5 first: it gives the lower limit (R's quantile.survfit).
    m.ciLow = findMedian(rows, [](const KmRow& r) { return r.ciLow; });
    m.ciHigh = findMedian(rows, [](const KmRow& r) { return r.ciHigh; });
    return m;
}

KmCurve kaplanMeier(const SurvivalGroup& group, const KmOptions& options, std::string_view source) {
    const double z = zFor(options.confLevel, source);
    KmCurve curve;
    curve.group = group.name;
    curve.subjects = group.observations.size();
    for (std::size_t i = 0; i < group.observations.size(); ++i) checkTime(group.observations[i].time, source, group.name, i);
    std::vector<Observation> obs = group.observations;
    std::sort(obs.begin(), obs.end(), [](const Observation& a, const Observation& b) { return a.time < b.time; });
    std::size_t atRisk = obs.size();
    double s = 1.0;
    double greenwood = 0.0;  // Σ d/(n(n−d)): the variance of log S
    for (std::size_t i = 0; i < obs.size();) {
        KmRow row;
        row.time = obs[i].time;
        row.nRisk = atRisk;
        for (; i < obs.size() && obs[i].time == row.time; ++i) (obs[i].event ? row.nEvent : row.nCensor)++;
        if (row.nEvent > 0) {
            const auto n = static_cast<double>(row.nRisk);
            const auto d = static_cast<double>(row.nEvent);
            s *= 1.0 - d / n;
            greenwood = row.nEvent == row.nRisk ? std::numeric_limits<double>::infinity() : greenwood + d / (n * (n - d));
        }
        row.survival = s;
        if (s > 0.0) {
            const double sigma = std::sqrt(greenwood);
            row.stdErr = s * sigma;
            setInterval(row, sigma, z, options.confType);
        }
        curve.events += row.nEvent;
        atRisk -= row.nEvent + row.nCensor;
        curve.rows.push_back(row);
    }
    curve.median = medianSurvival(curve.rows);
    return curve;
}

LogRankResult logRank(const SurvivalData& data) {
    const std::size_t k = data.groups.size();
    if (k < 2)
        throw InputError(prefix(data.source) + fmt::format("the log-rank test needs at least 2 groups; found {}{}", k,
                                                           k == 1 ? " ('" + data.groups[0].name + "')" : std::string()));
    struct Tagged {
        double time;
        bool event;
        std::size_t group;
    };
    std::vector<Tagged> all;
    LogRankResult result;
    std::vector<double> atRisk(k, 0.0);
    for (std::size_t g = 0; g < k; ++g) {
        const auto& grp = data.groups[g];
        result.groups.push_back({grp.name, grp.observations.size(), 0.0, 0.0});
        for (std::size_t i = 0; i < grp.observations.size(); ++i) {
            checkTime(grp.observations[i].time, data.source, grp.name, i);
            all.push_back({grp.observations[i].time, grp.observations[i].event, g});
        }
        atRisk[g] = static_cast<double>(grp.observations.size());
    }
    std::sort(all.begin(), all.end(), [](const Tagged& a, const Tagged& b) { return a.time < b.time; });
    Eigen::MatrixXd v = Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(k));
    std::vector<double> events(k), leaving(k);
    std::size_t totalEvents = 0;
    for (std::size_t i = 0; i < all.size();) {
        const double t = all[i].time;
        std::fill(events.begin(), events.end(), 0.0);
        std::fill(leaving.begin(), leaving.end(), 0.0);
        for (; i < all.size() && all[i].time == t; ++i) {
            leaving[all[i].group] += 1.0;
            if (all[i].event) events[all[i].group] += 1.0;
        }
        const double d = std::accumulate(events.begin(), events.end(), 0.0);
        const double n = std::accumulate(atRisk.begin(), atRisk.end(), 0.0);
        if (d > 0.0) {
            totalEvents += static_cast<std::size_t>(d);
            for (std::size_t g = 0; g < k; ++g) {
                result.groups[g].observed += events[g];
                result.groups[g].expected += d * atRisk[g] / n;
            }
            // The hypergeometric covariance of the d events over the groups; none when n = 1.
            if (n > 1.0) {
                const double c = d * (n - d) / (n - 1.0);
                for (std::size_t g = 0; g < k; ++g)
                    for (std::size_t h = 0; h < k; ++h)
                        v(static_cast<Eigen::Index>(g), static_cast<Eigen::Index>(h)) +=
                            c * atRisk[g] / n * ((g == h ? 1.0 : 0.0) - atRisk[h] / n);
            }
        }
        for (std::size_t g = 0; g < k; ++g) atRisk[g] -= leaving[g];
    }
    if (totalEvents == 0) throw InputError(prefix(data.source) + "the log-rank test needs at least one event; every subject is censored");
    // Groups never at risk at an event time carry no information (R's survdiff drops them); of the
    // rest, one is left out because O − E sums to zero over the groups.
    std::vector<std::size_t> used;
    for (std::size_t g = 0; g < k; ++g)
        if (result.groups[g].expected > 0.0) used.push_back(g);
    if (used.size() < 2)
        throw InputError(prefix(data.source) + "the log-rank test needs at least 2 groups with subjects at risk at an event time; found " +
                         std::to_string(used.size()));
    const auto m = static_cast<Eigen::Index>(used.size() - 1);
    Eigen::MatrixXd vv(m, m);
    Eigen::VectorXd u(m);
    for (Eigen::Index a = 0; a < m; ++a) {
        const std::size_t ga = used[static_cast<std::size_t>(a) + 1];
        u(a) = result.groups[ga].observed - result.groups[ga].expected;
        for (Eigen::Index b = 0; b < m; ++b)
            vv(a, b) = v(static_cast<Eigen::Index>(ga), static_cast<Eigen::Index>(used[static_cast<std::size_t>(b) + 1]));
    }
    const Eigen::FullPivLU<Eigen::MatrixXd> lu(vv);
    if (lu.rank() < m)
        throw InputError(prefix(data.source) + "the log-rank variance matrix is singular (groups at risk only where no other group is)");
    result.chiSquare = u.dot(lu.solve(u));
    result.degreesOfFreedom = static_cast<int>(m);
    result.pValue = chiSquareP(result.chiSquare, result.degreesOfFreedom);
    return result;
}

namespace {

/// The partial log-likelihood, score and information at β (covariate centred, subjects sorted by
/// increasing time).
struct CoxEval {
    double logLik = 0.0;
    double score = 0.0;
    double info = 0.0;
};

CoxEval coxEvaluate(const std::vector<Observation>& obs, const std::vector<double>& x, double beta, Ties ties) {
    CoxEval e;
    // Risk-set sums from the last time backwards: everyone with time ≥ t is at risk at t.
    double s0 = 0.0, s1 = 0.0, s2 = 0.0;
    for (std::size_t end = obs.size(); end > 0;) {
        const double t = obs[end - 1].time;
        std::size_t begin = end;
        while (begin > 0 && obs[begin - 1].time == t) --begin;
        double d0 = 0.0, d1 = 0.0, d2 = 0.0, dx = 0.0;
        std::size_t d = 0;
        for (std::size_t i = begin; i < end; ++i) {
            const double w = std::exp(beta * x[i]);
            s0 += w;
            s1 += w * x[i];
            s2 += w * x[i] * x[i];
            if (obs[i].event) {
                ++d;
                d0 += w;
                d1 += w * x[i];
                d2 += w * x[i] * x[i];
                dx += x[i];
            }
        }
        if (d > 0) {
            e.logLik += beta * dx;
            e.score += dx;
            for (std::size_t j = 0; j < d; ++j) {
                // Efron: the j-th of d tied events sees the risk set minus j/d of the tied subjects.
                const double frac = ties == Ties::Efron ? static_cast<double>(j) / static_cast<double>(d) : 0.0;
                const double a0 = s0 - frac * d0;
                const double a1 = s1 - frac * d1;
                const double a2 = s2 - frac * d2;
                const double mean = a1 / a0;
                e.logLik -= std::log(a0);
                e.score -= mean;
                e.info += a2 / a0 - mean * mean;
            }
        }
        end = begin;
    }
    return e;
}

}  // namespace

CoxResult coxPh(const std::vector<Observation>& observations, const std::vector<double>& covariate, const CoxOptions& options,
                std::string_view what) {
    const std::string pre = prefix(what);
    if (observations.size() != covariate.size())
        throw InputError(pre + fmt::format("{} observations but {} covariate values", observations.size(), covariate.size()));
    const double z = zFor(options.confLevel, what);
    std::vector<std::size_t> order(observations.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    for (std::size_t i = 0; i < observations.size(); ++i) {
        checkTime(observations[i].time, what, {}, i);
        if (!std::isfinite(covariate[i])) throw InputError(pre + fmt::format("subject {}: covariate {} is not finite", i + 1, covariate[i]));
    }
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return observations[a].time < observations[b].time; });
    std::vector<Observation> obs;
    std::vector<double> x;
    obs.reserve(order.size());
    x.reserve(order.size());
    for (const std::size_t i : order) {
        obs.push_back(observations[i]);
        x.push_back(covariate[i]);
    }
    CoxResult r;
    r.subjects = obs.size();
    r.events = static_cast<std::size_t>(std::count_if(obs.begin(), obs.end(), [](const Observation& o) { return o.event; }));
    r.confLevel = options.confLevel;
    if (r.events == 0) throw InputError(pre + "the Cox model needs at least one event; every subject is censored");
    // Centring changes no estimate but keeps exp(β·x) in range (R's coxph does the same).
    const double mean = std::accumulate(x.begin(), x.end(), 0.0) / static_cast<double>(x.size());
    for (double& xi : x) xi -= mean;

    // A finite maximum exists iff some event has a covariate below the largest of its risk set and
    // some event one above the smallest; otherwise the likelihood rises for ever as β → ±∞.
    bool belowMax = false, aboveMin = false;
    {
        double hi = -std::numeric_limits<double>::infinity(), lo = std::numeric_limits<double>::infinity();
        for (std::size_t end = obs.size(); end > 0;) {
            const double t = obs[end - 1].time;
            std::size_t begin = end;
            while (begin > 0 && obs[begin - 1].time == t) --begin;
            for (std::size_t i = begin; i < end; ++i) {
                hi = std::max(hi, x[i]);
                lo = std::min(lo, x[i]);
            }
            for (std::size_t i = begin; i < end; ++i)
                if (obs[i].event) {
                    belowMax = belowMax || x[i] < hi;
                    aboveMin = aboveMin || x[i] > lo;
                }
            end = begin;
        }
    }
    if (!belowMax && !aboveMin)
        throw InputError(pre + "the covariate is the same for every subject at risk at every event time: it carries no information");
    if (!belowMax || !aboveMin)
        throw NonConvergenceError(pre + fmt::format("monotone likelihood: every event has the {} covariate of those at risk, so the "
                                                    "coefficient is {}infinite (no finite estimate; e.g. a group without events)",
                                                    !belowMax ? "largest" : "smallest", !belowMax ? "+" : "-"));

    double beta = 0.0;
    CoxEval cur = coxEvaluate(obs, x, beta, options.ties);
    r.logLikNull = cur.logLik;
    r.scoreChiSquare = cur.info > 0.0 ? cur.score * cur.score / cur.info : 0.0;
    bool converged = false;
    for (int it = 0; it < options.maxIterations; ++it) {
        r.iterations = it + 1;
        if (!(cur.info > 0.0)) break;
        double step = cur.score / cur.info;
        CoxEval next = coxEvaluate(obs, x, beta + step, options.ties);
        // Step halving: the log-likelihood is concave, so a step that lowers it overshot.
        for (int h = 0; h < 60 && !(next.logLik >= cur.logLik - 1e-12 * std::fabs(cur.logLik)); ++h) {
            step /= 2.0;
            next = coxEvaluate(obs, x, beta + step, options.ties);
        }
        beta += step;
        cur = next;
        if (std::fabs(step) <= options.tolerance * std::max(1.0, std::fabs(beta))) {
            converged = true;
            break;
        }
    }
    if (!converged || !std::isfinite(beta) || !(cur.info > 0.0) || !std::isfinite(cur.logLik))
        throw NonConvergenceError(pre + fmt::format("the Cox fit did not converge in {} Newton-Raphson iterations", options.maxIterations));
    r.coef = beta;
    r.logLik = cur.logLik;
    r.stdErr = 1.0 / std::sqrt(cur.info);
    r.hazardRatio = std::exp(beta);
    r.hrLow = std::exp(beta - z * r.stdErr);
    r.hrHigh = std::exp(beta + z * r.stdErr);
    r.waldChiSquare = (beta / r.stdErr) * (beta / r.stdErr);
    r.waldP = chiSquareP(r.waldChiSquare, 1);
    r.lrChiSquare = std::max(0.0, 2.0 * (r.logLik - r.logLikNull));
    r.lrP = chiSquareP(r.lrChiSquare, 1);
    r.scoreP = chiSquareP(r.scoreChiSquare, 1);
    return r;
}

CoxResult coxPhTwoGroups(const SurvivalData& data, const CoxOptions& options) {
    if (data.groups.size() != 2) {
        std::string names;
        for (const auto& g : data.groups) names += (names.empty() ? "'" : ", '") + g.name + "'";
        throw InputError(prefix(data.source) + fmt::format("a Cox fit of one group indicator needs exactly 2 groups; found {}{}",
                                                           data.groups.size(), names.empty() ? std::string() : " (" + names + ")"));
    }
    std::vector<Observation> obs;
    std::vector<double> x;
    for (std::size_t g = 0; g < 2; ++g)
        for (const auto& o : data.groups[g].observations) {
            obs.push_back(o);
            x.push_back(static_cast<double>(g));
        }
    const std::string what = (data.source.empty() ? std::string() : data.source + ": ") + "'" + data.groups[1].name + "' vs '" +
                             data.groups[0].name + "'";
    return coxPh(obs, x, options, what);
}

}  // namespace nkscape::stats
