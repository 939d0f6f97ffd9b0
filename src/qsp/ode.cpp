// CVODE wrapper: BDF + Newton + dense linear solver, exact stops, roots, constraints, and errors
// that name the states. See include/nkscape/qsp/ode.hpp and docs/qsp.md ("ODE solver").

#include "nkscape/qsp/ode.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <limits>
#include <numeric>
#include <utility>

#include <Eigen/Eigenvalues>
#include <cvode/cvode.h>
#include <nvector/nvector_serial.h>
#include <sundials/sundials_context.h>
#include <sunlinsol/sunlinsol_klu.h>
#include <sunmatrix/sunmatrix_dense.h>
#include <sunmatrix/sunmatrix_sparse.h>

#include <fmt/format.h>

namespace nkscape::qsp {

void OdeSystem::jacobian(double /*t*/, std::span<const double> /*y*/, std::span<const double> /*f*/, JacobianView /*J*/) {
    throw NotImplementedError(name() + ": analytic Jacobian (hasJacobian() is true but jacobian() is not overridden)");
}

std::string OdeSystem::stateName(std::size_t i) const { return fmt::format("y[{}]", i); }

bool OdeSystem::nonNegative(std::size_t /*i*/) const { return false; }

JacobianColouring JacobianColouring::dense(std::size_t n) {
    JacobianColouring c;
    c.rowsOfColumn_.assign(n, {});
    c.groups_.resize(n);
    for (std::size_t j = 0; j < n; ++j) c.groups_[j] = {j};
    c.dense_ = true;
    c.buildCsc();
    return c;
}

JacobianColouring JacobianColouring::fromSparsity(std::size_t n, const std::vector<std::vector<std::size_t>>& rows) {
    if (rows.empty()) return dense(n);
    if (rows.size() != n)
        throw InputError(fmt::format("Jacobian sparsity: {} equations listed, the system has {} states", rows.size(), n));
    JacobianColouring c;
    c.dense_ = false;
    c.rowsOfColumn_.assign(n, {});
    std::vector<std::vector<std::size_t>> colsOfRow(n);
    for (std::size_t i = 0; i < n; ++i) {
        colsOfRow[i] = rows[i];
        colsOfRow[i].push_back(i);  // the diagonal: Newton's matrix I − γJ needs it whatever the system says
        for (std::size_t j : colsOfRow[i])
            if (j >= n) throw InputError(fmt::format("Jacobian sparsity: equation {} reads state {}, the system has {} states", i, j, n));
        std::sort(colsOfRow[i].begin(), colsOfRow[i].end());
        colsOfRow[i].erase(std::unique(colsOfRow[i].begin(), colsOfRow[i].end()), colsOfRow[i].end());
        for (std::size_t j : colsOfRow[i]) c.rowsOfColumn_[j].push_back(i);
    }
    // Greedy colouring in state order: a state takes the lowest colour that no state sharing an
    // equation with it has. Not optimal in general, but exact for banded and block structures.
    std::vector<std::size_t> colour(n, n);
    std::vector<std::size_t> forbiddenBy(n + 1, n);  // forbiddenBy[k] == j: colour k is taken for state j
    for (std::size_t j = 0; j < n; ++j) {
        for (std::size_t i : c.rowsOfColumn_[j])
            for (std::size_t k : colsOfRow[i])
                if (colour[k] < n) forbiddenBy[colour[k]] = j;
        std::size_t k = 0;
        while (forbiddenBy[k] == j) ++k;
        colour[j] = k;
        if (k >= c.groups_.size()) c.groups_.resize(k + 1);
        c.groups_[k].push_back(j);
    }
    c.buildCsc();
    return c;
}

namespace {

/// One RHS per colour with the group's states perturbed; `store(j, inv, fPerturbed)` writes column
/// j from f⁺ (the caller subtracts f). False if an RHS value was not finite.
template <class Store>
bool sweepColours(OdeSystem& system, double t, const std::vector<std::vector<std::size_t>>& groups, std::span<const double> y,
                  std::span<const double> increments, std::span<double> yWork, std::span<double> fWork, Store&& store) {
    std::copy(y.begin(), y.end(), yWork.begin());
    for (const auto& group : groups) {
        for (std::size_t j : group) yWork[j] = y[j] + increments[j];
        system.rhs(t, yWork, fWork);
        for (double v : fWork)
            if (!std::isfinite(v)) return false;
        for (std::size_t j : group) {
            yWork[j] = y[j];
            store(j, 1.0 / increments[j]);
        }
    }
    return true;
}

}  // namespace

bool JacobianColouring::differenceQuotient(OdeSystem& system, double t, std::span<const double> y, std::span<const double> f,
                                           std::span<const double> increments, std::span<double> J, std::span<double> yWork,
                                           std::span<double> fWork) const {
    const std::size_t n = size();
    if (y.size() != n || f.size() != n || increments.size() != n || J.size() != n * n || yWork.size() != n || fWork.size() != n)
        throw InputError(fmt::format("{}: difference-quotient Jacobian: buffers are not sized for {} states", system.name(), n));
    std::fill(J.begin(), J.end(), 0.0);
    // (1/inc)·f⁺ − (1/inc)·f, as CVODE's dense difference quotient writes it, so that the dense
    // case reproduces CVODE's Jacobian.
    return sweepColours(system, t, groups_, y, increments, yWork, fWork, [&](std::size_t j, double inv) {
        double* col = J.data() + j * n;
        if (dense_) {
            for (std::size_t i = 0; i < n; ++i) col[i] = inv * fWork[i] - inv * f[i];
        } else {
            for (std::size_t i : rowsOfColumn_[j]) col[i] = inv * fWork[i] - inv * f[i];
        }
    });
}

void JacobianColouring::buildCsc() {
    const std::size_t n = size();
    cscStart_.assign(1, 0);
    cscRows_.clear();
    for (std::size_t j = 0; j < n; ++j) {
        if (dense_) {
            for (std::size_t i = 0; i < n; ++i) cscRows_.push_back(static_cast<std::int64_t>(i));
        } else {
            for (std::size_t i : rowsOfColumn_[j]) cscRows_.push_back(static_cast<std::int64_t>(i));  // sorted, with j
        }
        cscStart_.push_back(static_cast<std::int64_t>(cscRows_.size()));
    }
}

bool JacobianColouring::differenceQuotientCsc(OdeSystem& system, double t, std::span<const double> y, std::span<const double> f,
                                              std::span<const double> increments, std::span<double> values,
                                              std::span<double> yWork, std::span<double> fWork) const {
    const std::size_t n = size();
    if (y.size() != n || f.size() != n || increments.size() != n || yWork.size() != n || fWork.size() != n || values.size() != cscRows_.size())
        throw InputError(fmt::format("{}: sparse difference-quotient Jacobian: buffers are not sized for {} states", system.name(), n));
    std::fill(values.begin(), values.end(), 0.0);
    return sweepColours(system, t, groups_, y, increments, yWork, fWork, [&](std::size_t j, double inv) {
        for (auto k = static_cast<std::size_t>(cscStart_[j]); k < static_cast<std::size_t>(cscStart_[j + 1]); ++k) {
            const auto i = static_cast<std::size_t>(cscRows_[k]);
            values[k] = inv * fWork[i] - inv * f[i];
        }
    });
}

std::vector<std::size_t> JacobianColouring::diagonalColumns() const {
    std::vector<std::size_t> out;
    if (dense_) return out;
    for (std::size_t j = 0; j < rowsOfColumn_.size(); ++j)
        if (rowsOfColumn_[j].size() == 1 && rowsOfColumn_[j][0] == j) out.push_back(j);
    return out;
}

namespace {

std::size_t denseFactor(double* a, std::size_t m, std::size_t* pivots);
void denseSolve(const double* a, std::size_t m, const std::size_t* pivots, double* __restrict xd);

std::string flagName(int flag) {
    char* raw = CVodeGetReturnFlagName(flag);
    std::string name = raw != nullptr ? std::string(raw) : fmt::format("flag {}", flag);
    std::free(raw);  // NOLINT(cppcoreguidelines-no-malloc): CVODE allocates the name with malloc
    return name;
}

// ---- NewtonLu as a SUNDIALS linear solver -------------------------------------------------------
// The dense path is the same algorithm and the same floating-point operations in the same order as
// SUNDIALS' SUNLinSol_Dense (denseGETRF/denseGETRS: partial pivoting by the largest |a_ik|,
// whole-row swaps, column-oriented updates), so results are bit-identical; compiled here with the
// project's optimisation and no-alias columns, so that the inner loops vectorise. Why: the packaged
// library's loops run scalar, and factorisations and solves were ~40 % of a dosed patient-year.
struct LinearSolverState {
    NewtonLu lu;
    sunindextype lastFlag = 0;
    // Set by the solver's linear-system function when it keeps the Jacobian itself: the factors
    // come from J and γ (NewtonLu::factorJacobian), and CVODE's matrix is left unformed.
    const double* jacobian = nullptr;
    double gamma = 0;
};

LinearSolverState& luOf(SUNLinearSolver s) { return *static_cast<LinearSolverState*>(s->content); }

SUNLinearSolver_Type luType(SUNLinearSolver /*s*/) { return SUNLINEARSOLVER_DIRECT; }
SUNLinearSolver_ID luId(SUNLinearSolver /*s*/) { return SUNLINEARSOLVER_CUSTOM; }
int luInitialize(SUNLinearSolver s) {
    luOf(s).lastFlag = 0;
    return SUNLS_SUCCESS;
}
sunindextype luLastFlag(SUNLinearSolver s) { return luOf(s).lastFlag; }

int luSetup(SUNLinearSolver s, SUNMatrix matrix) {
    LinearSolverState& st = luOf(s);
    st.lastFlag = static_cast<sunindextype>(st.jacobian != nullptr ? st.lu.factorJacobian(st.jacobian, st.gamma)
                                                                   : st.lu.factor(SUNDenseMatrix_Data(matrix)));
    return st.lastFlag == 0 ? SUNLS_SUCCESS : SUNLS_LUFACT_FAIL;  // recoverable: CVODE retries with a smaller step
}

int luSolve(SUNLinearSolver s, SUNMatrix matrix, N_Vector x, N_Vector b, sunrealtype /*tol*/) {
    N_VScale(1.0, b, x);
    const LinearSolverState& st = luOf(s);
    if (st.jacobian != nullptr) st.lu.solveJacobian(N_VGetArrayPointer(x));
    else st.lu.solve(SUNDenseMatrix_Data(matrix), N_VGetArrayPointer(x));
    return SUNLS_SUCCESS;
}

// Dense LU of the m×m column-major `a` with partial pivoting (SUNDIALS' denseGETRF). Returns 0 or
// k + 1 for a zero pivot in column k.
std::size_t denseFactor(double* a, std::size_t m, std::size_t* pivots) {
    for (std::size_t k = 0; k < m; ++k) {
        double* __restrict colK = a + k * m;
        std::size_t p = k;
        for (std::size_t i = k + 1; i < m; ++i)
            if (std::abs(colK[i]) > std::abs(colK[p])) p = i;
        pivots[k] = p;
        if (colK[p] == 0) return k + 1;
        if (p != k)
            for (std::size_t j = 0; j < m; ++j) std::swap(a[j * m + p], a[j * m + k]);
        const double mult = 1.0 / colK[k];
        for (std::size_t i = k + 1; i < m; ++i) colK[i] *= mult;
        for (std::size_t j = k + 1; j < m; ++j) {
            double* __restrict colJ = a + j * m;
            const double akj = colJ[k];
            if (akj == 0) continue;
            for (std::size_t i = k + 1; i < m; ++i) colJ[i] -= akj * colK[i];
        }
    }
    return 0;
}

// Solves with the factors of denseFactor (SUNDIALS' denseGETRS); x holds b on entry.
void denseSolve(const double* a, std::size_t m, const std::size_t* pivots, double* __restrict xd) {
    if (m == 0) return;
    for (std::size_t k = 0; k < m; ++k)
        if (pivots[k] != k) std::swap(xd[k], xd[pivots[k]]);
    for (std::size_t k = 0; k + 1 < m; ++k) {  // L y = P b (unit lower triangle)
        const double* __restrict colK = a + k * m;
        const double bk = xd[k];
        for (std::size_t i = k + 1; i < m; ++i) xd[i] -= colK[i] * bk;
    }
    for (std::size_t k = m - 1; k > 0; --k) {  // U x = y
        const double* __restrict colK = a + k * m;
        xd[k] /= colK[k];
        const double bk = xd[k];
        for (std::size_t i = 0; i < k; ++i) xd[i] -= colK[i] * bk;
    }
    xd[0] /= a[0];
}

int luFree(SUNLinearSolver s) {
    s->content = nullptr;  // not owned: the state lives in OdeSolver::Impl
    SUNLinSolFreeEmpty(s);
    return SUNLS_SUCCESS;
}

// ---- dense matrix operations CVODE's linear-solver interface calls at every setup --------------
// SUNDIALS' dense zero/copy/scale-add-identity walk the matrix element by element through column
// pointers; the data are one contiguous column-major block, so plain loops do the same operations
// (bit-identical) several times faster. The matrix CVODE clones (its saved Jacobian) gets them too.
double* denseData(SUNMatrix a) { return SUNDenseMatrix_Data(a); }
std::size_t denseLength(SUNMatrix a) { return static_cast<std::size_t>(SUNDenseMatrix_LData(a)); }

int denseZero(SUNMatrix a) {
    std::fill_n(denseData(a), denseLength(a), 0.0);
    return SUNMAT_SUCCESS;
}

int denseCopy(SUNMatrix from, SUNMatrix to) {
    if (SUNDenseMatrix_Rows(from) != SUNDenseMatrix_Rows(to) || SUNDenseMatrix_Columns(from) != SUNDenseMatrix_Columns(to))
        return SUNMAT_ILL_INPUT;
    std::copy_n(denseData(from), denseLength(from), denseData(to));
    return SUNMAT_SUCCESS;
}

int denseScaleAddI(sunrealtype c, SUNMatrix a) {  // A ← c·A + I
    const auto rows = static_cast<std::size_t>(SUNDenseMatrix_Rows(a));
    const auto cols = static_cast<std::size_t>(SUNDenseMatrix_Columns(a));
    double* __restrict d = denseData(a);
    for (std::size_t k = 0; k < rows * cols; ++k) d[k] *= c;
    for (std::size_t j = 0; j < std::min(rows, cols); ++j) d[j * rows + j] += 1.0;
    return SUNMAT_SUCCESS;
}

SUNMatrix fastDenseMatrix(sunindextype n, SUNContext ctx);

// ---- vector operations CVODE calls tens of times per step ----------------------------------------
// The packaged serial N_Vector runs each element through ~20 instructions; these plain loops do the
// same floating-point operations (the same special cases of N_VLinearSum, sums in the same order),
// so results are bit-identical, in a fraction of the time. Installed on the state vector before
// CVodeInit: CVODE clones its work vectors from it, and the clones keep the operations.
double* vecData(N_Vector v) { return NV_DATA_S(v); }
std::size_t vecLength(N_Vector v) { return static_cast<std::size_t>(NV_LENGTH_S(v)); }

void vecLinearSum(sunrealtype a, N_Vector x, sunrealtype b, N_Vector y, N_Vector z) {
    const std::size_t n = vecLength(x);
    const double* xd = vecData(x);
    const double* yd = vecData(y);
    double* zd = vecData(z);
    // y ← a·x + y and x ← b·y + x in place (x and y may be z here, so no __restrict).
    auto axpy = [n](double c, const double* from, double* to) {
        if (c == 1) for (std::size_t i = 0; i < n; ++i) to[i] += from[i];
        else if (c == -1) for (std::size_t i = 0; i < n; ++i) to[i] -= from[i];
        else for (std::size_t i = 0; i < n; ++i) to[i] += c * from[i];
    };
    if (b == 1 && z == y) return axpy(a, xd, zd);
    if (a == 1 && z == x) return axpy(b, yd, zd);
    if (a == 1 && b == 1) for (std::size_t i = 0; i < n; ++i) zd[i] = xd[i] + yd[i];
    else if (a == 1 && b == -1) for (std::size_t i = 0; i < n; ++i) zd[i] = xd[i] - yd[i];
    else if (a == -1 && b == 1) for (std::size_t i = 0; i < n; ++i) zd[i] = yd[i] - xd[i];
    else if (a == 1) for (std::size_t i = 0; i < n; ++i) zd[i] = b * yd[i] + xd[i];
    else if (b == 1) for (std::size_t i = 0; i < n; ++i) zd[i] = a * xd[i] + yd[i];
    else if (a == -1) for (std::size_t i = 0; i < n; ++i) zd[i] = b * yd[i] - xd[i];
    else if (b == -1) for (std::size_t i = 0; i < n; ++i) zd[i] = a * xd[i] - yd[i];
    else if (a == b) for (std::size_t i = 0; i < n; ++i) zd[i] = a * (xd[i] + yd[i]);
    else if (a == -b) for (std::size_t i = 0; i < n; ++i) zd[i] = a * (xd[i] - yd[i]);
    else for (std::size_t i = 0; i < n; ++i) zd[i] = a * xd[i] + b * yd[i];
}
void vecConst(sunrealtype c, N_Vector z) { std::fill_n(vecData(z), vecLength(z), c); }
void vecScale(sunrealtype c, N_Vector x, N_Vector z) {
    const std::size_t n = vecLength(x);
    const double* xd = vecData(x);
    double* zd = vecData(z);
    for (std::size_t i = 0; i < n; ++i) zd[i] = c * xd[i];  // c = ±1 included: exact
}
void vecAbs(N_Vector x, N_Vector z) {
    const std::size_t n = vecLength(x);
    const double* xd = vecData(x);
    double* zd = vecData(z);
    for (std::size_t i = 0; i < n; ++i) zd[i] = std::abs(xd[i]);
}
void vecInv(N_Vector x, N_Vector z) {
    const std::size_t n = vecLength(x);
    const double* xd = vecData(x);
    double* zd = vecData(z);
    for (std::size_t i = 0; i < n; ++i) zd[i] = 1.0 / xd[i];
}
void vecAddConst(N_Vector x, sunrealtype b, N_Vector z) {
    const std::size_t n = vecLength(x);
    const double* xd = vecData(x);
    double* zd = vecData(z);
    for (std::size_t i = 0; i < n; ++i) zd[i] = xd[i] + b;
}
void vecProd(N_Vector x, N_Vector y, N_Vector z) {
    const std::size_t n = vecLength(x);
    const double* xd = vecData(x);
    const double* yd = vecData(y);
    double* zd = vecData(z);
    for (std::size_t i = 0; i < n; ++i) zd[i] = xd[i] * yd[i];
}
void vecDiv(N_Vector x, N_Vector y, N_Vector z) {
    const std::size_t n = vecLength(x);
    const double* xd = vecData(x);
    const double* yd = vecData(y);
    double* zd = vecData(z);
    for (std::size_t i = 0; i < n; ++i) zd[i] = xd[i] / yd[i];
}
sunrealtype vecWSqrSumLocal(N_Vector x, N_Vector w) {
    const std::size_t n = vecLength(x);
    const double* xd = vecData(x);
    const double* wd = vecData(w);
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const double p = xd[i] * wd[i];
        sum += p * p;
    }
    return sum;
}
sunrealtype vecWrmsNorm(N_Vector x, N_Vector w) {
    const double mean = vecWSqrSumLocal(x, w) / static_cast<double>(vecLength(x));
    return mean <= 0 ? 0.0 : std::sqrt(mean);
}
sunrealtype vecMaxNorm(N_Vector x) {
    const std::size_t n = vecLength(x);
    const double* xd = vecData(x);
    double m = 0;
    for (std::size_t i = 0; i < n; ++i)
        if (std::abs(xd[i]) > m) m = std::abs(xd[i]);
    return m;
}
sunrealtype vecMin(N_Vector x) {
    const std::size_t n = vecLength(x);
    const double* xd = vecData(x);
    double m = xd[0];
    for (std::size_t i = 1; i < n; ++i)
        if (xd[i] < m) m = xd[i];
    return m;
}

void installVectorOps(N_Vector v) {
    v->ops->nvlinearsum = &vecLinearSum;
    v->ops->nvconst = &vecConst;
    v->ops->nvscale = &vecScale;
    v->ops->nvabs = &vecAbs;
    v->ops->nvinv = &vecInv;
    v->ops->nvaddconst = &vecAddConst;
    v->ops->nvprod = &vecProd;
    v->ops->nvdiv = &vecDiv;
    v->ops->nvwsqrsumlocal = &vecWSqrSumLocal;
    v->ops->nvwrmsnorm = &vecWrmsNorm;
    v->ops->nvmaxnorm = &vecMaxNorm;
    v->ops->nvmin = &vecMin;
}

SUNMatrix denseClone(SUNMatrix a) { return fastDenseMatrix(SUNDenseMatrix_Rows(a), a->sunctx); }

// A SUNDIALS dense n×n matrix whose zero, copy, scale-add-identity and clone are the above.
SUNMatrix fastDenseMatrix(sunindextype n, SUNContext ctx) {
    SUNMatrix a = SUNDenseMatrix(n, n, ctx);
    if (a == nullptr) return nullptr;
    a->ops->zero = &denseZero;
    a->ops->copy = &denseCopy;
    a->ops->scaleaddi = &denseScaleAddI;
    a->ops->clone = &denseClone;
    return a;
}

}  // namespace

