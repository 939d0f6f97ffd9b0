// Pharmacokinetics (linear multi-compartment, absorption depot, QSS TMDD, cell kinetics) and
// dosing regimens. See include/nkscape/qsp/pk.hpp and docs/qsp.md.

#include "nkscape/qsp/pk.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <numbers>
#include <set>
#include <span>
#include <type_traits>
#include <utility>

#include <fmt/format.h>

namespace nkscape::qsp {

namespace {

constexpr double kHoursPerDay = 24.0;

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) s.remove_suffix(1);
    return s;
}

// Leading number of s (decimal or scientific); the rest is returned in `rest`.
std::optional<double> leadingNumber(std::string_view s, std::string_view& rest) {
    s = trim(s);
    double v = 0;
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || ptr == s.data()) return std::nullopt;
    rest = trim(std::string_view(ptr, static_cast<std::size_t>(s.data() + s.size() - ptr)));
    return v;
}

std::string modelKey(model::PkModel m) {
    switch (m) {
        case model::PkModel::None: return "none";
        case model::PkModel::OneCompartment: return "one_compartment";
        case model::PkModel::TwoCompartment: return "two_compartment";
        case model::PkModel::ThreeCompartment: return "three_compartment";
        case model::PkModel::CellKinetics: return "cell_kinetics";
    }
    return "?";
}

// Real roots of λ³ − a·λ² + b·λ − c = 0 (three real roots for a mammillary model), ascending.
std::vector<double> cubicRoots(double a, double b, double c) {
    // Depressed cubic in x = λ − a/3: x³ + p·x + q = 0.
    const double p = b - a * a / 3.0;
    const double q = -2.0 * a * a * a / 27.0 + a * b / 3.0 - c;
    std::vector<double> r;
    if (p < 0) {
        const double m = 2.0 * std::sqrt(-p / 3.0);
        const double arg = std::clamp(3.0 * q / (p * m), -1.0, 1.0);
        const double theta = std::acos(arg) / 3.0;
        for (int k = 0; k < 3; ++k) r.push_back(m * std::cos(theta - 2.0 * std::numbers::pi * k / 3.0) + a / 3.0);
    } else {
        r.assign(3, a / 3.0 + std::cbrt(-q));
    }
    // Polish each root with a few Newton steps on the original polynomial.
    for (double& x : r) {
        for (int it = 0; it < 4; ++it) {
            const double f = ((x - a) * x + b) * x - c;
            const double df = (3.0 * x - 2.0 * a) * x + b;
            if (df == 0) break;
            x -= f / df;
        }
    }
    std::sort(r.begin(), r.end());
    return r;
}

}  // namespace

PkRoute parsePkRoute(std::string_view key) {
    const std::string k = lower(trim(key));
    if (k == "iv_bolus" || k.empty()) return PkRoute::IvBolus;
    if (k == "iv_infusion") return PkRoute::IvInfusion;
    if (k == "subcutaneous") return PkRoute::Subcutaneous;
    if (k == "oral") return PkRoute::Oral;
    if (k == "intratumoural") return PkRoute::Intratumoural;
    if (k == "local") return PkRoute::Local;
    throw InputError(fmt::format("unknown PK route '{}' (expected iv_bolus, iv_infusion, subcutaneous, oral, intratumoural or local)", key));
}

// ---- DrugPk ------------------------------------------------------------------------------------

