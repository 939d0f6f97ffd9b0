// Issue 11 (first part): the bounded per-target kill rate (Beddington–DeAngelis), small clones
// outside the ODE (their continuous mean, or whole cells with an exact stochastic birth–death
// walk), and the run that stops at a tumour burden. docs/qsp.md, "The engine" and "Small clones".

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numbers>
#include <set>
#include <string>
#include <vector>

#include "nkscape/qsp/engine.hpp"
#include "nkscape/qsp/scenario.hpp"

#include "default_model.hpp"

using namespace nkscape;
using namespace nkscape::model;
using namespace nkscape::qsp;

namespace {

using nkscape::testing::defaultModel;
using SmallClones = SimulationSpec::SmallClones;

double columnMin(const SimulationResult& r, const std::string& name) {
    const std::size_t j = r.column(name);
    double lo = r.rows.front()[j];
    for (const auto& row : r.rows) lo = std::min(lo, row[j]);
    return lo;
}

bool hasEvent(const SimulationResult& r, const std::string& kind) {
    return std::any_of(r.events.begin(), r.events.end(), [&](const SimulationEvent& e) { return e.kind == kind; });
}

// A TNBC tumour of `cells` founding cells and nothing else: its cells divide at r = ln 2/103 d
// and die only of what a test adds.
SimulationSpec bareTumour(double cells, double days, double outputEvery) {
    const auto& m = defaultModel();
    SimulationSpec s;
    s.tumourCellType = m.require(Kind::CellType, "TNBC");
    s.clones.push_back(CloneSpec{.name = "founding", .initialCells = cells});
    s.durationDays = days;
    s.outputIntervalDays = outputEvery;
    s.ode.rtol = 1e-6;
    s.ode.atol = 1e-3;
    s.mediatorAtol = 0.1;  // the shipped scenarios' tolerances (docs/qsp.md, "Cost")
    s.fractionAtol = 1e-4;
    return s;
}

// Cryosurgery (a local therapy: activity 1 at each administration, decaying with its
// persistence; lysis at its rate times the activity) at `days`.
void addCryosurgery(SimulationSpec& s, const std::vector<double>& days) {
    const auto& m = defaultModel();
    std::vector<Dose> doses;
    for (double t : days) doses.push_back(Dose{t, 1, 0});
    s.drugs.push_back(DrugRegimen{m.require(Kind::Therapy, "cryosurgery"), DosingRegimen(std::move(doses), "mg")});
}

// The cryosurgery's lysis (the model's rate and persistence) for administrations at `days`: the
// death rate per cell d(t) = rate·e^{−(t − last dose)/persistence}, and its integral.
struct Cryosurgery {
    std::vector<double> days;
    double rate = 0, persistence = 0;  // 1/d, d

    explicit Cryosurgery(std::vector<double> at) : days(std::move(at)) {
        const auto& m = defaultModel();
        const Index cryo = m.require(Kind::Therapy, "cryosurgery");
        for (const auto& mech : m.therapies()[cryo].mechanisms)
            if (mech.action == MechanismAction::Lyse) rate = m.value(mech.param("rate"));
        persistence = DrugPk::fromTherapy(m, cryo).parameters().persistence;
    }
    [[nodiscard]] double death(double t) const {
        double last = -1;
        for (double d : days)
            if (d <= t) last = d;
        return last < 0 ? 0.0 : rate * std::exp(-(t - last) / persistence);
    }
    /// ∫_0^t d(u) du, in closed form (each administration resets the activity to 1).
    [[nodiscard]] double deathIntegral(double t) const {
        double sum = 0;
        for (std::size_t i = 0; i < days.size() && days[i] < t; ++i) {
            const double until = std::min(t, i + 1 < days.size() ? days[i + 1] : t);
            sum += rate * persistence * -std::expm1(-(until - days[i]) / persistence);
        }
        return sum;
    }
};

constexpr double kTnbcGrowth = std::numbers::ln2 / 103.0;  // 1/d: TNBC doubling time (Ryu et al. 2014)

}  // namespace

