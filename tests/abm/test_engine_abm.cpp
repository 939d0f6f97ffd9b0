// The spatial engine's agent rules (abm/engine.hpp): a lone NK cell kills an adjacent target with
// the synapse's kill probability, contact durations have the stated mean and spread, serial
// killing spends granules, and runs are bit-identical for 1 and 2 threads and across a restart.

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <sstream>
#include <string>

#include "nkscape/abm/engine.hpp"
#include "nkscape/abm/scenario.hpp"
#include "nkscape/qsp/engine.hpp"
#include "nkscape/synapse/regulation.hpp"
#include "nkscape/synapse/synapse.hpp"

#include "default_model.hpp"

using namespace nkscape;
using namespace nkscape::abm;
using nkscape::testing::defaultModel;

namespace {

// Pairs of one NK cell and one TNBC cell on a 2-D lattice: no growth (cycle time of years), no
// necrosis, O2 held at its basal level (no uptake, no decay), NK cells do not move.
std::string pairsScenario(double durationMin) {
    return R"([scenario]
name = "pairs"
kind = "abm"
model = "../../models/default.toml"
seed = 11

[grid]
size = [80, 80]
voxel = { value = 20, unit = "um" }

[time]
duration = { value = )" + std::to_string(durationMin) + R"(, unit = "min" }
agent_step = { value = 0.1, unit = "min" }
phenotype_step = { value = 6, unit = "min" }
field_step = { value = 1, unit = "min" }
output_interval = { value = 6, unit = "min" }

[tumour]
cell_type = "TNBC"
radius = { value = 0, unit = "um" }
cycle_time = { value = 100, unit = "yr" }
o2_uptake = { value = 0, unit = "1/min" }
o2_saturation = { value = 0.049, unit = "mM" }
o2_hypoxic = { value = 0.0195, unit = "mM" }
o2_necrosis = { value = 0, unit = "mM" }
necrosis_rate = { value = 0, unit = "1/min" }

[[population]]
cell_type = "CD56dim NK"
count = 0
placement = "uniform"
motile = false

[[field]]
mediator = "O2"
decay = { value = 0, unit = "1/min" }
boundary = "dirichlet"
)";
}

/// The synapse's outcome for a CD56dim NK cell meeting a TNBC cell in the basal milieu, computed
/// here independently of the engine (the same Regulator and Synapse functions).
synapse::SynapseOutcome expectedOutcome(double granules) {
    const auto& m = defaultModel();
    const qsp::EngineModel prepared(m);
    const auto milieu = synapse::basalMilieu(m);
    const auto none = synapse::Contacts::none(m);
    synapse::NkState nk = prepared.regulator().nkState(*m.indexOf(model::Kind::CellType, "CD56dim NK"), milieu, none);
    nk.granules = granules;
    const synapse::TargetState t = prepared.regulator().targetState(*m.indexOf(model::Kind::CellType, "TNBC"), milieu, none);
    return prepared.synapse().decide(prepared.synapse().context(milieu), nk, t);
}

const std::string kTnbc2d = NKSCAPE_SOURCE_DIR "/scenarios/abm/tnbc-immunoediting-2d.toml";

}  // namespace

TEST(AbmEngine, LoneNkKillsAdjacentTargetWithTheSynapseProbability) {
    const auto& m = defaultModel();
    const AbmScenario s = parseAbmScenario(pairsScenario(60), "pairs.toml", m);
    Engine e(m, s, 2);
    e.recordContacts(true);
    int pairs = 0;
    for (int y = 2; y < 78; y += 4)
        for (int x = 2; x < 78; x += 4) {
            e.addAgent(0, x, y, 0);
            e.addAgent(1, x + 1, y, 0);
            ++pairs;
        }
    while (!e.done()) e.advance();
    const auto expected = expectedOutcome(5.0);  // CD56dim NK: granule_capacity 5
    ASSERT_GT(expected.killProbability, 0.0);
    // First contact of each effector: a Bernoulli(p) kill.
    std::map<std::int64_t, const ContactRecord*> first;
    for (const auto& c : e.contacts())
        if (!first.count(c.effector)) first[c.effector] = &c;
    ASSERT_EQ(first.size(), static_cast<std::size_t>(pairs));
    int kills = 0;
    for (const auto& [id, c] : first) {
        EXPECT_NEAR(c->killProbability, expected.killProbability, 1e-12);
        kills += c->kill ? 1 : 0;
    }
    const double p = expected.killProbability;
    const double n = static_cast<double>(pairs);
    const double se = std::sqrt(p * (1 - p) / n);
    EXPECT_NEAR(kills / n, p, 4 * se + 0.5 / n) << "p = " << p << ", " << kills << " kills of " << pairs;
    // Every target killed at most once, and the tumour count agrees.
    const auto& last = e.timeseries().rows.back();
    EXPECT_DOUBLE_EQ(last[1], pairs - last[e.timeseries().columns.size() - 3 - 3]);  // tumour = pairs - kills_total
    // The kill rate of a lone NK adjacent to a target: the first kill comes at killTime after the
    // first successful contact; over the run the expected kills per NK are 1 - (1-p)^(contacts).
    std::cout << "p(kill per contact) = " << p << ", first-contact kills " << kills << "/" << pairs << ", kill time "
              << expected.killTime << " min, contact time " << expected.contactTime << " min\n";
}

