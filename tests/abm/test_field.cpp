// The fields of the spatial engine against analytic solutions (docs/abm.md, "Fields"): 1-D and
// 3-D Gaussian spreading, steady profiles with decay in 1-D (cosh) and around a point source in
// 3-D (e^{−r/L}/r), the observed order of convergence as the step and the grid are refined, mass
// conservation with no-flux faces, bit-identical results on 1 and 2 threads, checkpoint round trip,
// and the errors a bad spec or a bad source gives.

#include <gtest/gtest.h>

#include <cmath>
#include <array>
#include <cstring>
#include <numbers>
#include <sstream>
#include <vector>

#include "nkscape/abm/field.hpp"
#include "nkscape/error.hpp"

using namespace nkscape;
using namespace nkscape::abm;

namespace {

FieldSpec spec(const std::string& name, double d, double decay, Boundary b = Boundary::Neumann, double bv = 0.0) {
    FieldSpec s;
    s.name = name;
    s.diffusionUm2PerMin = d;
    s.decayPerMin = decay;
    s.boundary = b;
    s.boundaryValue = bv;
    s.unit = "au";
    return s;
}

double centre(int i, double h) { return (i + 0.5) * h; }

// 1-D: a line of n voxels (a 2-D grid n × 1) with a Gaussian of width sigma0 µm in the middle,
// diffused for tMin with steps of dt; returns the max error against the exact Gaussian, relative
// to the exact peak.
double gaussian1dError(int n, double h, double d, double sigma0, double tMin, double dt) {
    const Grid g{n, 1, 1, h};
    FieldSet fs(g, {spec("c", d, 0.0)});
    const double mid = n * h / 2.0;
    auto c = fs.values(0);
    for (int i = 0; i < n; ++i) c[static_cast<std::size_t>(i)] = std::exp(-std::pow(centre(i, h) - mid, 2) / (2 * sigma0 * sigma0));
    const int steps = static_cast<int>(std::lround(tMin / dt));
    for (int k = 0; k < steps; ++k) fs.step(dt, 1);
    const double s2 = sigma0 * sigma0 + 2 * d * tMin;
    const double amp = sigma0 / std::sqrt(s2);
    double err = 0.0;
    for (int i = 0; i < n; ++i) {
        const double exact = amp * std::exp(-std::pow(centre(i, h) - mid, 2) / (2 * s2));
        err = std::max(err, std::abs(c[static_cast<std::size_t>(i)] - exact));
    }
    return err / amp;
}

std::vector<double> gaussian1dRun(int n, double h, double d, double sigma0, double tMin, double dt) {
    const Grid g{n, 1, 1, h};
    FieldSet fs(g, {spec("c", d, 0.0)});
    const double mid = n * h / 2.0;
    auto c = fs.values(0);
    for (int i = 0; i < n; ++i) c[static_cast<std::size_t>(i)] = std::exp(-std::pow(centre(i, h) - mid, 2) / (2 * sigma0 * sigma0));
    const int steps = static_cast<int>(std::lround(tMin / dt));
    for (int k = 0; k < steps; ++k) fs.step(dt, 1);
    return {c.begin(), c.end()};
}

double maxDiff(const std::vector<double>& a, const std::vector<double>& b) {
    double e = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) e = std::max(e, std::abs(a[i] - b[i]));
    return e;
}

}  // namespace

// The scheme is first order in time (backward Euler, approximately factorised): on a fixed grid, the error against a run with a 64 times
// smaller step halves when the step halves.
TEST(AbmField, Gaussian1dFirstOrderInTime) {
    const double d = 1000.0, h = 10.0, sigma0 = 100.0, t = 10.0;
    const auto ref = gaussian1dRun(201, h, d, sigma0, t, 0.4 / 64);
    const double e1 = maxDiff(gaussian1dRun(201, h, d, sigma0, t, 0.4), ref);
    const double e2 = maxDiff(gaussian1dRun(201, h, d, sigma0, t, 0.2), ref);
    const double e3 = maxDiff(gaussian1dRun(201, h, d, sigma0, t, 0.1), ref);
    const double p1 = std::log2(e1 / e2), p2 = std::log2(e2 / e3);
    RecordProperty("time_order", std::to_string(p1) + " " + std::to_string(p2));
    std::printf("1-D time errors %.3e %.3e %.3e, orders %.3f %.3f\n", e1, e2, e3, p1, p2);
    EXPECT_NEAR(p1, 1.0, 0.1);
    EXPECT_NEAR(p2, 1.0, 0.07);
}

