// `nkscape sensitivity`: load the analysis, plan and budget it, evaluate its design(s) over threads
// and MPI ranks, gather on rank 0, estimate the indices and write indices.csv, samples.csv,
// influential.txt and summary.json (docs/sensitivity.md). Every rank evaluates rows i with
// i % ranks == rank; rank 0 gathers them as text lines that round-trip exactly, so the outputs are
// the same bytes for any number of ranks and threads (summary.json's "run" block aside).

#include "sensitivity_command.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "nkscape/calibration/evaluate.hpp"
#include "nkscape/error.hpp"
#include "nkscape/io/budget.hpp"
#include "nkscape/io/csv.hpp"
#include "nkscape/io/json.hpp"
#include "nkscape/io/run.hpp"
#include "nkscape/model/diagnostics.hpp"
#include "nkscape/sensitivity/analysis.hpp"
#include "nkscape/sensitivity/sensitivity.hpp"
#include "nkscape/trial/trial.hpp"
#include "nkscape/version.hpp"
#include "progress.hpp"
#include "ranks.hpp"

namespace nkscape::cli {

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitBadInput = 2;
/// A parameter is influential (influential.txt) when its Sobol total index reaches this for an output.
constexpr double kInfluentialTotal = 0.05;

using sensitivity::Matrix;
using sensitivity::Method;

// Rank 0's `text` on every rank (MPI_Bcast when MPI runs; else unchanged).
std::string broadcastFromRoot(std::string text) {
#ifdef NKSCAPE_HAVE_MPI
    int initialised = 0, finalised = 0;
    MPI_Initialized(&initialised);
    MPI_Finalized(&finalised);
    if (initialised && !finalised) {
        long long n = static_cast<long long>(text.size());
        MPI_Bcast(&n, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
        text.resize(static_cast<std::size_t>(n));
        MPI_Bcast(text.data(), static_cast<int>(n), MPI_CHAR, 0, MPI_COMM_WORLD);
    }
#endif
    return text;
}

// One design evaluated: the screening, or the analysis's own method.
struct Stage {
    Method method = Method::Sobol;
    bool touch = false;               ///< the screening's touch pass (no indices)
    std::vector<std::size_t> params;  ///< indices into Plan::parameters
    Matrix points;                    ///< unit design
    std::optional<sensitivity::MorrisDesign> morris;
    std::size_t sobolN = 0;
    Matrix y;                           ///< rows × outputs; NaN = failed
    std::vector<std::string> failures;  ///< rows × outputs
    double wallSeconds = 0;
};

std::string oneLine(std::string s) {
    std::replace(s.begin(), s.end(), '\n', ' ');
    std::replace(s.begin(), s.end(), '\r', ' ');
    return s;
}

// Evaluates `stage` on this rank and gathers every row on rank 0.
void evaluateStage(Stage& stage, const sensitivity::Analysis& a, const sensitivity::Plan& plan, std::optional<std::int64_t> patients,
                   int threads, const Ranks& ranks, bool showProgress, const std::string& label) {
    std::vector<std::string> paths;
    std::vector<sensitivity::Dimension> dims;
    for (const std::size_t i : stage.params) {
        paths.push_back(plan.parameters[i].path);
        dims.push_back(plan.parameters[i].dimension);
    }
    calibration::EvaluatorOptions eo;
    eo.trialPatients = patients;
    eo.maxStepsPerRun = a.maxStepsPerRun;
    const calibration::Evaluator evaluator(a.outputs, paths, eo);
    std::vector<bool> log10;
    for (const auto& g : a.outputs) log10.push_back(std::find(a.logOutputs.begin(), a.logOutputs.end(), g.id) != a.logOutputs.end());
    const std::size_t outs = a.outputs.size();
    sensitivity::FailureLog log(stage.points.rows, outs);
    const auto f = sensitivity::evaluatorFunction(evaluator, dims, log10, &log);
    sensitivity::EvaluationOptions o;
    o.threads = threads;
    o.rank = ranks.rank();
    o.ranks = ranks.size();
    std::optional<ProgressBar> bar;
    if (showProgress && ranks.rank() == 0) {
        bar.emplace(ranks.size() > 1 ? label + " evaluations (rank 0)" : label + " evaluations");
        o.progress = [&bar](std::size_t done, std::size_t total) { bar->update(done, total); };
    }
    const auto start = std::chrono::steady_clock::now();
    stage.y = sensitivity::evaluateDesign(stage.points, outs, f, o);
    bar.reset();
    stage.wallSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    stage.failures = std::move(log.messages);
    // Gather: "row v1 v2 ..." lines ({} formats a double so that it reads back exactly; NaN is
    // "nan"), then "!row output message" lines for the failures.
    std::string mine;
    if (ranks.rank() != 0) {
        for (std::size_t r = static_cast<std::size_t>(ranks.rank()); r < stage.points.rows; r += static_cast<std::size_t>(ranks.size())) {
            mine += std::to_string(r);
            for (std::size_t o2 = 0; o2 < outs; ++o2) mine += fmt::format(" {}", stage.y(r, o2));
            mine += "\n";
            for (std::size_t o2 = 0; o2 < outs; ++o2)
                if (!stage.failures[r * outs + o2].empty()) mine += fmt::format("!{} {} {}\n", r, o2, oneLine(stage.failures[r * outs + o2]));
        }
    }
    const std::string all = ranks.gather(mine);
    if (ranks.rank() != 0) return;
    std::istringstream lines(all);
    for (std::string line; std::getline(lines, line);) {
        if (line.empty()) continue;
        if (line[0] == '!') {
            std::istringstream in(line.substr(1));
            std::size_t r = 0, o2 = 0;
            in >> r >> o2;
            std::string msg;
            std::getline(in, msg);
            if (!msg.empty() && msg[0] == ' ') msg.erase(0, 1);
            stage.failures.at(r * outs + o2) = msg;
            continue;
        }
        const char* p = line.c_str();
        char* end = nullptr;
        const auto r = static_cast<std::size_t>(std::strtoull(p, &end, 10));
        p = end;
        for (std::size_t o2 = 0; o2 < outs; ++o2) {
            if (r >= stage.y.rows) throw InternalError("sensitivity: a gathered row out of range");
            stage.y(r, o2) = std::strtod(p, &end);
            p = end;
        }
    }
}

// Per output and stage: how many rows failed, the first reason, whether indices were estimated.
struct OutputStatus {
    std::size_t failed = 0;
    std::size_t droppedRows = 0;  ///< Sobol base rows left out (max_failed)
    std::string firstFailure;
    bool estimated = false;
    std::string refused;
};

std::string designLabel(const Stage& s, std::size_t r) {
    if (s.method == Method::Morris) return fmt::format("trajectory_{}", r / (s.params.size() + 1) + 1);
    if (s.method == Method::Prcc) return "lhs";
    const std::size_t block = r / s.sobolN;
    return block == 0 ? "A" : block == 1 ? "B" : fmt::format("AB_{}", block - 1);
}

io::CsvCell cell(double v) { return std::isfinite(v) ? io::CsvCell{v} : io::csvMissing(); }

io::Json jsonFinite(double v) { return std::isfinite(v) ? io::jsonNumber(v) : io::Json("undefined"); }

}  // namespace

int runSensitivityCommand(const SensitivityCommandOptions& o) {
    using namespace sensitivity;
    Ranks ranks;
    const bool root = ranks.rank() == 0;
    auto complain = [&](const std::string& msg) {
        if (root) std::cerr << msg;
    };
    std::optional<Analysis> analysis;
    std::optional<Plan> plan;
    std::optional<io::RunFolder> run;
    int threads = 1;
    int rc = kExitOk;
    std::optional<std::int64_t> patients;
    try {
        threads = threadsPerRank(o.threads, ranks);
        if (o.samples && (*o.samples < 2 || *o.samples > kMaxSamples))
            throw InputError(fmt::format("--samples must be in [2, {}], got {}", kMaxSamples, *o.samples));
        if (o.seed && *o.seed < 0) throw InputError(fmt::format("--seed must be >= 0, got {}", *o.seed));
        if (o.patients) {
            if (*o.patients < 1 || *o.patients > trial::kMaxPatients)
                throw InputError(fmt::format("--patients must be in [1, {}], got {}", trial::kMaxPatients, *o.patients));
            patients = *o.patients;
        }
        std::optional<Method> method;
        if (o.method) {
            method = parseMethod(*o.method);
            if (!method) throw InputError("--method '" + *o.method + "' is not one of morris, sobol, prcc");
        }
        try {
            analysis = loadAnalysis(o.analysisPath);
            if (method) {
                analysis->method = *method;
                if (*method != Method::Sobol) analysis->screening.reset();  // a screening only precedes Sobol
            }
            if (o.samples) analysis->samples = static_cast<std::size_t>(*o.samples);
            if (o.seed) analysis->seed = static_cast<std::uint64_t>(*o.seed);
            if (analysis->method == Method::Morris && analysis->candidates != 0 && analysis->candidates < analysis->samples)
                throw InputError(fmt::format("{}: [analysis] candidates = {} is below the {} trajectories asked for", o.analysisPath, analysis->candidates,
                                             analysis->samples));
            PlanOptions po;
            po.trialPatients = patients;
            plan = planAnalysis(*analysis, po);
            io::checkBudget(estimateResources(*analysis, *plan), o.limits);
        } catch (const model::ModelError& e) {
            complain(std::string(e.what()) + "\n" +
                     fmt::format("{}: {} error{}\n", o.analysisPath, e.diagnostics().size(), e.diagnostics().size() == 1 ? "" : "s"));
            rc = kExitBadInput;
        }
        if (rc == kExitOk && root) run.emplace(std::filesystem::path(o.outDir), "sensitivity");
    } catch (const InputError& e) {
        complain(std::string("nkscape: error: ") + e.what() + "\n");
        rc = kExitBadInput;
    }
    if ((rc = ranks.worst(rc)) != kExitOk) return rc;

    const Analysis& a = *analysis;
    const Plan& p = *plan;
    const std::size_t k = p.parameters.size(), outs = a.outputs.size();
    const char* ci = std::getenv("CI");
    const bool showProgress = !o.quiet && ::isatty(::fileno(stderr)) && !(ci && *ci);
    if (root && !o.quiet)
        fmt::print("sensitivity '{}': {}{} over {} parameters ({} left out), {} evaluations of {} output{} ({} d simulated each) on {} rank{} x {} thread{}\n",
                   a.name, a.screening ? "Morris screening, then " : "", methodName(a.method), k, p.skipped.size(),
                   io::formatCount(static_cast<double>(p.screeningEvaluations + p.evaluations)), outs, outs == 1 ? "" : "s",
                   io::formatCount(p.daysPerEvaluation), ranks.size(), ranks.size() == 1 ? "" : "s", threads, threads == 1 ? "" : "s");
    std::vector<Stage> stages;
    std::vector<std::pair<std::size_t, double>> kept;  // screening: (parameter, score)
    std::size_t untouched = 0;                          // parameters the touch pass dropped
    try {
        std::vector<std::size_t> all(k);
        for (std::size_t i = 0; i < k; ++i) all[i] = i;
        std::vector<std::size_t> mainParams = all;
        std::vector<std::size_t> screened = all;
        if (a.screening && a.screening->touch) {
            // The touch pass: one parameter at a time to the far end of its range from the
            // baseline; a parameter no output sees (the same bits as at the baseline) is not screened.
            Stage t;
            t.touch = true;
            t.params = all;
            std::vector<double> base(k);
            for (std::size_t i = 0; i < k; ++i) base[i] = toUnit(p.parameters[i].dimension, p.parameters[i].baseline);
            t.points = touchDesign(base);
            evaluateStage(t, a, p, patients, threads, ranks, showProgress, "touch");
            std::string text;
            if (root) {
                for (std::size_t i = 0; i < k; ++i) {
                    bool seen = false;
                    for (std::size_t out = 0; out < outs; ++out) {
                        const double b = t.y(0, out), v = t.y(i + 1, out);
                        if (std::isnan(b) != std::isnan(v) || (!std::isnan(b) && std::memcmp(&b, &v, sizeof b) != 0)) seen = true;
                    }
                    if (seen) text += fmt::format("{}\n", i);
                }
            }
            text = broadcastFromRoot(text);
            screened.clear();
            std::istringstream in(text);
            for (std::size_t i = 0; in >> i;) screened.push_back(i);
            untouched = k - screened.size();
            if (screened.empty()) throw Error("the touch pass found no parameter that changes any output at the baseline; nothing to screen");
            stages.push_back(std::move(t));
        }
        if (a.screening) {
            Stage s;
            s.method = Method::Morris;
            s.params = screened;
            s.morris = morrisDesign(a.screening->trajectories, screened.size(), a.screening->levels, a.seed, a.screening->candidates);
            s.points = s.morris->points;
            evaluateStage(s, a, p, patients, threads, ranks, showProgress, "screening");
            // Rank 0 keeps the parameters of largest mu* (normalised by each output's largest, the
            // best over the outputs); every rank gets the list.
            std::string keptText;
            if (root) {
                const std::size_t ks = screened.size();
                std::vector<double> score(ks, 0.0);
                for (std::size_t out = 0; out < outs; ++out) {
                    const auto m = morrisIndices(*s.morris, s.y.column(out), 0, a.seed);
                    double top = 0;
                    for (const auto& e : m.muStar)
                        if (std::isfinite(e.value)) top = std::max(top, e.value);
                    if (top > 0)
                        for (std::size_t i = 0; i < ks; ++i)
                            if (std::isfinite(m.muStar[i].value)) score[i] = std::max(score[i], m.muStar[i].value / top);
                }
                std::vector<std::size_t> order(ks);
                for (std::size_t i = 0; i < ks; ++i) order[i] = i;
                std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return score[x] > score[y]; });
                for (std::size_t q = 0; q < order.size() && kept.size() < a.screening->keep; ++q)
                    if (score[order[q]] > 0) kept.emplace_back(screened[order[q]], score[order[q]]);
                for (const auto& [i, sc] : kept) keptText += fmt::format("{} {}\n", i, sc);
            }
            keptText = broadcastFromRoot(keptText);
            if (!root) {
                std::istringstream in(keptText);
                std::size_t i = 0;
                double sc = 0;
                while (in >> i >> sc) kept.emplace_back(i, sc);
            }
            if (kept.empty()) throw Error("the screening found no parameter that changes any output; nothing to estimate Sobol indices for");
            mainParams.clear();
            for (const auto& [i, sc] : kept) mainParams.push_back(i);
            std::sort(mainParams.begin(), mainParams.end());  // the analysis's order
            stages.push_back(std::move(s));
        }
        Stage m;
        m.method = a.method;
        m.params = mainParams;
        const std::size_t km = mainParams.size();
        switch (a.method) {
        case Method::Morris:
            m.morris = morrisDesign(a.samples, km, a.levels, a.seed, a.candidates);
            m.points = m.morris->points;
            break;
        case Method::Sobol:
            m.sobolN = a.samples;
            m.points = saltelliDesign(a.samples, km, a.seed);
            break;
        case Method::Prcc:
            m.points = latinHypercube(a.samples, km, a.seed);
            break;
        }
        evaluateStage(m, a, p, patients, threads, ranks, showProgress, methodName(a.method));
        stages.push_back(std::move(m));
    } catch (const InputError& e) {
        std::cerr << "nkscape: error: " << o.analysisPath << ": " << e.what() << "\n";
        rc = kExitBadInput;
    } catch (const std::exception& e) {
        std::cerr << "nkscape: error: " << e.what() << "\n";
        rc = kExitFailure;
    }
    if ((rc = ranks.worst(rc)) != kExitOk) return rc;
    if (!root) return kExitOk;

    // ---- rank 0: the indices and the outputs ----------------------------------------------------
    io::CsvTable indices({"output", "parameter", "method", "index", "value", "ci95_low", "ci95_high"});
    io::Json stagesJson = io::Json::array();
    std::map<std::size_t, double> maxTotal;  // parameter -> largest Sobol total over the outputs
    bool anyEstimated = false;
    for (const Stage& s : stages) {
        const bool isMain = &s == &stages.back();
        io::Json sj;
        if (s.touch) {
            sj["method"] = "touch";
            sj["role"] = "screening";
            sj["parameters"] = s.params.size();
            sj["evaluations"] = s.points.rows;
            sj["untouched"] = untouched;
            stagesJson.push_back(sj);
            continue;
        }
        sj["method"] = methodName(s.method);
        sj["role"] = isMain ? "main" : "screening";
        sj["parameters"] = s.params.size();
        sj["evaluations"] = s.points.rows;
        if (s.method == Method::Sobol) sj["base_samples"] = s.sobolN;
        if (s.morris) {
            sj["trajectories"] = s.morris->trajectories;
            sj["levels"] = s.morris->levels;
        }
        sj["outputs"] = io::Json::array();
        for (std::size_t out = 0; out < outs; ++out) {
            const auto& g = a.outputs[out];
            OutputStatus st;
            for (std::size_t r = 0; r < s.points.rows; ++r)
                if (!std::isfinite(s.y(r, out))) {
                    if (st.failed++ == 0) st.firstFailure = fmt::format("row {}: {}", r, s.failures[r * outs + out]);
                }
            const std::vector<double> y = s.y.column(out);
            auto param = [&](std::size_t i) { return p.parameters[s.params[i]].path; };
            try {
                if (s.method == Method::Morris) {
                    const auto m = morrisIndices(*s.morris, y, a.bootstrap, a.seed);
                    for (std::size_t i = 0; i < s.params.size(); ++i) {
                        indices.addRow({g.id, param(i), "morris", "mu", cell(m.mu[i]), io::csvMissing(), io::csvMissing()});
                        indices.addRow({g.id, param(i), "morris", "mu_star", cell(m.muStar[i].value), cell(m.muStar[i].low), cell(m.muStar[i].high)});
                        indices.addRow({g.id, param(i), "morris", "sigma", cell(m.sigma[i]), io::csvMissing(), io::csvMissing()});
                    }
                    st.estimated = true;
                } else if (s.method == Method::Sobol) {
                    std::size_t dropped = 0;
                    if (st.failed) {
                        // Base rows with a failed point are dropped whole, up to max_failed.
                        for (std::size_t j = 0; j < s.sobolN; ++j)
                            for (std::size_t b = 0; b < s.params.size() + 2; ++b)
                                if (!std::isfinite(y[b * s.sobolN + j])) {
                                    ++dropped;
                                    break;
                                }
                    }
                    if (static_cast<double>(dropped) > a.maxFailedShare * static_cast<double>(s.sobolN)) {
                        st.refused = fmt::format("{} of {} points failed ({}), in {} of {} base rows; max_failed = {:g} allows {}", st.failed,
                                                 s.points.rows, st.firstFailure, dropped, s.sobolN, a.maxFailedShare,
                                                 static_cast<std::size_t>(a.maxFailedShare * static_cast<double>(s.sobolN)));
                    } else {
                        std::size_t d2 = 0;
                        const auto si = sobolIndicesOfFiniteRows(y, s.sobolN, s.params.size(), a.bootstrap, a.seed, d2);
                        st.droppedRows = d2;
                        for (std::size_t i = 0; i < s.params.size(); ++i) {
                            indices.addRow({g.id, param(i), "sobol", "S1", cell(si.first[i].value), cell(si.first[i].low), cell(si.first[i].high)});
                            indices.addRow({g.id, param(i), "sobol", "ST", cell(si.total[i].value), cell(si.total[i].low), cell(si.total[i].high)});
                            double& mt = maxTotal[s.params[i]];
                            mt = std::max(mt, si.total[i].value);
                        }
                        st.estimated = true;
                    }
                } else {
                    const auto pr = prcc(s.points, y);
                    for (std::size_t i = 0; i < s.params.size(); ++i) {
                        indices.addRow({g.id, param(i), "prcc", "PRCC", cell(pr.prcc[i].value), cell(pr.prcc[i].low), cell(pr.prcc[i].high)});
                        indices.addRow({g.id, param(i), "prcc", "p_value", cell(pr.pValue[i]), io::csvMissing(), io::csvMissing()});
                    }
                    st.estimated = true;
                }
            } catch (const InputError& e) {
                st.refused = e.what();
            }
            if (isMain && st.estimated) anyEstimated = true;
            if (st.failed && st.estimated)
                std::cerr << fmt::format("nkscape: warning: output '{}': {} of {} {} points failed (first: {}); {} left out\n", g.id, st.failed,
                                         s.points.rows, methodName(s.method), st.firstFailure,
                                         s.method == Method::Morris ? "their elementary effects are" : s.method == Method::Sobol ? "their base rows are" : "they are");
            if (!st.estimated) std::cerr << fmt::format("nkscape: warning: output '{}': no {} indices: {}\n", g.id, methodName(s.method), st.refused);
            io::Json oj;
            oj["id"] = g.id;
            oj["failed_points"] = st.failed;
            if (st.failed) oj["first_failure"] = st.firstFailure;
            if (s.method == Method::Sobol) oj["dropped_base_rows"] = st.droppedRows;
            oj["estimated"] = st.estimated;
            if (!st.estimated) oj["refused"] = st.refused;
            sj["outputs"].push_back(oj);
        }
        stagesJson.push_back(sj);
    }
    // samples.csv: the main stage, parameter values in their internal units.
    const Stage& main = stages.back();
    std::vector<std::string> columns = {"stage", "row", "design"};
    std::vector<Dimension> dims;
    for (const std::size_t i : main.params) {
        columns.push_back(p.parameters[i].path);
        dims.push_back(p.parameters[i].dimension);
    }
    for (const auto& g : a.outputs)
        columns.push_back(std::find(a.logOutputs.begin(), a.logOutputs.end(), g.id) != a.logOutputs.end() ? "log10(1+" + g.id + ")" : g.id);
    io::CsvTable samples(columns);
    for (std::size_t r = 0; r < main.points.rows; ++r) {
        std::vector<io::CsvCell> row = {methodName(main.method), static_cast<std::int64_t>(r), designLabel(main, r)};
        for (const double v : fromUnit(dims, main.points.row(r))) row.emplace_back(v);
        for (std::size_t out = 0; out < outs; ++out) row.push_back(cell(main.y(r, out)));
        samples.addRow(std::move(row));
    }
    // influential.txt: Sobol total >= 0.05 for an output, largest first.
    std::vector<std::pair<std::size_t, double>> influential;
    for (const auto& [i, t] : maxTotal)
        if (t >= kInfluentialTotal) influential.emplace_back(i, t);
    std::stable_sort(influential.begin(), influential.end(), [](const auto& x, const auto& y) { return x.second > y.second; });

    io::Json s;
    s["nkscape_version"] = kVersion;
    io::Json aj;
    aj["name"] = a.name;
    aj["file"] = a.path;
    aj["description"] = a.description;
    aj["method"] = methodName(a.method);
    aj["samples"] = a.samples;
    aj["seed"] = a.seed;
    aj["bootstrap"] = a.bootstrap;
    aj["levels"] = a.levels;
    aj["candidates"] = a.candidates;
    aj["max_failed"] = io::jsonNumber(a.maxFailedShare);
    aj["max_steps_per_run"] = a.maxStepsPerRun;
    aj["parameters"] = a.allWithRange ? "all-with-range" : "listed";
    aj["log_outputs"] = a.logOutputs;
    if (patients) aj["trial_patients"] = *patients;
    s["analysis"] = aj;
    if (a.screening) {
        io::Json sc;
        sc["trajectories"] = a.screening->trajectories;
        sc["levels"] = a.screening->levels;
        sc["candidates"] = a.screening->candidates;
        sc["keep"] = a.screening->keep;
        sc["touch"] = a.screening->touch;
        sc["untouched"] = untouched;
        sc["kept"] = io::Json::array();
        for (const auto& [i, score] : kept) sc["kept"].push_back({{"path", p.parameters[i].path}, {"normalised_mu_star", io::jsonNumber(score)}});
        s["screening"] = sc;
    }
    s["evaluations"] = {{"screening", p.screeningEvaluations},
                        {"main", p.evaluations},
                        {"simulated_days_each", io::jsonNumber(p.daysPerEvaluation)}};
    s["outputs"] = io::Json::array();
    for (const auto& g : a.outputs)
        s["outputs"].push_back({{"id", g.id}, {"statistic", calibration::statisticName(g.statistic)}, {"file", g.file}, {"column", g.column},
                                {"arm", g.arm}, {"time_d", io::jsonNumber(g.time_d)}, {"scale", io::jsonNumber(g.scale)},
                                {"log10", std::find(a.logOutputs.begin(), a.logOutputs.end(), g.id) != a.logOutputs.end()}});
    s["parameters"] = io::Json::array();
    for (const auto& q : p.parameters)
        s["parameters"].push_back({{"path", q.path}, {"unit", q.unit}, {"low", io::jsonNumber(q.dimension.low)}, {"high", io::jsonNumber(q.dimension.high)},
                                   {"scale", q.dimension.scale == Scale::Log ? "log-uniform" : "uniform"}, {"baseline", jsonFinite(q.baseline)},
                                   {"range_from", q.rangeFromModel ? "model" : "analysis"}});
    s["left_out"] = io::Json::array();
    for (const auto& [path, why] : p.skipped) s["left_out"].push_back({{"path", path}, {"why", why}});
    s["stages"] = stagesJson;
    s["influential_threshold_total"] = io::jsonNumber(kInfluentialTotal);
    s["influential"] = io::Json::array();
    for (const auto& [i, t] : influential) s["influential"].push_back({{"path", p.parameters[i].path}, {"max_total", io::jsonNumber(t)}});
    io::Json rj;
    rj["threads_per_rank"] = threads;
    rj["ranks"] = ranks.size();
    double wall = 0;
    for (const auto& st : stages) wall += st.wallSeconds;
    rj["evaluation_wall_seconds_rank0"] = io::jsonNumber(wall);
    s["run"] = rj;

    run->add("indices.csv", indices.str());
    run->add("samples.csv", samples.str());
    if (main.method == Method::Sobol) {
        std::string text;
        for (const auto& [i, t] : influential) text += p.parameters[i].path + "\n";
        run->add("influential.txt", text);
    }
    run->add("summary.json", io::jsonText(s));
    const auto files = run->commit();
    if (!o.quiet) {
        fmt::print("evaluated in {:.1f} s ({:.0f} evaluations/s)\n", wall,
                   wall > 0 ? static_cast<double>(p.screeningEvaluations + p.evaluations) / wall : 0.0);
        if (a.screening) {
            std::string list;
            for (const auto& [i, sc] : kept) list += (list.empty() ? "" : ", ") + p.parameters[i].path;
            fmt::print("  screening: {} of {} parameters change an output at the baseline; kept {}: {}\n", k - untouched, k, kept.size(), list);
        }
        if (main.method == Method::Sobol) fmt::print("  influential (Sobol total >= {:g}): {}\n", kInfluentialTotal, influential.size());
        std::string list;
        for (const auto& f : files) list += (list.empty() ? "" : ", ") + f.string();
        fmt::print("wrote {}\n", list);
    }
    if (!anyEstimated) {
        std::cerr << "nkscape: error: " << o.analysisPath << ": no output has " << methodName(main.method) << " indices (see the warnings above)\n";
        return kExitFailure;
    }
    return kExitOk;
}

}  // namespace nkscape::cli
