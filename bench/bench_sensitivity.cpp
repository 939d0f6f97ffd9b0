// Global sensitivity (issue 12, item 4): evaluations per second of the untreated-TNBC outputs of
// tests/data/sensitivity/short.toml (tumour cells at 90 d and the NK peak, one year of
// scenarios/simulate/tnbc-untreated.toml simulated per evaluation) through the path
// `nkscape sensitivity` takes — calibration::Evaluator behind sensitivity::evaluatorFunction, a
// Saltelli design over its 4 parameters evaluated by sensitivity::evaluateDesign — with 1 and 2
// threads. (Random points of the whole ranged space cost far more: docs/sensitivity.md, "Cost".) MPI ranks split the same rows
// (docs/sensitivity.md, "Reproducible"); a benchmark process cannot launch mpirun.

#include <benchmark/benchmark.h>

#include <cmath>

#include "nkscape/calibration/evaluate.hpp"
#include "nkscape/sensitivity/analysis.hpp"
#include "nkscape/sensitivity/sensitivity.hpp"

namespace {

namespace sens = nkscape::sensitivity;

// The analysis's outputs and its 4 parameters.
struct Setup {
    sens::Analysis analysis;
    std::vector<sens::Dimension> dims;
    std::vector<std::string> paths;
    std::unique_ptr<nkscape::calibration::Evaluator> evaluator;
};

const Setup& setup() {
    static const Setup s = [] {
        Setup r;
        r.analysis = sens::loadAnalysis(std::filesystem::path(NKSCAPE_SOURCE_DIR) / "tests/data/sensitivity/short.toml");
        const auto plan = sens::planAnalysis(r.analysis);
        for (const auto& p : plan.parameters) {
            r.dims.push_back(p.dimension);
            r.paths.push_back(p.path);
        }
        r.evaluator = std::make_unique<nkscape::calibration::Evaluator>(r.analysis.outputs, r.paths);
        return r;
    }();
    return s;
}

// Arg 0: threads; arg 1: Saltelli base samples N (N x 6 evaluations).
void BM_Sensitivity_TnbcUntreatedEvaluations(benchmark::State& state) {
    const Setup& s = setup();
    const auto n = static_cast<std::size_t>(state.range(1));
    const sens::Matrix design = sens::saltelliDesign(n, s.dims.size(), 1);
    const std::vector<bool> log10 = {true, false};
    const auto f = sens::evaluatorFunction(*s.evaluator, s.dims, log10, nullptr);
    sens::EvaluationOptions o;
    o.threads = static_cast<int>(state.range(0));
    std::size_t failed = 0;
    for (auto _ : state) {
        const sens::Matrix y = sens::evaluateDesign(design, s.analysis.outputs.size(), f, o);
        failed = 0;
        for (const double v : y.data) failed += std::isfinite(v) ? 0 : 1;
        benchmark::DoNotOptimize(y.data.data());
    }
    state.counters["evaluations_per_s"] = benchmark::Counter(static_cast<double>(design.rows), benchmark::Counter::kIsIterationInvariantRate);
    state.counters["evaluations_per_s_per_thread"] =
        benchmark::Counter(static_cast<double>(design.rows) / static_cast<double>(state.range(0)), benchmark::Counter::kIsIterationInvariantRate);
    state.counters["failed"] = static_cast<double>(failed);
}
BENCHMARK(BM_Sensitivity_TnbcUntreatedEvaluations)->Args({1, 32})->Args({2, 32})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);

}  // namespace
