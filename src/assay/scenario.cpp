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

std::string typeName(const toml::node& n) { return model::detail::tomlTypeName(n); }

std::string fmtNumber(double v) { return model::detail::formatNumber(v); }

std::string joinValues(const std::vector<std::string_view>& v) { return model::detail::joinWords(v); }

std::string kindWithArticle(Kind k) {
    const std::string_view key = model::kindKey(k);
    std::string s(key);
    std::replace(s.begin(), s.end(), '_', ' ');
    const bool vowel = !s.empty() && std::string_view("aeiou").find(s.front()) != std::string_view::npos;
    return (vowel ? "an " : "a ") + s;
}

std::string kindName(Kind k) {
    std::string s(model::kindKey(k));
    std::replace(s.begin(), s.end(), '_', ' ');
    return s;
}

enum class Sign { Positive, NonNegative };

/// Reads one scenario document. `model` may be null (the model failed to load): then everything
/// that does not need the model is still checked.
class Checker {
public:
    Checker(std::string path, const CompiledModel* m, const model::UnitSystem& units, Diagnostics& diag)
        : path_(std::move(path)), m_(m), units_(units), diag_(diag) {}

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

private:
    std::string path_;
    const CompiledModel* m_;
    const model::UnitSystem& units_;
    Diagnostics& diag_;
    std::vector<std::string> seen_;  // top-level keys written with a wrong type (no "missing" cascade)

    bool wasSeen(const std::string& k) const { return std::find(seen_.begin(), seen_.end(), k) != seen_.end(); }

    SourceLocation loc(const toml::node& n) const {
        const auto& b = n.source().begin;
        return SourceLocation{path_, b.line, b.column};
    }
    SourceLocation loc(const toml::key& k) const {
        const auto& b = k.source().begin;
        return SourceLocation{path_, b.line, b.column};
    }
    void error(SourceLocation where, const std::string& entity, const std::string& key, const std::string& msg) {
        diag_.error(std::move(where), entity, key, msg);
    }

    void unknownKey(const toml::key& key, const std::string& entity, const std::string& k, const std::vector<std::string_view>& allowed,
                    const std::string& what) {
        std::string msg = what;
        if (auto m = model::detail::closestMatch(k, allowed); !m.empty()) msg += " (did you mean '" + m + "'?)";
        else msg += "; expected one of: " + joinValues(allowed);
        error(loc(key), entity, k, msg);
    }

    /// Checks the keys of `t` against `allowed`; reports the unknown ones.
    void checkKeys(const toml::table& t, const std::string& entity, const std::string& prefix, const std::vector<std::string_view>& allowed,
                   const std::string& what) {
        for (auto&& [key, _] : t) {
            const std::string k(key.str());
            if (std::find(allowed.begin(), allowed.end(), k) == allowed.end())
                unknownKey(key, entity, prefix.empty() ? k : prefix + "." + k, allowed, "unknown key for " + what);
        }
    }

    std::optional<std::string> text(const toml::table& t, std::string_view key, const std::string& entity, bool required,
                                    const std::string& missingHint = {}) {
        const toml::node* n = t.get(key);
        if (!n) {
            if (required) error(loc(t), entity, std::string(key), "missing required key" + missingHint);
            return std::nullopt;
        }
        const auto* s = n->as_string();
        if (!s) {
            error(loc(*n), entity, std::string(key), "expected a string, got " + typeName(*n));
            return std::nullopt;
        }
        return s->get();
    }

    /// Integer in [lo, hi].
    std::optional<std::int64_t> integer(const toml::table& t, std::string_view key, const std::string& entity, std::int64_t lo,
                                        std::int64_t hi, const std::string& what) {
        const toml::node* n = t.get(key);
        if (!n) {
            error(loc(t), entity, std::string(key), "missing required key (" + what + ")");
            return std::nullopt;
        }
        const auto* i = n->as_integer();
        if (!i) {
            error(loc(*n), entity, std::string(key), "expected an integer (" + what + "), got " + typeName(*n));
            return std::nullopt;
        }
        const std::int64_t v = i->get();
        if (v < lo || v > hi) {
            const std::string range = hi == std::numeric_limits<std::int64_t>::max() ? ">= " + std::to_string(lo)
                                                                                    : "in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
            error(loc(*n), entity, std::string(key), "must be " + range + ", got " + std::to_string(v));
            return std::nullopt;
        }
        return v;
    }

