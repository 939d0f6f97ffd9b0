// Output files of `nkscape simulate`: timeseries.csv, events.csv and summary.json, written as one
// run folder (io/run.hpp), with the immunoediting phases of the tumour (analysis/immunoediting.hpp).

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "nkscape/analysis/immunoediting.hpp"
#include "nkscape/error.hpp"
#include "nkscape/io/csv.hpp"
#include "nkscape/io/run.hpp"
#include "nkscape/io/json.hpp"
#include "nkscape/qsp/scenario.hpp"
#include "nkscape/version.hpp"

namespace nkscape::qsp {

namespace {

using io::Json;
using model::Index;
using model::Kind;

std::optional<std::size_t> columnIndex(const SimulationResult& r, const std::string& name) {
    for (std::size_t j = 0; j < r.columns.size(); ++j)
        if (r.columns[j] == name) return j;
    return std::nullopt;
}

/// The tumour trajectory of the result: total cells and each clone, with the clones' ligand
/// multipliers that the classifier's trait table knows as traits.
analysis::TumourTrajectory trajectory(const LoadedSimulationScenario& l, const SimulationResult& r,
                                      const analysis::ImmunoeditingRules& rules) {
    analysis::TumourTrajectory t;
    t.name = l.name.empty() ? l.path : l.name;
    t.times_d = r.times;
    const auto total = columnIndex(r, "tumour.cells");
    if (!total) throw InputError("simulate: the result has no column 'tumour.cells'");
    for (const auto& row : r.rows) t.totalCells.push_back(row[*total]);
    for (const auto& c : l.spec.clones) {
        const auto col = columnIndex(r, "clone." + c.name);
        if (!col) continue;
        analysis::Clone clone;
        clone.name = c.name;
        for (const auto& row : r.rows) clone.cells.push_back(row[*col]);
        // The clone's effective profile (after regulation) when the engine gives one, else the
        // ligand multipliers as written; only the traits the classifier's table knows.
        std::map<std::string, double> profile;
        const std::size_t ci = static_cast<std::size_t>(&c - l.spec.clones.data());
        if (ci < r.cloneProfiles.size()) profile = r.cloneProfiles[ci];
        else
            for (const auto& [lig, mult] : c.ligandMultipliers) profile[l.model.entities(Kind::Ligand)[lig].name] = mult;
        for (const auto& entry : profile) {
            // Not a structured binding: C++20 lambdas (clang) cannot capture one.
            const std::string& name = entry.first;
            const double ratio = entry.second;
            const bool known = std::any_of(rules.evasiveTraits.begin(), rules.evasiveTraits.end(),
                                           [&](const analysis::EvasiveTrait& e) { return e.name == name; });
            if (known && std::isfinite(ratio)) clone.traits[name] = ratio;
        }
        t.clones.push_back(std::move(clone));
    }
    return t;
}

Json compositionJson(const std::vector<analysis::CloneFraction>& fractions) {
    Json j = Json::object();
    for (const auto& f : fractions) j[f.name] = io::jsonNumber(f.fraction);
    return j;
}

std::string compositionText(const std::vector<analysis::CloneFraction>& fractions) {
    std::string s;
    for (const auto& f : fractions) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.3g", f.fraction);
        s += (s.empty() ? "" : "; ") + f.name + " " + buf;
    }
    return s;
}

}  // namespace

