// RECIST 1.1 from simulated tumour cells: sphere diameters of known volumes, the 30 % / 20 % + 5 mm
// thresholds at and beside their boundaries, nadir-based progression, confirmation, CR only when
// every target lesion is gone, the stable-disease minimum, reproducible measurement error, a
// non-evaluable baseline and bad inputs.

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "nkscape/error.hpp"
#include "nkscape/qsp/engine.hpp"
#include "nkscape/trial/recist.hpp"

using namespace nkscape;
using namespace nkscape::trial;

namespace {

// Cells of a sphere of diameter d (mm) at the default density (1e9 cells/cm³).
double cellsFor(double d_mm) { return 1e9 * std::numbers::pi / 6.0 * std::pow(d_mm / 10.0, 3); }

// A one-lesion patient whose lesion measures diams[i] mm at times[i] (exactly: the burden is
// sampled at the assessment times themselves).
TumourBurden burdenOf(const std::vector<double>& times, const std::vector<double>& diams) {
    TumourBurden b;
    b.name = "p1";
    b.times_d = times;
    for (double d : diams) b.cells.push_back(d > 0 ? cellsFor(d) : 0.0);
    return b;
}

std::vector<Response> responses(const RecistOutcome& o) {
    std::vector<Response> r;
    for (const auto& a : o.followUps) r.push_back(a.response);
    return r;
}

}  // namespace

TEST(RecistGeometry, DiameterOfKnownVolumes) {
    // 1e9 cells at 1e9 cells/cm³ = 1 cm³: d = 10·(6/π)^(1/3) mm.
    EXPECT_NEAR(sphereDiameter_mm(1e9, 1e9), 12.407009817988, 1e-9);
    // The low end of Del Monte's range: 10 cm³.
    EXPECT_NEAR(sphereDiameter_mm(1e9, 1e8), 26.730092351440, 1e-9);
    EXPECT_NEAR(sphereDiameter_mm(1e8, 1e9), 5.758823822970, 1e-9);
    EXPECT_EQ(sphereDiameter_mm(0, 1e9), 0.0);
    // The detection limit: 1e6 cells is a 1.24 mm sphere; below it the lesion is gone.
    const LesionGeometry g;
    EXPECT_NEAR(lesionDiameter_mm(1e6, g), 1.2407009817988, 1e-10);
    EXPECT_EQ(lesionDiameter_mm(0.999e6, g), 0.0);
    // Under 10 mm but present: measured as is (not RECIST's 5 mm default).
    EXPECT_NEAR(lesionDiameter_mm(1e8, g), 5.758823822970, 1e-9);
    EXPECT_EQ(responseName(Response::PR), "PR");
    EXPECT_EQ(responseName(Response::NE), "NE");
}

TEST(RecistTimePoint, PartialResponseAtThirtyPercent) {
    const RecistCriteria c;
    EXPECT_EQ(classifyTimePoint(70.0, 100.0, 100.0, false, c), Response::PR);   // exactly −30 %
    EXPECT_EQ(classifyTimePoint(70.01, 100.0, 100.0, false, c), Response::SD);  // −29.99 %
    EXPECT_EQ(classifyTimePoint(69.99, 100.0, 100.0, false, c), Response::PR);
    EXPECT_EQ(classifyTimePoint(28.0, 40.0, 40.0, false, c), Response::PR);     // 12 mm of 40 = 30 %
}

