// The nkscape command line: thin — parse arguments, call the library, map errors to exit codes
// (0 success, 2 bad input, 1 anything else).

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nkscape/assay/assay.hpp"
#include "nkscape/assay/scenario.hpp"
#include "nkscape/error.hpp"
#include "nkscape/io/budget.hpp"
#include "nkscape/model/describe.hpp"
#include "nkscape/model/loader.hpp"
#include "nkscape/qsp/engine.hpp"
#include "nkscape/qsp/ode.hpp"
#include "nkscape/qsp/scenario.hpp"
#include "nkscape/stats/binomial.hpp"
#include "nkscape/stats/data.hpp"
#include "nkscape/stats/report.hpp"
#include "nkscape/version.hpp"
#include "progress.hpp"
#include "abm_command.hpp"
#include "attribute_command.hpp"
#include "calibrate_command.hpp"
#include "sensitivity_command.hpp"
#include "trial_command.hpp"
#include "twin_command.hpp"

namespace {

using nkscape::cli::ProgressBar;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitBadInput = 2;

std::string defaultModelPath() {
    if (const char* env = std::getenv("NKSCAPE_MODEL"); env && *env) return env;
    return "models/default.toml";
}

int runValidate(const std::vector<std::string>& files, bool quiet) {
    int rc = kExitOk;
    for (const auto& f : files) {
        try {
            const auto m = nkscape::model::loadModel(std::filesystem::path(f));
            if (!quiet) {
                std::size_t entities = 0;
                for (auto k : nkscape::model::kAllKinds) entities += m.count(k);
                fmt::print("{}: ok — model '{}' {}, {} entities, {} parameters, {} files (hash {})\n", f, m.info().name,
                           m.info().version, entities, m.parameters().size(), m.info().files.size(), m.info().hash);
            }
        } catch (const nkscape::model::ModelError& e) {
            std::cerr << e.what() << "\n";
            std::cerr << fmt::format("{}: {} error{}\n", f, e.diagnostics().size(), e.diagnostics().size() == 1 ? "" : "s");
            rc = kExitBadInput;
        }
    }
    return rc;
}

int runDescribe(std::string modelPath, std::vector<std::string> what, bool markdown, const std::string& influential) {
    using namespace nkscape::model;
    // `nkscape describe out/fit/overlay.toml`: a first argument ending in .toml is the model file.
    if (!what.empty() && what[0].size() > 5 && what[0].ends_with(".toml")) {
        modelPath = what[0];
        what.erase(what.begin());
    }
    const CompiledModel m = loadModel(std::filesystem::path(modelPath));
    if (!influential.empty()) {
        if (markdown || !what.empty()) throw nkscape::InputError("describe --influential reports the provenance shares of the whole model; give no KIND, NAME or --markdown");
        std::vector<ParamId> list;
        try {
            list = readParameterList(m, influential);
        } catch (const nkscape::IoError& e) {  // a missing or unreadable list is the user's input
            throw nkscape::InputError(std::string("--influential: ") + e.what());
        }
        std::cout << describeInfluential(m, list, influential);
        return kExitOk;
    }
    if (markdown) {
        if (!what.empty()) throw nkscape::InputError("describe --markdown describes the whole model; give no KIND or NAME");
        std::cout << describeMarkdown(m);
        return kExitOk;
    }
    if (what.empty()) {
        std::cout << describeSummary(m);
        return kExitOk;
    }
    if (what.size() > 2) throw nkscape::InputError("describe takes at most KIND and NAME");
    const auto kind = parseKind(what[0]);
    if (!kind) {
        // `nkscape describe NKG2D`: a name without its kind is fine when the name is known.
        if (what.size() == 1) {
            if (auto r = m.find(what[0])) {
                std::cout << describeEntity(m, *r);
                return kExitOk;
            }
        }
        throw nkscape::InputError("'" + what[0] +
                                  "' is neither a kind (receptor, ligand, interaction, mediator, factor, cell_type, regulation, "
                                  "pathway, therapy) nor a name in model '" + m.info().name + "'");
    }
    if (what.size() == 1) {
        std::cout << describeKind(m, *kind);
        return kExitOk;
    }
    const Index i = m.require(*kind, what[1]);
    std::cout << describeEntity(m, EntityRef{*kind, i});
    return kExitOk;
}

/// The run limits of the command line: --allow-large and --max-memory.
struct RunLimitOptions {
    bool allowLarge = false;
    std::string maxMemory;  ///< "" = the default
    [[nodiscard]] nkscape::io::ResourceLimits limits() const {
        nkscape::io::ResourceLimits l;
        l.allowLarge = allowLarge;
        if (!maxMemory.empty()) l.maxMemoryBytes = nkscape::io::parseByteSize(maxMemory);
        return l;
    }
};

/// Prints a scenario's (or its model's) diagnostics and the count; returns exit code 2.
int reportScenarioErrors(const std::string& scenarioPath, const nkscape::model::ModelError& e) {
    std::cerr << e.what() << "\n";
    std::cerr << fmt::format("{}: {} error{}\n", scenarioPath, e.diagnostics().size(), e.diagnostics().size() == 1 ? "" : "s");
    return kExitBadInput;
}

int runAssay(const std::string& scenarioPath, const std::string& outDir, const std::optional<std::string>& threadsArg, const RunLimitOptions& limitOptions,
             bool quiet) {
    using namespace nkscape;
    // The command line first (cheap, and wrong whatever the scenario says). Not given: OpenMP's
    // default (OMP_NUM_THREADS or the cores), capped like a given count.
    const int threads = threadsArg ? io::parseThreads(*threadsArg) : std::min(io::maxThreads(), assay::defaultThreads());
    const io::ResourceLimits limits = limitOptions.limits();
    std::optional<assay::LoadedAssayScenario> loaded;
    try {
        loaded = assay::loadAssayScenario(std::filesystem::path(scenarioPath));
    } catch (const model::ModelError& e) {
        return reportScenarioErrors(scenarioPath, e);
    }
    const auto& sc = loaded->scenario;
    try {
        io::checkBudget(assay::estimateResources(loaded->model, sc, threads), limits);
    } catch (const model::ModelError& e) {
        return reportScenarioErrors(scenarioPath, e);
    }
    // Before the computation: an unusable --out is refused now (exit 2), not after it.
    io::RunFolder run(std::filesystem::path(outDir), "assay");
    const char* ci = std::getenv("CI");
    const bool showProgress = !quiet && ::isatty(::fileno(stderr)) && !(ci && *ci);
    assay::AssayOptions options;
    options.threads = threads;
    std::optional<ProgressBar> bar;
    if (showProgress) {
        bar.emplace();
        options.progress = [&bar](std::size_t done, std::size_t total) { bar->update(done, total); };
    }
    assay::AssayResult result;
    try {
        result = assay::runAssay(loaded->model, sc, options);
    } catch (const InputError& e) {  // found while running: still the scenario's (or its model's) fault
        bar.reset();
        std::cerr << "nkscape: error: " << scenarioPath << ": " << e.what() << "\n";
        return kExitBadInput;
    }
    bar.reset();
    const auto files = assay::writeAssayOutputs(run, loaded->model, sc, result);
    if (!quiet) {
        std::size_t wells = 0;
        for (const auto& c : result.conditions)
            for (const auto& r : c.ratios) wells += r.wells.size();
        fmt::print("assay '{}': {} condition{} x {} ratio{} x {} replicate{} = {} wells in {:.2f} s on {} thread{}\n", sc.name,
                   sc.conditions.size(), sc.conditions.size() == 1 ? "" : "s", sc.etRatios.size(), sc.etRatios.size() == 1 ? "" : "s",
                   sc.replicates, sc.replicates == 1 ? "" : "s", wells, result.wallSeconds, result.threads, result.threads == 1 ? "" : "s");
        std::size_t width = 9;
        for (const auto& c : result.conditions) width = std::max(width, c.name.size());
        fmt::print("  {:<{}}  {:>6}  {:>8}  {}\n", "condition", width, "E:T", "lysis %", "95 % CI");
        for (const auto& c : result.conditions)
            for (const auto& r : c.ratios)
                fmt::print("  {:<{}}  {:>6g}  {:>8.1f}  [{:.1f}, {:.1f}]\n", c.name, width, r.etRatio, r.lysisPct.mean, r.lysisPct.low, r.lysisPct.high);
        std::string list;
        for (const auto& f : files) list += (list.empty() ? "" : ", ") + f.string();
        fmt::print("wrote {}\n", list);
    }
    return kExitOk;
}

int runSimulate(const std::string& scenarioPath, const std::string& outDir, const RunLimitOptions& limitOptions, bool quiet) {
    using namespace nkscape;
    const io::ResourceLimits limits = limitOptions.limits();  // the command line first
    std::optional<qsp::LoadedSimulationScenario> loaded;
    try {
        loaded = qsp::loadSimulationScenario(std::filesystem::path(scenarioPath));
    } catch (const model::ModelError& e) {
        return reportScenarioErrors(scenarioPath, e);
    }
    try {
        io::checkBudget(qsp::estimateResources(*loaded), limits);
    } catch (const model::ModelError& e) {
        return reportScenarioErrors(scenarioPath, e);
    }
    // Before the computation: an unusable --out is refused now (exit 2), not after it.
    io::RunFolder run(std::filesystem::path(outDir), "simulate");
    const auto start = std::chrono::steady_clock::now();
    qsp::SimulationResult result;
    try {
        result = qsp::simulate(loaded->model, loaded->spec);
    } catch (const qsp::ModelInputError& e) {  // found at the start: the scenario's (or model's) fault
        std::cerr << "nkscape: error: " << scenarioPath << ": " << e.what() << "\n";
        // The parameters this scenario changed are the first suspects: name them.
        for (const auto& [id, value] : loaded->overrides)
            std::cerr << "nkscape: note: " << scenarioPath << ": [overrides] sets '" << loaded->model.parameter(id).path << "' to " << value << " "
                      << loaded->model.parameter(id).internalUnit << "\n";
        return kExitBadInput;
    } catch (const qsp::SolverError& e) {
        std::cerr << "nkscape: simulation failed: " << e.what() << "\n";
        return kExitFailure;
    }
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (const auto& w : result.warnings) std::cerr << "nkscape: warning: " << scenarioPath << ": " << w << "\n";
    const auto files = qsp::writeSimulationOutputs(run, *loaded, result, wall);
    if (!quiet) {
        fmt::print("simulate '{}': {:g} d, {} output times, {} steps in {:.2f} s\n", loaded->name, loaded->spec.durationDays,
                   result.times.size(), result.stats.steps, wall);
        if (!result.rows.empty()) fmt::print("  tumour cells: {:.4g} -> {:.4g}\n", result.rows.front()[0], result.rows.back()[0]);
        std::string list;
        for (const auto& f : files) list += (list.empty() ? "" : ", ") + f.string();
        fmt::print("wrote {}\n", list);
    }
    return kExitOk;
}

/// The options of `nkscape stats km|logrank|cox|binom`.
struct StatsOptions {
    std::string data, timeColumn, eventColumn, groupColumn, outDir;
    bool groupGiven = false, outGiven = false;  // given at all: `--out ''` is an error, not "no --out"
    std::string confType = "log";
    std::string ties = "efron";
    std::int64_t successes = 0, trials = 0;
};

/// `nkscape stats ANALYSIS`: survival statistics of a CSV file, or a binomial interval.
int runStats(const std::string& analysis, const StatsOptions& o) {
    using namespace nkscape;
    if (analysis == "binom") {
        const auto ci = stats::clopperPearson(o.successes, o.trials);
        fmt::print("{} / {} = {:.6f}; exact (Clopper-Pearson) 95 % CI {:.6f} to {:.6f}\n", ci.successes, ci.trials, ci.proportion, ci.low, ci.high);
        return kExitOk;
    }
    stats::SurvivalReport report;
    report.analysis = analysis;
    report.source = o.data;
    report.timeColumn = o.timeColumn;
    report.eventColumn = o.eventColumn;
    if (o.groupGiven) report.groupColumn = o.groupColumn;
    report.km.confType = stats::parseConfType(o.confType);
    if (o.ties != "efron" && o.ties != "breslow") throw InputError("--ties '" + o.ties + "' is not one of efron, breslow");
    report.ties = o.ties == "efron" ? stats::Ties::Efron : stats::Ties::Breslow;
    if (analysis != "km" && !report.groupColumn) throw InputError("stats " + analysis + ": --group COLUMN is required (the groups to compare)");
    // Before the computation: an unusable --out is refused now (exit 2), not after it.
    std::optional<io::RunFolder> run;
    if (o.outGiven) run.emplace(std::filesystem::path(o.outDir), "stats");
    const stats::SurvivalData data = stats::readSurvivalCsv(o.data, {o.timeColumn, o.eventColumn, report.groupColumn});
    for (const auto& g : data.groups) report.curves.push_back(stats::kaplanMeier(g, report.km, data.source));
    if (analysis == "logrank") report.logRank = stats::logRank(data);
    if (analysis == "cox") {
        stats::CoxOptions co;
        co.ties = report.ties;
        report.cox = stats::coxPhTwoGroups(data, co);
        report.coxGroup = data.groups[1].name;
        report.coxReference = data.groups[0].name;
    }
    if (run) {
        const auto files = stats::writeSurvivalOutputs(*run, report);
        std::string list;
        for (const auto& f : files) list += (list.empty() ? "" : ", ") + f.string();
        fmt::print("wrote {}\n", list);
    } else {
        std::cout << stats::formatSurvivalReport(report);
    }
    return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"nkscape — how breast cancer escapes NK cells, and the therapies meant to stop it."};
    app.set_version_flag("--version", std::string("nkscape ") + nkscape::kVersion);
    app.require_subcommand(1);
    app.footer(R"(Examples:
  nkscape validate models/default.toml          check a model; every error is listed (exit 2)
  nkscape describe                              summary of the default model
  nkscape describe receptor                     all receptors
  nkscape describe receptor NKG2D               one receptor: parameters, units, sources
  nkscape describe TIGIT:CD155                  any entity by name
  nkscape describe --markdown > docs/model-reference.md
  nkscape assay scenarios/assays/example-et-curve.toml --out out/et-curve
                                                run a killing assay: lysis.csv, ifng.csv, summary.json
  nkscape simulate scenarios/simulate/tnbc-untreated.toml --out out/tnbc
                                                simulate a tumour: timeseries.csv, events.csv, summary.json
  nkscape abm scenarios/abm/tnbc-immunoediting-2d.toml --out out/abm
                                                a spatial run: timeseries.csv, HDF5 snapshots + series.xdmf, PNGs
  nkscape stats logrank --data trial.csv --time weeks --event relapse --group arm
                                                Kaplan-Meier curves, medians and the log-rank test
  nkscape stats binom --successes 7 --trials 20  a response rate with its exact 95 % CI
  nkscape trial scenarios/trials/tnbc-pembrolizumab-vs-untreated.toml --out out/trial
                                                a virtual trial: ORR, CBR, PFS/OS curves (also under mpirun -n K)
  nkscape calibrate calibration/targets.toml --only TA1-TNBC --free cell_type/TNBC/doubling_time --out out/fit
                                                fit parameters to targets: overlay.toml, fit.csv, profiles.csv (also under mpirun -n K)
  nkscape attribute scenarios/trials/tnbc-avelumab-weekly-vs-untreated.toml --arm "avelumab weekly" --out out/attr
                                                which escape mechanism costs the arm's non-responders their response
  nkscape twin scenarios/twin/example-tnbc-patient.toml --regimens scenarios/twin/tnbc-regimens.toml --out out/twin
                                                a patient's digital twin: posterior, regimens ranked
  nkscape sensitivity scenarios/sensitivity/tnbc-untreated.toml --out out/sens
                                                Morris screening, then Sobol indices with bootstrap CIs

Exit codes: 0 success, 2 bad input (model, scenario or arguments), 1 other failure.
The default model is models/default.toml, or $NKSCAPE_MODEL.)");

