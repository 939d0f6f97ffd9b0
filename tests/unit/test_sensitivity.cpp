// Global sensitivity analysis (include/nkscape/sensitivity/sensitivity.hpp) against functions whose
// indices are known in closed form: the Ishigami function (Ishigami & Homma 1990; indices in
// Saltelli et al. 2008, "Global Sensitivity Analysis: The Primer", §4.5) and the Sobol g-function
// (Saltelli & Sobol 1995).

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>

#include "nkscape/error.hpp"
#include "nkscape/sensitivity/analysis.hpp"
#include "nkscape/sensitivity/sensitivity.hpp"

namespace nkscape::sensitivity {
namespace {

constexpr double kPi = std::numbers::pi;

// ---- Ishigami: f = sin x1 + a sin² x2 + b x3⁴ sin x1 on [-π, π]³ ----------------------------------
constexpr double kA = 7, kB = 0.1;

double ishigami(std::span<const double> x) { return std::sin(x[0]) + kA * std::sin(x[1]) * std::sin(x[1]) + kB * std::pow(x[2], 4) * std::sin(x[0]); }

struct Analytic {
    std::vector<double> first, total;
};

Analytic ishigamiIndices() {
    const double pi4 = std::pow(kPi, 4), pi8 = std::pow(kPi, 8);
    const double v1 = 0.5 * std::pow(1 + kB * pi4 / 5, 2);
    const double v2 = kA * kA / 8;
    const double v13 = kB * kB * pi8 * (1.0 / 18 - 1.0 / 50);
    const double v = v1 + v2 + v13;
    return {{v1 / v, v2 / v, 0.0}, {(v1 + v13) / v, v2 / v, v13 / v}};
}

const std::vector<Dimension> kIshigamiSpace = {{"x1", -kPi, kPi, Scale::Linear}, {"x2", -kPi, kPi, Scale::Linear}, {"x3", -kPi, kPi, Scale::Linear}};

PointFunction ishigamiFunction() {
    return [](std::size_t, std::span<const double> u) { return std::vector<double>{ishigami(fromUnit(kIshigamiSpace, u))}; };
}

// ---- the g-function: Π (|4 x_i − 2| + a_i) / (1 + a_i) on [0, 1]^8 --------------------------------
const std::vector<double> kG = {0, 1, 4.5, 9, 99, 99, 99, 99};

double gFunction(std::span<const double> x) {
    double p = 1;
    for (std::size_t i = 0; i < kG.size(); ++i) p *= (std::abs(4 * x[i] - 2) + kG[i]) / (1 + kG[i]);
    return p;
}

Analytic gIndices() {
    std::vector<double> vi;
    double prod = 1;
    for (const double a : kG) {
        vi.push_back(1.0 / (3 * (1 + a) * (1 + a)));
        prod *= 1 + vi.back();
    }
    const double v = prod - 1;
    Analytic r;
    for (std::size_t i = 0; i < kG.size(); ++i) {
        r.first.push_back(vi[i] / v);
        r.total.push_back(vi[i] * prod / (1 + vi[i]) / v);
    }
    return r;
}

PointFunction gPoint() {
    return [](std::size_t, std::span<const double> u) { return std::vector<double>{gFunction(u)}; };
}

SobolIndices sobolOf(const PointFunction& f, std::size_t n, std::size_t k, std::size_t bootstrap, std::uint64_t seed, int threads = 1) {
    const Matrix design = saltelliDesign(n, k, seed);
    EvaluationOptions o;
    o.threads = threads;
    const Matrix y = evaluateDesign(design, 1, f, o);
    return sobolIndices(y.data, n, k, bootstrap, seed);
}

TEST(Sensitivity, IshigamiSobolIndicesWithin002AtN4096) {
    // N = 4096 base samples (4096 x 5 = 20,480 evaluations); the largest error is 0.0012 (S1 0.3131).
    const auto s = sobolOf(ishigamiFunction(), 4096, 3, 0, 1);
    const auto a = ishigamiIndices();
    EXPECT_NEAR(a.first[0], 0.3139, 1e-4);
    EXPECT_NEAR(a.first[1], 0.4424, 1e-4);
    EXPECT_NEAR(a.total[0], 0.5576, 1e-4);
    EXPECT_NEAR(a.total[2], 0.2437, 1e-4);
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_NEAR(s.first[i].value, a.first[i], 0.02) << "S" << i + 1;
        EXPECT_NEAR(s.total[i].value, a.total[i], 0.02) << "ST" << i + 1;
    }
    // Var f = a²/8 + b π⁴/5 + b² π⁸/18 + 1/2.
    EXPECT_NEAR(s.variance, kA * kA / 8 + kB * std::pow(kPi, 4) / 5 + kB * kB * std::pow(kPi, 8) / 18 + 0.5, 0.05 * s.variance);
}

TEST(Sensitivity, IshigamiIndicesHoldForEverySeed) {
    // The digital shift changes the points, not the accuracy.
    const auto a = ishigamiIndices();
    for (const std::uint64_t seed : {2u, 3u, 4u}) {
        const auto s = sobolOf(ishigamiFunction(), 4096, 3, 0, seed);
        for (std::size_t i = 0; i < 3; ++i) {
            EXPECT_NEAR(s.first[i].value, a.first[i], 0.02) << "seed " << seed << " S" << i + 1;
            EXPECT_NEAR(s.total[i].value, a.total[i], 0.02) << "seed " << seed << " ST" << i + 1;
        }
    }
}

TEST(Sensitivity, GFunctionSobolIndicesWithin001AtN8192) {
    // N = 8192 (81,920 evaluations). Analytic S = (0.716, 0.179, 0.024, 0.007, 7e-5 x 4); the
    // largest error is about 0.001.
    const auto s = sobolOf(gPoint(), 8192, kG.size(), 0, 7);
    const auto a = gIndices();
    EXPECT_NEAR(a.first[0], 0.7165, 1e-3);
    for (std::size_t i = 0; i < kG.size(); ++i) {
        EXPECT_NEAR(s.first[i].value, a.first[i], 0.01) << "S" << i + 1;
        EXPECT_NEAR(s.total[i].value, a.total[i], 0.01) << "ST" << i + 1;
    }
}

TEST(Sensitivity, BootstrapIntervalsCoverTheAnalyticIndices) {
    // N = 1024 with 500 resamples: the intervals are wide enough to mean something (half-width
    // ~0.01-0.05) and hold the true value.
    const auto s = sobolOf(ishigamiFunction(), 1024, 3, 500, 11);
    const auto a = ishigamiIndices();
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_LE(s.first[i].low, a.first[i]) << "S" << i + 1;
        EXPECT_GE(s.first[i].high, a.first[i]) << "S" << i + 1;
        EXPECT_LE(s.total[i].low, a.total[i]) << "ST" << i + 1;
        EXPECT_GE(s.total[i].high, a.total[i]) << "ST" << i + 1;
        EXPECT_LT(s.first[i].high - s.first[i].low, 0.25) << "S" << i + 1;
        EXPECT_GT(s.total[i].high - s.total[i].low, 0.0) << "ST" << i + 1;
    }
}

