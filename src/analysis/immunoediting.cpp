// The immunoediting classifier. See include/nkscape/analysis/immunoediting.hpp and docs/qsp.md.

#include "nkscape/analysis/immunoediting.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <utility>

#include "nkscape/error.hpp"

namespace nkscape::analysis {

namespace {

std::string label(const TumourTrajectory& t) { return "trajectory '" + t.name + "'"; }

std::string label(const TumourTrajectory& t, const Clone& c) { return label(t) + ", clone '" + c.name + "'"; }

void checkCounts(const std::string& who, const char* what, const std::vector<double>& v, std::size_t n) {
    if (v.size() != n) {
        throw InputError(fmt::format("{}: {} has {} values but times_d has {}", who, what, v.size(), n));
    }
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (!std::isfinite(v[i])) {
            throw InputError(fmt::format("{}: {}[{}] is not finite ({})", who, what, i, v[i]));
        }
        if (v[i] < 0) {
            throw InputError(fmt::format("{}: {}[{}] is negative ({} cells)", who, what, i, v[i]));
        }
    }
}

void checkTime(const TumourTrajectory& t, double time_d) {
    if (!std::isfinite(time_d) || time_d < t.times_d.front() || time_d > t.times_d.back()) {
        throw InputError(fmt::format("{}: time {} d is outside the trajectory [{}, {}] d", label(t), time_d,
                                     t.times_d.front(), t.times_d.back()));
    }
}

// Linear interpolation of v (indexed like times) at time_d, which checkTime() has accepted.
double interpolate(const std::vector<double>& times, const std::vector<double>& v, double time_d) {
    const auto it = std::upper_bound(times.begin(), times.end(), time_d);
    if (it == times.end()) return v.back();
    const auto hi = static_cast<std::size_t>(it - times.begin());
    if (hi == 0) return v.front();
    const std::size_t lo = hi - 1;
    const double a = (time_d - times[lo]) / (times[hi] - times[lo]);
    return v[lo] + a * (v[hi] - v[lo]);
}

// Clone cells at time_d, interpolated.
std::vector<double> cloneCellsAt(const TumourTrajectory& t, double time_d) {
    std::vector<double> cells;
    cells.reserve(t.clones.size());
    for (const Clone& c : t.clones) cells.push_back(interpolate(t.times_d, c.cells, time_d));
    return cells;
}

std::vector<double> fractionsAt(const TumourTrajectory& t, double time_d) {
    checkTime(t, time_d);
    if (t.clones.empty()) throw InputError(label(t) + " has no clones: the clone composition is undefined");
    std::vector<double> cells = cloneCellsAt(t, time_d);
    double sum = 0;
    for (double c : cells) sum += c;
    if (!(sum > 0)) {
        throw InputError(fmt::format("{}: no clone has cells at t = {} d: the composition is undefined", label(t), time_d));
    }
    for (double& c : cells) c /= sum;
    return cells;
}

double sign(EvasiveDirection d) { return d == EvasiveDirection::Higher ? 1.0 : -1.0; }

double clampedLog(double x, const ImmunoeditingRules& rules) {
    return std::log(std::clamp(x, rules.traitFloor, rules.traitCeiling));
}

double traitOf(const Clone& c, const std::string& name) {
    const auto it = c.traits.find(name);
    return it == c.traits.end() ? 1.0 : it->second;
}

// Σ f_i ln clamp(x_ik) for each trait of the table, in table order.
std::vector<double> meanLogTraits(const TumourTrajectory& t, const std::vector<double>& fractions,
                                  const ImmunoeditingRules& rules) {
    std::vector<double> out;
    out.reserve(rules.evasiveTraits.size());
    for (const EvasiveTrait& k : rules.evasiveTraits) {
        double m = 0;
        for (std::size_t i = 0; i < t.clones.size(); ++i) m += fractions[i] * clampedLog(traitOf(t.clones[i], k.name), rules);
        out.push_back(m);
    }
    return out;
}

double scoreFromMeanLogs(const std::vector<double>& meanLogs, const ImmunoeditingRules& rules) {
    double num = 0;
    double den = 0;
    for (std::size_t k = 0; k < rules.evasiveTraits.size(); ++k) {
        const EvasiveTrait& e = rules.evasiveTraits[k];
        num += e.weight * sign(e.evasive) * meanLogs[k];
        den += e.weight;
    }
    return num / den;
}

void checkAll(const TumourTrajectory& t, const ImmunoeditingRules& rules) {
    rules.validate();
    validateTrajectory(t, rules);
}

}  // namespace