    bool quiet = false;
    auto* validate = app.add_subcommand("validate", "Check model files and report every error with file:line:column");
    std::vector<std::string> validateFiles;
    validate->add_option("FILE", validateFiles, "Root model files")->required();
    validate->add_flag("-q,--quiet", quiet, "Print nothing on success");

    auto* describe = app.add_subcommand("describe", "Describe the model: summary, a kind, or one entity");
    std::vector<std::string> what;
    std::string modelPath = defaultModelPath();
    bool markdown = false;
    describe->add_option("KIND_OR_NAME", what, "KIND [NAME], or a NAME; a first argument ending in .toml is the model file (e.g. an overlay)");
    describe->add_option("-m,--model", modelPath, "Root model file")->capture_default_str();
    describe->add_flag("--markdown", markdown, "Print the whole model as the Markdown reference");
    std::string influentialFile;
    describe->add_option("--influential", influentialFile,
                         "A file of parameter paths, one per line (sensitivity's influential.txt): the provenance shares among them, and "
                         "those still resting on an assumption");

    auto* assayCmd = app.add_subcommand("assay", "Run an in-silico killing assay scenario; write lysis.csv, ifng.csv and summary.json");
    std::string scenarioPath, outDir;
    std::string threads;  // parsed by io::parseThreads: one message for every wrong value
    bool assayQuiet = false;
    RunLimitOptions assayLimits, simLimits;
    const std::string allowLargeHelp = "Lift the work limits of docs/limits.md (the memory limit still applies)";
    const std::string maxMemoryHelp = "Largest estimated peak memory to accept, e.g. 8G (default 4G; docs/limits.md)";
    assayCmd->add_option("SCENARIO", scenarioPath, "Assay scenario file (TOML, docs/assay.md)")->required();
    assayCmd->add_option("-o,--out", outDir, "Output folder (created if missing)")->required();
    auto* threadsOption = assayCmd->add_option("-t,--threads", threads,
                         "Worker threads, 1 to 4 per core (default: OMP_NUM_THREADS or all cores); results do not depend on it");
    assayCmd->add_flag("--allow-large", assayLimits.allowLarge, allowLargeHelp);
    assayCmd->add_option("--max-memory", assayLimits.maxMemory, maxMemoryHelp);
    assayCmd->add_flag("-q,--quiet", assayQuiet, "No progress bar and no summary; errors only");

