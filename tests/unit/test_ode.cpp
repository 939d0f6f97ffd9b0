// The CVODE wrapper (include/nkscape/qsp/ode.hpp): closed forms, a stiff problem, convergence as
// tolerances tighten, exact stops, roots, re-initialisation, statistics, and errors that cross the
// C boundary or name the failing state.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "nkscape/qsp/ode.hpp"

using namespace nkscape;
using namespace nkscape::qsp;

namespace {

double relErr(double got, double want) { return std::abs(got - want) / std::abs(want); }

std::string sci(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
}

/// A system given by a lambda.
class LambdaSystem : public OdeSystem {
public:
    using Rhs = std::function<void(double, std::span<const double>, std::span<double>)>;
    LambdaSystem(std::size_t n, Rhs f, std::string name = "test") : n_(n), f_(std::move(f)), name_(std::move(name)) {}
    [[nodiscard]] std::size_t size() const override { return n_; }
    void rhs(double t, std::span<const double> y, std::span<double> dydt) override {
        maxT = std::max(maxT, t);
        f_(t, y, dydt);
    }
    [[nodiscard]] std::string name() const override { return name_; }
    double maxT = -std::numeric_limits<double>::infinity();  ///< latest time the RHS was evaluated at

private:
    std::size_t n_;
    Rhs f_;
    std::string name_;
};

/// Robertson's stiff chemical kinetics, optionally with its analytic Jacobian.
class Robertson : public OdeSystem {
public:
    explicit Robertson(bool analytic) : analytic_(analytic) {}
    [[nodiscard]] std::size_t size() const override { return 3; }
    void rhs(double, std::span<const double> y, std::span<double> f) override {
        f[0] = -0.04 * y[0] + 1e4 * y[1] * y[2];
        f[2] = 3e7 * y[1] * y[1];
        f[1] = -f[0] - f[2];
    }
    [[nodiscard]] bool hasJacobian() const override { return analytic_; }
    void jacobian(double, std::span<const double> y, std::span<const double>, JacobianView J) override {
        J(0, 0) = -0.04;
        J(0, 1) = 1e4 * y[2];
        J(0, 2) = 1e4 * y[1];
        J(2, 1) = 6e7 * y[1];
        J(1, 0) = 0.04;
        J(1, 1) = -1e4 * y[2] - 6e7 * y[1];
        J(1, 2) = -1e4 * y[1];
    }
    [[nodiscard]] std::string stateName(std::size_t i) const override { return "y" + std::to_string(i + 1); }
    [[nodiscard]] bool nonNegative(std::size_t) const override { return true; }
    [[nodiscard]] std::string name() const override { return "Robertson"; }

private:
    bool analytic_;
};

OdeOptions tight() {
    OdeOptions o;
    o.rtol = 1e-9;
    o.atol = 1e-14;
    return o;
}

}  // namespace

TEST(OdeSolver, ExponentialDecayMatchesClosedForm) {
    const double k = 0.7, y0 = 2.0;
    LambdaSystem sys(1, [k](double, std::span<const double> y, std::span<double> f) { f[0] = -k * y[0]; });
    const std::vector<double> init{y0};
    OdeSolver s(sys, 0.0, init, tight());
    double worst = 0;
    for (double t = 0.5; t <= 10.0 + 1e-12; t += 0.5) {
        const auto r = s.advanceTo(t);
        EXPECT_EQ(r.t, t);
        EXPECT_FALSE(r.rootFound);
        worst = std::max(worst, relErr(s.state()[0], y0 * std::exp(-k * t)));
    }
    EXPECT_LT(worst, 1e-6);
    RecordProperty("max_rel_error", sci(worst));
}

TEST(OdeSolver, LogisticGrowthMatchesClosedForm) {
    const double r = 1.3, K = 10.0, y0 = 0.1;
    LambdaSystem sys(1, [&](double, std::span<const double> y, std::span<double> f) { f[0] = r * y[0] * (1 - y[0] / K); });
    const std::vector<double> init{y0};
    OdeSolver s(sys, 0.0, init, tight());
    double worst = 0;
    for (double t = 0.25; t <= 15.0 + 1e-12; t += 0.25) {
        s.advanceTo(t);
        const double exact = K / (1 + (K / y0 - 1) * std::exp(-r * t));
        worst = std::max(worst, relErr(s.state()[0], exact));
    }
    EXPECT_LT(worst, 1e-6);
    RecordProperty("max_rel_error", sci(worst));
}

TEST(OdeSolver, StiffRobertsonSolvesWithDifferenceQuotientAndAnalyticJacobian) {
    // Reference values at t = 0.4 and 4e10 (CVODE example cvRoberts_dns, rtol 1e-4; Hairer & Wanner).
    for (bool analytic : {false, true}) {
        Robertson sys(analytic);
        OdeOptions o;
        o.rtol = 1e-8;
        o.atolPerState = {1e-12, 1e-16, 1e-12};
        const std::vector<double> init{1.0, 0.0, 0.0};
        OdeSolver s(sys, 0.0, init, o);
        s.advanceTo(0.4);
        EXPECT_NEAR(s.state()[0], 0.9851721, 2e-6);
        EXPECT_NEAR(s.state()[1], 3.386395e-5, 1e-9);
        EXPECT_NEAR(s.state()[2], 1.479479e-2, 2e-6);
        s.advanceTo(4e10);
        const auto y = s.state();
        EXPECT_NEAR(y[0] + y[1] + y[2], 1.0, 1e-6);
        EXPECT_GE(y[1], 0.0);
        EXPECT_NEAR(y[0], 5.2e-8, 1e-8);  // y1(4e10) ≈ 5.2e-8
        const OdeStats st = s.stats();
        EXPECT_GT(st.steps, 0);
        EXPECT_LT(st.steps, 5000) << "BDF should take few steps on a stiff problem";
        EXPECT_GT(st.jacobianEvals, 0);
        EXPECT_GT(st.nonlinearIterations, 0);
        EXPECT_GE(st.rhsEvals, st.steps);
        if (analytic) {
            EXPECT_EQ(st.rhsEvalsForJacobian, 0);
        } else {
            EXPECT_GT(st.rhsEvalsForJacobian, 0);
        }
    }
}

