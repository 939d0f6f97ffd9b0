// The trial runner: a drawn patient → an engine run → RECIST, PFS and OS (docs/trials.md,
// "Running a trial"), in parallel over threads, resumable from a journal of finished patients.

#include <Random123/philox.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <optional>

#include <fmt/format.h>

#include "nkscape/error.hpp"
#include "nkscape/io/file.hpp"
#include "nkscape/qsp/ode.hpp"
#include "nkscape/trial/trial.hpp"
#include "nkscape/version.hpp"
#include "io/parallel_for.hpp"
#include "trial/patient_setup.hpp"

namespace nkscape::trial {

namespace {

constexpr std::uint64_t kLesionPurpose = 4;  // population.cpp uses 1–3
constexpr int kSolverAttempts = 3;           // the scenario's tolerances, then 10× and 100× tighter

double unit(std::uint64_t x) { return (static_cast<double>(x >> 11) + 0.5) * 0x1p-53; }

using detail::resolvePath;
using detail::multiplyInto;

// Fractions of the burden in each of `n` lesions: a symmetric Dirichlet(2) from the patient's
// stream (sums of two exponentials are Gamma(2)), so lesions differ in size as in patients
// (assumption: no published distribution of lesion sizes; Dirichlet(2) gives a largest lesion of
// about half the burden with 3 lesions).
std::vector<double> lesionFractions(std::uint64_t seed, std::uint64_t patient, std::size_t n) {
    const r123::Philox4x64::key_type key = {{seed, patient}};
    std::vector<double> f(n);
    double sum = 0;
    for (std::size_t k = 0; k < n; ++k) {
        const r123::Philox4x64::ctr_type ctr = {{0, kLesionPurpose, k, 0}};
        const auto r = r123::Philox4x64()(ctr, key);
        f[k] = -std::log(unit(r[0])) - std::log(unit(r[1]));
        sum += f[k];
    }
    for (auto& x : f) x /= sum;
    return f;
}

}  // namespace

namespace {

// Restores the parameters a patient changed in a thread's model copy, however simulatePatient
// returns or throws.
class ParameterRestore {
public:
    explicit ParameterRestore(model::CompiledModel* m) : m_(m) {}
    ~ParameterRestore() {
        for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) m_->setValue(it->first, it->second);
    }
    ParameterRestore(const ParameterRestore&) = delete;
    ParameterRestore& operator=(const ParameterRestore&) = delete;
    void save(model::ParamId id) { saved_.emplace_back(id, m_->value(id)); }

private:
    model::CompiledModel* m_;
    std::vector<std::pair<model::ParamId, double>> saved_;
};

}  // namespace

