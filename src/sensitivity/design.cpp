// Designs of the sensitivity analysis (include/nkscape/sensitivity/sensitivity.hpp): the parameter
// space's maps, the shifted Sobol sequence and Saltelli's A/B/AB_i matrices, Latin hypercubes and
// Morris trajectories.

#include <boost/random/sobol.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "nkscape/error.hpp"
#include "nkscape/sensitivity/sensitivity.hpp"
#include "sensitivity/random.hpp"

namespace nkscape::sensitivity {

using detail::below;
using detail::unit;
using detail::word;

std::vector<double> Matrix::column(std::size_t c) const {
    std::vector<double> v(rows);
    for (std::size_t r = 0; r < rows; ++r) v[r] = (*this)(r, c);
    return v;
}

Scale defaultScale(double low, double high) noexcept { return low > 0 && high >= 10 * low ? Scale::Log : Scale::Linear; }

double fromUnit(const Dimension& d, double u) {
    const double v = d.scale == Scale::Log ? d.low * std::exp(u * std::log(d.high / d.low)) : d.low + u * (d.high - d.low);
    return std::clamp(v, d.low, d.high);
}

double toUnit(const Dimension& d, double v) {
    const double u = d.scale == Scale::Log ? std::log(v / d.low) / std::log(d.high / d.low) : (v - d.low) / (d.high - d.low);
    return std::isfinite(u) ? std::clamp(u, 0.0, 1.0) : 0.0;
}

Matrix touchDesign(std::span<const double> base) {
    const std::size_t k = base.size();
    Matrix m(k + 1, k);
    for (std::size_t r = 0; r <= k; ++r) std::copy(base.begin(), base.end(), m.row(r).begin());
    for (std::size_t i = 0; i < k; ++i) m(i + 1, i) = base[i] < 0.5 ? 1.0 : 0.0;
    return m;
}

std::vector<double> fromUnit(std::span<const Dimension> dims, std::span<const double> u) {
    if (dims.size() != u.size()) throw InputError(fmt::format("sensitivity: a point of {} coordinates for {} parameters", u.size(), dims.size()));
    std::vector<double> v(u.size());
    for (std::size_t i = 0; i < u.size(); ++i) v[i] = fromUnit(dims[i], u[i]);
    return v;
}

std::string dimensionProblem(const Dimension& d) {
    if (!std::isfinite(d.low) || !std::isfinite(d.high)) return "the range is not finite";
    if (!(d.low < d.high)) return fmt::format("the range [{:g}, {:g}] is empty (low must be below high)", d.low, d.high);
    if (d.scale == Scale::Log && !(d.low > 0)) return fmt::format("a log-uniform range needs low > 0, got [{:g}, {:g}]", d.low, d.high);
    return {};
}

Matrix sobolSequence(std::size_t n, std::size_t dims, std::uint64_t seed) {
    if (dims == 0 || dims > 2 * kMaxSobolParameters + 1)
        throw InputError(fmt::format("sensitivity: a Sobol sequence of {} dimensions; Boost's direction numbers cover 1 to 3667", dims));
    // Boost's engine starts with the point after the origin; the origin is put back in front
    // (Owen 2020, "On dropping the first Sobol' point": the first 2^m points are a net only with
    // it, and after the shift it is a point like any other).
    boost::random::sobol_engine<std::uint64_t, 64> engine(dims);
    std::vector<std::uint64_t> shift(dims);
    for (std::size_t d = 0; d < dims; ++d) shift[d] = word(seed, detail::kSobolShift, d, 0);
    Matrix m(n, dims);
    for (std::size_t r = 0; r < n; ++r)
        for (std::size_t d = 0; d < dims; ++d) m(r, d) = unit((r == 0 ? 0 : engine()) ^ shift[d]);
    return m;
}

Matrix saltelliDesign(std::size_t n, std::size_t k, std::uint64_t seed) {
    if (n < 2) throw InputError(fmt::format("sensitivity: Saltelli's design needs at least 2 base samples, got {}", n));
    if (k < 1 || k > kMaxSobolParameters)
        throw InputError(fmt::format("sensitivity: Saltelli's design takes 1 to {} parameters, got {}", kMaxSobolParameters, k));
    const Matrix s = sobolSequence(n, 2 * k, seed);
    Matrix m(n * (k + 2), k);
    for (std::size_t j = 0; j < n; ++j)
        for (std::size_t i = 0; i < k; ++i) {
            const double a = s(j, i), b = s(j, k + i);
            m(j, i) = a;
            m(n + j, i) = b;
            for (std::size_t c = 0; c < k; ++c) m((2 + c) * n + j, i) = c == i ? b : a;
        }
    return m;
}

Matrix latinHypercube(std::size_t n, std::size_t k, std::uint64_t seed) {
    if (n < 1 || k < 1) throw InputError(fmt::format("sensitivity: a Latin hypercube of {} points in {} dimensions", n, k));
    Matrix m(n, k);
    std::vector<std::size_t> perm(n);
    for (std::size_t d = 0; d < k; ++d) {
        std::iota(perm.begin(), perm.end(), std::size_t{0});
        for (std::size_t i = n; i > 1; --i) std::swap(perm[i - 1], perm[below(word(seed, detail::kLatin, d, i, 0), i)]);
        for (std::size_t i = 0; i < n; ++i)
            m(i, d) = (static_cast<double>(perm[i]) + unit(word(seed, detail::kLatin, d, i, 1))) / static_cast<double>(n);
    }
    return m;
}

namespace {

// One Morris trajectory (k + 1 rows), candidate number `c`.
void morrisTrajectory(std::size_t c, std::size_t k, int levels, std::uint64_t seed, double* rows, std::size_t* moved, double* step) {
    const auto half = static_cast<std::uint64_t>(levels / 2);
    const double denom = static_cast<double>(levels - 1);
    std::vector<std::uint64_t> level(k);
    std::vector<int> dir(k);
    for (std::size_t i = 0; i < k; ++i) {
        dir[i] = (word(seed, detail::kMorris, c, i, 0) >> 63) ? 1 : -1;
        // Up from the lower half of the levels, down from the upper half: the step stays in [0, 1].
        const std::uint64_t l = below(word(seed, detail::kMorris, c, i, 1), half);
        level[i] = dir[i] > 0 ? l : l + half;
    }
    std::vector<std::size_t> order(k);
    std::iota(order.begin(), order.end(), std::size_t{0});
    for (std::size_t i = k; i > 1; --i) std::swap(order[i - 1], order[below(word(seed, detail::kMorris, c, i, 2), i)]);
    for (std::size_t i = 0; i < k; ++i) rows[i] = static_cast<double>(level[i]) / denom;
    moved[0] = k;
    step[0] = 0;
    const double delta = static_cast<double>(levels) / (2.0 * denom);
    for (std::size_t j = 0; j < k; ++j) {
        double* prev = rows + j * k;
        double* cur = rows + (j + 1) * k;
        std::copy(prev, prev + k, cur);
        const std::size_t f = order[j];
        level[f] = dir[f] > 0 ? level[f] + half : level[f] - half;
        cur[f] = static_cast<double>(level[f]) / denom;  // exact grid value, not prev + delta
        moved[j + 1] = f;
        step[j + 1] = dir[f] * delta;
    }
}

// Campolongo et al. (2007)'s spread of two trajectories: the sum of the distances between each
// point of one and each point of the other.
double trajectoryDistance(const double* a, const double* b, std::size_t k) {
    double sum = 0;
    for (std::size_t i = 0; i <= k; ++i)
        for (std::size_t j = 0; j <= k; ++j) {
            double s = 0;
            for (std::size_t z = 0; z < k; ++z) {
                const double d = a[i * k + z] - b[j * k + z];
                s += d * d;
            }
            sum += std::sqrt(s);
        }
    return sum;
}

}  // namespace

MorrisDesign morrisDesign(std::size_t trajectories, std::size_t k, int levels, std::uint64_t seed, std::size_t candidates) {
    if (trajectories < 2) throw InputError(fmt::format("sensitivity: Morris screening needs at least 2 trajectories, got {}", trajectories));
    if (k < 1) throw InputError("sensitivity: Morris screening needs at least 1 parameter");
    if (levels < 2 || levels % 2 != 0) throw InputError(fmt::format("sensitivity: Morris levels must be even and at least 2, got {}", levels));
    if (candidates != 0 && candidates < trajectories)
        throw InputError(fmt::format("sensitivity: {} candidate trajectories to choose {} from", candidates, trajectories));
    const std::size_t perTrajectory = (k + 1) * k;
    const std::size_t drawn = candidates ? candidates : trajectories;
    std::vector<double> all(drawn * perTrajectory);
    std::vector<std::size_t> moved(drawn * (k + 1));
    std::vector<double> step(drawn * (k + 1));
    for (std::size_t c = 0; c < drawn; ++c)
        morrisTrajectory(c, k, levels, seed, all.data() + c * perTrajectory, moved.data() + c * (k + 1), step.data() + c * (k + 1));
    std::vector<std::size_t> keep(trajectories);
    std::iota(keep.begin(), keep.end(), std::size_t{0});
    if (candidates > trajectories) {
        std::vector<double> dist(drawn * drawn, 0);
        for (std::size_t a = 0; a < drawn; ++a)
            for (std::size_t b = a + 1; b < drawn; ++b)
                dist[a * drawn + b] = dist[b * drawn + a] = trajectoryDistance(all.data() + a * perTrajectory, all.data() + b * perTrajectory, k);
        std::size_t ba = 0, bb = 1;
        for (std::size_t a = 0; a < drawn; ++a)
            for (std::size_t b = a + 1; b < drawn; ++b)
                if (dist[a * drawn + b] > dist[ba * drawn + bb]) ba = a, bb = b;
        keep = {ba, bb};
        std::vector<double> toKept(drawn, 0);
        std::vector<bool> taken(drawn, false);
        taken[ba] = taken[bb] = true;
        for (std::size_t c = 0; c < drawn; ++c) toKept[c] = dist[c * drawn + ba] + dist[c * drawn + bb];
        while (keep.size() < trajectories) {
            std::size_t best = drawn;
            for (std::size_t c = 0; c < drawn; ++c)
                if (!taken[c] && (best == drawn || toKept[c] > toKept[best])) best = c;
            taken[best] = true;
            keep.push_back(best);
            for (std::size_t c = 0; c < drawn; ++c) toKept[c] += dist[c * drawn + best];
        }
        std::sort(keep.begin(), keep.end());
    }
    MorrisDesign d;
    d.trajectories = trajectories;
    d.k = k;
    d.levels = levels;
    d.delta = static_cast<double>(levels) / (2.0 * static_cast<double>(levels - 1));
    d.points = Matrix(trajectories * (k + 1), k);
    for (std::size_t t = 0; t < trajectories; ++t) {
        const std::size_t c = keep[t];
        std::copy_n(all.data() + c * perTrajectory, perTrajectory, d.points.data.data() + t * perTrajectory);
        d.moved.insert(d.moved.end(), moved.begin() + static_cast<std::ptrdiff_t>(c * (k + 1)), moved.begin() + static_cast<std::ptrdiff_t>((c + 1) * (k + 1)));
        d.step.insert(d.step.end(), step.begin() + static_cast<std::ptrdiff_t>(c * (k + 1)), step.begin() + static_cast<std::ptrdiff_t>((c + 1) * (k + 1)));
    }
    return d;
}

}  // namespace nkscape::sensitivity