DrugPk::DrugPk(std::string name, const PkParameters& parameters) : name_(std::move(name)), p_(parameters) {
    const std::string who = fmt::format("therapy '{}' ({})", name_, modelKey(p_.model));
    auto need = [&](double v, const char* key, const char* unit) {
        if (!(v > 0) || !std::isfinite(v)) throw InputError(fmt::format("{}: pk.{} must be > 0 {}, got {}", who, key, unit, v));
    };
    auto nonNeg = [&](double v, const char* key) {
        if (!(v >= 0) || !std::isfinite(v)) throw InputError(fmt::format("{}: pk.{} must be ≥ 0, got {}", who, key, v));
    };
    for (auto [v, key] : {std::pair{p_.clearance, "clearance"}, {p_.halfLife, "half_life"}, {p_.v1, "v1"}, {p_.v2, "v2"},
                          {p_.v3, "v3"}, {p_.q, "q"}, {p_.q2, "q2"}, {p_.ka, "ka"}, {p_.tmddKd, "tmdd_kd"},
                          {p_.tmddKint, "tmdd_kint"}, {p_.molecularWeight, "molecular_weight"}, {p_.expansionRate, "expansion_rate"},
                          {p_.contractionRate, "contraction_rate"}, {p_.persistence, "persistence"}, {p_.mgPerMiu, "MIU conversion"},
                          {p_.tmddSites, "tmdd_sites"}}) {
        nonNeg(v, key);
    }
    if (!(p_.bioavailability > 0 && p_.bioavailability <= 1)) {
        throw InputError(fmt::format("{}: pk.bioavailability must be in (0, 1], got {}", who, p_.bioavailability));
    }
    switch (p_.model) {
        case model::PkModel::None:
            // A local therapy (virus, procedure): one state, its activity in the tumour, set to 1
            // by each administration and lost with time constant pk.persistence.
            if (!(p_.persistence > 0))
                throw InputError(fmt::format("therapy '{}' has no pharmacokinetic model (pk.model = none) and no pk.persistence: "
                                             "it cannot be dosed in the engine",
                                             name_));
            k10_ = 1.0 / p_.persistence;
            central_ = 0;
            nStates_ = 1;
            doseState_ = central_;
            return;
        case model::PkModel::CellKinetics: {
            if (p_.halfLife > 0) {
                k10_ = std::numbers::ln2 / (p_.halfLife / kHoursPerDay);
            } else if (p_.persistence > 0) {
                k10_ = 1.0 / p_.persistence;
            } else {
                throw InputError(fmt::format("{}: needs pk.half_life or pk.persistence", who));
            }
            if (p_.expansionRate > 0 && !(p_.contractionRate > 0)) {
                throw InputError(fmt::format("{}: pk.expansion_rate needs pk.contraction_rate (else expansion never ends)", who));
            }
            central_ = 0;
            nStates_ = 1;
            if (p_.expansionRate > 0) drive_ = nStates_++;
            doseState_ = central_;
            return;
        }
        case model::PkModel::OneCompartment:
        case model::PkModel::TwoCompartment:
        case model::PkModel::ThreeCompartment: break;
    }
    need(p_.v1, "v1", "L");
    if (p_.clearance > 0) {
        k10_ = p_.clearance / p_.v1;
    } else if (p_.model == model::PkModel::OneCompartment && p_.halfLife > 0) {
        k10_ = std::numbers::ln2 / (p_.halfLife / kHoursPerDay);
    } else {
        throw InputError(fmt::format("{}: needs pk.clearance{}", who, p_.model == model::PkModel::OneCompartment ? " or pk.half_life" : ""));
    }
    if (p_.model != model::PkModel::OneCompartment) {
        need(p_.q, "q", "L/d");
        need(p_.v2, "v2", "L");
        k12_ = p_.q / p_.v1;
        k21_ = p_.q / p_.v2;
    }
    if (p_.model == model::PkModel::ThreeCompartment) {
        need(p_.q2, "q2", "L/d");
        need(p_.v3, "v3", "L");
        k13_ = p_.q2 / p_.v1;
        k31_ = p_.q2 / p_.v3;
    }
    if (p_.tmddKint > 0) need(p_.tmddKd, "tmdd_kd", "nM (needed by tmdd_kint)");
    const bool extravascular = p_.route == PkRoute::Subcutaneous || p_.route == PkRoute::Oral;
    nStates_ = 0;
    if (extravascular && p_.ka > 0) depot_ = nStates_++;
    central_ = nStates_++;
    if (p_.model != model::PkModel::OneCompartment) periph1_ = nStates_++;
    if (p_.model == model::PkModel::ThreeCompartment) periph2_ = nStates_++;
    doseState_ = depot_ != SIZE_MAX ? depot_ : central_;
}

DrugPk DrugPk::fromTherapy(const model::CompiledModel& m, model::Index therapy) {
    const auto& t = m.therapies().at(therapy);
    const std::string& name = m.entities(model::Kind::Therapy).at(therapy).name;
    PkParameters p;
    p.model = t.pk.model;
    try {
        p.route = parsePkRoute(t.pk.route);
    } catch (const InputError& e) {
        throw InputError(fmt::format("therapy '{}': {}", name, e.what()));
    }
    auto val = [&](model::PkParam k, double fallback) { return m.valueOr(t.pk.param(k), fallback); };
    using model::PkParam;
    p.clearance = val(PkParam::Clearance, 0);
    p.halfLife = val(PkParam::HalfLife, 0);
    p.v1 = val(PkParam::V1, 0);
    p.v2 = val(PkParam::V2, 0);
    p.v3 = val(PkParam::V3, 0);
    p.q = val(PkParam::Q, 0);
    p.q2 = val(PkParam::Q2, 0);
    p.ka = val(PkParam::Ka, 0);
    p.bioavailability = val(PkParam::Bioavailability, 1);
    p.tmddKd = val(PkParam::TmddKd, 0);
    p.tmddKint = val(PkParam::TmddKint, 0);
    p.tmddSites = val(PkParam::TmddSites, 0);
    p.expansionRate = val(PkParam::ExpansionRate, 0);
    p.contractionRate = val(PkParam::ContractionRate, 0);
    p.persistence = val(PkParam::Persistence, 0);
    p.ke0 = val(PkParam::Ke0, 0);
    p.molecularWeight = m.valueOr(t.molecularWeight, 0);
    // MIU converts to mg only for IL-2 (a therapy that supplies the mediator IL-2).
    if (lower(t.doseUnit) == "miu") {
        for (const auto& mech : t.mechanisms) {
            if (mech.action == model::MechanismAction::Supply && mech.target.valid() && mech.target.kind == model::Kind::Mediator &&
                m.name(mech.target) == "IL-2") {
                p.mgPerMiu = kAldesleukinMgPerMiu;
            }
        }
    }
    return DrugPk(name, p);
}

DrugPk DrugPk::fromTherapy(const model::CompiledModel& m, std::string_view therapy) {
    return fromTherapy(m, m.require(model::Kind::Therapy, therapy));
}

std::string DrugPk::stateName(std::size_t i) const {
    const char* part = "?";
    if (i == central_) part = isCellProduct() ? "cells" : (isLocal() ? "activity" : "central");
    else if (i == depot_) part = "depot";
    else if (i == periph1_) part = "peripheral";
    else if (i == periph2_) part = "peripheral2";
    else if (i == drive_) part = "expansion_drive";
    return fmt::format("{}.{}", name_, part);
}

