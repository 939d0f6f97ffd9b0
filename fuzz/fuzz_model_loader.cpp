// libFuzzer target: the model loader must turn any byte string into either a model or an
// nkscape::Error (a ModelError listing diagnostics). Any other exception, a crash, a hang or a
// sanitizer report is a finding.
//
//   make fuzz FUZZ_SECONDS=60      (scripts/run-fuzzer.sh; seeds in fuzz/corpus, dictionary fuzz/model.dict)

#include <cstddef>
#include <cstdint>
#include <string>

#include "nkscape/error.hpp"
#include "nkscape/model/loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // One unit system for the whole run: reading udunits2's database per input would dominate
    // the time (and udunits2 keeps a few kB per database it reads).
    static const nkscape::model::UnitSystem units;
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        (void)nkscape::model::loadModelFromString(text, "fuzz.toml", units);
    } catch (const nkscape::Error&) {
        // Expected for bad input. Anything else propagates and aborts: a finding.
    }
    return 0;
}
