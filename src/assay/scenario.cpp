// Assay scenario files: TOML → AssayScenario. Every problem is recorded with its file:line:column
// and reported together, like the model loader does; nothing is thrown before the whole file has
// been read.

#include "model/toml_names.hpp"
#include "nkscape/assay/scenario.hpp"

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
#include "nkscape/model/loader.hpp"
#include "nkscape/model/units.hpp"

namespace nkscape::assay {

using model::CompiledModel;
using model::Diagnostics;
using model::Index;
using model::Kind;
using model::SourceLocation;

std::string_view readoutKey(Readout r) noexcept { return r == Readout::Flow ? "flow" : "chromium_release"; }
std::string_view fcgr3aKey(Fcgr3a a) noexcept { return a == Fcgr3a::F158 ? "F158" : "V158"; }

namespace {

constexpr std::uint32_t kMaxTargets = 10'000'000;   // per well: beyond this a well no longer fits in memory comfortably
constexpr std::uint32_t kMaxReplicates = 100'000;
constexpr double kMaxAssayHours = 720;      // 30 days: longer than any in-vitro killing assay (4-72 h in the review's studies)
constexpr double kMaxEtRatio = 1000;        // NK cells per target; published assays stay below ~100:1
constexpr double kMinWellMl = 1e-6;         // 1 nL, a nanowell
constexpr double kMaxWellMl = 1000;         // 1 L, a bioreactor





using io::detail::Sign;

/// Reads one scenario document. `model` may be null (the model failed to load): then everything
/// that does not need the model is still checked.
class Checker : public io::detail::ScenarioChecker {
public:
    using ScenarioChecker::ScenarioChecker;

    AssayScenario check(const toml::table& doc) {
        AssayScenario s;
        s.path = path_;
        const toml::table* scenario = nullptr;
        const toml::table* assay = nullptr;
        const toml::array* conditions = nullptr;
        for (auto&& [key, node] : doc) {
            const std::string k(key.str());
            if (k == "scenario" || k == "assay") {
                const auto* t = node.as_table();
                if (!t) {
                    error(loc(node), "", k, "expected a table [" + k + "], got " + typeName(node));
                    seen_.push_back(k);
                    continue;
                }
                (k == "scenario" ? scenario : assay) = t;
            } else if (k == "condition") {
                const auto* a = node.as_array();
                if (!a || !a->is_array_of_tables()) {
                    error(loc(node), "", k, "expected an array of tables: write [[condition]] (got " + typeName(node) + ")");
                    seen_.push_back(k);
                    continue;
                }
                conditions = a;
            } else {
                unknownKey(key, "", k, {"scenario", "assay", "condition"}, "unknown top-level key");
            }
        }
        const SourceLocation top{path_, 1, 1};
        if (scenario) readScenario(*scenario, s);
        else if (!wasSeen("scenario")) error(top, "", "scenario", "missing required table [scenario] (name, kind, model, seed)");
        if (assay) readAssay(*assay, s);
        else if (!wasSeen("assay")) error(top, "", "assay", "missing required table [assay] (duration, effector_target_ratios, targets, replicates, well_volume)");
        if (conditions) {
            std::size_t i = 0;
            for (const auto& item : *conditions) readCondition(*item.as_table(), ++i, s);
            if (conditions->empty()) error(loc(*conditions), "", "condition", "no [[condition]]: an assay needs at least one");
        } else if (!wasSeen("condition")) {
            error(top, "", "condition", "no [[condition]]: an assay needs at least one (effector, target)");
        }
        return s;
    }

    // ---- [scenario] ------------------------------------------------------------------------------

    void readScenario(const toml::table& t, AssayScenario& s) {
        auto h = readHeader(t, {"assay", " (\"assay\" for a killing assay)",
                                "is not a killing assay; `nkscape assay` runs scenarios of kind \"assay\"", true,
                                "the random seed: the same seed gives the same numbers"});
        s.name = std::move(h.name);
        s.description = std::move(h.description);
        s.modelPath = std::move(h.modelPath);
        s.modelFile = std::move(h.modelFile);
        s.seed = h.seed;
    }

    // ---- [assay] ---------------------------------------------------------------------------------

