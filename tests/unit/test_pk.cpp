// Pharmacokinetics and dosing (include/nkscape/qsp/pk.hpp): each PK model through the ODE solver
// against its closed form, superposition, TMDD, cell kinetics, the default model's trastuzumab
// terminal half-life, and readable dosing specs.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <numbers>
#include <string>
#include <vector>

#include "nkscape/model/loader.hpp"
#include "nkscape/qsp/ode.hpp"
#include "nkscape/qsp/pk.hpp"

#include "default_model.hpp"

using namespace nkscape;
using namespace nkscape::qsp;

namespace {

using nkscape::testing::defaultModel;

double relErr(double got, double want) { return std::abs(got - want) / std::abs(want); }

std::string sci(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
}

/// One drug as an ODE system, as the engine will stack it: PK states at an offset (here 1, after
/// an unrelated state that decays, to check the offset is honoured).
class PkSystem : public OdeSystem {
public:
    explicit PkSystem(const DrugPk& drug, bool analyticJacobian = false) : drug_(drug), analytic_(analyticJacobian) {}
    static constexpr std::size_t kOffset = 1;
    [[nodiscard]] std::size_t size() const override { return kOffset + drug_.stateCount(); }
    void rhs(double, std::span<const double> y, std::span<double> f) override {
        std::fill(f.begin(), f.end(), 0.0);
        f[0] = -y[0];
        drug_.addDerivatives(y, f, kOffset, rate, targetNm);
    }
    [[nodiscard]] bool hasJacobian() const override { return analytic_; }
    void jacobian(double, std::span<const double> y, std::span<const double>, JacobianView J) override {
        J(0, 0) = -1;
        drug_.addJacobian(y, J, kOffset, targetNm);
    }
    [[nodiscard]] std::string stateName(std::size_t i) const override {
        return i < kOffset ? "other" : drug_.stateName(i - kOffset);
    }
    [[nodiscard]] bool nonNegative(std::size_t) const override { return true; }
    [[nodiscard]] std::string name() const override { return "pk-test"; }
    double rate = 0;      ///< current infusion rate, amount/d
    double targetNm = 0;  ///< TMDD target, nM

private:
    const DrugPk& drug_;
    bool analytic_;
};

/// The engine's loop in miniature: integrate between dose events and sample times, apply boluses
/// and switch the infusion rate at events (re-initialising CVODE there). Returns the PK states
/// (without the offset) at each sample time (after any bolus given at that time).
std::vector<std::vector<double>> simulate(const DrugPk& drug, const DosingRegimen& regimen, const std::vector<double>& samples,
                                          double targetNm = 0, bool analytic = false) {
    PkSystem sys(drug, analytic);
    sys.targetNm = targetNm;
    const std::vector<double> events = regimen.eventTimes();
    std::vector<double> points = events;
    points.insert(points.end(), samples.begin(), samples.end());
    points.push_back(0.0);
    std::sort(points.begin(), points.end());
    points.erase(std::unique(points.begin(), points.end()), points.end());
    std::vector<double> y(sys.size(), 0.0);
    y[0] = 1.0;
    OdeOptions o;
    o.rtol = 1e-10;
    o.atol = 1e-14;
    OdeSolver solver(sys, 0.0, y, o);
    std::vector<std::vector<double>> out;
    for (double p : points) {
        if (p > solver.time()) solver.advanceTo(p);
        y.assign(solver.state().begin(), solver.state().end());
        if (std::binary_search(events.begin(), events.end(), p)) {
            drug.applyBolus(y, PkSystem::kOffset, regimen.bolusAt(p));
            sys.rate = regimen.infusionRate(p);
            solver.reinitialize(p, y);
        }
        if (std::binary_search(samples.begin(), samples.end(), p)) {
            out.emplace_back(y.begin() + PkSystem::kOffset, y.end());
        }
    }
    return out;
}

std::vector<double> grid(double from, double to, double step) {
    std::vector<double> t;
    for (double x = from; x <= to + 1e-12; x += step) t.push_back(x);
    return t;
}

PkParameters oneCompartment() {
    PkParameters p;
    p.model = model::PkModel::OneCompartment;
    p.clearance = 5.0;  // L/d
    p.v1 = 10.0;        // L → k = 0.5 /d
    p.molecularWeight = 150.0;
    return p;
}

PkParameters twoCompartment() {
    PkParameters p;
    p.model = model::PkModel::TwoCompartment;
    p.route = PkRoute::IvInfusion;
    p.clearance = 0.225;
    p.v1 = 2.95;
    p.q = 0.484;
    p.v2 = 4.79;
    p.molecularWeight = 148.0;
    return p;
}

struct AlphaBeta {
    double alpha, beta, k21;
};
AlphaBeta alphaBeta(const PkParameters& p) {
    const double k10 = p.clearance / p.v1, k12 = p.q / p.v1, k21 = p.q / p.v2;
    const double s = k10 + k12 + k21;
    const double d = std::sqrt(s * s - 4 * k10 * k21);
    return {(s + d) / 2, (s - d) / 2, k21};
}

}  // namespace