TEST(AbmEngine, ContactDurationsHaveTheStatedMeanAndSpread) {
    const auto& m = defaultModel();
    const AbmScenario s = parseAbmScenario(pairsScenario(120), "pairs.toml", m);
    Engine e(m, s, 2);
    e.recordContacts(true);
    for (int y = 2; y < 78; y += 4)
        for (int x = 2; x < 78; x += 4) {
            e.addAgent(0, x, y, 0);
            e.addAgent(1, x + 1, y, 0);
        }
    while (!e.done()) e.advance();
    const auto expected = expectedOutcome(5.0);
    double sum = 0, sum2 = 0;
    int n = 0;
    for (const auto& c : e.contacts()) {
        if (!c.kill) continue;
        sum += c.durationMin;
        sum2 += c.durationMin * c.durationMin;
        ++n;
    }
    ASSERT_GE(n, 50) << "too few killing contacts to test";
    const double mean = sum / n, sd = std::sqrt(std::max(0.0, sum2 / n - mean * mean));
    // Durations are whole agent steps (0.1 min): rounding up adds ~0.05 min on average.
    const double target = expected.killTime;
    const double cv = s.killTimeCv;
    EXPECT_NEAR(mean, target + 0.05, 4 * cv * target / std::sqrt(n) + 0.06) << "mean kill-contact duration";
    EXPECT_NEAR(sd / target, cv, 0.35 * cv) << "CV of kill-contact durations";
    std::cout << n << " killing contacts: mean " << mean << " min (model " << target << "), sd " << sd << " min (cv " << sd / mean << ")\n";
}

TEST(AbmEngine, SerialKillingSpendsGranules) {
    const auto& m = defaultModel();
    const AbmScenario s = parseAbmScenario(pairsScenario(600), "pairs.toml", m);
    Engine e(m, s, 1);
    // One NK in the middle of four targets (2-D faces) plus one in its own voxel.
    e.addAgent(1, 40, 40, 0);
    for (auto [x, y] : {std::pair{41, 40}, {39, 40}, {40, 41}, {40, 39}, {40, 40}}) e.addAgent(0, x, y, 0);
    while (!e.done()) e.advance();
    const auto& a = e.agents();
    std::size_t nk = 0;
    while (a.kind[nk] != 1) ++nk;
    const int kills = a.kills[nk];
    EXPECT_GE(kills, 2) << "a serial killer with five targets in reach over 10 h";
    // Each kill spends one granule; refills add 10 h / 6 h worth at most, capped at capacity 5.
    EXPECT_LE(a.granules[nk], 5.0);
    EXPECT_GE(a.granules[nk], std::max(0.0, 5.0 - kills));
}

TEST(AbmEngine, SameResultsOnOneAndTwoThreads) {
    const LoadedAbmScenario l = loadAbmScenario(kTnbc2d);
    AbmScenario s = l.scenario;
    s.durationMin = 240;
    Engine e1(l.model, s, 1), e2(l.model, s, 2);
    while (!e1.done()) e1.advance();
    while (!e2.done()) e2.advance();
    ASSERT_EQ(e1.timeseries().rows.size(), e2.timeseries().rows.size());
    for (std::size_t r = 0; r < e1.timeseries().rows.size(); ++r) EXPECT_EQ(e1.timeseries().rows[r], e2.timeseries().rows[r]) << "row " << r;
    EXPECT_EQ(e1.agents().id, e2.agents().id);
    EXPECT_EQ(e1.agents().voxel, e2.agents().voxel);
    for (std::size_t f = 0; f < e1.fields().size(); ++f) {
        const auto a = e1.fields().values(f), b = e2.fields().values(f);
        EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << e1.fields().spec(f).name;
    }
    const auto& last = e1.timeseries().rows.back();
    EXPECT_GT(last[1], 100.0);  // the tumour is still there after 4 h
    std::cout << "4 h: tumour " << last[1] << ", divisions " << last[e1.timeseries().columns.size() - 3 * e1.fields().size() - 4] << "\n";
}

