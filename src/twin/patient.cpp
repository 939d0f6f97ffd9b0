// Patient files (docs/twin.md, "The patient file"): TOML → Patient, checked against the regimens
// file's population. Like every reader here, every problem is recorded with its file:line:column
// and reported together.

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "io/scenario_checker.hpp"
#include "nkscape/io/run.hpp"
#include "nkscape/twin/twin.hpp"

namespace nkscape::twin {

namespace {

using io::detail::Sign;

class Checker : public io::detail::ScenarioChecker {
public:
    Checker(std::string path, const trial::LoadedTrial& t, const model::UnitSystem& units, model::Diagnostics& diag)
        : ScenarioChecker(std::move(path), &t.base->model, units, diag), t_(t) {}

    Patient check(const toml::table& doc) {
        Patient p;
        p.path = path_;
        const toml::table* patient = nullptr;
        const toml::array* measurements = nullptr;
        for (auto&& [key, node] : doc) {
            const std::string k(key.str());
            if (k == "patient") {
                patient = node.as_table();
                if (!patient) error(loc(node), "", k, "expected a table [patient], got " + typeName(node)), seen_.push_back(k);
            } else if (k == "measurement") {
                measurements = node.as_array();
                if (!measurements || !measurements->is_array_of_tables())
                    error(loc(node), "", k, "expected an array of tables: write [[measurement]]"), measurements = nullptr, seen_.push_back(k);
            } else {
                unknownKey(key, "", k, {"patient", "measurement"}, "unknown top-level key in a patient file");
            }
        }
        const model::SourceLocation top{path_, 1, 1};
        if (patient) readPatient(*patient, p);
        else if (!wasSeen("patient")) error(top, "", "patient", "missing required table [patient] (name, kind, subtype, lesions)");
        if (measurements) readMeasurements(*measurements, p);
        else if (!wasSeen("measurement"))
            error(top, "", "measurement", fmt::format("missing [[measurement]] tables ({} to {} tumour measurements)", kMinMeasurements, kMaxMeasurements));
        return p;
    }

private:
    const trial::LoadedTrial& t_;

    template <class List>
    static std::optional<std::size_t> indexByName(const List& list, const std::string& name) {
        for (std::size_t k = 0; k < list.size(); ++k)
            if (list[k].name == name) return k;
        return std::nullopt;
    }

