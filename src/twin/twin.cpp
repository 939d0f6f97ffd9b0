// The twin (docs/twin.md): a particle's position → the population's prior values → the patient's
// model and tumour environment (the rules of trial::simulatePatient) → the untreated tumour over
// the measurement window (likelihood) and each regimen from the last measurement (prediction).

#include <Random123/philox.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cmath>
#include <limits>
#include <numeric>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/math/distributions/normal.hpp>
#include <fmt/format.h>

#include "nkscape/error.hpp"
#include "nkscape/qsp/engine.hpp"
#include "nkscape/qsp/pk.hpp"
#include "nkscape/trial/recist.hpp"
#include "nkscape/twin/twin.hpp"
#include "io/parallel_for.hpp"
#include "trial/patient_setup.hpp"

namespace nkscape::twin {

namespace {

using trial::LoadedTrial;
using trial::Prior;
using trial::PriorTarget;

constexpr double kLog2Pi = 1.8378770664093453;
const boost::math::normal kStdNormal;
double phiUpper(double z) { return boost::math::cdf(boost::math::complement(kStdNormal, z)); }

double unit(std::uint64_t x) { return (static_cast<double>(x >> 11) + 0.5) * 0x1p-53; }

// The Philox streams of this file (the key's second word).
enum Purpose : std::uint64_t { kSynthetic = 0x7477696e11, kSyntheticNoise = 0x7477696e12, kPredictNoise = 0x7477696e13, kBootstrap = 0x7477696e14 };

std::array<double, 4> uniforms(std::uint64_t seed, std::uint64_t purpose, std::uint64_t a, std::uint64_t b, std::uint64_t c) {
    const r123::Philox4x64::key_type key = {{seed, purpose}};
    const r123::Philox4x64::ctr_type ctr = {{a, b, c, 0}};
    const auto r = r123::Philox4x64()(ctr, key);
    return {unit(r[0]), unit(r[1]), unit(r[2]), unit(r[3])};
}

using trial::detail::resolvePath;
using trial::detail::multiplyInto;

/// Restores the parameters a particle changed in a worker's model copy.
class ParameterRestore {
public:
    explicit ParameterRestore(model::CompiledModel& m) : m_(m) {}
    ~ParameterRestore() {
        for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) m_.setValue(it->first, it->second);
    }
    ParameterRestore(const ParameterRestore&) = delete;
    ParameterRestore& operator=(const ParameterRestore&) = delete;
    void set(model::ParamId id, double v) {
        saved_.emplace_back(id, m_.value(id));
        m_.setValue(id, v);
    }

private:
    model::CompiledModel& m_;
    std::vector<std::pair<model::ParamId, double>> saved_;
};

/// What does not change between particles: the trial, the patient, the measurement window.
struct Context {
    const LoadedTrial& t;
    const Patient& patient;
    std::size_t priors = 0;               // n: the first n scores of a particle are the copula's
    std::size_t dims = 0;                 // n + 2·kMaxTargetLesions
    std::vector<double> days;             // measurement days relative to the first (d)
    double window_d = 0;                  // last − first measurement (d)
    double sigmaDiameter = 0;             // sd of log diameter error: sqrt(log(1 + cv²))
    std::vector<std::size_t> freeAttributes;  // attributes the particle carries (not observed)
    std::vector<std::optional<std::size_t>> observedAttribute;  // per attribute: observed level
    std::optional<std::size_t> lesionPrior;  // the `lesions` prior, if the population has one
    std::vector<model::ParamId> nkBloodCounts;  // blood_count of every NK cell type with one

    Context(const LoadedTrial& trial, const Patient& p) : t(trial), patient(p) {
        priors = t.priors.size();
        dims = priors + 2 * trial::kMaxTargetLesions;
        for (const auto& m : p.measurements) days.push_back(m.day - p.measurements.front().day);
        window_d = days.back();
        const double cv = t.followUp.recist.error.cv;
        sigmaDiameter = std::sqrt(std::log1p(cv * cv));
        observedAttribute.assign(t.attributes.size(), std::nullopt);
        for (const auto& [a, level] : p.attributes) {
            const auto& lv = t.attributes[a].levels;
            observedAttribute[a] = static_cast<std::size_t>(std::find(lv.begin(), lv.end(), level) - lv.begin());
        }
        for (std::size_t a = 0; a < t.attributes.size(); ++a)
            if (!observedAttribute[a]) freeAttributes.push_back(a);
        for (std::size_t k = 0; k < priors; ++k)
            if (t.priors[k].target.kind == PriorTarget::Kind::Lesions) lesionPrior = k;
        // The blood NK pools the base scenario follows (its NK populations with `blood = true`).
        const auto& m = t.base->model;
        for (const auto& pop : t.base->spec.populations) {
            if (!pop.blood || m.cellTypes()[pop.cellType].category != model::CellCategory::Nk) continue;
            if (auto id = m.findParameter("cell_type/" + m.entities(model::Kind::CellType)[pop.cellType].name + "/blood_count")) nkBloodCounts.push_back(*id);
        }
    }