TEST(OdeSolver, ErrorDecreasesMonotonicallyAsTolerancesTighten) {
    // Harmonic oscillator y'' = −y over 10 time units: both components, max over samples.
    LambdaSystem sys(2, [](double, std::span<const double> y, std::span<double> f) {
        f[0] = y[1];
        f[1] = -y[0];
    });
    double previous = std::numeric_limits<double>::infinity();
    std::string trail;
    for (int e = 4; e <= 10; ++e) {
        OdeOptions o;
        o.rtol = std::pow(10.0, -e);
        o.atol = o.rtol * 1e-3;
        const std::vector<double> init{1.0, 0.0};
        OdeSolver s(sys, 0.0, init, o);
        double err = 0;
        for (double t = 1; t <= 10; t += 1) {
            s.advanceTo(t);
            err = std::max({err, std::abs(s.state()[0] - std::cos(t)), std::abs(s.state()[1] + std::sin(t))});
        }
        trail += " " + sci(err);
        EXPECT_LT(err, previous) << "rtol 1e-" << e << ":" << trail;
        previous = err;
    }
    EXPECT_LT(previous, 1e-7) << trail;
    RecordProperty("max_abs_errors_rtol_1e-4_to_1e-10", trail);
}

TEST(OdeSolver, NeverEvaluatesPastTheTarget) {
    LambdaSystem sys(1, [](double, std::span<const double> y, std::span<double> f) { f[0] = -y[0]; });
    const std::vector<double> init{1.0};
    OdeSolver s(sys, 0.0, init);
    for (double t : {0.3, 1.0, 2.5, 7.0}) {
        const auto r = s.advanceTo(t);
        EXPECT_EQ(r.t, t);
        EXPECT_EQ(s.time(), t);
        EXPECT_LE(sys.maxT, t * (1 + 1e-12)) << "the RHS was evaluated after the stop time";
    }
}

// Outputs between stops are CVODE's interpolant: as accurate as the steps (closed form), fewer
// steps than landing on each, never past the stop, and a later stop still lands exactly.
TEST(OdeSolver, InterpolatedOutputsMatchTheClosedFormWithFewerSteps) {
    const double k = 0.7, y0 = 2.0;
    auto f = [k](double, std::span<const double> y, std::span<double> d) { d[0] = -k * y[0]; };
    LambdaSystem landing(1, f), passing(1, f);
    const std::vector<double> init{y0};
    OdeOptions o;
    o.rtol = 1e-4;
    o.atol = 1e-12;
    OdeSolver a(landing, 0.0, init, o), b(passing, 0.0, init, o);
    double worstLanding = 0, worstPassing = 0;
    for (double t = 0.05; t <= 5.0 + 1e-12; t += 0.05) {
        a.advanceTo(t);
        const auto r = b.advanceTo(t, 5.0);
        EXPECT_EQ(r.t, t);
        EXPECT_EQ(b.time(), t);
        EXPECT_LE(passing.maxT, 5.0) << "a step went past the stop";
        worstLanding = std::max(worstLanding, relErr(a.state()[0], y0 * std::exp(-k * t)));
        worstPassing = std::max(worstPassing, relErr(b.state()[0], y0 * std::exp(-k * t)));
    }
    // The stop itself is landed on.
    b.advanceTo(5.0, 5.0);
    EXPECT_EQ(passing.maxT, 5.0);
    EXPECT_LT(worstPassing, 2e-3);  // 20 × rtol: the global error of either way, plus the interpolant's
    EXPECT_LT(worstLanding, 2e-3);
    EXPECT_LT(b.stats().steps * 2, a.stats().steps) << b.stats().steps << " vs " << a.stats().steps;
    RecordProperty("max_rel_error", sci(worstPassing) + " (landing: " + sci(worstLanding) + ")");
    EXPECT_THROW(b.advanceTo(6.0, 5.5), SolverError);  // the stop before the target
}

TEST(OdeSolver, ReinitializeAfterABolus) {
    const double k = 0.4;
    LambdaSystem sys(1, [k](double, std::span<const double> y, std::span<double> f) { f[0] = -k * y[0]; });
    const std::vector<double> init{1.0};
    OdeSolver s(sys, 0.0, init, tight());
    s.advanceTo(2.0);
    std::vector<double> y(s.state().begin(), s.state().end());
    y[0] += 3.0;
    const long stepsBefore = s.stats().steps;
    s.reinitialize(2.0, y);
    // A target within round-off of the restart time (an event list's near-duplicate) is a no-op.
    EXPECT_NO_THROW(s.advanceTo(std::nextafter(2.0, 3.0)));
    s.advanceTo(5.0);
    const double exact = (std::exp(-k * 2.0) + 3.0) * std::exp(-k * 3.0);
    EXPECT_LT(relErr(s.state()[0], exact), 1e-6);
    EXPECT_GT(s.stats().steps, stepsBefore) << "statistics accumulate across reinitialize";
}