TEST(Pk, OneCompartmentIvBolus) {
    const DrugPk drug("bolus-drug", oneCompartment());
    ASSERT_EQ(drug.stateCount(), 1u);
    EXPECT_DOUBLE_EQ(drug.k10(), 0.5);
    const DosingRegimen reg({{0.0, 100.0, 0.0}}, "mg");
    const auto t = grid(0.5, 10, 0.5);
    const auto ys = simulate(drug, reg, t);
    double worst = 0;
    for (std::size_t i = 0; i < t.size(); ++i) {
        const double exactNm = 100.0 / 10.0 * std::exp(-0.5 * t[i]) * 1000.0 / 150.0;
        worst = std::max(worst, relErr(drug.concentration(ys[i]), exactNm));
    }
    EXPECT_LT(worst, 1e-6);
    RecordProperty("max_rel_error", sci(worst));
}

TEST(Pk, OneCompartmentFromHalfLife) {
    PkParameters p = oneCompartment();
    p.clearance = 0;
    p.halfLife = 10.0;  // h
    const DrugPk drug("half-life-drug", p);
    EXPECT_NEAR(drug.k10(), std::numbers::ln2 / (10.0 / 24.0), 1e-12);
    EXPECT_NEAR(drug.terminalHalfLife(), 10.0 / 24.0, 1e-12);
    const auto ys = simulate(drug, DosingRegimen({{0.0, 1.0, 0.0}}, "mg"), {10.0 / 24.0, 20.0 / 24.0});
    EXPECT_LT(relErr(ys[0][0], 0.5), 1e-6);
    EXPECT_LT(relErr(ys[1][0], 0.25), 1e-6);
}

TEST(Pk, OneCompartmentZeroOrderInfusionDuringAndAfter) {
    const DrugPk drug("infused-drug", oneCompartment());
    const double k = 0.5, dose = 100.0, T = 2.0, R = dose / T;
    const DosingRegimen reg({{0.0, dose, T}}, "mg");
    EXPECT_DOUBLE_EQ(reg.infusionRate(1.0), R);
    EXPECT_DOUBLE_EQ(reg.infusionRate(2.0), 0.0);
    const auto t = grid(0.25, 8, 0.25);
    const auto ys = simulate(drug, reg, t);
    double worst = 0;
    for (std::size_t i = 0; i < t.size(); ++i) {
        const double exact = t[i] <= T ? R / k * (1 - std::exp(-k * t[i])) : R / k * (1 - std::exp(-k * T)) * std::exp(-k * (t[i] - T));
        worst = std::max(worst, relErr(ys[i][0], exact));
    }
    EXPECT_LT(worst, 1e-6);
    RecordProperty("max_rel_error", sci(worst));
}

TEST(Pk, FirstOrderAbsorptionIsTheBatemanFunction) {
    PkParameters p = oneCompartment();
    p.route = PkRoute::Subcutaneous;
    p.clearance = 3.0;  // k = 0.3 /d
    p.ka = 1.5;
    p.bioavailability = 0.7;
    const DrugPk drug("sc-drug", p);
    ASSERT_EQ(drug.stateCount(), 2u);
    EXPECT_EQ(drug.doseState(), 0u);
    EXPECT_EQ(drug.centralState(), 1u);
    EXPECT_EQ(drug.stateName(0), "sc-drug.depot");
    const double D = 50.0, k = 0.3, ka = 1.5, F = 0.7;
    const auto t = grid(0.1, 20, 0.1);
    const auto ys = simulate(drug, DosingRegimen({{0.0, D, 0.0}}, "mg"), t);
    double worst = 0;
    for (std::size_t i = 0; i < t.size(); ++i) {
        const double exact = F * D * ka / (ka - k) * (std::exp(-k * t[i]) - std::exp(-ka * t[i]));
        worst = std::max(worst, relErr(drug.centralAmount(ys[i]), exact));
    }
    EXPECT_LT(worst, 1e-6);
    RecordProperty("max_rel_error", sci(worst));
}

TEST(Pk, TwoCompartmentIvBolusIsBiExponential) {
    const PkParameters p = twoCompartment();
    const DrugPk drug("two-comp", p);
    const auto [alpha, beta, k21] = alphaBeta(p);
    const auto rates = drug.dispositionRates();
    EXPECT_LT(relErr(rates[0], beta), 1e-12);
    EXPECT_LT(relErr(rates[1], alpha), 1e-12);
    const double D = 300.0;
    const auto t = grid(0.5, 120, 0.5);
    const auto ys = simulate(drug, DosingRegimen({{0.0, D, 0.0}}, "mg"), t);
    double worst = 0;
    for (std::size_t i = 0; i < t.size(); ++i) {
        const double exact = D * ((alpha - k21) * std::exp(-alpha * t[i]) + (k21 - beta) * std::exp(-beta * t[i])) / (alpha - beta);
        worst = std::max(worst, relErr(ys[i][0], exact));
    }
    EXPECT_LT(worst, 1e-6);
    RecordProperty("max_rel_error", sci(worst));
}