void DrugPk::addDerivatives(std::span<const double> y, std::span<double> dydt, std::size_t offset, double inputRate,
                            double targetNm) const {
    const std::size_t o = offset;
    const std::size_t c = o + central_;
    if (isLocal()) {
        dydt[c] += -k10_ * y[c];
        return;
    }
    if (isCellProduct()) {
        const double s = drive_ != SIZE_MAX ? y[o + drive_] : 0.0;
        dydt[c] += (p_.expansionRate * s - k10_) * y[c] + inputRate;
        if (drive_ != SIZE_MAX) dydt[o + drive_] += -p_.contractionRate * s;
        return;
    }
    double toCentral = 0;
    if (depot_ != SIZE_MAX) {
        const double absorbed = p_.ka * y[o + depot_];
        dydt[o + depot_] += -absorbed + p_.bioavailability * inputRate;
        toCentral = absorbed;
    } else {
        toCentral = inputRate;
    }
    const double a1 = y[c];
    double d1 = toCentral - (k10_ + k12_ + k13_) * a1;
    if (periph1_ != SIZE_MAX) {
        const double a2 = y[o + periph1_];
        d1 += k21_ * a2;
        dydt[o + periph1_] += k12_ * a1 - k21_ * a2;
    }
    if (periph2_ != SIZE_MAX) {
        const double a3 = y[o + periph2_];
        d1 += k31_ * a3;
        dydt[o + periph2_] += k13_ * a1 - k31_ * a3;
    }
    if (p_.tmddKint > 0 && targetNm > 0 && p_.molecularWeight > 0) {
        const double conc = std::max(a1, 0.0) / p_.v1 * 1000.0 / p_.molecularWeight;  // nM
        const double nmolPerDay = p_.tmddKint * targetNm * conc / (p_.tmddKd + conc) * p_.v1;
        d1 -= nmolPerDay * p_.molecularWeight / 1000.0;  // nmol × kDa → µg; /1000 → mg
    }
    dydt[c] += d1;
}

namespace {

/// Storage of an m×m matrix (row-major): on the stack when m is known at compile time (kM > 0),
/// else on the heap. Why: advanceLinear runs at every RHS call of an engine with analytic PK, and
/// the heap version spent more on its allocations and generic loops than on the arithmetic.
template <std::size_t kM>
using SquareMatrix = std::conditional_t<kM == 0, std::vector<double>, std::array<double, kM * kM>>;

template <std::size_t kM>
SquareMatrix<kM> zeroMatrix(std::size_t m) {
    if constexpr (kM == 0) {
        return std::vector<double>(m * m, 0.0);
    } else {
        SquareMatrix<kM> a;
        a.fill(0.0);
        return a;
    }
}

/// e^M for a small dense m×m matrix (row-major), by a diagonal Padé approximant of degree 6 after
/// scaling M by 2^−s to a 1-norm ≤ ½, then squaring s times (Moler & Van Loan's "method 3").
/// Why not eigenvalues: a depot with ka equal to a disposition rate gives a defective matrix.
/// kM = m (fixed size, unrolled) or 0 (m at run time); both do the same operations in the same
/// order, so they give the same numbers.
template <std::size_t kM>
SquareMatrix<kM> smallExpm(SquareMatrix<kM> M, std::size_t mRun) {
    const std::size_t m = kM == 0 ? mRun : kM;
    double norm = 0;
    for (std::size_t j = 0; j < m; ++j) {
        double col = 0;
        for (std::size_t i = 0; i < m; ++i) col += std::abs(M[i * m + j]);
        norm = std::max(norm, col);
    }
    int squarings = 0;
    if (norm > 0.5) squarings = std::max(0, static_cast<int>(std::ceil(std::log2(norm / 0.5))));
    const double scale = std::ldexp(1.0, -squarings);
    for (double& v : M) v *= scale;
    // [&], not [m]: for a fixed kM, m is a constant expression, and clang flags an explicit capture.
    auto mul = [&](const SquareMatrix<kM>& a, const SquareMatrix<kM>& b) {
        SquareMatrix<kM> c = zeroMatrix<kM>(m);
        for (std::size_t i = 0; i < m; ++i)
            for (std::size_t k = 0; k < m; ++k)
                for (std::size_t j = 0; j < m; ++j) c[i * m + j] += a[i * m + k] * b[k * m + j];
        return c;
    };
    constexpr int kDegree = 6;
    SquareMatrix<kM> N = zeroMatrix<kM>(m), D = zeroMatrix<kM>(m), X = zeroMatrix<kM>(m);
    for (std::size_t i = 0; i < m; ++i) N[i * m + i] = D[i * m + i] = X[i * m + i] = 1.0;
    double c = 1.0;
    for (int k = 1; k <= kDegree; ++k) {
        c *= static_cast<double>(kDegree - k + 1) / static_cast<double>(k * (2 * kDegree - k + 1));
        X = mul(X, M);
        const double sign = (k % 2 == 0) ? 1.0 : -1.0;
        for (std::size_t i = 0; i < m * m; ++i) {
            N[i] += c * X[i];
            D[i] += sign * c * X[i];
        }
    }
    // E = D⁻¹·N by Gaussian elimination with partial pivoting (D is well conditioned for ‖M‖ ≤ ½).
    for (std::size_t col = 0; col < m; ++col) {
        std::size_t piv = col;
        for (std::size_t r = col + 1; r < m; ++r)
            if (std::abs(D[r * m + col]) > std::abs(D[piv * m + col])) piv = r;
        if (piv != col)
            for (std::size_t j = 0; j < m; ++j) {
                std::swap(D[col * m + j], D[piv * m + j]);
                std::swap(N[col * m + j], N[piv * m + j]);
            }
        for (std::size_t r = col + 1; r < m; ++r) {
            const double f = D[r * m + col] / D[col * m + col];
            if (f == 0) continue;
            for (std::size_t j = col; j < m; ++j) D[r * m + j] -= f * D[col * m + j];
            for (std::size_t j = 0; j < m; ++j) N[r * m + j] -= f * N[col * m + j];
        }
    }
    for (std::size_t col = m; col-- > 0;) {
        for (std::size_t j = 0; j < m; ++j) {
            double v = N[col * m + j];
            for (std::size_t k = col + 1; k < m; ++k) v -= D[col * m + k] * N[k * m + j];
            N[col * m + j] = v / D[col * m + col];
        }
    }
    for (int k = 0; k < squarings; ++k) N = mul(N, N);
    return N;
}

/// DrugPk::advanceLinear's work for n = stateCount() states, with kM = n + 1 or 0 (see smallExpm).
template <std::size_t kM>
void advanceExactly(const DrugPk& pk, std::span<double> y, std::size_t offset, double dtDays, double inputRate) {
    // The augmented matrix [[A, b·u], [0, 0]]·dt, with A's columns and b read off addDerivatives
    // itself, so that this stays the exact solution of what the RHS integrates.
    const std::size_t n = pk.stateCount(), m = kM == 0 ? n + 1 : kM;
    SquareMatrix<kM> M = zeroMatrix<kM>(m);
    SquareMatrix<kM> work = zeroMatrix<kM>(m);  // rows 0 and 1 serve as the unit and column vectors
    const std::span<double> unit(work.data(), n), col(work.data() + m, n);
    for (std::size_t j = 0; j < n; ++j) {
        std::fill(col.begin(), col.end(), 0.0);
        unit[j] = 1.0;
        pk.addDerivatives(unit, col, 0, 0.0);
        unit[j] = 0.0;
        for (std::size_t i = 0; i < n; ++i) M[i * m + j] = col[i] * dtDays;
    }
    std::fill(col.begin(), col.end(), 0.0);
    pk.addDerivatives(unit, col, 0, inputRate);
    for (std::size_t i = 0; i < n; ++i) M[i * m + n] = col[i] * dtDays;
    const SquareMatrix<kM> E = smallExpm<kM>(M, m);
    const std::span<double> next(work.data(), n);  // `unit` is no longer needed
    for (std::size_t i = 0; i < n; ++i) {
        double v = E[i * m + n];  // the input's contribution (the augmented state is 1)
        for (std::size_t j = 0; j < n; ++j) v += E[i * m + j] * y[offset + j];
        next[i] = v;
    }
    std::copy(next.begin(), next.end(), y.begin() + static_cast<std::ptrdiff_t>(offset));
}

}  // namespace

