// Calibration (issue 12, item 2): objective evaluations per second of `nkscape calibrate` on a
// small target set — the untreated doubling times of the TNBC, HER2+ and luminal A scenarios
// (three one-year simulations) and the blood NK count — with 1 and 2 threads (the target files
// are spread over the threads of a calibration::EvaluationPool, as in a fit). MPI ranks: run the CLI under
// mpirun and read summary.json's run.evaluations_per_second (docs/calibration.md, "Cost").

#include <benchmark/benchmark.h>

#include <algorithm>

#include "nkscape/calibration/evaluate.hpp"
#include "nkscape/calibration/fit.hpp"
#include "nkscape/calibration/targets.hpp"

namespace {

using namespace nkscape::calibration;

const Evaluator& smallSet() {
    static const Evaluator e = [] {
        auto all = loadTargets(std::filesystem::path(NKSCAPE_SOURCE_DIR) / "calibration/targets.toml");
        std::vector<Target> picked;
        for (const auto& t : all)
            if (t.id == "TA1-TNBC" || t.id == "TA1-HER2" || t.id == "TA1-ER" || t.id == "TB2") picked.push_back(t);
        return Evaluator(picked, {"cell_type/TNBC/doubling_time", "cell_type/CD56dim NK/blood_count"});
    }();
    return e;
}

// Arg 0: threads.
void BM_Calibrate_ObjectiveEvaluation(benchmark::State& state) {
    const Evaluator& e = smallSet();
    std::vector<std::size_t> all(e.targets().size());
    for (std::size_t k = 0; k < all.size(); ++k) all[k] = k;
    const auto params = freeParameters(e);
    std::vector<double> values(params.size());
    std::size_t i = 0;
    double f = 0;
    EvaluationPool pool(e, static_cast<int>(state.range(0)));
    for (auto _ : state) {
        // A different point each time, as in a fit (midpoints between the model's value and the range).
        for (std::size_t j = 0; j < params.size(); ++j) values[j] = params[j].toValue(0.25 + 0.5 * static_cast<double>((i + j) % 5) / 4.0);
        ++i;
        f = objective(e, all, pool.evaluate(values, all));
        benchmark::DoNotOptimize(f);
    }
    state.counters["evaluations_per_s"] = benchmark::Counter(1.0, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["targets"] = static_cast<double>(e.targets().size());
    state.counters["simulated_days_per_evaluation"] = e.simulatedDaysPerEvaluation();
}
BENCHMARK(BM_Calibrate_ObjectiveEvaluation)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
