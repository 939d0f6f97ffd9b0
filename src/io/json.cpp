// JSON helpers on nlohmann-json.

#include "nkscape/io/json.hpp"

#include <cmath>

#include "nkscape/io/file.hpp"

namespace nkscape::io {

Json jsonNumber(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

std::string jsonText(const Json& j) {
    return j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

void writeJsonFile(const std::filesystem::path& path, const Json& j) { writeFileAtomic(path, jsonText(j)); }

}  // namespace nkscape::io
