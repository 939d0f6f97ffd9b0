// The twin on synthetic patients (docs/twin.md, "Validation"): K patients drawn from the shipped
// TNBC population with known parameters, measured as the trial engine measures (per-lesion
// lognormal error), given to the twin; then (i) coverage: the share of true prior values inside
// the twin's 90 % credible intervals, pooled over patients and the continuous priors that apply,
// and (ii) ranking: the share of patients whose twin-ranked best regimen is among the truth's best
// (noise-free outcomes). ctest -L validation runs a short form (K = NKSCAPE_TWIN_PATIENTS, default
// 10); scripts/twin-study.sh runs a longer one (label twin-study).

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "nkscape/trial/trial.hpp"
#include "nkscape/twin/twin.hpp"

using namespace nkscape;

namespace {

std::int64_t envInt(const char* name, std::int64_t fallback) {
    const char* v = std::getenv(name);
    return v && *v ? std::stoll(v) : fallback;
}

}  // namespace

TEST(TwinStudy, CoverageAndRankingOnSyntheticPatients) {
    const char* file = std::getenv("NKSCAPE_TWIN_REGIMENS");
    const auto t = trial::loadTrial(std::string(NKSCAPE_SOURCE_DIR) + "/" + (file && *file ? file : "scenarios/twin/tnbc-regimens.toml"));
    const std::int64_t K = envInt("NKSCAPE_TWIN_PATIENTS", 10);
    twin::TwinOptions o;
    o.particles = envInt("NKSCAPE_TWIN_PARTICLES", 150);
    o.generations = 30;
    o.moves = static_cast<int>(envInt("NKSCAPE_TWIN_MOVES", 4));
    o.threads = static_cast<int>(envInt("NKSCAPE_TWIN_THREADS", 2));
    const std::vector<double> days = {0, 42, 84};
    std::size_t inside = 0, total = 0, insideInformed = 0, totalInformed = 0, rankedBest = 0;
    double chance = 0;
    std::size_t concordant = 0, pairs = 0;
    std::vector<std::size_t> bestCount(t.arms.size(), 0);
    for (std::int64_t i = 0; i < K; ++i) {
        const auto sp = twin::synthesisePatient(t, t.subtypes.front().first, days, 777, static_cast<std::uint64_t>(i));
        o.seed = 1000 + static_cast<std::uint64_t>(i);
        const auto r = twin::runTwin(t, sp.patient, o);
        std::size_t in = 0, n = 0;
        for (std::size_t k = 0; k < t.priors.size(); ++k) {
            const auto& d = t.priors[k].distribution;
            using T = trial::Distribution::Type;
            if (d.type == T::Fixed || d.type == T::Discrete || std::isnan(sp.values[k])) continue;
            const auto [lo, hi] = twin::credibleInterval(r, k, 0.9);
            const bool ok = sp.values[k] >= lo && sp.values[k] <= hi;
            in += ok ? 1 : 0;
            ++n;
            if (!ok && std::getenv("NKSCAPE_TWIN_VERBOSE"))
                fmt::print("  missed '{}': truth {:.4g}, 90 % interval [{:.4g}, {:.4g}]\n", t.priors[k].name, sp.values[k], lo, hi);
            // The priors the measurements inform: the burden, the doubling time, the blood NK count.
            const auto kind = t.priors[k].target.kind;
            if (kind == trial::PriorTarget::Kind::TumourCells || t.priors[k].name == "doubling time" || t.priors[k].name == "blood NK count") {
                insideInformed += ok ? 1 : 0;
                ++totalInformed;
            }
        }
        inside += in;
        total += n;
        const auto best = twin::trueBestRegimens(sp);
        const std::size_t pick = twin::bestRegimen(r);
        const bool hit = std::find(best.begin(), best.end(), pick) != best.end();
        rankedBest += hit ? 1 : 0;
        chance += static_cast<double>(best.size()) / static_cast<double>(t.arms.size());
        for (std::size_t b : best) ++bestCount[b];
        // Pairwise concordance of the whole order: a pair the truth orders strictly (response,
        // then PFS beyond 1 d, then best change) counts when the twin's ranks order it the same way.
        for (std::size_t a = 0; a < t.arms.size(); ++a)
            for (std::size_t b = 0; b < t.arms.size(); ++b) {
                if (a == b) continue;
                const bool truthBetter = sp.response[a] != sp.response[b] ? sp.response[a] > sp.response[b]
                                         : std::abs(sp.pfs_d[a] - sp.pfs_d[b]) > 1.0 ? sp.pfs_d[a] > sp.pfs_d[b]
                                                                                       : sp.bestChangePct[a] < sp.bestChangePct[b] - 1e-6;
                if (!truthBetter) continue;
                ++pairs;
                concordant += r.regimens[a].rank < r.regimens[b].rank ? 1 : 0;
            }
        fmt::print("patient {}: {}/{} priors covered; twin best '{}', true best {} of {} ({}); best change truth",
                   i, in, n, t.arms[pick].name, best.size(), t.arms.size(), hit ? "hit" : "miss");
        for (double b : sp.bestChangePct) fmt::print(" {:.1f}", b);
        fmt::print(", twin");
        for (const auto& g : r.regimens) fmt::print(" {:.1f}", g.bestChangeMedianPct);
        fmt::print("\n");
    }
    const double coverage = static_cast<double>(inside) / static_cast<double>(total);
    const double coverageInformed = static_cast<double>(insideInformed) / static_cast<double>(totalInformed);
    const double ranking = static_cast<double>(rankedBest) / static_cast<double>(K);
    chance /= static_cast<double>(K);
    const double majority = static_cast<double>(*std::max_element(bestCount.begin(), bestCount.end())) / static_cast<double>(K);
    const double concordance = pairs ? static_cast<double>(concordant) / static_cast<double>(pairs) : 0.0;
    fmt::print("TWIN STUDY: K = {} patients, {} particles: coverage of 90 % intervals {:.3f} ({} of {} prior values); informed priors "
               "(burden, doubling time, blood NK) {:.3f} ({} of {}); ranking recovers the true best regimen in {:.3f} ({} of {}); chance {:.3f}; the most frequent true best is best in {:.3f}; "
               "pairwise order concordance {:.3f} ({} of {} strictly ordered pairs)\n",
               K, o.particles, coverage, inside, total, coverageInformed, insideInformed, totalInformed, ranking, rankedBest, K, chance, majority,
               concordance, concordant, pairs);
    // Tolerance: pooled values are not independent within a patient; with K = 10 and ~20 values
    // each, ±0.07 is about three binomial standard errors of 200 independent values (0.021) widened
    // for the within-patient correlation.
    EXPECT_NEAR(coverage, 0.90, 0.07);
    // The informed priors alone: ~3 per patient, so ±0.17 (three standard errors of 30 values).
    EXPECT_NEAR(coverageInformed, 0.90, 0.17);
    EXPECT_GT(ranking, chance + 0.15);
    // The whole order, not only the first place: better than a coin (0.5) per pair.
    EXPECT_GT(concordance, 0.6);
}
