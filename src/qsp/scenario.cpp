// Simulation scenario files: TOML → SimulationScenario. Every problem is recorded with its
// file:line:column and reported together, like the model loader and the assay reader do; nothing
// is thrown before the whole file has been read. The quantity and name helpers follow
// src/assay/scenario.cpp so that both readers word their errors the same way.

#include "model/toml_names.hpp"
#include "nkscape/qsp/scenario.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>

#include "io/scenario_checker.hpp"
#include "model/spec.hpp"
#include "nkscape/io/file.hpp"
#include "nkscape/model/diagnostics.hpp"
#include "nkscape/model/loader.hpp"
#include "nkscape/model/units.hpp"

namespace nkscape::qsp {

using model::CompiledModel;
using model::Diagnostics;
using model::Index;
using model::Kind;
using model::SourceLocation;

namespace {

constexpr std::string_view kFoundingClone = "founding";
// Default work limits of `nkscape simulate` (docs/limits.md); --allow-large lifts them.
constexpr double kMaxSimulatedDays = 36525;  // 100 years: longer than any patient's course
constexpr double kMaxOutputRows = 1e6;       // ~1e6 rows x ~60 columns is a ~1 GB timeseries.csv
// 1e13 cells is about 10 kg of tumour, or a whole body's worth of a cell type: beyond any patient.
constexpr double kMaxCells = 1e13;
constexpr std::string_view kMaxCellsWhy = "about 10 kg of cells; docs/limits.md";
// A clone's trait or ligand multiplier: 1e6-fold is beyond any measured over-expression.
constexpr double kMaxMultiplier = 1e6;
constexpr std::string_view kMaxMultiplierWhy = "a million-fold change; docs/limits.md";





using io::detail::Sign;

/// Reads one scenario document. `model` may be null (the model failed to load): then everything
/// that does not need the model is still checked.
class Checker : public io::detail::ScenarioChecker {
public:
    using ScenarioChecker::ScenarioChecker;

    SimulationScenario check(const toml::table& doc) {
        SimulationScenario s;
        s.path = path_;
        const toml::table* scenario = nullptr;
        const toml::table* simulation = nullptr;
        const toml::table* tumour = nullptr;
        const toml::table* patient = nullptr;
        const toml::array* clones = nullptr;
        const toml::array* nk = nullptr;
        const toml::array* populations = nullptr;
        const toml::array* doses = nullptr;
        const toml::table* overrides = nullptr;
        for (auto&& [key, node] : doc) {
            const std::string k(key.str());
            if (k == "scenario" || k == "simulation" || k == "tumour" || k == "patient" || k == "overrides") {
                const auto* t = node.as_table();
                if (!t) {
                    error(loc(node), "", k, "expected a table [" + k + "], got " + typeName(node));
                    seen_.push_back(k);
                    continue;
                }
                (k == "scenario" ? scenario : k == "simulation" ? simulation : k == "tumour" ? tumour : k == "patient" ? patient : overrides) = t;
            } else if (k == "clone" || k == "nk" || k == "population" || k == "dose") {
                const auto* a = node.as_array();
                if (!a || !a->is_array_of_tables()) {
                    error(loc(node), "", k, "expected an array of tables: write [[" + k + "]] (got " + typeName(node) + ")");
                    seen_.push_back(k);
                    continue;
                }
                (k == "clone" ? clones : k == "nk" ? nk : k == "population" ? populations : doses) = a;
            } else {
                unknownKey(key, "", k, {"scenario", "simulation", "tumour", "clone", "nk", "population", "patient", "dose", "overrides"},
                           "unknown top-level key");
            }
        }
        const SourceLocation top{path_, 1, 1};
        if (scenario) readScenario(*scenario, s);
        else if (!wasSeen("scenario")) error(top, "", "scenario", "missing required table [scenario] (name, kind, model, seed)");
        if (simulation) readSimulation(*simulation, s);
        else if (!wasSeen("simulation")) error(top, "", "simulation", "missing required table [simulation] (duration, output_interval)");
        if (tumour) readTumour(*tumour, s);
        else if (!wasSeen("tumour")) error(top, "", "tumour", "missing required table [tumour] (cell_type, initial_cells)");
        if (clones) {
            std::size_t i = 0;
            for (const auto& item : *clones) readClone(*item.as_table(), ++i, s);
        }
        if (nk) {
            std::size_t i = 0;
            for (const auto& item : *nk) readPopulation(*item.as_table(), "nk", ++i, s);
        }
        if (populations) {
            std::size_t i = 0;
            for (const auto& item : *populations) readPopulation(*item.as_table(), "population", ++i, s);
        }
        if (overrides) readOverrides(*overrides, s);
        if (patient) readPatient(*patient, s);
        if (doses) {
            std::size_t i = 0;
            for (const auto& item : *doses) readDose(*item.as_table(), ++i, s);
        }
        s.spec.seed = s.seed;  // the small clones' random numbers: the scenario's seed, stream 0
        s.spec.stream = 0;
        return s;
    }

private:


    /// An optional plain number > 0 (tolerances).
    std::optional<double> positiveNumber(const toml::table& t, std::string_view key, const std::string& entity) {
        const toml::node* n = t.get(key);
        if (!n) return std::nullopt;
        std::optional<double> x;
        if (const auto* i = n->as_integer()) x = static_cast<double>(i->get());
        else if (const auto* d = n->as_floating_point()) x = d->get();
        if (!x) {
            error(loc(*n), entity, std::string(key), "expected a number, got " + typeName(*n));
            return std::nullopt;
        }
        if (!std::isfinite(*x) || !(*x > 0)) {
            error(loc(*n), entity, std::string(key), "must be > 0, got " + fmtNumber(*x));
            return std::nullopt;
        }
        return x;
    }

    // ---- [scenario] ------------------------------------------------------------------------------

    void readScenario(const toml::table& t, SimulationScenario& s) {
        auto h = readHeader(t, {"simulate", " (\"simulate\" for a simulation)",
                                "is not a simulation; `nkscape simulate` runs scenarios of kind \"simulate\"", false, "the random seed"});
        s.name = std::move(h.name);
        s.description = std::move(h.description);
        s.modelPath = std::move(h.modelPath);
        s.modelFile = std::move(h.modelFile);
        s.seed = h.seed;
    }

    // ---- [simulation] ----------------------------------------------------------------------------

    void readSimulation(const toml::table& t, SimulationScenario& s) {
        const std::string entity = "[simulation]";
        checkKeys(t, entity, "", {"duration", "output_interval", "rtol", "atol", "mediator_rtol", "mediator_atol", "fraction_atol", "initial_mediators", "small_clones"},
                  "[simulation]");
        if (auto v = requiredQuantity(t, "duration", "d", Sign::Positive, entity, "the simulated time, e.g. { value = 1, unit = \"yr\" }"))
            s.spec.durationDays = *v;
        s.where.duration = t.get("duration") ? loc(*t.get("duration")) : loc(t);
        if (const toml::node* n = t.get("output_interval")) {
            if (auto v = quantity(*n, "d", Sign::Positive, entity, "output_interval")) s.spec.outputIntervalDays = *v;
            s.where.outputInterval = loc(*n);
        } else {
            s.spec.outputIntervalDays = 1;
            s.where.outputInterval = loc(t);
        }
        // Defaults: the tolerances of the shipped scenarios (docs/qsp.md, "Cost", has the study).
        s.spec.ode.rtol = 1e-5;
        s.spec.ode.atol = 1e-3;
        s.spec.mediatorAtol = 1e-1;
        s.spec.fractionAtol = 1e-4;
        if (auto v = positiveNumber(t, "rtol", entity)) {
            // CVODE cannot meet a relative tolerance near the unit round-off, and one of 10 % or
            // more is no answer at all.
            if (*v < 1e-12 || *v > 0.1) error(loc(*t.get("rtol")), entity, "rtol", "must be in [1e-12, 0.1], got " + fmtNumber(*v));
            else s.spec.ode.rtol = *v;
        }
        if (auto v = positiveNumber(t, "atol", entity)) s.spec.ode.atol = *v;
        if (auto v = positiveNumber(t, "mediator_rtol", entity)) s.spec.mediatorRtol = *v;
        if (auto v = positiveNumber(t, "mediator_atol", entity)) s.spec.mediatorAtol = *v;
        if (auto v = positiveNumber(t, "fraction_atol", entity)) s.spec.fractionAtol = *v;
        if (const toml::node* n = t.get("initial_mediators")) {
            const auto v = n->value<std::string>();
            if (v && *v == "steady state") s.spec.initialMediators = InitialMediators::SteadyState;
            else if (v && *v == "basal") s.spec.initialMediators = InitialMediators::Basal;
            else error(loc(*n), entity, "initial_mediators", "expected \"steady state\" or \"basal\"");
        }
        // Small clones (docs/qsp.md, "Small clones"): whole cells by default in a scenario, so a
        // cure is a probability and a response can relapse; the random numbers are the
        // scenario's seed, stream 0.
        s.spec.smallClones = SimulationSpec::SmallClones::Stochastic;
        if (auto v = text(t, "small_clones", entity, false)) {
            if (*v == "stochastic") s.spec.smallClones = SimulationSpec::SmallClones::Stochastic;
            else if (*v == "continuous") s.spec.smallClones = SimulationSpec::SmallClones::Continuous;
            else error(loc(*t.get("small_clones")), entity, "small_clones", "'" + *v + "' is not one of: stochastic, continuous");
        }
    }