TEST(RecistTimePoint, ProgressionNeedsTwentyPercentAndFiveMm) {
    const RecistCriteria c;
    // Nadir 25: +20 % is exactly +5 mm — both thresholds met at their boundary.
    EXPECT_EQ(classifyTimePoint(30.0, 30.0, 25.0, false, c), Response::PD);
    EXPECT_EQ(classifyTimePoint(29.99, 30.0, 25.0, false, c), Response::SD);
    // Nadir 20: +20 % is only +4 mm, so not PD.
    EXPECT_EQ(classifyTimePoint(24.0, 30.0, 20.0, false, c), Response::SD);
    EXPECT_EQ(classifyTimePoint(24.99, 30.0, 20.0, false, c), Response::SD);
    EXPECT_EQ(classifyTimePoint(25.0, 30.0, 20.0, false, c), Response::PD);  // +25 %, +5 mm
    // Nadir 100: +5 mm is only +5 %; +19.9 mm is 19.9 %.
    EXPECT_EQ(classifyTimePoint(105.0, 100.0, 100.0, false, c), Response::SD);
    EXPECT_EQ(classifyTimePoint(119.9, 100.0, 100.0, false, c), Response::SD);
    EXPECT_EQ(classifyTimePoint(120.0, 100.0, 100.0, false, c), Response::PD);
    // PD wins over PR: 52 % below baseline but +8 mm (+20 %) from a nadir of 40.
    EXPECT_EQ(classifyTimePoint(48.0, 100.0, 40.0, false, c), Response::PD);
    EXPECT_EQ(classifyTimePoint(47.9, 100.0, 40.0, false, c), Response::PR);
}

TEST(RecistTimePoint, CompleteResponseAndReappearance) {
    const RecistCriteria c;
    EXPECT_EQ(classifyTimePoint(0.0, 50.0, 10.0, false, c), Response::CR);
    EXPECT_EQ(classifyTimePoint(0.0, 50.0, 0.0, true, c), Response::CR);
    // A lesion back after a CR is PD, even at 1.3 mm (far under +5 mm).
    EXPECT_EQ(classifyTimePoint(1.3, 50.0, 0.0, true, c), Response::PD);
    // Without an earlier CR, 1.3 mm above a nadir of 0 is a PR of the baseline.
    EXPECT_EQ(classifyTimePoint(1.3, 50.0, 0.0, false, c), Response::PR);
}

TEST(RecistOutcome, NadirBasedProgressionAfterPartialResponse) {
    // Baseline 40 mm; PR at 6 and 12 weeks (20, 16 mm); 18 weeks 20 mm (+25 % but +4 mm: still PR
    // of baseline); 24 weeks 22 mm: +37.5 % and +6 mm over the 16 mm nadir → PD at 45 % below baseline.
    const std::vector<double> t = {0, 42, 84, 126, 168};
    const auto b = burdenOf(t, {40, 20, 16, 20, 22});
    const auto o = assessRecist(b, LesionSplit{}, t, RecistOptions{});
    ASSERT_TRUE(o.evaluable());
    EXPECT_NEAR(o.baseline.sld_mm, 40.0, 1e-9);
    EXPECT_EQ(responses(o), (std::vector<Response>{Response::PR, Response::PR, Response::PR, Response::PD}));
    EXPECT_NEAR(o.followUps[3].nadir_mm, 16.0, 1e-9);
    EXPECT_NEAR(o.followUps[3].sld_mm, 22.0, 1e-9);
    EXPECT_EQ(o.bestResponse, Response::PR);
    EXPECT_TRUE(o.bestResponseConfirmed);  // PR at day 42 and again at 84 (≥ 28 d later)
    EXPECT_TRUE(o.progressed);
    EXPECT_DOUBLE_EQ(o.timeToProgression_d, 168.0);
    ASSERT_TRUE(o.durationOfResponse_d.has_value());
    EXPECT_DOUBLE_EQ(*o.durationOfResponse_d, 126.0);  // day 42 to day 168
    EXPECT_TRUE(o.responseEnded);
    EXPECT_TRUE(o.clinicalBenefit);
}

