#pragma once
/// \file
/// Pharmacokinetics and dosing for the well-mixed engine (docs/qsp.md, "Pharmacokinetics and
/// dosing"). A DrugPk is the PK of one therapy, resolved once from the compiled model: linear one-,
/// two- or three-compartment disposition with an optional first-order absorption depot and an
/// optional target-mediated (quasi-steady-state, Michaelis–Menten-like) elimination, or the
/// kinetics of an infused cell product. It writes its states' derivatives into a larger RHS at an
/// offset, so the engine can stack many drugs in one ODE system.
///
/// Units, everywhere: time in days (d); drug amounts in mg, cell products in cells; volumes in L;
/// clearances in L/d; rate constants in 1/d; concentrations in nM. A DosingRegimen turns a
/// readable spec ("6 mg/kg", "q3w x 6", "90 min") into doses in those units.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nkscape/error.hpp"
#include "nkscape/model/model.hpp"

namespace nkscape::qsp {

/// Where a dose enters. Subcutaneous and oral doses go to an absorption depot when the PK has a
/// `ka`; every other route (and those without `ka`) goes to the central compartment
/// (intratumoural/local doses included: placing them in the tumour is the engine's business).
enum class PkRoute : std::uint8_t { IvBolus, IvInfusion, Subcutaneous, Oral, Intratumoural, Local };

/// Parses a model route key ("iv_bolus", "subcutaneous", ...). \throws InputError naming it.
[[nodiscard]] PkRoute parsePkRoute(std::string_view key);

/// mg of aldesleukin (recombinant IL-2) per million international units: the Proleukin label's
/// 22 MIU per 1.3 mg vial, i.e. 16.9 MIU/mg.
inline constexpr double kAldesleukinMgPerMiu = 1.3 / 22.0;

/// Resolved PK parameters, internal units. Zero means "absent" where noted.
struct PkParameters {
    model::PkModel model = model::PkModel::OneCompartment;
    PkRoute route = PkRoute::IvBolus;
    double clearance = 0;         ///< CL, L/d (0 with one_compartment: use halfLife)
    double halfLife = 0;          ///< h; one_compartment without clearance: k10 = ln2/t½; cell_kinetics: loss t½
    double v1 = 0;                ///< central volume, L (required for drugs)
    double v2 = 0;                ///< first peripheral volume, L (two/three compartments)
    double v3 = 0;                ///< second peripheral volume, L (three compartments)
    double q = 0;                 ///< inter-compartmental clearance central↔peripheral 1, L/d
    double q2 = 0;                ///< inter-compartmental clearance central↔peripheral 2, L/d
    double ka = 0;                ///< first-order absorption rate, 1/d; 0 = no depot
    double bioavailability = 1;   ///< F (1), applied to doses entering the depot
    double tmddKd = 0;            ///< quasi-steady-state constant of target binding, nM
    double tmddKint = 0;          ///< internalisation rate of the drug–target complex, 1/d; 0 = no TMDD
    /// Binding sites per cell of the blood pools the drug's cytokine acts on (molecule/cell): with
    /// tmdd_kint, the engine's target for TMDD is those cells (consumption by expanding cells).
    double tmddSites = 0;
    double molecularWeight = 0;   ///< kDa; 0 = unknown (then concentration() throws)
    double expansionRate = 0;     ///< cell_kinetics: initial expansion drive ρ, 1/d
    double contractionRate = 0;   ///< cell_kinetics: rate α at which the expansion drive wanes, 1/d
    double persistence = 0;       ///< cell_kinetics: mean residence time of product cells, d (used when halfLife is 0)
    double ke0 = 0;               ///< effect-compartment equilibration rate, 1/d; 0 = effects follow the concentration
    double mgPerMiu = 0;          ///< mg per MIU when the dose unit is MIU and convertible; 0 = not convertible
};

/// The pharmacokinetics of one therapy.
///
/// Drug states (amounts, mg), in this order, present as noted:
/// depot (if ka > 0), central, peripheral (two/three compartments), peripheral2 (three).
///   dA_d/dt = −ka·A_d + F·u_d
///   dA_1/dt = ka·A_d − (CL/V1)·A_1 − (Q/V1)·A_1 + (Q/V2)·A_2 − (Q2/V1)·A_1 + (Q2/V3)·A_3
///             − TMDD + u_1
///   dA_2/dt = (Q/V1)·A_1 − (Q/V2)·A_2,     dA_3/dt = (Q2/V1)·A_1 − (Q2/V3)·A_3
/// with u the zero-order input (infusion) rate in mg/d into the dose compartment, and the
/// target-mediated term TMDD = kint·R_tot·C/(KD + C)·V1 converted from nmol/d to mg/d
/// (× MW/1000), C = central concentration in nM, R_tot the total target concentration in nM
/// supplied by the engine (0 = no TMDD).
///
/// Cell-product states (cell_kinetics): cells N, and, when expansion_rate > 0, the expansion
/// drive S (1):  dN/dt = (ρ·S − k)·N,  dS/dt = −α·S; a dose adds cells and resets S to 1.
/// Hence after one dose N(t) = N0·exp(ρ/α·(1 − e^{−αt}) − k·t): expansion that wanes at α, then
/// loss at k = ln2/t½ (half_life) or 1/persistence.
class DrugPk {
public:
    /// Validates the parameters (message names `name` and the bad parameter).
    /// \throws InputError when a required parameter is missing or out of range.
    DrugPk(std::string name, const PkParameters& parameters);

