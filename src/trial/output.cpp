// A trial's outputs (docs/trials.md, "Outputs"): patients.csv, arms.json, km.csv, waterfall.csv,
// spider.csv and summary.json, through one io::RunFolder (whole or not at all). Everything but
// summary.json's "run" block is a function of the records alone, so the files are byte-identical
// for any thread or rank count.

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "nkscape/error.hpp"
#include "nkscape/io/csv.hpp"
#include "nkscape/stats/binomial.hpp"
#include "nkscape/stats/survival.hpp"
#include "nkscape/trial/trial.hpp"
#include "nkscape/version.hpp"

namespace nkscape::trial {

namespace {

using io::Json;

Json proportion(std::int64_t x, std::int64_t n) {
    Json j;
    j["count"] = x;
    j["of"] = n;
    j["ci_method"] = "exact (Clopper-Pearson)";
    if (n == 0) {  // no patient: no rate
        j["rate"] = nullptr;
        j["ci95_low"] = nullptr;
        j["ci95_high"] = nullptr;
        return j;
    }
    const auto ci = stats::clopperPearson(x, n);
    j["rate"] = io::jsonNumber(ci.proportion);
    j["ci95_low"] = io::jsonNumber(ci.low);
    j["ci95_high"] = io::jsonNumber(ci.high);
    return j;
}

Json median(const stats::KmCurve& c) {
    Json j;
    // null: not reached within the follow-up (the curve or its band stays above 0.5).
    j["median_d"] = io::jsonOptional(c.median.time);
    j["ci95_low_d"] = io::jsonOptional(c.median.ciLow);
    j["ci95_high_d"] = io::jsonOptional(c.median.ciHigh);
    j["events"] = c.events;
    j["subjects"] = c.subjects;
    return j;
}

struct Endpoint {
    std::string name;
    double PatientRecord::*time;
    bool PatientRecord::*event;
};
const Endpoint kEndpoints[] = {{"PFS", &PatientRecord::pfs_d, &PatientRecord::pfsEvent}, {"OS", &PatientRecord::os_d, &PatientRecord::death}};

stats::SurvivalGroup group(const std::vector<PatientRecord>& records, std::size_t arm, const std::string& name, const Endpoint& e) {
    stats::SurvivalGroup g;
    g.name = name;
    for (const auto& r : records)
        if (r.arm == arm && !r.failed) g.observations.push_back({r.*(e.time), r.*(e.event)});
    return g;
}

std::string yesNo(bool b) { return b ? "1" : "0"; }

}  // namespace

io::Json summariseArms(const LoadedTrial& t, const std::vector<PatientRecord>& records) {
    Json arms = Json::array();
    for (std::size_t a = 0; a < t.arms.size(); ++a) {
        std::int64_t n = 0, failed = 0, evaluable = 0, screenedOut = 0, clamped = 0, cured = 0;
        std::int64_t counts[5] = {0, 0, 0, 0, 0};
        std::int64_t confirmedResponses = 0, benefit = 0;
        for (const auto& r : records) {
            if (r.arm != a) continue;
            ++n;
            screenedOut += r.draw.screened - 1;
            clamped += r.draw.clamped ? 1 : 0;
            if (r.failed) {
                ++failed;
                continue;
            }
            evaluable += r.evaluable ? 1 : 0;
            ++counts[static_cast<int>(r.best)];
            confirmedResponses += (r.best == Response::CR || r.best == Response::PR) && r.confirmed ? 1 : 0;
            benefit += r.clinicalBenefit ? 1 : 0;
            cured += r.cured ? 1 : 0;
        }
        const std::int64_t ok = n - failed;  // every simulated patient is in the denominator (intention to treat)
        const bool confirm = t.followUp.recist.criteria.requireConfirmation;
        const std::int64_t responders = confirm ? confirmedResponses : counts[0] + counts[1];
        Json j;
        j["arm"] = t.arms[a].name;
        j["patients"] = n;
        j["failed"] = failed;
        j["evaluable"] = evaluable;
        j["screen_failures"] = screenedOut;
        j["patients_with_clamped_draws"] = clamped;
        j["best_response"] = {{"CR", counts[0]}, {"PR", counts[1]}, {"SD", counts[2]}, {"PD", counts[3]}, {"NE", counts[4]}};
        j["objective_response"] = proportion(responders, ok);
        j["objective_response"]["confirmation_required"] = confirm;
        j["disease_control"] = proportion(counts[0] + counts[1] + counts[2], ok);
        j["clinical_benefit"] = proportion(benefit, ok);
        j["cured"] = proportion(cured, ok);
        for (const auto& e : kEndpoints) {
            const auto g = group(records, a, t.arms[a].name, e);
            if (g.observations.empty()) {
                j[e.name] = nullptr;
                continue;
            }
            j[e.name] = median(stats::kaplanMeier(g, {}, t.name));
        }
        // Duration of response among responders.
        stats::SurvivalGroup dor;
        dor.name = t.arms[a].name;
        for (const auto& r : records)
            if (r.arm == a && !r.failed && r.dor_d) dor.observations.push_back({*r.dor_d, r.dorEvent});
        j["duration_of_response"] = dor.observations.empty() ? Json(nullptr) : median(stats::kaplanMeier(dor, {}, t.name));
        arms.push_back(j);
    }
    // Each arm against the first (the reference): log-rank and Cox (Efron ties) for PFS and OS.
    Json comparisons = Json::array();
    for (std::size_t a = 1; a < t.arms.size(); ++a) {
        Json c;
        c["arm"] = t.arms[a].name;
        c["reference"] = t.arms[0].name;
        for (const auto& e : kEndpoints) {
            stats::SurvivalData data;
            data.source = t.name;
            data.groups = {group(records, 0, t.arms[0].name, e), group(records, a, t.arms[a].name, e)};
            Json x;
            try {
                const auto lr = stats::logRank(data);
                x["logrank_chisq"] = io::jsonNumber(lr.chiSquare);
                x["logrank_p"] = io::jsonNumber(lr.pValue);
            } catch (const InputError& err) {
                x["logrank_chisq"] = nullptr;
                x["logrank_p"] = nullptr;
                x["logrank_not_estimable"] = err.what();
            }
            try {
                const auto cox = stats::coxPhTwoGroups(data);
                x["hazard_ratio"] = io::jsonNumber(cox.hazardRatio);
                x["hazard_ratio_ci95_low"] = io::jsonNumber(cox.hrLow);
                x["hazard_ratio_ci95_high"] = io::jsonNumber(cox.hrHigh);
                x["cox_ties"] = "efron";
                x["cox_wald_p"] = io::jsonNumber(cox.waldP);
            } catch (const InputError& err) {
                x["hazard_ratio"] = nullptr;
                x["hazard_ratio_ci95_low"] = nullptr;
                x["hazard_ratio_ci95_high"] = nullptr;
                x["hazard_ratio_not_estimable"] = err.what();
            }
            c[e.name] = x;
        }
        comparisons.push_back(c);
    }
    Json out;
    out["trial"] = t.name;
    out["registry"] = t.registry;
    out["design"] = t.crossover ? "crossover" : "parallel";
    out["ci_note"] = "proportions: exact Clopper-Pearson 95 % CIs; medians: Kaplan-Meier with log-transform (R's default) Greenwood-based 95 % CIs; "
                     "hazard ratios: Cox with Efron ties, Wald 95 % CIs";
    out["arms"] = arms;
    out["comparisons"] = comparisons;
    return out;
}

std::vector<std::filesystem::path> writeTrialOutputs(io::RunFolder& run, const LoadedTrial& t, const std::vector<PatientRecord>& records,
                                                     const io::Json& runInfo, std::size_t spiderPatients) {
    // ---- patients.csv --------------------------------------------------------------------------
    std::vector<std::string> cols = {"patient", "arm", "subtype", "screened"};
    for (const auto& a : t.attributes) cols.push_back(a.name);
    for (const auto& b : t.biomarkers) cols.push_back(b.name);
    for (const auto& p : t.priors) cols.push_back(p.name + " [" + p.unit + "]");
    for (const char* c : {"clamped", "status", "failure", "solver_attempts", "lesions", "baseline_cells", "baseline_sld_mm", "evaluable",
                          "best_response", "confirmed", "clinical_benefit", "best_change_pct", "pfs_d", "pfs_event", "os_d", "death", "dor_d",
                          "dor_event", "cured"})
        cols.push_back(c);
    io::CsvTable patients(cols);
    const auto& m = t.base->model;
    for (const auto& r : records) {
        std::vector<io::CsvCell> row = {static_cast<std::int64_t>(r.index), t.arms[r.arm].name,
                                        m.entities(model::Kind::CellType)[r.draw.subtype].name, r.draw.screened};
        for (const auto& s : r.draw.attributes) row.emplace_back(s);
        for (const auto& s : r.draw.biomarkers) row.emplace_back(s.empty() ? io::csvMissing() : io::CsvCell(s));
        for (double v : r.draw.values) row.push_back(std::isnan(v) ? io::csvMissing() : io::CsvCell(v));
        row.emplace_back(yesNo(r.draw.clamped));
        row.emplace_back(std::string(r.failed ? "failed" : "ok"));
        row.emplace_back(r.failure);
        row.emplace_back(static_cast<std::int64_t>(r.attempts));
        row.emplace_back(static_cast<std::int64_t>(r.lesions));
        row.emplace_back(r.baselineCells);
        if (r.failed) {
            for (int k = 0; k < 13; ++k) row.push_back(io::csvMissing());
        } else {
            row.emplace_back(r.baselineSld_mm);
            row.emplace_back(yesNo(r.evaluable));
            row.emplace_back(std::string(responseName(r.best)));
            row.emplace_back(yesNo(r.confirmed));
            row.emplace_back(yesNo(r.clinicalBenefit));
            row.push_back(io::csvOptional(r.bestChangePct));
            row.emplace_back(r.pfs_d);
            row.emplace_back(yesNo(r.pfsEvent));
            row.emplace_back(r.os_d);
            row.emplace_back(yesNo(r.death));
            row.push_back(io::csvOptional(r.dor_d));
            row.push_back(r.dor_d ? io::CsvCell(yesNo(r.dorEvent)) : io::csvMissing());
            row.emplace_back(yesNo(r.cured));
        }
        patients.addRow(std::move(row));
    }

    // ---- km.csv ----------------------------------------------------------------------------------
    io::CsvTable km({"endpoint", "arm", "time_d", "n_risk", "n_event", "n_censor", "survival", "std_err", "ci_low", "ci_high"});
    for (const auto& e : kEndpoints)
        for (std::size_t a = 0; a < t.arms.size(); ++a) {
            const auto g = group(records, a, t.arms[a].name, e);
            if (g.observations.empty()) continue;
            const auto c = stats::kaplanMeier(g, {}, t.name);
            km.addRow({e.name, t.arms[a].name, 0.0, static_cast<std::int64_t>(c.subjects), std::int64_t{0}, std::int64_t{0}, 1.0, 0.0, 1.0, 1.0});
            for (const auto& row : c.rows)
                km.addRow({e.name, t.arms[a].name, row.time, static_cast<std::int64_t>(row.nRisk), static_cast<std::int64_t>(row.nEvent),
                           static_cast<std::int64_t>(row.nCensor), row.survival, io::csvOptional(row.stdErr), io::csvOptional(row.ciLow),
                           io::csvOptional(row.ciHigh)});
        }

    // ---- waterfall.csv: best SLD change, sorted from largest increase to deepest response --------
    io::CsvTable waterfall({"arm", "rank", "patient", "best_change_pct", "best_response"});
    for (std::size_t a = 0; a < t.arms.size(); ++a) {
        std::vector<const PatientRecord*> rs;
        for (const auto& r : records)
            if (r.arm == a && !r.failed && r.bestChangePct) rs.push_back(&r);
        std::stable_sort(rs.begin(), rs.end(), [](const PatientRecord* x, const PatientRecord* y) { return *x->bestChangePct > *y->bestChangePct; });
        std::int64_t rank = 0;
        for (const auto* r : rs)
            waterfall.addRow({t.arms[a].name, ++rank, static_cast<std::int64_t>(r->index), *r->bestChangePct, std::string(responseName(r->best))});
    }

    // ---- spider.csv: SLD at each assessment, the first `spiderPatients` patients of each arm -----
    io::CsvTable spider({"arm", "patient", "time_d", "sld_mm", "change_pct"});
    std::vector<std::size_t> shown(t.arms.size(), 0);
    for (const auto& r : records) {
        if (r.failed || r.sld_mm.empty() || shown[r.arm] >= spiderPatients) continue;
        ++shown[r.arm];
        for (std::size_t k = 0; k < r.sld_mm.size(); ++k) {
            const std::optional<double> change =
                r.baselineSld_mm > 0 ? std::optional<double>(100.0 * (r.sld_mm[k] - r.baselineSld_mm) / r.baselineSld_mm) : std::nullopt;
            spider.addRow({t.arms[r.arm].name, static_cast<std::int64_t>(r.index), r.assessmentDays[k], r.sld_mm[k], io::csvOptional(change)});
        }
    }

    // ---- summary.json ------------------------------------------------------------------------
    Json s;
    s["nkscape_version"] = std::string(kVersion);
    s["trial"] = {{"path", t.path}, {"name", t.name}, {"registry", t.registry}, {"description", t.description}, {"modelled", t.modelled},
                  {"published_result", t.reference}};
    s["inputs"] = {{"base_scenario", t.baseScenarioFile}, {"input_hash", t.fileHash}, {"model", t.base->model.info().name},
                   {"model_hash", t.base->model.info().hash}, {"seed", t.seed}, {"patients", t.patients},
                   {"design", t.crossover ? "crossover" : "parallel"}};
    s["follow_up"] = {{"duration_d", io::jsonNumber(t.followUp.duration_d)}, {"assessment_interval_d", io::jsonNumber(t.followUp.assessmentInterval_d)},
                      {"lethal_burden_cells", io::jsonNumber(t.followUp.lethalBurden_cells)},
                      {"cell_density_per_cm3", io::jsonNumber(t.followUp.recist.geometry.cellDensity_per_cm3)},
                      {"confirmation", t.followUp.recist.criteria.requireConfirmation},
                      {"measurement_cv", io::jsonNumber(t.followUp.recist.error.cv)}};
    std::int64_t failed = 0;
    Json failures = Json::array();
    for (const auto& r : records)
        if (r.failed) {
            ++failed;
            if (failures.size() < 100) failures.push_back({{"patient", r.index}, {"arm", t.arms[r.arm].name}, {"reason", r.failure}});
        }
    s["patient_runs"] = records.size();
    s["failed"] = failed;
    s["failures_listed"] = failures;
    s["inclusion"] = Json::array();
    for (const auto& inc : t.inclusion) s["inclusion"].push_back(inc.text);
    // [[match]]: goodness of fit of the enrolled population to each observed distribution,
    // before (plausible patients) and after selection.
    if (!t.matches.empty()) s["population_match"] = matchReport(t, records);
    s["run"] = runInfo;

    run.add("patients.csv", patients.str());
    run.add("arms.json", io::jsonText(summariseArms(t, records)));
    run.add("km.csv", km.str());
    run.add("waterfall.csv", waterfall.str());
    run.add("spider.csv", spider.str());
    run.add("summary.json", io::jsonText(s));
    return run.commit();
}

}  // namespace nkscape::trial
