// The immunoediting classifier on synthetic trajectories whose answers are known in closed form:
// exponential decay to extinction, a logistic plateau, an equilibrium taken over by an evasive clone,
// the same with noise, and every kind of bad input.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "nkscape/analysis/immunoediting.hpp"
#include "nkscape/error.hpp"

using namespace nkscape;
using namespace nkscape::analysis;

namespace {

std::vector<double> daily(int lastDay) {
    std::vector<double> t;
    for (int d = 0; d <= lastDay; ++d) t.push_back(d);
    return t;
}

// A trajectory with one founding clone (all traits 1) following f(t).
TumourTrajectory singleClone(const std::string& name, const std::vector<double>& times, const std::function<double(double)>& f) {
    TumourTrajectory tr;
    tr.name = name;
    tr.times_d = times;
    Clone founder{"founder", {}, {}};
    for (double t : times) founder.cells.push_back(f(t));
    tr.totalCells = founder.cells;
    tr.clones.push_back(founder);
    return tr;
}

// Log-normal multiplicative noise exp(σ·z), z standard normal: Box–Muller on mt19937_64 so the numbers
// are the same with every standard library.
class Noise {
public:
    explicit Noise(std::uint64_t seed) : gen_(seed) {}
    double factor(double sigma) {
        const double u1 = (static_cast<double>(gen_() >> 11) + 0.5) * 0x1.0p-53;
        const double u2 = (static_cast<double>(gen_() >> 11) + 0.5) * 0x1.0p-53;
        return std::exp(sigma * std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2));
    }

private:
    std::mt19937_64 gen_;
};

// The equilibrium → escape scenario: a founding clone held at 1e6 cells by NK/T pressure, and an
// HLA-I-low / HLA-E-high clone growing from 1 cell at 0.1/day: N = 1e6 + e^{0.1 t}.
constexpr double kFounder = 1e6;
constexpr double kEvasiveRate = 0.1;
const std::map<std::string, double> kEvasiveTraits{{"HLA-I", 0.1}, {"HLA-E", 4.0}};

TumourTrajectory takeover(double noiseSigma = 0, std::uint64_t seed = 1, std::map<std::string, double> traits = kEvasiveTraits) {
    TumourTrajectory tr;
    tr.name = "takeover";
    tr.times_d = daily(300);
    Clone founder{"founder", {}, {}};
    Clone evasive{"HLA-I-low/HLA-E-high", {}, std::move(traits)};
    Noise noise(seed);
    for (double t : tr.times_d) {
        founder.cells.push_back(kFounder * (noiseSigma > 0 ? noise.factor(noiseSigma) : 1.0));
        evasive.cells.push_back(std::exp(kEvasiveRate * t) * (noiseSigma > 0 ? noise.factor(noiseSigma) : 1.0));
        tr.totalCells.push_back(founder.cells.back() + evasive.cells.back());
    }
    tr.clones = {founder, evasive};
    return tr;
}

// Expects an InputError whose message holds every fragment.
template <class F>
void expectInputError(F&& f, std::initializer_list<const char*> fragments) {
    try {
        f();
        ADD_FAILURE() << "no InputError thrown";
    } catch (const InputError& e) {
        const std::string what = e.what();
        for (const char* frag : fragments) EXPECT_NE(what.find(frag), std::string::npos) << "'" << frag << "' not in: " << what;
    }
}

}  // namespace

TEST(ImmunoeditingGrowthRate, ExactExponentialOnUnevenTimes) {
    const std::vector<double> t{0.0, 0.5, 2.0, 3.25, 7.0, 11.0};
    std::vector<double> n;
    for (double x : t) n.push_back(3e7 * std::exp(-0.07 * x));
    EXPECT_NEAR(netGrowthRate(t, n), -0.07, 0.07 * 1e-6);
    n.clear();
    for (double x : t) n.push_back(42 * std::exp(0.345 * x));
    EXPECT_NEAR(netGrowthRate(t, n), 0.345, 0.345 * 1e-6);
}