// Against the exact Gaussian, with the step refined as the square of the voxel (dt ∝ Δx²), the
// error falls as Δx²: second order in space.
TEST(AbmField, Gaussian1dSecondOrderAgainstExact) {
    const double d = 1000.0, sigma0 = 100.0, t = 10.0, width = 2000.0;
    const double e1 = gaussian1dError(100, width / 100, d, sigma0, t, 0.4);
    const double e2 = gaussian1dError(200, width / 200, d, sigma0, t, 0.1);
    const double e3 = gaussian1dError(400, width / 400, d, sigma0, t, 0.025);
    const double p1 = std::log2(e1 / e2), p2 = std::log2(e2 / e3);
    std::printf("1-D errors vs exact %.3e %.3e %.3e (relative to peak), orders %.3f %.3f\n", e1, e2, e3, p1, p2);
    EXPECT_LT(e1, 0.01);
    EXPECT_NEAR(p1, 2.0, 0.15);
    EXPECT_NEAR(p2, 2.0, 0.1);
}

// 1-D steady state with decay between Dirichlet walls: c = cosh(x/L)/cosh(a/L), L = √(D/λ), with
// the walls at the ghost voxels' centres, half a voxel beyond each face (±a). The scheme's fixed
// point is the exact discrete steady state whatever the step (here 5 min, λh = 0.5), so only the
// spatial error is left: second order.
TEST(AbmField, SteadyCosh1dSecondOrderInSpace) {
    const double d = 1000.0, lambda = 0.1, dt = 5.0, width = 1000.0, bv = 2.0;
    const double len = std::sqrt(d / lambda);
    std::vector<double> errs;
    for (const int n : {25, 50, 100, 200}) {
        const double h = width / n;
        FieldSet fs(Grid{n, 1, 1, h}, {spec("c", d, lambda, Boundary::Dirichlet, bv)});
        for (int k = 0; k < 2000; ++k) fs.step(dt, 1);
        const double a = width / 2 + h / 2;
        double err = 0.0;
        for (int i = 0; i < n; ++i) {
            const double x = centre(i, h) - width / 2;
            err = std::max(err, std::abs(fs.values(0)[static_cast<std::size_t>(i)] - bv * std::cosh(x / len) / std::cosh(a / len)));
        }
        errs.push_back(err / bv);
    }
    std::printf("1-D steady cosh errors");
    for (const double e : errs) std::printf(" %.3e", e);
    std::printf("\n");
    EXPECT_LT(errs[0], 3e-3);
    for (std::size_t k = 1; k < errs.size(); ++k) EXPECT_NEAR(std::log2(errs[k - 1] / errs[k]), 2.0, 0.05) << k;
}

