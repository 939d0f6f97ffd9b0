#pragma once
/// \file
/// The in-silico killing assay: NK cells and target cells in a well for a few hours, each contact
/// decided by the synapse, reported as % specific lysis (as a chromium-release or flow assay
/// computes it) and IFN-γ in the medium. docs/assay.md has the algorithm and the reason for each
/// choice.
///
/// Every well — one (condition, effector:target ratio, replicate) — is simulated independently with
/// counter-based random numbers (Random123 Philox) keyed by (seed, condition, ratio, replicate,
/// cell, draw), so the numbers are bit-identical whatever the number of threads.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "nkscape/assay/scenario.hpp"
#include "nkscape/io/budget.hpp"
#include "nkscape/io/json.hpp"
#include "nkscape/io/run.hpp"
#include "nkscape/model/model.hpp"

namespace nkscape::assay {

/// How to run.
struct AssayOptions {
    /// Worker threads (OpenMP); 0 = OpenMP's default (OMP_NUM_THREADS or the number of cores).
    /// Without OpenMP the assay runs on one thread whatever this says.
    int threads = 0;
    /// Called after each finished well with (wells done, wells in total). Called from worker
    /// threads, one call at a time; must not throw. May be empty.
    std::function<void(std::size_t done, std::size_t total)> progress;
};

/// One simulated well.
struct WellResult {
    std::uint32_t effectors = 0;      ///< NK cells in the well: round(E:T × targets)
    std::uint32_t deadWell = 0;       ///< targets dead at the end (NK-killed or spontaneous)
    std::uint32_t deadControl = 0;    ///< targets dead at the end of the target-only control well
    std::uint32_t kills = 0;          ///< kills by NK cells that count as dead at the readout
    double lysisPct = 0;              ///< 100 × (deadWell − deadControl) / (targets − deadControl); 0 if all control targets died
    double ifng = 0;                  ///< IFN-γ in the medium at the end, in the IFN-g mediator's unit
    double topDecileKillShare = 0;    ///< share of the kills made by the top 10 % of NK cells (ceil(0.1·N_E) cells); NaN without kills
    std::uint32_t nkWithoutKill = 0;  ///< NK cells that killed nothing
    std::uint32_t serialKillers = 0;  ///< NK cells with two kills or more
    std::uint32_t serialKills = 0;    ///< kills made by those serial killers
    std::uint32_t nonkillers = 0;     ///< NK cells drawn as non-killers (unarmed)
    std::uint32_t maxKillsPerNk = 0;  ///< most kills by one NK cell
    std::uint64_t contacts = 0;       ///< NK–target contacts made
    /// Meetings drawn, including those with a target already dead or hit (thinned away): the
    /// well's work, which estimateResources bounds. Not written to the outputs.
    std::uint64_t meetings = 0;
};

/// Mean and 95 % confidence interval over replicates: mean ± t(0.975, n−1)·sd/√n (the mean itself when n = 1).
struct Interval {
    double mean = 0;
    double low = 0;
    double high = 0;
};

/// One effector:target ratio of one condition.
struct RatioResult {
    double etRatio = 0;
    std::vector<WellResult> wells;  ///< one per replicate, in replicate order
    Interval lysisPct;
    Interval ifng;
};

/// A mediator the targets secreted into the medium while conditioning it (docs/assay.md, "Conditioning").
struct ConditionedMediator {
    model::Index mediator = model::kNoIndex;
    double concentration = 0;  ///< added to the medium by the end of conditioning, in the mediator's unit
    double secretion = 0;      ///< per target cell, <mediator unit>.mL/(cell.h), from the targets' set-point
    double decayPerHour = 0;   ///< k used: decay_rate, or ln2/half_life; 0 if the mediator has neither (no decay)
    bool decays = false;       ///< the mediator has a decay_rate or half_life
};

/// What a condition resolved to: the numbers the wells were run with.
struct ConditionSetup {
    double fractionNonkiller = 0;   ///< of the effector cell type, or the constant assay.fraction_nonkiller
    bool fractionFromCellType = false;
    double granuleCapacity = 0;     ///< kills' worth of granules of a full NK cell (NkState::granules of the set-point)
    double granuleRefillHours = 0;  ///< of the effector cell type, or the constant assay.granule_refill_time
    bool refillFromCellType = false;
    double cd16Affinity = 1;        ///< relative to V158
    std::vector<IndexedValue> milieu;  ///< mediators at a non-zero level in the well (mediator's unit), conditioning included
    double conditioningHours = 0;      ///< 0: the medium was not conditioned
    std::vector<ConditionedMediator> conditioned;  ///< what conditioning added, one per mediator the targets secrete
};

/// One condition.
struct ConditionResult {
    std::string name;
    ConditionSetup setup;
    std::vector<RatioResult> ratios;  ///< in the scenario's order of ratios
};

/// A whole run.
struct AssayResult {
    std::vector<ConditionResult> conditions;
    std::string ifngUnit;   ///< the IFN-g mediator's unit ("pg/mL"); empty if the model has no IFN-g mediator
    int threads = 1;        ///< threads actually used
    double wallSeconds = 0;
};

/// The thread count runAssay uses for AssayOptions::threads = 0: OpenMP's default
/// (OMP_NUM_THREADS or the cores), or 1 without OpenMP.
[[nodiscard]] int defaultThreads();

/// The work (NK-target encounters, an upper bound) and the peak memory (bytes) of running
/// `scenario` on `threads` threads (0 = OpenMP's default), for io::checkBudget before the run.
[[nodiscard]] io::ResourceEstimate estimateResources(const model::CompiledModel& model, const AssayScenario& scenario, int threads);

/// Runs the assay of `scenario` on `model` (the model the scenario was checked against).
/// \throws InputError naming what is missing or wrong: an [[constant]] assay.* the model does not
///         declare, assay.spontaneous_lysis = 1, a scenario built in code with bad numbers, ...
[[nodiscard]] AssayResult runAssay(const model::CompiledModel& model, const AssayScenario& scenario, const AssayOptions& options = {});

/// Student's t quantile t(p, df) for p in (0, 1), df >= 1 (by bisection on the exact CDF).
[[nodiscard]] double studentTQuantile(double p, double df);

/// Mean ± t(0.975, n−1)·sd/√n of `values` (sample sd, n − 1); the mean when n = 1; NaNs if empty.
[[nodiscard]] Interval confidenceInterval95(const std::vector<double>& values);

/// The content of lysis.csv: condition,effector,target,et_ratio,lysis_mean_pct,lysis_ci_low_pct,lysis_ci_high_pct,replicates.
[[nodiscard]] std::string lysisCsv(const model::CompiledModel& model, const AssayScenario& scenario, const AssayResult& result);

/// The content of ifng.csv: same shape, IFN-γ columns named with the unit (ifng_mean_pg_per_mL, ...).
[[nodiscard]] std::string ifngCsv(const model::CompiledModel& model, const AssayScenario& scenario, const AssayResult& result);

/// summary.json: the scenario, every resolved input, seed, model identity, nkscape version,
/// threads, wall time and, per condition and ratio, the serial-killing statistics.
[[nodiscard]] io::Json summaryJson(const model::CompiledModel& model, const AssayScenario& scenario, const AssayResult& result);

/// Adds lysis.csv, ifng.csv (when the model has an IFN-g mediator) and summary.json to `run` and
/// commits it: the output folder then holds this whole run (io/run.hpp). Create `run` before
/// runAssay(), so that an unusable output folder is refused before the computation. Returns the
/// files written, under the run's target.
/// \throws IoError naming the file or folder that could not be written; InternalError if a result
///         holds NaN or infinity (nothing is written then).
std::vector<std::filesystem::path> writeAssayOutputs(io::RunFolder& run, const model::CompiledModel& model,
                                                     const AssayScenario& scenario, const AssayResult& result);

}  // namespace nkscape::assay
