// calibration::fit (src/calibration/fit.cpp): residuals and transforms, then a synthetic recovery —
// targets made from the model itself at known parameter values, fitted back from the shipped
// values — its profiles, its determinism for 1 and 2 threads, and the overlay it writes.

#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "nkscape/calibration/evaluate.hpp"
#include "nkscape/calibration/fit.hpp"
#include "nkscape/error.hpp"

using namespace nkscape::calibration;

namespace {

const std::string kSrc = NKSCAPE_SOURCE_DIR;
const std::string kScenario = kSrc + "/scenarios/simulate/tnbc-untreated.toml";
const std::string kDoubling = "cell_type/TNBC/doubling_time";
const std::string kBlood = "cell_type/CD56dim NK/blood_count";
const std::string kUnused = "therapy/trastuzumab/pk.clearance";  // no dose in the scenario: nothing depends on it

Target simTarget(const std::string& id, Statistic s, const std::string& column = {}) {
    Target t;
    t.id = id;
    t.statistic = s;
    t.file = kScenario;
    t.column = column;
    return t;
}

// Targets whose observed values are the model's own outputs at `truth` (doubling time, blood
// count), with bands of ±5 %; plus a parameter target read from another file (so that two files
// go to two threads).
std::vector<Target> syntheticTargets(const std::vector<double>& truth) {
    std::vector<Target> ts{simTarget("S-doubling", Statistic::DoublingTime), simTarget("S-blood", Statistic::BloodPerMicrolitre, "blood.CD56dim NK")};
    const Evaluator e(ts, {kDoubling, kBlood});
    const auto r = e.evaluate(truth);
    for (std::size_t k = 0; k < ts.size(); ++k) {
        EXPECT_TRUE(r[k].ok()) << r[k].error;
        ts[k].observed = r[k].value;
        ts[k].low = 0.95 * r[k].value;
        ts[k].high = 1.05 * r[k].value;
    }
    Target p;
    p.id = "S-prolif";
    p.statistic = Statistic::Parameter;
    p.file = kSrc + "/models/default.toml";
    p.parameter = "cell_type/CD56dim NK/proliferation_rate";
    p.observed = 0.05;
    p.low = 0.03;
    p.high = 0.07;
    ts.push_back(p);
    return ts;
}

std::vector<std::size_t> all(const Evaluator& e) {
    std::vector<std::size_t> v(e.targets().size());
    for (std::size_t k = 0; k < v.size(); ++k) v[k] = k;
    return v;
}

}  // namespace

TEST(Fit, ResidualsAreBandHalfWidthsOnTheSideOfTheSimulatedValue) {
    Target t;
    t.statistic = Statistic::DoublingTime;
    t.observed = 100, t.low = 80, t.high = 140;  // 1.75-fold: linear
    EXPECT_FALSE(logScale(t));
    EXPECT_DOUBLE_EQ(*residual(t, 140), 1.0);
    EXPECT_DOUBLE_EQ(*residual(t, 80), -1.0);
    EXPECT_DOUBLE_EQ(*residual(t, 120), 0.5);
    EXPECT_DOUBLE_EQ(*residual(t, 60), -2.0);
    EXPECT_FALSE(residual(t, std::nan("")));
    t.observed = 10, t.low = 2, t.high = 50;  // 25-fold: log
    EXPECT_TRUE(logScale(t));
    EXPECT_NEAR(*residual(t, 50), 1.0, 1e-15);
    EXPECT_NEAR(*residual(t, 2), -1.0, 1e-15);
    EXPECT_NEAR(*residual(t, 250), 2.0, 1e-12);
    EXPECT_FALSE(residual(t, 0.0));  // log of zero: a failure, penalised
    t.low = t.high = 10;
    EXPECT_EQ(fitProblem(t), "its band [10, 10] has no width");
    t.low = 20, t.high = 30;
    EXPECT_EQ(fitProblem(t), "its observed value 10 lies outside its band [20, 30]");
}

TEST(Fit, TransformsMapTheRangeOntoTheUnitInterval) {
    FreeParameter lin{"p", "d", 60, 146, false, 103};
    EXPECT_DOUBLE_EQ(lin.toValue(0), 60);
    EXPECT_DOUBLE_EQ(lin.toValue(1), 146);
    EXPECT_DOUBLE_EQ(lin.toValue(0.5), 103);
    EXPECT_DOUBLE_EQ(lin.toUnit(103), 0.5);
    FreeParameter lg{"q", "nM", 0.05, 5, true, 0.1};
    EXPECT_NEAR(lg.toValue(0.5), 0.5, 1e-12);  // the geometric middle
    EXPECT_NEAR(lg.toUnit(0.5), 0.5, 1e-12);
    EXPECT_DOUBLE_EQ(lg.toValue(-1), 0.05);
    EXPECT_DOUBLE_EQ(lg.toValue(2), 5);
}

// The known values: 60 % of the way across each range (doubling time [60, 146] d -> 111.6 d, blood
// count [108, 240] cell/uL -> 187.2 cell/uL; shipped 103 d and 144 cell/uL), so the test does not
// depend on the shipped values.
std::vector<double> knownValues() {
    const Evaluator probe({simTarget("probe", Statistic::DoublingTime)}, {kDoubling, kBlood});
    std::vector<double> v;
    for (const auto& p : freeParameters(probe)) v.push_back(p.toValue(0.6));
    return v;
}

