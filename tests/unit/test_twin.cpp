// The twin (docs/twin.md): the sampler on problems with an analytic posterior, determinism for
// any thread count, and the patient-file reader (every problem reported with file:line:column).

#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <numeric>
#include <string>

#include "nkscape/error.hpp"
#include "nkscape/model/diagnostics.hpp"
#include "nkscape/trial/trial.hpp"
#include "nkscape/twin/twin.hpp"

using namespace nkscape;

namespace {

struct Moments {
    double mean = 0, sd = 0;
};

Moments moments(const std::vector<twin::Particle>& ps, std::size_t k) {
    Moments m;
    for (const auto& p : ps) m.mean += p.u[k];
    m.mean /= static_cast<double>(ps.size());
    for (const auto& p : ps) m.sd += (p.u[k] - m.mean) * (p.u[k] - m.mean);
    m.sd = std::sqrt(m.sd / static_cast<double>(ps.size() - 1));
    return m;
}

twin::TwinOptions toyOptions(int threads = 1) {
    twin::TwinOptions o;
    o.particles = 2000;
    o.generations = 50;
    o.moves = 5;
    o.seed = 42;
    o.threads = threads;
    return o;
}

const trial::LoadedTrial& regimens() {
    static const trial::LoadedTrial t = trial::loadTrial(std::string(NKSCAPE_SOURCE_DIR) + "/scenarios/twin/tnbc-regimens.toml");
    return t;
}

std::string examplePatient() {
    return R"(
[patient]
name = "test"
kind = "patient"
subtype = "TNBC"
prior_lines = 1
lesions = 2
biomarkers = { "PD-L1 status" = "positive" }
blood_nk_count = { value = 130, unit = "cell/uL" }
[[measurement]]
day = { value = 0, unit = "d" }
sld = { value = 41, unit = "mm" }
[[measurement]]
day = { value = 6, unit = "week" }
sld = { value = 46, unit = "mm" }
)";
}

// Every diagnostic of parsing `toml` as a patient file.
std::vector<model::Diagnostic> errorsOf(const std::string& toml) {
    try {
        (void)twin::parsePatient(toml, std::string(NKSCAPE_SOURCE_DIR) + "/scenarios/twin/p.toml", regimens());
    } catch (const model::ModelError& e) {
        return e.diagnostics();
    }
    return {};
}

}  // namespace

// Normal prior N(0, 1), one observation y ~ N(u, s²): posterior N(y/(1+s²), s²/(1+s²)) and
// evidence N(y; 0, 1 + s²) (conjugate normal model).
TEST(TwinSampler, NormalNormalPosteriorAndEvidence) {
    const double y = 1.5, s = 0.5;
    twin::SamplerProblem p;
    p.dimensions = 1;
    p.logLikelihood = [&](const twin::Particle& q, int) {
        const double r = (y - q.u[0]) / s;
        return -0.5 * r * r - std::log(s) - 0.5 * std::log(2 * M_PI);
    };
    const auto r = twin::sampleTempered(p, toyOptions());
    const auto m = moments(r.particles, 0);
    const double mean = y / (1 + s * s), sd = s / std::sqrt(1 + s * s);  // 1.2, 0.447
    // Monte Carlo error of the mean with ~2000 correlated particles is ~0.02.
    EXPECT_NEAR(m.mean, mean, 0.05);
    EXPECT_NEAR(m.sd, sd, 0.05);
    const double logZ = -0.5 * std::log(2 * M_PI * (1 + s * s)) - y * y / (2 * (1 + s * s));  // −1.93
    std::cout << "normal-normal: mean " << m.mean << " (" << mean << "), sd " << m.sd << " (" << sd << "), log evidence " << r.logEvidence << " ("
              << logZ << "), " << r.stages.size() << " stages\n";
    EXPECT_NEAR(r.logEvidence, logZ, 0.1);
    EXPECT_EQ(r.stages.back().beta, 1.0);
    EXPECT_GT(r.stages.size(), 1u);  // the likelihood is informative enough to need tempering
    EXPECT_FALSE(r.stages.back().forced);
    // One stage allowed: it jumps to β = 1 and says so.
    auto one = toyOptions();
    one.generations = 1;
    const auto f = twin::sampleTempered(p, one);
    ASSERT_EQ(f.stages.size(), 1u);
    EXPECT_TRUE(f.stages.back().forced);
    EXPECT_EQ(f.stages.back().beta, 1.0);
}