TEST(Sensitivity, SobolIndicesRefuseFailedPointsAndConstantOutputs) {
    const Matrix d = saltelliDesign(16, 2, 1);
    std::vector<double> y(d.rows, 1.0);
    EXPECT_THROW((void)sobolIndices(y, 16, 2, 0, 1), InputError);  // no variance
    for (std::size_t r = 0; r < y.size(); ++r) y[r] = d(r, 0);
    y[5] = std::nan("");
    EXPECT_THROW((void)sobolIndices(y, 16, 2, 0, 1), InputError);
    EXPECT_THROW((void)sobolIndices(std::span<const double>(y).first(10), 16, 2, 0, 1), InputError);
}

TEST(Sensitivity, SaltelliDesignHasTheABandABiStructure) {
    const std::size_t n = 8, k = 3;
    const Matrix d = saltelliDesign(n, k, 5);
    ASSERT_EQ(d.rows, n * (k + 2));
    for (std::size_t j = 0; j < n; ++j)
        for (std::size_t i = 0; i < k; ++i)
            for (std::size_t c = 0; c < k; ++c) EXPECT_EQ(d((2 + i) * n + j, c), c == i ? d(n + j, c) : d(j, c));
    for (const double v : d.data) {
        EXPECT_GT(v, 0.0);
        EXPECT_LT(v, 1.0);
    }
    // A digital shift keeps the net: in every dimension the 8 points fall one in each eighth.
    for (std::size_t c = 0; c < 2 * k; ++c) {
        const Matrix s = sobolSequence(8, 2 * k, 5);
        std::vector<int> hits(8, 0);
        for (std::size_t r = 0; r < 8; ++r) ++hits[static_cast<std::size_t>(s(r, c) * 8)];
        EXPECT_EQ(*std::max_element(hits.begin(), hits.end()), 1) << "dimension " << c;
    }
    EXPECT_NE(sobolSequence(4, 2, 1).data, sobolSequence(4, 2, 2).data);  // the seed picks the shift
}

