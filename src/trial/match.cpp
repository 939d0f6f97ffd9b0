// Virtual populations that match data (docs/trial-format.md, "Matching observed distributions"):
// the plausible pool's density of each [[match]]ed quantity, the acceptance weights of Allen,
// Rieger & Musante 2016 (CPT Pharmacometrics Syst Pharmacol 5:140, PMID 27069777), and the
// goodness of fit before and after selection.

#include <algorithm>
#include <cmath>
#include <limits>

#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/normal.hpp>
#include <fmt/format.h>

#include "nkscape/error.hpp"
#include "nkscape/trial/trial.hpp"

namespace nkscape::trial {

namespace {

constexpr std::uint64_t kPoolSeed = 0x706f6f6c6d617463ULL;  // "poolmatc": the pool's own key

// The value of match m in draw d: a prior's value (NaN if not defined), or the index of the level.
double priorValue(const Match& m, const PatientDraw& d) { return d.values.at(m.index); }
const std::string& levelValue(const Match& m, const PatientDraw& d) {
    return m.kind == Match::Kind::Biomarker ? d.biomarkers.at(m.index) : d.attributes.at(m.index);
}

// Kolmogorov's limiting distribution Q(λ) = 2 Σ (−1)^{j−1} exp(−2 j² λ²) (Numerical Recipes 14.3).
double kolmogorovQ(double lambda) {
    if (lambda < 1e-3) return 1.0;
    double sum = 0, term = 0, sign = 1;
    for (int j = 1; j <= 100; ++j) {
        term = sign * 2 * std::exp(-2.0 * j * j * lambda * lambda);
        sum += term;
        if (std::abs(term) < 1e-12 * std::abs(sum)) return std::clamp(sum, 0.0, 1.0);
        sign = -sign;
    }
    return 1.0;  // not converged: only for tiny λ, where the p value is 1
}

}  // namespace

double Match::cdf(double x) const {
    if (normal) {
        const boost::math::normal n(mean, sd);
        const double lo = low <= -1e308 ? 0.0 : boost::math::cdf(n, low);
        const double hi = high >= 1e308 ? 1.0 : boost::math::cdf(n, high);
        if (x <= low) return 0.0;
        if (x >= high) return 1.0;
        return (boost::math::cdf(n, x) - lo) / (hi - lo);
    }
    if (x <= edges.front()) return 0.0;
    double acc = 0;
    for (std::size_t k = 0; k < probabilities.size(); ++k) {
        if (x < edges[k + 1]) return acc + probabilities[k] * (x - edges[k]) / (edges[k + 1] - edges[k]);  // uniform within a bin
        acc += probabilities[k];
    }
    return 1.0;
}

std::size_t Match::binOf(double x) const {
    if (!(x >= edges.front()) || x > edges.back()) return static_cast<std::size_t>(-1);
    const auto it = std::upper_bound(edges.begin(), edges.end(), x);
    return std::min<std::size_t>(static_cast<std::size_t>(it - edges.begin()) - 1, probabilities.size() - 1);
}

std::size_t Match::levelOf(const std::string& level) const {
    const auto it = std::find(levels.begin(), levels.end(), level);
    return it == levels.end() ? static_cast<std::size_t>(-1) : static_cast<std::size_t>(it - levels.begin());
}

void prepareMatching(LoadedTrial& t) {
    if (t.matches.empty()) return;
    for (auto& m : t.matches) m.acceptance.clear();  // the pool is plausible patients: no selection while it is drawn
    std::vector<std::vector<double>> counts(t.matches.size());
    for (std::size_t k = 0; k < t.matches.size(); ++k) counts[k].assign(t.matches[k].kind == Match::Kind::Prior ? t.matches[k].probabilities.size() : t.matches[k].levels.size(), 0.0);
    std::vector<double> defined(t.matches.size(), 0.0);
    for (std::int64_t i = 0; i < kMatchPool; ++i) {
        const PatientDraw d = drawPlausiblePatient(t, static_cast<std::uint64_t>(i), kPoolSeed);
        for (std::size_t k = 0; k < t.matches.size(); ++k) {
            const Match& m = t.matches[k];
            std::size_t bin;
            if (m.kind == Match::Kind::Prior) {
                const double v = priorValue(m, d);
                if (std::isnan(v)) continue;
                bin = m.binOf(v);
            } else {
                if (levelValue(m, d).empty()) continue;
                bin = m.levelOf(levelValue(m, d));
            }
            defined[k] += 1;
            if (bin < counts[k].size()) counts[k][bin] += 1;
        }
    }
    for (std::size_t k = 0; k < t.matches.size(); ++k) {
        Match& m = t.matches[k];
        const auto& target = m.kind == Match::Kind::Prior ? m.probabilities : m.shares;
        std::vector<double> ratio(target.size(), 0.0);
        double best = 0;
        for (std::size_t b = 0; b < target.size(); ++b) {
            // A bin the pool never reaches cannot be matched: its ratio stays 0 (the fit shows it).
            if (counts[k][b] > 0) ratio[b] = target[b] / (counts[k][b] / defined[k]);
            best = std::max(best, ratio[b]);
        }
        if (!(best > 0))
            throw InputError(fmt::format("trial '{}' ({}): match '{}': none of {} plausible patients has '{}' where the target puts weight; "
                                         "the priors cannot produce this distribution",
                                         t.name, t.path, m.name, kMatchPool, m.what));
        for (auto& r : ratio) r /= best;
        m.acceptance = std::move(ratio);
    }
}

MatchFit matchFit(const LoadedTrial& t, const Match& m, const std::vector<PatientDraw>& draws) {
    (void)t;
    MatchFit f;
    if (m.kind == Match::Kind::Prior) {
        f.test = "Kolmogorov-Smirnov";
        std::vector<double> x;
        for (const auto& d : draws)
            if (const double v = priorValue(m, d); !std::isnan(v)) x.push_back(v);
        std::sort(x.begin(), x.end());
        f.n = static_cast<std::int64_t>(x.size());
        if (x.empty()) return f;
        const double n = static_cast<double>(x.size());
        double dmax = 0;
        for (std::size_t i = 0; i < x.size(); ++i) {
            const double F = m.cdf(x[i]);
            dmax = std::max({dmax, static_cast<double>(i + 1) / n - F, F - static_cast<double>(i) / n});
        }
        f.statistic = dmax;
        const double sn = std::sqrt(n);
        f.p = kolmogorovQ((sn + 0.12 + 0.11 / sn) * dmax);  // Stephens (1970)
        return f;
    }
    f.test = "chi-squared";
    std::vector<double> observed(m.levels.size(), 0.0);
    for (const auto& d : draws) {
        const std::string& l = levelValue(m, d);
        if (l.empty()) continue;
        ++f.n;
        if (const std::size_t k = m.levelOf(l); k < observed.size()) observed[k] += 1;
    }
    if (f.n == 0) return f;
    double chi = 0;
    int cells = 0;
    for (std::size_t k = 0; k < observed.size(); ++k) {
        const double e = m.shares[k] * static_cast<double>(f.n);
        if (e <= 0) continue;
        chi += (observed[k] - e) * (observed[k] - e) / e;
        ++cells;
    }
    f.statistic = chi;
    f.df = std::max(1, cells - 1);
    f.p = boost::math::cdf(boost::math::complement(boost::math::chi_squared(f.df), chi));
    return f;
}

io::Json matchReport(const LoadedTrial& t, const std::vector<PatientRecord>& records) {
    io::Json out = io::Json::array();
    if (t.matches.empty()) return out;
    std::vector<PatientDraw> before, after;
    for (std::int64_t i = 0; i < t.patients; ++i) before.push_back(drawPlausiblePatient(t, static_cast<std::uint64_t>(i)));
    std::uint64_t last = std::numeric_limits<std::uint64_t>::max();
    for (const auto& r : records)
        if (r.index != last) {  // one draw per patient (a crossover patient has a record per arm)
            after.push_back(r.draw);
            last = r.index;
        }
    auto fitJson = [](const MatchFit& f) {
        io::Json j;
        j["test"] = f.test;
        j["n"] = f.n;
        j["statistic"] = io::jsonNumber(f.statistic);
        if (f.test == "chi-squared") j["df"] = f.df;
        j["p"] = io::jsonNumber(f.p);
        return j;
    };
    for (const auto& m : t.matches) {
        io::Json j;
        j["name"] = m.name;
        j["quantity"] = (m.kind == Match::Kind::Prior ? "prior" : m.kind == Match::Kind::Biomarker ? "biomarker" : "attribute") + std::string(":") + m.what;
        j["source"] = m.source;
        j["acceptance"] = m.acceptance;
        j["before_selection"] = fitJson(matchFit(t, m, before));
        j["after_selection"] = fitJson(matchFit(t, m, after));
        out.push_back(std::move(j));
    }
    return out;
}

}  // namespace nkscape::trial