void DrugPk::advanceLinear(std::span<double> y, std::size_t offset, double dtDays, double inputRate) const {
    if (isCellProduct()) throw InputError(fmt::format("therapy '{}': advanceLinear: a cell product's kinetics are not linear", name_));
    if (!(dtDays >= 0) || !std::isfinite(dtDays))
        throw InputError(fmt::format("therapy '{}': advanceLinear needs a finite time step >= 0 d, got {}", name_, dtDays));
    if (dtDays == 0) return;
    const std::size_t o = offset;
    // Closed forms for the commonest models (an antibody's two compartments, a small molecule's
    // one), a tenth of the matrix exponential's cost: the engine calls this at every RHS. The
    // same linear system as addDerivatives (x' = A·x + b), through A's spectral projectors P_i
    // (eigenvalues λ_i): e^{A·dt} = Σ P_i e^{λ_i·dt}, ∫₀^dt e^{A·s} ds·b = Σ P_i b·expm1(λ_i·dt)/λ_i.
    // Checked against the matrix exponential in tests/unit/test_pk.cpp.
    if (depot_ == SIZE_MAX && p_.tmddKint == 0 && !isLocal()) {
        if (nStates_ == 1 && k10_ > 0) {
            const double e = std::expm1(-k10_ * dtDays);
            y[o + central_] += e * y[o + central_] - inputRate * e / k10_;
            return;
        }
        if (nStates_ == 2 && periph1_ != SIZE_MAX && k10_ > 0 && k21_ > 0) {
            const double s = k10_ + k12_ + k21_;
            const double d = std::sqrt(s * s - 4.0 * k10_ * k21_);
            const double alpha = 0.5 * (s + d), beta = k10_ * k21_ / alpha;  // as dispositionRates()
            if (alpha - beta > 1e-9 * alpha) {
                // A = [[−(k10 + k12), k21], [k12, −k21]], λ1 = −α, λ2 = −β; P1 = (A + β)/(β − α),
                // P2 = (A + α)/(α − β).
                const double a11 = -(k10_ + k12_), a12 = k21_, a21 = k12_, a22 = -k21_;
                const double inv = 1.0 / (alpha - beta);
                const double e1 = std::exp(-alpha * dtDays), e2 = std::exp(-beta * dtDays);
                const double f1 = -std::expm1(-alpha * dtDays) / alpha, f2 = -std::expm1(-beta * dtDays) / beta;
                const double c = y[o + central_], q = y[o + periph1_];
                // P1·x = −inv·(A + β)·x, P2·x = inv·(A + α)·x.
                const double p1c = -inv * ((a11 + beta) * c + a12 * q), p1q = -inv * (a21 * c + (a22 + beta) * q);
                const double p2c = inv * ((a11 + alpha) * c + a12 * q), p2q = inv * (a21 * c + (a22 + alpha) * q);
                // b = (inputRate, 0): P1·b = −inv·(a11 + β, a21)·rate, P2·b = inv·(a11 + α, a21)·rate.
                const double b1c = -inv * (a11 + beta) * inputRate, b1q = -inv * a21 * inputRate;
                const double b2c = inv * (a11 + alpha) * inputRate, b2q = inv * a21 * inputRate;
                y[o + central_] = p1c * e1 + p2c * e2 + b1c * f1 + b2c * f2;
                y[o + periph1_] = p1q * e1 + p2q * e2 + b1q * f1 + b2q * f2;
                return;
            }
        }
    }
    // Fixed sizes for the models there are (central; + peripherals; + depot): unrolled, on the stack.
    switch (nStates_) {
        case 1: advanceExactly<2>(*this, y, offset, dtDays, inputRate); break;
        case 2: advanceExactly<3>(*this, y, offset, dtDays, inputRate); break;
        case 3: advanceExactly<4>(*this, y, offset, dtDays, inputRate); break;
        case 4: advanceExactly<5>(*this, y, offset, dtDays, inputRate); break;
        default: advanceExactly<0>(*this, y, offset, dtDays, inputRate); break;
    }
}

