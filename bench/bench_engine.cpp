// The well-mixed engine: time per simulated patient-year, without and with weekly dosing, solver
// work (RHS and Jacobian evaluations, Jacobian reuses after doses, Newton iterations, steps), and
// how the cost grows with the number of clones. Run with --benchmark_repetitions=5 and read the
// medians: the machines are shared and noisy. The target is < 5 ms per TNBC patient-year with
// weekly dosing on one core.
#include <benchmark/benchmark.h>

#include <string>

#include <sys/resource.h>

#include "nkscape/model/loader.hpp"
#include "nkscape/qsp/engine.hpp"
#include "nkscape/qsp/scenario.hpp"

#include "default_model.hpp"

using namespace nkscape;
using namespace nkscape::model;

namespace {

using nkscape::testing::defaultModel;

/// A patient-year of `tumour` with `clones` clones and one NK population; with `weeklyDrug` (a
/// therapy name), 52 weekly doses of `dose` after a loading dose `loading`. At the shipped
/// scenarios' tolerances (the scenario reader's defaults), not the C++ API's tighter defaults.
qsp::SimulationSpec patientYear(const char* tumour, int clones, const char* weeklyDrug = nullptr, const char* dose = "2 mg/kg",
                                const char* loading = "4 mg/kg") {
    const auto& m = defaultModel();
    qsp::SimulationSpec s;
    s.tumourCellType = m.require(Kind::CellType, tumour);
    s.clones.push_back(qsp::CloneSpec{.name = "founding", .initialCells = 1e9});
    const Index hla = m.require(Kind::Ligand, "HLA-I");
    for (int c = 1; c < clones; ++c)
        s.clones.push_back(qsp::CloneSpec{.name = "variant" + std::to_string(c), .ligandMultipliers = {{hla, 1.0 / (c + 1)}}, .switchPerDivision = 1e-5});
    s.populations.push_back(qsp::PopulationSpec{.cellType = m.require(Kind::CellType, "CD56dim NK"), .initialCells = 1e7, .influxPerDay = 1e6});
    if (weeklyDrug != nullptr) {
        const Index t = m.require(Kind::Therapy, weeklyDrug);
        const auto pk = qsp::DrugPk::fromTherapy(m, t);
        qsp::DosingSpec spec;
        spec.amount = dose;
        spec.loadingAmount = loading;
        spec.schedule = "q1w x 52";
        qsp::BodySize body;
        body.weight_kg = 70;
        s.drugs.push_back(qsp::DrugRegimen{t, qsp::DosingRegimen::parse(spec, pk, body)});
    }
    s.durationDays = 365;
    s.outputIntervalDays = 7;
    s.ode.rtol = 1e-5;
    s.ode.atol = 1e-3;
    s.mediatorAtol = 1e-1;
    s.fractionAtol = 1e-4;
    return s;
}

// The engine's model preparation (Regulator, Synapse) is done once per model, as a virtual trial
// does: the time per patient-year is what each further patient costs.
void run(benchmark::State& state, const qsp::SimulationSpec& spec, const CompiledModel& model = defaultModel()) {
    const qsp::EngineModel engine(model);
    qsp::OdeStats st;
    for (auto _ : state) {
        const auto r = qsp::simulate(engine, spec);
        st = r.stats;
        benchmark::DoNotOptimize(r);
    }
    // Per patient-year (the same every iteration: the run is deterministic).
    state.counters["rhs_evals"] = static_cast<double>(st.rhsEvals);
    state.counters["rhs_for_jac"] = static_cast<double>(st.rhsEvalsForJacobian);
    state.counters["jac_evals"] = static_cast<double>(st.jacobianEvals);
    state.counters["jac_reuses"] = static_cast<double>(st.jacobianReuses);
    state.counters["steps"] = static_cast<double>(st.steps);
    state.counters["newton_iters"] = static_cast<double>(st.nonlinearIterations);
    state.counters["err_test_fails"] = static_cast<double>(st.errorTestFailures);
    // Peak resident memory of the whole benchmark process so far (MiB): an upper bound for one run.
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    state.counters["peak_rss_mib"] = static_cast<double>(usage.ru_maxrss) / 1024.0;
}

}  // namespace

