// Loading and compiling the default model: how long a run's start-up costs.
#include <benchmark/benchmark.h>

#include "nkscape/model/loader.hpp"

static void BM_LoadDefaultModel(benchmark::State& state) {
    std::size_t params = 0;
    for (auto _ : state) {
        auto m = nkscape::model::loadModel(std::filesystem::path(NKSCAPE_SOURCE_DIR "/models/default.toml"));
        params = m.parameters().size();
        benchmark::DoNotOptimize(params);
    }
    state.counters["parameters"] = static_cast<double>(params);
    state.counters["params/s"] = benchmark::Counter(static_cast<double>(params) * static_cast<double>(state.iterations()),
                                                    benchmark::Counter::kIsRate);
}
BENCHMARK(BM_LoadDefaultModel)->Unit(benchmark::kMillisecond);
