// Survival statistics against published reference values (R survival: aml; MASS::gehan, the
// Freireich 6-MP trial) and the edge cases: no events, ties, one subject, all censored, bad input.

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "nkscape/error.hpp"
#include "nkscape/stats/binomial.hpp"
#include "nkscape/stats/data.hpp"
#include "nkscape/stats/survival.hpp"

using namespace nkscape;
using namespace nkscape::stats;

namespace {

const std::string kData = std::string(NKSCAPE_SOURCE_DIR) + "/tests/data/stats/";

SurvivalData aml() { return readSurvivalCsv(kData + "aml.csv", {"time", "status", std::string("x")}); }
SurvivalData gehan() { return readSurvivalCsv(kData + "gehan.csv", {"time", "cens", std::string("treat")}); }

/// A row of a temporary curve would dangle (ASan found one): keep the curve in a variable.
const KmRow& rowAt(const KmCurve&& c, double t) = delete;
/// The row of `c` at time `t`.
const KmRow& rowAt(const KmCurve& c, double t) {
    for (const auto& r : c.rows)
        if (r.time == t) return r;
    throw std::runtime_error("no row at " + std::to_string(t));
}

/// Relative agreement to `digits` significant digits.
void expectSig(double actual, double expected, double relTol = 5e-5) {
    EXPECT_NEAR(actual, expected, relTol * std::fabs(expected)) << "expected " << expected;
}

SurvivalGroup group(std::string name, std::vector<Observation> obs) { return {std::move(name), std::move(obs)}; }

/// The exact message of the InputError `f` throws.
template <typename F>
std::string inputErrorOf(F f) {
    try {
        f();
    } catch (const InputError& e) {
        return e.what();
    }
    return "(no InputError)";
}

}  // namespace

TEST(StatsData, AmlAndGehanCounts) {
    const auto a = aml();
    ASSERT_EQ(a.groups.size(), 2u);
    EXPECT_EQ(a.groups[0].name, "Maintained");
    EXPECT_EQ(a.groups[0].observations.size(), 11u);
    EXPECT_EQ(a.groups[1].name, "Nonmaintained");
    EXPECT_EQ(a.groups[1].observations.size(), 12u);
    const auto g = gehan();
    ASSERT_EQ(g.groups.size(), 2u);
    EXPECT_EQ(g.groups[0].name, "6-MP");
    EXPECT_EQ(g.groups[0].observations.size(), 21u);
    EXPECT_EQ(g.groups[1].name, "control");
    EXPECT_EQ(g.groups[1].observations.size(), 21u);
}

TEST(StatsKaplanMeier, AmlMaintainedMatchesR) {
    const auto c = kaplanMeier(aml().groups[0]);
    EXPECT_EQ(c.subjects, 11u);
    EXPECT_EQ(c.events, 7u);
    const auto& r9 = rowAt(c, 9);
    EXPECT_EQ(r9.nRisk, 11u);
    EXPECT_EQ(r9.nEvent, 1u);
    expectSig(r9.survival, 0.909091);
    expectSig(*r9.stdErr, 0.086678);
    const auto& r31 = rowAt(c, 31);
    EXPECT_EQ(r31.nRisk, 5u);
    expectSig(r31.survival, 0.490909);
    expectSig(*r31.stdErr, 0.164193);
    // R: summary(survfit(Surv(time, status) ~ x, aml)), conf.type = "log": 0.7541 .. 1 at t = 9.
    expectSig(*r9.ciLow, 0.7541, 1e-4);
    EXPECT_EQ(*r9.ciHigh, 1.0);
    const auto& r13 = rowAt(c, 13);
    EXPECT_EQ(r13.nEvent, 1u);
    EXPECT_EQ(r13.nCensor, 1u);
    ASSERT_TRUE(c.median.time);
    EXPECT_EQ(*c.median.time, 31.0);
    ASSERT_TRUE(c.median.ciLow);
    EXPECT_EQ(*c.median.ciLow, 18.0);
    EXPECT_FALSE(c.median.ciHigh);  // the upper band never reaches 0.5: not reached
}

TEST(StatsKaplanMeier, MediansAmlNonmaintainedAndSixMp) {
    const auto n = kaplanMeier(aml().groups[1]);
    ASSERT_TRUE(n.median.time);
    EXPECT_EQ(*n.median.time, 23.0);
    ASSERT_TRUE(n.median.ciLow);
    EXPECT_EQ(*n.median.ciLow, 8.0);
    EXPECT_FALSE(n.median.ciHigh);
    const auto mp = kaplanMeier(gehan().groups[0]);
    ASSERT_TRUE(mp.median.time);
    EXPECT_EQ(*mp.median.time, 23.0);
}

