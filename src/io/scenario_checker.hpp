#pragma once
// Internal: what the scenario readers (assay, simulate) share — locations, all-errors-at-once
// diagnostics, unknown-key reports with "did you mean", strings, integers and quantities with
// units checked by udunits2. Each reader derives its Checker from ScenarioChecker.

#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/spec.hpp"
#include "model/toml_names.hpp"
#include "nkscape/error.hpp"
#include "nkscape/io/file.hpp"
#include "nkscape/model/diagnostics.hpp"
#include "nkscape/model/loader.hpp"
#include "nkscape/model/model.hpp"
#include "nkscape/model/units.hpp"
#include "nkscape/qsp/engine.hpp"
#include "nkscape/qsp/pk.hpp"
#include "nkscape/qsp/scenario.hpp"

namespace nkscape::io::detail {

/// Sign a quantity must have.
enum class Sign { Positive, NonNegative, Any };

class ScenarioChecker {
public:
    ScenarioChecker(std::string path, const model::CompiledModel* m, const model::UnitSystem& units, model::Diagnostics& diag)
        : path_(std::move(path)), m_(m), units_(units), diag_(diag) {}

protected:
    using CompiledModel = model::CompiledModel;
    using Diagnostics = model::Diagnostics;
    using SourceLocation = model::SourceLocation;

    static std::string typeName(const toml::node& n) { return model::detail::tomlTypeName(n); }
    static std::string fmtNumber(double v) { return model::detail::formatNumber(v); }
    static std::string joinValues(const std::vector<std::string_view>& v) { return model::detail::joinWords(v); }
    using Index = model::Index;
    using Kind = model::Kind;

    static std::string kindWithArticle(Kind k) {
        const std::string_view key = model::kindKey(k);
        std::string s(key);
        std::replace(s.begin(), s.end(), '_', ' ');
        const bool vowel = !s.empty() && std::string_view("aeiou").find(s.front()) != std::string_view::npos;
        return (vowel ? "an " : "a ") + s;
    }

    static std::string kindName(Kind k) {
        std::string s(model::kindKey(k));
        std::replace(s.begin(), s.end(), '_', ' ');
        return s;
    }

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
        if (const std::string why = controlCharacterProblem(s->get()); !why.empty()) {
            error(loc(*n), entity, std::string(key), why);
            return std::nullopt;
        }
        return s->get();
    }

    /// Scenario text ends up in CSV cells, JSON and terminals: a control character (U+0000–U+001F,
    /// U+007F; tab and line breaks included) is refused, not written raw. "" if `text` has none.
    static std::string controlCharacterProblem(std::string_view text) {
        for (std::size_t i = 0; i < text.size(); ++i) {
            const auto c = static_cast<unsigned char>(text[i]);
            if (c < 0x20 || c == 0x7f) {
                char code[16];
                std::snprintf(code, sizeof code, "U+%04X", static_cast<unsigned>(c));
                return std::string("contains the control character ") + code + " at byte " + std::to_string(i + 1) +
                       "; names and text must be printable (no tabs, line breaks or NUL)";
            }
        }
        return {};
    }

    /// Integer in [lo, hi].
    /// What one kind of scenario asks of its [scenario] table.
    struct HeaderRules {
        std::string kind;          ///< "assay", "simulate"
        std::string kindHint;      ///< appended to a missing `kind`: " (\"assay\" for a killing assay)"
        std::string notKind;       ///< message for another kind: "is not a killing assay; `nkscape assay` runs …"
        bool seedRequired = true;
        std::string seedHint;      ///< what the seed is, in messages
    };
    /// The [scenario] table's fields, as read.
    struct Header {
        std::string name, description, modelPath, modelFile;
        std::uint64_t seed = 0;
    };