std::string_view phaseName(Phase p) noexcept {
    switch (p) {
        case Phase::Elimination: return "elimination";
        case Phase::Equilibrium: return "equilibrium";
        case Phase::Escape: return "escape";
    }
    return "unknown";
}

std::vector<EvasiveTrait> defaultEvasiveTraits() {
    return {
        {"HLA-I", EvasiveDirection::Lower, 1.0},
        {"HLA-E", EvasiveDirection::Higher, 1.0},
        {"HLA-G", EvasiveDirection::Higher, 1.0},
        {"MICA/B", EvasiveDirection::Lower, 1.0},
        {"MICA shedding", EvasiveDirection::Higher, 1.0},
        {"PD-L1", EvasiveDirection::Higher, 1.0},
    };
}

void ImmunoeditingRules::validate() const {
    const auto need = [](bool ok, const char* rule, double v, const char* why) {
        if (!ok || !std::isfinite(v)) {
            throw InputError(fmt::format("immunoediting rules: {} = {} {}", rule, v, why));
        }
    };
    need(eliminationFloor_cells > 0, "eliminationFloor_cells", eliminationFloor_cells, "must be finite and > 0 cells");
    need(detectionLimit_cells > eliminationFloor_cells, "detectionLimit_cells", detectionLimit_cells,
         "must be finite and above eliminationFloor_cells");
    need(window_d > 0, "window_d", window_d, "must be finite and > 0 days");
    need(equilibriumBand_per_d >= 0, "equilibriumBand_per_d", equilibriumBand_per_d, "must be finite and >= 0 per day");
    need(escapeRate_per_d >= equilibriumBand_per_d, "escapeRate_per_d", escapeRate_per_d,
         "must be finite and >= equilibriumBand_per_d");
    need(eliminationRate_per_d >= equilibriumBand_per_d, "eliminationRate_per_d", eliminationRate_per_d,
         "must be finite and >= equilibriumBand_per_d");
    need(horizon_d >= 0, "horizon_d", horizon_d, "must be finite and >= 0 days");
    need(minSamplesPerWindow >= 2, "minSamplesPerWindow", static_cast<double>(minSamplesPerWindow), "must be >= 2");
    need(traitFloor > 0, "traitFloor", traitFloor, "must be finite and > 0");
    need(traitCeiling >= traitFloor, "traitCeiling", traitCeiling, "must be finite and >= traitFloor");
    need(enrichmentTolerance >= 0, "enrichmentTolerance", enrichmentTolerance, "must be finite and >= 0");
    if (evasiveTraits.empty()) throw InputError("immunoediting rules: evasiveTraits is empty");
    std::set<std::string> seen;
    double total = 0;
    for (const EvasiveTrait& k : evasiveTraits) {
        if (k.name.empty()) throw InputError("immunoediting rules: an evasive trait has an empty name");
        if (!seen.insert(k.name).second) throw InputError("immunoediting rules: evasive trait '" + k.name + "' is listed twice");
        if (!std::isfinite(k.weight) || k.weight < 0) {
            throw InputError(fmt::format("immunoediting rules: evasive trait '{}' has weight {}; it must be finite and >= 0",
                                         k.name, k.weight));
        }
        total += k.weight;
    }
    if (!(total > 0)) throw InputError("immunoediting rules: every evasive trait has weight 0");
}

Phase ImmunoeditingResult::phaseAt(double time_d) const {
    if (windows.empty() || !(time_d >= windows.front().start_d) || !(time_d <= windows.back().end_d)) {
        throw InputError(fmt::format("immunoediting result: time {} d is outside the classified windows", time_d));
    }
    for (auto it = windows.rbegin(); it != windows.rend(); ++it) {
        if (time_d >= it->start_d) return it->phase;
    }
    return windows.front().phase;
}

namespace {

// Times and counts only (no trait names): what cloneComposition() needs.
void validateShape(const TumourTrajectory& t) {
    const std::string who = label(t);
    const std::size_t n = t.times_d.size();
    if (n < 2) throw InputError(fmt::format("{}: needs at least 2 times, has {}", who, n));
    for (std::size_t i = 0; i < n; ++i) {
        if (!std::isfinite(t.times_d[i])) throw InputError(fmt::format("{}: times_d[{}] is not finite ({})", who, i, t.times_d[i]));
        if (i > 0 && !(t.times_d[i] > t.times_d[i - 1])) {
            throw InputError(fmt::format("{}: times_d must be strictly increasing, but times_d[{}] = {} d follows {} d", who,
                                         i, t.times_d[i], t.times_d[i - 1]));
        }
    }
    checkCounts(who, "totalCells", t.totalCells, n);
    std::set<std::string> names;
    for (std::size_t c = 0; c < t.clones.size(); ++c) {
        const Clone& clone = t.clones[c];
        if (clone.name.empty()) throw InputError(fmt::format("{}: clone {} has an empty name", who, c));
        if (!names.insert(clone.name).second) throw InputError(who + ": clone name '" + clone.name + "' is used twice");
        checkCounts(label(t, clone), "cells", clone.cells, n);
    }
}

}  // namespace