TEST(StatsKaplanMeier, MedianOnAFlatAtExactlyOneHalfIsTheMidpoint) {
    // S = 0.75, 0.5, 0.25, 0: R's quantile.survfit gives (2 + 3)/2.
    const auto c = kaplanMeier(group("g", {{1, true}, {2, true}, {3, true}, {4, true}}));
    ASSERT_TRUE(c.median.time);
    EXPECT_DOUBLE_EQ(*c.median.time, 2.5);
    // At S = 0 every interval is undefined, and so is the SE.
    EXPECT_FALSE(c.rows.back().stdErr);
    EXPECT_FALSE(c.rows.back().ciLow);
    // Flat at 0.5 to the end: midpoint of the drop time and the last follow-up.
    const auto f = kaplanMeier(group("g", {{1, true}, {5, false}}));
    ASSERT_TRUE(f.median.time);
    EXPECT_DOUBLE_EQ(*f.median.time, 3.0);
}

TEST(StatsKaplanMeier, NoEventsMeansSurvivalOneAndMedianNotReached) {
    const auto c = kaplanMeier(group("g", {{3, false}, {5, false}, {5, false}, {8, false}}));
    EXPECT_EQ(c.events, 0u);
    ASSERT_EQ(c.rows.size(), 3u);
    for (const auto& r : c.rows) {
        EXPECT_EQ(r.survival, 1.0);
        EXPECT_EQ(*r.stdErr, 0.0);
    }
    EXPECT_EQ(c.rows[1].nCensor, 2u);
    EXPECT_FALSE(c.median.time);
    EXPECT_FALSE(c.median.ciLow);
    EXPECT_FALSE(c.median.ciHigh);
}

TEST(StatsKaplanMeier, AllEventsAtOneTime) {
    const auto c = kaplanMeier(group("g", {{4, true}, {4, true}, {4, true}}));
    ASSERT_EQ(c.rows.size(), 1u);
    EXPECT_EQ(c.rows[0].nRisk, 3u);
    EXPECT_EQ(c.rows[0].nEvent, 3u);
    EXPECT_EQ(c.rows[0].survival, 0.0);
    ASSERT_TRUE(c.median.time);
    EXPECT_EQ(*c.median.time, 4.0);
    // Ties among others: 2 of 4 at t = 2, S = 0.5 exactly until the next event at 5.
    const auto t = kaplanMeier(group("g", {{2, true}, {2, true}, {5, true}, {7, false}}));
    EXPECT_EQ(t.rows[0].nEvent, 2u);
    EXPECT_DOUBLE_EQ(t.rows[0].survival, 0.5);
    EXPECT_DOUBLE_EQ(*t.median.time, 3.5);
}

TEST(StatsKaplanMeier, SingleSubjectAndEmptyGroup) {
    const auto one = kaplanMeier(group("g", {{7, true}}));
    ASSERT_EQ(one.rows.size(), 1u);
    EXPECT_EQ(one.rows[0].survival, 0.0);
    EXPECT_EQ(*one.median.time, 7.0);
    const auto cens = kaplanMeier(group("g", {{7, false}}));
    EXPECT_EQ(cens.rows[0].survival, 1.0);
    EXPECT_FALSE(cens.median.time);
    const auto none = kaplanMeier(group("g", {}));
    EXPECT_TRUE(none.rows.empty());
    EXPECT_FALSE(none.median.time);
}

TEST(StatsKaplanMeier, ConfidenceTransforms) {
    const auto g = aml().groups[0];
    const auto plainCurve = kaplanMeier(g, {ConfType::Plain, 0.95});  // kept: rowAt returns a reference into it
    const auto& plain = rowAt(plainCurve, 31);
    // S ± 1.959964·SE(S), clipped
    expectSig(*plain.ciLow, 0.490909 - 1.959964 * 0.164193, 1e-4);
    expectSig(*plain.ciHigh, 0.490909 + 1.959964 * 0.164193, 1e-4);
    const auto loglog = kaplanMeier(g, {ConfType::LogLog, 0.95});
    const auto& ll = rowAt(loglog, 31);
    EXPECT_LT(*ll.ciLow, ll.survival);
    EXPECT_GT(*ll.ciHigh, ll.survival);
    // exp(−exp(log(−log S) ± z·σ/|log S|)), σ = SE(S)/S, worked by hand from S and SE above.
    const double sigma = 0.164193 / 0.490909;
    const double w = 1.959964 * sigma / -std::log(0.490909);
    expectSig(*ll.ciLow, std::exp(-std::exp(std::log(-std::log(0.490909)) + w)), 1e-4);
    expectSig(*ll.ciHigh, std::exp(-std::exp(std::log(-std::log(0.490909)) - w)), 1e-4);
    // Undefined at S = 1 (before the first event): no interval, not [1, 1].
    const auto early = kaplanMeier(group("g", {{1, false}, {2, true}, {3, true}}), {ConfType::LogLog, 0.95});
    EXPECT_FALSE(early.rows[0].ciLow);
    EXPECT_FALSE(early.rows[0].ciHigh);
    EXPECT_EQ(parseConfType("log-log"), ConfType::LogLog);
    EXPECT_EQ(inputErrorOf([] { (void)parseConfType("logit"); }), "confidence interval type 'logit' is not one of log, log-log, plain");
}

