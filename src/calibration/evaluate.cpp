// Evaluating targets with parameters replaced (include/nkscape/calibration/evaluate.hpp). Every
// scenario and trial is loaded once; an evaluation copies it, replaces the parameters and runs.
// The statistics themselves live here too: calibration::simulateTarget is an evaluation with no
// parameter replaced.

#include "nkscape/calibration/evaluate.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <variant>

#include <fmt/format.h>

#include "nkscape/error.hpp"
#include "nkscape/model/loader.hpp"
#include "nkscape/qsp/engine.hpp"
#include "nkscape/qsp/scenario.hpp"
#include "nkscape/trial/trial.hpp"

namespace nkscape::calibration {

namespace {


std::vector<double> columnValues(const qsp::SimulationResult& r, const std::string& column) {
    const std::size_t j = r.column(column);
    std::vector<double> v;
    v.reserve(r.rows.size());
    for (const auto& row : r.rows) v.push_back(row[j]);
    return v;
}

// The statistic of a simulation target.
double simulationValue(const Target& g, const qsp::LoadedSimulationScenario& loaded, const qsp::SimulationResult& res) {
    if (g.statistic == Statistic::DoublingTime) {
        const auto v = columnValues(res, "tumour.cells");
        for (std::size_t k = 1; k < v.size(); ++k)
            if (v[k] >= 2 * v[0]) {  // log-linear interpolation between the bracketing outputs
                const double f = std::log(2 * v[0] / v[k - 1]) / std::log(v[k] / v[k - 1]);
                return (res.times[k - 1] + f * (res.times[k] - res.times[k - 1])) * g.scale;
            }
        throw InputError("calibration target '" + g.id + "': the tumour of " + g.file + " does not double within the run");
    }
    if (g.statistic == Statistic::ValueAt) return res.at(g.column, g.time_d) * g.scale;
    const auto v = columnValues(res, g.column);
    if (g.statistic == Statistic::PeakTime)
        return res.times[static_cast<std::size_t>(std::max_element(v.begin(), v.end()) - v.begin())] * g.scale;
    if (g.statistic == Statistic::RatioToPeakAt) {
        const double peak = *std::max_element(v.begin(), v.end());
        if (!(peak > 0)) throw InputError("calibration target '" + g.id + "': column '" + g.column + "' is never above 0");
        return res.at(g.column, g.time_d) / peak * g.scale;
    }
    if (!(v.front() > 0)) throw InputError("calibration target '" + g.id + "': column '" + g.column + "' is 0 at t = 0");
    if (g.statistic == Statistic::PeakFold) return *std::max_element(v.begin(), v.end()) / v.front() * g.scale;
    if (g.statistic == Statistic::FoldAt) return res.at(g.column, g.time_d) / v.front() * g.scale;
    const double microlitres = loaded.model.constant("qsp.blood_volume") * 1e6;
    return v.front() / microlitres * g.scale;
}

// The statistic of a trial target from the arms summary (or the population draws).
double trialValue(const Target& g, const trial::LoadedTrial& t, const io::Json* arms) {
    if (g.statistic == Statistic::LesionCellDensity) return t.followUp.recist.geometry.cellDensity_per_cm3 * g.scale;
    if (g.statistic == Statistic::BiomarkerShare || g.statistic == Statistic::AttributeShare) {
        std::size_t hits = 0;
        for (std::int64_t i = 0; i < t.patients; ++i) {
            const auto d = trial::drawPatient(t, static_cast<std::uint64_t>(i));
            const auto& names = g.statistic == Statistic::BiomarkerShare ? d.biomarkers : d.attributes;
            for (std::size_t k = 0; k < names.size(); ++k) {
                const std::string& n = g.statistic == Statistic::BiomarkerShare ? t.biomarkers[k].name : t.attributes[k].name;
                if (n == g.name && names[k] == g.level) ++hits;
            }
        }
        return static_cast<double>(hits) / static_cast<double>(t.patients) * g.scale;
    }
    for (const auto& a : (*arms)["arms"]) {
        if (a["arm"].get<std::string>() != g.arm) continue;
        if (g.statistic == Statistic::MedianPfs || g.statistic == Statistic::MedianOs) {
            const auto& s = a[g.statistic == Statistic::MedianPfs ? "PFS" : "OS"]["median_d"];
            if (s.is_null())
                throw InputError("calibration target '" + g.id + "': the median of arm '" + g.arm + "' of " + g.file + " is not reached within follow-up");
            return s.get<double>() * g.scale;
        }
        const char* key = g.statistic == Statistic::ObjectiveResponse ? "objective_response"
                          : g.statistic == Statistic::ClinicalBenefit ? "clinical_benefit"
                                                                      : "disease_control";
        if (a[key]["rate"].is_null()) throw InputError("calibration target '" + g.id + "': arm '" + g.arm + "' has no patients");
        return a[key]["rate"].get<double>() * g.scale;
    }
    throw InputError("calibration target '" + g.id + "': trial " + g.file + " has no arm '" + g.arm + "'");
}

bool needsSimulation(Statistic s) {
    return s != Statistic::BiomarkerShare && s != Statistic::AttributeShare && s != Statistic::LesionCellDensity;
}

}  // namespace

struct Evaluator::Impl {
    struct Source {
        SourceKind kind = SourceKind::Model;
        std::string file;
        std::variant<std::monostate, model::CompiledModel, qsp::LoadedSimulationScenario, trial::LoadedTrial> loaded;
        std::vector<model::ParamId> ids;  ///< parameter i in this source's model
        std::vector<std::size_t> targets; ///< indices into Impl::targets
        [[nodiscard]] const model::CompiledModel& model() const {
            if (const auto* m = std::get_if<model::CompiledModel>(&loaded)) return *m;
            if (const auto* s = std::get_if<qsp::LoadedSimulationScenario>(&loaded)) return s->model;
            return std::get<trial::LoadedTrial>(loaded).base->model;
        }
    };
    std::vector<Target> targets;
    std::vector<std::string> paths;
    EvaluatorOptions options;
    std::vector<Source> sources;
    std::vector<std::size_t> sourceOf;  ///< per target; npos for NotImplemented
};

Evaluator::Evaluator(std::vector<Target> targets, std::vector<std::string> parameterPaths, EvaluatorOptions options)
    : impl_(std::make_unique<Impl>()) {
    impl_->targets = std::move(targets);
    impl_->paths = std::move(parameterPaths);
    impl_->options = options;
    auto& srcs = impl_->sources;
    for (std::size_t k = 0; k < impl_->targets.size(); ++k) {
        const Target& g = impl_->targets[k];
        if (g.statistic == Statistic::NotImplemented) {
            impl_->sourceOf.push_back(static_cast<std::size_t>(-1));
            continue;
        }
        const SourceKind kind = sourceKind(g.statistic);
        auto it = std::find_if(srcs.begin(), srcs.end(), [&](const Impl::Source& s) { return s.kind == kind && s.file == g.file; });
        if (it == srcs.end()) {
            Impl::Source s;
            s.kind = kind;
            s.file = g.file;
            switch (kind) {
            case SourceKind::Model:
                s.loaded = model::loadModel(std::filesystem::path(g.file));
                break;
            case SourceKind::Simulation:
            {
                auto sc = qsp::loadSimulationScenario(std::filesystem::path(g.file));
                if (options.maxStepsPerRun > 0) sc.spec.maxRunSteps = options.maxStepsPerRun;
                s.loaded = std::move(sc);
                break;
            }
            case SourceKind::Trial: {
                auto t = trial::loadTrial(std::filesystem::path(g.file));
                if (options.trialPatients) t.patients = *options.trialPatients;
                if (options.trialSeed) t.seed = *options.trialSeed;
                if (options.maxStepsPerRun > 0) t.base->spec.maxRunSteps = options.maxStepsPerRun;
                s.loaded = std::move(t);
                break;
            }
            }
            const auto& m = s.model();
            for (const auto& path : impl_->paths) {
                const auto id = m.findParameter(path);
                if (!id) throw InputError("evaluator: '" + path + "' is not a parameter of the model of " + g.file);
                s.ids.push_back(*id);
            }
            if (const auto* sc = std::get_if<qsp::LoadedSimulationScenario>(&s.loaded)) {
                for (std::size_t i = 0; i < s.ids.size(); ++i)
                    for (const auto& [p, v] : sc->overrides)
                        if (p == s.ids[i])
                            throw InputError("evaluator: parameter '" + impl_->paths[i] + "' is set by the [overrides] of " + g.file +
                                             "; a fitted or varied value would be ambiguous there");
            }
            if (const auto* t = std::get_if<trial::LoadedTrial>(&s.loaded)) {
                for (const auto& prior : t->priors) {
                    if (prior.target.kind != trial::PriorTarget::Kind::Parameter || prior.target.multiply) continue;
                    for (const auto& [type, share] : t->subtypes) {
                        (void)share;
                        std::string resolved = prior.target.parameterPath;
                        if (const auto pos = resolved.find("{subtype}"); pos != std::string::npos)
                            resolved.replace(pos, 9, m.entities(model::Kind::CellType).at(type).name);
                        for (const auto& path : impl_->paths)
                            if (path == resolved)
                                throw InputError("evaluator: parameter '" + path + "' is drawn per patient by prior '" + prior.name + "' of " +
                                                 g.file + " (it replaces the model's value); vary the prior instead");
                    }
                }
            }
            srcs.push_back(std::move(s));
            it = std::prev(srcs.end());
        }
        it->targets.push_back(k);
        impl_->sourceOf.push_back(static_cast<std::size_t>(it - srcs.begin()));
    }
}

Evaluator::~Evaluator() = default;
Evaluator::Evaluator(Evaluator&&) noexcept = default;
Evaluator& Evaluator::operator=(Evaluator&&) noexcept = default;

const std::vector<Target>& Evaluator::targets() const noexcept { return impl_->targets; }
const std::vector<std::string>& Evaluator::parameters() const noexcept { return impl_->paths; }

std::vector<double> Evaluator::baseline() const {
    std::vector<double> v;
    if (impl_->sources.empty()) {
        if (!impl_->paths.empty()) throw InputError("evaluator: no target with a model to read parameters from");
        return v;
    }
    const auto& s = impl_->sources.front();
    for (const auto id : s.ids) v.push_back(s.model().value(id));
    return v;
}

const model::CompiledModel& Evaluator::model() const {
    if (impl_->sources.empty()) throw InputError("evaluator: no target with a model");
    return impl_->sources.front().model();
}

std::vector<const model::CompiledModel*> Evaluator::models() const {
    std::vector<const model::CompiledModel*> out;
    for (const auto& s : impl_->sources)
        if (std::none_of(out.begin(), out.end(), [&](const model::CompiledModel* m) { return m->info().hash == s.model().info().hash; }))
            out.push_back(&s.model());
    return out;
}

double Evaluator::simulatedDaysPerEvaluation() const {
    double days = 0;
    for (const auto& s : impl_->sources) {
        if (const auto* sc = std::get_if<qsp::LoadedSimulationScenario>(&s.loaded)) days += sc->spec.durationDays;
        if (const auto* t = std::get_if<trial::LoadedTrial>(&s.loaded)) {
            const bool simulate = std::any_of(s.targets.begin(), s.targets.end(), [&](std::size_t k) { return needsSimulation(impl_->targets[k].statistic); });
            if (simulate)
                days += static_cast<double>(t->patients) * (t->crossover ? static_cast<double>(t->arms.size()) : 1.0) * t->followUp.duration_d;
        }
    }
    return days;
}

std::optional<std::pair<double, double>> Evaluator::range(std::size_t i) const {
    if (impl_->sources.empty()) return std::nullopt;
    const auto& s = impl_->sources.front();
    return s.model().parameter(s.ids.at(i)).range;
}

std::vector<Evaluation> Evaluator::evaluate(std::span<const double> values, int threads) const {
    std::vector<std::size_t> all(impl_->targets.size());
    for (std::size_t k = 0; k < all.size(); ++k) all[k] = k;
    return evaluate(values, all, threads);
}

std::vector<Evaluation> Evaluator::evaluate(std::span<const double> values, std::span<const std::size_t> which, int threads) const {
    if (values.size() != impl_->paths.size())
        throw InputError("evaluator: " + std::to_string(values.size()) + " values for " + std::to_string(impl_->paths.size()) + " parameters");
    const double nan = std::numeric_limits<double>::quiet_NaN();
    // A value that fails a parameter's own checks is the caller's mistake, not a failed run.
    for (const auto& src : impl_->sources)
        for (std::size_t i = 0; i < values.size(); ++i)
            if (const std::string why = src.model().valueProblem(src.ids[i], values[i]); !why.empty())
                throw InputError("evaluator: parameter '" + impl_->paths[i] + "' cannot be " + fmt::format("{:g}", values[i]) + ": " + why);
    std::vector<Evaluation> out(impl_->targets.size(), Evaluation{nan, "not requested"});
    // Group the requested targets by source so that each scenario or trial runs once.
    std::vector<std::vector<std::size_t>> bySource(impl_->sources.size());
    for (const std::size_t k : which) {
        if (k >= impl_->targets.size()) throw InputError("evaluator: no target #" + std::to_string(k));
        const std::size_t s = impl_->sourceOf[k];
        if (s == static_cast<std::size_t>(-1))
            out[k] = {nan, "not implemented: " + impl_->targets[k].notImplemented};
        else
            bySource[s].push_back(k);
    }
    for (std::size_t si = 0; si < impl_->sources.size(); ++si) {
        if (bySource[si].empty()) continue;
        const auto& src = impl_->sources[si];
        auto fail = [&](const std::string& why) {
            for (const std::size_t k : bySource[si]) out[k] = {nan, why};
        };
        try {
            if (const auto* m0 = std::get_if<model::CompiledModel>(&src.loaded)) {
                model::CompiledModel m = *m0;
                for (std::size_t i = 0; i < values.size(); ++i) m.setValue(src.ids[i], values[i]);
                for (const std::size_t k : bySource[si]) {
                    const auto id = m.findParameter(impl_->targets[k].parameter);
                    if (!id) throw InputError("calibration target '" + impl_->targets[k].id + "': no parameter '" + impl_->targets[k].parameter + "' in " + src.file);
                    out[k] = {m.value(*id) * impl_->targets[k].scale, ""};
                }
            } else if (const auto* sc0 = std::get_if<qsp::LoadedSimulationScenario>(&src.loaded)) {
                qsp::LoadedSimulationScenario sc = *sc0;
                for (std::size_t i = 0; i < values.size(); ++i) sc.model.setValue(src.ids[i], values[i]);
                const bool onlyBlood = std::all_of(bySource[si].begin(), bySource[si].end(),
                                                   [&](std::size_t k) { return impl_->targets[k].statistic == Statistic::BloodPerMicrolitre; });
                if (onlyBlood) sc.spec.durationDays = std::min(sc.spec.durationDays, 1.0);
                const auto res = qsp::simulate(sc.model, sc.spec);
                for (const std::size_t k : bySource[si]) {
                    try {
                        out[k] = {simulationValue(impl_->targets[k], sc, res), ""};
                    } catch (const Error& e) {
                        out[k] = {nan, e.what()};
                    }
                }
            } else {
                trial::LoadedTrial t = std::get<trial::LoadedTrial>(src.loaded);
                for (std::size_t i = 0; i < values.size(); ++i) t.base->model.setValue(src.ids[i], values[i]);
                const bool simulate = std::any_of(bySource[si].begin(), bySource[si].end(), [&](std::size_t k) { return needsSimulation(impl_->targets[k].statistic); });
                io::Json arms;
                if (simulate) {
                    trial::TrialRunOptions o;
                    o.threads = std::max(1, threads);
                    const auto run = trial::runTrial(t, o);
                    arms = trial::summariseArms(t, run.records);
                }
                for (const std::size_t k : bySource[si]) {
                    try {
                        out[k] = {trialValue(impl_->targets[k], t, &arms), ""};
                    } catch (const Error& e) {
                        out[k] = {nan, e.what()};
                    }
                }
            }
        } catch (const Error& e) {
            fail(e.what());
        }
    }
    return out;
}

double simulateTarget(const Target& target) {
    if (target.statistic == Statistic::NotImplemented)
        throw NotImplementedError("calibration target '" + target.id + "': not implemented: " + target.notImplemented);
    const Evaluator e({target}, {});
    const auto r = e.evaluate(std::span<const double>{}, 2);
    if (!r[0].ok()) throw InputError(r[0].error);
    return r[0].value;
}

}  // namespace nkscape::calibration