TEST(Sensitivity, LatinHypercubeHitsEveryStratumOnce) {
    const Matrix m = latinHypercube(50, 4, 3);
    for (std::size_t c = 0; c < 4; ++c) {
        std::vector<int> hits(50, 0);
        for (std::size_t r = 0; r < 50; ++r) ++hits[static_cast<std::size_t>(m(r, c) * 50)];
        EXPECT_EQ(std::count(hits.begin(), hits.end(), 1), 50) << "dimension " << c;
    }
}

TEST(Sensitivity, MorrisTrajectoriesMoveOneFactorAtATimeByDelta) {
    const auto d = morrisDesign(10, 5, 4, 9);
    EXPECT_DOUBLE_EQ(d.delta, 2.0 / 3.0);
    ASSERT_EQ(d.points.rows, 60u);
    for (std::size_t t = 0; t < 10; ++t) {
        std::vector<int> movedCount(5, 0);
        for (std::size_t j = 1; j <= 5; ++j) {
            const std::size_t r = t * 6 + j;
            for (std::size_t c = 0; c < 5; ++c) {
                const double diff = d.points(r, c) - d.points(r - 1, c);
                if (c == d.moved[r]) EXPECT_NEAR(diff, d.step[r], 1e-15);
                else EXPECT_EQ(diff, 0.0);
            }
            ++movedCount[d.moved[r]];
        }
        EXPECT_EQ(std::count(movedCount.begin(), movedCount.end(), 1), 5);
    }
    for (const double v : d.points.data) {
        EXPECT_GE(v, 0.0);
        EXPECT_LE(v, 1.0);
    }
}

TEST(Sensitivity, MorrisRanksTheGFunctionInputs) {
    // mu* follows the importance a_i sets: x1 (a = 0) > x2 (1) > x3 (4.5) > x4 (9) > x5..x8 (99).
    const auto d = morrisDesign(50, kG.size(), 4, 3, 200);
    const Matrix y = evaluateDesign(d.points, 1, gPoint(), {});
    const auto m = morrisIndices(d, y.data, 200, 3);
    for (std::size_t i = 0; i < 3; ++i) EXPECT_GT(m.muStar[i].value, m.muStar[i + 1].value) << "x" << i + 1;
    for (std::size_t i = 4; i < kG.size(); ++i) {
        EXPECT_GT(m.muStar[3].value, 2 * m.muStar[i].value) << "x" << i + 1;
        EXPECT_EQ(m.effects[i], 50u);
    }
    for (std::size_t i = 0; i < kG.size(); ++i) {
        EXPECT_LE(m.muStar[i].low, m.muStar[i].value);
        EXPECT_GE(m.muStar[i].high, m.muStar[i].value);
        EXPECT_GE(m.muStar[i].value, std::abs(m.mu[i]) - 1e-12);
    }
    // Linear in one factor: every effect is the slope (unit scale), sigma 0.
    const auto lin = morrisDesign(6, 3, 4, 1);
    const Matrix ly = evaluateDesign(lin.points, 1, [](std::size_t, std::span<const double> u) { return std::vector<double>{3 * u[0] - 2 * u[2]}; }, {});
    const auto lm = morrisIndices(lin, ly.data, 0, 1);
    EXPECT_NEAR(lm.mu[0], 3, 1e-12);
    EXPECT_NEAR(lm.mu[1], 0, 1e-12);
    EXPECT_NEAR(lm.mu[2], -2, 1e-12);
    EXPECT_NEAR(lm.muStar[2].value, 2, 1e-12);
    EXPECT_NEAR(lm.sigma[0], 0, 1e-12);
}

TEST(Sensitivity, MorrisDropsEffectsOfFailedPoints) {
    const auto d = morrisDesign(4, 2, 4, 1);
    std::vector<double> y(d.points.rows);
    for (std::size_t r = 0; r < y.size(); ++r) y[r] = d.points(r, 0);
    y[1] = std::nan("");  // the first step of trajectory 0 and the second both use row 1
    const auto m = morrisIndices(d, y, 0, 1);
    EXPECT_EQ(m.effects[0] + m.effects[1], 6u);
}

