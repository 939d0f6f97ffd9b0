// Killing-assay wall time per condition: the shipped example on the default model, and synthetic
// models with N receptor–ligand pairs (how the cost grows with the model's size).
#include <benchmark/benchmark.h>

#include <string>

#include "nkscape/assay/assay.hpp"
#include "nkscape/assay/scenario.hpp"
#include "nkscape/model/loader.hpp"
#include "synthetic.hpp"

using namespace nkscape;

namespace {

// One condition, E:T 10, 500 targets, 1 replicate: one well of 5000 NK cells over 4 h.
std::string oneConditionScenario(const char* effector, const char* target) {
    return std::string(R"TOML(
[scenario]
name = "bench"
kind = "assay"
model = "unused.toml"
seed = 1
[assay]
duration = { value = 4, unit = "h" }
effector_target_ratios = [10]
targets = 500
replicates = 1
well_volume = { value = 200, unit = "uL" }
[[condition]]
name = "bench"
)TOML") + "effector = \"" + effector + "\"\ntarget = \"" + target + "\"\n";
}

void runOne(benchmark::State& state, const model::CompiledModel& m, const assay::AssayScenario& sc) {
    assay::AssayOptions opt;
    opt.threads = 1;
    std::uint64_t contacts = 0;
    for (auto _ : state) {
        const auto r = assay::runAssay(m, sc, opt);
        contacts = r.conditions[0].ratios[0].wells[0].contacts;
        benchmark::DoNotOptimize(r);
    }
    state.counters["contacts/well"] = static_cast<double>(contacts);
    state.counters["contacts/s"] = benchmark::Counter(static_cast<double>(contacts * state.iterations()), benchmark::Counter::kIsRate);
    state.counters["pairs"] = static_cast<double>(m.interactions().size());
}

std::string syntheticModel(int pairs) {
    std::string s = "[model]\nname = \"synthetic\"\n";
    std::string nkExpr, tuExpr;
    s += benchPairs(pairs, 1000, &nkExpr, &tuExpr);
    s += "[[cell_type]]\nname = \"NK\"\ncategory = \"nk\"\n[cell_type.expression]\n" + nkExpr;
    s += "[[cell_type]]\nname = \"T\"\ncategory = \"tumour\"\nsubtype = \"tnbc\"\n[cell_type.expression]\n" + tuExpr;
    s += benchConstants({
        "synapse.confinement|0.0005|nM.cell/molecule", "synapse.reference_complexes|250|molecule/cell", "synapse.threshold|12|1",
        "synapse.inhibition_scale|5|1", "synapse.hill|2|1", "synapse.max_kill_probability|0.8|1", "synapse.scan_time|5|min",
        "synapse.kill_time|12.8|min", "synapse.kill_time_no_granzyme|30|min", "synapse.kill_time_no_perforin|68|min",
        "synapse.death_receptor_efficacy|0.2|1", "synapse.adaptor_half|5000|molecule/cell", "synapse.car_half_antigen|20000|molecule/cell",
        "synapse.car_level|30000|molecule/cell", "assay.encounter_rate|2|1/h", "assay.receptor_cv|0.5|1", "assay.ligand_cv|0.5|1",
        "assay.fraction_nonkiller|0.5|1", "assay.exhaustion_per_kill|0.1|1", "assay.granule_refill_time|6|h",
        "assay.spontaneous_lysis|0.1|1", "assay.cd16_f158_affinity|0.6|1"});
    return s;
}

}  // namespace

static void BM_AssayCondition_DefaultModel(benchmark::State& state) {
    static const auto m = model::loadModel(std::filesystem::path(NKSCAPE_SOURCE_DIR "/models/default.toml"));
    const auto sc = assay::parseAssayScenario(oneConditionScenario("CD56dim NK", "MDA-MB-231"), "bench.toml", m);
    runOne(state, m, sc);
}
BENCHMARK(BM_AssayCondition_DefaultModel)->Unit(benchmark::kMillisecond);

static void BM_AssayCondition_Pairs(benchmark::State& state) {
    const auto m = model::loadModelFromString(syntheticModel(static_cast<int>(state.range(0))), "synthetic.toml");
    const auto sc = assay::parseAssayScenario(oneConditionScenario("NK", "T"), "bench.toml", m);
    runOne(state, m, sc);
}
BENCHMARK(BM_AssayCondition_Pairs)->RangeMultiplier(4)->Range(4, 256)->Unit(benchmark::kMillisecond);