TEST(OdeSolver, RootsAreLocatedPrecisely) {
    const double k = 0.9;
    LambdaSystem sys(1, [k](double, std::span<const double> y, std::span<double> f) { f[0] = -k * y[0]; });
    const std::vector<double> init{1.0};
    OdeOptions o;
    o.rtol = 1e-10;
    o.atol = 1e-14;
    OdeSolver s(sys, 0.0, init, o);
    // g0: y crosses 0.5 (falling) at ln2/k; g1: t crosses 3 (rising).
    s.setRoots(2, [](double t, std::span<const double> y, std::span<double> g) {
        g[0] = y[0] - 0.5;
        g[1] = t - 3.0;
    });
    auto r = s.advanceTo(10.0);
    ASSERT_TRUE(r.rootFound);
    EXPECT_NEAR(r.t, std::log(2.0) / k, 1e-8);
    RecordProperty("root_error", sci(std::abs(r.t - std::log(2.0) / k)));
    EXPECT_EQ(r.roots, (std::vector<int>{-1, 0}));
    EXPECT_NEAR(s.state()[0], 0.5, 1e-8);
    r = s.advanceTo(10.0);
    ASSERT_TRUE(r.rootFound);
    EXPECT_NEAR(r.t, 3.0, 1e-8);
    EXPECT_EQ(r.roots, (std::vector<int>{0, 1}));
    r = s.advanceTo(10.0);
    EXPECT_FALSE(r.rootFound);
    EXPECT_EQ(r.t, 10.0);
    EXPECT_LT(relErr(s.state()[0], std::exp(-k * 10.0)), 1e-6);
    EXPECT_GT(s.stats().rootEvals, 0);
    s.setRoots(0, nullptr);
    EXPECT_FALSE(s.advanceTo(12.0).rootFound);
}

TEST(OdeSolver, NkscapeExceptionsFromTheRhsPropagateUnchanged) {
    LambdaSystem sys(1, [](double t, std::span<const double> y, std::span<double> f) {
        if (t > 0.5) throw InputError("mediator 'IL-2': negative secretion rate");
        f[0] = -y[0];
    });
    const std::vector<double> init{1.0};
    OdeSolver s(sys, 0.0, init);
    EXPECT_NO_THROW(s.advanceTo(0.4));
    try {
        s.advanceTo(1.0);
        FAIL() << "expected an exception";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("IL-2"), std::string::npos) << e.what();
    }
}

TEST(OdeSolver, ForeignExceptionsFromTheRhsBecomeSolverErrors) {
    LambdaSystem sys(
        1,
        [](double, std::span<const double>, std::span<double>) -> void { throw std::out_of_range("index 7 out of range"); },
        "qsp-test");
    const std::vector<double> init{1.0};
    OdeSolver s(sys, 0.0, init);
    try {
        s.advanceTo(1.0);
        FAIL() << "expected an exception";
    } catch (const SolverError& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("index 7 out of range"), std::string::npos) << m;
        EXPECT_NE(m.find("qsp-test"), std::string::npos) << m;
    }
}

TEST(OdeSolver, FailureMessageNamesFlagTimeAndState) {
    // y' = y² blows up at t = 1; with few steps allowed CVODE gives up before.
    class Blowup : public OdeSystem {
    public:
        [[nodiscard]] std::size_t size() const override { return 2; }
        void rhs(double, std::span<const double> y, std::span<double> f) override {
            f[0] = y[0] * y[0];
            f[1] = -1.0;
        }
        [[nodiscard]] std::string stateName(std::size_t i) const override { return i == 0 ? "tumour.cells" : "drug.central"; }
        [[nodiscard]] std::string name() const override { return "blowup"; }
    } sys;
    OdeOptions o;
    o.maxSteps = 200;
    const std::vector<double> init{1.0, 0.0};
    OdeSolver s(sys, 0.0, init, o);
    try {
        s.advanceTo(2.0);
        FAIL() << "expected a SolverError";
    } catch (const SolverError& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("blowup"), std::string::npos) << m;
        EXPECT_NE(m.find("CV_"), std::string::npos) << m;
        EXPECT_NE(m.find("tumour.cells"), std::string::npos) << m;
        EXPECT_NE(m.find("most negative: drug.central"), std::string::npos) << m;
        EXPECT_NE(m.find("t = 0.99"), std::string::npos) << m;
        RecordProperty("message", m);
    }
}

// The weighted local error estimate exists only after a step attempt: a failure before any (an RHS
// that is not finite from the start) used to print CVODE's uninitialised vectors as numbers
// (valgrind: "conditional jump depends on uninitialised value"). Now it says n/a; after a failed
// step (too much work) it lists finite numbers.
TEST(OdeSolver, FailureMessageHasNoGarbageLocalError) {
    const std::string key = "largest weighted local error: ";
    {
        LambdaSystem nan(2, [](double, std::span<const double>, std::span<double> f) {
            f[0] = std::numeric_limits<double>::quiet_NaN();
            f[1] = 0.0;
        }, "nan-rhs");
        const std::vector<double> init{1.0, 1.0};
        OdeSolver s(nan, 0.0, init, OdeOptions{});
        try {
            s.advanceTo(1.0);
            FAIL() << "expected a SolverError";
        } catch (const SolverError& e) {
            const std::string m = e.what();
            const auto at = m.find(key);
            ASSERT_NE(at, std::string::npos) << m;
            EXPECT_EQ(m.substr(at + key.size(), 3), "n/a") << m;
        }
    }
    {
        LambdaSystem blowup(1, [](double, std::span<const double> y, std::span<double> f) { f[0] = y[0] * y[0]; }, "blowup");
        OdeOptions o;
        o.maxSteps = 200;
        const std::vector<double> init{1.0};
        OdeSolver s(blowup, 0.0, init, o);
        try {
            s.advanceTo(2.0);
            FAIL() << "expected a SolverError";
        } catch (const SolverError& e) {
            const std::string m = e.what();
            const auto at = m.find(key);
            ASSERT_NE(at, std::string::npos) << m;
            // "y[0] (1.23e-05)": the contribution is a finite number.
            const auto open = m.find('(', at), close = m.find(')', at);
            ASSERT_TRUE(open != std::string::npos && close != std::string::npos) << m;
            const double v = std::stod(m.substr(open + 1, close - open - 1));
            EXPECT_TRUE(std::isfinite(v) && v > 0) << m;
        }
    }
}

