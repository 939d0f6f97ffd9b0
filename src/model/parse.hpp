#pragma once
// Internal: the TOML reader (parse.cpp) and the compiler (compile.cpp) entry points.

#include <string>
#include <string_view>

#include "nkscape/model/loader.hpp"
#include "nkscape/model/units.hpp"
#include "spec.hpp"

namespace nkscape::model::detail {

/// Reads the root file and its includes into a ModelSpec; records every problem in `diag`.
ModelSpec parseModel(const std::string& root, const FileSource& files, const UnitSystem& units, Diagnostics& diag);

/// Converts a parsed parameter (value and range) into `internalUnit` and checks its constraint;
/// records a problem in `diag` and returns false if it cannot.
bool convertParam(ParamValue& p, std::string_view internalUnit, const UnitSystem& units, Diagnostics& diag,
                  const std::string& label, const std::string& key);

}  // namespace nkscape::model::detail

namespace nkscape::model {
/// Resolves references and builds the compiled model; records every problem in `diag`.
CompiledModel compileModel(detail::ModelSpec& spec, const UnitSystem& units, Diagnostics& diag);
}  // namespace nkscape::model
