// The spatial scenario reader (docs/abm.md, "Scenario file"), on the shared ScenarioChecker.

#include "nkscape/abm/scenario.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "io/scenario_checker.hpp"
#include "nkscape/error.hpp"
#include "nkscape/model/units.hpp"

namespace nkscape::abm {

namespace {

using io::detail::Sign;
using model::Kind;
using model::SourceLocation;

constexpr double kMaxMultiplier = 1e6;
constexpr std::string_view kMaxMultiplierWhy = "a clone's trait multiplier; 1e6-fold is beyond any measured over-expression";
constexpr std::int64_t kMaxCells = 100'000'000;
constexpr double kMaxDurationMin = 60.0 * 24 * 365;  // a year of tissue time

class Checker : public io::detail::ScenarioChecker {
public:
    using ScenarioChecker::ScenarioChecker;

    AbmScenario check(const toml::table& doc) {
        AbmScenario s;
        const toml::table* scenario = nullptr;
        const toml::table *grid = nullptr, *time = nullptr, *tumour = nullptr, *motility = nullptr, *vessels = nullptr,
                          *snapshots = nullptr;
        const toml::array *clones = nullptr, *pops = nullptr, *fields = nullptr, *drugs = nullptr;
        for (auto&& [key, node] : doc) {
            const std::string k(key.str());
            const std::vector<std::string_view> tables{"scenario", "grid", "time", "tumour", "motility", "vessels", "snapshots"};
            const std::vector<std::string_view> arrays{"clone", "population", "field", "drug"};
            if (std::find(tables.begin(), tables.end(), k) != tables.end()) {
                const auto* t = node.as_table();
                if (!t) {
                    error(loc(node), "", k, "expected a table [" + k + "], got " + typeName(node));
                    seen_.push_back(k);
                    continue;
                }
                (k == "scenario" ? scenario : k == "grid" ? grid : k == "time" ? time : k == "tumour" ? tumour : k == "motility" ? motility
                                                                                                : k == "vessels" ? vessels : snapshots) = t;
            } else if (std::find(arrays.begin(), arrays.end(), k) != arrays.end()) {
                const auto* a = node.as_array();
                if (!a || !a->is_array_of_tables()) {
                    error(loc(node), "", k, "expected an array of tables: write [[" + k + "]]");
                    seen_.push_back(k);
                    continue;
                }
                (k == "clone" ? clones : k == "population" ? pops : k == "field" ? fields : drugs) = a;
            } else if (k == "dose") {
                error(loc(key), "", k,
                      "not implemented: dosing with pharmacokinetics in the spatial engine (vessel sources from the well-mixed engine's PK); "
                      "give a constant tissue concentration with [[drug]] therapy, concentration");
            } else {
                std::vector<std::string_view> all = tables;
                all.insert(all.end(), arrays.begin(), arrays.end());
                unknownKey(key, "", k, all, "unknown top-level key");
            }
        }
        auto missing = [&](const toml::table* t, const std::string& name, const std::string& why) {
            if (!t && !wasSeen(name)) error(SourceLocation{path_, 1, 1}, "", name, "missing required table [" + name + "] (" + why + ")");
        };
        missing(scenario, "scenario", "name, kind = \"abm\", model, seed");
        missing(grid, "grid", "size = [nx, ny, nz] and voxel");
        missing(time, "time", "duration and the steps");
        missing(tumour, "tumour", "the tumour cell type and its placement");
        if (scenario) {
            const Header h = readHeader(*scenario, HeaderRules{"abm", " (\"abm\" for a spatial run)",
                                                               "is not a spatial scenario; `nkscape abm` runs kind = \"abm\"", true,
                                                               "the seed of every random number of the run"});
            s.name = h.name;
            s.description = h.description;
            s.modelFile = h.modelFile;
            s.seed = h.seed;
        }
        if (grid) readGrid(*grid, s);
        if (time) readTime(*time, s);
        if (tumour) readTumour(*tumour, s);
        if (m_) {
            AbmClone founding;
            founding.name = "founding";
            s.clones.push_back(founding);
        }
        double shares = 0;
        if (clones) {
            std::size_t i = 0;
            for (const auto& item : *clones) readClone(*item.as_table(), ++i, s);
            for (std::size_t c = 1; c < s.clones.size(); ++c) shares += s.clones[c].share;
            if (shares > 1 + 1e-12) error(loc(*clones), "[[clone]]", "share", "the clones' shares add up to " + fmtNumber(shares) + "; at most 1");
        }
        if (!s.clones.empty()) s.clones[0].share = std::max(0.0, 1 - shares);
        if (pops) {
            s.where.populations = loc(*pops);
            std::size_t i = 0;
            for (const auto& item : *pops) readPopulation(*item.as_table(), ++i, s);
        }
        if (motility) readMotility(*motility, s);
        if (vessels) readVessels(*vessels, s);
        if (fields) {
            std::size_t i = 0;
            for (const auto& item : *fields) readField(*item.as_table(), ++i, s);
        }
        if (drugs) {
            std::size_t i = 0;
            for (const auto& item : *drugs) readDrug(*item.as_table(), ++i, s);
        }
        if (snapshots) readSnapshots(*snapshots, s);
        crossChecks(s, fields);
        return s;
    }

private:
    std::optional<double> num(const toml::table& t, std::string_view key, const std::string& entity, double lo, double hi, const std::string& what) {
        const toml::node* n = t.get(key);
        if (!n) return std::nullopt;
        std::optional<double> v;
        if (const auto* i = n->as_integer()) v = static_cast<double>(i->get());
        else if (const auto* d = n->as_floating_point()) v = d->get();
        if (!v || !std::isfinite(*v)) {
            error(loc(*n), entity, std::string(key), "expected a finite number (" + what + "), got " + typeName(*n));
            return std::nullopt;
        }
        if (*v < lo || *v > hi) {
            error(loc(*n), entity, std::string(key), "must be in [" + fmtNumber(lo) + ", " + fmtNumber(hi) + "] (" + what + "), got " + fmtNumber(*v));
            return std::nullopt;
        }
        return v;
    }
    std::optional<double> optQuantity(const toml::table& t, std::string_view key, std::string_view unit, Sign sign, const std::string& entity,
                                      double max = std::numeric_limits<double>::infinity(), std::string_view maxWhy = {}) {
        const toml::node* n = t.get(key);
        if (!n) return std::nullopt;
        return quantity(*n, unit, sign, entity, std::string(key), max, maxWhy);
    }

