// TOML → ModelSpec. Everything one table can tell on its own is checked here: keys, types,
// units, ranges, sources. Problems are recorded, never thrown, so that one run reports them all.

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <set>

#include "nkscape/error.hpp"
#include "toml_names.hpp"
#include "nkscape/model/units.hpp"
#include "parse.hpp"

namespace nkscape::model::detail {
namespace {

std::string typeName(const toml::node& n) { return model::detail::tomlTypeName(n); }

std::string joinValues(const std::vector<std::string_view>& v) { return model::detail::joinWords(v); }

std::string fmtNumber(double v) { return model::detail::formatNumber(v); }

bool hasEdgeSpace(const std::string& s) {
    return !s.empty() && (std::isspace(static_cast<unsigned char>(s.front())) || std::isspace(static_cast<unsigned char>(s.back())));
}

class Parser {
public:
    Parser(const FileSource& files, const UnitSystem& units, Diagnostics& diag) : files_(files), units_(units), diag_(diag) {}

    ModelSpec parse(const std::string& root) {
        rootDir_ = std::filesystem::path(root).parent_path();
        std::vector<std::string> stack;
        parseFile(root, stack, true, SourceLocation{root, 0, 0});
        spec_.info.hash = hashHex();
        if (!sawModelTable_ && readRoot_) {
            diag_.error(SourceLocation{root, 1, 1}, "", "model", "the root file has no [model] table (name, version, description)");
        }
        return std::move(spec_);
    }

private:
    const FileSource& files_;
    const UnitSystem& units_;
    Diagnostics& diag_;
    ModelSpec spec_;
    std::set<std::string> loaded_;
    std::uint64_t hash_ = 1469598103934665603ull;  // FNV-1a 64 offset basis
    bool sawModelTable_ = false;
    bool readRoot_ = false;  // the root file was read and parsed (else an earlier error already says why)
    std::string file_;  // current file, for locations
    std::filesystem::path rootDir_;

    void hashBytes(std::string_view s) {
        for (unsigned char c : s) {
            hash_ ^= c;
            hash_ *= 1099511628211ull;
        }
    }
    std::string hashHex() const {
        char buf[17];
        std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(hash_));
        return buf;
    }

    std::string relative(const std::string& path) const {
        if (rootDir_.empty()) return path;
        auto r = std::filesystem::path(path).lexically_relative(rootDir_);
        return r.empty() ? path : r.generic_string();
    }

    SourceLocation loc(const toml::node& n) const {
        const auto& b = n.source().begin;
        return SourceLocation{file_, b.line, b.column};
    }
    SourceLocation loc(const toml::key& k) const {
        const auto& b = k.source().begin;
        return SourceLocation{file_, b.line, b.column};
    }