void validateTrajectory(const TumourTrajectory& t, const ImmunoeditingRules& rules) {
    validateShape(t);
    std::set<std::string> known;
    for (const EvasiveTrait& k : rules.evasiveTraits) known.insert(k.name);
    for (const Clone& clone : t.clones) {
        for (const auto& [trait, x] : clone.traits) {
            if (!known.count(trait)) {
                std::string list;
                for (const std::string& k : known) list += (list.empty() ? "'" : ", '") + k + "'";
                throw InputError(label(t, clone) + ": unknown trait '" + trait + "' (the evasive-trait table has " + list + ")");
            }
            if (!std::isfinite(x) || x < 0) {
                throw InputError(fmt::format("{}: trait '{}' = {}; a multiplier must be finite and >= 0", label(t, clone), trait, x));
            }
        }
    }
}

double netGrowthRate(std::span<const double> times_d, std::span<const double> cells) {
    if (times_d.size() != cells.size()) {
        throw InputError(fmt::format("net growth rate: {} times but {} cell counts", times_d.size(), cells.size()));
    }
    double n = 0;
    double st = 0;
    double sy = 0;
    for (std::size_t i = 0; i < cells.size(); ++i) {
        if (cells[i] > 0) {
            n += 1;
            st += times_d[i];
            sy += std::log(cells[i]);
        }
    }
    const double nan = std::numeric_limits<double>::quiet_NaN();
    if (n < 2) return nan;
    const double tm = st / n;
    const double ym = sy / n;
    double stt = 0;
    double sty = 0;
    for (std::size_t i = 0; i < cells.size(); ++i) {
        if (cells[i] > 0) {
            const double dt = times_d[i] - tm;
            stt += dt * dt;
            sty += dt * (std::log(cells[i]) - ym);
        }
    }
    return stt > 0 ? sty / stt : nan;
}

ImmunoeditingResult classifyImmunoediting(const TumourTrajectory& t, const ImmunoeditingRules& rules) {
    checkAll(t, rules);
    const std::vector<double>& time = t.times_d;
    const double t0 = time.front();
    const double span = time.back() - t0;
    const double w = rules.window_d;

    // Window boundaries: t0 + k·w; a remainder > w/2 is its own window, a shorter one joins the last.
    std::vector<double> bounds{t0};
    const double eps = 1e-9 * w;
    const auto full = static_cast<long>(std::floor(span / w + 1e-9));
    for (long k = 1; k <= full; ++k) bounds.push_back(t0 + static_cast<double>(k) * w);
    const double rest = time.back() - bounds.back();
    if (bounds.size() == 1 || rest > 0.5 * w) {
        bounds.push_back(time.back());
    } else {
        bounds.back() = time.back();
    }

    ImmunoeditingResult out;
    for (std::size_t k = 0; k + 1 < bounds.size(); ++k) {
        const double a = bounds[k];
        const double b = bounds[k + 1];
        const auto lo = static_cast<std::size_t>(std::lower_bound(time.begin(), time.end(), a - eps) - time.begin());
        const auto hi = static_cast<std::size_t>(std::upper_bound(time.begin(), time.end(), b + eps) - time.begin());
        const std::size_t count = hi - lo;
        if (count < static_cast<std::size_t>(rules.minSamplesPerWindow)) {
            throw InputError(fmt::format("{}: the window [{}, {}] d holds {} samples, fewer than the {} the rules ask for "
                                         "(sample more often or lengthen window_d)",
                                         label(t), a, b, count, rules.minSamplesPerWindow));
        }
        const std::span<const double> ts(time.data() + lo, count);
        const std::span<const double> ns(t.totalCells.data() + lo, count);

        PhaseWindow win;
        win.start_d = a;
        win.end_d = b;
        win.growthRate_per_d = netGrowthRate(ts, ns);
        double area = 0;
        for (std::size_t i = 1; i < count; ++i) area += 0.5 * (ns[i] + ns[i - 1]) * (ts[i] - ts[i - 1]);
        win.meanCells = area / (ts.back() - ts.front());
        win.endCells = ns.back();

        const double r = win.growthRate_per_d;
        const double nEnd = win.endCells;
        const bool rateKnown = std::isfinite(r);
        const double projected = rateKnown ? nEnd * std::exp(r * rules.horizon_d) : nEnd;
        if (nEnd < rules.eliminationFloor_cells ||
            (rateKnown && r < -rules.eliminationRate_per_d && projected < rules.eliminationFloor_cells)) {
            win.phase = Phase::Elimination;
        } else if (rateKnown && r > rules.escapeRate_per_d &&
                   (nEnd >= rules.detectionLimit_cells || projected >= rules.detectionLimit_cells)) {
            win.phase = Phase::Escape;
        } else {
            win.phase = Phase::Equilibrium;
        }

        if (!out.windows.empty() && out.windows.back().phase != win.phase) {
            PhaseChange change;
            change.time_d = a;
            change.from = out.windows.back().phase;
            change.to = win.phase;
            if (!t.clones.empty()) {
                const std::vector<double> cells = cloneCellsAt(t, a);
                double sum = 0;
                for (double c : cells) sum += c;
                for (std::size_t i = 0; i < t.clones.size(); ++i) {
                    change.composition.push_back({t.clones[i].name, sum > 0 ? cells[i] / sum : 0.0});
                }
            }
            out.changes.push_back(std::move(change));
        }
        out.windows.push_back(win);
    }
    return out;
}