NewtonLu::NewtonLu(std::size_t n, std::vector<std::size_t> diagonalStates) : n_(n), diag_(std::move(diagonalStates)) {
    for (std::size_t k = 0; k < diag_.size(); ++k)
        if (diag_[k] >= n || (k > 0 && diag_[k] <= diag_[k - 1]))
            throw InputError(fmt::format("NewtonLu: diagonal states must be increasing and below {} (entry {} is {})", n, k, diag_[k]));
    std::vector<char> isDiag(n, 0);
    for (std::size_t j : diag_) isDiag[j] = 1;
    for (std::size_t k = 0; k < diag_.size(); ++k) {
        if (k > 0 && diag_[k] == diag_[k - 1] + 1) diagRuns_.back().second = diag_[k] + 1;
        else diagRuns_.emplace_back(diag_[k], diag_[k] + 1);
    }
    for (std::size_t j = 0; j < n; ++j)
        if (isDiag[j] == 0) rest_.push_back(j);
    pivots_.assign(n, 0);
    if (!diag_.empty()) {
        rr_.assign(rest_.size() * rest_.size(), 0.0);
        xr_.assign(rest_.size(), 0.0);
    }
}

bool NewtonLu::diagonalColumnsHold(const double* a) const {
    // Branch-free so that it vectorises; a NaN off the diagonal counts as something.
    const std::size_t n = n_;
    double offDiagonal = 0;
    for (std::size_t j : diag_) {
        const double* __restrict col = a + j * n;
        double sum = 0;
        for (std::size_t i = 0; i < n; ++i) sum += std::abs(col[i]);
        offDiagonal += sum - std::abs(col[j]);
    }
    return offDiagonal == 0;
}