    auto* simulateCmd = app.add_subcommand("simulate", "Run a well-mixed tumour simulation scenario; write timeseries.csv, events.csv and summary.json");
    std::string simScenarioPath, simOutDir;
    bool simQuiet = false;
    simulateCmd->add_option("SCENARIO", simScenarioPath, "Simulation scenario file (TOML, docs/qsp.md)")->required();
    simulateCmd->add_option("-o,--out", simOutDir, "Output folder (created if missing)")->required();
    simulateCmd->add_flag("--allow-large", simLimits.allowLarge, allowLargeHelp);
    simulateCmd->add_option("--max-memory", simLimits.maxMemory, maxMemoryHelp);
    simulateCmd->add_flag("-q,--quiet", simQuiet, "No summary; errors only");

    auto* trialCmd = app.add_subcommand("trial", "Run a virtual clinical trial; write patients.csv, arms.json, km.csv, waterfall.csv, spider.csv and summary.json (docs/trials.md)");
    nkscape::cli::TrialCommandOptions trialOptions;
    std::int64_t trialPatients = 0, trialSeed = 0;
    std::string trialThreads;
    RunLimitOptions trialLimits;
    trialCmd->add_option("TRIAL", trialOptions.trialPath, "Trial file (TOML, docs/trial-format.md)")->required();
    trialCmd->add_option("-o,--out", trialOptions.outDir, "Output folder (created if missing)")->required();
    auto* trialPatientsOpt = trialCmd->add_option("-n,--patients", trialPatients, "Patients enrolled (replaces the file's `patients`)");
    auto* trialSeedOpt = trialCmd->add_option("--seed", trialSeed, "Random seed (replaces the file's `seed`)");
    auto* trialThreadsOpt = trialCmd->add_option("-t,--threads", trialThreads,
                                                 "Worker threads per process, 1 to 4 per core (default: the cores / ranks); results do not depend on it");
    trialCmd->add_option("--spider", trialOptions.spiderPatients, "Patients per arm in spider.csv")->capture_default_str();
    trialCmd->add_flag("--allow-large", trialLimits.allowLarge, allowLargeHelp);
    trialCmd->add_option("--max-memory", trialLimits.maxMemory, maxMemoryHelp);
    trialCmd->add_flag("-q,--quiet", trialOptions.quiet, "No progress bar and no summary; errors only");

