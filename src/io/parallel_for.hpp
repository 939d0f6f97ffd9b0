#pragma once
// Internal: runs job(i, worker) for every i in [0, n) on up to `threads` worker threads, each
// index once, in no particular order; the job writes its result by index, so the outcome does not
// depend on the thread count. The first exception a job throws stops the remaining indices and is
// rethrown on the calling thread.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace nkscape::io::detail {

template <class Job>
void parallelFor(std::size_t n, int threads, Job&& job) {
    const int t = std::max(1, std::min<int>(threads, static_cast<int>(std::max<std::size_t>(1, n))));
    std::atomic<std::size_t> next{0};
    std::exception_ptr failure;
    std::mutex mutex;
    std::atomic<bool> stop{false};
    auto worker = [&](int w) {
        while (!stop) {
            const std::size_t i = next++;
            if (i >= n) return;
            try {
                job(i, w);
            } catch (...) {
                const std::lock_guard lock(mutex);
                if (!failure) failure = std::current_exception();
                stop = true;
            }
        }
    };
    if (t == 1) {
        worker(0);
    } else {
        std::vector<std::thread> pool;
        for (int k = 0; k < t; ++k) pool.emplace_back(worker, k);
        for (auto& th : pool) th.join();
    }
    if (failure) std::rethrow_exception(failure);
}

}  // namespace nkscape::io::detail
