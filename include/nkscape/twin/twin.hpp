#pragma once
/// \file
/// A patient's digital twin (docs/twin.md): one patient's measurements (subtype, biomarker
/// levels, line of therapy, target lesions, blood NK count, 2–4 tumour measurements over time)
/// → a posterior over that patient's parameters within a virtual-trial population's priors →
/// the candidate regimens (the arms of a trial-like regimens file) ranked by predicted
/// probability of objective response and PFS, with credible intervals.
///
/// Inference is a sequential Monte Carlo sampler with adaptive likelihood tempering and adaptive
/// random-walk Metropolis moves (Del Moral, Doucet & Jasra 2006, J R Stat Soc B 68:411,
/// doi:10.1111/j.1467-9868.2006.00553.x; adaptive tempering by the effective sample size, Jasra
/// et al. 2011 Scand J Stat 38:1, doi:10.1111/j.1467-9469.2010.00723.x), in the whitened copula
/// space of the population's priors, with an explicit lognormal measurement-error likelihood
/// (docs/twin.md says why this and not ABC-SMC).
///
/// Reproducibility: every random number is drawn from a Philox4x64-10 stream keyed by (seed,
/// purpose) with counters (stage, particle, step, k); particles are evaluated in parallel but
/// every reduction runs in particle order, so the results are the same bytes for any number of
/// threads.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "nkscape/io/budget.hpp"
#include "nkscape/io/json.hpp"
#include "nkscape/io/run.hpp"
#include "nkscape/model/diagnostics.hpp"
#include "nkscape/trial/trial.hpp"