    auto* calibrateCmd = app.add_subcommand("calibrate", "Fit model parameters to calibration targets; write overlay.toml, fit.csv, profiles.csv and summary.json (docs/calibration.md)");
    nkscape::cli::CalibrateCommandOptions calOptions;
    std::int64_t calPatients = 0;
    std::string calThreads;
    RunLimitOptions calLimits;
    calibrateCmd->add_option("TARGETS", calOptions.targetsPath, "Targets file (TOML, [[target]] tables; docs/calibration.md)")->required();
    calibrateCmd->add_option("--free", calOptions.free, "A model parameter to fit, within its range (repeat for several), e.g. cell_type/TNBC/doubling_time")->required();
    calibrateCmd->add_option("-o,--out", calOptions.outDir, "Output folder (created if missing)")->required();
    auto* calThreadsOpt = calibrateCmd->add_option("-t,--threads", calThreads,
                                                   "Worker threads per process, 1 to 4 per core (default: the cores / ranks); results do not depend on it");
    calibrateCmd->add_option("--max-evals", calOptions.maxEvaluations, "Objective evaluations of the fit (global + local stages)")->capture_default_str();
    calibrateCmd->add_option("--seed", calOptions.seed, "Random seed of the global stage")->capture_default_str();
    auto* calPatientsOpt = calibrateCmd->add_option("-n,--patients", calPatients, "Patients of every trial target (replaces the trial files' counts)");
    calibrateCmd->add_option("--profile-points", calOptions.profilePoints, "Points of each parameter's profile likelihood (0: none, else 3 to 101)")->capture_default_str();
    calibrateCmd->add_option("--only", calOptions.only, "Fit only these targets: ID,ID,...");
    calibrateCmd->add_flag("--allow-large", calLimits.allowLarge, allowLargeHelp);
    calibrateCmd->add_option("--max-memory", calLimits.maxMemory, maxMemoryHelp);
    calibrateCmd->add_flag("-q,--quiet", calOptions.quiet, "No progress bar and no summary; errors only");
    auto* attributeCmd = app.add_subcommand("attribute", "Mechanism attribution: what each escape mechanism costs an arm's non-responders, by removing each in turn (docs/attribution.md)");
    nkscape::cli::AttributeCommandOptions attributeOptions;
    std::int64_t attributePatients = 0, attributeSeed = 0;
    std::string attributeThreads;
    RunLimitOptions attributeLimits;
    attributeCmd->add_option("TRIAL", attributeOptions.trialPath, "Trial file (TOML, docs/trial-format.md)")->required();
    attributeCmd->add_option("--arm", attributeOptions.arm, "The arm (its name in the trial file) whose regimen the patients receive")->required();
    attributeCmd->add_option("-o,--out", attributeOptions.outDir, "Output folder (created if missing)")->required();
    attributeCmd->add_option("--mechanisms", attributeOptions.mechanismsPath, "Mechanisms file (TOML, docs/attribution.md)")->capture_default_str();
    auto* attributePatientsOpt = attributeCmd->add_option("-n,--patients", attributePatients, "Patients enrolled (replaces the trial file's `patients`)");
    auto* attributeSeedOpt = attributeCmd->add_option("--seed", attributeSeed, "Random seed (replaces the trial file's `seed`)");
    auto* attributeThreadsOpt = attributeCmd->add_option("-t,--threads", attributeThreads,
                                                         "Worker threads per process, 1 to 4 per core (default: the cores / ranks); results do not depend on it");
    attributeCmd->add_flag("--as-randomised", attributeOptions.asRandomised,
                           "Only the patients randomised to the arm (default: every enrolled patient receives the arm's regimen)");
    attributeCmd->add_flag("--allow-large", attributeLimits.allowLarge, allowLargeHelp);
    attributeCmd->add_option("--max-memory", attributeLimits.maxMemory, maxMemoryHelp);
    attributeCmd->add_flag("-q,--quiet", attributeOptions.quiet, "No progress bar and no summary; errors only");
    auto* twinCmd = app.add_subcommand("twin", "A patient's digital twin: posterior over the patient's parameters, regimens ranked by predicted response and PFS; write posterior.csv, ranking.csv, fit.csv and summary.json (docs/twin.md)");
    nkscape::cli::TwinCommandOptions twinOptions;
    std::int64_t twinSeed = 0;
    std::string twinThreads;
    RunLimitOptions twinLimits;
    twinCmd->add_option("PATIENT", twinOptions.patientPath, "Patient file (TOML, docs/twin.md)")->required();
    twinCmd->add_option("--regimens", twinOptions.regimensPath, "Regimens file: a trial file whose arms are the candidate regimens (docs/twin.md)")->required();
    twinCmd->add_option("-o,--out", twinOptions.outDir, "Output folder (created if missing)")->required();
    twinCmd->add_option("--particles", twinOptions.particles, "Particles of the posterior")->capture_default_str();
    twinCmd->add_option("--generations", twinOptions.generations, "At most this many tempering stages (the last goes to the posterior)")->capture_default_str();
    auto* twinSeedOpt = twinCmd->add_option("--seed", twinSeed, "Random seed (default: the regimens file's `seed`)");
    auto* twinThreadsOpt = twinCmd->add_option("-t,--threads", twinThreads, "Worker threads, 1 to 4 per core (default: the cores); results do not depend on it");
    twinCmd->add_flag("--allow-large", twinLimits.allowLarge, allowLargeHelp);
    twinCmd->add_option("--max-memory", twinLimits.maxMemory, maxMemoryHelp);
    twinCmd->add_flag("-q,--quiet", twinOptions.quiet, "No progress bar and no summary; errors only");
    auto* sensitivityCmd = app.add_subcommand("sensitivity",
                                              "Global sensitivity analysis (Morris, Sobol, PRCC) of model outputs; write indices.csv, samples.csv, influential.txt and summary.json (docs/sensitivity.md)");
    nkscape::cli::SensitivityCommandOptions sensitivityOptions;
    std::int64_t sensSamples = 0, sensSeed = 0, sensPatients = 0;
    std::string sensThreads, sensMethod;
    RunLimitOptions sensLimits;
    sensitivityCmd->add_option("ANALYSIS", sensitivityOptions.analysisPath, "Analysis file (TOML, docs/sensitivity.md)")->required();
    sensitivityCmd->add_option("-o,--out", sensitivityOptions.outDir, "Output folder (created if missing)")->required();
    auto* sensMethodOpt = sensitivityCmd->add_option("--method", sensMethod, "morris, sobol or prcc (replaces [analysis] method; not sobol drops [screening])");
    auto* sensSamplesOpt = sensitivityCmd->add_option("--samples", sensSamples, "Morris trajectories, Sobol base samples N or PRCC points (replaces [analysis] samples)");
    auto* sensSeedOpt = sensitivityCmd->add_option("--seed", sensSeed, "Seed of the designs and bootstraps (replaces [analysis] seed)");
    auto* sensPatientsOpt = sensitivityCmd->add_option("-n,--patients", sensPatients, "Patients of every trial an output reads (replaces the trial files' counts)");
    auto* sensThreadsOpt = sensitivityCmd->add_option("-t,--threads", sensThreads,
                                                      "Worker threads per process, 1 to 4 per core (default: the cores / ranks); results do not depend on it");
    sensitivityCmd->add_flag("--allow-large", sensLimits.allowLarge, allowLargeHelp);
    sensitivityCmd->add_option("--max-memory", sensLimits.maxMemory, maxMemoryHelp);
    sensitivityCmd->add_flag("-q,--quiet", sensitivityOptions.quiet, "No progress bar and no summary; errors and warnings only");

