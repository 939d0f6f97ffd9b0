// Issue 11: a complete response that relapses in some patients and stays cured in others, in
// proportions that converge as patients grow (tests/data/trial/cure-or-relapse.toml: four weekly
// ablations leave about one cell, whose fate the small-clone rule decides per patient).
// Patient i is the same whatever the trial's size (its draws and its small-clone stream are keyed
// by (seed, i)), so the first 100, 400 and 1,600 patients are nested samples of one population.

#include <gtest/gtest.h>

#include <cmath>

#include "nkscape/stats/binomial.hpp"
#include "nkscape/trial/trial.hpp"

namespace nkscape {
namespace {

TEST(TrialRelapse, CompleteResponsesRelapseInSomePatientsAndStayCuredInOthersWithConvergingShares) {
    const auto t = trial::loadTrial(std::filesystem::path(NKSCAPE_SOURCE_DIR) / "tests/data/trial/cure-or-relapse.toml");
    ASSERT_EQ(t.patients, 1600);
    trial::TrialRunOptions o;
    o.threads = 2;
    const auto run = trial::runTrial(t, o);
    ASSERT_EQ(run.records.size(), 1600u);
    std::size_t cured = 0, relapsed = 0, undecided = 0;
    std::vector<double> share;  // cured share of the first 100, 400, 1600
    for (std::size_t i = 0; i < run.records.size(); ++i) {
        const auto& r = run.records[i];
        ASSERT_FALSE(r.failed) << r.failure;
        ASSERT_EQ(r.best, trial::Response::CR) << "patient " << i;  // every tumour disappears first
        if (r.cured) {
            ++cured;
            EXPECT_FALSE(r.pfsEvent) << "a cured patient cannot progress (patient " << i << ")";
        } else if (r.pfsEvent) {
            ++relapsed;  // CR, then the residual cells regrew into a lesion: PD
        } else {
            ++undecided;  // still below the detection limit at the end of follow-up
        }
        if (i + 1 == 100 || i + 1 == 400 || i + 1 == 1600) share.push_back(static_cast<double>(cured) / static_cast<double>(i + 1));
    }
    // Both fates are common: each at least 10 % of 1,600 (measured 25 % cured).
    EXPECT_GE(cured, 160u);
    EXPECT_GE(relapsed, 160u);
    EXPECT_LE(undecided, 32u);  // at most 2 % undecided after 8 years
    // Convergence: the smaller samples' shares lie within 3 binomial standard errors of the
    // 1,600-patient share, and the exact 95 % interval at 1,600 is narrower than 5 points.
    const double p = share[2];
    for (const auto& [k, n] : {std::pair{0, 100.0}, std::pair{1, 400.0}})
        EXPECT_LE(std::abs(share[static_cast<std::size_t>(k)] - p), 3.0 * std::sqrt(p * (1 - p) / n)) << "first " << n << " patients";
    const auto ci = stats::clopperPearson(static_cast<std::int64_t>(cured), 1600);
    EXPECT_LT(ci.high - ci.low, 0.05);
    RecordProperty("cured_share_100_400_1600", std::to_string(share[0]) + " " + std::to_string(share[1]) + " " + std::to_string(share[2]));
}

}  // namespace
}  // namespace nkscape
