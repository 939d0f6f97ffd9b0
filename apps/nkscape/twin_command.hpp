#pragma once
// `nkscape twin` (docs/twin.md).

#include <cstdint>
#include <optional>
#include <string>

#include "nkscape/io/budget.hpp"

namespace nkscape::cli {

/// The command line of `nkscape twin`.
struct TwinCommandOptions {
    std::string patientPath, regimensPath, outDir;
    std::int64_t particles = 400;           ///< --particles
    std::int64_t generations = 40;          ///< --generations: at most this many tempering stages
    std::optional<std::int64_t> seed;       ///< --seed: replaces the regimens file's seed
    std::optional<std::string> threads;     ///< --threads, parsed by io::parseThreads
    io::ResourceLimits limits;
    bool quiet = false;
};

/// Runs the twin; returns the exit code (0, 1 failure, 2 bad input).
int runTwinCommand(const TwinCommandOptions& options);

}  // namespace nkscape::cli