    /// The level of every attribute for particle `p` (observed ones fixed).
    std::vector<std::size_t> attributeLevels(const Particle& p) const {
        std::vector<std::size_t> lv(t.attributes.size(), 0);
        for (std::size_t a = 0; a < t.attributes.size(); ++a) lv[a] = observedAttribute[a] ? *observedAttribute[a] : 0;
        for (std::size_t k = 0; k < freeAttributes.size(); ++k) lv[freeAttributes[k]] = p.attributes[k];
        return lv;
    }

    /// Prior values (prior's unit; NaN where `when` fails) at particle `p`: z = L·u, value = F⁻¹(Φ(z)).
    std::vector<double> values(const Particle& p) const {
        const auto lv = attributeLevels(p);
        std::vector<double> v(priors, std::numeric_limits<double>::quiet_NaN());
        for (std::size_t i = 0; i < priors; ++i) {
            const Prior& pr = t.priors[i];
            if (!pr.whenAttribute.empty() && t.attributes[pr.whenIndex].levels[lv[pr.whenIndex]] != pr.whenLevel) continue;
            double z = 0;
            for (std::size_t j = 0; j <= i; ++j) z += t.cholesky[i][j] * p.u[j];
            v[i] = pr.distribution.quantile(z);
        }
        return v;
    }

    std::size_t lesionCount(const std::vector<double>& v) const {
        if (lesionPrior && !std::isnan(v[*lesionPrior])) return static_cast<std::size_t>(std::lround(v[*lesionPrior]));
        return patient.lesions;
    }

    /// Prior i's value at particle `p` with attribute levels `lv` (NaN where its `when` fails):
    /// values()[i] without the other priors.
    double valueAt(const Particle& p, std::size_t i, const std::vector<std::size_t>& lv) const {
        const Prior& pr = t.priors[i];
        if (!pr.whenAttribute.empty() && t.attributes[pr.whenIndex].levels[lv[pr.whenIndex]] != pr.whenLevel) return std::numeric_limits<double>::quiet_NaN();
        double z = 0;
        for (std::size_t j = 0; j <= i; ++j) z += t.cholesky[i][j] * p.u[j];
        return pr.distribution.quantile(z);
    }

    /// The patient's constraints: observed biomarker levels and lesion count. Evaluates only the
    /// priors they read, and stops at the first that fails (the rejection loop calls it up to
    /// kMaxPriorDraws times per particle).
    bool admissible(const Particle& p) const {
        const auto lv = attributeLevels(p);
        for (const auto& [b, level] : patient.biomarkers) {
            const auto& bm = t.biomarkers[b];
            const double x = valueAt(p, bm.priorIndex, lv);
            if (std::isnan(x)) return false;
            std::size_t l = 0;
            while (l < bm.cutoffs.size() && x >= bm.cutoffs[l]) ++l;
            if (bm.levels[l] != level) return false;
        }
        if (!lesionPrior) return true;  // lesionCount() is then the patient's own
        const double n = valueAt(p, *lesionPrior, lv);
        return std::isnan(n) || static_cast<std::size_t>(std::lround(n)) == patient.lesions;
    }

