// Virtual trials (issue 11, item 8): patients per second per core of the default two-arm TNBC
// trial (weekly avelumab vs untreated, two years of follow-up, scenarios/trials/), with 1 and 2
// threads, and the memory per patient record. MPI ranks: scripts/bench-trial-mpi.sh (a benchmark
// process cannot launch mpirun).

#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include "nkscape/trial/trial.hpp"

namespace {

const nkscape::trial::LoadedTrial& defaultTrial() {
    static const auto t = nkscape::trial::loadTrial(std::filesystem::path(NKSCAPE_SOURCE_DIR) /
                                                    "scenarios/trials/tnbc-avelumab-weekly-vs-untreated.toml");
    return t;
}

// Arg 0: threads; arg 1: patients.
void BM_Trial_TnbcWeeklyTwoArms(benchmark::State& state) {
    auto t = defaultTrial();
    t.patients = state.range(1);
    nkscape::trial::TrialRunOptions o;
    o.threads = static_cast<int>(state.range(0));
    std::size_t records = 0, bytes = 0;
    long steps = 0;
    for (auto _ : state) {
        const auto run = nkscape::trial::runTrial(t, o);
        records = run.records.size();
        steps = 0;
        bytes = 0;
        for (const auto& r : run.records) {
            steps += r.steps;
            bytes += sizeof(r) + r.draw.values.capacity() * sizeof(double) + (r.assessmentDays.capacity() + r.sld_mm.capacity()) * sizeof(double);
            for (const auto& s : r.draw.attributes) bytes += s.capacity();
            for (const auto& s : r.draw.biomarkers) bytes += s.capacity();
        }
        benchmark::DoNotOptimize(records);
    }
    state.counters["patients_per_s"] = benchmark::Counter(static_cast<double>(records), benchmark::Counter::kIsIterationInvariantRate);
    state.counters["patients_per_s_per_thread"] =
        benchmark::Counter(static_cast<double>(records) / static_cast<double>(state.range(0)), benchmark::Counter::kIsIterationInvariantRate);
    state.counters["steps_per_patient"] = static_cast<double>(steps) / static_cast<double>(records);
    state.counters["record_bytes_per_patient"] = static_cast<double>(bytes) / static_cast<double>(records);
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    state.counters["peak_rss_mib"] = static_cast<double>(usage.ru_maxrss) / 1024.0;
}
BENCHMARK(BM_Trial_TnbcWeeklyTwoArms)->Args({1, 200})->Args({2, 200})->Args({2, 1000})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