    void readGrid(const toml::table& t, AbmScenario& s) {
        const std::string entity = "[grid]";
        checkKeys(t, entity, "", {"size", "voxel"}, "[grid]");
        s.where.grid = loc(t);
        if (const toml::node* n = t.get("size")) {
            s.where.grid = loc(*n);
            const auto* a = n->as_array();
            bool ok = a && (a->size() == 2 || a->size() == 3);
            std::array<std::int64_t, 3> v{1, 1, 1};
            if (ok)
                for (std::size_t i = 0; i < a->size(); ++i) {
                    const auto* x = a->get(i)->as_integer();
                    if (!x || x->get() < 1 || x->get() > 100000) ok = false;
                    else v[i] = x->get();
                }
            if (!ok) {
                error(loc(*n), entity, "size", "expected [nx, ny] (2-D) or [nx, ny, nz] (3-D) with whole numbers from 1 to 100000");
            } else {
                s.grid.nx = static_cast<int>(v[0]);
                s.grid.ny = static_cast<int>(v[1]);
                s.grid.nz = static_cast<int>(v[2]);
                const double voxels = static_cast<double>(v[0]) * static_cast<double>(v[1]) * static_cast<double>(v[2]);
                if (voxels > kMaxVoxels)
                    error(loc(*n), entity, "size", "gives " + io::formatCount(voxels) + " voxels; at most " + io::formatCount(kMaxVoxels) + " (docs/limits.md)");
            }
        } else {
            error(loc(t), entity, "size", "missing required key ([nx, ny] or [nx, ny, nz] voxels)");
        }
        if (auto v = requiredQuantity(t, "voxel", "um", Sign::Positive, entity, "voxel edge, e.g. { value = 20, unit = \"um\" }", 1000, "a voxel holds one cell"))
            s.grid.voxelUm = *v;
    }

