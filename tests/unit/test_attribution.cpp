// Mechanism attribution (include/nkscape/attribution/attribution.hpp): the mechanisms file reader,
// the counterfactual hook of trial::simulatePatient, the paired statistics, and claims that must
// hold in the model — a mechanism the arm's drug already blocks costs (almost) nothing, a removal
// that changes nothing the patient has changes no outcome, threads do not change a bit.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "nkscape/attribution/attribution.hpp"
#include "nkscape/error.hpp"
#include "nkscape/model/diagnostics.hpp"
#include "nkscape/model/loader.hpp"
#include "nkscape/model/units.hpp"
#include "nkscape/qsp/engine.hpp"
#include "nkscape/trial/trial.hpp"
#include "temp_dir.hpp"

namespace nkscape::attribution {
namespace {

const std::filesystem::path kSource = NKSCAPE_SOURCE_DIR;
const std::filesystem::path kTrial = kSource / "tests/data/attribution/tnbc-three-arms.toml";

const model::CompiledModel& defaultModel() {
    static const model::CompiledModel m = model::loadModel(kSource / "models/default.toml");
    return m;
}

const std::vector<Mechanism>& shipped() {
    static const std::vector<Mechanism> v = loadMechanisms(kSource / "calibration/mechanisms.toml", defaultModel());
    return v;
}

std::vector<Mechanism> pick(const std::vector<std::string>& names) {
    std::vector<Mechanism> out;
    for (const auto& n : names) {
        auto it = std::find_if(shipped().begin(), shipped().end(), [&](const Mechanism& m) { return m.name == n; });
        EXPECT_NE(it, shipped().end()) << n;
        if (it != shipped().end()) out.push_back(*it);
    }
    return out;
}

std::size_t armIndex(const trial::LoadedTrial& t, const std::string& name) {
    for (std::size_t a = 0; a < t.arms.size(); ++a)
        if (t.arms[a].name == name) return a;
    ADD_FAILURE() << "no arm " << name;
    return 0;
}

std::vector<MechanismCost> costsIn(const trial::LoadedTrial& t, const std::string& arm, const std::vector<Mechanism>& mechs) {
    AttributionOptions o;
    o.arm = armIndex(t, arm);
    o.threads = 2;
    return summarise(mechs, runAttribution(t, mechs, o), t.seed);
}

std::string errorsOf(const std::string& toml) {
    try {
        (void)parseMechanisms(toml, "m.toml", defaultModel(), model::UnitSystem{});
    } catch (const model::ModelError& e) {
        return e.what();
    }
    return "";
}

TEST(Mechanisms, TheShippedFileHasElevenMechanismsThatResolveInTheDefaultModel) {
    ASSERT_EQ(shipped().size(), 11u);
    const std::vector<std::string> names = {"HLA-E/NKG2A", "HLA-G/LILRB1", "sMICA shedding", "TGF-b", "PD-L1", "TIGIT/CD155",
                                            "CAF exclusion", "hypoxia/adenosine", "MDSC/STAT3", "PGE2", "Treg/IL-2 sink"};
    for (std::size_t k = 0; k < names.size(); ++k) {
        EXPECT_EQ(shipped()[k].name, names[k]);
        EXPECT_FALSE(shipped()[k].source.empty());
        EXPECT_FALSE(shipped()[k].rationale.empty());
        EXPECT_FALSE(shipped()[k].removals.empty());
    }
    // A removal leaves the plausible range (NKG2A's weight range is [1, 10]) but keeps units: the
    // TIGIT:CD155 Kd is read in nM; CAF secretion of TGF-b in pg/(cell.h).
    const auto& nkg2a = shipped()[0].changes.parameters.at(0);
    EXPECT_EQ(nkg2a.path, "receptor/NKG2A/weight");
    EXPECT_FALSE(nkg2a.multiply);
    EXPECT_EQ(nkg2a.value, 0.0);
    EXPECT_EQ(shipped()[5].changes.parameters.at(0).value, 1e12);
    EXPECT_EQ(shipped()[2].changes.secretions.size(), 1u);
}

TEST(Mechanisms, HostileFilesReportEveryErrorWithItsLine) {
    const std::string text = R"([[mechanism]]
name = "a"
description = "d"
source = "s"
rationale = "r"
[[mechanism.remove]]
target = "parameter:receptor/NKG2A/weigth"
value = { value = 0, unit = "1" }
[[mechanism.remove]]
target = "parameter:receptor/NKG2A/weight"
value = { value = -1, unit = "1" }
[[mechanism.remove]]
target = "ligand:HLA-Z"
multiply = 0
[[mechanism.remove]]
target = "secretion:TGF-b"
multiply = -2
[[mechanism.remove]]
target = "population:TNBC.influx"
multiply = 0
[[mechanism.remove]]
target = "spleen:size"
multiply = 0
[[mechanism.remove]]
target = "parameter:interaction/TIGIT:CD155/kd"
value = { value = 1, unit = "cell" }
[[mechanism.remove]]
target = "ligand:HLA-G"
value = { value = 0, unit = "1" }
multiply = 0

[[mechanism]]
name = "a"
description = "d"
source = "s"
)";
    const std::string e = errorsOf(text);
    EXPECT_NE(e.find("m.toml:7:10: error: mechanism 'a', remove #1: key 'target': no parameter 'receptor/NKG2A/weigth' in model 'nkscape-default' (did you mean 'receptor/NKG2A/weight'?)"), std::string::npos) << e;
    EXPECT_NE(e.find("m.toml:11:9: error: mechanism 'a', remove #2: key 'value': parameter 'receptor/NKG2A/weight': value is negative; 'weight' must be >= 0"), std::string::npos) << e;
    EXPECT_NE(e.find("m.toml:13:10: error: mechanism 'a', remove #3: key 'target': no ligand named 'HLA-Z'"), std::string::npos) << e;
    EXPECT_NE(e.find("m.toml:17:12: error: mechanism 'a', remove #4: key 'multiply': must be a finite number >= 0, got -2"), std::string::npos) << e;
    EXPECT_NE(e.find("m.toml:19:10: error: mechanism 'a', remove #5: key 'target': 'TNBC' is a tumour cell type"), std::string::npos) << e;
    EXPECT_NE(e.find("m.toml:22:10: error: mechanism 'a', remove #6: key 'target': unknown target 'spleen:size'"), std::string::npos) << e;
    EXPECT_NE(e.find("m.toml:26:29: error: mechanism 'a', remove #7: key 'value': unit 'cell' does not convert to 'nM'"), std::string::npos) << e;
    EXPECT_NE(e.find("m.toml:29:9: error: mechanism 'a', remove #8: key 'value': give `value` (set) or `multiply`, not both"), std::string::npos) << e;
    EXPECT_NE(e.find("m.toml:33:8: error: mechanism 'a': key 'name': two mechanisms have this name"), std::string::npos) << e;
    EXPECT_NE(e.find("key 'rationale': missing required key"), std::string::npos) << e;
    EXPECT_NE(e.find("key 'remove': missing required key"), std::string::npos) << e;
    EXPECT_NE(errorsOf("").find("no [[mechanism]] table"), std::string::npos);
    EXPECT_NE(errorsOf("mechanism = 3\n").find("m.toml:1:13: error: key 'mechanism': expected an array of tables"), std::string::npos) << errorsOf("mechanism = 3\n");
    EXPECT_NE(errorsOf("[mechanisms]\n").find("unknown top-level key (did you mean 'mechanism'?)"), std::string::npos) << errorsOf("[mechanisms]\n");
}

TEST(Statistics, McNemarExactAndTheBootstrapAreDeterministic) {
    EXPECT_EQ(mcnemarExact(0, 0), 1.0);
    EXPECT_NEAR(mcnemarExact(0, 5), 0.0625, 1e-15);       // 2 · 0.5^5
    EXPECT_NEAR(mcnemarExact(1, 9), 0.021484375, 1e-15);  // 2 · (1 + 10)/1024
    EXPECT_EQ(mcnemarExact(4, 4), 1.0);
    EXPECT_THROW((void)mcnemarExact(-1, 2), InputError);
    const std::vector<double> v = {-10, -4, 0, 1, 3, 5, 7, 20};
    const auto a = bootstrapMeanCi(v, 1, 2), b = bootstrapMeanCi(v, 1, 2), c = bootstrapMeanCi(v, 1, 3);
    EXPECT_EQ(a, b);
    EXPECT_NE(a, c);
    EXPECT_LT(a.first, 2.75);  // the mean
    EXPECT_GT(a.second, 2.75);
    EXPECT_GT(a.first, -10.0);
    EXPECT_LT(a.second, 20.0);
    const std::vector<double> same(5, 3.5);
    EXPECT_EQ(bootstrapMeanCi(same, 9, 0), std::make_pair(3.5, 3.5));
    EXPECT_TRUE(std::isnan(bootstrapMeanCi({}, 1, 1).first));
}

TEST(Statistics, SummariseCountsPairsAndLeavesFailuresOut) {
    Mechanism m;
    m.name = "m";
    auto o = [](bool responder, bool benefit, std::optional<double> change, bool failed = false) {
        Outcome x;
        x.failed = failed;
        x.responder = responder;
        x.best = responder ? trial::Response::PR : trial::Response::PD;
        x.clinicalBenefit = benefit;
        x.bestChangePct = change;
        return x;
    };
    std::vector<PatientOutcomes> ps = {
        {3, {o(false, false, 10.0), o(true, true, -40.0)}},   // rescued, change -50
        {1, {o(false, false, 20.0), o(false, true, 10.0)}},   // not rescued, benefit gained, change -10
        {2, {o(true, true, -50.0), o(false, true, -20.0)}},   // harmed
        {0, {o(false, false, 5.0), o(false, false, 5.0, true)}},  // counterfactual failed: left out
    };
    const auto c = summarise({m}, ps, 1).at(0);
    EXPECT_EQ(c.patients, 3);
    EXPECT_EQ(c.failed, 1);
    EXPECT_EQ(c.nonResponders, 2);
    EXPECT_EQ(c.rescued, 1);
    EXPECT_EQ(c.share.proportion, 0.5);
    EXPECT_EQ(c.responders, 1);
    EXPECT_EQ(c.harmed, 1);
    EXPECT_EQ(c.changePatients, 2);
    EXPECT_DOUBLE_EQ(*c.meanChangePp, -30.0);
    EXPECT_DOUBLE_EQ(c.orrWith, 1.0 / 3);
    EXPECT_DOUBLE_EQ(c.orrWithout, 1.0 / 3);
    EXPECT_EQ(c.orrMcnemarP, 1.0);
    EXPECT_EQ(c.noBenefit, 2);
    EXPECT_EQ(c.benefitGained, 2);
    EXPECT_DOUBLE_EQ(c.cbrWithout, 1.0);
    EXPECT_EQ(c.cbrMcnemarP, 0.5);
    // A record round-trips exactly.
    const auto back = decodePatient(encodePatient(ps[0]), 1);
    EXPECT_EQ(encodePatient(back), encodePatient(ps[0]));
    EXPECT_THROW((void)decodePatient(encodePatient(ps[0]), 2), InputError);
}

// The hook: changes applied after the draw win over a prior that sets the same parameter, and the
// thread's model copy is restored for the next patient.
TEST(PatientChanges, WinOverThePriorAndAreRestored) {
    testing::TempDir dir("attribution");
    auto write = [&](const std::string& name, double doubling) {
        std::ofstream(dir.path() / name) << "[trial]\nname = \"t\"\nkind = \"trial\"\nbase = \""
                                         << (kSource / "tests/data/trial/tnbc-tumour-alone.toml").generic_string()
                                         << "\"\nseed = 3\npatients = 2\n[follow_up]\nduration = { value = 12, unit = \"week\" }\n"
                                            "assessment_interval = { value = 6, unit = \"week\" }\n[[prior]]\nname = \"dt\"\n"
                                            "target = \"parameter:cell_type/{subtype}/doubling_time\"\neffect = \"set\"\ndistribution = \"fixed\"\nvalue = "
                                         << doubling << "\nunit = \"d\"\nsource = \"test\"\n[[arm]]\nname = \"A\"\n";
        return trial::loadTrial(dir.path() / name);
    };
    const auto t100 = write("a.toml", 100), t60 = write("b.toml", 60);
    const qsp::EngineModel shared100(t100.base->model), shared60(t60.base->model);
    model::CompiledModel scratch = t100.base->model;
    trial::PatientChanges ch;
    ch.parameters.push_back({"cell_type/{subtype}/doubling_time", true, 0.6});  // 100 d × 0.6 = 60 d
    const auto d = trial::drawPatient(t100, 0);
    const auto changed = trial::simulatePatient(t100, shared100, d, 0, &scratch, &ch);
    const auto reference = trial::simulatePatient(t60, shared60, trial::drawPatient(t60, 0), 0);
    ASSERT_FALSE(changed.failed);
    EXPECT_EQ(changed.sld_mm, reference.sld_mm);
    const auto plain = trial::simulatePatient(t100, shared100, d, 0, &scratch);
    const auto fresh = trial::simulatePatient(t100, shared100, d, 0);
    EXPECT_EQ(plain.sld_mm, fresh.sld_mm);
    EXPECT_NE(plain.sld_mm, changed.sld_mm);
    EXPECT_EQ(scratch.values()[*scratch.findParameter("cell_type/TNBC/doubling_time")], t100.base->model.values()[*scratch.findParameter("cell_type/TNBC/doubling_time")]);
    trial::PatientChanges bad;
    bad.parameters.push_back({"receptor/NOPE/weight", false, 0});
    EXPECT_THROW((void)trial::simulatePatient(t100, shared100, d, 0, &scratch, &bad), InputError);
}

// A removal of what the patients do not have changes no outcome, to the bit: DCs are not in the
// base scenario, and a multiplier of 1 rebuilds the engine from an identical model.
TEST(Attribution, ARemovalOfNothingChangesNothing) {
    auto t = trial::loadTrial(kTrial);
    t.patients = 12;
    const auto mechs = parseMechanisms(R"([[mechanism]]
name = "nothing"
description = "no DCs (none in the base scenario), NKG2A's weight times 1"
source = "test"
rationale = "test"
[[mechanism.remove]]
target = "population:DC.initial_cells"
multiply = 0
[[mechanism.remove]]
target = "parameter:receptor/NKG2A/weight"
multiply = 1
)",
                                       "m.toml", t.base->model, model::UnitSystem{});
    AttributionOptions o;
    o.arm = armIndex(t, "untreated");
    const auto ps = runAttribution(t, mechs, o);
    ASSERT_EQ(ps.size(), 12u);
    for (const auto& p : ps) {
        ASSERT_FALSE(p.outcomes[0].failed);
        EXPECT_EQ(p.outcomes[1].bestChangePct, p.outcomes[0].bestChangePct);
        EXPECT_EQ(p.outcomes[1].best, p.outcomes[0].best);
    }
    const auto c = summarise(mechs, ps, t.seed).at(0);
    EXPECT_EQ(c.rescued, 0);
    EXPECT_EQ(c.harmed, 0);
    EXPECT_EQ(*c.meanChangePp, 0.0);
    EXPECT_EQ(c.orrMcnemarP, 1.0);
}

