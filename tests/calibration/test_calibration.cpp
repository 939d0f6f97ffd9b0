// `ctest -L calibration`: every target of calibration/targets.toml (every row of
// ../shared/CALIBRATION.md) computed with the shipped default model and checked against its band.
// Each test prints its row of the table: id | observed | simulated | band | result.
//   - a target in the band passes;
//   - an expected failure passes only while the model is outside the band (when the model is
//     fixed the test fails, and the expected_failure line must go);
//   - a row nkscape cannot compute yet is reported as skipped, with its reason.

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <unistd.h>

#include <cctype>
#include <fstream>
#include <iostream>
#include <set>

#include "nkscape/calibration/targets.hpp"
#include "nkscape/error.hpp"
#include "nkscape/model/diagnostics.hpp"

namespace nkscape::calibration {
namespace {

const std::vector<Target>& targets() {
    static const auto t = loadTargets(std::filesystem::path(NKSCAPE_SOURCE_DIR) / "calibration/targets.toml");
    return t;
}

class CalibrationTarget : public ::testing::TestWithParam<std::size_t> {};

TEST_P(CalibrationTarget, IsInItsBandOrAnExpectedFailure) {
    const Target& g = targets()[GetParam()];
    if (g.statistic == Statistic::NotImplemented) {
        std::cout << fmt::format("| {} | {} | not implemented | | skipped: {} |\n", g.id, g.description, g.notImplemented);
        GTEST_SKIP() << "not implemented: " << g.notImplemented;
    }
    const double v = simulateTarget(g);
    const bool in = v >= g.low && v <= g.high;
    std::cout << fmt::format("| {} | {:g} {} | {:.4g} {} | [{:g}, {:g}] | {} |\n", g.id, g.observed, g.unit, v, g.unit, g.low, g.high,
                             in ? "pass" : (g.expectedFailure ? "expected failure: " + *g.expectedFailure : "FAIL"));
    if (g.expectedFailure) {
        EXPECT_FALSE(in) << g.id << " is now in its band (" << v << "): remove its expected_failure";
    } else {
        EXPECT_TRUE(in) << g.id << ": simulated " << v << " " << g.unit << " outside [" << g.low << ", " << g.high << "] (" << g.source << ")";
    }
}

INSTANTIATE_TEST_SUITE_P(Targets, CalibrationTarget, ::testing::Range<std::size_t>(0, 42),
                         [](const ::testing::TestParamInfo<std::size_t>& p) {
                             if (p.param >= targets().size()) return std::string("unused_") + std::to_string(p.param);
                             std::string n = targets()[p.param].id;
                             for (auto& c : n)
                                 if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                             return n;
                         });

TEST(CalibrationTargets, EveryRowOfCalibrationMdIsATarget) {
    // The rows of ../shared/CALIBRATION.md: TA1-TA2, TB1-TB4, TC1-TC7, TD1-TD7, TE1-TE6.
    std::set<std::string> rows;
    for (const auto& g : targets()) rows.insert(g.id.substr(0, g.id.find('-')));
    for (const char* r : {"TA1", "TA2", "TB1", "TB2", "TB3", "TB4", "TC1", "TC2", "TC3", "TC4", "TC5", "TC6", "TC7", "TD1", "TD2",
                          "TD3", "TD4", "TD5", "TD6", "TD7", "TE1", "TE2", "TE3", "TE4", "TE5", "TE6"})
        EXPECT_TRUE(rows.count(r)) << r << " has no target";
    EXPECT_EQ(targets().size(), 42u) << "update the Range of the parameterised test";
}

TEST(CalibrationTargets, AFileWithErrorsReportsThemAllWithTheirLines) {
    const auto dir = std::filesystem::temp_directory_path() / ("nkscape-targets-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto f = dir / "targets.toml";
    std::ofstream(f) << "[[target]]\nid = \"A\"\ndescription = \"d\"\nsource = \"s\"\nstatistic = \"median_of_everything\"\n"
                        "[[target]]\nid = \"B\"\ndescription = \"d\"\nsource = \"s\"\nstatistic = \"peak_fold\"\nfile = \"nowhere.toml\"\n"
                        "column = \"blood.CD56dim NK\"\nobserved = 1\nband = [5, 1]\nunit = \"1\"\n"
                        "[[target]]\nid = \"B\"\ndescription = \"d\"\nsource = \"s\"\nstatistic = \"not_implemented\"\n";
    try {
        (void)loadTargets(f);
        FAIL() << "expected a ModelError";
    } catch (const model::ModelError& e) {
        const std::string w = e.what();
        EXPECT_NE(w.find("targets.toml:5:13"), std::string::npos) << w;  // the unknown statistic
        EXPECT_NE(w.find("unknown statistic 'median_of_everything'"), std::string::npos) << w;
        EXPECT_NE(w.find("no file"), std::string::npos) << w;
        EXPECT_NE(w.find("expected [low, high] with low <= high"), std::string::npos) << w;
        EXPECT_NE(w.find("two targets have this id"), std::string::npos) << w;
        EXPECT_NE(w.find("missing required key"), std::string::npos) << w;  // the reason of a not_implemented row
        EXPECT_EQ(e.diagnostics().size(), 5u) << w;
    }
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace nkscape::calibration
