// libFuzzer target: the simulation scenario reader must turn any byte string into either a validated
// SimulationScenario or a model::ModelError listing diagnostics (or another nkscape::InputError). Any
// other exception, a crash, a hang or a sanitizer report is a finding.
//
//   make fuzz FUZZ_SECONDS=45     (scripts/run-fuzzer.sh; seeds in fuzz/corpus-simulate, dictionary fuzz/scenario.dict)

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "nkscape/qsp/scenario.hpp"
#include "nkscape/error.hpp"
#include "nkscape/model/diagnostics.hpp"
#include "nkscape/model/loader.hpp"

namespace {

// The model is loaded once: parseSimulationScenario checks against an already loaded model (it does
// not load the file the scenario's `model` key names), and loading per input would dominate.
std::optional<nkscape::model::CompiledModel>& model() {
    static std::optional<nkscape::model::CompiledModel> m;
    return m;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    try {
        model().emplace(nkscape::model::loadModel(NKSCAPE_FUZZ_MODEL));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "fuzz_simulate_scenario: cannot load %s: %s\n", NKSCAPE_FUZZ_MODEL, e.what());
        std::abort();
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        (void)nkscape::qsp::parseSimulationScenario(text, "fuzz.toml", *model());
    } catch (const nkscape::model::ModelError&) {
        // Expected for bad input.
    } catch (const nkscape::InputError&) {
        // Expected for bad input. Anything else propagates and aborts: a finding.
    }
    return 0;
}
