#pragma once
/// \file
/// A small RAII wrapper over SUNDIALS CVODE for the well-mixed (QSP) engine: BDF with a Newton
/// iteration and a dense direct linear solver; the Jacobian is a difference quotient (coloured by
/// the system's sparsity pattern if it gives one, and reused across a reinitialize()) unless the
/// system supplies an analytic one. The solver integrates exactly to each requested time
/// (CV_NORMAL with the stop time set to the target, so it never steps past a dose), can be
/// re-initialised after a discontinuity, locates roots of user functions, keeps states declared
/// non-negative at or above zero (CVodeSetConstraints), and reports every failure as a
/// qsp::SolverError that names the system, the CVODE flag, the time reached and the offending
/// states. See docs/qsp.md, "ODE solver".
///
/// Time and state units are those of the system (the QSP engine uses days); nothing here assumes
/// a unit.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "nkscape/error.hpp"

namespace nkscape::qsp {

/// CVODE failed (convergence, error-test or step-limit failure, or an RHS/Jacobian/root callback
/// that signalled a non-recoverable error without throwing). The message names the system, the
/// CVODE flag (e.g. CV_CONV_FAILURE), the time reached and the largest-magnitude and most negative
/// states by name.
class SolverError : public Error {
public:
    using Error::Error;
};

/// A dense Jacobian to be filled by OdeSystem::jacobian: J(i, j) = ∂f_i/∂y_j, in (state unit of i)
/// per (state unit of j) per time unit. Zeroed before each call. A view over CVODE's column-major
/// storage; valid only during the call.
class JacobianView {
public:
    JacobianView(double* columnMajor, std::size_t n) noexcept : data_(columnMajor), n_(n) {}
    /// Entry (row i, column j); no bounds check in release builds.
    [[nodiscard]] double& operator()(std::size_t i, std::size_t j) noexcept { return data_[j * n_ + i]; }
    /// Number of rows (= columns = states).
    [[nodiscard]] std::size_t size() const noexcept { return n_; }

private:
    double* data_;
    std::size_t n_;
};

/// The right-hand side dy/dt = f(t, y) of an ODE system. Implementations may throw any exception
/// from rhs/jacobian: the solver catches it at the C boundary and rethrows it from advanceTo
/// (an nkscape::Error unchanged, anything else wrapped in a SolverError naming the system).
class OdeSystem {
public:
    virtual ~OdeSystem() = default;