PatientRecord simulatePatient(const LoadedTrial& t, const qsp::EngineModel& shared, const PatientDraw& draw, std::size_t arm,
                              model::CompiledModel* scratch, const PatientChanges* changes) {
    PatientRecord r;
    r.index = draw.index;
    r.arm = arm;
    r.draw = draw;
    const auto& base = *t.base;
    const std::string who = fmt::format("patient {} ({})", draw.index, t.arms[arm].name);

    // ---- the patient's model: parameter priors ------------------------------------------------
    std::optional<model::CompiledModel> copy;
    model::CompiledModel* own = nullptr;  // the patient's model, once a parameter differs
    ParameterRestore restore(scratch);
    qsp::SimulationSpec spec = base.spec;
    qsp::BodySize body = base.body;
    std::size_t lesions = 1;
    for (std::size_t k = 0; k < t.priors.size(); ++k) {
        const double x = draw.values[k];
        if (std::isnan(x)) continue;
        const Prior& p = t.priors[k];
        const double v = x * p.toInternal;
        using K = PriorTarget::Kind;
        switch (p.target.kind) {
        case K::Parameter: {
            if (!own) own = scratch ? scratch : &copy.emplace(base.model);
            const auto id = own->findParameter(resolvePath(*own, p.target.parameterPath, draw.subtype));
            if (!id) throw InternalError("trial: parameter path of prior '" + p.name + "' vanished");
            const auto& info = own->parameter(*id);
            double value = p.target.multiply ? own->value(*id) * v : v;
            // A draw outside the parameter's plausible range is clamped into it (the range is the
            // model's statement of what is plausible); the patient is flagged.
            if (info.range && (value < info.range->first || value > info.range->second)) {
                value = std::clamp(value, info.range->first, info.range->second);
                r.draw.clamped = true;
            }
            if (const std::string why = own->valueProblem(*id, value); !why.empty()) {
                r.failed = true;
                r.failure = fmt::format("prior '{}' gives {} = {:g} {}: {}", p.name, info.path, value, info.internalUnit, why);
                return r;
            }
            if (own == scratch) restore.save(*id);
            own->setValue(*id, value);
            break;
        }
        case K::TumourCells: {
            // The base scenario's infiltrate and variant clones scale with the burden: a patient
            // with ten times the tumour has ten times the cells around it, not the same number.
            const double scale = base.spec.clones[0].initialCells > 0 ? v / base.spec.clones[0].initialCells : 1.0;
            for (std::size_t c = 0; c < spec.clones.size(); ++c) spec.clones[c].initialCells = base.spec.clones[c].initialCells * scale;
            for (std::size_t q = 0; q < spec.populations.size(); ++q)
                spec.populations[q].initialCells = base.spec.populations[q].initialCells * scale;
            break;
        }
        case K::Immunogenicity: spec.tumourImmunogenicity *= v; break;
        case K::Lesions: lesions = static_cast<std::size_t>(std::lround(x)); break;
        case K::PopulationCells:
        case K::PopulationInflux:
            for (auto& pop : spec.populations) {
                if (pop.cellType != p.target.index) continue;
                if (p.target.kind == K::PopulationCells) pop.initialCells *= v;
                else pop.influxPerDay *= v, pop.influxPerTumourCell *= v;
            }
            break;
        case K::Ligand:
            for (auto& c : spec.clones) multiplyInto(c.ligandMultipliers, p.target.index, v);
            break;
        case K::Secretion:
            for (auto& c : spec.clones) multiplyInto(c.secretionMultipliers, p.target.index, v);
            break;
        case K::Weight: body.weight_kg = v; break;
        case K::Surface: body.surface_m2 = v; break;
        }
    }
    // ---- counterfactual changes, after every prior so that they win ---------------------------
    if (changes) {
        for (const auto& c : changes->parameters) {
            if (!own) own = scratch ? scratch : &copy.emplace(base.model);
            const std::string path = resolvePath(*own, c.path, draw.subtype);
            const auto id = own->findParameter(path);
            if (!id) throw InputError(fmt::format("{}: '{}' is not a parameter of the model", who, path));
            const double value = c.multiply ? own->value(*id) * c.value : c.value;
            if (own == scratch) restore.save(*id);
            own->setCounterfactualValue(*id, value);
        }
        for (auto& c : spec.clones) {
            for (const auto& [i, f] : changes->ligands) multiplyInto(c.ligandMultipliers, i, f);
            for (const auto& [i, f] : changes->factors) multiplyInto(c.factorMultipliers, i, f);
            for (const auto& [i, f] : changes->secretions) multiplyInto(c.secretionMultipliers, i, f);
        }
        for (auto& pop : spec.populations) {
            for (const auto& [i, f] : changes->populationCells)
                if (pop.cellType == i) pop.initialCells *= f;
            for (const auto& [i, f] : changes->populationInflux)
                if (pop.cellType == i) pop.influxPerDay *= f, pop.influxPerTumourCell *= f;
        }
    }
    r.lesions = lesions;
    const model::CompiledModel& m = own ? *own : base.model;
    spec.tumourCellType = draw.subtype;
    r.baselineCells = 0;
    for (const auto& c : spec.clones) r.baselineCells += c.initialCells;

    // ---- the arm's regimen for this patient's body --------------------------------------------
    spec.drugs.clear();
    const Arm& a = t.arms[arm];
    for (std::size_t k = 0; k < a.doses.size(); ++k) {
        const auto& d = a.doses[k];
        qsp::DosingSpec ds{d.amount, d.schedule, d.loading, d.startDay, d.infusion};
        auto reg = qsp::DosingRegimen::parse(ds, qsp::DrugPk::fromTherapy(m, a.therapies[k]), body);
        auto same = std::find_if(spec.drugs.begin(), spec.drugs.end(), [&](const qsp::DrugRegimen& e) { return e.therapy == a.therapies[k]; });
        if (same == spec.drugs.end()) {
            spec.drugs.push_back(qsp::DrugRegimen{a.therapies[k], std::move(reg)});
        } else {
            std::vector<qsp::Dose> all = same->regimen.doses();
            all.insert(all.end(), reg.doses().begin(), reg.doses().end());
            same->regimen = qsp::DosingRegimen(std::move(all), reg.unit());
        }
    }
    spec.durationDays = t.followUp.duration_d;
    spec.outputIntervalDays = std::min(t.followUp.assessmentInterval_d, t.followUp.duration_d);
    spec.smallClones = qsp::SimulationSpec::SmallClones::Stochastic;
    spec.seed = t.seed;
    spec.stream = draw.index;  // one stream per patient: in a crossover design every arm sees the same chances
    spec.stopAtTumourCells = t.followUp.lethalBurden_cells;

    // ---- simulate, retrying at tighter tolerances -----------------------------------------------
    std::optional<qsp::EngineModel> ownEngine;
    if (own) ownEngine.emplace(*own);
    const qsp::EngineModel& engine = own ? *ownEngine : shared;
    qsp::SimulationResult res;
    bool done = false;
    for (int attempt = 1; attempt <= kSolverAttempts && !done; ++attempt) {
        r.attempts = attempt;
        qsp::SimulationSpec s = spec;
        const double tighten = std::pow(10.0, attempt - 1);
        s.ode.rtol = spec.ode.rtol / tighten;
        s.ode.atol = spec.ode.atol / tighten;
        try {
            res = qsp::simulate(engine, s);
            done = true;
        } catch (const qsp::StepBudgetError& e) {
            r.failure = fmt::format("{}: {}", who, e.what());
            break;  // a tighter tolerance would only take more steps
        } catch (const qsp::SolverError& e) {
            r.failure = fmt::format("{}: solver failed at rtol {:g}: {}", who, s.ode.rtol, e.what());
        } catch (const qsp::ModelInputError& e) {
            r.failure = fmt::format("{}: {}", who, e.what());
            break;  // the inputs, not the tolerances: no retry helps
        }
    }
    if (!done) {
        r.failed = true;
        return r;
    }
    r.failure.clear();
    r.steps = res.stats.steps;

    // ---- RECIST, PFS, OS ----------------------------------------------------------------------
    const TumourBurden burden = tumourBurden(res, who);
    const double end = res.times.back();
    const bool died = res.stoppedAt_d.has_value();
    const auto schedule = regularSchedule(t.followUp.assessmentInterval_d, end);
    LesionSplit split;
    split.fractions = lesionFractions(t.seed, draw.index, lesions);
    RecistOptions options = t.followUp.recist;
    options.error.seed = t.seed;
    const RecistOutcome o = assessRecist(burden, split, schedule, options, draw.index);
    r.evaluable = o.evaluable();
    r.baselineSld_mm = o.baseline.sld_mm;
    r.best = o.bestResponse;
    r.confirmed = o.bestResponseConfirmed;
    r.clinicalBenefit = o.clinicalBenefit;
    r.assessmentDays.push_back(o.baseline.time_d);
    r.sld_mm.push_back(o.baseline.sld_mm);
    for (const auto& f : o.followUps) {
        r.assessmentDays.push_back(f.time_d);
        r.sld_mm.push_back(f.sld_mm);
        if (o.baseline.sld_mm > 0) {
            const double change = 100.0 * (f.sld_mm - o.baseline.sld_mm) / o.baseline.sld_mm;
            r.bestChangePct = r.bestChangePct ? std::min(*r.bestChangePct, change) : change;
        }
    }
    const double lastAssessment = schedule.empty() ? 0.0 : schedule.back();
    // PFS: the first PD, or death; censored at the last assessment.
    if (o.evaluable() && o.progressed) {
        r.pfs_d = o.timeToProgression_d;
        r.pfsEvent = true;
    } else if (died) {
        r.pfs_d = end;
        r.pfsEvent = true;
    } else {
        r.pfs_d = lastAssessment;
    }
    r.os_d = end;
    r.death = died;
    if (o.durationOfResponse_d) {
        r.dor_d = *o.durationOfResponse_d;
        r.dorEvent = o.responseEnded;
        if (!o.responseEnded && died) {  // the response ended with death, not at a PD assessment
            r.dor_d = *o.durationOfResponse_d + (end - lastAssessment);
            r.dorEvent = true;
        }
    }
    r.cured = !res.rows.empty() && res.rows.back()[0] == 0.0;
    return r;
}

