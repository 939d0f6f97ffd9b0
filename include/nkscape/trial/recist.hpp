#pragma once
/// \file
/// From a patient's simulated tumour cells to RECIST 1.1 responses (Eisenhauer et al. 2009 Eur J
/// Cancer 45:228, doi:10.1016/j.ejca.2008.10.026): the endpoints half of the virtual-trial engine
/// (issue 11, item 2), built before the engine so it can be tested on its own. docs/trials.md,
/// "From cells to RECIST", gives the reason for every rule below.
///
/// The pipeline, per patient:
///   1. the total tumour cells are read at each assessment time (log-linear interpolation of the
///      trajectory; assessmentCells);
///   2. the cells are split over 1–5 target lesions by fixed baseline fractions — every lesion
///      follows the patient's one trajectory, shrinking and growing in proportion to the total;
///   3. each lesion is a sphere of tumour tissue at a cell density; its diameter is its measured
///      longest diameter (lesionDiameter_mm), optionally with a multiplicative lognormal
///      measurement error (measurementFactor);
///   4. lesions measurable at baseline (≥ 10 mm) are the target lesions; their diameters sum to
///      the SLD, and each follow-up SLD is classified against baseline and nadir
///      (classifyTimePoint);
///   5. the time-point responses give the best overall response (with or without confirmation),
///      time to progression, duration of response and clinical benefit (assessRecist).
///
/// Out of scope (docs/trials.md): new lesions and non-target lesions (the simulated tumour is one
/// burden; it has no sites), organs (RECIST allows at most 2 target lesions per organ), lymph
/// nodes (short-axis rules).

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nkscape::qsp {
struct SimulationResult;
}

