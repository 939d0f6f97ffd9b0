// Fitting parameters to calibration targets (include/nkscape/calibration/fit.hpp): residuals,
// the parameter transform, the parallel evaluation, NLopt's global and local stages, and the
// profile likelihood.

#include "nkscape/calibration/fit.hpp"

#include <nlopt.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <cmath>
#include <exception>
#include <limits>
#include <map>
#include <thread>

#include <fmt/format.h>

#include "nkscape/error.hpp"
#include "nkscape/model/model.hpp"

namespace nkscape::calibration {

bool logScale(const Target& t) { return t.observed > 0 && t.low > 0 && t.high > 0 && t.high / t.low > 3.0; }

std::string fitProblem(const Target& t) {
    if (t.statistic == Statistic::NotImplemented) return "not implemented: " + t.notImplemented;
    if (!(t.high > t.low)) return fmt::format("its band [{:g}, {:g}] has no width", t.low, t.high);
    if (t.observed < t.low || t.observed > t.high) return fmt::format("its observed value {:g} lies outside its band [{:g}, {:g}]", t.observed, t.low, t.high);
    return {};
}

std::optional<double> residual(const Target& t, double simulated) {
    if (!std::isfinite(simulated)) return std::nullopt;
    double s = simulated, o = t.observed, lo = t.low, hi = t.high;
    if (logScale(t)) {
        if (!(simulated > 0)) return std::nullopt;
        s = std::log(s), o = std::log(o), lo = std::log(lo), hi = std::log(hi);
    }
    const double d = s - o;
    // The half-width on the side the simulated value lies; an observed value at a band edge
    // borrows the other side's.
    double w = d >= 0 ? hi - o : o - lo;
    if (!(w > 0)) w = d >= 0 ? o - lo : hi - o;
    if (!(w > 0)) return std::nullopt;
    const double r = d / w;
    if (!std::isfinite(r)) return std::nullopt;
    return r;
}

double FreeParameter::toValue(double u) const {
    if (!(u > 0)) return low;  // the bounds exactly: a range check never fails on rounding
    if (u >= 1) return high;
    const double x = log ? std::exp(std::log(low) + u * (std::log(high) - std::log(low))) : low + u * (high - low);
    return std::clamp(x, low, high);
}

double FreeParameter::toUnit(double value) const {
    const double u = log ? (std::log(value) - std::log(low)) / (std::log(high) - std::log(low)) : (value - low) / (high - low);
    return std::clamp(u, 0.0, 1.0);
}

std::vector<FreeParameter> freeParameters(const Evaluator& evaluator) {
    std::vector<FreeParameter> out;
    const auto start = evaluator.baseline();
    const auto& m = evaluator.model();
    for (std::size_t i = 0; i < evaluator.parameters().size(); ++i) {
        const std::string& path = evaluator.parameters()[i];
        const auto r = evaluator.range(i);
        if (!r)
            throw InputError("free parameter '" + path + "' has no plausible `range` in model '" + m.info().name +
                             "'; a fit searches the range, so give the parameter one in the model file (or an overlay's base)");
        if (!(r->second > r->first))
            throw InputError(fmt::format("free parameter '{}' has the range [{:g}, {:g}], which leaves nothing to fit", path, r->first, r->second));
        FreeParameter p;
        p.path = path;
        p.unit = m.parameter(*m.findParameter(path)).internalUnit;
        p.low = r->first;
        p.high = r->second;
        p.log = p.low > 0 && p.high / p.low >= 10.0;
        p.start = start[i];
        out.push_back(std::move(p));
    }
    return out;
}

double objective(const Evaluator& evaluator, std::span<const std::size_t> targets, const std::vector<Evaluation>& evaluations) {
    double sum = 0;
    for (const std::size_t k : targets) {
        const Evaluation& e = evaluations.at(k);
        const auto r = e.ok() ? residual(evaluator.targets().at(k), e.value) : std::nullopt;
        sum += r ? std::min(*r * *r, kFailurePenalty) : kFailurePenalty;
    }
    return sum;
}

namespace {

// Targets of one file run together (the Evaluator runs a scenario or trial once for all its
// targets); files are independent and go to the threads.
std::vector<std::vector<std::size_t>> groupByFile(const Evaluator& evaluator, std::span<const std::size_t> targets) {
    std::vector<std::vector<std::size_t>> groups;
    std::map<std::string, std::size_t> byFile;
    for (const std::size_t k : targets) {
        const std::string& file = evaluator.targets().at(k).file;
        auto [it, fresh] = byFile.emplace(file, groups.size());
        if (fresh) groups.emplace_back();
        groups[it->second].push_back(k);
    }
    return groups;
}

}  // namespace

struct EvaluationPool::Impl {
    const Evaluator& evaluator;
    int threads;
    std::vector<std::thread> workers;
    std::mutex mutex;
    std::condition_variable wake, finished;
    std::uint64_t generation = 0;
    bool stop = false;
    // The current job.
    std::span<const double> values;
    std::vector<std::vector<std::size_t>> groups;
    std::vector<Evaluation>* out = nullptr;
    std::vector<std::exception_ptr> errors;
    int inner = 1;
    std::atomic<std::size_t> next{0};
    std::size_t busy = 0;