    void parseFile(const std::string& path, std::vector<std::string>& stack, bool isRoot, const SourceLocation& from) {
        if (std::find(stack.begin(), stack.end(), path) != stack.end()) {
            std::string cycle;
            for (const auto& s : stack) cycle += s + " -> ";
            diag_.error(from, "", "include", "include cycle: " + cycle + path);
            return;
        }
        if (loaded_.count(path)) return;  // included twice through two paths: read once
        std::optional<std::string> text;
        std::string why;
        try {
            text = files_.read(path);
        } catch (const IoError& e) {
            why = e.what();  // "cannot read '<path>': <reason>"
            if (const auto colon = why.find("': "); colon != std::string::npos) why = why.substr(colon + 3);
        }
        if (!text) {
            std::string msg = isRoot ? "cannot read model file '" + path + "'" : "cannot read included file '" + path + "'";
            if (!why.empty()) msg += ": " + why;
            diag_.error(from, "", isRoot ? "" : "include", msg);
            return;
        }
        loaded_.insert(path);
        spec_.info.files.push_back(path);
        // The hash covers paths relative to the root's folder, so a copied model keeps its hash.
        hashBytes(relative(path));
        hashBytes(std::string_view("\0", 1));
        hashBytes(*text);

        toml::table doc;
        try {
            doc = toml::parse(*text, path);
        } catch (const toml::parse_error& e) {
            const auto& b = e.source().begin;
            diag_.error(SourceLocation{path, b.line, b.column}, "", "", "malformed TOML: " + std::string(e.description()));
            return;
        }
        if (isRoot) readRoot_ = true;
        const std::string saved = file_;
        file_ = path;
        std::vector<std::pair<std::string, SourceLocation>> includes;

        for (auto&& [key, node] : doc) {
            const std::string k(key.str());
            if (k == "include") {
                const auto* arr = node.as_array();
                if (!arr) {
                    diag_.error(loc(node), "", "include", "expected an array of file names, got " + typeName(node));
                    continue;
                }
                for (const auto& item : *arr) {
                    if (const auto* s = item.as_string()) {
                        const std::string inc = s->get();
                        if (inc.empty()) {
                            diag_.error(loc(item), "", "include", "an included file name is empty");
                            continue;
                        }
                        const auto resolved = (std::filesystem::path(path).parent_path() / inc).lexically_normal().generic_string();
                        includes.emplace_back(resolved, loc(item));
                    } else {
                        diag_.error(loc(item), "", "include", "expected a file name (string), got " + typeName(item));
                    }
                }
            } else if (k == "model") {
                parseModelTable(node, isRoot);
            } else if (auto kind = kindFromKey(k)) {
                parseEntities(*kind, node, k);
            } else {
                std::vector<std::string_view> cands = {"include", "model"};
                for (Kind kk : kAllKinds) cands.push_back(kindKey(kk));
                std::string msg = "unknown top-level key; expected one of: " + joinValues(cands);
                if (auto m = closestMatch(k, cands); !m.empty()) msg += " (did you mean '" + m + "'?)";
                diag_.error(loc(key), "", k, msg);
            }
        }
        stack.push_back(path);
        for (const auto& [inc, where] : includes) parseFile(inc, stack, false, where);
        stack.pop_back();
        file_ = saved;
    }

    static std::optional<Kind> kindFromKey(const std::string& k) {
        for (Kind kk : kAllKinds)
            if (kindKey(kk) == k) return kk;
        return std::nullopt;
    }

    void parseModelTable(const toml::node& node, bool isRoot) {
        const auto* t = node.as_table();
        if (!t) {
            diag_.error(loc(node), "", "model", "expected a table [model], got " + typeName(node));
            return;
        }
        if (!isRoot) {
            diag_.error(loc(node), "", "model", "[model] belongs in the root file only");
            return;
        }
        sawModelTable_ = true;
        for (auto&& [key, v] : *t) {
            const std::string k(key.str());
            std::string* dst = k == "name" ? &spec_.info.name
                               : k == "version" ? &spec_.info.version
                               : k == "description" ? &spec_.info.description
                                                    : nullptr;
            if (!dst) {
                diag_.error(loc(key), "[model]", k, "unknown key; expected one of: name, version, description");
                continue;
            }
            if (const auto* s = v.as_string()) {
                *dst = s->get();
                if (k == "name" && dst->empty()) diag_.error(loc(v), "[model]", k, "a name must not be empty");
            } else {
                diag_.error(loc(v), "[model]", k, "expected a string, got " + typeName(v));
            }
        }
        if (!t->contains("name")) diag_.error(loc(node), "[model]", "name", "missing required key");
    }

    void parseEntities(Kind kind, const toml::node& node, const std::string& key) {
        const auto* arr = node.as_array();
        if (!arr || !arr->is_array_of_tables()) {
            diag_.error(loc(node), "", key,
                        "expected an array of tables: write [[" + key + "]] (got " + typeName(node) + ")");
            return;
        }
        std::size_t i = 0;
        for (const auto& item : *arr) {
            ++i;
            parseEntity(kind, *item.as_table(), i);
        }
    }