    /// Number of states (constant over the system's life).
    [[nodiscard]] virtual std::size_t size() const = 0;
    /// dydt = f(t, y). `t` in the system's time unit, `y` and `dydt` of length size() in each
    /// state's unit (and unit per time unit). A non-finite dydt makes CVODE retry with a smaller
    /// step (a recoverable error); repeated, it fails with CV_REPTD_RHSFUNC_ERR.
    virtual void rhs(double t, std::span<const double> y, std::span<double> dydt) = 0;
    /// Whether jacobian() is implemented; if false (the default) CVODE's difference-quotient
    /// dense Jacobian is used.
    [[nodiscard]] virtual bool hasJacobian() const { return false; }
    /// Fills the dense Jacobian J = ∂f/∂y at (t, y); `f` is f(t, y), already computed. J is zeroed
    /// on entry. Only called when hasJacobian() is true; the default throws NotImplementedError.
    virtual void jacobian(double t, std::span<const double> y, std::span<const double> f, JacobianView J);
    /// Which states each equation reads, for a coloured difference-quotient Jacobian: entry i
    /// lists the states j with ∂f_i/∂y_j possibly non-zero (any order; the diagonal is added
    /// anyway). States that no equation reads together are then perturbed in one RHS evaluation,
    /// so a Jacobian costs as many RHS evaluations as there are colours instead of size(). Empty
    /// (the default) means dense. An entry left out makes the Jacobian inexact there: Newton then
    /// converges more slowly (or CVODE shrinks the step), the solution is still error-controlled.
    /// Called once, when the solver is constructed. Ignored when hasJacobian() is true.
    [[nodiscard]] virtual std::vector<std::vector<std::size_t>> jacobianSparsity() const { return {}; }
    /// Called with true before, and false after, the rhs() calls of a difference-quotient
    /// Jacobian (the solver's own; not CVODE's internal one, not analytic Jacobians). A system may
    /// reuse expensive quantities inside the scope, making the Jacobian inexact but cheap: Newton
    /// then converges more slowly at worst; the solution stays error-controlled. Default: nothing.
    virtual void jacobianScope(bool /*entering*/) {}
    /// A readable name of state i, used in error messages ("trastuzumab.central"); defaults to
    /// "y[i]".
    [[nodiscard]] virtual std::string stateName(std::size_t i) const;
    /// Whether state i must stay ≥ 0 (amounts, concentrations, cell numbers). Declared
    /// non-negative states are constrained through CVodeSetConstraints: a step that would make
    /// one negative is rejected and retried smaller. Defaults to false.
    [[nodiscard]] virtual bool nonNegative(std::size_t i) const;
    /// A name for the whole system, used in error messages ("ODE system '<name>'"); defaults to
    /// "unnamed".
    [[nodiscard]] virtual std::string name() const { return "unnamed"; }
};

/// How the solver gets the Jacobian when the system has no analytic one.
enum class JacobianMethod {
    /// nkscape's own difference quotient (the same increments as CVODE's), coloured by
    /// OdeSystem::jacobianSparsity() when the system gives one, dense otherwise; and the Jacobian of
    /// before a reinitialize() is offered to the first Newton setup after it (see
    /// OdeOptions::reuseJacobianAfterReinit).
    Auto,
    /// CVODE's internal dense difference quotient (the behaviour before the Jacobian hooks; kept
    /// for comparison). No colouring, no reuse across reinitialize().
    CvodeDifferenceQuotient,
};

/// Groups of states ("colours") that a difference-quotient Jacobian can perturb together because no
/// equation reads two states of one group. Built once per system.
class JacobianColouring {
public:
    /// One group per state: the plain dense difference quotient.
    [[nodiscard]] static JacobianColouring dense(std::size_t n);
    /// From per-equation dependencies (OdeSystem::jacobianSparsity()), greedy colouring in state
    /// order; an empty `rows` gives dense(n).
    /// \throws InputError if `rows` has neither 0 nor n entries or names a state ≥ n.
    [[nodiscard]] static JacobianColouring fromSparsity(std::size_t n, const std::vector<std::vector<std::size_t>>& rows);

    /// Number of states.
    [[nodiscard]] std::size_t size() const noexcept { return rowsOfColumn_.size(); }
    /// Number of groups = RHS evaluations per Jacobian.
    [[nodiscard]] std::size_t colours() const noexcept { return groups_.size(); }
    /// The states whose Jacobian column is the diagonal alone (no other equation reads them), in
    /// increasing order; empty for dense(). NewtonLu eliminates them without factorising.
    [[nodiscard]] std::vector<std::size_t> diagonalColumns() const;
    /// The states of group g.
    [[nodiscard]] const std::vector<std::size_t>& group(std::size_t g) const { return groups_.at(g); }

