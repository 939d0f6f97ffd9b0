// Sensitivity analysis files (include/nkscape/sensitivity/analysis.hpp, docs/sensitivity.md): the
// reader of [analysis], [screening] and [[parameter]] (the [[output]] tables are
// calibration::loadOutputs'), the resolution of the varied parameters against the model, the
// work estimate, and the point function that evaluates the model at a design point.

#include "nkscape/sensitivity/analysis.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "io/scenario_checker.hpp"
#include "model/spec.hpp"
#include "nkscape/error.hpp"
#include "nkscape/model/loader.hpp"
#include "nkscape/qsp/scenario.hpp"
#include "nkscape/trial/trial.hpp"

namespace nkscape::sensitivity {

std::string methodName(Method m) {
    switch (m) {
    case Method::Morris:
        return "morris";
    case Method::Sobol:
        return "sobol";
    case Method::Prcc:
        return "prcc";
    }
    return "?";
}

std::optional<Method> parseMethod(std::string_view name) {
    for (const Method m : {Method::Morris, Method::Sobol, Method::Prcc})
        if (methodName(m) == name) return m;
    return std::nullopt;
}

namespace {

// A run past 1e8 steps would take hours; a larger budget is no budget.
constexpr std::int64_t kMaxStepsPerRun = 100'000'000;
constexpr std::string_view kMethods = "morris, sobol, prcc";

class Checker : public io::detail::ScenarioChecker {
public:
    using ScenarioChecker::ScenarioChecker;

    Analysis check(const toml::table& doc) {
        Analysis a;
        a.path = path_;
        if (const toml::node* n = doc.get("analysis")) {
            if (const auto* t = n->as_table()) readAnalysis(*t, a);
            else error(loc(*n), "", "analysis", "expected a table: write [analysis]");
        } else {
            error(SourceLocation{path_, 1, 1}, "", "analysis", "missing required table [analysis] (method, samples, seed)");
        }
        if (const toml::node* n = doc.get("screening")) {
            if (const auto* t = n->as_table()) readScreening(*t, a);
            else error(loc(*n), "", "screening", "expected a table: write [screening]");
        }
        if (const toml::node* n = doc.get("parameter")) {
            const auto* arr = n->as_array();
            if (!arr || !arr->is_array_of_tables()) {
                error(loc(*n), "", "parameter", "expected an array of tables: write [[parameter]]");
            } else {
                std::size_t i = 0;
                for (const auto& item : *arr) readParameter(*item.as_table(), ++i, a);
            }
        }
        if (!a.allWithRange && a.parameters.empty() && doc.get("analysis"))
            error(a.where, "[analysis]", "parameters", "\"listed\" varies only the [[parameter]] tables, and there is none");
        return a;
    }

private:
    std::optional<std::int64_t> optionalInteger(const toml::table& t, std::string_view key, const std::string& entity, std::int64_t lo,
                                                std::int64_t hi, const std::string& what) {
        if (!t.get(key)) return std::nullopt;
        return integer(t, key, entity, lo, hi, what);
    }

    std::vector<std::string> strings(const toml::table& t, std::string_view key, const std::string& entity) {
        std::vector<std::string> out;
        const toml::node* n = t.get(key);
        if (!n) return out;
        const auto* arr = n->as_array();
        if (!arr) {
            error(loc(*n), entity, std::string(key), "expected an array of strings, got " + typeName(*n));
            return out;
        }
        for (const auto& item : *arr) {
            const auto* s = item.as_string();
            if (!s) {
                error(loc(item), entity, std::string(key), "expected a string, got " + typeName(item));
                continue;
            }
            if (const std::string why = controlCharacterProblem(s->get()); !why.empty()) {
                error(loc(item), entity, std::string(key), why);
                continue;
            }
            if (s->get().empty()) {
                error(loc(item), entity, std::string(key), "must not be empty");
                continue;
            }
            out.push_back(s->get());
        }
        return out;
    }

