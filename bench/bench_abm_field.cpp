// The spatial engine's fields on the reference workload's grid (issue 13 item 7; docs/abm.md,
// "Fields"): PhysiCell 1.14's 3-D cancer–immune sample, a 1.5 mm cube of 20 µm voxels (75³ =
// 421,875 voxels) with O₂ (D = 1e5 µm²/min, decay 0.1 /min, 38 mmHg outside) and the
// immunostimulatory factor (D = 1e3 µm²/min, decay 0.016 /min; the sample's values), a tumour
// sphere of ~18,000 voxels consuming O₂ at 10 /min and secreting the factor, and ~7,500 immune
// cells around it consuming O₂ at 1 /min. Reports voxel-field updates per second (voxels × fields
// × sub-steps / wall time) at 1 and 2 threads — PhysiCell's BioFVM does 42 M/s on this machine —
// and the write time of one reference-size snapshot. Run with --benchmark_repetitions=5 and read
// the medians: the machine is shared and noisy.
#include <benchmark/benchmark.h>

#include <cmath>
#include <filesystem>
#include <string>

#include <unistd.h>

#include "nkscape/abm/field.hpp"
#include "nkscape/abm/snapshot.hpp"

using namespace nkscape::abm;

namespace {

constexpr int kN = 75;

FieldSet referenceFields() {
    const Grid g{kN, kN, kN, 20.0};
    FieldSpec o2;
    o2.name = "oxygen";
    o2.diffusionUm2PerMin = 1e5;
    o2.decayPerMin = 0.1;
    o2.boundary = Boundary::Dirichlet;
    o2.boundaryValue = 38.0;
    o2.initialValue = 38.0;
    o2.unit = "mmHg";
    FieldSpec factor;
    factor.name = "immunostimulatory factor";
    factor.diffusionUm2PerMin = 1e3;
    factor.decayPerMin = 0.016;
    factor.boundary = Boundary::Dirichlet;
    factor.unit = "dimensionless";
    FieldSet fs(g, {o2, factor});
    // Tumour: the voxels within 16.3 voxels of the centre (~18,100); immune cells: every 7th voxel
    // of the shell 16.3–26 voxels (~7,500).
    const double c = (kN - 1) / 2.0;
    std::size_t tumour = 0, immune = 0;
    for (int z = 0; z < kN; ++z)
        for (int y = 0; y < kN; ++y)
            for (int x = 0; x < kN; ++x) {
                const double r = std::sqrt((x - c) * (x - c) + (y - c) * (y - c) + (z - c) * (z - c));
                const std::size_t i = g.index(x, y, z);
                if (r <= 16.3) {
                    fs.uptake(0)[i] = 10.0;
                    fs.source(1)[i] = 1.0;
                    ++tumour;
                } else if (r <= 26.0 && i % 7 == 0) {
                    fs.uptake(0)[i] = 1.0;
                    ++immune;
                }
            }
    (void)tumour;
    (void)immune;
    return fs;
}

// One engine field step of dt minutes (range(1) in 1/1000 min), at range(0) threads.
void BM_AbmFieldsReference(benchmark::State& state) {
    const int threads = static_cast<int>(state.range(0));
    const double dt = static_cast<double>(state.range(1)) / 1000.0;
    FieldSet fs = referenceFields();
    double updates = 0.0;
    for (auto _ : state) {
        fs.step(dt, threads);
        for (std::size_t f = 0; f < fs.size(); ++f) updates += double(fs.grid().voxels()) * fs.substeps(f, dt);
    }
    state.counters["voxel_field_updates_per_s"] = benchmark::Counter(updates, benchmark::Counter::kIsRate);
    state.counters["substeps_o2"] = fs.substeps(0, dt);
    state.counters["substeps_factor"] = fs.substeps(1, dt);
    // Simulated minutes per wall second, and what 60 simulated minutes would take.
    state.counters["sim_min_per_s"] = benchmark::Counter(dt * double(state.iterations()), benchmark::Counter::kIsRate);
    state.SetLabel(std::to_string(threads) + " thread(s), dt " + std::to_string(dt) + " min");
}
BENCHMARK(BM_AbmFieldsReference)
    ->Args({1, 100})
    ->Args({2, 100})
    ->Args({1, 10})
    ->Args({2, 10})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// One reference-size snapshot (75³ voxels × 2 fields, 25,500 agents) written to HDF5.
void BM_AbmSnapshotReference(benchmark::State& state) {
    const FieldSet fs = referenceFields();
    AgentColumns a;
    a.kindNames = {"tumour", "immune"};
    for (std::int32_t i = 0; i < 25500; ++i) {
        a.id.push_back(i);
        a.x.push_back(i % kN);
        a.y.push_back((i / kN) % kN);
        a.z.push_back((i / (kN * kN)) % kN);
        a.kind.push_back(i < 18000 ? 0 : 1);
        a.clone.push_back(0);
    }
    const Snapshot s{.timeMin = 60.0, .step = 600, .grid = &fs.grid(), .fields = &fs, .agents = &a};
    const auto dir = std::filesystem::temp_directory_path() / ("nkscape-bench-abm-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    for (auto _ : state) writeSnapshotHdf5(dir / "snap.h5", s);
    state.counters["MB"] = double(std::filesystem::file_size(dir / "snap.h5")) / 1e6;
    std::filesystem::remove_all(dir);
}
BENCHMARK(BM_AbmSnapshotReference)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
