// Virtual trials (include/nkscape/trial/trial.hpp): the trial-file reader, the population sampler
// (margins, Gaussian copula, screening, randomisation), the journal's records and resume.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <fstream>
#include <iterator>
#include <numeric>

#include "nkscape/error.hpp"
#include "nkscape/model/diagnostics.hpp"
#include "nkscape/model/units.hpp"
#include "nkscape/trial/trial.hpp"
#include "temp_dir.hpp"

namespace nkscape::trial {
namespace {

const std::filesystem::path kSource = NKSCAPE_SOURCE_DIR;

// A trial in a temporary folder whose base scenario is the shipped untreated TNBC.
std::filesystem::path writeTrial(const std::filesystem::path& dir, const std::string& body, const std::string& name = "t.toml") {
    const auto base = (kSource / "scenarios/simulate/tnbc-untreated.toml").generic_string();
    std::ofstream(dir / name) << "[trial]\nname = \"test\"\nkind = \"trial\"\nbase = \"" << std::filesystem::relative(base, dir).generic_string()
                              << "\"\n" << body;
    return dir / name;
}

const std::string kFollowUp = "[follow_up]\nduration = { value = 24, unit = \"week\" }\nassessment_interval = { value = 6, unit = \"week\" }\n";
const std::string kArms = "[[arm]]\nname = \"A\"\n[[arm]]\nname = \"B\"\n";

TEST(TrialDistribution, QuantilesAtTheNormalScore) {
    Distribution d;
    d.type = Distribution::Type::Normal;
    d.a = 70;
    d.b = 14;
    EXPECT_DOUBLE_EQ(d.quantile(0.0), 70.0);
    EXPECT_NEAR(d.quantile(1.959963985), 70 + 1.959963985 * 14, 1e-9);
    d.type = Distribution::Type::LogNormal;
    d.a = 1e10;
    d.b = 2.5;
    EXPECT_NEAR(d.quantile(0.0), 1e10, 1e-3);
    EXPECT_NEAR(d.quantile(1.0), 2.5e10, 1e-2);  // median × gsd at z = 1
    // Truncated: the quantile of the truncated law, inside the bounds even at extreme scores.
    d.low = 3e9;
    d.high = 3e11;
    EXPECT_GE(d.quantile(-8.0), 3e9);
    EXPECT_LE(d.quantile(8.0), 3e11);
    EXPECT_GT(d.quantile(-8.0), 2.99e9);
    d = Distribution{};
    d.type = Distribution::Type::Uniform;
    d.a = 2;
    d.b = 4;
    EXPECT_DOUBLE_EQ(d.quantile(0.0), 3.0);
    d.type = Distribution::Type::Discrete;
    d.values = {1, 2, 3};
    d.cumulative = {0.25, 0.5, 1.0};
    EXPECT_EQ(d.quantile(-1.0), 1);   // Φ(−1) = 0.159
    EXPECT_EQ(d.quantile(-0.5), 2);   // Φ(−0.5) = 0.309
    EXPECT_EQ(d.quantile(0.5), 3);
}

TEST(TrialFile, ReportsEveryErrorWithItsLine) {
    testing::TempDir dir("trial");
    const auto f = writeTrial(dir.path(), "seed = 1\npatients = 0\n" + kFollowUp +
                                              "[[prior]]\nname = \"x\"\ntarget = \"tumour.initial_cells\"\ndistribution = \"lognormal\"\n"
                                              "median = 1e10\ngsd = 0.5\nunit = \"cell\"\nsource = \"s\"\n"
                                              "[[prior]]\nname = \"y\"\ntarget = \"parameter:no/such/path\"\neffect = \"set\"\n"
                                              "distribution = \"fixed\"\nvalue = 1\nunit = \"1\"\nsource = \"s\"\n" + kArms +
                                              "[[arm.dose]]\ntherapy = \"no such drug\"\namount = \"1 mg\"\n");
    try {
        (void)loadTrial(f);
        FAIL() << "expected a ModelError";
    } catch (const model::ModelError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("t.toml:6:12"), std::string::npos) << what;  // patients = 0
        EXPECT_NE(what.find("geometric standard deviation must be > 1"), std::string::npos) << what;
        EXPECT_NE(what.find("no model parameter has the path 'no/such/path'"), std::string::npos) << what;
        EXPECT_NE(what.find("no therapy named 'no such drug'"), std::string::npos) << what;
        EXPECT_GE(e.diagnostics().size(), 4u);
    }
}

TEST(TrialFile, RefusesACorrelationMatrixThatIsNotPositiveDefinite) {
    testing::TempDir dir("trial");
    std::string priors;
    for (const char* n : {"a", "b", "c"})
        priors += std::string("[[prior]]\nname = \"") + n +
                  "\"\ntarget = \"secretion:TGF-b\"\ndistribution = \"lognormal\"\nmedian = 1\ngsd = 2\nunit = \"1\"\nsource = \"s\"\n";
    const std::string corr = "[[correlation]]\npriors = [\"a\", \"b\"]\nrho = 0.9\nsource = \"s\"\n"
                             "[[correlation]]\npriors = [\"b\", \"c\"]\nrho = 0.9\nsource = \"s\"\n"
                             "[[correlation]]\npriors = [\"a\", \"c\"]\nrho = -0.9\nsource = \"s\"\n";
    const auto f = writeTrial(dir.path(), "seed = 1\npatients = 10\n" + kFollowUp + priors + corr + kArms);
    try {
        (void)loadTrial(f);
        FAIL() << "expected a ModelError";
    } catch (const model::ModelError& e) {
        EXPECT_NE(std::string(e.what()).find("not positive definite"), std::string::npos) << e.what();
    }
}

// A trial with two correlated lognormal priors, a categorical attribute, a biomarker and an
// inclusion criterion.
LoadedTrial populationTrial(const testing::TempDir& dir, double rho, std::int64_t patients) {
    const std::string body = "seed = 7\npatients = " + std::to_string(patients) + "\n" + kFollowUp +
                             "[[attribute]]\nname = \"line\"\nlevels = [\"1\", \"2+\"]\nprobabilities = [0.3, 0.7]\nsource = \"s\"\n"
                             "[[prior]]\nname = \"tgf\"\ntarget = \"secretion:TGF-b\"\ndistribution = \"lognormal\"\nmedian = 1\ngsd = 2\nunit = \"1\"\nsource = \"s\"\n"
                             "[[prior]]\nname = \"caf\"\ntarget = \"population:CAF.initial_cells\"\ndistribution = \"lognormal\"\nmedian = 1\ngsd = 3\nunit = \"1\"\nsource = \"s\"\n"
                             "[[prior]]\nname = \"pdl1\"\ntarget = \"ligand:PD-L1\"\ndistribution = \"lognormal\"\nmedian = 1\ngsd = 3\nunit = \"1\"\nsource = \"s\"\n"
                             "[[correlation]]\npriors = [\"tgf\", \"caf\"]\nrho = " + std::to_string(rho) + "\nsource = \"s\"\n"
                             "[[biomarker]]\nname = \"PD-L1 status\"\nprior = \"pdl1\"\nlevels = [\"neg\", \"pos\"]\ncutoffs = [1.8]\nsource = \"s\"\n"
                             "[[inclusion]]\nbiomarker = \"PD-L1 status\"\nlevels = [\"pos\"]\n" + kArms;
    return loadTrial(writeTrial(dir.path(), body));
}

TEST(TrialPopulation, GaussianCopulaGivesTheCorrelationAndTheMargins) {
    testing::TempDir dir("trial");
    const LoadedTrial t = populationTrial(dir, 0.6, 4000);
    std::vector<double> x, y;
    std::size_t line1 = 0;
    for (std::uint64_t i = 0; i < 4000; ++i) {
        const PatientDraw d = drawPatient(t, i);
        x.push_back(std::log(d.values[0]) / std::log(2.0));  // normal scores of the two margins
        y.push_back(std::log(d.values[1]) / std::log(3.0));
        line1 += d.attributes[0] == "1" ? 1 : 0;
        // Every enrolled patient meets the inclusion criterion.
        ASSERT_EQ(d.biomarkers[0], "pos");
        ASSERT_GE(d.values[2], 1.8);
    }
    auto mean = [](const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size()); };
    const double mx = mean(x), my = mean(y);
    double sxy = 0, sxx = 0, syy = 0;
    for (std::size_t k = 0; k < x.size(); ++k) {
        sxy += (x[k] - mx) * (y[k] - my);
        sxx += (x[k] - mx) * (x[k] - mx);
        syy += (y[k] - my) * (y[k] - my);
    }
    const double r = sxy / std::sqrt(sxx * syy);
    // SE of r at rho 0.6, n 4000: (1 − 0.36)/√4000 = 0.010; 4 SE.
    EXPECT_NEAR(r, 0.6, 0.04);
    EXPECT_NEAR(mx, 0.0, 0.07);  // the median is 1: mean normal score 0 (SE 0.016)
    EXPECT_NEAR(std::sqrt(sxx / static_cast<double>(x.size() - 1)), 1.0, 0.05);
    // 30 % first line (SE 0.7 %).
    EXPECT_NEAR(static_cast<double>(line1) / 4000.0, 0.3, 0.03);
}