TEST(OdeSolver, NonNegativeStatesStayNonNegative) {
    // Saturable elimination y' = −50·y/(0.01 + y) with loose tolerances: unconstrained, CVODE
    // overshoots far below zero (and the RHS then drives y further down); declared non-negative,
    // the constraint keeps y ≥ 0.
    class Drain : public OdeSystem {
    public:
        explicit Drain(bool constrained) : constrained_(constrained) {}
        [[nodiscard]] std::size_t size() const override { return 1; }
        void rhs(double, std::span<const double> y, std::span<double> f) override { f[0] = -50.0 * y[0] / (0.01 + y[0]); }
        [[nodiscard]] bool nonNegative(std::size_t) const override { return constrained_; }

    private:
        bool constrained_;
    };
    OdeOptions o;
    o.rtol = 1e-3;
    o.atol = 1e-3;
    const std::vector<double> init{1.0};
    double lowest[2] = {1.0, 1.0};
    for (int constrained = 0; constrained < 2; ++constrained) {
        Drain sys(constrained == 1);
        OdeSolver s(sys, 0.0, init, o);
        for (double t = 0.001; t < 1.0; t *= 1.1) {
            s.advanceTo(t);
            lowest[constrained] = std::min(lowest[constrained], s.state()[0]);
        }
    }
    EXPECT_LT(lowest[0], -1e-3) << "the unconstrained run was expected to go negative";
    EXPECT_GE(lowest[1], 0.0);
}

TEST(OdeSolver, RejectsBadInput) {
    LambdaSystem sys(2, [](double, std::span<const double>, std::span<double> f) { f[0] = f[1] = 0; }, "bad-input");
    const std::vector<double> one{1.0};
    const std::vector<double> two{1.0, 2.0};
    EXPECT_THROW(OdeSolver(sys, 0.0, one), InputError);
    OdeOptions o;
    o.rtol = 0;
    EXPECT_THROW(OdeSolver(sys, 0.0, two, o), InputError);
    o = {};
    o.atolPerState = {1e-8};
    EXPECT_THROW(OdeSolver(sys, 0.0, two, o), InputError);
    o = {};
    o.keepStepBelowGrowth = 1.0;
    EXPECT_THROW(OdeSolver(sys, 0.0, two, o), InputError);
    o = {};
    o.jacobianMaxAge = 0;
    EXPECT_THROW(OdeSolver(sys, 0.0, two, o), InputError);
    OdeSolver s(sys, 1.0, two);
    EXPECT_THROW(s.advanceTo(0.5), SolverError);
    EXPECT_THROW(s.reinitialize(1.0, one), InputError);
}

TEST(OdeSolver, IsMovable) {
    LambdaSystem sys(1, [](double, std::span<const double> y, std::span<double> f) { f[0] = -y[0]; });
    const std::vector<double> init{1.0};
    OdeSolver a(sys, 0.0, init, tight());
    a.advanceTo(1.0);
    OdeSolver b = std::move(a);
    b.advanceTo(2.0);
    EXPECT_LT(relErr(b.state()[0], std::exp(-2.0)), 1e-6);
}

namespace {

/// A stiff nonlinear reaction–diffusion chain: f_i = D·(y_{i−1} − 2y_i + y_{i+1}) − k·y_i² + s_i, with
/// no-flux ends. Tridiagonal Jacobian, known in closed form; optionally declares its sparsity.
class Chain : public OdeSystem {
public:
    Chain(std::size_t n, bool declareSparsity, bool analytic = false) : n_(n), sparse_(declareSparsity), analytic_(analytic) {}
    [[nodiscard]] std::size_t size() const override { return n_; }
    void rhs(double, std::span<const double> y, std::span<double> f) override {
        ++rhsCalls;
        for (std::size_t i = 0; i < n_; ++i) {
            const double left = i > 0 ? y[i - 1] : y[i];
            const double right = i + 1 < n_ ? y[i + 1] : y[i];
            f[i] = kD * (left - 2 * y[i] + right) - kK * y[i] * y[i] + (i == 0 ? 1.0 : 0.0);
        }
    }
    [[nodiscard]] bool hasJacobian() const override { return analytic_; }
    void jacobian(double, std::span<const double> y, std::span<const double>, JacobianView J) override { exact(y, J); }
    /// The closed-form Jacobian.
    void exact(std::span<const double> y, JacobianView J) const {
        for (std::size_t i = 0; i < n_; ++i) {
            double diag = -2 * kD - 2 * kK * y[i];
            if (i > 0) J(i, i - 1) = kD;
            else diag += kD;
            if (i + 1 < n_) J(i, i + 1) = kD;
            else diag += kD;
            J(i, i) = diag;
        }
    }
    [[nodiscard]] std::vector<std::vector<std::size_t>> jacobianSparsity() const override {
        if (!sparse_) return {};
        std::vector<std::vector<std::size_t>> rows(n_);
        for (std::size_t i = 0; i < n_; ++i) {
            if (i > 0) rows[i].push_back(i - 1);
            if (i + 1 < n_) rows[i].push_back(i + 1);
        }
        return rows;
    }
    [[nodiscard]] std::string name() const override { return "chain"; }
    long rhsCalls = 0;
    static constexpr double kD = 50.0, kK = 3.0;

private:
    std::size_t n_;
    bool sparse_, analytic_;
};

}  // namespace