// Factorises the rest block M_RR = I − γ·J_RR (the fallback when J_RR has no real Schur form).
std::size_t NewtonLu::factorRest(const double* a, double gamma) {
    const std::size_t n = n_;
    const std::size_t m = rest_.size();
    for (std::size_t c = 0; c < m; ++c) {
        const double* col = a + rest_[c] * n;
        double* out = rr_.data() + c * m;
        for (std::size_t r = 0; r < m; ++r) out[r] = -gamma * col[rest_[r]];
        out[c] += 1.0;
    }
    const std::size_t k = denseFactor(rr_.data(), m, pivots_.data());
    return k == 0 ? 0 : rest_[k - 1] + 1;
}

std::size_t NewtonLu::factor(double* a) {
    jacobian_ = nullptr;
    block_ = false;
    return denseFactor(a, n_, pivots_.data());
}

void NewtonLu::solve(const double* a, double* x) const { denseSolve(a, n_, pivots_.data(), x); }

std::size_t NewtonLu::factorJacobian(const double* jacobian, double gamma) {
    const std::size_t n = n_;
    jacobian_ = jacobian;
    gamma_ = gamma;
    if (!structureChecked_) {
        structureHolds_ = !diag_.empty() && diagonalColumnsHold(jacobian);
        structureChecked_ = true;
    }
    block_ = structureHolds_;
    if (!block_) {
        // M = I − γJ in full, then the dense LU (SUNDIALS' scale-add-identity and GETRF order).
        dense_.resize(n * n);
        for (std::size_t k = 0; k < n * n; ++k) dense_[k] = -gamma * jacobian[k];
        for (std::size_t j = 0; j < n; ++j) dense_[j * n + j] += 1.0;
        return denseFactor(dense_.data(), n, pivots_.data());
    }
    diagDen_.resize(diag_.size());
    for (std::size_t k = 0; k < diag_.size(); ++k) {
        const std::size_t j = diag_[k];
        diagDen_[k] = 1.0 - gamma * jacobian[j * n + j];
        if (diagDen_[k] == 0) return j + 1;
    }
    const std::size_t m = rest_.size();
    if (!schurValid_) {
        // Once per new J: J_SR's nonzeros (most cells secrete a few of the mediators).
        srStart_.assign(1, 0);
        srRow_.clear();
        srVal_.clear();
        for (std::size_t c = 0; c < m; ++c) {
            const double* col = jacobian + rest_[c] * n;
            for (const auto& [begin, end] : diagRuns_)
                for (std::size_t j = begin; j < end; ++j)
                    if (col[j] != 0) {
                        srRow_.push_back(static_cast<std::uint32_t>(j));
                        srVal_.push_back(col[j]);
                    }
            srStart_.push_back(static_cast<std::uint32_t>(srRow_.size()));
        }
        // Once per new J: J_RR = Q T Qᵀ.
        Eigen::MatrixXd jrr(static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(m));
        for (std::size_t c = 0; c < m; ++c)
            for (std::size_t r = 0; r < m; ++r) jrr(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)) = jacobian[rest_[c] * n + rest_[r]];
        Eigen::RealSchur<Eigen::MatrixXd> schur(jrr, true);
        schurUsable_ = schur.info() == Eigen::Success && schur.matrixT().allFinite();
        if (schurUsable_) {
            schurT_.assign(schur.matrixT().data(), schur.matrixT().data() + m * m);
            schurQ_.assign(schur.matrixU().data(), schur.matrixU().data() + m * m);
            schurQt_.resize(m * m);
            for (std::size_t c = 0; c < m; ++c)
                for (std::size_t r = 0; r < m; ++r) schurQt_[r * m + c] = schurQ_[c * m + r];
            schurW_.assign(m, 0.0);
        }
        schurValid_ = true;
    }
    if (!schurUsable_) return factorRest(jacobian, gamma);
    return checkSchurPivots();
}