TEST(ImmunoeditingGrowthRate, ZerosAreLeftOutAndTooFewIsNaN) {
    const std::vector<double> t{0, 1, 2, 3};
    EXPECT_NEAR(netGrowthRate(t, std::vector<double>{100, 50, 25, 0}), -std::log(2.0), 1e-12);
    EXPECT_TRUE(std::isnan(netGrowthRate(t, std::vector<double>{3, 0, 0, 0})));
    expectInputError([&] { (void)netGrowthRate(t, std::vector<double>{1, 2}); }, {"4 times but 2 cell counts"});
}

TEST(Immunoediting, ExponentialDecayToExtinctionIsEliminationWithoutEscape) {
    // N = 1e6·e^{−0.1 t}, and 0 once it falls below one cell (t > ln(1e6)/0.1 ≈ 138.2 d).
    const double r = -0.1;
    const double tExtinct = std::log(1e6) / -r;
    const TumourTrajectory tr = singleClone("decay", daily(360), [&](double t) { return t > tExtinct ? 0.0 : 1e6 * std::exp(r * t); });
    const ImmunoeditingResult res = classifyImmunoediting(tr);

    ASSERT_EQ(res.windows.size(), 12u);
    EXPECT_TRUE(res.changes.empty());
    for (const PhaseWindow& w : res.windows) {
        EXPECT_EQ(w.phase, Phase::Elimination) << w.start_d;
        if (w.start_d + 1 < tExtinct) {
            EXPECT_NEAR(w.growthRate_per_d, r, std::abs(r) * 1e-6) << w.start_d;  // ≥ 2 non-zero samples
        } else {
            EXPECT_TRUE(std::isnan(w.growthRate_per_d)) << w.start_d;  // extinct: not estimable
            EXPECT_EQ(w.meanCells, 0.0);
        }
    }
    EXPECT_DOUBLE_EQ(res.windows[0].start_d, 0.0);
    EXPECT_DOUBLE_EQ(res.windows[0].end_d, 30.0);
    // Time average of N0·e^{rt} over [0, 30]: N0(e^{30r} − 1)/(30r); the trapezoid rule on daily
    // samples is high by (h r/2)·coth(h r/2) − 1 ≈ (h r)²/12 ≈ 8e-4.
    const double analyticMean = 1e6 * (std::exp(30 * r) - 1) / (30 * r);
    EXPECT_NEAR(res.windows[0].meanCells / analyticMean, 1.0, 1e-3);
    EXPECT_DOUBLE_EQ(res.windows[0].endCells, 1e6 * std::exp(30 * r));
    EXPECT_EQ(res.phaseAt(0), Phase::Elimination);
    EXPECT_EQ(res.phaseAt(360), Phase::Elimination);
}

TEST(Immunoediting, SlowRegressionIsEquilibriumUntilExtinctionIsWithinTheHorizon) {
    // N = 1e5·e^{−0.02 t}: at 1e5·e^{−0.02·30} cells and −0.02/day, a year's projection (×e^{−7.3})
    // stays above one cell; the window whose end is below 1/e^{−7.3} ≈ 1480 cells is elimination.
    const TumourTrajectory tr = singleClone("regression", daily(360), [](double t) { return 1e5 * std::exp(-0.02 * t); });
    const ImmunoeditingResult res = classifyImmunoediting(tr);
    const double tSwitch = (std::log(1e5) - 0.02 * 365) / 0.02;  // N(t)·e^{−0.02·365} = 1 ⇒ t ≈ 210.6 d
    ASSERT_EQ(res.changes.size(), 1u);
    EXPECT_EQ(res.changes[0].from, Phase::Equilibrium);
    EXPECT_EQ(res.changes[0].to, Phase::Elimination);
    EXPECT_LE(std::abs(res.changes[0].time_d - tSwitch), 30.0);
    EXPECT_DOUBLE_EQ(res.changes[0].time_d, 210.0);  // the first window ending after tSwitch: [210, 240]
    ASSERT_EQ(res.changes[0].composition.size(), 1u);
    EXPECT_EQ(res.changes[0].composition[0].name, "founder");
    EXPECT_DOUBLE_EQ(res.changes[0].composition[0].fraction, 1.0);
}