TEST(Sensitivity, CampolongoSelectionSpreadsTheTrajectories) {
    // The kept trajectories are farther apart than the first ones drawn.
    auto spread = [](const MorrisDesign& d) {
        double s = 0;
        const std::size_t k = d.k;
        for (std::size_t a = 0; a < d.trajectories; ++a)
            for (std::size_t b = a + 1; b < d.trajectories; ++b)
                for (std::size_t i = 0; i <= k; ++i)
                    for (std::size_t j = 0; j <= k; ++j) {
                        double q = 0;
                        for (std::size_t z = 0; z < k; ++z) q += std::pow(d.points(a * (k + 1) + i, z) - d.points(b * (k + 1) + j, z), 2);
                        s += std::sqrt(q);
                    }
        return s;
    };
    const auto plain = morrisDesign(6, 4, 4, 2);
    const auto chosen = morrisDesign(6, 4, 4, 2, 60);
    EXPECT_GT(spread(chosen), 1.05 * spread(plain));
}

TEST(Sensitivity, PrccSignsAndMagnitudes) {
    // y = exp(2 (x1 − x2)): monotone, no noise; x3 unused. 1000 Latin hypercube points.
    const Matrix x = latinHypercube(1000, 3, 5);
    std::vector<double> y(x.rows), linear(x.rows);
    for (std::size_t r = 0; r < x.rows; ++r) {
        linear[r] = x(r, 0) - x(r, 1);
        y[r] = std::exp(2 * linear[r]);
    }
    const auto p = prcc(x, y);
    EXPECT_GT(p.prcc[0].value, 0.95);   // 0.980
    EXPECT_LT(p.prcc[1].value, -0.95);  // -0.981
    EXPECT_LT(std::abs(p.prcc[2].value), 0.05);  // -0.019
    EXPECT_LT(p.pValue[0], 1e-100);
    EXPECT_GT(p.pValue[2], 0.05);
    EXPECT_LT(p.prcc[2].low, 0.0);
    EXPECT_GT(p.prcc[2].high, 0.0);
    EXPECT_LT(p.prcc[0].low, p.prcc[0].value);
    EXPECT_GT(p.prcc[0].high, p.prcc[0].value);
    EXPECT_EQ(p.used, 1000u);
    // Ranks: a monotone transform of the output changes nothing.
    const auto pl = prcc(x, linear);
    for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(pl.prcc[i].value, p.prcc[i].value);
    // The same number as the residual definition computed here directly, for x3: least squares of
    // rank(x3) and rank(y) on (1, rank(x1), rank(x2)) by the normal equations, then the correlation.
    const auto rx1 = ranks(x.column(0)), rx2 = ranks(x.column(1)), rx3 = ranks(x.column(2)), rry = ranks(y);
    auto residuals = [&](const std::vector<double>& v) {
        double a[3][4] = {};
        for (std::size_t i = 0; i < v.size(); ++i) {
            const double z[3] = {1, rx1[i], rx2[i]};
            for (int r = 0; r < 3; ++r) {
                for (int c = 0; c < 3; ++c) a[r][c] += z[r] * z[c];
                a[r][3] += z[r] * v[i];
            }
        }
        for (int q = 0; q < 3; ++q)  // Gauss-Jordan on the 3 x 3 system (positive definite)
            for (int r = 0; r < 3; ++r)
                if (r != q) {
                    const double f = a[r][q] / a[q][q];
                    for (int c = 0; c < 4; ++c) a[r][c] -= f * a[q][c];
                }
        std::vector<double> e(v.size());
        for (std::size_t i = 0; i < v.size(); ++i) e[i] = v[i] - (a[0][3] / a[0][0] + a[1][3] / a[1][1] * rx1[i] + a[2][3] / a[2][2] * rx2[i]);
        return e;
    };
    const auto e3 = residuals(rx3), ey = residuals(rry);
    double sxy = 0, sxx = 0, syy = 0;
    for (std::size_t i = 0; i < e3.size(); ++i) sxy += e3[i] * ey[i], sxx += e3[i] * e3[i], syy += ey[i] * ey[i];
    EXPECT_NEAR(p.prcc[2].value, sxy / std::sqrt(sxx * syy), 1e-9);
    // A failed point is left out, not counted.
    y[7] = std::nan("");
    EXPECT_EQ(prcc(x, y).used, 999u);
}