TEST(Fit, RecoversKnownParametersAndProfilesThem) {
    const std::vector<double> truth = knownValues();
    const Evaluator e(syntheticTargets(truth), {kDoubling, kBlood, kUnused});
    FitOptions o;
    o.maxEvaluations = 150;
    o.seed = 7;
    o.profilePoints = 7;
    o.profileEvaluationsPerPoint = 30;
    const FitResult r = fit(e, all(e), o);
    ASSERT_EQ(r.fitted.size(), 3u);
    // The doubling time and the blood count come back within 1 %.
    EXPECT_NEAR(r.fitted[0], truth[0], 0.01 * truth[0]);
    EXPECT_NEAR(r.fitted[1], truth[1], 0.01 * truth[1]);
    // The model-value target cannot move (shipped 0.043 /d vs 0.05 in a 0.02-wide half band:
    // r = -0.35): the objective left is its residual alone.
    EXPECT_GT(r.objectiveBefore, r.objectiveAfter + 0.1);
    ASSERT_TRUE(r.table[2].residualAfter);
    EXPECT_NEAR(r.objectiveAfter, *r.table[2].residualAfter * *r.table[2].residualAfter, 1e-3);
    EXPECT_LE(r.evaluationsGlobal + r.evaluationsLocal, 150);
    EXPECT_TRUE(r.table[0].inBandAfter());
    EXPECT_TRUE(r.table[1].inBandAfter());
    ASSERT_EQ(r.profiles.size(), 3u);
    // Bands of ±5 %: both fitted parameters are pinned on both sides; nothing depends on the third.
    EXPECT_EQ(r.profiles[0].verdict, "identifiable");
    EXPECT_EQ(r.profiles[1].verdict, "identifiable");
    ASSERT_TRUE(r.profiles[0].limitLow && r.profiles[0].limitHigh);
    EXPECT_LT(*r.profiles[0].limitLow, truth[0]);
    EXPECT_GT(*r.profiles[0].limitHigh, truth[0]);
    EXPECT_GT(*r.profiles[0].limitLow, r.parameters[0].low);
    EXPECT_LT(*r.profiles[0].limitHigh, r.parameters[0].high);
    EXPECT_EQ(r.profiles[2].verdict, "structurally flat");
    EXPECT_LT(r.profiles[2].maxDelta, 1e-6);
    for (const auto& p : r.profiles) EXPECT_EQ(p.points.size(), 7u);
    std::cout << "recovered doubling_time " << r.fitted[0] << " d (truth " << truth[0] << "), blood_count " << r.fitted[1] << " cell/uL (truth "
              << truth[1] << "); objective "
              << r.objectiveBefore << " -> " << r.objectiveAfter << "; doubling 95 % profile limits [" << *r.profiles[0].limitLow << ", "
              << *r.profiles[0].limitHigh << "] d; evaluations " << r.evaluationsGlobal << " + " << r.evaluationsLocal << " + " << r.evaluationsProfile
              << "\n";
}

TEST(Fit, SameBytesForOneAndTwoThreadsAndTheOverlayReproducesTheFit) {
    const Evaluator e(syntheticTargets(knownValues()), {kDoubling, kBlood});
    FitOptions o;
    o.maxEvaluations = 40;
    o.threads = 1;
    const FitResult r1 = fit(e, all(e), o);
    o.threads = 2;
    const FitResult r2 = fit(e, all(e), o);
    ASSERT_EQ(r1.fitted.size(), r2.fitted.size());
    for (std::size_t i = 0; i < r1.fitted.size(); ++i) EXPECT_EQ(r1.fitted[i], r2.fitted[i]);  // bit-identical
    EXPECT_EQ(r1.objectiveAfter, r2.objectiveAfter);
    const auto dir = std::filesystem::temp_directory_path() / ("nkscape-fit-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string overlay = overlayToml(r1, e, kSrc + "/models/default.toml");
    EXPECT_EQ(overlay, overlayToml(r2, e, kSrc + "/models/default.toml"));
    EXPECT_NE(overlay.find("source = \"fit: S-doubling, S-blood, S-prolif (nkscape calibrate, seed 1)\""), std::string::npos) << overlay;
    {
        std::ofstream f(dir / "overlay.toml");
        f << overlay;
    }
    // The scenario, with its model replaced by the overlay, gives the fitted values exactly.
    std::ifstream in(kScenario);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto pos = text.find("model = ");
    text.replace(pos, text.find('\n', pos) - pos, "model = \"overlay.toml\"");
    {
        std::ofstream f(dir / "s.toml");
        f << text;
    }
    auto targets = syntheticTargets(knownValues());
    targets.pop_back();
    for (auto& t : targets) t.file = (dir / "s.toml").string();
    const Evaluator viaOverlay(targets, {});
    const auto again = viaOverlay.evaluate({});
    EXPECT_EQ(again[0].value, r1.table[0].after.value);
    EXPECT_EQ(again[1].value, r1.table[1].after.value);
    std::filesystem::remove_all(dir);
}

TEST(Fit, RefusesWhatCannotBeFitted) {
    auto ts = syntheticTargets(knownValues());
    const Evaluator noRange(ts, {"therapy/trastuzumab/mechanism[0].fc_gain"});
    FitOptions o;
    EXPECT_THROW((void)fit(noRange, all(noRange), o), nkscape::InputError);
    const Evaluator e(ts, {kDoubling});
    o.profilePoints = 2;
    EXPECT_THROW((void)fit(e, all(e), o), nkscape::InputError);
    o.profilePoints = 0;
    o.maxEvaluations = 1;
    EXPECT_THROW((void)fit(e, all(e), o), nkscape::InputError);
    o.maxEvaluations = 10;
    EXPECT_THROW((void)fit(e, {}, o), nkscape::InputError);
}
