#include "nkscape/model/describe.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <set>

#include "nkscape/io/file.hpp"

namespace nkscape::model {
namespace {

std::string num(double v) { return fmt::format("{:.4g}", v); }

std::string rangeText(const std::optional<std::pair<double, double>>& r) {
    return r ? "[" + num(r->first) + ", " + num(r->second) + "]" : "";
}

// Column-aligned plain-text table; the last column is never padded so long sources wrap freely.
std::string textTable(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> w(header.size(), 0);
    auto width = [](const std::string& s) {
        std::size_t n = 0;  // count UTF-8 code points, not bytes, so α and β align
        for (unsigned char c : s) n += (c & 0xC0) != 0x80;
        return n;
    };
    for (std::size_t c = 0; c < header.size(); ++c) w[c] = width(header[c]);
    for (const auto& r : rows)
        for (std::size_t c = 0; c < r.size() && c < w.size(); ++c) w[c] = std::max(w[c], width(r[c]));
    auto line = [&](const std::vector<std::string>& r) {
        std::string s;
        for (std::size_t c = 0; c < r.size(); ++c) {
            s += r[c];
            if (c + 1 < r.size()) s += std::string(w[c] - width(r[c]) + 2, ' ');
        }
        while (!s.empty() && s.back() == ' ') s.pop_back();
        return s + "\n";
    };
    std::string out = line(header);
    std::vector<std::string> rule;
    for (std::size_t c = 0; c < header.size(); ++c) rule.push_back(std::string(w[c], '-'));
    out += line(rule);
    for (const auto& r : rows) out += line(r);
    return out;
}

std::string mdEscape(const std::string& s) {
    std::string o;
    for (char c : s) {
        if (c == '|') o += "\\|";
        else if (c == '\n') o += ' ';
        else o += c;
    }
    return o;
}

std::string attribute(const EntityInfo& e, std::string_view key) {
    for (const auto& [k, v] : e.attributes)
        if (k == key) return v;
    return {};
}

// The attribute that best says what an entity is, per kind.
std::string headline(const CompiledModel& m, const EntityInfo& e) {
    switch (e.kind) {
        case Kind::Receptor: return attribute(e, "class");
        case Kind::Ligand: return attribute(e, "category") + " (" + attribute(e, "form") + ")";
        case Kind::Interaction: {
            const auto& x = m.interactions()[e.index];
            return attribute(e, "receptor") + " : " + attribute(e, "ligand") +
                   (x.kd != kNoParam ? "  Kd " + num(m.value(x.kd)) + " nM" : "");
        }
        case Kind::Mediator: return attribute(e, "kind") + " [" + attribute(e, "unit") + "]";
        case Kind::Factor: return attribute(e, "role") + " in " + attribute(e, "cells");
        case Kind::CellType: {
            std::string s = attribute(e, "category");
            if (auto st = attribute(e, "subtype"); !st.empty()) s += "/" + st;
            if (auto p = attribute(e, "polarisation"); !p.empty()) s += "/" + p;
            return s;
        }
        case Kind::Regulation:
            return attribute(e, "by") + " -> " + attribute(e, "target") + " (" + attribute(e, "direction") + ", on " + attribute(e, "on") +
                   (attribute(e, "scaled_by").empty() ? std::string() : ", emax x " + attribute(e, "scaled_by")) + ")";
        case Kind::Pathway: return std::to_string(m.pathways()[e.index].edges.size()) + " edges in " + attribute(e, "cells");
        case Kind::Therapy: return attribute(e, "kind");
        case Kind::Constant: {
            const auto& p = m.parameter(m.constants()[e.index]);
            return num(p.value) + " " + p.internalUnit;
        }
    }
    return {};
}

std::string paramKey(const CompiledModel& m, const EntityInfo& e, ParamId id) {
    const std::string& p = m.parameter(id).path;
    const std::string prefix = std::string(kindKey(e.kind)) + "/" + e.name + "/";
    return p.compare(0, prefix.size(), prefix) == 0 ? p.substr(prefix.size()) : p;
}

std::string relativeLocation(const CompiledModel& m, const SourceLocation& where) {
    const auto& files = m.info().files;
    std::filesystem::path rootDir = files.empty() ? std::filesystem::path() : std::filesystem::path(files.front()).parent_path();
    std::string f = where.file;
    if (!rootDir.empty()) {
        auto r = std::filesystem::path(f).lexically_relative(rootDir);
        if (!r.empty()) f = r.generic_string();
    }
    return f + ":" + std::to_string(where.line);
}

std::string pct(std::size_t part, std::size_t whole) {
    return fmt::format("{:.1f} %", whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0);
}

std::string sharesLine(const ProvenanceShares& s) {
    return fmt::format("provenance: published {} ({}), fitted {} ({}), assumption {} ({})\n", s.published, pct(s.published, s.total()), s.fitted,
                       pct(s.fitted, s.total()), s.assumption, pct(s.assumption, s.total()));
}

}  // namespace

ProvenanceShares provenanceShares(const CompiledModel& m, const std::vector<ParamId>& params) {
    ProvenanceShares s;
    for (const ParamId id : params) {
        const SourceKind k = m.parameter(id).sourceKind;
        if (k == SourceKind::Fit) ++s.fitted;
        else if (k == SourceKind::Assumption) ++s.assumption;
        else ++s.published;
    }
    return s;
}

ProvenanceShares provenanceShares(const CompiledModel& m) {
    std::vector<ParamId> all(m.parameters().size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<ParamId>(i);
    return provenanceShares(m, all);
}

std::vector<ParamId> readParameterList(const CompiledModel& m, const std::filesystem::path& file) {
    const std::string text = io::readFile(file);
    const std::string name = file.generic_string();
    Diagnostics diag;
    std::vector<ParamId> out;
    std::set<ParamId> seen;
    std::uint32_t line = 0;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        const std::size_t end = std::min(text.find('\n', pos), text.size());
        std::string l = text.substr(pos, end - pos);
        pos = end + 1;
        ++line;
        if (!l.empty() && l.back() == '\r') l.pop_back();
        if (const auto tab = l.find('\t'); tab != std::string::npos) l.resize(tab);
        std::size_t b = 0;
        while (b < l.size() && l[b] == ' ') ++b;
        while (!l.empty() && l.back() == ' ') l.pop_back();
        const std::string path = l.substr(std::min(b, l.size()));
        if (path.empty() || path[0] == '#') {
            if (end == text.size()) break;
            continue;
        }
        const SourceLocation where{name, line, static_cast<std::uint32_t>(b + 1)};
        if (const auto id = m.findParameter(path)) {
            if (seen.insert(*id).second) out.push_back(*id);
            else diag.error(where, "", "", "parameter '" + path + "' is listed twice");
        } else {
            diag.error(where, "", "", "'" + path + "' is not a parameter of model '" + m.info().name + "' (paths look like \"cell_type/TNBC/doubling_time\")");
        }
        if (end == text.size()) break;
    }
    diag.throwIfAny();
    return out;
}

std::string describeInfluential(const CompiledModel& m, const std::vector<ParamId>& influential, const std::string& listName) {
    std::string out = fmt::format("model {} {} (hash {})\n", m.info().name, m.info().version, m.info().hash);
    out += "overall      " + sharesLine(provenanceShares(m));
    out += fmt::format("influential  {}", sharesLine(provenanceShares(m, influential)));
    out += fmt::format("({} influential parameters listed in {})\n", influential.size(), listName);
    std::vector<std::vector<std::string>> rows;
    for (const ParamId id : influential) {
        const auto& p = m.parameter(id);
        if (p.sourceKind != SourceKind::Assumption) continue;
        rows.push_back({p.path, num(p.value) + " " + p.internalUnit, rangeText(p.range), p.source});
    }
    if (rows.empty()) {
        out += "\nEvery influential parameter carries a published source or a calibration fit.\n";
    } else {
        out += fmt::format("\n{} influential parameter{} still rest{} on an assumption (issue 12: each needs a published source or a fit):\n",
                           rows.size(), rows.size() == 1 ? "" : "s", rows.size() == 1 ? "s" : "");
        out += textTable({"parameter", "value", "range", "source"}, rows);
    }
    return out;
}

std::string describeSummary(const CompiledModel& m) {
    const auto& info = m.info();
    std::string out = fmt::format("model {} {} (hash {})\n", info.name, info.version, info.hash);
    if (!info.description.empty()) out += info.description + "\n";
    out += fmt::format("files: {}\n\n", info.files.size());
    std::vector<std::vector<std::string>> rows;
    for (Kind k : kAllKinds) rows.push_back({std::string(kindKey(k)), std::to_string(m.count(k))});
    rows.push_back({"parameters", std::to_string(m.parameters().size())});
    out += textTable({"kind", "count"}, rows);
    std::array<std::size_t, kSourceKindCount> bySource{};
    std::size_t withRange = 0;  // provenance shares follow the per-form table
    for (const auto& p : m.parameters()) {
        ++bySource[static_cast<std::size_t>(p.sourceKind)];
        withRange += p.range.has_value();
    }
    const double n = std::max<double>(1.0, static_cast<double>(m.parameters().size()));
    out += "\nwhere the numbers come from\n";
    rows.clear();
    for (std::size_t s = 0; s < bySource.size(); ++s) {
        rows.push_back({std::string(sourceKindName(static_cast<SourceKind>(s))), std::to_string(bySource[s]),
                        fmt::format("{:.0f} %", 100.0 * static_cast<double>(bySource[s]) / n)});
    }
    out += textTable({"source", "parameters", "share"}, rows);
    out += "\n" + sharesLine(provenanceShares(m));
    out += fmt::format("\n{} of {} parameters carry a plausible range.\n", withRange, m.parameters().size());
    out += "More: nkscape describe KIND [NAME]   (kinds: receptor ligand interaction mediator factor cell_type regulation pathway therapy constant)\n";
    return out;
}

std::string describeKind(const CompiledModel& m, Kind kind) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : m.entities(kind)) {
        std::string d = e.description;
        if (d.size() > 70) d = d.substr(0, 67) + "...";
        rows.push_back({e.name, headline(m, e), d});
    }
    return fmt::format("{} {} entities\n", m.count(kind), kindKey(kind)) + textTable({"name", "what", "description"}, rows);
}

