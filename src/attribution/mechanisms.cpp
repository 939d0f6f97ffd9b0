// The mechanisms file reader (docs/attribution.md, "Mechanisms file"): [[mechanism]] tables, each
// with [[mechanism.remove]] changes checked against the model the patients are simulated with.
// Every problem of the file is reported together, each with file:line:column.

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "io/scenario_checker.hpp"
#include "nkscape/attribution/attribution.hpp"
#include "nkscape/error.hpp"

namespace nkscape::attribution {

namespace {

class Checker : public io::detail::ScenarioChecker {
public:
    using ScenarioChecker::ScenarioChecker;

    std::vector<Mechanism> check(const toml::table& doc) {
        std::vector<Mechanism> out;
        for (auto&& [key, node] : doc) {
            const std::string k(key.str());
            if (k != "mechanism") {
                unknownKey(key, "", k, {"mechanism"}, "unknown top-level key");
                continue;
            }
            const auto* arr = node.as_array();
            if (!arr || !arr->is_array_of_tables()) {
                error(loc(node), "", k, "expected an array of tables: write [[mechanism]]");
                continue;
            }
            if (arr->size() > kMaxMechanisms) {
                error(loc(node), "", k, fmt::format("{} mechanisms; at most {} (docs/limits.md)", arr->size(), kMaxMechanisms));
                continue;
            }
            std::size_t i = 0;
            for (const auto& item : *arr) readMechanism(*item.as_table(), ++i, out);
        }
        if (out.empty() && diag_.empty()) error(SourceLocation{path_, 0, 0}, "", "mechanism", "no [[mechanism]] table: nothing to attribute");
        return out;
    }

private:
    std::optional<double> number(const toml::node& n, const std::string& entity, const std::string& key) {
        std::optional<double> v;
        if (const auto* i = n.as_integer()) v = static_cast<double>(i->get());
        else if (const auto* d = n.as_floating_point()) v = d->get();
        if (!v) {
            error(loc(n), entity, key, "expected a number, got " + typeName(n));
            return std::nullopt;
        }
        if (!std::isfinite(*v) || *v < 0) {
            error(loc(n), entity, key, "must be a finite number >= 0, got " + fmtNumber(*v));
            return std::nullopt;
        }
        return v;
    }

    void readMechanism(const toml::table& t, std::size_t ordinal, std::vector<Mechanism>& out) {
        std::string entity = "mechanism #" + std::to_string(ordinal);
        checkKeys(t, entity, "", {"name", "description", "source", "rationale", "remove"}, "a [[mechanism]]");
        Mechanism mech;
        mech.where = loc(t);
        if (auto v = text(t, "name", entity, true)) {
            if (v->empty()) error(loc(*t.get("name")), entity, "name", "must not be empty");
            mech.name = *v;
            entity = "mechanism '" + mech.name + "'";
            if (std::any_of(out.begin(), out.end(), [&](const Mechanism& o) { return o.name == mech.name; }))
                error(loc(*t.get("name")), entity, "name", "two mechanisms have this name");
        }
        mech.description = text(t, "description", entity, true, " (what the mechanism is)").value_or("");
        mech.source = text(t, "source", entity, true, " (the review section or paper that defines it)").value_or("");
        mech.rationale = text(t, "rationale", entity, true, " (why the removal switches the mechanism off at its root)").value_or("");
        const toml::node* rn = t.get("remove");
        if (!rn) {
            error(loc(t), entity, "remove", "missing required key: write one or more [[mechanism.remove]] tables");
        } else if (const auto* arr = rn->as_array(); !arr || !arr->is_array_of_tables() || arr->empty()) {
            error(loc(*rn), entity, "remove", "expected an array of tables: write [[mechanism.remove]]");
        } else if (arr->size() > kMaxRemovals) {
            error(loc(*rn), entity, "remove", fmt::format("{} changes; at most {} (docs/limits.md)", arr->size(), kMaxRemovals));
        } else {
            std::size_t i = 0;
            for (const auto& item : *arr) readRemoval(*item.as_table(), entity + ", remove #" + std::to_string(++i), mech);
        }
        out.push_back(std::move(mech));
    }