    void parseEntity(Kind kind, const toml::table& t, std::size_t ordinal) {
        EntitySpec e;
        e.kind = kind;
        e.ordinal = ordinal;
        e.where = loc(t);
        // The name first: every later message names the entity.
        if (const auto* n = t.get("name")) {
            if (const auto* s = n->as_string()) {
                e.name = s->get();
                if (e.name.empty()) diag_.error(loc(*n), std::string(kindKey(kind)) + " #" + std::to_string(ordinal), "name", "a name must not be empty");
                else if (hasEdgeSpace(e.name))
                    diag_.error(loc(*n), e.label(), "name", "a name must not begin or end with white space");
            } else {
                diag_.error(loc(*n), std::string(kindKey(kind)) + " #" + std::to_string(ordinal), "name",
                            "expected a string, got " + typeName(*n));
            }
        } else {
            diag_.error(e.where, std::string(kindKey(kind)) + " #" + std::to_string(ordinal) + " of this file", "name",
                        "missing required key");
        }
        const std::string label = e.name.empty() ? std::string(kindKey(kind)) + " #" + std::to_string(ordinal) : e.label();
        if (e.name.empty()) e.name.clear();

        for (auto&& [key, v] : t) {
            const std::string k(key.str());
            if (k == "name") continue;
            if (k == "aliases") {
                if (const auto* a = v.as_array()) {
                    for (const auto& item : *a) {
                        if (const auto* s = item.as_string()) {
                            if (s->get().empty() || hasEdgeSpace(s->get()))
                                diag_.error(loc(item), label, "aliases", "an alias must be non-empty, without white space at the ends");
                            else
                                e.aliases.emplace_back(s->get(), loc(item));
                        } else {
                            diag_.error(loc(item), label, "aliases", "expected a string, got " + typeName(item));
                        }
                    }
                } else {
                    diag_.error(loc(v), label, "aliases", "expected an array of strings, got " + typeName(v));
                }
            } else if (k == "description" || k == "review") {
                if (const auto* s = v.as_string()) {
                    (k == "description" ? e.description : e.review) = s->get();
                } else {
                    diag_.error(loc(v), label, k, "expected a string, got " + typeName(v));
                }
            }
        }
        e.table = parseTable(t, entitySchema(kind), label, "", {"name", "aliases", "description", "review"});
        spec_.entities.push_back(std::move(e));
    }

    Table parseTable(const toml::table& t, const TableSchema& schema, const std::string& label, const std::string& prefix,
                     const std::vector<std::string_view>& common = {}) {
        Table out;
        out.where = loc(t);
        for (auto&& [key, v] : t) {
            const std::string k(key.str());
            if (std::find(common.begin(), common.end(), k) != common.end()) continue;
            const FieldSpec* f = schema.find(k);
            const std::string dotted = prefix.empty() ? k : prefix + "." + k;
            if (!f) {
                std::vector<std::string_view> cands(common.begin(), common.end());
                for (const auto& fs : schema.fields) cands.push_back(fs.key);
                std::string msg = "unknown key for a " + std::string(schema.what);
                if (auto m = closestMatch(k, cands); !m.empty()) msg += " (did you mean '" + m + "'?)";
                else msg += "; expected one of: " + joinValues(cands);
                diag_.error(loc(key), label, dotted, msg);
                continue;
            }
            if (auto field = parseField(v, *f, label, dotted)) out.fields.emplace_back(k, std::move(*field));
            else out.invalid.push_back(k);
        }
        for (const auto& f : schema.fields) {
            if (f.required && !t.contains(f.key)) {
                diag_.error(out.where, label, prefix.empty() ? std::string(f.key) : prefix + "." + std::string(f.key),
                            "missing required key");
            }
        }
        return out;
    }