TEST(StatsLogRank, AmlMatchesR) {
    const auto r = logRank(aml());
    EXPECT_EQ(r.degreesOfFreedom, 1);
    expectSig(r.chiSquare, 3.396, 2e-4);
    expectSig(r.pValue, 0.065339, 1e-4);
    EXPECT_EQ(r.groups[0].observed, 7.0);
    expectSig(r.groups[0].expected, 10.69, 1e-3);
    EXPECT_EQ(r.groups[1].observed, 11.0);
    expectSig(r.groups[1].expected, 7.31, 1e-3);
}

TEST(StatsLogRank, SixMpMatchesR) {
    const auto r = logRank(gehan());
    expectSig(r.chiSquare, 16.79294, 1e-5);
    expectSig(r.pValue, 4.169e-5, 1e-3);
    EXPECT_EQ(r.groups[0].observed, 9.0);
    EXPECT_EQ(r.groups[1].observed, 21.0);
}

TEST(StatsLogRank, ThreeGroupsAndAllCensoredGroup) {
    auto d = aml();
    // Censored before the first event (t = 5): never at risk at an event time.
    d.groups.push_back(group("lost", {{1, false}, {2, false}}));
    const auto r = logRank(d);
    EXPECT_EQ(r.degreesOfFreedom, 1);  // the lost group has expected 0 and is left out, as in R
    EXPECT_EQ(r.groups[2].expected, 0.0);
    expectSig(r.chiSquare, 3.396, 2e-4);
    d.groups.back() = group("early", {{1, false}, {6, false}, {10, true}, {40, false}});
    EXPECT_EQ(logRank(d).degreesOfFreedom, 2);
}

TEST(StatsLogRank, Errors) {
    SurvivalData one{"f.csv", {group("A", {{1, true}})}};
    EXPECT_EQ(inputErrorOf([&] { (void)logRank(one); }), "f.csv: the log-rank test needs at least 2 groups; found 1 ('A')");
    SurvivalData cens{"f.csv", {group("A", {{1, false}}), group("B", {{2, false}})}};
    EXPECT_EQ(inputErrorOf([&] { (void)logRank(cens); }), "f.csv: the log-rank test needs at least one event; every subject is censored");
}

TEST(StatsCox, AmlEfronMatchesR) {
    const auto c = coxPhTwoGroups(aml());
    expectSig(c.hazardRatio, 2.498, 2e-4);
    expectSig(c.hrLow, 0.916, 5e-4);
    expectSig(c.hrHigh, 6.813, 1e-4);
    expectSig(c.coef, 0.9155, 1e-4);
    expectSig(c.stdErr, 0.5119, 1e-4);
    expectSig(c.lrChiSquare, 3.38, 2e-3);
    expectSig(c.scoreChiSquare, 3.42, 2e-3);
}

TEST(StatsCox, SixMpEfronMatchesR) {
    const auto c = coxPhTwoGroups(gehan());
    expectSig(c.coef, 1.572125, 1e-6);
    expectSig(c.hazardRatio, 4.817, 1e-4);
    expectSig(c.hrLow, 2.147, 3e-4);  // 2.14651: R prints 2.147
    expectSig(c.hrHigh, 10.809, 1e-4);
    expectSig(c.stdErr, 0.4124, 2e-4);
    expectSig(c.lrChiSquare, 16.35, 1e-3);
    expectSig(c.waldChiSquare, 14.53, 1e-3);
    EXPECT_EQ(c.subjects, 42u);
    EXPECT_EQ(c.events, 30u);
}