TEST(TrialPopulation, ScreeningRejectsAboutTheExpectedShare) {
    testing::TempDir dir("trial");
    const LoadedTrial t = populationTrial(dir, 0.0, 2000);
    double screened = 0;
    for (std::uint64_t i = 0; i < 2000; ++i) screened += static_cast<double>(drawPatient(t, i).screened);
    // P(PD-L1 multiplier ≥ 1.8) with gsd 3: 1 − Φ(ln 1.8 / ln 3) = 0.2963, so 1/0.2963 = 3.375
    // draws per enrolled patient (geometric; SE of the mean ≈ √(1−p)/p/√n = 0.063).
    EXPECT_NEAR(screened / 2000.0, 3.375, 0.25);
}

TEST(TrialPopulation, APatientIsTheSameWhateverElseIsDrawn) {
    testing::TempDir dir("trial");
    const LoadedTrial t = populationTrial(dir, 0.3, 100);
    const PatientDraw late = drawPatient(t, 57);
    for (std::uint64_t i = 0; i < 57; ++i) (void)drawPatient(t, i);
    const PatientDraw again = drawPatient(t, 57);
    EXPECT_EQ(late.values, again.values);
    EXPECT_EQ(late.arm, again.arm);
    EXPECT_EQ(late.screened, again.screened);
    EXPECT_NE(drawPatient(t, 58).values, late.values);
}