TEST(Immunoediting, LogisticPlateauBelowDetectionIsEquilibrium) {
    // N = K / (1 + (K/N0 − 1) e^{−r0 t}), K = 1e6 cells (far below 1e9), N0 = 1e5, r0 = 0.02/day.
    const double K = 1e6;
    const double n0 = 1e5;
    const double r0 = 0.02;
    const auto logistic = [&](double t) { return K / (1 + (K / n0 - 1) * std::exp(-r0 * t)); };
    const TumourTrajectory tr = singleClone("logistic", daily(720), logistic);
    const ImmunoeditingResult res = classifyImmunoediting(tr);

    ASSERT_EQ(res.windows.size(), 24u);
    EXPECT_TRUE(res.changes.empty());
    for (const PhaseWindow& w : res.windows) EXPECT_EQ(w.phase, Phase::Equilibrium) << w.start_d;
    // d ln N/dt = r0 (1 − N/K) falls through the first window: the slope lies between its ends.
    EXPECT_LT(res.windows[0].growthRate_per_d, r0 * (1 - n0 / K));
    EXPECT_GT(res.windows[0].growthRate_per_d, r0 * (1 - logistic(30) / K));
    // At the plateau the rate is r0 (1 − N/K) ≈ r0·(K/N0 − 1)e^{−r0 t} < 2e-8 /day and N ≈ K.
    const PhaseWindow& last = res.windows.back();
    EXPECT_LT(std::abs(last.growthRate_per_d), r0 * (1 - logistic(690) / K));
    EXPECT_GT(last.growthRate_per_d, 0.0);
    EXPECT_NEAR(last.meanCells / K, 1.0, 1e-5);
    EXPECT_LE(std::abs(last.growthRate_per_d), ImmunoeditingRules{}.equilibriumBand_per_d);
}

