// The reaction–diffusion fields of the spatial engine (docs/abm.md, "Fields").
//
// Scheme: Douglas–Gunn approximate factorisation of backward Euler, in delta form (Douglas &
// Gunn 1964, Numer. Math. 6:428; the "stabilised correction" form of ADI). With F(c) = D∇²c −
// K·c + s (K = λ + u per voxel), a sub-step of length h solves
//
//     (1 − hD∂xx + hK) Δ1 = h·F(cⁿ),   (1 − hD∂yy) Δ2 = Δ1,   (1 − hD∂zz) Δ3 = Δ2,   cⁿ⁺¹ = cⁿ + Δ3.
//
// Each factor is a set of independent tridiagonal systems (one per grid line). It is first order
// in time, second order in space, unconditionally stable (every Fourier mode's amplification lies
// in [0, 1) however large h is), the reaction is implicit (inside the x factor), and — unlike
// plain locally one-dimensional splitting — its fixed point is exactly the discrete steady state
// F(c) = 0 whatever h, which is what matters for quasi-steady fields such as O₂ around consuming
// cells. The y and z factors have constant coefficients, so their Thomas factorisation is computed
// once per step length and a line costs two multiply–adds per voxel; the x factor carries the
// per-voxel uptake and is factorised on the fly. Lines are solved many at a time with the lines'
// index as the inner, contiguous loop: the y and z sweeps are laid out that way already (x is
// fastest); the x sweep works on a block of rows transposed into a small buffer. The blocks are
// fixed by the grid, not by the thread count, and every line is solved by one thread with the same
// operations, so results are bit-identical for any number of threads.

#include "nkscape/abm/field.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <istream>
#include <limits>
#include <ostream>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "nkscape/error.hpp"

#if defined(_OPENMP)
#include <omp.h>
#define NK_PRAGMA(x) _Pragma(#x)
#else
#define NK_PRAGMA(x)
#endif