// ---- the bounded per-target kill rate ----------------------------------------------------------

TEST(BoundedKill, PerTargetKillRateStaysBelowTheCeilingAndIsTheEffectorLimitedFormAtLargeTumours) {
    const auto& m = defaultModel();
    const double half = m.constant("qsp.encounter_half_saturation"), kappa = m.constant("qsp.target_engagement_max");
    EXPECT_EQ(kappa, 5.0);
    // Tiny tumours under any number of effectors: below κ_max, and at it when effectors abound.
    for (double n : {0.0, 1.0, 100.0, 1e4})
        for (double pressure : {1.0, 1e6, 1e12, 1e300}) {
            const double k = perTargetKillRate(pressure, n, half, kappa);
            // Below κ_max in exact arithmetic; within round-off of it once Λ/κ_max dwarfs N + N_½.
            if (pressure < 1e9) {
                EXPECT_LT(k, kappa) << n << " cells, " << pressure << " cell/d";
            }
            EXPECT_LE(k, kappa) << n << " cells, " << pressure << " cell/d";
            EXPECT_GE(k, 0.0);
        }
    EXPECT_NEAR(perTargetKillRate(1e12, 100, half, kappa), kappa, 1e-6 * kappa);
    // The old form Λ/(N + N_½) at those: 9e8 kills per cell per day at 100 cells.
    EXPECT_GT(1e12 / (100 + half), 1e8);
    // Large tumours: the effector-limited form within 1 %. The kill pressure of the shipped TNBC
    // scenario's NK cells (1e7 cells × ~22 contacts/d × P ≈ 0.005 ≈ 1e6 kills/d at saturation)
    // and of a HER2 CAR-NK product at its peak (2e6 cells in the tumour × 19/d × P ≈ 0.6) on 1e9 cells.
    for (double pressure : {1e6, 2.3e7}) {
        const double oldForm = pressure / (1e9 + half);
        EXPECT_NEAR(perTargetKillRate(pressure, 1e9, half, kappa) / oldForm, 1.0, 0.01) << pressure;
    }
    EXPECT_THROW((void)perTargetKillRate(-1, 1, half, kappa), InputError);
    EXPECT_THROW((void)perTargetKillRate(1, 1, 0, kappa), InputError);
    EXPECT_THROW((void)perTargetKillRate(1, std::nan(""), half, kappa), InputError);
}

// 1e10 NK cells against 1e4 TNBC cells: the old form killed each tumour cell ~1e5 times a day
// (the tumour was gone within minutes); now no faster than κ_max.
TEST(BoundedKill, ATinyTumourUnderHugeEffectorNumbersDeclinesAtMostAtTheCeiling) {
    const auto& m = defaultModel();
    auto s = bareTumour(1e4, 0.5, 0.05);
    const double nk = 1e10;
    // Held at 1e10: influx = death rate × cells (the cell type's own death_rate).
    const Index ct = m.require(Kind::CellType, "CD56dim NK");
    const double death = m.value(m.cellTypes()[ct].param(CellParam::DeathRate));
    s.populations.push_back(PopulationSpec{.cellType = ct, .initialCells = nk, .influxPerDay = death * nk});
    const auto r = simulate(m, s);
    const double kappa = m.constant("qsp.target_engagement_max");
    const std::size_t j = r.column("tumour.cells");
    for (std::size_t i = 1; i < r.rows.size(); ++i) {
        const double dt = r.times[i] - r.times[i - 1];
        const double decline = std::log(r.rows[i - 1][j] / r.rows[i][j]) / dt;  // 1/d
        // At most κ_max (minus growth); and saturated: Λ/κ_max ≈ 2e8 cells ≫ N + N_½.
        EXPECT_LE(decline, kappa) << "t = " << r.times[i];
        EXPECT_GT(decline, 0.95 * kappa - kTnbcGrowth) << "t = " << r.times[i];
    }
    EXPECT_GT(r.final("tumour.cells"), 0.0);
}