TEST(JacobianColouring, TridiagonalNeedsThreeColours) {
    Chain sys(40, true);
    const auto c = JacobianColouring::fromSparsity(sys.size(), sys.jacobianSparsity());
    EXPECT_EQ(c.colours(), 3u);
    std::vector<int> seen(sys.size(), 0);
    for (std::size_t g = 0; g < c.colours(); ++g)
        for (std::size_t j : c.group(g)) ++seen[j];
    for (int v : seen) EXPECT_EQ(v, 1) << "every state in exactly one colour";
    EXPECT_EQ(JacobianColouring::dense(7).colours(), 7u);
    EXPECT_EQ(JacobianColouring::fromSparsity(7, {}).colours(), 7u);
    EXPECT_THROW((void)JacobianColouring::fromSparsity(3, {{0}, {1}}), InputError);
    EXPECT_THROW((void)JacobianColouring::fromSparsity(2, {{0}, {5}}), InputError);
}

TEST(JacobianColouring, ColouredEqualsDenseAndTheClosedForm) {
    const std::size_t n = 25;
    Chain sys(n, true);
    std::vector<double> y(n), f(n), inc(n), yw(n), fw(n), dense(n * n), coloured(n * n), exact(n * n, 0.0);
    for (std::size_t i = 0; i < n; ++i) y[i] = 1.0 + 0.1 * static_cast<double>(i);
    for (std::size_t i = 0; i < n; ++i) inc[i] = 1e-7 * std::max(1.0, std::abs(y[i]));
    sys.rhs(0, y, f);
    sys.rhsCalls = 0;
    ASSERT_TRUE(JacobianColouring::dense(n).differenceQuotient(sys, 0, y, f, inc, dense, yw, fw));
    EXPECT_EQ(sys.rhsCalls, static_cast<long>(n));
    sys.rhsCalls = 0;
    ASSERT_TRUE(JacobianColouring::fromSparsity(n, sys.jacobianSparsity()).differenceQuotient(sys, 0, y, f, inc, coloured, yw, fw));
    EXPECT_EQ(sys.rhsCalls, 3);
    sys.exact(y, JacobianView(exact.data(), n));
    for (std::size_t k = 0; k < n * n; ++k) {
        // The same increments and an exact pattern: the perturbations of one colour do not meet in
        // any equation, so coloured and dense agree to the last bit.
        EXPECT_EQ(coloured[k], dense[k]) << "entry " << k;
        EXPECT_NEAR(coloured[k], exact[k], 1e-4 * (1.0 + std::abs(exact[k]))) << "entry " << k;
    }
}

TEST(OdeSolver, ColouredJacobianCutsRhsEvaluationsNotAccuracy) {
    const std::size_t n = 60;
    std::vector<double> init(n, 0.0);
    OdeOptions o;
    o.rtol = 1e-8;
    o.atol = 1e-12;
    std::vector<std::vector<double>> finals;
    std::vector<OdeStats> stats;
    for (int mode = 0; mode < 4; ++mode) {  // CVODE's DQ, our dense DQ, coloured DQ, analytic
        Chain sys(n, mode == 2, mode == 3);
        OdeOptions om = o;
        if (mode == 0) om.jacobian = JacobianMethod::CvodeDifferenceQuotient;
        OdeSolver s(sys, 0.0, init, om);
        EXPECT_EQ(s.jacobianColours(), mode == 1 ? n : mode == 2 ? 3u : 0u);
        s.advanceTo(2.0);
        finals.emplace_back(s.state().begin(), s.state().end());
        stats.push_back(s.stats());
    }
    for (int mode = 1; mode < 4; ++mode)
        for (std::size_t i = 0; i < n; ++i) EXPECT_NEAR(finals[mode][i], finals[0][i], 1e-6 * std::abs(finals[0][i]) + 1e-10) << mode << " " << i;
    EXPECT_GT(stats[0].rhsEvalsForJacobian, 0);
    EXPECT_GT(stats[1].rhsEvalsForJacobian, 0);
    EXPECT_EQ(stats[2].rhsEvalsForJacobian, 3 * stats[2].jacobianEvals) << "three colours per Jacobian";
    EXPECT_LT(stats[2].rhsEvals, stats[1].rhsEvals);
    EXPECT_LT(stats[2].rhsEvalsForJacobian * 10, stats[1].rhsEvalsForJacobian);
    EXPECT_EQ(stats[3].rhsEvalsForJacobian, 0);
}

