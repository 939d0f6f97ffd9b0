#pragma once
// Internal: how toml++ node types are named in error messages ("expected a string, got an integer").
// Shared by the model loader and the scenario readers so that every file reads the same way.

#include <toml++/toml.h>

#include <string>

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

}  // namespace nkscape::model::detail
