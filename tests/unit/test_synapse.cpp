// The synapse on a small model whose numbers can be followed by hand, and the fast path against
// the reference implementation on the default model.

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "nkscape/model/loader.hpp"
#include "nkscape/synapse/synapse.hpp"

using namespace nkscape;
using namespace nkscape::model;
using namespace nkscape::synapse;

namespace {

// Constants chosen so that hand calculation is easy: s = 0.001 nM·cell/molecule, N_ref = 1000.
const char* kConstants = R"TOML(
[[constant]]
name = "synapse.confinement"
value = { value = 0.001, unit = "nM.cell/molecule", source = "assumption: round number for hand calculation" }
[[constant]]
name = "synapse.reference_complexes"
value = { value = 1000, unit = "molecule/cell", source = "assumption: round number for hand calculation" }
[[constant]]
name = "synapse.threshold"
value = { value = 1, unit = "1", source = "assumption: round number for hand calculation" }
[[constant]]
name = "synapse.inhibition_scale"
value = { value = 1, unit = "1", source = "assumption: round number for hand calculation" }
[[constant]]
name = "synapse.hill"
value = { value = 2, unit = "1", source = "assumption: round number for hand calculation" }
[[constant]]
name = "synapse.max_kill_probability"
value = { value = 0.8, unit = "1", source = "assumption: round number for hand calculation" }
[[constant]]
name = "synapse.scan_time"
value = { value = 5, unit = "min", source = "assumption: round number for hand calculation" }
[[constant]]
name = "synapse.kill_time"
value = { value = 12.8, unit = "min", source = "doi:10.1084/jem.20140964 (Jenkins et al. 2015)" }
[[constant]]
name = "synapse.kill_time_no_granzyme"
value = { value = 30, unit = "min", source = "doi:10.1084/jem.20140964 (Jenkins et al. 2015)" }
[[constant]]
name = "synapse.kill_time_no_perforin"
value = { value = 68, unit = "min", source = "doi:10.1084/jem.20140964 (Jenkins et al. 2015)" }
[[constant]]
name = "synapse.death_receptor_efficacy"
value = { value = 0.25, unit = "1", source = "assumption: round number for hand calculation" }
[[constant]]
name = "synapse.adaptor_half"
value = { value = 1000, unit = "molecule/cell", source = "assumption: round number for hand calculation" }
[[constant]]
name = "synapse.car_half_antigen"
value = { value = 10000, unit = "molecule/cell", source = "assumption: round number for hand calculation" }
)TOML";

const char* kBody = R"TOML(
[model]
name = "synapse-mini"

[[receptor]]
name = "ACT"
class = "activating"
weight = { value = 1, unit = "1", source = "assumption: test receptor" }
[[receptor]]
name = "ACT2"
class = "activating"
weight = { value = 1, unit = "1", source = "assumption: test receptor" }
[[receptor]]
name = "INH"
class = "inhibitory"
weight = { value = 2, unit = "1", source = "assumption: test receptor" }
[[receptor]]
name = "CD16"
class = "activating"
adaptors = ["CD247"]
weight = { value = 1, unit = "1", source = "assumption: test receptor" }
[[receptor]]
name = "CD247"
class = "adaptor"

[[ligand]]
name = "L"
form = "membrane"
category = "activating_ligand"
[[ligand]]
name = "SHARED"
form = "membrane"
category = "dual_ligand"
[[ligand]]
name = "HER2"
form = "membrane"
category = "antigen"
[[ligand]]
name = "Fc-IgG"
form = "membrane"
category = "opsonin"

[[mediator]]
name = "sL"
kind = "soluble_ligand"
unit = "nM"
ligand_of = "L"

[[interaction]]
name = "ACT:L"
receptor = "ACT"
ligand = "L"
kd = { value = 1000, unit = "nM", source = "assumption: test" }
[[interaction]]
name = "ACT:sL"
receptor = "ACT"
ligand = "sL"
kd = { value = 10, unit = "nM", source = "assumption: test" }
[[interaction]]
name = "ACT2:SHARED"
receptor = "ACT2"
ligand = "SHARED"
kd = { value = 100, unit = "nM", source = "assumption: test" }
competes_with = ["INH"]
[[interaction]]
name = "INH:SHARED"
receptor = "INH"
ligand = "SHARED"
kd = { value = 1, unit = "nM", source = "assumption: test" }
competes_with = ["ACT2"]
[[interaction]]
name = "CD16:Fc"
receptor = "CD16"
ligand = "Fc-IgG"
kd = { value = 500, unit = "nM", source = "assumption: test" }