TEST(Pk, TwoCompartmentInfusionMatchesClosedForm) {
    const PkParameters p = twoCompartment();
    const DrugPk drug("two-comp", p);
    const auto [alpha, beta, k21] = alphaBeta(p);
    const double D = 420.0, T = 90.0 / 1440.0, R = D / T;  // 90-min infusion
    auto integral = [&](double tau) {  // ∫0^tau of the unit impulse response of A1
        return (alpha - k21) / (alpha * (alpha - beta)) * (1 - std::exp(-alpha * tau)) +
               (k21 - beta) / (beta * (alpha - beta)) * (1 - std::exp(-beta * tau));
    };
    auto exact = [&](double t) {
        if (t <= T) return R * integral(t);
        // Superpose the infusion's switch-off: R·(I(t) − I(t − T)).
        return R * (integral(t) - integral(t - T));
    };
    std::vector<double> t = grid(0.005, 0.06, 0.005);
    const auto after = grid(0.1, 60, 0.1);
    t.insert(t.end(), after.begin(), after.end());
    const auto ys = simulate(drug, DosingRegimen({{0.0, D, T}}, "mg"), t);
    double worst = 0;
    for (std::size_t i = 0; i < t.size(); ++i) worst = std::max(worst, relErr(ys[i][0], exact(t[i])));
    EXPECT_LT(worst, 1e-6);
    RecordProperty("max_rel_error", sci(worst));
}

TEST(Pk, RepeatedDosesSuperpose) {
    const DrugPk drug("repeat", oneCompartment());
    const auto reg = DosingRegimen::parse({"100 mg", "q1w x 3", "", 1.0, ""}, "mg", {});
    ASSERT_EQ(reg.doses().size(), 3u);
    const auto t = grid(0.5, 30, 0.5);
    const auto ys = simulate(drug, reg, t);
    double worst = 0;
    for (std::size_t i = 0; i < t.size(); ++i) {
        double exact = 0;
        for (const Dose& d : reg.doses()) {
            if (t[i] >= d.time_d) exact += d.amount * std::exp(-0.5 * (t[i] - d.time_d));
        }
        if (exact > 0) worst = std::max(worst, relErr(ys[i][0], exact));
    }
    EXPECT_LT(worst, 1e-6);
    RecordProperty("max_rel_error", sci(worst));
}

TEST(Pk, ThreeCompartmentDispositionRates) {
    PkParameters p = twoCompartment();
    p.model = model::PkModel::ThreeCompartment;
    p.q2 = 0.2;
    p.v3 = 10.0;
    const DrugPk drug("three-comp", p);
    ASSERT_EQ(drug.stateCount(), 3u);
    const auto r = drug.dispositionRates();
    ASSERT_EQ(r.size(), 3u);
    const double k10 = p.clearance / p.v1, k12 = p.q / p.v1, k21 = p.q / p.v2, k13 = p.q2 / p.v1, k31 = p.q2 / p.v3;
    EXPECT_LT(relErr(r[0] + r[1] + r[2], k10 + k12 + k13 + k21 + k31), 1e-12);
    EXPECT_LT(relErr(r[0] * r[1] * r[2], k10 * k21 * k31), 1e-10);
    // The simulated terminal slope is the smallest rate.
    const auto ys = simulate(drug, DosingRegimen({{0.0, 100.0, 0.0}}, "mg"), {400.0, 500.0});
    EXPECT_LT(relErr(std::log(ys[0][0] / ys[1][0]) / 100.0, r[0]), 1e-4);
}

TEST(Pk, AnalyticJacobianMatchesFiniteDifferencesAndSolves) {
    PkParameters p = twoCompartment();
    p.route = PkRoute::Subcutaneous;
    p.ka = 0.8;
    p.bioavailability = 0.6;
    p.tmddKd = 2.0;
    p.tmddKint = 3.0;
    const DrugPk drug("jac", p);
    PkSystem sys(drug, true);
    sys.targetNm = 5.0;
    const std::size_t n = sys.size();
    std::vector<double> y{0.3, 20.0, 40.0, 15.0}, f(n), f2(n), J(n * n, 0.0);
    sys.rhs(0, y, f);
    JacobianView view(J.data(), n);
    sys.jacobian(0, y, f, view);
    for (std::size_t j = 0; j < n; ++j) {
        auto yp = y;
        const double h = 1e-6 * std::max(1.0, std::abs(y[j]));
        yp[j] += h;
        sys.rhs(0, yp, f2);
        for (std::size_t i = 0; i < n; ++i) EXPECT_NEAR(view(i, j), (f2[i] - f[i]) / h, 1e-5) << i << "," << j;
    }
    const DosingRegimen reg({{0.0, 100.0, 0.0}}, "mg");
    const auto a = simulate(drug, reg, {5.0, 20.0}, 5.0, false);
    const auto b = simulate(drug, reg, {5.0, 20.0}, 5.0, true);
    EXPECT_LT(relErr(a[1][1], b[1][1]), 1e-7);
}