// Above OdeOptions::sparseAbove states the Newton systems go to SUNDIALS' KLU on the coloured
// pattern: a 200-state chain (tridiagonal) gives the dense path's answer, with the same three RHS
// evaluations per Jacobian; without a declared pattern the sparse path holds every entry and
// still agrees. The CSC pattern has the diagonal.
TEST(OdeSolver, SparseKluPathMatchesTheDenseLu) {
    const std::size_t n = 200;
    std::vector<double> init(n, 0.0);
    OdeOptions o;
    o.rtol = 1e-8;
    o.atol = 1e-12;
    std::vector<std::vector<double>> finals;
    std::vector<OdeStats> stats;
    for (int mode = 0; mode < 3; ++mode) {  // dense LU (coloured); KLU (coloured); KLU (no pattern: dense CSC)
        Chain sys(n, mode != 2);
        OdeOptions om = o;
        om.sparseAbove = mode == 0 ? n : 0;
        OdeSolver s(sys, 0.0, init, om);
        EXPECT_EQ(s.usesSparseSolver(), mode != 0) << mode;
        s.advanceTo(1.0);
        finals.emplace_back(s.state().begin(), s.state().end());
        stats.push_back(s.stats());
    }
    for (int mode = 1; mode < 3; ++mode)
        for (std::size_t i = 0; i < n; ++i) EXPECT_NEAR(finals[mode][i], finals[0][i], 1e-6 * std::abs(finals[0][i]) + 1e-10) << mode << " " << i;
    EXPECT_GT(stats[1].jacobianEvals, 0);
    EXPECT_EQ(stats[1].rhsEvalsForJacobian, 3 * stats[1].jacobianEvals) << "three colours per Jacobian";
    EXPECT_EQ(stats[2].rhsEvalsForJacobian, static_cast<long>(n) * stats[2].jacobianEvals);
    const auto c = JacobianColouring::fromSparsity(5, Chain(5, true).jacobianSparsity());
    EXPECT_EQ(c.cscColumnStart(), (std::vector<std::int64_t>{0, 2, 5, 8, 11, 13}));
    EXPECT_EQ(c.cscRowIndex(), (std::vector<std::int64_t>{0, 1, 0, 1, 2, 1, 2, 3, 2, 3, 4, 3, 4}));
}

TEST(OdeSolver, JacobianIsReusedAfterReinitializeAndStaysAccurate) {
    // y' = −k·y with a bolus every day: the closed form after each dose is known.
    const double k = 0.7;
    OdeOptions o = tight();
    long jacWithout = 0;
    for (bool reuse : {false, true}) {
        LambdaSystem sys(1, [k](double, std::span<const double> y, std::span<double> f) { f[0] = -k * y[0]; });
        o.reuseJacobianAfterReinit = reuse;
        const std::vector<double> init{1.0};
        OdeSolver s(sys, 0.0, init, o);
        double exact = 1.0;
        for (int day = 1; day <= 20; ++day) {
            s.advanceTo(day);
            exact = exact * std::exp(-k) + 1.0;
            std::vector<double> y(s.state().begin(), s.state().end());
            y[0] += 1.0;
            s.reinitialize(day, y);
        }
        s.advanceTo(20.5);
        exact *= std::exp(-k * 0.5);
        EXPECT_LT(relErr(s.state()[0], exact), 1e-6) << (reuse ? "with" : "without") << " reuse";
        const OdeStats st = s.stats();
        if (!reuse) {
            EXPECT_EQ(st.jacobianReuses, 0);
            jacWithout = st.jacobianEvals;
        } else {
            EXPECT_EQ(st.jacobianReuses, 20) << "one reuse per restart";
            EXPECT_LT(st.jacobianEvals, jacWithout);
        }
    }
}

// A restart that says the equations changed gets a fresh Jacobian, and refreshJacobian() makes
// the next Newton setup evaluate one (the engine's small clones leaving or rejoining the ODE, and
// a tumour that has grown ten-fold).
TEST(OdeSolver, ReinitializeWithNewEquationsAndRefreshJacobianEvaluateAFreshJacobian) {
    const double k = 0.7;
    LambdaSystem sys(1, [k](double, std::span<const double> y, std::span<double> f) { f[0] = -k * y[0]; });
    const std::vector<double> init{1.0};
    OdeSolver s(sys, 0.0, init, tight());
    s.advanceTo(1.0);
    const OdeStats before = s.stats();
    std::vector<double> y(s.state().begin(), s.state().end());
    s.reinitialize(1.0, y, false);
    s.advanceTo(2.0);
    const OdeStats afterNew = s.stats();
    EXPECT_EQ(afterNew.jacobianReuses, before.jacobianReuses);  // not offered the old one
    EXPECT_EQ(afterNew.jacobianEvals, before.jacobianEvals + 1);
    s.refreshJacobian();
    s.advanceTo(10.0);  // long enough for a Newton setup (CVODE: at least every 20 steps)
    EXPECT_GE(s.stats().jacobianEvals, afterNew.jacobianEvals + 1);
    EXPECT_LT(relErr(s.state()[0], std::exp(-k * 10.0)), 1e-6);
}

TEST(OdeSolver, PerStateRelativeTolerances) {
    // Two decoupled decays: the second held to a loose tolerance must not set the step size.
    LambdaSystem sys(2, [](double, std::span<const double> y, std::span<double> f) {
        f[0] = -0.5 * y[0];
        f[1] = -3.0 * y[1];
    });
    const std::vector<double> init{1.0, 1.0};
    OdeOptions all;
    all.rtol = 1e-10;
    all.atol = 1e-14;
    OdeOptions mixed = all;
    mixed.rtolPerState = {1e-10, 1e-4};
    OdeSolver a(sys, 0.0, init, all), b(sys, 0.0, init, mixed);
    a.advanceTo(2.0);
    b.advanceTo(2.0);
    EXPECT_LT(relErr(a.state()[0], std::exp(-1.0)), 1e-7);  // global error: a few times rtol
    EXPECT_LT(relErr(b.state()[0], std::exp(-1.0)), 1e-7);
    EXPECT_LT(relErr(a.state()[1], std::exp(-6.0)), 1e-7);
    EXPECT_LT(relErr(b.state()[1], std::exp(-6.0)), 1e-2);
    EXPECT_LT(b.stats().steps, a.stats().steps) << "the loose state no longer limits the step";

    OdeOptions bad = all;
    bad.rtolPerState = {1e-6};
    EXPECT_THROW(OdeSolver(sys, 0.0, init, bad), InputError);
    bad.rtolPerState = {1e-6, 0.0};
    EXPECT_THROW(OdeSolver(sys, 0.0, init, bad), InputError);
}

