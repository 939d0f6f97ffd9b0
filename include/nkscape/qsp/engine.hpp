#pragma once
/// \file
/// The well-mixed engine: one tumour of clones, the immune and stromal cell populations around it
/// (NK cells, CD8 T cells, MDSCs, TAMs, Tregs, CAFs, DCs — any non-tumour cell type of the model),
/// their blood pools, the tumour's mediators and the drugs of a regimen, as one ODE system
/// generated from the compiled model and solved with CVODE (qsp/ode.hpp). Kill rates come from the
/// synapse (the same function the assay uses), cell levels from the Regulator, drug exposure from
/// the PK of qsp/pk.hpp. docs/qsp.md, "The engine", states every equation and the reason for it.
///
/// Deliberately not states (docs/qsp.md, "Not in this version"): receptor and ligand levels follow
/// their set-points quasi-statically (their regulation time constants, hours, are far below the
/// engine's time scales, days to months); infused cell products carry no exhaustion or granule
/// state of their own.

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "nkscape/model/model.hpp"
#include "nkscape/qsp/ode.hpp"
#include "nkscape/qsp/pk.hpp"
#include "nkscape/synapse/regulation.hpp"
#include "nkscape/synapse/synapse.hpp"

namespace nkscape::qsp {

/// A tumour clone: the tumour cell type with some of its heritable levels multiplied.
struct CloneSpec {
    std::string name = {};
    std::vector<std::pair<model::Index, double>> ligandMultipliers = {};     ///< ligand → multiplier of its set-point (1)
    std::vector<std::pair<model::Index, double>> factorMultipliers = {};     ///< factor → multiplier of the baseline, before regulation (1)
    std::vector<std::pair<model::Index, double>> secretionMultipliers = {};  ///< mediator → multiplier of the secretion set-point (1)
    double initialCells = 0;          ///< cells at t = 0
    double switchPerDivision = 0;     ///< probability per division of the founding clone of becoming this clone (1)
};

/// A population of non-tumour cells (any category but tumour) in the tumour, optionally with a
/// blood pool that feeds it.
struct PopulationSpec {
    model::Index cellType = model::kNoIndex;
    double initialCells = 0;          ///< cells in the tumour at t = 0
    double influxPerDay = 0;          ///< recruitment into the tumour, cell/d (at the resting blood pool)
    double influxPerTumourCell = 0;   ///< further recruitment per tumour cell, 1/d (tumour-driven)
    bool blood = false;               ///< has a blood pool (the cell type needs blood_count); influx scales with it
};

/// One drug and its doses.
struct DrugRegimen {
    model::Index therapy = model::kNoIndex;
    DosingRegimen regimen;
};

/// Where the mediator states start.
enum class InitialMediators {
    /// At the steady state of the initial cells (every other state held): an established tumour
    /// with its own milieu. See TumourSystem::equilibrateMediators in src/qsp/engine.cpp.
    SteadyState,
    /// At each mediator's basal_level (the resting, tumour-free milieu).
    Basal,
};

/// What to simulate.
struct SimulationSpec {
    /// How clones below qsp.stochastic_clone_threshold cells are followed (docs/qsp.md, "Small
    /// clones"). In both modes such a clone leaves the ODE (its derivative is held at 0, the other
    /// equations see its count, the ODE integrates its per-cell birth and death rates and its
    /// immigration) and its count is advanced at update stops over intervals of 0.1–7 d, with the
    /// mean rates over the interval; it rejoins the ODE at twice the threshold.
    enum class SmallClones {
        /// The mean of that process: N(Δ) = N e^{(b−d)Δ} + ι (e^{(b−d)Δ} − 1)/(b − d) with the
        /// interval's mean rates (exact for births and deaths). A clone being killed decays
        /// exponentially and is never exactly 0 (at worst the smallest positive double). Only
        /// clones falling through the threshold leave the ODE (one that starts below it stays in
        /// the ODE), and no events are recorded: it keeps sub-cell values, which the ODE would
        /// leave to its absolute tolerance (and report as 0), exact.
        Continuous,
        /// Whole cells: an exact (Gillespie) birth–death–immigration simulation, with the random
        /// numbers of stream (seed, stream). A clone at 0 cells with no immigration is extinct for
        /// good, so a cure is a probability and a complete response can relapse. Every clone below
        /// the threshold at t = 0 starts as whole cells. Each transition is a SimulationEvent.
        Stochastic,
    };
    SmallClones smallClones = SmallClones::Continuous;
    /// Key of the random numbers of SmallClones::Stochastic (Philox4x64-10; docs/qsp.md, "Small
    /// clones"): the draws depend on (seed, stream, the run's own count of random events) only,
    /// never on threads or time, so a virtual trial sets seed once and stream per patient.
    std::uint64_t seed = 0;
    std::uint64_t stream = 0;  ///< e.g. a virtual patient's index
    /// End the run when the tumour's total cells rise through this number (cell; 0 = never): a row
    /// is recorded at that time and SimulationResult::stoppedAt_d set. A run that starts at or above
    /// it stops at t = 0. For a lethal tumour burden in a virtual trial.
    double stopAtTumourCells = 0;
    model::Index tumourCellType = model::kNoIndex;  ///< category tumour: growth and ligand profile
    /// The tumour's immunogenicity relative to the template tumour (1; ≥ 0): how many of the CD8 T
    /// cells it attracts recognise one of its antigens (neoantigen load and clonality, the TIL-rich
    /// "inflamed" phenotype). The tumour-reactive share of every CD8 T-cell population is
    /// cd8TumourReactiveShare(qsp.cd8_tumour_specific_fraction, this): the template's share at 1, a
    /// share proportional to it, at most 1. Whether those cells kill is still the synapse's (TCR on
    /// HLA-I, PD-1 on PD-L1), so an HLA-I-lost clone escapes them and PD-L1 holds them back until a
    /// PD-1/PD-L1 antibody blocks it (docs/qsp.md, "Tumour-reactive CD8 T cells").
    double tumourImmunogenicity = 1;
    std::vector<CloneSpec> clones;                   ///< clone 0 is the founding clone (no multipliers)
    std::vector<PopulationSpec> populations;
    std::vector<DrugRegimen> drugs;
    double durationDays = 0;        ///< > 0
    double outputIntervalDays = 1;  ///< > 0
    OdeOptions ode;
    /// Integrate every drug's PK inside the ODE and restart the solver at every dose (the first
    /// engine's way; slower). By default linear PK is propagated exactly outside the ODE, so doses
    /// need no restart. For checking one against the other.
    bool restartAtDoses = false;
    /// Land the solver on every output time and every change of a drug's input (the first
    /// engine's way). By default outputs are interpolated and an analytic drug's infusion start is
    /// stepped over (its end is landed on): see simulate(). For checking one against the other.
    bool landOnEveryEvent = false;
    /// Relative tolerance of the mediator states (1); 0 = ode.rtol. Why: after a dose, fast
    /// cytokines (IFN-γ, TNF-α; minutes) have transients that set the step size for the whole
    /// system at a tight rtol, while tumour outcomes are insensitive to them at the 1e-4 level.
    double mediatorRtol = 0;
    /// Absolute tolerance of each mediator state as a fraction of its reference level: the
    /// mediator's basal_level, or 1 of its unit where the model gives none (1); 0 = ode.atol in
    /// every mediator's own unit. Why: one atol across pg/mL, ng/mL, nM and mM is not one accuracy
    /// (1e-3 is 0.05 % of resting IFN-γ but 1.5 % of O2), and an atol far below a cytokine's
    /// resting level makes its post-dose transients set the step size at any rtol.
    double mediatorAtol = 0;
    /// Absolute tolerance of the granule and exhaustion fractions (1); 0 = ode.atol. Why: a
    /// fraction is at most 1, and exhaustion sits at 0.01–0.05, so the cells' atol (1e-3 cell)
    /// left it a few per cent loose, and IFN-γ, which the killers' contacts secrete, with it.
    double fractionAtol = 0;
    InitialMediators initialMediators = InitialMediators::SteadyState;
    /// Most internal solver steps over the whole run (0 = no limit beyond ode.maxSteps per stop);
    /// past it simulate() throws StepBudgetError. Why: a sensitivity analysis or a fit samples
    /// parameters from whole ranges, and a few corners (e.g. very fast CD8 T-cell proliferation)
    /// make the system so stiff that one run takes minutes where a typical patient-year takes ~250
    /// steps; bounding them keeps an analysis's cost predictable, and the point is reported failed.
    long maxRunSteps = 0;
};

/// The model or scenario makes the system impossible to start integrating: a state or derivative
/// that is not finite at t = 0, or a solver failure before the first output time. An InputError
/// (the CLI exits 2): only the run could find it, but the cause is in the inputs. The message
/// names the states by their result column names.
class ModelInputError : public InputError {
public:
    using InputError::InputError;
};

/// The run spent SimulationSpec::maxRunSteps solver steps before its end. A SolverError: the run's
/// cost, not its inputs; retrying at a tighter tolerance would only cost more.
class StepBudgetError : public SolverError {
public:
    using SolverError::SolverError;
};

/// A dose or another event, for events.csv.
struct SimulationEvent {
    double time_d = 0;
    /// "dose" (a bolus) or "infusion start" (an infusion): one row per dose given, overlapping
    /// or simultaneous doses included. With SmallClones::Stochastic: "clone stochastic" (a clone
    /// is followed as whole cells from now on), "clone continuous" (back in the ODE), "clone
    /// extinct" (0 cells and no immigration: for good), "tumour extinct" (every clone extinct).
    /// "tumour burden reached": SimulationSpec::stopAtTumourCells was reached; the run ends.
    std::string kind;
    /// "trastuzumab 420 mg" (a bolus), "IL-2 therapy 0.7 mg over 0.25 h" (an infusion),
    /// "clone 'founding': 100 cells, fallen below 100 cells: followed as 100 whole cells".
    std::string detail;
};

/// The trajectory: one column per named quantity, one row per output time.
struct SimulationResult {
    /// Quantity names: "tumour.cells", "clone.<name>", "<category>.<cell type>" (cells in the
    /// tumour), "blood.<cell type>", "exhaustion.<cell type>", "granules.<cell type>",
    /// "receptor.<cell type>.<receptor>" (a killer's relaxing receptor level), "mediator.<name>",
    /// "plasma.<mediator>" (the plasma level of a mediator with plasma_half_life), "drug.<therapy>".
    std::vector<std::string> columns;
    std::vector<std::string> units;    ///< unit of each column
    std::vector<double> times;         ///< d
    std::vector<std::vector<double>> rows;  ///< rows[i][j]: column j at times[i]
    std::vector<SimulationEvent> events;
    /// What the run did not do as asked, one sentence each (e.g. doses starting at or after the
    /// end of the run, which are not given). summary.json lists them; the CLI prints them.
    std::vector<std::string> warnings;
    OdeStats stats;
    /// Each clone's heritable profile relative to the founding clone, in the milieu at t = 0:
    /// "<ligand>" → surface level ratio (after regulation, so a methylation trait shows as lower
    /// HLA-I), "<ligand> shedding" → ratio of the secretion of that ligand's soluble form. Ratios
    /// of levels that are 0 in the founding clone are left out. For the immunoediting classifier.
    std::vector<std::map<std::string, double>> cloneProfiles;
    /// The time at which the tumour reached SimulationSpec::stopAtTumourCells and the run ended
    /// (d; the last row is at this time); empty if it ran to the end.
    std::optional<double> stoppedAt_d;

