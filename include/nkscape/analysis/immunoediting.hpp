#pragma once
/// \file
/// The immunoediting classifier: from a tumour trajectory (total cells and clone composition over
/// time) to the phases elimination / equilibrium / escape over time, the phase changes with the
/// clone composition at each, and an evasion score of the population. A pure function of its
/// input; every engine (qsp, abm) feeds it the same way. See docs/qsp.md, "Immunoediting phases",
/// and the review's section "Tumor immunoediting and NK cells in BC".
///
/// The rule, per window of `window_d` days (r = net growth rate, least squares on ln N; N_end =
/// cells at the window's end; H = projection horizon):
///   1. Elimination  if N_end < elimination floor, or r < −eliminationRate and N_end·e^{rH} < floor;
///   2. Escape       if r > escapeRate and (N_end ≥ detection limit or N_end·e^{rH} ≥ detection);
///   3. Equilibrium  otherwise — |r| ≤ equilibriumBand is its core; a slow drift that reaches
///                   neither the floor nor detection within H is also persistence.

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nkscape::analysis {

/// The three phases of immunoediting (review: "elimination, equilibrium, and escape").
enum class Phase { Elimination, Equilibrium, Escape };

/// "elimination", "equilibrium" or "escape".
[[nodiscard]] std::string_view phaseName(Phase p) noexcept;

/// One clone of the tumour over time.
struct Clone {
    std::string name;            ///< unique within the trajectory, not empty
    std::vector<double> cells;   ///< cells of this clone at each time of the trajectory (cell, ≥ 0)
    /// Heritable evasive traits, each a multiplier relative to the founding clone (1, ≥ 0): e.g.
    /// {"HLA-I", 0.1}, {"HLA-E", 4}. A trait the clone does not list is at the founding level (1).
    /// Every name must be in the rules' evasiveTraits table.
    std::map<std::string, double> traits;
};

/// A tumour trajectory, as an engine records it.
struct TumourTrajectory {
    std::string name;                ///< names the trajectory in error messages
    std::vector<double> times_d;     ///< sample times (day), finite, strictly increasing, ≥ 2
    std::vector<double> totalCells;  ///< total tumour cells at each time (cell, finite, ≥ 0)
    /// Clone composition (may be empty for classification; the evasion functions need ≥ 1).
    /// Fractions are taken relative to the sum of the clones; phases are read from totalCells.
    std::vector<Clone> clones;
};

/// Which way a trait moves when the tumour becomes more evasive.
enum class EvasiveDirection { Lower, Higher };

/// One entry of the evasion score: a trait, the direction that evades NK/T cells and its weight.
struct EvasiveTrait {
    std::string name;
    EvasiveDirection evasive = EvasiveDirection::Higher;
    double weight = 1;  ///< relative weight in the score (1, finite, ≥ 0; 0 = carried but neutral)
};

/// The default trait table, weight 1 each: "HLA-I" Lower (T-cell escape), "HLA-E" Higher and
/// "HLA-G" Higher (NKG2A / KIR2DL4-LILRB1 inhibition that covers the missing self HLA-I loss would
/// expose), "MICA/B" Lower (NKG2D ligand down), "MICA shedding" Higher (sMICA decoy, ligand off
/// the surface), "PD-L1" Higher (PD-1 inhibition).
[[nodiscard]] std::vector<EvasiveTrait> defaultEvasiveTraits();

/// The thresholds of the classifier, with defaults and units. docs/qsp.md gives the reason for each.
struct ImmunoeditingRules {
    double detectionLimit_cells = 1e9;   ///< clinically detectable tumour (cell; ≈ 1 cm³)
    double eliminationFloor_cells = 1;   ///< below this the tumour is gone (cell, > 0)
    double window_d = 30;                ///< window length (day, > 0)
    double equilibriumBand_per_d = 0.002;   ///< |r| ≤ band ⇒ equilibrium (1/day, ≥ 0)
    double escapeRate_per_d = 0.002;        ///< r must exceed this for escape (1/day, ≥ band)
    double eliminationRate_per_d = 0.002;   ///< r must be below −this for a projected elimination (1/day, ≥ band)
    double horizon_d = 365;                 ///< projection horizon H (day, ≥ 0)
    int minSamplesPerWindow = 3;            ///< samples a window must hold (≥ 2)
    std::vector<EvasiveTrait> evasiveTraits = defaultEvasiveTraits();  ///< the score's table
    double traitFloor = 0.01;    ///< trait multipliers are clamped to [floor, ceiling] before ln (1, > 0)
    double traitCeiling = 100;   ///< (1, ≥ floor)
    double enrichmentTolerance = 1e-9;  ///< smallest ln-move that counts as a move (1, ≥ 0)

    /// \throws InputError naming the offending rule if a threshold is not finite or out of range,
    /// or the trait table has an empty/duplicate name or a negative weight.
    void validate() const;
};

/// One window of the classification.
struct PhaseWindow {
    double start_d = 0;           ///< window start (day)
    double end_d = 0;             ///< window end (day)
    Phase phase = Phase::Equilibrium;
    double growthRate_per_d = 0;  ///< least-squares slope of ln N over the window's non-zero samples (1/day); NaN if fewer than 2
    double meanCells = 0;         ///< time-averaged total cells over the window (trapezoid rule) (cell)
    double endCells = 0;          ///< total cells at the window's end (cell)
};

/// A clone's share of the tumour at one time.
struct CloneFraction {
    std::string name;
    double fraction = 0;  ///< cells of the clone / cells of all clones (1)
};

/// A change of phase between two consecutive windows.
struct PhaseChange {
    double time_d = 0;  ///< the boundary between the two windows (day)
    Phase from = Phase::Equilibrium;
    Phase to = Phase::Equilibrium;
    std::vector<CloneFraction> composition;  ///< clone fractions at time_d (empty if no clones)
};

/// The classification of a trajectory.
struct ImmunoeditingResult {
    std::vector<PhaseWindow> windows;  ///< contiguous, in time order, covering the trajectory
    std::vector<PhaseChange> changes;  ///< in time order
    /// The phase of the window holding time_d (day); the later window at a boundary.
    /// \throws InputError if time_d is outside the windows.
    [[nodiscard]] Phase phaseAt(double time_d) const;
};

/// Checks a trajectory: ≥ 2 times, finite and strictly increasing; totalCells and every clone's
/// cells as long as times_d, finite and ≥ 0; clone names non-empty and unique; trait multipliers
/// finite, ≥ 0 and named in rules.evasiveTraits.
/// \throws InputError whose message names the trajectory (and clone, trait, index) at fault.
void validateTrajectory(const TumourTrajectory& t, const ImmunoeditingRules& rules = {});

/// Net growth rate r = d ln N/dt (1/day): the least-squares slope of ln N on t over the samples
/// with N > 0. NaN if fewer than two such samples (or if they share one time).
/// \throws InputError if the spans differ in length.
[[nodiscard]] double netGrowthRate(std::span<const double> times_d, std::span<const double> cells);

/// Classifies the trajectory window by window (see the file comment for the rule). Windows start
/// at times_d.front() and last window_d days; a trailing remainder longer than half a window is a
/// window of its own, a shorter one is merged into the last window.
/// \throws InputError for a bad trajectory or rules, or if a window holds fewer than
/// rules.minSamplesPerWindow samples (the message names the trajectory and the window).
[[nodiscard]] ImmunoeditingResult classifyImmunoediting(const TumourTrajectory& t,
                                                        const ImmunoeditingRules& rules = {});

/// Clone fractions at time_d (day), counts interpolated linearly between samples.
/// \throws InputError if time_d is outside the trajectory, there are no clones, or no clone cells at time_d.
[[nodiscard]] std::vector<CloneFraction> cloneComposition(const TumourTrajectory& t, double time_d);

/// Population level of each trait in rules.evasiveTraits at time_d (day): the abundance-weighted
/// geometric mean of the clones' clamped multipliers, exp(Σ f_i ln x_i) (1; 1 = founding clone).
/// \throws InputError as cloneComposition and validateTrajectory.
[[nodiscard]] std::map<std::string, double> populationTraits(const TumourTrajectory& t, double time_d,
                                                             const ImmunoeditingRules& rules = {});

/// Evasion score of the population at time_d (day), in natural-log fold units (1):
///     S = Σ_i f_i · s_i,   s_i = Σ_k w_k · σ_k · ln clamp(x_ik) / Σ_k w_k,
/// f_i the clone fractions, x_ik clone i's multiplier of trait k, σ_k = +1 if Higher is evasive and
/// −1 if Lower is, w_k the weights. 0 = the founding clone; > 0 more evasive (e.g. HLA-I × 0.1 and
/// HLA-E × 4 under the default table: (ln 10 + ln 4)/6 ≈ 0.615). Linear in ln traits, so if every
/// trait's population level moves the evasive way the score rises.
/// \throws InputError as populationTraits.
[[nodiscard]] double evasionScore(const TumourTrajectory& t, double time_d,
                                  const ImmunoeditingRules& rules = {});

/// How one trait's population level moved between two times.
struct TraitShift {
    std::string name;
    EvasiveDirection evasive = EvasiveDirection::Higher;
    double start = 1;           ///< population level at the start (1)
    double end = 1;             ///< population level at the end (1)
    bool varies = false;        ///< some clone present at some sample carries it ≠ 1 (and weight > 0)
    bool movedEvasive = false;  ///< σ·(ln end − ln start) > enrichmentTolerance
};

/// Start-versus-end comparison of the population's evasive traits (what V17 asserts).
struct EvasionComparison {
    double start_d = 0;     ///< (day)
    double end_d = 0;       ///< (day)
    double scoreStart = 0;  ///< evasion score at start_d (1)
    double scoreEnd = 0;    ///< evasion score at end_d (1)
    std::vector<TraitShift> traits;  ///< one per entry of rules.evasiveTraits, in table order
    /// "Enriched for evasive traits": every trait that varies moved the evasive way, at least one
    /// trait varies, and scoreEnd − scoreStart > enrichmentTolerance.
    bool enriched = false;
};

/// Compares the population at start_d and end_d (day).
/// \throws InputError as evasionScore, or if start_d > end_d.
[[nodiscard]] EvasionComparison compareEvasion(const TumourTrajectory& t, double start_d, double end_d,
                                               const ImmunoeditingRules& rules = {});
/// Compares the first and last samples of the trajectory.
[[nodiscard]] EvasionComparison compareEvasion(const TumourTrajectory& t,
                                               const ImmunoeditingRules& rules = {});

}  // namespace nkscape::analysis