TEST(RecistOutcome, UnconfirmedPartialResponse) {
    // One PR at 6 weeks (26 mm of 40 = −35 %), PD at 12 weeks (40 mm: +14 mm, +54 % over 26).
    const std::vector<double> t = {0, 42, 84};
    const auto b = burdenOf(t, {40, 26, 40});
    RecistOptions opt;
    // Without confirmation the single PR is the best response, reported as unconfirmed.
    auto o = assessRecist(b, LesionSplit{}, t, opt);
    EXPECT_EQ(o.bestResponse, Response::PR);
    EXPECT_FALSE(o.bestResponseConfirmed);
    ASSERT_TRUE(o.durationOfResponse_d.has_value());
    EXPECT_DOUBLE_EQ(*o.durationOfResponse_d, 42.0);
    // With confirmation: PR then PD → SD, the PR time point (day 42) meeting the 6-week SD minimum.
    opt.criteria.requireConfirmation = true;
    o = assessRecist(b, LesionSplit{}, t, opt);
    EXPECT_EQ(o.bestResponse, Response::SD);
    EXPECT_FALSE(o.bestResponseConfirmed);
    EXPECT_FALSE(o.durationOfResponse_d.has_value());
    EXPECT_TRUE(o.progressed);
    EXPECT_DOUBLE_EQ(o.timeToProgression_d, 84.0);
    EXPECT_FALSE(o.clinicalBenefit);
    // … and with an 8-week SD minimum, PR then PD is PD (Eisenhauer 2009, table 3).
    opt.criteria.minStableDuration_d = 56;
    o = assessRecist(b, LesionSplit{}, t, opt);
    EXPECT_EQ(o.bestResponse, Response::PD);
    // PR then nothing more (the schedule ends): NE.
    const std::vector<double> t2 = {0, 42};
    o = assessRecist(b, LesionSplit{}, t2, opt);
    EXPECT_EQ(o.bestResponse, Response::NE);
    EXPECT_FALSE(o.progressed);
    EXPECT_DOUBLE_EQ(o.timeToProgression_d, 42.0);  // censored at the last assessment
}

TEST(RecistOutcome, ConfirmationNeedsFourWeeks) {
    // PR at day 42 and again at day 69 (27 d later): not confirmed; at day 70 (28 d): confirmed.
    RecistOptions opt;
    opt.criteria.requireConfirmation = true;
    for (const double second : {69.0, 70.0}) {
        const std::vector<double> t = {0, 42, second};
        const auto o = assessRecist(burdenOf(t, {40, 26, 26}), LesionSplit{}, t, opt);
        EXPECT_EQ(o.bestResponse, second == 70.0 ? Response::PR : Response::SD) << second;
        EXPECT_EQ(o.bestResponseConfirmed, second == 70.0) << second;
    }
}

TEST(RecistOutcome, CompleteResponseNeedsEveryLesionGone) {
    // Two target lesions: 99.9 % and 0.1 % of 1e12 cells (124 mm and 12.4 mm at baseline).
    const std::vector<double> t = {0, 42, 84, 126};
    TumourBurden b{"p2", t, {1e12, 1e8, 1e5, 1e5}};
    const LesionSplit split{{0.999, 0.001}};
    const auto o = assessRecist(b, split, t, RecistOptions{});
    ASSERT_TRUE(o.evaluable());
    EXPECT_EQ(o.targetLesion, (std::vector<bool>{true, true}));
    EXPECT_NEAR(o.baseline.diameters_mm[1], 12.407009817988, 1e-9);
    // Day 42: the small lesion (1e5 cells) is gone, the large one (9.99e7 cells) is 5.75 mm.
    EXPECT_EQ(o.followUps[0].diameters_mm[1], 0.0);
    EXPECT_NEAR(o.followUps[0].sld_mm, sphereDiameter_mm(0.999e8, 1e9), 1e-12);
    EXPECT_EQ(o.followUps[0].response, Response::PR);
    // Day 84: both below 1e6 cells → CR, confirmed at day 126.
    EXPECT_EQ(o.followUps[1].sld_mm, 0.0);
    EXPECT_EQ(o.followUps[1].response, Response::CR);
    EXPECT_EQ(o.bestResponse, Response::CR);
    EXPECT_TRUE(o.bestResponseConfirmed);
    EXPECT_DOUBLE_EQ(*o.durationOfResponse_d, 84.0);  // from the first PR (day 42), censored at 126
    EXPECT_FALSE(o.responseEnded);
}

TEST(RecistOutcome, SmallLesionIsNotATarget) {
    // 1e11 cells split 99.9 % / 0.1 %: the second lesion (1e8 cells, 5.76 mm) is not measurable,
    // so it is not in the SLD.
    const std::vector<double> t = {0, 42};
    TumourBurden b{"p3", t, {1e11, 1e11}};
    const auto o = assessRecist(b, LesionSplit{{0.999, 0.001}}, t, RecistOptions{});
    EXPECT_EQ(o.targetLesion, (std::vector<bool>{true, false}));
    EXPECT_NEAR(o.baseline.diameters_mm[1], 5.758823822970, 1e-9);
    EXPECT_NEAR(o.baseline.sld_mm, sphereDiameter_mm(0.999e11, 1e9), 1e-12);
}