    void readTime(const toml::table& t, AbmScenario& s) {
        const std::string entity = "[time]";
        checkKeys(t, entity, "", {"duration", "agent_step", "phenotype_step", "field_step", "output_interval", "threads", "reaction_step_limit"}, "[time]");
        if (const toml::node* n = t.get("duration")) s.where.duration = loc(*n);
        if (auto v = requiredQuantity(t, "duration", "min", Sign::Positive, entity, "simulated time", kMaxDurationMin, "a year")) s.durationMin = *v;
        if (auto v = optQuantity(t, "agent_step", "min", Sign::Positive, entity, 60)) s.agentStepMin = *v;
        if (const toml::node* n = t.get("agent_step")) s.where.agentStep = loc(*n);
        else s.where.agentStep = loc(t);
        if (auto v = optQuantity(t, "phenotype_step", "min", Sign::Positive, entity, 24 * 60)) s.phenotypeStepMin = *v;
        if (auto v = optQuantity(t, "field_step", "min", Sign::Positive, entity, 60)) s.fieldStepMin = *v;
        if (const toml::node* n = t.get("field_step")) s.where.fieldStep = loc(*n);
        else s.where.fieldStep = loc(t);
        if (auto v = optQuantity(t, "output_interval", "min", Sign::Positive, entity, kMaxDurationMin)) s.outputIntervalMin = *v;
        if (t.get("threads"))
            if (auto v = integer(t, "threads", entity, 1, 1024, "the most threads this scenario uses")) s.threadsCap = static_cast<int>(*v);
        if (auto v = num(t, "reaction_step_limit", entity, 1e-3, 100, "FieldSet reaction step limit (k·h per sub-step)")) s.reactionStepLimit = *v;
        auto multiple = [&](double step, std::string_view key, double of, std::string_view ofKey) {
            if (!(step > 0) || !(of > 0)) return;
            const double r = of / step;
            if (std::abs(r - std::round(r)) > 1e-9 * std::max(1.0, r))
                error(t.get(ofKey) ? loc(*t.get(ofKey)) : loc(t), entity, std::string(ofKey),
                      fmtNumber(of) + " min is not a whole number of " + std::string(key) + " (" + fmtNumber(step) + " min)");
        };
        multiple(s.agentStepMin, "agent_step", s.phenotypeStepMin, "phenotype_step");
        multiple(s.agentStepMin, "agent_step", s.fieldStepMin, "field_step");
        multiple(s.agentStepMin, "agent_step", s.outputIntervalMin, "output_interval");
        multiple(s.agentStepMin, "agent_step", s.durationMin, "duration");
    }

    void readTumour(const toml::table& t, AbmScenario& s) {
        const std::string entity = "[tumour]";
        checkKeys(t, entity, "",
                  {"cell_type", "radius", "cycle_time", "o2_uptake", "o2_saturation", "o2_hypoxic", "o2_necrosis", "necrosis_rate"}, "[tumour]");
        if (m_)
            if (auto i = cellType(t, "cell_type", model::CellCategory::Tumour, entity, "the tumour cell type")) s.tumourCellType = *i;
        if (auto v = requiredQuantity(t, "radius", "um", Sign::NonNegative, entity, "radius of the initial disc (2-D) or sphere (3-D)")) s.tumourRadiusUm = *v;
        if (auto v = requiredQuantity(t, "cycle_time", "min", Sign::Positive, entity, "division time with enough O2 and room")) s.cycleTimeMin = *v;
        if (auto v = requiredQuantity(t, "o2_uptake", "1/min", Sign::NonNegative, entity, "O2 uptake rate of a voxel holding a tumour cell")) s.o2UptakePerMin = *v;
        if (auto v = requiredQuantity(t, "o2_saturation", "mM", Sign::Positive, entity, "O2 for full-rate division")) s.o2SaturationMm = *v;
        if (auto v = requiredQuantity(t, "o2_hypoxic", "mM", Sign::NonNegative, entity, "O2 below which cells do not divide")) s.o2HypoxicMm = *v;
        if (auto v = requiredQuantity(t, "o2_necrosis", "mM", Sign::NonNegative, entity, "O2 below which cells die")) s.o2NecrosisMm = *v;
        if (auto v = requiredQuantity(t, "necrosis_rate", "1/min", Sign::NonNegative, entity, "death rate below o2_necrosis")) s.necrosisRatePerMin = *v;
        if (t.get("o2_saturation") && t.get("o2_hypoxic") && !(s.o2HypoxicMm < s.o2SaturationMm))
            error(loc(*t.get("o2_hypoxic")), entity, "o2_hypoxic", "must be below o2_saturation");
    }