// 3-D Gaussian spreading in a 33³ box of 20 µm voxels (the engine's voxel), D of a chemokine.
TEST(AbmField, Gaussian3d) {
    const int n = 33;
    const double h = 20.0, d = 1000.0, sigma0 = 50.0, t = 3.0, mid = n * h / 2.0;
    const auto run = [&](double dt, int threads) {
        FieldSet fs(Grid{n, n, n, h}, {spec("c", d, 0.0)});
        auto c = fs.values(0);
        for (int z = 0; z < n; ++z)
            for (int y = 0; y < n; ++y)
                for (int x = 0; x < n; ++x) {
                    const double r2 = std::pow(centre(x, h) - mid, 2) + std::pow(centre(y, h) - mid, 2) + std::pow(centre(z, h) - mid, 2);
                    c[fs.grid().index(x, y, z)] = std::exp(-r2 / (2 * sigma0 * sigma0));
                }
        const int steps = static_cast<int>(std::lround(t / dt));
        for (int k = 0; k < steps; ++k) fs.step(dt, threads);
        return std::vector<double>(c.begin(), c.end());
    };
    const double s2 = sigma0 * sigma0 + 2 * d * t;
    const double amp = std::pow(sigma0 * sigma0 / s2, 1.5);
    const Grid g{n, n, n, h};
    const auto errorVsExact = [&](const std::vector<double>& c) {
        double err = 0.0;
        for (int z = 0; z < n; ++z)
            for (int y = 0; y < n; ++y)
                for (int x = 0; x < n; ++x) {
                    const double r2 = std::pow(centre(x, h) - mid, 2) + std::pow(centre(y, h) - mid, 2) + std::pow(centre(z, h) - mid, 2);
                    err = std::max(err, std::abs(c[g.index(x, y, z)] - amp * std::exp(-r2 / (2 * s2))));
                }
        return err / amp;
    };
    const auto c1 = run(0.1, 2), c2 = run(0.05, 2), c3 = run(0.025, 2), ref = run(0.1 / 32, 2);
    const double e1 = errorVsExact(c1), e2 = errorVsExact(c2), e3 = errorVsExact(c3);
    const double t1 = maxDiff(c1, ref), t2 = maxDiff(c2, ref), t3 = maxDiff(c3, ref);
    std::printf("3-D errors vs exact %.3e %.3e %.3e; vs small step %.3e %.3e %.3e, time orders %.3f %.3f\n", e1, e2, e3, t1, t2, t3,
                std::log2(t1 / t2), std::log2(t2 / t3));
    EXPECT_LT(e1, 0.05);
    EXPECT_LT(e3, 0.025);
    EXPECT_NEAR(std::log2(t1 / t2), 1.0, 0.15);
    EXPECT_NEAR(std::log2(t2 / t3), 1.0, 0.15);
}

// Steady point source with decay in 3-D: c(r) = S/(4πD r)·e^{−r/L}, L = √(D/λ), for S amount/min
// released in one voxel, Dirichlet 0 on a box 5 L from the source. The steady state does not
// depend on the step (runs with 0.25 and 0.5 min agree to 1e-7 of the peak after 200 min); what
// is left is the 7-point stencil's error near a one-voxel source, ~2 % at 6–10 voxels (120–200 µm).
// (Longer steps converge to the same state but slowly: grid-scale modes decay by ~1 − 3/(rx·ry·rz)
// per step when r = D·h/Δx² ≫ 1 — docs/abm.md.)
TEST(AbmField, SteadyPointSource3d) {
    const int n = 51;
    const double h = 20.0, d = 1000.0, lambda = 0.1, rate = 1e6;  // rate: amount/min
    const auto steady = [&](double dt) {
        FieldSet fs(Grid{n, n, n, h}, {spec("c", d, lambda, Boundary::Dirichlet, 0.0)});
        const int m = n / 2;
        fs.source(0)[fs.grid().index(m, m, m)] = rate / fs.grid().voxelVolumeUm3();
        const int steps = static_cast<int>(std::lround(200.0 / dt));
        for (int k = 0; k < steps; ++k) fs.step(dt, 2);
        return std::vector<double>(fs.values(0).begin(), fs.values(0).end());
    };
    const auto c1 = steady(0.5), c2 = steady(0.25);
    const Grid g{n, n, n, h};
    const int m = n / 2;
    const double len = std::sqrt(d / lambda);
    double worst = 0.0, stepDiff = 0.0;
    for (std::size_t i = 0; i < c1.size(); ++i) stepDiff = std::max(stepDiff, std::abs(c1[i] - c2[i]) / c1[g.index(m, m, m)]);
    for (int k = 6; k <= 10; ++k) {
        for (const auto& [dx, dy, dz] : {std::array{k, 0, 0}, std::array{0, 0, k}, std::array{k / 2, k / 2, 0}, std::array{k / 2, k / 2, k / 2}}) {
            const double r = h * std::sqrt(double(dx * dx + dy * dy + dz * dz));
            const double exact = rate / (4 * std::numbers::pi * d * r) * std::exp(-r / len);
            worst = std::max(worst, std::abs(c1[g.index(m + dx, m + dy, m + dz)] / exact - 1.0));
        }
    }
    std::printf("3-D point source: worst relative error 6-10 voxels from the source %.3e; dt 0.5 vs 0.25 min differ by %.3e of the peak\n", worst,
                stepDiff);
    EXPECT_LT(worst, 0.04);
    EXPECT_LT(stepDiff, 1e-7);
}