void DrugPk::applyBolus(std::span<double> y, std::size_t offset, double amount) const {
    if (isLocal()) {
        if (amount > 0) y[offset + central_] = 1.0;  // each administration restores full activity
        return;
    }
    if (depot_ != SIZE_MAX) {
        y[offset + depot_] += p_.bioavailability * amount;
    } else {
        y[offset + central_] += amount;
    }
    if (drive_ != SIZE_MAX && amount > 0) y[offset + drive_] = 1.0;
}

double DrugPk::centralAmount(std::span<const double> y, std::size_t offset) const { return y[offset + central_]; }

double DrugPk::concentration(std::span<const double> y, std::size_t offset) const {
    if (isCellProduct()) {
        throw InputError(fmt::format("therapy '{}' is a cell product: it has a number of cells (centralAmount), not a molar concentration", name_));
    }
    // A local therapy's exposure is carried as a nominal concentration equal to its activity
    // (1 nM right after an administration); its mechanisms' potencies are in the same nominal nM.
    if (isLocal()) return y[offset + central_];
    if (!(p_.molecularWeight > 0)) {
        throw InputError(fmt::format("therapy '{}' has no molecular_weight: its concentration in nM is unknown", name_));
    }
    return y[offset + central_] / p_.v1 * 1000.0 / p_.molecularWeight;
}

std::vector<double> DrugPk::dispositionRates() const {
    switch (p_.model) {
        case model::PkModel::TwoCompartment: {
            const double s = k10_ + k12_ + k21_;
            const double d = std::sqrt(s * s - 4.0 * k10_ * k21_);
            // β = (s − d)/2 computed as k10·k21/α to avoid cancellation.
            const double alpha = 0.5 * (s + d);
            return {k10_ * k21_ / alpha, alpha};
        }
        case model::PkModel::ThreeCompartment: {
            const double a = k10_ + k12_ + k13_ + k21_ + k31_;
            const double b = k10_ * k21_ + k10_ * k31_ + k21_ * k31_ + k12_ * k31_ + k13_ * k21_;
            const double c = k10_ * k21_ * k31_;
            return cubicRoots(a, b, c);
        }
        default: return {k10_};
    }
}

double DrugPk::terminalHalfLife() const { return std::numbers::ln2 / dispositionRates().front(); }

// ---- dosing ------------------------------------------------------------------------------------

Schedule parseSchedule(std::string_view schedule) {
    const std::string s = lower(trim(schedule));
    auto bad = [&](const std::string& why) {
        return InputError(fmt::format("schedule '{}': {} (expected 'once' or '<interval> x <count>', e.g. 'q3w x 6', 'qd x 14', 'bid x 7 d')",
                                      schedule, why));
    };
    if (s.empty()) throw bad("empty");
    if (s == "once" || s == "single") return {0.0, 1};
    // Split at " x " / "x" / "×".
    std::string norm = s;
    for (std::size_t pos; (pos = norm.find("×")) != std::string::npos;) norm.replace(pos, std::string("×").size(), " x ");
    const std::size_t xpos = norm.find(" x ");
    std::string_view head, tail;
    if (xpos != std::string::npos) {
        head = trim(std::string_view(norm).substr(0, xpos));
        tail = trim(std::string_view(norm).substr(xpos + 3));
    } else {
        const std::size_t x = norm.rfind('x');
        if (x == std::string::npos || x == 0) throw bad("no ' x <count>'");
        head = trim(std::string_view(norm).substr(0, x));
        tail = trim(std::string_view(norm).substr(x + 1));
    }
    double interval = 0;
    if (head == "qd" || head == "daily" || head == "od") interval = 1.0;
    else if (head == "bid") interval = 0.5;
    else if (head == "tid") interval = 1.0 / 3.0;
    else if (head == "qid") interval = 0.25;
    else if (head == "qw" || head == "weekly") interval = 7.0;
    else if (head.size() >= 3 && head.front() == 'q') {
        std::string_view rest;
        const auto n = leadingNumber(head.substr(1), rest);
        if (!n || !(*n > 0)) throw bad(fmt::format("interval '{}' has no positive number", head));
        if (rest == "h") interval = *n / kHoursPerDay;
        else if (rest == "d") interval = *n;
        else if (rest == "w") interval = *n * 7.0;
        else throw bad(fmt::format("interval '{}' has unit '{}' (expected h, d or w)", head, rest));
    } else {
        throw bad(fmt::format("unknown interval '{}'", head));
    }
    std::string_view rest;
    const auto n = leadingNumber(tail, rest);
    // Each way the count can be wrong gets its own message (it used to be one "not a whole
    // number ≥ 1", also for a count that was merely too large).
    if (!n) throw bad(fmt::format("count '{}' does not start with a number", tail));
    if (!std::isfinite(*n)) throw bad(fmt::format("count '{}' is not finite", tail));
    if (!(*n > 0)) throw bad(fmt::format("count '{}' must be positive", tail));
    // The number of doses is computed, as a double, before any dose exists, and capped for every
    // form alike (kMaxDosesPerDrug).
    double doses = 0;
    if (rest.empty() || rest == "doses" || rest == "dose" || rest == "cycles" || rest == "cycle") {
        if (std::floor(*n) != *n) throw bad(fmt::format("count '{}' is not a whole number of doses", tail));
        doses = *n;
    } else {
        double span = 0;
        if (rest == "d" || rest == "day" || rest == "days") span = *n;
        else if (rest == "w" || rest == "wk" || rest == "week" || rest == "weeks") span = *n * 7.0;
        else throw bad(fmt::format("count unit '{}' (expected nothing, d/days or w/weeks)", rest));
        doses = std::round(span / interval);
        if (doses < 1) throw bad(fmt::format("a span of {:g} d is shorter than one {:g} d interval", span, interval));
        if (std::abs(doses * interval - span) > 1e-9 * span) {
            throw bad(fmt::format("a span of {:g} d is not a whole number of {:g} d intervals", span, interval));
        }
    }
    if (doses > static_cast<double>(kMaxDosesPerDrug)) {
        throw InputError(tooManyDosesMessage(fmt::format("schedule '{}'", schedule), doses));
    }
    return {interval, static_cast<int>(doses)};
}