namespace nkscape::twin {

/// Limits (docs/limits.md): beyond them a run is refused as bad input.
inline constexpr std::size_t kMinMeasurements = 2;          ///< tumour measurements per patient
inline constexpr std::size_t kMaxMeasurements = 4;
inline constexpr std::int64_t kMinParticles = 20;           ///< below this the ESS-based adaptation is noise
inline constexpr std::int64_t kMaxParticles = 100'000;
inline constexpr std::int64_t kMaxGenerations = 200;        ///< tempering stages
/// Prior draws per particle that may be tried for one that reproduces the patient's observed
/// biomarkers and lesion count (rejection, exact). Why more than a trial's screening: a patient
/// with several rare levels at once (e.g. HER2 IHC 2+, PD-L1 positive, HLA-G positive and three
/// lesions) can have a joint prior probability near 1e-5, and each draw costs microseconds (only
/// the constrained priors are evaluated), so a million draws is seconds, not a refusal.
inline constexpr std::int64_t kMaxPriorDraws = 1'000'000;
inline constexpr double kMaxMeasurementSpan_d = 3 * 365.25; ///< first to last measurement (d)
/// Coefficient of variation of an absolute blood NK count (1). assumption: single-platform flow
/// cytometric absolute lymphocyte-subset counts repeat within ~10 % (ISHAGE-type protocols); no
/// NK-specific figure was found.
inline constexpr double kBloodNkCountCv = 0.10;
/// Share of blood NK cells that are CD56dim (1): the model's blood pool is the CD56dim subset
/// (models/cells.toml, CD56dim blood_count), so the patient's total count is compared with that
/// pool divided by this share. Source: Cooper, Fehniger & Caligiuri 2001 Trends Immunol 22:633,
/// PMID 11698225 (~90 % of blood NK cells are CD56dim), as the model's own blood_count assumes.
inline constexpr double kBloodCd56dimShare = 0.90;

/// One tumour measurement of the patient.
struct Measurement {
    double day = 0;            ///< day of the measurement (d), as written
    double value = 0;          ///< the sum of target-lesion diameters (mm) or the tumour's cells (cell)
    bool cells = false;        ///< true: `value` is cells (a volumetric estimate), else SLD in mm
    model::SourceLocation where;
};

/// A patient file (docs/twin.md, "The patient file"), checked against the regimens file's population.
struct Patient {
    std::string path, name;
    model::Index subtype = model::kNoIndex;      ///< the tumour cell type
    std::optional<std::int64_t> priorLines;      ///< lines of therapy before this one
    std::size_t lesions = 1;                     ///< target lesions (1–5)
    /// Observed level of each population attribute / biomarker (index into the trial's lists,
    /// level name); everything not observed is inferred.
    std::vector<std::pair<std::size_t, std::string>> attributes, biomarkers;
    std::optional<double> bloodNk_per_uL;        ///< total blood NK count (cell/µL)
    std::vector<Measurement> measurements;       ///< 2–4, strictly increasing days
    std::string fileHash;
};

/// Reads and checks the patient file `file` against the loaded regimens file `regimens` (its
/// population gives the names the patient's biomarkers and attributes must match). Every problem
/// is reported together with file:line:column; a measurement nkscape cannot link to a model
/// quantity yet (serum sMICA, serum TGF-β) is refused as "not implemented: …".
/// \throws model::ModelError listing every problem.
[[nodiscard]] Patient loadPatient(const std::filesystem::path& file, const trial::LoadedTrial& regimens);

/// The same from TOML text named `path` (for the fuzzer and tests).
[[nodiscard]] Patient parsePatient(const std::string& toml, const std::string& path, const trial::LoadedTrial& regimens);

/// How to run the twin.
struct TwinOptions {
    std::int64_t particles = 400;    ///< N
    std::int64_t generations = 40;   ///< at most this many tempering stages (the last one goes to β = 1)
    int moves = 4;                   ///< Metropolis moves per particle per stage
    double essFraction = 0.5;        ///< the next β keeps ESS = this × N
    std::uint64_t seed = 0;
    int threads = 1;
    std::function<void(std::size_t done, std::size_t total)> progress;  ///< forward simulations
};

/// One particle of the posterior: its position and what it gives.
struct Particle {
    std::vector<double> u;           ///< whitened copula scores of the priors (z = L·u), then 2·kMaxTargetLesions lesion scores
    std::vector<std::size_t> attributes;  ///< level index of each attribute
    double logLikelihood = 0;
};

/// One tempering stage (for summary.json).
struct Stage {
    double beta = 0;                 ///< likelihood exponent after the stage
    double ess = 0;                  ///< effective sample size after reweighting
    double acceptance = 0;           ///< Metropolis acceptance rate of the stage's moves
    double logEvidenceIncrement = 0; ///< log mean incremental weight
    bool forced = false;             ///< β was set to 1 because the stage limit was reached, not by the ESS rule
};

/// The predictions of one regimen.
struct RegimenPrediction {
    std::string name;
    double pResponse = 0;            ///< posterior predictive probability of CR/PR (1)
    double pResponseLow = 0, pResponseHigh = 0;  ///< 90 % bootstrap interval over particles
    double pfsMedian_d = 0, pfsLow_d = 0, pfsHigh_d = 0;  ///< posterior median and 5–95 % quantiles of PFS (d)
    double pfsCensoredShare = 0;     ///< particles without progression or death within the horizon
    double bestChangeMedianPct = 0, bestChangeLowPct = 0, bestChangeHighPct = 0;  ///< best SLD change (%)
    std::size_t rank = 0;            ///< 1 = best
    std::vector<double> pfs_d, bestChangePct;  ///< per particle
    std::vector<bool> response;      ///< per particle
};

/// The posterior predictive of one measurement.
struct FitRow {
    double day = 0, observed = 0;
    bool cells = false;
    double median = 0, low = 0, high = 0;  ///< 5 %, 50 %, 95 % of the particles' noise-free model values
};

/// Everything a twin run gives.
struct TwinResult {
    std::vector<Particle> particles;  ///< the posterior: N particles with equal weights
    std::vector<std::vector<double>> values;  ///< per particle, per prior: value in the prior's unit (NaN: `when` does not hold)
    std::vector<Stage> stages;
    double logEvidence = 0;           ///< log p(data) estimate
    std::vector<FitRow> fit;
    std::vector<RegimenPrediction> regimens;  ///< in the regimens file's order; `rank` orders them
    std::size_t simulations = 0, failedSimulations = 0;
    double wallSeconds = 0;
};

/// Infers the patient's parameters and predicts every regimen of `regimens`.
/// \throws InputError for options out of range or a patient no particle can reproduce
///         (every prior draw violates the observed biomarkers/lesions, or every likelihood is 0).
[[nodiscard]] TwinResult runTwin(const trial::LoadedTrial& regimens, const Patient& patient, const TwinOptions& options);

/// Checks the options (particles, generations, moves, threads). \throws InputError.
void checkOptions(const TwinOptions& options);

/// The work and memory of a twin run for io::checkBudget.
[[nodiscard]] io::ResourceEstimate estimateResources(const trial::LoadedTrial& regimens, const Patient& patient, const TwinOptions& options);

/// Writes posterior.csv, ranking.csv, fit.csv and summary.json and commits `run`.
/// `runInfo` goes into summary.json as "run" (threads, wall time). Returns the paths written.
std::vector<std::filesystem::path> writeTwinOutputs(io::RunFolder& run, const trial::LoadedTrial& regimens, const Patient& patient,
                                                    const TwinOptions& options, const TwinResult& result, const io::Json& runInfo);

// ---- synthetic patients (the validation study) ---------------------------------------------------

/// A synthetic patient drawn from the population with known parameters.
struct SyntheticPatient {
    Patient patient;                  ///< what the twin is given
    Particle truth;                   ///< the true position
    std::vector<double> values;       ///< the true prior values (prior's unit; NaN where `when` fails)
    /// The truth's noise-free outcome of each regimen: objective response, PFS (d), best change (%).
    std::vector<bool> response;
    std::vector<double> pfs_d, bestChangePct;
};

/// Draws synthetic patient `index` of `regimens`' population (Philox keyed by (seed, index)),
/// measures its untreated tumour at `days` (d, first 0) with the trial engine's per-lesion
/// lognormal measurement error ([follow_up] measurement_cv) and its blood NK count with
/// kBloodNkCountCv, reads its biomarkers and line, and simulates each regimen from the last
/// measurement. \throws InputError if no draw in trial::kMaxScreeningAttempts is measurable
/// and alive at the last measurement.
[[nodiscard]] SyntheticPatient synthesisePatient(const trial::LoadedTrial& regimens, model::Index subtype, const std::vector<double>& days,
                                                 std::uint64_t seed, std::uint64_t index);

/// The index of the regimen ranked best by `rank` fields (rank 1).
[[nodiscard]] std::size_t bestRegimen(const TwinResult& result);
/// The set of regimens tied best for the truth, by (response, PFS, −best change) with PFS ties
/// within 1 d (the assessment grid) and best-change ties within 1e-6 percentage points.
[[nodiscard]] std::vector<std::size_t> trueBestRegimens(const SyntheticPatient& p);

/// The posterior's central credible interval of prior `k` at level `level` (e.g. 0.9): the
/// (1−level)/2 and (1+level)/2 quantiles of the particles' values (equal weights).
[[nodiscard]] std::pair<double, double> credibleInterval(const TwinResult& result, std::size_t k, double level);

}  // namespace nkscape::twin

