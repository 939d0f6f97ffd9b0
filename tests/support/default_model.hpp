#pragma once
// The shipped default model (models/default.toml), loaded once per test or benchmark program and
// shared by its tests: loading it takes a noticeable fraction of a second.

#include <filesystem>

#include "nkscape/model/loader.hpp"

namespace nkscape::testing {

/// models/default.toml of this source tree (NKSCAPE_SOURCE_DIR), loaded on first use.
inline const model::CompiledModel& defaultModel() {
    static const model::CompiledModel m = model::loadModel(std::filesystem::path(NKSCAPE_SOURCE_DIR "/models/default.toml"));
    return m;
}

}  // namespace nkscape::testing