// What a drug already blocks, its removal barely changes: PD-1's signal under pembrolizumab,
// NKG2A's under monalizumab. Without the drug the same removal shrinks the tumours measurably.
// Numbers of the default model (24 patients, seed 7; docs/attribution.md): PD-L1 untreated
// -0.136 pp (CI -0.219 to -0.074), under pembrolizumab -0.0004 pp; HLA-E/NKG2A untreated
// -0.81 pp, under monalizumab -0.0007 pp.
TEST(Attribution, AMechanismTheDrugBlocksCostsAlmostNothing) {
    const auto t = trial::loadTrial(kTrial);
    const auto mechs = pick({"PD-L1", "HLA-E/NKG2A"});
    const auto untreated = costsIn(t, "untreated", mechs);
    const auto pembro = costsIn(t, "pembrolizumab", mechs);
    const auto mona = costsIn(t, "monalizumab", mechs);
    ASSERT_TRUE(untreated[0].meanChangePp && pembro[0].meanChangePp && untreated[1].meanChangePp && mona[1].meanChangePp);
    EXPECT_EQ(untreated[0].failed + pembro[0].failed + mona[1].failed, 0);
    // PD-L1: a real cost untreated (its whole CI below 0), about none under pembrolizumab.
    EXPECT_LT(*untreated[0].meanChangePp, -0.05);
    EXPECT_LT(*untreated[0].meanChangeHigh, 0.0);
    EXPECT_LT(std::abs(*pembro[0].meanChangePp), 0.01 * std::abs(*untreated[0].meanChangePp));
    EXPECT_EQ(pembro[0].rescued, 0);
    EXPECT_LE(pembro[0].rescued, untreated[0].rescued);
    // HLA-E/NKG2A: the same under monalizumab, while pembrolizumab leaves NKG2A's cost in place.
    EXPECT_LT(*untreated[1].meanChangePp, -0.3);
    EXPECT_LT(std::abs(*mona[1].meanChangePp), 0.01 * std::abs(*untreated[1].meanChangePp));
    EXPECT_EQ(mona[1].rescued, 0);
    EXPECT_LT(*pembro[1].meanChangePp, -0.1);
}