TEST(Sensitivity, RanksAverageTies) {
    const std::vector<double> v = {3, 1, 3, 2};
    EXPECT_EQ(ranks(v), (std::vector<double>{3.5, 1, 3.5, 2}));
}

TEST(Sensitivity, ParameterScales) {
    EXPECT_EQ(defaultScale(1, 10), Scale::Log);
    EXPECT_EQ(defaultScale(1, 9.9), Scale::Linear);
    EXPECT_EQ(defaultScale(0, 100), Scale::Linear);
    const Dimension lg{"k", 0.01, 100, Scale::Log};
    EXPECT_DOUBLE_EQ(fromUnit(lg, 0.5), 1.0);
    EXPECT_EQ(fromUnit(lg, 1.0), 100.0);  // clamped: never a rounding step past the range
    EXPECT_EQ(fromUnit(lg, 0.0), 0.01);
    const Dimension li{"f", 0.2, 0.6, Scale::Linear};
    EXPECT_DOUBLE_EQ(fromUnit(li, 0.25), 0.3);
    EXPECT_NE(dimensionProblem({"x", 0, 1, Scale::Log}), "");
    EXPECT_NE(dimensionProblem({"x", 2, 1, Scale::Linear}), "");
    EXPECT_EQ(dimensionProblem(li), "");
}

TEST(Sensitivity, SameBytesForOneAndTwoThreadsAndTwoRanks) {
    const Matrix d = saltelliDesign(256, 3, 4);
    EvaluationOptions one, two;
    two.threads = 2;
    const Matrix y1 = evaluateDesign(d, 1, ishigamiFunction(), one);
    const Matrix y2 = evaluateDesign(d, 1, ishigamiFunction(), two);
    ASSERT_EQ(y1.data.size(), y2.data.size());
    EXPECT_EQ(std::memcmp(y1.data.data(), y2.data.data(), y1.data.size() * sizeof(double)), 0);
    // Two ranks: each fills its rows (i % 2 == rank); together the same matrix.
    EvaluationOptions r0, r1;
    r0.ranks = r1.ranks = 2;
    r1.rank = 1;
    const Matrix a = evaluateDesign(d, 1, ishigamiFunction(), r0), b = evaluateDesign(d, 1, ishigamiFunction(), r1);
    for (std::size_t r = 0; r < d.rows; ++r) {
        EXPECT_EQ(std::isnan(a(r, 0)), r % 2 == 1);
        EXPECT_EQ(r % 2 == 0 ? a(r, 0) : b(r, 0), y1(r, 0));
    }
    const auto s1 = sobolIndices(y1.data, 256, 3, 100, 4), s2 = sobolIndices(y2.data, 256, 3, 100, 4);
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(std::memcmp(&s1.first[i], &s2.first[i], sizeof(Estimate)), 0);
        EXPECT_EQ(std::memcmp(&s1.total[i], &s2.total[i], sizeof(Estimate)), 0);
    }
}

TEST(Sensitivity, AFailingFunctionStopsTheEvaluation) {
    const Matrix d = latinHypercube(40, 2, 1);
    EvaluationOptions two;
    two.threads = 2;
    EXPECT_THROW((void)evaluateDesign(d, 1,
                                      [](std::size_t r, std::span<const double>) -> std::vector<double> {
                                          if (r == 17) throw InputError("row 17");
                                          return {1.0};
                                      },
                                      two),
                 InputError);
    EXPECT_THROW((void)evaluateDesign(d, 2, [](std::size_t, std::span<const double>) { return std::vector<double>{1.0}; }, two), InputError);
}

TEST(Sensitivity, DesignsRefuseBadSizes) {
    EXPECT_THROW((void)saltelliDesign(1, 3, 1), InputError);
    EXPECT_THROW((void)saltelliDesign(8, 0, 1), InputError);
    EXPECT_THROW((void)saltelliDesign(8, kMaxSobolParameters + 1, 1), InputError);
    EXPECT_THROW((void)morrisDesign(1, 3, 4, 1), InputError);
    EXPECT_THROW((void)morrisDesign(4, 3, 5, 1), InputError);
    EXPECT_THROW((void)morrisDesign(4, 3, 4, 1, 3), InputError);
    EXPECT_THROW((void)latinHypercube(0, 3, 1), InputError);
}

}  // namespace
}  // namespace nkscape::sensitivity