namespace nkscape::abm {

namespace {

// Rows of the x sweep transposed and solved together: 16 doubles are two cache lines, enough
// for the compiler's vector loop and small enough that nx·16 doubles stay in L1.
constexpr std::size_t kRowBlock = 16;
// Columns of the y and z sweeps solved together (a fixed 2 KB slice of a row or plane): the
// forward pass's rows stay in L2 for the backward pass.
constexpr std::size_t kColBlock = 256;

// The factorised operator (1 − h·D·∂²) of one direction with n points, acting on the increment Δ:
// rows −r·Δ[i−1] + b_i·Δ[i] − r·Δ[i+1] = rhs[i], with r = D·h/Δx². Neumann (no flux): the end rows
// have b = 1 + r, so column sums are 1 and the amount of substance is conserved. Dirichlet: the end
// rows keep b = 1 + 2r (the ghost voxel beyond the face is fixed, so its increment is 0).
struct Tridiag {
    bool active = false;       // false: the operator is the identity (D = 0, or an axis one voxel long)
    double r = 0.0;
    std::vector<double> inv;   // 1 / (b_i + r·cp[i−1]), the forward pass's pivots
    std::vector<double> cp;    // −r·inv[i], the eliminated super-diagonal
};

// The end rows' diagonal of a direction: 1 + r (Neumann) or 1 + 2r (Dirichlet).
double endDiagonal(double r, const FieldSpec& spec) { return spec.boundary == Boundary::Dirichlet ? 1.0 + 2.0 * r : 1.0 + r; }

Tridiag factorise(int points, double r, const FieldSpec& spec) {
    Tridiag t;
    const auto n = static_cast<std::size_t>(points);
    // An axis one voxel long is not a dimension of the domain (the z of a 2-D grid, the y of a
    // line): nothing diffuses along it and it has no faces.
    if (r == 0.0 || n == 1) return t;
    t.active = true;
    t.r = r;
    std::vector<double> diag(n, 1.0 + 2.0 * r);
    diag.front() = endDiagonal(r, spec);
    diag.back() = endDiagonal(r, spec);
    t.inv.resize(n);
    t.cp.resize(n);
    t.inv[0] = 1.0 / diag[0];
    t.cp[0] = -r * t.inv[0];
    for (std::size_t i = 1; i < n; ++i) {
        t.inv[i] = 1.0 / (diag[i] + r * t.cp[i - 1]);
        t.cp[i] = -r * t.inv[i];
    }
    return t;
}

// Solves m lines of n points each, stored as data[i·stride + j] (point i of line j), in place.
// The inner loops run over j, contiguous, and vectorise.
void solveLines(double* data, std::size_t n, std::size_t stride, std::size_t m, const Tridiag& t) {
    const double r = t.r;
    {
        double* row = data;
        const double inv = t.inv[0];
        NK_PRAGMA(omp simd)
        for (std::size_t j = 0; j < m; ++j) row[j] *= inv;
    }
    for (std::size_t i = 1; i < n; ++i) {
        double* row = data + i * stride;
        const double* prev = row - stride;
        const double inv = t.inv[i];
        NK_PRAGMA(omp simd)
        for (std::size_t j = 0; j < m; ++j) row[j] = (row[j] + r * prev[j]) * inv;
    }
    for (std::size_t i = n - 1; i-- > 0;) {
        double* row = data + i * stride;
        const double* next = row + stride;
        const double cp = t.cp[i];
        NK_PRAGMA(omp simd)
        for (std::size_t j = 0; j < m; ++j) row[j] -= cp * next[j];
    }
}

// The x factor (1 − hD∂xx + hK) for m rows transposed into rhs[i·m + q] (point i of row q), with
// h·K of each point in hk[i·m + q]; solved in place in rhs. The pivots depend on the voxel's uptake,
// so the elimination is done here (hk is overwritten by the eliminated super-diagonal).
void solveRowsWithReaction(double* rhs, double* hk, std::size_t n, std::size_t m, double r, double endDiag) {
    const double mid = 1.0 + 2.0 * r;
    for (std::size_t i = 0; i < n; ++i) {
        double* w = rhs + i * m;
        double* cp = hk + i * m;
        const double b = (i == 0 || i + 1 == n) ? (n == 1 ? 1.0 : endDiag) : mid;
        if (i == 0) {
            NK_PRAGMA(omp simd)
            for (std::size_t q = 0; q < m; ++q) {
                const double inv = 1.0 / (b + cp[q]);
                w[q] *= inv;
                cp[q] = -r * inv;
            }
        } else {
            const double* wPrev = w - m;
            const double* cpPrev = cp - m;
            NK_PRAGMA(omp simd)
            for (std::size_t q = 0; q < m; ++q) {
                const double inv = 1.0 / (b + cp[q] + r * cpPrev[q]);
                w[q] = (w[q] + r * wPrev[q]) * inv;
                cp[q] = -r * inv;
            }
        }
    }
    for (std::size_t i = n - 1; i-- > 0;) {
        double* w = rhs + i * m;
        const double* wNext = w + m;
        const double* cp = hk + i * m;
        NK_PRAGMA(omp simd)
        for (std::size_t q = 0; q < m; ++q) w[q] -= cp[q] * wNext[q];
    }
}

// How a voxel row sees its neighbour row on one side along y or z.
enum class Side { Row, Ghost, None };  // a neighbour row; a Dirichlet face (ghost value); no flux / no axis

bool usableName(const std::string& name) {
    if (name.empty() || name.front() == '.') return false;
    for (const char ch : name) {
        const auto u = static_cast<unsigned char>(ch);
        if (ch == '/' || u < 0x20 || u == 0x7f) return false;
    }
    return true;
}

constexpr char kMagic[8] = {'N', 'K', 'F', 'I', 'E', 'L', 'D', '1'};

}  // namespace

FieldSet::FieldSet(const Grid& grid, std::vector<FieldSpec> specs) : grid_(grid), specs_(std::move(specs)) {
    std::vector<std::string> errors;
    if (grid_.nx < 1 || grid_.ny < 1 || grid_.nz < 1)
        errors.push_back(fmt::format("grid: nx, ny, nz must be at least 1 (got {} × {} × {})", grid_.nx, grid_.ny, grid_.nz));
    if (!std::isfinite(grid_.voxelUm) || grid_.voxelUm <= 0.0)
        errors.push_back(fmt::format("grid: voxel_um must be a positive number of µm (got {})", grid_.voxelUm));
    for (std::size_t f = 0; f < specs_.size(); ++f) {
        const FieldSpec& s = specs_[f];
        const std::string who = s.name.empty() ? fmt::format("field #{}", f + 1) : fmt::format("field '{}'", s.name);
        if (!usableName(s.name))
            errors.push_back(fmt::format("{}: name must be non-empty, without '/', control characters or a leading '.'", who));
        for (std::size_t g = 0; g < f; ++g)
            if (!s.name.empty() && specs_[g].name == s.name) errors.push_back(fmt::format("{}: name given twice (fields #{} and #{})", who, g + 1, f + 1));
        const auto check = [&](const char* key, double v, const char* unit) {
            if (!std::isfinite(v) || v < 0.0) errors.push_back(fmt::format("{}: {} must be a finite number ≥ 0 {} (got {})", who, key, unit, v));
        };
        check("diffusion", s.diffusionUm2PerMin, "µm²/min");
        check("decay", s.decayPerMin, "1/min");
        check("initial value", s.initialValue, s.unit.empty() ? "" : s.unit.c_str());
        if (s.boundary == Boundary::Dirichlet) check("boundary value", s.boundaryValue, s.unit.empty() ? "" : s.unit.c_str());
        check("max step", s.maxStepMin, "min (0: no cap)");
    }
    if (!errors.empty()) {
        std::string message = fmt::format("fields: {} error{}", errors.size(), errors.size() == 1 ? "" : "s");
        for (const auto& e : errors) message += "\n  " + e;
        throw InputError(message);
    }
    const std::size_t n = grid_.voxels();
    values_.reserve(specs_.size());
    for (const auto& s : specs_) {
        values_.emplace_back(n, s.initialValue);
        source_.emplace_back(n, 0.0);
        uptake_.emplace_back(n, 0.0);
    }
}

std::size_t FieldSet::index(std::string_view name) const {
    std::string known;
    for (std::size_t f = 0; f < specs_.size(); ++f) {
        if (specs_[f].name == name) return f;
        known += (f ? ", " : "") + specs_[f].name;
    }
    throw InputError(fmt::format("no field named '{}' (fields: {})", name, known.empty() ? "none" : known));
}

void FieldSet::setReactionStepLimit(double limit) {
    if (!std::isfinite(limit) || limit <= 0.0)
        throw InputError(fmt::format("fields: reaction step limit must be a positive number (got {})", limit));
    reactionStepLimit_ = limit;
}

namespace {

// ceil(dt / maxStep) as an int, at least 1, refusing counts that would not fit.
int stepsFor(double dtMin, double maxStep, const std::string& field) {
    if (!(maxStep > 0.0) || !std::isfinite(maxStep)) return 1;
    const double n = std::ceil(dtMin / maxStep * (1.0 - 1e-12));  // 0.3/0.1 is 3, not 3.0000000000000004
    if (!(n <= 1e7))
        throw InputError(fmt::format("field '{}': a step of {} min needs {} sub-steps of at most {} min; at most 10,000,000", field, dtMin, n, maxStep));
    return std::max(1, static_cast<int>(n));
}

// The sub-cycling rule (docs/abm.md, "Fields").
int substepsFor(const FieldSpec& s, double dtMin, double maxUptake, double limit) {
    const double k = s.decayPerMin + maxUptake;
    const int byCap = stepsFor(dtMin, s.maxStepMin, s.name);
    const int byReaction = k > 0.0 ? stepsFor(dtMin, limit / k, s.name) : 1;
    return std::max(byCap, byReaction);
}

}  // namespace

int FieldSet::substeps(std::size_t f, double dtMin) const {
    double maxU = 0.0;
    for (const double v : uptake_.at(f)) maxU = std::max(maxU, v);
    return substepsFor(specs_.at(f), dtMin, maxU, reactionStepLimit_);
}

void FieldSet::step(double dtMin, int threads) {
    if (!std::isfinite(dtMin) || dtMin <= 0.0) throw InputError(fmt::format("fields: step must be a positive number of minutes (got {})", dtMin));
    if (threads < 1) throw InputError(fmt::format("fields: threads must be at least 1 (got {})", threads));
    const std::size_t nv = grid_.voxels();
    const auto nx = static_cast<std::size_t>(grid_.nx);
    const auto ny = static_cast<std::size_t>(grid_.ny);
    const auto nz = static_cast<std::size_t>(grid_.nz);
    const std::size_t rows = ny * nz;
    const std::size_t rowBlocks = (rows + kRowBlock - 1) / kRowBlock;
    const std::size_t xChunks = (nx + kColBlock - 1) / kColBlock;
    const std::size_t plane = nx * ny;
    const std::size_t planeChunks = (plane + kColBlock - 1) / kColBlock;
    delta_.resize(nv);
    double* delta = delta_.data();

    for (std::size_t f = 0; f < specs_.size(); ++f) {
        const FieldSpec& spec = specs_[f];
        double* c = values_[f].data();
        const double* src = source_[f].data();
        const double* upt = uptake_[f].data();

        // The agents' inputs must be usable: a negative or non-finite source or uptake is a bug
        // upstream, reported with the voxel rather than turned into a wrong field.
        bool bad = false;
        double maxU = 0.0;
        NK_PRAGMA(omp parallel for num_threads(threads) schedule(static) reduction(|| : bad) reduction(max : maxU))
        for (std::size_t i = 0; i < nv; ++i) {
            if (!(src[i] >= 0.0 && src[i] < std::numeric_limits<double>::infinity()) ||
                !(upt[i] >= 0.0 && upt[i] < std::numeric_limits<double>::infinity()))
                bad = true;
            maxU = std::max(maxU, upt[i]);
        }
        if (bad) {
            for (std::size_t i = 0; i < nv; ++i) {
                const bool badS = !(src[i] >= 0.0 && std::isfinite(src[i]));
                if (!badS && upt[i] >= 0.0 && std::isfinite(upt[i])) continue;
                const std::size_t x = i % nx, y = (i / nx) % ny, z = i / plane;
                throw InternalError(fmt::format("field '{}': {} at voxel ({}, {}, {}) is {} (must be finite and ≥ 0)", spec.name,
                                                badS ? "source" : "uptake", x, y, z, badS ? src[i] : upt[i]));
            }
        }

        const int n = substepsFor(spec, dtMin, maxU, reactionStepLimit_);
        const double h = dtMin / n;
        const double a = spec.diffusionUm2PerMin / (grid_.voxelUm * grid_.voxelUm);  // 1/min
        const double r = a * h;
        const bool dirichlet = spec.boundary == Boundary::Dirichlet;
        const double bv = spec.boundaryValue;
        const double lambda = spec.decayPerMin;
        // The x factor: r along x when x is an axis of the domain, else only the reaction.
        const double rx = (nx > 1) ? r : 0.0;
        const double endX = endDiagonal(rx, spec);
        const Tridiag ty = factorise(grid_.ny, r, spec);
        const Tridiag tz = factorise(grid_.nz, r, spec);
        const Side noFace = dirichlet ? Side::Ghost : Side::None;

        const bool threeD = nz > 1;
        const std::size_t rowBlocksPerSlab = (ny + kRowBlock - 1) / kRowBlock;

        // The x factor for rows [r0, r0 + m): the residual h·F(c) and h·K transposed into the
        // buffers, solved, and the increment put into delta. Reads c only (c changes in the last
        // phase of a sub-step, after a barrier).
        const auto xRows = [&](std::size_t r0, std::size_t m, std::vector<double>& rhs, std::vector<double>& hk, std::vector<double>& res) {
            for (std::size_t q = 0; q < m; ++q) {
                const std::size_t row = r0 + q;
                const std::size_t y = row % ny, z = row / ny;
                const std::size_t base = row * nx;
                const double* cr = c + base;
                // D∇²c along y and z, one neighbour row at a time (vectorised over x).
                for (std::size_t i = 0; i < nx; ++i) res[i] = 0.0;
                const auto side = [&](bool axis, bool atFace, std::ptrdiff_t offset) {
                    const Side kind = !axis ? Side::None : (atFace ? noFace : Side::Row);
                    if (kind == Side::Row) {
                        const double* nb = cr + offset;
                        NK_PRAGMA(omp simd)
                        for (std::size_t i = 0; i < nx; ++i) res[i] += nb[i] - cr[i];
                    } else if (kind == Side::Ghost) {
                        NK_PRAGMA(omp simd)
                        for (std::size_t i = 0; i < nx; ++i) res[i] += bv - cr[i];
                    }
                };
                const auto sx = static_cast<std::ptrdiff_t>(nx), sp = static_cast<std::ptrdiff_t>(plane);
                side(ny > 1, y == 0, -sx);
                side(ny > 1, y + 1 == ny, sx);
                side(nz > 1, z == 0, -sp);
                side(nz > 1, z + 1 == nz, sp);
                // Along x, then the reaction: res = h·(a·Σ(neighbour − c) + s − K·c).
                for (std::size_t i = 0; i < nx; ++i) {
                    double lap = res[i];
                    if (nx > 1) {
                        lap += (i > 0) ? cr[i - 1] - cr[i] : (dirichlet ? bv - cr[i] : 0.0);
                        lap += (i + 1 < nx) ? cr[i + 1] - cr[i] : (dirichlet ? bv - cr[i] : 0.0);
                    }
                    const double k = lambda + upt[base + i];
                    rhs[i * m + q] = h * (a * lap + src[base + i] - k * cr[i]);
                    hk[i * m + q] = h * k;
                }
            }
            solveRowsWithReaction(rhs.data(), hk.data(), nx, m, rx, endX);
            for (std::size_t q = 0; q < m; ++q) {
                double* d = delta + (r0 + q) * nx;
                for (std::size_t i = 0; i < nx; ++i) d[i] = rhs[i * m + q];
            }
        };

        // One parallel region for all sub-steps, two barriers per sub-step. 3-D: per z slab the
        // x factor then the y factor (the slab stays in cache), then per slice of the xy plane the
        // z factor and cⁿ⁺¹ = cⁿ + Δ. 2-D (and lines): x per block of rows, then per slice of x the
        // y factor and the update.
        NK_PRAGMA(omp parallel num_threads(threads)) {
            std::vector<double> rhs(nx * kRowBlock), hk(nx * kRowBlock), res(nx);
            for (int sub = 0; sub < n; ++sub) {
                if (threeD) {
                    NK_PRAGMA(omp for schedule(static))
                    for (std::size_t z = 0; z < nz; ++z) {
                        for (std::size_t b = 0; b < rowBlocksPerSlab; ++b) {
                            const std::size_t y0 = b * kRowBlock;
                            xRows(z * ny + y0, std::min(kRowBlock, ny - y0), rhs, hk, res);
                        }
                        if (ty.active)
                            for (std::size_t x0 = 0; x0 < nx; x0 += kColBlock) solveLines(delta + z * plane + x0, ny, nx, std::min(kColBlock, nx - x0), ty);
                    }
                    NK_PRAGMA(omp for schedule(static))
                    for (std::size_t task = 0; task < planeChunks; ++task) {
                        const std::size_t p0 = task * kColBlock;
                        const std::size_t m = std::min(kColBlock, plane - p0);
                        if (tz.active) solveLines(delta + p0, nz, plane, m, tz);
                        for (std::size_t z = 0; z < nz; ++z) {
                            double* cz = c + z * plane + p0;
                            const double* dz = delta + z * plane + p0;
                            NK_PRAGMA(omp simd)
                            for (std::size_t j = 0; j < m; ++j) cz[j] += dz[j];
                        }
                    }
                } else {
                    NK_PRAGMA(omp for schedule(static))
                    for (std::size_t b = 0; b < rowBlocks; ++b) {
                        const std::size_t r0 = b * kRowBlock;
                        xRows(r0, std::min(kRowBlock, rows - r0), rhs, hk, res);
                    }
                    NK_PRAGMA(omp for schedule(static))
                    for (std::size_t task = 0; task < xChunks; ++task) {
                        const std::size_t x0 = task * kColBlock;
                        const std::size_t m = std::min(kColBlock, nx - x0);
                        if (ty.active) solveLines(delta + x0, ny, nx, m, ty);
                        for (std::size_t y = 0; y < ny; ++y) {
                            double* cy = c + y * nx + x0;
                            const double* dy = delta + y * nx + x0;
                            NK_PRAGMA(omp simd)
                            for (std::size_t j = 0; j < m; ++j) cy[j] += dy[j];
                        }
                    }
                }
            }
        }
    }
}

double FieldSet::total(std::size_t f) const {
    double sum = 0.0;
    for (const double v : values_.at(f)) sum += v;
    return sum * grid_.voxelVolumeUm3();
}

void FieldSet::save(std::ostream& out) const {
    const auto put64 = [&](std::uint64_t v) { out.write(reinterpret_cast<const char*>(&v), sizeof v); };
    out.write(kMagic, sizeof kMagic);
    put64(specs_.size());
    put64(grid_.voxels());
    for (const auto& s : specs_) {
        put64(s.name.size());
        out.write(s.name.data(), static_cast<std::streamsize>(s.name.size()));
    }
    for (const auto& v : values_) out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(double)));
    if (!out) throw IoError("fields: writing the checkpoint of the fields failed");
}