    void readClone(const toml::table& t, std::size_t ordinal, AbmScenario& s) {
        std::string entity = "clone #" + std::to_string(ordinal);
        checkKeys(t, entity, "", {"name", "traits", "share", "switch_per_division"}, "a [[clone]]");
        AbmClone c;
        if (auto n = text(t, "name", entity, true)) {
            const SourceLocation where = loc(*t.get("name"));
            entity = "clone '" + *n + "'";
            if (n->empty()) error(where, entity, "name", "must not be empty");
            else if (*n == "founding") error(where, entity, "name", "'founding' is the implicit founding clone; choose another name");
            else if (std::any_of(s.clones.begin(), s.clones.end(), [&](const AbmClone& o) { return o.name == *n; }))
                error(where, entity, "name", "two clones have this name");
            c.name = *n;
        }
        if (auto v = optQuantity(t, "share", "1", Sign::NonNegative, entity, 1, "a fraction of the initial tumour")) c.share = *v;
        if (auto v = optQuantity(t, "switch_per_division", "1", Sign::NonNegative, entity, 1, "a probability")) c.switchPerDivision = *v;
        if (const toml::node* n = t.get("traits")) {
            if (const auto* tab = n->as_table()) {
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
                    list.emplace_back(ref->index, *mult);
                }
            } else {
                error(loc(*n), entity, "traits", "expected a table of trait = { value, unit = \"1\" }, got " + typeName(*n));
            }
        }
        s.clones.push_back(std::move(c));
    }

    void readPopulation(const toml::table& t, std::size_t ordinal, AbmScenario& s) {
        std::string entity = "population #" + std::to_string(ordinal);
        checkKeys(t, entity, "", {"cell_type", "count", "placement", "inner_radius", "outer_radius", "motile"}, "a [[population]]");
        AbmPopulation p;
        if (m_) {
            if (auto name = text(t, "cell_type", entity, true, " (the cell type placed)")) {
                const SourceLocation where = loc(*t.get("cell_type"));
                if (auto i = resolve(*name, Kind::CellType, where, entity, "cell_type", "the cell type placed")) {
                    entity = "population '" + *name + "'";
                    if (m_->cellTypes()[*i].category == model::CellCategory::Tumour)
                        error(where, entity, "cell_type", "'" + *name + "' is a tumour cell type: the tumour is [tumour] and [[clone]]");
                    else if (std::any_of(s.populations.begin(), s.populations.end(), [&](const AbmPopulation& o) { return o.cellType == *i; }))
                        error(where, entity, "cell_type", "two populations have this cell type");
                    else
                        p.cellType = *i;
                }
            }
        }
        if (auto v = integer(t, "count", entity, 0, kMaxCells, "cells placed at the start")) p.count = *v;
        if (auto v = text(t, "placement", entity, false)) {
            if (*v == "shell") p.placement = Placement::Shell;
            else if (*v == "uniform") p.placement = Placement::Uniform;
            else error(loc(*t.get("placement")), entity, "placement", "'" + *v + "' is not one of: shell, uniform");
        }
        if (p.placement == Placement::Shell) {
            if (auto v = requiredQuantity(t, "inner_radius", "um", Sign::NonNegative, entity, "inner radius of the shell")) p.innerRadiusUm = *v;
            if (auto v = requiredQuantity(t, "outer_radius", "um", Sign::Positive, entity, "outer radius of the shell")) p.outerRadiusUm = *v;
            if (t.get("inner_radius") && t.get("outer_radius") && !(p.innerRadiusUm < p.outerRadiusUm))
                error(loc(*t.get("outer_radius")), entity, "outer_radius", "must be above inner_radius");
        }
        if (const toml::node* n = t.get("motile")) {
            if (const auto* b = n->as_boolean()) p.motile = b->get();
            else error(loc(*n), entity, "motile", "expected true or false, got " + typeName(*n));
        }
        if (m_ && p.cellType != model::kNoIndex && p.motile && m_->cellTypes()[p.cellType].param(model::CellParam::Speed) == model::kNoParam)
            error(loc(t), entity, "motile", "cell type '" + m_->entities(Kind::CellType)[p.cellType].name + "' has no speed in the model; write motile = false");
        s.populations.push_back(p);
    }