    /// Lesion fractions: Dirichlet(2) from the particle's lesion scores (each Gamma(2) is a sum
    /// of two unit exponentials, −log(1 − Φ(u))), as the trial runner splits a burden.
    std::vector<double> fractions(const Particle& p) const {
        std::vector<double> f(patient.lesions);
        double s = 0;
        for (std::size_t k = 0; k < f.size(); ++k) {
            f[k] = -std::log(phiUpper(p.u[priors + 2 * k])) - std::log(phiUpper(p.u[priors + 2 * k + 1]));
            f[k] = std::max(f[k], 1e-300);
            s += f[k];
        }
        for (auto& x : f) x /= s;
        return f;
    }
};

/// A particle's tumour environment and model, set up as trial::simulatePatient sets up a drawn
/// patient (same prior targets, same clamping into a parameter's range).
struct Setup {
    qsp::SimulationSpec spec;
    qsp::BodySize body;
    bool changed = false;      // a parameter differs from the base model
    std::string failure;       // a prior gives a value the model refuses
    double bloodNk = 0;        // Σ blood_count of NK cell types (cell/µL)
};

Setup setUp(const Context& c, const std::vector<double>& values, model::CompiledModel& scratch, ParameterRestore& restore) {
    const auto& base = *c.t.base;
    Setup s;
    s.spec = base.spec;
    s.body = base.body;
    const model::Index subtype = c.patient.subtype;
    for (std::size_t k = 0; k < c.priors; ++k) {
        const double x = values[k];
        if (std::isnan(x)) continue;
        const Prior& p = c.t.priors[k];
        const double v = x * p.toInternal;
        using K = PriorTarget::Kind;
        switch (p.target.kind) {
        case K::Parameter: {
            const auto id = scratch.findParameter(resolvePath(scratch, p.target.parameterPath, subtype));
            if (!id) throw InternalError("twin: parameter path of prior '" + p.name + "' vanished");
            const auto& info = scratch.parameter(*id);
            double value = p.target.multiply ? scratch.value(*id) * v : v;
            if (info.range) value = std::clamp(value, info.range->first, info.range->second);
            if (const std::string why = scratch.valueProblem(*id, value); !why.empty()) {
                s.failure = fmt::format("prior '{}' gives {} = {:g} {}: {}", p.name, info.path, value, info.internalUnit, why);
                return s;
            }
            restore.set(*id, value);
            s.changed = true;
            break;
        }
        case K::TumourCells: {
            const double scale = base.spec.clones[0].initialCells > 0 ? v / base.spec.clones[0].initialCells : 1.0;
            for (std::size_t q = 0; q < s.spec.clones.size(); ++q) s.spec.clones[q].initialCells = base.spec.clones[q].initialCells * scale;
            for (std::size_t q = 0; q < s.spec.populations.size(); ++q) s.spec.populations[q].initialCells = base.spec.populations[q].initialCells * scale;
            break;
        }
        case K::Immunogenicity: s.spec.tumourImmunogenicity *= v; break;
        case K::Lesions: break;  // the patient's own count (a constraint)
        case K::PopulationCells:
        case K::PopulationInflux:
            for (auto& pop : s.spec.populations) {
                if (pop.cellType != p.target.index) continue;
                if (p.target.kind == K::PopulationCells) pop.initialCells *= v;
                else pop.influxPerDay *= v, pop.influxPerTumourCell *= v;
            }
            break;
        case K::Ligand:
            for (auto& cl : s.spec.clones) multiplyInto(cl.ligandMultipliers, p.target.index, v);
            break;
        case K::Secretion:
            for (auto& cl : s.spec.clones) multiplyInto(cl.secretionMultipliers, p.target.index, v);
            break;
        case K::Weight: s.body.weight_kg = v; break;
        case K::Surface: s.body.surface_m2 = v; break;
        }
    }
    s.spec.tumourCellType = subtype;
    s.spec.drugs.clear();
    // The mean small-clone process: a particle's likelihood is then a function of its position
    // (docs/twin.md, "The forward model").
    s.spec.smallClones = qsp::SimulationSpec::SmallClones::Continuous;
    s.spec.stopAtTumourCells = c.t.followUp.lethalBurden_cells;
    for (auto id : c.nkBloodCounts) s.bloodNk += scratch.value(id);
    s.bloodNk /= kBloodCd56dimShare;  // the followed pools are the CD56dim subset of all blood NK cells
    return s;
}

/// Simulates `spec` with the scenario's tolerances, then 10× and 100× tighter (as the trial
/// runner); nullopt if every attempt fails.
std::optional<qsp::SimulationResult> run(const qsp::EngineModel& engine, const qsp::SimulationSpec& spec) {
    for (int attempt = 1; attempt <= 3; ++attempt) {
        qsp::SimulationSpec s = spec;
        const double tighten = std::pow(10.0, attempt - 1);
        s.ode.rtol = spec.ode.rtol / tighten;
        s.ode.atol = spec.ode.atol / tighten;
        try {
            return qsp::simulate(engine, s);
        } catch (const qsp::SolverError&) {
        } catch (const qsp::ModelInputError&) {
            return std::nullopt;
        }
    }
    return std::nullopt;
}

/// The noise-free model value of every measurement (SLD in mm of the lesions measurable at the
/// first measurement, or cells) and each value's log-scale error sd; empty if the tumour is not
/// measurable at the first measurement or the patient dies in the window.
struct Trajectory {
    std::vector<double> model, sigma;
    bool ok = false;
};

Trajectory measure(const Context& c, const trial::TumourBurden& burden, const std::vector<double>& fractions) {
    Trajectory tr;
    const auto& geo = c.t.followUp.recist.geometry;
    std::vector<bool> target(fractions.size(), false);
    bool any = false;
    for (std::size_t k = 0; k < c.days.size(); ++k) {
        const double cells = trial::assessmentCells(burden, c.days[k]);
        if (c.patient.measurements[k].cells) {
            tr.model.push_back(cells);
            tr.sigma.push_back(3 * c.sigmaDiameter);  // a volume from diameters: 3× the log error
            continue;
        }
        double sld = 0, sq = 0;
        for (std::size_t l = 0; l < fractions.size(); ++l) {
            const double dmm = trial::lesionDiameter_mm(fractions[l] * cells, geo);
            if (k == 0) target[l] = dmm >= geo.minMeasurable_mm, any = any || target[l];
            if (!target[l]) continue;
            sld += dmm;
            sq += dmm * dmm;
        }
        if (k == 0 && !any) return tr;
        tr.model.push_back(sld);
        // The relative variance of a sum of independently mismeasured diameters.
        tr.sigma.push_back(sld > 0 ? c.sigmaDiameter * std::sqrt(sq) / sld : c.sigmaDiameter);
    }
    tr.ok = true;
    return tr;
}

/// log N(log y; log m − σ²/2, σ²) − log y: a lognormal reading with mean m.
double logLognormal(double y, double m, double sigma) {
    if (!(m > 0) || !(y > 0)) return -std::numeric_limits<double>::infinity();
    const double r = (std::log(y) - std::log(m) + 0.5 * sigma * sigma) / sigma;
    return -0.5 * r * r - std::log(sigma) - 0.5 * kLog2Pi - std::log(y);
}

/// A worker's scratch: its own copy of the base model, in which particles' parameters are set.
struct Worker {
    model::CompiledModel model;
};

struct FitOutcome {
    double logLikelihood = -std::numeric_limits<double>::infinity();
    Trajectory trajectory;
    bool failed = false;
};

FitOutcome fit(const Context& c, const Particle& p, model::CompiledModel& scratch, const qsp::EngineModel& shared) {
    FitOutcome out;
    const auto values = c.values(p);
    ParameterRestore restore(scratch);
    Setup s = setUp(c, values, scratch, restore);
    if (!s.failure.empty()) {
        out.failed = true;
        return out;
    }
    s.spec.durationDays = c.window_d;
    s.spec.outputIntervalDays = std::min(1.0, c.window_d);
    std::optional<qsp::EngineModel> own;
    if (s.changed) own.emplace(scratch);
    const auto res = run(own ? *own : shared, s.spec);
    if (!res) {
        out.failed = true;
        return out;
    }
    if (res->stoppedAt_d) return out;  // dead before the last measurement
    const auto burden = trial::tumourBurden(*res, "twin particle");
    out.trajectory = measure(c, burden, c.fractions(p));
    if (!out.trajectory.ok) return out;
    double ll = 0;
    for (std::size_t k = 0; k < c.days.size(); ++k)
        ll += logLognormal(c.patient.measurements[k].value, out.trajectory.model[k], out.trajectory.sigma[k]);
    if (c.patient.bloodNk_per_uL) {
        const double sg = std::sqrt(std::log1p(kBloodNkCountCv * kBloodNkCountCv));
        ll += logLognormal(*c.patient.bloodNk_per_uL, s.bloodNk, sg);
    }
    out.logLikelihood = ll;
    return out;
}

/// One regimen's outcome for one position: treatment from the last measurement.
struct Outcome {
    bool response = false;
    double pfs_d = 0;
    bool pfsEvent = false;
    double bestChangePct = 0;
    bool failed = false;
};

Outcome predict(const Context& c, const Particle& p, std::size_t arm, model::CompiledModel& scratch, const qsp::EngineModel& shared,
                double cv, std::uint64_t noiseSeed, std::uint64_t noiseKey) {
    Outcome o;
    const auto values = c.values(p);
    ParameterRestore restore(scratch);
    Setup s = setUp(c, values, scratch, restore);
    if (!s.failure.empty()) {
        o.failed = true;
        return o;
    }
    const auto& f = c.t.followUp;
    const double start = c.window_d;
    const trial::Arm& a = c.t.arms[arm];
    for (std::size_t k = 0; k < a.doses.size(); ++k) {
        const auto& d = a.doses[k];
        qsp::DosingSpec ds{d.amount, d.schedule, d.loading, d.startDay + start, d.infusion};
        auto reg = qsp::DosingRegimen::parse(ds, qsp::DrugPk::fromTherapy(scratch, a.therapies[k]), s.body);
        auto same = std::find_if(s.spec.drugs.begin(), s.spec.drugs.end(), [&](const qsp::DrugRegimen& e) { return e.therapy == a.therapies[k]; });
        if (same == s.spec.drugs.end()) {
            s.spec.drugs.push_back(qsp::DrugRegimen{a.therapies[k], std::move(reg)});
        } else {
            std::vector<qsp::Dose> all = same->regimen.doses();
            all.insert(all.end(), reg.doses().begin(), reg.doses().end());
            same->regimen = qsp::DosingRegimen(std::move(all), reg.unit());
        }
    }
    s.spec.durationDays = start + f.duration_d;
    s.spec.outputIntervalDays = std::min({7.0, f.assessmentInterval_d, s.spec.durationDays});
    std::optional<qsp::EngineModel> own;
    if (s.changed) own.emplace(scratch);
    const auto res = run(own ? *own : shared, s.spec);
    if (!res) {
        o.failed = true;
        return o;
    }
    const auto whole = trial::tumourBurden(*res, "twin prediction");
    const double end = whole.times_d.back();
    if (end <= start) {  // died before treatment began (cannot happen for a fitted particle)
        o.pfsEvent = true;
        return o;
    }
    // The burden from the start of treatment, on its own clock.
    trial::TumourBurden b;
    b.name = "twin prediction";
    b.times_d.push_back(0);
    b.cells.push_back(trial::assessmentCells(whole, start));
    for (std::size_t i = 0; i < whole.times_d.size(); ++i)
        if (whole.times_d[i] > start + 1e-9) {
            b.times_d.push_back(whole.times_d[i] - start);
            b.cells.push_back(whole.cells[i]);
        }
    const auto schedule = trial::regularSchedule(f.assessmentInterval_d, b.times_d.back());
    trial::LesionSplit split;
    split.fractions = c.fractions(p);
    trial::RecistOptions options = f.recist;
    options.error.cv = cv;
    options.error.seed = noiseSeed;
    const auto r = trial::assessRecist(b, split, schedule, options, noiseKey);
    o.response = r.bestResponse == trial::Response::CR || r.bestResponse == trial::Response::PR;
    double best = 0;
    bool anyChange = false;
    for (const auto& fu : r.followUps)
        if (r.baseline.sld_mm > 0) {
            const double ch = 100.0 * (fu.sld_mm - r.baseline.sld_mm) / r.baseline.sld_mm;
            best = anyChange ? std::min(best, ch) : ch;
            anyChange = true;
        }
    o.bestChangePct = best;
    const bool died = res->stoppedAt_d.has_value();
    if (r.evaluable() && r.progressed) {
        o.pfs_d = r.timeToProgression_d;
        o.pfsEvent = true;
    } else if (died) {
        o.pfs_d = end - start;
        o.pfsEvent = true;
    } else {
        o.pfs_d = schedule.empty() ? 0.0 : schedule.back();
    }
    return o;
}

double quantile(std::vector<double> v, double q) {
    if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
    std::sort(v.begin(), v.end());
    // Type-7 (linear interpolation between order statistics), R's default.
    const double h = (static_cast<double>(v.size()) - 1) * q;
    const auto lo = static_cast<std::size_t>(std::floor(h));
    const std::size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (h - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

using io::detail::parallelFor;

/// Ranks regimens by P(response) (higher first), then median PFS (longer), then median best
/// change (lower); ties keep the file's order.
void rankRegimens(std::vector<RegimenPrediction>& rs) {
    std::vector<std::size_t> order(rs.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        if (rs[a].pResponse != rs[b].pResponse) return rs[a].pResponse > rs[b].pResponse;
        if (rs[a].pfsMedian_d != rs[b].pfsMedian_d) return rs[a].pfsMedian_d > rs[b].pfsMedian_d;
        return rs[a].bestChangeMedianPct < rs[b].bestChangeMedianPct;
    });
    for (std::size_t k = 0; k < order.size(); ++k) rs[order[k]].rank = k + 1;
}

}  // namespace

TwinResult runTwin(const LoadedTrial& t, const Patient& patient, const TwinOptions& o) {
    checkOptions(o);
    const auto start = std::chrono::steady_clock::now();
    if (t.followUp.recist.error.cv <= 0)
        throw InputError(fmt::format("{}: [follow_up] measurement_cv is 0: the twin needs the measurement error of a diameter (e.g. 0.09, "
                                     "Yoon et al. 2016, PMID 26687017) to weigh the patient's measurements",
                                     t.path));
    const Context c(t, patient);
    const qsp::EngineModel shared(t.base->model);
    const int threads = std::max(1, o.threads);
    std::vector<Worker> workers(static_cast<std::size_t>(threads), Worker{t.base->model});
    std::atomic<std::size_t> failed{0};

    SamplerProblem problem;
    problem.dimensions = c.dims;
    for (std::size_t a : c.freeAttributes) problem.categories.push_back(t.attributes[a].cumulative);
    problem.admissible = [&c](const Particle& p) { return c.admissible(p); };
    problem.logLikelihood = [&](const Particle& p, int w) {
        const auto r = fit(c, p, workers[static_cast<std::size_t>(w)].model, shared);
        if (r.failed) ++failed;
        return r.logLikelihood;
    };
    const std::size_t n = static_cast<std::size_t>(o.particles);
    const std::size_t predictions = n * t.arms.size();
    TwinOptions so = o;
    std::size_t bound = 0;
    if (o.progress)
        so.progress = [&](std::size_t done, std::size_t b) {
            bound = b;
            o.progress(done, b + predictions);
        };
    SamplerResult sr = sampleTempered(problem, so);

    TwinResult out;
    out.particles = std::move(sr.particles);
    out.stages = std::move(sr.stages);
    out.logEvidence = sr.logEvidence;
    out.simulations = sr.evaluations;
    for (const auto& p : out.particles) out.values.push_back(c.values(p));

    // ---- fit: the noise-free model value of each measurement over the particles -----------------
    std::vector<Trajectory> traj(n);
    parallelFor(n, threads, [&](std::size_t i, int w) {
        traj[i] = fit(c, out.particles[i], workers[static_cast<std::size_t>(w)].model, shared).trajectory;
    });
    for (std::size_t k = 0; k < patient.measurements.size(); ++k) {
        std::vector<double> v;
        for (const auto& tr : traj)
            if (tr.ok) v.push_back(tr.model[k]);
        FitRow row;
        row.day = patient.measurements[k].day;
        row.observed = patient.measurements[k].value;
        row.cells = patient.measurements[k].cells;
        row.median = quantile(v, 0.5);
        row.low = quantile(v, 0.05);
        row.high = quantile(v, 0.95);
        out.fit.push_back(row);
    }

    // ---- prediction: every particle in every regimen ------------------------------------------------
    std::vector<Outcome> outcomes(predictions);
    std::atomic<std::size_t> done{0};
    std::mutex progressMutex;
    parallelFor(predictions, threads, [&](std::size_t j, int w) {
        const std::size_t i = j / t.arms.size(), a = j % t.arms.size();
        outcomes[j] = predict(c, out.particles[i], a, workers[static_cast<std::size_t>(w)].model, shared, t.followUp.recist.error.cv,
                              o.seed ^ kPredictNoise, i);
        const std::size_t d = ++done;
        if (o.progress) {
            const std::lock_guard lock(progressMutex);
            o.progress(bound + d, bound + predictions);
        }
    });
    out.simulations += predictions + n;
    for (const auto& oc : outcomes) failed += oc.failed ? 1 : 0;
    out.failedSimulations = failed;
    constexpr std::size_t kResamples = 1000;
    for (std::size_t a = 0; a < t.arms.size(); ++a) {
        RegimenPrediction r;
        r.name = t.arms[a].name;
        std::size_t responders = 0, censored = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const auto& oc = outcomes[i * t.arms.size() + a];
            r.response.push_back(oc.response);
            r.pfs_d.push_back(oc.pfs_d);
            r.bestChangePct.push_back(oc.bestChangePct);
            responders += oc.response ? 1 : 0;
            censored += oc.pfsEvent ? 0 : 1;
        }
        r.pResponse = static_cast<double>(responders) / static_cast<double>(n);
        r.pfsCensoredShare = static_cast<double>(censored) / static_cast<double>(n);
        // The share's interval: a bootstrap over the (equally weighted) particles.
        std::vector<double> shares(kResamples);
        for (std::size_t b = 0; b < kResamples; ++b) {
            std::size_t hits = 0;
            for (std::size_t i = 0; i < n; i += 4) {
                const auto u = uniforms(o.seed, kBootstrap, a, b, i);
                for (std::size_t q = 0; q < 4 && i + q < n; ++q) {
                    const auto pick = std::min(n - 1, static_cast<std::size_t>(u[q] * static_cast<double>(n)));
                    hits += r.response[pick] ? 1 : 0;
                }
            }
            shares[b] = static_cast<double>(hits) / static_cast<double>(n);
        }
        r.pResponseLow = quantile(shares, 0.05);
        r.pResponseHigh = quantile(shares, 0.95);
        r.pfsMedian_d = quantile(r.pfs_d, 0.5);
        r.pfsLow_d = quantile(r.pfs_d, 0.05);
        r.pfsHigh_d = quantile(r.pfs_d, 0.95);
        r.bestChangeMedianPct = quantile(r.bestChangePct, 0.5);
        r.bestChangeLowPct = quantile(r.bestChangePct, 0.05);
        r.bestChangeHighPct = quantile(r.bestChangePct, 0.95);
        out.regimens.push_back(std::move(r));
    }
    rankRegimens(out.regimens);
    out.wallSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return out;
}