TEST(AbmEngine, RestartContinuesBitIdentically) {
    const LoadedAbmScenario l = loadAbmScenario(kTnbc2d);
    AbmScenario s = l.scenario;
    s.durationMin = 180;
    Engine whole(l.model, s, 2);
    while (!whole.done()) whole.advance();
    Engine first(l.model, s, 2);
    while (first.step() < 77) first.advance();  // mid-way, off the phenotype and output grid
    std::stringstream state(std::ios::in | std::ios::out | std::ios::binary);
    first.save(state);
    Engine resumed(l.model, s, 1);
    resumed.load(state);
    EXPECT_EQ(resumed.step(), 77);
    while (!resumed.done()) resumed.advance();
    EXPECT_EQ(whole.timeseries().rows, resumed.timeseries().rows);
    EXPECT_EQ(whole.agents().id, resumed.agents().id);
    EXPECT_EQ(whole.agents().granules, resumed.agents().granules);
    for (std::size_t f = 0; f < whole.fields().size(); ++f) {
        const auto a = whole.fields().values(f), b = resumed.fields().values(f);
        EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << whole.fields().spec(f).name;
    }
}

TEST(AbmEngine, CheckpointOfAnotherScenarioIsRefused) {
    const LoadedAbmScenario l = loadAbmScenario(kTnbc2d);
    AbmScenario s = l.scenario;
    s.durationMin = 60;
    Engine a(l.model, s, 1);
    std::stringstream state(std::ios::in | std::ios::out | std::ios::binary);
    a.save(state);
    AbmScenario other = s;
    other.seed = 99;
    Engine b(l.model, other, 1);
    EXPECT_THROW(b.load(state), InputError);
    std::stringstream junk("not a checkpoint");
    EXPECT_THROW(b.load(junk), IoError);
}

namespace {
/// Kills after `minutes` of the shipped scenario `name` (2 threads).
double killsAfter(const std::string& name, double minutes) {
    const LoadedAbmScenario l = loadAbmScenario(NKSCAPE_SOURCE_DIR "/scenarios/abm/" + name + ".toml");
    AbmScenario s = l.scenario;
    s.durationMin = minutes;
    Engine e(l.model, s, 2);
    while (!e.done()) e.advance();
    const auto& ts = e.timeseries();
    const std::size_t kills = ts.columns.size() - 3 * e.fields().size() - 3;
    EXPECT_EQ(ts.columns[kills], "kills_total");
    return ts.rows.back()[kills];
}
}  // namespace

// Spatial V12 (shared/VALIDATION.md): in a hypoxic core, adenosine lowers NK killing; A2AR blockade
// restores it. Same seed, same placement: the only difference is the antagonist in the milieu.
TEST(AbmValidation, SpatialV12A2arBlockadeRestoresKilling) {
    const double untreated = killsAfter("hypoxic-core", 240);
    const double blocked = killsAfter("hypoxic-core-a2ar-blockade", 240);
    std::cout << "hypoxic core, 4 h: kills " << untreated << " untreated, " << blocked << " with A2AR blockade\n";
    EXPECT_GT(blocked, 1.1 * untreated);
}

// V10 in space: TGF-b from the CAF rim and the tumour lowers NKG2D/NKp30; neutralising it raises
// the kills of NK cells that reach the tumour.
TEST(AbmValidation, CafBarrierTgfbBlockadeRaisesKilling) {
    const double untreated = killsAfter("caf-barrier", 480);
    const double blocked = killsAfter("caf-barrier-tgfb-blockade", 480);
    std::cout << "CAF barrier, 8 h: kills " << untreated << " untreated, " << blocked << " with TGF-b blockade\n";
    EXPECT_GT(blocked, 1.2 * untreated);
}