TEST(Pk, TargetMediatedClearanceIsMichaelisMenten) {
    PkParameters p = oneCompartment();
    p.tmddKd = 1.0;     // nM
    p.tmddKint = 2.0;   // 1/d
    const DrugPk drug("tmdd", p);
    const double R = 10.0;  // nM target
    std::vector<double> y{150.0}, f{0.0};  // 150 mg in 10 L of a 150 kDa drug = 100 nM
    ASSERT_NEAR(drug.concentration(y), 100.0, 1e-12);
    drug.addDerivatives(y, f, 0, 0, R);
    // Linear: −0.5·150; TMDD: kint·R·C/(KD + C)·V1 nmol/d × MW/1000 mg/nmol.
    const double tmdd = 2.0 * R * 100.0 / 101.0 * 10.0 * 150.0 / 1000.0;
    EXPECT_NEAR(f[0], -0.5 * 150.0 - tmdd, 1e-12);
    // No target, no TMDD; the TMDD term makes elimination faster than the linear one.
    f = {0.0};
    drug.addDerivatives(y, f, 0, 0, 0);
    EXPECT_NEAR(f[0], -75.0, 1e-12);
    const DosingRegimen reg({{0.0, 150.0, 0.0}}, "mg");
    EXPECT_LT(simulate(drug, reg, {3.0}, R)[0][0], simulate(drug, reg, {3.0}, 0)[0][0]);
}

TEST(Pk, CellKineticsExpandsContractsAndPersists) {
    PkParameters p;
    p.model = model::PkModel::CellKinetics;
    p.expansionRate = 0.8;
    p.contractionRate = 0.3;
    p.persistence = 10.0;  // k = 0.1 /d
    const DrugPk drug("CAR-NK", p);
    ASSERT_EQ(drug.stateCount(), 2u);
    EXPECT_EQ(drug.amountUnit(), "cell");
    EXPECT_THROW((void)drug.concentration(std::vector<double>{1.0, 1.0}), InputError);
    const double N0 = 1e8;
    const auto t = grid(0.5, 40, 0.5);
    const auto ys = simulate(drug, DosingRegimen({{0.0, N0, 0.0}}, "cell"), t);
    double worst = 0;
    for (std::size_t i = 0; i < t.size(); ++i) {
        const double exact = N0 * std::exp(0.8 / 0.3 * (1 - std::exp(-0.3 * t[i])) - 0.1 * t[i]);
        worst = std::max(worst, relErr(drug.centralAmount(ys[i]), exact));
    }
    EXPECT_LT(worst, 1e-6);
    RecordProperty("max_rel_error", sci(worst));
    p.contractionRate = 0;
    EXPECT_THROW(DrugPk("CAR-NK", p), InputError);
}

TEST(Pk, DefaultModelTrastuzumabTerminalHalfLife) {
    const DrugPk drug = DrugPk::fromTherapy(defaultModel(), "trastuzumab");
    EXPECT_EQ(drug.parameters().model, model::PkModel::TwoCompartment);
    EXPECT_DOUBLE_EQ(drug.parameters().clearance, 0.225);
    EXPECT_DOUBLE_EQ(drug.parameters().v1, 2.95);
    const double analytic = drug.terminalHalfLife();
    EXPECT_NEAR(analytic, 28.5, 2.85) << "Bruno et al. 2005: t½ 28.5 d";
    // The same from a simulation: log-linear slope of C between days 150 and 200 after a dose.
    const auto ys = simulate(drug, DosingRegimen({{0.0, 8.0 * 70, 90.0 / 1440.0}}, "mg"), {150.0, 200.0});
    const double simulated = std::numbers::ln2 * 50.0 / std::log(drug.concentration(ys[0]) / drug.concentration(ys[1]));
    EXPECT_NEAR(simulated, 28.5, 2.85);
    EXPECT_LT(relErr(simulated, analytic), 1e-4);
    RecordProperty("terminal_half_life_d", std::to_string(analytic));
}

TEST(Pk, EveryTherapyOfTheDefaultModelWithPkResolves) {
    const auto& m = defaultModel();
    int resolved = 0;
    for (model::Index i = 0; i < m.therapies().size(); ++i) {
        if (m.therapies()[i].pk.model == model::PkModel::None) {
            // A local therapy resolves only with pk.persistence (its activity's time constant).
            const bool persists = m.therapies()[i].pk.params[static_cast<std::size_t>(model::PkParam::Persistence)] != model::kNoParam;
            if (!persists) {
                EXPECT_THROW((void)DrugPk::fromTherapy(m, i), InputError);
                continue;
            }
            const DrugPk d = DrugPk::fromTherapy(m, i);
            EXPECT_TRUE(d.isLocal()) << d.name();
            EXPECT_EQ(d.stateCount(), 1u) << d.name();
        }
        const DrugPk d = DrugPk::fromTherapy(m, i);
        EXPECT_GT(d.stateCount(), 0u) << d.name();
        EXPECT_GT(d.terminalHalfLife(), 0.0) << d.name();
        ++resolved;
    }
    EXPECT_GT(resolved, 10);
}