namespace nkscape::trial {

/// A RECIST 1.1 response, at one time point or as the best overall response.
enum class Response {
    CR,  ///< complete response: every target lesion gone (SLD = 0)
    PR,  ///< partial response: SLD ≥ 30 % below baseline
    SD,  ///< stable disease: neither PR nor PD
    PD,  ///< progressive disease: SLD ≥ 20 % and ≥ 5 mm above the nadir
    NE,  ///< not evaluable (no measurable baseline, or too few assessments for a best response)
};

/// "CR", "PR", "SD", "PD" or "NE".
[[nodiscard]] std::string_view responseName(Response r) noexcept;

/// The plausible range of tumour cell density (cell/cm³) and its default: Del Monte 2009 Cell
/// Cycle 8:505, PMID 19176997 ("1 g ≈ 1e9 cells" is the upper end; stroma, necrosis and larger
/// cells bring real tumours down to ~1e8 cells/cm³).
inline constexpr double kDefaultCellDensity_per_cm3 = 1e9;
inline constexpr double kMinCellDensity_per_cm3 = 1e8;
inline constexpr double kMaxCellDensity_per_cm3 = 1e9;

/// At most 5 target lesions per patient and at most 2 per organ (Eisenhauer 2009, section 4.2).
inline constexpr std::size_t kMaxTargetLesions = 5;

/// How cells become a measured lesion.
struct LesionGeometry {
    /// Tumour cells per cm³ of lesion (cell/cm³), within [kMinCellDensity_per_cm3,
    /// kMaxCellDensity_per_cm3]. Source: Del Monte 2009, PMID 19176997.
    double cellDensity_per_cm3 = kDefaultCellDensity_per_cm3;
    /// A lesion with fewer cells is recorded as disappeared, 0 mm (cell, ≥ 0). assumption: 1e6
    /// cells is a 1.2 mm sphere at 1e9 cells/cm³, far below what CT resolves (RECIST measures
    /// nothing under 10 mm, or twice a 5 mm slice), so a radiologist sees nothing; kept well
    /// below the imaging limit so that "gone" means near-eradicated, not merely small.
    double detectionLimit_cells = 1e6;
    /// Smallest longest diameter of a measurable lesion at baseline (mm, > 0): RECIST 1.1 needs
    /// ≥ 10 mm by CT (Eisenhauer 2009, section 3.1.1).
    double minMeasurable_mm = 10;
};

/// The response thresholds and best-response rules. Defaults are RECIST 1.1 (Eisenhauer 2009).
struct RecistCriteria {
    double partialResponseDecrease = 0.30;   ///< PR: SLD ≤ (1 − this)·baseline (1, in (0, 1))
    double progressionIncrease = 0.20;       ///< PD: SLD ≥ (1 + this)·nadir … (1, > 0)
    double progressionAbsolute_mm = 5;       ///< … and SLD ≥ nadir + this (mm, ≥ 0)
    /// CR/PR count as best response only when a repeat assessment ≥ confirmationInterval_d later
    /// shows it again (Eisenhauer 2009, section 4.6.1: required in non-randomised trials where
    /// response is the primary endpoint).
    bool requireConfirmation = false;
    double confirmationInterval_d = 28;      ///< ≥ 4 weeks (Eisenhauer 2009, 4.6.1) (day, > 0)
    /// SD is a best response only if a non-PD time point was recorded at least this long after
    /// baseline (day, ≥ 0). RECIST 1.1 leaves it to the protocol, "in general not less than 6–8
    /// weeks" (Eisenhauer 2009, section 4.4.3 / 4.6.3); 6 weeks is the lower end.
    double minStableDuration_d = 42;
    /// Clinical benefit: a CR or PR best response, or a non-PD time point recorded at least this
    /// long after baseline and before any PD (day, ≥ 0). assumption: 24 weeks, the usual clinical-benefit
    /// rate cut-off in breast-cancer trials (e.g. SD ≥ 24 weeks); protocols also use 6 months.
    double clinicalBenefit_d = 168;
};

/// Optional measurement error of each lesion's diameter: a multiplicative lognormal factor with
/// mean 1, drawn from a Philox4x64-10 stream keyed by (seed, patient, assessment, lesion) — the
/// same numbers whatever order patients or assessments are evaluated in.
struct MeasurementError {
    /// Coefficient of variation of a measured diameter (1, in [0, 1]); 0 = exact measurements.
    /// For reference: the pooled inter-observer 95 % limits of agreement of a single lesion's
    /// longest diameter are −22 % to +25 % (Yoon et al. 2016 Eur J Cancer 53:5,
    /// doi:10.1016/j.ejca.2015.10.014, PMID 26687017), i.e. a CV of ≈ 0.09 per reading
    /// (23.7 % / 1.96 / √2); a single observer's are ±17 % (CV ≈ 0.06).
    double cv = 0;
    std::uint64_t seed = 0;  ///< the trial's seed
};

/// Everything assessRecist needs besides the patient.
struct RecistOptions {
    LesionGeometry geometry;
    RecistCriteria criteria;
    MeasurementError error;
};

/// One patient's tumour burden over time, as an engine records it.
struct TumourBurden {
    std::string name;                ///< names the patient in error messages
    std::vector<double> times_d;     ///< output times (day): finite, strictly increasing, ≥ 1 value
    std::vector<double> cells;       ///< total tumour cells at each time (cell): finite, ≥ 0
};

/// The "tumour.cells" column of an engine's result as a TumourBurden named `name`. InputError if
/// the result has no such column.
[[nodiscard]] TumourBurden tumourBurden(const qsp::SimulationResult& result, std::string name);

/// Total tumour cells at `time_d` (cell): log-linear interpolation between the two bracketing
/// outputs (linear where either is 0), exact at an output time. InputError if `time_d` is not
/// finite or outside [times_d.front(), times_d.back()] (no extrapolation), or the burden is
/// malformed.
[[nodiscard]] double assessmentCells(const TumourBurden& burden, double time_d);

/// Diameter (mm) of a sphere of `cells` tumour cells at `cellDensity_per_cm3` (cell/cm³):
/// V = cells/density (cm³), d = 10·(6V/π)^(1/3). 1e9 cells at 1e9 cells/cm³ → 12.407 mm.
/// InputError if cells < 0 or not finite, or the density is not > 0 and finite.
[[nodiscard]] double sphereDiameter_mm(double cells, double cellDensity_per_cm3);

/// The measured diameter of a lesion of `cells` cells (mm, before measurement error): 0 below
/// geometry.detectionLimit_cells (disappeared), else sphereDiameter_mm — also under 10 mm, where
/// RECIST would record "too small to measure" as 5 mm (docs/trials.md says why not here).
[[nodiscard]] double lesionDiameter_mm(double cells, const LesionGeometry& geometry);

/// The measurement-error factor of one reading (1, > 0; exactly 1 when cv = 0): lognormal with
/// mean 1 and coefficient of variation `cv`, a pure function of (seed, patient, assessment,
/// lesion). Assessment 0 is baseline.
[[nodiscard]] double measurementFactor(const MeasurementError& error, std::uint64_t patient, std::uint64_t assessment,
                                       std::uint64_t lesion);

/// The time-point response of a follow-up SLD (mm) against the baseline SLD (mm, > 0) and the
/// nadir (mm): the smallest SLD recorded before this assessment, baseline included. Order:
/// CR if SLD = 0; PD if a CR was recorded earlier (`completeResponseBefore`) and any target
/// lesion is back (SLD > 0; Eisenhauer 2009, section 4.3.2); PD if SLD ≥ (1 + 20 %)·nadir and
/// SLD ≥ nadir + 5 mm; PR if SLD ≤ (1 − 30 %)·baseline; SD otherwise. Comparisons at the
/// thresholds are inclusive, with a 1e-9 relative tolerance so a value exactly on a threshold
/// is not moved off it by rounding.
[[nodiscard]] Response classifyTimePoint(double sld_mm, double baselineSld_mm, double nadirSld_mm, bool completeResponseBefore,
                                         const RecistCriteria& criteria);

/// Evenly spaced assessment times (day): baseline_d, baseline_d + interval_d, … up to end_d
/// (included when it falls on the grid, within 1e-9 d). interval_d > 0 (e.g. 42 or 56: every 6
/// or 8 weeks), baseline_d ≥ 0, end_d ≥ baseline_d, all finite, at most 10,000 times —
/// InputError otherwise.
[[nodiscard]] std::vector<double> regularSchedule(double interval_d, double end_d, double baseline_d = 0);

/// How a patient's tumour is laid out over target lesions at baseline.
struct LesionSplit {
    /// Fraction of the total tumour cells in each lesion (1): 1–5 values, each > 0 and finite,
    /// summing to 1 (within 1e-9). The fractions hold at every time (one shared trajectory).
    std::vector<double> fractions = {1.0};
};

/// One follow-up assessment (or the baseline).
struct RecistAssessment {
    double time_d = 0;          ///< assessment time (day, on the trajectory's clock)
    double cells = 0;           ///< total tumour cells then (cell)
    std::vector<double> diameters_mm;  ///< every lesion as measured (mm; 0 = disappeared), target or not
    double sld_mm = 0;          ///< sum of the target lesions' diameters (mm)
    double nadir_mm = 0;        ///< smallest SLD before this assessment, baseline included (mm)
    Response response = Response::NE;  ///< the time-point response (NE for the baseline)
};

/// Whether a patient can be assessed by RECIST at all.
enum class Evaluability {
    Evaluable,
    NoMeasurableLesion,  ///< no lesion reached geometry.minMeasurable_mm at baseline
};

/// A patient's RECIST 1.1 endpoints.
struct RecistOutcome {
    Evaluability evaluability = Evaluability::Evaluable;
    bool evaluable() const noexcept { return evaluability == Evaluability::Evaluable; }
    RecistAssessment baseline;                 ///< at the schedule's first time
    std::vector<bool> targetLesion;            ///< per lesion: measurable at baseline, so in the SLD
    std::vector<RecistAssessment> followUps;   ///< the schedule's later times, in order
    /// Best overall response from baseline up to the first PD (NE when not evaluable, or when no
    /// follow-up qualifies for anything: e.g. one SD before minStableDuration_d).
    Response bestResponse = Response::NE;
    /// The best response is CR or PR and a repeat assessment ≥ confirmationInterval_d later
    /// confirmed it (reported whether or not criteria.requireConfirmation).
    bool bestResponseConfirmed = false;
    /// Time from baseline to the first PD (progressed) or to the last assessment (censored)
    /// (day). 0 and not progressed when there is no follow-up.
    double timeToProgression_d = 0;
    bool progressed = false;
    /// For a CR or PR best response: from the first CR/PR time point to the first PD
    /// (responseEnded) or to the last assessment (censored) (day). Empty otherwise.
    std::optional<double> durationOfResponse_d;
    bool responseEnded = false;
    /// CR or PR best response, or a non-PD time point ≥ criteria.clinicalBenefit_d after
    /// baseline before any PD.
    bool clinicalBenefit = false;
};

/// A patient's RECIST 1.1 outcome. `schedule_d`: assessment times (day, on the trajectory's
/// clock), the first being the baseline; finite, ≥ 0, strictly increasing, within the burden's
/// times, at least one. `patient` keys the measurement error. InputError (naming the patient and
/// the value) for a malformed burden, split, schedule or options.
[[nodiscard]] RecistOutcome assessRecist(const TumourBurden& burden, const LesionSplit& split, std::span<const double> schedule_d,
                                         const RecistOptions& options, std::uint64_t patient = 0);

}  // namespace nkscape::trial
