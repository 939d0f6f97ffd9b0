// `nkscape trial`: load, budget, run (threads × MPI ranks), gather, write. MPI is used only when
// the process was started by mpirun (OpenMPI sets OMPI_COMM_WORLD_SIZE); a plain start never
// initialises MPI. Every rank takes patients i with i % ranks == rank; rank 0 gathers the records
// (as text lines that round-trip exactly) and writes the outputs, which are therefore the same
// bytes for any number of ranks and threads.

#include "trial_command.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "nkscape/error.hpp"
#include "nkscape/io/budget.hpp"
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

// The journal of output folder `out`: a hidden sibling, so it survives a killed run and is found
// by the next run of the same command.
std::filesystem::path journalFolder(const std::filesystem::path& out) {
    const auto abs = std::filesystem::absolute(out).lexically_normal();
    auto name = abs.filename();
    if (name.empty()) name = abs.parent_path().filename();
    const auto parent = abs.filename().empty() ? abs.parent_path().parent_path() : abs.parent_path();
    return parent / ("." + name.string() + ".nkscape-trial-journal");
}

}  // namespace

int runTrialCommand(const TrialCommandOptions& o) {
    Ranks ranks;
    const bool root = ranks.rank() == 0;
    auto complain = [&](const std::string& msg) {
        if (root) std::cerr << msg;
    };
    // ---- set-up: arguments, the trial file, the budget, the output folder ---------------------
    std::optional<trial::LoadedTrial> loaded;
    std::optional<io::RunFolder> run;
    int threads = 1;
    int rc = kExitOk;
    try {
        const io::ResourceLimits limits = o.limits;
        threads = threadsPerRank(o.threads, ranks);
        std::optional<std::int64_t> patients;
        if (o.patients) {
            if (*o.patients < 1 || *o.patients > trial::kMaxPatients)
                throw InputError(fmt::format("--patients must be in [1, {}], got {}", trial::kMaxPatients, *o.patients));
            patients = *o.patients;
        }
        if (o.seed && *o.seed < 0) throw InputError(fmt::format("--seed must be >= 0, got {}", *o.seed));
        if (o.spiderPatients < 0 || o.spiderPatients > trial::kMaxPatients)
            throw InputError(fmt::format("--spider must be in [0, {}], got {}", trial::kMaxPatients, o.spiderPatients));
        try {
            loaded = trial::loadTrial(o.trialPath);
            if (patients) loaded->patients = *patients;
            if (o.seed) loaded->seed = static_cast<std::uint64_t>(*o.seed);
            io::checkBudget(trial::estimateResources(*loaded), limits);
        } catch (const model::ModelError& e) {
            complain(std::string(e.what()) + "\n" +
                     fmt::format("{}: {} error{}\n", o.trialPath, e.diagnostics().size(), e.diagnostics().size() == 1 ? "" : "s"));
            rc = kExitBadInput;
        }
        if (rc == kExitOk && root) run.emplace(std::filesystem::path(o.outDir), "trial");
    } catch (const InputError& e) {
        complain(std::string("nkscape: error: ") + e.what() + "\n");
        rc = kExitBadInput;
    }
    if ((rc = ranks.worst(rc)) != kExitOk) return rc;

    // ---- the journal, then the run ------------------------------------------------------------
    const auto journal = journalFolder(o.outDir);
    trial::TrialRunResult result;
    std::string mine;
    std::optional<ProgressBar> bar;
    try {
        if (root) trial::prepareJournal(*loaded, journal);
        ranks.barrier();
        trial::TrialRunOptions options;
        options.threads = threads;
        options.rank = ranks.rank();
        options.ranks = ranks.size();
        options.journal = journal;
        const char* ci = std::getenv("CI");
        if (root && !o.quiet && ::isatty(::fileno(stderr)) && !(ci && *ci)) {
            bar.emplace(ranks.size() > 1 ? "patients (rank 0)" : "patients");
            options.progress = [&bar](std::size_t done, std::size_t total) { bar->update(done, total); };
        }
        result = trial::runTrial(*loaded, options);
        bar.reset();
        if (!root)
            for (const auto& r : result.records) mine += trial::encodeRecord(r) + "\n";
    } catch (const InputError& e) {
        bar.reset();
        std::cerr << "nkscape: error: " << o.trialPath << ": " << e.what() << "\n";
        rc = kExitBadInput;
    } catch (const std::exception& e) {
        bar.reset();
        std::cerr << "nkscape: error: " << e.what() << "\n";
        rc = kExitFailure;
    }
    if ((rc = ranks.worst(rc)) != kExitOk) return rc;
    const std::string others = ranks.gather(mine);
    if (!root) return kExitOk;

    // ---- rank 0: every record, in order; the outputs --------------------------------------------
    std::vector<trial::PatientRecord> all = std::move(result.records);
    std::istringstream lines(others);
    for (std::string line; std::getline(lines, line);) all.push_back(trial::decodeRecord(line, *loaded));
    std::sort(all.begin(), all.end(), [](const trial::PatientRecord& a, const trial::PatientRecord& b) {
        return a.index != b.index ? a.index < b.index : a.arm < b.arm;
    });
    io::Json info;
    info["threads_per_rank"] = threads;
    info["ranks"] = ranks.size();
    info["wall_seconds_rank0"] = io::jsonNumber(result.wallSeconds);
    info["resumed_records_rank0"] = result.resumed;
    long steps = 0;
    for (const auto& r : all) steps += r.steps;
    info["solver_steps"] = steps;
    const auto files = trial::writeTrialOutputs(*run, *loaded, all, info, static_cast<std::size_t>(o.spiderPatients));
    std::error_code ec;
    std::filesystem::remove_all(journal, ec);  // the run is whole: nothing left to resume
    if (!o.quiet) {
        std::size_t failed = 0;
        for (const auto& r : all) failed += r.failed ? 1 : 0;
        fmt::print("trial '{}': {} patient runs ({} failed) in {:.2f} s on {} rank{} x {} thread{}{}\n", loaded->name, all.size(), failed,
                   result.wallSeconds, ranks.size(), ranks.size() == 1 ? "" : "s", threads, threads == 1 ? "" : "s",
                   result.resumed ? fmt::format(" ({} resumed from the journal)", result.resumed) : "");
        const auto arms = trial::summariseArms(*loaded, all);
        for (const auto& a : arms["arms"]) {
            auto pct = [](const io::Json& p) {
                if (p["rate"].is_null()) return std::string("n/a");
                return fmt::format("{:.1f} % [{:.1f}, {:.1f}]", 100 * p["rate"].get<double>(), 100 * p["ci95_low"].get<double>(),
                                   100 * p["ci95_high"].get<double>());
            };
            auto med = [](const io::Json& e) {
                if (e.is_null() || e["median_d"].is_null()) return std::string("not reached");
                return fmt::format("{:.0f} d", e["median_d"].get<double>());
            };
            fmt::print("  {}: n = {}, ORR {}, CBR {}, median PFS {}, median OS {}\n", a["arm"].get<std::string>(), a["patients"].get<long>(),
                       pct(a["objective_response"]), pct(a["clinical_benefit"]), med(a["PFS"]), med(a["OS"]));
        }
        std::string list;
        for (const auto& f : files) list += (list.empty() ? "" : ", ") + f.string();
        fmt::print("wrote {}\n", list);
    }
    return kExitOk;
}

}  // namespace nkscape::cli
