// Model overlays (docs/model-format.md, "Model overlays"): a root file that names a base model
// and replaces some of its parameters' values, each with its own source — how fitted values
// (`nkscape calibrate`) are kept apart from the published model. Every problem of the overlay is
// reported together, with file:line:column, like the model loader's.

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>

#include "nkscape/error.hpp"
#include "nkscape/model/loader.hpp"
#include "parse.hpp"
#include "spec.hpp"
#include "toml_names.hpp"

namespace nkscape::model {

/// Applies an overlay file to its base model. A friend of CompiledModel: it replaces values with
/// their provenance and the model's identity (files, hash), which nothing else may.
class OverlayLoader {
public:
    OverlayLoader(std::string path, const FileSource& files, const UnitSystem& units, int depth)
        : path_(std::move(path)), files_(files), units_(units), depth_(depth) {}

    CompiledModel load(const toml::table& doc, const std::string& text) {
        const toml::table* overlay = nullptr;
        const toml::array* sets = nullptr;
        for (auto&& [key, node] : doc) {
            const std::string k(key.str());
            if (k == "overlay") {
                overlay = node.as_table();
                if (!overlay) error(loc(node), "", "overlay", "expected a table [overlay] (base, description), got " + detail::tomlTypeName(node));
            } else if (k == "set") {
                sets = node.as_array();
                if (!sets) error(loc(node), "", "set", "expected [[set]] tables (path, value, unit, source), got " + detail::tomlTypeName(node));
            } else {
                unknown(key, "", k, {"overlay", "set"}, "unknown top-level key of a model overlay");
            }
        }
        std::optional<CompiledModel> base;
        std::string description;
        if (overlay) base = readHeader(*overlay, description);
        std::vector<Set> parsed;
        if (sets) {
            std::size_t ordinal = 0;
            for (const auto& item : *sets) {
                ++ordinal;
                const auto* t = item.as_table();
                if (!t) {
                    error(loc(item), "set #" + std::to_string(ordinal), "", "expected a table, got " + detail::tomlTypeName(item));
                    continue;
                }
                if (auto s = readSet(*t, ordinal, base ? &*base : nullptr)) parsed.push_back(std::move(*s));
            }
        }
        std::set<ParamId> seen;
        for (const auto& s : parsed)
            if (!seen.insert(s.id).second) error(s.pathWhere, s.entity, "path", "parameter '" + s.path + "' is set twice");
        diag_.sort();
        diag_.throwIfAny();
        CompiledModel m = std::move(*base);
        for (const auto& s : parsed) {
            ParameterInfo& p = m.parameters_.at(s.id);
            m.values_.at(s.id) = s.internal;
            p.value = s.internal;
            p.writtenValue = s.written;
            p.writtenUnit = s.unit;
            p.source = s.source;
            p.sourceKind = s.kind;
            if (!s.note.empty()) p.note = s.note;
            p.where = s.where;
        }
        // The overlay is the root: first among the files, and its bytes are part of the identity.
        ModelInfo& info = m.info_;
        info.files.insert(info.files.begin(), path_);
        std::uint64_t h = 1469598103934665603ull;  // FNV-1a 64 of the base's hash and the overlay's bytes
        auto hashBytes = [&h](std::string_view b) {
            for (const unsigned char c : b) {
                h ^= c;
                h *= 1099511628211ull;
            }
        };
        hashBytes(info.hash);
        hashBytes(std::string_view("\0", 1));
        hashBytes(text);
        char buf[17];
        std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
        info.hash = buf;
        if (!description.empty()) info.description = description;
        return m;
    }

private:
    struct Set {
        std::string entity, path, unit, source, note;
        ParamId id = kNoParam;
        double written = 0, internal = 0;
        SourceKind kind = SourceKind::Assumption;
        SourceLocation where, pathWhere;
    };

    std::string path_;
    const FileSource& files_;
    const UnitSystem& units_;
    int depth_;
    Diagnostics diag_;

