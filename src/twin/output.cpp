// The twin's outputs (docs/twin.md, "Outputs"): posterior.csv, ranking.csv, fit.csv and
// summary.json through one io::RunFolder. Everything but summary.json's "run" block is a function
// of the inputs, the options and the seed, so the files are byte-identical for any thread count.

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "nkscape/error.hpp"
#include "nkscape/io/csv.hpp"
#include "nkscape/twin/twin.hpp"
#include "nkscape/version.hpp"

namespace nkscape::twin {

namespace {

/// The unit of prior `p`'s value in posterior.csv: the target's internal unit ("1" for a multiplier).
std::string valueUnit(const trial::LoadedTrial& t, const trial::Prior& p, model::Index subtype) {
    using K = trial::PriorTarget::Kind;
    switch (p.target.kind) {
    case K::Parameter:
        if (p.target.multiply) return "1";
        {
            std::string path = p.target.parameterPath;
            const std::string name = t.base->model.entities(model::Kind::CellType)[subtype].name;
            for (std::size_t at; (at = path.find("{subtype}")) != std::string::npos;) path.replace(at, 9, name);
            if (auto id = t.base->model.findParameter(path)) return t.base->model.parameter(*id).internalUnit;
        }
        return p.unit;
    case K::TumourCells: return "cell";
    case K::Weight: return "kg";
    case K::Surface: return "m2";
    default: return "1";
    }
}

}  // namespace

std::vector<std::filesystem::path> writeTwinOutputs(io::RunFolder& run, const trial::LoadedTrial& t, const Patient& patient, const TwinOptions& o,
                                                    const TwinResult& r, const io::Json& runInfo) {
    using io::Json;
    const std::size_t n = r.particles.size();
    // ---- posterior.csv: one row per particle, every prior's value in its target's unit ----------
    std::vector<std::string> cols = {"particle", "weight", "log_likelihood"};
    for (const auto& p : t.priors) cols.push_back(fmt::format("{} ({})", p.name, valueUnit(t, p, patient.subtype)));
    std::size_t freeAttr = 0;
    std::vector<std::size_t> attrIndex;
    for (std::size_t a = 0; a < t.attributes.size(); ++a)
        if (std::none_of(patient.attributes.begin(), patient.attributes.end(), [&](const auto& e) { return e.first == a; })) {
            cols.push_back(t.attributes[a].name);
            attrIndex.push_back(a);
            ++freeAttr;
        }
    for (std::size_t l = 0; l < patient.lesions; ++l) cols.push_back(fmt::format("lesion {} fraction", l + 1));
    io::CsvTable post(cols);
    for (std::size_t i = 0; i < n; ++i) {
        std::vector<io::CsvCell> row = {static_cast<std::int64_t>(i), 1.0 / static_cast<double>(n), io::csvOptional(std::isfinite(r.particles[i].logLikelihood) ? std::optional<double>(r.particles[i].logLikelihood) : std::nullopt)};
        for (std::size_t k = 0; k < t.priors.size(); ++k) {
            const double v = r.values[i][k];
            row.push_back(std::isnan(v) ? io::csvMissing() : io::CsvCell(v * t.priors[k].toInternal));
        }
        for (std::size_t k = 0; k < freeAttr; ++k) row.push_back(t.attributes[attrIndex[k]].levels[r.particles[i].attributes[k]]);
        // The lesion split, as the sampler computes it (Dirichlet(2) from the lesion scores).
        std::vector<double> f(patient.lesions);
        double s = 0;
        const std::size_t base = t.priors.size();
        for (std::size_t l = 0; l < f.size(); ++l) {
            auto upper = [](double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); };
            f[l] = std::max(1e-300, -std::log(upper(r.particles[i].u[base + 2 * l])) - std::log(upper(r.particles[i].u[base + 2 * l + 1])));
            s += f[l];
        }
        for (double x : f) row.push_back(x / s);
        post.addRow(std::move(row));
    }
    run.add("posterior.csv", post.str());

