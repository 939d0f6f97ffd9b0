#pragma once
// `nkscape attribute` (docs/attribution.md): mechanism attribution of one arm of a virtual trial.

#include <cstdint>
#include <optional>
#include <string>

#include "nkscape/io/budget.hpp"

namespace nkscape::cli {

/// The command line of `nkscape attribute`.
struct AttributeCommandOptions {
    std::string trialPath, outDir, arm;
    std::string mechanismsPath = "calibration/mechanisms.toml";  ///< --mechanisms
    std::optional<std::int64_t> patients;  ///< --patients: replaces the file's count
    std::optional<std::int64_t> seed;      ///< --seed: replaces the file's seed
    std::optional<std::string> threads;    ///< --threads, parsed by io::parseThreads
    bool asRandomised = false;             ///< --as-randomised: only the patients randomised to the arm
    io::ResourceLimits limits;
    bool quiet = false;
};

/// Runs the attribution; returns the exit code (0, 1 failure, 2 bad input). Under mpirun every
/// rank calls it; rank 0 writes the outputs.
int runAttributeCommand(const AttributeCommandOptions& options);

}  // namespace nkscape::cli
