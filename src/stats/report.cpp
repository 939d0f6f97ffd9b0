// km.csv, summary.json and the terminal table of `nkscape stats`.

#include "nkscape/stats/report.hpp"

#include <fmt/format.h>

#include "nkscape/io/csv.hpp"
#include "nkscape/io/json.hpp"
#include "nkscape/version.hpp"

namespace nkscape::stats {
namespace {

std::string_view tiesName(Ties t) { return t == Ties::Efron ? "efron" : "breslow"; }

/// A time or "not reached".
std::string timeText(const std::optional<double>& t) { return t ? fmt::format("{:g}", *t) : std::string("not reached"); }

/// `text` with control characters as "\\xHH": a label from the user's CSV must not drive the terminal.
std::string printable(std::string_view text) {
    std::string out;
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7F)
            out += fmt::format("\\x{:02X}", static_cast<unsigned>(u));
        else
            out += c;
    }
    return out;
}

std::string pText(double p) { return p < 1e-4 ? fmt::format("{:.3e}", p) : fmt::format("{:.4f}", p); }

}  // namespace

std::string kmCsv(const SurvivalReport& report) {
    io::CsvTable table({"group", "time", "n_risk", "n_event", "n_censor", "survival", "std_err", "ci_low", "ci_high"});
    for (const auto& c : report.curves)
        for (const auto& r : c.rows)
            table.addRow({c.group, r.time, static_cast<std::int64_t>(r.nRisk), static_cast<std::int64_t>(r.nEvent),
                          static_cast<std::int64_t>(r.nCensor), r.survival, io::csvOptional(r.stdErr), io::csvOptional(r.ciLow),
                          io::csvOptional(r.ciHigh)});
    return table.str();
}

std::string survivalSummaryJson(const SurvivalReport& report) {
    using io::Json;
    Json j;
    j["nkscape_version"] = kVersion;
    j["analysis"] = report.analysis;
    j["inputs"] = {{"data", report.source},
                   {"time_column", report.timeColumn},
                   {"event_column", report.eventColumn},
                   {"group_column", report.groupColumn ? Json(*report.groupColumn) : Json("")},
                   {"conf_type", std::string(confTypeName(report.km.confType))},
                   {"conf_level", io::jsonNumber(report.km.confLevel)}};
    Json groups = Json::array();
    for (const auto& c : report.curves)
        groups.push_back({{"group", c.group},
                          {"subjects", c.subjects},
                          {"events", c.events},
                          {"median_reached", c.median.time.has_value()},
                          {"median_time", io::jsonOptional(c.median.time)},
                          {"median_ci_low", io::jsonOptional(c.median.ciLow)},
                          {"median_ci_high", io::jsonOptional(c.median.ciHigh)}});
    j["groups"] = groups;
    if (report.logRank) {
        const auto& lr = *report.logRank;
        Json per = Json::array();
        for (const auto& g : lr.groups)
            per.push_back({{"group", g.name}, {"subjects", g.subjects}, {"observed", io::jsonNumber(g.observed)}, {"expected", io::jsonNumber(g.expected)}});
        j["logrank"] = {{"chi_square", io::jsonNumber(lr.chiSquare)}, {"df", lr.degreesOfFreedom}, {"p_value", io::jsonNumber(lr.pValue)}, {"groups", per}};
    }
    if (report.cox) {
        const auto& c = *report.cox;
        j["cox"] = {{"ties", std::string(tiesName(report.ties))},
                    {"group", report.coxGroup},
                    {"reference", report.coxReference},
                    {"subjects", c.subjects},
                    {"events", c.events},
                    {"coef", io::jsonNumber(c.coef)},
                    {"std_err", io::jsonNumber(c.stdErr)},
                    {"hazard_ratio", io::jsonNumber(c.hazardRatio)},
                    {"hr_ci_low", io::jsonNumber(c.hrLow)},
                    {"hr_ci_high", io::jsonNumber(c.hrHigh)},
                    {"wald_chi_square", io::jsonNumber(c.waldChiSquare)},
                    {"wald_p", io::jsonNumber(c.waldP)},
                    {"lr_chi_square", io::jsonNumber(c.lrChiSquare)},
                    {"lr_p", io::jsonNumber(c.lrP)},
                    {"score_chi_square", io::jsonNumber(c.scoreChiSquare)},
                    {"score_p", io::jsonNumber(c.scoreP)},
                    {"log_lik_null", io::jsonNumber(c.logLikNull)},
                    {"log_lik", io::jsonNumber(c.logLik)},
                    {"iterations", c.iterations}};
    }
    return io::jsonText(j);
}