namespace nkscape::sensitivity {
namespace {

TEST(Sensitivity, SobolDropsWholeBaseRowsWithAFailedPoint) {
    const std::size_t n = 1024, k = 3;
    const Matrix d = saltelliDesign(n, k, 1);
    EvaluationOptions o;
    Matrix y = evaluateDesign(d, 1, ishigamiFunction(), o);
    y(3, 0) = std::nan("");               // A_3
    y((2 + 1) * n + 10, 0) = std::nan("");  // AB_2, row 10
    y(n + 10, 0) = std::nan("");          // B_10: the same base row
    EXPECT_THROW((void)sobolIndices(y.data, n, k, 0, 1), InputError);
    std::size_t dropped = 0;
    const auto s = sobolIndicesOfFiniteRows(y.data, n, k, 100, 1, dropped);
    EXPECT_EQ(dropped, 2u);
    const auto a = ishigamiIndices();
    for (std::size_t i = 0; i < k; ++i) {
        EXPECT_NEAR(s.first[i].value, a.first[i], 0.05) << "S" << i + 1;
        EXPECT_NEAR(s.total[i].value, a.total[i], 0.05) << "ST" << i + 1;
    }
}

const std::filesystem::path kSource(NKSCAPE_SOURCE_DIR);

TEST(SensitivityAnalysis, ShortFileResolvesRangesScalesAndWork) {
    const Analysis a = loadAnalysis(kSource / "tests/data/sensitivity/short.toml");
    EXPECT_EQ(a.method, Method::Sobol);
    ASSERT_TRUE(a.screening);
    EXPECT_EQ(a.screening->keep, 3u);
    ASSERT_EQ(a.outputs.size(), 2u);
    const Plan p = planAnalysis(a);
    ASSERT_EQ(p.parameters.size(), 4u);
    EXPECT_EQ(p.parameters[0].path, "cell_type/TNBC/doubling_time");
    EXPECT_DOUBLE_EQ(p.parameters[0].dimension.low, 60.0);  // d, the model's range (Ryu et al. 2014)
    EXPECT_DOUBLE_EQ(p.parameters[0].dimension.high, 146.0);
    EXPECT_EQ(p.parameters[0].dimension.scale, Scale::Linear);  // 146 / 60 < 10
    EXPECT_TRUE(p.parameters[0].rangeFromModel);
    EXPECT_EQ(p.parameters[3].path, "constant/qsp.carrying_capacity/value");
    EXPECT_DOUBLE_EQ(p.parameters[3].dimension.low, 1e11);
    EXPECT_EQ(p.parameters[3].dimension.scale, Scale::Log);
    EXPECT_FALSE(p.parameters[3].rangeFromModel);
    EXPECT_NEAR(p.daysPerEvaluation, 365.2422, 1e-4);  // two outputs, one scenario run once (1 yr, udunits2's tropical year)
    EXPECT_EQ(p.screeningEvaluations, 2u * 5u + 5u);  // Morris 2 x (4 + 1), touch 4 + 1
    EXPECT_EQ(p.evaluations, 16u * (3u + 2u));
    const auto e = estimateResources(a, p);
    ASSERT_EQ(e.work.size(), 1u);
    EXPECT_DOUBLE_EQ(e.work[0].amount, 95 * p.daysPerEvaluation);
}

TEST(SensitivityAnalysis, AllWithRangeLeavesOutExcludedPrefixes) {
    const Analysis a = loadAnalysis(kSource / "scenarios/sensitivity/tnbc-untreated.toml");
    const Plan p = planAnalysis(a);
    std::size_t excluded = 0;
    for (const auto& [path, why] : p.skipped) {
        EXPECT_EQ(path.rfind("constant/assay.", 0), 0u) << path << ": " << why;
        excluded += why.rfind("excluded by", 0) == 0 ? 1 : 0;
    }
    EXPECT_EQ(excluded, 8u);  // the eight assay constants with a range
    EXPECT_GT(p.parameters.size(), 1000u);
    for (const auto& q : p.parameters) {
        EXPECT_EQ(dimensionProblem(q.dimension), "") << q.path;
        EXPECT_GE(q.baseline, q.dimension.low) << q.path;
        EXPECT_LE(q.baseline, q.dimension.high) << q.path;
    }
}

}  // namespace
}  // namespace nkscape::sensitivity