[[therapy]]
name = "blockINH"
kind = "blocking_antibody"
isotype = "IgG4"
dose_unit = "mg"
pk = { model = "none" }
[[therapy.mechanism]]
action = "block"
target = "INH"
kd = { value = 1, unit = "nM", source = "assumption: test" }

[[therapy]]
name = "antiHER2"
kind = "opsonising_antibody"
isotype = "IgG1"
dose_unit = "mg"
pk = { model = "none" }
[[therapy.mechanism]]
action = "opsonise"
target = "HER2"
kd = { value = 1, unit = "nM", source = "assumption: test" }
fc_gain = { value = 1, unit = "1", source = "assumption: test" }
)TOML";

const CompiledModel& mini() {
    static const CompiledModel m = loadModelFromString(std::string(kBody) + kConstants, "synapse-mini.toml");
    return m;
}

NkState nkWith(const CompiledModel& m, std::initializer_list<std::pair<const char*, double>> levels) {
    NkState nk;
    nk.receptors.assign(m.receptors().size(), 0.0);
    nk.factors.assign(m.factors().size(), 1.0);
    nk.secretion.assign(m.mediators().size(), 0.0);
    for (const auto& [n, v] : levels) nk.receptors[m.require(Kind::Receptor, n)] = v;
    return nk;
}

TargetState targetWith(const CompiledModel& m, std::initializer_list<std::pair<const char*, double>> levels) {
    TargetState t;
    t.ligands.assign(m.ligands().size(), 0.0);
    for (const auto& [n, v] : levels) t.ligands[m.require(Kind::Ligand, n)] = v;
    return t;
}

}  // namespace

TEST(Synapse, SingleReceptorByHand) {
    const auto& m = mini();
    const Synapse syn(m);
    const auto ctx = syn.context(Milieu::empty(m));
    // x = s·R/Kd = 0.001·10000/1000 = 0.01; complexes = L·x/(1+x) = 100000·0.01/1.01 = 990.099…
    const auto nk = nkWith(m, {{"ACT", 10000}});
    const auto tg = targetWith(m, {{"L", 100000}});
    const auto e = syn.engagement(ctx, nk, tg);
    EXPECT_NEAR(e[m.require(Kind::Interaction, "ACT:L")], 100000 * 0.01 / 1.01, 1e-9);
    const auto out = syn.decide(ctx, nk, tg);
    const double a = 100000 * 0.01 / 1.01 / 1000;  // A = complexes / N_ref · weight 1
    EXPECT_NEAR(out.activation, a, 1e-12);
    EXPECT_NEAR(out.inhibition, 0.0, 1e-15);
    EXPECT_NEAR(out.threshold, 1.0, 1e-15);
    const double p = 0.8 * a * a / (a * a + 1.0);  // p_max·A^h/(A^h+θ^h), fully armed
    EXPECT_NEAR(out.killProbability, p, 1e-12);
    EXPECT_NEAR(out.killTime, 12.8, 1e-12);
    EXPECT_NEAR(out.contactTime, p * 12.8 + (1 - p) * 5.0, 1e-12);
}

TEST(Synapse, ReceptorCapLimitsComplexes) {
    const auto& m = mini();
    const Synapse syn(m);
    const auto ctx = syn.context(Milieu::empty(m));
    // 50 receptors against 1e9 ligands: the ligand-side share exceeds the receptor count → capped at 50.
    const auto out = syn.decide(ctx, nkWith(m, {{"ACT", 50}}), targetWith(m, {{"L", 1e9}}));
    EXPECT_NEAR(out.activation, 50.0 / 1000.0, 1e-12);
}