    void readAssay(const toml::table& t, AssayScenario& s) {
        const std::string entity = "[assay]";
        s.where = loc(t);
        checkKeys(t, entity, "", {"readout", "duration", "effector_target_ratios", "targets", "replicates", "well_volume", "conditioning"},
                  "[assay]");
        if (auto v = text(t, "readout", entity, false)) {
            if (*v == "chromium_release") s.readout = Readout::ChromiumRelease;
            else if (*v == "flow") s.readout = Readout::Flow;
            else {
                std::string msg = "'" + *v + "' is not one of: chromium_release, flow";
                if (auto m = model::detail::closestMatch(*v, {"chromium_release", "flow"}); !m.empty()) msg += " (did you mean '" + m + "'?)";
                error(loc(*t.get("readout")), entity, "readout", msg);
            }
        }
        if (auto v = requiredQuantity(t, "duration", "h", Sign::Positive, entity, "the assay time, e.g. { value = 4, unit = \"h\" }",
                                      kMaxAssayHours, "an in-vitro killing assay; docs/limits.md"))
            s.durationHours = *v;
        if (const toml::node* n = t.get("effector_target_ratios")) {
            const auto* a = n->as_array();
            if (!a) {
                error(loc(*n), entity, "effector_target_ratios", "expected an array of numbers, got " + typeName(*n));
            } else if (a->empty()) {
                error(loc(*n), entity, "effector_target_ratios", "must not be empty");
            } else {
                for (const auto& item : *a) {
                    std::optional<double> x;
                    if (const auto* i = item.as_integer()) x = static_cast<double>(i->get());
                    else if (const auto* d = item.as_floating_point()) x = d->get();
                    if (!x) {
                        error(loc(item), entity, "effector_target_ratios", "expected a number (NK cells per target), got " + typeName(item));
                    } else if (!std::isfinite(*x) || *x <= 0) {
                        error(loc(item), entity, "effector_target_ratios", "each ratio must be > 0, got " + fmtNumber(*x));
                    } else if (*x > kMaxEtRatio) {
                        error(loc(item), entity, "effector_target_ratios",
                              "each ratio must be <= " + fmtNumber(kMaxEtRatio) + " NK cells per target (docs/limits.md), got " + fmtNumber(*x));
                    } else {
                        s.etRatios.push_back(*x);
                    }
                }
            }
        } else {
            error(loc(t), entity, "effector_target_ratios", "missing required key (NK cells per target, e.g. [1, 5, 10])");
        }
        if (auto v = integer(t, "targets", entity, 1, kMaxTargets, "target cells simulated per well")) s.targets = static_cast<std::uint32_t>(*v);
        if (auto v = integer(t, "replicates", entity, 1, kMaxReplicates, "wells per condition and ratio")) s.replicates = static_cast<std::uint32_t>(*v);
        if (auto v = requiredQuantity(t, "well_volume", "mL", Sign::Positive, entity, "medium per well, e.g. { value = 200, unit = \"uL\" }",
                                      kMaxWellMl, "a culture vessel; docs/limits.md")) {
            if (*v < kMinWellMl)
                error(loc(*t.get("well_volume")), entity, "well_volume",
                      "must be >= 1 nL (a nanowell; below it concentrations of secreted IFN-g have no meaning; docs/limits.md), got " +
                          fmtNumber(*v * 1000.0) + " uL");
            else
                s.wellVolumeMl = *v;
        }
        if (const toml::node* n = t.get("conditioning"))
            if (auto v = quantity(*n, "h", Sign::NonNegative, entity, "conditioning", kMaxAssayHours, "docs/limits.md"))
                s.conditioningHours = *v;
    }

    // ---- [[condition]] ---------------------------------------------------------------------------


    /// A table name → quantity: each name resolved to `kind`, each value converted by `convert`.
    template <class Convert>
    void entries(const toml::table& t, std::string_view key, Kind kind, const std::string& entity, const std::string& role,
                 std::vector<IndexedValue>& out, Convert convert) {
        const toml::node* n = t.get(key);
        if (!n) return;
        const auto* tab = n->as_table();
        if (!tab) {
            error(loc(*n), entity, std::string(key), "expected a table of name = { value, unit }, got " + typeName(*n));
            return;
        }
        for (auto&& [k, v] : *tab) {
            const std::string name(k.str());
            const std::string dotted = std::string(key) + "." + name;
            auto raw = rawQuantity(v, entity, dotted);
            auto idx = resolve(name, kind, loc(k), entity, dotted, role);
            if (!raw || !idx) continue;
            if (std::any_of(out.begin(), out.end(), [&](const IndexedValue& e) { return e.index == *idx; })) {
                error(loc(k), entity, dotted, "given twice (under another name or alias)");
                continue;
            }
            if (auto x = convert(*idx, *raw, dotted)) out.push_back(IndexedValue{*idx, *x});
        }
    }

