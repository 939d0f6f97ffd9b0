#pragma once
/// \file
/// JSON output helpers on nlohmann-json. nkscape writes `ordered_json` so that keys keep the order
/// they were added in (a manifest reads top to bottom: inputs, then results).

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace nkscape::io {

using Json = nlohmann::ordered_json;

/// `v` as a JSON number, or null when it is NaN or infinite (JSON has no such numbers).
[[nodiscard]] Json jsonNumber(double v);

/// `j` as text: 2-space indentation, a final newline; invalid UTF-8 in strings is replaced by
/// U+FFFD rather than thrown on.
[[nodiscard]] std::string jsonText(const Json& j);

/// Writes jsonText(j) to `path` with writeFileAtomic().
/// \throws IoError naming `path`.
void writeJsonFile(const std::filesystem::path& path, const Json& j);

}  // namespace nkscape::io