    /// Forward-difference Jacobian J(i, j) = (f_i(y + inc_j e_j) − f_i(y)) / inc_j, one RHS
    /// evaluation per colour. `f` = f(t, y); `increments` one per state (state units, ≠ 0); `J`
    /// column-major size()², overwritten (entries outside the pattern set to 0); `yWork` and
    /// `fWork` scratch of size(). Returns false (J incomplete) if an RHS value was not finite.
    /// Exceptions from the system's rhs propagate.
    bool differenceQuotient(OdeSystem& system, double t, std::span<const double> y, std::span<const double> f,
                            std::span<const double> increments, std::span<double> J, std::span<double> yWork,
                            std::span<double> fWork) const;
    /// The Jacobian's pattern in compressed sparse columns, the diagonal always included (the
    /// Newton matrix I − γJ has it): column j's rows are cscRowIndex()[cscColumnStart()[j] …
    /// cscColumnStart()[j+1]), increasing. Dense: every entry.
    [[nodiscard]] const std::vector<std::int64_t>& cscColumnStart() const noexcept { return cscStart_; }
    [[nodiscard]] const std::vector<std::int64_t>& cscRowIndex() const noexcept { return cscRows_; }
    /// differenceQuotient() into the values of that pattern (in its order): no n² storage.
    bool differenceQuotientCsc(OdeSystem& system, double t, std::span<const double> y, std::span<const double> f,
                               std::span<const double> increments, std::span<double> values, std::span<double> yWork,
                               std::span<double> fWork) const;

private:
    std::vector<std::vector<std::size_t>> groups_;        // states per colour
    std::vector<std::vector<std::size_t>> rowsOfColumn_;  // per state j: equations i that read it (sorted); empty = all (dense)
    bool dense_ = true;
    std::vector<std::int64_t> cscStart_, cscRows_;        // the pattern in compressed sparse columns
    void buildCsc();
};

/// LU solver for CVODE's Newton matrix M = I − γJ (n×n, column-major). With a set S of
/// "diagonal" states — states whose column of J holds the diagonal alone, such as fast mediators
/// that the other equations read only through frozen set-points — M is block lower-triangular,
/// M = [[M_RR, 0], [M_SR, D]] with D diagonal, and only the rest R is factorised:
/// M_RR x_R = b_R, then x_S = (b_S − M_SR x_R) / D. Why: in the engine S holds most states
/// (the mediators), so a factorisation costs |R|³/3 instead of n³/3 operations and M need not be
/// formed in full, with the same solution up to rounding. Without S (or if a matrix breaks the
/// structure) it is the plain dense LU with partial pivoting, bit-identical to SUNDIALS' dense
/// solver (the oracle that the tests compare the block path against).
///
/// Two ways in: factor(M), the dense LU of a Newton matrix CVODE formed (its own
/// difference-quotient Jacobian, JacobianMethod::CvodeDifferenceQuotient), or factorJacobian(J, γ)
/// from the Jacobian the solver keeps between setups (only the parts the solve needs are formed;
/// the block path is taken here only). On the block path factorJacobian() factorises nothing per γ: J_RR
/// is brought to real Schur form J_RR = Q T Qᵀ (Eigen::RealSchur) once per new Jacobian, and each
/// solve is Qᵀ, a quasi-triangular back substitution with I − γT, and Q. Why: CVODE re-forms
/// I − γJ whenever γ moves by 30 % — most steps while they grow back after a dose — and the
/// per-γ LU was the largest cost outside the RHS. The orthogonal Q keeps the solve backward
/// stable; if the Schur iteration fails the rest block falls back to its LU.
class NewtonLu {
public:
    /// For n×n matrices; `diagonalStates` (each < n, increasing, no repeats) may be empty.
    /// \throws InputError if a state is out of range or the list is not increasing.
    explicit NewtonLu(std::size_t n = 0, std::vector<std::size_t> diagonalStates = {});
    /// Dense LU of the Newton matrix `a` (n×n column-major, overwritten by the factors). Returns 0,
    /// or k + 1 if the pivot of state k is zero (M singular; CVODE then retries with a smaller step).
    std::size_t factor(double* a);
    /// Overwrites `x` (b on entry, length n) with M⁻¹b, using the factors of the last factor(a).
    void solve(const double* a, double* x) const;
    /// Factorises M = I − γ·J for the Jacobian `jacobian` (n×n column-major), which must stay
    /// unchanged until the last solveJacobian() of this factorisation. The block path is taken
    /// when the diagonal states' columns of J hold only their diagonal (checked once per new J:
    /// see jacobianChanged()). Returns as factor().
    std::size_t factorJacobian(const double* jacobian, double gamma);
    /// Overwrites `x` (b on entry) with M⁻¹b for the last factorJacobian().
    void solveJacobian(double* x) const;
    /// Tells the solver that the Jacobian passed to factorJacobian() has new values: the structure
    /// is checked again at the next factorisation.
    void jacobianChanged() noexcept {
        structureChecked_ = false;
        schurValid_ = false;
    }
    /// Whether the last factorisation took the block path (false: dense LU).
    [[nodiscard]] bool lastWasBlock() const noexcept { return block_; }
    [[nodiscard]] std::size_t size() const noexcept { return n_; }

private:
    [[nodiscard]] bool diagonalColumnsHold(const double* a) const;
    std::size_t factorRest(const double* jacobian, double gamma);
    [[nodiscard]] std::size_t checkSchurPivots() const;
    void solveSchur(double* xr) const;

