#pragma once
/// \file
/// Virtual clinical trials (docs/trial-format.md, docs/trials.md): a population of virtual
/// breast-cancer patients drawn from priors, screened by inclusion criteria, randomised to arms
/// and each simulated by the well-mixed engine (qsp::simulate, one shared model description), then
/// read as a trial is read — RECIST 1.1 responses, PFS and OS — and summarised with exact and
/// survival statistics (src/stats).
///
/// Reproducibility: everything random about patient i (its draws, its screening, its arm, its
/// lesion layout, its small-clone fates, its measurement error) is a pure function of (trial
/// seed, i) through Random123 Philox streams, so the outputs do not depend on the number of
/// threads or MPI ranks, or on the order patients are simulated in.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nkscape/io/budget.hpp"
#include "nkscape/io/json.hpp"
#include "nkscape/io/run.hpp"
#include "nkscape/model/model.hpp"
#include "nkscape/model/units.hpp"
#include "nkscape/qsp/scenario.hpp"
#include "nkscape/stats/binomial.hpp"
#include "nkscape/stats/survival.hpp"
#include "nkscape/trial/recist.hpp"

namespace nkscape::trial {

/// Limits of a trial file (docs/limits.md): beyond them a run is refused as bad input.
inline constexpr std::int64_t kMaxPatients = 1'000'000;      ///< patients per trial
inline constexpr std::size_t kMaxArms = 16;                  ///< arms per trial
inline constexpr std::size_t kMaxPriors = 256;               ///< [[prior]] tables
inline constexpr std::int64_t kMaxScreeningAttempts = 10'000;  ///< draws per enrolled patient

/// A probability distribution of a prior (docs/trial-format.md, "Distributions"). The numbers are
/// in the prior's unit (converted at load).
struct Distribution {
    enum class Type { Fixed, Normal, LogNormal, Uniform, LogUniform, Discrete };
    Type type = Type::Fixed;
    double a = 0, b = 0;            ///< fixed: value; normal: mean, sd; lognormal: median, geometric sd;
                                    ///< uniform/loguniform: low, high
    double low = -1e308, high = 1e308;  ///< truncation (normal, lognormal), in the prior's unit
    std::vector<double> values;     ///< discrete: the values
    std::vector<double> cumulative; ///< discrete: cumulative probabilities (last = 1)
    /// The value at standard-normal quantile z (a Gaussian-copula margin): F⁻¹(Φ(z)).
    [[nodiscard]] double quantile(double z) const;
};

/// What a prior's value acts on in a patient.
struct PriorTarget {
    enum class Kind {
        Parameter,       ///< a model parameter (path, with {subtype} resolved per patient)
        TumourCells,     ///< the founding clone's cells at baseline (cell)
        Immunogenicity,  ///< the tumour's immunogenicity (multiplier of the base scenario's; SimulationSpec::tumourImmunogenicity)
        Lesions,         ///< the number of target lesions (1..5)
        PopulationCells, ///< a population's cells at baseline (multiplier of the base scenario's)
        PopulationInflux,///< a population's recruitment (multiplier of both influx terms)
        Ligand,          ///< a ligand's level on every clone (multiplier)
        Secretion,       ///< a mediator's secretion by every clone (multiplier)
        Weight,          ///< body weight (kg)
        Surface,         ///< body surface area (m2)
    };
    Kind kind = Kind::Parameter;
    std::string text;                 ///< as written, e.g. "parameter:cell_type/{subtype}/doubling_time"
    std::string parameterPath;        ///< Parameter: the path template
    bool multiply = false;            ///< Parameter: the value multiplies the model's (else replaces it)
    model::Index index = model::kNoIndex;  ///< cell type, ligand, factor or mediator
};

/// One [[prior]]: a patient-varying quantity.
struct Prior {
    std::string name;
    PriorTarget target;
    Distribution distribution;
    std::string unit;                 ///< unit of the distribution's numbers as written
    double toInternal = 1;            ///< factor from `unit` to the target's unit
    std::string source;
    /// Only for patients whose attribute `whenAttribute` has level `whenLevel` (both empty: all).
    std::string whenAttribute, whenLevel;
    std::size_t whenIndex = 0;        ///< index of `whenAttribute` in LoadedTrial::attributes (set at load)
    model::SourceLocation where;
};

/// One [[attribute]]: a categorical property of a patient (line of therapy, FcγRIIIa genotype),
/// drawn independently; priors conditioned on it give it its biology.
struct Attribute {
    std::string name;
    std::vector<std::string> levels;
    std::vector<double> cumulative;   ///< cumulative probabilities (last = 1)
    std::string source;
};

/// One [[biomarker]]: a categorical status read from a prior's value by cut-offs (HER2 IHC from
/// the HER2 level, PD-L1 status from the PD-L1 level) — a consequence of the patient's biology,
/// never a switch.
struct Biomarker {
    std::string name;
    std::string prior;                ///< the prior whose value is read
    std::size_t priorIndex = 0;       ///< its index in LoadedTrial::priors (set at load)
    std::vector<std::string> levels;  ///< n levels
    std::vector<double> cutoffs;      ///< n − 1 increasing cut-offs, in the prior's unit
    std::string source;
};

/// One [[inclusion]] criterion: an attribute or biomarker level among `levels`, or a prior's
/// value within [min, max].
struct Inclusion {
    std::string what;                 ///< attribute, biomarker or prior name
    std::vector<std::string> levels;  ///< for attributes and biomarkers
    std::optional<double> min, max;   ///< for priors (prior's unit)
    std::string text;                 ///< readable form, for reports
    /// Resolved at load: what `what` names, and its index among LoadedTrial's attributes,
    /// biomarkers or priors (so that screening compares indices, not names).
    enum class Kind { Attribute, Biomarker, Prior } kind = Kind::Prior;
    std::size_t index = 0;
};

/// One [[match]] (docs/trial-format.md, "Matching observed distributions"): an observed
/// distribution of a patient-level quantity that the enrolled population is made to reproduce by
/// acceptance sampling in the manner of Allen, Rieger & Musante 2016 (CPT Pharmacometrics Syst
/// Pharmacol 5:140, PMID 27069777): a plausible patient (one that passes the inclusion criteria) is
/// accepted with probability ∝ target density / plausible-pool density of its value.
struct Match {
    std::string name;
    enum class Kind { Prior, Biomarker, Attribute } kind = Kind::Prior;
    std::string what;                 ///< the prior, biomarker or attribute matched
    std::size_t index = 0;            ///< its index in LoadedTrial's priors, biomarkers or attributes (set at load)
    /// Continuous (a prior's value, in the prior's unit): the target as bins — `edges` (n + 1,
    /// increasing; the outer ones may be ±1e308 for a normal target) and their probabilities (n).
    std::vector<double> edges, probabilities;
    bool normal = false;              ///< the target is a (truncated) normal: mean, sd, low, high
    double mean = 0, sd = 0, low = -1e308, high = 1e308;
    /// Categorical (biomarker, attribute): the target share of each level (summing to 1).
    std::vector<std::string> levels;
    std::vector<double> shares;
    std::string source;
    /// Acceptance weight of each bin or level: target / pool share, scaled so that the largest is 1
    /// (set at load from the plausible pool, prepareMatching()).
    std::vector<double> acceptance;
    model::SourceLocation where;
    /// The target's cumulative probability at x (continuous matches).
    [[nodiscard]] double cdf(double x) const;
    /// The bin of a value (continuous) or index of a level (categorical); npos if none.
    [[nodiscard]] std::size_t binOf(double x) const;
    [[nodiscard]] std::size_t levelOf(const std::string& level) const;
};

/// Plausible patients drawn (with a fixed key, independent of the trial's seed) to estimate the
/// pool's density of the matched quantities.
inline constexpr std::int64_t kMatchPool = 4000;

/// One arm: a regimen, its allocation weight.
struct Arm {
    std::string name;
    std::int64_t allocation = 1;      ///< relative share of patients
    std::vector<qsp::ScenarioDose> doses;  ///< [[arm.dose]], as in a scenario's [[dose]]
    std::vector<model::Index> therapies;   ///< resolved therapy of each dose
};

/// The trial's follow-up and how it is read.
struct FollowUp {
    double duration_d = 0;            ///< follow-up from baseline (d)
    double assessmentInterval_d = 42; ///< tumour assessments (d)
    double lethalBurden_cells = 1e12; ///< death when the tumour reaches it (cell)
    RecistOptions recist;             ///< geometry, criteria, measurement error
};

/// A validated trial file with everything it names loaded.
struct LoadedTrial {
    std::string path, name, description, registry, modelled, reference;
    std::string baseScenarioFile;
    std::string populationFile;       ///< [trial] population, resolved ("" if none)
    std::uint64_t seed = 0;
    std::int64_t patients = 0;
    bool crossover = false;           ///< every patient in every arm (paired), else randomised
    std::optional<qsp::LoadedSimulationScenario> base;  ///< the tumour environment (always set once loaded); its doses are ignored
    std::vector<std::pair<model::Index, double>> subtypes;  ///< tumour cell type, cumulative share
    std::vector<Prior> priors;
    std::vector<std::vector<double>> correlation;  ///< priors × priors (identity if none given)
    std::vector<std::vector<double>> cholesky;     ///< lower factor of `correlation`
    std::vector<Attribute> attributes;
    std::vector<Biomarker> biomarkers;
    std::vector<Inclusion> inclusion;
    std::vector<Match> matches;       ///< [[match]]: acceptance sampling toward observed distributions
    std::vector<Arm> arms;
    FollowUp followUp;
    std::string fileHash;             ///< FNV-1a of the trial file and the base scenario (hex)
};

/// Reads and checks the trial file `file`, its base scenario and model. Every problem is
/// reported together with file:line:column.
/// \throws model::ModelError listing every problem.
[[nodiscard]] LoadedTrial loadTrial(const std::filesystem::path& file);

/// Checks the trial text `toml` (named `path` in messages; a `population` file is read relative
/// to it) against an already loaded base scenario `base`: the `base` key is still required but not
/// loaded. For the fuzzer and for callers that share one base between trials.
/// \throws model::ModelError listing every problem.
[[nodiscard]] LoadedTrial parseTrial(const std::string& toml, const std::string& path, const qsp::LoadedSimulationScenario& base,
                                     const model::UnitSystem& units);

/// One drawn patient, before simulation.
struct PatientDraw {
    std::uint64_t index = 0;
    std::int64_t screened = 1;        ///< draws until one met the inclusion criteria
    std::size_t arm = 0;              ///< randomised arm (crossover: unused)
    model::Index subtype = model::kNoIndex;
    std::vector<double> values;       ///< per prior: its value in the prior's unit (NaN when its `when` does not hold)
    std::vector<std::string> attributes;  ///< per attribute: the level
    std::vector<std::string> biomarkers;  ///< per biomarker: the level
    bool clamped = false;             ///< a parameter draw was clamped into the model's range
};

/// Draws patient `index` (screening until the inclusion criteria hold).
/// \throws InputError if no draw passes within kMaxScreeningAttempts.
[[nodiscard]] PatientDraw drawPatient(const LoadedTrial& trial, std::uint64_t index);

/// One patient's results in one arm.
struct PatientRecord {
    std::uint64_t index = 0;
    std::size_t arm = 0;
    PatientDraw draw;
    bool failed = false;
    std::string failure;              ///< why the simulation failed (after the retries)
    int attempts = 0;                 ///< solver attempts (1 = first try)
    long steps = 0;
    std::size_t lesions = 1;
    double baselineCells = 0;
    double baselineSld_mm = 0;
    bool evaluable = false;
    Response best = Response::NE;
    bool confirmed = false;
    bool clinicalBenefit = false;
    std::optional<double> bestChangePct;  ///< best (lowest) SLD change from baseline (%)
    double pfs_d = 0;
    bool pfsEvent = false;
    double os_d = 0;
    bool death = false;
    std::optional<double> dor_d;
    bool dorEvent = false;
    bool cured = false;               ///< the tumour went extinct (small-clone rule)
    std::vector<double> assessmentDays;
    std::vector<double> sld_mm;
};

/// Draws patient `index` as the population's priors and the inclusion criteria give it, without
/// the [[match]] acceptance step: a plausible patient ("before selection").
/// `seed` replaces the trial's (the plausible pool of prepareMatching() has a fixed key).
[[nodiscard]] PatientDraw drawPlausiblePatient(const LoadedTrial& trial, std::uint64_t index, std::optional<std::uint64_t> seed = std::nullopt);

/// Estimates the plausible pool's density of every [[match]] from kMatchPool plausible patients
/// and sets each match's acceptance weights. loadTrial() calls it.
/// \throws InputError if a match's target has no bin or level the pool reaches.
void prepareMatching(LoadedTrial& trial);

/// Goodness of fit of one match: Kolmogorov–Smirnov (continuous: D and its asymptotic p value with
/// Stephens' small-sample correction) or Pearson's χ² (categorical: statistic, df, p from
/// Boost.Math's chi-squared distribution).
struct MatchFit {
    std::string test;                 ///< "Kolmogorov-Smirnov" or "chi-squared"
    std::int64_t n = 0;               ///< patients with the quantity
    double statistic = 0, p = 1;
    int df = 0;                       ///< χ² only
};
/// The fit of the quantity of match `m` in `draws` (patients without it are skipped).
[[nodiscard]] MatchFit matchFit(const LoadedTrial& trial, const Match& m, const std::vector<PatientDraw>& draws);
/// Every match's fit before selection (patients 0..N−1 drawn plausibly) and after (the draws of
/// `records`, one per patient), as summary.json's "population_match".
[[nodiscard]] io::Json matchReport(const LoadedTrial& trial, const std::vector<PatientRecord>& records);

/// Changes made to a patient after its draw — after every prior, so they win over the priors — for
/// counterfactuals such as a mechanism switched off (mechanism attribution, docs/attribution.md).
/// Parameter values may lie outside the parameter's plausible range (CompiledModel::
/// setCounterfactualValue): a switched-off mechanism describes no patient.
struct PatientChanges {
    struct ParameterChange {
        std::string path;       ///< a parameter path; "{subtype}" stands for the patient's tumour cell type
        bool multiply = false;  ///< multiplies the patient's value (else replaces it)
        double value = 0;       ///< the multiplier (1), or the value in the parameter's internal unit
    };
    std::vector<ParameterChange> parameters;
    std::vector<std::pair<model::Index, double>> ligands;     ///< ligand → multiplier of its level on every clone
    std::vector<std::pair<model::Index, double>> factors;     ///< factor → multiplier of its baseline on every clone
    std::vector<std::pair<model::Index, double>> secretions;  ///< mediator → multiplier of every clone's secretion
    std::vector<std::pair<model::Index, double>> populationCells;   ///< cell type → multiplier of its cells at baseline
    std::vector<std::pair<model::Index, double>> populationInflux;  ///< cell type → multiplier of its recruitment
};

/// Simulates patient `draw` in arm `arm` (retrying at tighter tolerances after a solver failure;
/// a patient that still fails is recorded as failed, with the reason). `shared` is the engine of
/// the base model, used when no prior changes a parameter. `scratch`, if given, is a copy of the
/// base model owned by the caller (one per thread): the patient's parameters are set in it and
/// restored before returning, instead of copying the whole model per patient (a fifth of a
/// patient's cost). `changes`, if given, are applied after the draw (PatientChanges).
/// \throws InputError if a path of `changes` is not a parameter of the patient's model.
[[nodiscard]] PatientRecord simulatePatient(const LoadedTrial& trial, const qsp::EngineModel& shared, const PatientDraw& draw,
                                            std::size_t arm, model::CompiledModel* scratch = nullptr,
                                            const PatientChanges* changes = nullptr);

/// Makes `dir` the journal of `trial`: kept if it holds this trial's journal (same inputs, model,
/// seed, patients, version), else emptied and keyed for it. Call once (rank 0) before runTrial.
/// \throws IoError if the folder cannot be created or written.
void prepareJournal(const LoadedTrial& trial, const std::filesystem::path& dir);

/// How to run a trial.
struct TrialRunOptions {
    int threads = 1;
    int rank = 0, ranks = 1;          ///< this process among the MPI ranks (patients i with i % ranks == rank)
    /// Journal folder for resume (empty: none), prepared by prepareJournal(): finished patients
    /// are appended there as they complete (one file per rank) and read back at the start.
    std::filesystem::path journal;
    std::function<void(std::size_t done, std::size_t total)> progress;
};

/// The patients of this rank: simulated (or read from the journal), ordered by (index, arm).
struct TrialRunResult {
    std::vector<PatientRecord> records;
    std::size_t resumed = 0;          ///< records read from the journal
    double wallSeconds = 0;
};

/// Runs this rank's share of the trial. Deterministic: a record depends only on (trial, index, arm).
[[nodiscard]] TrialRunResult runTrial(const LoadedTrial& trial, const TrialRunOptions& options);

/// The work and memory of `trial` for io::checkBudget.
[[nodiscard]] io::ResourceEstimate estimateResources(const LoadedTrial& trial);

/// A record as one line of text (the journal's and MPI's format; doubles round-trip exactly).
[[nodiscard]] std::string encodeRecord(const PatientRecord& record);
/// The inverse of encodeRecord. \throws InputError if `line` is not a record of this trial.
[[nodiscard]] PatientRecord decodeRecord(const std::string& line, const LoadedTrial& trial);

/// Writes patients.csv, arms.json, km.csv, waterfall.csv, spider.csv and summary.json for the
/// records of every patient (all ranks, ordered by index then arm) and commits `run`.
/// `runInfo` goes into summary.json as "run" (threads, ranks, wall time: not part of the
/// byte-identical files). Returns the paths written.
std::vector<std::filesystem::path> writeTrialOutputs(io::RunFolder& run, const LoadedTrial& trial,
                                                     const std::vector<PatientRecord>& records, const io::Json& runInfo,
                                                     std::size_t spiderPatients);

/// The arms' summary (what arms.json holds), for tests and reports.
[[nodiscard]] io::Json summariseArms(const LoadedTrial& trial, const std::vector<PatientRecord>& records);

}  // namespace nkscape::trial