TEST(Immunoediting, EquilibriumThenEscapeByAnEvasiveClone) {
    const TumourTrajectory tr = takeover();
    const ImmunoeditingRules rules;
    const ImmunoeditingResult res = classifyImmunoediting(tr, rules);

    // Analytic crossings. Takeover: e^{0.1 t} = 1e6 ⇒ t = ln(1e6)/0.1 ≈ 138.2 d. The rule's own
    // crossing: with r(t) = 0.1 e/(1e6 + e) and N(t) = 1e6 + e, escape once r > 0.002 and
    // N e^{rH} ≥ 1e9, found by bisection on the closed form (≈ 123.24 d).
    const double tTakeover = std::log(kFounder) / kEvasiveRate;
    const auto criterion = [&](double t) {
        const double e = std::exp(kEvasiveRate * t);
        const double n = kFounder + e;
        const double r = kEvasiveRate * e / n;
        return r > rules.escapeRate_per_d && std::log(n) + r * rules.horizon_d >= std::log(rules.detectionLimit_cells);
    };
    double lo = 0;
    double hi = 300;
    for (int i = 0; i < 100; ++i) (criterion(0.5 * (lo + hi)) ? hi : lo) = 0.5 * (lo + hi);
    const double tRule = hi;
    EXPECT_NEAR(tRule, 123.24, 0.01);

    ASSERT_EQ(res.changes.size(), 1u);
    const PhaseChange& c = res.changes[0];
    EXPECT_EQ(c.from, Phase::Equilibrium);
    EXPECT_EQ(c.to, Phase::Escape);
    EXPECT_DOUBLE_EQ(c.time_d, 120.0);
    EXPECT_LE(std::abs(c.time_d - tRule), rules.window_d);
    EXPECT_LE(std::abs(c.time_d - tTakeover), rules.window_d);
    for (const PhaseWindow& w : res.windows) EXPECT_EQ(w.phase, w.start_d < 120 ? Phase::Equilibrium : Phase::Escape) << w.start_d;
    EXPECT_EQ(res.phaseAt(119.5), Phase::Equilibrium);
    EXPECT_EQ(res.phaseAt(120), Phase::Escape);

    // The composition at the change: the evasive clone holds e^{12}/(1e6 + e^{12}) ≈ 14 %, up from
    // 1/(1e6 + 1) at the start.
    ASSERT_EQ(c.composition.size(), 2u);
    EXPECT_EQ(c.composition[1].name, "HLA-I-low/HLA-E-high");
    const double fChange = std::exp(12.0) / (kFounder + std::exp(12.0));
    EXPECT_NEAR(c.composition[1].fraction, fChange, fChange * 1e-12);
    EXPECT_NEAR(c.composition[0].fraction, 1 - fChange, 1e-12);
    const double fStart = 1 / (kFounder + 1);
    EXPECT_GT(c.composition[1].fraction, 1e5 * fStart);

    // Late in the escape the total grows at the evasive clone's rate.
    EXPECT_NEAR(res.windows.back().growthRate_per_d, kEvasiveRate, kEvasiveRate * 1e-5);
    EXPECT_GT(res.windows.front().growthRate_per_d, 0.0);
    EXPECT_LT(res.windows.front().growthRate_per_d, kEvasiveRate * std::exp(3.0) / kFounder);  // r(30)

    // Evasion score: the evasive clone scores (ln 10 + ln 4)/6 under the default six-trait table.
    const double sEvasive = (std::log(10.0) + std::log(4.0)) / 6.0;
    EXPECT_NEAR(evasionScore(tr, 0, rules), fStart * sEvasive, 1e-15);
    EXPECT_NEAR(evasionScore(tr, 120, rules), fChange * sEvasive, 1e-12);
    const double fEnd = std::exp(30.0) / (kFounder + std::exp(30.0));
    EXPECT_NEAR(evasionScore(tr, 300, rules), fEnd * sEvasive, 1e-12);
    const auto traits = populationTraits(tr, 300, rules);
    EXPECT_NEAR(traits.at("HLA-I"), std::exp(fEnd * std::log(0.1)), 1e-12);
    EXPECT_NEAR(traits.at("HLA-E"), std::exp(fEnd * std::log(4.0)), 1e-12);
    EXPECT_DOUBLE_EQ(traits.at("MICA/B"), 1.0);

    const EvasionComparison cmp = compareEvasion(tr, rules);
    EXPECT_TRUE(cmp.enriched);
    EXPECT_DOUBLE_EQ(cmp.start_d, 0.0);
    EXPECT_DOUBLE_EQ(cmp.end_d, 300.0);
    EXPECT_GT(cmp.scoreEnd - cmp.scoreStart, 0.6);
    ASSERT_EQ(cmp.traits.size(), 6u);
    EXPECT_EQ(cmp.traits[0].name, "HLA-I");
    EXPECT_TRUE(cmp.traits[0].varies);
    EXPECT_TRUE(cmp.traits[0].movedEvasive);
    EXPECT_LT(cmp.traits[0].end, cmp.traits[0].start);
    EXPECT_TRUE(cmp.traits[1].varies);  // HLA-E
    EXPECT_TRUE(cmp.traits[1].movedEvasive);
    EXPECT_FALSE(cmp.traits[3].varies);  // MICA/B: nobody carries it
    EXPECT_FALSE(cmp.traits[3].movedEvasive);

    // No time elapsed, nothing moved: not enriched.
    EXPECT_FALSE(compareEvasion(tr, 300, 300, rules).enriched);
}

TEST(Immunoediting, NotEnrichedWhenOneTraitMovesTheWrongWay) {
    // The escaping clone lost HLA-I but doubled MICA/B (more NKG2D ligand: less evasive). The score
    // still rises ((ln 10 − ln 2)/6 > 0) but MICA/B moved against evasion.
    const TumourTrajectory tr = takeover(0, 1, {{"HLA-I", 0.1}, {"MICA/B", 2.0}});
    const EvasionComparison cmp = compareEvasion(tr);
    EXPECT_GT(cmp.scoreEnd, cmp.scoreStart);
    EXPECT_TRUE(cmp.traits[0].movedEvasive);
    EXPECT_TRUE(cmp.traits[3].varies);
    EXPECT_FALSE(cmp.traits[3].movedEvasive);
    EXPECT_FALSE(cmp.enriched);
}