io::ResourceEstimate estimateResources(const LoadedTrial& t, const Patient& patient, const TwinOptions& o) {
    io::ResourceEstimate e;
    const double n = static_cast<double>(o.particles);
    const double window = patient.measurements.back().day - patient.measurements.front().day;
    const double fits = n * (2.0 + static_cast<double>(o.generations + 2) * static_cast<double>(o.moves));
    const double runs = n * static_cast<double>(t.arms.size());
    io::WorkItem w;
    w.what = "simulated patient time";
    w.amount = fits * window + runs * (window + t.followUp.duration_d);
    w.limit = 1e8;  // as a virtual trial: ~an hour on two cores
    w.unit = "d";
    w.detail = fmt::format("at most {} fits x {:g} d + {} predictions x {:g} d", io::formatCount(fits), window, io::formatCount(runs),
                           window + t.followUp.duration_d);
    w.where = patient.measurements.back().where;
    w.entity = "[[measurement]]";
    w.key = "day";
    e.work.push_back(w);
    e.memoryBytes = n * (8.0 * (static_cast<double>(t.priors.size()) * 2 + 20) + 64.0 * static_cast<double>(t.arms.size())) +
                    static_cast<double>(o.threads) * 32.0 * 1024 * 1024 + 64.0 * 1024 * 1024;
    e.memoryDetail = fmt::format("{} particles and a model copy per thread", io::formatCount(n));
    e.memoryWhere = w.where;
    e.memoryEntity = "--particles";
    e.memoryKey = "";
    return e;
}