// No-flux faces: without decay or uptake the amount changes only by the sources, to round-off.
TEST(AbmField, NeumannConservesMass) {
    const Grid g{23, 17, 13, 20.0};
    FieldSet fs(g, {spec("c", 5e4, 0.0)});
    auto c = fs.values(0);
    auto s = fs.source(0);
    for (std::size_t i = 0; i < c.size(); ++i) c[i] = std::fmod(0.618034 * double(i), 1.0);
    s[g.index(3, 4, 5)] = 7.0;
    s[g.index(20, 1, 12)] = 2.5;
    const double before = fs.total(0);
    const double dt = 0.7;
    const int steps = 50;
    for (int k = 0; k < steps; ++k) fs.step(dt, 2);
    const double expected = before + (7.0 + 2.5) * g.voxelVolumeUm3() * dt * steps;
    std::printf("mass: %.17g expected %.17g, relative %.3e\n", fs.total(0), expected, fs.total(0) / expected - 1);
    EXPECT_NEAR(fs.total(0) / expected, 1.0, 1e-13);
}

namespace {

FieldSet busyFields(const Grid& g) {
    FieldSet fs(g, {spec("O2", 1e5, 0.1, Boundary::Dirichlet, 38.0), spec("CCL5", 1e3, 0.01)});
    fs.values(0)[0] = 1.0;
    for (std::size_t i = 0; i < g.voxels(); ++i) {
        fs.values(1)[i] = std::fmod(0.37 * double(i), 1.0);
        if (i % 7 == 0) fs.uptake(0)[i] = 10.0;
        if (i % 11 == 0) fs.source(1)[i] = 0.5;
    }
    return fs;
}

}  // namespace

// The same result to the bit on 1 and 2 threads (a grid whose sizes are not multiples of the blocks).
TEST(AbmField, ThreadCountIndependent) {
    const Grid g{37, 29, 23, 20.0};
    FieldSet a = busyFields(g), b = busyFields(g);
    for (int k = 0; k < 5; ++k) {
        a.step(0.1, 1);
        b.step(0.1, 2);
    }
    for (std::size_t f = 0; f < 2; ++f)
        EXPECT_EQ(std::memcmp(a.values(f).data(), b.values(f).data(), g.voxels() * sizeof(double)), 0) << f;
    EXPECT_GT(a.values(0)[g.index(18, 14, 11)], 0.0);
    // And in 2-D, where the row blocks and x slices carry the parallelism.
    const Grid g2{301, 257, 1, 20.0};
    FieldSet c = busyFields(g2), d = busyFields(g2);
    for (int k = 0; k < 5; ++k) {
        c.step(0.1, 1);
        d.step(0.1, 2);
    }
    for (std::size_t f = 0; f < 2; ++f)
        EXPECT_EQ(std::memcmp(c.values(f).data(), d.values(f).data(), g2.voxels() * sizeof(double)), 0) << f;
}