TEST(Immunoediting, TraitsAreClampedAndTheTableIsOverridable) {
    TumourTrajectory tr = takeover(0, 1, {{"HLA-I", 0.0}, {"PD-L1", 1e6}});  // complete HLA-I loss, huge PD-L1
    // At the end the evasive clone is (almost) all: ln clamp(0) = ln 0.01, ln clamp(1e6) = ln 100.
    const double fEnd = std::exp(30.0) / (kFounder + std::exp(30.0));
    EXPECT_NEAR(evasionScore(tr, 300), fEnd * 2 * std::log(100.0) / 6.0, 1e-12);

    ImmunoeditingRules rules;
    rules.evasiveTraits = {{"HLA-I", EvasiveDirection::Lower, 3.0}, {"PD-L1", EvasiveDirection::Higher, 1.0}};
    rules.traitFloor = 0.1;
    EXPECT_NEAR(evasionScore(tr, 300, rules), fEnd * (3 * std::log(10.0) + std::log(100.0)) / 4.0, 1e-12);

    tr.clones[1].traits = {{"HLA-E", 2.0}};  // not in the overriding table
    expectInputError([&] { (void)evasionScore(tr, 300, rules); }, {"trajectory 'takeover'", "clone 'HLA-I-low/HLA-E-high'", "unknown trait 'HLA-E'"});
    EXPECT_NO_THROW((void)cloneComposition(tr, 300));  // composition needs no trait table
}

TEST(Immunoediting, NoisyTakeoverStillChangesOnceNearTheCrossing) {
    // 10 % log-normal noise on every count: the rate estimate's standard error over a 31-sample window
    // is about 0.1/√2480 ≈ 0.002/day, far below the ≈ 0.019/day needed to project to detection.
    for (std::uint64_t seed : {1u, 2u, 3u, 4u, 5u}) {
        const TumourTrajectory tr = takeover(0.1, seed);
        const ImmunoeditingResult res = classifyImmunoediting(tr);
        ASSERT_EQ(res.changes.size(), 1u) << "seed " << seed;
        EXPECT_EQ(res.changes[0].from, Phase::Equilibrium);
        EXPECT_EQ(res.changes[0].to, Phase::Escape);
        EXPECT_DOUBLE_EQ(res.changes[0].time_d, 120.0) << "seed " << seed;
        // Late windows: the slope is within 5 standard errors of 0.1/day.
        EXPECT_NEAR(res.windows.back().growthRate_per_d, kEvasiveRate, 5 * 0.1 / std::sqrt(2480.0));
        EXPECT_TRUE(compareEvasion(tr).enriched);
    }
}

TEST(Immunoediting, NoisyPlateauStaysInEquilibrium) {
    Noise noise(7);
    const TumourTrajectory tr = singleClone("noisy plateau", daily(720), [&](double) { return 1e6 * noise.factor(0.2); });
    const ImmunoeditingResult res = classifyImmunoediting(tr);
    EXPECT_TRUE(res.changes.empty());
    for (const PhaseWindow& w : res.windows) {
        EXPECT_EQ(w.phase, Phase::Equilibrium);
        EXPECT_LT(std::abs(w.growthRate_per_d), 5 * 0.2 / std::sqrt(2480.0));  // 5 standard errors
        EXPECT_NEAR(w.meanCells / 1e6, 1.0, 0.2);
    }
}

