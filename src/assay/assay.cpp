// The in-silico killing assay: per well, an event-driven simulation of NK cells searching, contacting
// and killing targets, each contact decided by the synapse. docs/assay.md explains every choice.

#include "nkscape/assay/assay.hpp"

#include <Random123/philox.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <exception>
#include <limits>
#include <mutex>
#include <numbers>
#include <numeric>
#include <queue>
#include <utility>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "nkscape/error.hpp"
#include "nkscape/io/csv.hpp"
#include "nkscape/io/file.hpp"
#include "nkscape/synapse/regulation.hpp"
#include "nkscape/synapse/synapse.hpp"
#include "nkscape/version.hpp"

namespace nkscape::assay {

using model::CompiledModel;
using model::Index;
using model::Kind;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kMinutesPerHour = 60.0;

// ---- random numbers ------------------------------------------------------------------------------

/// What a random stream belongs to (the top byte of the cell word of the counter).
enum class Domain : std::uint64_t { Nk = 1, Target = 2, ControlTarget = 3 };

/// One cell's private stream of random numbers: Philox4x64-10 in counter mode. The key is the
/// scenario seed; the counter is (well, domain|cell, block, 0), so a cell's numbers depend on
/// nothing but (seed, ratio, replicate, cell, how many it has drawn) — not on thread
/// scheduling, nor on how many other cells there are.
class Stream {
public:
    Stream(std::uint64_t seed, std::uint64_t well, Domain domain, std::uint64_t cell) {
        key_ = {{seed, 0x6e6b73636170ULL}};  // second key word: "nkscap", fixed
        ctr_ = {{well, (static_cast<std::uint64_t>(domain) << 56) | cell, 0, 0}};
    }