    void readAnalysis(const toml::table& t, Analysis& a) {
        const std::string entity = "[analysis]";
        a.where = loc(t);
        checkKeys(t, entity, "",
                  {"name", "description", "method", "samples", "seed", "bootstrap", "levels", "candidates", "parameters", "exclude", "log_outputs",
                   "max_failed", "max_steps_per_run"},
                  "[analysis]");
        if (auto v = text(t, "name", entity, true)) {
            if (v->empty()) error(loc(*t.get("name")), entity, "name", "must not be empty");
            a.name = *v;
        }
        a.description = text(t, "description", entity, false).value_or("");
        if (auto v = text(t, "method", entity, true, " (morris, sobol or prcc)")) {
            if (auto m = parseMethod(*v)) a.method = *m;
            else error(loc(*t.get("method")), entity, "method", "unknown method '" + *v + "'; expected one of: " + std::string(kMethods));
        }
        if (auto v = integer(t, "samples", entity, 2, kMaxSamples, "Morris trajectories, Sobol base samples N, or PRCC points"))
            a.samples = static_cast<std::size_t>(*v);
        if (auto v = integer(t, "seed", entity, 0, std::numeric_limits<std::int64_t>::max(), "the seed of the designs and bootstraps"))
            a.seed = static_cast<std::uint64_t>(*v);
        if (auto v = optionalInteger(t, "bootstrap", entity, 0, kMaxBootstrap, "bootstrap resamples for the 95 % intervals"))
            a.bootstrap = static_cast<std::size_t>(*v);
        if (auto v = optionalInteger(t, "levels", entity, 2, kMaxLevels, "Morris grid levels, even")) {
            if (*v % 2 != 0) error(loc(*t.get("levels")), entity, "levels", "must be even (the step p / (2 (p - 1)) pairs the levels), got " + std::to_string(*v));
            else a.levels = static_cast<int>(*v);
        }
        if (auto v = optionalInteger(t, "candidates", entity, 0, kMaxCandidates, "Campolongo candidate trajectories, 0 for none"))
            a.candidates = static_cast<std::size_t>(*v);
        if (a.candidates != 0 && a.samples != 0 && a.candidates < a.samples)
            error(loc(*t.get("candidates")), entity, "candidates",
                  fmt::format("must be 0 or at least samples ({}), got {}: the trajectories are chosen among the candidates", a.samples, a.candidates));
        if (auto v = text(t, "parameters", entity, false)) {
            if (*v == "all-with-range") a.allWithRange = true;
            else if (*v == "listed") a.allWithRange = false;
            else error(loc(*t.get("parameters")), entity, "parameters", "unknown value '" + *v + "'; expected one of: all-with-range, listed");
        }
        if (const toml::node* n = t.get("max_failed")) {
            std::optional<double> v;
            if (const auto* i = n->as_integer()) v = static_cast<double>(i->get());
            else if (const auto* d = n->as_floating_point()) v = d->get();
            if (!v || !(*v >= 0 && *v <= 0.5))
                error(loc(*n), entity, "max_failed", "expected a share of the Sobol base rows from 0 to 0.5, got " + (v ? fmtNumber(*v) : typeName(*n)));
            else
                a.maxFailedShare = *v;
        }
        if (auto v = optionalInteger(t, "max_steps_per_run", entity, 0, kMaxStepsPerRun,
                                     "most solver steps of one simulated run (patient or scenario), 0 for no limit"))
            a.maxStepsPerRun = static_cast<long>(*v);
        a.exclude = strings(t, "exclude", entity);
        a.logOutputs = strings(t, "log_outputs", entity);
    }

    void readScreening(const toml::table& t, Analysis& a) {
        const std::string entity = "[screening]";
        checkKeys(t, entity, "", {"trajectories", "levels", "candidates", "keep", "touch"}, "[screening]");
        Screening s;
        if (auto v = integer(t, "trajectories", entity, 2, kMaxSamples, "Morris trajectories of the screening")) s.trajectories = static_cast<std::size_t>(*v);
        if (auto v = optionalInteger(t, "levels", entity, 2, kMaxLevels, "Morris grid levels, even")) {
            if (*v % 2 != 0) error(loc(*t.get("levels")), entity, "levels", "must be even, got " + std::to_string(*v));
            else s.levels = static_cast<int>(*v);
        }
        if (auto v = optionalInteger(t, "candidates", entity, 0, kMaxCandidates, "Campolongo candidate trajectories, 0 for none")) {
            s.candidates = static_cast<std::size_t>(*v);
            if (s.candidates != 0 && s.candidates < s.trajectories)
                error(loc(*t.get("candidates")), entity, "candidates", fmt::format("must be 0 or at least trajectories ({}), got {}", s.trajectories, s.candidates));
        }
        if (auto v = integer(t, "keep", entity, 1, static_cast<std::int64_t>(kMaxSobolParameters), "parameters kept for the Sobol stage"))
            s.keep = static_cast<std::size_t>(*v);
        if (const toml::node* n = t.get("touch")) {
            if (const auto* b = n->as_boolean()) s.touch = b->get();
            else error(loc(*n), entity, "touch", "expected true or false, got " + typeName(*n));
        }
        if (a.method != Method::Sobol)
            error(loc(t), entity, "", "a screening stage comes before Sobol indices; method '" + methodName(a.method) + "' takes none");
        a.screening = s;
    }

