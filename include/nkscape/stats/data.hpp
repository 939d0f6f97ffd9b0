#pragma once
/// \file
/// Reading survival data from a CSV file: a header row naming the columns, then one subject a row
/// (comma-separated, RFC 4180 quoting, "\n" or "\r\n" line ends). The file is read with
/// io::readFile() and its 16 MiB cap. Every problem is an InputError naming the file, the line and
/// the column.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "nkscape/stats/survival.hpp"

namespace nkscape::stats {

/// Which columns of the CSV hold what.
struct SurvivalColumns {
    std::string time;                 ///< the time of event or censoring: a finite number ≥ 0
    std::string event;                ///< 1 = event observed, 0 = censored (exactly "0" or "1")
    std::optional<std::string> group; ///< a non-empty label; absent: one group named "all"
};

/// Survival data parsed from CSV text. `source` names the text in messages (the file name).
/// Groups are ordered by name (byte order, like R's factor levels in the C locale), so the first
/// group is the reference of a Cox fit. Blank lines are skipped.
/// \throws InputError: "SOURCE: the file is empty (a header row is required)"; "SOURCE: no column
///         'X' (columns: a, b, c)"; "SOURCE:LINE: N fields, but the header has M columns";
///         "SOURCE:LINE: column 'time': 'abc' is not a number" (also: "is not finite", "is
///         negative"); "SOURCE:LINE: column 'status': '2' is not 0 or 1"; "SOURCE:LINE: column
///         'arm': the group is empty"; "SOURCE:LINE: unterminated quoted field"; "SOURCE: no
///         data rows".
[[nodiscard]] SurvivalData parseSurvivalCsv(std::string_view text, const SurvivalColumns& columns, std::string_view source);

/// parseSurvivalCsv() of the file at `path` (read with io::readFile, at most 16 MiB).
/// \throws InputError "cannot read data file: ..." (with io::readFile's reason) if the file is
///         missing, not a regular file or larger than 16 MiB; InputError as parseSurvivalCsv().
[[nodiscard]] SurvivalData readSurvivalCsv(const std::filesystem::path& path, const SurvivalColumns& columns);

}  // namespace nkscape::stats
