// `nkscape calibrate`: load the targets, check the free parameters and the budget, fit (threads ×
// MPI ranks), write overlay.toml, fit.csv, profiles.csv and summary.json. Under mpirun rank 0
// drives NLopt and broadcasts each point; every rank evaluates the target files g with
// g % ranks == rank and rank 0 gathers the values (as exact hex floats), so the outputs are the
// same bytes for any number of ranks and threads.

#include "calibrate_command.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "nkscape/calibration/evaluate.hpp"
#include "nkscape/calibration/fit.hpp"
#include "nkscape/calibration/targets.hpp"
#include "nkscape/error.hpp"
#include "nkscape/io/budget.hpp"
#include "nkscape/io/csv.hpp"
#include "nkscape/io/json.hpp"
#include "nkscape/io/run.hpp"
#include "nkscape/model/diagnostics.hpp"
#include "nkscape/trial/trial.hpp"
#include "nkscape/version.hpp"
#include "progress.hpp"
#include "ranks.hpp"

namespace nkscape::cli {

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitBadInput = 2;

/// A whole calibration may simulate at most this much (d) without --allow-large: the trial
/// command's limit (1e8 patient-days, about an hour on two cores; docs/limits.md).
constexpr double kMaxCalibrationSimulatedDays = 1e8;

std::vector<std::string> splitIds(const std::string& s) {
    std::vector<std::string> out;
    std::string cur;
    auto flush = [&] {
        while (!cur.empty() && cur.back() == ' ') cur.pop_back();
        std::size_t b = 0;
        while (b < cur.size() && cur[b] == ' ') ++b;
        out.push_back(cur.substr(b));
        cur.clear();
    };
    for (const char c : s) {
        if (c == ',') flush();
        else cur += c;
    }
    flush();
    return out;
}

// One rank's evaluations as text: "k<TAB>value as hex float<TAB>error" per target; "!message" if
// the evaluation threw (a bad value: the caller's error, rethrown on rank 0).
std::string encode(const std::vector<calibration::Evaluation>& evs, const std::vector<std::size_t>& which) {
    std::string out;
    for (const std::size_t k : which) {
        std::string err = evs[k].error;
        std::replace(err.begin(), err.end(), '\n', ' ');
        std::replace(err.begin(), err.end(), '\t', ' ');
        out += fmt::format("{}\t{}\t{}\n", k, std::isnan(evs[k].value) ? std::string("nan") : fmt::format("{:a}", evs[k].value), err);
    }
    return out;
}

void decode(const std::string& text, std::vector<calibration::Evaluation>& evs) {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        if (!line.empty() && line[0] == '!') throw InputError(line.substr(1));
        const auto t1 = line.find('\t'), t2 = line.find('\t', t1 + 1);
        if (t1 == std::string::npos || t2 == std::string::npos) throw InternalError("calibrate: malformed evaluation from a rank: " + line);
        const std::size_t k = std::stoul(line.substr(0, t1));
        const std::string v = line.substr(t1 + 1, t2 - t1 - 1);
        evs.at(k) = {v == "nan" ? std::nan("") : std::strtod(v.c_str(), nullptr), line.substr(t2 + 1)};
    }
}

std::string fmtValue(double v) { return fmt::format("{:.6g}", v); }

}  // namespace