TEST(Synapse, InhibitionRaisesTheThresholdNotSubtracts) {
    const auto& m = mini();
    const Synapse syn(m);
    const auto ctx = syn.context(Milieu::empty(m));
    const auto base = syn.decide(ctx, nkWith(m, {{"ACT", 10000}}), targetWith(m, {{"L", 100000}}));
    // INH alone on SHARED: x = 0.001·5000/1 = 5; complexes = 2000·5/6; I = that/1000·2.
    const auto withInh = syn.decide(ctx, nkWith(m, {{"ACT", 10000}, {"INH", 5000}}), targetWith(m, {{"L", 100000}, {"SHARED", 2000}}));
    const double i = 2000.0 * 5.0 / 6.0 / 1000.0 * 2.0;
    EXPECT_NEAR(withInh.inhibition, i, 1e-12);
    EXPECT_NEAR(withInh.threshold, 1.0 + i, 1e-12);
    EXPECT_NEAR(withInh.activation, base.activation, 1e-12);  // activation untouched
    EXPECT_LT(withInh.killProbability, base.killProbability);
    EXPECT_GT(withInh.killProbability, 0.0);  // raised threshold, not zeroed
}

TEST(Synapse, CompetitionForASharedLigand) {
    const auto& m = mini();
    const Synapse syn(m);
    const auto ctx = syn.context(Milieu::empty(m));
    const auto tg = targetWith(m, {{"SHARED", 10000}});
    const Index act2 = m.require(Kind::Interaction, "ACT2:SHARED");
    double previous = 1e300;
    for (double inh : {0.0, 1000.0, 5000.0, 20000.0}) {
        const auto e = syn.engagement(ctx, nkWith(m, {{"ACT2", 10000}, {"INH", inh}}), tg);
        // x_act2 = 0.1, x_inh = 0.001·inh; act2 complexes = L·x_act2/(1 + x_act2 + x_inh)
        EXPECT_NEAR(e[act2], 10000 * 0.1 / (1.1 + 0.001 * inh), 1e-9);
        EXPECT_LT(e[act2], previous);
        previous = e[act2];
    }
}

TEST(Synapse, BlockingAndDecoysAndOpsonisation) {
    const auto& m = mini();
    const Synapse syn(m);
    auto milieu = Milieu::empty(m);
    milieu.therapies[m.require(Kind::Therapy, "blockINH")] = 99.0;  // occupancy 0.99
    milieu.mediators[m.require(Kind::Mediator, "sL")] = 30.0;        // decoy: free = 1/(1 + 30/10)
    milieu.therapies[m.require(Kind::Therapy, "antiHER2")] = 1.0;   // occupancy 0.5
    const auto ctx = syn.context(milieu);
    EXPECT_NEAR(ctx.receptorFree[m.require(Kind::Receptor, "INH")], 0.01, 1e-12);
    EXPECT_NEAR(ctx.receptorFree[m.require(Kind::Receptor, "ACT")], 0.25, 1e-12);
    EXPECT_NEAR(ctx.opsonin[m.require(Kind::Ligand, "HER2")], 0.5, 1e-12);
    // ADCC: Fc density = HER2 · 0.5; CD16 x = 0.001·1e5/500 = 0.2 (V158); CD247 adaptor α = 1e4/(1e4+1e3).
    auto nk = nkWith(m, {{"CD16", 1e5}, {"CD247", 1e4}});
    const auto tg = targetWith(m, {{"HER2", 1e5}});
    const double fc = 1e5 * 0.5;
    const double alpha = 1e4 / 1.1e4;
    EXPECT_NEAR(syn.decide(ctx, nk, tg).activation, fc * 0.2 / 1.2 / 1000.0 * alpha, 1e-12);
    nk.cd16Affinity = 0.6;  // F158
    EXPECT_NEAR(syn.decide(ctx, nk, tg).activation, fc * 0.12 / 1.12 / 1000.0 * alpha, 1e-12);
    // Without antibody there is no ADCC signal.
    EXPECT_EQ(syn.decide(syn.context(Milieu::empty(m)), nk, tg).activation, 0.0);
}