    // ---- [tumour] --------------------------------------------------------------------------------

    void readTumour(const toml::table& t, SimulationScenario& s) {
        const std::string entity = "[tumour]";
        checkKeys(t, entity, "", {"cell_type", "initial_cells", "immunogenicity"}, "[tumour]");
        if (auto i = cellType(t, "cell_type", model::CellCategory::Tumour, entity, "the tumour's cells")) s.spec.tumourCellType = *i;
        CloneSpec founding;
        founding.name = std::string(kFoundingClone);
        // 0 is allowed: a healthy donor (no tumour), whose blood pools and plasma are then at rest.
        if (auto v = requiredQuantity(t, "initial_cells", "cell", Sign::NonNegative, entity, "tumour cells at t = 0 (0: no tumour, a healthy donor), e.g. { value = 1e9, unit = \"cell\" }",
                                      kMaxCells, kMaxCellsWhy))
            founding.initialCells = *v;
        // Relative to the template tumour (SimulationSpec::tumourImmunogenicity); a share of CD8 T
        // cells above 1 is capped, so a value past 1/qsp.cd8_tumour_specific_fraction changes nothing.
        if (const toml::node* n = t.get("immunogenicity"))
            if (auto v = quantity(*n, "1", Sign::NonNegative, entity, "immunogenicity", 1e3,
                                  "1e3 times the template's share of tumour-reactive CD8 T cells exceeds every T cell"))
                s.spec.tumourImmunogenicity = *v;
        s.spec.clones.insert(s.spec.clones.begin(), std::move(founding));
    }

    // ---- [[clone]] -------------------------------------------------------------------------------

    void readClone(const toml::table& t, std::size_t ordinal, SimulationScenario& s) {
        std::string entity = "clone #" + std::to_string(ordinal);
        CloneSpec c;
        if (auto n = text(t, "name", entity, true)) {
            const SourceLocation where = loc(*t.get("name"));
            if (n->empty()) {
                error(where, entity, "name", "must not be empty");
            } else {
                entity = "clone '" + *n + "'";
                if (*n == kFoundingClone)
                    error(where, entity, "name", "'founding' is the implicit founding clone (set by [tumour]); choose another name");
                else if (std::find(cloneNames_.begin(), cloneNames_.end(), *n) != cloneNames_.end())
                    error(where, entity, "name", "two clones have this name");
                cloneNames_.push_back(*n);
                c.name = *n;
            }
        }
        checkKeys(t, entity, "", {"name", "ligands", "traits", "switch_per_division", "initial_cells"}, "a [[clone]]");
        if (const toml::node* n = t.get("initial_cells"))
            if (auto v = quantity(*n, "cell", Sign::NonNegative, entity, "initial_cells", kMaxCells, kMaxCellsWhy)) c.initialCells = *v;
        if (const toml::node* n = t.get("switch_per_division")) {
            if (auto v = quantity(*n, "1", Sign::NonNegative, entity, "switch_per_division")) {
                if (*v > 1) error(loc(*n), entity, "switch_per_division", "is a probability: must be <= 1, got " + fmtNumber(*v));
                else c.switchPerDivision = *v;
            }
        }
        if (const toml::node* n = t.get("ligands")) {
            if (const auto* tab = n->as_table()) {
                for (auto&& [k, v] : *tab) {
                    const std::string name(k.str());
                    const std::string dotted = "ligands." + name;
                    auto mult = quantity(v, "1", Sign::NonNegative, entity, dotted, kMaxMultiplier, kMaxMultiplierWhy);
                    auto idx = resolve(name, Kind::Ligand, loc(k), entity, dotted, "ligands multiplies the founding clone's ligand levels");
                    if (!mult || !idx) continue;
                    if (std::any_of(c.ligandMultipliers.begin(), c.ligandMultipliers.end(), [&](const auto& e) { return e.first == *idx; })) {
                        error(loc(k), entity, dotted, "given twice (under another name or alias)");
                        continue;
                    }
                    c.ligandMultipliers.emplace_back(*idx, *mult);
                }
            } else {
                error(loc(*n), entity, "ligands", "expected a table of ligand = { value, unit = \"1\" }, got " + typeName(*n));
            }
        }
        if (const toml::node* n = t.get("traits")) readTraits(*n, entity, c);
        s.spec.clones.push_back(std::move(c));
    }