std::string tooManyDosesMessage(std::string_view what, double doses) {
    // Digits in groups of three ("168,000,000"): the counts in question are long.
    auto grouped = [](double v) {
        if (!(v < 1e18)) return fmt::format("{:g}", v);
        std::string digits = fmt::format("{:.0f}", v), out;
        for (std::size_t i = 0; i < digits.size(); ++i) {
            if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
            out += digits[i];
        }
        return out;
    };
    return fmt::format("{} gives {} doses; at most {} doses per drug (docs/qsp.md, \"Limits\"; to raise it, change "
                       "qsp::kMaxDosesPerDrug in include/nkscape/qsp/pk.hpp and rebuild)",
                       what, grouped(doses), grouped(static_cast<double>(kMaxDosesPerDrug)));
}

double parseDuration(std::string_view duration) {
    const std::string_view d = trim(duration);
    if (d.empty()) return 0;
    std::string_view rest;
    const auto n = leadingNumber(d, rest);
    if (!n || !(*n >= 0) || !std::isfinite(*n)) throw InputError(fmt::format("duration '{}': expected '<number ≥ 0> <min|h|d>'", duration));
    const std::string u = lower(rest);
    if (u.empty()) {
        if (*n == 0) return 0;
        throw InputError(fmt::format("duration '{}': missing unit (min, h or d)", duration));
    }
    if (u == "s" || u == "sec") return *n / 86400.0;
    if (u == "min" || u == "mins" || u == "minutes" || u == "minute") return *n / 1440.0;
    if (u == "h" || u == "hr" || u == "hours" || u == "hour") return *n / kHoursPerDay;
    if (u == "d" || u == "day" || u == "days") return *n;
    if (u == "w" || u == "week" || u == "weeks") return *n * 7.0;
    throw InputError(fmt::format("duration '{}': unknown unit '{}' (expected min, h or d)", duration, rest));
}

double convertDoseAmount(std::string_view amount, std::string_view targetUnit, const BodySize& body, double mgPerMiu,
                         std::string_view who) {
    std::string_view rest;
    const auto n = leadingNumber(amount, rest);
    if (!n || !std::isfinite(*n)) throw InputError(fmt::format("{}: dose '{}' does not start with a number", who, amount));
    if (*n < 0) throw InputError(fmt::format("{}: dose '{}' is negative", who, amount));
    std::string unit = lower(rest);
    unit.erase(std::remove(unit.begin(), unit.end(), ' '), unit.end());
    std::string numer = unit, denom;
    if (const auto slash = unit.find('/'); slash != std::string::npos) {
        numer = unit.substr(0, slash);
        denom = unit.substr(slash + 1);
    }
    // Numerator: a mass (→ mg), international units (→ MIU → mg), or cells.
    enum class Dim { Mass, Iu, Cell } dim = Dim::Mass;
    double factor = 0;
    if (numer == "g") factor = 1e3;
    else if (numer == "mg") factor = 1.0;
    else if (numer == "ug" || numer == "µg" || numer == "μg" || numer == "mcg") factor = 1e-3;
    else if (numer == "ng") factor = 1e-6;
    else if (numer == "iu") { dim = Dim::Iu; factor = 1e-6; }
    else if (numer == "kiu") { dim = Dim::Iu; factor = 1e-3; }
    else if (numer == "miu") { dim = Dim::Iu; factor = 1.0; }
    else if (numer == "cell" || numer == "cells") { dim = Dim::Cell; factor = 1.0; }
    else {
        throw InputError(fmt::format("{}: dose '{}' has unknown unit '{}' (expected g, mg, ug, ng, IU, MIU or cells, optionally /kg or /m2)",
                                     who, amount, rest.empty() ? "<none>" : std::string(rest)));
    }
    const std::string target = lower(targetUnit);
    if (target == "cell") {
        if (dim != Dim::Cell) throw InputError(fmt::format("{}: dose '{}' is not a number of cells, but the product is dosed in cells", who, amount));
    } else if (target == "mg") {
        if (dim == Dim::Cell) throw InputError(fmt::format("{}: dose '{}' is in cells, but the drug is dosed by mass (mg)", who, amount));
        if (dim == Dim::Iu) {
            if (!(mgPerMiu > 0)) {
                throw InputError(fmt::format("{}: dose '{}' is in international units, which convert to mg only for IL-2 (aldesleukin, "
                                             "1.3 mg = 22 MIU); give the dose in mg",
                                             who, amount));
            }
            factor *= mgPerMiu;
        }
    } else {
        throw InputError(fmt::format("{}: unknown drug amount unit '{}' (expected mg or cell)", who, targetUnit));
    }
    double value = *n * factor;
    if (denom == "kg") {
        if (!body.weight_kg || !(*body.weight_kg > 0)) {
            throw InputError(fmt::format("{}: dose '{}' is per kg, but no body weight (kg) was given", who, amount));
        }
        value *= *body.weight_kg;
    } else if (denom == "m2" || denom == "m^2" || denom == "m²") {
        if (!body.surface_m2 || !(*body.surface_m2 > 0)) {
            throw InputError(fmt::format("{}: dose '{}' is per m², but no body surface area (m²) was given", who, amount));
        }
        value *= *body.surface_m2;
    } else if (!denom.empty()) {
        throw InputError(fmt::format("{}: dose '{}' is per '{}' (expected /kg or /m2)", who, amount, denom));
    }
    return value;
}