namespace {

/// M·x for a column-major n×n M.
std::vector<double> multiply(const std::vector<double>& m, const std::vector<double>& x) {
    const std::size_t n = x.size();
    std::vector<double> out(n, 0.0);
    for (std::size_t j = 0; j < n; ++j)
        for (std::size_t i = 0; i < n; ++i) out[i] += m[j * n + i] * x[j];
    return out;
}

/// A Newton matrix I − γJ with the structure NewtonLu's block path needs: the columns of `diag`
/// hold only their diagonal; the other columns are dense (deterministic pseudo-random entries).
std::vector<double> structuredMatrix(std::size_t n, const std::vector<std::size_t>& diag) {
    std::vector<double> m(n * n, 0.0);
    std::vector<char> isDiag(n, 0);
    for (std::size_t j : diag) isDiag[j] = 1;
    unsigned state = 12345;
    auto next = [&] {
        state = state * 1103515245u + 12345u;
        return static_cast<double>((state >> 8) % 2001) / 1000.0 - 1.0;  // in [-1, 1]
    };
    for (std::size_t j = 0; j < n; ++j)
        for (std::size_t i = 0; i < n; ++i) {
            if (isDiag[j] != 0) m[j * n + i] = i == j ? 1.0 + 50.0 * std::abs(next()) : 0.0;
            else m[j * n + i] = (i == j ? 3.0 : 0.0) + next();
        }
    return m;
}

}  // namespace

/// The Jacobian J = (I − M)/γ whose Newton matrix I − γJ is `m`.
std::vector<double> jacobianOf(const std::vector<double>& m, std::size_t n, double gamma) {
    std::vector<double> j(m.size());
    for (std::size_t k = 0; k < m.size(); ++k) j[k] = -m[k] / gamma;
    for (std::size_t k = 0; k < n; ++k) j[k * n + k] += 1.0 / gamma;
    return j;
}

// The block path solves the same systems as the dense LU (its oracle), and only takes the block
// path when the Jacobian has the promised structure.
TEST(NewtonLu, BlockPathMatchesDenseLu) {
    const std::size_t n = 12;
    const double gamma = 0.5;
    const std::vector<std::size_t> diag = {1, 4, 5, 6, 7, 8, 10};
    const auto m = structuredMatrix(n, diag);
    std::vector<double> b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = std::sin(static_cast<double>(i) + 0.5);

    auto solveWith = [&](std::vector<std::size_t> s, const std::vector<double>& matrix, bool* block) {
        const auto j = jacobianOf(matrix, n, gamma);
        NewtonLu lu(n, std::move(s));
        EXPECT_EQ(lu.factorJacobian(j.data(), gamma), 0u);
        *block = lu.lastWasBlock();
        std::vector<double> x = b;
        lu.solveJacobian(x.data());
        return x;
    };
    bool block = false;
    auto dm = m;
    NewtonLu plain(n);
    ASSERT_EQ(plain.factor(dm.data()), 0u);  // the dense LU of M itself
    std::vector<double> dense = b;
    plain.solve(dm.data(), dense.data());
    const auto blocked = solveWith(diag, m, &block);
    EXPECT_TRUE(block);
    const auto residual = multiply(m, blocked);
    for (std::size_t i = 0; i < n; ++i) {
        EXPECT_NEAR(blocked[i], dense[i], 1e-12 * (1.0 + std::abs(dense[i]))) << i;
        EXPECT_NEAR(residual[i], b[i], 1e-12) << i;
    }

    // A Jacobian that breaks the promise (an off-diagonal entry in a "diagonal" column): dense LU,
    // still the right answer.
    auto broken = m;
    broken[5 * n + 2] = 0.25;
    const auto fallback = solveWith(diag, broken, &block);
    EXPECT_FALSE(block);
    const auto r2 = multiply(broken, fallback);
    for (std::size_t i = 0; i < n; ++i) EXPECT_NEAR(r2[i], b[i], 1e-12) << i;
}

TEST(NewtonLu, ReportsZeroPivotsAndRejectsBadStates) {
    const std::size_t n = 5;
    const std::vector<std::size_t> diag = {2, 3};
    auto m = structuredMatrix(n, diag);
    m[3 * n + 3] = 0;  // a diagonal state with a zero pivot: singular
    const auto j = jacobianOf(m, n, 1.0);
    NewtonLu lu(n, diag);
    EXPECT_EQ(lu.factorJacobian(j.data(), 1.0), 4u);
    auto z = structuredMatrix(n, diag);
    for (std::size_t i = 0; i < n; ++i) z[0 * n + i] = 0;  // a zero column among the rest: singular
    auto zd = z;
    NewtonLu dense(n);
    EXPECT_EQ(dense.factor(zd.data()), 1u);
    EXPECT_THROW(NewtonLu(n, {3, 2}), InputError);
    EXPECT_THROW(NewtonLu(n, {1, 5}), InputError);
}