    /// `traits = { "<ligand|factor|mediator>" = { value, unit = "1" } }`: multipliers of the clone's
    /// heritable levels — a ligand's surface level, a factor's baseline (before regulation, so
    /// "HLA-I methylation" acts through the model's regulations), a mediator's secretion.
    void readTraits(const toml::node& n, const std::string& entity, CloneSpec& c) {
        const auto* tab = n.as_table();
        if (!tab) {
            error(loc(n), entity, "traits", "expected a table of trait = { value, unit = \"1\" }, got " + typeName(n));
            return;
        }
        for (auto&& [k, v] : *tab) {
            const std::string name(k.str());
            const std::string dotted = "traits." + name;
            auto mult = quantity(v, "1", Sign::NonNegative, entity, dotted, kMaxMultiplier, kMaxMultiplierWhy);
            if (!m_) continue;
            const auto ref = m_->find(name);
            if (!ref || (ref->kind != Kind::Ligand && ref->kind != Kind::Factor && ref->kind != Kind::Mediator)) {
                error(loc(k), entity, dotted, "'" + name + "' is not a ligand, factor or mediator of the model (a trait multiplies one of those)");
                continue;
            }
            if (!mult) continue;
            auto& list = ref->kind == Kind::Ligand ? c.ligandMultipliers : ref->kind == Kind::Factor ? c.factorMultipliers : c.secretionMultipliers;
            if (std::any_of(list.begin(), list.end(), [&](const auto& e) { return e.first == ref->index; })) {
                error(loc(k), entity, dotted, "given twice (under another name or alias, or also in ligands)");
                continue;
            }
            list.emplace_back(ref->index, *mult);
        }
    }

    // ---- [[nk]] and [[population]] ---------------------------------------------------------------

    void readPopulation(const toml::table& t, const std::string& table, std::size_t ordinal, SimulationScenario& s) {
        const std::string entity = table + " #" + std::to_string(ordinal);
        checkKeys(t, entity, "", {"cell_type", "initial_cells", "influx", "influx_per_tumour_cell", "blood"}, "a [[" + table + "]]");
        PopulationSpec p;
        Index ct = model::kNoIndex;
        if (table == "nk") {
            if (auto i = cellType(t, "cell_type", model::CellCategory::Nk, entity, "the NK cells of this population")) ct = *i;
        } else if (auto name = text(t, "cell_type", entity, true, " (the cells of this population)")) {
            const SourceLocation where = loc(*t.get("cell_type"));
            if (auto i = resolve(*name, Kind::CellType, where, entity, "cell_type", "the cells of this population")) {
                if (m_->cellTypes()[*i].category == model::CellCategory::Tumour)
                    error(where, entity, "cell_type", "'" + *name + "' is a tumour cell type: the tumour is [tumour] and [[clone]]");
                else
                    ct = *i;
            }
        }
        if (ct != model::kNoIndex) {
            p.cellType = ct;
            if (std::any_of(s.spec.populations.begin(), s.spec.populations.end(), [&](const PopulationSpec& o) { return o.cellType == ct; }))
                error(loc(*t.get("cell_type")), entity, "cell_type", "two populations ([[nk]] or [[population]]) have this cell type");
            else if (m_->cellTypes()[ct].param(model::CellParam::DeathRate) == model::kNoParam)
                error(loc(*t.get("cell_type")), entity, "cell_type", "cell type '" + m_->entities(Kind::CellType)[ct].name +
                                                                        "' has no death_rate, so the engine cannot follow its numbers");
            else if (const std::string why = s.spec.tumourCellType != model::kNoIndex ? populationProblem(*m_, ct, s.spec.tumourCellType) : "";
                     !why.empty())
                error(loc(*t.get("cell_type")), entity, "cell_type", why);
            else {
                // The problem of the populations together, reported at the one that completes it.
                std::vector<Index> types;
                for (const auto& o : s.spec.populations) types.push_back(o.cellType);
                const bool before = !populationsProblem(*m_, types).empty();
                types.push_back(ct);
                if (const std::string together = populationsProblem(*m_, types); !together.empty() && !before)
                    error(loc(*t.get("cell_type")), entity, "cell_type", together);
            }
        }
        if (const toml::node* n = t.get("initial_cells"))
            if (auto v = quantity(*n, "cell", Sign::NonNegative, entity, "initial_cells", kMaxCells, kMaxCellsWhy)) p.initialCells = *v;
        if (const toml::node* n = t.get("influx"))
            if (auto v = quantity(*n, "cell/d", Sign::NonNegative, entity, "influx", kMaxCells, kMaxCellsWhy)) p.influxPerDay = *v;
        if (const toml::node* n = t.get("influx_per_tumour_cell"))
            if (auto v = quantity(*n, "1/d", Sign::NonNegative, entity, "influx_per_tumour_cell", 100.0, "recruited cells per tumour cell and day; docs/limits.md"))
                p.influxPerTumourCell = *v;
        if (const toml::node* n = t.get("blood")) {
            if (const auto* b = n->as_boolean()) {
                p.blood = b->get();
                if (p.blood && ct != model::kNoIndex && m_->cellTypes()[ct].param(model::CellParam::BloodCount) == model::kNoParam)
                    error(loc(*n), entity, "blood", "cell type '" + m_->entities(Kind::CellType)[ct].name + "' has no blood_count, so it has no blood pool");
            } else {
                error(loc(*n), entity, "blood", "expected true or false, got " + typeName(*n));
            }
        }
        s.spec.populations.push_back(p);
    }