    struct RawQuantity {
        double value = 0;
        std::string unit;
        SourceLocation where;       // of the table
        SourceLocation unitWhere;   // of the unit string
    };

    /// { value = <number>, unit = "<unit>" } with a finite value and a unit that parses.
    std::optional<RawQuantity> rawQuantity(const toml::node& n, const std::string& entity, const std::string& key) {
        const auto* t = n.as_table();
        if (!t) {
            error(loc(n), entity, key,
                  "expected a quantity { value = ..., unit = \"...\" }, got " + typeName(n) + " (every number with a dimension needs a unit)");
            return std::nullopt;
        }
        bool ok = true;
        for (auto&& [k, _] : *t) {
            if (k.str() != "value" && k.str() != "unit" && k.str() != "note") {
                std::string msg = "unknown key in a quantity; expected one of: value, unit, note";
                if (auto m = model::detail::closestMatch(k.str(), {"value", "unit", "note"}); !m.empty()) msg += " (did you mean '" + m + "'?)";
                error(loc(k), entity, key + "." + std::string(k.str()), msg);
                ok = false;
            }
        }
        RawQuantity q;
        q.where = loc(n);
        if (const toml::node* v = t->get("value")) {
            if (const auto* i = v->as_integer()) q.value = static_cast<double>(i->get());
            else if (const auto* d = v->as_floating_point()) q.value = d->get();
            else {
                error(loc(*v), entity, key, "value must be a number, got " + typeName(*v));
                ok = false;
            }
            if (ok && !std::isfinite(q.value)) {
                error(loc(*v), entity, key, "value is not finite");
                ok = false;
            }
        } else {
            error(loc(n), entity, key, "missing 'value'");
            ok = false;
        }
        if (const toml::node* u = t->get("unit")) {
            q.unitWhere = loc(*u);
            if (const auto* s = u->as_string()) {
                q.unit = s->get();
                if (!units_.parses(q.unit)) {
                    error(loc(*u), entity, key, "unit '" + q.unit + "' does not parse");
                    ok = false;
                }
            } else {
                error(loc(*u), entity, key, "unit must be a string, got " + typeName(*u));
                ok = false;
            }
        } else {
            error(loc(n), entity, key, "missing 'unit' (write \"1\" for a dimensionless number)");
            ok = false;
        }
        if (!ok) return std::nullopt;
        return q;
    }

    bool checkSign(const RawQuantity& q, double converted, Sign sign, const std::string& entity, const std::string& key) {
        if (sign == Sign::Positive && !(converted > 0)) {
            error(q.where, entity, key, "must be > 0, got " + fmtNumber(q.value) + " " + q.unit);
            return false;
        }
        if (sign == Sign::NonNegative && converted < 0) {
            error(q.where, entity, key, "must be >= 0, got " + fmtNumber(q.value) + " " + q.unit);
            return false;
        }
        return true;
    }

    /// A quantity converted to `unit`, with its sign checked.
    std::optional<double> quantity(const toml::node& n, std::string_view unit, Sign sign, const std::string& entity, const std::string& key) {
        auto q = rawQuantity(n, entity, key);
        if (!q) return std::nullopt;
        if (!units_.convertible(q->unit, unit)) {
            error(q->unitWhere, entity, key, "unit '" + q->unit + "' does not convert to '" + std::string(unit) + "' (the unit of this key)");
            return std::nullopt;
        }
        const double v = units_.convertOrThrow(q->value, q->unit, unit);
        if (!checkSign(*q, v, sign, entity, key)) return std::nullopt;
        return v;
    }