    SourceLocation loc(const toml::node& n) const { return {path_, n.source().begin.line, n.source().begin.column}; }
    SourceLocation loc(const toml::key& k) const { return {path_, k.source().begin.line, k.source().begin.column}; }
    void error(SourceLocation where, const std::string& entity, const std::string& key, const std::string& msg) {
        diag_.error(std::move(where), entity, key, msg);
    }
    void unknown(const toml::key& key, const std::string& entity, const std::string& k, const std::vector<std::string_view>& allowed,
                 const std::string& what) {
        std::string msg = what + "; expected one of: " + detail::joinWords(allowed);
        if (auto m = detail::closestMatch(k, allowed); !m.empty()) msg += " (did you mean '" + m + "'?)";
        error(loc(key), entity, k, msg);
    }
    std::optional<std::string> text(const toml::table& t, std::string_view key, const std::string& entity, bool required) {
        const toml::node* n = t.get(key);
        if (!n) {
            if (required) error(loc(t), entity, std::string(key), "missing required key");
            return std::nullopt;
        }
        const auto* s = n->as_string();
        if (!s) {
            error(loc(*n), entity, std::string(key), "expected a string, got " + detail::tomlTypeName(*n));
            return std::nullopt;
        }
        for (const char c : s->get())
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
                error(loc(*n), entity, std::string(key), "contains a control character; text must be printable (no tabs, line breaks or NUL)");
                return std::nullopt;
            }
        return s->get();
    }

    // [overlay]: base (required), description. Loads the base; its problems join the overlay's.
    std::optional<CompiledModel> readHeader(const toml::table& t, std::string& description) {
        const std::string entity = "[overlay]";
        for (auto&& [key, _] : t) {
            const std::string k(key.str());
            if (k != "base" && k != "description") unknown(key, entity, k, {"base", "description"}, "unknown key of [overlay]");
        }
        if (auto d = text(t, "description", entity, false)) description = *d;
        const auto base = text(t, "base", entity, true);
        if (!base) return std::nullopt;
        if (base->empty()) {
            error(loc(*t.get("base")), entity, "base", "the base model's file name is empty");
            return std::nullopt;
        }
        const auto where = loc(*t.get("base"));
        const std::string resolved = (std::filesystem::path(path_).parent_path() / *base).lexically_normal().generic_string();
        if (resolved == path_) {
            error(where, entity, "base", "an overlay cannot be its own base");
            return std::nullopt;
        }
        if (depth_ + 1 > kMaxOverlayDepth) {
            error(where, entity, "base",
                  "overlays nest more than " + std::to_string(kMaxOverlayDepth) + " deep (is there a cycle of overlays naming each other?)");
            return std::nullopt;
        }
        std::optional<std::string> baseText;
        std::string why;
        try {
            baseText = files_.read(resolved);
        } catch (const IoError& e) {
            why = std::string(": ") + e.what();
        }
        if (!baseText) {
            error(where, entity, "base", "cannot read the base model '" + resolved + "' (resolved against the overlay's folder)" + why);
            return std::nullopt;
        }
        try {
            return loadModelAtDepth(resolved, files_, units_, depth_ + 1);
        } catch (const ModelError& e) {
            for (const auto& d : e.diagnostics()) diag_.error(d.where, d.entity, d.key, d.message);
            error(where, entity, "base", "the base model '" + resolved + "' does not load (" + std::to_string(e.diagnostics().size()) + " error" +
                                             (e.diagnostics().size() == 1 ? "" : "s") + ")");
        }
        return std::nullopt;
    }

