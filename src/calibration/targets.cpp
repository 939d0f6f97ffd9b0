// Calibration targets (docs/calibration.md): the targets file reader and the simulated value of
// each statistic, from the shipped scenarios and trials with the model they name.

#include "nkscape/calibration/targets.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "io/scenario_checker.hpp"
#include "nkscape/error.hpp"
#include "nkscape/qsp/engine.hpp"
#include "nkscape/qsp/scenario.hpp"
#include "nkscape/trial/trial.hpp"

namespace nkscape::calibration {

namespace {

const std::map<std::string, Statistic, std::less<>> kStatistics = {
    {"doubling_time", Statistic::DoublingTime},
    {"peak_fold", Statistic::PeakFold},
    {"fold_at", Statistic::FoldAt},
    {"blood_per_uL", Statistic::BloodPerMicrolitre},
    {"parameter", Statistic::Parameter},
    {"value_at", Statistic::ValueAt},
    {"peak_time", Statistic::PeakTime},
    {"ratio_to_peak_at", Statistic::RatioToPeakAt},
    {"lesion_cell_density", Statistic::LesionCellDensity},
    {"median_pfs", Statistic::MedianPfs},
    {"median_os", Statistic::MedianOs},
    {"objective_response", Statistic::ObjectiveResponse},
    {"clinical_benefit", Statistic::ClinicalBenefit},
    {"disease_control", Statistic::DiseaseControl},
    {"biomarker_share", Statistic::BiomarkerShare},
    {"attribute_share", Statistic::AttributeShare},
    {"not_implemented", Statistic::NotImplemented},
};

class Checker : public io::detail::ScenarioChecker {
public:
    using ScenarioChecker::ScenarioChecker;

    /// `table` is "target" (observed values and bands required) or "output" (none allowed);
    /// top-level tables named in `others` are skipped (another reader checks them).
    std::vector<Target> check(const toml::table& doc, const std::string& table = "target", const std::vector<std::string>& others = {}) {
        std::vector<Target> out;
        outputs_ = table == "output";
        for (auto&& [key, node] : doc) {
            const std::string k(key.str());
            if (std::find(others.begin(), others.end(), k) != others.end()) continue;
            if (k != table) {
                std::vector<std::string_view> allowed{table};
                for (const auto& o : others) allowed.push_back(o);
                unknownKey(key, "", k, allowed, "unknown top-level key");
                continue;
            }
            const auto* arr = node.as_array();
            if (!arr || !arr->is_array_of_tables()) {
                error(loc(node), "", k, "expected an array of tables: write [[" + table + "]]");
                continue;
            }
            std::size_t i = 0;
            for (const auto& item : *arr) readTarget(*item.as_table(), ++i, out);
        }
        return out;
    }

private:
    bool outputs_ = false;
    std::optional<double> num(const toml::table& t, std::string_view key, const std::string& entity, bool required) {
        const toml::node* n = t.get(key);
        if (!n) {
            if (required) error(loc(t), entity, std::string(key), "missing required key");
            return std::nullopt;
        }
        std::optional<double> v;
        if (const auto* i = n->as_integer()) v = static_cast<double>(i->get());
        else if (const auto* d = n->as_floating_point()) v = d->get();
        if (!v || !std::isfinite(*v)) {
            error(loc(*n), entity, std::string(key), "expected a finite number, got " + typeName(*n));
            return std::nullopt;
        }
        return v;
    }

