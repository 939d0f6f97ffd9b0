// Spatial scenario files (abm/scenario.hpp): units converted, every error reported together with
// file:line and key, the shipped scenarios load, the budget refuses a lattice past the limits.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "nkscape/abm/scenario.hpp"
#include "nkscape/io/budget.hpp"
#include "nkscape/model/diagnostics.hpp"

#include "default_model.hpp"

using namespace nkscape;
using namespace nkscape::abm;
using nkscape::testing::defaultModel;

namespace {

const std::string kMinimal = R"([scenario]
name = "t"
kind = "abm"
model = "../../models/default.toml"
seed = 3

[grid]
size = [10, 12, 4]
voxel = { value = 0.02, unit = "mm" }

[time]
duration = { value = 2, unit = "h" }
agent_step = { value = 30, unit = "s" }
phenotype_step = { value = 6, unit = "min" }

[tumour]
cell_type = "TNBC"
radius = { value = 40, unit = "um" }
cycle_time = { value = 1, unit = "d" }
o2_uptake = { value = 0.1, unit = "1/s" }
o2_saturation = { value = 0.049, unit = "mM" }
o2_hypoxic = { value = 19.5, unit = "uM" }
o2_necrosis = { value = 0.0065, unit = "mM" }
necrosis_rate = { value = 4, unit = "1/d" }

[[field]]
mediator = "oxygen"
boundary = "dirichlet"
)";

std::vector<std::string> errorsOf(const std::string& toml) {
    try {
        (void)parseAbmScenario(toml, "s.toml", defaultModel());
    } catch (const model::ModelError& e) {
        std::vector<std::string> out;
        for (const auto& d : e.diagnostics()) out.push_back(d.str());
        return out;
    }
    return {};
}

bool anyContains(const std::vector<std::string>& v, const std::string& needle) {
    return std::any_of(v.begin(), v.end(), [&](const std::string& s) { return s.find(needle) != std::string::npos; });
}

}  // namespace

TEST(AbmScenario, UnitsAreConverted) {
    const AbmScenario s = parseAbmScenario(kMinimal, "s.toml", defaultModel());
    EXPECT_EQ(s.grid.nx, 10);
    EXPECT_EQ(s.grid.ny, 12);
    EXPECT_EQ(s.grid.nz, 4);
    EXPECT_DOUBLE_EQ(s.grid.voxelUm, 20.0);
    EXPECT_DOUBLE_EQ(s.durationMin, 120.0);
    EXPECT_DOUBLE_EQ(s.agentStepMin, 0.5);
    EXPECT_DOUBLE_EQ(s.cycleTimeMin, 1440.0);
    EXPECT_DOUBLE_EQ(s.o2UptakePerMin, 6.0);
    EXPECT_NEAR(s.o2HypoxicMm, 0.0195, 1e-15);
    EXPECT_NEAR(s.necrosisRatePerMin, 4.0 / 1440.0, 1e-15);
    ASSERT_EQ(s.fields.size(), 1u);
    EXPECT_EQ(s.fields[0].spec.name, "O2");
    // The model's O2: 1.75e-5 cm2/s = 1750 um2/s = 105,000 um2/min; basal 0.065 mM.
    EXPECT_NEAR(s.fields[0].spec.diffusionUm2PerMin, 1.05e5, 1e-6);
    EXPECT_DOUBLE_EQ(s.fields[0].spec.boundaryValue, 0.065);
    EXPECT_EQ(s.fields[0].spec.boundary, Boundary::Dirichlet);
    ASSERT_EQ(s.clones.size(), 1u);  // the founding clone
    EXPECT_DOUBLE_EQ(s.clones[0].share, 1.0);
}

TEST(AbmScenario, EveryErrorIsReportedWithItsLine) {
    std::string bad = kMinimal;
    bad.replace(bad.find("size = [10, 12, 4]"), 18, "size = [10, 0, 4]");            // line 8
    bad.replace(bad.find("value = 6, unit = \"min\""), 23, "value = 7, unit = \"min\"");  // not a multiple? 7/0.5 = 14: fine
    bad += R"(
[[population]]
cell_type = "TNBC"
count = -1
placement = "ring"

[[clone]]
name = "a"
share = { value = 0.7, unit = "1" }
traits = { "HLA-Q" = { value = 2, unit = "1" } }

[[clone]]
name = "b"
share = { value = 0.6, unit = "1" }

[motility]
chemotaxis_field = "CXCL12"
speed = 3
)";
    const auto errors = errorsOf(bad);
    EXPECT_TRUE(anyContains(errors, "s.toml:8:")) << ::testing::PrintToString(errors);
    EXPECT_TRUE(anyContains(errors, "is a tumour cell type")) << ::testing::PrintToString(errors);
    EXPECT_TRUE(anyContains(errors, "count")) << ::testing::PrintToString(errors);
    EXPECT_TRUE(anyContains(errors, "'ring' is not one of: shell, uniform")) << ::testing::PrintToString(errors);
    EXPECT_TRUE(anyContains(errors, "'HLA-Q' is not a ligand, factor or mediator")) << ::testing::PrintToString(errors);
    EXPECT_TRUE(anyContains(errors, "shares add up to 1.3")) << ::testing::PrintToString(errors);
    EXPECT_TRUE(anyContains(errors, "'CXCL12' is not a [[field]]")) << ::testing::PrintToString(errors);
    EXPECT_TRUE(anyContains(errors, "unknown key for [motility]")) << ::testing::PrintToString(errors);
    EXPECT_GE(errors.size(), 8u);
}

TEST(AbmScenario, StepsMustDivideTheIntervals) {
    std::string bad = kMinimal;
    bad.replace(bad.find("agent_step = { value = 30, unit = \"s\" }"), 39, "agent_step = { value = 7, unit = \"min\" }");
    const auto errors = errorsOf(bad);
    EXPECT_TRUE(anyContains(errors, "is not a whole number of agent_step")) << ::testing::PrintToString(errors);
}

TEST(AbmScenario, NoO2FieldIsAnError) {
    std::string bad = kMinimal.substr(0, kMinimal.find("[[field]]"));
    const auto errors = errorsOf(bad);
    EXPECT_TRUE(anyContains(errors, "no O2 field")) << ::testing::PrintToString(errors);
}

TEST(AbmScenario, BudgetRefusesHugeRuns) {
    AbmScenario s = parseAbmScenario(kMinimal, "s.toml", defaultModel());
    // 2,000 x 2,000 x 1,000 voxels = 4e9 > kMaxVoxels would be refused by the reader; here the
    // work limit: 1e6 voxels for a year at 0.01 min steps.
    s.grid.nx = s.grid.ny = s.grid.nz = 100;
    s.durationMin = 525600;
    s.agentStepMin = 0.01;
    EXPECT_THROW(io::checkBudget(estimateResources(s), io::ResourceLimits{}), model::ModelError);
    io::ResourceLimits large;
    large.allowLarge = true;
    large.maxMemoryBytes = std::uint64_t{1} << 40;
    EXPECT_NO_THROW(io::checkBudget(estimateResources(s), large));
}

TEST(AbmScenario, ShippedScenariosLoad) {
    std::size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(NKSCAPE_SOURCE_DIR "/scenarios/abm")) {
        if (e.path().extension() != ".toml") continue;
        SCOPED_TRACE(e.path().string());
        LoadedAbmScenario l = loadAbmScenario(e.path());
        EXPECT_FALSE(l.scenario.fields.empty());
        EXPECT_NO_THROW(io::checkBudget(estimateResources(l.scenario), io::ResourceLimits{}));
        ++n;
    }
    EXPECT_GE(n, 2u);
}