    /// Converts `q` to `unit`, or between mass and molar concentration through a molecular weight
    /// (kDa; NaN if unknown). Records why it cannot.
    std::optional<double> concentration(const RawQuantity& q, const std::string& unit, double mwKDa, const std::string& owner,
                                        const std::string& entity, const std::string& key) {
        std::optional<double> v;
        if (units_.convertible(q.unit, unit)) {
            v = units_.convertOrThrow(q.value, q.unit, unit);
        } else {
            const bool fromMass = units_.convertible(q.unit, "g/L"), fromMolar = units_.convertible(q.unit, "mol/L");
            const bool toMass = units_.convertible(unit, "g/L"), toMolar = units_.convertible(unit, "mol/L");
            if ((fromMass && toMolar) || (fromMolar && toMass)) {
                if (!std::isfinite(mwKDa)) {
                    error(q.unitWhere, entity, key,
                          "unit '" + q.unit + "' does not convert to '" + unit + "' (the unit of " + owner + ") without a molecular_weight, and " +
                              owner + " has none; give the concentration in " + unit);
                    return std::nullopt;
                }
                const double gPerMol = mwKDa * 1000.0;
                if (fromMass) v = units_.convertOrThrow(units_.convertOrThrow(q.value, q.unit, "g/L") / gPerMol, "mol/L", unit);
                else v = units_.convertOrThrow(units_.convertOrThrow(q.value, q.unit, "mol/L") * gPerMol, "g/L", unit);
            } else {
                error(q.unitWhere, entity, key, "unit '" + q.unit + "' is not a concentration convertible to '" + unit + "' (the unit of " + owner + ")");
                return std::nullopt;
            }
        }
        // A concentration a well can hold: 1e9 of the key's unit is far past any medium (1e9 nM is
        // 1 M of antibody; 1e9 pg/mL is 1 mg/mL of a cytokine).
        if (!checkValue(q, *v, Sign::NonNegative, unit, entity, key, 1e9, "docs/limits.md")) return std::nullopt;
        return v;
    }