// ---- journal records ---------------------------------------------------------------------------

std::string encodeRecord(const PatientRecord& r) {
    io::Json j;
    j["i"] = r.index;
    j["arm"] = r.arm;
    j["screened"] = r.draw.screened;
    j["subtype"] = r.draw.subtype;
    io::Json vals = io::Json::array();
    for (double v : r.draw.values) vals.push_back(std::isnan(v) ? io::Json(nullptr) : io::Json(v));
    j["values"] = vals;
    j["attributes"] = r.draw.attributes;
    j["biomarkers"] = r.draw.biomarkers;
    j["clamped"] = r.draw.clamped;
    j["failed"] = r.failed;
    j["failure"] = r.failure;
    j["attempts"] = r.attempts;
    j["steps"] = r.steps;
    j["lesions"] = r.lesions;
    j["baseline_cells"] = r.baselineCells;
    j["baseline_sld"] = r.baselineSld_mm;
    j["evaluable"] = r.evaluable;
    j["best"] = static_cast<int>(r.best);
    j["confirmed"] = r.confirmed;
    j["cb"] = r.clinicalBenefit;
    j["best_change"] = r.bestChangePct ? io::Json(*r.bestChangePct) : io::Json(nullptr);
    j["pfs"] = r.pfs_d;
    j["pfs_event"] = r.pfsEvent;
    j["os"] = r.os_d;
    j["death"] = r.death;
    j["dor"] = r.dor_d ? io::Json(*r.dor_d) : io::Json(nullptr);
    j["dor_event"] = r.dorEvent;
    j["cured"] = r.cured;
    j["days"] = r.assessmentDays;
    j["sld"] = r.sld_mm;
    // nlohmann writes doubles with the shortest text that reads back to the same double.
    return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

PatientRecord decodeRecord(const std::string& line, const LoadedTrial& t) {
    try {
        const auto j = io::Json::parse(line);
        PatientRecord r;
        r.index = j.at("i").get<std::uint64_t>();
        r.arm = j.at("arm").get<std::size_t>();
        if (r.arm >= t.arms.size() || r.index >= static_cast<std::uint64_t>(t.patients)) throw InputError("out of range");
        r.draw.index = r.index;
        r.draw.arm = r.arm;
        r.draw.screened = j.at("screened").get<std::int64_t>();
        r.draw.subtype = j.at("subtype").get<model::Index>();
        for (const auto& v : j.at("values")) r.draw.values.push_back(v.is_null() ? std::numeric_limits<double>::quiet_NaN() : v.get<double>());
        if (r.draw.values.size() != t.priors.size()) throw InputError("wrong number of prior values");
        r.draw.attributes = j.at("attributes").get<std::vector<std::string>>();
        r.draw.biomarkers = j.at("biomarkers").get<std::vector<std::string>>();
        r.draw.clamped = j.at("clamped").get<bool>();
        r.failed = j.at("failed").get<bool>();
        r.failure = j.at("failure").get<std::string>();
        r.attempts = j.at("attempts").get<int>();
        r.steps = j.at("steps").get<long>();
        r.lesions = j.at("lesions").get<std::size_t>();
        r.baselineCells = j.at("baseline_cells").get<double>();
        r.baselineSld_mm = j.at("baseline_sld").get<double>();
        r.evaluable = j.at("evaluable").get<bool>();
        r.best = static_cast<Response>(j.at("best").get<int>());
        r.confirmed = j.at("confirmed").get<bool>();
        r.clinicalBenefit = j.at("cb").get<bool>();
        if (!j.at("best_change").is_null()) r.bestChangePct = j.at("best_change").get<double>();
        r.pfs_d = j.at("pfs").get<double>();
        r.pfsEvent = j.at("pfs_event").get<bool>();
        r.os_d = j.at("os").get<double>();
        r.death = j.at("death").get<bool>();
        if (!j.at("dor").is_null()) r.dor_d = j.at("dor").get<double>();
        r.dorEvent = j.at("dor_event").get<bool>();
        r.cured = j.at("cured").get<bool>();
        r.assessmentDays = j.at("days").get<std::vector<double>>();
        r.sld_mm = j.at("sld").get<std::vector<double>>();
        return r;
    } catch (const std::exception& e) {
        throw InputError(std::string("not a patient record of this trial: ") + e.what());
    }
}

// ---- the run ---------------------------------------------------------------------------------------

namespace {

std::string journalKey(const LoadedTrial& t) {
    return fmt::format("nkscape {} trial journal\ninputs {}\nmodel {}\nseed {}\npatients {}\n", kVersion, t.fileHash, t.base->model.info().hash,
                       t.seed, t.patients);
}

// This trial's records in the journal `dir` (prepared by prepareJournal), by (patient, arm).
std::map<std::pair<std::uint64_t, std::size_t>, PatientRecord> readJournal(const LoadedTrial& t, const std::filesystem::path& dir) {
    std::map<std::pair<std::uint64_t, std::size_t>, PatientRecord> done;
    namespace fs = std::filesystem;
    std::error_code ec;
    std::string key;
    try {
        key = io::readFile(dir / "key");
    } catch (const IoError&) {
        return done;
    }
    if (key != journalKey(t)) return done;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir, ec))
        if (entry.path().extension() == ".jsonl") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
        std::ifstream in(f, std::ios::binary);
        std::string line;
        while (std::getline(in, line)) {
            if (in.eof()) break;  // no newline: a line cut by a kill, not a record
            try {
                PatientRecord r = decodeRecord(line, t);
                done.emplace(std::pair{r.index, r.arm}, std::move(r));
            } catch (const InputError&) {
                // a torn or foreign line: that patient is simply simulated again
            }
        }
    }
    return done;
}

}  // namespace