// Whether I − γT is singular: a zero 1×1 diagonal entry or 2×2 block determinant. Returns 0 or
// the rest state's index + 1 (as a zero LU pivot would).
std::size_t NewtonLu::checkSchurPivots() const {
    const std::size_t m = rest_.size();
    const double* t = schurT_.data();
    const double g = gamma_;
    for (std::size_t i = 0; i < m;) {
        const bool pair = i + 1 < m && t[i * m + i + 1] != 0;  // T(i+1, i) ≠ 0: a 2×2 block
        if (pair) {
            const double a = 1.0 - g * t[i * m + i], b = -g * t[(i + 1) * m + i], c = -g * t[i * m + i + 1], d = 1.0 - g * t[(i + 1) * m + i + 1];
            if (a * d - b * c == 0) return rest_[i] + 1;
            i += 2;
        } else {
            if (1.0 - g * t[i * m + i] == 0) return rest_[i] + 1;
            i += 1;
        }
    }
    return 0;
}

// x_R ← (I − γ J_RR)⁻¹ x_R = Q (I − γT)⁻¹ Qᵀ x_R, T quasi-upper-triangular (1×1 and 2×2 blocks).
void NewtonLu::solveSchur(double* xr) const {
    // Unit-stride updates through restrict pointers, so that the compiler vectorises them; each
    // sum still adds its terms in the same order as the plain loops (bit for bit the same).
    const std::size_t m = rest_.size();
    const double* __restrict t = schurT_.data();
    const double* __restrict q = schurQ_.data();
    const double* __restrict qt = schurQt_.data();
    const double g = gamma_;
    double* __restrict w = schurW_.data();
    double* __restrict x = xr;
    std::fill_n(w, m, 0.0);
    for (std::size_t r = 0; r < m; ++r) {  // w = Qᵀ x
        const double* __restrict row = qt + r * m;
        const double xv = x[r];
        for (std::size_t c = 0; c < m; ++c) w[c] += row[c] * xv;
    }
    // Back substitution, bottom block first: (I − γT_ii) z_i = w_i + γ Σ_{j>i} T_ij z_j. The
    // right-hand sides are updated column by column as each z_j is known.
    for (std::size_t end = m; end > 0;) {
        const bool pair = end >= 2 && t[(end - 2) * m + end - 1] != 0;
        if (pair) {
            const std::size_t i = end - 2;
            const double a = 1.0 - g * t[i * m + i], b = -g * t[(i + 1) * m + i], c = -g * t[i * m + i + 1], d = 1.0 - g * t[(i + 1) * m + i + 1];
            const double det = a * d - b * c;
            const double z0 = (d * w[i] - b * w[i + 1]) / det, z1 = (a * w[i + 1] - c * w[i]) / det;
            w[i] = z0;
            w[i + 1] = z1;
            const double* __restrict ti = t + i * m;
            const double* __restrict ti1 = t + (i + 1) * m;
            for (std::size_t r = 0; r < i; ++r) w[r] += g * (ti[r] * z0 + ti1[r] * z1);
            end -= 2;
        } else {
            const std::size_t i = end - 1;
            const double z = w[i] / (1.0 - g * t[i * m + i]);
            w[i] = z;
            const double* __restrict ti = t + i * m;
            for (std::size_t r = 0; r < i; ++r) w[r] += g * ti[r] * z;
            end -= 1;
        }
    }
    std::fill_n(x, m, 0.0);  // x = Q z
    for (std::size_t c = 0; c < m; ++c) {
        const double* __restrict qc = q + c * m;
        const double zc = w[c];
        for (std::size_t r = 0; r < m; ++r) x[r] += qc[r] * zc;
    }
}

void NewtonLu::solveJacobian(double* x) const {
    const std::size_t n = n_;
    if (!block_) {
        denseSolve(dense_.data(), n, pivots_.data(), x);
        return;
    }
    const double gamma = gamma_;
    const std::size_t m = rest_.size();
    for (std::size_t r = 0; r < m; ++r) xr_[r] = x[rest_[r]];
    if (schurUsable_) solveSchur(xr_.data());
    else denseSolve(rr_.data(), m, pivots_.data(), xr_.data());
    // x_S = (b_S + γ J_SR x_R) / (1 − γ J_SS): M_SR = −γ J_SR (its nonzeros), D = 1 − γ diag(J_SS).
    for (std::size_t c = 0; c < m; ++c) {
        const double gxc = gamma * xr_[c];
        if (gxc == 0) continue;
        for (std::uint32_t k = srStart_[c]; k < srStart_[c + 1]; ++k) x[srRow_[k]] += srVal_[k] * gxc;
    }
    for (std::size_t k = 0; k < diag_.size(); ++k) x[diag_[k]] /= diagDen_[k];
    for (std::size_t r = 0; r < m; ++r) x[rest_[r]] = xr_[r];
}

