#pragma once
/// \file
/// JSON output helpers on nlohmann-json. nkscape writes `ordered_json` so that keys keep the order
/// they were added in (a summary reads top to bottom: inputs, then results).
///
/// No output holds NaN or infinity: jsonNumber() throws on them. A number that is undefined on
/// purpose (a ratio with a zero denominator, a setting left unset) is written as null through
/// jsonOptional(), so that every null in an output is a decision of the code that wrote it.

#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace nkscape::io {

using Json = nlohmann::ordered_json;

/// `v` as a JSON number.
/// \throws InternalError if `v` is NaN or infinite (JSON has no such numbers, and an output must
///         not hide a failed computation as null; use jsonOptional() for an undefined value).
[[nodiscard]] Json jsonNumber(double v);

/// `v` as a JSON number, or null when `v` is std::nullopt (the value is undefined on purpose).
/// \throws InternalError if `v` holds NaN or infinity.
[[nodiscard]] Json jsonOptional(std::optional<double> v);

/// `j` as text: 2-space indentation, a final newline; invalid UTF-8 in strings is replaced by
/// U+FFFD rather than thrown on.
[[nodiscard]] std::string jsonText(const Json& j);

/// Writes jsonText(j) to `path` with writeFileAtomic().
/// \throws IoError naming `path`.
void writeJsonFile(const std::filesystem::path& path, const Json& j);

}  // namespace nkscape::io
