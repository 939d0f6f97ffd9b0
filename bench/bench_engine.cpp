// The well-mixed engine: wall time per simulated patient-year, without and with weekly dosing,
// solver work (RHS and Jacobian evaluations), and how the cost grows with the number of clones.
#include <benchmark/benchmark.h>

#include <string>

#include "nkscape/model/loader.hpp"
#include "nkscape/qsp/engine.hpp"

using namespace nkscape;
using namespace nkscape::model;

namespace {

const CompiledModel& defaultModel() {
    static const auto m = loadModel(std::filesystem::path(NKSCAPE_SOURCE_DIR "/models/default.toml"));
    return m;
}

qsp::SimulationSpec patientYear(const char* tumour, int clones, bool weeklyDosing) {
    const auto& m = defaultModel();
    qsp::SimulationSpec s;
    s.tumourCellType = m.require(Kind::CellType, tumour);
    s.clones.push_back(qsp::CloneSpec{.name = "founding", .initialCells = 1e9});
    const Index hla = m.require(Kind::Ligand, "HLA-I");
    for (int c = 1; c < clones; ++c)
        s.clones.push_back(qsp::CloneSpec{.name = "variant" + std::to_string(c), .ligandMultipliers = {{hla, 1.0 / (c + 1)}}, .switchPerDivision = 1e-5});
    s.populations.push_back(qsp::PopulationSpec{.cellType = m.require(Kind::CellType, "CD56dim NK"), .initialCells = 1e7, .influxPerDay = 1e6});
    if (weeklyDosing) {
        const Index t = m.require(Kind::Therapy, "trastuzumab");
        const auto pk = qsp::DrugPk::fromTherapy(m, t);
        qsp::DosingSpec spec;
        spec.amount = "2 mg/kg";
        spec.loadingAmount = "4 mg/kg";
        spec.schedule = "q1w x 52";
        qsp::BodySize body;
        body.weight_kg = 70;
        s.drugs.push_back(qsp::DrugRegimen{t, qsp::DosingRegimen::parse(spec, pk, body)});
    }
    s.durationDays = 365;
    s.outputIntervalDays = 7;
    return s;
}

void run(benchmark::State& state, const qsp::SimulationSpec& spec) {
    long rhs = 0, jac = 0, steps = 0;
    for (auto _ : state) {
        const auto r = qsp::simulate(defaultModel(), spec);
        rhs = r.stats.rhsEvals;
        jac = r.stats.jacobianEvals;
        steps = r.stats.steps;
        benchmark::DoNotOptimize(r);
    }
    state.counters["rhs_evals"] = static_cast<double>(rhs);
    state.counters["jac_evals"] = static_cast<double>(jac);
    state.counters["steps"] = static_cast<double>(steps);
}

}  // namespace

static void BM_PatientYear_TnbcUntreated(benchmark::State& state) { run(state, patientYear("TNBC", 1, false)); }
BENCHMARK(BM_PatientYear_TnbcUntreated)->Unit(benchmark::kMillisecond);

static void BM_PatientYear_Her2WeeklyTrastuzumab(benchmark::State& state) { run(state, patientYear("HER2-enriched", 1, true)); }
BENCHMARK(BM_PatientYear_Her2WeeklyTrastuzumab)->Unit(benchmark::kMillisecond);

static void BM_PatientYear_Clones(benchmark::State& state) {
    run(state, patientYear("TNBC", static_cast<int>(state.range(0)), false));
}
BENCHMARK(BM_PatientYear_Clones)->Arg(1)->Arg(2)->Arg(4)->Arg(8)->Unit(benchmark::kMillisecond);
