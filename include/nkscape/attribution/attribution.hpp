#pragma once
/// \file
/// Mechanism attribution (docs/attribution.md, issue 12 item 6): which escape mechanism drives
/// resistance. The patients of a virtual trial are simulated in one arm, once as they are and once
/// with each escape mechanism removed in turn (the same draws, the same random streams: only the
/// mechanism differs), and read as paired outcomes: the share of the arm's non-responders that a
/// mechanism's removal turns into responders (its cost, with an exact Clopper–Pearson CI), the mean
/// change in their best % SLD change (bootstrap CI), and the arm's ORR and CBR with and without it
/// (exact McNemar test).
///
/// Mechanisms are data (calibration/mechanisms.toml): each names the changes that switch it off at
/// its root, applied to the patient's model and tumour after the patient's draw
/// (trial::PatientChanges), so that a per-patient prior never undoes a removal.
///
/// Reproducibility: a patient's outcomes depend only on (trial, patient index, arm, mechanism), and
/// the statistics only on the outcomes (sorted by patient) and the seed, so the outputs are the
/// same bytes for any number of threads or MPI ranks.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "nkscape/io/budget.hpp"
#include "nkscape/io/json.hpp"
#include "nkscape/io/run.hpp"
#include "nkscape/model/model.hpp"
#include "nkscape/model/units.hpp"
#include "nkscape/trial/trial.hpp"