    std::optional<Field> parseField(const toml::node& v, const FieldSpec& f, const std::string& label, const std::string& key) {
        Field out;
        out.type = f.type;
        out.where = loc(v);
        switch (f.type) {
            case FieldType::String:
            case FieldType::Ref:
            case FieldType::Enum: {
                const auto* s = v.as_string();
                if (!s) {
                    diag_.error(loc(v), label, key, "expected a string, got " + typeName(v));
                    return std::nullopt;
                }
                out.text = s->get();
                if (f.type != FieldType::String && out.text.empty()) {
                    diag_.error(loc(v), label, key, "must not be empty");
                    return std::nullopt;
                }
                if (f.type == FieldType::Enum && std::find(f.values.begin(), f.values.end(), out.text) == f.values.end()) {
                    std::string msg = "'" + out.text + "' is not one of: " + joinValues(f.values);
                    if (auto m = closestMatch(out.text, f.values); !m.empty()) msg += " (did you mean '" + m + "'?)";
                    diag_.error(loc(v), label, key, msg);
                    return std::nullopt;
                }
                return out;
            }
            case FieldType::EnumList:
            case FieldType::RefList:
            case FieldType::StringList: {
                const auto* a = v.as_array();
                if (!a) {
                    diag_.error(loc(v), label, key, "expected an array of strings, got " + typeName(v));
                    return std::nullopt;
                }
                bool ok = true;
                for (const auto& item : *a) {
                    const auto* s = item.as_string();
                    if (!s) {
                        diag_.error(loc(item), label, key, "expected a string, got " + typeName(item));
                        ok = false;
                        continue;
                    }
                    if (f.type == FieldType::EnumList &&
                        std::find(f.values.begin(), f.values.end(), s->get()) == f.values.end()) {
                        std::string msg = "'" + s->get() + "' is not one of: " + joinValues(f.values);
                        if (auto m = closestMatch(s->get(), f.values); !m.empty()) msg += " (did you mean '" + m + "'?)";
                        diag_.error(loc(item), label, key, msg);
                        ok = false;
                        continue;
                    }
                    out.list.emplace_back(s->get(), loc(item));
                }
                if (f.required && a->empty()) {
                    diag_.error(loc(v), label, key, "must not be empty");
                    ok = false;
                }
                if (!ok) return std::nullopt;
                return out;
            }
            case FieldType::Bool: {
                const auto* b = v.as_boolean();
                if (!b) {
                    diag_.error(loc(v), label, key, "expected true or false, got " + typeName(v));
                    return std::nullopt;
                }
                out.flag = b->get();
                return out;
            }
            case FieldType::Param: {
                out.param = parseParam(v, f.unit, f.constraint, label, key, false);
                if (!out.param.ok) return std::nullopt;
                return out;
            }
            case FieldType::ParamMap:
            case FieldType::TraitMap: {
                const auto* t = v.as_table();
                if (!t) {
                    diag_.error(loc(v), label, key, "expected a table of name = { value, unit, source }, got " + typeName(v));
                    return std::nullopt;
                }
                for (auto&& [ek, ev] : *t) {
                    const std::string name(ek.str());
                    ParamValue p = parseParam(ev, f.unit, f.constraint, label, key + "." + name, f.type == FieldType::TraitMap);
                    if (p.ok) out.entries.push_back(NamedParam{name, loc(ek), std::move(p)});
                }
                return out;
            }
            case FieldType::Table: {
                const auto* t = v.as_table();
                if (!t) {
                    diag_.error(loc(v), label, key, "expected a table, got " + typeName(v));
                    return std::nullopt;
                }
                out.tables.push_back(parseTable(*t, *f.nested, label, key));
                return out;
            }
            case FieldType::TableArray: {
                const auto* a = v.as_array();
                if (!a || !a->is_array_of_tables()) {
                    diag_.error(loc(v), label, key, "expected an array of tables, got " + typeName(v));
                    return std::nullopt;
                }
                if (f.required && a->empty()) {
                    diag_.error(loc(v), label, key, "must not be empty");
                    return std::nullopt;
                }
                std::size_t i = 0;
                for (const auto& item : *a) {
                    out.tables.push_back(parseTable(*item.as_table(), *f.nested, label, key + "[" + std::to_string(i++) + "]"));
                }
                return out;
            }
        }
        return std::nullopt;
    }