TEST(Synapse, GranulesPerforinAndGranzymeSetKillingAndKillTime) {
    const auto& m = mini();
    const Synapse syn(m);
    const auto ctx = syn.context(Milieu::empty(m));
    const auto tg = targetWith(m, {{"L", 1e6}});
    auto nk = nkWith(m, {{"ACT", 1e5}});
    const auto fresh = syn.decide(ctx, nk, tg);
    nk.granules = 0;  // spent: only the death-receptor route (efficacy 0.25) at the no-perforin time
    const auto spent = syn.decide(ctx, nk, tg);
    EXPECT_NEAR(spent.killProbability, fresh.killProbability * 0.25, 1e-12);
    EXPECT_NEAR(spent.killTime, 68.0, 1e-12);
    nk.granules = 1;
    nk.exhaustion = 0.5;
    nk.fitness = 0.5;
    EXPECT_NEAR(syn.decide(ctx, nk, tg).killProbability, fresh.killProbability * 0.25, 1e-12);
}

TEST(Synapse, MissingConstantIsAClearError) {
    const auto m = loadModelFromString(kBody, "no-constants.toml");
    try {
        Synapse syn(m);
        FAIL() << "expected InputError";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("synapse.confinement"), std::string::npos) << e.what();
    }
}

TEST(Synapse, FastPathMatchesReferenceOnTheDefaultModel) {
    const auto m = loadModel(std::filesystem::path(NKSCAPE_SOURCE_DIR "/models/default.toml"));
    const Synapse syn(m);
    std::mt19937_64 rng(12345);
    std::lognormal_distribution<double> level(std::log(1e4), 1.5);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    for (int trial = 0; trial < 200; ++trial) {
        auto milieu = Milieu::empty(m);
        for (auto& c : milieu.therapies) c = unit(rng) < 0.2 ? 100.0 * unit(rng) : 0.0;
        for (auto& c : milieu.mediators) c = unit(rng) < 0.3 ? 1000.0 * unit(rng) : 0.0;
        NkState nk;
        nk.receptors.resize(m.receptors().size());
        // Half the effectors sparse, like a CD8 T cell (7 of the model's receptors): most pairs inactive.
        const double zeroShare = trial % 2 == 0 ? 0.1 : 0.75;
        for (auto& r : nk.receptors) r = unit(rng) < zeroShare ? 0.0 : level(rng);
        nk.factors.resize(m.factors().size());
        for (auto& f : nk.factors) f = 2.0 * unit(rng);
        nk.secretion.resize(m.mediators().size());
        for (auto& s : nk.secretion) s = unit(rng);
        nk.granules = 2.0 * unit(rng);
        nk.exhaustion = unit(rng);
        nk.fitness = unit(rng);
        nk.cd16Affinity = unit(rng) < 0.5 ? 1.0 : 0.6;
        if (unit(rng) < 0.3) nk.car = CarState{m.require(Kind::Ligand, "HER2"), 5e4, 1.0};
        TargetState tg;
        tg.ligands.resize(m.ligands().size());
        for (auto& l : tg.ligands) l = unit(rng) < 0.1 ? 0.0 : level(rng);
        const auto fast = syn.decide(syn.context(milieu), nk, tg);
        const auto ref = syn.decideReference(milieu, nk, tg);
        const auto close = [](double a, double b) { return std::abs(a - b) <= 1e-10 * std::max({1.0, std::abs(a), std::abs(b)}); };
        ASSERT_TRUE(close(fast.activation, ref.activation)) << trial << ": " << fast.activation << " vs " << ref.activation;
        ASSERT_TRUE(close(fast.inhibition, ref.inhibition)) << trial;
        ASSERT_TRUE(close(fast.killProbability, ref.killProbability)) << trial;
        ASSERT_TRUE(close(fast.contactTime, ref.contactTime)) << trial;
        ASSERT_TRUE(close(fast.ifng, ref.ifng)) << trial;
    }
}

