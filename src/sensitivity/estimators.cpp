// Estimators of the sensitivity analysis (include/nkscape/sensitivity/sensitivity.hpp): Sobol
// first-order (Saltelli et al. 2010) and total (Jansen 1999) indices with percentile-bootstrap
// intervals, Morris elementary effects, and partial rank correlation coefficients.

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include <boost/math/distributions/students_t.hpp>
#include <fmt/format.h>

#include "nkscape/error.hpp"
#include "nkscape/sensitivity/sensitivity.hpp"
#include "sensitivity/random.hpp"

namespace nkscape::sensitivity {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Quantile q of the finite values of `v` (R's type 7: linear between order statistics); NaN if
// none is finite.
double quantile(std::vector<double> v, double q) {
    v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
    if (v.empty()) return kNaN;
    std::sort(v.begin(), v.end());
    const double h = q * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(h));
    const std::size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (h - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

Estimate withInterval(double value, const std::vector<double>& resampled) {
    if (resampled.empty()) return {value, value, value};
    return {value, quantile(resampled, 0.025), quantile(resampled, 0.975)};
}

// The Sobol estimates from rows `rows` of the design (each index in [0, n)), into first/total.
void sobolFrom(std::span<const double> y, std::size_t n, std::size_t k, std::span<const std::size_t> rows, std::vector<double>& first,
               std::vector<double>& total, double& mean, double& variance) {
    const double m = static_cast<double>(rows.size());
    double sum = 0;
    for (const std::size_t j : rows) sum += y[j] + y[n + j];
    mean = sum / (2 * m);
    double ss = 0;
    for (const std::size_t j : rows) {
        const double a = y[j] - mean, b = y[n + j] - mean;
        ss += a * a + b * b;
    }
    variance = ss / (2 * m);
    first.assign(k, 0);
    total.assign(k, 0);
    for (std::size_t i = 0; i < k; ++i) {
        const double* ab = y.data() + (2 + i) * n;
        double s1 = 0, st = 0;
        for (const std::size_t j : rows) {
            const double a = y[j] - mean, b = y[n + j] - mean, c = ab[j] - mean;
            s1 += b * (c - a);
            st += (a - c) * (a - c);
        }
        first[i] = s1 / m / variance;
        total[i] = st / (2 * m) / variance;
    }
}

}  // namespace

namespace {

SobolIndices sobolOfRows(std::span<const double> y, std::size_t n, std::size_t k, std::size_t bootstrap, std::uint64_t seed,
                         const std::vector<std::size_t>& all);

void checkSaltelliSize(std::span<const double> y, std::size_t n, std::size_t k) {
    if (n < 2 || k < 1 || y.size() != n * (k + 2))
        throw InputError(fmt::format("sensitivity: {} outputs for a Saltelli design of n = {} and k = {} (expected n (k + 2) = {})", y.size(), n, k,
                                     n * (k + 2)));
}

}  // namespace

SobolIndices sobolIndices(std::span<const double> y, std::size_t n, std::size_t k, std::size_t bootstrap, std::uint64_t seed) {
    checkSaltelliSize(y, n, k);
    for (std::size_t r = 0; r < y.size(); ++r)
        if (!std::isfinite(y[r])) throw InputError(fmt::format("sensitivity: output of design row {} is not finite; Sobol indices need every row", r));
    std::vector<std::size_t> all(n);
    std::iota(all.begin(), all.end(), std::size_t{0});
    return sobolOfRows(y, n, k, bootstrap, seed, all);
}

SobolIndices sobolIndicesOfFiniteRows(std::span<const double> y, std::size_t n, std::size_t k, std::size_t bootstrap, std::uint64_t seed,
                                      std::size_t& dropped) {
    checkSaltelliSize(y, n, k);
    std::vector<std::size_t> rows;
    for (std::size_t j = 0; j < n; ++j) {
        bool ok = true;
        for (std::size_t b = 0; b < k + 2 && ok; ++b) ok = std::isfinite(y[b * n + j]);
        if (ok) rows.push_back(j);
    }
    dropped = n - rows.size();
    if (rows.size() < 2) throw InputError(fmt::format("sensitivity: {} of {} Sobol base rows have a failed point; too few remain", dropped, n));
    return sobolOfRows(y, n, k, bootstrap, seed, rows);
}

namespace {

// Sobol indices and their bootstrap from base rows `all` (each index in [0, n)).
SobolIndices sobolOfRows(std::span<const double> y, std::size_t n, std::size_t k, std::size_t bootstrap, std::uint64_t seed,
                         const std::vector<std::size_t>& all) {
    const std::size_t m = all.size();
    SobolIndices out;
    std::vector<double> s1, st;
    sobolFrom(y, n, k, all, s1, st, out.mean, out.variance);
    if (!(out.variance > 0)) throw InputError("sensitivity: the output does not vary over the design (variance 0); it has no Sobol indices");
    std::vector<std::vector<double>> b1(k), bt(k);
    std::vector<std::size_t> rows(m);
    std::vector<double> r1, rt;
    for (std::size_t b = 0; b < bootstrap; ++b) {
        for (std::size_t j = 0; j < m; ++j) rows[j] = all[detail::below(detail::word(seed, detail::kBootstrap, b, j), m)];
        double mean = 0, variance = 0;
        sobolFrom(y, n, k, rows, r1, rt, mean, variance);
        if (!(variance > 0)) continue;  // a resample of identical rows: no estimate (left out of the percentiles)
        for (std::size_t i = 0; i < k; ++i) b1[i].push_back(r1[i]), bt[i].push_back(rt[i]);
    }
    for (std::size_t i = 0; i < k; ++i) {
        out.first.push_back(withInterval(s1[i], b1[i]));
        out.total.push_back(withInterval(st[i], bt[i]));
    }
    return out;
}

}  // namespace

MorrisIndices morrisIndices(const MorrisDesign& d, std::span<const double> y, std::size_t bootstrap, std::uint64_t seed) {
    const std::size_t k = d.k, t = d.trajectories;
    if (y.size() != t * (k + 1))
        throw InputError(fmt::format("sensitivity: {} outputs for a Morris design of {} trajectories x {} points", y.size(), t, k + 1));
    // effect[trajectory][factor]; NaN where a step has a non-finite end.
    std::vector<double> effect(t * k, kNaN);
    for (std::size_t r = 0; r < t; ++r)
        for (std::size_t j = 1; j <= k; ++j) {
            const std::size_t row = r * (k + 1) + j;
            const double e = (y[row] - y[row - 1]) / d.step[row];
            if (std::isfinite(e)) effect[r * k + d.moved[row]] = e;
        }
    MorrisIndices out;
    out.mu.assign(k, kNaN);
    out.sigma.assign(k, kNaN);
    out.effects.assign(k, 0);
    std::vector<double> muStar(k, kNaN);
    for (std::size_t i = 0; i < k; ++i) {
        double s = 0, sa = 0;
        std::size_t c = 0;
        for (std::size_t r = 0; r < t; ++r)
            if (const double e = effect[r * k + i]; std::isfinite(e)) s += e, sa += std::abs(e), ++c;
        out.effects[i] = c;
        if (c == 0) continue;
        out.mu[i] = s / static_cast<double>(c);
        muStar[i] = sa / static_cast<double>(c);
        if (c > 1) {
            double ss = 0;
            for (std::size_t r = 0; r < t; ++r)
                if (const double e = effect[r * k + i]; std::isfinite(e)) ss += (e - out.mu[i]) * (e - out.mu[i]);
            out.sigma[i] = std::sqrt(ss / static_cast<double>(c - 1));
        }
    }
    std::vector<std::vector<double>> boot(k);
    std::vector<double> sum(k);
    std::vector<std::size_t> count(k);
    for (std::size_t b = 0; b < bootstrap; ++b) {
        std::fill(sum.begin(), sum.end(), 0.0);
        std::fill(count.begin(), count.end(), std::size_t{0});
        for (std::size_t m = 0; m < t; ++m) {
            const std::size_t r = detail::below(detail::word(seed, detail::kBootstrap, b, m), t);
            for (std::size_t i = 0; i < k; ++i)
                if (const double e = effect[r * k + i]; std::isfinite(e)) sum[i] += std::abs(e), ++count[i];
        }
        for (std::size_t i = 0; i < k; ++i) boot[i].push_back(count[i] ? sum[i] / static_cast<double>(count[i]) : kNaN);
    }
    for (std::size_t i = 0; i < k; ++i) {
        if (!std::isfinite(muStar[i])) out.muStar.push_back({kNaN, kNaN, kNaN});
        else out.muStar.push_back(withInterval(muStar[i], bootstrap ? boot[i] : std::vector<double>{}));
    }
    return out;
}

std::vector<double> ranks(std::span<const double> v) {
    std::vector<std::size_t> order(v.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return v[a] < v[b]; });
    std::vector<double> r(v.size());
    for (std::size_t i = 0; i < order.size();) {
        std::size_t j = i;
        while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
        const double avg = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;
        for (std::size_t q = i; q <= j; ++q) r[order[q]] = avg;
        i = j + 1;
    }
    return r;
}

PrccIndices prcc(const Matrix& x, std::span<const double> y) {
    if (x.rows != y.size()) throw InputError(fmt::format("sensitivity: {} design rows and {} outputs", x.rows, y.size()));
    const std::size_t k = x.cols;
    std::vector<std::size_t> keep;
    for (std::size_t r = 0; r < x.rows; ++r)
        if (std::isfinite(y[r])) keep.push_back(r);
    const std::size_t m = keep.size();
    if (k < 1 || m < k + 3)
        throw InputError(fmt::format("sensitivity: PRCC of {} parameters needs at least {} points with a finite output, got {}", k, k + 3, m));
    // Ranked columns: the k parameters, then the output.
    Eigen::MatrixXd ranked(static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(k + 1));
    std::vector<double> col(m);
    for (std::size_t c = 0; c <= k; ++c) {
        for (std::size_t q = 0; q < m; ++q) col[q] = c < k ? x(keep[q], c) : y[keep[q]];
        const auto r = ranks(col);
        for (std::size_t q = 0; q < m; ++q) ranked(static_cast<Eigen::Index>(q), static_cast<Eigen::Index>(c)) = r[q];
    }
    const Eigen::VectorXd ry = ranked.col(static_cast<Eigen::Index>(k));
    if ((ry.array() == ry(0)).all()) throw InputError("sensitivity: the output does not vary over the design; it has no PRCC");
    PrccIndices out;
    out.used = m;
    const double df = static_cast<double>(m) - 2.0 - static_cast<double>(k - 1);
    const boost::math::students_t tdist(df);
    const double se = 1.0 / std::sqrt(static_cast<double>(m) - 3.0 - static_cast<double>(k - 1));
    const Eigen::Index ki = static_cast<Eigen::Index>(k);
    for (std::size_t i = 0; i < k; ++i) {
        // The constant and every other ranked parameter.
        Eigen::MatrixXd z(static_cast<Eigen::Index>(m), ki);
        z.col(0).setOnes();
        Eigen::Index c = 1;
        for (std::size_t j = 0; j < k; ++j)
            if (j != i) z.col(c++) = ranked.col(static_cast<Eigen::Index>(j));
        const Eigen::HouseholderQR<Eigen::MatrixXd> qr(z);
        const Eigen::VectorXd xi = ranked.col(static_cast<Eigen::Index>(i));
        const Eigen::VectorXd rx = xi - z * qr.solve(xi);
        const Eigen::VectorXd rr = ry - z * qr.solve(ry);
        const double den = std::sqrt(rx.squaredNorm() * rr.squaredNorm());
        double r = den > 0 ? rx.dot(rr) / den : 0.0;
        r = std::clamp(r, -1.0, 1.0);
        double p = 0;
        if (std::abs(r) < 1) {
            const double t = r * std::sqrt(df / (1 - r * r));
            p = 2 * boost::math::cdf(boost::math::complement(tdist, std::abs(t)));
        }
        const double zr = std::atanh(std::clamp(r, -1 + 1e-15, 1 - 1e-15));
        out.prcc.push_back({r, std::tanh(zr - 1.959963984540054 * se), std::tanh(zr + 1.959963984540054 * se)});
        out.pValue.push_back(p);
    }
    return out;
}

}  // namespace nkscape::sensitivity