    void readParameter(const toml::table& t, std::size_t ordinal, Analysis& a) {
        std::string entity = "parameter #" + std::to_string(ordinal);
        checkKeys(t, entity, "", {"path", "range", "unit", "log"}, "a [[parameter]]");
        ParameterSetting p;
        p.where = loc(t);
        if (auto v = text(t, "path", entity, true, " (a model parameter, e.g. \"cell_type/TNBC/doubling_time\")")) {
            p.path = *v;
            entity = "parameter '" + p.path + "'";
            if (std::any_of(a.parameters.begin(), a.parameters.end(), [&](const ParameterSetting& o) { return o.path == p.path; }))
                error(loc(*t.get("path")), entity, "path", "two [[parameter]] tables name this parameter");
        }
        if (const toml::node* n = t.get("range")) {
            p.rangeWhere = loc(*n);
            const auto* arr = n->as_array();
            std::optional<double> lo, hi;
            auto num = [](const toml::node* x) -> std::optional<double> {
                if (!x) return std::nullopt;
                if (const auto* i = x->as_integer()) return static_cast<double>(i->get());
                if (const auto* d = x->as_floating_point()) return d->get();
                return std::nullopt;
            };
            if (arr && arr->size() == 2) lo = num(arr->get(0)), hi = num(arr->get(1));
            if (!lo || !hi || !std::isfinite(*lo) || !std::isfinite(*hi))
                error(p.rangeWhere, entity, "range", "expected [low, high], two finite numbers");
            else if (!(*lo < *hi))
                error(p.rangeWhere, entity, "range", fmt::format("low must be below high, got [{}, {}]", fmtNumber(*lo), fmtNumber(*hi)));
            else
                p.range = std::pair{*lo, *hi};
        }
        if (auto v = text(t, "unit", entity, false)) {
            if (!t.get("range")) error(loc(*t.get("unit")), entity, "unit", "is the unit of `range`, and there is no range");
            else if (!units_.parses(*v)) error(loc(*t.get("unit")), entity, "unit", "unit '" + *v + "' does not parse");
            else p.unit = *v;
        }
        if (const toml::node* n = t.get("log")) {
            if (const auto* b = n->as_boolean()) p.log = b->get();
            else error(loc(*n), entity, "log", "expected true or false, got " + typeName(*n));
        }
        a.parameters.push_back(std::move(p));
    }
};

using calibration::SourceKind;
using calibration::sourceKind;

// An output's scenario, trial or model, loaded to read its parameters and cost.
struct Source {
    SourceKind kind = SourceKind::Model;
    std::string file;
    std::optional<model::CompiledModel> model;
    std::vector<std::string> fixed;                         ///< set by [overrides]
    std::vector<std::pair<std::string, std::string>> drawn;  ///< (path, prior) drawn per patient
    double days = 0;
};

Source loadSource(const calibration::Target& g, const PlanOptions& options) {
    Source s;
    s.kind = sourceKind(g.statistic);
    s.file = g.file;
    switch (s.kind) {
    case SourceKind::Model:
        s.model = model::loadModel(std::filesystem::path(g.file));
        break;
    case SourceKind::Simulation: {
        auto sc = qsp::loadSimulationScenario(std::filesystem::path(g.file));
        for (const auto& [id, v] : sc.overrides) s.fixed.push_back(sc.model.parameter(id).path);
        s.days = sc.spec.durationDays;
        s.model = std::move(sc.model);
        break;
    }
    case SourceKind::Trial: {
        auto t = trial::loadTrial(std::filesystem::path(g.file));
        if (options.trialPatients) t.patients = *options.trialPatients;
        const auto& m = t.base->model;
        for (const auto& [id, v] : t.base->overrides) s.fixed.push_back(m.parameter(id).path);
        for (const auto& prior : t.priors) {
            if (prior.target.kind != trial::PriorTarget::Kind::Parameter || prior.target.multiply) continue;
            for (const auto& [type, share] : t.subtypes) {
                (void)share;
                std::string resolved = prior.target.parameterPath;
                if (const auto pos = resolved.find("{subtype}"); pos != std::string::npos)
                    resolved.replace(pos, 9, m.entities(model::Kind::CellType).at(type).name);
                s.drawn.emplace_back(resolved, prior.name);
            }
        }
        for (const auto& w : trial::estimateResources(t).work)
            if (w.what == "simulated patient time") s.days += w.amount;
        s.model = m;
        break;
    }
    }
    return s;
}

}  // namespace

Analysis loadAnalysis(const std::filesystem::path& file) {
    model::Diagnostics diag;
    const std::string path = file.lexically_normal().generic_string();
    const std::string text = io::detail::readInputFile(file, path, "analysis file", diag);
    auto doc = io::detail::parseScenarioToml(text, path, diag);
    diag.throwIfAny();
    const model::UnitSystem units;
    Checker checker(path, nullptr, units, diag);
    Analysis a = checker.check(*doc);
    bool outputsRead = false;
    try {
        a.outputs = calibration::loadOutputs(file, {"analysis", "screening", "parameter"});
        outputsRead = true;
    } catch (const model::ModelError& e) {
        for (const auto& d : e.diagnostics()) diag.error(d.where, d.entity, d.key, d.message);
    }
    if (outputsRead) {
        if (a.outputs.empty()) diag.error(model::SourceLocation{path, 1, 1}, "", "output", "missing [[output]]: at least one output to analyse");
        for (const auto& g : a.outputs)
            if (g.statistic == calibration::Statistic::NotImplemented)
                diag.error(g.where, "output '" + g.id + "'", "statistic", "'not_implemented' cannot be analysed");
        for (const auto& id : a.logOutputs)
            if (std::none_of(a.outputs.begin(), a.outputs.end(), [&](const calibration::Target& g) { return g.id == id; }))
                diag.error(a.where, "[analysis]", "log_outputs", "no [[output]] has id '" + id + "'");
    }
    diag.sort();
    diag.throwIfAny();
    return a;
}

Plan planAnalysis(const Analysis& a, const PlanOptions& options) {
    if (a.outputs.empty()) throw InputError("sensitivity analysis '" + a.name + "': no output");
    model::Diagnostics diag;
    std::vector<Source> sources;
    Plan plan;
    for (const auto& g : a.outputs) {
        const SourceKind kind = sourceKind(g.statistic);
        if (std::any_of(sources.begin(), sources.end(), [&](const Source& s) { return s.kind == kind && s.file == g.file; })) continue;
        sources.push_back(loadSource(g, options));
        plan.daysPerEvaluation += sources.back().days;
    }
    const model::CompiledModel& m0 = *sources.front().model;
    const std::string firstFile = sources.front().file;
    // Why `path` cannot be varied in some source ("" if it can).
    auto blocked = [&](const std::string& path) -> std::string {
        for (const auto& s : sources) {
            if (!s.model->findParameter(path)) return "not a parameter of the model of " + s.file;
            if (std::find(s.fixed.begin(), s.fixed.end(), path) != s.fixed.end()) return "set by the [overrides] of " + s.file;
            for (const auto& [p, prior] : s.drawn)
                if (p == path) return "drawn per patient by prior '" + prior + "' of " + s.file + " (vary the prior instead)";
        }
        return {};
    };
    if (a.allWithRange) {
        for (const auto& info : m0.parameters()) {
            if (!info.range) continue;
            std::string why;
            for (const auto& prefix : a.exclude)
                if (info.path.rfind(prefix, 0) == 0) why = "excluded by '" + prefix + "'";
            if (why.empty() && !(info.range->first < info.range->second)) why = "its range is a single value";
            if (why.empty()) why = blocked(info.path);
            if (!why.empty()) {
                plan.skipped.emplace_back(info.path, why);
                continue;
            }
            ResolvedParameter r;
            r.path = info.path;
            r.unit = info.internalUnit;
            r.baseline = info.value;
            r.dimension = {info.path, info.range->first, info.range->second, defaultScale(info.range->first, info.range->second)};
            plan.parameters.push_back(std::move(r));
        }
    }
    const model::UnitSystem units;
    for (const auto& s : a.parameters) {
        const std::string entity = "parameter '" + s.path + "'";
        const auto id = m0.findParameter(s.path);
        if (!id) {
            std::vector<std::string_view> names;
            for (const auto& p : m0.parameters()) names.push_back(p.path);
            std::string msg = "no parameter '" + s.path + "' in the model of " + firstFile;
            if (auto c = model::detail::closestMatch(s.path, names); !c.empty()) msg += " (did you mean '" + c + "'?)";
            diag.error(s.where, entity, "path", msg);
            continue;
        }
        if (const std::string why = blocked(s.path); !why.empty()) {
            diag.error(s.where, entity, "path", "cannot be varied: " + why);
            continue;
        }
        const auto& info = m0.parameter(*id);
        ResolvedParameter r;
        r.path = info.path;
        r.unit = info.internalUnit;
        r.baseline = info.value;
        if (s.range) {
            double lo = s.range->first, hi = s.range->second;
            if (!s.unit.empty()) {
                if (!units.convertible(s.unit, info.internalUnit)) {
                    diag.error(s.rangeWhere, entity, "unit", "unit '" + s.unit + "' does not convert to '" + info.internalUnit + "' (the parameter's unit)");
                    continue;
                }
                lo = units.convertOrThrow(lo, s.unit, info.internalUnit);
                hi = units.convertOrThrow(hi, s.unit, info.internalUnit);
            }
            bool ok = true;
            for (const double v : {lo, hi})
                if (const std::string why = m0.valueProblem(*id, v); !why.empty()) {
                    diag.error(s.rangeWhere, entity, "range", fmt::format("{:g} {} is not a value this parameter may take: {}", v, info.internalUnit, why));
                    ok = false;
                    break;
                }
            if (!ok) continue;
            r.dimension = {info.path, lo, hi, Scale::Linear};
            r.rangeFromModel = false;
        } else if (info.range && info.range->first < info.range->second) {
            r.dimension = {info.path, info.range->first, info.range->second, Scale::Linear};
        } else {
            diag.error(s.where, entity, "range",
                       "the parameter has no plausible range in the model of " + firstFile + "; give range = [low, high] (and its unit)");
            continue;
        }
        r.dimension.scale = s.log ? (*s.log ? Scale::Log : Scale::Linear) : defaultScale(r.dimension.low, r.dimension.high);
        if (const std::string why = dimensionProblem(r.dimension); !why.empty()) {
            diag.error(s.log ? s.where : s.rangeWhere, entity, "log", why);
            continue;
        }
        auto it = std::find_if(plan.parameters.begin(), plan.parameters.end(), [&](const ResolvedParameter& p) { return p.path == r.path; });
        if (it != plan.parameters.end()) *it = std::move(r);
        else plan.parameters.push_back(std::move(r));
    }
    diag.sort();
    diag.throwIfAny();
    const std::size_t k = plan.parameters.size();
    if (k == 0)
        diag.error(a.where, "[analysis]", "parameters",
                   "no parameter to vary (the model of " + firstFile + " gives none with a range that every output's scenario leaves free)");
    else if (a.method == Method::Sobol && !a.screening && k > kMaxSobolParameters)
        diag.error(a.where, "[analysis]", "method",
                   fmt::format("Sobol indices of {} parameters; at most {} (add a [screening] stage)", k, kMaxSobolParameters));
    else if (a.method == Method::Prcc && a.samples < k + 3)
        diag.error(a.where, "[analysis]", "samples", fmt::format("PRCC of {} parameters needs at least {} points, got {}", k, k + 3, a.samples));
    diag.throwIfAny();
    switch (a.method) {
    case Method::Morris:
        plan.evaluations = a.samples * (k + 1);
        break;
    case Method::Sobol:
        if (a.screening) {
            plan.screeningEvaluations = a.screening->trajectories * (k + 1) + (a.screening->touch ? k + 1 : 0);
            plan.evaluations = a.samples * (std::min(a.screening->keep, k) + 2);
        } else {
            plan.evaluations = a.samples * (k + 2);
        }
        break;
    case Method::Prcc:
        plan.evaluations = a.samples;
        break;
    }
    return plan;
}

io::ResourceEstimate estimateResources(const Analysis& a, const Plan& plan) {
    io::ResourceEstimate e;
    const double evaluations = static_cast<double>(plan.screeningEvaluations + plan.evaluations);
    const double k = static_cast<double>(plan.parameters.size());
    const double outs = static_cast<double>(a.outputs.size());
    io::WorkItem w;
    w.what = "simulated (patient) time";
    w.amount = evaluations * plan.daysPerEvaluation;
    w.limit = kMaxSimulatedDays;
    w.unit = "d";
    w.detail = fmt::format("{} evaluations x {} d each (every output's scenario or trial once)", io::formatCount(evaluations),
                           io::formatCount(plan.daysPerEvaluation));
    w.where = a.where;
    w.entity = "[analysis]";
    w.key = "samples";
    e.work.push_back(w);
    auto selection = [&](double candidates, double trajectories, const std::string& entity) {
        if (candidates <= trajectories) return;
        io::WorkItem s;
        s.what = "trajectory distance terms";
        s.amount = candidates * candidates * (k + 1) * (k + 1) * k / 2;
        s.limit = kMaxSelectionTerms;
        s.detail = fmt::format("{} candidates, {} parameters (Campolongo selection)", candidates, k);
        s.where = a.where;
        s.entity = entity;
        s.key = "candidates";
        e.work.push_back(s);
    };
    if (a.method == Method::Morris) selection(static_cast<double>(a.candidates), static_cast<double>(a.samples), "[analysis]");
    if (a.screening) selection(static_cast<double>(a.screening->candidates), static_cast<double>(a.screening->trajectories), "[screening]");
    // The designs (unit points and values), the outputs and their failure messages, samples.csv.
    const double rows = evaluations;
    e.memoryBytes = 64.0 * (1 << 20) + rows * (2 * k * 8 + outs * (8 + 32)) + rows * (k + outs + 3) * 18;
    e.memoryDetail = fmt::format("{} design rows x ({} parameters + {} outputs), with samples.csv", io::formatCount(rows), k, outs);
    e.memoryWhere = a.where;
    e.memoryEntity = "[analysis]";
    e.memoryKey = "samples";
    return e;
}

PointFunction evaluatorFunction(const calibration::Evaluator& evaluator, std::vector<Dimension> dims, std::vector<bool> log10, FailureLog* failures) {
    if (dims.size() != evaluator.parameters().size())
        throw InternalError(fmt::format("sensitivity: {} dimensions for {} evaluator parameters", dims.size(), evaluator.parameters().size()));
    log10.resize(evaluator.targets().size(), false);
    return [&evaluator, dims = std::move(dims), log10 = std::move(log10), failures](std::size_t row, std::span<const double> unitPoint) {
        const std::vector<double> values = fromUnit(dims, unitPoint);
        const auto r = evaluator.evaluate(values, 1);
        std::vector<double> out(r.size(), std::numeric_limits<double>::quiet_NaN());
        for (std::size_t i = 0; i < r.size(); ++i) {
            std::string why = r[i].error;
            double v = r[i].value;
            if (why.empty() && log10[i]) {
                // log10(1 + x): a tumour that is gone (0 cells) stays an outcome, not a failure.
                if (v >= 0) v = std::log1p(v) / std::log(10.0);
                else why = fmt::format("log10(1 + {:g}): the output must be >= 0 on a log scale", v);
            }
            if (why.empty() && !std::isfinite(v)) why = "the output is not finite";
            if (why.empty()) out[i] = v;
            else if (failures) failures->at(row, i) = why;
        }
        return out;
    };
}

}  // namespace nkscape::sensitivity