    Impl(const Evaluator& e, int t) : evaluator(e), threads(t) {}

    void work(std::size_t g) {
        try {
            const auto r = evaluator.evaluate(values, groups[g], inner);
            for (const std::size_t k : groups[g]) (*out)[k] = r[k];
        } catch (...) {
            errors[g] = std::current_exception();
        }
    }
    void drain() {
        for (std::size_t g; (g = next.fetch_add(1)) < groups.size();) work(g);
    }
    void loop() {
        std::uint64_t seen = 0;
        for (;;) {
            {
                std::unique_lock lock(mutex);
                wake.wait(lock, [&] { return stop || generation != seen; });
                if (stop) return;
                seen = generation;
            }
            drain();
            {
                std::lock_guard lock(mutex);
                if (--busy == 0) finished.notify_one();
            }
        }
    }
};

EvaluationPool::EvaluationPool(const Evaluator& evaluator, int threads) : impl_(std::make_unique<Impl>(evaluator, std::max(1, threads))) {
    for (int w = 1; w < impl_->threads; ++w) impl_->workers.emplace_back([this] { impl_->loop(); });
}

EvaluationPool::~EvaluationPool() {
    {
        std::lock_guard lock(impl_->mutex);
        impl_->stop = true;
    }
    impl_->wake.notify_all();
    for (auto& t : impl_->workers) t.join();
}

std::vector<Evaluation> EvaluationPool::evaluate(std::span<const double> values, std::span<const std::size_t> targets) {
    Impl& p = *impl_;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    std::vector<Evaluation> out(p.evaluator.targets().size(), Evaluation{nan, "not requested"});
    p.groups = groupByFile(p.evaluator, targets);
    p.values = values;
    p.out = &out;
    p.errors.assign(p.groups.size(), nullptr);
    // Threads left over go inside the trials (whose results do not depend on the count).
    p.inner = std::max(1, p.threads / std::max(1, static_cast<int>(p.groups.size())));
    p.next = 0;
    if (p.workers.empty() || p.groups.size() <= 1) {
        p.drain();
    } else {
        {
            std::lock_guard lock(p.mutex);
            p.busy = p.workers.size();
            ++p.generation;
        }
        p.wake.notify_all();
        p.drain();
        std::unique_lock lock(p.mutex);
        p.finished.wait(lock, [&] { return p.busy == 0; });
    }
    for (const auto& e : p.errors)  // the first file's error, whatever thread met it first
        if (e) std::rethrow_exception(e);
    return out;
}

std::vector<Evaluation> evaluateParallel(const Evaluator& evaluator, std::span<const double> values, std::span<const std::size_t> targets,
                                         int threads) {
    EvaluationPool pool(evaluator, threads);
    return pool.evaluate(values, targets);
}

namespace {

std::string resultName(nlopt::result r) {
    switch (r) {
    case nlopt::SUCCESS: return "success";
    case nlopt::STOPVAL_REACHED: return "stopval reached";
    case nlopt::FTOL_REACHED: return "ftol reached";
    case nlopt::XTOL_REACHED: return "xtol reached";
    case nlopt::MAXEVAL_REACHED: return "evaluation budget reached";
    case nlopt::MAXTIME_REACHED: return "time limit reached";
    case nlopt::ROUNDOFF_LIMITED: return "roundoff limited";
    default: return fmt::format("nlopt result {}", static_cast<int>(r));
    }
}

// The objective as NLopt sees it: points in [0, 1]^n, every evaluation counted and the best kept.
// An exception (a bad value, an I/O error) stops NLopt and is rethrown after it returns.
class Objective {
public:
    Objective(const Evaluator& e, const std::vector<std::size_t>& targets, const std::vector<FreeParameter>& params, const EvaluateFn& fn,
              const std::function<void()>& tick)
        : e_(e), targets_(targets), params_(params), fn_(fn), tick_(tick) {}