    auto* abmCmd = app.add_subcommand("abm", "Run a spatial (agent-based) scenario; write timeseries.csv, HDF5 snapshots with series.xdmf, section PNGs and summary.json (docs/abm.md)");
    nkscape::cli::AbmCommandOptions abmOptions;
    std::string abmThreads;
    double abmCheckpointEvery = 0;
    RunLimitOptions abmLimits;
    abmCmd->add_option("SCENARIO", abmOptions.scenarioPath, "Spatial scenario file (TOML, docs/abm.md)")->required();
    abmCmd->add_option("-o,--out", abmOptions.outDir, "Output folder (created if missing)")->required();
    auto* abmThreadsOpt = abmCmd->add_option("-t,--threads", abmThreads, "Worker threads, 1 to 4 per core (default: the cores); results do not depend on it");
    auto* abmCheckpointOpt = abmCmd->add_option("--checkpoint-every", abmCheckpointEvery,
                                                "Write the whole state every this many simulated minutes into OUT.checkpoint (for --resume)");
    double abmStopAt = 0;
    auto* abmStopOpt = abmCmd->add_option("--stop-at", abmStopAt, "Checkpoint at this simulated minute into OUT.checkpoint and stop without writing OUT (continue with --resume)");
    abmCmd->add_option("--resume", abmOptions.resumeDir, "Continue from a checkpoint folder (OUT.checkpoint of an interrupted run); same results as an uninterrupted run");
    abmCmd->add_option("--replicates", abmOptions.replicates, "Replicates with seeds seed, seed+1, ... as an ensemble across MPI ranks (not implemented yet)");
    abmCmd->add_flag("--allow-large", abmLimits.allowLarge, allowLargeHelp);
    abmCmd->add_option("--max-memory", abmLimits.maxMemory, maxMemoryHelp);
    abmCmd->add_flag("-q,--quiet", abmOptions.quiet, "No progress bar and no summary; errors only");

