// `nkscape twin`: load the regimens file (a trial file) and the patient file, check the options
// and the budget, run the twin (threads), write the outputs. One process: the sampler's stages are
// synchronous, so MPI would add little; the results are the same bytes for any --threads.

#include "twin_command.hpp"

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "nkscape/error.hpp"
#include "nkscape/io/budget.hpp"
#include "nkscape/io/run.hpp"
#include "nkscape/model/diagnostics.hpp"
#include "nkscape/trial/trial.hpp"
#include "nkscape/twin/twin.hpp"
#include "progress.hpp"

namespace nkscape::cli {

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitBadInput = 2;

int reportErrors(const std::string& path, const model::ModelError& e) {
    std::cerr << e.what() << "\n";
    std::cerr << fmt::format("{}: {} error{}\n", path, e.diagnostics().size(), e.diagnostics().size() == 1 ? "" : "s");
    return kExitBadInput;
}

}  // namespace

int runTwinCommand(const TwinCommandOptions& o) {
    twin::TwinOptions options;
    std::optional<trial::LoadedTrial> regimens;
    std::optional<twin::Patient> patient;
    std::optional<io::RunFolder> run;
    try {
        // The command line first (cheap, and wrong whatever the files say).
        options.threads = o.threads ? io::parseThreads(*o.threads) : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
        options.threads = std::min(options.threads, io::maxThreads());
        options.particles = o.particles;
        options.generations = o.generations;
        if (o.seed && *o.seed < 0) throw InputError(fmt::format("--seed must be >= 0, got {}", *o.seed));
        twin::checkOptions(options);
        try {
            regimens = trial::loadTrial(o.regimensPath);
        } catch (const model::ModelError& e) {
            return reportErrors(o.regimensPath, e);
        }
        options.seed = o.seed ? static_cast<std::uint64_t>(*o.seed) : regimens->seed;
        try {
            patient = twin::loadPatient(o.patientPath, *regimens);
        } catch (const model::ModelError& e) {
            return reportErrors(o.patientPath, e);
        }
        try {
            io::checkBudget(twin::estimateResources(*regimens, *patient, options), o.limits);
        } catch (const model::ModelError& e) {
            return reportErrors(o.patientPath, e);
        }
        // Before the computation: an unusable --out is refused now (exit 2), not after it.
        run.emplace(std::filesystem::path(o.outDir), "twin");
    } catch (const InputError& e) {
        std::cerr << "nkscape: error: " << e.what() << "\n";
        return kExitBadInput;
    }
    std::optional<ProgressBar> bar;
    const char* ci = std::getenv("CI");
    if (!o.quiet && ::isatty(::fileno(stderr)) && !(ci && *ci)) {
        bar.emplace("simulations (bound)");
        options.progress = [&bar](std::size_t done, std::size_t total) { bar->update(done, total); };
    }
    twin::TwinResult result;
    try {
        result = twin::runTwin(*regimens, *patient, options);
    } catch (const InputError& e) {
        bar.reset();
        std::cerr << "nkscape: error: " << o.patientPath << ": " << e.what() << "\n";
        return kExitBadInput;
    } catch (const std::exception& e) {
        bar.reset();
        std::cerr << "nkscape: error: " << e.what() << "\n";
        return kExitFailure;
    }
    bar.reset();
    io::Json info;
    info["threads"] = options.threads;
    info["wall_seconds"] = io::jsonNumber(result.wallSeconds);
    const auto files = twin::writeTwinOutputs(*run, *regimens, *patient, options, result, info);
    if (!o.quiet) {
        fmt::print("twin '{}': {} particles, {} tempering stages, {} simulations ({} failed) in {:.2f} s on {} thread{}\n", patient->name,
                   result.particles.size(), result.stages.size(), result.simulations, result.failedSimulations, result.wallSeconds, options.threads,
                   options.threads == 1 ? "" : "s");
        if (!result.stages.empty() && result.stages.back().forced)
            fmt::print("  note: the stage limit (--generations {}) was reached before the ESS rule reached the posterior; the last stage "
                       "jumped to it (ESS {:.0f} of {}): raise --generations\n",
                       options.generations, result.stages.back().ess, result.particles.size());
        std::vector<std::size_t> order(result.regimens.size());
        for (std::size_t a = 0; a < order.size(); ++a) order[result.regimens[a].rank - 1] = a;
        for (std::size_t a : order) {
            const auto& r = result.regimens[a];
            fmt::print("  {}. {}: P(response) {:.2f} [{:.2f}, {:.2f}], PFS median {:.0f} d [{:.0f}, {:.0f}]{}\n", r.rank, r.name, r.pResponse,
                       r.pResponseLow, r.pResponseHigh, r.pfsMedian_d, r.pfsLow_d, r.pfsHigh_d,
                       r.pfsCensoredShare > 0.5 ? " (mostly censored at the horizon)" : "");
        }
        std::string list;
        for (const auto& f : files) list += (list.empty() ? "" : ", ") + f.string();
        fmt::print("wrote {}\n", list);
    }
    return kExitOk;
}

}  // namespace nkscape::cli