TEST(Immunoediting, DetectionLimitAndBands) {
    // Above detection: growing faster than the escape rate is escape even if slow; a plateau is
    // equilibrium (the band decides, not the size).
    const auto growing = singleClone("detectable", daily(60), [](double t) { return 2e9 * std::exp(0.005 * t); });
    for (const PhaseWindow& w : classifyImmunoediting(growing).windows) EXPECT_EQ(w.phase, Phase::Escape);
    const auto flat = singleClone("detectable plateau", daily(60), [](double t) { return 5e9 * std::exp(0.001 * t); });
    for (const PhaseWindow& w : classifyImmunoediting(flat).windows) EXPECT_EQ(w.phase, Phase::Equilibrium);
    // The same slow growth below detection is equilibrium; lowering the detection limit makes it escape.
    const auto small = singleClone("small", daily(60), [](double t) { return 1e4 * std::exp(0.005 * t); });
    EXPECT_EQ(classifyImmunoediting(small).windows[0].phase, Phase::Equilibrium);
    ImmunoeditingRules rules;
    rules.detectionLimit_cells = 8e4;  // 1e4·e^{0.005·(30+365)} ≈ 7.2e4 < 8e4 < 1e4·e^{0.005·(60+365)} ≈ 8.4e4
    const ImmunoeditingResult res = classifyImmunoediting(small, rules);
    EXPECT_EQ(res.windows[0].phase, Phase::Equilibrium);
    EXPECT_EQ(res.windows[1].phase, Phase::Escape);
    ASSERT_EQ(res.changes.size(), 1u);
    EXPECT_DOUBLE_EQ(res.changes[0].time_d, 30.0);
    // A window below the elimination floor is elimination whatever its rate.
    const auto residue = singleClone("residue", daily(30), [](double t) { return 0.5 * std::exp(0.05 * t) / std::exp(1.5); });
    EXPECT_EQ(classifyImmunoediting(residue).windows[0].phase, Phase::Elimination);
}

TEST(Immunoediting, Windows) {
    const auto f = [](double) { return 1e6; };
    auto windowsOf = [&](int lastDay) { return classifyImmunoediting(singleClone("w", daily(lastDay), f)).windows; };
    auto w = windowsOf(100);  // remainder 10 d ≤ 15 d joins the last window
    ASSERT_EQ(w.size(), 3u);
    EXPECT_DOUBLE_EQ(w[2].start_d, 60.0);
    EXPECT_DOUBLE_EQ(w[2].end_d, 100.0);
    w = windowsOf(110);  // remainder 20 d > 15 d is a window of its own
    ASSERT_EQ(w.size(), 4u);
    EXPECT_DOUBLE_EQ(w[3].start_d, 90.0);
    EXPECT_DOUBLE_EQ(w[3].end_d, 110.0);
    w = windowsOf(20);  // shorter than one window: one window
    ASSERT_EQ(w.size(), 1u);
    EXPECT_DOUBLE_EQ(w[0].end_d, 20.0);
    EXPECT_DOUBLE_EQ(w[0].meanCells, 1e6);
    EXPECT_EQ(phaseName(Phase::Escape), "escape");
    EXPECT_EQ(phaseName(Phase::Elimination), "elimination");
    EXPECT_EQ(phaseName(Phase::Equilibrium), "equilibrium");
    const ImmunoeditingResult res = classifyImmunoediting(singleClone("w", daily(20), f));
    expectInputError([&] { (void)res.phaseAt(21); }, {"outside"});
}