// save → load → step gives the same bits as stepping on; a checkpoint of other fields is refused.
TEST(AbmField, SaveLoadBitIdentical) {
    const Grid g{19, 13, 7, 20.0};
    FieldSet a = busyFields(g);
    a.step(0.3, 2);
    std::stringstream buffer;
    a.save(buffer);
    FieldSet b = busyFields(g);
    b.load(buffer);
    for (std::size_t f = 0; f < 2; ++f)
        EXPECT_EQ(std::memcmp(a.values(f).data(), b.values(f).data(), g.voxels() * sizeof(double)), 0);
    a.step(0.3, 1);
    b.step(0.3, 2);
    for (std::size_t f = 0; f < 2; ++f)
        EXPECT_EQ(std::memcmp(a.values(f).data(), b.values(f).data(), g.voxels() * sizeof(double)), 0);

    std::stringstream again;
    a.save(again);
    FieldSet other(g, {spec("O2", 1e5, 0.1), spec("TGFb", 1e3, 0.01)});
    try {
        other.load(again);
        ADD_FAILURE() << "loaded a checkpoint of other fields";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("'CCL5' where this run has 'TGFb'"), std::string::npos) << e.what();
    }
    std::stringstream truncated(again.str().substr(0, again.str().size() - 3));
    FieldSet same = busyFields(g);
    EXPECT_THROW(same.load(truncated), IoError);
    std::stringstream foreign("not a checkpoint at all");
    EXPECT_THROW(same.load(foreign), IoError);
}

TEST(AbmField, BadSpecsNameTheField) {
    const Grid g{4, 4, 1, 20.0};
    try {
        FieldSet fs(g, {spec("O2", -1.0, 0.1), spec("O2", 1.0, std::nan("")), spec("a/b", 1.0, 0.0)});
        ADD_FAILURE();
    } catch (const InputError& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("fields: 4 errors"), std::string::npos) << m;
        EXPECT_NE(m.find("field 'O2': diffusion must be a finite number ≥ 0 µm²/min (got -1)"), std::string::npos) << m;
        EXPECT_NE(m.find("field 'O2': name given twice"), std::string::npos) << m;
        EXPECT_NE(m.find("field 'O2': decay must be a finite number ≥ 0 1/min (got nan)"), std::string::npos) << m;
        EXPECT_NE(m.find("field 'a/b': name must be"), std::string::npos) << m;
    }
    EXPECT_THROW(FieldSet(Grid{0, 4, 1, 20.0}, {}), InputError);
    EXPECT_THROW(FieldSet(Grid{4, 4, 1, 0.0}, {}), InputError);
    FieldSet fs(g, {spec("O2", 1.0, 0.1)});
    try {
        (void)fs.index("O3");
        ADD_FAILURE();
    } catch (const InputError& e) {
        EXPECT_STREQ(e.what(), "no field named 'O3' (fields: O2)");
    }
    EXPECT_THROW(fs.step(0.0, 1), InputError);
    EXPECT_THROW(fs.step(0.1, 0), InputError);
    fs.uptake(0)[g.index(2, 3, 0)] = -1.0;
    try {
        fs.step(0.1, 1);
        ADD_FAILURE();
    } catch (const InternalError& e) {
        EXPECT_NE(std::string(e.what()).find("field 'O2': uptake at voxel (2, 3, 0) is -1"), std::string::npos) << e.what();
    }
}

// The sub-cycling rule: (λ + max uptake)·h ≤ the reaction step limit (2 by default), and h ≤ maxStepMin.
TEST(AbmField, SubstepRule) {
    const Grid g{4, 4, 1, 20.0};
    FieldSpec capped = spec("capped", 1.0, 0.0);
    capped.maxStepMin = 0.1;
    FieldSet fs(g, {spec("O2", 1e5, 0.1), capped});
    EXPECT_EQ(fs.substeps(0, 1.0), 1);   // λh = 0.1
    EXPECT_EQ(fs.substeps(0, 50.0), 3);  // λh = 5 → 3 sub-steps of 16.7 min (λh ≤ 2)
    fs.uptake(0)[5] = 9.9;               // k = 10 /min
    EXPECT_EQ(fs.substeps(0, 0.2), 1);
    EXPECT_EQ(fs.substeps(0, 0.25), 2);
    EXPECT_EQ(fs.substeps(1, 0.3), 3);
    EXPECT_EQ(fs.substeps(1, 0.05), 1);
    fs.setReactionStepLimit(0.5);
    EXPECT_EQ(fs.substeps(0, 0.1), 2);
}