TEST(TrialPopulation, PermutedBlocksBalanceTheArms) {
    testing::TempDir dir("trial");
    const LoadedTrial t = populationTrial(dir, 0.0, 400);
    // Blocks of 2 × (1 + 1) = 4: every block of four consecutive patients has two of each arm.
    for (std::uint64_t b = 0; b < 100; ++b) {
        int inA = 0;
        for (std::uint64_t i = 4 * b; i < 4 * b + 4; ++i) inA += drawPatient(t, i).arm == 0 ? 1 : 0;
        ASSERT_EQ(inA, 2) << "block " << b;
    }
}

TEST(TrialRun, RecordsRoundTripAndResumeGivesTheSameRecords) {
    testing::TempDir dir("trial");
    LoadedTrial t = populationTrial(dir, 0.4, 24);
    TrialRunOptions o;
    o.threads = 2;
    const auto full = runTrial(t, o);
    ASSERT_EQ(full.records.size(), 24u);
    for (const auto& r : full.records) {
        const PatientRecord back = decodeRecord(encodeRecord(r), t);
        EXPECT_EQ(encodeRecord(back), encodeRecord(r));
        EXPECT_FALSE(r.failed) << r.failure;
        EXPECT_GT(r.baselineSld_mm, 0.0);
    }
    // A journal holding the first 10 records (as a killed run leaves it, with a torn last line).
    const auto journal = dir.path() / "journal";
    prepareJournal(t, journal);
    {
        std::ofstream j(journal / "rank-0.jsonl");
        for (std::size_t k = 0; k < 10; ++k) j << encodeRecord(full.records[k]) << "\n";
        j << encodeRecord(full.records[10]).substr(0, 40);  // torn
    }
    o.journal = journal;
    o.threads = 1;
    const auto resumed = runTrial(t, o);
    EXPECT_EQ(resumed.resumed, 10u);
    ASSERT_EQ(resumed.records.size(), full.records.size());
    for (std::size_t k = 0; k < full.records.size(); ++k) EXPECT_EQ(encodeRecord(resumed.records[k]), encodeRecord(full.records[k])) << k;
    // Another seed is another trial: its journal is not this one's.
    t.seed = 8;
    prepareJournal(t, journal);
    EXPECT_EQ(runTrial(t, o).resumed, 0u);
}