    void readMotility(const toml::table& t, AbmScenario& s) {
        const std::string entity = "[motility]";
        checkKeys(t, entity, "", {"immune_per_voxel", "persistence", "chemotaxis_field", "chemotaxis_bias", "caf_half_count", "kill_time_cv"}, "[motility]");
        if (t.get("immune_per_voxel"))
            if (auto v = integer(t, "immune_per_voxel", entity, 1, 8, "non-tumour cells that may share a voxel")) s.immunePerVoxel = static_cast<int>(*v);
        if (auto v = num(t, "persistence", entity, 0, 20, "weight of the previous direction")) s.persistence = *v;
        if (auto v = text(t, "chemotaxis_field", entity, false)) s.chemotaxisField = *v;
        if (auto v = num(t, "chemotaxis_bias", entity, 0, 20, "weight of the chemokine gradient")) s.chemotaxisBias = *v;
        if (auto v = num(t, "caf_half_count", entity, 0, 27, "CAFs nearby that halve the speed")) s.cafHalfCount = *v;
        if (auto v = num(t, "kill_time_cv", entity, 0, 2, "coefficient of variation of contact durations")) s.killTimeCv = *v;
    }

    void readVessels(const toml::table& t, AbmScenario& s) {
        const std::string entity = "[vessels]";
        checkKeys(t, entity, "", {"count", "min_radius", "exchange_rate", "o2"}, "[vessels]");
        if (auto v = integer(t, "count", entity, 0, kMaxCells, "vessel voxels")) s.vesselCount = *v;
        if (auto v = requiredQuantity(t, "min_radius", "um", Sign::NonNegative, entity, "vessels lie at least this far from the centre")) s.vesselMinRadiusUm = *v;
        if (auto v = requiredQuantity(t, "exchange_rate", "1/min", Sign::NonNegative, entity, "exchange rate of a vessel voxel with blood")) s.vesselExchangePerMin = *v;
        if (auto v = requiredQuantity(t, "o2", "mM", Sign::NonNegative, entity, "blood O2")) s.vesselO2Mm = *v;
    }