    // ---- ranking.csv ---------------------------------------------------------------------------
    io::CsvTable rank({"rank", "regimen", "p_response", "p_response_ci90_low", "p_response_ci90_high", "pfs_median_d", "pfs_ci90_low_d",
                       "pfs_ci90_high_d", "pfs_censored_share", "best_change_median_pct", "best_change_ci90_low_pct", "best_change_ci90_high_pct"});
    std::vector<std::size_t> order(r.regimens.size());
    for (std::size_t a = 0; a < r.regimens.size(); ++a) order[r.regimens[a].rank - 1] = a;
    for (std::size_t a : order) {
        const auto& g = r.regimens[a];
        rank.addRow({static_cast<std::int64_t>(g.rank), g.name, g.pResponse, g.pResponseLow, g.pResponseHigh, g.pfsMedian_d, g.pfsLow_d, g.pfsHigh_d,
                     g.pfsCensoredShare, g.bestChangeMedianPct, g.bestChangeLowPct, g.bestChangeHighPct});
    }
    run.add("ranking.csv", rank.str());

    // ---- fit.csv -------------------------------------------------------------------------------
    io::CsvTable fit({"day", "quantity", "unit", "observed", "predicted_median", "predicted_q05", "predicted_q95"});
    for (const auto& f : r.fit)
        fit.addRow({f.day, std::string(f.cells ? "tumour cells" : "sum of target-lesion diameters"), std::string(f.cells ? "cell" : "mm"), f.observed,
                    io::csvOptional(std::isnan(f.median) ? std::nullopt : std::optional<double>(f.median)),
                    io::csvOptional(std::isnan(f.low) ? std::nullopt : std::optional<double>(f.low)),
                    io::csvOptional(std::isnan(f.high) ? std::nullopt : std::optional<double>(f.high))});
    run.add("fit.csv", fit.str());

    // ---- summary.json --------------------------------------------------------------------------
    Json s;
    s["kind"] = "twin";
    s["nkscape_version"] = std::string(kVersion);
    s["inputs"] = {{"patient", patient.path},
                   {"patient_hash", patient.fileHash},
                   {"regimens", t.path},
                   {"regimens_hash", t.fileHash},
                   {"population", t.populationFile},
                   {"model", t.base->model.info().name},
                   {"model_hash", t.base->model.info().hash},
                   {"seed", o.seed},
                   {"particles", o.particles},
                   {"max_generations", o.generations},
                   {"moves_per_stage", o.moves},
                   {"ess_fraction", io::jsonNumber(o.essFraction)},
                   {"measurement_cv", io::jsonNumber(t.followUp.recist.error.cv)},
                   {"blood_nk_count_cv", io::jsonNumber(kBloodNkCountCv)},
                   {"treatment_start_day", io::jsonNumber(patient.measurements.back().day)},
                   {"horizon_d", io::jsonNumber(t.followUp.duration_d)}};
    Json stages = Json::array();
    for (const auto& st : r.stages)
        stages.push_back({{"beta", io::jsonNumber(st.beta)},
                          {"ess", io::jsonNumber(st.ess)},
                          {"acceptance", io::jsonNumber(st.acceptance)},
                          {"log_evidence_increment", io::jsonNumber(st.logEvidenceIncrement)},
                          {"forced_to_beta_1", st.forced}});
    s["inference"] = {{"method", "SMC with adaptive likelihood tempering and random-walk Metropolis moves (docs/twin.md)"},
                      {"stages", stages},
                      {"reached_beta_1_by_adaptation", !r.stages.empty() && !r.stages.back().forced},
                      {"log_evidence", io::jsonNumber(r.logEvidence)},
                      {"simulations", r.simulations},
                      {"failed_simulations", r.failedSimulations}};
    Json ranking = Json::array();
    for (std::size_t a : order) {
        const auto& g = r.regimens[a];
        ranking.push_back({{"rank", g.rank},
                           {"regimen", g.name},
                           {"p_response", io::jsonNumber(g.pResponse)},
                           {"p_response_ci90", {io::jsonNumber(g.pResponseLow), io::jsonNumber(g.pResponseHigh)}},
                           {"pfs_median_d", io::jsonNumber(g.pfsMedian_d)},
                           {"pfs_ci90_d", {io::jsonNumber(g.pfsLow_d), io::jsonNumber(g.pfsHigh_d)}},
                           {"pfs_censored_share", io::jsonNumber(g.pfsCensoredShare)}});
    }
    s["ranking"] = ranking;
    s["run"] = runInfo;
    run.add("summary.json", io::jsonText(s));
    return run.commit();
}

}  // namespace nkscape::twin
