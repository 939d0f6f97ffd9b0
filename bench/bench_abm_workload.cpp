// The spatial engine on issue 13's reference workload (scenarios/abm/reference-workload.toml:
// PhysiCell 1.14's 3-D cancer-immune sample, 75^3 voxels, ~18,000 tumour and 7,500 immune cells,
// O2 + IL-8, 60 simulated minutes; PhysiCell takes 165 s on this 2-core machine) and on 2-D
// lattices from 1e4 to 1e6 agents. Reports wall time, cell-updates/s, voxel-field steps/s, memory
// per agent and the share of time in fields, agents (contacts, motility) and phenotype.
//
//   build/release/bench/nkscape_bench_abm --benchmark_filter=Reference

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>

#include "nkscape/abm/engine.hpp"
#include "nkscape/abm/scenario.hpp"

namespace {

using namespace nkscape;

double rssBytes(const char* key) {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind(key, 0) == 0) return std::atof(line.c_str() + std::string(key).size()) * 1024.0;
    return 0;
}

const abm::LoadedAbmScenario& reference() {
    static const abm::LoadedAbmScenario l = abm::loadAbmScenario(NKSCAPE_SOURCE_DIR "/scenarios/abm/reference-workload.toml");
    return l;
}

void run(benchmark::State& state, const model::CompiledModel& m, const abm::AbmScenario& s, int threads) {
    for (auto _ : state) {
        const double before = rssBytes("VmRSS:");
        const auto t0 = std::chrono::steady_clock::now();
        abm::Engine e(m, s, threads);
        const double agents0 = static_cast<double>(e.agents().size());
        const double after = rssBytes("VmRSS:");
        while (!e.done()) e.advance();
        const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const auto& t = e.phaseTimes();
        state.counters["wall_s"] = wall;
        state.counters["agents"] = agents0;
        state.counters["cell_updates_per_s"] = e.agentSteps() / wall;
        state.counters["fields_share"] = t.fields / wall;
        state.counters["agents_share"] = t.agents / wall;
        state.counters["phenotype_share"] = t.phenotype / wall;
        state.counters["voxel_field_steps_per_s"] =
            static_cast<double>(s.grid.voxels()) * static_cast<double>(s.fields.size()) * (s.durationMin / s.fieldStepMin) / std::max(t.fields, 1e-9);
        state.counters["bytes_per_agent"] = (after - before) / agents0;  // the engine's memory incl. grid and fields
        state.counters["tumour_end"] = e.timeseries().rows.back()[1];
    }
}

void BM_ReferenceWorkload(benchmark::State& state) {
    const auto& l = reference();
    run(state, l.model, l.scenario, static_cast<int>(state.range(0)));
}
BENCHMARK(BM_ReferenceWorkload)->Arg(1)->Arg(2)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

// 2-D scaling: a tumour disc filling ~70 % of an n x n lattice (1e4 to 1e6 agents), 1 % NK
// cells, 6 simulated minutes at the reference steps, on 2 threads.
void BM_Scaling2d(benchmark::State& state) {
    const auto& l = reference();
    abm::AbmScenario s = l.scenario;
    const int n = static_cast<int>(state.range(0));
    s.grid.nx = s.grid.ny = n;
    s.grid.nz = 1;
    s.tumourRadiusUm = 0.47 * n * s.grid.voxelUm;
    s.durationMin = 6;
    s.snapshotIntervalMin = 0;
    const double tumour = 3.14159 * 0.47 * 0.47 * n * n;
    s.populations[0].count = static_cast<std::int64_t>(tumour * 0.01);
    s.populations[0].innerRadiusUm = 0;
    s.populations[0].outerRadiusUm = 0.5 * n * s.grid.voxelUm;
    s.populations[1].count = static_cast<std::int64_t>(tumour * 0.002);
    s.populations[1].innerRadiusUm = 0;
    s.populations[1].outerRadiusUm = 0.5 * n * s.grid.voxelUm;
    run(state, l.model, s, 2);
}
BENCHMARK(BM_Scaling2d)->Arg(120)->Arg(380)->Arg(1200)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

}  // namespace