TEST(RecistOutcome, StableDiseaseMinimumAndClinicalBenefit) {
    const RecistOptions opt;
    TumourBurden b{"p4", {0, 400}, {5e10, 5e10}};  // constant: 45.7 mm
    // One SD at day 28 (< 42): NE.
    std::vector<double> t = {0, 28};
    auto o = assessRecist(b, LesionSplit{}, t, opt);
    EXPECT_EQ(o.followUps[0].response, Response::SD);
    EXPECT_EQ(o.bestResponse, Response::NE);
    // SD at day 42 exactly: SD.
    t = {0, 42};
    o = assessRecist(b, LesionSplit{}, t, opt);
    EXPECT_EQ(o.bestResponse, Response::SD);
    EXPECT_FALSE(o.clinicalBenefit);
    // SD to day 168 (24 weeks): clinical benefit; to day 126 (18 weeks) not.
    auto s = regularSchedule(42, 168);
    o = assessRecist(b, LesionSplit{}, s, opt);
    EXPECT_TRUE(o.clinicalBenefit);
    EXPECT_FALSE(o.progressed);
    EXPECT_DOUBLE_EQ(o.timeToProgression_d, 168.0);
    s = regularSchedule(42, 126);
    o = assessRecist(b, LesionSplit{}, s, opt);
    EXPECT_FALSE(o.clinicalBenefit);
}

TEST(RecistSchedule, RegularTimes) {
    EXPECT_EQ(regularSchedule(42, 168), (std::vector<double>{0, 42, 84, 126, 168}));
    EXPECT_EQ(regularSchedule(56, 170), (std::vector<double>{0, 56, 112, 168}));
    EXPECT_EQ(regularSchedule(56, 200, 7), (std::vector<double>{7, 63, 119, 175}));
    EXPECT_EQ(regularSchedule(56, 0), (std::vector<double>{0}));
    EXPECT_THROW((void)regularSchedule(0, 100), InputError);
    EXPECT_THROW((void)regularSchedule(-42, 100), InputError);
    EXPECT_THROW((void)regularSchedule(42, 10, 20), InputError);
    EXPECT_THROW((void)regularSchedule(1e-3, 1e6), InputError);  // 1e9 assessments
}

TEST(RecistInterpolation, LogLinearBetweenOutputs) {
    const TumourBurden b{"p5", {0, 10, 20}, {1e9, 1e7, 0}};
    EXPECT_DOUBLE_EQ(assessmentCells(b, 0), 1e9);
    EXPECT_DOUBLE_EQ(assessmentCells(b, 10), 1e7);
    EXPECT_NEAR(assessmentCells(b, 5), 1e8, 1e-6);     // geometric mean, not 5.05e8
    EXPECT_NEAR(assessmentCells(b, 7.5), std::pow(10.0, 7.5), 1e-3);
    EXPECT_DOUBLE_EQ(assessmentCells(b, 15), 5e6);     // an interval reaching 0: linear
    EXPECT_THROW((void)assessmentCells(b, 20.5), InputError);
    EXPECT_THROW((void)assessmentCells(b, -1), InputError);
}

TEST(RecistInterpolation, ExponentialShrinkageThroughAssessRecist) {
    // N = 1e10·e^(−0.02 t), output every 10 d: log-linear interpolation is exact for it, so the
    // SLD ratio at day t is e^(−0.02 t / 3); PR (ratio ≤ 0.7) from t = 3·ln(1/0.7)/0.02 = 53.5 d.
    TumourBurden b{"exp", {}, {}};
    for (int d = 0; d <= 200; d += 10) {
        b.times_d.push_back(d);
        b.cells.push_back(1e10 * std::exp(-0.02 * d));
    }
    const auto s = regularSchedule(42, 168);
    const auto o = assessRecist(b, LesionSplit{}, s, RecistOptions{});
    ASSERT_EQ(o.followUps.size(), 4u);
    for (const auto& a : o.followUps) {
        EXPECT_NEAR(a.cells / (1e10 * std::exp(-0.02 * a.time_d)), 1.0, 1e-12) << a.time_d;
        EXPECT_NEAR(a.sld_mm / o.baseline.sld_mm, std::exp(-0.02 * a.time_d / 3.0), 1e-12) << a.time_d;
    }
    EXPECT_EQ(responses(o), (std::vector<Response>{Response::SD, Response::PR, Response::PR, Response::PR}));
    EXPECT_EQ(o.bestResponse, Response::PR);
    EXPECT_DOUBLE_EQ(*o.durationOfResponse_d, 84.0);  // day 84 to the last assessment, censored
}

