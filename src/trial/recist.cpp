// From simulated tumour cells to RECIST 1.1 responses. See include/nkscape/trial/recist.hpp and
// docs/trials.md, "From cells to RECIST".

#include "nkscape/trial/recist.hpp"

#include <Random123/philox.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <utility>

#include "nkscape/error.hpp"
#include "nkscape/qsp/engine.hpp"

namespace nkscape::trial {

namespace {

// Relative tolerance of the threshold comparisons: a value exactly on a threshold (30 % of a
// baseline, 20 % of a nadir) must not fall off it through rounding of (1 − 0.3)·baseline.
constexpr double kRelTol = 1e-9;
// Bound on a regular schedule's length: 10,000 weekly assessments are ~190 years; more is a
// mistake in the inputs, not a trial.
constexpr std::size_t kMaxAssessments = 10000;

std::string label(const TumourBurden& b) { return "patient '" + b.name + "'"; }

void checkBurden(const TumourBurden& b) {
    const std::string who = label(b);
    if (b.times_d.empty()) throw InputError(who + ": the tumour trajectory has no times");
    if (b.cells.size() != b.times_d.size()) {
        throw InputError(fmt::format("{}: cells has {} values but times_d has {}", who, b.cells.size(), b.times_d.size()));
    }
    for (std::size_t i = 0; i < b.times_d.size(); ++i) {
        if (!std::isfinite(b.times_d[i])) throw InputError(fmt::format("{}: times_d[{}] is not finite ({} d)", who, i, b.times_d[i]));
        if (i > 0 && !(b.times_d[i] > b.times_d[i - 1])) {
            throw InputError(fmt::format("{}: times_d is not strictly increasing (times_d[{}] = {} d after {} d)", who, i, b.times_d[i],
                                         b.times_d[i - 1]));
        }
        if (!std::isfinite(b.cells[i])) throw InputError(fmt::format("{}: cells[{}] is not finite ({})", who, i, b.cells[i]));
        if (b.cells[i] < 0) throw InputError(fmt::format("{}: cells[{}] is negative ({} cells)", who, i, b.cells[i]));
    }
}

void checkGeometry(const std::string& who, const LesionGeometry& g) {
    if (!(g.cellDensity_per_cm3 >= kMinCellDensity_per_cm3 && g.cellDensity_per_cm3 <= kMaxCellDensity_per_cm3)) {
        throw InputError(fmt::format("{}: cell density {} cell/cm³ is outside the plausible range [{}, {}] cell/cm³ (Del Monte 2009, PMID 19176997)",
                                     who, g.cellDensity_per_cm3, kMinCellDensity_per_cm3, kMaxCellDensity_per_cm3));
    }
    if (!(g.detectionLimit_cells >= 0) || !std::isfinite(g.detectionLimit_cells)) {
        throw InputError(fmt::format("{}: detection limit {} cells must be finite and ≥ 0", who, g.detectionLimit_cells));
    }
    if (!(g.minMeasurable_mm > 0) || !std::isfinite(g.minMeasurable_mm)) {
        throw InputError(fmt::format("{}: minimum measurable diameter {} mm must be finite and > 0", who, g.minMeasurable_mm));
    }
}

void checkCriteria(const std::string& who, const RecistCriteria& c) {
    if (!(c.partialResponseDecrease > 0 && c.partialResponseDecrease < 1)) {
        throw InputError(fmt::format("{}: partial-response decrease {} must be in (0, 1)", who, c.partialResponseDecrease));
    }
    if (!(c.progressionIncrease > 0) || !std::isfinite(c.progressionIncrease)) {
        throw InputError(fmt::format("{}: progression increase {} must be finite and > 0", who, c.progressionIncrease));
    }
    if (!(c.progressionAbsolute_mm >= 0) || !std::isfinite(c.progressionAbsolute_mm)) {
        throw InputError(fmt::format("{}: progression absolute increase {} mm must be finite and ≥ 0", who, c.progressionAbsolute_mm));
    }
    if (!(c.confirmationInterval_d > 0) || !std::isfinite(c.confirmationInterval_d)) {
        throw InputError(fmt::format("{}: confirmation interval {} d must be finite and > 0", who, c.confirmationInterval_d));
    }
    if (!(c.minStableDuration_d >= 0) || !std::isfinite(c.minStableDuration_d)) {
        throw InputError(fmt::format("{}: minimum stable-disease duration {} d must be finite and ≥ 0", who, c.minStableDuration_d));
    }
    if (!(c.clinicalBenefit_d >= 0) || !std::isfinite(c.clinicalBenefit_d)) {
        throw InputError(fmt::format("{}: clinical-benefit duration {} d must be finite and ≥ 0", who, c.clinicalBenefit_d));
    }
}

void checkError(const std::string& who, const MeasurementError& e) {
    if (!(e.cv >= 0 && e.cv <= 1)) throw InputError(fmt::format("{}: measurement-error CV {} must be in [0, 1]", who, e.cv));
}

void checkSplit(const std::string& who, const LesionSplit& s) {
    if (s.fractions.empty() || s.fractions.size() > kMaxTargetLesions) {
        throw InputError(fmt::format("{}: {} target lesions; RECIST 1.1 allows 1 to {}", who, s.fractions.size(), kMaxTargetLesions));
    }
    double sum = 0;
    for (std::size_t i = 0; i < s.fractions.size(); ++i) {
        const double f = s.fractions[i];
        if (!(f > 0) || !std::isfinite(f)) throw InputError(fmt::format("{}: lesion fraction [{}] is {}; it must be finite and > 0", who, i, f));
        sum += f;
    }
    if (std::abs(sum - 1.0) > 1e-9) throw InputError(fmt::format("{}: lesion fractions sum to {}, not 1", who, sum));
}

void checkSchedule(const TumourBurden& b, std::span<const double> schedule) {
    const std::string who = label(b);
    if (schedule.empty()) throw InputError(who + ": the assessment schedule is empty (it needs at least the baseline)");
    for (std::size_t i = 0; i < schedule.size(); ++i) {
        const double t = schedule[i];
        if (!std::isfinite(t) || t < 0) throw InputError(fmt::format("{}: assessment time [{}] is {} d; it must be finite and ≥ 0", who, i, t));
        if (i > 0 && !(t > schedule[i - 1])) {
            throw InputError(fmt::format("{}: assessment times are not strictly increasing ([{}] = {} d after {} d)", who, i, t, schedule[i - 1]));
        }
    }
}

bool atLeast(double value, double threshold) { return value >= threshold - kRelTol * std::max(std::abs(threshold), 1.0); }

}  // namespace

std::string_view responseName(Response r) noexcept {
    switch (r) {
        case Response::CR: return "CR";
        case Response::PR: return "PR";
        case Response::SD: return "SD";
        case Response::PD: return "PD";
        case Response::NE: return "NE";
    }
    return "NE";
}

TumourBurden tumourBurden(const qsp::SimulationResult& result, std::string name) {
    const auto it = std::find(result.columns.begin(), result.columns.end(), "tumour.cells");
    if (it == result.columns.end()) throw InputError("patient '" + name + "': the simulation result has no column 'tumour.cells'");
    const auto j = static_cast<std::size_t>(it - result.columns.begin());
    TumourBurden b;
    b.name = std::move(name);
    b.times_d = result.times;
    b.cells.reserve(result.rows.size());
    for (const auto& row : result.rows) {
        if (j >= row.size()) throw InputError("patient '" + b.name + "': a row of the simulation result is shorter than its columns");
        b.cells.push_back(row[j]);
    }
    return b;
}

namespace {

// assessmentCells on a burden already checked (assessRecist checks it once, not per assessment).
double interpolateCells(const TumourBurden& burden, double time_d) {
    const auto& t = burden.times_d;
    if (!std::isfinite(time_d) || time_d < t.front() || time_d > t.back()) {
        throw InputError(fmt::format("{}: assessment at {} d is outside the trajectory [{}, {}] d", label(burden), time_d, t.front(), t.back()));
    }
    const auto hi = static_cast<std::size_t>(std::lower_bound(t.begin(), t.end(), time_d) - t.begin());
    if (t[hi] == time_d) return burden.cells[hi];
    const std::size_t lo = hi - 1;  // time_d > t.front(), so hi ≥ 1
    const double w = (time_d - t[lo]) / (t[hi] - t[lo]);
    const double a = burden.cells[lo];
    const double b = burden.cells[hi];
    // Between outputs the tumour's net rate is nearly constant, so ln N is linear in time; linear
    // interpolation of N would overstate a shrinking tumour mid-interval. ln 0 is undefined, so an
    // interval reaching 0 is interpolated linearly.
    if (a > 0 && b > 0) return a * std::exp(w * std::log(b / a));
    return a + w * (b - a);
}

}  // namespace

double assessmentCells(const TumourBurden& burden, double time_d) {
    checkBurden(burden);
    return interpolateCells(burden, time_d);
}

double sphereDiameter_mm(double cells, double cellDensity_per_cm3) {
    if (!std::isfinite(cells) || cells < 0) throw InputError(fmt::format("lesion: {} cells must be finite and ≥ 0", cells));
    if (!(cellDensity_per_cm3 > 0) || !std::isfinite(cellDensity_per_cm3)) {
        throw InputError(fmt::format("lesion: cell density {} cell/cm³ must be finite and > 0", cellDensity_per_cm3));
    }
    constexpr double kMmPerCm = 10.0;
    const double volume_cm3 = cells / cellDensity_per_cm3;
    return kMmPerCm * std::cbrt(6.0 * volume_cm3 / std::numbers::pi);
}

double lesionDiameter_mm(double cells, const LesionGeometry& geometry) {
    checkGeometry("lesion", geometry);
    if (!std::isfinite(cells) || cells < 0) throw InputError(fmt::format("lesion: {} cells must be finite and ≥ 0", cells));
    if (cells < geometry.detectionLimit_cells) return 0.0;
    return sphereDiameter_mm(cells, geometry.cellDensity_per_cm3);
}

double measurementFactor(const MeasurementError& error, std::uint64_t patient, std::uint64_t assessment, std::uint64_t lesion) {
    checkError("measurement error", error);
    if (error.cv == 0) return 1.0;
    // One Philox block per reading: the counter is the reading's identity, so its number depends
    // on nothing else (not on the order of evaluation, nor on how many readings there are).
    const r123::Philox4x64::key_type key = {{error.seed, 0x726563697374ULL}};  // second word: "recist", fixed
    const r123::Philox4x64::ctr_type ctr = {{patient, assessment, lesion, 0}};
    const auto out = r123::Philox4x64()(ctr, key);
    // Box–Muller on two 53-bit uniforms; u1 in (0, 1] so its log is finite.
    const double u1 = 1.0 - static_cast<double>(out[0] >> 11) * 0x1.0p-53;
    const double u2 = static_cast<double>(out[1] >> 11) * 0x1.0p-53;
    const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
    // Lognormal with mean 1: ln X ~ N(−s²/2, s²), s² = ln(1 + cv²).
    const double s2 = std::log1p(error.cv * error.cv);
    return std::exp(-0.5 * s2 + std::sqrt(s2) * z);
}

Response classifyTimePoint(double sld_mm, double baselineSld_mm, double nadirSld_mm, bool completeResponseBefore, const RecistCriteria& criteria) {
    checkCriteria("RECIST criteria", criteria);
    if (!std::isfinite(sld_mm) || sld_mm < 0) throw InputError(fmt::format("time point: SLD {} mm must be finite and ≥ 0", sld_mm));
    if (!std::isfinite(baselineSld_mm) || !(baselineSld_mm > 0)) {
        throw InputError(fmt::format("time point: baseline SLD {} mm must be finite and > 0", baselineSld_mm));
    }
    if (!std::isfinite(nadirSld_mm) || nadirSld_mm < 0 || nadirSld_mm > baselineSld_mm) {
        throw InputError(fmt::format("time point: nadir {} mm must be finite and in [0, baseline {} mm]", nadirSld_mm, baselineSld_mm));
    }
    if (sld_mm == 0) return Response::CR;
    // A target lesion back after a CR is progression whatever its size (Eisenhauer 2009, 4.3.2).
    if (completeResponseBefore) return Response::PD;
    const double increase = sld_mm - nadirSld_mm;
    if (atLeast(increase, criteria.progressionIncrease * nadirSld_mm) && atLeast(increase, criteria.progressionAbsolute_mm)) return Response::PD;
    if (atLeast(baselineSld_mm - sld_mm, criteria.partialResponseDecrease * baselineSld_mm)) return Response::PR;
    return Response::SD;
}

std::vector<double> regularSchedule(double interval_d, double end_d, double baseline_d) {
    if (!(interval_d > 0) || !std::isfinite(interval_d)) throw InputError(fmt::format("assessment schedule: interval {} d must be finite and > 0", interval_d));
    if (!std::isfinite(baseline_d) || baseline_d < 0) throw InputError(fmt::format("assessment schedule: baseline {} d must be finite and ≥ 0", baseline_d));
    if (!std::isfinite(end_d) || end_d < baseline_d) {
        throw InputError(fmt::format("assessment schedule: end {} d must be finite and ≥ the baseline {} d", end_d, baseline_d));
    }
    const double steps = std::floor((end_d - baseline_d) / interval_d + 1e-9);
    if (steps + 1 > static_cast<double>(kMaxAssessments)) {
        throw InputError(fmt::format("assessment schedule: every {} d from {} to {} d is {} assessments; at most {}", interval_d, baseline_d, end_d,
                                     steps + 1, kMaxAssessments));
    }
    std::vector<double> out;
    const auto n = static_cast<std::size_t>(steps);
    out.reserve(n + 1);
    // Multiply rather than accumulate so the k-th time carries one rounding, not k.
    for (std::size_t k = 0; k <= n; ++k) out.push_back(baseline_d + static_cast<double>(k) * interval_d);
    return out;
}

RecistOutcome assessRecist(const TumourBurden& burden, const LesionSplit& split, std::span<const double> schedule_d, const RecistOptions& options,
                           std::uint64_t patient) {
    const std::string who = label(burden);
    checkBurden(burden);
    checkSplit(who, split);
    checkSchedule(burden, schedule_d);
    checkGeometry(who, options.geometry);
    checkCriteria(who, options.criteria);
    checkError(who, options.error);
    const auto& c = options.criteria;
    const std::size_t nLesions = split.fractions.size();

    // Measure every lesion at every assessment (assessment 0 is the baseline).
    auto measure = [&](std::size_t k) {
        RecistAssessment a;
        a.time_d = schedule_d[k];
        a.cells = interpolateCells(burden, a.time_d);
        a.diameters_mm.resize(nLesions);
        for (std::size_t l = 0; l < nLesions; ++l) {
            const double d = lesionDiameter_mm(split.fractions[l] * a.cells, options.geometry);
            a.diameters_mm[l] = d * measurementFactor(options.error, patient, k, l);
        }
        return a;
    };

    RecistOutcome out;
    out.baseline = measure(0);
    out.targetLesion.resize(nLesions);
    bool anyTarget = false;
    for (std::size_t l = 0; l < nLesions; ++l) {
        out.targetLesion[l] = atLeast(out.baseline.diameters_mm[l], options.geometry.minMeasurable_mm);
        anyTarget = anyTarget || out.targetLesion[l];
    }
    auto sld = [&](const RecistAssessment& a) {
        double s = 0;
        for (std::size_t l = 0; l < nLesions; ++l) {
            if (out.targetLesion[l]) s += a.diameters_mm[l];
        }
        return s;
    };
    out.baseline.sld_mm = sld(out.baseline);
    out.baseline.nadir_mm = out.baseline.sld_mm;
    for (std::size_t k = 1; k < schedule_d.size(); ++k) out.followUps.push_back(measure(k));

    const double t0 = schedule_d.front();
    const double lastFollowUp = out.followUps.empty() ? t0 : out.followUps.back().time_d;
    out.timeToProgression_d = lastFollowUp - t0;
    if (!anyTarget) {
        // Not a number: without a measurable lesion RECIST gives no response at all.
        out.evaluability = Evaluability::NoMeasurableLesion;
        for (auto& a : out.followUps) a.response = Response::NE;
        return out;
    }

    // Time-point responses; the nadir is the smallest SLD before each assessment.
    double nadir = out.baseline.sld_mm;
    bool crBefore = false;
    for (auto& a : out.followUps) {
        a.sld_mm = sld(a);
        a.nadir_mm = nadir;
        a.response = classifyTimePoint(a.sld_mm, out.baseline.sld_mm, nadir, crBefore, c);
        crBefore = crBefore || a.response == Response::CR;
        nadir = std::min(nadir, a.sld_mm);
    }

    // Best overall response: the record up to and including the first PD.
    const auto& f = out.followUps;
    std::size_t end = f.size();
    for (std::size_t i = 0; i < f.size(); ++i) {
        if (f[i].response == Response::PD) {
            end = i;
            break;
        }
    }
    const bool anyPd = end < f.size();
    if (anyPd) {
        out.progressed = true;
        out.timeToProgression_d = f[end].time_d - t0;
    }
    // A response is confirmed when it holds (CR: every time point CR; PR: every one CR or PR)
    // from its first time point to one ≥ confirmationInterval_d later.
    auto confirmed = [&](Response level) {
        auto holds = [&](Response r) { return level == Response::CR ? r == Response::CR : (r == Response::CR || r == Response::PR); };
        for (std::size_t i = 0; i < end; ++i) {
            if (!holds(f[i].response)) continue;
            for (std::size_t j = i + 1; j < end && holds(f[j].response); ++j) {
                if (atLeast(f[j].time_d - f[i].time_d, c.confirmationInterval_d)) return true;
            }
        }
        return false;
    };
    auto seen = [&](Response level) {
        for (std::size_t i = 0; i < end; ++i) {
            if (f[i].response == level) return true;
        }
        return false;
    };
    // SD (or better) recorded at least minStableDuration_d after baseline, before any PD.
    bool stableLongEnough = false;
    bool benefitDuration = false;
    for (std::size_t i = 0; i < end; ++i) {
        stableLongEnough = stableLongEnough || atLeast(f[i].time_d - t0, c.minStableDuration_d);
        benefitDuration = benefitDuration || atLeast(f[i].time_d - t0, c.clinicalBenefit_d);
    }
    const bool crConfirmed = confirmed(Response::CR);
    const bool prConfirmed = confirmed(Response::PR);
    const bool crSeen = seen(Response::CR);
    const bool prSeen = seen(Response::PR);
    if (crSeen && (crConfirmed || !c.requireConfirmation)) {
        out.bestResponse = Response::CR;
        out.bestResponseConfirmed = crConfirmed;
    } else if ((crSeen || prSeen) && (prConfirmed || !c.requireConfirmation)) {
        // An unconfirmed CR that is followed by a confirmed PR-or-better run is a confirmed PR.
        out.bestResponse = Response::PR;
        out.bestResponseConfirmed = prConfirmed;
    } else if (stableLongEnough) {
        out.bestResponse = Response::SD;
    } else if (anyPd) {
        out.bestResponse = Response::PD;
    } else {
        out.bestResponse = Response::NE;
    }

    if (out.bestResponse == Response::CR || out.bestResponse == Response::PR) {
        std::size_t first = 0;
        while (f[first].response != Response::CR && f[first].response != Response::PR) ++first;
        const double stop = anyPd ? f[end].time_d : lastFollowUp;
        out.durationOfResponse_d = stop - f[first].time_d;
        out.responseEnded = anyPd;
        out.clinicalBenefit = true;
    } else {
        out.clinicalBenefit = benefitDuration;
    }
    return out;
}

}  // namespace nkscape::trial