TEST(TrialFile, ParsingTextAgainstALoadedBaseEqualsLoadingTheFile) {
    const auto file = kSource / "scenarios/trials/tnbc-avelumab-weekly-vs-untreated.toml";
    const LoadedTrial loaded = loadTrial(file);
    std::ifstream in(file);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const model::UnitSystem units;
    const LoadedTrial parsed = parseTrial(text, file.generic_string(), *loaded.base, units);
    EXPECT_EQ(parsed.priors.size(), loaded.priors.size());
    EXPECT_EQ(parsed.arms.size(), 2u);
    EXPECT_EQ(parsed.cholesky, loaded.cholesky);
    const auto a = drawPatient(parsed, 5).values, b = drawPatient(loaded, 5).values;
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t k = 0; k < a.size(); ++k)  // NaN: a prior whose `when` does not hold, in both
        EXPECT_TRUE(a[k] == b[k] || (std::isnan(a[k]) && std::isnan(b[k]))) << k;
    // The `base` key is still required.
    EXPECT_THROW((void)parseTrial("[trial]\nname = \"x\"\n", "x.toml", *loaded.base, units), model::ModelError);
}

// The metastatic TNBC population draws the tumour's immunogenicity (the multiplier of the 2 %
// tumour-reactive CD8 share) correlated with PD-L1 (rho 0.85, geometric SD 4): PD-L1+ tumours are
// the inflamed ones. With PD-L1+ the top ~30 % of the PD-L1 score, the expected median multiplier
// is 4^(0.85 E[z | z > 0.52]) ~ 3.9 in PD-L1+ and 4^(0.85 E[z | z < 0.52]) ~ 0.56 in PD-L1-.
TEST(TrialPopulation, TnbcImmunogenicityFollowsPdL1) {
    const LoadedTrial t = loadTrial(kSource / "scenarios/trials/tnbc-avelumab-weekly-vs-untreated.toml");
    std::size_t immuno = t.priors.size(), status = t.biomarkers.size();
    for (std::size_t k = 0; k < t.priors.size(); ++k)
        if (t.priors[k].name == "tumour immunogenicity") immuno = k;
    for (std::size_t k = 0; k < t.biomarkers.size(); ++k)
        if (t.biomarkers[k].name == "PD-L1 status") status = k;
    ASSERT_LT(immuno, t.priors.size());
    ASSERT_LT(status, t.biomarkers.size());
    EXPECT_EQ(t.priors[immuno].target.kind, PriorTarget::Kind::Immunogenicity);
    std::vector<double> positive, negative;
    for (std::uint64_t i = 0; i < 3000; ++i) {
        const PatientDraw d = drawPatient(t, i);
        (d.biomarkers[status] == "positive" ? positive : negative).push_back(d.values[immuno]);
    }
    auto median = [](std::vector<double> v) {
        std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
        return v[v.size() / 2];
    };
    const double share = static_cast<double>(positive.size()) / 3000.0;
    const double mPos = median(positive), mNeg = median(negative);
    RecordProperty("PD-L1+ share, median immunogenicity +/-", std::to_string(share) + " " + std::to_string(mPos) + " " + std::to_string(mNeg));
    EXPECT_NEAR(share, 0.30, 0.04);
    EXPECT_GT(mPos, 3.0);
    EXPECT_LT(mPos, 5.5);
    EXPECT_GT(mNeg, 0.4);
    EXPECT_LT(mNeg, 0.8);
}

}  // namespace
}  // namespace nkscape::trial