    std::size_t n_ = 0;
    std::vector<std::size_t> diag_, rest_;  // S and R, increasing
    std::vector<std::pair<std::size_t, std::size_t>> diagRuns_;  // S as [begin, end) runs of consecutive states
    std::vector<std::size_t> pivots_;       // dense: n; block: |R|
    std::vector<double> rr_;                // block: the factors of M_RR, |R|² column-major
    std::vector<double> dense_;             // factorJacobian's dense path: the factors of M, n² column-major
    std::vector<double> schurT_, schurQ_;   // block path from J: real Schur form of J_RR, |R|² column-major each
    std::vector<double> schurQt_;           // Qᵀ column-major (Q row-major): Qᵀx as unit-stride updates
    // J_SR's nonzeros by rest column (CSR-like), for the diagonal states' update; and the
    // diagonal states' 1 − γ·J_ss for the current γ.
    std::vector<std::uint32_t> srStart_, srRow_;
    std::vector<double> srVal_, diagDen_;
    mutable std::vector<double> schurW_;    // solve scratch, |R|
    bool schurValid_ = false, schurUsable_ = false;
    mutable std::vector<double> xr_;        // block: x_R scratch
    const double* jacobian_ = nullptr;      // factorJacobian: J and γ for the solves
    double gamma_ = 0;
    bool block_ = false;
    bool structureChecked_ = false, structureHolds_ = false;
};

/// Solver settings. Tolerances are in each state's unit; the error test is
/// |local error_i| ≤ rtol·|y_i| + atol_i (weighted RMS over states ≤ 1).
struct OdeOptions {
    double rtol = 1e-6;                ///< relative tolerance (1), > 0
    double atol = 1e-12;               ///< absolute tolerance for every state, used when atolPerState is empty
    std::vector<double> atolPerState;  ///< one absolute tolerance per state (state units), or empty
    /// One relative tolerance per state (1, each > 0), replacing rtol, or empty. Why: an engine may
    /// hold smooth, well-known inputs (a linear PK compartment whose parameters are uncertain to
    /// tens of percent) to a looser tolerance than the tumour; with one rtol those states set the
    /// step size for the whole system (they do for weekly trastuzumab at rtol 1e-6).
    std::vector<double> rtolPerState;
    long maxSteps = 100000;            ///< most internal steps per advanceTo call (CVODE mxstep)
    double maxStep = 0;                ///< largest step size (time unit); 0 = unlimited
    double initialStep = 0;            ///< first step size (time unit); 0 = CVODE's estimate
    int maxOrder = 5;                  ///< highest BDF order, 1..5
    /// CVODE keeps the step size while the error estimate would allow growing it by less than this
    /// factor (> 1; CVODE's default is 1.5). Why 1.2: after each dose the steps climb from an hour
    /// back to days; with Newton setups made cheap (NewtonLu's block path, no matrix copy) taking
    /// each 20 % of growth costs less than the steps it saves (~11 % fewer in a dosed patient-year).
    double keepStepBelowGrowth = 1.2;
    /// Most steps between Jacobian evaluations (CVODE's msbj; its default is 51), for our own
    /// Jacobian (JacobianMethod::Auto or analytic). CVODE still asks for a fresh one whenever Newton
    /// converges poorly. Why 1000: the engine's Jacobian keeps set-points frozen, an approximation
    /// Newton tolerates for hundreds of steps; re-evaluating it every 51 steps was ~20 % of the RHS
    /// evaluations of a dosed patient-year and saved no Newton iterations.
    long jacobianMaxAge = 1000;
    JacobianMethod jacobian = JacobianMethod::Auto;  ///< used when the system has no analytic Jacobian
    /// Offer the last Jacobian to the first Newton setup after reinitialize() instead of computing a
    /// new one (JacobianMethod::Auto, or an analytic Jacobian). Why: a dose changes a few drug
    /// states; CVODE would spend a full Jacobian (size() RHS evaluations without colouring) at
    /// every restart. Sound: the Jacobian only steers Newton's iteration, and if it converges
    /// poorly CVODE asks again, and then gets a fresh one.
    bool reuseJacobianAfterReinit = true;
    /// Factorise only the non-diagonal part of the Newton matrix when the Jacobian's sparsity has
    /// diagonal-only columns (NewtonLu). false: always the dense LU (for checking one against the
    /// other). Only with JacobianMethod::Auto and a system that gives jacobianSparsity().
    bool blockNewtonSolve = true;
    /// nkscape's own loops for the vector operations CVODE calls most (linear sums, norms, …):
    /// the same operations in the same order as SUNDIALS' serial N_Vector (bit-identical
    /// trajectories), several times faster. false: SUNDIALS' own (for checking one against the other).
    bool fastVectorOps = true;
    /// Above this many states the Newton systems are solved by SUNDIALS' sparse direct solver (KLU)
    /// on the coloured Jacobian's pattern, at or below it by the dense LU (with NewtonLu's block
    /// path). Why: a dense LU costs n³/3 per factorisation and n² memory, cheapest for the engine's
    /// tens of states; a model with many clones or populations has a Jacobian that stays sparse.
    /// Only with JacobianMethod::Auto and no analytic Jacobian (those are dense). 0: always sparse.
    std::size_t sparseAbove = 400;
};

/// Counters accumulated since the solver was constructed (across reinitialize calls).
struct OdeStats {
    long steps = 0;               ///< internal steps taken
    long rhsEvals = 0;            ///< RHS evaluations, including those for the difference-quotient Jacobian
    long rhsEvalsForJacobian = 0; ///< of which for the difference-quotient Jacobian
    long jacobianEvals = 0;       ///< Jacobian evaluations (analytic or difference quotient), not counting reuses
    long jacobianReuses = 0;      ///< Newton setups after reinitialize() that reused the previous Jacobian
    long errorTestFailures = 0;   ///< local error-test failures
    long nonlinearIterations = 0; ///< Newton iterations
    long nonlinearConvergenceFailures = 0;  ///< Newton convergence failures
    long rootEvals = 0;           ///< root-function evaluations
};

/// What advanceTo reached.
struct AdvanceResult {
    double t = 0;            ///< time reached: the target, or the root's time if a root fired first
    bool rootFound = false;  ///< whether a root function crossed zero before the target
    /// Per root function, when rootFound: +1 if it crossed zero rising, -1 falling, 0 not at all.
    std::vector<int> roots;
};

/// Root functions g(t, y): `g` has one entry per function; a sign change of g_k is a root.
using RootFunction = std::function<void(double t, std::span<const double> y, std::span<double> g)>;

/// CVODE (BDF, Newton, dense) integrating one OdeSystem. Owns its SUNContext and every CVODE
/// object; movable, not copyable. The system must outlive the solver.
class OdeSolver {
public:
    /// Starts at time t0 (time unit of the system) in state y0 (length system.size()).
    /// \throws InputError if y0 has the wrong length, a tolerance is not positive or the options
    ///         are out of range (message names the system); SolverError if CVODE refuses to set up.
    OdeSolver(OdeSystem& system, double t0, std::span<const double> y0, const OdeOptions& options = {});
    ~OdeSolver();
    OdeSolver(OdeSolver&&) noexcept;
    OdeSolver& operator=(OdeSolver&&) noexcept;
    OdeSolver(const OdeSolver&) = delete;
    OdeSolver& operator=(const OdeSolver&) = delete;