// A constraint restricts the prior (u0 > 0: half-normal, mean √(2/π) = 0.798, sd 0.603) while a
// likelihood informs u1 only; a categorical latent with prior (0.3, 0.7) and likelihood ratio 4:1
// has posterior 0.3·4 / (0.3·4 + 0.7) = 0.632 for its first level.
TEST(TwinSampler, ConstraintAndCategoricalLatent) {
    twin::SamplerProblem p;
    p.dimensions = 2;
    p.categories = {{0.3, 1.0}};
    p.admissible = [](const twin::Particle& q) { return q.u[0] > 0; };
    p.logLikelihood = [](const twin::Particle& q, int) {
        const double r = (-1.0 - q.u[1]) / 0.3;
        return -0.5 * r * r + (q.attributes[0] == 0 ? std::log(4.0) : 0.0);
    };
    const auto r = twin::sampleTempered(p, toyOptions());
    const auto m0 = moments(r.particles, 0), m1 = moments(r.particles, 1);
    EXPECT_NEAR(m0.mean, std::sqrt(2 / M_PI), 0.05);
    EXPECT_NEAR(m0.sd, std::sqrt(1 - 2 / M_PI), 0.05);
    EXPECT_NEAR(m1.mean, -1.0 / (1 + 0.09), 0.05);  // −0.917
    EXPECT_NEAR(m1.sd, 0.3 / std::sqrt(1.09), 0.03);  // 0.287
    double first = 0;
    for (const auto& q : r.particles) first += q.attributes[0] == 0 ? 1 : 0;
    std::cout << "constraint: u0 mean " << m0.mean << " sd " << m0.sd << "; u1 mean " << m1.mean << " sd " << m1.sd << "; P(level 0) "
              << first / static_cast<double>(r.particles.size()) << "\n";
    EXPECT_NEAR(first / static_cast<double>(r.particles.size()), 1.2 / 1.9, 0.05);
    for (const auto& q : r.particles) EXPECT_GT(q.u[0], 0);
}

TEST(TwinSampler, SameParticlesForAnyThreadCount) {
    twin::SamplerProblem p;
    p.dimensions = 3;
    p.logLikelihood = [](const twin::Particle& q, int) { return -0.5 * std::pow((q.u[0] + q.u[1] - 2) / 0.2, 2) - 0.5 * q.u[2] * q.u[2]; };
    auto o1 = toyOptions(1), o2 = toyOptions(2);
    o1.particles = o2.particles = 300;
    const auto a = twin::sampleTempered(p, o1), b = twin::sampleTempered(p, o2);
    ASSERT_EQ(a.particles.size(), b.particles.size());
    for (std::size_t i = 0; i < a.particles.size(); ++i) EXPECT_EQ(a.particles[i].u, b.particles[i].u) << i;
    EXPECT_EQ(a.logEvidence, b.logEvidence);
}

TEST(TwinSampler, RefusesAnImpossibleConstraintAndBadOptions) {
    twin::SamplerProblem p;
    p.dimensions = 1;
    p.admissible = [](const twin::Particle& q) { return q.u[0] > 50; };
    p.logLikelihood = [](const twin::Particle&, int) { return 0.0; };
    auto o = toyOptions();
    o.particles = 20;
    EXPECT_THROW((void)twin::sampleTempered(p, o), InputError);
    o.particles = 5;
    EXPECT_THROW(twin::checkOptions(o), InputError);
    o.particles = 100;
    o.generations = 0;
    EXPECT_THROW(twin::checkOptions(o), InputError);
}

TEST(TwinPatient, ReadsTheShippedExample) {
    const auto p = twin::loadPatient(std::string(NKSCAPE_SOURCE_DIR) + "/scenarios/twin/example-tnbc-patient.toml", regimens());
    EXPECT_EQ(p.lesions, 2u);
    ASSERT_EQ(p.measurements.size(), 3u);
    EXPECT_DOUBLE_EQ(p.measurements[1].day, 42);
    EXPECT_DOUBLE_EQ(p.measurements[2].value, 52);
    ASSERT_TRUE(p.bloodNk_per_uL);
    EXPECT_DOUBLE_EQ(*p.bloodNk_per_uL, 130);
    ASSERT_EQ(p.attributes.size(), 1u);  // prior_lines = 1 → line "2"
    EXPECT_EQ(p.attributes[0].second, "2");
    EXPECT_EQ(p.biomarkers.size(), 2u);
}

TEST(TwinPatient, UnitsAreConverted) {
    const auto p = twin::parsePatient(examplePatient(), "p.toml", regimens());
    EXPECT_DOUBLE_EQ(p.measurements[1].day, 42);  // 6 weeks
}