namespace nkscape::attribution {

/// Limits of a mechanisms file (docs/limits.md).
inline constexpr std::size_t kMaxMechanisms = 64;        ///< [[mechanism]] tables
inline constexpr std::size_t kMaxRemovals = 64;          ///< [[mechanism.remove]] tables per mechanism
inline constexpr int kBootstrapResamples = 2000;         ///< resamples of the mean SLD change's CI

/// One change of a mechanism's removal, as read.
struct Removal {
    enum class Kind {
        Parameter,         ///< "parameter:<path>": a model parameter, set (`value`) or multiplied (`multiply`)
        Ligand,            ///< "ligand:<ligand>": its level on every tumour clone (multiplier)
        Secretion,         ///< "secretion:<mediator>": every tumour clone's secretion of it (multiplier)
        PopulationCells,   ///< "population:<cell type>.initial_cells": its cells at baseline (multiplier)
        PopulationInflux,  ///< "population:<cell type>.influx": its recruitment (multiplier)
    };
    Kind kind = Kind::Parameter;
    std::string target;          ///< as written
    std::string path;            ///< Parameter: the parameter's path
    model::Index index = model::kNoIndex;  ///< ligand, mediator or cell type
    bool multiply = true;        ///< multiplies (else sets a parameter)
    double value = 0;            ///< multiplier (1), or the parameter's value in its internal unit
    std::string unit;            ///< the parameter's internal unit ("" for multipliers)
    model::SourceLocation where;
};

/// One escape mechanism and how to remove it.
struct Mechanism {
    std::string name;
    std::string description;     ///< what the mechanism is
    std::string source;          ///< the review section or paper that defines it
    std::string rationale;       ///< why these changes switch it off at its root
    std::vector<Removal> removals;
    trial::PatientChanges changes;  ///< the removals, for trial::simulatePatient
    model::SourceLocation where;
};

/// Reads and checks a mechanisms file ([[mechanism]] tables with [[mechanism.remove]] lists)
/// against model `m` (the model the patients are simulated with): every parameter path, ligand,
/// mediator and cell type must exist in it, units must convert, values must obey the parameter's
/// sign rule (a plausible range is not required: a removal is a counterfactual). Every problem is
/// reported together with file:line:column.
/// \throws model::ModelError listing every problem.
[[nodiscard]] std::vector<Mechanism> loadMechanisms(const std::filesystem::path& file, const model::CompiledModel& m);

/// The same for text `toml` named `path` in messages (tests, fuzzing).
[[nodiscard]] std::vector<Mechanism> parseMechanisms(const std::string& toml, const std::string& path, const model::CompiledModel& m,
                                                     const model::UnitSystem& units);

/// What one simulation of a patient gave, as attribution reads it.
struct Outcome {
    bool failed = false;
    std::string failure;                 ///< why (failed only)
    trial::Response best = trial::Response::NE;
    bool responder = false;              ///< objective response (CR/PR; confirmed if the trial asks for it)
    bool clinicalBenefit = false;
    std::optional<double> bestChangePct; ///< best (lowest) % change of the SLD from baseline
};

/// One patient: its outcome as it is (outcomes[0]) and with mechanism k removed (outcomes[1 + k]).
struct PatientOutcomes {
    std::uint64_t index = 0;
    std::vector<Outcome> outcomes;
};

/// How to run an attribution.
struct AttributionOptions {
    std::size_t arm = 0;                 ///< the arm whose regimen every patient receives
    /// Only the patients randomised to `arm` (a parallel trial's arm as it was run); by default
    /// every enrolled patient receives the arm's regimen (more patients, the same population).
    bool asRandomised = false;
    int threads = 1;
    int rank = 0, ranks = 1;             ///< patients i with i % ranks == rank
    std::function<void(std::size_t done, std::size_t total)> progress;
};

/// This rank's patients, ordered by index. Each is simulated 1 + mechanisms.size() times; a
/// patient whose own simulation failed is not simulated again (its counterfactuals are failed).
/// \throws InputError if `options.arm` is not an arm of `trial`.
[[nodiscard]] std::vector<PatientOutcomes> runAttribution(const trial::LoadedTrial& trial, const std::vector<Mechanism>& mechanisms,
                                                          const AttributionOptions& options);

/// The outcome of `record` as attribution reads it (responder per the trial's confirmation rule).
[[nodiscard]] Outcome outcomeOf(const trial::LoadedTrial& trial, const trial::PatientRecord& record);

/// A patient's outcomes as one line of text (MPI's format; doubles round-trip exactly), and back.
[[nodiscard]] std::string encodePatient(const PatientOutcomes& patient);
/// \throws InputError if `line` is not a patient of `mechanisms` mechanisms.
[[nodiscard]] PatientOutcomes decodePatient(const std::string& line, std::size_t mechanisms);

/// The exact two-sided McNemar p value for `b` and `c` discordant pairs: 2·P(X ≤ min(b, c)) for
/// X ~ Binomial(b + c, ½), at most 1; 1 when there is no discordant pair.
[[nodiscard]] double mcnemarExact(std::int64_t b, std::int64_t c);

/// The 95 % percentile-bootstrap CI of the mean of `values` with `resamples` resamples drawn by
/// Philox4x64 keyed by (seed, stream): the same numbers for the same inputs on any machine.
/// Quantiles by linear interpolation between order statistics (R's type 7). {NaN, NaN} if empty.
[[nodiscard]] std::pair<double, double> bootstrapMeanCi(const std::vector<double>& values, std::uint64_t seed, std::uint64_t stream,
                                                        int resamples = kBootstrapResamples);

/// What removing one mechanism costs, over the patients both of whose simulations succeeded.
struct MechanismCost {
    std::string mechanism;
    std::int64_t patients = 0;           ///< paired patients (both runs succeeded)
    std::int64_t failed = 0;             ///< patients left out: a run failed
    std::int64_t nonResponders = 0;      ///< without objective response as they are
    std::int64_t rescued = 0;            ///< of those, responders without the mechanism
    stats::ProportionCi share;           ///< rescued / nonResponders (exact CI); trials 0 when none
    std::int64_t responders = 0;
    std::int64_t harmed = 0;             ///< responders that lose their response without it
    std::int64_t changePatients = 0;     ///< non-responders with a best SLD change in both runs
    std::optional<double> meanChangePp;  ///< mean (without − with) best % SLD change of the non-responders (percentage points)
    std::optional<double> meanChangeLow, meanChangeHigh;  ///< its 95 % bootstrap CI
    double orrWith = 0, orrWithout = 0;  ///< the arm's ORR (paired patients)
    double orrMcnemarP = 1;
    std::int64_t noBenefit = 0;          ///< without clinical benefit as they are
    std::int64_t benefitGained = 0;      ///< of those, with clinical benefit without the mechanism
    stats::ProportionCi benefitShare;
    std::int64_t benefitLost = 0;
    double cbrWith = 0, cbrWithout = 0;
    double cbrMcnemarP = 1;
};

/// Every mechanism's cost from the patients' outcomes (all ranks, any order). `seed` keys the
/// bootstrap (stream = mechanism index).
[[nodiscard]] std::vector<MechanismCost> summarise(const std::vector<Mechanism>& mechanisms, std::vector<PatientOutcomes> patients,
                                                  std::uint64_t seed);

/// The work and memory of an attribution of `patients` patients for io::checkBudget.
[[nodiscard]] io::ResourceEstimate estimateResources(const trial::LoadedTrial& trial, std::size_t mechanisms, std::int64_t patients,
                                                     const std::string& mechanismsFile);

/// Writes attribution.csv, patients.csv and summary.json and commits `run`. `runInfo` (threads,
/// ranks, wall time) goes into summary.json as "run". Returns the paths written.
std::vector<std::filesystem::path> writeAttributionOutputs(io::RunFolder& run, const trial::LoadedTrial& trial, const AttributionOptions& options,
                                                           const std::string& mechanismsFile, const std::vector<Mechanism>& mechanisms,
                                                           std::vector<PatientOutcomes> patients, const io::Json& runInfo);

}  // namespace nkscape::attribution
