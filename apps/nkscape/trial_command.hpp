#pragma once
// `nkscape trial` (docs/trials.md, "Running a trial").

#include <cstdint>
#include <optional>
#include <string>

#include "nkscape/io/budget.hpp"

namespace nkscape::cli {

/// The command line of `nkscape trial`.
struct TrialCommandOptions {
    std::string trialPath, outDir;
    std::optional<std::int64_t> patients;  ///< --patients: replaces the file's count
    std::optional<std::int64_t> seed;      ///< --seed: replaces the file's seed
    std::optional<std::string> threads;    ///< --threads, parsed by io::parseThreads
    std::int64_t spiderPatients = 50;      ///< --spider: patients per arm in spider.csv, 0 to trial::kMaxPatients
    io::ResourceLimits limits;
    bool quiet = false;
};

/// Runs the trial; returns the exit code (0, 1 failure, 2 bad input). Under mpirun every rank
/// calls it; rank 0 writes the outputs.
int runTrialCommand(const TrialCommandOptions& options);

}  // namespace nkscape::cli