    void readPatient(const toml::table& tab, Patient& p) {
        const std::string entity = "[patient]";
        checkKeys(tab, entity, "",
                  {"name", "kind", "description", "subtype", "prior_lines", "lesions", "population", "biomarkers", "attributes", "blood_nk_count",
                   "serum_smica", "serum_tgfb"},
                  "[patient]");
        if (auto v = text(tab, "name", entity, true)) {
            if (v->empty()) error(loc(*tab.get("name")), entity, "name", "must not be empty");
            p.name = *v;
        }
        if (auto v = text(tab, "kind", entity, true, " (\"patient\")"))
            if (*v != "patient") error(loc(*tab.get("kind")), entity, "kind", "'" + *v + "' is not a patient; `nkscape twin` reads files of kind \"patient\"");
        (void)text(tab, "description", entity, false);
        if (auto ct = cellType(tab, "subtype", model::CellCategory::Tumour, entity, "the tumour's cell type, e.g. \"TNBC\"")) {
            if (std::none_of(t_.subtypes.begin(), t_.subtypes.end(), [&](const auto& s) { return s.first == *ct; })) {
                std::string list;
                for (const auto& s : t_.subtypes) list += (list.empty() ? "" : ", ") + m_->entities(model::Kind::CellType)[s.first].name;
                error(loc(*tab.get("subtype")), entity, "subtype",
                      fmt::format("'{}' is not a subtype of the regimens file's population (which has: {})", m_->entities(model::Kind::CellType)[*ct].name,
                                  list));
            } else {
                p.subtype = *ct;
            }
        }
        if (auto v = integer(tab, "lesions", entity, 1, static_cast<std::int64_t>(trial::kMaxTargetLesions), "the number of target lesions the SLD sums"))
            p.lesions = static_cast<std::size_t>(*v);
        if (const toml::node* n = tab.get("population")) {
            const auto* s = n->as_string();
            if (!s || s->get().empty()) {
                error(loc(*n), entity, "population", "expected the path of a population file, relative to this file");
            } else {
                const auto mine = (std::filesystem::path(path_).parent_path() / s->get()).lexically_normal();
                std::error_code ec1, ec2;
                const bool same = !t_.populationFile.empty() && std::filesystem::equivalent(mine, t_.populationFile, ec1) && !ec1;
                (void)ec2;
                if (!same)
                    error(loc(*n), entity, "population",
                          fmt::format("'{}' is not the regimens file's population ('{}'): the prior comes from the regimens file's [trial] "
                                      "population; name the same file here, or write a regimens file for this population",
                                      mine.generic_string(), t_.populationFile.empty() ? "none" : t_.populationFile));
            }
        }
        // Lines of therapy → the population's `line` attribute (level "n+1", or "k+" for k <= n+1).
        if (tab.get("prior_lines")) {
            if (auto v = integer(tab, "prior_lines", entity, 0, 20, "lines of therapy before this one")) {
                p.priorLines = *v;
                const auto a = indexByName(t_.attributes, "line");
                if (!a) {
                    error(loc(*tab.get("prior_lines")), entity, "prior_lines",
                          "not implemented: the regimens file's population has no `line` attribute, so the line of therapy cannot be linked "
                          "to the patient's biology; remove the key or use a population with a `line` attribute");
                } else {
                    const std::int64_t line = *v + 1;
                    std::string level, plus;
                    std::int64_t plusAt = -1;
                    for (const auto& l : t_.attributes[*a].levels) {
                        if (l == std::to_string(line)) level = l;
                        if (l.size() > 1 && l.back() == '+' && std::all_of(l.begin(), l.end() - 1, [](char ch) { return ch >= '0' && ch <= '9'; }) &&
                            l.size() < 12) {
                            const std::int64_t k = std::stoll(l.substr(0, l.size() - 1));
                            if (k <= line && k > plusAt) plusAt = k, plus = l;
                        }
                    }
                    if (level.empty()) level = plus;
                    if (level.empty())
                        error(loc(*tab.get("prior_lines")), entity, "prior_lines",
                              fmt::format("line {} is not a level of the population's `line` attribute", line));
                    else
                        p.attributes.emplace_back(*a, level);
                }
            }
        }
        readLevels(tab, "attributes", entity, p, true);
        readLevels(tab, "biomarkers", entity, p, false);
        if (const toml::node* n = tab.get("blood_nk_count")) {
            if (auto v = quantity(*n, "cell/uL", Sign::Positive, entity, "blood_nk_count", 1e5, "far above any blood NK count")) {
                bool linked = false;
                for (const auto& pop : t_.base->spec.populations)
                    if (pop.blood && m_->cellTypes()[pop.cellType].category == model::CellCategory::Nk) linked = true;
                if (!linked) error(loc(*n), entity, "blood_nk_count", "not implemented: the regimens file's base scenario follows no NK population with a blood pool (`blood = true`), so a blood NK count cannot be linked to a model quantity");
                else p.bloodNk_per_uL = *v;
            }
        }
        for (const char* k : {"serum_smica", "serum_tgfb"})
            if (const toml::node* n = tab.get(k))
                error(loc(*n), entity, k,
                      "not implemented: the well-mixed engine has tumour-interstitial mediator levels but no serum compartment for "
                      "tumour-shed mediators, so a serum concentration cannot be linked to a model quantity yet; remove the key");
    }

    void readLevels(const toml::table& tab, std::string_view key, const std::string& entity, Patient& p, bool attributes) {
        const toml::node* n = tab.get(key);
        if (!n) return;
        const auto* levels = n->as_table();
        if (!levels) {
            error(loc(*n), entity, std::string(key), "expected a table of name = \"level\", got " + typeName(*n));
            return;
        }
        for (auto&& [k, v] : *levels) {
            const std::string name(k.str());
            const std::string where = std::string(key) + "." + name;
            const std::vector<std::string>* known = nullptr;
            std::size_t index = 0;
            if (attributes) {
                if (auto a = indexByName(t_.attributes, name)) index = *a, known = &t_.attributes[*a].levels;
            } else if (auto b = indexByName(t_.biomarkers, name)) {
                index = *b, known = &t_.biomarkers[*b].levels;
            }
            if (!known) {
                std::vector<std::string_view> names;
                if (attributes) for (const auto& a : t_.attributes) names.push_back(a.name);
                else for (const auto& b : t_.biomarkers) names.push_back(b.name);
                unknownKey(k, entity, where, names,
                           std::string("not implemented: no ") + (attributes ? "attribute" : "biomarker") + " of the regimens file's population has this name, so the observation cannot be linked to a model quantity");
                continue;
            }
            const auto* s = v.as_string();
            if (!s) {
                error(loc(v), entity, where, "expected a level (a string), got " + typeName(v));
                continue;
            }
            if (std::find(known->begin(), known->end(), s->get()) == known->end()) {
                std::string list;
                for (const auto& l : *known) list += (list.empty() ? "" : ", ") + l;
                error(loc(v), entity, where, fmt::format("'{}' is not a level of '{}' (levels: {})", s->get(), name, list));
                continue;
            }
            auto& out = attributes ? p.attributes : p.biomarkers;
            if (std::any_of(out.begin(), out.end(), [&](const auto& e) { return e.first == index; })) {
                error(loc(v), entity, where, "given twice (prior_lines sets the `line` attribute)");
                continue;
            }
            out.emplace_back(index, s->get());
        }
    }

