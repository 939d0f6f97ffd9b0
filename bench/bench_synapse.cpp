// Synapse decisions per second: single and batched on the default model, and how the cost grows
// with the number of receptor–ligand pairs (synthetic models of N pairs).
#include <benchmark/benchmark.h>

#include <random>
#include <string>

#include "nkscape/model/loader.hpp"
#include "synthetic.hpp"
#include "nkscape/synapse/synapse.hpp"

#include "default_model.hpp"

using namespace nkscape;

namespace {

using nkscape::testing::defaultModel;

// NK and target states with every receptor and ligand present at random, plausible levels.
void randomStates(const model::CompiledModel& m, std::size_t n, std::vector<synapse::NkState>& nks, std::vector<synapse::TargetState>& tgs) {
    std::mt19937_64 rng(7);
    std::lognormal_distribution<double> level(std::log(1e4), 1.0);
    nks.resize(n);
    tgs.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        nks[i].receptors.resize(m.receptors().size());
        for (auto& r : nks[i].receptors) r = level(rng);
        nks[i].factors.assign(m.factors().size(), 1.0);
        nks[i].secretion.assign(m.mediators().size(), 1e-3);
        tgs[i].ligands.resize(m.ligands().size());
        for (auto& l : tgs[i].ligands) l = level(rng);
    }
}

void runSingle(benchmark::State& state, const model::CompiledModel& m) {
    const synapse::Synapse syn(m);
    const auto ctx = syn.context(synapse::Milieu::empty(m));
    std::vector<synapse::NkState> nks;
    std::vector<synapse::TargetState> tgs;
    randomStates(m, 1024, nks, tgs);
    std::size_t i = 0;
    double sink = 0;
    for (auto _ : state) {
        sink += syn.decide(ctx, nks[i & 1023], tgs[i & 1023]).killProbability;
        ++i;
    }
    benchmark::DoNotOptimize(sink);
    state.counters["decisions/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
    state.counters["pairs"] = static_cast<double>(m.interactions().size());
}

std::string syntheticModel(int pairs) {
    std::string s = "[model]\nname = \"synthetic\"\n";
    s += benchPairs(pairs, 100);
    s += benchConstants({"synapse.confinement|0.2|nM.cell/molecule", "synapse.reference_complexes|1000|molecule/cell", "synapse.threshold|1|1",
                          "synapse.inhibition_scale|1|1", "synapse.hill|2|1", "synapse.max_kill_probability|0.8|1", "synapse.scan_time|5|min",
                          "synapse.kill_time|12.8|min", "synapse.kill_time_no_granzyme|30|min", "synapse.kill_time_no_perforin|68|min",
                          "synapse.death_receptor_efficacy|0.2|1", "synapse.adaptor_half|1000|molecule/cell",
                          "synapse.car_half_antigen|10000|molecule/cell"});
    return s;
}

}  // namespace

static void BM_SynapseDecide_DefaultModel(benchmark::State& state) { runSingle(state, defaultModel()); }
BENCHMARK(BM_SynapseDecide_DefaultModel);

static void BM_SynapseDecideBatch_DefaultModel(benchmark::State& state) {
    const auto& m = defaultModel();
    const synapse::Synapse syn(m);
    const auto ctx = syn.context(synapse::Milieu::empty(m));
    const auto n = static_cast<std::size_t>(state.range(0));
    std::vector<synapse::NkState> nks;
    std::vector<synapse::TargetState> tgs;
    randomStates(m, n, nks, tgs);
    std::vector<synapse::SynapseOutcome> out(n);
    for (auto _ : state) {
        syn.decideBatch(ctx, nks.data(), tgs.data(), out.data(), n);
        benchmark::DoNotOptimize(out.data());
    }
    state.counters["decisions/s"] = benchmark::Counter(static_cast<double>(state.iterations() * n), benchmark::Counter::kIsRate);
    state.counters["state_bytes"] = static_cast<double>(n * (sizeof(double) * (m.receptors().size() + m.ligands().size() + m.factors().size() + m.mediators().size())));
}
BENCHMARK(BM_SynapseDecideBatch_DefaultModel)->Arg(1024)->Arg(65536);

static void BM_SynapseDecide_Pairs(benchmark::State& state) {
    const auto m = model::loadModelFromString(syntheticModel(static_cast<int>(state.range(0))), "synthetic.toml");
    runSingle(state, m);
}
BENCHMARK(BM_SynapseDecide_Pairs)->RangeMultiplier(2)->Range(4, 256);

static void BM_SynapseContext_DefaultModel(benchmark::State& state) {
    const auto& m = defaultModel();
    const synapse::Synapse syn(m);
    auto milieu = synapse::Milieu::empty(m);
    for (auto& c : milieu.therapies) c = 1.0;
    for (auto _ : state) benchmark::DoNotOptimize(syn.context(milieu));
}
BENCHMARK(BM_SynapseContext_DefaultModel);
