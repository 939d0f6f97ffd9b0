#pragma once
/// \file
/// Global sensitivity analysis (issue 12, item 4; docs/sensitivity.md): designs in the unit
/// hypercube, evaluation of a design in parallel, and the estimators — Morris elementary effects,
/// Sobol first-order and total indices with bootstrap confidence intervals, and partial rank
/// correlation coefficients (PRCC).
///
/// This part is pure numerics: it knows nothing of the model. A design is a matrix of points in
/// [0, 1]^k; a ParameterSpace maps a unit point to parameter values (uniform or log-uniform on
/// each range); a PointFunction turns a point into outputs. The tests drive it with analytic
/// functions (Ishigami, the Sobol g-function); `nkscape sensitivity` with calibration::Evaluator.
///
/// Reproducibility: every random number (the digital shift of the Sobol sequence, Latin hypercube
/// permutations, Morris trajectories, bootstrap resamples) comes from a Random123 Philox4x64-10
/// stream keyed by (seed, purpose), with counters naming what is drawn; evaluation writes each
/// point's outputs at the point's index. Results are therefore the same bytes for any number of
/// threads, any number of MPI ranks and any order of evaluation.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace nkscape::sensitivity {

/// A dense row-major matrix of doubles: a design (one point a row) or outputs (one point a row,
/// one output a column).
struct Matrix {
    std::size_t rows = 0, cols = 0;
    std::vector<double> data;  ///< rows × cols, row-major

    Matrix() = default;
    Matrix(std::size_t r, std::size_t c, double fill = 0) : rows(r), cols(c), data(r * c, fill) {}
    [[nodiscard]] double& operator()(std::size_t r, std::size_t c) { return data[r * cols + c]; }
    [[nodiscard]] double operator()(std::size_t r, std::size_t c) const { return data[r * cols + c]; }
    [[nodiscard]] std::span<const double> row(std::size_t r) const { return {data.data() + r * cols, cols}; }
    [[nodiscard]] std::span<double> row(std::size_t r) { return {data.data() + r * cols, cols}; }
    /// Column `c` as a vector (a copy).
    [[nodiscard]] std::vector<double> column(std::size_t c) const;
};

// ---- parameter space ---------------------------------------------------------------------------

/// How a unit coordinate u ∈ [0, 1] maps onto a parameter's range.
enum class Scale {
    Linear,  ///< low + u (high − low): uniform on the range
    Log,     ///< low (high / low)^u: log-uniform (needs low > 0)
};

/// One varied parameter: a name and its range, in whatever unit the caller uses.
struct Dimension {
    std::string name;
    double low = 0, high = 1;
    Scale scale = Scale::Linear;
};

/// The scale a range gets unless the analysis says otherwise: log-uniform when it spans at least
/// ten-fold with low > 0 (a rate known to an order of magnitude is as likely 2× as 0.5× its
/// middle), else uniform.
[[nodiscard]] Scale defaultScale(double low, double high) noexcept;

/// `u` (in [0, 1]) on `d`'s range; the result is clamped to [low, high], so rounding in the
/// log-uniform map can never step outside the range.
[[nodiscard]] double fromUnit(const Dimension& d, double u);

/// The unit coordinate of value `v` on `d`'s range (the inverse of fromUnit), clamped to [0, 1].
[[nodiscard]] double toUnit(const Dimension& d, double v);

/// Every coordinate of `unit` mapped by fromUnit. \throws InputError if the sizes differ.
[[nodiscard]] std::vector<double> fromUnit(std::span<const Dimension> dims, std::span<const double> unit);

/// Why `d` is not a usable dimension ("" if it is): a finite range with low < high, and low > 0
/// for Scale::Log.
[[nodiscard]] std::string dimensionProblem(const Dimension& d);

// ---- designs -----------------------------------------------------------------------------------

/// The largest number of parameters a Saltelli design takes: the Sobol sequence needs 2k
/// dimensions and Boost's Joe–Kuo table has 3667.
inline constexpr std::size_t kMaxSobolParameters = 1833;

