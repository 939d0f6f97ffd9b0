#pragma once
/// \file
/// The outputs of `nkscape stats km|logrank|cox`: km.csv and summary.json through io::RunFolder,
/// or a readable table for the terminal.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "nkscape/io/run.hpp"
#include "nkscape/stats/survival.hpp"

namespace nkscape::stats {

/// Everything one `nkscape stats` run computed, with the inputs that produced it.
struct SurvivalReport {
    std::string analysis;                    ///< "km", "logrank" or "cox"
    std::string source;                      ///< the data file
    std::string timeColumn, eventColumn;
    std::optional<std::string> groupColumn;  ///< absent: one group "all"
    KmOptions km;
    std::vector<KmCurve> curves;             ///< one per group, in group order
    std::optional<LogRankResult> logRank;
    std::optional<CoxResult> cox;
    Ties ties = Ties::Efron;
    std::string coxGroup, coxReference;      ///< the compared group and the reference group
};

/// km.csv: group, time, n_risk, n_event, n_censor, survival, std_err, ci_low, ci_high (one row per
/// distinct time of each group; an undefined SE or limit is an empty field).
[[nodiscard]] std::string kmCsv(const SurvivalReport& report);

/// summary.json: the inputs, each group's size, events and median with its interval (null = not
/// reached), and the log-rank test and/or Cox fit when computed.
[[nodiscard]] std::string survivalSummaryJson(const SurvivalReport& report);

/// Adds km.csv and summary.json to `run` and commits it; returns the written paths.
std::vector<std::filesystem::path> writeSurvivalOutputs(io::RunFolder& run, const SurvivalReport& report);

/// The report as aligned text for a terminal: the Kaplan–Meier table of each group, the medians
/// ("not reached" where undefined) and the tests.
[[nodiscard]] std::string formatSurvivalReport(const SurvivalReport& report);

}  // namespace nkscape::stats