TEST(Dosing, Q3wTimes6WithLoadingDose) {
    DosingSpec spec;
    spec.amount = "6 mg/kg";
    spec.loadingAmount = "8 mg/kg";
    spec.schedule = "q3w x 6";
    spec.infusion = "90 min";
    spec.startDay = 0;
    const auto reg = DosingRegimen::parse(spec, "mg", {70.0, std::nullopt}, 0, "trastuzumab");
    ASSERT_EQ(reg.doses().size(), 6u);
    for (std::size_t i = 0; i < 6; ++i) {
        EXPECT_DOUBLE_EQ(reg.doses()[i].time_d, 21.0 * static_cast<double>(i));
        EXPECT_DOUBLE_EQ(reg.doses()[i].amount, i == 0 ? 560.0 : 420.0);
        EXPECT_DOUBLE_EQ(reg.doses()[i].duration_d, 90.0 / 1440.0);
    }
    EXPECT_DOUBLE_EQ(reg.totalAmount(), 560.0 + 5 * 420.0);
    const auto ev = reg.eventTimes();
    ASSERT_EQ(ev.size(), 12u);
    EXPECT_DOUBLE_EQ(ev[1], 90.0 / 1440.0);
    EXPECT_DOUBLE_EQ(reg.infusionRate(0.01), 560.0 / (90.0 / 1440.0));
    EXPECT_DOUBLE_EQ(reg.infusionRate(1.0), 0.0);
    EXPECT_DOUBLE_EQ(reg.bolusAt(0.0), 0.0);
}

TEST(Dosing, PerKilogramDosesScaleWithBodyWeight) {
    const DosingSpec spec{"4 mg/kg", "once", "", 0, ""};
    const double light = DosingRegimen::parse(spec, "mg", {50.0, std::nullopt}).doses()[0].amount;
    const double heavy = DosingRegimen::parse(spec, "mg", {100.0, std::nullopt}).doses()[0].amount;
    EXPECT_DOUBLE_EQ(light, 200.0);
    EXPECT_DOUBLE_EQ(heavy, 2.0 * light);
    EXPECT_DOUBLE_EQ(convertDoseAmount("10 ug/kg", "mg", {70.0, std::nullopt}, 0, "x"), 0.7);
    EXPECT_DOUBLE_EQ(convertDoseAmount("75 mg/m2", "mg", {std::nullopt, 1.8}, 0, "x"), 135.0);
    EXPECT_DOUBLE_EQ(convertDoseAmount("2e6 cells/kg", "cell", {70.0, std::nullopt}, 0, "x"), 1.4e8);
    EXPECT_DOUBLE_EQ(convertDoseAmount("1.5 g", "mg", {}, 0, "x"), 1500.0);
}

TEST(Dosing, SchedulesParse) {
    EXPECT_EQ(parseSchedule("once").count, 1);
    Schedule s = parseSchedule("q1w x 4");
    EXPECT_DOUBLE_EQ(s.interval_d, 7.0);
    EXPECT_EQ(s.count, 4);
    s = parseSchedule("qd x 14");
    EXPECT_DOUBLE_EQ(s.interval_d, 1.0);
    EXPECT_EQ(s.count, 14);
    s = parseSchedule("bid x 7");
    EXPECT_DOUBLE_EQ(s.interval_d, 0.5);
    EXPECT_EQ(s.count, 7);
    s = parseSchedule("BID x 7 days");
    EXPECT_EQ(s.count, 14);
    s = parseSchedule("q8h × 3");
    EXPECT_DOUBLE_EQ(s.interval_d, 1.0 / 3.0);
    EXPECT_EQ(s.count, 3);
    s = parseSchedule("q2w x 12 weeks");
    EXPECT_EQ(s.count, 6);
    EXPECT_DOUBLE_EQ(parseDuration("30 min"), 30.0 / 1440.0);
    EXPECT_DOUBLE_EQ(parseDuration("2 h"), 2.0 / 24.0);
    EXPECT_DOUBLE_EQ(parseDuration(""), 0.0);
    const auto reg = DosingRegimen::parse({"1e9 cells", "q1w x 3", "", 2.0, ""}, "cell", {});
    EXPECT_DOUBLE_EQ(reg.doses()[2].time_d, 16.0);
    EXPECT_DOUBLE_EQ(reg.bolusAt(9.0), 1e9);
}