TEST(StatsCox, BreslowEqualsEfronWithoutTiesAndDiffersWithThem) {
    SurvivalData d{"untied", {group("A", {{1, true}, {3, true}, {4, false}, {8, true}, {9, true}}),
                              group("B", {{2, true}, {5, true}, {6, true}, {7, false}, {10, true}})}};
    const auto efron = coxPhTwoGroups(d, {Ties::Efron});
    const auto breslow = coxPhTwoGroups(d, {Ties::Breslow});
    EXPECT_NEAR(efron.coef, breslow.coef, 1e-12);
    EXPECT_NEAR(efron.stdErr, breslow.stdErr, 1e-12);
    const auto ge = coxPhTwoGroups(gehan(), {Ties::Efron});
    const auto gb = coxPhTwoGroups(gehan(), {Ties::Breslow});
    EXPECT_GT(std::fabs(ge.coef - gb.coef), 1e-3);
    expectSig(gb.coef, 1.509, 1e-3);  // R: coxph(..., ties = "breslow") on gehan
}

TEST(StatsCox, MonotoneLikelihoodIsAnErrorNotANumber) {
    // Every event in group B: β → +∞.
    SurvivalData d{"mono.csv", {group("A", {{5, false}, {6, false}, {9, false}}), group("B", {{1, true}, {2, true}, {3, true}})}};
    EXPECT_THROW((void)coxPhTwoGroups(d), NonConvergenceError);
    EXPECT_EQ(inputErrorOf([&] { (void)coxPhTwoGroups(d); }),
              "mono.csv: 'B' vs 'A': monotone likelihood: every event has the largest covariate of those at risk, so the coefficient is "
              "+infinite (no finite estimate; e.g. a group without events)");
    SurvivalData three{"f.csv", {group("A", {{1, true}}), group("B", {{2, true}}), group("C", {{3, true}})}};
    EXPECT_EQ(inputErrorOf([&] { (void)coxPhTwoGroups(three); }),
              "f.csv: a Cox fit of one group indicator needs exactly 2 groups; found 3 ('A', 'B', 'C')");
}

TEST(StatsBinomial, ClopperPearsonMatchesReferences) {
    const auto a = clopperPearson(0, 10);
    EXPECT_EQ(a.low, 0.0);
    expectSig(a.high, 0.308497, 1e-5);
    const auto b = clopperPearson(7, 20);
    expectSig(b.low, 0.153909, 1e-5);
    expectSig(b.high, 0.592189, 1e-5);
    const auto c = clopperPearson(45, 100);
    expectSig(c.low, 0.350320, 1e-5);
    expectSig(c.high, 0.552720, 1e-5);
    const auto d = clopperPearson(10, 10);
    EXPECT_EQ(d.high, 1.0);
    expectSig(d.low, 0.308497 == 0 ? 0 : 1.0 - 0.308497, 1e-5);
    EXPECT_EQ(inputErrorOf([] { (void)clopperPearson(11, 10); }), "binomial interval: successes = 11 is more than trials = 10");
    EXPECT_EQ(inputErrorOf([] { (void)clopperPearson(0, 0); }), "binomial interval: trials = 0; at least 1 is needed");
}

TEST(StatsData, BadInputMessages) {
    const SurvivalColumns cols{"time", "status", std::string("arm")};
    const auto err = [&](const std::string& text) { return inputErrorOf([&] { (void)parseSurvivalCsv(text, cols, "t.csv"); }); };
    EXPECT_EQ(err(""), "t.csv: the file is empty (a header row is required)");
    EXPECT_EQ(err("time,event,arm\n1,1,A\n"), "t.csv: no column 'status' (columns: time, event, arm)");
    EXPECT_EQ(err("time,status,arm\n1,1,A\nabc,1,A\n"), "t.csv:3: column 'time': 'abc' is not a number");
    EXPECT_EQ(err("time,status,arm\n-2,1,A\n"), "t.csv:2: column 'time': '-2' is negative");
    EXPECT_EQ(err("time,status,arm\ninf,1,A\n"), "t.csv:2: column 'time': 'inf' is not finite");
    EXPECT_EQ(err("time,status,arm\n1,2,A\n"), "t.csv:2: column 'status': '2' is not 0 or 1 (1 = event, 0 = censored)");
    EXPECT_EQ(err("time,status,arm\n1,1,\n"), "t.csv:2: column 'arm': the group is empty");
    EXPECT_EQ(err("time,status,arm\n1,1\n"), "t.csv:2: 2 fields, but the header has 3 columns");
    EXPECT_EQ(err("time,status,arm\n"), "t.csv: no data rows after the header");
    EXPECT_EQ(err("time,status,arm\n1,1,\"A\n"), "t.csv:2: unterminated quoted field");
    // Quoted fields, CRLF and blank lines are fine.
    const auto d = parseSurvivalCsv("time,status,arm\r\n1,1,\"arm, one\"\r\n\r\n2,0,B\r\n", cols, "t.csv");
    ASSERT_EQ(d.groups.size(), 2u);
    EXPECT_EQ(d.groups[0].name, "B");
    EXPECT_EQ(d.groups[1].name, "arm, one");
}
