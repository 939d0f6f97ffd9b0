// The twin's sampler (docs/twin.md, "Inference"): sequential Monte Carlo with adaptive likelihood
// tempering and random-walk Metropolis moves on a standard-normal prior (the whitened copula
// scores of a population's priors), categorical latents moved by independent redraws from their
// prior. Deterministic for any thread count: each particle's random numbers come from a Philox
// stream keyed by (seed, purpose) with counters (stage, particle, step), and every reduction
// (weights, covariance, ESS) runs in particle order on one thread.

#include <Random123/philox.h>

#include <Eigen/Cholesky>
#include <Eigen/Dense>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <limits>
#include <mutex>
#include <numeric>
#include <thread>

#include <boost/math/distributions/normal.hpp>
#include <fmt/format.h>

#include "nkscape/error.hpp"
#include "nkscape/twin/twin.hpp"
#include "io/parallel_for.hpp"

namespace nkscape::twin {

namespace {

// What a stream draws (the key's second word), so that no two uses share a number.
enum Purpose : std::uint64_t { kInitial = 0x7477696e01, kResample = 0x7477696e02, kMove = 0x7477696e03 };

constexpr double kInf = std::numeric_limits<double>::infinity();

double unit(std::uint64_t x) { return (static_cast<double>(x >> 11) + 0.5) * 0x1p-53; }  // in (0, 1)

/// Four numbers in (0, 1) from (seed, purpose) at counter (a, b, c, d).
std::array<double, 4> uniforms(std::uint64_t seed, std::uint64_t purpose, std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint64_t d) {
    const r123::Philox4x64::key_type key = {{seed, purpose}};
    const r123::Philox4x64::ctr_type ctr = {{a, b, c, d}};
    const auto r = r123::Philox4x64()(ctr, key);
    return {unit(r[0]), unit(r[1]), unit(r[2]), unit(r[3])};
}

const boost::math::normal kStdNormal;
double normalQuantile(double p) { return boost::math::quantile(kStdNormal, p); }

/// A stream of standard normals and uniforms for one (purpose, a, b, c) — counter d advances.
class Stream {
public:
    Stream(std::uint64_t seed, std::uint64_t purpose, std::uint64_t a, std::uint64_t b, std::uint64_t c)
        : seed_(seed), purpose_(purpose), a_(a), b_(b), c_(c) {}
    double uniform() {
        if (next_ == 4) {
            buf_ = uniforms(seed_, purpose_, a_, b_, c_, d_++);
            next_ = 0;
        }
        return buf_[next_++];
    }
    double normal() { return normalQuantile(uniform()); }

private:
    std::uint64_t seed_, purpose_, a_, b_, c_, d_ = 0;
    std::array<double, 4> buf_{};
    int next_ = 4;
};

std::size_t category(const std::vector<double>& cumulative, double u) {
    const auto it = std::lower_bound(cumulative.begin(), cumulative.end(), u);
    return std::min<std::size_t>(static_cast<std::size_t>(it - cumulative.begin()), cumulative.size() - 1);
}

double logPrior(const Particle& p) {
    double s = 0;
    for (double x : p.u) s += x * x;
    return -0.5 * s;
}

double logSumExp(const std::vector<double>& v) {
    double m = -std::numeric_limits<double>::infinity();
    for (double x : v) m = std::max(m, x);
    if (!std::isfinite(m)) return m;
    double s = 0;
    for (double x : v) s += std::exp(x - m);
    return m + std::log(s);
}

using io::detail::parallelFor;

/// ESS of weights exp(logw) (unnormalised).
double ess(const std::vector<double>& logw) {
    const double l = logSumExp(logw);
    if (!std::isfinite(l)) return 0;
    double s2 = 0;
    for (double x : logw) {
        const double w = std::exp(x - l);
        s2 += w * w;
    }
    return 1.0 / s2;
}

}  // namespace

void checkOptions(const TwinOptions& o) {
    if (o.particles < kMinParticles || o.particles > kMaxParticles)
        throw InputError(fmt::format("--particles must be in [{}, {}], got {}", kMinParticles, kMaxParticles, o.particles));
    if (o.generations < 1 || o.generations > kMaxGenerations)
        throw InputError(fmt::format("--generations must be in [1, {}], got {}", kMaxGenerations, o.generations));
    if (o.moves < 1 || o.moves > 100) throw InputError(fmt::format("Metropolis moves per stage must be in [1, 100], got {}", o.moves));
    if (!(o.essFraction > 0.05 && o.essFraction < 0.95)) throw InputError(fmt::format("the ESS fraction must be in (0.05, 0.95), got {}", o.essFraction));
    if (o.threads < 1) throw InputError(fmt::format("--threads must be >= 1, got {}", o.threads));
}

SamplerResult sampleTempered(const SamplerProblem& problem, const TwinOptions& o) {
    checkOptions(o);
    const auto n = static_cast<std::size_t>(o.particles);
    const std::size_t d = problem.dimensions;
    SamplerResult out;
    std::atomic<std::size_t> evaluations{0};
    const std::size_t bound = n * (1 + static_cast<std::size_t>(o.generations + 2) * static_cast<std::size_t>(o.moves));
    std::mutex progressMutex;
    auto tick = [&] {
        const std::size_t e = ++evaluations;
        if (o.progress) {
            const std::lock_guard lock(progressMutex);
            o.progress(e, bound);
        }
    };
    auto admissible = [&](const Particle& p) { return !problem.admissible || problem.admissible(p); };

    // ---- stage 0: the prior, restricted to the admissible set (rejection, per particle) ----------
    std::vector<Particle> ps(n);
    std::vector<std::size_t> draws(n, 0);
    parallelFor(n, o.threads, [&](std::size_t i, int w) {
        Particle p;
        p.u.resize(d);
        p.attributes.resize(problem.categories.size());
        for (std::int64_t attempt = 0; attempt < kMaxPriorDraws; ++attempt) {
            Stream s(o.seed, kInitial, i, static_cast<std::uint64_t>(attempt), 0);
            for (auto& x : p.u) x = s.normal();
            for (std::size_t c = 0; c < problem.categories.size(); ++c) p.attributes[c] = category(problem.categories[c], s.uniform());
            draws[i] = static_cast<std::size_t>(attempt) + 1;
            if (admissible(p)) {
                p.logLikelihood = problem.logLikelihood(p, w);
                tick();
                ps[i] = std::move(p);
                return;
            }
        }
        throw InputError(fmt::format("no prior draw in {} reproduces the patient's observed biomarkers, attributes and lesions (particle {}); "
                                     "check them against the population's cut-offs",
                                     kMaxPriorDraws, i));
    });
    out.priorDraws = std::accumulate(draws.begin(), draws.end(), std::size_t{0});
    if (std::none_of(ps.begin(), ps.end(), [](const Particle& p) { return std::isfinite(p.logLikelihood); }))
        throw InputError(fmt::format("none of {} prior particles can produce the patient's measurements (every likelihood is 0): the "
                                     "measurements lie outside what the population can produce",
                                     n));

    // ---- tempering stages -------------------------------------------------------------------------
    double beta = 0;
    double scale = 2.38 / std::sqrt(static_cast<double>(std::max<std::size_t>(d, 1)));
    double lambda = 0.5;  // the prior-preserving moves' ρ_k = min(1, λ·sd_k)
    std::vector<double> logw(n), inc(n);
    for (std::int64_t stage = 1; stage <= o.generations && beta < 1; ++stage) {
        Stage st;
        // The next β: ESS of the incremental weights = essFraction·N, or 1 if that is reached.
        auto essAt = [&](double b) {
            for (std::size_t i = 0; i < n; ++i) inc[i] = std::isfinite(ps[i].logLikelihood) ? (b - beta) * ps[i].logLikelihood : -kInf;
            return ess(inc);
        };
        const double target = o.essFraction * static_cast<double>(n);
        double next = 1.0;
        const bool short_ = essAt(1.0) < target;
        st.forced = short_ && stage == o.generations;
        if (stage < o.generations && short_) {
            double lo = beta, hi = 1.0;
            for (int it = 0; it < 60; ++it) {
                const double mid = 0.5 * (lo + hi);
                (essAt(mid) >= target ? lo : hi) = mid;
            }
            next = std::max(lo, beta + 1e-12);
        }
        for (std::size_t i = 0; i < n; ++i) logw[i] = std::isfinite(ps[i].logLikelihood) ? (next - beta) * ps[i].logLikelihood : -kInf;
        // A particle with −∞ likelihood has weight 0 at every β > 0 (also at β → 0+).
        const double lse = logSumExp(logw);
        st.logEvidenceIncrement = lse - std::log(static_cast<double>(n));
        out.logEvidence += st.logEvidenceIncrement;
        st.ess = ess(logw);
        st.beta = next;
        // Systematic resampling with one uniform per stage.
        std::vector<double> cum(n);
        double acc = 0;
        for (std::size_t i = 0; i < n; ++i) cum[i] = (acc += std::exp(logw[i] - lse));
        const double u0 = uniforms(o.seed, kResample, static_cast<std::uint64_t>(stage), 0, 0, 0)[0];
        std::vector<Particle> resampled(n);
        std::size_t j = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const double x = (static_cast<double>(i) + u0) / static_cast<double>(n) * acc;
            while (j + 1 < n && cum[j] < x) ++j;
            resampled[i] = ps[j];
        }
        ps = std::move(resampled);
        beta = next;

        // Random-walk proposal: the particles' covariance (shrunk toward its diagonal, so that it
        // is positive definite with fewer particles than dimensions), scaled by 2.38/√d and
        // adapted to the acceptance rate.
        Eigen::MatrixXd chol = Eigen::MatrixXd::Identity(static_cast<Eigen::Index>(d), static_cast<Eigen::Index>(d));
        std::vector<double> sd(d, 1.0);
        if (d > 0) {
            Eigen::VectorXd mean = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(d));
            for (const auto& p : ps)
                for (std::size_t k = 0; k < d; ++k) mean[static_cast<Eigen::Index>(k)] += p.u[k];
            mean /= static_cast<double>(n);
            Eigen::MatrixXd cov = Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(d), static_cast<Eigen::Index>(d));
            for (const auto& p : ps) {
                Eigen::VectorXd x(static_cast<Eigen::Index>(d));
                for (std::size_t k = 0; k < d; ++k) x[static_cast<Eigen::Index>(k)] = p.u[k] - mean[static_cast<Eigen::Index>(k)];
                cov.noalias() += x * x.transpose();
            }
            cov /= static_cast<double>(n);
            for (std::size_t k = 0; k < d; ++k) sd[k] = std::sqrt(cov(static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(k)));
            const double shrink = 0.1;
            Eigen::MatrixXd diag = cov.diagonal().asDiagonal();
            cov = (1 - shrink) * cov + shrink * diag;
            cov.diagonal().array() += 1e-8;
            Eigen::LLT<Eigen::MatrixXd> llt(cov);
            if (llt.info() == Eigen::Success) chol = llt.matrixL();
            else chol = diag.diagonal().array().sqrt().matrix().asDiagonal();
        }
        // Two kernels, alternating: a random walk with the particles' covariance (even moves), and
        // a prior-preserving autoregressive move u'_k = √(1 − ρ_k²)·u_k + ρ_k·ξ_k with
        // ρ_k = min(1, λ·sd_k) (odd moves; a preconditioned Crank–Nicolson move, Cotter et al. 2013
        // Stat Sci 28:424, doi:10.1214/13-STS421): it leaves the N(0, I) prior invariant, so only
        // the likelihood decides, and it redraws the dimensions the data do not inform (sd ≈ 1)
        // almost afresh, which a random walk in ~30 dimensions does only slowly.
        std::vector<std::size_t> acceptedRw(n, 0), acceptedPcn(n, 0);
        // At β = 1 three times the moves: the posterior's uninformed dimensions lose diversity with
        // every resampling and only the moves restore it (docs/twin.md, "Inference").
        const int moves = beta >= 1 ? 3 * o.moves : o.moves;
        std::vector<double> rho(d);
        for (std::size_t k = 0; k < d; ++k) rho[k] = std::min(1.0, lambda * sd[k]);
        parallelFor(n, o.threads, [&](std::size_t i, int w) {
            Particle& p = ps[i];
            for (int m = 0; m < moves; ++m) {
                Stream s(o.seed, kMove, static_cast<std::uint64_t>(stage), i, static_cast<std::uint64_t>(m));
                Particle q = p;
                const bool pcn = m % 2 == 1;
                if (pcn) {
                    for (std::size_t k = 0; k < d; ++k) q.u[k] = std::sqrt(1 - rho[k] * rho[k]) * q.u[k] + rho[k] * s.normal();
                } else {
                    Eigen::VectorXd xi(static_cast<Eigen::Index>(d));
                    for (std::size_t k = 0; k < d; ++k) xi[static_cast<Eigen::Index>(k)] = s.normal();
                    const Eigen::VectorXd step = scale * (chol * xi);
                    for (std::size_t k = 0; k < d; ++k) q.u[k] += step[static_cast<Eigen::Index>(k)];
                }
                // An independent redraw from the prior (probability 1/2 per latent): the prior
                // and proposal ratios cancel, so only the likelihood decides.
                for (std::size_t c = 0; c < problem.categories.size(); ++c) {
                    const double r = s.uniform(), v = s.uniform();
                    if (r < 0.5) q.attributes[c] = category(problem.categories[c], v);
                }
                const double logU = std::log(s.uniform());
                if (!admissible(q)) continue;
                q.logLikelihood = problem.logLikelihood(q, w);
                tick();
                if (!std::isfinite(q.logLikelihood)) continue;
                const double cur = std::isfinite(p.logLikelihood) ? beta * p.logLikelihood : -kInf;
                const double priorRatio = pcn ? 0.0 : logPrior(q) - logPrior(p);
                if (logU < beta * q.logLikelihood - cur + priorRatio) {
                    p = std::move(q);
                    ++(pcn ? acceptedPcn : acceptedRw)[i];
                }
            }
        });
        const double rwMoves = static_cast<double>(n) * static_cast<double>((moves + 1) / 2);
        const double pcnMoves = static_cast<double>(n) * static_cast<double>(moves / 2);
        const double accRw = static_cast<double>(std::accumulate(acceptedRw.begin(), acceptedRw.end(), std::size_t{0})) / rwMoves;
        const double accPcn = pcnMoves > 0 ? static_cast<double>(std::accumulate(acceptedPcn.begin(), acceptedPcn.end(), std::size_t{0})) / pcnMoves : 0.3;
        st.acceptance = (accRw * rwMoves + accPcn * pcnMoves) / (rwMoves + pcnMoves);
        // Keep each kernel's acceptance near the random-walk optimum (~0.23, Roberts et al. 1997).
        if (accRw < 0.15) scale *= 0.7;
        else if (accRw > 0.40) scale *= 1.3;
        if (accPcn < 0.15) lambda *= 0.7;
        else if (accPcn > 0.40) lambda = std::min(4.0, lambda * 1.3);
        out.stages.push_back(st);
    }
    out.particles = std::move(ps);
    out.evaluations = evaluations;
    return out;
}

}  // namespace nkscape::twin