TEST(Synapse, BatchEqualsSingleBitForBit) {
    const auto m = loadModel(std::filesystem::path(NKSCAPE_SOURCE_DIR "/models/default.toml"));
    const Synapse syn(m);
    auto milieu = Milieu::empty(m);
    milieu.therapies[m.require(Kind::Therapy, "trastuzumab")] = 5.0;
    milieu.therapies[m.require(Kind::Therapy, "DF1001")] = 1.0;
    milieu.therapies[m.require(Kind::Therapy, "monalizumab")] = 2.0;
    const auto ctx = syn.context(milieu);
    std::mt19937_64 rng(99);
    std::lognormal_distribution<double> level(std::log(1e4), 1.5);
    const std::size_t n = 203;  // not a multiple of the batch width
    std::vector<NkState> nks(n);
    std::vector<TargetState> tgs(n);
    for (std::size_t i = 0; i < n; ++i) {
        nks[i].receptors.resize(m.receptors().size());
        for (auto& r : nks[i].receptors) r = level(rng);
        nks[i].factors.assign(m.factors().size(), 0.9);
        nks[i].secretion.assign(m.mediators().size(), 0.01);
        nks[i].cd16Affinity = i % 2 ? 1.0 : 0.6;
        nks[i].granules = static_cast<double>(i % 3);
        if (i % 5 == 0) nks[i].car = CarState{m.require(Kind::Ligand, "HER2"), 3e4, 1.0};
        tgs[i].ligands.resize(m.ligands().size());
        for (auto& l : tgs[i].ligands) l = i % 7 == 0 ? 0.0 : level(rng);
    }
    std::vector<SynapseOutcome> batch(n);
    syn.decideBatch(ctx, nks.data(), tgs.data(), batch.data(), n);
    for (std::size_t i = 0; i < n; ++i) {
        const auto one = syn.decide(ctx, nks[i], tgs[i]);
        ASSERT_EQ(one.activation, batch[i].activation) << i;
        ASSERT_EQ(one.inhibition, batch[i].inhibition) << i;
        ASSERT_EQ(one.killProbability, batch[i].killProbability) << i;
        ASSERT_EQ(one.contactTime, batch[i].contactTime) << i;
        ASSERT_EQ(one.ifng, batch[i].ifng) << i;
    }
}

TEST(Synapse, PreparedEffectorEqualsDecideBitForBit) {
    // decide(ctx, prepared, target) is decide(ctx, nk, target) split in two: the same numbers, also
    // with blocking, opsonising and engaging drugs, CARs, targets without some ligands, and when
    // one prepared buffer is reused across effectors.
    const auto m = loadModel(std::filesystem::path(NKSCAPE_SOURCE_DIR "/models/default.toml"));
    const Synapse syn(m);
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    std::lognormal_distribution<double> level(std::log(1e4), 1.5);
    PreparedEffector prepared;
    for (int trial = 0; trial < 100; ++trial) {
        auto milieu = Milieu::empty(m);
        for (auto& c : milieu.therapies) c = unit(rng) < 0.2 ? 100.0 * unit(rng) : 0.0;
        for (auto& c : milieu.mediators) c = unit(rng) < 0.3 ? 1000.0 * unit(rng) : 0.0;
        const auto ctx = syn.context(milieu);
        NkState nk;
        nk.receptors.resize(m.receptors().size());
        // Half the effectors sparse, like a CD8 T cell (7 of the model's receptors): most pairs inactive.
        const double zeroShare = trial % 2 == 0 ? 0.1 : 0.75;
        for (auto& r : nk.receptors) r = unit(rng) < zeroShare ? 0.0 : level(rng);
        nk.factors.assign(m.factors().size(), 0.8);
        nk.secretion.assign(m.mediators().size(), 0.02);
        nk.cd16Affinity = unit(rng) < 0.5 ? 1.0 : 0.6;
        if (unit(rng) < 0.3) nk.car = CarState{m.require(Kind::Ligand, "HER2"), 5e4, 1.0};
        syn.prepare(ctx, nk, prepared);
        for (int target = 0; target < 4; ++target) {
            nk.granules = 2.0 * unit(rng);  // read at decide time, not prepared
            nk.exhaustion = unit(rng);
            TargetState tg;
            tg.ligands.resize(m.ligands().size());
            for (auto& l : tg.ligands) l = unit(rng) < 0.1 ? 0.0 : level(rng);
            const auto one = syn.decide(ctx, nk, tg);
            const auto two = syn.decide(ctx, prepared, tg);
            ASSERT_EQ(one.activation, two.activation) << trial;
            ASSERT_EQ(one.inhibition, two.inhibition) << trial;
            ASSERT_EQ(one.killProbability, two.killProbability) << trial;
            ASSERT_EQ(one.contactTime, two.contactTime) << trial;
            ASSERT_EQ(one.killTime, two.killTime) << trial;
            ASSERT_EQ(one.ifng, two.ifng) << trial;
            ASSERT_EQ(one.tnfa, two.tnfa) << trial;
        }
    }
}

