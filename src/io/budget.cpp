// The resource budget: estimates checked against documented limits before a run starts.

#include "nkscape/io/budget.hpp"

#include <algorithm>
#include <charconv>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <thread>

#include "nkscape/error.hpp"

namespace nkscape::io {

void checkBudget(const ResourceEstimate& estimate, const ResourceLimits& limits) {
    model::Diagnostics diag;
    if (!limits.allowLarge) {
        for (const auto& w : estimate.work) {
            if (!(w.amount <= w.limit)) {  // NaN counts as over
                // "3.2e+10 NK-target encounters", "3.65e+08 d of simulated time"
                const std::string u = w.unit.empty() ? "" : " " + w.unit;
                const std::string amount = formatCount(w.amount) + (w.unit.empty() ? " " + w.what : u + " of " + w.what);
                const std::string limit = formatCount(w.limit) + (w.unit.empty() ? " " + w.what : u);
                diag.error(w.where, w.entity, w.key,
                           "the run would need " + amount + " (" + w.detail + "); the limit is " + limit +
                               " (docs/limits.md); reduce it, or pass --allow-large if you mean it");
            }
        }
    }
    if (!(estimate.memoryBytes <= static_cast<double>(limits.maxMemoryBytes))) {
        diag.error(estimate.memoryWhere, estimate.memoryEntity, estimate.memoryKey,
                   "the run would need about " + formatBytes(estimate.memoryBytes) + " of memory (" + estimate.memoryDetail + "); the limit is " +
                       formatBytes(static_cast<double>(limits.maxMemoryBytes)) + " (docs/limits.md); reduce it, or raise the limit with --max-memory");
    }
    diag.throwIfAny();
}

int maxThreads() {
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    return static_cast<int>(std::clamp<unsigned>(4 * cores, 4, 1024));
}

int checkThreads(long long requested) {
    const int hi = maxThreads();
    if (requested < 1 || requested > hi) {
        throw InputError("threads: must be a whole number from 1 to " + std::to_string(hi) + " (4 per core of this machine; docs/limits.md), got " +
                         std::to_string(requested));
    }
    return static_cast<int>(requested);
}

int parseThreads(std::string_view text) {
    const int hi = maxThreads();
    long long n = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, n);
    if (text.empty() || ec != std::errc() || ptr != end || n < 1 || n > hi) {
        throw InputError("--threads: must be a whole number from 1 to " + std::to_string(hi) + " (4 per core of this machine; docs/limits.md), got '" +
                         std::string(text) + "'");
    }
    return static_cast<int>(n);
}

std::uint64_t parseByteSize(std::string_view text) {
    const std::string t(text);
    auto bad = [&](const std::string& why) {
        return InputError("'" + t + "' is not a memory size (" + why + "); write e.g. 4G, 512M or 1.5GiB");
    };
    std::size_t i = 0;
    while (i < t.size() && (std::isdigit(static_cast<unsigned char>(t[i])) || t[i] == '.')) ++i;
    if (i == 0) throw bad("it does not start with a number");
    double x = 0;
    try {
        std::size_t used = 0;
        x = std::stod(t.substr(0, i), &used);
        if (used != i) throw bad("the number does not parse");
    } catch (const std::logic_error&) {
        throw bad("the number does not parse");
    }
    std::string unit;
    for (std::size_t j = i; j < t.size(); ++j)
        if (!std::isspace(static_cast<unsigned char>(t[j]))) unit += static_cast<char>(std::toupper(static_cast<unsigned char>(t[j])));
    double scale = 0;
    if (unit.empty() || unit == "B") scale = 1;
    else if (unit == "K" || unit == "KB" || unit == "KIB") scale = 1024.0;
    else if (unit == "M" || unit == "MB" || unit == "MIB") scale = 1024.0 * 1024.0;
    else if (unit == "G" || unit == "GB" || unit == "GIB") scale = 1024.0 * 1024.0 * 1024.0;
    else if (unit == "T" || unit == "TB" || unit == "TIB") scale = 1024.0 * 1024.0 * 1024.0 * 1024.0;
    else throw bad("unknown unit; use B, K, M, G or T");
    const double bytes = x * scale;
    if (!(bytes >= 1)) throw bad("it must be at least 1 byte");
    if (bytes > std::ldexp(1.0, 60)) throw bad("it must be at most 1 EiB");
    return static_cast<std::uint64_t>(bytes);
}

std::string formatBytes(double bytes) {
    char buf[64];
    if (!std::isfinite(bytes)) return "an unbounded amount";
    if (bytes < 1024) std::snprintf(buf, sizeof buf, "%.0f B", bytes);
    else if (bytes < 1024.0 * 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", bytes / 1024);
    else if (bytes < 1024.0 * 1024 * 1024) std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / (1024.0 * 1024));
    else if (bytes < 1024.0 * 1024 * 1024 * 1024) std::snprintf(buf, sizeof buf, "%.1f GiB", bytes / (1024.0 * 1024 * 1024));
    else if (bytes < 1024.0 * 1024 * 1024 * 1024 * 1024) std::snprintf(buf, sizeof buf, "%.1f TiB", bytes / (1024.0 * 1024 * 1024 * 1024));
    else std::snprintf(buf, sizeof buf, "%.2g bytes", bytes);
    return buf;
}

std::string formatCount(double n) {
    char buf[64];
    if (!std::isfinite(n)) return "an unbounded amount";
    if (std::fabs(n) >= 1e9 || (n != std::floor(n))) {
        std::snprintf(buf, sizeof buf, "%.3g", n);
        return buf;
    }
    std::snprintf(buf, sizeof buf, "%.0f", n);
    std::string digits = buf, out;
    const bool neg = !digits.empty() && digits[0] == '-';
    if (neg) digits.erase(0, 1);
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return neg ? "-" + out : out;
}

}  // namespace nkscape::io