    void readMeasurements(const toml::array& arr, Patient& p) {
        if (arr.size() < kMinMeasurements || arr.size() > kMaxMeasurements)
            error(loc(arr), "", "measurement", fmt::format("{} to {} [[measurement]] tables, got {}", kMinMeasurements, kMaxMeasurements, arr.size()));
        std::size_t i = 0;
        for (const auto& item : arr) {
            const auto& tab = *item.as_table();
            const std::string entity = "measurement #" + std::to_string(++i);
            checkKeys(tab, entity, "", {"day", "sld", "cells", "source"}, "a [[measurement]]");
            Measurement m;
            m.where = loc(tab);
            bool ok = true;
            if (auto v = requiredQuantity(tab, "day", "d", Sign::NonNegative, entity, "when it was taken, e.g. { value = 42, unit = \"d\" }", 36525, "100 years"))
                m.day = *v;
            else
                ok = false;
            const bool sld = tab.get("sld") != nullptr, cells = tab.get("cells") != nullptr;
            if (sld == cells) {
                error(loc(tab), entity, "sld", "give exactly one of sld (sum of target-lesion diameters, mm) or cells (tumour cells)");
                ok = false;
            } else if (sld) {
                if (auto v = quantity(*tab.get("sld"), "mm", Sign::Positive, entity, "sld", 5000, "5 m: no tumour")) m.value = *v;
                else ok = false;
            } else {
                m.cells = true;
                if (auto v = quantity(*tab.get("cells"), "cell", Sign::Positive, entity, "cells", 1e13, "about 10 kg of tumour")) m.value = *v;
                else ok = false;
            }
            (void)text(tab, "source", entity, false);
            if (!ok) continue;
            if (!p.measurements.empty() && !(m.day > p.measurements.back().day))
                error(loc(*tab.get("day")), entity, "day", "measurements must be in order of strictly increasing day");
            else if (!p.measurements.empty() && m.day - p.measurements.front().day > kMaxMeasurementSpan_d)
                error(loc(*tab.get("day")), entity, "day", fmt::format("more than {:g} d after the first measurement (docs/limits.md)", kMaxMeasurementSpan_d));
            else
                p.measurements.push_back(m);
        }
        if (!p.measurements.empty() && !p.measurements.front().cells && p.measurements.front().value < t_.followUp.recist.geometry.minMeasurable_mm)
            error(p.measurements.front().where, "measurement #1", "sld",
                  fmt::format("the first SLD must be >= {:g} mm (a measurable target lesion, RECIST 1.1)", t_.followUp.recist.geometry.minMeasurable_mm));
    }
};

Patient parseWith(const std::string& text, const std::string& path, const trial::LoadedTrial& t, model::Diagnostics& diag) {
    auto doc = io::detail::parseScenarioToml(text, path, diag);
    diag.throwIfAny();
    const model::UnitSystem units;
    Checker checker(path, t, units, diag);
    Patient p = checker.check(*doc);
    diag.sort();
    diag.throwIfAny();
    p.fileHash = fmt::format("{:016x}", io::fnv1a64(text));
    return p;
}

}  // namespace

Patient loadPatient(const std::filesystem::path& file, const trial::LoadedTrial& t) {
    model::Diagnostics diag;
    const std::string path = file.lexically_normal().generic_string();
    const std::string text = io::detail::readInputFile(file, path, "patient file", diag);
    return parseWith(text, path, t, diag);
}

Patient parsePatient(const std::string& toml, const std::string& path, const trial::LoadedTrial& t) {
    model::Diagnostics diag;
    return parseWith(toml, path, t, diag);
}

}  // namespace nkscape::twin