std::string describeEntity(const CompiledModel& m, EntityRef ref) {
    const EntityInfo& e = m.entity(ref);
    std::string out = fmt::format("{} {}\n", kindKey(e.kind), e.name);
    if (!e.aliases.empty()) {
        out += "  aliases: ";
        for (std::size_t i = 0; i < e.aliases.size(); ++i) out += (i ? ", " : "") + e.aliases[i];
        out += "\n";
    }
    if (!e.description.empty()) out += "  " + e.description + "\n";
    if (!e.review.empty()) out += "  review section: " + e.review + "\n";
    out += "  defined at " + e.where.str() + "\n";
    for (const auto& [k, v] : e.attributes) out += fmt::format("  {} = {}\n", k, v);
    if (!e.params.empty()) {
        std::vector<std::vector<std::string>> rows;
        for (ParamId id : e.params) {
            const auto& p = m.parameter(id);
            rows.push_back({paramKey(m, e, id), num(p.writtenValue) + " " + p.writtenUnit, num(p.value) + " " + p.internalUnit,
                            rangeText(p.range) + (p.cv ? " cv " + num(*p.cv) : ""), p.source});
        }
        out += "\n" + textTable({"parameter", "as written", "internal", "range", "source"}, rows);
    }
    return out;
}

std::string describeMarkdown(const CompiledModel& m) {
    const auto& info = m.info();
    std::string out;
    out += "# Model reference: " + info.name + " " + info.version + "\n\n";
    out += "<!-- Generated by `nkscape describe --markdown` (make docs). Do not edit: a test fails when this file is stale. -->\n\n";
    if (!info.description.empty()) out += info.description + "\n\n";
    out += "Every number below carries its unit as written, its value in nkscape's internal unit, its plausible range "
           "(internal unit) and its source. Sources: `doi:`/`pmid:` a paper; `paper:` a paper cited without an identifier; "
           "`code:` a public model's parameter file; `review:` a section of the seed review; `fit:` fitted to the calibration targets named "
           "(`nkscape calibrate`); `assumption:` no measurement, with the reason. See docs/model-format.md for the format.\n\n";
    std::array<std::size_t, kSourceKindCount> bySource{};
    for (const auto& p : m.parameters()) ++bySource[static_cast<std::size_t>(p.sourceKind)];
    out += "| kind | count |\n|---|---|\n";
    for (Kind k : kAllKinds) out += fmt::format("| {} | {} |\n", kindKey(k), m.count(k));
    out += fmt::format("| parameters | {} |\n\n", m.parameters().size());
    out += "| source form | parameters |\n|---|---|\n";
    for (std::size_t s = 0; s < bySource.size(); ++s)
        out += fmt::format("| {} | {} |\n", sourceKindName(static_cast<SourceKind>(s)), bySource[s]);
    out += "\n";
    for (Kind k : kAllKinds) {
        out += fmt::format("## {} ({})\n\n", kindKey(k), m.count(k));
        for (const auto& e : m.entities(k)) {
            out += "### " + e.name + "\n\n";
            out += "*" + mdEscape(headline(m, e)) + "*";
            if (!e.aliases.empty()) {
                out += " — also ";
                for (std::size_t i = 0; i < e.aliases.size(); ++i) out += (i ? ", " : "") + e.aliases[i];
            }
            out += " — `" + relativeLocation(m, e.where) + "`\n\n";
            if (!e.description.empty()) out += e.description + "\n\n";
            if (!e.review.empty()) out += "Review section: " + e.review + "\n\n";
            bool any = false;
            for (const auto& [key, v] : e.attributes) {
                if (key == "description" || key == "review") continue;
                out += fmt::format("- `{}` = {}\n", key, mdEscape(v));
                any = true;
            }
            if (any) out += "\n";
            if (!e.params.empty()) {
                out += "| parameter | as written | internal | range | source |\n|---|---|---|---|---|\n";
                for (ParamId id : e.params) {
                    const auto& p = m.parameter(id);
                    out += fmt::format("| {} | {} {} | {} {} | {} | {} |\n", mdEscape(paramKey(m, e, id)), num(p.writtenValue),
                                       mdEscape(p.writtenUnit), num(p.value), mdEscape(p.internalUnit),
                                       rangeText(p.range) + (p.cv ? " cv " + num(*p.cv) : ""), mdEscape(p.source));
                }
                out += "\n";
            }
        }
    }
    return out;
}

}  // namespace nkscape::model
