// libFuzzer target for the mechanisms-file reader of `nkscape attribute` (docs/attribution.md): any
// byte string must become either a list of mechanisms or a model::ModelError / nkscape::InputError.
// Any other exception, a crash, a hang or a sanitizer report is a finding.
//
// Seeds: calibration/mechanisms.toml and tests/data/hostile/attribute-*.toml. The default model is
// loaded once.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "nkscape/attribution/attribution.hpp"
#include "nkscape/error.hpp"
#include "nkscape/model/diagnostics.hpp"
#include "nkscape/model/loader.hpp"
#include "nkscape/model/units.hpp"
#include "fuzz_support.hpp"

namespace {

std::optional<nkscape::model::CompiledModel>& model() {
    static std::optional<nkscape::model::CompiledModel> m;
    return m;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    nkscape::fuzz::loadOrAbort("fuzz_mechanisms", NKSCAPE_FUZZ_MODEL,
                               [] { model().emplace(nkscape::model::loadModel(std::filesystem::path(NKSCAPE_FUZZ_MODEL))); });
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        (void)nkscape::attribution::parseMechanisms(text, "mechanisms.toml", *model(), *nkscape::fuzz::units());
    } catch (const nkscape::model::ModelError&) {
        // Expected for bad input.
    } catch (const nkscape::InputError&) {
        // Expected for bad input. Anything else propagates and aborts: a finding.
    }
    return 0;
}