// ---- [[match]]: acceptance sampling toward an observed distribution (issue 12, item 8) --------------

namespace nkscape::trial {
namespace {

const std::string kWeightTrial = R"([trial]
name = "match test"
kind = "trial"
base = "BASE"
seed = 11
patients = 600
[follow_up]
duration = { value = 12, unit = "week" }
assessment_interval = { value = 6, unit = "week" }
[[attribute]]
name = "line"
levels = ["1", "2"]
probabilities = [0.7, 0.3]
source = "test"
[[prior]]
name = "weight"
target = "patient.weight"
distribution = "normal"
mean = 62
sd = 12
unit = "kg"
source = "test: a population lighter than the target"
[[arm]]
name = "A"
)";

LoadedTrial matchTrial(const testing::TempDir& dir, const std::string& matches) {
    std::string text = kWeightTrial;
    text.replace(text.find("BASE"), 4, (kSource / "scenarios/simulate/tnbc-untreated.toml").generic_string());
    std::ofstream(dir.path() / "m.toml") << text << matches;
    return loadTrial(dir.path() / "m.toml");
}

std::vector<PatientDraw> enrolled(const LoadedTrial& t, bool select) {
    std::vector<PatientDraw> v;
    for (std::int64_t i = 0; i < t.patients; ++i)
        v.push_back(select ? drawPatient(t, static_cast<std::uint64_t>(i)) : drawPlausiblePatient(t, static_cast<std::uint64_t>(i)));
    return v;
}

// A population drawn 8 kg lighter than the observed distribution is refused by KS before
// selection and matches it after (N = 600): KS D = 0.259 (p = 1e-35) before, D = 0.045 (p = 0.17)
// after; the line of therapy (pool 70/30, target 40/60) chi-squared 256 (p = 1e-57) before, 1.0
// (p = 0.32) after.
TEST(TrialMatch, AShiftedPopulationIsMatchedAfterSelectionAndNotBefore) {
    testing::TempDir dir("trial-match");
    const auto t = matchTrial(dir, "[[match]]\nname = \"weight\"\nprior = \"weight\"\nnormal = { mean = 70, sd = 12 }\nsource = \"test\"\n"
                                   "[[match]]\nname = \"line\"\nattribute = \"line\"\nlevels = [\"1\", \"2\"]\nshares = [0.4, 0.6]\nsource = \"test\"\n");
    ASSERT_EQ(t.matches.size(), 2u);
    const auto before = enrolled(t, false), after = enrolled(t, true);
    const auto ksBefore = matchFit(t, t.matches[0], before), ksAfter = matchFit(t, t.matches[0], after);
    const auto chiBefore = matchFit(t, t.matches[1], before), chiAfter = matchFit(t, t.matches[1], after);
    EXPECT_EQ(ksBefore.n, 600);
    EXPECT_LT(ksBefore.p, 0.01) << ksBefore.statistic;
    EXPECT_GT(ksAfter.p, 0.05) << ksAfter.statistic;
    EXPECT_LT(chiBefore.p, 0.01) << chiBefore.statistic;
    EXPECT_GT(chiAfter.p, 0.05) << chiAfter.statistic;
    EXPECT_EQ(chiAfter.df, 1);
    double mean = 0;
    for (const auto& d : after) mean += d.values[0] / 600.0;
    EXPECT_NEAR(mean, 70.0, 1.5);
    // Deterministic, and a selected patient is one of its own plausible draws.
    EXPECT_EQ(drawPatient(t, 5).values, drawPatient(t, 5).values);
    EXPECT_GE(after[5].screened, before[5].screened);
}

// The statistics against hand values: KS of 0.1..0.5 against uniform(0, 1) (D = 0.5, Stephens'
// p = Q(1.2312·0.5) = 0.11084); chi-squared of 30/10 against 50/50 (10 on 1 df, p = 0.0015654).
TEST(TrialMatch, KolmogorovSmirnovAndChiSquaredAgainstHandValues) {
    LoadedTrial t;
    Match u;
    u.kind = Match::Kind::Prior;
    u.edges = {0, 1};
    u.probabilities = {1};
    std::vector<PatientDraw> draws;
    for (double x : {0.3, 0.1, 0.5, 0.2, 0.4}) {
        PatientDraw d;
        d.values = {x};
        draws.push_back(d);
    }
    const auto ks = matchFit(t, u, draws);
    EXPECT_EQ(ks.n, 5);
    EXPECT_DOUBLE_EQ(ks.statistic, 0.5);
    EXPECT_NEAR(ks.p, 0.1108403374, 1e-9);
    Match c;
    c.kind = Match::Kind::Attribute;
    c.levels = {"a", "b"};
    c.shares = {0.5, 0.5};
    std::vector<PatientDraw> cat(40);
    for (std::size_t i = 0; i < cat.size(); ++i) cat[i].attributes = {i < 30 ? "a" : "b"};
    const auto chi = matchFit(t, c, cat);
    EXPECT_DOUBLE_EQ(chi.statistic, 10.0);
    EXPECT_EQ(chi.df, 1);
    EXPECT_NEAR(chi.p, 0.0015654023, 1e-9);
}

TEST(TrialMatch, BadMatchTablesAreReportedWithTheirLines) {
    testing::TempDir dir("trial-match");
    try {
        (void)matchTrial(dir, "[[match]]\nname = \"a\"\nprior = \"wieght\"\nnormal = { mean = 70, sd = 12 }\nsource = \"s\"\n"
                              "[[match]]\nname = \"b\"\nprior = \"weight\"\nedges = [1, 2]\nfrequencies = [1, 2]\nsource = \"s\"\n"
                              "[[match]]\nname = \"c\"\nattribute = \"line\"\nlevels = [\"4\"]\nshares = [1]\nsource = \"s\"\n"
                              "[[match]]\nname = \"d\"\nprior = \"weight\"\nnormal = { mean = 70, sd = -1 }\n");
        FAIL() << "accepted";
    } catch (const model::ModelError& e) {
        const std::string w = e.what();
        EXPECT_NE(w.find("m.toml:27:9: error: match 'a': key 'prior': 'wieght' is not the name of a [[prior]]"), std::string::npos) << w;
        EXPECT_NE(w.find("match 'b': key 'edges': expected n + 1 increasing bin edges for n frequencies"), std::string::npos) << w;
        EXPECT_NE(w.find("match 'c': key 'levels': '4' is not a level of 'line'"), std::string::npos) << w;
        EXPECT_NE(w.find("match 'd': key 'normal.sd': must be > 0"), std::string::npos) << w;
        EXPECT_NE(w.find("match 'd': key 'source': missing required key"), std::string::npos) << w;
    }
    // A target where the priors never go cannot be matched.
    EXPECT_THROW((void)matchTrial(dir, "[[match]]\nname = \"a\"\nprior = \"weight\"\nedges = [500, 600]\nfrequencies = [1]\nsource = \"s\"\n"), InputError);
}

}  // namespace
}  // namespace nkscape::trial