std::vector<CloneFraction> cloneComposition(const TumourTrajectory& t, double time_d) {
    validateShape(t);
    const std::vector<double> f = fractionsAt(t, time_d);
    std::vector<CloneFraction> out;
    out.reserve(f.size());
    for (std::size_t i = 0; i < f.size(); ++i) out.push_back({t.clones[i].name, f[i]});
    return out;
}

std::map<std::string, double> populationTraits(const TumourTrajectory& t, double time_d, const ImmunoeditingRules& rules) {
    checkAll(t, rules);
    const std::vector<double> logs = meanLogTraits(t, fractionsAt(t, time_d), rules);
    std::map<std::string, double> out;
    for (std::size_t k = 0; k < logs.size(); ++k) out[rules.evasiveTraits[k].name] = std::exp(logs[k]);
    return out;
}

double evasionScore(const TumourTrajectory& t, double time_d, const ImmunoeditingRules& rules) {
    checkAll(t, rules);
    return scoreFromMeanLogs(meanLogTraits(t, fractionsAt(t, time_d), rules), rules);
}

EvasionComparison compareEvasion(const TumourTrajectory& t, double start_d, double end_d, const ImmunoeditingRules& rules) {
    checkAll(t, rules);
    if (!(start_d <= end_d)) {
        throw InputError(fmt::format("{}: evasion comparison from {} d to {} d: the start is after the end", label(t),
                                     start_d, end_d));
    }
    const std::vector<double> a = meanLogTraits(t, fractionsAt(t, start_d), rules);
    const std::vector<double> b = meanLogTraits(t, fractionsAt(t, end_d), rules);

    EvasionComparison out;
    out.start_d = start_d;
    out.end_d = end_d;
    out.scoreStart = scoreFromMeanLogs(a, rules);
    out.scoreEnd = scoreFromMeanLogs(b, rules);
    bool anyVaries = false;
    bool allMoved = true;
    for (std::size_t k = 0; k < rules.evasiveTraits.size(); ++k) {
        const EvasiveTrait& e = rules.evasiveTraits[k];
        TraitShift s;
        s.name = e.name;
        s.evasive = e.evasive;
        s.start = std::exp(a[k]);
        s.end = std::exp(b[k]);
        if (e.weight > 0) {
            for (const Clone& c : t.clones) {
                const bool present = std::any_of(c.cells.begin(), c.cells.end(), [](double x) { return x > 0; });
                if (present && std::abs(clampedLog(traitOf(c, e.name), rules)) > rules.enrichmentTolerance) s.varies = true;
            }
        }
        s.movedEvasive = sign(e.evasive) * (b[k] - a[k]) > rules.enrichmentTolerance;
        if (s.varies) {
            anyVaries = true;
            allMoved = allMoved && s.movedEvasive;
        }
        out.traits.push_back(std::move(s));
    }
    out.enriched = anyVaries && allMoved && (out.scoreEnd - out.scoreStart > rules.enrichmentTolerance);
    return out;
}

EvasionComparison compareEvasion(const TumourTrajectory& t, const ImmunoeditingRules& rules) {
    checkAll(t, rules);
    return compareEvasion(t, t.times_d.front(), t.times_d.back(), rules);
}

}  // namespace nkscape::analysis
