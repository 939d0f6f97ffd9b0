// `nkscape attribute`: load the trial and the mechanisms, budget, run (threads x MPI ranks),
// gather, write. Like `nkscape trial`, every rank takes patients i with i % ranks == rank and rank 0
// gathers their outcomes (text lines that round-trip exactly) and writes the outputs, which are
// therefore the same bytes for any number of ranks and threads.

#include "attribute_command.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "nkscape/attribution/attribution.hpp"
#include "nkscape/error.hpp"
#include "nkscape/io/budget.hpp"
#include "nkscape/io/run.hpp"
#include "nkscape/model/diagnostics.hpp"
#include "nkscape/trial/trial.hpp"
#include "progress.hpp"
#include "ranks.hpp"

namespace nkscape::cli {

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitBadInput = 2;

std::string pct(double x) { return fmt::format("{:.1f} %", 100 * x); }

}  // namespace

int runAttributeCommand(const AttributeCommandOptions& o) {
    Ranks ranks;
    const bool root = ranks.rank() == 0;
    auto complain = [&](const std::string& msg) {
        if (root) std::cerr << msg;
    };
    std::optional<trial::LoadedTrial> loaded;
    std::vector<attribution::Mechanism> mechanisms;
    std::optional<io::RunFolder> run;
    attribution::AttributionOptions options;
    int threads = 1;
    int rc = kExitOk;
    try {
        threads = threadsPerRank(o.threads, ranks);
        if (o.patients && (*o.patients < 1 || *o.patients > trial::kMaxPatients))
            throw InputError(fmt::format("--patients must be in [1, {}], got {}", trial::kMaxPatients, *o.patients));
        if (o.seed && *o.seed < 0) throw InputError(fmt::format("--seed must be >= 0, got {}", *o.seed));
        std::string failing = o.trialPath;
        try {
            loaded = trial::loadTrial(o.trialPath);
            if (o.patients) loaded->patients = *o.patients;
            if (o.seed) loaded->seed = static_cast<std::uint64_t>(*o.seed);
            const auto arm = std::find_if(loaded->arms.begin(), loaded->arms.end(), [&](const trial::Arm& a) { return a.name == o.arm; });
            if (arm == loaded->arms.end()) {
                std::string names;
                for (const auto& a : loaded->arms) names += (names.empty() ? "'" : ", '") + a.name + "'";
                throw InputError(fmt::format("--arm '{}': trial '{}' ({}) has no such arm; its arms are {}", o.arm, loaded->name, o.trialPath, names));
            }
            options.arm = static_cast<std::size_t>(arm - loaded->arms.begin());
            options.asRandomised = o.asRandomised;
            failing = o.mechanismsPath;
            mechanisms = attribution::loadMechanisms(o.mechanismsPath, loaded->base->model);
            failing = o.trialPath;  // the budget's keys are the trial's
            io::checkBudget(attribution::estimateResources(*loaded, mechanisms.size(), loaded->patients, o.mechanismsPath), o.limits);
        } catch (const model::ModelError& e) {
            complain(std::string(e.what()) + "\n" +
                     fmt::format("{}: {} error{}\n", failing, e.diagnostics().size(), e.diagnostics().size() == 1 ? "" : "s"));
            rc = kExitBadInput;
        }
        if (rc == kExitOk && root) run.emplace(std::filesystem::path(o.outDir), "attribute");
    } catch (const InputError& e) {
        complain(std::string("nkscape: error: ") + e.what() + "\n");
        rc = kExitBadInput;
    }
    if ((rc = ranks.worst(rc)) != kExitOk) return rc;

    std::vector<attribution::PatientOutcomes> result;
    std::string mine;
    std::optional<ProgressBar> bar;
    const auto start = std::chrono::steady_clock::now();
    try {
        options.threads = threads;
        options.rank = ranks.rank();
        options.ranks = ranks.size();
        const char* ci = std::getenv("CI");
        if (root && !o.quiet && ::isatty(::fileno(stderr)) && !(ci && *ci)) {
            bar.emplace(ranks.size() > 1 ? "patients (rank 0)" : "patients");
            options.progress = [&bar](std::size_t done, std::size_t total) { bar->update(done, total); };
        }
        result = attribution::runAttribution(*loaded, mechanisms, options);
        bar.reset();
        if (!root)
            for (const auto& p : result) mine += attribution::encodePatient(p) + "\n";
    } catch (const InputError& e) {
        bar.reset();
        std::cerr << "nkscape: error: " << o.trialPath << ": " << e.what() << "\n";
        rc = kExitBadInput;
    } catch (const std::exception& e) {
        bar.reset();
        std::cerr << "nkscape: error: " << e.what() << "\n";
        rc = kExitFailure;
    }
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if ((rc = ranks.worst(rc)) != kExitOk) return rc;
    const std::string others = ranks.gather(mine);
    if (!root) return kExitOk;

    std::istringstream lines(others);
    for (std::string line; std::getline(lines, line);) result.push_back(attribution::decodePatient(line, mechanisms.size()));
    io::Json info;
    info["threads_per_rank"] = threads;
    info["ranks"] = ranks.size();
    info["wall_seconds_rank0"] = io::jsonNumber(wall);
    info["simulations"] = result.size() * (mechanisms.size() + 1);
    const auto files = attribution::writeAttributionOutputs(*run, *loaded, options, o.mechanismsPath, mechanisms, result, info);
    if (!o.quiet) {
        const auto costs = attribution::summarise(mechanisms, result, loaded->seed);
        std::size_t failed = 0, responders = 0;
        for (const auto& p : result) {
            failed += p.outcomes.front().failed;
            responders += !p.outcomes.front().failed && p.outcomes.front().responder;
        }
        fmt::print("attribution of arm '{}' of '{}': {} patients ({} failed, {} responders), {} mechanisms, {} simulations in {:.1f} s on {} rank{} x {} thread{}\n",
                   o.arm, loaded->name, result.size(), failed, responders, mechanisms.size(), result.size() * (mechanisms.size() + 1), wall,
                   ranks.size(), ranks.size() == 1 ? "" : "s", threads, threads == 1 ? "" : "s");
        for (const auto& c : costs) {
            const std::string share = c.nonResponders ? fmt::format("{}/{} = {} [{}, {}]", c.rescued, c.nonResponders, pct(c.share.proportion),
                                                                    pct(c.share.low), pct(c.share.high))
                                                      : std::string("no non-responders");
            fmt::print("  {:<18} rescued {}; ORR {} -> {} (McNemar p = {:.3g}); harmed {}\n", c.mechanism, share, pct(c.orrWith), pct(c.orrWithout),
                       c.orrMcnemarP, c.harmed);
        }
        std::string list;
        for (const auto& f : files) list += (list.empty() ? "" : ", ") + f.string();
        fmt::print("wrote {}\n", list);
    }
    return kExitOk;
}

}  // namespace nkscape::cli