    /// Reads [scenario] (name, kind, model, seed, description) for both scenario readers; `model`
    /// is resolved against the scenario's folder.
    Header readHeader(const toml::table& t, const HeaderRules& rules) {
        Header h;
        const std::string entity = "[scenario]";
        checkKeys(t, entity, "", {"name", "kind", "model", "seed", "description"}, "[scenario]");
        if (auto v = text(t, "name", entity, true)) {
            if (v->empty()) error(loc(*t.get("name")), entity, "name", "must not be empty");
            h.name = *v;
        }
        if (auto v = text(t, "kind", entity, true, rules.kindHint)) {
            if (*v != rules.kind) error(loc(*t.get("kind")), entity, "kind", "'" + *v + "' " + rules.notKind);
        }
        if (auto v = text(t, "model", entity, true, " (the model file, relative to this scenario)")) {
            if (v->empty()) {
                error(loc(*t.get("model")), entity, "model", "must not be empty");
            } else {
                h.modelPath = *v;
                h.modelFile = (std::filesystem::path(path_).parent_path() / *v).lexically_normal().generic_string();
            }
        }
        if (rules.seedRequired || t.get("seed")) {
            if (auto v = integer(t, "seed", entity, 0, std::numeric_limits<std::int64_t>::max(), rules.seedHint))
                h.seed = static_cast<std::uint64_t>(*v);
        }
        if (auto v = text(t, "description", entity, false)) h.description = *v;
        return h;
    }

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