static void BM_PatientYear_TnbcUntreated(benchmark::State& state) { run(state, patientYear("TNBC", 1)); }
BENCHMARK(BM_PatientYear_TnbcUntreated)->Unit(benchmark::kMillisecond);

static void BM_PatientYear_Her2WeeklyTrastuzumab(benchmark::State& state) {
    run(state, patientYear("HER2-enriched", 1, "trastuzumab"));
}
BENCHMARK(BM_PatientYear_Her2WeeklyTrastuzumab)->Unit(benchmark::kMillisecond);

// A one-population TNBC with a weekly antibody (avelumab, anti-PD-L1 with ADCC; weekly rather than
// its clinical q2w, as in the trastuzumab case). The target case is the shipped default
// scenario below (BM_PatientYear_DefaultTnbcScenarioWeeklyAvelumab/0).
static void BM_PatientYear_TnbcWeeklyAvelumab(benchmark::State& state) {
    run(state, patientYear("TNBC", 1, "avelumab", "10 mg/kg", "10 mg/kg"));
}
BENCHMARK(BM_PatientYear_TnbcWeeklyAvelumab)->Unit(benchmark::kMillisecond);

static void BM_PatientYear_Clones(benchmark::State& state) {
    run(state, patientYear("TNBC", static_cast<int>(state.range(0))));
}
BENCHMARK(BM_PatientYear_Clones)->Arg(1)->Arg(2)->Arg(4)->Arg(8)->Unit(benchmark::kMillisecond);

// The exact PK propagator an engine can call in its RHS instead of integrating the drug's states.
static void BM_DrugPkAdvanceLinear(benchmark::State& state) {
    const auto pk = qsp::DrugPk::fromTherapy(defaultModel(), "trastuzumab");
    std::vector<double> y(pk.stateCount(), 0.0);
    double dt = 0.001;
    for (auto _ : state) {
        std::fill(y.begin(), y.end(), 0.0);
        y[pk.centralState()] = 280.0;
        pk.advanceLinear(y, 0, dt, 0.0);
        dt = dt < 7.0 ? dt * 1.5 : 0.001;  // the spread of times within a dosing week
        benchmark::DoNotOptimize(y.data());
    }
}
BENCHMARK(BM_DrugPkAdvanceLinear);

// The case: the shipped default TNBC scenario (scenarios/simulate/tnbc-untreated.toml:
// founding clone and three evasive clones; CD56dim NK, CD8 T and Treg cells with blood pools,
// MDSCs, M2 TAMs, CAFs; 25 mediators) for one year with weekly avelumab 10 mg/kg as 60-min
// infusions, at the scenario's tolerances (/0: as shipped, rtol 1e-5, atol 1e-3 cell, mediator
// atol 10 % of basal), and /1: at the first engine's tolerances (rtol 1e-6, atol 1e-3 in every
// state's own unit), for comparison; /2: small clones continuous. The weekly outputs fall on the infusions' starts, so the
// solver lands there (docs/qsp.md, "Stops and outputs"). An untreated year is BM_PatientYear_DefaultTnbcScenarioUntreated.
static void BM_PatientYear_DefaultTnbcScenarioWeeklyAvelumab(benchmark::State& state) {
    static const auto loaded = qsp::loadSimulationScenario(std::filesystem::path(NKSCAPE_SOURCE_DIR "/scenarios/simulate/tnbc-untreated.toml"));
    qsp::SimulationSpec s = loaded.spec;
    s.durationDays = 365;
    const Index t = loaded.model.require(Kind::Therapy, "avelumab");
    qsp::DosingSpec d;
    d.amount = "10 mg/kg";
    d.schedule = "q1w x 52";
    d.infusion = "60 min";
    s.drugs.push_back(qsp::DrugRegimen{t, qsp::DosingRegimen::parse(d, qsp::DrugPk::fromTherapy(loaded.model, t), qsp::BodySize{70.0, 1.8})});
    if (state.range(0) == 1) {
        s.ode.rtol = 1e-6;
        s.mediatorAtol = 0;
    }
    // /2: as shipped but small_clones = "continuous" (the scenario's default is "stochastic": the
    // three variants start as whole cells and rejoin the ODE at ~0.3 d; docs/qsp.md, "Small clones").
    if (state.range(0) == 2) s.smallClones = qsp::SimulationSpec::SmallClones::Continuous;
    run(state, s, loaded.model);
}
BENCHMARK(BM_PatientYear_DefaultTnbcScenarioWeeklyAvelumab)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);