    /// The PK of therapy `therapy` of `m` (body-size-independent parameters, internal units).
    /// \throws InputError naming the therapy when it has no PK model or a required parameter.
    [[nodiscard]] static DrugPk fromTherapy(const model::CompiledModel& m, model::Index therapy);
    /// Same, by therapy name or alias. \throws InputError if there is no such therapy.
    [[nodiscard]] static DrugPk fromTherapy(const model::CompiledModel& m, std::string_view therapy);

    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    [[nodiscard]] const PkParameters& parameters() const noexcept { return p_; }
    /// True for cell_kinetics (amounts in cells rather than mg).
    [[nodiscard]] bool isCellProduct() const noexcept { return p_.model == model::PkModel::CellKinetics; }
    /// True for a local therapy (pk.model = none with pk.persistence): one state, its activity in
    /// the tumour (1 after an administration, decaying with time constant persistence).
    [[nodiscard]] bool isLocal() const noexcept { return p_.model == model::PkModel::None; }
    /// "mg", "cell" or "administration": the unit of amounts, doses and infusion rates (per day).
    [[nodiscard]] std::string_view amountUnit() const noexcept {
        return isCellProduct() ? "cell" : (isLocal() ? "administration" : "mg");
    }

    /// Number of ODE states this drug adds.
    [[nodiscard]] std::size_t stateCount() const noexcept { return nStates_; }
    /// "<therapy>.<depot|central|peripheral|peripheral2|cells|expansion_drive>" for state i.
    [[nodiscard]] std::string stateName(std::size_t i) const;
    /// Index (relative to the offset) of the state that receives doses and infusions.
    [[nodiscard]] std::size_t doseState() const noexcept { return doseState_; }
    /// Index (relative to the offset) of the central compartment (cells for a product).
    [[nodiscard]] std::size_t centralState() const noexcept { return central_; }

    /// Adds the derivatives of this drug's states (y[offset .. offset+stateCount())) to dydt at
    /// the same indices. `inputRate`: zero-order input into the dose state, amount/d (mg/d or
    /// cell/d; F is applied when it enters a depot). `targetNm`: total target concentration for
    /// the TMDD term, nM (ignored without tmdd_kint). Time is in days.
    void addDerivatives(std::span<const double> y, std::span<double> dydt, std::size_t offset, double inputRate = 0,
                        double targetNm = 0) const;
    /// Adds ∂(this drug's derivatives)/∂(its states) to a dense Jacobian given as a callable
    /// J(i, j) → double& over the whole system (indices include the offset); linear part plus the
    /// TMDD term's derivative.
    template <class JacobianAccess>
    void addJacobian(std::span<const double> y, JacobianAccess&& J, std::size_t offset, double targetNm = 0) const;