namespace {

// Tells the system its rhs() calls are for a Jacobian (it may reuse work); closes the scope on
// every path out, exceptions included.
struct JacobianScope {
    OdeSystem& system;
    explicit JacobianScope(OdeSystem& s) : system(s) { system.jacobianScope(true); }
    ~JacobianScope() { system.jacobianScope(false); }
    JacobianScope(const JacobianScope&) = delete;
    JacobianScope& operator=(const JacobianScope&) = delete;
};

}  // namespace

struct OdeSolver::Impl {
    OdeSystem* system = nullptr;
    std::size_t n = 0;
    OdeOptions options;
    SUNContext ctx = nullptr;
    void* mem = nullptr;
    N_Vector y = nullptr;
    N_Vector atol = nullptr;
    N_Vector constraints = nullptr;
    SUNMatrix matrix = nullptr;
    SUNLinearSolver linsol = nullptr;
    LinearSolverState lu;         // the linear solver's state (linsol->content points here)
    double t = 0;
    std::exception_ptr pending;   // thrown by a callback, rethrown after CVode returns
    std::string cvodeMessage;     // last error CVODE reported through the handler
    RootFunction rootFn;
    std::size_t nRoots = 0;
    OdeStats base;                // counters before the last CVodeReInit
    // Our own Jacobian (JacobianMethod::Auto or analytic); see jacFn.
    bool ownJacobian = false;
    bool analytic = false;
    bool sparse = false;          // KLU on the coloured pattern (OdeOptions::sparseAbove)
    JacobianColouring colouring;
    std::vector<double> savedJ;   // the Jacobian (own or analytic), column-major n×n: Newton setups form M from it
    bool haveSavedJ = false;
    bool reuseNext = false;       // set by reinitialize: the next Jacobian request gets savedJ
    bool refreshNext = false;     // set by refreshJacobian: the next Newton setup evaluates J
    long ownJacRhs = 0;           // RHS evaluations of our difference quotient (CVODE does not count them)
    long jacReuses = 0;
    std::vector<double> increments;

    Impl() = default;
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;
    ~Impl() {
        if (mem != nullptr) CVodeFree(&mem);
        if (linsol != nullptr) SUNLinSolFree(linsol);
        if (matrix != nullptr) SUNMatDestroy(matrix);
        if (constraints != nullptr) N_VDestroy(constraints);
        if (atol != nullptr) N_VDestroy(atol);
        if (y != nullptr) N_VDestroy(y);
        if (ctx != nullptr) SUNContext_Free(&ctx);
    }

    [[nodiscard]] std::string who() const { return fmt::format("ODE system '{}'", system->name()); }

    void check(int flag, const char* what) const {
        if (flag < 0) {
            throw SolverError(fmt::format("{}: CVODE setup failed in {} with {}{}", who(), what, flagName(flag),
                                          cvodeMessage.empty() ? "" : ": " + cvodeMessage));
        }
    }

    std::span<double> data(N_Vector v) const { return {N_VGetArrayPointer(v), n}; }

    // ---- C callbacks: no exception crosses them ----

    static int rhsFn(sunrealtype t, N_Vector yv, N_Vector ydot, void* userData) {
        auto* self = static_cast<Impl*>(userData);
        try {
            const auto out = self->data(ydot);
            self->system->rhs(t, self->data(yv), out);
            for (double v : out) {
                if (!std::isfinite(v)) return 1;  // recoverable: CVODE retries with a smaller step
            }
            return 0;
        } catch (...) {
            self->pending = std::current_exception();
            return -1;
        }
    }

    // CVODE's linear-system function (CVodeSetLinSysFn) for our own Jacobian: keeps J in `savedJ`
    // (re-evaluated when CVODE says it is stale, reused otherwise) and hands J and γ to NewtonLu,
    // which forms only the parts of M = I − γJ its solve needs. Why not CVODE's default: it copies
    // the saved J into M and scales all n² entries at every Newton setup (about every other step
    // after a dose), more work than the block factorisation itself.
    static int linsysFn(sunrealtype t, N_Vector yv, N_Vector fy, SUNMatrix /*A*/, sunbooleantype jok, sunbooleantype* jcur, sunrealtype gamma,
                        void* userData, N_Vector tmp1, N_Vector tmp2, N_Vector tmp3) {
        auto* self = static_cast<Impl*>(userData);
        try {
            *jcur = SUNFALSE;
            if (!jok || !self->haveSavedJ || self->refreshNext) {
                if (self->reuseNext && self->haveSavedJ && !self->refreshNext) {
                    ++self->jacReuses;  // the first setup after reinitialize(): the last Jacobian
                } else {
                    const int r = self->evaluateJacobian(t, yv, fy, tmp1, tmp2, tmp3);
                    if (r != 0) return r;
                    self->haveSavedJ = true;
                    self->lu.lu.jacobianChanged();
                    *jcur = SUNTRUE;
                }
                self->reuseNext = false;
                self->refreshNext = false;
            }
            self->lu.jacobian = self->savedJ.data();
            self->lu.gamma = gamma;
            return 0;
        } catch (...) {
            self->pending = std::current_exception();
            return -1;
        }
    }

    // Increments as CVODE's dense difference quotient (cvLsDenseDQJac): σ_j =
    // max(√u·|y_j|, minInc/w_j), minInc from the weighted norm of f and the step size.
    int computeIncrements(N_Vector yv, N_Vector fy, N_Vector ewt) {
        if (CVodeGetErrWeights(mem, ewt) != CV_SUCCESS) return -1;
        sunrealtype h = 0;
        CVodeGetCurrentStep(mem, &h);
        const double uround = std::numeric_limits<double>::epsilon();
        const double srur = std::sqrt(uround);
        const double fnorm = N_VWrmsNorm(fy, ewt);
        const double minInc = fnorm != 0 ? 1000.0 * std::abs(h) * uround * static_cast<double>(n) * fnorm : 1.0;
        const auto yNow = data(yv);
        const auto w = data(ewt);
        const double* c = constraints != nullptr ? N_VGetArrayPointer(constraints) : nullptr;
        for (std::size_t j = 0; j < n; ++j) {
            double inc = std::max(srur * std::abs(yNow[j]), minInc / w[j]);
            // Like CVODE: perturb away from a constraint boundary (states declared ≥ 0).
            if (c != nullptr && c[j] == 1.0 && yNow[j] + inc < 0) inc = -inc;
            increments[j] = inc;
        }
        return 0;
    }

    // The sparse path's Jacobian (CVodeSetJacFn with SUNDIALS' KLU): the coloured difference
    // quotient into the CSC matrix CVODE passes (its pattern rewritten: SUNMatZero clears it).
    static int sparseJacFn(sunrealtype tNow, N_Vector yv, N_Vector fy, SUNMatrix J, void* userData, N_Vector tmp1, N_Vector tmp2,
                           N_Vector tmp3) {
        auto* self = static_cast<Impl*>(userData);
        try {
            if (self->computeIncrements(yv, fy, tmp1) != 0) return -1;
            const auto& start = self->colouring.cscColumnStart();
            const auto& rows = self->colouring.cscRowIndex();
            sunindextype* cp = SUNSparseMatrix_IndexPointers(J);
            sunindextype* ri = SUNSparseMatrix_IndexValues(J);
            for (std::size_t k = 0; k < start.size(); ++k) cp[k] = static_cast<sunindextype>(start[k]);
            for (std::size_t k = 0; k < rows.size(); ++k) ri[k] = static_cast<sunindextype>(rows[k]);
            self->ownJacRhs += static_cast<long>(self->colouring.colours());
            const JacobianScope scope(*self->system);
            const std::span<double> values(SUNSparseMatrix_Data(J), rows.size());
            if (!self->colouring.differenceQuotientCsc(*self->system, tNow, self->data(yv), self->data(fy), self->increments, values,
                                                       self->data(tmp2), self->data(tmp3)))
                return 1;
            return 0;
        } catch (...) {
            self->pending = std::current_exception();
            return -1;
        }
    }