    /// Integrates from the current time to `t` (≥ current time), never stepping past t, and
    /// returns there — or earlier, at a root, if root functions are set and one crosses zero
    /// (then call advanceTo(t) again to continue). state() is then the solution at result.t.
    /// \throws SolverError on a CVODE failure; rethrows an exception thrown by the system's
    ///         callbacks or a root function.
    AdvanceResult advanceTo(double t);
    /// Integrates to `t` without stepping past `stopAt` (≥ t): the solver may step beyond t, and
    /// state() at t is then CVODE's interpolant of its last step (of that step's order, so within
    /// its local error tolerance). For output times, which need no stop: landing on each one cuts
    /// the step there and the solver must grow it again. Roots as for advanceTo(t).
    /// \throws SolverError if stopAt < t, and as advanceTo(t).
    AdvanceResult advanceTo(double t, double stopAt);

    /// Restarts at time t in state y (length size()), e.g. after a bolus dose changed a state
    /// discontinuously. Keeps the options, root functions and accumulated statistics.
    /// `sameEquations` = false says that the system's equations changed, not only its state (the
    /// engine takes a clone out of the ODE or puts it back): the last Jacobian no longer describes
    /// them, so it is not offered to the first Newton setup (OdeOptions::reuseJacobianAfterReinit).
    /// Why: kept for up to OdeOptions::jacobianMaxAge steps, a Jacobian without a clone's
    /// couplings cost the default scenario ~2.4 times its steps over a year.
    void reinitialize(double t, std::span<const double> y, bool sameEquations = true);