// ---- small clones, continuous: the exact mean, never exactly 0 -----------------------------------

// Every shipped scenario, with small_clones = "continuous": no tumour reaches an exact 0 (the
// CAR-NK scenarios collapsed to 0 between days 21 and 28 before the kill rate was bounded).
TEST(SmallClones, ContinuousModeNeverReachesZeroInTheShippedScenarios) {
    std::size_t n = 0;
    for (const auto& entry : std::filesystem::directory_iterator(NKSCAPE_SOURCE_DIR "/scenarios/simulate")) {
        if (entry.path().extension() != ".toml") continue;
        auto loaded = loadSimulationScenario(entry.path());
        loaded.spec.smallClones = SmallClones::Continuous;
        const auto r = simulate(loaded.model, loaded.spec);
        EXPECT_GT(columnMin(r, "tumour.cells"), 0.0) << entry.path().filename();
        ++n;
    }
    EXPECT_GE(n, 25u);
}

// Cryosurgery on a bare tumour: the cells die at d(t) = rate × activity and divide at r, so the
// continuous model's tumour is N0·exp(−∫(d − r)) exactly — through the ODE above 100 cells and the
// small clone's mean below (integrated rates), down to a thousandth of a cell and back up, never 0.
TEST(SmallClones, ContinuousSmallCloneFollowsTheExactExponential) {
    const Cryosurgery cryo({0, 7, 14});
    auto s = bareTumour(1e4, 120, 2);
    s.ode.rtol = 1e-8;
    s.ode.atol = 1e-7;  // also the integrated rates' (e-folds): ~200 steps of 1e-3 would be 0.2 e-folds
    addCryosurgery(s, cryo.days);
    const auto r = simulate(defaultModel(), s);
    const std::size_t j = r.column("tumour.cells");
    double lowest = 1e300;
    for (std::size_t i = 0; i < r.times.size(); ++i) {
        const double exact = 1e4 * std::exp(kTnbcGrowth * r.times[i] - cryo.deathIntegral(r.times[i]));
        lowest = std::min(lowest, exact);
        EXPECT_NEAR(r.rows[i][j] / exact, 1.0, 2e-3) << "t = " << r.times[i] << ": " << r.rows[i][j] << " vs " << exact;
    }
    EXPECT_LT(lowest, 1e-3);  // it went deep below one cell...
    EXPECT_GT(columnMin(r, "tumour.cells"), 0.0);  // ...and never to 0
    EXPECT_FALSE(hasEvent(r, "clone stochastic"));  // continuous mode records no transitions
}

// ---- small clones, stochastic: cure is a probability --------------------------------------------

namespace {

struct Fate {
    bool extinct = false;
    bool relapsed = false;  // fell below the threshold, then back above 1e6 cells
    std::vector<double> finalRow;
};

// A 1.2e7-cell tumour alone given three weekly ablations (about one cell expected to survive),
// small clones stochastic on `stream`, for 3,000 days.
SimulationSpec cryosurgerySpec(std::uint64_t stream) {
    auto s = bareTumour(1.2e7, 3000, 100);
    s.ode.rtol = 1e-5;
    addCryosurgery(s, {0, 7, 14});
    s.smallClones = SmallClones::Stochastic;
    s.seed = 20261124;
    s.stream = stream;
    return s;
}

Fate runCryosurgery(const EngineModel& engine, std::uint64_t stream) {
    const auto r = simulate(engine, cryosurgerySpec(stream));
    Fate f;
    f.extinct = hasEvent(r, "tumour extinct");
    f.relapsed = hasEvent(r, "clone stochastic") && r.final("tumour.cells") > 1e6;
    f.finalRow = r.rows.back();
    return f;
}

// Kendall (1948): a birth–death process with rates b(t), d(t) started from one cell at 0 dies out
// with probability 1 − 1/∫_0^∞ b e^{ρ(s)} ds, ρ(s) = ∫_0^s (d − b); from N0 independent cells,
// that to the power N0. Here b = r (the tumour is far below its capacity), d the cryosurgery's.
double kendallExtinction(double n0, const Cryosurgery& cryo) {
    constexpr double h = 1e-3, end = 200;  // d; after 200 d, d ≈ 2 e^{-62}: ρ falls at r
    double integral = 0;
    auto rho = [&](double s) { return cryo.deathIntegral(s) - kTnbcGrowth * s; };
    for (double u = 0; u < end; u += h) integral += 0.5 * h * kTnbcGrowth * (std::exp(rho(u)) + std::exp(rho(u + h)));
    integral += std::exp(rho(end));  // ∫_end^∞ r e^{ρ(end) − r(s − end)} ds
    return std::exp(n0 * std::log1p(-1.0 / integral));
}

}  // namespace