void prepareJournal(const LoadedTrial& t, const std::filesystem::path& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const std::string key = journalKey(t);
    std::string existing;
    try {
        existing = io::readFile(dir / "key");
    } catch (const IoError&) {
        existing.clear();
    }
    if (existing == key) return;
    fs::remove_all(dir, ec);
    fs::create_directories(dir, ec);
    if (ec) throw IoError("cannot create the trial journal folder '" + dir.string() + "': " + ec.message());
    io::writeFileAtomic(dir / "key", key);
}

TrialRunResult runTrial(const LoadedTrial& t, const TrialRunOptions& options) {
    const auto start = std::chrono::steady_clock::now();
    TrialRunResult out;
    std::map<std::pair<std::uint64_t, std::size_t>, PatientRecord> done;
    std::FILE* journal = nullptr;
    if (!options.journal.empty()) {
        done = readJournal(t, options.journal);
        out.resumed = done.size();
        const auto file = options.journal / fmt::format("rank-{}.jsonl", options.rank);
        journal = std::fopen(file.c_str(), "ab+");
        if (!journal) throw IoError("cannot append to the trial journal '" + file.string() + "'");
        // A line torn by a kill is ended, so the next record starts a line of its own.
        if (std::fseek(journal, -1, SEEK_END) == 0 && std::fgetc(journal) != '\n') std::fputc('\n', journal);
    }
    // This rank's patients.
    std::vector<std::uint64_t> mine;
    for (std::int64_t i = options.rank; i < t.patients; i += options.ranks) mine.push_back(static_cast<std::uint64_t>(i));
    std::vector<std::vector<PatientRecord>> results(mine.size());
    const qsp::EngineModel shared(t.base->model);
    std::mutex mutex;  // guards the journal, `finished` and the progress callback
    std::size_t finished = 0;
    // Each worker's copy of the model, which patients' parameter priors are set in and restored.
    std::vector<std::optional<model::CompiledModel>> scratches(static_cast<std::size_t>(std::max(1, options.threads)));
    try {
        io::detail::parallelFor(mine.size(), options.threads, [&](std::size_t k, int w) {
            auto& own = scratches[static_cast<std::size_t>(w)];
            if (!own) own.emplace(t.base->model);
            model::CompiledModel& scratch = *own;
            const std::uint64_t i = mine[k];
            std::optional<PatientDraw> draw;
            std::vector<std::size_t> arms;
            if (t.crossover)
                for (std::size_t a = 0; a < t.arms.size(); ++a) arms.push_back(a);
            if (!t.crossover) {
                // The arm comes with the draw; a journalled patient needs no draw at all.
                bool found = false;
                for (std::size_t a = 0; a < t.arms.size() && !found; ++a) {
                    auto it = done.find({i, a});
                    if (it != done.end()) {
                        results[k].push_back(it->second);
                        found = true;
                    }
                }
                if (!found) {
                    draw = drawPatient(t, i);
                    arms.push_back(draw->arm);
                }
            }
            for (std::size_t a : arms) {
                if (auto it = done.find({i, a}); it != done.end()) {
                    results[k].push_back(it->second);
                    continue;
                }
                if (!draw) draw = drawPatient(t, i);
                PatientRecord r = simulatePatient(t, shared, *draw, a, &scratch);
                if (journal) {
                    const std::string line = encodeRecord(r) + "\n";
                    const std::lock_guard lock(mutex);
                    if (std::fwrite(line.data(), 1, line.size(), journal) != line.size() || std::fflush(journal) != 0)
                        throw IoError("cannot write the trial journal in '" + options.journal.string() + "'");
                }
                results[k].push_back(std::move(r));
            }
            const std::lock_guard lock(mutex);
            ++finished;
            if (options.progress) options.progress(finished, mine.size());
        });
    } catch (...) {
        if (journal) std::fclose(journal);
        throw;
    }
    if (journal) std::fclose(journal);
    for (auto& v : results)
        for (auto& r : v) out.records.push_back(std::move(r));
    std::sort(out.records.begin(), out.records.end(), [](const PatientRecord& a, const PatientRecord& b) {
        return a.index != b.index ? a.index < b.index : a.arm < b.arm;
    });
    out.wallSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return out;
}