DosingRegimen::DosingRegimen(std::vector<Dose> doses, std::string unit) : doses_(std::move(doses)), unit_(std::move(unit)) {
    for (const Dose& d : doses_) {
        if (!(d.time_d >= 0) || !(d.amount >= 0) || !(d.duration_d >= 0) || !std::isfinite(d.time_d) || !std::isfinite(d.amount) ||
            !std::isfinite(d.duration_d)) {
            throw InputError(fmt::format("dosing: dose at t = {} d of {} {} over {} d: time, amount and duration must be finite and ≥ 0",
                                         d.time_d, d.amount, unit_, d.duration_d));
        }
    }
    if (doses_.size() > kMaxDosesPerDrug) {
        throw InputError(tooManyDosesMessage(fmt::format("dosing: a regimen of {} {} doses", doses_.size(), unit_),
                                             static_cast<double>(doses_.size())));
    }
    std::stable_sort(doses_.begin(), doses_.end(), [](const Dose& a, const Dose& b) { return a.time_d < b.time_d; });
    index();
}

void DosingRegimen::index() {
    for (const Dose& d : doses_) {
        if (d.duration_d != 0) continue;
        bolusTimes_.push_back(d.time_d);  // doses_ is sorted by time: so are these
        bolusAmounts_.push_back(d.amount);
    }
    // The summed infusion rate is piecewise constant between the starts and ends of the infusions.
    // A sweep over those breakpoints keeps the set of running infusions (by dose index, i.e. dose
    // order). Where few run at once the rate is re-summed over them in dose order, so it equals
    // the plain sum over every dose bit for bit (a running total would leave round-off, e.g.
    // 1e-17 instead of 0 after an infusion ends, and the engine compares rates with 0); where
    // very many overlap, a compensated running total keeps the sweep O(n log n).
    struct Edge {
        double t;
        std::size_t dose;
        bool start;
    };
    std::vector<Edge> edges;
    for (std::size_t i = 0; i < doses_.size(); ++i) {
        const Dose& d = doses_[i];
        if (!(d.duration_d > 0)) continue;
        const double end = d.time_d + d.duration_d;
        if (!(end > d.time_d)) continue;  // shorter than round-off: [start, end) is empty, as in the plain sum
        edges.push_back({d.time_d, i, true});
        edges.push_back({end, i, false});
    }
    std::sort(edges.begin(), edges.end(), [](const Edge& a, const Edge& b) { return a.t < b.t; });
    constexpr std::size_t kExactResum = 64;  // running infusions up to which the rate is re-summed
    std::set<std::size_t> running;
    double sum = 0, carry = 0;  // Neumaier-compensated running total, used above kExactResum
    auto add = [&](double x) {
        const double t = sum + x;
        carry += std::abs(sum) >= std::abs(x) ? (sum - t) + x : (x - t) + sum;
        sum = t;
    };
    for (std::size_t k = 0; k < edges.size();) {
        const double t = edges[k].t;
        for (; k < edges.size() && edges[k].t == t; ++k) {
            const Dose& d = doses_[edges[k].dose];
            const double r = d.amount / d.duration_d;
            if (edges[k].start) {
                running.insert(edges[k].dose);
                add(r);
            } else {
                running.erase(edges[k].dose);
                add(-r);
            }
        }
        double rate = 0;
        if (running.size() <= kExactResum) {
            for (std::size_t i : running) rate += doses_[i].amount / doses_[i].duration_d;
            sum = rate;  // resynchronise the running total with the exact sum
            carry = 0;
        } else {
            rate = sum + carry;
        }
        rateTimes_.push_back(t);
        rateOn_.push_back(rate);
    }
}

