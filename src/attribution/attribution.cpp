// Mechanism attribution (include/nkscape/attribution/attribution.hpp, docs/attribution.md): each
// patient of an arm simulated as it is and with every mechanism removed in turn, in parallel over
// patients; paired statistics of the outcomes; the outputs.

#include "nkscape/attribution/attribution.hpp"

#include <Random123/philox.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <mutex>
#include <optional>

#include <boost/math/distributions/binomial.hpp>
#include <fmt/format.h>

#include "nkscape/error.hpp"
#include "nkscape/io/csv.hpp"
#include "nkscape/qsp/engine.hpp"
#include "nkscape/stats/binomial.hpp"
#include "nkscape/version.hpp"
#include "io/parallel_for.hpp"

namespace nkscape::attribution {

namespace {

constexpr std::uint64_t kBootstrapDomain = 0x6174747269627574ULL;  // "attribut": the bootstrap's own key

double unit(std::uint64_t x) { return (static_cast<double>(x >> 11) + 0.5) * 0x1p-53; }

}  // namespace

Outcome outcomeOf(const trial::LoadedTrial& t, const trial::PatientRecord& r) {
    Outcome o;
    o.failed = r.failed;
    o.failure = r.failure;
    if (r.failed) return o;
    o.best = r.best;
    const bool objective = r.best == trial::Response::CR || r.best == trial::Response::PR;
    o.responder = objective && (!t.followUp.recist.criteria.requireConfirmation || r.confirmed);
    o.clinicalBenefit = r.clinicalBenefit;
    o.bestChangePct = r.bestChangePct;
    return o;
}

std::vector<PatientOutcomes> runAttribution(const trial::LoadedTrial& t, const std::vector<Mechanism>& mechanisms, const AttributionOptions& options) {
    if (options.arm >= t.arms.size()) throw InputError(fmt::format("trial '{}' has no arm #{}", t.name, options.arm));
    std::vector<std::uint64_t> mine;
    for (std::int64_t i = options.rank; i < t.patients; i += std::max(1, options.ranks)) mine.push_back(static_cast<std::uint64_t>(i));
    std::vector<std::optional<PatientOutcomes>> results(mine.size());
    const qsp::EngineModel shared(t.base->model);
    std::mutex mutex;  // guards `finished` and the progress callback
    std::size_t finished = 0;
    // Each worker's copy of the model for parameter changes (restored per patient).
    std::vector<std::optional<model::CompiledModel>> scratches(static_cast<std::size_t>(std::max(1, options.threads)));
    io::detail::parallelFor(mine.size(), options.threads, [&](std::size_t k, int w) {
        auto& own = scratches[static_cast<std::size_t>(w)];
        if (!own) own.emplace(t.base->model);
        model::CompiledModel& scratch = *own;
        const trial::PatientDraw draw = trial::drawPatient(t, mine[k]);
        if (!options.asRandomised || t.crossover || draw.arm == options.arm) {
            PatientOutcomes p;
            p.index = mine[k];
            p.outcomes.push_back(outcomeOf(t, trial::simulatePatient(t, shared, draw, options.arm, &scratch)));
            for (const auto& mech : mechanisms) {
                if (p.outcomes.front().failed) {
                    // Nothing to compare with: the patient is left out of every mechanism.
                    p.outcomes.push_back(Outcome{true, "the patient's own simulation failed", trial::Response::NE, false, false, std::nullopt});
                    continue;
                }
                p.outcomes.push_back(outcomeOf(t, trial::simulatePatient(t, shared, draw, options.arm, &scratch, &mech.changes)));
            }
            results[k] = std::move(p);
        }
        const std::lock_guard lock(mutex);
        ++finished;
        if (options.progress) options.progress(finished, mine.size());
    });
    std::vector<PatientOutcomes> out;
    for (auto& r : results)
        if (r) out.push_back(std::move(*r));
    return out;
}

// ---- MPI records ---------------------------------------------------------------------------------

std::string encodePatient(const PatientOutcomes& p) {
    io::Json j;
    j["i"] = p.index;
    io::Json list = io::Json::array();
    for (const auto& o : p.outcomes) {
        io::Json x;
        x["f"] = o.failed;
        if (o.failed) x["why"] = o.failure;
        x["b"] = static_cast<int>(o.best);
        x["r"] = o.responder;
        x["cb"] = o.clinicalBenefit;
        x["c"] = o.bestChangePct ? io::Json(*o.bestChangePct) : io::Json(nullptr);
        list.push_back(std::move(x));
    }
    j["o"] = std::move(list);
    // nlohmann writes doubles with the shortest text that reads back to the same double.
    return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

PatientOutcomes decodePatient(const std::string& line, std::size_t mechanisms) {
    try {
        const auto j = io::Json::parse(line);
        PatientOutcomes p;
        p.index = j.at("i").get<std::uint64_t>();
        for (const auto& x : j.at("o")) {
            Outcome o;
            o.failed = x.at("f").get<bool>();
            if (o.failed) o.failure = x.at("why").get<std::string>();
            const int b = x.at("b").get<int>();
            if (b < 0 || b > static_cast<int>(trial::Response::NE)) throw InputError("bad response");
            o.best = static_cast<trial::Response>(b);
            o.responder = x.at("r").get<bool>();
            o.clinicalBenefit = x.at("cb").get<bool>();
            if (!x.at("c").is_null()) o.bestChangePct = x.at("c").get<double>();
            p.outcomes.push_back(std::move(o));
        }
        if (p.outcomes.size() != mechanisms + 1) throw InputError("wrong number of outcomes");
        return p;
    } catch (const std::exception& e) {
        throw InputError(std::string("not a patient of this attribution: ") + e.what());
    }
}

// ---- statistics ------------------------------------------------------------------------------------

double mcnemarExact(std::int64_t b, std::int64_t c) {
    if (b < 0 || c < 0) throw InputError(fmt::format("McNemar: discordant counts must be >= 0, got {} and {}", b, c));
    const std::int64_t n = b + c;
    if (n == 0) return 1.0;
    const boost::math::binomial_distribution<double> dist(static_cast<double>(n), 0.5);
    return std::min(1.0, 2.0 * boost::math::cdf(dist, static_cast<double>(std::min(b, c))));
}

std::pair<double, double> bootstrapMeanCi(const std::vector<double>& values, std::uint64_t seed, std::uint64_t stream, int resamples) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    if (values.empty() || resamples < 1) return {nan, nan};
    const std::size_t n = values.size();
    const r123::Philox4x64::key_type key = {{seed ^ kBootstrapDomain, stream}};
    std::vector<double> means(static_cast<std::size_t>(resamples));
    for (std::size_t b = 0; b < means.size(); ++b) {
        double sum = 0;
        for (std::size_t j = 0; j < n; j += 4) {
            const r123::Philox4x64::ctr_type ctr = {{b, j / 4, 0, 0}};
            const auto r = r123::Philox4x64()(ctr, key);
            for (std::size_t q = 0; q < 4 && j + q < n; ++q) {
                const auto pick = std::min(n - 1, static_cast<std::size_t>(unit(r[q]) * static_cast<double>(n)));
                sum += values[pick];
            }
        }
        means[b] = sum / static_cast<double>(n);
    }
    std::sort(means.begin(), means.end());
    auto quantile = [&](double p) {  // R's type 7
        const double h = (static_cast<double>(means.size()) - 1) * p;
        const auto lo = static_cast<std::size_t>(std::floor(h));
        const std::size_t hi = std::min(lo + 1, means.size() - 1);
        return means[lo] + (h - static_cast<double>(lo)) * (means[hi] - means[lo]);
    };
    return {quantile(0.025), quantile(0.975)};
}

std::vector<MechanismCost> summarise(const std::vector<Mechanism>& mechanisms, std::vector<PatientOutcomes> patients, std::uint64_t seed) {
    std::sort(patients.begin(), patients.end(), [](const PatientOutcomes& a, const PatientOutcomes& b) { return a.index < b.index; });
    std::vector<MechanismCost> out;
    for (std::size_t k = 0; k < mechanisms.size(); ++k) {
        MechanismCost c;
        c.mechanism = mechanisms[k].name;
        std::int64_t orrWith = 0, orrWithout = 0, cbrWith = 0, cbrWithout = 0, benefitDiscordantUp = 0, benefitDiscordantDown = 0;
        std::vector<double> changes;
        for (const auto& p : patients) {
            if (p.outcomes.size() != mechanisms.size() + 1) throw InternalError("attribution: a patient without an outcome per mechanism");
            const Outcome& with = p.outcomes[0];
            const Outcome& without = p.outcomes[1 + k];
            if (with.failed || without.failed) {
                ++c.failed;
                continue;
            }
            ++c.patients;
            orrWith += with.responder;
            orrWithout += without.responder;
            cbrWith += with.clinicalBenefit;
            cbrWithout += without.clinicalBenefit;
            if (with.responder) {
                ++c.responders;
                c.harmed += !without.responder;
            } else {
                ++c.nonResponders;
                c.rescued += without.responder;
                if (with.bestChangePct && without.bestChangePct) changes.push_back(*without.bestChangePct - *with.bestChangePct);
            }
            if (with.clinicalBenefit) {
                benefitDiscordantDown += !without.clinicalBenefit;
            } else {
                ++c.noBenefit;
                benefitDiscordantUp += without.clinicalBenefit;
            }
        }
        c.benefitGained = benefitDiscordantUp;
        c.benefitLost = benefitDiscordantDown;
        if (c.nonResponders > 0) c.share = stats::clopperPearson(c.rescued, c.nonResponders);
        if (c.noBenefit > 0) c.benefitShare = stats::clopperPearson(c.benefitGained, c.noBenefit);
        c.changePatients = static_cast<std::int64_t>(changes.size());
        if (!changes.empty()) {
            double sum = 0;
            for (double v : changes) sum += v;
            c.meanChangePp = sum / static_cast<double>(changes.size());
            const auto [lo, hi] = bootstrapMeanCi(changes, seed, k);
            c.meanChangeLow = lo;
            c.meanChangeHigh = hi;
        }
        if (c.patients > 0) {
            const auto n = static_cast<double>(c.patients);
            c.orrWith = static_cast<double>(orrWith) / n;
            c.orrWithout = static_cast<double>(orrWithout) / n;
            c.cbrWith = static_cast<double>(cbrWith) / n;
            c.cbrWithout = static_cast<double>(cbrWithout) / n;
        }
        c.orrMcnemarP = mcnemarExact(c.harmed, c.rescued);
        c.cbrMcnemarP = mcnemarExact(c.benefitLost, c.benefitGained);
        out.push_back(std::move(c));
    }
    return out;
}

// ---- budget and outputs ---------------------------------------------------------------------------

io::ResourceEstimate estimateResources(const trial::LoadedTrial& t, std::size_t mechanisms, std::int64_t patients, const std::string& mechanismsFile) {
    io::ResourceEstimate e;
    const double runs = static_cast<double>(patients) * static_cast<double>(mechanisms + 1);
    io::WorkItem w;
    w.what = "simulated patient time";
    w.amount = runs * t.followUp.duration_d;
    w.limit = 1e8;  // the trial command's limit (docs/limits.md): about an hour on two cores
    w.unit = "d";
    w.detail = fmt::format("{} patients x (1 + {} mechanisms) runs x {:g} d of follow-up", io::formatCount(static_cast<double>(patients)),
                           mechanisms, t.followUp.duration_d);
    w.where = model::SourceLocation{t.path, 0, 0};
    w.entity = "[trial]";
    w.key = "patients";
    e.work.push_back(w);
    // Per patient and run a few hundred bytes of outcome; per thread a model copy and the engine.
    e.memoryBytes = runs * 256.0 + 64.0 * 1024 * 1024;
    e.memoryDetail = fmt::format("{} patient outcomes in memory until the outputs are written (mechanisms: {})", io::formatCount(runs), mechanismsFile);
    e.memoryWhere = w.where;
    e.memoryEntity = "[trial]";
    e.memoryKey = "patients";
    return e;
}

namespace {

io::CsvCell optionalCell(std::optional<double> v) { return io::csvOptional(v); }

io::Json proportionJson(const stats::ProportionCi& p, std::int64_t x, std::int64_t n) {
    io::Json j;
    j["count"] = x;
    j["of"] = n;
    if (n == 0) {
        j["rate"] = nullptr;
        j["ci95_low"] = nullptr;
        j["ci95_high"] = nullptr;
    } else {
        j["rate"] = io::jsonNumber(p.proportion);
        j["ci95_low"] = io::jsonNumber(p.low);
        j["ci95_high"] = io::jsonNumber(p.high);
    }
    j["ci_method"] = "exact (Clopper-Pearson)";
    return j;
}

std::string removalKind(Removal::Kind k) {
    switch (k) {
    case Removal::Kind::Parameter: return "parameter";
    case Removal::Kind::Ligand: return "ligand";
    case Removal::Kind::Secretion: return "secretion";
    case Removal::Kind::PopulationCells: return "population cells";
    case Removal::Kind::PopulationInflux: return "population influx";
    }
    return "?";
}

}  // namespace

std::vector<std::filesystem::path> writeAttributionOutputs(io::RunFolder& run, const trial::LoadedTrial& t, const AttributionOptions& options,
                                                           const std::string& mechanismsFile, const std::vector<Mechanism>& mechanisms,
                                                           std::vector<PatientOutcomes> patients, const io::Json& runInfo) {
    std::sort(patients.begin(), patients.end(), [](const PatientOutcomes& a, const PatientOutcomes& b) { return a.index < b.index; });
    const auto costs = summarise(mechanisms, patients, t.seed);

    io::CsvTable table({"mechanism", "patients", "failed", "non_responders", "rescued", "share", "ci95_low", "ci95_high", "mean_change_pp",
                        "mean_change_ci95_low", "mean_change_ci95_high", "change_patients", "responders", "harmed", "orr_with", "orr_without",
                        "mcnemar_p", "no_benefit", "benefit_gained", "benefit_share", "benefit_ci95_low", "benefit_ci95_high", "benefit_lost",
                        "cbr_with", "cbr_without", "cbr_mcnemar_p"});
    for (const auto& c : costs) {
        const bool nr = c.nonResponders > 0, nb = c.noBenefit > 0;
        table.addRow({c.mechanism, c.patients, c.failed, c.nonResponders, c.rescued, nr ? io::CsvCell(c.share.proportion) : io::csvMissing(),
                      nr ? io::CsvCell(c.share.low) : io::csvMissing(), nr ? io::CsvCell(c.share.high) : io::csvMissing(), optionalCell(c.meanChangePp),
                      optionalCell(c.meanChangeLow), optionalCell(c.meanChangeHigh), c.changePatients, c.responders, c.harmed, c.orrWith, c.orrWithout,
                      c.orrMcnemarP, c.noBenefit, c.benefitGained, nb ? io::CsvCell(c.benefitShare.proportion) : io::csvMissing(),
                      nb ? io::CsvCell(c.benefitShare.low) : io::csvMissing(), nb ? io::CsvCell(c.benefitShare.high) : io::csvMissing(), c.benefitLost,
                      c.cbrWith, c.cbrWithout, c.cbrMcnemarP});
    }

    io::CsvTable rows({"patient", "removed", "failed", "best_response", "responder", "clinical_benefit", "best_sld_change_pct"});
    for (const auto& p : patients)
        for (std::size_t k = 0; k < p.outcomes.size(); ++k) {
            const Outcome& o = p.outcomes[k];
            rows.addRow({static_cast<std::int64_t>(p.index), k == 0 ? std::string("none") : mechanisms[k - 1].name, std::int64_t{o.failed},
                         o.failed ? std::string("") : std::string(trial::responseName(o.best)), std::int64_t{o.responder}, std::int64_t{o.clinicalBenefit},
                         io::csvOptional(o.bestChangePct)});
        }

    io::Json s;
    s["nkscape"] = kVersion;
    s["analysis"] = "mechanism attribution";
    s["trial"] = {{"name", t.name}, {"file", t.path}, {"hash", t.fileHash}, {"seed", t.seed}, {"patients_enrolled", t.patients}};
    s["model"] = {{"name", t.base->model.info().name}, {"hash", t.base->model.info().hash}};
    s["arm"] = t.arms[options.arm].name;
    s["patients"] = options.asRandomised ? "the patients randomised to the arm" : "every enrolled patient, given the arm's regimen";
    s["definitions"] = {
        {"non_responder", "no objective response (CR or PR; confirmed if the trial requires confirmation) with every mechanism present"},
        {"rescued", "a non-responder who responds when the mechanism is removed (same draw, same random streams)"},
        {"share", "rescued / non-responders, with the exact (Clopper-Pearson) 95 % CI"},
        {"mean_change_pp", "mean over non-responders of (best % SLD change without the mechanism - with it), percentage points; negative: more shrinkage without it; 95 % percentile bootstrap CI, 2000 resamples keyed by (seed, mechanism)"},
        {"harmed", "a responder who loses the response when the mechanism is removed"},
        {"mcnemar_p", "exact two-sided McNemar test of ORR with vs without the mechanism (discordant pairs: rescued vs harmed)"},
        {"failed", "patients left out of a mechanism's statistics because one of their two runs failed"}};
    io::Json mechs = io::Json::array();
    for (const auto& m : mechanisms) {
        io::Json j;
        j["name"] = m.name;
        j["description"] = m.description;
        j["source"] = m.source;
        j["rationale"] = m.rationale;
        io::Json rem = io::Json::array();
        for (const auto& r : m.removals) {
            io::Json x;
            x["target"] = r.target;
            x["kind"] = removalKind(r.kind);
            if (r.multiply) x["multiply"] = io::jsonNumber(r.value);
            else x["value"] = {{"value", io::jsonNumber(r.value)}, {"unit", r.unit}};
            rem.push_back(std::move(x));
        }
        j["remove"] = std::move(rem);
        mechs.push_back(std::move(j));
    }
    s["mechanisms_file"] = mechanismsFile;
    s["mechanisms"] = std::move(mechs);
    std::int64_t total = 0, failed = 0, responders = 0;
    for (const auto& p : patients) {
        ++total;
        failed += p.outcomes.front().failed;
        responders += !p.outcomes.front().failed && p.outcomes.front().responder;
    }
    s["baseline"] = {{"patients", total}, {"failed", failed}, {"responders", responders},
                     {"objective_response", proportionJson(total - failed > 0 ? stats::clopperPearson(responders, total - failed) : stats::ProportionCi{},
                                                           responders, total - failed)}};
    io::Json res = io::Json::array();
    for (const auto& c : costs) {
        io::Json j;
        j["mechanism"] = c.mechanism;
        j["patients"] = c.patients;
        j["failed"] = c.failed;
        j["rescued_of_non_responders"] = proportionJson(c.share, c.rescued, c.nonResponders);
        j["mean_change_pp"] = {{"mean", io::jsonOptional(c.meanChangePp)}, {"ci95_low", io::jsonOptional(c.meanChangeLow)},
                               {"ci95_high", io::jsonOptional(c.meanChangeHigh)}, {"patients", c.changePatients}};
        j["harmed_of_responders"] = {{"count", c.harmed}, {"of", c.responders}};
        j["orr"] = {{"with", io::jsonNumber(c.orrWith)}, {"without", io::jsonNumber(c.orrWithout)}, {"mcnemar_p", io::jsonNumber(c.orrMcnemarP)}};
        j["benefit_gained_of_no_benefit"] = proportionJson(c.benefitShare, c.benefitGained, c.noBenefit);
        j["cbr"] = {{"with", io::jsonNumber(c.cbrWith)}, {"without", io::jsonNumber(c.cbrWithout)}, {"mcnemar_p", io::jsonNumber(c.cbrMcnemarP)},
                    {"lost", c.benefitLost}};
        res.push_back(std::move(j));
    }
    s["results"] = std::move(res);
    // Why runs failed (the first 100; a failed run leaves its patient out of that mechanism).
    io::Json failures = io::Json::array();
    std::int64_t failedRuns = 0;
    for (const auto& p : patients)
        for (std::size_t k = 0; k < p.outcomes.size(); ++k)
            if (p.outcomes[k].failed && ++failedRuns <= 100)
                failures.push_back({{"patient", p.index}, {"removed", k == 0 ? std::string("none") : mechanisms[k - 1].name}, {"why", p.outcomes[k].failure}});
    s["failed_runs"] = failedRuns;
    s["failures_listed"] = std::move(failures);
    s["run"] = runInfo;

    run.add("attribution.csv", table.str());
    run.add("patients.csv", rows.str());
    run.add("summary.json", io::jsonText(s));
    return run.commit();
}

}  // namespace nkscape::attribution