io::ResourceEstimate estimateResources(const LoadedTrial& t) {
    io::ResourceEstimate e;
    const double runs = static_cast<double>(t.patients) * (t.crossover ? static_cast<double>(t.arms.size()) : 1.0);
    io::WorkItem w;
    w.what = "simulated patient time";
    w.amount = runs * t.followUp.duration_d;
    // 1e4 patients × 2 years × 2 arms is ~1.5e7 patient-days; 1e8 d (~1e5 patient-years) is
    // about an hour on two cores.
    w.limit = 1e8;
    w.unit = "d";
    w.detail = fmt::format("{} patient runs x {:g} d of follow-up", io::formatCount(runs), t.followUp.duration_d);
    w.where = model::SourceLocation{t.path, 0, 0};
    w.entity = "[trial]";
    w.key = "patients";
    e.work.push_back(w);
    const double assessments = std::floor(t.followUp.duration_d / t.followUp.assessmentInterval_d) + 1;
    // Per record: the draw, the endpoints and the SLD series (~(priors + 2·assessments)·8 B + ~600 B);
    // plus the engine's working set per thread (a few MB) and the model copies.
    e.memoryBytes = runs * (600.0 + 8.0 * (static_cast<double>(t.priors.size()) + 2.0 * assessments)) + 64.0 * 1024 * 1024;
    e.memoryDetail = fmt::format("{} patient records in memory until the outputs are written", io::formatCount(runs));
    e.memoryWhere = w.where;
    e.memoryEntity = "[trial]";
    e.memoryKey = "patients";
    return e;
}

}  // namespace nkscape::trial