TEST(Attribution, OneAndTwoThreadsGiveTheSameBitsAndRanksSplitThePatients) {
    auto t = trial::loadTrial(kTrial);
    t.patients = 8;
    const auto mechs = pick({"TIGIT/CD155", "MDSC/STAT3"});
    AttributionOptions o;
    o.arm = armIndex(t, "pembrolizumab");
    o.threads = 1;
    const auto one = runAttribution(t, mechs, o);
    o.threads = 2;
    const auto two = runAttribution(t, mechs, o);
    ASSERT_EQ(one.size(), two.size());
    for (std::size_t i = 0; i < one.size(); ++i) EXPECT_EQ(encodePatient(one[i]), encodePatient(two[i]));
    o.ranks = 2;
    std::vector<PatientOutcomes> split;
    for (int r = 0; r < 2; ++r) {
        o.rank = r;
        for (auto& p : runAttribution(t, mechs, o)) split.push_back(std::move(p));
    }
    std::sort(split.begin(), split.end(), [](const auto& a, const auto& b) { return a.index < b.index; });
    ASSERT_EQ(split.size(), one.size());
    for (std::size_t i = 0; i < one.size(); ++i) EXPECT_EQ(encodePatient(split[i]), encodePatient(one[i]));
    o.arm = 9;
    EXPECT_THROW((void)runAttribution(t, mechs, o), InputError);
    // --as-randomised in a parallel trial: only the patients randomised to the arm (permuted
    // blocks of 4 in a 1:1 trial, so exactly half of 8), the same outcomes as with everyone.
    auto par = trial::loadTrial(kSource / "scenarios/trials/tnbc-avelumab-weekly-vs-untreated.toml");
    par.patients = 8;
    par.followUp.duration_d = 84;
    AttributionOptions all, randomised;
    all.arm = randomised.arm = 1;
    randomised.asRandomised = true;
    const auto everyone = runAttribution(par, mechs, all), theirs = runAttribution(par, mechs, randomised);
    ASSERT_EQ(everyone.size(), 8u);
    ASSERT_EQ(theirs.size(), 4u);
    for (const auto& p : theirs) {
        EXPECT_EQ(trial::drawPatient(par, p.index).arm, 1u);
        EXPECT_EQ(encodePatient(p), encodePatient(everyone[p.index]));
    }
}

}  // namespace
}  // namespace nkscape::attribution