    // J = ∂f/∂y at (t, y) into savedJ: the system's analytic one, or the (coloured) difference quotient.
    int evaluateJacobian(sunrealtype tNow, N_Vector yv, N_Vector fy, N_Vector tmp1, N_Vector tmp2, N_Vector tmp3) {
        double* jd = savedJ.data();
        if (analytic) {
            std::fill(savedJ.begin(), savedJ.end(), 0.0);
            system->jacobian(tNow, data(yv), data(fy), JacobianView(jd, n));
            return 0;
        }
        if (computeIncrements(yv, fy, tmp1) != 0) return -1;
        ownJacRhs += static_cast<long>(colouring.colours());
        const JacobianScope scope(*system);
        if (!colouring.differenceQuotient(*system, tNow, data(yv), data(fy), increments, std::span<double>(jd, n * n), data(tmp2), data(tmp3)))
            return 1;  // recoverable, as a non-finite RHS value is for CVODE
        return 0;
    }

    static int weightFn(N_Vector yv, N_Vector ewt, void* userData) {
        auto* self = static_cast<Impl*>(userData);
        const auto y = self->data(yv);
        const auto w = self->data(ewt);
        const auto& o = self->options;
        for (std::size_t i = 0; i < self->n; ++i) {
            const double tol = o.rtolPerState[i] * std::abs(y[i]) + (o.atolPerState.empty() ? o.atol : o.atolPerState[i]);
            if (!(tol > 0)) return -1;  // as CVODE: a zero tolerance for a zero state has no weight
            w[i] = 1.0 / tol;
        }
        return 0;
    }

    static int rootFnC(sunrealtype t, N_Vector yv, sunrealtype* gout, void* userData) {
        auto* self = static_cast<Impl*>(userData);
        try {
            self->rootFn(t, self->data(yv), std::span<double>(gout, self->nRoots));
            return 0;
        } catch (...) {
            self->pending = std::current_exception();
            return -1;
        }
    }

    static void errFn(int code, const char* /*module*/, const char* function, char* msg, void* userData) {
        auto* self = static_cast<Impl*>(userData);
        if (code < 0) self->cvodeMessage = fmt::format("{}: {}", function != nullptr ? function : "CVODE", msg != nullptr ? msg : "");
    }

    [[nodiscard]] OdeStats current() const {
        OdeStats s;
        long nfe = 0, nfeLs = 0;
        CVodeGetNumSteps(mem, &s.steps);
        CVodeGetNumRhsEvals(mem, &nfe);
        CVodeGetNumLinRhsEvals(mem, &nfeLs);
        s.rhsEvals = nfe + nfeLs;
        s.rhsEvalsForJacobian = nfeLs;
        CVodeGetNumJacEvals(mem, &s.jacobianEvals);  // those the linear-system function made (not reuses)
        CVodeGetNumErrTestFails(mem, &s.errorTestFailures);
        CVodeGetNumNonlinSolvIters(mem, &s.nonlinearIterations);
        CVodeGetNumNonlinSolvConvFails(mem, &s.nonlinearConvergenceFailures);
        if (nRoots > 0) CVodeGetNumGEvals(mem, &s.rootEvals);
        return s;
    }

    // The failure message: flag, time, CVODE's own text, and the states to look at.
    [[nodiscard]] std::string failure(int flag, double tReached, double target) const {
        const auto yv = data(y);
        std::vector<std::size_t> idx(n);
        std::iota(idx.begin(), idx.end(), std::size_t{0});
        auto list = [&](std::vector<std::size_t> order, auto keep, std::size_t most) {
            std::string s;
            std::size_t shown = 0;
            for (std::size_t i : order) {
                if (shown == most || !keep(i)) break;
                s += fmt::format("{}{} = {:.6g}", shown == 0 ? "" : ", ", system->stateName(i), yv[i]);
                ++shown;
            }
            return s;
        };
        auto byMagnitude = idx;
        std::stable_sort(byMagnitude.begin(), byMagnitude.end(), [&](std::size_t a, std::size_t b) {
            const double ma = std::isfinite(yv[a]) ? std::abs(yv[a]) : HUGE_VAL;
            const double mb = std::isfinite(yv[b]) ? std::abs(yv[b]) : HUGE_VAL;
            return ma > mb;
        });
        auto byValue = idx;
        std::stable_sort(byValue.begin(), byValue.end(), [&](std::size_t a, std::size_t b) { return yv[a] < yv[b]; });
        std::string msg = fmt::format("{}: CVODE failed with {} at t = {:.9g} (integrating to t = {:.9g})", who(), flagName(flag),
                                      tReached, target);
        if (!cvodeMessage.empty()) msg += " [" + cvodeMessage + "]";
        if (n > 0) msg += "; largest |y|: " + list(byMagnitude, [](std::size_t) { return true; }, 3);
        const std::string neg = list(byValue, [&](std::size_t i) { return yv[i] < 0 || std::isnan(yv[i]); }, 3);
        if (!neg.empty()) msg += "; most negative: " + neg;
        // States that dominate the weighted local error estimate. CVODE's estimate is tq[2]·acor of
        // the last step attempt: both are allocated but never written until a step is attempted,
        // and the estimate means something only for a failure in a step (error test, convergence,
        // too much work or accuracy). Otherwise (a failing first RHS, an RHS or setup error) they
        // are uninitialised memory (valgrind showed it printed as numbers): say "n/a" instead.
        const OdeStats sofar = current();
        const long attempts = base.steps + sofar.steps + base.errorTestFailures + sofar.errorTestFailures +
                              base.nonlinearConvergenceFailures + sofar.nonlinearConvergenceFailures;
        const bool stepFailure = flag == CV_ERR_FAILURE || flag == CV_CONV_FAILURE || flag == CV_TOO_MUCH_WORK || flag == CV_TOO_MUCH_ACC;
        std::string s;
        if (stepFailure && attempts > 0) {
            N_Vector w = N_VClone(y);
            N_Vector e = N_VClone(y);
            if (w != nullptr && e != nullptr && CVodeGetErrWeights(mem, w) == CV_SUCCESS && CVodeGetEstLocalErrors(mem, e) == CV_SUCCESS) {
                const auto wv = data(w);
                const auto ev = data(e);
                // Non-finite contributions sort first (they are the ones to look at) and print as such.
                auto weighted = [&](std::size_t i) {
                    const double c = std::abs(wv[i] * ev[i]);
                    return std::isnan(c) ? HUGE_VAL : c;
                };
                auto byError = idx;
                std::stable_sort(byError.begin(), byError.end(), [&](std::size_t a, std::size_t b) { return weighted(a) > weighted(b); });
                for (std::size_t k = 0; k < std::min<std::size_t>(3, n); ++k) {
                    const std::size_t i = byError[k];
                    const double contribution = weighted(i);
                    if (!(contribution > 0)) break;
                    s += fmt::format("{}{} ({:.3g})", k == 0 ? "" : ", ", system->stateName(i), contribution);
                }
            }
            if (w != nullptr) N_VDestroy(w);
            if (e != nullptr) N_VDestroy(e);
            if (s.empty()) s = "none (every state's estimate is 0)";
        } else {
            s = attempts > 0 ? "n/a (CVODE estimates it only for a failed step)" : "n/a (no step was attempted)";
        }
        msg += "; largest weighted local error: " + s;
        return msg;
    }

    // Rethrows a callback's exception: nkscape errors unchanged, anything else wrapped.
    [[noreturn]] void rethrowPending(double tReached) {
        std::exception_ptr p = std::exchange(pending, nullptr);
        try {
            std::rethrow_exception(p);
        } catch (const Error&) {
            throw;
        } catch (const std::exception& ex) {
            throw SolverError(fmt::format("{}: a callback threw at t = {:.9g}: {}", who(), tReached, ex.what()));
        } catch (...) {
            throw SolverError(fmt::format("{}: a callback threw a non-standard exception at t = {:.9g}", who(), tReached));
        }
    }
};