    /// The next Newton setup evaluates a fresh Jacobian instead of reusing the last one (CVODE
    /// sets Newton up at least every 20 steps). For a system whose state has moved far since: the
    /// Jacobian is otherwise kept for up to OdeOptions::jacobianMaxAge steps while Newton still
    /// converges, and one taken when the tumour had 200 cells let an accepted step at 6e8 cells
    /// leave a fast mediator far off its quasi-steady state, which no step size then recovered
    /// from. No effect with JacobianMethod::CvodeDifferenceQuotient.
    void refreshJacobian() noexcept;

    /// Sets n root functions (replacing any); n = 0 or an empty callback removes them.
    void setRoots(std::size_t n, RootFunction g);

    /// Most internal steps of each later advanceTo call (> 0; CVODE's mxstep), replacing
    /// OdeOptions::maxSteps. For a caller that spends a budget of steps over many calls.
    /// \throws InputError if steps ≤ 0.
    void setMaxSteps(long steps);

    /// Current time (time unit of the system).
    [[nodiscard]] double time() const noexcept;
    /// Current state, valid until the next call that changes it.
    [[nodiscard]] std::span<const double> state() const noexcept;
    /// Number of states.
    [[nodiscard]] std::size_t size() const noexcept;
    /// Counters accumulated since construction.
    [[nodiscard]] OdeStats stats() const;
    /// RHS evaluations a difference-quotient Jacobian costs with this system's colouring (size()
    /// when dense; 0 with an analytic Jacobian or JacobianMethod::CvodeDifferenceQuotient: then
    /// CVODE's own count applies, size()).
    [[nodiscard]] std::size_t jacobianColours() const noexcept;
    /// Whether the Newton systems go to the sparse direct solver (KLU; OdeOptions::sparseAbove)
    /// rather than the dense LU.
    [[nodiscard]] bool usesSparseSolver() const noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace nkscape::qsp