    std::optional<double> number(const toml::node& n) const {
        if (const auto* i = n.as_integer()) return static_cast<double>(i->get());
        if (const auto* d = n.as_floating_point()) return d->get();
        return std::nullopt;
    }

    ParamValue parseParam(const toml::node& v, std::string_view internalUnit, Constraint c, const std::string& label,
                          const std::string& key, bool trait) {
        ParamValue p;
        p.where = loc(v);
        p.constraint = c;
        const auto* t = v.as_table();
        if (!t) {
            diag_.error(loc(v), label, key,
                        "expected a parameter table { value, unit, source }, got " + typeName(v) +
                            " (every number needs a unit and a source)");
            return p;
        }
        bool ok = true;
        const std::vector<std::string_view> allowed =
            trait ? std::vector<std::string_view>{"value", "unit", "source", "range", "note", "cv"}
                  : std::vector<std::string_view>{"value", "unit", "source", "range", "note"};
        for (auto&& [k, _] : *t) {
            if (std::find(allowed.begin(), allowed.end(), k.str()) == allowed.end()) {
                std::string msg = "unknown key in a parameter; expected one of: " + joinValues(allowed);
                if (auto m = closestMatch(k.str(), allowed); !m.empty()) msg += " (did you mean '" + m + "'?)";
                diag_.error(loc(k), label, key + "." + std::string(k.str()), msg);
                ok = false;
            }
        }
        // value
        if (const auto* n = t->get("value")) {
            if (auto x = number(*n)) {
                if (!std::isfinite(*x)) {
                    diag_.error(loc(*n), label, key, "value is not finite");
                    ok = false;
                } else {
                    p.value = *x;
                }
            } else {
                diag_.error(loc(*n), label, key, "value must be a number, got " + typeName(*n));
                ok = false;
            }
        } else {
            diag_.error(loc(v), label, key, "missing 'value'");
            ok = false;
        }
        // unit
        if (const auto* n = t->get("unit")) {
            if (const auto* s = n->as_string()) {
                p.unit = s->get();
                if (!units_.parses(p.unit)) {
                    diag_.error(loc(*n), label, key, "unit '" + p.unit + "' does not parse");
                    ok = false;
                } else if (!internalUnit.empty() && !units_.convertible(p.unit, internalUnit)) {
                    diag_.error(loc(*n), label, key,
                                "unit '" + p.unit + "' does not convert to '" + std::string(internalUnit) + "' (the unit of this key)");
                    ok = false;
                }
            } else {
                diag_.error(loc(*n), label, key, "unit must be a string, got " + typeName(*n));
                ok = false;
            }
        } else {
            diag_.error(loc(v), label, key, "missing 'unit' (write \"1\" for a dimensionless number)");
            ok = false;
        }
        // source
        if (const auto* n = t->get("source")) {
            if (const auto* s = n->as_string()) {
                p.source = s->get();
                std::string why;
                if (auto sk = classifySource(p.source, &why)) {
                    p.sourceKind = *sk;
                } else {
                    diag_.error(loc(*n), label, key, why);
                    ok = false;
                }
            } else {
                diag_.error(loc(*n), label, key, "source must be a string, got " + typeName(*n));
                ok = false;
            }
        } else {
            diag_.error(loc(v), label, key, "missing 'source' (a paper, review: <section>, fit: <target ids> or assumption: <reason>)");
            ok = false;
        }
        // range
        if (const auto* n = t->get("range")) {
            const auto* a = n->as_array();
            std::optional<double> lo, hi;
            if (a && a->size() == 2) {
                lo = number(*a->get(0));
                hi = number(*a->get(1));
            }
            if (!lo || !hi) {
                diag_.error(loc(*n), label, key, "range must be an array of two numbers [low, high]");
                ok = false;
            } else if (!std::isfinite(*lo) || !std::isfinite(*hi)) {
                diag_.error(loc(*n), label, key, "range bounds must be finite");
                ok = false;
            } else if (*lo > *hi) {
                diag_.error(loc(*n), label, key, "range low " + fmtNumber(*lo) + " is above high " + fmtNumber(*hi));
                ok = false;
            } else {
                p.range = std::make_pair(*lo, *hi);
                if (std::isfinite(p.value) && (p.value < *lo || p.value > *hi)) {
                    diag_.error(loc(*n), label, key,
                                "value " + fmtNumber(p.value) + " is outside its own range [" + fmtNumber(*lo) + ", " + fmtNumber(*hi) + "]");
                    ok = false;
                }
            }
        }
        if (const auto* n = t->get("note")) {
            if (const auto* s = n->as_string()) p.note = s->get();
            else {
                diag_.error(loc(*n), label, key, "note must be a string, got " + typeName(*n));
                ok = false;
            }
        }
        if (trait) {
            if (const auto* n = t->get("cv")) {
                auto x = number(*n);
                if (!x || !std::isfinite(*x) || *x < 0 || *x > 5) {
                    diag_.error(loc(*n), label, key, "cv must be a number in [0, 5]");
                    ok = false;
                } else {
                    p.cv = *x;
                }
            } else {
                diag_.error(loc(v), label, key, "missing 'cv' (the trait's variation on division; 0 if none)");
                ok = false;
            }
        }
        if (!ok) return p;
        if (!internalUnit.empty()) {
            if (!convertParam(p, internalUnit, units_, diag_, label, key)) return p;
        } else {
            // Unit decided at compile; sign constraints hold whatever the (linear) conversion.
            if (auto m = checkConstraint(c, p.value, key); !m.empty()) {
                diag_.error(p.where, label, key, m);
                return p;
            }
        }
        p.ok = true;
        return p;
    }

};

}  // namespace

