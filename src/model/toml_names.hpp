#pragma once
// Internal: the wording shared by the model loader and the scenario readers' error messages — how
// toml++ node types are named ("expected a string, got an integer"), lists of choices, numbers —
// so that every file's errors read the same way.

#include <toml++/toml.h>

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace nkscape::model::detail {

/// "a table", "an integer", … for a TOML node.
inline std::string tomlTypeName(const toml::node& n) {
    switch (n.type()) {
        case toml::node_type::table: return "a table";
        case toml::node_type::array: return "an array";
        case toml::node_type::string: return "a string";
        case toml::node_type::integer: return "an integer";
        case toml::node_type::floating_point: return "a float";
        case toml::node_type::boolean: return "a boolean";
        case toml::node_type::date: return "a date";
        case toml::node_type::time: return "a time";
        case toml::node_type::date_time: return "a date-time";
        default: return "nothing";
    }
}

/// "a, b, c".
inline std::string joinWords(const std::vector<std::string_view>& words) {
    std::string s;
    for (std::size_t i = 0; i < words.size(); ++i) {
        if (i) s += ", ";
        s += words[i];
    }
    return s;
}

/// A number as error messages print it (%.6g).
inline std::string formatNumber(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return buf;
}

}  // namespace nkscape::model::detail