    auto* statsCmd = app.add_subcommand("stats", "Survival statistics of trial data (Kaplan-Meier, log-rank, Cox) and binomial intervals (docs/stats.md)");
    statsCmd->require_subcommand(1);
    StatsOptions statsOptions;
    std::string statsAnalysis;
    for (const auto& [name, help] : {std::pair{"km", "Kaplan-Meier curves with Greenwood SE, pointwise CI and medians"},
                                     std::pair{"logrank", "Log-rank test of equal hazards in the groups (with the Kaplan-Meier curves)"},
                                     std::pair{"cox", "Cox proportional hazards fit of the second group vs the first (by name)"}}) {
        auto* sub = statsCmd->add_subcommand(name, help);
        sub->add_option("--data", statsOptions.data, "CSV file with a header row, one subject a row")->required();
        sub->add_option("--time", statsOptions.timeColumn, "Column of the time of event or censoring (>= 0)")->required();
        sub->add_option("--event", statsOptions.eventColumn, "Column of the event indicator: 1 = event, 0 = censored")->required();
        sub->add_option("--group", statsOptions.groupColumn, "Column of the group (arm) label; required for logrank and cox")
            ->each([&statsOptions](const std::string&) { statsOptions.groupGiven = true; });
        sub->add_option("-o,--out", statsOptions.outDir, "Output folder for km.csv and summary.json (default: a table on stdout)")
            ->each([&statsOptions](const std::string&) { statsOptions.outGiven = true; });
        sub->add_option("--conf-type", statsOptions.confType, "Pointwise CI transform: log (R's default), log-log or plain")->capture_default_str();
        if (std::string_view(name) == "cox") sub->add_option("--ties", statsOptions.ties, "Tied event times: efron (R's default) or breslow")->capture_default_str();
        sub->callback([&statsAnalysis, n = std::string(name)] { statsAnalysis = n; });
    }
    auto* binomCmd = statsCmd->add_subcommand("binom", "Exact (Clopper-Pearson) 95 % CI of a proportion");
    binomCmd->add_option("--successes", statsOptions.successes, "Number of successes X (0 <= X <= N)")->required();
    binomCmd->add_option("--trials", statsOptions.trials, "Number of trials N (>= 1)")->required();
    binomCmd->callback([&statsAnalysis] { statsAnalysis = "binom"; });

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? kExitOk : kExitBadInput;
    }

    try {
        if (*validate) return runValidate(validateFiles, quiet);
        if (*describe) return runDescribe(modelPath, what, markdown, influentialFile);
        if (*assayCmd)
            return runAssay(scenarioPath, outDir, threadsOption->count() ? std::optional<std::string>(threads) : std::nullopt, assayLimits, assayQuiet);
        if (*simulateCmd) return runSimulate(simScenarioPath, simOutDir, simLimits, simQuiet);
        if (*statsCmd) return runStats(statsAnalysis, statsOptions);
        if (*abmCmd) {
            if (abmThreadsOpt->count()) abmOptions.threads = abmThreads;
            if (abmCheckpointOpt->count()) abmOptions.checkpointEveryMin = abmCheckpointEvery;
            if (abmStopOpt->count()) abmOptions.stopAtMin = abmStopAt;
            abmOptions.limits = abmLimits.limits();
            return nkscape::cli::runAbmCommand(abmOptions);
        }
        if (*calibrateCmd) {
            if (calPatientsOpt->count()) calOptions.patients = calPatients;
            if (calThreadsOpt->count()) calOptions.threads = calThreads;
            calOptions.limits = calLimits.limits();
            return nkscape::cli::runCalibrateCommand(calOptions);
        }
        if (*attributeCmd) {
            if (attributePatientsOpt->count()) attributeOptions.patients = attributePatients;
            if (attributeSeedOpt->count()) attributeOptions.seed = attributeSeed;
            if (attributeThreadsOpt->count()) attributeOptions.threads = attributeThreads;
            attributeOptions.limits = attributeLimits.limits();
            return nkscape::cli::runAttributeCommand(attributeOptions);
        }
        if (*twinCmd) {
            if (twinSeedOpt->count()) twinOptions.seed = twinSeed;
            if (twinThreadsOpt->count()) twinOptions.threads = twinThreads;
            twinOptions.limits = twinLimits.limits();
            return nkscape::cli::runTwinCommand(twinOptions);
        }
        if (*sensitivityCmd) {
            if (sensMethodOpt->count()) sensitivityOptions.method = sensMethod;
            if (sensSamplesOpt->count()) sensitivityOptions.samples = sensSamples;
            if (sensSeedOpt->count()) sensitivityOptions.seed = sensSeed;
            if (sensPatientsOpt->count()) sensitivityOptions.patients = sensPatients;
            if (sensThreadsOpt->count()) sensitivityOptions.threads = sensThreads;
            sensitivityOptions.limits = sensLimits.limits();
            return nkscape::cli::runSensitivityCommand(sensitivityOptions);
        }
        if (*trialCmd) {
            if (trialPatientsOpt->count()) trialOptions.patients = trialPatients;
            if (trialSeedOpt->count()) trialOptions.seed = trialSeed;
            if (trialThreadsOpt->count()) trialOptions.threads = trialThreads;
            trialOptions.limits = trialLimits.limits();
            return nkscape::cli::runTrialCommand(trialOptions);
        }
    } catch (const nkscape::model::ModelError& e) {
        std::cerr << e.what() << "\n";
        return kExitBadInput;
    } catch (const nkscape::InputError& e) {
        std::cerr << "nkscape: error: " << e.what() << "\n";
        return kExitBadInput;
    } catch (const std::exception& e) {
        std::cerr << "nkscape: error: " << e.what() << "\n";
        return kExitFailure;
    }
    return kExitOk;
}