std::vector<std::filesystem::path> writeSimulationOutputs(io::RunFolder& run, const LoadedSimulationScenario& l,
                                                          const SimulationResult& r, double wallSeconds) {
    const auto& m = l.model;

    // Immunoediting phases; a trajectory too short or too coarse to classify is reported, not fatal.
    const analysis::ImmunoeditingRules rules;
    std::optional<analysis::ImmunoeditingResult> phases;
    std::optional<analysis::EvasionComparison> evasion;
    std::string phaseError;
    try {
        const auto traj = trajectory(l, r, rules);
        phases = analysis::classifyImmunoediting(traj, rules);
        try {
            evasion = analysis::compareEvasion(traj, rules);
        } catch (const InputError&) {
            // no clone cells at one end: no comparison
        }
    } catch (const InputError& e) {
        phaseError = e.what();
    }

    // timeseries.csv
    std::vector<std::string> header{"time_d"};
    for (std::size_t j = 0; j < r.columns.size(); ++j) header.push_back(r.columns[j] + " [" + r.units[j] + "]");
    io::CsvTable series(header);
    for (std::size_t i = 0; i < r.times.size(); ++i) {
        std::vector<io::CsvCell> row{r.times[i]};
        for (double v : r.rows[i]) row.emplace_back(v);
        series.addRow(std::move(row));
    }

    // events.csv: the engine's events and the phase changes, in time order (stable).
    struct Event {
        double t;
        std::string kind, detail;
    };
    std::vector<Event> events;
    for (const auto& e : r.events) events.push_back({e.time_d, e.kind, e.detail});
    if (phases) {
        if (!phases->windows.empty())
            events.push_back({phases->windows.front().start_d, "phase", std::string(analysis::phaseName(phases->windows.front().phase))});
        for (const auto& c : phases->changes) {
            std::string detail = std::string(analysis::phaseName(c.from)) + " -> " + std::string(analysis::phaseName(c.to));
            if (!c.composition.empty()) detail += " (" + compositionText(c.composition) + ")";
            events.push_back({c.time_d, "phase", detail});
        }
    }
    std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.t < b.t; });
    io::CsvTable eventTable({"time_d", "kind", "detail"});
    for (const auto& e : events) eventTable.addRow({e.t, e.kind, e.detail});

    // summary.json
    Json j;
    j["scenario"] = {{"path", l.path}, {"name", l.name}, {"description", l.description}, {"kind", "simulate"}, {"seed", l.seed}};
    j["model"] = {{"file", l.modelFile}, {"name", m.info().name}, {"version", m.info().version}, {"hash", m.info().hash}};
    j["nkscape_version"] = kVersion;

    Json inputs;
    const auto& s = l.spec;
    inputs["duration_d"] = io::jsonNumber(s.durationDays);
    inputs["output_interval_d"] = io::jsonNumber(s.outputIntervalDays);
    inputs["rtol"] = io::jsonNumber(s.ode.rtol);
    inputs["mediator_rtol"] = s.mediatorRtol > 0 ? io::jsonNumber(s.mediatorRtol) : Json(nullptr);
    inputs["atol"] = io::jsonNumber(s.ode.atol);
    inputs["mediator_atol"] = s.mediatorAtol > 0 ? io::jsonNumber(s.mediatorAtol) : Json(nullptr);
    inputs["fraction_atol"] = s.fractionAtol > 0 ? io::jsonNumber(s.fractionAtol) : Json(nullptr);
    inputs["initial_mediators"] = s.initialMediators == InitialMediators::SteadyState ? "steady state" : "basal";
    // How clones below qsp.stochastic_clone_threshold were followed, and the random numbers' key.
    inputs["small_clones"] = {{"mode", s.smallClones == SimulationSpec::SmallClones::Stochastic ? "stochastic" : "continuous"},
                              {"threshold_cells", io::jsonNumber(m.constant("qsp.stochastic_clone_threshold"))},
                              {"seed", s.seed},
                              {"stream", s.stream}};
    inputs["tumour_cell_type"] = m.entities(Kind::CellType)[s.tumourCellType].name;
    Json clones = Json::array();
    auto multipliers = [&](Kind kind, const std::vector<std::pair<Index, double>>& list) {
        Json out = Json::object();
        for (const auto& [i, mult] : list) out[m.entities(kind)[i].name] = io::jsonNumber(mult);
        return out;
    };
    for (const auto& c : s.clones) {
        clones.push_back({{"name", c.name},
                          {"initial_cells", io::jsonNumber(c.initialCells)},
                          {"switch_per_division", io::jsonNumber(c.switchPerDivision)},
                          {"ligand_multipliers", multipliers(Kind::Ligand, c.ligandMultipliers)},
                          {"factor_multipliers", multipliers(Kind::Factor, c.factorMultipliers)},
                          {"secretion_multipliers", multipliers(Kind::Mediator, c.secretionMultipliers)}});
    }
    inputs["clones"] = clones;
    Json pops = Json::array();
    for (const auto& p : s.populations)
        pops.push_back({{"cell_type", m.entities(Kind::CellType)[p.cellType].name},
                        {"initial_cells", io::jsonNumber(p.initialCells)},
                        {"influx_cell_per_d", io::jsonNumber(p.influxPerDay)},
                        {"influx_per_tumour_cell_per_d", io::jsonNumber(p.influxPerTumourCell)},
                        {"blood", p.blood}});
    inputs["populations"] = pops;
    Json overrides = Json::array();
    for (const auto& [id, value] : l.overrides) {
        const auto& info = m.parameter(id);
        overrides.push_back({{"parameter", info.path}, {"value", io::jsonNumber(value)}, {"unit", info.internalUnit}});
    }
    inputs["overrides"] = overrides;
    inputs["patient"] = {{"weight_kg", l.body.weight_kg ? io::jsonNumber(*l.body.weight_kg) : Json(nullptr)},
                         {"surface_m2", l.body.surface_m2 ? io::jsonNumber(*l.body.surface_m2) : Json(nullptr)}};
    Json doses = Json::array();
    for (const auto& d : l.doses)
        doses.push_back({{"therapy", d.therapy},
                         {"amount", d.amount},
                         {"loading", d.loading},
                         {"schedule", d.schedule},
                         {"start_d", io::jsonNumber(d.startDay)},
                         {"infusion", d.infusion}});
    inputs["doses"] = doses;
    Json regimens = Json::array();
    for (const auto& d : s.drugs) {
        Json list = Json::array();
        for (const auto& x : d.regimen.doses())
            list.push_back({{"time_d", io::jsonNumber(x.time_d)}, {"amount", io::jsonNumber(x.amount)}, {"duration_d", io::jsonNumber(x.duration_d)}});
        regimens.push_back({{"therapy", m.entities(Kind::Therapy)[d.therapy].name},
                            {"unit", d.regimen.unit()},
                            {"total", io::jsonNumber(d.regimen.totalAmount())},
                            {"doses", list}});
    }
    inputs["resolved_doses"] = regimens;
    j["inputs"] = inputs;

    j["solver"] = {{"steps", r.stats.steps},
                   {"rhs_evaluations", r.stats.rhsEvals},
                   {"rhs_evaluations_for_jacobian", r.stats.rhsEvalsForJacobian},
                   {"jacobian_evaluations", r.stats.jacobianEvals},
                   {"error_test_failures", r.stats.errorTestFailures},
                   {"nonlinear_iterations", r.stats.nonlinearIterations},
                   {"nonlinear_convergence_failures", r.stats.nonlinearConvergenceFailures}};

    Json finalState = Json::object();
    if (!r.rows.empty()) {
        finalState["time_d"] = io::jsonNumber(r.times.back());
        for (std::size_t c = 0; c < r.columns.size(); ++c)
            finalState[r.columns[c]] = {{"value", io::jsonNumber(r.rows.back()[c])}, {"unit", r.units[c]}};
    }
    j["final_state"] = finalState;

    Json im;
    if (phases) {
        Json windows = Json::array();
        for (const auto& w : phases->windows)
            windows.push_back({{"start_d", io::jsonNumber(w.start_d)},
                               {"end_d", io::jsonNumber(w.end_d)},
                               {"phase", std::string(analysis::phaseName(w.phase))},
                               // NaN by contract when the window has fewer than two samples with
                               // cells (an eliminated tumour): undefined, so null on purpose.
                               {"growth_rate_per_d", io::jsonOptional(std::isnan(w.growthRate_per_d) ? std::nullopt
                                                                                                     : std::optional<double>(w.growthRate_per_d))},
                               {"mean_cells", io::jsonNumber(w.meanCells)},
                               {"end_cells", io::jsonNumber(w.endCells)}});
        Json changes = Json::array();
        for (const auto& c : phases->changes)
            changes.push_back({{"time_d", io::jsonNumber(c.time_d)},
                               {"from", std::string(analysis::phaseName(c.from))},
                               {"to", std::string(analysis::phaseName(c.to))},
                               {"composition", compositionJson(c.composition)}});
        im["final_phase"] = phases->windows.empty() ? Json(nullptr) : Json(std::string(analysis::phaseName(phases->windows.back().phase)));
        im["windows"] = windows;
        im["changes"] = changes;
        if (evasion) im["evasion_score"] = {{"start", io::jsonNumber(evasion->scoreStart)}, {"end", io::jsonNumber(evasion->scoreEnd)}, {"enriched", evasion->enriched}};
    } else {
        im["error"] = phaseError;
    }
    j["immunoediting"] = im;
    // What the run did not do as asked (doses after the end, ...): the engine's sentences.
    Json warnings = Json::array();
    for (const auto& w : r.warnings) warnings.push_back(w);
    j["warnings"] = warnings;
    if (r.stoppedAt_d) j["stopped_at_d"] = io::jsonNumber(*r.stoppedAt_d);  // only when the run ended at a tumour burden
    j["wall_seconds"] = io::jsonNumber(wallSeconds);

    // Everything is rendered above, so a refused value (NaN) has stopped the run before any write.
    run.add("timeseries.csv", series.str());
    run.add("events.csv", eventTable.str());
    run.add("summary.json", io::jsonText(j));
    return run.commit();
}

}  // namespace nkscape::qsp
