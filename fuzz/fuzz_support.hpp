#pragma once
// What the libFuzzer targets share: inputs that are loaded once (LLVMFuzzerInitialize) and kept
// for every input, because loading per input would dominate the run (udunits2's database alone
// kept a reader at ~50 inputs/s), and a failure to load them aborts with the target's name.

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>

#include "nkscape/model/units.hpp"

namespace nkscape::fuzz {

/// The unit system, loaded once.
inline std::optional<model::UnitSystem>& units() {
    static std::optional<model::UnitSystem> u;
    return u;
}

/// Runs `load` (which fills the target's own holders and units()); on any exception prints
/// "<target>: cannot load <what>: <reason>" and aborts (the fuzz run is then a finding).
template <class Load>
void loadOrAbort(const char* target, const char* what, Load&& load) {
    try {
        units().emplace();
        load();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: cannot load %s: %s\n", target, what, e.what());
        std::abort();
    }
}

}  // namespace nkscape::fuzz