/// `n` points of the first `dims` dimensions of the Sobol sequence (Joe & Kuo 2008 direction
/// numbers, boost::random::sobol), the origin included, with a random digital shift
/// (each coordinate's 64 bits XOR a Philox word keyed by `seed`: an (t, m, s)-net stays one, and
/// the seed picks one of many equally good sequences). Coordinates are in (0, 1), never 0 or 1.
/// \throws InputError if dims is 0 or above 3667.
[[nodiscard]] Matrix sobolSequence(std::size_t n, std::size_t dims, std::uint64_t seed);

/// Saltelli's design for Sobol indices: a 2k-dimensional shifted Sobol sequence of `n` points
/// gives A (its first k columns) and B (its last k); AB_i is A with column i taken from B.
/// Rows: A (n rows), then B (n rows), then AB_1 … AB_k (n rows each) — n (k + 2) points.
/// \throws InputError if n < 2, k < 1 or k > kMaxSobolParameters.
[[nodiscard]] Matrix saltelliDesign(std::size_t n, std::size_t k, std::uint64_t seed);

/// A Latin hypercube of `n` points in k dimensions: in each dimension the n strata [j/n, (j+1)/n)
/// are each hit once, in a Philox-keyed random order, at a uniform position within the stratum.
/// \throws InputError if n < 1 or k < 1.
[[nodiscard]] Matrix latinHypercube(std::size_t n, std::size_t k, std::uint64_t seed);

/// A Morris design: `trajectories` one-at-a-time paths of k + 1 points each on a p-level grid.
struct MorrisDesign {
    std::size_t trajectories = 0, k = 0;
    int levels = 4;
    double delta = 0;  ///< the step, p / (2 (p − 1)) of the unit range
    Matrix points;     ///< trajectories × (k + 1) rows, trajectory by trajectory
    /// Per row: the factor that changed from the previous row of its trajectory (k for a
    /// trajectory's first point), and the signed step (±delta; 0 for a first point).
    std::vector<std::size_t> moved;
    std::vector<double> step;
};

/// Morris (1991) trajectories: each starts at a random grid point x on levels {0, 1/(p−1), …, 1},
/// then moves each factor once, in a random order, by +delta or −delta (the direction drawn, the
/// start chosen so that the step stays in [0, 1]). With `candidates` > trajectories, that many
/// trajectories are drawn and `trajectories` of them kept that are spread far apart (Campolongo et
/// al. 2007's criterion, the sum of the distances between points of two trajectories, maximised
/// greedily: the farthest pair first, then each time the trajectory farthest from those kept).
/// \throws InputError if trajectories < 2, k < 1, levels is odd or below 2, or candidates is
/// neither 0 nor ≥ trajectories.
[[nodiscard]] MorrisDesign morrisDesign(std::size_t trajectories, std::size_t k, int levels, std::uint64_t seed, std::size_t candidates = 0);

/// A one-at-a-time "touch" design: row 0 is `base` (unit coordinates), row i + 1 is `base` with
/// coordinate i moved to the end of [0, 1] farther from it. A parameter whose row gives outputs
/// identical to row 0's cannot be seen by them at the baseline (docs/sensitivity.md, "Screening").
[[nodiscard]] Matrix touchDesign(std::span<const double> base);

// ---- evaluation --------------------------------------------------------------------------------

/// The outputs at design row `index`, point `unit`; NaN marks an output that could not be
/// computed there. Called from several threads at once: it must be thread-safe.
using PointFunction = std::function<std::vector<double>(std::size_t index, std::span<const double> unit)>;

/// How a design is evaluated.
struct EvaluationOptions {
    int threads = 1;  ///< worker threads (≥ 1)
    int rank = 0;     ///< this process; it evaluates the rows i with i % ranks == rank
    int ranks = 1;
    /// Called with (rows done, rows of this rank) after each row, under a lock; may be empty.
    std::function<void(std::size_t done, std::size_t total)> progress;
};

/// Evaluates the rows of `points` that belong to this rank on `options.threads` threads; returns
/// a points.rows × outputs matrix with NaN in the rows of other ranks. Each row's outputs go to
/// the row's place, so the result does not depend on the threads or the order they ran in.
/// \throws whatever `f` throws (the first exception, after the other threads stop), InputError if
/// `f` returns the wrong number of outputs.
[[nodiscard]] Matrix evaluateDesign(const Matrix& points, std::size_t outputs, const PointFunction& f, const EvaluationOptions& options);