    // ---- [overrides] -----------------------------------------------------------------------------

    /// `"<parameter path>" = { value, unit }`: replaces a model parameter for this scenario, with
    /// the same unit check as the model file (paths as `nkscape describe` prints them).
    void readOverrides(const toml::table& t, SimulationScenario& s) {
        for (auto&& [k, v] : t) {
            const std::string path(k.str());
            if (!m_) continue;
            const auto id = m_->findParameter(path);
            if (!id) {
                error(loc(k), "[overrides]", path,
                      "no model parameter has this path (paths look like \"cell_type/TNBC/doubling_time\" or \"constant/qsp.encounter_rate/value\"; "
                      "`nkscape describe` lists them)");
                continue;
            }
            const auto& info = m_->parameter(*id);
            auto x = quantity(v, info.internalUnit, Sign::Any, "[overrides]", path);
            if (!x) continue;
            // The model file's own checks (sign or fraction rule, plausible range), with its words.
            if (const std::string why = m_->valueProblem(*id, *x); !why.empty()) {
                error(loc(v), "[overrides]", path, why + " (the model's value: " + fmtNumber(info.value) + " " + info.internalUnit + ", " +
                                                       info.where.str() + ")");
                continue;
            }
            if (std::any_of(s.overrides.begin(), s.overrides.end(), [&](const auto& o) { return o.first == *id; })) {
                error(loc(k), "[overrides]", path, "given twice");
                continue;
            }
            s.overrides.emplace_back(*id, *x);
        }
    }

    // ---- [patient] -------------------------------------------------------------------------------

    void readPatient(const toml::table& t, SimulationScenario& s) {
        const std::string entity = "[patient]";
        checkKeys(t, entity, "", {"weight", "surface"}, "[patient]");
        if (const toml::node* n = t.get("weight"))
            if (auto v = quantity(*n, "kg", Sign::Positive, entity, "weight", 500.0, "a patient; docs/limits.md")) s.body.weight_kg = *v;
        if (const toml::node* n = t.get("surface"))
            if (auto v = quantity(*n, "m2", Sign::Positive, entity, "surface", 5.0, "a patient; docs/limits.md")) s.body.surface_m2 = *v;
    }

    // ---- [[dose]] --------------------------------------------------------------------------------

