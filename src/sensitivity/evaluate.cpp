// Evaluating a sensitivity design on threads (include/nkscape/sensitivity/sensitivity.hpp): rows
// are handed out one at a time from an atomic counter and each row's outputs are written at the
// row's place, so the matrix is the same whatever thread computed which row.

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>

#include <fmt/format.h>

#include "nkscape/error.hpp"
#include "nkscape/sensitivity/sensitivity.hpp"
#include "io/parallel_for.hpp"

namespace nkscape::sensitivity {

Matrix evaluateDesign(const Matrix& points, std::size_t outputs, const PointFunction& f, const EvaluationOptions& o) {
    if (o.ranks < 1 || o.rank < 0 || o.rank >= o.ranks) throw InternalError(fmt::format("sensitivity: rank {} of {}", o.rank, o.ranks));
    Matrix out(points.rows, outputs, std::numeric_limits<double>::quiet_NaN());
    std::vector<std::size_t> mine;
    for (std::size_t r = static_cast<std::size_t>(o.rank); r < points.rows; r += static_cast<std::size_t>(o.ranks)) mine.push_back(r);
    std::mutex lock;  // guards `done` and the progress callback
    std::size_t done = 0;
    io::detail::parallelFor(mine.size(), o.threads, [&](std::size_t q, int) {
        const std::size_t r = mine[q];
        const std::vector<double> v = f(r, points.row(r));
        if (v.size() != outputs) throw InputError(fmt::format("sensitivity: the function gave {} outputs at row {}, expected {}", v.size(), r, outputs));
        std::copy(v.begin(), v.end(), out.row(r).begin());
        const std::lock_guard<std::mutex> g(lock);
        ++done;
        if (o.progress) o.progress(done, mine.size());
    });
    return out;
}

}  // namespace nkscape::sensitivity