    std::optional<double> requiredQuantity(const toml::table& t, std::string_view key, std::string_view unit, Sign sign,
                                           const std::string& entity, const std::string& what) {
        const toml::node* n = t.get(key);
        if (!n) {
            error(loc(t), entity, std::string(key), "missing required key (" + what + ")");
            return std::nullopt;
        }
        return quantity(*n, unit, sign, entity, std::string(key));
    }

    // ---- [scenario] ------------------------------------------------------------------------------

    void readScenario(const toml::table& t, AssayScenario& s) {
        const std::string entity = "[scenario]";
        checkKeys(t, entity, "", {"name", "kind", "model", "seed", "description"}, "[scenario]");
        if (auto v = text(t, "name", entity, true)) {
            if (v->empty()) error(loc(*t.get("name")), entity, "name", "must not be empty");
            s.name = *v;
        }
        if (auto v = text(t, "kind", entity, true, " (\"assay\" for a killing assay)")) {
            if (*v != "assay")
                error(loc(*t.get("kind")), entity, "kind", "'" + *v + "' is not a killing assay; `nkscape assay` runs scenarios of kind \"assay\"");
        }
        if (auto v = text(t, "model", entity, true, " (the model file, relative to this scenario)")) {
            if (v->empty()) {
                error(loc(*t.get("model")), entity, "model", "must not be empty");
            } else {
                s.modelPath = *v;
                s.modelFile = (std::filesystem::path(path_).parent_path() / *v).lexically_normal().generic_string();
            }
        }
        if (auto v = integer(t, "seed", entity, 0, std::numeric_limits<std::int64_t>::max(),
                             "the random seed: the same seed gives the same numbers"))
            s.seed = static_cast<std::uint64_t>(*v);
        if (auto v = text(t, "description", entity, false)) s.description = *v;
    }

    // ---- [assay] ---------------------------------------------------------------------------------

    void readAssay(const toml::table& t, AssayScenario& s) {
        const std::string entity = "[assay]";
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
        if (auto v = requiredQuantity(t, "duration", "h", Sign::Positive, entity, "the assay time, e.g. { value = 4, unit = \"h\" }"))
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
        if (auto v = requiredQuantity(t, "well_volume", "mL", Sign::Positive, entity, "medium per well, e.g. { value = 200, unit = \"uL\" }"))
            s.wellVolumeMl = *v;
        if (const toml::node* n = t.get("conditioning"))
            if (auto v = quantity(*n, "h", Sign::NonNegative, entity, "conditioning")) s.conditioningHours = *v;
    }

    // ---- [[condition]] ---------------------------------------------------------------------------

    /// Resolves `name` to an entity of kind `want`; reports unknown names and names of another kind.
    std::optional<Index> resolve(const std::string& name, Kind want, const SourceLocation& where, const std::string& entity,
                                 const std::string& key, const std::string& role) {
        if (!m_) return std::nullopt;
        if (auto i = m_->indexOf(want, name)) return i;
        if (auto r = m_->find(name)) {
            error(where, entity, key,
                  "'" + name + "' is " + kindWithArticle(r->kind) + " of model '" + m_->info().name + "', not " + kindWithArticle(want) +
                      " (" + role + ")");
            return std::nullopt;
        }
        std::vector<std::string_view> names;
        for (const auto& e : m_->entities(want)) {
            names.push_back(e.name);
            for (const auto& a : e.aliases) names.push_back(a);
        }
        std::string msg = "no " + kindName(want) + " named '" + name + "' in model '" + m_->info().name + "'";
        if (auto m = model::detail::closestMatch(name, names); !m.empty()) msg += " (did you mean '" + m + "'?)";
        msg += " (" + role + ")";
        error(where, entity, key, msg);
        return std::nullopt;
    }

