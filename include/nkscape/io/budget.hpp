#pragma once
/// \file
/// The resource budget of a run: every run command estimates the work and the peak memory of its
/// scenario before it starts and refuses, as bad input (exit 2), a run past the documented limits
/// (docs/limits.md), with a message that states the estimate, the limit and the scenario key that
/// sets it. Users who mean it raise the limits with --allow-large (work) and --max-memory (memory).
/// Threads are checked here too, so that every command caps them the same way.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "nkscape/model/diagnostics.hpp"

namespace nkscape::io {

/// What a run may use. The defaults are the documented limits (docs/limits.md).
struct ResourceLimits {
    /// Peak memory a run may be estimated to need, bytes (--max-memory). Default 4 GiB: a sixth
    /// of the 24 GiB machines this project is tested on, so several runs fit side by side.
    std::uint64_t maxMemoryBytes = std::uint64_t{4} << 30;
    /// Lifts every work limit (--allow-large); the memory limit still applies.
    bool allowLarge = false;
};

/// One amount of work a run would do, with the limit it is checked against.
struct WorkItem {
    std::string what;         ///< "NK-target encounters", "simulated time", "output rows"
    double amount = 0;        ///< in `unit`
    double limit = 0;         ///< in `unit`; checked unless ResourceLimits::allowLarge
    std::string unit;         ///< "", "d", ...
    std::string detail;       ///< how the amount was estimated, e.g. "12 wells x 5,000 NK cells x ..."
    model::SourceLocation where;  ///< the key that sets it
    std::string entity, key;  ///< "[assay]", "duration"
};

/// A run's estimate: its work items and its peak memory.
struct ResourceEstimate {
    std::vector<WorkItem> work;
    double memoryBytes = 0;           ///< estimated peak, bytes
    std::string memoryDetail;         ///< what the memory is for
    model::SourceLocation memoryWhere;  ///< the key that sets most of it
    std::string memoryEntity, memoryKey;
};

/// Checks `estimate` against `limits`.
/// \throws model::ModelError with one diagnostic per exceeded limit (file:line:column of its key).
void checkBudget(const ResourceEstimate& estimate, const ResourceLimits& limits);

/// The most worker threads a command accepts: 4 per core the machine reports, at least 4 and at
/// most 1024. Why: more threads than that only add scheduling overhead (the results do not depend
/// on the count), and the OpenMP runtime crashes creating tens of thousands.
[[nodiscard]] int maxThreads();

/// `requested` if it is 1..maxThreads(), else \throws InputError saying the allowed range.
int checkThreads(long long requested);

/// `text` (a command-line value) as a thread count 1..maxThreads().
/// \throws InputError saying the allowed range for anything else: not a whole number ("abc",
/// "1.5", "1e9"), out of range, or past 64 bits.
[[nodiscard]] int parseThreads(std::string_view text);

/// Parses a byte size: a positive number with an optional unit B, K/KB/KiB, M/MB/MiB, G/GB/GiB,
/// T/TB/TiB (all binary: K = 1024). "4G", "512MiB", "1.5 GiB".
/// \throws InputError naming the text if it is not a size or is 0, negative or over 2^60 bytes.
[[nodiscard]] std::uint64_t parseByteSize(std::string_view text);

/// Bytes as people read them: "512 B", "3.2 MiB", "4.0 GiB".
[[nodiscard]] std::string formatBytes(double bytes);

/// A count as people read them: "1,234,567" below 1e9, else "3.2e+12".
[[nodiscard]] std::string formatCount(double n);

}  // namespace nkscape::io