TEST(Dosing, InternationalUnitsConvertOnlyForIl2) {
    const auto& m = defaultModel();
    const DrugPk il2 = DrugPk::fromTherapy(m, "IL-2 therapy");
    EXPECT_DOUBLE_EQ(il2.parameters().mgPerMiu, kAldesleukinMgPerMiu);
    const auto reg = DosingRegimen::parse({"600000 IU/kg", "q8h x 14", "", 0, ""}, il2, {70.0, std::nullopt});
    EXPECT_NEAR(reg.doses()[0].amount, 0.6 * 70 * 1.3 / 22.0, 1e-12);
    EXPECT_EQ(reg.doses().size(), 14u);
    const DrugPk tras = DrugPk::fromTherapy(m, "trastuzumab");
    try {
        (void)DosingRegimen::parse({"10 MIU", "once", "", 0, ""}, tras, {70.0, std::nullopt});
        FAIL() << "MIU of trastuzumab must not convert";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("trastuzumab"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("10 MIU"), std::string::npos) << e.what();
    }
}

TEST(Dosing, InvalidSpecsNameTheBadPart) {
    auto message = [](const DosingSpec& spec, const BodySize& body = {70.0, 1.8}, std::string_view unit = "mg") -> std::string {
        try {
            (void)DosingRegimen::parse(spec, unit, body, 0, "therapy 'X'");
        } catch (const InputError& e) {
            return e.what();
        }
        return "<no error>";
    };
    EXPECT_NE(message({"6 mg/lb", "once", "", 0, ""}).find("'lb'"), std::string::npos);
    EXPECT_NE(message({"6 furlongs", "once", "", 0, ""}).find("furlongs"), std::string::npos);
    EXPECT_NE(message({"mg", "once", "", 0, ""}).find("does not start with a number"), std::string::npos);
    EXPECT_NE(message({"-5 mg", "once", "", 0, ""}).find("negative"), std::string::npos);
    EXPECT_NE(message({"6 mg/kg", "once", "", 0, ""}, {}).find("body weight"), std::string::npos);
    EXPECT_NE(message({"6 mg/m2", "once", "", 0, ""}, {70.0, std::nullopt}).find("body surface"), std::string::npos);
    EXPECT_NE(message({"6 mg", "qz x 3", "", 0, ""}).find("'qz'"), std::string::npos);
    EXPECT_NE(message({"6 mg", "q3w x", "", 0, ""}).find("count"), std::string::npos);
    EXPECT_NE(message({"6 mg", "q3w x 2.5", "", 0, ""}).find("count '2.5'"), std::string::npos);
    EXPECT_NE(message({"6 mg", "weekly-ish", "", 0, ""}).find("weekly-ish"), std::string::npos);
    EXPECT_NE(message({"6 mg", "once", "", 0, "90 parsecs"}).find("parsecs"), std::string::npos);
    EXPECT_NE(message({"6 mg", "once", "9 furlongs", 0, ""}).find("loading dose"), std::string::npos);
    EXPECT_NE(message({"6 mg", "once", "", -1, ""}).find("start day"), std::string::npos);
    EXPECT_NE(message({"1e9 cells", "once", "", 0, ""}).find("cells"), std::string::npos);
    EXPECT_NE(message({"6 mg", "once", "", 0, ""}, {}, "cell").find("not a number of cells"), std::string::npos);
    EXPECT_NE(message({"6 mg", "once", "", 0, ""}).find("<no error>"), std::string::npos);
    EXPECT_THROW(DosingRegimen({{-1.0, 1.0, 0.0}}, "mg"), InputError);
}

TEST(Pk, LocalTherapyActivityDecaysWithItsPersistence) {
    // oncolytic HSV-1: each administration sets the activity to 1; it decays as exp(-t/persistence).
    const auto& m = defaultModel();
    const DrugPk d = DrugPk::fromTherapy(m, "oncolytic HSV-1");
    ASSERT_TRUE(d.isLocal());
    const double persistence = 1.0 / d.k10();
    std::vector<double> y(1, 0.0);
    d.applyBolus(y, 0, 1.0);
    d.applyBolus(y, 0, 1.0);  // a second administration restores, it does not add
    EXPECT_DOUBLE_EQ(y[0], 1.0);
    std::vector<double> dy(1, 0.0);
    d.addDerivatives(y, dy, 0);
    EXPECT_DOUBLE_EQ(dy[0], -1.0 / persistence);
    EXPECT_DOUBLE_EQ(d.concentration(y, 0), 1.0);
    EXPECT_EQ(d.amountUnit(), "administration");
    DosingSpec spec;
    spec.amount = "1e8 PFU";
    spec.schedule = "q1w x 3";
    const auto reg = DosingRegimen::parse(spec, d, BodySize{});
    ASSERT_EQ(reg.doses().size(), 3u);
    EXPECT_DOUBLE_EQ(reg.doses()[2].time_d, 14.0);
    EXPECT_DOUBLE_EQ(reg.doses()[2].amount, 1.0);
    spec.amount = "-5 PFU";
    EXPECT_THROW((void)DosingRegimen::parse(spec, d, BodySize{}), InputError);
}