// In a solver: the coloured Jacobian's diagonal-only columns (here, states read by no other
// equation) take the block path, with the same solution as the dense LU.
TEST(OdeSolver, BlockNewtonSolveMatchesDense) {
    // A stiff chain (dense block) feeding fast, independently decaying outputs (diagonal columns).
    class Fed : public OdeSystem {
    public:
        [[nodiscard]] std::size_t size() const override { return 10; }
        void rhs(double, std::span<const double> y, std::span<double> f) override {
            f[0] = -0.5 * y[0] + 0.1 * y[1] * y[1];
            f[1] = 0.5 * y[0] - 0.1 * y[1] * y[1] - 0.01 * y[1];
            for (std::size_t k = 2; k < 10; ++k) f[k] = (1.0 + static_cast<double>(k)) * y[k % 2] - 1e3 * static_cast<double>(k) * y[k];
        }
        [[nodiscard]] std::vector<std::vector<std::size_t>> jacobianSparsity() const override {
            std::vector<std::vector<std::size_t>> rows(10);
            rows[0] = {1};
            rows[1] = {0};
            for (std::size_t k = 2; k < 10; ++k) rows[k] = {k % 2};
            return rows;
        }
    };
    EXPECT_EQ(JacobianColouring::fromSparsity(10, Fed().jacobianSparsity()).diagonalColumns(), (std::vector<std::size_t>{2, 3, 4, 5, 6, 7, 8, 9}));
    std::vector<std::vector<double>> finals;
    for (bool block : {true, false}) {
        Fed sys;
        OdeOptions o;
        o.rtol = 1e-9;
        o.atol = 1e-12;
        o.blockNewtonSolve = block;
        std::vector<double> y0(10, 0.0);
        y0[0] = 1.0;
        OdeSolver s(sys, 0.0, y0, o);
        s.advanceTo(20.0);
        finals.emplace_back(s.state().begin(), s.state().end());
    }
    for (std::size_t i = 0; i < 10; ++i) EXPECT_NEAR(finals[0][i], finals[1][i], 1e-7 * std::abs(finals[1][i]) + 1e-12) << i;
}

// nkscape's vector operations do SUNDIALS' operations in SUNDIALS' order: the same trajectory to
// the last bit, with the same step and RHS counts, on a stiff nonlinear system with a Jacobian.
TEST(OdeSolver, FastVectorOpsAreBitIdentical) {
    std::vector<std::vector<double>> finals;
    std::vector<OdeStats> stats;
    for (bool fast : {true, false}) {
        Chain sys(30, true);
        OdeOptions o;
        o.rtol = 1e-7;
        o.atol = 1e-10;
        o.fastVectorOps = fast;
        OdeSolver s(sys, 0.0, std::vector<double>(30, 0.0), o);
        for (double t : {0.5, 1.0, 3.0}) s.advanceTo(t);
        finals.emplace_back(s.state().begin(), s.state().end());
        stats.push_back(s.stats());
    }
    EXPECT_EQ(finals[0], finals[1]);
    EXPECT_EQ(stats[0].steps, stats[1].steps);
    EXPECT_EQ(stats[0].rhsEvals, stats[1].rhsEvals);
}

// From the Jacobian: the block path (real Schur form of J_RR, once per Jacobian, then any γ)
// solves (I − γJ)x = b as the dense LU does, for a J_RR with complex eigenvalue pairs (2×2 blocks
// in T) and several γ against one Jacobian; a γ that makes I − γJ singular is reported.
TEST(NewtonLu, SchurPathFromTheJacobianMatchesDenseLu) {
    const std::size_t n = 11;
    const std::vector<std::size_t> diag = {2, 5, 6, 7, 9};
    // J: rest block with rotations (complex eigenvalues) and decay; diagonal columns for S.
    auto j = structuredMatrix(n, diag);
    for (std::size_t c = 0; c < n; ++c)
        for (std::size_t r = 0; r < n; ++r) j[c * n + r] = -j[c * n + r];
    j[0 * n + 1] = 4.0;  // J(1,0) and J(0,1) of opposite signs: a rotation
    j[1 * n + 0] = -4.0;
    std::vector<double> b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = std::cos(0.7 * static_cast<double>(i));
    NewtonLu block(n, diag), dense(n);
    for (double gamma : {0.01, 0.3, 2.0}) {
        ASSERT_EQ(block.factorJacobian(j.data(), gamma), 0u);
        EXPECT_TRUE(block.lastWasBlock());
        ASSERT_EQ(dense.factorJacobian(j.data(), gamma), 0u);
        std::vector<double> x1 = b, x2 = b;
        block.solveJacobian(x1.data());
        dense.solveJacobian(x2.data());
        std::vector<double> mm(n * n);
        for (std::size_t k = 0; k < n * n; ++k) mm[k] = -gamma * j[k];
        for (std::size_t k = 0; k < n; ++k) mm[k * n + k] += 1.0;
        const auto r = multiply(mm, x1);
        for (std::size_t i = 0; i < n; ++i) {
            EXPECT_NEAR(x1[i], x2[i], 1e-11 * (1.0 + std::abs(x2[i]))) << "γ " << gamma << " state " << i;
            EXPECT_NEAR(r[i], b[i], 1e-11) << "γ " << gamma << " state " << i;
        }
    }
    // A diagonal state with 1 − γ J_jj = 0.
    auto s = j;
    s[6 * n + 6] = 2.0;
    NewtonLu singular(n, diag);
    EXPECT_EQ(singular.factorJacobian(s.data(), 0.5), 7u);
    // A new Jacobian is picked up after jacobianChanged().
    auto j2 = j;
    j2[0 * n + 0] -= 3.0;
    block.jacobianChanged();
    ASSERT_EQ(block.factorJacobian(j2.data(), 0.3), 0u);
    ASSERT_EQ(dense.factorJacobian(j2.data(), 0.3), 0u);
    std::vector<double> x1 = b, x2 = b;
    block.solveJacobian(x1.data());
    dense.solveJacobian(x2.data());
    for (std::size_t i = 0; i < n; ++i) EXPECT_NEAR(x1[i], x2[i], 1e-11 * (1.0 + std::abs(x2[i]))) << i;
}