OdeSolver::OdeSolver(OdeSystem& system, double t0, std::span<const double> y0, const OdeOptions& options)
    : impl_(std::make_unique<Impl>()) {
    Impl& im = *impl_;
    im.system = &system;
    im.n = system.size();
    im.options = options;
    im.t = t0;
    const std::string who = im.who();
    if (y0.size() != im.n) {
        throw InputError(fmt::format("{}: initial state has {} values, the system has {} states", who, y0.size(), im.n));
    }
    if (im.n == 0) throw InputError(who + ": the system has no states");
    if (!(options.rtol > 0) || !std::isfinite(options.rtol)) throw InputError(fmt::format("{}: rtol must be > 0, got {}", who, options.rtol));
    if (!options.atolPerState.empty() && options.atolPerState.size() != im.n) {
        throw InputError(fmt::format("{}: atolPerState has {} values, the system has {} states", who, options.atolPerState.size(), im.n));
    }
    for (std::size_t i = 0; i < options.atolPerState.size(); ++i) {
        if (!(options.atolPerState[i] >= 0) || !std::isfinite(options.atolPerState[i])) {
            throw InputError(fmt::format("{}: atol of state {} must be ≥ 0, got {}", who, system.stateName(i), options.atolPerState[i]));
        }
    }
    if (!options.rtolPerState.empty() && options.rtolPerState.size() != im.n) {
        throw InputError(fmt::format("{}: rtolPerState has {} values, the system has {} states", who, options.rtolPerState.size(), im.n));
    }
    for (std::size_t i = 0; i < options.rtolPerState.size(); ++i) {
        if (!(options.rtolPerState[i] > 0) || !std::isfinite(options.rtolPerState[i])) {
            throw InputError(fmt::format("{}: rtol of state {} must be > 0, got {}", who, system.stateName(i), options.rtolPerState[i]));
        }
    }
    if (options.atolPerState.empty() && (!(options.atol >= 0) || !std::isfinite(options.atol))) {
        throw InputError(fmt::format("{}: atol must be ≥ 0, got {}", who, options.atol));
    }
    if (options.maxSteps <= 0) throw InputError(fmt::format("{}: maxSteps must be > 0, got {}", who, options.maxSteps));
    if (!(options.maxStep >= 0)) throw InputError(fmt::format("{}: maxStep must be ≥ 0, got {}", who, options.maxStep));
    if (!(options.initialStep >= 0)) throw InputError(fmt::format("{}: initialStep must be ≥ 0, got {}", who, options.initialStep));
    if (options.jacobianMaxAge < 1) throw InputError(fmt::format("{}: jacobianMaxAge must be >= 1, got {}", who, options.jacobianMaxAge));
    if (!(options.keepStepBelowGrowth > 1) || !std::isfinite(options.keepStepBelowGrowth))
        throw InputError(fmt::format("{}: keepStepBelowGrowth must be > 1, got {}", who, options.keepStepBelowGrowth));
    if (options.maxOrder < 1 || options.maxOrder > 5) throw InputError(fmt::format("{}: maxOrder must be 1..5, got {}", who, options.maxOrder));
    for (std::size_t i = 0; i < im.n; ++i) {
        if (!std::isfinite(y0[i])) throw InputError(fmt::format("{}: initial value of {} is {}", who, system.stateName(i), y0[i]));
    }

    if (SUNContext_Create(nullptr, &im.ctx) != 0) throw SolverError(who + ": SUNContext_Create failed");
    const auto len = static_cast<sunindextype>(im.n);
    im.y = N_VNew_Serial(len, im.ctx);
    if (im.y == nullptr) throw SolverError(who + ": cannot allocate the state vector");
    std::copy(y0.begin(), y0.end(), N_VGetArrayPointer(im.y));
    if (options.fastVectorOps) installVectorOps(im.y);
    im.mem = CVodeCreate(CV_BDF, im.ctx);
    if (im.mem == nullptr) throw SolverError(who + ": CVodeCreate failed");
    im.check(CVodeSetErrHandlerFn(im.mem, &Impl::errFn, &im), "CVodeSetErrHandlerFn");
    im.check(CVodeInit(im.mem, &Impl::rhsFn, t0, im.y), "CVodeInit");
    im.check(CVodeSetUserData(im.mem, &im), "CVodeSetUserData");
    if (options.atolPerState.empty()) {
        im.check(CVodeSStolerances(im.mem, options.rtol, options.atol), "CVodeSStolerances");
    } else {
        im.atol = N_VNew_Serial(len, im.ctx);
        if (im.atol == nullptr) throw SolverError(who + ": cannot allocate the tolerance vector");
        std::copy(options.atolPerState.begin(), options.atolPerState.end(), N_VGetArrayPointer(im.atol));
        im.check(CVodeSVtolerances(im.mem, options.rtol, im.atol), "CVodeSVtolerances");
    }
    if (!options.rtolPerState.empty()) {
        // CVODE has one relative tolerance; per-state ones go through an error-weight function,
        // w_i = 1 / (rtol_i·|y_i| + atol_i), the weights CVODE itself would form.
        im.check(CVodeWFtolerances(im.mem, &Impl::weightFn), "CVodeWFtolerances");
    }
    im.analytic = system.hasJacobian();
    im.ownJacobian = im.analytic || options.jacobian == JacobianMethod::Auto;
    if (im.ownJacobian && !im.analytic) im.colouring = JacobianColouring::fromSparsity(im.n, system.jacobianSparsity());
    im.sparse = im.ownJacobian && !im.analytic && im.n > options.sparseAbove;
    if (im.sparse) {
        // SUNDIALS' KLU on the coloured Jacobian's pattern; CVODE forms I − γJ itself.
        const auto nnz = static_cast<sunindextype>(im.colouring.cscRowIndex().size());
        im.matrix = SUNSparseMatrix(len, len, nnz, CSC_MAT, im.ctx);
        if (im.matrix == nullptr) throw SolverError(who + ": cannot allocate the sparse matrix");
        im.linsol = SUNLinSol_KLU(im.y, im.matrix, im.ctx);
        if (im.linsol == nullptr) throw SolverError(who + ": cannot create the sparse (KLU) linear solver");
        im.check(CVodeSetLinearSolver(im.mem, im.linsol, im.matrix), "CVodeSetLinearSolver");
        im.increments.assign(im.n, 0.0);
        im.check(CVodeSetJacFn(im.mem, &Impl::sparseJacFn), "CVodeSetJacFn");
    } else {
        im.matrix = fastDenseMatrix(len, im.ctx);
        if (im.matrix == nullptr) throw SolverError(who + ": cannot allocate the dense matrix");
        im.linsol = SUNLinSolNewEmpty(im.ctx);
        if (im.linsol == nullptr) throw SolverError(who + ": cannot create the dense linear solver");
        im.linsol->content = &im.lu;
        im.linsol->ops->gettype = &luType;
        im.linsol->ops->getid = &luId;
        im.linsol->ops->initialize = &luInitialize;
        im.linsol->ops->setup = &luSetup;
        im.linsol->ops->solve = &luSolve;
        im.linsol->ops->lastflag = &luLastFlag;
        im.linsol->ops->free = &luFree;
        im.check(CVodeSetLinearSolver(im.mem, im.linsol, im.matrix), "CVodeSetLinearSolver");
        if (im.ownJacobian) {
            im.increments.assign(im.n, 0.0);
            im.savedJ.assign(im.n * im.n, 0.0);
            im.check(CVodeSetLinSysFn(im.mem, &Impl::linsysFn), "CVodeSetLinSysFn");
        }
        // The block path needs a Jacobian whose zeros the sparsity guarantees: our coloured one.
        im.lu.lu = NewtonLu(im.n, im.ownJacobian && !im.analytic && options.blockNewtonSolve ? im.colouring.diagonalColumns() : std::vector<std::size_t>{});
    }
    im.check(CVodeSetMaxNumSteps(im.mem, options.maxSteps), "CVodeSetMaxNumSteps");
    im.check(CVodeSetMaxOrd(im.mem, options.maxOrder), "CVodeSetMaxOrd");
    im.check(CVodeSetMaxHnilWarns(im.mem, -1), "CVodeSetMaxHnilWarns");
    im.check(CVodeSetEtaFixedStepBounds(im.mem, 0.0, options.keepStepBelowGrowth), "CVodeSetEtaFixedStepBounds");
    if (im.ownJacobian) im.check(CVodeSetJacEvalFrequency(im.mem, options.jacobianMaxAge), "CVodeSetJacEvalFrequency");
    if (options.maxStep > 0) im.check(CVodeSetMaxStep(im.mem, options.maxStep), "CVodeSetMaxStep");
    if (options.initialStep > 0) im.check(CVodeSetInitStep(im.mem, options.initialStep), "CVodeSetInitStep");
    bool anyConstraint = false;
    for (std::size_t i = 0; i < im.n; ++i) anyConstraint = anyConstraint || system.nonNegative(i);
    if (anyConstraint) {
        im.constraints = N_VNew_Serial(len, im.ctx);
        if (im.constraints == nullptr) throw SolverError(who + ": cannot allocate the constraint vector");
        const auto c = im.data(im.constraints);
        for (std::size_t i = 0; i < im.n; ++i) {
            c[i] = system.nonNegative(i) ? 1.0 : 0.0;  // 1: y_i ≥ 0
            if (c[i] > 0 && y0[i] < 0) {
                throw InputError(fmt::format("{}: state {} is declared non-negative but starts at {}", who, system.stateName(i), y0[i]));
            }
        }
        im.check(CVodeSetConstraints(im.mem, im.constraints), "CVodeSetConstraints");
    }
}

