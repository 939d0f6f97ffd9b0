// libFuzzer target for the trial-file reader (and the population sampler behind it): any byte
// string must become either a validated trial or a model::ModelError / nkscape::InputError. Any
// other exception, a crash, a hang or a sanitizer report is a finding.
//
//   make fuzz TRIAL_FUZZ_SECONDS=45   (seeds: scenarios/trials, its populations, tests/data/trial and
//                                      tests/data/hostile; dictionary fuzz/scenario.dict)
//
// The base scenario (the template TNBC tumour and the default model) is loaded once; inputs are read
// as if they were in scenarios/trials/, so a `population` key can name the shipped population files.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "nkscape/error.hpp"
#include "nkscape/model/diagnostics.hpp"
#include "nkscape/model/units.hpp"
#include "nkscape/qsp/scenario.hpp"
#include "nkscape/trial/trial.hpp"
#include "fuzz_support.hpp"

namespace {

std::optional<nkscape::qsp::LoadedSimulationScenario>& base() {
    static std::optional<nkscape::qsp::LoadedSimulationScenario> b;
    return b;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    nkscape::fuzz::loadOrAbort("fuzz_trial", NKSCAPE_FUZZ_BASE, [] { base().emplace(nkscape::qsp::loadSimulationScenario(NKSCAPE_FUZZ_BASE)); });
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        const auto t = nkscape::trial::parseTrial(text, NKSCAPE_FUZZ_TRIAL_PATH, *base(), *nkscape::fuzz::units());
        // A valid trial: its first patient must be drawable (or the screening error is an InputError).
        (void)nkscape::trial::drawPatient(t, 0);
    } catch (const nkscape::model::ModelError&) {
        // Expected for bad input.
    } catch (const nkscape::InputError&) {
        // Expected for bad input. Anything else propagates and aborts: a finding.
    }
    return 0;
}