    void readField(const toml::table& t, std::size_t ordinal, AbmScenario& s) {
        std::string entity = "field #" + std::to_string(ordinal);
        checkKeys(t, entity, "", {"mediator", "diffusion", "decay", "boundary", "boundary_value", "initial", "max_step"}, "a [[field]]");
        AbmField f;
        std::optional<model::Index> med;
        if (auto name = text(t, "mediator", entity, true, " (a mediator of the model, e.g. \"O2\")")) {
            entity = "field '" + *name + "'";
            if (m_) med = resolve(*name, Kind::Mediator, loc(*t.get("mediator")), entity, "mediator", "the diffusing mediator");
            if (med && std::any_of(s.fields.begin(), s.fields.end(), [&](const AbmField& o) { return o.mediator == *med; })) {
                error(loc(*t.get("mediator")), entity, "mediator", "two fields have this mediator");
                med.reset();
            }
        }
        const model::Mediator* mm = med ? &m_->mediators()[*med] : nullptr;
        if (mm) {
            f.mediator = *med;
            f.spec.name = m_->entities(Kind::Mediator)[*med].name;
            f.spec.unit = mm->unit;
            const double basal = mm->basalLevel == model::kNoParam ? 0.0 : m_->value(mm->basalLevel);
            f.spec.initialValue = basal;
            f.spec.boundaryValue = basal;
            // The model's internal units: diffusivity um2/s, decay 1/h.
            if (mm->diffusivity != model::kNoParam) f.spec.diffusionUm2PerMin = m_->value(mm->diffusivity) * 60.0;
            else if (!t.get("diffusion")) error(loc(t), entity, "diffusion", "the model gives this mediator no diffusivity; give diffusion here");
            if (mm->decayRate != model::kNoParam) f.spec.decayPerMin = m_->value(mm->decayRate) / 60.0;
        }
        if (auto v = optQuantity(t, "diffusion", "um2/min", Sign::NonNegative, entity)) f.spec.diffusionUm2PerMin = *v;
        if (auto v = optQuantity(t, "decay", "1/min", Sign::NonNegative, entity)) f.spec.decayPerMin = *v;
        if (auto v = optQuantity(t, "max_step", "min", Sign::Positive, entity)) f.spec.maxStepMin = *v;
        f.spec.boundary = Boundary::Neumann;
        if (auto v = text(t, "boundary", entity, false)) {
            if (*v == "dirichlet") f.spec.boundary = Boundary::Dirichlet;
            else if (*v != "neumann") error(loc(*t.get("boundary")), entity, "boundary", "'" + *v + "' is not one of: dirichlet, neumann");
        }
        if (mm) {
            if (const toml::node* n = t.get("boundary_value"))
                if (auto v = quantity(*n, mm->unit, Sign::NonNegative, entity, "boundary_value")) f.spec.boundaryValue = *v;
            if (const toml::node* n = t.get("initial"))
                if (auto v = quantity(*n, mm->unit, Sign::NonNegative, entity, "initial")) f.spec.initialValue = *v;
            s.fields.push_back(std::move(f));
        }
    }

    void readDrug(const toml::table& t, std::size_t ordinal, AbmScenario& s) {
        std::string entity = "drug #" + std::to_string(ordinal);
        checkKeys(t, entity, "", {"therapy", "concentration"}, "a [[drug]]");
        AbmDrug d;
        std::optional<model::Index> th;
        if (auto name = text(t, "therapy", entity, true, " (a therapy of the model)")) {
            entity = "drug '" + *name + "'";
            if (m_) th = resolve(*name, Kind::Therapy, loc(*t.get("therapy")), entity, "therapy", "the drug present");
        }
        if (auto v = requiredQuantity(t, "concentration", "nM", Sign::NonNegative, entity, "free drug in the tissue, constant")) d.concentrationNm = *v;
        if (th) {
            d.therapy = *th;
            s.drugs.push_back(d);
        }
    }

    void readSnapshots(const toml::table& t, AbmScenario& s) {
        const std::string entity = "[snapshots]";
        s.snapshots = true;
        checkKeys(t, entity, "", {"interval", "layer", "field"}, "[snapshots]");
        if (const toml::node* n = t.get("interval")) s.where.snapshot = loc(*n);
        else s.where.snapshot = loc(t);
        if (auto v = optQuantity(t, "interval", "min", Sign::NonNegative, entity, kMaxDurationMin)) s.snapshotIntervalMin = *v;
        if (t.get("layer"))
            if (auto v = integer(t, "layer", entity, 0, 100000, "z layer of the section PNG")) s.snapshotLayer = static_cast<int>(*v);
        if (auto v = text(t, "field", entity, false)) s.snapshotField = *v;
        if (s.snapshotIntervalMin > 0 && s.agentStepMin > 0) {
            const double r = s.snapshotIntervalMin / s.agentStepMin;
            if (std::abs(r - std::round(r)) > 1e-9 * std::max(1.0, r))
                error(s.where.snapshot, entity, "interval", "is not a whole number of agent_step (" + fmtNumber(s.agentStepMin) + " min)");
        }
        if (s.snapshotLayer >= s.grid.nz) error(loc(*t.get("layer")), entity, "layer", "is outside the lattice (nz = " + std::to_string(s.grid.nz) + ")");
    }

