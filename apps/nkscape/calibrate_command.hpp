#pragma once
// `nkscape calibrate` (docs/calibration.md, "Fitting: nkscape calibrate").

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nkscape/io/budget.hpp"

namespace nkscape::cli {

/// The command line of `nkscape calibrate`.
struct CalibrateCommandOptions {
    std::string targetsPath, outDir;
    std::vector<std::string> free;          ///< --free PATH (repeatable): the parameters fitted
    std::optional<std::string> threads;     ///< --threads, parsed by io::parseThreads
    std::int64_t maxEvaluations = 200;      ///< --max-evals: global + local objective evaluations
    std::int64_t seed = 1;                  ///< --seed: NLopt's random seed
    std::optional<std::int64_t> patients;   ///< --patients: replaces every trial file's patient count
    std::int64_t profilePoints = 9;         ///< --profile-points: 0 (none) or 3..kMaxProfilePoints
    std::string only;                       ///< --only ID,ID...: fit these targets only ("" = all)
    io::ResourceLimits limits;
    bool quiet = false;
};

/// The largest --max-evals and --profile-points accepted.
inline constexpr std::int64_t kMaxCalibrationEvaluations = 1'000'000;
inline constexpr std::int64_t kMaxProfilePoints = 101;

/// Fits; returns the exit code (0, 1 failure, 2 bad input). Under mpirun every rank calls it;
/// rank 0 drives the optimiser and writes the outputs, the ranks share each evaluation's files.
int runCalibrateCommand(const CalibrateCommandOptions& options);

}  // namespace nkscape::cli