int runCalibrateCommand(const CalibrateCommandOptions& o) {
    Ranks ranks;
    const bool root = ranks.rank() == 0;
    auto complain = [&](const std::string& msg) {
        if (root) std::cerr << msg;
    };
    // ---- set-up: arguments, targets, evaluator, budget, output folder --------------------------
    std::optional<calibration::Evaluator> evaluator;
    std::optional<io::RunFolder> run;
    std::vector<std::string> skipped;  // notes
    int threads = 1;
    int rc = kExitOk;
    std::int64_t plannedEvaluations = 0;
    try {
        threads = threadsPerRank(o.threads, ranks);
        if (o.maxEvaluations < 2 || o.maxEvaluations > kMaxCalibrationEvaluations)
            throw InputError(fmt::format("--max-evals must be in [2, {}], got {}", kMaxCalibrationEvaluations, o.maxEvaluations));
        if (o.seed < 0) throw InputError(fmt::format("--seed must be >= 0, got {}", o.seed));
        if (o.profilePoints != 0 && (o.profilePoints < 3 || o.profilePoints > kMaxProfilePoints))
            throw InputError(fmt::format("--profile-points must be 0 (no profiles) or in [3, {}], got {}", kMaxProfilePoints, o.profilePoints));
        if (o.patients && (*o.patients < 1 || *o.patients > trial::kMaxPatients))
            throw InputError(fmt::format("--patients must be in [1, {}], got {}", trial::kMaxPatients, *o.patients));
        if (o.free.empty()) throw InputError("calibrate: give at least one --free PATH (a model parameter with a range)");
        std::set<std::string> seenFree;
        for (const auto& p : o.free) {
            if (p.empty()) throw InputError("--free: an empty parameter path");
            if (!seenFree.insert(p).second) throw InputError("--free '" + p + "' is given twice");
        }
        try {
            auto all = calibration::loadTargets(o.targetsPath);
            std::vector<calibration::Target> chosen;
            if (!o.only.empty()) {
                std::vector<calibration::Target> picked;
                for (const auto& id : splitIds(o.only)) {
                    auto it = std::find_if(all.begin(), all.end(), [&](const calibration::Target& t) { return t.id == id; });
                    if (it == all.end()) {
                        std::string ids;
                        for (const auto& t : all) ids += (ids.empty() ? "" : ", ") + t.id;
                        throw InputError("--only: no target '" + id + "' in " + o.targetsPath + " (its targets: " + ids + ")");
                    }
                    if (std::any_of(picked.begin(), picked.end(), [&](const calibration::Target& t) { return t.id == id; }))
                        throw InputError("--only: target '" + id + "' is named twice");
                    picked.push_back(*it);
                }
                all = std::move(picked);
            }
            for (auto& t : all) {
                if (t.statistic == calibration::Statistic::NotImplemented) {
                    skipped.push_back(fmt::format("target '{}' skipped: not implemented: {}", t.id, t.notImplemented));
                    continue;
                }
                if (const std::string why = calibration::fitProblem(t); !why.empty())
                    throw InputError(fmt::format("{}: target '{}' cannot be fitted: {}", t.where.str(), t.id, why));
                chosen.push_back(std::move(t));
            }
            if (chosen.empty()) throw InputError("calibrate: no target of " + o.targetsPath + " can be computed (all are not implemented)");
            calibration::EvaluatorOptions eo;
            eo.trialPatients = o.patients;
            evaluator.emplace(std::move(chosen), o.free, eo);
            const auto models = evaluator->models();
            if (models.size() > 1)
                throw InputError(fmt::format("calibrate: the targets' files use {} different models ({} and {}); an overlay has one base, so fit "
                                             "targets of one model at a time (--only)",
                                             models.size(), models[0]->info().files.front(), models[1]->info().files.front()));
            const auto params = calibration::freeParameters(*evaluator);
            const std::int64_t n = static_cast<std::int64_t>(params.size());
            plannedEvaluations = o.maxEvaluations + o.profilePoints * n * (n > 1 ? calibration::FitOptions{}.profileEvaluationsPerPoint : 1);
            io::ResourceEstimate e;
            io::WorkItem w;
            w.what = "simulated time";
            const double perEval = evaluator->simulatedDaysPerEvaluation();
            w.amount = static_cast<double>(plannedEvaluations) * perEval;
            w.limit = kMaxCalibrationSimulatedDays;
            w.unit = "d";
            w.detail = fmt::format("up to {} objective evaluations ({} for the fit, {} for {} profile{} of {} points) x {:g} d simulated per evaluation",
                                   io::formatCount(static_cast<double>(plannedEvaluations)), o.maxEvaluations, plannedEvaluations - o.maxEvaluations, n,
                                   n == 1 ? "" : "s", o.profilePoints, perEval);
            w.where = model::SourceLocation{o.targetsPath, 0, 0};
            w.entity = "[calibrate]";
            w.key = "--max-evals";
            e.work.push_back(w);
            e.memoryBytes = 64.0 * 1024 * 1024 * threads;
            e.memoryDetail = "the engines' working sets, per thread";
            io::checkBudget(e, o.limits);
        } catch (const model::ModelError& e) {
            complain(std::string(e.what()) + "\n" +
                     fmt::format("{}: {} error{}\n", o.targetsPath, e.diagnostics().size(), e.diagnostics().size() == 1 ? "" : "s"));
            rc = kExitBadInput;
        }
        if (rc == kExitOk && root) run.emplace(std::filesystem::path(o.outDir), "calibrate");
    } catch (const InputError& e) {
        complain(std::string("nkscape: error: ") + e.what() + "\n");
        rc = kExitBadInput;
    }
    if ((rc = ranks.worst(rc)) != kExitOk) return rc;
    if (root && !o.quiet)
        for (const auto& s : skipped) std::cerr << "nkscape: note: " << s << "\n";

    // ---- which files this rank evaluates ---------------------------------------------------------
    const auto& targets = evaluator->targets();
    std::vector<std::size_t> allTargets(targets.size());
    for (std::size_t k = 0; k < targets.size(); ++k) allTargets[k] = k;
    std::vector<std::size_t> mine;
    {
        std::map<std::string, std::size_t> group;
        for (std::size_t k = 0; k < targets.size(); ++k) {
            const auto [it, fresh] = group.emplace(targets[k].file, group.size());
            (void)fresh;
            if (static_cast<int>(it->second % static_cast<std::size_t>(ranks.size())) == ranks.rank()) mine.push_back(k);
        }
    }

    // ---- workers: evaluate what rank 0 broadcasts until it says stop -----------------------------
    std::optional<calibration::EvaluationPool> pool;  // one process: calibration::fit keeps its own
    if (ranks.size() > 1) pool.emplace(*evaluator, threads);
    if (!root) {
        for (;;) {
            long long command = 0;
            ranks.broadcast(command);
            if (command == 0) break;
            std::vector<double> values;
            ranks.broadcast(values);
            std::string text;
            try {
                text = encode(pool->evaluate(values, mine), mine);
            } catch (const std::exception& e) {
                std::string msg = e.what();
                std::replace(msg.begin(), msg.end(), '\n', ' ');
                text = "!" + msg + "\n";
            }
            (void)ranks.gather(text);
        }
        return ranks.worst(kExitOk);
    }

    // ---- rank 0: the fit -------------------------------------------------------------------------
    calibration::FitOptions fo;
    fo.threads = threads;
    fo.maxEvaluations = o.maxEvaluations;
    fo.seed = static_cast<std::uint64_t>(o.seed);
    fo.profilePoints = static_cast<int>(o.profilePoints);
    if (ranks.size() > 1) {
        fo.evaluate = [&](std::span<const double> values) {
            long long command = 1;
            ranks.broadcast(command);
            std::vector<double> v(values.begin(), values.end());
            ranks.broadcast(v);
            std::vector<calibration::Evaluation> evs;
            std::string err;
            try {
                evs = pool->evaluate(v, mine);
            } catch (const std::exception& e) {
                err = e.what();
            }
            const std::string others = ranks.gather("");
            if (!err.empty()) throw InputError(err);
            decode(others, evs);
            return evs;
        };
    }
    std::optional<ProgressBar> bar;
    const char* ci = std::getenv("CI");
    if (!o.quiet && ::isatty(::fileno(stderr)) && !(ci && *ci)) {
        bar.emplace("evaluations");
        fo.progress = [&bar](std::size_t done, std::size_t total) { bar->update(done, total); };
    }
    const auto start = std::chrono::steady_clock::now();
    calibration::FitResult fit;
    rc = kExitOk;
    try {
        fit = calibration::fit(*evaluator, allTargets, fo);
    } catch (const InputError& e) {
        bar.reset();
        std::cerr << "nkscape: error: " << o.targetsPath << ": " << e.what() << "\n";
        rc = kExitBadInput;
    } catch (const std::exception& e) {
        bar.reset();
        std::cerr << "nkscape: error: " << e.what() << "\n";
        rc = kExitFailure;
    }
    bar.reset();
    if (ranks.size() > 1) {
        long long stop = 0;
        ranks.broadcast(stop);
    }
    if ((rc = ranks.worst(rc)) != kExitOk) return rc;
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    // ---- outputs -------------------------------------------------------------------------------
    const auto& m = evaluator->model();
    const auto modelRoot = std::filesystem::absolute(m.info().files.front()).lexically_normal();
    const auto outAbs = std::filesystem::absolute(o.outDir).lexically_normal();
    std::string base = modelRoot.lexically_relative(outAbs).generic_string();
    if (base.empty()) base = modelRoot.generic_string();
    run->add("overlay.toml", calibration::overlayToml(fit, *evaluator, base));

    io::CsvTable table({"target", "statistic", "observed", "band_low", "band_high", "unit", "residual_scale", "simulated_before",
                        "simulated_after", "residual_before", "residual_after", "in_band_before", "in_band_after", "note"});
    for (const auto& tf : fit.table) {
        const auto& t = targets[tf.target];
        auto sim = [](const calibration::Evaluation& e) { return e.ok() ? io::CsvCell{e.value} : io::csvMissing(); };
        auto inBand = [](const std::optional<double>& r) { return r ? io::CsvCell{std::string(std::abs(*r) <= 1.0 ? "yes" : "no")} : io::CsvCell{std::string("failed")}; };
        std::string note = tf.after.ok() ? std::string() : "after: " + tf.after.error;
        if (!tf.before.ok()) note += (note.empty() ? "" : "; ") + std::string("before: ") + tf.before.error;
        table.addRow({t.id, calibration::statisticName(t.statistic), t.observed, t.low, t.high, t.unit,
                      std::string(calibration::logScale(t) ? "log" : "linear"), sim(tf.before), sim(tf.after), io::csvOptional(tf.residualBefore),
                      io::csvOptional(tf.residualAfter), inBand(tf.residualBefore), inBand(tf.residualAfter), note});
    }
    run->add("fit.csv", table.str());

    if (!fit.profiles.empty()) {
        std::vector<std::string> cols{"parameter", "unit", "value", "objective", "delta_objective"};
        for (const auto& p : fit.parameters) cols.push_back(p.path);
        io::CsvTable prof(cols);
        double fBest = fit.objectiveAfter;
        for (const auto& pr : fit.profiles)
            for (const auto& p : pr.points) fBest = std::min(fBest, p.objective);
        for (const auto& pr : fit.profiles) {
            const auto& par = fit.parameters[pr.parameter];
            for (const auto& p : pr.points) {
                std::vector<io::CsvCell> row{par.path, par.unit, p.value, p.objective, p.objective - fBest};
                for (const double x : p.others) row.emplace_back(x);
                prof.addRow(std::move(row));
            }
        }
        run->add("profiles.csv", prof.str());
    }

    io::Json s;
    s["targets_file"] = o.targetsPath;
    s["model"] = {{"name", m.info().name}, {"version", m.info().version}, {"hash", m.info().hash}, {"root", m.info().files.front()}};
    s["optimiser"] = {{"global", fit.globalAlgorithm}, {"global_stop", fit.globalStop}, {"local", fit.localAlgorithm}, {"local_stop", fit.localStop},
                      {"max_evaluations", o.maxEvaluations}, {"seed", fit.seed}};
    s["objective"] = {{"definition", "sum over targets of min(r^2, 1000); r = (sim - obs) / (band edge - obs) on the side of sim, on log scale when the band spans > 3-fold; 1000 for a failed target"},
                      {"before", io::jsonNumber(fit.objectiveBefore)}, {"after", io::jsonNumber(fit.objectiveAfter)}};
    s["evaluations"] = {{"global", fit.evaluationsGlobal}, {"local", fit.evaluationsLocal}, {"profile", fit.evaluationsProfile}};
    io::Json used = io::Json::array();
    for (const std::size_t k : fit.targets) used.push_back(targets[k].id);
    s["targets"] = used;
    s["skipped"] = skipped;
    if (o.patients) s["trial_patients"] = *o.patients;
    io::Json params = io::Json::array();
    for (std::size_t i = 0; i < fit.parameters.size(); ++i) {
        const auto& p = fit.parameters[i];
        io::Json j{{"path", p.path}, {"unit", p.unit}, {"range", {io::jsonNumber(p.low), io::jsonNumber(p.high)}}, {"scale", p.log ? "log" : "linear"},
                   {"start", io::jsonNumber(p.start)}, {"fitted", io::jsonNumber(fit.fitted[i])}};
        for (const auto& pr : fit.profiles)
            if (pr.parameter == i)
                j["profile"] = {{"verdict", pr.verdict}, {"threshold", io::jsonNumber(pr.threshold)}, {"max_delta", io::jsonNumber(pr.maxDelta)},
                                {"limit_low", io::jsonOptional(pr.limitLow)}, {"limit_high", io::jsonOptional(pr.limitHigh)}};
        params.push_back(j);
    }
    s["parameters"] = params;
    s["run"] = {{"threads_per_rank", threads}, {"ranks", ranks.size()}, {"wall_seconds", io::jsonNumber(wall)},
                {"evaluations_per_second", io::jsonNumber(static_cast<double>(fit.evaluationsGlobal + fit.evaluationsLocal + fit.evaluationsProfile) / std::max(wall, 1e-9))},
                {"nkscape", kVersion}};
    run->add("summary.json", io::jsonText(s));
    const auto files = run->commit();

    if (!o.quiet) {
        const auto evals = fit.evaluationsGlobal + fit.evaluationsLocal;
        fmt::print("calibrate: {} parameter{} to {} target{}: objective {:.4g} -> {:.4g} in {} evaluations ({} + {}), {:.1f} s on {} rank{} x {} thread{}\n",
                   fit.parameters.size(), fit.parameters.size() == 1 ? "" : "s", fit.targets.size(), fit.targets.size() == 1 ? "" : "s",
                   fit.objectiveBefore, fit.objectiveAfter, evals, fit.globalAlgorithm, fit.localAlgorithm, wall, ranks.size(),
                   ranks.size() == 1 ? "" : "s", threads, threads == 1 ? "" : "s");
        for (std::size_t i = 0; i < fit.parameters.size(); ++i) {
            const auto& p = fit.parameters[i];
            std::string prof;
            for (const auto& pr : fit.profiles)
                if (pr.parameter == i)
                    prof = fmt::format("  {} [{}, {}]", pr.verdict, pr.limitLow ? fmtValue(*pr.limitLow) : "-", pr.limitHigh ? fmtValue(*pr.limitHigh) : "-");
            fmt::print("  {}: {} -> {} {}{}\n", p.path, fmtValue(p.start), fmtValue(fit.fitted[i]), p.unit, prof);
        }
        for (const auto& tf : fit.table) {
            const auto& t = targets[tf.target];
            auto v = [](const calibration::Evaluation& e) { return e.ok() ? fmtValue(e.value) : std::string("failed"); };
            fmt::print("  {}: observed {} [{}, {}] {}; simulated {} -> {} ({})\n", t.id, fmtValue(t.observed), fmtValue(t.low), fmtValue(t.high), t.unit,
                       v(tf.before), v(tf.after), tf.inBandAfter() ? "in band" : "outside the band");
        }
        std::string list;
        for (const auto& f : files) list += (list.empty() ? "" : ", ") + f.string();
        fmt::print("wrote {}\n", list);
    }
    return kExitOk;
}

}  // namespace nkscape::cli