    // Objective at `values` (internal units); records the best.
    double at(const std::vector<double>& values, std::int64_t& counter) {
        const auto evs = fn_(values);
        const double f = objective(e_, targets_, evs);
        ++counter;
        if (tick_) tick_();
        if (!best_ || f < bestF_) {
            best_ = true;
            bestF_ = f;
            bestValues_ = values;
            bestEvals_ = evs;
        }
        return f;
    }
    [[nodiscard]] std::vector<double> values(const std::vector<double>& u, const std::vector<std::size_t>& which, const std::vector<double>& base) const {
        std::vector<double> v = base;
        for (std::size_t j = 0; j < which.size(); ++j) v[which[j]] = params_[which[j]].toValue(u[j]);
        return v;
    }
    double bestF() const { return bestF_; }
    const std::vector<double>& bestValues() const { return bestValues_; }
    const std::vector<Evaluation>& bestEvals() const { return bestEvals_; }
    void resetBest() { best_ = false; }

private:
    const Evaluator& e_;
    const std::vector<std::size_t>& targets_;
    const std::vector<FreeParameter>& params_;
    const EvaluateFn& fn_;
    const std::function<void()>& tick_;
    bool best_ = false;
    double bestF_ = 0;
    std::vector<double> bestValues_;
    std::vector<Evaluation> bestEvals_;
};

// Minimises over the parameters `which` (the others fixed at `base`) from `u0` with `algorithm`
// and `budget` evaluations. Returns the stop reason. The best point is in `obj`.
std::string minimise(Objective& obj, nlopt::algorithm algorithm, const std::vector<std::size_t>& which, const std::vector<double>& base,
                     std::vector<double> u0, std::int64_t budget, std::int64_t& counter, unsigned population = 0) {
    if (budget <= 0 || which.empty()) return "no budget";
    nlopt::opt opt(algorithm, static_cast<unsigned>(which.size()));
    opt.set_lower_bounds(std::vector<double>(which.size(), 0.0));
    opt.set_upper_bounds(std::vector<double>(which.size(), 1.0));
    opt.set_maxeval(static_cast<int>(std::min<std::int64_t>(budget, std::numeric_limits<int>::max())));
    if (population) opt.set_population(population);
    if (algorithm != nlopt::GN_CRS2_LM) {
        opt.set_xtol_abs(1e-6);  // in [0, 1]: a millionth of the range (of its logarithm)
        opt.set_ftol_abs(1e-9);
        opt.set_initial_step(std::vector<double>(which.size(), 0.1));
    }
    std::exception_ptr failure;
    struct Data {
        Objective* obj;
        const std::vector<std::size_t>* which;
        const std::vector<double>* base;
        std::int64_t* counter;
        std::exception_ptr* failure;
        nlopt::opt* opt;
    } data{&obj, &which, &base, &counter, &failure, &opt};
    opt.set_min_objective(
        [](const std::vector<double>& u, std::vector<double>&, void* p) -> double {
            auto* d = static_cast<Data*>(p);
            try {
                return d->obj->at(d->obj->values(u, *d->which, *d->base), *d->counter);
            } catch (...) {
                *d->failure = std::current_exception();
                d->opt->force_stop();
                return kFailurePenalty * 1e3;
            }
        },
        &data);
    for (double& x : u0) x = std::clamp(x, 0.0, 1.0);
    double f = 0;
    std::string stop;
    try {
        stop = resultName(opt.optimize(u0, f));
    } catch (const nlopt::roundoff_limited&) {
        stop = "roundoff limited";
    } catch (const nlopt::forced_stop&) {
        stop = "forced stop";
    }
    if (failure) std::rethrow_exception(failure);
    return stop;
}

nlopt::algorithm localAlgorithm(std::size_t n) { return n >= 2 ? nlopt::LN_BOBYQA : nlopt::LN_SBPLX; }
std::string localName(std::size_t n) { return n >= 2 ? "LN_BOBYQA" : "LN_SBPLX"; }

}  // namespace

FitResult fit(const Evaluator& evaluator, std::vector<std::size_t> targets, const FitOptions& options) {
    if (options.threads < 1) throw InputError("fit: threads must be >= 1");
    if (options.maxEvaluations < 2) throw InputError(fmt::format("fit: the evaluation budget must be >= 2, got {}", options.maxEvaluations));
    if (options.profilePoints == 1 || options.profilePoints == 2 || options.profilePoints < 0)
        throw InputError(fmt::format("fit: a profile needs 0 (none) or at least 3 points, got {}", options.profilePoints));
    if (targets.empty()) throw InputError("fit: no target to fit");
    for (const std::size_t k : targets) {
        const Target& t = evaluator.targets().at(k);
        if (const std::string why = fitProblem(t); !why.empty()) throw InputError("fit: target '" + t.id + "' cannot be fitted: " + why);
    }
    FitResult res;
    res.parameters = freeParameters(evaluator);
    res.targets = targets;
    res.seed = options.seed;
    const std::size_t n = res.parameters.size();
    if (n == 0) throw InputError("fit: no free parameter");
    std::optional<EvaluationPool> pool;
    if (!options.evaluate) pool.emplace(evaluator, options.threads);
    const EvaluateFn fn = options.evaluate ? options.evaluate : EvaluateFn([&](std::span<const double> v) { return pool->evaluate(v, targets); });
    std::size_t done = 0;
    std::size_t planned = static_cast<std::size_t>(options.maxEvaluations) + 1 +
                          static_cast<std::size_t>(options.profilePoints) * n * static_cast<std::size_t>(n > 1 ? options.profileEvaluationsPerPoint : 1);
    const std::function<void()> tick = [&] {
        ++done;
        if (options.progress) options.progress(done, std::max(done, planned));
    };
    Objective obj(evaluator, targets, res.parameters, fn, tick);

    // Before: the model's own values, exactly.
    std::vector<double> start(n);
    for (std::size_t i = 0; i < n; ++i) start[i] = res.parameters[i].start;
    std::int64_t startCount = 0;
    res.objectiveBefore = obj.at(start, startCount);
    const std::vector<Evaluation> before = obj.bestEvals();

    std::vector<std::size_t> all(n);
    std::vector<double> u0(n);
    for (std::size_t i = 0; i < n; ++i) all[i] = i, u0[i] = res.parameters[i].toUnit(start[i]);
    // Global: CRS2 with local mutation, seeded; about 60 % of the budget, a population small
    // enough to leave it generations to evolve.
    const std::int64_t budget = options.maxEvaluations - 1;
    const std::int64_t globalBudget = std::max<std::int64_t>(1, budget * 3 / 5);
    const auto population = static_cast<unsigned>(std::clamp<std::int64_t>(globalBudget / 3, static_cast<std::int64_t>(n) + 2, 10 * static_cast<std::int64_t>(n + 1)));
    nlopt::srand(options.seed);
    res.globalAlgorithm = fmt::format("GN_CRS2_LM (population {})", population);
    res.globalStop = minimise(obj, nlopt::GN_CRS2_LM, all, start, u0, globalBudget, res.evaluationsGlobal, population);
    // Local polish from the best point so far.
    std::vector<double> ub(n);
    for (std::size_t i = 0; i < n; ++i) ub[i] = res.parameters[i].toUnit(obj.bestValues()[i]);
    res.localAlgorithm = localName(n);
    res.localStop = minimise(obj, localAlgorithm(n), all, start, ub, budget - res.evaluationsGlobal, res.evaluationsLocal);
    res.evaluationsGlobal += startCount;
    res.fitted = obj.bestValues();
    res.objectiveAfter = obj.bestF();
    const std::vector<Evaluation> after = obj.bestEvals();
    for (const std::size_t k : targets) {
        TargetFit tf;
        tf.target = k;
        tf.before = before.at(k);
        tf.after = after.at(k);
        const Target& t = evaluator.targets().at(k);
        if (tf.before.ok()) tf.residualBefore = residual(t, tf.before.value);
        if (tf.after.ok()) tf.residualAfter = residual(t, tf.after.value);
        res.table.push_back(std::move(tf));
    }

    // Profiles: each parameter on a grid across its range, the others re-optimised locally,
    // warm-started from the neighbouring point (outward from the fitted value).
    if (options.profilePoints >= 3) {
        const auto m = static_cast<std::size_t>(options.profilePoints);
        double fBest = res.objectiveAfter;
        for (std::size_t i = 0; i < n; ++i) {
            Profile pr;
            pr.parameter = i;
            pr.points.resize(m);
            std::vector<std::size_t> others;
            for (std::size_t j = 0; j < n; ++j)
                if (j != i) others.push_back(j);
            const double uFit = res.parameters[i].toUnit(res.fitted[i]);
            const auto centre = static_cast<std::size_t>(std::lround(uFit * static_cast<double>(m - 1)));
            auto solve = [&](std::size_t g, const std::vector<double>& warm) {
                std::vector<double> base = warm;
                base[i] = res.parameters[i].toValue(static_cast<double>(g) / static_cast<double>(m - 1));
                obj.resetBest();
                (void)obj.at(base, res.evaluationsProfile);  // the warm start itself
                if (!others.empty()) {
                    std::vector<double> uo;
                    for (const std::size_t j : others) uo.push_back(res.parameters[j].toUnit(base[j]));
                    (void)minimise(obj, localAlgorithm(others.size()), others, base, uo, options.profileEvaluationsPerPoint - 1, res.evaluationsProfile);
                }
                pr.points[g] = ProfilePoint{base[i], obj.bestF(), obj.bestValues()};
            };
            solve(centre, res.fitted);
            for (std::size_t g = centre + 1; g < m; ++g) solve(g, pr.points[g - 1].others);
            for (std::size_t g = centre; g-- > 0;) solve(g, pr.points[g + 1].others);
            for (const auto& p : pr.points) fBest = std::min(fBest, p.objective);
            res.profiles.push_back(std::move(pr));
        }
        // Δ against the best objective found anywhere (a profile point may beat the fit).
        for (auto& pr : res.profiles) {
            const std::size_t i = pr.parameter;
            const double xFit = res.fitted[i];
            const double dFit = res.objectiveAfter - fBest;
            for (const auto& p : pr.points) pr.maxDelta = std::max(pr.maxDelta, p.objective - fBest);
            // Walk outward from the fit; the first point past the threshold bounds the interval,
            // interpolated linearly (in the transformed coordinate) from the previous point.
            const auto& par = res.parameters[i];
            auto crossing = [&](bool up) -> std::optional<double> {
                double prevU = par.toUnit(xFit), prevD = dFit;
                std::vector<const ProfilePoint*> side;
                for (const auto& p : pr.points)
                    if (up ? p.value > xFit : p.value < xFit) side.push_back(&p);
                if (!up) std::reverse(side.begin(), side.end());
                for (const ProfilePoint* p : side) {
                    const double d = p->objective - fBest, u = par.toUnit(p->value);
                    if (d >= pr.threshold) {
                        const double f = d > prevD ? (pr.threshold - prevD) / (d - prevD) : 1.0;
                        return par.toValue(prevU + std::clamp(f, 0.0, 1.0) * (u - prevU));
                    }
                    prevU = u, prevD = d;
                }
                return std::nullopt;
            };
            pr.limitLow = crossing(false);
            pr.limitHigh = crossing(true);
            pr.crossedLow = pr.limitLow.has_value();
            pr.crossedHigh = pr.limitHigh.has_value();
            // Flat: the objective moves by less than 1/384 of the threshold across the range.
            pr.verdict = pr.maxDelta < 0.01                     ? "structurally flat"
                         : pr.crossedLow && pr.crossedHigh      ? "identifiable"
                                                                : "practically non-identifiable";
        }
    }
    return res;
}

namespace {
std::string tomlString(const std::string& s) {
    std::string o = "\"";
    for (const char c : s) {
        if (c == '"' || c == '\\') o += '\\', o += c;
        else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) o += fmt::format("\\u{:04X}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        else o += c;
    }
    return o + "\"";
}
}  // namespace

std::string overlayToml(const FitResult& r, const Evaluator& evaluator, const std::string& basePath) {
    std::string ids;
    for (const std::size_t k : r.targets) ids += (ids.empty() ? "" : ", ") + evaluator.targets().at(k).id;
    const std::string source = fmt::format("fit: {} (nkscape calibrate, seed {})", ids, r.seed);
    std::string out;
    out += "# A model overlay written by `nkscape calibrate` (docs/calibration.md, \"Fitting: nkscape calibrate\").\n";
    out += fmt::format("# Objective (sum of squared band residuals) {} before, {} after; {} evaluations.\n", r.objectiveBefore, r.objectiveAfter,
                       r.evaluationsGlobal + r.evaluationsLocal);
    out += "[overlay]\n";
    out += "base = " + tomlString(basePath) + "\n";
    out += "description = " + tomlString(fmt::format("{} with {} parameter{} fitted to {}", evaluator.model().info().name, r.parameters.size(),
                                                     r.parameters.size() == 1 ? "" : "s", ids)) +
           "\n";
    for (std::size_t i = 0; i < r.parameters.size(); ++i) {
        const auto& p = r.parameters[i];
        std::string note = fmt::format("range [{}, {}] {} ({} scale); model value {}", p.low, p.high, p.unit, p.log ? "log" : "linear", p.start);
        for (const auto& pr : r.profiles)
            if (pr.parameter == i)
                note += fmt::format("; profile: {}, 95 % limits {} to {}", pr.verdict, pr.limitLow ? fmt::format("{:.6g}", *pr.limitLow) : "none",
                                    pr.limitHigh ? fmt::format("{:.6g}", *pr.limitHigh) : "none");
        out += "\n[[set]]\n";
        out += "path = " + tomlString(p.path) + "\n";
        out += fmt::format("value = {}\n", r.fitted[i]);
        out += "unit = " + tomlString(p.unit) + "\n";
        out += "source = " + tomlString(source) + "\n";
        out += "note = " + tomlString(note) + "\n";
    }
    return out;
}

}  // namespace nkscape::calibration