// A 1.2e7-cell tumour, three weekly cryosurgeries: about one cell is expected to survive, so
// whether the tumour is cured or relapses is chance. Over 400 streams the cure fraction matches
// the exact extinction probability of the birth–death process, and every run that is not cured
// relapses.
TEST(SmallClones, StochasticCureIsAProbabilityThatConvergesToTheExactOne) {
    const EngineModel engine(defaultModel());
    const double exact = kendallExtinction(1.2e7, Cryosurgery({0, 7, 14}));
    ASSERT_GT(exact, 0.3);  // the design: both outcomes common
    ASSERT_LT(exact, 0.7);
    constexpr std::size_t kStreams = 400;
    std::size_t extinct = 0, relapsed = 0, extinct100 = 0;
    for (std::size_t i = 0; i < kStreams; ++i) {
        const Fate f = runCryosurgery(engine, i);
        EXPECT_NE(f.extinct, f.relapsed) << "stream " << i << ": either cured or relapsed";
        extinct += f.extinct ? 1 : 0;
        relapsed += f.relapsed ? 1 : 0;
        if (i < 100) extinct100 += f.extinct ? 1 : 0;
    }
    const double p400 = static_cast<double>(extinct) / kStreams, p100 = static_cast<double>(extinct100) / 100.0;
    RecordProperty("extinct_fraction", std::to_string(p400) + " of 400 (100: " + std::to_string(p100) + "; exact " + std::to_string(exact) + ")");
    EXPECT_GE(extinct, 40u);
    EXPECT_GE(relapsed, 40u);
    // The binomial standard error at 400 streams is ≤ 0.025; 3 of them, and 0.02 for the hybrid's
    // approximations (the ODE above 100 cells, the rates' means over each interval).
    const double se400 = std::sqrt(exact * (1 - exact) / kStreams);
    EXPECT_NEAR(p400, exact, 3 * se400 + 0.02);
    // 100 streams are a subset of the 400: their difference has SE sqrt(p(1−p)(1/100 − 1/400)).
    EXPECT_NEAR(p100, p400, 3 * std::sqrt(exact * (1 - exact) * (1.0 / 100 - 1.0 / kStreams)));
}

TEST(SmallClones, TheSameStreamGivesTheSameRunAndOtherStreamsOtherOnes) {
    const EngineModel engine(defaultModel());
    const Fate a = runCryosurgery(engine, 7), b = runCryosurgery(engine, 7);
    EXPECT_EQ(a.finalRow, b.finalRow);  // bit for bit
    EXPECT_EQ(a.extinct, b.extinct);
    std::set<double> finals;
    for (std::uint64_t stream = 0; stream < 10; ++stream) finals.insert(runCryosurgery(engine, stream).finalRow.front());
    EXPECT_GE(finals.size(), 3u);  // 0 (cured) and relapses of different sizes
}