    /// Uniform on [0, 1), 53 random bits.
    double uniform() {
        if (next_ == 4) refill();
        return static_cast<double>(buf_[next_++] >> 11) * 0x1.0p-53;
    }
    /// Exponential waiting time with `rate` (> 0); +inf for rate 0.
    double exponential(double rate) {
        if (!(rate > 0)) return kInf;
        return -std::log1p(-uniform()) / rate;  // 1 − u in (0, 1]: finite
    }
    /// Standard normal (Box–Muller; the second value of each pair is kept for the next call).
    double normal() {
        if (haveSpare_) {
            haveSpare_ = false;
            return spare_;
        }
        const double u1 = 1.0 - uniform();  // (0, 1]
        const double u2 = uniform();
        const double r = std::sqrt(-2.0 * std::log(u1));
        const double a = 2.0 * std::numbers::pi * u2;
        spare_ = r * std::sin(a);
        haveSpare_ = true;
        return r * std::cos(a);
    }
    /// Lognormal factor with mean 1 and coefficient of variation `cv` (1 when cv = 0).
    double lognormalFactor(double cv) {
        if (!(cv > 0)) return 1.0;
        const double s2 = std::log1p(cv * cv);
        return std::exp(-0.5 * s2 + std::sqrt(s2) * normal());
    }

private:
    void refill() {
        const auto out = r123::Philox4x64()(ctr_, key_);
        for (std::size_t i = 0; i < 4; ++i) buf_[i] = out[i];
        ++ctr_[2];
        next_ = 0;
    }
    r123::Philox4x64::key_type key_{};
    r123::Philox4x64::ctr_type ctr_{};
    std::uint64_t buf_[4] = {0, 0, 0, 0};
    std::size_t next_ = 4;
    double spare_ = 0;
    bool haveSpare_ = false;
};

/// The well word of the counter: ratio (16 bits) and replicate (24 bits), not the condition.
/// Conditions are therefore compared with common random numbers: replicate r at ratio e of every
/// condition draws the same cells and the same encounters, like wells plated from one donor's
/// cells. A difference between two conditions is then their effect, not sampling noise, and a
/// condition that changes nothing for a cell changes nothing in its well (docs/assay.md).
std::uint64_t wellWord(std::size_t ratio, std::size_t replicate) {
    return (static_cast<std::uint64_t>(ratio) << 24) | static_cast<std::uint64_t>(replicate);
}

// ---- per-run and per-condition inputs --------------------------------------------------------------

// The default work limit of an assay (docs/limits.md), in encounters as estimateResources counts
// them (an upper bound): the shipped example E:T curve counts 1.85e6 and runs in ~0.6 s on one
// thread of the 2-core test machine (~3e6 per second), so the limit is ~3 minutes on one thread
// and ~250 times the largest shipped scenario (v06, 2.1e6).
constexpr double kMaxAssayEncounters = 5e8;

struct Constants {
    double encounterRate = 0;      // 1/h
    double receptorCv = 0;
    double ligandCv = 0;
    double fractionNonkiller = 0;
    double exhaustionPerKill = 0;
    double granuleRefillTime = 0;  // h
    double spontaneousLysis = 0;
    double cd16F158 = 0;
    double scanTime = 0;           // min, synapse.scan_time: non-killing contact when the synapse's p = 1
};

const std::vector<std::pair<const char*, double Constants::*>>& constantFields() {
    static const std::vector<std::pair<const char*, double Constants::*>> f = {
        {"assay.encounter_rate", &Constants::encounterRate},         {"assay.receptor_cv", &Constants::receptorCv},
        {"assay.ligand_cv", &Constants::ligandCv},                   {"assay.fraction_nonkiller", &Constants::fractionNonkiller},
        {"assay.exhaustion_per_kill", &Constants::exhaustionPerKill}, {"assay.granule_refill_time", &Constants::granuleRefillTime},
        {"assay.spontaneous_lysis", &Constants::spontaneousLysis},   {"assay.cd16_f158_affinity", &Constants::cd16F158},
    };
    return f;
}

Constants readConstants(const CompiledModel& m) {
    Constants c;
    std::string missing;
    for (const auto& [name, field] : constantFields()) {
        if (m.indexOf(Kind::Constant, name)) c.*field = m.constant(name);
        else missing += (missing.empty() ? "" : ", ") + std::string(name);
    }
    if (!missing.empty()) {
        throw InputError("model '" + m.info().name + "' declares no [[constant]] " + missing +
                         " (the killing assay needs them; see docs/model-format.md, constants, and models/assay.toml)");
    }
    c.scanTime = m.constant("synapse.scan_time");
    if (c.spontaneousLysis >= 1.0) {
        const auto i = *m.indexOf(Kind::Constant, "assay.spontaneous_lysis");
        throw InputError("model '" + m.info().name + "': constant 'assay.spontaneous_lysis' is " + std::to_string(c.spontaneousLysis) +
                         "; it must be < 1, or no target survives the control well (" + m.entities(Kind::Constant)[i].where.str() + ")");
    }
    return c;
}

/// Everything a well of one condition needs, computed once.
struct Prepared {
    synapse::NkState nk;          // the set-point, overrides applied
    synapse::TargetState target;  // the set-point, overrides applied
    synapse::SynapseContext ctx;
    ConditionSetup setup;
};

/// What the well's targets secrete into the medium while they condition it alone for `hours`:
/// c(t) = S·N_T/(V·k)·(1 − e^(−k·t)), or S·N_T·t/V for a mediator without decay (docs/assay.md,
/// "Conditioning"). `secretion` is the targets' set-point secretion, per cell.
std::vector<ConditionedMediator> conditionMedium(const CompiledModel& m, const std::vector<double>& secretion, double targets, double wellVolumeMl,
                                                 double hours) {
    std::vector<ConditionedMediator> out;
    if (!(hours > 0)) return out;
    for (std::size_t i = 0; i < secretion.size(); ++i) {
        const double s = secretion[i];
        if (!(s > 0)) continue;
        const auto& med = m.mediators()[i];
        ConditionedMediator cm;
        cm.mediator = static_cast<Index>(i);
        cm.secretion = s;
        if (med.decayRate != model::kNoParam) {
            cm.decays = true;
            cm.decayPerHour = m.value(med.decayRate);
        } else if (med.halfLife != model::kNoParam) {
            cm.decays = true;
            cm.decayPerHour = std::numbers::ln2 / m.value(med.halfLife);
        }
        const double rate = s * targets / wellVolumeMl;  // <unit>/h into the medium
        const double kt = cm.decayPerHour * hours;
        // −expm1(−kt)/k keeps full precision when k·t is small; k = 0 is the linear limit.
        cm.concentration = cm.decayPerHour > 0 ? rate * -std::expm1(-kt) / cm.decayPerHour : rate * hours;
        out.push_back(cm);
    }
    return out;
}

Prepared prepare(const CompiledModel& m, const synapse::Regulator& reg, const synapse::Synapse& syn, const AssayScenario& sc, const AssayCondition& c,
                 const Constants& k) {
    Prepared p;
    // The medium: oxygenated (gases at their basal level), no cytokines unless the condition adds them.
    synapse::Milieu milieu = synapse::Milieu::empty(m);
    const synapse::Milieu basal = synapse::basalMilieu(m);
    for (std::size_t i = 0; i < m.mediators().size(); ++i)
        if (m.mediators()[i].kind == model::MediatorKind::Gas) milieu.mediators[i] = basal.mediators[i];
    for (const auto& x : c.mediators) milieu.mediators.at(x.index) = x.value;
    for (const auto& x : c.therapies) milieu.therapies.at(x.index) = x.value;

    const auto none = synapse::Contacts::none(m);
    synapse::FactorBaselines targetBaselines;
    for (const auto& x : c.targetFactors) targetBaselines.emplace_back(x.index, x.value);
    // Conditioning: the targets alone, at their set-point in the unconditioned medium, secrete into
    // the well; what they secrete is added to the medium the NK cells and the targets then see.
    p.setup.conditioningHours = sc.conditioningHours;
    if (sc.conditioningHours > 0) {
        const synapse::CellLevels t0 = reg.setPoint(c.target, milieu, none, targetBaselines);
        p.setup.conditioned = conditionMedium(m, t0.secretion, static_cast<double>(sc.targets), sc.wellVolumeMl, sc.conditioningHours);
        for (const auto& x : p.setup.conditioned) milieu.mediators.at(x.mediator) += x.concentration;
    }
    for (std::size_t i = 0; i < milieu.mediators.size(); ++i)
        if (milieu.mediators[i] != 0) p.setup.milieu.push_back(IndexedValue{static_cast<Index>(i), milieu.mediators[i]});

    p.nk = reg.nkState(c.effector, milieu, none);
    for (const auto& x : c.effectorExpression) p.nk.receptors.at(x.index) = x.value;
    for (const auto& x : c.effectorFactors) p.nk.factors.at(x.index) = x.value;
    p.nk.cd16Affinity = c.fcgr3a == Fcgr3a::F158 ? k.cd16F158 : 1.0;
    p.target = reg.targetState(c.target, milieu, none, targetBaselines);
    for (const auto& x : c.targetExpression) p.target.ligands.at(x.index) = x.value;
    p.ctx = syn.context(milieu);

    const auto& ct = m.cellTypes()[c.effector];
    const auto fnk = ct.param(model::CellParam::FractionNonkiller);
    p.setup.fractionFromCellType = fnk != model::kNoParam;
    p.setup.fractionNonkiller = m.valueOr(fnk, k.fractionNonkiller);
    const auto refill = ct.param(model::CellParam::GranuleRefillTime);
    p.setup.refillFromCellType = refill != model::kNoParam;
    p.setup.granuleRefillHours = m.valueOr(refill, k.granuleRefillTime);
    p.setup.granuleCapacity = std::max(0.0, p.nk.granules);
    p.setup.cd16Affinity = p.nk.cd16Affinity;
    return p;
}

// ---- one well --------------------------------------------------------------------------------------

struct WellSpec {
    std::uint64_t seed = 0;
    std::uint64_t well = 0;  // counter word
    std::uint32_t targets = 0;
    std::uint32_t effectors = 0;
    double hours = 0;
    double wellVolumeMl = 0;
    Readout readout = Readout::ChromiumRelease;
};

WellResult simulateWell(const synapse::Synapse& syn, const Prepared& p, const Constants& k, const WellSpec& w) {
    const std::size_t nT = w.targets, nE = w.effectors;
    const std::size_t nR = p.nk.receptors.size(), nL = p.target.ligands.size();
    const double T = w.hours;
    WellResult r;
    r.effectors = w.effectors;

    // Spontaneous death: exponential with the rate that kills the fraction s of targets by T.
    const double spontRate = k.spontaneousLysis > 0 ? -std::log1p(-k.spontaneousLysis) / T : 0.0;

    // Targets: ligand levels lognormal around the set-point; a spontaneous death time each.
    std::vector<double> ligands(nT * nL);
    std::vector<double> spontDeath(nT), killDeath(nT, kInf);
    std::vector<std::uint32_t> killer(nT, 0);
    std::vector<std::uint8_t> committed(nT, 0);
    for (std::size_t j = 0; j < nT; ++j) {
        Stream s(w.seed, w.well, Domain::Target, j);
        for (std::size_t l = 0; l < nL; ++l) ligands[j * nL + l] = p.target.ligands[l] * s.lognormalFactor(k.ligandCv);
        spontDeath[j] = s.exponential(spontRate);
    }
    // The target-only control well.
    for (std::size_t j = 0; j < nT; ++j) {
        Stream s(w.seed, w.well, Domain::ControlTarget, j);
        if (s.exponential(spontRate) <= T) ++r.deadControl;
    }

    // NK cells: armed or not, receptor levels lognormal around the set-point, granules full.
    std::vector<Stream> streams;
    streams.reserve(nE);
    std::vector<double> receptors(nE * nR);
    std::vector<std::uint8_t> armed(nE);
    std::vector<double> granules(nE, p.setup.granuleCapacity), refillFrom(nE, 0.0), exhaustion(nE, p.nk.exhaustion);
    for (std::size_t i = 0; i < nE; ++i) {
        streams.emplace_back(w.seed, w.well, Domain::Nk, i);
        Stream& s = streams.back();
        armed[i] = s.uniform() >= p.setup.fractionNonkiller;
        if (!armed[i]) ++r.nonkillers;
        for (std::size_t q = 0; q < nR; ++q) receptors[i * nR + q] = p.nk.receptors[q] * s.lognormalFactor(k.receptorCv);
    }

    // Events: the time each NK cell next meets a target. Ties resolve by cell index.
    using Event = std::pair<double, std::uint32_t>;
    std::priority_queue<Event, std::vector<Event>, std::greater<>> queue;
    for (std::size_t i = 0; i < nE; ++i) {
        const double t = streams[i].exponential(k.encounterRate);
        if (t < T) queue.emplace(t, static_cast<std::uint32_t>(i));
    }
    synapse::NkState nk = p.nk;
    synapse::TargetState target = p.target;
    const double cap = p.setup.granuleCapacity, refillH = p.setup.granuleRefillHours;
    double ifngAmount = 0;  // <IFN-g unit>.mL
    // Why: once every target is committed or spontaneously dead, no meeting can ever happen again
    // and the rest of the loop would only redraw encounter times until T (for ever, for a very
    // long T). Leaving then changes no output: later draws feed nothing. The last target still
    // available is the uncommitted one that dies last: targets by spontaneous death, latest
    // first, and a cursor past the committed ones (amortised O(1) per meeting).
    std::vector<std::uint32_t> byLastDeath(nT);
    std::iota(byLastDeath.begin(), byLastDeath.end(), 0u);
    std::sort(byLastDeath.begin(), byLastDeath.end(), [&](std::uint32_t a, std::uint32_t b) {
        return spontDeath[a] > spontDeath[b] || (spontDeath[a] == spontDeath[b] && a < b);
    });
    std::size_t lastAvailable = 0;
    while (!queue.empty()) {
        const auto [t, i] = queue.top();
        while (lastAvailable < nT && committed[byLastDeath[lastAvailable]]) ++lastAvailable;
        if (lastAvailable == nT || spontDeath[byLastDeath[lastAvailable]] <= t) break;
        queue.pop();
        Stream& s = streams[i];
        // Thinning: a meeting with a target that is dead or already hit is no meeting, so the
        // encounter rate is scaled by the fraction of targets still available, exactly.
        ++r.meetings;
        const auto j = std::min<std::size_t>(static_cast<std::size_t>(s.uniform() * static_cast<double>(nT)), nT - 1);
        if (committed[j] || spontDeath[j] <= t) {
            const double next = t + s.exponential(k.encounterRate);
            if (next < T) queue.emplace(next, i);
            continue;
        }
        ++r.contacts;
        // Granules come back whole, one kill's worth per refill time, while the store is below
        // capacity; the refill clock starts when a full store is first drawn on.
        if (granules[i] < cap) {
            const double n = std::floor((t - refillFrom[i]) / refillH);
            if (n >= 1) {
                granules[i] = std::min(cap, granules[i] + n);
                refillFrom[i] += n * refillH;
            }
        }
        std::copy_n(receptors.begin() + static_cast<std::ptrdiff_t>(i * nR), nR, nk.receptors.begin());
        nk.granules = granules[i];
        nk.exhaustion = exhaustion[i];
        std::copy_n(ligands.begin() + static_cast<std::ptrdiff_t>(j * nL), nL, target.ligands.begin());
        const synapse::SynapseOutcome out = syn.decide(p.ctx, nk, target);

        const double pKill = armed[i] ? out.killProbability : 0.0;
        // The synapse's contactTime is the expectation p·killTime + (1 − p)·t_noKill; a contact
        // that does not kill lasts t_noKill.
        const double noKillMin = out.killProbability < 1.0
                                     ? std::max(0.0, (out.contactTime - out.killProbability * out.killTime) / (1.0 - out.killProbability))
                                     : k.scanTime;
        double minutes = noKillMin;
        if (s.uniform() < pKill) {
            minutes = out.killTime;
            committed[j] = 1;
            killer[j] = i;
            killDeath[j] = w.readout == Readout::Flow ? t : t + minutes / kMinutesPerHour;
            if (granules[i] >= cap) refillFrom[i] = t;
            granules[i] = std::max(0.0, granules[i] - 1.0);
            exhaustion[i] = std::min(1.0, exhaustion[i] + k.exhaustionPerKill);
        }
        const double end = t + minutes / kMinutesPerHour;
        ifngAmount += out.ifng * (std::min(end, T) - t);
        const double next = end + s.exponential(k.encounterRate);
        if (next < T) queue.emplace(next, i);
    }

    // The readout.
    std::vector<std::uint32_t> kills(nE, 0);
    for (std::size_t j = 0; j < nT; ++j) {
        const double death = std::min(spontDeath[j], killDeath[j]);
        if (death <= T) ++r.deadWell;
        if (killDeath[j] <= T && killDeath[j] <= spontDeath[j]) {
            ++kills[killer[j]];
            ++r.kills;
        }
    }
    r.lysisPct = r.deadControl < w.targets
                     ? 100.0 * (static_cast<double>(r.deadWell) - static_cast<double>(r.deadControl)) / static_cast<double>(w.targets - r.deadControl)
                     : 0.0;
    r.ifng = ifngAmount / w.wellVolumeMl;
    for (auto n : kills) {
        if (n == 0) ++r.nkWithoutKill;
        if (n >= 2) {
            ++r.serialKillers;
            r.serialKills += n;
        }
        r.maxKillsPerNk = std::max(r.maxKillsPerNk, n);
    }
    r.topDecileKillShare = std::nan("");
    if (r.kills > 0) {
        const std::size_t top = static_cast<std::size_t>(std::ceil(0.1 * static_cast<double>(nE)));
        std::partial_sort(kills.begin(), kills.begin() + static_cast<std::ptrdiff_t>(top), kills.end(), std::greater<>());
        std::uint64_t sum = 0;
        for (std::size_t q = 0; q < top; ++q) sum += kills[q];
        r.topDecileKillShare = static_cast<double>(sum) / static_cast<double>(r.kills);
    }
    return r;
}

// ---- statistics ------------------------------------------------------------------------------------

/// Continued fraction of the incomplete beta function (modified Lentz).
double betaContinuedFraction(double a, double b, double x) {
    constexpr double tiny = 1e-300, eps = 1e-15;
    const double qab = a + b, qap = a + 1.0, qam = a - 1.0;
    double c = 1.0, d = 1.0 - qab * x / qap;
    if (std::fabs(d) < tiny) d = tiny;
    d = 1.0 / d;
    double h = d;
    for (int m = 1; m <= 1000; ++m) {
        const double dm = m, m2 = 2.0 * dm;
        double aa = dm * (b - dm) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if (std::fabs(d) < tiny) d = tiny;
        c = 1.0 + aa / c;
        if (std::fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        h *= d * c;
        aa = -(a + dm) * (qab + dm) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if (std::fabs(d) < tiny) d = tiny;
        c = 1.0 + aa / c;
        if (std::fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        const double del = d * c;
        h *= del;
        if (std::fabs(del - 1.0) < eps) break;
    }
    return h;
}

/// Regularised incomplete beta I_x(a, b).
double incompleteBeta(double a, double b, double x) {
    if (x <= 0) return 0.0;
    if (x >= 1) return 1.0;
    const double lbt = std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
    const double bt = std::exp(lbt);
    if (x < (a + 1.0) / (a + b + 2.0)) return bt * betaContinuedFraction(a, b, x) / a;
    return 1.0 - bt * betaContinuedFraction(b, a, 1.0 - x) / b;
}

double studentTCdf(double t, double df) {
    const double tail = 0.5 * incompleteBeta(0.5 * df, 0.5, df / (df + t * t));
    return t > 0 ? 1.0 - tail : tail;
}

std::string unitColumn(const std::string& unit) {
    std::string s;
    for (char ch : unit) {
        if (std::isalnum(static_cast<unsigned char>(ch))) s += ch;
        else if (ch == '/') s += "_per_";
        else if (s.empty() || s.back() != '_') s += '_';
    }
    return s;
}

}  // namespace

double studentTQuantile(double p, double df) {
    if (!(p > 0 && p < 1) || !(df >= 1)) {
        throw InputError("studentTQuantile: p must be in (0, 1) and df >= 1 (got p = " + std::to_string(p) + ", df = " + std::to_string(df) + ")");
    }
    if (p == 0.5) return 0.0;
    const double target = p > 0.5 ? p : 1.0 - p;
    double lo = 0.0, hi = 1.0;
    while (studentTCdf(hi, df) < target) hi *= 2.0;
    for (int it = 0; it < 200 && hi - lo > 1e-14 * hi; ++it) {
        const double mid = 0.5 * (lo + hi);
        (studentTCdf(mid, df) < target ? lo : hi) = mid;
    }
    const double t = 0.5 * (lo + hi);
    return p > 0.5 ? t : -t;
}

Interval confidenceInterval95(const std::vector<double>& values) {
    const double nan = std::nan("");
    if (values.empty()) return Interval{nan, nan, nan};
    const double n = static_cast<double>(values.size());
    double mean = 0;
    for (double v : values) mean += v;
    mean /= n;
    if (values.size() == 1) return Interval{mean, mean, mean};
    double ss = 0;
    for (double v : values) ss += (v - mean) * (v - mean);
    const double half = studentTQuantile(0.975, n - 1.0) * std::sqrt(ss / (n - 1.0)) / std::sqrt(n);
    return Interval{mean, mean - half, mean + half};
}

AssayResult runAssay(const CompiledModel& m, const AssayScenario& sc, const AssayOptions& options) {
    const auto start = std::chrono::steady_clock::now();
    // Checks for scenarios built in code (files are checked by the scenario loader).
    const std::string what = "assay scenario '" + sc.name + "' (" + sc.path + ")";
    if (options.threads != 0) (void)io::checkThreads(options.threads);
    if (!(sc.durationHours > 0) || !std::isfinite(sc.durationHours)) throw InputError(what + ": duration must be > 0 h");
    if (!(sc.wellVolumeMl > 0) || !std::isfinite(sc.wellVolumeMl)) throw InputError(what + ": well_volume must be > 0 mL");
    if (sc.targets < 1) throw InputError(what + ": targets must be >= 1");
    if (sc.replicates < 1) throw InputError(what + ": replicates must be >= 1");
    if (sc.etRatios.empty()) throw InputError(what + ": no effector_target_ratios");
    if (sc.conditions.empty()) throw InputError(what + ": no conditions");
    if (!(sc.conditioningHours >= 0) || !std::isfinite(sc.conditioningHours)) throw InputError(what + ": conditioning must be >= 0 h");
    if (sc.conditions.size() >= (1u << 24) || sc.etRatios.size() >= (1u << 16) || sc.replicates >= (1u << 24))
        throw InputError(what + ": too many conditions, ratios or replicates for the random-number keys");
    std::vector<std::uint32_t> effectors;
    for (double et : sc.etRatios) {
        const double n = std::round(et * static_cast<double>(sc.targets));
        if (!(et >= 0) || !std::isfinite(et) || n > 1e8) throw InputError(what + ": effector:target ratio " + std::to_string(et) + " is out of range");
        effectors.push_back(static_cast<std::uint32_t>(n));
    }
    for (const auto& c : sc.conditions) {
        if (c.effector >= m.cellTypes().size() || c.target >= m.cellTypes().size())
            throw InputError(what + ": condition '" + c.name + "' has no effector or target cell type of model '" + m.info().name + "'");
    }

    const Constants k = readConstants(m);
    const synapse::Regulator reg(m);
    const synapse::Synapse syn(m);
    std::vector<Prepared> prepared;
    prepared.reserve(sc.conditions.size());
    for (const auto& c : sc.conditions) prepared.push_back(prepare(m, reg, syn, sc, c, k));

    AssayResult result;
    if (auto i = m.indexOf(Kind::Mediator, "IFN-g")) result.ifngUnit = m.mediators()[*i].unit;

    const std::size_t nC = sc.conditions.size(), nEt = sc.etRatios.size(), nRep = sc.replicates;
    const std::size_t total = nC * nEt * nRep;
    std::vector<WellResult> wells(total);
    std::vector<std::exception_ptr> errors(total);
    std::mutex progressMutex;
    std::size_t done = 0;
    int threadsUsed = 1;

    auto runOne = [&](std::size_t w) {
        const std::size_t c = w / (nEt * nRep), e = (w / nRep) % nEt, rep = w % nRep;
        try {
            WellSpec spec{sc.seed, wellWord(e, rep), sc.targets, effectors[e], sc.durationHours, sc.wellVolumeMl, sc.readout};
            wells[w] = simulateWell(syn, prepared[c], k, spec);
        } catch (...) {
            errors[w] = std::current_exception();
        }
        if (options.progress) {
            std::lock_guard<std::mutex> lock(progressMutex);
            ++done;
            try {
                options.progress(done, total);
            } catch (...) {  // a progress display must not stop the run
            }
        }
    };

#ifdef _OPENMP
    // Capped like a given count: OMP_NUM_THREADS=100000 must not crash the runtime either.
    const int requested = options.threads > 0 ? options.threads : std::min(io::maxThreads(), omp_get_max_threads());
#pragma omp parallel num_threads(requested)
    {
#pragma omp single
        threadsUsed = omp_get_num_threads();
#pragma omp for schedule(dynamic, 1)
        for (std::int64_t w = 0; w < static_cast<std::int64_t>(total); ++w) runOne(static_cast<std::size_t>(w));
    }
#else
    for (std::size_t w = 0; w < total; ++w) runOne(w);
#endif
    for (const auto& ep : errors)
        if (ep) std::rethrow_exception(ep);

    // Reduce in a fixed order: condition, ratio, replicate.
    for (std::size_t c = 0; c < nC; ++c) {
        ConditionResult cr;
        cr.name = sc.conditions[c].name;
        cr.setup = prepared[c].setup;
        for (std::size_t e = 0; e < nEt; ++e) {
            RatioResult rr;
            rr.etRatio = sc.etRatios[e];
            std::vector<double> lysis, ifng;
            for (std::size_t rep = 0; rep < nRep; ++rep) {
                const WellResult& wr = wells[(c * nEt + e) * nRep + rep];
                rr.wells.push_back(wr);
                lysis.push_back(wr.lysisPct);
                ifng.push_back(wr.ifng);
            }
            rr.lysisPct = confidenceInterval95(lysis);
            rr.ifng = confidenceInterval95(ifng);
            cr.ratios.push_back(std::move(rr));
        }
        result.conditions.push_back(std::move(cr));
    }
    result.threads = threadsUsed;
    result.wallSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

int defaultThreads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

io::ResourceEstimate estimateResources(const CompiledModel& m, const AssayScenario& sc, int threads) {
    io::ResourceEstimate e;
    // Encounters: each NK cell meets targets at the model's encounter rate for the whole assay
    // (an upper bound: a well whose targets are all dead stops early).
    const double rate = m.indexOf(Kind::Constant, "assay.encounter_rate") ? m.constant("assay.encounter_rate") : 0.0;
    double nkCells = 0, maxEffectors = 0;
    for (double et : sc.etRatios) {
        const double nE = std::round(et * static_cast<double>(sc.targets));
        nkCells += nE;
        maxEffectors = std::max(maxEffectors, nE);
    }
    const double wellsPerRatio = static_cast<double>(sc.conditions.size()) * static_cast<double>(sc.replicates);
    const double wells = wellsPerRatio * static_cast<double>(sc.etRatios.size());
    const double encounters = wellsPerRatio * nkCells * rate * sc.durationHours;
    io::WorkItem w;
    w.what = "NK-target encounters";
    w.amount = encounters;
    w.limit = kMaxAssayEncounters;
    w.detail = io::formatCount(wells) + (wells == 1 ? " well, " : " wells, ") + io::formatCount(nkCells * wellsPerRatio) + " NK cells in all, " +
               io::formatCount(rate) + " encounters per NK cell and hour, " + io::formatCount(sc.durationHours) + " h";
    w.where = sc.where;
    w.entity = "[assay]";
    w.key = "duration";
    e.work.push_back(std::move(w));
    // Memory: the wells that run at once (one per thread) at their largest, and every well's result.
    const double nR = static_cast<double>(m.count(Kind::Receptor)), nL = static_cast<double>(m.count(Kind::Ligand));
    const double perTarget = nL * 8 + 8 + 8 + 4 + 1;
    const double perNk = nR * 8 + sizeof(Stream) + 1 + 3 * 8 + 16 + 4;
    const double perWell = static_cast<double>(sc.targets) * perTarget + maxEffectors * perNk;
#ifdef _OPENMP
    const double running = std::min(wells, static_cast<double>(threads > 0 ? threads : std::min(io::maxThreads(), omp_get_max_threads())));
#else
    (void)threads;
    const double running = std::min(wells, 1.0);
#endif
    // ~600 bytes per well: its result, its lines in summary.json.
    e.memoryBytes = 64.0 * 1024 * 1024 + running * perWell + wells * 600.0;
    e.memoryDetail = io::formatCount(running) + (running == 1 ? " well at once of " : " wells at once of ") + io::formatBytes(perWell) +
                     " each, and " + io::formatCount(wells) + (wells == 1 ? " well result" : " well results");
    e.memoryWhere = sc.where;
    e.memoryEntity = "[assay]";
    e.memoryKey = "targets";
    return e;
}

// ---- outputs ---------------------------------------------------------------------------------------

namespace {

std::string curveCsv(const CompiledModel& m, const AssayScenario& sc, const AssayResult& res, const std::string& quantity,
                     Interval RatioResult::*field) {
    io::CsvTable t({"condition", "effector", "target", "et_ratio", quantity + "_mean" , quantity + "_ci_low", quantity + "_ci_high", "replicates"});
    for (std::size_t c = 0; c < res.conditions.size(); ++c) {
        const auto& cond = sc.conditions.at(c);
        for (const auto& r : res.conditions[c].ratios) {
            const Interval& iv = r.*field;
            // One replicate has no spread: its interval is undefined, written as empty fields on
            // purpose (confidenceInterval95 gives low = high = mean there).
            const bool hasCi = r.wells.size() >= 2;
            t.addRow({cond.name, m.entities(Kind::CellType).at(cond.effector).name, m.entities(Kind::CellType).at(cond.target).name, r.etRatio,
                      iv.mean, hasCi ? io::CsvCell{iv.low} : io::csvMissing(), hasCi ? io::CsvCell{iv.high} : io::csvMissing(),
                      static_cast<std::int64_t>(r.wells.size())});
        }
    }
    return t.str();
}

}  // namespace

std::string lysisCsv(const CompiledModel& m, const AssayScenario& sc, const AssayResult& res) {
    // Column names: lysis_mean_pct, lysis_ci_low_pct, lysis_ci_high_pct.
    std::string s = curveCsv(m, sc, res, "lysis", &RatioResult::lysisPct);
    const std::string from = "lysis_mean,lysis_ci_low,lysis_ci_high", to = "lysis_mean_pct,lysis_ci_low_pct,lysis_ci_high_pct";
    s.replace(s.find(from), from.size(), to);
    return s;
}

std::string ifngCsv(const CompiledModel& m, const AssayScenario& sc, const AssayResult& res) {
    const std::string u = unitColumn(res.ifngUnit.empty() ? std::string("1") : res.ifngUnit);
    std::string s = curveCsv(m, sc, res, "ifng", &RatioResult::ifng);
    const std::string from = "ifng_mean,ifng_ci_low,ifng_ci_high";
    s.replace(s.find(from), from.size(), "ifng_mean_" + u + ",ifng_ci_low_" + u + ",ifng_ci_high_" + u);
    return s;
}

io::Json summaryJson(const CompiledModel& m, const AssayScenario& sc, const AssayResult& res) {
    using io::Json;
    using io::jsonNumber;
    using io::jsonOptional;
    auto name = [&](Kind k, Index i) { return m.entities(k).at(i).name; };
    auto named = [&](Kind k, const std::vector<IndexedValue>& v) {
        Json j = Json::object();
        for (const auto& x : v) j[name(k, x.index)] = jsonNumber(x.value);
        return j;
    };

    Json j;
    j["nkscape_version"] = kVersion;
    j["scenario"] = {{"path", sc.path}, {"name", sc.name}, {"kind", "assay"}, {"description", sc.description}};
    j["seed"] = sc.seed;
    j["model"] = {{"name", m.info().name},   {"version", m.info().version}, {"hash", m.info().hash},
                  {"path", sc.modelPath},    {"file", sc.modelFile},        {"files", m.info().files}};

    Json inputs;
    inputs["readout"] = std::string(readoutKey(sc.readout));
    inputs["duration_h"] = sc.durationHours;
    inputs["effector_target_ratios"] = sc.etRatios;
    inputs["targets_per_well"] = sc.targets;
    inputs["replicates"] = sc.replicates;
    inputs["well_volume_mL"] = sc.wellVolumeMl;
    inputs["conditioning_h"] = sc.conditioningHours;
    Json constants = Json::object();
    for (const auto& [cname, field] : constantFields()) {
        if (auto i = m.indexOf(Kind::Constant, cname)) {
            const auto& pi = m.parameter(m.constants().at(*i));
            constants[cname] = {{"value", jsonNumber(pi.value)}, {"unit", pi.internalUnit}, {"source", pi.source}};
        }
    }
    inputs["constants"] = constants;
    Json conds = Json::array();
    for (std::size_t c = 0; c < sc.conditions.size(); ++c) {
        const auto& cond = sc.conditions[c];
        Json jc;
        jc["name"] = cond.name;
        jc["effector"] = name(Kind::CellType, cond.effector);
        jc["target"] = name(Kind::CellType, cond.target);
        jc["fcgr3a"] = std::string(fcgr3aKey(cond.fcgr3a));
        jc["therapies_nM"] = named(Kind::Therapy, cond.therapies);
        Json meds = Json::object();
        for (const auto& x : cond.mediators) meds[name(Kind::Mediator, x.index)] = {{"value", jsonNumber(x.value)}, {"unit", m.mediators()[x.index].unit}};
        jc["mediators"] = meds;
        jc["target_expression_molecule_per_cell"] = named(Kind::Ligand, cond.targetExpression);
        jc["effector_expression_molecule_per_cell"] = named(Kind::Receptor, cond.effectorExpression);
        jc["effector_factors"] = named(Kind::Factor, cond.effectorFactors);
        jc["target_factor_baselines"] = named(Kind::Factor, cond.targetFactors);
        if (c < res.conditions.size()) {
            const ConditionSetup& s = res.conditions[c].setup;
            Json milieu = Json::object();
            for (const auto& x : s.milieu) milieu[name(Kind::Mediator, x.index)] = {{"value", jsonNumber(x.value)}, {"unit", m.mediators()[x.index].unit}};
            jc["well_medium"] = milieu;
            Json conditioned = Json::object();
            for (const auto& x : s.conditioned) {
                const std::string& unit = m.mediators()[x.mediator].unit;
                conditioned[name(Kind::Mediator, x.mediator)] = {
                    {"value", jsonNumber(x.concentration)},
                    {"unit", unit},
                    {"secretion_per_target", {{"value", jsonNumber(x.secretion)}, {"unit", unit + ".mL/(cell.h)"}}},
                    {"decay_rate_per_h", x.decays ? jsonNumber(x.decayPerHour) : Json(nullptr)}};
            }
            jc["conditioning"] = {{"duration_h", jsonNumber(s.conditioningHours)}, {"targets", sc.targets}, {"mediators", conditioned}};
            jc["fraction_nonkiller"] = {{"value", jsonNumber(s.fractionNonkiller)},
                                        {"from", s.fractionFromCellType ? "cell type" : "constant assay.fraction_nonkiller"}};
            jc["granule_capacity"] = jsonNumber(s.granuleCapacity);
            jc["granule_refill_time_h"] = {{"value", jsonNumber(s.granuleRefillHours)},
                                           {"from", s.refillFromCellType ? "cell type" : "constant assay.granule_refill_time"}};
            jc["cd16_relative_affinity"] = jsonNumber(s.cd16Affinity);
        }
        conds.push_back(jc);
    }
    inputs["conditions"] = conds;
    j["inputs"] = inputs;

    std::size_t wells = 0;
    for (const auto& c : res.conditions)
        for (const auto& r : c.ratios) wells += r.wells.size();
    j["run"] = {{"threads", res.threads}, {"wall_time_s", res.wallSeconds}, {"wells", wells}};

    Json results = Json::array();
    for (const auto& c : res.conditions) {
        Json jc;
        jc["condition"] = c.name;
        double shareSum = 0, nkTotal = 0, nkNoKill = 0, nonkillers = 0, kills = 0, serialKills = 0;
        std::size_t withKills = 0;
        Json byRatio = Json::array();
        for (const auto& r : c.ratios) {
            double rShare = 0, rNk = 0, rNoKill = 0, rNon = 0, rContacts = 0, rKills = 0, rSerial = 0, rSerialKills = 0;
            std::size_t rWith = 0;
            std::uint32_t maxKills = 0;
            for (const auto& w : r.wells) {
                if (!std::isnan(w.topDecileKillShare)) {
                    rShare += w.topDecileKillShare;
                    ++rWith;
                }
                rNk += w.effectors;
                rNoKill += w.nkWithoutKill;
                rNon += w.nonkillers;
                rContacts += static_cast<double>(w.contacts);
                rKills += w.kills;
                rSerial += w.serialKillers;
                rSerialKills += w.serialKills;
                maxKills = std::max(maxKills, w.maxKillsPerNk);
            }
            shareSum += rShare;
            kills += rKills;
            serialKills += rSerialKills;
            withKills += rWith;
            nkTotal += rNk;
            nkNoKill += rNoKill;
            nonkillers += rNon;
            // A statistic with a zero denominator (no kills, no NK cells) is undefined: null, on purpose.
            const std::optional<double> none;
            const bool hasCi = r.wells.size() >= 2;  // one replicate: no interval (see curveCsv)
            byRatio.push_back({{"et_ratio", r.etRatio},
                               {"effectors_per_well", r.wells.empty() ? 0u : r.wells.front().effectors},
                               {"lysis_pct", {{"mean", jsonNumber(r.lysisPct.mean)}, {"ci_low", jsonOptional(hasCi ? r.lysisPct.low : none)}, {"ci_high", jsonOptional(hasCi ? r.lysisPct.high : none)}}},
                               {"ifng", {{"mean", jsonNumber(r.ifng.mean)}, {"ci_low", jsonOptional(hasCi ? r.ifng.low : none)}, {"ci_high", jsonOptional(hasCi ? r.ifng.high : none)}, {"unit", res.ifngUnit}}},
                               {"top10pct_kill_share", jsonOptional(rWith ? rShare / static_cast<double>(rWith) : none)},
                               {"fraction_nk_without_kill", jsonOptional(rNk > 0 ? rNoKill / rNk : none)},
                               {"fraction_nonkillers_drawn", jsonOptional(rNk > 0 ? rNon / rNk : none)},
                               {"kills_per_well", jsonOptional(r.wells.empty() ? none : rKills / static_cast<double>(r.wells.size()))},
                               {"fraction_nk_serial_killers", jsonOptional(rNk > 0 ? rSerial / rNk : none)},
                               {"serial_killer_kill_share", jsonOptional(rKills > 0 ? rSerialKills / rKills : none)},
                               {"contacts_per_nk", jsonOptional(rNk > 0 ? rContacts / rNk : none)},
                               {"max_kills_per_nk", maxKills}});
        }
        const std::optional<double> none;
        jc["top10pct_kill_share"] = {{"mean", jsonOptional(withKills ? shareSum / static_cast<double>(withKills) : none)},
                                     {"wells_with_kills", withKills},
                                     {"definition", "share of a well's kills made by its top ceil(10 % of N_E) NK cells, mean over wells with kills"}};
        jc["fraction_nk_without_kill"] = jsonOptional(nkTotal > 0 ? nkNoKill / nkTotal : none);
        jc["fraction_nonkillers_drawn"] = jsonOptional(nkTotal > 0 ? nonkillers / nkTotal : none);
        jc["serial_killer_kill_share"] = jsonOptional(kills > 0 ? serialKills / kills : none);
        jc["by_ratio"] = byRatio;
        results.push_back(jc);
    }
    j["results"] = results;
    return j;
}

std::vector<std::filesystem::path> writeAssayOutputs(io::RunFolder& run, const CompiledModel& m, const AssayScenario& sc,
                                                     const AssayResult& res) {
    // Every file is rendered before the first is staged: a refused value (NaN) stops the run
    // before anything is written.
    const std::string lysis = lysisCsv(m, sc, res);
    std::string ifng;
    if (!res.ifngUnit.empty()) ifng = ifngCsv(m, sc, res);
    io::Json summary = summaryJson(m, sc, res);
    io::Json files = io::Json::array({"lysis.csv"});
    if (!res.ifngUnit.empty()) files.push_back("ifng.csv");
    files.push_back("summary.json");
    summary["outputs"] = files;
    const std::string summaryText = io::jsonText(summary);

    run.add("lysis.csv", lysis);
    if (!res.ifngUnit.empty()) run.add("ifng.csv", ifng);
    run.add("summary.json", summaryText);
    return run.commit();
}

}  // namespace nkscape::assay