ModelSpec parseModel(const std::string& root, const FileSource& files, const UnitSystem& units, Diagnostics& diag) {
    Parser p(files, units, diag);
    return p.parse(root);
}

bool convertParam(ParamValue& p, std::string_view internalUnit, const UnitSystem& units, Diagnostics& diag,
                  const std::string& label, const std::string& key) {
    std::string why;
    auto x = units.convert(p.value, p.unit, internalUnit, &why);
    if (!x) {
        diag.error(p.where, label, key, why + " (the unit of this key)");
        return false;
    }
    if (!std::isfinite(*x)) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%g", p.value);
        diag.error(p.where, label, key,
                   std::string("value ") + buf + " " + p.unit + " does not convert to a finite number of '" + std::string(internalUnit) + "'");
        return false;
    }
    p.internal = *x;
    p.internalUnit = std::string(internalUnit);
    if (p.range) {
        auto lo = units.convert(p.range->first, p.unit, internalUnit, &why);
        auto hi = units.convert(p.range->second, p.unit, internalUnit, &why);
        if (lo && hi && (!std::isfinite(*lo) || !std::isfinite(*hi))) {
            diag.error(p.where, label, key, "range does not convert to finite numbers of '" + std::string(internalUnit) + "'");
            return false;
        }
        if (!lo || !hi) {
            diag.error(p.where, label, key, why);
            return false;
        }
        p.rangeInternal = std::make_pair(std::min(*lo, *hi), std::max(*lo, *hi));
        for (double bound : {p.rangeInternal->first, p.rangeInternal->second}) {
            if (auto m = checkConstraint(p.constraint, bound, key); !m.empty()) {
                diag.error(p.where, label, key, "range: " + m);
                return false;
            }
        }
    }
    // The same check a scenario's [overrides] and CompiledModel::setValue() apply.
    if (auto m = valueProblem(static_cast<ValueConstraint>(p.constraint), p.rangeInternal, p.internal, internalUnit, key); !m.empty()) {
        diag.error(p.where, label, key, m);
        return false;
    }
    return true;
}

}  // namespace nkscape::model::detail