    /// Index of column `name`. \throws InputError naming the column if there is none.
    [[nodiscard]] std::size_t column(std::string_view name) const;
    /// Column `name` at the last output time. \throws InputError if there is no such column.
    [[nodiscard]] double final(std::string_view name) const;
    /// Column `name` at the output time nearest to `t_d`. \throws InputError if there is none.
    [[nodiscard]] double at(std::string_view name, double t_d) const;
};

/// Why therapy `therapy` of `m` cannot be dosed in the engine, or "" if it can: no usable PK
/// (DrugPk::fromTherapy's message), a mechanism that needs a concentration while the therapy has
/// no molecular_weight, a supplied mediator that cannot be converted, a systemic lyse/recruit/
/// deplete without ic50. The engine and the scenario reader both call it.
[[nodiscard]] std::string dosingProblem(const model::CompiledModel& m, model::Index therapy);

/// Why a population of `cellType` cannot be followed in a tumour of `tumourCellType`, or "": a
/// cell type that regulates others by contact (a regulation reads its density) needs the tumour
/// cell type's density (cell/mL). The engine and the scenario reader both call it.
[[nodiscard]] std::string populationProblem(const model::CompiledModel& m, model::Index cellType, model::Index tumourCellType);
/// Why populations of `cellTypes` cannot be followed together, or "": TAM M1 and M2 populations
/// switch by the factor "M2 polarisation", which the model must declare.
[[nodiscard]] std::string populationsProblem(const model::CompiledModel& m, std::span<const model::Index> cellTypes);

/// Immune kills per tumour cell per day in the engine's Beddington–DeAngelis functional response
/// (docs/qsp.md, "The engine"): `pressure` Λ (cell/d) is the kills all effectors would deliver per
/// day at target saturation, Σ_g share_g·ε_eff,g·P_g·E_g; `targets` N the tumour cells;
/// `halfSaturation` N_½ (cell, qsp.encounter_half_saturation); `maxPerTarget` κ_max (1/d,
/// qsp.target_engagement_max):
///   Λ / (N + N_½ + Λ/κ_max)   (1/d)
/// It is below κ_max however large Λ and however small N, and equals the effector-limited form
/// Λ/(N + N_½) within a factor 1 + Λ/(κ_max (N + N_½)) where targets are plentiful. The engine
/// computes every clone's kills with this function's denominator.
/// \throws InputError if an argument is negative or not finite, or halfSaturation or maxPerTarget is 0.
[[nodiscard]] double perTargetKillRate(double pressure, double targets, double halfSaturation, double maxPerTarget);

/// The share of a tumour's infiltrating CD8 T cells that recognise it (1): `baseShare` (1,
/// qsp.cd8_tumour_specific_fraction, the template tumour's) times `immunogenicity` (1,
/// SimulationSpec::tumourImmunogenicity), at most 1 — every infiltrating CD8 T cell at most.
/// \throws InputError if an argument is negative or not finite, or baseShare > 1.
[[nodiscard]] double cd8TumourReactiveShare(double baseShare, double immunogenicity);

/// What the engine prepares from a model once and reuses for every simulation of it: the
/// Regulator (set-point plans) and the Synapse (decision tables). Why: a virtual trial simulates
/// thousands of patients of one model, and building these per patient was ~4 % of a dosed
/// patient-year. Keeps a reference to the model, which must outlive it. Simulations only read it,
/// so threads may share one.
class EngineModel {
public:
    explicit EngineModel(const model::CompiledModel& m) : model_(&m), regulator_(m), synapse_(m) {}
    [[nodiscard]] const model::CompiledModel& model() const noexcept { return *model_; }
    [[nodiscard]] const synapse::Regulator& regulator() const noexcept { return regulator_; }
    [[nodiscard]] const synapse::Synapse& synapse() const noexcept { return synapse_; }

private:
    const model::CompiledModel* model_;  // not owned
    synapse::Regulator regulator_;
    synapse::Synapse synapse_;
};

/// Runs the simulation. Doses starting at or after the end (durationDays) are not given; each drug
/// that has some gets a line in SimulationResult::warnings. Cost: O(n log n) in the number of
/// doses n besides the integration itself.
/// \throws InputError naming what is wrong with `spec` (wrong category, no clone, non-positive
/// duration, a population without death_rate, a constant the model lacks); ModelInputError when a
/// state or its derivative is not finite at t = 0, or CVODE fails before the first output time;
/// SolverError if CVODE fails later (with the time and the states).
[[nodiscard]] SimulationResult simulate(const EngineModel& engine, const SimulationSpec& spec);
/// The same, preparing the model for this one simulation (simulate(EngineModel(m), spec)).
[[nodiscard]] SimulationResult simulate(const model::CompiledModel& m, const SimulationSpec& spec);

}  // namespace nkscape::qsp