    void readTarget(const toml::table& t, std::size_t ordinal, std::vector<Target>& out) {
        const std::string kind = outputs_ ? "output" : "target";
        std::string entity = kind + " #" + std::to_string(ordinal);
        if (outputs_)
            checkKeys(t, entity, "", {"id", "description", "source", "statistic", "file", "column", "parameter", "arm", "name", "level", "time", "scale", "unit"},
                      "an [[output]]");
        else
            checkKeys(t, entity, "",
                      {"id", "description", "source", "statistic", "file", "column", "parameter", "arm", "name", "level", "time", "scale",
                       "observed", "band", "unit", "expected_failure", "reason"},
                      "a [[target]]");
        Target g;
        g.where = loc(t);
        if (auto v = text(t, "id", entity, true)) {
            g.id = *v;
            entity = kind + " '" + g.id + "'";
            if (std::any_of(out.begin(), out.end(), [&](const Target& o) { return o.id == g.id; }))
                error(loc(*t.get("id")), entity, "id", "two " + kind + "s have this id");
        }
        g.description = text(t, "description", entity, !outputs_).value_or("");
        g.source = text(t, "source", entity, !outputs_, " (the paper of the observation)").value_or("");
        const auto stat = text(t, "statistic", entity, true);
        if (stat) {
            const auto it = kStatistics.find(*stat);
            if (it == kStatistics.end()) {
                std::vector<std::string_view> names;
                for (const auto& [n, _] : kStatistics) names.push_back(n);
                error(loc(*t.get("statistic")), entity, "statistic", "unknown statistic '" + *stat + "'; expected one of: " + joinValues(names));
                return;
            }
            g.statistic = it->second;
        } else {
            return;
        }
        if (g.statistic == Statistic::NotImplemented) {
            g.notImplemented = text(t, "reason", entity, true, " (why nkscape cannot compute this row yet)").value_or("");
            g.unit = text(t, "unit", entity, false).value_or("");
            out.push_back(std::move(g));
            return;
        }
        const bool needsFile = g.statistic != Statistic::Parameter;
        if (auto f = text(t, "file", entity, needsFile, " (the scenario or trial that produces the value)"))
            g.file = (std::filesystem::path(path_).parent_path() / *f).lexically_normal().generic_string();
        if (needsFile && !g.file.empty() && !std::filesystem::is_regular_file(g.file))
            error(loc(*t.get("file")), entity, "file", "no file '" + g.file + "'");
        switch (g.statistic) {
        case Statistic::PeakFold:
        case Statistic::FoldAt:
        case Statistic::ValueAt:
        case Statistic::PeakTime:
        case Statistic::RatioToPeakAt:
        case Statistic::BloodPerMicrolitre:
            g.column = text(t, "column", entity, true, " (a result column, e.g. \"blood.CD56dim NK\")").value_or("");
            break;
        case Statistic::Parameter:
            g.parameter = text(t, "parameter", entity, true, " (a model parameter path)").value_or("");
            g.file = (std::filesystem::path(path_).parent_path() / text(t, "file", entity, true, " (the model)").value_or("")).lexically_normal().generic_string();
            break;
        case Statistic::ObjectiveResponse:
        case Statistic::ClinicalBenefit:
        case Statistic::DiseaseControl:
        case Statistic::MedianPfs:
        case Statistic::MedianOs:
            g.arm = text(t, "arm", entity, true, " (the trial arm)").value_or("");
            break;
        case Statistic::BiomarkerShare:
        case Statistic::AttributeShare:
            g.name = text(t, "name", entity, true).value_or("");
            g.level = text(t, "level", entity, true).value_or("");
            break;
        default:
            break;
        }
        if (g.statistic == Statistic::FoldAt || g.statistic == Statistic::ValueAt || g.statistic == Statistic::RatioToPeakAt) {
            if (const toml::node* n = t.get("time")) {
                if (auto v = quantity(*n, "d", io::detail::Sign::NonNegative, entity, "time")) g.time_d = *v;
            } else {
                error(loc(t), entity, "time", "missing required key (when to read the fold change)");
            }
        }
        if (auto v = num(t, "scale", entity, false)) g.scale = *v;
        if (outputs_) {
            g.unit = text(t, "unit", entity, false).value_or("");
            out.push_back(std::move(g));
            return;
        }
        if (auto v = num(t, "observed", entity, true)) g.observed = *v;
        if (const toml::node* n = t.get("band")) {
            const auto* a = n->as_array();
            std::optional<double> lo, hi;
            if (a && a->size() == 2) {
                if (const auto* x = a->get(0)) lo = x->value<double>();
                if (const auto* x = a->get(1)) hi = x->value<double>();
            }
            if (!lo || !hi || !(*lo <= *hi) || !std::isfinite(*lo) || !std::isfinite(*hi))
                error(loc(*n), entity, "band", "expected [low, high] with low <= high");
            else
                g.low = *lo, g.high = *hi;
        } else {
            error(loc(t), entity, "band", "missing required key ([low, high], from the source)");
        }
        g.unit = text(t, "unit", entity, true).value_or("");
        if (auto v = text(t, "expected_failure", entity, false)) g.expectedFailure = *v;
        out.push_back(std::move(g));
    }
};

}  // namespace

SourceKind sourceKind(Statistic s) noexcept {
    switch (s) {
    case Statistic::Parameter:
        return SourceKind::Model;
    case Statistic::DoublingTime:
    case Statistic::PeakFold:
    case Statistic::FoldAt:
    case Statistic::ValueAt:
    case Statistic::PeakTime:
    case Statistic::RatioToPeakAt:
    case Statistic::BloodPerMicrolitre:
        return SourceKind::Simulation;
    default:
        return SourceKind::Trial;
    }
}

std::string statisticName(Statistic s) {
    for (const auto& [n, v] : kStatistics)
        if (v == s) return n;
    return "?";
}

std::vector<Target> loadTargets(const std::filesystem::path& file) {
    model::Diagnostics diag;
    const std::string path = file.lexically_normal().generic_string();
    const std::string text = io::detail::readInputFile(file, path, "targets file", diag);
    auto doc = io::detail::parseScenarioToml(text, path, diag);
    diag.throwIfAny();
    const model::UnitSystem units;
    Checker checker(path, nullptr, units, diag);
    auto out = checker.check(*doc);
    diag.sort();
    diag.throwIfAny();
    return out;
}

std::vector<Target> loadOutputs(const std::filesystem::path& file, const std::vector<std::string>& otherTables) {
    model::Diagnostics diag;
    const std::string path = file.lexically_normal().generic_string();
    const std::string text = io::detail::readInputFile(file, path, "outputs file", diag);
    auto doc = io::detail::parseScenarioToml(text, path, diag);
    diag.throwIfAny();
    const model::UnitSystem units;
    Checker checker(path, nullptr, units, diag);
    auto out = checker.check(*doc, "output", otherTables);
    diag.sort();
    diag.throwIfAny();
    return out;
}

}  // namespace nkscape::calibration