std::size_t bestRegimen(const TwinResult& r) {
    for (std::size_t a = 0; a < r.regimens.size(); ++a)
        if (r.regimens[a].rank == 1) return a;
    throw InternalError("twin: no regimen ranked first");
}

std::vector<std::size_t> trueBestRegimens(const SyntheticPatient& p) {
    const std::size_t n = p.response.size();
    auto better = [&](std::size_t a, std::size_t b) {  // a strictly better than b
        if (p.response[a] != p.response[b]) return p.response[a] > p.response[b];
        if (std::abs(p.pfs_d[a] - p.pfs_d[b]) > 1.0) return p.pfs_d[a] > p.pfs_d[b];
        return p.bestChangePct[a] < p.bestChangePct[b] - 1e-6;
    };
    std::vector<std::size_t> best;
    for (std::size_t a = 0; a < n; ++a) {
        bool dominated = false;
        for (std::size_t b = 0; b < n && !dominated; ++b) dominated = b != a && better(b, a);
        if (!dominated) best.push_back(a);
    }
    return best;
}

std::pair<double, double> credibleInterval(const TwinResult& r, std::size_t k, double level) {
    std::vector<double> v;
    for (const auto& row : r.values)
        if (!std::isnan(row[k])) v.push_back(row[k]);
    return {quantile(v, (1 - level) / 2), quantile(v, (1 + level) / 2)};
}

