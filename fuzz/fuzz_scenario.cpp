// libFuzzer targets for the scenario readers, one executable each (fuzz/CMakeLists.txt compiles
// this file twice): a reader must turn any byte string into either a validated scenario or a
// model::ModelError listing diagnostics (or another nkscape::InputError). Any other exception, a
// crash, a hang or a sanitizer report is a finding.
//
//   make fuzz SCENARIO_FUZZ_SECONDS=45   (scripts/run-fuzzer.sh; seeds: the shipped scenarios,
//                                         tests/data/{assay,simulate} and tests/data/hostile;
//                                         dictionary fuzz/scenario.dict)
//
// NKSCAPE_FUZZ_READER_ASSAY selects the assay reader, else the simulation reader.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "nkscape/assay/scenario.hpp"
#include "nkscape/error.hpp"
#include "nkscape/model/diagnostics.hpp"
#include "nkscape/model/loader.hpp"
#include "nkscape/model/units.hpp"
#include "nkscape/qsp/scenario.hpp"
#include "fuzz_support.hpp"

namespace {

#ifdef NKSCAPE_FUZZ_READER_ASSAY
constexpr const char* kTarget = "fuzz_assay_scenario";
void readScenario(const std::string& text, const nkscape::model::CompiledModel& m, const nkscape::model::UnitSystem& u) {
    (void)nkscape::assay::parseAssayScenario(text, "fuzz.toml", m, u);
}
#else
constexpr const char* kTarget = "fuzz_simulate_scenario";
void readScenario(const std::string& text, const nkscape::model::CompiledModel& m, const nkscape::model::UnitSystem& u) {
    (void)nkscape::qsp::parseSimulationScenario(text, "fuzz.toml", m, u);
}
#endif

// The model and the unit system are loaded once: the readers check against an already loaded model
// (they do not load the file the scenario's `model` key names), and loading either per input would
// dominate (reading udunits2's database alone kept the fuzzers at ~50 inputs/s).
std::optional<nkscape::model::CompiledModel>& model() {
    static std::optional<nkscape::model::CompiledModel> m;
    return m;
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    nkscape::fuzz::loadOrAbort(kTarget, NKSCAPE_FUZZ_MODEL, [] { model().emplace(nkscape::model::loadModel(NKSCAPE_FUZZ_MODEL)); });
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        readScenario(text, *model(), *nkscape::fuzz::units());
    } catch (const nkscape::model::ModelError&) {
        // Expected for bad input.
    } catch (const nkscape::InputError&) {
        // Expected for bad input. Anything else propagates and aborts: a finding.
    }
    return 0;
}