// The shipped CAR-NK scenario: whole cells below 100, every transition an event, and a 4-dose
// course that cures this tumour in stream 0.
TEST(SmallClones, StochasticTransitionsAreEvents) {
    auto loaded = loadSimulationScenario(std::filesystem::path(NKSCAPE_SOURCE_DIR "/scenarios/simulate/her2-car-nk.toml"));
    EXPECT_EQ(loaded.spec.smallClones, SmallClones::Stochastic);  // a scenario's default
    EXPECT_EQ(loaded.spec.seed, 1u);
    EXPECT_EQ(loaded.spec.stream, 0u);
    const auto r = simulate(loaded.model, loaded.spec);
    for (const char* kind : {"clone stochastic", "clone continuous", "clone extinct", "tumour extinct"}) EXPECT_TRUE(hasEvent(r, kind)) << kind;
    EXPECT_EQ(r.final("tumour.cells"), 0.0);
    for (std::size_t i = 1; i < r.events.size(); ++i) EXPECT_LE(r.events[i - 1].time_d, r.events[i].time_d);
    // Whole cells: a clone below 100 cells is a small clone, whose count is an integer.
    for (const auto& row : r.rows)
        for (std::size_t c = 1; c <= loaded.spec.clones.size(); ++c) {
            if (row[c] < 99.9) {
                EXPECT_EQ(row[c], std::floor(row[c]));
            }
        }
}

// ---- stop at a tumour burden ------------------------------------------------------------------

TEST(StopAtBurden, TheRunEndsWhereTheTumourReachesTheBurden) {
    const auto& m = defaultModel();
    auto s = bareTumour(1e9, 365, 7);
    s.ode.rtol = 1e-10;
    s.ode.atol = 1e-6;
    s.stopAtTumourCells = 2e9;
    const auto r = simulate(m, s);
    ASSERT_TRUE(r.stoppedAt_d.has_value());
    // Logistic growth: N(t) = K N0 e^{rt}/(K + N0 (e^{rt} − 1)) reaches 2e9 at t = ln(2 (K − N0)/(K − 2 N0))/r.
    const double k = m.constant("qsp.carrying_capacity");
    const double expected = std::log(2.0 * (k - 1e9) / (k - 2e9)) / kTnbcGrowth;
    EXPECT_NEAR(*r.stoppedAt_d, expected, 1e-5);
    EXPECT_EQ(r.times.back(), *r.stoppedAt_d);
    EXPECT_NEAR(r.final("tumour.cells"), 2e9, 2e9 * 1e-6);
    EXPECT_LT(r.times[r.times.size() - 2], *r.stoppedAt_d);
    EXPECT_TRUE(hasEvent(r, "tumour burden reached"));
    // Not reached: no stop; already reached at the start: the run ends at 0 with one row.
    s.stopAtTumourCells = 1e13;
    EXPECT_FALSE(simulate(m, s).stoppedAt_d.has_value());
    s.stopAtTumourCells = 5e8;
    const auto atStart = simulate(m, s);
    ASSERT_TRUE(atStart.stoppedAt_d.has_value());
    EXPECT_EQ(*atStart.stoppedAt_d, 0.0);
    EXPECT_EQ(atStart.rows.size(), 1u);
    // A bad burden is refused.
    s.stopAtTumourCells = -1;
    EXPECT_THROW((void)simulate(m, s), InputError);
}

// The burden stop works with stochastic small clones too: a relapse after cryosurgery ends the run
// when it reaches 2e7 cells.
TEST(StopAtBurden, ARelapseEndsTheRunAtTheBurden) {
    const EngineModel engine(defaultModel());
    for (std::uint64_t stream = 0; stream < 20; ++stream) {
        auto s = cryosurgerySpec(stream);
        s.stopAtTumourCells = 2e7;
        const auto r = simulate(engine, s);
        if (hasEvent(r, "tumour extinct")) {
            EXPECT_FALSE(r.stoppedAt_d.has_value());
            continue;
        }
        ASSERT_TRUE(r.stoppedAt_d.has_value()) << "stream " << stream;
        EXPECT_NEAR(r.final("tumour.cells"), 2e7, 2e7 * 1e-3) << "stream " << stream;
        EXPECT_GT(*r.stoppedAt_d, 14.0);
        EXPECT_LT(*r.stoppedAt_d, 3000.0);
    }
}