// The same scenario untreated: the cost of a patient-year without dosing.
static void BM_PatientYear_DefaultTnbcScenarioUntreated(benchmark::State& state) {
    static const auto loaded = qsp::loadSimulationScenario(std::filesystem::path(NKSCAPE_SOURCE_DIR "/scenarios/simulate/tnbc-untreated.toml"));
    qsp::SimulationSpec s = loaded.spec;
    s.durationDays = 365;
    run(state, s, loaded.model);
}
BENCHMARK(BM_PatientYear_DefaultTnbcScenarioUntreated)->Unit(benchmark::kMillisecond);

// Issue 10, item 3: an hourly regimen of 100,000 doses (q1h x 100000, 11 years of doses) of a
// short-half-life drug. BM_HourlyDoses_Lookups: the regimen's lookups alone, as the driver makes
// them (at every input change, infusionRate and bolusAt), /0 boluses, /1 15-min infusions;
// O(n log n) since the lookups are binary searches (a linear scan each made it quadratic, ~10 s).
// BM_HourlyDoses_Simulate: a year of the default TNBC scenario with the boluses (8,766 doses in
// the year, the rest reported as not given); the bar is < 1 s.
static qsp::DosingRegimen hourlyIl2(const CompiledModel& m, const char* infusion = "") {
    const Index t = m.require(Kind::Therapy, "IL-2 therapy");
    qsp::DosingSpec d;
    d.amount = "0.01 mg";
    d.schedule = "q1h x 100000";
    d.infusion = infusion;
    return qsp::DosingRegimen::parse(d, qsp::DrugPk::fromTherapy(m, t), qsp::BodySize{70.0, 1.8});
}

static void BM_HourlyDoses_Lookups(benchmark::State& state) {
    const auto reg = hourlyIl2(defaultModel(), state.range(0) != 0 ? "15 min" : "");
    for (auto _ : state) {
        double sum = 0;
        for (double t : reg.eventTimes()) sum += reg.infusionRate(t) + reg.bolusAt(t);
        benchmark::DoNotOptimize(sum);
    }
}
BENCHMARK(BM_HourlyDoses_Lookups)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// /0: IL-2 IV boluses (in the ODE: each bolus restarts CVODE and its minutes-long transient is
// resolved, ~25 steps per dose); /1: trastuzumab 1 mg IV boluses (linear PK propagated exactly
// outside the ODE: no restart).
static void BM_HourlyDoses_Simulate(benchmark::State& state) {
    static const auto loaded = qsp::loadSimulationScenario(std::filesystem::path(NKSCAPE_SOURCE_DIR "/scenarios/simulate/tnbc-untreated.toml"));
    qsp::SimulationSpec s = loaded.spec;
    s.durationDays = 365;
    if (state.range(0) == 0) {
        s.drugs.push_back(qsp::DrugRegimen{loaded.model.require(Kind::Therapy, "IL-2 therapy"), hourlyIl2(loaded.model)});
    } else {
        const Index t = loaded.model.require(Kind::Therapy, "trastuzumab");
        qsp::DosingSpec d;
        d.amount = "1 mg";
        d.schedule = "q1h x 100000";
        s.drugs.push_back(qsp::DrugRegimen{t, qsp::DosingRegimen::parse(d, qsp::DrugPk::fromTherapy(loaded.model, t), qsp::BodySize{70.0, 1.8})});
    }
    run(state, s, loaded.model);
}
BENCHMARK(BM_HourlyDoses_Simulate)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(1);
