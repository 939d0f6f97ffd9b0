#pragma once
// The processes of a command run under mpirun (trial, calibrate, sensitivity, attribute, twin).
// MPI is used only when the process was started by mpirun (OpenMPI sets OMPI_COMM_WORLD_SIZE);
// a plain start never initialises MPI. Header-only: the CLI alone links MPI, never the library.

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "nkscape/io/budget.hpp"

#ifdef NKSCAPE_HAVE_MPI
#include <mpi.h>
#endif

namespace nkscape::cli {

inline bool launchedByMpirun() {
    for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
        if (const char* e = std::getenv(v); e && *e) return true;
    return false;
}

/// The processes of this run: MPI's world when started by mpirun, else one.
class Ranks {
public:
    Ranks() {
#ifdef NKSCAPE_HAVE_MPI
        if (launchedByMpirun()) {
            int provided = 0;
            MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
            MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
            MPI_Comm_size(MPI_COMM_WORLD, &size_);
            mpi_ = true;
        }
#endif
    }
    ~Ranks() {
#ifdef NKSCAPE_HAVE_MPI
        if (mpi_) MPI_Finalize();
#endif
    }
    Ranks(const Ranks&) = delete;
    Ranks& operator=(const Ranks&) = delete;
    [[nodiscard]] int rank() const { return rank_; }
    [[nodiscard]] int size() const { return size_; }
    /// The largest of every rank's `code` (an exit code: 0 ok, else the worst failure).
    [[nodiscard]] int worst(int code) const {
#ifdef NKSCAPE_HAVE_MPI
        if (mpi_) {
            int all = 0;
            MPI_Allreduce(&code, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
            return all;
        }
#endif
        return code;
    }
    /// Every rank's `text`, concatenated in rank order, on rank 0 (empty elsewhere).
    [[nodiscard]] std::string gather(const std::string& text) const {
#ifdef NKSCAPE_HAVE_MPI
        if (mpi_) {
            const long long mine = static_cast<long long>(text.size());
            std::vector<long long> sizes(static_cast<std::size_t>(size_));
            MPI_Gather(&mine, 1, MPI_LONG_LONG, sizes.data(), 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
            // Sent in chunks below 2 GiB (MPI counts are int).
            std::string all;
            if (rank_ == 0) {
                all = text;
                for (int r = 1; r < size_; ++r) {
                    std::string part(static_cast<std::size_t>(sizes[static_cast<std::size_t>(r)]), '\0');
                    for (std::size_t off = 0; off < part.size(); off += 1u << 30) {
                        const int n = static_cast<int>(std::min<std::size_t>(1u << 30, part.size() - off));
                        MPI_Recv(part.data() + off, n, MPI_CHAR, r, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                    }
                    all += part;
                }
            } else {
                for (std::size_t off = 0; off < text.size(); off += 1u << 30) {
                    const int n = static_cast<int>(std::min<std::size_t>(1u << 30, text.size() - off));
                    MPI_Send(text.data() + off, n, MPI_CHAR, 0, 7, MPI_COMM_WORLD);
                }
            }
            return all;
        }
#endif
        return text;
    }
    /// Rank 0's `values` on every rank (resized to rank 0's size): how `nkscape calibrate` sends
    /// each point to evaluate.
    void broadcast(std::vector<double>& values) const {
#ifdef NKSCAPE_HAVE_MPI
        if (mpi_) {
            long long n = static_cast<long long>(values.size());
            MPI_Bcast(&n, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
            values.resize(static_cast<std::size_t>(n));
            if (n > 0) MPI_Bcast(values.data(), static_cast<int>(n), MPI_DOUBLE, 0, MPI_COMM_WORLD);
        }
#else
        (void)values;
#endif
    }
    /// Rank 0's `value` on every rank.
    void broadcast(long long& value) const {
#ifdef NKSCAPE_HAVE_MPI
        if (mpi_) MPI_Bcast(&value, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
#else
        (void)value;
#endif
    }
    /// Rank 0's `text` on every rank.
    void broadcast(std::string& text) const {
#ifdef NKSCAPE_HAVE_MPI
        if (mpi_) {
            long long n = static_cast<long long>(text.size());
            MPI_Bcast(&n, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
            text.resize(static_cast<std::size_t>(n));
            for (std::size_t off = 0; off < text.size(); off += 1u << 30) {
                const int c = static_cast<int>(std::min<std::size_t>(1u << 30, text.size() - off));
                MPI_Bcast(text.data() + off, c, MPI_CHAR, 0, MPI_COMM_WORLD);
            }
        }
#else
        (void)text;
#endif
    }
    void barrier() const {
#ifdef NKSCAPE_HAVE_MPI
        if (mpi_) MPI_Barrier(MPI_COMM_WORLD);
#endif
    }

private:
    int rank_ = 0, size_ = 1;
    bool mpi_ = false;
};

/// Worker threads of each process: --threads when given (1..io::maxThreads(), else InputError),
/// else the machine's cores shared among the ranks (at least 1, at most io::maxThreads()).
inline int threadsPerRank(const std::optional<std::string>& given, const Ranks& ranks) {
    const int t = given ? io::parseThreads(*given) : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / ranks.size());
    return std::min(t, io::maxThreads());
}

}  // namespace nkscape::cli
