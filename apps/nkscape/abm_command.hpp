#pragma once
// `nkscape abm` (docs/abm.md).

#include <cstdint>
#include <optional>
#include <string>

#include "nkscape/io/budget.hpp"

namespace nkscape::cli {

/// The command line of `nkscape abm`.
struct AbmCommandOptions {
    std::string scenarioPath, outDir;
    std::optional<std::string> threads;       ///< --threads, parsed by io::parseThreads
    std::optional<double> checkpointEveryMin; ///< --checkpoint-every: simulated minutes between checkpoints
    std::string resumeDir;                    ///< --resume: a checkpoint folder written by --checkpoint-every
    std::optional<double> stopAtMin;          ///< --stop-at: checkpoint at this simulated time and stop (no --out written)
    std::int64_t replicates = 1;              ///< --replicates: > 1 is an ensemble across MPI ranks (not built yet)
    io::ResourceLimits limits;
    bool quiet = false;
};

/// Runs the spatial scenario; returns the exit code (0, 1 failure, 2 bad input).
int runAbmCommand(const AbmCommandOptions& options);

}  // namespace nkscape::cli