std::vector<std::filesystem::path> writeSurvivalOutputs(io::RunFolder& run, const SurvivalReport& report) {
    run.add("km.csv", kmCsv(report));
    run.add("summary.json", survivalSummaryJson(report));
    return run.commit();
}

std::string formatSurvivalReport(const SurvivalReport& report) {
    std::string out;
    const int pct = static_cast<int>(report.km.confLevel * 100.0 + 0.5);
    out += fmt::format("{}: time '{}', event '{}'{}; {} % pointwise CI, {} transform\n", printable(report.source), printable(report.timeColumn),
                       printable(report.eventColumn), report.groupColumn ? ", group '" + printable(*report.groupColumn) + "'" : std::string(), pct, confTypeName(report.km.confType));
    for (const auto& c : report.curves) {
        out += fmt::format("\ngroup {}: {} subjects, {} events\n", printable(c.group), c.subjects, c.events);
        out += fmt::format("  {:>10} {:>7} {:>7} {:>8} {:>9} {:>9} {:>9} {:>9}\n", "time", "n_risk", "n_event", "n_censor", "survival",
                           "std_err", "ci_low", "ci_high");
        const auto opt = [](const std::optional<double>& v) { return v ? fmt::format("{:.4f}", *v) : std::string("-"); };
        for (const auto& r : c.rows)
            out += fmt::format("  {:>10g} {:>7} {:>7} {:>8} {:>9.4f} {:>9} {:>9} {:>9}\n", r.time, r.nRisk, r.nEvent, r.nCensor, r.survival,
                               opt(r.stdErr), opt(r.ciLow), opt(r.ciHigh));
        out += fmt::format("  median {} ({} % CI {} to {})\n", timeText(c.median.time), pct, timeText(c.median.ciLow), timeText(c.median.ciHigh));
    }
    if (report.logRank) {
        const auto& lr = *report.logRank;
        out += fmt::format("\nlog-rank test: chi-square {:.4f} on {} df, p = {}\n", lr.chiSquare, lr.degreesOfFreedom, pText(lr.pValue));
        for (const auto& g : lr.groups)
            out += fmt::format("  {:<20} n {:>5}  observed {:>6g}  expected {:>9.4f}\n", printable(g.name), g.subjects, g.observed, g.expected);
    }
    if (report.cox) {
        const auto& c = *report.cox;
        out += fmt::format("\nCox proportional hazards ({} ties): '{}' vs '{}' (reference), {} subjects, {} events\n", tiesName(report.ties),
                           printable(report.coxGroup), printable(report.coxReference), c.subjects, c.events);
        out += fmt::format("  coef {:.6f}  SE {:.6f}  HR {:.4f} ({} % CI {:.4f} to {:.4f})\n", c.coef, c.stdErr, c.hazardRatio,
                           static_cast<int>(c.confLevel * 100.0 + 0.5), c.hrLow, c.hrHigh);
        out += fmt::format("  Wald chi-square {:.4f}, p = {}; likelihood ratio {:.4f}, p = {}; score {:.4f}, p = {}\n", c.waldChiSquare,
                           pText(c.waldP), c.lrChiSquare, pText(c.lrP), c.scoreChiSquare, pText(c.scoreP));
    }
    return out;
}

}  // namespace nkscape::stats