TEST(Immunoediting, BadTrajectoriesAreRejectedWithClearMessages) {
    const auto good = [] { return takeover(); };
    {
        auto t = good();
        t.name = "bad";
        t.times_d[5] = t.times_d[4];
        expectInputError([&] { (void)classifyImmunoediting(t); }, {"trajectory 'bad'", "strictly increasing", "times_d[5] = 4 d follows 4 d"});
    }
    {
        auto t = good();
        t.times_d[5] = 3;
        expectInputError([&] { (void)classifyImmunoediting(t); }, {"strictly increasing"});
    }
    {
        auto t = good();
        t.totalCells.pop_back();
        expectInputError([&] { (void)classifyImmunoediting(t); }, {"trajectory 'takeover'", "totalCells has 300 values but times_d has 301"});
    }
    {
        auto t = good();
        t.clones[1].cells.push_back(1);
        expectInputError([&] { (void)classifyImmunoediting(t); }, {"clone 'HLA-I-low/HLA-E-high'", "cells has 302 values"});
    }
    {
        auto t = good();
        t.totalCells[7] = -1;
        expectInputError([&] { (void)classifyImmunoediting(t); }, {"totalCells[7] is negative"});
    }
    {
        auto t = good();
        t.clones[0].cells[9] = -3;
        expectInputError([&] { (void)classifyImmunoediting(t); }, {"clone 'founder'", "cells[9] is negative"});
    }
    {
        auto t = good();
        t.totalCells[2] = std::numeric_limits<double>::quiet_NaN();
        expectInputError([&] { (void)classifyImmunoediting(t); }, {"totalCells[2] is not finite"});
    }
    {
        auto t = good();
        t.times_d[0] = std::numeric_limits<double>::quiet_NaN();
        expectInputError([&] { (void)classifyImmunoediting(t); }, {"times_d[0] is not finite"});
    }
    {
        auto t = good();
        t.clones[1].traits["HLA-E"] = std::numeric_limits<double>::infinity();
        expectInputError([&] { (void)classifyImmunoediting(t); }, {"trait 'HLA-E'", "must be finite and >= 0"});
    }
    {
        auto t = good();
        t.clones[1].traits["HLA-e"] = 2;
        expectInputError([&] { (void)classifyImmunoediting(t); }, {"unknown trait 'HLA-e'", "'HLA-E'"});
    }
    {
        auto t = good();
        t.clones[1].name = "founder";
        expectInputError([&] { (void)classifyImmunoediting(t); }, {"clone name 'founder' is used twice"});
    }
    {
        auto t = good();
        t.times_d = {0};
        t.totalCells = {1};
        t.clones.clear();
        expectInputError([&] { (void)classifyImmunoediting(t); }, {"needs at least 2 times, has 1"});
    }
    {
        // Too coarse for the window: samples every 20 days, windows of 30.
        TumourTrajectory t = singleClone("coarse", {0, 20, 40, 60}, [](double) { return 1e6; });
        expectInputError([&] { (void)classifyImmunoediting(t); }, {"trajectory 'coarse'", "window [0, 30] d holds 2 samples", "fewer than the 3"});
    }
    {
        auto t = good();
        expectInputError([&] { (void)evasionScore(t, 301); }, {"time 301 d is outside the trajectory [0, 300] d"});
        expectInputError([&] { (void)compareEvasion(t, 200, 100); }, {"start is after the end"});
        t.clones.clear();
        expectInputError([&] { (void)evasionScore(t, 3); }, {"has no clones"});
        EXPECT_NO_THROW((void)classifyImmunoediting(t));  // phases need only the total
    }
    {
        auto t = good();
        for (double& x : t.clones[0].cells) x = 0;
        for (double& x : t.clones[1].cells) x = 0;
        expectInputError([&] { (void)evasionScore(t, 3); }, {"no clone has cells at t = 3 d"});
    }
}

TEST(Immunoediting, BadRulesAreRejected) {
    const TumourTrajectory t = takeover();
    const auto bad = [&](auto edit, const char* fragment) {
        ImmunoeditingRules r;
        edit(r);
        expectInputError([&] { (void)classifyImmunoediting(t, r); }, {"immunoediting rules", fragment});
    };
    bad([](ImmunoeditingRules& r) { r.window_d = 0; }, "window_d = 0");
    bad([](ImmunoeditingRules& r) { r.window_d = std::numeric_limits<double>::quiet_NaN(); }, "window_d");
    bad([](ImmunoeditingRules& r) { r.eliminationFloor_cells = 0; }, "eliminationFloor_cells");
    bad([](ImmunoeditingRules& r) { r.detectionLimit_cells = 0.5; }, "detectionLimit_cells");
    bad([](ImmunoeditingRules& r) { r.escapeRate_per_d = 0.001; }, "escapeRate_per_d");
    bad([](ImmunoeditingRules& r) { r.eliminationRate_per_d = -1; }, "eliminationRate_per_d");
    bad([](ImmunoeditingRules& r) { r.horizon_d = -1; }, "horizon_d");
    bad([](ImmunoeditingRules& r) { r.minSamplesPerWindow = 1; }, "minSamplesPerWindow");
    bad([](ImmunoeditingRules& r) { r.traitCeiling = 0.001; }, "traitCeiling");
    bad([](ImmunoeditingRules& r) { r.evasiveTraits.push_back({"PD-L1", EvasiveDirection::Higher, 1}); }, "'PD-L1' is listed twice");
    bad([](ImmunoeditingRules& r) { r.evasiveTraits[0].weight = -1; }, "'HLA-I' has weight -1");
    bad([](ImmunoeditingRules& r) { for (auto& k : r.evasiveTraits) k.weight = 0; }, "every evasive trait has weight 0");
}