namespace nkscape::twin {

// ---- the sampler on its own (tested on problems with an analytic posterior) ----------------------

/// A posterior to sample: a standard-normal prior on `dimensions` continuous scores, categorical
/// latents with prior probabilities, a constraint and a log-likelihood.
struct SamplerProblem {
    std::size_t dimensions = 0;
    /// Per categorical latent: cumulative prior probabilities of its levels (last = 1).
    std::vector<std::vector<double>> categories;
    /// Whether a position is allowed (the prior is restricted to it); empty: everything is.
    std::function<bool(const Particle&)> admissible;
    /// log p(data | position); −∞ allowed. Called from `threads` workers at once; `worker` (0 …
    /// threads − 1) lets the caller keep per-thread scratch state. Must be a pure function of the
    /// position (the result may not depend on the worker).
    std::function<double(const Particle&, int worker)> logLikelihood;
};

/// What the sampler gives: N equally weighted particles from the posterior.
struct SamplerResult {
    std::vector<Particle> particles;
    std::vector<Stage> stages;
    double logEvidence = 0;       ///< log ∫ L·prior (the sum of the stages' increments)
    std::size_t evaluations = 0;  ///< likelihood evaluations
    std::size_t priorDraws = 0;   ///< prior draws to find N admissible initial particles
};

/// Samples `problem`'s posterior with `options` (particles, generations, moves, essFraction,
/// seed, threads, progress; progress counts likelihood evaluations against an upper bound).
/// \throws InputError if no admissible initial particle is found within
///         kMaxPriorDraws draws for some particle, or every initial likelihood is 0.
[[nodiscard]] SamplerResult sampleTempered(const SamplerProblem& problem, const TwinOptions& options);

}  // namespace nkscape::twin