TEST(Synapse, LoaderPrecomputesMediatorConversionFactors) {
    // The synapse converts soluble decoys with factors the loader resolved (no unit system of its
    // own): check them against a unit system here.
    const auto m = loadModel(std::filesystem::path(NKSCAPE_SOURCE_DIR "/models/default.toml"));
    const model::UnitSystem units;
    for (std::size_t k = 0; k < m.mediators().size(); ++k) {
        const auto& med = m.mediators()[k];
        SCOPED_TRACE(m.entities(Kind::Mediator)[k].name + " in " + med.unit);
        if (units.convertible(med.unit, "nM")) {
            EXPECT_EQ(med.nanomolarPerUnit, units.convertOrThrow(1.0, med.unit, "nM"));
            EXPECT_TRUE(std::isnan(med.gramsPerLitrePerUnit));
        } else {
            EXPECT_TRUE(std::isnan(med.nanomolarPerUnit));
            EXPECT_EQ(med.gramsPerLitrePerUnit, units.convertOrThrow(1.0, med.unit, "g/L"));
        }
    }
    const auto mini = loadModelFromString(std::string(kBody) + kConstants, "synapse-mini.toml");
    EXPECT_DOUBLE_EQ(mini.mediators()[mini.require(Kind::Mediator, "sL")].nanomolarPerUnit, 1.0);
}

TEST(Synapse, ContextIntoABufferEqualsTheValueForm) {
    // Engines reuse one SynapseContext across milieus; stale entries (opsonised, engaged) must not
    // leak from one milieu into the next.
    const auto m = loadModel(std::filesystem::path(NKSCAPE_SOURCE_DIR "/models/default.toml"));
    const Synapse syn(m);
    SynapseContext ctx;
    std::mt19937_64 rng(7);
    std::lognormal_distribution<double> conc(0.0, 3.0);
    for (int trial = 0; trial < 50; ++trial) {
        auto milieu = Milieu::empty(m);
        for (auto& c : milieu.mediators) c = conc(rng);
        for (auto& c : milieu.therapies) c = trial % 3 == 0 ? 0.0 : conc(rng);
        const SynapseContext want = syn.context(milieu);
        syn.context(milieu, ctx);
        EXPECT_EQ(ctx.receptorFree, want.receptorFree);
        EXPECT_EQ(ctx.ligandFree, want.ligandFree);
        EXPECT_EQ(ctx.opsonin, want.opsonin);
        EXPECT_EQ(ctx.opsonised, want.opsonised);
        EXPECT_EQ(ctx.engaged, want.engaged);
    }
}

TEST(Synapse, MediatorsOutsideMediatorsReadDoNotMoveTheContext) {
    const auto m = loadModel(std::filesystem::path(NKSCAPE_SOURCE_DIR "/models/default.toml"));
    const Synapse syn(m);
    const auto read = syn.mediatorsRead();
    auto milieu = Milieu::empty(m);
    for (auto& c : milieu.mediators) c = 1.0;
    const SynapseContext before = syn.context(milieu);
    for (model::Index k = 0; k < m.mediators().size(); ++k) {
        if (std::binary_search(read.begin(), read.end(), k)) continue;
        auto changed = milieu;
        changed.mediators[k] = 1e6;
        EXPECT_EQ(syn.context(changed).receptorFree, before.receptorFree) << m.entities(Kind::Mediator)[k].name;
    }
    const auto mini = loadModelFromString(std::string(kBody) + kConstants, "synapse-mini.toml");
    EXPECT_EQ(Synapse(mini).mediatorsRead(), std::vector<model::Index>{mini.require(Kind::Mediator, "sL")});
}