    std::optional<Index> cellType(const toml::table& t, std::string_view key, model::CellCategory want, const std::string& entity,
                                  const std::string& role) {
        auto name = text(t, key, entity, true, " (" + role + ")");
        if (!name) return std::nullopt;
        const SourceLocation where = loc(*t.get(key));
        if (name->empty()) {
            error(where, entity, std::string(key), "must not be empty");
            return std::nullopt;
        }
        auto i = resolve(*name, Kind::CellType, where, entity, std::string(key), role);
        if (!i) return std::nullopt;
        const auto cat = m_->cellTypes()[*i].category;
        if (cat != want) {
            error(where, entity, std::string(key),
                  "cell type '" + m_->entities(Kind::CellType)[*i].name + "' is of category " + std::string(model::cellCategoryKey(cat)) +
                      "; the " + std::string(key) + " must be of category " + std::string(model::cellCategoryKey(want)));
            return std::nullopt;
        }
        return i;
    }

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
        if (!checkSign(q, *v, Sign::NonNegative, entity, key)) return std::nullopt;
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
                if (!checkSign(q, v, Sign::NonNegative, entity, key)) return std::nullopt;
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

AssayScenario checkScenario(const toml::table& doc, const std::string& path, const CompiledModel* m, const model::UnitSystem& units,
                            Diagnostics& diag) {
    Checker checker(path, m, units, diag);
    return checker.check(doc);
}

/// Parses the TOML text; records a malformed document in `diag`.
std::optional<toml::table> parseToml(const std::string& text, const std::string& path, Diagnostics& diag) {
    try {
        return toml::parse(text, path);
    } catch (const toml::parse_error& e) {
        const auto& b = e.source().begin;
        diag.error(SourceLocation{path, b.line, b.column}, "", "", "malformed TOML: " + std::string(e.description()));
        return std::nullopt;
    }
}

}  // namespace

AssayScenario parseAssayScenario(const std::string& toml, const std::string& path, const CompiledModel& m) {
    Diagnostics diag;
    auto doc = parseToml(toml, path, diag);
    diag.throwIfAny();
    model::UnitSystem units;
    AssayScenario s = checkScenario(*doc, path, &m, units, diag);
    diag.sort();
    diag.throwIfAny();
    return s;
}

LoadedAssayScenario loadAssayScenario(const std::filesystem::path& file) {
    const std::string path = file.lexically_normal().generic_string();
    Diagnostics diag;
    std::string text;
    try {
        text = io::readFile(file);
    } catch (const IoError&) {
        diag.error(SourceLocation{path, 0, 0}, "", "", "cannot read scenario file '" + path + "'");
        diag.throwIfAny();
    }
    auto doc = parseToml(text, path, diag);
    diag.throwIfAny();

    // The model first, so that names can be checked; if it does not load, the scenario is still
    // checked for everything else and both reports are given together.
    std::optional<CompiledModel> model;
    std::vector<model::Diagnostic> modelErrors;
    const toml::node* modelNode = doc->at_path("scenario.model").node();
    if (modelNode && modelNode->is_string() && !modelNode->as_string()->get().empty()) {
        const std::string rel = modelNode->as_string()->get();
        const std::string resolved = (std::filesystem::path(path).parent_path() / rel).lexically_normal().generic_string();
        std::error_code ec;
        if (!std::filesystem::is_regular_file(resolved, ec)) {
            const auto& b = modelNode->source().begin;
            diag.error(SourceLocation{path, b.line, b.column}, "[scenario]", "model",
                       "cannot read model file '" + resolved + "' ('" + rel + "' relative to the scenario's folder)");
        } else {
            try {
                model = model::loadModel(std::filesystem::path(resolved));
            } catch (const model::ModelError& e) {
                modelErrors = e.diagnostics();
            }
        }
    }
    model::UnitSystem units;
    AssayScenario s = checkScenario(*doc, path, model ? &*model : nullptr, units, diag);
    diag.sort();
    if (!diag.empty() || !modelErrors.empty()) {
        std::vector<model::Diagnostic> all = diag.items();
        all.insert(all.end(), modelErrors.begin(), modelErrors.end());
        throw model::ModelError(std::move(all));
    }
    return LoadedAssayScenario{std::move(*model), std::move(s)};
}

}  // namespace nkscape::assay