    /// Checks a converted value: finite (a value that overflows in the conversion, such as
    /// 1e308 ng/mL in pg/mL, is an input error like in the model loader), its sign, and at most
    /// `max` (in `unit`; `maxWhy` says where the limit comes from).
    bool checkValue(const RawQuantity& q, double converted, Sign sign, std::string_view unit, const std::string& entity, const std::string& key,
                    double max = std::numeric_limits<double>::infinity(), std::string_view maxWhy = {}) {
        if (!std::isfinite(converted)) {
            error(q.where, entity, key,
                  "value " + fmtNumber(q.value) + " " + q.unit + " does not convert to a finite number of '" + std::string(unit) + "'");
            return false;
        }
        if (!checkSign(q, converted, sign, entity, key)) return false;
        if (converted > max) {
            error(q.where, entity, key,
                  "must be <= " + fmtNumber(max) + " " + std::string(unit) + (maxWhy.empty() ? "" : " (" + std::string(maxWhy) + ")") + ", got " +
                      fmtNumber(q.value) + " " + q.unit);
            return false;
        }
        return true;
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

    /// A quantity converted to `unit`, finite, with its sign checked and at most `max` (`unit`).
    std::optional<double> quantity(const toml::node& n, std::string_view unit, Sign sign, const std::string& entity, const std::string& key,
                                   double max = std::numeric_limits<double>::infinity(), std::string_view maxWhy = {}) {
        auto q = rawQuantity(n, entity, key);
        if (!q) return std::nullopt;
        if (!units_.convertible(q->unit, unit)) {
            error(q->unitWhere, entity, key, "unit '" + q->unit + "' does not convert to '" + std::string(unit) + "' (the unit of this key)");
            return std::nullopt;
        }
        const double v = units_.convertOrThrow(q->value, q->unit, unit);
        if (!checkValue(*q, v, sign, unit, entity, key, max, maxWhy)) return std::nullopt;
        return v;
    }

    std::optional<double> requiredQuantity(const toml::table& t, std::string_view key, std::string_view unit, Sign sign,
                                           const std::string& entity, const std::string& what,
                                           double max = std::numeric_limits<double>::infinity(), std::string_view maxWhy = {}) {
        const toml::node* n = t.get(key);
        if (!n) {
            error(loc(t), entity, std::string(key), "missing required key (" + what + ")");
            return std::nullopt;
        }
        return quantity(*n, unit, sign, entity, std::string(key), max, maxWhy);
    }


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

    /// A dose table as read: what it says and the therapy it names.
    struct CheckedDose {
        qsp::ScenarioDose dose;
        qsp::DosingSpec spec;
        Index therapy = model::kNoIndex;
    };
    /// Reads one dose table (therapy, amount, loading, schedule, start, infusion — a simulation
    /// scenario's [[dose]], a trial arm's [[arm.dose]]) and checks it can be given to a patient of
    /// `body`. `entity` names the table ("dose #2"); the therapy's name is appended once resolved.
    /// Empty if anything is wrong (reported).
    std::optional<CheckedDose> doseTable(const toml::table& t, std::string entity, const qsp::BodySize& body,
                                         const std::string& tableName = "a [[dose]]") {
        checkKeys(t, entity, "", {"therapy", "amount", "loading", "schedule", "start", "infusion"}, tableName);
        CheckedDose c;
        std::optional<Index> therapy;
        if (auto name = text(t, "therapy", entity, true, " (the therapy given)")) {
            const SourceLocation where = loc(*t.get("therapy"));
            if (name->empty()) error(where, entity, "therapy", "must not be empty");
            else therapy = resolve(*name, Kind::Therapy, where, entity, "therapy", "the drug given");
            if (therapy) {
                c.dose.therapy = m_->entities(Kind::Therapy)[*therapy].name;
                entity += " (" + c.dose.therapy + ")";
            }
        }
        bool ok = true;
        if (auto v = text(t, "amount", entity, true, " (e.g. \"6 mg/kg\")")) c.spec.amount = c.dose.amount = *v;
        else ok = false;
        if (auto v = text(t, "loading", entity, false)) c.spec.loadingAmount = c.dose.loading = *v;
        else if (t.get("loading")) ok = false;
        if (auto v = text(t, "schedule", entity, false)) c.spec.schedule = *v;
        else if (t.get("schedule")) ok = false;
        c.dose.schedule = c.spec.schedule;
        if (auto v = text(t, "infusion", entity, false)) c.spec.infusion = c.dose.infusion = *v;
        else if (t.get("infusion")) ok = false;
        if (const toml::node* n = t.get("start")) {
            if (auto v = quantity(*n, "d", Sign::NonNegative, entity, "start", qsp::kMaxDoseDay,
                                  "the latest dose start, qsp::kMaxDoseDay; docs/qsp.md, \"Limits\""))
                c.spec.startDay = c.dose.startDay = *v;
            else
                ok = false;
        }
        if (!therapy || !ok) return std::nullopt;
        if (const std::string why = qsp::dosingProblem(*m_, *therapy); !why.empty()) {
            error(loc(*t.get("therapy")), entity, "therapy", "cannot be dosed: " + why);
            return std::nullopt;
        }
        try {
            (void)qsp::DosingRegimen::parse(c.spec, qsp::DrugPk::fromTherapy(*m_, *therapy), body);
        } catch (const InputError& e) {
            error(loc(t), entity, "", e.what());
            return std::nullopt;
        }
        c.therapy = *therapy;
        return c;
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
};

/// Parses TOML text; records a malformed document in `diag` (and returns nothing).
inline std::optional<toml::table> parseScenarioToml(const std::string& text, const std::string& path, model::Diagnostics& diag) {
    try {
        return toml::parse(text, path);
    } catch (const toml::parse_error& e) {
        const auto& b = e.source().begin;
        diag.error(model::SourceLocation{path, b.line, b.column}, "", "", "malformed TOML: " + std::string(e.description()));
        return std::nullopt;
    }
}

/// The text of input file `file` (named `path` in messages, described as `what`: "scenario
/// file", "trial file"). An unreadable file (missing, a FIFO, a directory, too large, ...) is
/// recorded in `diag` with the reason and thrown at once (nothing else can be checked).
inline std::string readInputFile(const std::filesystem::path& file, const std::string& path, const std::string& what, model::Diagnostics& diag) {
    try {
        return io::readFile(file);
    } catch (const IoError& e) {
        // The reason after "cannot read '<path>': ".
        std::string why = e.what();
        if (const auto colon = why.find("': "); colon != std::string::npos) why = why.substr(colon + 3);
        diag.error(model::SourceLocation{path, 0, 0}, "", "", "cannot read " + what + " '" + path + "': " + why);
        diag.throwIfAny();
    }
    return {};
}

/// A scenario file read and parsed, with the model its [scenario] names loaded (if it loads).
struct ScenarioDocument {
    std::string path;  ///< the file, normalised
    toml::table doc;
    std::optional<model::CompiledModel> model;
    std::vector<model::Diagnostic> modelErrors;  ///< the model's own errors, reported with the scenario's
};

/// Reads `file` and loads its model (`scenario.model`, relative to the file). An unreadable or
/// malformed file throws ModelError at once; a model that does not load is kept as errors so that
/// the scenario is still checked for everything else and both reports come together.
inline ScenarioDocument readScenarioDocument(const std::filesystem::path& file, model::Diagnostics& diag) {
    ScenarioDocument d;
    d.path = file.lexically_normal().generic_string();
    const std::string text = readInputFile(file, d.path, "scenario file", diag);
    auto doc = parseScenarioToml(text, d.path, diag);
    diag.throwIfAny();
    d.doc = std::move(*doc);
    const toml::node* modelNode = d.doc.at_path("scenario.model").node();
    if (modelNode && modelNode->is_string() && !modelNode->as_string()->get().empty()) {
        const std::string rel = modelNode->as_string()->get();
        const std::string resolved = (std::filesystem::path(d.path).parent_path() / rel).lexically_normal().generic_string();
        std::error_code ec;
        if (!std::filesystem::is_regular_file(resolved, ec)) {
            const auto& b = modelNode->source().begin;
            diag.error(model::SourceLocation{d.path, b.line, b.column}, "[scenario]", "model",
                       "cannot read model file '" + resolved + "' ('" + rel + "' relative to the scenario's folder)");
        } else {
            try {
                d.model = model::loadModel(std::filesystem::path(resolved));
            } catch (const model::ModelError& e) {
                d.modelErrors = e.diagnostics();
            }
        }
    }
    return d;
}

/// Throws one ModelError with the scenario's diagnostics (sorted) and the model's, if any.
inline void throwScenarioErrors(model::Diagnostics& diag, const std::vector<model::Diagnostic>& modelErrors) {
    diag.sort();
    if (diag.empty() && modelErrors.empty()) return;
    std::vector<model::Diagnostic> all = diag.items();
    all.insert(all.end(), modelErrors.begin(), modelErrors.end());
    throw model::ModelError(std::move(all));
}

/// Checks the scenario text `toml` (named `path` in messages) with `Checker` (a ScenarioChecker
/// with `check(const toml::table&)`) against the already loaded model `m`. The assay and simulate
/// readers share it. \throws model::ModelError listing every problem.
template <class Checker>
auto parseScenarioWith(const std::string& toml, const std::string& path, const model::CompiledModel& m, const model::UnitSystem& units) {
    model::Diagnostics diag;
    auto doc = parseScenarioToml(toml, path, diag);
    diag.throwIfAny();
    Checker checker(path, &m, units, diag);
    auto scenario = checker.check(*doc);
    diag.sort();
    diag.throwIfAny();
    return scenario;
}

/// Reads the scenario file `file`, loads the model it names and checks the scenario with
/// `Checker`: (the model, the checked scenario). \throws model::ModelError listing every problem of
/// the scenario and of its model together.
template <class Checker>
auto loadScenarioWith(const std::filesystem::path& file) {
    model::Diagnostics diag;
    ScenarioDocument d = readScenarioDocument(file, diag);
    const model::UnitSystem units;
    Checker checker(d.path, d.model ? &*d.model : nullptr, units, diag);
    auto scenario = checker.check(d.doc);
    throwScenarioErrors(diag, d.modelErrors);  // throws unless the model loaded
    return std::pair<model::CompiledModel, decltype(scenario)>{std::move(*d.model), std::move(scenario)};
}

}  // namespace nkscape::io::detail