    void readCondition(const toml::table& t, std::size_t ordinal, AssayScenario& s) {
        AssayCondition c;
        c.where = loc(t);
        std::string entity = "condition #" + std::to_string(ordinal);
        if (auto n = text(t, "name", entity, true)) {
            if (n->empty()) error(loc(*t.get("name")), entity, "name", "must not be empty");
            else {
                c.name = *n;
                entity = "condition '" + *n + "'";
                for (const auto& other : s.conditions)
                    if (other.name == c.name)
                        error(loc(*t.get("name")), entity, "name", "two conditions have this name (the other at " + other.where.str() + ")");
            }
        }
        checkKeys(t, entity, "",
                  {"name", "effector", "target", "therapies", "mediators", "target_expression", "target_factors", "effector_expression",
                   "effector_factors", "fcgr3a"},
                  "a [[condition]]");
        if (auto i = cellType(t, "effector", model::CellCategory::Nk, entity, "the NK cells of the well")) c.effector = *i;
        if (auto i = cellType(t, "target", model::CellCategory::Tumour, entity, "the target cells of the well")) c.target = *i;

        const double nan = std::nan("");
        entries(t, "therapies", Kind::Therapy, entity, "therapies sets drug concentrations", c.therapies,
                [&](Index i, const RawQuantity& q, const std::string& key) -> std::optional<double> {
                    const auto& th = m_->therapies()[i];
                    const std::string& nm = m_->entities(Kind::Therapy)[i].name;
                    using TK = model::TherapyKind;
                    if (th.kind == TK::CellTherapy || th.kind == TK::Procedure || th.kind == TK::Virus) {
                        const std::string what = th.kind == TK::CellTherapy ? "a cell therapy (use its product as the effector)"
                                                 : th.kind == TK::Procedure ? "a procedure"
                                                                            : "a virus";
                        error(q.where, entity, key, "therapy '" + nm + "' is " + what + "; a well takes drug concentrations only");
                        return std::nullopt;
                    }
                    const double mw = th.molecularWeight == model::kNoParam ? nan : m_->value(th.molecularWeight);
                    return concentration(q, "nM", mw, "therapy '" + nm + "'", entity, key);
                });
        entries(t, "mediators", Kind::Mediator, entity, "mediators sets the medium's concentrations", c.mediators,
                [&](Index i, const RawQuantity& q, const std::string& key) -> std::optional<double> {
                    const auto& med = m_->mediators()[i];
                    const double mw = med.molecularWeight == model::kNoParam ? nan : m_->value(med.molecularWeight);
                    return concentration(q, med.unit, mw, "mediator '" + m_->entities(Kind::Mediator)[i].name + "'", entity, key);
                });
        auto level = [&](std::string_view unit) {
            return [this, unit, &entity](Index, const RawQuantity& q, const std::string& key) -> std::optional<double> {
                if (!units_.convertible(q.unit, unit)) {
                    error(q.unitWhere, entity, key, "unit '" + q.unit + "' does not convert to '" + std::string(unit) + "' (the unit of this key)");
                    return std::nullopt;
                }
                const double v = units_.convertOrThrow(q.value, q.unit, unit);
                // 1e8 molecules per cell is ~100 times the densest receptor or ligand measured; a
                // factor level (1) of 1e6 is past any fold change the regulations describe.
                const double max = unit == "1" ? 1e6 : 1e8;
                if (!checkValue(q, v, Sign::NonNegative, unit, entity, key, max, "docs/limits.md")) return std::nullopt;
                return v;
            };
        };
        entries(t, "target_expression", Kind::Ligand, entity, "target_expression sets ligands of the target", c.targetExpression,
                level("molecule/cell"));
        entries(t, "effector_expression", Kind::Receptor, entity, "effector_expression sets receptors of the NK cells", c.effectorExpression,
                level("molecule/cell"));
        // A factor level for cells of `category` (called `cellsName` in messages).
        auto factorLevel = [&](model::CellCategory category, const std::string& cellsName) {
            return [this, category, cellsName, &level, &entity](Index i, const RawQuantity& q, const std::string& key) -> std::optional<double> {
                const auto& cells = m_->factors()[i].cells;
                if (std::find(cells.begin(), cells.end(), category) == cells.end()) {
                    std::string where;
                    for (auto cat : cells) where += (where.empty() ? "" : ", ") + std::string(model::cellCategoryKey(cat));
                    error(q.where, entity, key,
                          "factor '" + m_->entities(Kind::Factor)[i].name + "' does not live in " + cellsName + " (its cells: " + where + ")");
                    return std::nullopt;
                }
                return level("1")(i, q, key);
            };
        };
        entries(t, "effector_factors", Kind::Factor, entity, "effector_factors sets factors of the NK cells", c.effectorFactors,
                factorLevel(model::CellCategory::Nk, "NK cells"));
        entries(t, "target_factors", Kind::Factor, entity, "target_factors sets baseline factors of the target", c.targetFactors,
                factorLevel(model::CellCategory::Tumour, "tumour cells"));
        if (auto v = text(t, "fcgr3a", entity, false)) {
            if (*v == "V158") c.fcgr3a = Fcgr3a::V158;
            else if (*v == "F158") c.fcgr3a = Fcgr3a::F158;
            else error(loc(*t.get("fcgr3a")), entity, "fcgr3a", "'" + *v + "' is not one of: V158, F158");
        }
        s.conditions.push_back(std::move(c));
    }
};

}  // namespace

AssayScenario parseAssayScenario(const std::string& toml, const std::string& path, const CompiledModel& m) {
    const model::UnitSystem units;
    return io::detail::parseScenarioWith<Checker>(toml, path, m, units);
}

AssayScenario parseAssayScenario(const std::string& toml, const std::string& path, const CompiledModel& m, const model::UnitSystem& units) {
    return io::detail::parseScenarioWith<Checker>(toml, path, m, units);
}

LoadedAssayScenario loadAssayScenario(const std::filesystem::path& file) {
    auto [model, scenario] = io::detail::loadScenarioWith<Checker>(file);
    return LoadedAssayScenario{std::move(model), std::move(scenario)};
}

}  // namespace nkscape::assay