void FieldSet::load(std::istream& in) {
    const auto get64 = [&]() {
        std::uint64_t v = 0;
        in.read(reinterpret_cast<char*>(&v), sizeof v);
        if (!in) throw IoError("fields: the checkpoint of the fields is truncated");
        return v;
    };
    char magic[sizeof kMagic] = {};
    in.read(magic, sizeof magic);
    if (!in || std::memcmp(magic, kMagic, sizeof kMagic) != 0) throw IoError("fields: not a checkpoint of nkscape fields (bad magic)");
    const std::uint64_t count = get64();
    const std::uint64_t voxels = get64();
    if (count != specs_.size() || voxels != grid_.voxels())
        throw InputError(fmt::format("fields: the checkpoint holds {} field(s) of {} voxels; this run has {} of {}", count, voxels, specs_.size(), grid_.voxels()));
    for (const auto& s : specs_) {
        const std::uint64_t len = get64();
        if (len > 4096) throw IoError("fields: the checkpoint of the fields is corrupt (field name too long)");
        std::string name(static_cast<std::size_t>(len), '\0');
        in.read(name.data(), static_cast<std::streamsize>(len));
        if (!in) throw IoError("fields: the checkpoint of the fields is truncated");
        if (name != s.name) throw InputError(fmt::format("fields: the checkpoint holds field '{}' where this run has '{}'", name, s.name));
    }
    std::vector<std::vector<double>> loaded(specs_.size(), std::vector<double>(grid_.voxels()));
    for (auto& v : loaded) {
        in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(double)));
        if (!in) throw IoError("fields: the checkpoint of the fields is truncated");
    }
    values_ = std::move(loaded);
}

}  // namespace nkscape::abm