    // One [[set]]: path, value, unit, source, note — checked like a model file's parameter.
    std::optional<Set> readSet(const toml::table& t, std::size_t ordinal, const CompiledModel* m) {
        Set s;
        s.entity = "set #" + std::to_string(ordinal);
        s.where = loc(t);
        bool ok = true;
        const auto path = text(t, "path", s.entity, true);
        if (path) s.entity += " ('" + *path + "')";
        for (auto&& [key, _] : t) {
            const std::string k(key.str());
            if (k != "path" && k != "value" && k != "unit" && k != "source" && k != "note") {
                unknown(key, s.entity, k, {"path", "value", "unit", "source", "note"}, "unknown key of a [[set]]");
                ok = false;
            }
        }
        const auto unit = text(t, "unit", s.entity, true);
        const auto source = text(t, "source", s.entity, true);
        if (auto note = text(t, "note", s.entity, false)) s.note = *note;
        if (!path || !unit || !source) ok = false;
        // A plain double and a flag (std::optional trips GCC's maybe-uninitialized here).
        double value = 0;
        bool haveValue = false;
        if (const toml::node* n = t.get("value")) {
            if (const auto* f = n->as_floating_point()) value = f->get(), haveValue = true;
            else if (const auto* i = n->as_integer()) value = static_cast<double>(i->get()), haveValue = true;
            if (!haveValue) error(loc(*n), s.entity, "value", "expected a number, got " + detail::tomlTypeName(*n));
            else if (!std::isfinite(value)) {
                error(loc(*n), s.entity, "value", "value is not finite");
                haveValue = false;
            }
        } else {
            error(loc(t), s.entity, "value", "missing required key");
        }
        if (!haveValue) ok = false;
        if (source) {
            std::string why;
            if (auto k = detail::classifySource(*source, &why)) s.kind = *k;
            else {
                error(loc(*t.get("source")), s.entity, "source", why);
                ok = false;
            }
        }
        if (unit && !units_.parses(*unit)) {
            error(loc(*t.get("unit")), s.entity, "unit", "unit '" + *unit + "' does not parse");
            ok = false;
        }
        if (!m || !path) return std::nullopt;  // the base did not load: its errors say why
        const auto id = m->findParameter(*path);
        if (!id) {
            error(loc(*t.get("path")), s.entity, "path",
                  "no parameter of model '" + m->info().name + "' has this path (paths look like \"cell_type/TNBC/doubling_time\"; "
                  "`nkscape describe KIND NAME` lists an entity's parameters)");
            return std::nullopt;
        }
        if (!ok) return std::nullopt;
        const ParameterInfo& info = m->parameter(*id);
        std::string why;
        const auto x = units_.convert(value, *unit, info.internalUnit, &why);
        if (!x) {
            error(loc(*t.get("unit")), s.entity, "unit", why + " (the unit of this parameter is '" + info.internalUnit + "')");
            return std::nullopt;
        }
        if (const std::string problem = m->valueProblem(*id, *x); !problem.empty()) {
            error(loc(*t.get("value")), s.entity, "value",
                  problem + " (the base model's value: " + detail::formatNumber(info.value) + " " + info.internalUnit + ", " + info.where.str() + ")");
            return std::nullopt;
        }
        s.path = *path;
        s.unit = *unit;
        s.source = *source;
        s.id = *id;
        s.written = value;
        s.internal = *x;
        s.where = loc(*t.get("value"));
        s.pathWhere = loc(*t.get("path"));
        return s;
    }
};

std::optional<CompiledModel> loadIfOverlay(const std::string& root, const FileSource& files, const UnitSystem& units, int depth) {
    std::optional<std::string> text;
    try {
        text = files.read(root);
    } catch (const IoError&) {
        return std::nullopt;  // the model loader reports it
    }
    if (!text) return std::nullopt;
    toml::table doc;
    try {
        doc = toml::parse(*text, root);
    } catch (const toml::parse_error&) {
        return std::nullopt;
    }
    if (!doc.contains("overlay")) return std::nullopt;
    OverlayLoader loader(root, files, units, depth);
    return loader.load(doc, *text);
}

}  // namespace nkscape::model