SyntheticPatient synthesisePatient(const LoadedTrial& t, model::Index subtype, const std::vector<double>& days, std::uint64_t seed,
                                   std::uint64_t index) {
    const double cv = t.followUp.recist.error.cv;
    // A template patient: the context needs the measurement days (and a lesion count, set per draw).
    Patient tmpl;
    tmpl.path = fmt::format("synthetic patient {}", index);
    tmpl.name = tmpl.path;
    tmpl.subtype = subtype;
    for (double d : days) tmpl.measurements.push_back(Measurement{d, 1.0, false, {}});
    const qsp::EngineModel shared(t.base->model);
    model::CompiledModel scratch = t.base->model;
    const boost::math::normal nrm;
    for (std::int64_t attempt = 0; attempt < trial::kMaxScreeningAttempts; ++attempt) {
        SyntheticPatient sp;
        sp.patient = tmpl;
        Context probe(t, sp.patient);
        Particle p;
        p.u.resize(probe.dims);
        for (std::size_t k = 0; k < probe.dims; k += 4) {
            const auto u = uniforms(seed ^ kSynthetic, index, static_cast<std::uint64_t>(attempt), k, 0);
            for (std::size_t q = 0; q < 4 && k + q < probe.dims; ++q) p.u[k + q] = boost::math::quantile(nrm, u[q]);
        }
        const auto ua = uniforms(seed ^ kSynthetic, index, static_cast<std::uint64_t>(attempt), 1u << 20, 0);
        for (std::size_t a = 0; a < t.attributes.size(); ++a) {
            const double x = a < 4 ? ua[a] : uniforms(seed ^ kSynthetic, index, static_cast<std::uint64_t>(attempt), (1u << 20) + a, 0)[0];
            const auto& cum = t.attributes[a].cumulative;
            p.attributes.push_back(std::min<std::size_t>(static_cast<std::size_t>(std::lower_bound(cum.begin(), cum.end(), x) - cum.begin()),
                                                         cum.size() - 1));
        }
        // Every attribute is free in `probe` (the template observes none), so p.attributes is all of them.
        const auto values = probe.values(p);
        sp.patient.lesions = std::max<std::size_t>(1, probe.lesionCount(values));
        const Context c(t, sp.patient);
        // What the twin is told: the line (from the `line` attribute), every biomarker, the lesions.
        for (std::size_t a = 0; a < t.attributes.size(); ++a)
            if (t.attributes[a].name == "line") {
                const std::string& lv = t.attributes[a].levels[p.attributes[a]];
                try {
                    sp.patient.priorLines = std::stoll(lv) - 1;
                } catch (const std::exception&) {
                    throw InputError("synthetic patients need `line` levels that are numbers (\"1\", \"2\", \"3+\"), got '" + lv + "'");
                }
                sp.patient.attributes.emplace_back(a, lv);
            }
        for (std::size_t b = 0; b < t.biomarkers.size(); ++b) {
            const auto& bm = t.biomarkers[b];
            const double x = values[bm.priorIndex];
            if (std::isnan(x)) continue;
            std::size_t l = 0;
            while (l < bm.cutoffs.size() && x >= bm.cutoffs[l]) ++l;
            sp.patient.biomarkers.emplace_back(b, bm.levels[l]);
        }
        // The particle in the twin's parametrisation: the free attributes only.
        Particle truth = p;
        truth.attributes.clear();
        const Context cc(t, sp.patient);
        for (std::size_t a : cc.freeAttributes) truth.attributes.push_back(p.attributes[a]);
        const auto f = fit(cc, truth, scratch, shared);
        if (f.failed || !f.trajectory.ok) continue;
        // Measured as the trial engine measures: each target lesion's diameter with its own
        // lognormal factor (trial::measurementFactor), keyed by (seed, patient, assessment, lesion).
        {
            const auto fr = cc.fractions(truth);
            ParameterRestore restore(scratch);
            Setup s = setUp(cc, values, scratch, restore);
            s.spec.durationDays = cc.window_d;
            s.spec.outputIntervalDays = std::min(1.0, cc.window_d);
            std::optional<qsp::EngineModel> own;
            if (s.changed) own.emplace(scratch);
            const auto res = run(own ? *own : shared, s.spec);
            if (!res || res->stoppedAt_d) continue;
            const auto burden = trial::tumourBurden(*res, "synthetic");
            trial::MeasurementError err{cv, seed ^ kSyntheticNoise};
            const auto& geo = t.followUp.recist.geometry;
            std::vector<bool> target(fr.size(), false);
            bool measurable = true;
            for (std::size_t k = 0; k < days.size(); ++k) {
                const double cells = trial::assessmentCells(burden, cc.days[k]);
                double sld = 0;
                for (std::size_t l = 0; l < fr.size(); ++l) {
                    const double dmm = trial::lesionDiameter_mm(fr[l] * cells, geo);
                    if (k == 0) target[l] = dmm >= geo.minMeasurable_mm;
                    if (target[l]) sld += dmm * trial::measurementFactor(err, index, k, l);
                }
                if (!(sld > 0)) measurable = false;
                sp.patient.measurements[k].value = sld;
            }
            if (!measurable) continue;
            const double nk = s.bloodNk * std::exp(std::sqrt(std::log1p(kBloodNkCountCv * kBloodNkCountCv)) *
                                                       boost::math::quantile(nrm, uniforms(seed ^ kSyntheticNoise, index, 1u << 30, 0, 0)[0]) -
                                                   0.5 * std::log1p(kBloodNkCountCv * kBloodNkCountCv));
            sp.patient.bloodNk_per_uL = nk;
        }
        sp.truth = truth;
        sp.values = values;
        const Context fin(t, sp.patient);
        for (std::size_t a = 0; a < t.arms.size(); ++a) {
            const auto o = predict(fin, truth, a, scratch, shared, 0.0, 0, 0);
            sp.response.push_back(o.response);
            sp.pfs_d.push_back(o.pfs_d);
            sp.bestChangePct.push_back(o.bestChangePct);
        }
        return sp;
    }
    throw InputError(fmt::format("no synthetic patient {} in {} draws is measurable and alive at the last measurement", index,
                                 trial::kMaxScreeningAttempts));
}

}  // namespace nkscape::twin
