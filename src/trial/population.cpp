// Virtual patients: priors with a Gaussian copula, categorical attributes, biomarkers read from
// the drawn biology, screening by inclusion criteria, and randomisation in permuted blocks
// (docs/trial-format.md). Every number drawn for patient i comes from a Philox4x64-10 stream keyed
// by (trial seed, i), counters naming what is drawn, so a patient is the same whatever else runs.

#include <Random123/philox.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include <boost/math/distributions/normal.hpp>
#include <fmt/format.h>

#include "nkscape/error.hpp"
#include "nkscape/trial/trial.hpp"

namespace nkscape::trial {

namespace {

// What a counter draws (its second word), so that no two uses share a number.
enum Purpose : std::uint64_t { kSubtype = 1, kAttribute = 2, kPrior = 3, kMatch = 5 };  // runner.cpp uses 4
constexpr std::uint64_t kArmDomain = 0x61726d73ULL;  // "arms": the randomisation's own key

double unit(std::uint64_t x) { return (static_cast<double>(x >> 11) + 0.5) * 0x1p-53; }  // in (0, 1)

double draw(std::uint64_t seed, std::uint64_t patient, std::uint64_t attempt, std::uint64_t purpose, std::uint64_t k) {
    const r123::Philox4x64::key_type key = {{seed, patient}};
    const r123::Philox4x64::ctr_type ctr = {{attempt, purpose, k, 0}};
    return unit(r123::Philox4x64()(ctr, key)[0]);
}

const boost::math::normal kStdNormal;

double phi(double z) { return boost::math::cdf(kStdNormal, z); }
double phiInv(double p) {
    p = std::clamp(p, 1e-300, 1.0 - 1e-16);
    return boost::math::quantile(kStdNormal, p);
}

bool includes(const std::vector<std::string>& levels, const std::string& l) { return std::find(levels.begin(), levels.end(), l) != levels.end(); }

}  // namespace

double Distribution::quantile(double z) const {
    const double p = phi(z);
    switch (type) {
    case Type::Fixed:
        return a;
    case Type::Normal:
    case Type::LogNormal: {
        // Truncation by the quantile of the truncated distribution (no rejection, so one normal
        // score gives one value and the copula holds).
        const bool logScale = type == Type::LogNormal;
        const double mu = logScale ? std::log(a) : a;
        const double sd = logScale ? std::log(b) : b;
        auto score = [&](double x) {
            if (logScale) return x <= 0 ? -std::numeric_limits<double>::infinity() : (std::log(x) - mu) / sd;
            return (x - mu) / sd;
        };
        const double pLo = low <= -1e308 ? 0.0 : phi(score(low));
        const double pHi = high >= 1e308 ? 1.0 : phi(score(high));
        const double x = mu + sd * phiInv(pLo + p * (pHi - pLo));
        const double v = logScale ? std::exp(x) : x;
        return std::clamp(v, low, high);
    }
    case Type::Uniform:
        return a + (b - a) * p;
    case Type::LogUniform:
        return std::exp(std::log(a) + (std::log(b) - std::log(a)) * p);
    case Type::Discrete: {
        const auto it = std::lower_bound(cumulative.begin(), cumulative.end(), p);
        return values[std::min<std::size_t>(static_cast<std::size_t>(it - cumulative.begin()), values.size() - 1)];
    }
    }
    return a;
}

namespace {

// The arm of patient `index`: permuted blocks of 2 × Σ allocation, each block shuffled by its own
// Philox key, so allocation stays balanced in every block and the arm depends only on (seed, index).
std::size_t randomisedArm(const LoadedTrial& t, std::uint64_t index) {
    std::vector<std::size_t> block;
    for (std::size_t a = 0; a < t.arms.size(); ++a)
        for (std::int64_t k = 0; k < 2 * t.arms[a].allocation; ++k) block.push_back(a);
    const std::uint64_t b = index / block.size();
    const r123::Philox4x64::key_type key = {{t.seed ^ kArmDomain, b}};
    for (std::size_t i = block.size() - 1; i > 0; --i) {  // Fisher–Yates
        const r123::Philox4x64::ctr_type ctr = {{i, 0, 0, 0}};
        const auto j = static_cast<std::size_t>(unit(r123::Philox4x64()(ctr, key)[0]) * static_cast<double>(i + 1));
        std::swap(block[i], block[std::min(j, i)]);
    }
    return block[index % block.size()];
}

}  // namespace

namespace {

// The acceptance probability of a plausible draw under the trial's [[match]] tables: the product
// of each match's weight at the draw's bin or level (each scaled to at most 1).
double acceptance(const LoadedTrial& t, const PatientDraw& d) {
    double a = 1;
    for (const auto& m : t.matches) {
        std::size_t bin = static_cast<std::size_t>(-1);
        if (m.kind == Match::Kind::Prior) {
            const double v = d.values[m.index];
            if (std::isnan(v)) continue;  // the quantity is not defined for this patient: not selected on
            bin = m.binOf(v);
        } else {
            bin = m.levelOf(m.kind == Match::Kind::Biomarker ? d.biomarkers[m.index] : d.attributes[m.index]);
        }
        a *= bin < m.acceptance.size() ? m.acceptance[bin] : 0.0;
    }
    return a;
}

PatientDraw drawImpl(const LoadedTrial& t, std::uint64_t seed, std::uint64_t index, bool select);

}  // namespace

PatientDraw drawPatient(const LoadedTrial& t, std::uint64_t index) { return drawImpl(t, t.seed, index, true); }
PatientDraw drawPlausiblePatient(const LoadedTrial& t, std::uint64_t index, std::optional<std::uint64_t> seed) {
    return drawImpl(t, seed ? *seed : t.seed, index, false);
}

namespace {

PatientDraw drawImpl(const LoadedTrial& t, std::uint64_t seed, std::uint64_t index, bool select) {
    const std::size_t n = t.priors.size();
    PatientDraw d;
    d.index = index;
    d.arm = t.crossover || t.arms.empty() ? 0 : randomisedArm(t, index);
    std::vector<double> u(n), z(n);
    for (std::int64_t attempt = 0; attempt < kMaxScreeningAttempts; ++attempt) {
        const auto a = static_cast<std::uint64_t>(attempt);
        d.screened = attempt + 1;
        const double us = draw(seed, index, a, kSubtype, 0);
        d.subtype = t.subtypes.back().first;
        for (const auto& [ct, cum] : t.subtypes)
            if (us <= cum) {
                d.subtype = ct;
                break;
            }
        d.attributes.assign(t.attributes.size(), "");
        for (std::size_t k = 0; k < t.attributes.size(); ++k) {
            const auto& at = t.attributes[k];
            const double ua = draw(seed, index, a, kAttribute, k);
            const auto it = std::lower_bound(at.cumulative.begin(), at.cumulative.end(), ua);
            d.attributes[k] = at.levels[std::min<std::size_t>(static_cast<std::size_t>(it - at.cumulative.begin()), at.levels.size() - 1)];
        }
        for (std::size_t k = 0; k < n; ++k) u[k] = phiInv(draw(seed, index, a, kPrior, k));
        for (std::size_t i = 0; i < n; ++i) {
            double s = 0;
            for (std::size_t j = 0; j <= i; ++j) s += t.cholesky[i][j] * u[j];
            z[i] = s;
        }
        d.values.assign(n, std::numeric_limits<double>::quiet_NaN());
        for (std::size_t k = 0; k < n; ++k) {
            const Prior& p = t.priors[k];
            if (!p.whenAttribute.empty() && d.attributes[p.whenIndex] != p.whenLevel) continue;
            d.values[k] = p.distribution.quantile(z[k]);
        }
        d.biomarkers.assign(t.biomarkers.size(), "");
        for (std::size_t k = 0; k < t.biomarkers.size(); ++k) {
            const auto& b = t.biomarkers[k];
            const double v = d.values[b.priorIndex];
            if (std::isnan(v)) continue;  // not measured in this patient (the prior's `when` did not hold)
            std::size_t level = 0;
            while (level < b.cutoffs.size() && v >= b.cutoffs[level]) ++level;
            d.biomarkers[k] = b.levels[level];
        }
        bool ok = true;
        for (const auto& inc : t.inclusion) {
            if (inc.kind == Inclusion::Kind::Prior) {
                const double v = d.values[inc.index];
                ok = ok && !std::isnan(v) && (!inc.min || v >= *inc.min) && (!inc.max || v <= *inc.max);
            } else {
                const std::string& level = inc.kind == Inclusion::Kind::Attribute ? d.attributes[inc.index] : d.biomarkers[inc.index];
                ok = ok && includes(inc.levels, level);
            }
        }
        // Acceptance sampling (Allen et al. 2016): a plausible patient is kept with probability
        // target/pool density, scaled to at most 1, from its own stream.
        if (ok && select && !t.matches.empty()) ok = draw(seed, index, a, kMatch, 0) < acceptance(t, d);
        if (ok) return d;
    }
    throw InputError(fmt::format("trial '{}' ({}): patient {}: none of {} draws met the inclusion criteria{}; check that the priors "
                                 "can produce the patients the [[inclusion]]{} tables ask for",
                                 t.name, t.path, index, kMaxScreeningAttempts, t.matches.empty() ? "" : " and the [[match]] selection",
                                 t.matches.empty() ? "" : " and [[match]]"));
}

}  // namespace

}  // namespace nkscape::trial
