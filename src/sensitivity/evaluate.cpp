// Evaluating a sensitivity design on threads (include/nkscape/sensitivity/sensitivity.hpp): rows
// are handed out one at a time from an atomic counter and each row's outputs are written at the
// row's place, so the matrix is the same whatever thread computed which row.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <limits>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "nkscape/error.hpp"
#include "nkscape/sensitivity/sensitivity.hpp"

namespace nkscape::sensitivity {

Matrix evaluateDesign(const Matrix& points, std::size_t outputs, const PointFunction& f, const EvaluationOptions& o) {
    if (o.ranks < 1 || o.rank < 0 || o.rank >= o.ranks) throw InternalError(fmt::format("sensitivity: rank {} of {}", o.rank, o.ranks));
    Matrix out(points.rows, outputs, std::numeric_limits<double>::quiet_NaN());
    std::vector<std::size_t> mine;
    for (std::size_t r = static_cast<std::size_t>(o.rank); r < points.rows; r += static_cast<std::size_t>(o.ranks)) mine.push_back(r);
    std::atomic<std::size_t> next{0};
    std::atomic<bool> stop{false};
    std::mutex lock;  // guards `done`, `failure` and the progress callback
    std::size_t done = 0;
    std::exception_ptr failure;
    auto worker = [&] {
        for (;;) {
            if (stop.load()) return;
            const std::size_t q = next.fetch_add(1);
            if (q >= mine.size()) return;
            const std::size_t r = mine[q];
            try {
                const std::vector<double> v = f(r, points.row(r));
                if (v.size() != outputs)
                    throw InputError(fmt::format("sensitivity: the function gave {} outputs at row {}, expected {}", v.size(), r, outputs));
                std::copy(v.begin(), v.end(), out.row(r).begin());
            } catch (...) {
                const std::lock_guard<std::mutex> g(lock);
                if (!failure) failure = std::current_exception();
                stop.store(true);
                return;
            }
            const std::lock_guard<std::mutex> g(lock);
            ++done;
            if (o.progress) o.progress(done, mine.size());
        }
    };
    const int threads = std::max(1, std::min<int>(o.threads, static_cast<int>(std::max<std::size_t>(1, mine.size()))));
    if (threads == 1) {
        worker();
    } else {
        std::vector<std::thread> pool;
        pool.reserve(static_cast<std::size_t>(threads));
        for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
        for (auto& th : pool) th.join();
    }
    if (failure) std::rethrow_exception(failure);
    return out;
}

}  // namespace nkscape::sensitivity