// advanceLinear: the exact propagator an engine can use instead of integrating the PK states.
TEST(DrugPkAdvanceLinear, OneCompartmentClosedFormWithInfusion) {
    const DrugPk drug("one", oneCompartment());  // k = 0.5 /d
    std::vector<double> y{7.0, 100.0};           // an unrelated state, then the central amount
    drug.advanceLinear(y, 1, 3.0, 20.0);         // 20 mg/d for 3 d
    const double k = 0.5;
    const double want = 100.0 * std::exp(-k * 3.0) + 20.0 / k * (1.0 - std::exp(-k * 3.0));
    EXPECT_LT(relErr(y[1], want), 1e-13);
    EXPECT_EQ(y[0], 7.0) << "states outside the drug's are untouched";
    drug.advanceLinear(y, 1, 0.0, 20.0);
    EXPECT_LT(relErr(y[1], want), 1e-13) << "dt = 0 changes nothing";
    EXPECT_THROW(drug.advanceLinear(y, 1, -1.0), InputError);
}

// Against the ODE solver at rtol 1e-11: the closed forms (one compartment, two compartments given
// IV, what antibodies use) and the matrix exponential (three compartments with an absorption depot:
// equal ka and a disposition-like rate would make the matrix defective; the Padé propagator does
// not care), long and short steps, with and without an infusion.
TEST(DrugPkAdvanceLinear, MatchesTheOdeSolverForClosedFormsAndTheMatrixExponential) {
    PkParameters p3 = twoCompartment();
    p3.model = model::PkModel::ThreeCompartment;
    p3.route = PkRoute::Subcutaneous;
    p3.q2 = 0.3;
    p3.v3 = 10.0;
    p3.ka = 0.8;
    p3.bioavailability = 0.7;
    for (const DrugPk& drug : {DrugPk("one", oneCompartment()), DrugPk("two", twoCompartment()), DrugPk("three", p3)}) {
        for (double dt : {1e-4, 0.01, 1.0, 21.0, 200.0}) {
            for (double rate : {0.0, 15.0}) {
                PkSystem sys(drug);
                sys.rate = rate;
                std::vector<double> y(sys.size(), 0.0);
                y[0] = 1.0;
                drug.applyBolus(y, PkSystem::kOffset, 600.0);
                y[PkSystem::kOffset + drug.centralState()] = 50.0;  // some drug already in the body
                if (drug.name() == "two") y[PkSystem::kOffset + 1] = 80.0;  // and in the periphery
                OdeOptions o;
                o.rtol = 1e-11;
                o.atol = 1e-14;
                OdeSolver solver(sys, 0.0, y, o);
                solver.advanceTo(dt);
                std::vector<double> exact = y;
                drug.advanceLinear(exact, PkSystem::kOffset, dt, rate);
                for (std::size_t i = PkSystem::kOffset; i < sys.size(); ++i)
                    EXPECT_NEAR(exact[i], solver.state()[i], 1e-8 * std::max(1.0, std::abs(exact[i])))
                        << drug.name() << ": " << sys.stateName(i) << " dt " << dt << " rate " << rate;
            }
        }
    }
}

// The two-compartment closed form against the textbook bi-exponential (Gibaldi & Perrier) for a
// bolus, to round-off: A·e^{−αt} + B·e^{−βt} with A = D(α − k21)/(α − β), B = D(k21 − β)/(α − β).
TEST(DrugPkAdvanceLinear, TwoCompartmentBolusIsTheBiExponentialToRoundOff) {
    const DrugPk drug("two", twoCompartment());
    const auto rates = drug.dispositionRates();
    const double beta = rates[0], alpha = rates[1];
    const double k21 = twoCompartment().q / twoCompartment().v2;
    for (double t : {1e-6, 0.1, 3.0, 50.0}) {
        std::vector<double> y(drug.stateCount(), 0.0);
        drug.applyBolus(y, 0, 100.0);
        drug.advanceLinear(y, 0, t, 0.0);
        const double want = 100.0 * ((alpha - k21) * std::exp(-alpha * t) + (k21 - beta) * std::exp(-beta * t)) / (alpha - beta);
        EXPECT_LT(relErr(y[drug.centralState()], want), 1e-12) << "t = " << t;
    }
}

TEST(DrugPkAdvanceLinear, RefusesACellProduct) {
    const auto& m = defaultModel();
    const auto drug = DrugPk::fromTherapy(m, "autologous NK therapy");
    std::vector<double> y(drug.stateCount(), 1.0);
    EXPECT_THROW(drug.advanceLinear(y, 0, 1.0), InputError);
}

// ---- fast dose lookups against the plain scan (issue 10) ----------------------------------------

namespace {

// The reference: DosingRegimen's original linear scans, kept as the oracle of the binary searches.
double referenceBolusAt(const std::vector<Dose>& doses, double t) {
    double sum = 0;
    for (const Dose& d : doses)
        if (d.duration_d == 0 && std::abs(d.time_d - t) <= 1e-9) sum += d.amount;
    return sum;
}
double referenceInfusionRate(const std::vector<Dose>& doses, double t) {
    double rate = 0;
    for (const Dose& d : doses)
        if (d.duration_d > 0 && t >= d.time_d && t < d.time_d + d.duration_d) rate += d.amount / d.duration_d;
    return rate;
}

}  // namespace