    void crossChecks(const AbmScenario& s, const toml::array* fields) {
        if (!m_) return;
        const SourceLocation where = fields ? loc(*fields) : SourceLocation{path_, 1, 1};
        const auto o2 = m_->indexOf(Kind::Mediator, "O2");
        if (!o2 || std::none_of(s.fields.begin(), s.fields.end(), [&](const AbmField& f) { return f.mediator == *o2; }))
            error(where, "[[field]]", "mediator", "no O2 field: tumour growth and necrosis read O2; add [[field]] mediator = \"O2\"");
        auto hasField = [&](const std::string& name) {
            return std::any_of(s.fields.begin(), s.fields.end(), [&](const AbmField& f) { return f.spec.name == name; });
        };
        if (!s.chemotaxisField.empty() && !hasField(s.chemotaxisField))
            error(where, "[motility]", "chemotaxis_field", "'" + s.chemotaxisField + "' is not a [[field]] of this scenario");
        if (!s.snapshotField.empty() && !hasField(s.snapshotField))
            error(where, "[snapshots]", "field", "'" + s.snapshotField + "' is not a [[field]] of this scenario");
    }
};

}  // namespace

LoadedAbmScenario loadAbmScenario(const std::filesystem::path& file) {
    auto [m, s] = io::detail::loadScenarioWith<Checker>(file);
    return LoadedAbmScenario{std::move(m), std::move(s)};
}

AbmScenario parseAbmScenario(const std::string& toml, const std::string& path, const model::CompiledModel& m) {
    const model::UnitSystem units;
    return io::detail::parseScenarioWith<Checker>(toml, path, m, units);
}

io::ResourceEstimate estimateResources(const AbmScenario& s) {
    io::ResourceEstimate e;
    const double voxels = static_cast<double>(s.grid.voxels());
    double immune = 0;
    for (const auto& p : s.populations) immune += static_cast<double>(p.count);
    const double agents = voxels + immune;  // at most one tumour cell per voxel
    const double agentSteps = s.durationMin / s.agentStepMin;
    const double fields = static_cast<double>(s.fields.size());
    io::WorkItem a;
    a.what = "agent-steps";
    a.amount = agents * agentSteps;
    a.limit = kMaxAgentSteps;
    a.detail = "(voxels + placed cells) x duration / agent_step: an upper bound (one tumour cell per voxel)";
    a.where = s.where.agentStep;
    a.entity = "[time]";
    a.key = "agent_step";
    e.work.push_back(std::move(a));
    io::WorkItem f;
    f.what = "voxel-field steps";
    f.amount = voxels * fields * s.durationMin / s.fieldStepMin;
    f.limit = kMaxVoxelFieldUpdates;
    f.detail = io::formatCount(voxels) + " voxels x " + io::formatCount(fields) + " fields x duration / field_step (before sub-cycling)";
    f.where = s.where.fieldStep;
    f.entity = "[time]";
    f.key = "field_step";
    e.work.push_back(std::move(f));
    // Memory: per field values, source, uptake and two solver lines' scratch (5 doubles a voxel);
    // occupancy 5 bytes a voxel; ~200 bytes per agent (its columns and per-field secretion); one
    // snapshot in memory as agent columns; 64 MiB for the model and the program.
    const double perAgent = 120.0 + 8.0 * fields;
    e.memoryBytes = 64.0 * 1024 * 1024 + voxels * (fields * 5 * 8 + 5) + agents * perAgent + agents * 40.0;
    e.memoryDetail = io::formatCount(voxels) + " voxels x " + io::formatCount(fields) + " fields, up to " + io::formatCount(agents) + " agents";
    e.memoryWhere = s.where.grid;
    e.memoryEntity = "[grid]";
    e.memoryKey = "size";
    return e;
}

}  // namespace nkscape::abm
