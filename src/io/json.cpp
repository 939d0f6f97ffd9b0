// JSON helpers on nlohmann-json.

#include "nkscape/io/json.hpp"

#include <cmath>

#include "nkscape/error.hpp"
#include "nkscape/io/file.hpp"

namespace nkscape::io {

Json jsonNumber(double v) {
    if (!std::isfinite(v))
        throw InternalError(std::string("a JSON number is ") + (std::isnan(v) ? "NaN" : "infinite") +
                            "; outputs never hold non-finite values (use jsonOptional() for an undefined one)");
    return Json(v);
}

Json jsonOptional(std::optional<double> v) { return v ? jsonNumber(*v) : Json(nullptr); }

std::string jsonText(const Json& j) {
    return j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

void writeJsonFile(const std::filesystem::path& path, const Json& j) { writeFileAtomic(path, jsonText(j)); }

}  // namespace nkscape::io