    /// Advances this drug's states (y[offset .. offset+stateCount())) by `dtDays` ≥ 0 with the
    /// input `inputRate` (amount/d, as addDerivatives) held constant, exactly: the solution of the
    /// linear ODE that addDerivatives(…, targetNm = 0) describes, y ← e^{A·dt}·y + ∫₀^dt e^{A·s} ds·b·u
    /// (matrix exponential of the (states+1)² augmented matrix, Padé 6 with scaling and squaring;
    /// relative error ~1e-14). Why: with the PK in the stiff system, the PK states' own error
    /// control sets the step size after every dose; an engine can keep each drug's states at the
    /// last event and evaluate them at any t in its RHS instead. No TMDD term.
    /// \throws InputError for a cell product (its expansion is not linear) or a negative or
    /// non-finite dtDays.
    void advanceLinear(std::span<double> y, std::size_t offset, double dtDays, double inputRate = 0) const;
    /// Applies a bolus of `amount` (mg or cells) to y (whole system): F·amount into the depot,
    /// or amount into the central compartment; for a cell product, also resets the expansion drive.
    void applyBolus(std::span<double> y, std::size_t offset, double amount) const;

    /// Amount in the central compartment: mg, or live product cells.
    [[nodiscard]] double centralAmount(std::span<const double> y, std::size_t offset = 0) const;
    /// Central concentration in nM: A_1[mg] / V1[L] × 1000 / MW[kDa]; for a local therapy its
    /// activity, read as a nominal concentration in nM.
    /// \throws InputError for a cell product or when the molecular weight is unknown.
    [[nodiscard]] double concentration(std::span<const double> y, std::size_t offset = 0) const;