TEST(RecistInterpolation, FromSimulationResult) {
    qsp::SimulationResult r;
    r.columns = {"clone.founding", "tumour.cells"};
    r.units = {"cell", "cell"};
    r.times = {0, 1};
    r.rows = {{1, 2e9}, {1, 3e9}};
    const auto b = tumourBurden(r, "sim");
    EXPECT_EQ(b.name, "sim");
    EXPECT_EQ(b.cells, (std::vector<double>{2e9, 3e9}));
    r.columns = {"clone.founding", "tumor.cells"};
    EXPECT_THROW((void)tumourBurden(r, "sim"), InputError);
}

TEST(RecistMeasurementError, ReproducibleAndOrderIndependent) {
    const MeasurementError e{0.09, 42};
    EXPECT_EQ(measurementFactor(MeasurementError{0, 42}, 3, 1, 0), 1.0);
    const double a = measurementFactor(e, 7, 2, 1);
    const double b = measurementFactor(e, 7, 3, 1);
    EXPECT_EQ(measurementFactor(e, 7, 2, 1), a);  // same key, same number
    EXPECT_NE(a, b);
    EXPECT_NE(measurementFactor(e, 8, 2, 1), a);
    EXPECT_NE(measurementFactor(MeasurementError{0.09, 43}, 7, 2, 1), a);
    // Mean 1 and CV 0.09 over 20,000 readings (standard errors 0.0006 and ~0.0005).
    double s = 0, s2 = 0;
    const int n = 20000;
    for (int i = 0; i < n; ++i) {
        const double f = measurementFactor(e, static_cast<std::uint64_t>(i), 1, 0);
        s += f;
        s2 += f * f;
    }
    const double mean = s / n;
    const double sd = std::sqrt(s2 / n - mean * mean);
    EXPECT_NEAR(mean, 1.0, 0.003);
    EXPECT_NEAR(sd / mean, 0.09, 0.003);

    // Whole outcomes: patient 5 is the same whether patient 6 is assessed before or after it.
    RecistOptions opt;
    opt.error = e;
    const std::vector<double> t = {0, 42, 84};
    const TumourBurden burden{"p6", t, {3e10, 1e10, 2e10}};
    const LesionSplit split{{0.6, 0.4}};
    const auto p5first = assessRecist(burden, split, t, opt, 5);
    (void)assessRecist(burden, split, t, opt, 6);
    const auto p5again = assessRecist(burden, split, t, opt, 5);
    const auto p6 = assessRecist(burden, split, t, opt, 6);
    for (std::size_t k = 0; k < 2; ++k) {
        EXPECT_EQ(p5first.followUps[k].sld_mm, p5again.followUps[k].sld_mm);
        EXPECT_NE(p5first.followUps[k].sld_mm, p6.followUps[k].sld_mm);
    }
    // Each reading is the exact diameter times its own factor: lesion 1 of patient 5 at day 42.
    EXPECT_DOUBLE_EQ(p5first.followUps[0].diameters_mm[1], sphereDiameter_mm(0.4e10, 1e9) * measurementFactor(e, 5, 1, 1));
}