TEST(TwinPatient, EveryProblemIsReportedWithItsLocation) {
    const auto errs = errorsOf(R"(
[patient]
name = "bad"
kind = "patient"
subtype = "Luminal A"
lesions = 7
biomarkers = { "PD-L1 status" = "high", "HER2 IHC" = "3+" }
serum_smica = { value = 200, unit = "pg/mL" }
[[measurement]]
day = { value = 42, unit = "d" }
sld = { value = 41, unit = "mm" }
[[measurement]]
day = { value = 0, unit = "d" }
sld = { value = 46, unit = "kg" }
)");
    ASSERT_EQ(errs.size(), 6u);
    std::string all;
    for (const auto& e : errs) all += e.where.file + ":" + std::to_string(e.where.line) + ": " + e.message + "\n";
    EXPECT_NE(all.find(":5: 'Luminal A' is not a subtype"), std::string::npos) << all;
    EXPECT_NE(all.find(":6: must be in [1, 5], got 7"), std::string::npos) << all;
    EXPECT_NE(all.find("'high' is not a level of 'PD-L1 status'"), std::string::npos) << all;
    EXPECT_NE(all.find("not implemented: no biomarker of the regimens file's population"), std::string::npos) << all;
    EXPECT_NE(all.find(":8: not implemented: the well-mixed engine has tumour-interstitial"), std::string::npos) << all;
    EXPECT_NE(all.find(":14: unit 'kg' does not convert to 'mm'"), std::string::npos) << all;
}

TEST(TwinPatient, MeasurementsMustBeTwoToFourInOrder) {
    auto one = examplePatient();
    one = one.substr(0, one.rfind("[[measurement]]"));
    auto errs = errorsOf(one);
    ASSERT_EQ(errs.size(), 1u);
    EXPECT_NE(errs[0].message.find("2 to 4 [[measurement]] tables, got 1"), std::string::npos) << errs[0].message;
    auto backwards = examplePatient() + "[[measurement]]\nday = { value = 1, unit = \"d\" }\nsld = { value = 50, unit = \"mm\" }\n";
    errs = errorsOf(backwards);
    ASSERT_EQ(errs.size(), 1u);
    EXPECT_NE(errs[0].message.find("strictly increasing day"), std::string::npos) << errs[0].message;
}

TEST(TwinPatient, APopulationOtherThanTheRegimensFilesIsRefused) {
    auto text = examplePatient();
    text.insert(text.find("lesions = 2"), "population = \"../trials/populations/her2-metastatic.toml\"\n");
    const auto errs = errorsOf(text);
    ASSERT_EQ(errs.size(), 1u);
    EXPECT_NE(errs[0].message.find("is not the regimens file's population"), std::string::npos) << errs[0].message;
}

// The whole twin on the shipped regimens: the same numbers on 1 and 2 threads, a fit close to the
// data, and the posterior inside the observed biomarker's cut-off.
TEST(TwinRun, DeterministicAndFitsTheMeasurements) {
    const auto p = twin::parsePatient(examplePatient(), "p.toml", regimens());
    twin::TwinOptions o;
    o.particles = 40;
    o.generations = 10;
    o.moves = 2;
    o.seed = 7;
    o.threads = 1;
    const auto a = twin::runTwin(regimens(), p, o);
    o.threads = 2;
    const auto b = twin::runTwin(regimens(), p, o);
    ASSERT_EQ(a.values.size(), b.values.size());
    for (std::size_t i = 0; i < a.particles.size(); ++i) EXPECT_EQ(a.particles[i].u, b.particles[i].u);
    for (std::size_t r = 0; r < a.regimens.size(); ++r) {
        EXPECT_EQ(a.regimens[r].pfs_d, b.regimens[r].pfs_d);
        EXPECT_EQ(a.regimens[r].rank, b.regimens[r].rank);
    }
    // The posterior predictive of each SLD brackets the observation (CV 0.09 per diameter).
    for (const auto& f : a.fit) {
        EXPECT_LT(f.low, f.observed * 1.1);
        EXPECT_GT(f.high, f.observed * 0.9);
    }
    // PD-L1 positive: every particle's PD-L1 level is at or above the cut-off 1.8.
    std::size_t pdl1 = 0;
    while (regimens().priors[pdl1].name != "PD-L1 expression") ++pdl1;
    for (const auto& v : a.values) EXPECT_GE(v[pdl1], 1.8);
}