    void readRemoval(const toml::table& t, const std::string& entity, Mechanism& mech) {
        checkKeys(t, entity, "", {"target", "value", "multiply", "note"}, "a [[mechanism.remove]]");
        (void)text(t, "note", entity, false);
        Removal r;
        r.where = loc(t);
        const auto target = text(t, "target", entity, true,
                                 " (\"parameter:<path>\", \"ligand:<ligand>\", \"secretion:<mediator>\", \"population:<cell type>.initial_cells\" "
                                 "or \"population:<cell type>.influx\")");
        if (!target) return;
        r.target = *target;
        const SourceLocation where = loc(*t.get("target"));
        const auto colon = target->find(':');
        const std::string kind = colon == std::string::npos ? *target : target->substr(0, colon);
        const std::string rest = colon == std::string::npos ? "" : target->substr(colon + 1);
        const toml::node* valueNode = t.get("value");
        const toml::node* multiplyNode = t.get("multiply");
        if (valueNode && multiplyNode) {
            error(loc(*valueNode), entity, "value", "give `value` (set) or `multiply`, not both");
            return;
        }
        if (kind == "parameter") {
            r.kind = Removal::Kind::Parameter;
            r.path = rest;
            const auto id = m_->findParameter(rest);
            if (!id) {
                std::vector<std::string_view> paths;
                for (const auto& p : m_->parameters()) paths.push_back(p.path);
                std::string msg = "no parameter '" + rest + "' in model '" + m_->info().name + "'";
                if (auto c = model::detail::closestMatch(rest, paths); !c.empty()) msg += " (did you mean '" + c + "'?)";
                else msg += " (paths as `nkscape describe` prints them: <kind>/<name>/<key>)";
                error(where, entity, "target", msg);
                return;
            }
            const auto& info = m_->parameter(*id);
            r.unit = info.internalUnit;
            if (multiplyNode) {
                auto v = number(*multiplyNode, entity, "multiply");
                if (!v) return;
                r.multiply = true;
                r.value = *v;
            } else if (valueNode) {
                auto v = quantity(*valueNode, info.internalUnit, io::detail::Sign::Any, entity, "value");
                if (!v) return;
                const auto slash = info.path.rfind('/');
                const std::string key = slash == std::string::npos ? info.path : info.path.substr(slash + 1);
                if (const std::string why = model::valueProblem(info.constraint, std::nullopt, *v, info.internalUnit, key); !why.empty()) {
                    error(loc(*valueNode), entity, "value", "parameter '" + info.path + "': " + why);
                    return;
                }
                r.multiply = false;
                r.value = *v;
            } else {
                error(loc(t), entity, "value", "missing: give `value = { value = ..., unit = \"...\" }` (set) or `multiply = <number>`");
                return;
            }
            mech.changes.parameters.push_back(trial::PatientChanges::ParameterChange{r.path, r.multiply, r.value});
            mech.removals.push_back(std::move(r));
            return;
        }
        // The other targets multiply.
        std::optional<double> factor;
        if (valueNode) {
            error(loc(*valueNode), entity, "value", "a " + kind + " target takes `multiply` (a factor), not `value`");
            return;
        }
        if (!multiplyNode) {
            error(loc(t), entity, "multiply", "missing required key (the factor, e.g. 0 to remove it)");
            return;
        }
        factor = number(*multiplyNode, entity, "multiply");
        if (!factor) return;
        r.value = *factor;
        if (kind == "ligand") {
            r.kind = Removal::Kind::Ligand;
            auto i = resolve(rest, model::Kind::Ligand, where, entity, "target", "a ligand on the tumour clones");
            if (!i) return;
            r.index = *i;
            mech.changes.ligands.emplace_back(*i, *factor);
        } else if (kind == "secretion") {
            r.kind = Removal::Kind::Secretion;
            auto i = resolve(rest, model::Kind::Mediator, where, entity, "target", "a mediator the tumour clones secrete");
            if (!i) return;
            r.index = *i;
            mech.changes.secretions.emplace_back(*i, *factor);
        } else if (kind == "population") {
            const auto dot = rest.rfind('.');
            const std::string what = dot == std::string::npos ? "" : rest.substr(dot + 1);
            if (what != "initial_cells" && what != "influx") {
                error(where, entity, "target", "'" + *target + "': expected population:<cell type>.initial_cells or population:<cell type>.influx");
                return;
            }
            auto i = resolve(rest.substr(0, dot), model::Kind::CellType, where, entity, "target", "a population of the tumour");
            if (!i) return;
            if (m_->cellTypes()[*i].category == model::CellCategory::Tumour) {
                error(where, entity, "target", "'" + rest.substr(0, dot) + "' is a tumour cell type; a population is a non-tumour cell type");
                return;
            }
            r.index = *i;
            if (what == "initial_cells") {
                r.kind = Removal::Kind::PopulationCells;
                mech.changes.populationCells.emplace_back(*i, *factor);
            } else {
                r.kind = Removal::Kind::PopulationInflux;
                mech.changes.populationInflux.emplace_back(*i, *factor);
            }
        } else {
            error(where, entity, "target",
                  "unknown target '" + *target + "'; expected parameter:<path>, ligand:<ligand>, secretion:<mediator>, population:<cell type>.initial_cells or population:<cell type>.influx");
            return;
        }
        mech.removals.push_back(std::move(r));
    }
};

}  // namespace

std::vector<Mechanism> parseMechanisms(const std::string& toml, const std::string& path, const model::CompiledModel& m,
                                       const model::UnitSystem& units) {
    model::Diagnostics diag;
    auto doc = io::detail::parseScenarioToml(toml, path, diag);
    diag.throwIfAny();
    Checker checker(path, &m, units, diag);
    auto out = checker.check(*doc);
    diag.sort();
    diag.throwIfAny();
    return out;
}

std::vector<Mechanism> loadMechanisms(const std::filesystem::path& file, const model::CompiledModel& m) {
    model::Diagnostics diag;
    const std::string path = file.lexically_normal().generic_string();
    const std::string text = io::detail::readInputFile(file, path, "mechanisms file", diag);
    const model::UnitSystem units;
    return parseMechanisms(text, path, m, units);
}

}  // namespace nkscape::attribution
