#pragma once
// Internal: the TOML reader (parse.cpp) and the compiler (compile.cpp) entry points.

#include <optional>
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
/// The deepest chain of overlays whose base is an overlay (a longer chain is reported as such;
/// it is most likely a cycle).
inline constexpr int kMaxOverlayDepth = 8;

/// loadModel() at overlay depth `depth` (0 for the file the user named).
CompiledModel loadModelAtDepth(const std::string& root, const FileSource& files, const UnitSystem& units, int depth);

/// If `root` is a model overlay (its TOML has a top-level `overlay` key), loads it (src/model/overlay.cpp);
/// nullopt otherwise, including when `root` cannot be read or parsed (the model loader reports that).
/// \throws ModelError listing every problem of the overlay and its base.
std::optional<CompiledModel> loadIfOverlay(const std::string& root, const FileSource& files, const UnitSystem& units, int depth);

/// Resolves references and builds the compiled model; records every problem in `diag`.
CompiledModel compileModel(detail::ModelSpec& spec, const UnitSystem& units, Diagnostics& diag);
}  // namespace nkscape::model