TEST(RecistOutcome, NonEvaluableBaseline) {
    // 1e8 cells: a 5.76 mm lesion, under the 10 mm RECIST needs at baseline.
    const std::vector<double> t = {0, 42, 84};
    const TumourBurden b{"p7", t, {1e8, 1e10, 1e11}};
    const auto o = assessRecist(b, LesionSplit{}, t, RecistOptions{});
    EXPECT_FALSE(o.evaluable());
    EXPECT_EQ(o.evaluability, Evaluability::NoMeasurableLesion);
    EXPECT_EQ(o.bestResponse, Response::NE);
    EXPECT_EQ(responses(o), (std::vector<Response>{Response::NE, Response::NE}));
    EXPECT_FALSE(o.progressed);
    EXPECT_FALSE(o.clinicalBenefit);
    // Exactly 10 mm at baseline is measurable.
    const auto o10 = assessRecist(burdenOf({0, 42}, {10, 10}), LesionSplit{}, std::vector<double>{0, 42}, RecistOptions{});
    EXPECT_TRUE(o10.evaluable());
}

TEST(RecistInputs, BadInputsNameThePatientAndValue) {
    const std::vector<double> t = {0, 42};
    const RecistOptions opt;
    auto expectInput = [](auto&& f, const std::string& needle) {
        try {
            f();
            ADD_FAILURE() << "no InputError; expected one mentioning '" << needle << "'";
        } catch (const InputError& e) {
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
        }
    };
    const LesionSplit one;
    expectInput([&] { (void)assessRecist(TumourBurden{"bad1", {0, 42, 42}, {1e10, 1e10, 1e10}}, one, t, opt); }, "patient 'bad1': times_d is not strictly increasing");
    expectInput([&] { (void)assessRecist(TumourBurden{"bad2", {0, NAN}, {1e10, 1e10}}, one, t, opt); }, "patient 'bad2': times_d[1] is not finite");
    expectInput([&] { (void)assessRecist(TumourBurden{"bad3", t, {1e10, -1}}, one, t, opt); }, "patient 'bad3': cells[1] is negative (-1 cells)");
    expectInput([&] { (void)assessRecist(TumourBurden{"bad4", t, {1e10, INFINITY}}, one, t, opt); }, "cells[1] is not finite");
    expectInput([&] { (void)assessRecist(TumourBurden{"bad5", t, {1e10}}, one, t, opt); }, "cells has 1 values but times_d has 2");
    const TumourBurden ok{"ok", t, {1e10, 1e10}};
    expectInput([&] { (void)assessRecist(ok, one, std::vector<double>{}, opt); }, "schedule is empty");
    expectInput([&] { (void)assessRecist(ok, one, std::vector<double>{42, 0}, opt); }, "not strictly increasing ([1] = 0 d after 42 d)");
    expectInput([&] { (void)assessRecist(ok, one, std::vector<double>{-1, 0}, opt); }, "assessment time [0] is -1 d");
    expectInput([&] { (void)assessRecist(ok, one, std::vector<double>{0, 50}, opt); }, "assessment at 50 d is outside the trajectory [0, 42] d");
    expectInput([&] { (void)assessRecist(ok, LesionSplit{{0.2, 0.2, 0.2, 0.2, 0.1, 0.1}}, t, opt); }, "6 target lesions; RECIST 1.1 allows 1 to 5");
    expectInput([&] { (void)assessRecist(ok, LesionSplit{{0.5, 0.4}}, t, opt); }, "lesion fractions sum to 0.9, not 1");
    expectInput([&] { (void)assessRecist(ok, LesionSplit{{1.5, -0.5}}, t, opt); }, "lesion fraction [1] is -0.5");
    RecistOptions o2;
    o2.geometry.cellDensity_per_cm3 = 5e9;
    expectInput([&] { (void)assessRecist(ok, one, t, o2); }, "patient 'ok': cell density 5000000000 cell/cm³ is outside");
    o2 = {};
    o2.error.cv = -0.1;
    expectInput([&] { (void)assessRecist(ok, one, t, o2); }, "measurement-error CV -0.1");
    o2 = {};
    o2.criteria.partialResponseDecrease = 1.0;
    expectInput([&] { (void)assessRecist(ok, one, t, o2); }, "partial-response decrease 1 must be in (0, 1)");
    o2 = {};
    o2.criteria.confirmationInterval_d = 0;
    expectInput([&] { (void)assessRecist(ok, one, t, o2); }, "confirmation interval 0 d");
    expectInput([&] { (void)sphereDiameter_mm(-1, 1e9); }, "-1 cells");
    expectInput([&] { (void)classifyTimePoint(10, 0, 0, false, RecistCriteria{}); }, "baseline SLD 0 mm");
}