    /// Elimination rate constant of the central compartment k10 = CL/V1 (or ln2/t½), 1/d; for a
    /// cell product the loss rate k.
    [[nodiscard]] double k10() const noexcept { return k10_; }
    /// Disposition rate constants (eigenvalues of the linear disposition, without the depot and
    /// TMDD), ascending, 1/d: one for one compartment, α/β for two (β first), three for three.
    [[nodiscard]] std::vector<double> dispositionRates() const;
    /// Terminal half-life ln2 / smallest disposition rate, d (linear part; cell products: ln2/k).
    [[nodiscard]] double terminalHalfLife() const;

private:
    std::string name_;
    PkParameters p_;
    std::size_t nStates_ = 0;
    std::size_t depot_ = SIZE_MAX, central_ = 0, periph1_ = SIZE_MAX, periph2_ = SIZE_MAX, drive_ = SIZE_MAX;
    std::size_t doseState_ = 0;
    double k10_ = 0, k12_ = 0, k21_ = 0, k13_ = 0, k31_ = 0;
};

// ---- dosing ----------------------------------------------------------------------------------

/// One administration. Amount in the drug's unit (mg or cells); a bolus when duration_d is 0,
/// else a zero-order infusion of amount/duration_d per day over [time_d, time_d + duration_d).
struct Dose {
    double time_d = 0;      ///< start, d
    double amount = 0;      ///< mg or cells (before bioavailability)
    double duration_d = 0;  ///< infusion length, d; 0 = bolus
};

/// Body size, needed by per-kg and per-m² doses.
struct BodySize {
    std::optional<double> weight_kg;   ///< body weight, kg
    std::optional<double> surface_m2;  ///< body surface area, m²
};

/// A readable dosing spec. Every string is parsed with errors that name the bad part.
struct DosingSpec {
    /// "<number> <unit>": unit is g, mg, ug (µg, mcg), ng, IU, kIU, MIU, cell(s), each optionally
    /// "/kg" (× body weight) or "/m2" (m^2, m², × body surface area). E.g. "6 mg/kg", "840 mg",
    /// "720 MIU", "600000 IU/kg", "1e9 cells", "2e6 cells/kg".
    std::string amount;
    /// "once", or "<interval> x <count>": interval qd (1 d), bid (½ d), tid (⅓ d), qw (7 d), or
    /// q<N>h, q<N>d, q<N>w (e.g. q3w); count is the number of administrations, or a duration when
    /// followed by d/day(s)/w/week(s) ("bid x 7 d" = 14 doses). "×" is accepted for "x".
    std::string schedule = "once";
    /// Optional first-dose amount (loading dose), same syntax as `amount`; empty = none.
    std::string loadingAmount;
    /// Day of the first dose, d (≥ 0).
    double startDay = 0;
    /// Infusion duration: "" or "0" for a bolus, else "<number> <min|h|d>" ("90 min").
    std::string infusion;
};

/// The most doses one drug may have in one regimen, whatever the schedule's form (a count, a span,
/// several [[dose]] tables of one therapy merged). Why a cap: a typo ("q1h x 1000000 w") would
/// otherwise materialise 1.7e8 doses (GBs) before anything could say so. 100,000 allows hourly
/// dosing for 11 years (q1h x 100000); raise it here and rebuild if a regimen truly needs more
/// (docs/qsp.md, "Limits").
inline constexpr std::size_t kMaxDosesPerDrug = 100'000;
/// The longest single infusion DosingRegimen::parse accepts, d: a year (continuous infusions in
/// the review's trials run for up to weeks).
inline constexpr double kMaxInfusionDays = 365;
/// The latest day a dose may start, d: 1e6 d (~2,700 years), far past any simulated run; later
/// starts are refused rather than kept (doses after a run's end are otherwise a warning).
inline constexpr double kMaxDoseDay = 1e6;
/// The largest single dose after conversion, in the drug's amount unit (mg, cell, ...): 1e15
/// (a million tonnes of drug, 1e15 cells) is past any regimen and keeps amounts far from overflow.
inline constexpr double kMaxDoseAmount = 1e15;

/// The message for `doses` doses of one drug (more than kMaxDosesPerDrug), `what` naming their
/// origin (e.g. "schedule 'q1h x 1000000 w'"): states the count, the limit and how to raise it.
/// `doses` is a double because it is computed before anything is materialised and may be huge.
[[nodiscard]] std::string tooManyDosesMessage(std::string_view what, double doses);

/// A parsed schedule: `count` administrations `interval_d` apart.
struct Schedule {
    double interval_d = 0;
    int count = 1;
};

/// Parses a schedule string (see DosingSpec::schedule). \throws InputError naming the bad part,
/// or when the schedule gives more than kMaxDosesPerDrug doses (counted before any dose exists).
[[nodiscard]] Schedule parseSchedule(std::string_view schedule);
/// Parses a duration "<number> <s|min|h|d|w>" (or "" / "0") into days. \throws InputError.
[[nodiscard]] double parseDuration(std::string_view duration);
/// Converts an amount string (see DosingSpec::amount) to `targetUnit` ("mg" or "cell") for a
/// patient of size `body`; `mgPerMiu` converts IU units to mg (0 = not convertible); `who`
/// names the therapy in errors. \throws InputError naming the bad part (unit, missing body weight
/// or surface, unconvertible IU, negative amount).
[[nodiscard]] double convertDoseAmount(std::string_view amount, std::string_view targetUnit, const BodySize& body,
                                       double mgPerMiu, std::string_view who);

/// The doses of one drug, sorted by time, amounts in `unit()` (mg or cell). The engine integrates
/// between eventTimes(), applies bolusAt(t) at each event, and holds infusionRate(t) constant on
/// each interval. Infusions that overlap are summed (two lines running at once).
///
/// Lookups are O(log n) in the number of doses n: the constructor precomputes the sorted bolus
/// times and the sorted breakpoints of the summed infusion rate with the rate on each interval.
/// Why: the engine asks at every input change, and a linear scan per query made an hourly
/// regimen of 100,000 doses quadratic (11 s instead of well under one).
class DosingRegimen {
public:
    DosingRegimen() = default;
    /// From explicit doses (sorted here, stably by time). \throws InputError on a negative or
    /// non-finite time, amount or duration, or more than kMaxDosesPerDrug doses.
    DosingRegimen(std::vector<Dose> doses, std::string unit);
    /// From a readable spec for a drug of unit `unit` ("mg" or "cell"). \throws InputError naming
    /// `who` and the bad part of the spec.
    [[nodiscard]] static DosingRegimen parse(const DosingSpec& spec, std::string_view unit, const BodySize& body,
                                             double mgPerMiu = 0, std::string_view who = "dosing");
    /// From a readable spec for `drug` (its unit and MIU conversion).
    [[nodiscard]] static DosingRegimen parse(const DosingSpec& spec, const DrugPk& drug, const BodySize& body);