OdeSolver::~OdeSolver() = default;
OdeSolver::OdeSolver(OdeSolver&&) noexcept = default;
OdeSolver& OdeSolver::operator=(OdeSolver&&) noexcept = default;

AdvanceResult OdeSolver::advanceTo(double t) { return advanceTo(t, t); }

AdvanceResult OdeSolver::advanceTo(double t, double stopAt) {
    Impl& im = *impl_;
    AdvanceResult result;
    if (!std::isfinite(t)) throw SolverError(fmt::format("{}: target time {} is not finite", im.who(), t));
    if (!(stopAt >= t))
        throw SolverError(fmt::format("{}: stop time {:.9g} is before the target time {:.9g}", im.who(), stopAt, t));
    if (t < im.t) {
        throw SolverError(fmt::format("{}: cannot integrate backwards from t = {:.9g} to t = {:.9g}", im.who(), im.t, t));
    }
    result.t = im.t;
    if (t == im.t) return result;
    sunrealtype tn = im.t;
    CVodeGetCurrentTime(im.mem, &tn);
    // After a root return CVODE's internal time may be ahead of im.t; a target behind it is
    // interpolated, and a stop time behind it would be rejected.
    if (stopAt >= tn) im.check(CVodeSetStopTime(im.mem, stopAt), "CVodeSetStopTime");
    im.pending = nullptr;
    im.cvodeMessage.clear();
    sunrealtype tret = im.t;
    const int flag = CVode(im.mem, t, im.y, &tret, CV_NORMAL);
    if (im.pending) im.rethrowPending(tret);
    if (flag == CV_TOO_CLOSE) {
        // The target is within round-off of the start time: nothing to integrate.
        im.t = t;
        result.t = t;
        return result;
    }
    if (flag < 0) throw SolverError(im.failure(flag, tret, t));
    im.t = (flag == CV_ROOT_RETURN) ? tret : t;
    result.t = im.t;
    if (flag == CV_ROOT_RETURN) {
        result.rootFound = true;
        result.roots.assign(im.nRoots, 0);
        im.check(CVodeGetRootInfo(im.mem, result.roots.data()), "CVodeGetRootInfo");
    }
    return result;
}

void OdeSolver::reinitialize(double t, std::span<const double> y, bool sameEquations) {
    Impl& im = *impl_;
    if (y.size() != im.n) {
        throw InputError(fmt::format("{}: reinitialize got {} values, the system has {} states", im.who(), y.size(), im.n));
    }
    for (std::size_t i = 0; i < im.n; ++i) {
        if (!std::isfinite(y[i])) throw InputError(fmt::format("{}: reinitialize: {} is {}", im.who(), im.system->stateName(i), y[i]));
        if (im.constraints != nullptr && im.system->nonNegative(i) && y[i] < 0) {
            throw InputError(fmt::format("{}: reinitialize: non-negative state {} set to {}", im.who(), im.system->stateName(i), y[i]));
        }
    }
    const OdeStats now = im.current();
    im.base.steps += now.steps;
    im.base.rhsEvals += now.rhsEvals;
    im.base.rhsEvalsForJacobian += now.rhsEvalsForJacobian;
    im.base.jacobianEvals += now.jacobianEvals;
    im.base.errorTestFailures += now.errorTestFailures;
    im.base.nonlinearIterations += now.nonlinearIterations;
    im.base.nonlinearConvergenceFailures += now.nonlinearConvergenceFailures;
    im.base.rootEvals += now.rootEvals;
    std::copy(y.begin(), y.end(), N_VGetArrayPointer(im.y));
    im.check(CVodeReInit(im.mem, t, im.y), "CVodeReInit");
    im.reuseNext = sameEquations && im.ownJacobian && im.options.reuseJacobianAfterReinit && im.haveSavedJ;
    im.t = t;
}

void OdeSolver::refreshJacobian() noexcept { impl_->refreshNext = true; }

void OdeSolver::setMaxSteps(long steps) {
    if (steps <= 0) throw InputError(fmt::format("{}: maxSteps must be > 0, got {}", impl_->who(), steps));
    impl_->check(CVodeSetMaxNumSteps(impl_->mem, steps), "CVodeSetMaxNumSteps");
}

void OdeSolver::setRoots(std::size_t n, RootFunction g) {
    Impl& im = *impl_;
    if (n == 0 || !g) {
        im.check(CVodeRootInit(im.mem, 0, nullptr), "CVodeRootInit");
        im.rootFn = nullptr;
        im.nRoots = 0;
        return;
    }
    im.rootFn = std::move(g);
    im.nRoots = n;
    im.check(CVodeRootInit(im.mem, static_cast<int>(n), &Impl::rootFnC), "CVodeRootInit");
}

double OdeSolver::time() const noexcept { return impl_->t; }

std::span<const double> OdeSolver::state() const noexcept { return impl_->data(impl_->y); }

std::size_t OdeSolver::size() const noexcept { return impl_->n; }

OdeStats OdeSolver::stats() const {
    OdeStats s = impl_->current();
    const OdeStats& b = impl_->base;
    s.steps += b.steps;
    s.rhsEvals += b.rhsEvals;
    s.rhsEvalsForJacobian += b.rhsEvalsForJacobian;
    s.jacobianEvals += b.jacobianEvals;
    s.errorTestFailures += b.errorTestFailures;
    s.nonlinearIterations += b.nonlinearIterations;
    s.nonlinearConvergenceFailures += b.nonlinearConvergenceFailures;
    s.rootEvals += b.rootEvals;
    s.rhsEvals += impl_->ownJacRhs;
    s.rhsEvalsForJacobian += impl_->ownJacRhs;
    // (CVODE counts a Jacobian evaluation where the linear-system function says it made one; reuses are not.)
    s.jacobianReuses = impl_->jacReuses;
    return s;
}

bool OdeSolver::usesSparseSolver() const noexcept { return impl_->sparse; }

std::size_t OdeSolver::jacobianColours() const noexcept {
    return impl_->ownJacobian && !impl_->analytic ? impl_->colouring.colours() : 0;
}

}  // namespace nkscape::qsp
