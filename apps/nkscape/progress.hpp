#pragma once
// The command line's progress bar (stderr, with ETA), shared by the run commands.

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace nkscape::cli {

/// A progress bar with ETA on stderr, redrawn at most ten times a second.
class ProgressBar {
public:
    /// `what`: the unit counted ("wells", "patients").
    explicit ProgressBar(std::string what = "wells") : what_(std::move(what)) {}
    void update(std::size_t done, std::size_t total) {
        const auto now = std::chrono::steady_clock::now();
        if (done < total && now - last_ < std::chrono::milliseconds(100)) return;
        last_ = now;
        const double elapsed = std::chrono::duration<double>(now - start_).count();
        const double frac = total ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
        constexpr int kWidth = 30;
        const int filled = static_cast<int>(frac * kWidth);
        std::string bar(static_cast<std::size_t>(filled), '#');
        bar.resize(kWidth, '.');
        std::string eta = "--:--";
        if (done > 0) {
            const auto left = static_cast<long>(elapsed * static_cast<double>(total - done) / static_cast<double>(done) + 0.5);
            eta = fmt::format("{}:{:02d}", left / 60, left % 60);
        }
        fmt::print(stderr, "\r[{}] {}/{} {} {:3.0f}%  ETA {}  ", bar, done, total, what_, 100.0 * frac, eta);
        std::fflush(stderr);
        drawn_ = true;
    }
    ~ProgressBar() {
        if (drawn_) {
            fmt::print(stderr, "\r\033[K");
            std::fflush(stderr);
        }
    }

private:
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last_{};
    bool drawn_ = false;
    std::string what_;
};

}  // namespace nkscape::cli
