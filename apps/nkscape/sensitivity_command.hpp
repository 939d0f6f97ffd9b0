#pragma once
// `nkscape sensitivity` (docs/sensitivity.md).

#include <cstdint>
#include <optional>
#include <string>

#include "nkscape/io/budget.hpp"

namespace nkscape::cli {

/// The command line of `nkscape sensitivity`.
struct SensitivityCommandOptions {
    std::string analysisPath, outDir;
    std::optional<std::string> method;      ///< --method: replaces [analysis] method (morris drops [screening])
    std::optional<std::int64_t> samples;    ///< --samples: replaces [analysis] samples
    std::optional<std::int64_t> seed;       ///< --seed: replaces [analysis] seed
    std::optional<std::int64_t> patients;   ///< --patients: replaces every trial file's patient count
    std::optional<std::string> threads;     ///< --threads, parsed by io::parseThreads
    io::ResourceLimits limits;
    bool quiet = false;
};

/// Runs the analysis; returns the exit code (0, 1 failure, 2 bad input). Under mpirun every rank
/// calls it; design rows are split over the ranks (row i on rank i % ranks) and rank 0 writes.
int runSensitivityCommand(const SensitivityCommandOptions& options);

}  // namespace nkscape::cli