DosingRegimen DosingRegimen::parse(const DosingSpec& spec, std::string_view unit, const BodySize& body, double mgPerMiu,
                                   std::string_view who) {
    const double amount = convertDoseAmount(spec.amount, unit, body, mgPerMiu, who);
    const bool hasLoading = !trim(spec.loadingAmount).empty();
    const double loading =
        hasLoading ? convertDoseAmount(spec.loadingAmount, unit, body, mgPerMiu, fmt::format("{} (loading dose)", who)) : amount;
    Schedule schedule;
    double duration = 0;
    try {
        schedule = parseSchedule(spec.schedule);
        duration = parseDuration(spec.infusion);
    } catch (const InputError& e) {
        throw InputError(fmt::format("{}: {}", who, e.what()));
    }
    if (!(spec.startDay >= 0) || !std::isfinite(spec.startDay)) {
        throw InputError(fmt::format("{}: start day must be ≥ 0, got {}", who, spec.startDay));
    }
    // Amounts that overflow once scaled by body size (1e308 mg/kg) are refused here, with the
    // words the user wrote, rather than as an infinite dose later.
    for (const auto& [text, value] : {std::pair{spec.amount, amount}, std::pair{spec.loadingAmount, loading}}) {
        if (!std::isfinite(value))
            throw InputError(fmt::format("{}: dose '{}' does not convert to a finite number of {}", who, text, unit));
        if (value > kMaxDoseAmount)
            throw InputError(fmt::format("{}: dose '{}' is {:g} {} once converted; at most {:g} {} per dose (docs/qsp.md, \"Limits\")", who, text,
                                         value, unit, kMaxDoseAmount, unit));
    }
    if (!trim(spec.infusion).empty() && !(duration > 0))
        throw InputError(fmt::format("{}: infusion '{}' lasts no time; give a duration > 0, or leave 'infusion' out for a bolus", who, spec.infusion));
    if (duration > kMaxInfusionDays)
        throw InputError(fmt::format("{}: infusion '{}' is longer than {:g} d, the longest infusion accepted (docs/qsp.md, \"Limits\")", who,
                                     spec.infusion, kMaxInfusionDays));
    // The last dose must fall at a finite, representable time (q1e308d x 3 would be at 2e308).
    const double last = spec.startDay + (schedule.count - 1) * schedule.interval_d;
    if (!std::isfinite(last) || last > kMaxDoseDay)
        throw InputError(fmt::format("{}: schedule '{}' puts its last dose at t = {:g} d; doses must start by t = {:g} d (docs/qsp.md, \"Limits\")",
                                     who, spec.schedule, last, kMaxDoseDay));
    std::vector<Dose> doses;
    doses.reserve(static_cast<std::size_t>(schedule.count));
    for (int i = 0; i < schedule.count; ++i) {
        doses.push_back({spec.startDay + i * schedule.interval_d, (i == 0 && hasLoading) ? loading : amount, duration});
    }
    return DosingRegimen(std::move(doses), std::string(unit));
}

DosingRegimen DosingRegimen::parse(const DosingSpec& spec, const DrugPk& drug, const BodySize& body) {
    const std::string who = fmt::format("therapy '{}'", drug.name());
    if (drug.isLocal()) {
        // The amount (PFU, a procedure) is checked to be a positive number, then each
        // administration counts as one: its effect is the activity it restores.
        for (const std::string* a : {&spec.amount, &spec.loadingAmount}) {
            if (a == &spec.loadingAmount && trim(*a).empty()) continue;
            const std::string text(trim(*a));
            char* end = nullptr;
            const double v = std::strtod(text.c_str(), &end);
            if (end == text.c_str() || !(v > 0) || !std::isfinite(v))
                throw InputError(fmt::format("{}: amount '{}' must start with a number > 0", who, *a));
        }
        DosingSpec one = spec;
        one.amount = "1 mg";
        if (!trim(one.loadingAmount).empty()) one.loadingAmount = "1 mg";
        if (!trim(one.infusion).empty() && parseDuration(one.infusion) > 0)
            throw InputError(fmt::format("{}: a local therapy is given at once, not infused", who));
        const DosingRegimen r = parse(one, "mg", body, 0, who);
        return DosingRegimen(r.doses(), "administration");
    }
    return parse(spec, drug.amountUnit(), body, drug.parameters().mgPerMiu, who);
}

std::vector<double> DosingRegimen::eventTimes() const {
    std::vector<double> t;
    for (const Dose& d : doses_) {
        t.push_back(d.time_d);
        if (d.duration_d > 0) t.push_back(d.time_d + d.duration_d);
    }
    std::sort(t.begin(), t.end());
    t.erase(std::unique(t.begin(), t.end(), [](double a, double b) { return std::abs(a - b) <= 1e-9; }), t.end());
    return t;
}

double DosingRegimen::bolusAt(double t_d) const {
    // The boluses within 1e-9 d of t are one contiguous run of the sorted times; summed in order.
    // The window is a little wider than the test, so the search's own round-off (t − 1e-9) cannot
    // drop a bolus that the test |time − t| ≤ 1e-9 keeps.
    const auto lo = std::lower_bound(bolusTimes_.begin(), bolusTimes_.end(), t_d - 2e-9);
    double sum = 0;
    for (auto it = lo; it != bolusTimes_.end() && *it <= t_d + 2e-9; ++it) {
        if (std::abs(*it - t_d) <= 1e-9) sum += bolusAmounts_[static_cast<std::size_t>(it - bolusTimes_.begin())];
    }
    return sum;
}

double DosingRegimen::infusionRate(double t_d) const {
    // The last breakpoint at or before t: its rate holds on [breakpoint, next breakpoint).
    const auto it = std::upper_bound(rateTimes_.begin(), rateTimes_.end(), t_d);
    if (it == rateTimes_.begin()) return 0.0;
    return rateOn_[static_cast<std::size_t>(it - rateTimes_.begin()) - 1];
}

std::span<const Dose> DosingRegimen::dosesAt(double t_d) const {
    const auto lo = std::lower_bound(doses_.begin(), doses_.end(), t_d - 1e-9, [](const Dose& d, double t) { return d.time_d < t; });
    const auto hi = std::upper_bound(lo, doses_.end(), t_d + 1e-9, [](double t, const Dose& d) { return t < d.time_d; });
    return {lo, hi};
}

std::size_t DosingRegimen::dosesFrom(double t_d) const {
    const auto lo = std::lower_bound(doses_.begin(), doses_.end(), t_d - 1e-9, [](const Dose& d, double t) { return d.time_d < t; });
    return static_cast<std::size_t>(doses_.end() - lo);
}

double DosingRegimen::totalAmount() const {
    double sum = 0;
    for (const Dose& d : doses_) sum += d.amount;
    return sum;
}

}  // namespace nkscape::qsp