    [[nodiscard]] const std::vector<Dose>& doses() const noexcept { return doses_; }
    [[nodiscard]] const std::string& unit() const noexcept { return unit_; }
    /// Sorted, unique times (d) where the input changes: boluses, infusion starts and ends.
    [[nodiscard]] std::vector<double> eventTimes() const;
    /// Sum of the boluses given at time t (within 1e-9 d), amount. Summed in dose order, so the
    /// result is bit-identical to adding them one by one. O(log n + boluses at t).
    [[nodiscard]] double bolusAt(double t_d) const;
    /// Total infusion rate at time t, amount/d: the sum over every infusion with
    /// start ≤ t < start + duration (overlapping infusions add). O(log n).
    [[nodiscard]] double infusionRate(double t_d) const;
    /// The doses (boluses and infusions) starting at time t (within 1e-9 d), in dose order: a
    /// contiguous run of doses(). O(log n). For logging each dose given.
    [[nodiscard]] std::span<const Dose> dosesAt(double t_d) const;
    /// Number of doses starting at or after time t_d − 1e-9 d (e.g. the end of a run). O(log n).
    [[nodiscard]] std::size_t dosesFrom(double t_d) const;
    /// Sum of all amounts.
    [[nodiscard]] double totalAmount() const;

private:
    void index();  // builds the lookup tables below from doses_

    std::vector<Dose> doses_;
    std::string unit_ = "mg";
    std::vector<double> bolusTimes_;       // time of each bolus, sorted (dose order within a time)
    std::vector<double> bolusAmounts_;     // its amount, same order
    std::vector<double> rateTimes_;        // breakpoints of the summed infusion rate, sorted, unique
    std::vector<double> rateOn_;           // rate on [rateTimes_[i], rateTimes_[i+1]), amount/d
};

// ---- template implementation -------------------------------------------------------------------

template <class JacobianAccess>
void DrugPk::addJacobian(std::span<const double> y, JacobianAccess&& J, std::size_t offset, double targetNm) const {
    const std::size_t o = offset;
    if (isLocal()) {
        J(o + central_, o + central_) += -k10_;
        return;
    }
    if (isCellProduct()) {
        const double n = y[o + central_];
        const double s = drive_ != SIZE_MAX ? y[o + drive_] : 0.0;
        J(o + central_, o + central_) += p_.expansionRate * s - k10_;
        if (drive_ != SIZE_MAX) {
            J(o + central_, o + drive_) += p_.expansionRate * n;
            J(o + drive_, o + drive_) += -p_.contractionRate;
        }
        return;
    }
    const std::size_t c = o + central_;
    if (depot_ != SIZE_MAX) {
        J(o + depot_, o + depot_) += -p_.ka;
        J(c, o + depot_) += p_.ka;
    }
    J(c, c) += -(k10_ + k12_ + k13_);
    if (periph1_ != SIZE_MAX) {
        J(c, o + periph1_) += k21_;
        J(o + periph1_, c) += k12_;
        J(o + periph1_, o + periph1_) += -k21_;
    }
    if (periph2_ != SIZE_MAX) {
        J(c, o + periph2_) += k31_;
        J(o + periph2_, c) += k13_;
        J(o + periph2_, o + periph2_) += -k31_;
    }
    if (p_.tmddKint > 0 && targetNm > 0 && p_.molecularWeight > 0) {
        // TMDD = kint·R·C/(KD + C)·V1·MW/1000 with C = A1/V1·1000/MW: d/dA1 = kint·R·KD/(KD + C)².
        const double conc = y[c] / p_.v1 * 1000.0 / p_.molecularWeight;
        const double denom = p_.tmddKd + conc;
        J(c, c) += -p_.tmddKint * targetNm * p_.tmddKd / (denom * denom);
    }
}

}  // namespace nkscape::qsp