// ---- estimators --------------------------------------------------------------------------------

/// A point estimate with its 95 % confidence interval.
struct Estimate {
    double value = 0;
    double low = 0, high = 0;
};

/// Sobol indices of one output.
struct SobolIndices {
    std::vector<Estimate> first;  ///< S_i, Saltelli et al. 2010 (their Table 2, b)
    std::vector<Estimate> total;  ///< S_Ti, Jansen 1999 (Saltelli et al. 2010, Table 2, f)
    double mean = 0, variance = 0;  ///< of the 2n outputs of A and B
};

/// Sobol indices from the outputs `y` of a saltelliDesign(n, k, …) (same row order), with
/// percentile-bootstrap 95 % intervals from `bootstrap` resamples of the n rows (Philox keyed by
/// `seed`; 0 resamples gives intervals equal to the estimate). Every output must be finite.
///   S_i  = (1/n) Σ_j f(B)_j (f(AB_i)_j − f(A)_j) / V
///   S_Ti = (1/2n) Σ_j (f(A)_j − f(AB_i)_j)² / V
/// with V the variance of the 2n values f(A), f(B) (outputs centred on their mean first).
/// \throws InputError if y has the wrong size or a non-finite value, or V = 0 (an output that
///         does not vary has no indices).
[[nodiscard]] SobolIndices sobolIndices(std::span<const double> y, std::size_t n, std::size_t k, std::size_t bootstrap, std::uint64_t seed);

/// The same estimators on the base rows j whose outputs are finite in every block (A_j, B_j and
/// each AB_i,j); the others are dropped whole, so the estimate is that of the region where the
/// output exists. `dropped` receives their number.
/// 	hrows InputError as sobolIndices, or if fewer than 2 rows remain.
[[nodiscard]] SobolIndices sobolIndicesOfFiniteRows(std::span<const double> y, std::size_t n, std::size_t k, std::size_t bootstrap,
                                                    std::uint64_t seed, std::size_t& dropped);

/// Morris statistics of one output.
struct MorrisIndices {
    std::vector<double> mu;         ///< mean elementary effect
    std::vector<Estimate> muStar;   ///< mean absolute elementary effect, bootstrap 95 % CI
    std::vector<double> sigma;      ///< standard deviation of the effects (n − 1); NaN below 2 effects
    std::vector<std::size_t> effects;  ///< effects used (a step with a non-finite end is dropped)
};

/// Elementary effects EE = (f(x + step e_i) − f(x)) / step (per unit of the unit range) from the
/// outputs `y` of `design` (same row order); mu* gets percentile-bootstrap 95 % intervals from
/// `bootstrap` resamples of whole trajectories (Philox keyed by `seed`). Non-finite outputs drop
/// the effects that use them (counted in `effects`).
/// \throws InputError if y has the wrong size.
[[nodiscard]] MorrisIndices morrisIndices(const MorrisDesign& design, std::span<const double> y, std::size_t bootstrap, std::uint64_t seed);

/// PRCC of one output.
struct PrccIndices {
    std::vector<Estimate> prcc;  ///< with a 95 % interval from Fisher's z (se 1/√(n − 3 − (k − 1)))
    std::vector<double> pValue;  ///< two-sided, t = r √((n − 2 − (k − 1)) / (1 − r²)) on n − 2 − (k − 1) df
    std::size_t used = 0;        ///< rows with a finite output
};

/// Partial rank correlation of each column of `x` with `y` given the other columns (Marino et al.
/// 2008): ranks (ties averaged), then the correlation of the residuals of rank(x_i) and rank(y)
/// after least-squares regression on the other ranked columns and a constant. Rows whose output
/// is not finite are dropped.
/// \throws InputError if sizes differ or fewer than k + 3 rows remain.
[[nodiscard]] PrccIndices prcc(const Matrix& x, std::span<const double> y);

/// Ranks of `v`, 1-based, ties given their average rank.
[[nodiscard]] std::vector<double> ranks(std::span<const double> v);

}  // namespace nkscape::sensitivity