// Random regimens with overlapping infusions, equal start times, infusions ending where others
// start, zero-length and round-off-short infusions: every lookup equals the plain scan, bit for bit
// (fewer than 64 infusions overlap, so the rate is re-summed in dose order).
TEST(DosingRegimen, FastLookupsEqualThePlainScan) {
    std::uint64_t state = 12345;
    auto next = [&state]() {  // xorshift64: the same regimens on every platform
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return static_cast<double>(state >> 11) / 9007199254740992.0;
    };
    for (int trial = 0; trial < 200; ++trial) {
        std::vector<Dose> doses;
        const int n = 1 + static_cast<int>(next() * 40);
        for (int i = 0; i < n; ++i) {
            Dose d;
            d.time_d = std::floor(next() * 20) * 0.5;  // on a grid: many equal times
            d.amount = std::floor(next() * 10);        // zero amounts too
            const double u = next();
            d.duration_d = u < 0.3 ? 0.0 : (u < 0.4 ? 1e-18 : std::floor(next() * 6) * 0.5);  // bolus, empty, grid
            doses.push_back(d);
        }
        const DosingRegimen r(doses, "mg");
        std::vector<double> probes;
        for (const Dose& d : r.doses()) {
            for (double t : {d.time_d, d.time_d + d.duration_d}) {
                probes.push_back(t);
                probes.push_back(std::nextafter(t, -1.0));
                probes.push_back(t + 0.25);
                probes.push_back(t + 5e-10);
            }
        }
        probes.push_back(-1.0);
        probes.push_back(100.0);
        for (double t : probes) {
            EXPECT_EQ(r.infusionRate(t), referenceInfusionRate(r.doses(), t)) << "trial " << trial << ", t = " << t;
            EXPECT_EQ(r.bolusAt(t), referenceBolusAt(r.doses(), t)) << "trial " << trial << ", t = " << t;
        }
    }
}

// Many infusions running at once (more than the exact re-summing covers): the compensated running
// total stays within round-off of the plain sum, and is exactly 0 once they have all ended.
TEST(DosingRegimen, ManyOverlappingInfusionsSum) {
    std::vector<Dose> doses;
    for (int i = 0; i < 500; ++i) doses.push_back(Dose{0.01 * i, 1.0 + 0.1 * i, 10.0});
    const DosingRegimen r(doses, "mg");
    for (double t = 0; t < 16; t += 0.037) {
        const double ref = referenceInfusionRate(r.doses(), t);
        EXPECT_NEAR(r.infusionRate(t), ref, 1e-12 * std::max(1.0, ref)) << t;
    }
    EXPECT_EQ(r.infusionRate(20.0), 0.0);
}

// One cap for every form of schedule, counted before any dose exists; each bad count says why.
TEST(DosingRegimen, DoseCapAndCountMessages) {
    EXPECT_EQ(parseSchedule("q1h x 100000").count, 100000);
    auto message = [](const char* schedule) {
        try {
            (void)parseSchedule(schedule);
        } catch (const InputError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_EQ(message("q1h x 1000000 w"),
              "schedule 'q1h x 1000000 w' gives 168,000,000 doses; at most 100,000 doses per drug (docs/qsp.md, \"Limits\"; to raise "
              "it, change qsp::kMaxDosesPerDrug in include/nkscape/qsp/pk.hpp and rebuild)");
    EXPECT_NE(message("q1h x 100001").find("gives 100,001 doses; at most 100,000"), std::string::npos);
    EXPECT_NE(message("q1s x 1e300 w").find("unit 's'"), std::string::npos);
    EXPECT_NE(message("qd x 1e300").find("gives 1e+300 doses"), std::string::npos);
    EXPECT_NE(message("qw x 0").find("count '0' must be positive"), std::string::npos);
    EXPECT_NE(message("qw x 2.5").find("count '2.5' is not a whole number of doses"), std::string::npos);
    EXPECT_NE(message("qw x many").find("count 'many' does not start with a number"), std::string::npos);
    EXPECT_NE(message("qw x 3 d").find("shorter than one 7 d interval"), std::string::npos);
    EXPECT_NE(message("qd x 2.5 d").find("not a whole number of 1 d intervals"), std::string::npos);
    EXPECT_EQ(message("bid x 3.5 d"), "no error");  // a span need not be whole days: 7 doses
    // Explicit doses (as several [[dose]] tables merge into): the same cap.
    EXPECT_THROW(DosingRegimen(std::vector<Dose>(kMaxDosesPerDrug + 1, Dose{0, 1, 0}), "mg"), InputError);
    EXPECT_NO_THROW(DosingRegimen(std::vector<Dose>(kMaxDosesPerDrug, Dose{0, 1, 0}), "mg"));
}