    void readDose(const toml::table& t, std::size_t ordinal, SimulationScenario& s) {
        auto checked = doseTable(t, "dose #" + std::to_string(ordinal), s.body);
        if (!checked) return;
        const SourceLocation where = loc(t);
        const std::string entity = "dose #" + std::to_string(ordinal) + " (" + checked->dose.therapy + ")";
        const Index* therapy = &checked->therapy;
        const DosingSpec& spec = checked->spec;
        ScenarioDose d = checked->dose;
        DosingRegimen regimen = DosingRegimen::parse(spec, DrugPk::fromTherapy(*m_, *therapy), s.body);
        for (auto& existing : s.spec.drugs) {
            if (existing.therapy != *therapy) continue;
            // One cap for the drug, whatever number of [[dose]] tables give its doses: counted
            // before the merged list exists.
            const std::size_t total = existing.regimen.doses().size() + regimen.doses().size();
            if (total > kMaxDosesPerDrug) {
                error(where, entity, "schedule",
                      tooManyDosesMessage("with the earlier [[dose]] tables of '" + d.therapy + "', schedule '" + spec.schedule + "'",
                                          static_cast<double>(total)));
                return;
            }
            std::vector<Dose> all = existing.regimen.doses();
            all.insert(all.end(), regimen.doses().begin(), regimen.doses().end());
            existing.regimen = DosingRegimen(std::move(all), regimen.unit());
            s.doses.push_back(std::move(d));
            return;
        }
        s.spec.drugs.push_back(DrugRegimen{*therapy, std::move(regimen)});
        s.doses.push_back(std::move(d));
    }

    std::vector<std::string> cloneNames_;
};

}  // namespace

SimulationScenario parseSimulationScenario(const std::string& toml, const std::string& path, const CompiledModel& m) {
    const model::UnitSystem units;
    return io::detail::parseScenarioWith<Checker>(toml, path, m, units);
}

SimulationScenario parseSimulationScenario(const std::string& toml, const std::string& path, const CompiledModel& m, const model::UnitSystem& units) {
    return io::detail::parseScenarioWith<Checker>(toml, path, m, units);
}

LoadedSimulationScenario loadSimulationScenario(const std::filesystem::path& file) {
    auto [model, s] = io::detail::loadScenarioWith<Checker>(file);
    for (const auto& [id, value] : s.overrides) model.setValue(id, value);
    return LoadedSimulationScenario{std::move(model), std::move(s.spec), std::move(s.name), std::move(s.description), std::move(s.path),
                                    std::move(s.modelFile), s.seed, s.body, std::move(s.doses), std::move(s.overrides), std::move(s.where)};
}

io::ResourceEstimate estimateResources(const LoadedSimulationScenario& l) {
    const SimulationSpec& spec = l.spec;
    const CompiledModel& m = l.model;
    io::ResourceEstimate e;
    io::WorkItem time;
    time.what = "simulated time";
    time.amount = spec.durationDays;
    time.limit = kMaxSimulatedDays;
    time.unit = "d";
    time.detail = "[simulation] duration; about 250 solver steps per simulated year with weekly dosing";
    time.where = l.where.duration;
    time.entity = "[simulation]";
    time.key = "duration";
    e.work.push_back(std::move(time));
    const double rows = std::floor(spec.durationDays / spec.outputIntervalDays) + 1;
    io::WorkItem out;
    out.what = "output rows";
    out.amount = rows;
    out.limit = kMaxOutputRows;
    out.detail = "duration / output_interval + 1";
    out.where = l.where.outputInterval;
    out.entity = "[simulation]";
    out.key = "output_interval";
    e.work.push_back(std::move(out));
    // Columns (an upper bound of what the engine names): tumour, clones, each population with its
    // blood pool, granules, exhaustion and receptor levels, mediators, drugs.
    const double receptors = static_cast<double>(m.count(Kind::Receptor));
    const double columns = 2.0 + static_cast<double>(spec.clones.size()) + static_cast<double>(spec.populations.size()) * (4.0 + receptors) +
                           static_cast<double>(m.count(Kind::Mediator)) + 2.0 * static_cast<double>(spec.drugs.size());
    double doses = 0;
    for (const auto& d : spec.drugs) doses += static_cast<double>(d.regimen.doses().size());
    // A value is 8 bytes in the result and ~18 characters in timeseries.csv; each dose a few
    // hundred bytes in the schedule, the event list and events.csv; 64 MiB for the model, the
    // solver and the program.
    e.memoryBytes = 64.0 * 1024 * 1024 + rows * columns * (8.0 + 18.0) + doses * 400.0;
    e.memoryDetail = io::formatCount(rows) + " output rows x ~" + io::formatCount(columns) + " columns, " + io::formatCount(doses) + " doses";
    e.memoryWhere = l.where.outputInterval;
    e.memoryEntity = "[simulation]";
    e.memoryKey = "output_interval";
    return e;
}

}  // namespace nkscape::qsp
