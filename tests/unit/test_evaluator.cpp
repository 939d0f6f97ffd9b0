// calibration::Evaluator: targets with parameters replaced — the function behind calibrate,
// sensitivity, attribute and twin.

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <unistd.h>

#include "nkscape/calibration/evaluate.hpp"
#include "nkscape/error.hpp"
#include "nkscape/model/diagnostics.hpp"

namespace nkscape::calibration {
namespace {

const std::filesystem::path kRoot(NKSCAPE_SOURCE_DIR);

Target doublingTarget() {
    Target g;
    g.id = "TNBC-doubling";
    g.statistic = Statistic::DoublingTime;
    g.file = (kRoot / "scenarios/simulate/tnbc-untreated.toml").generic_string();
    return g;
}

TEST(Evaluator, BaselineReproducesTheTargetAndAParameterMovesIt) {
    const Evaluator e({doublingTarget()}, {"cell_type/TNBC/doubling_time"});
    const auto base = e.baseline();
    ASSERT_EQ(base.size(), 1u);
    EXPECT_DOUBLE_EQ(base[0], 103.0);  // d, models/cells.toml (Ryu et al. 2014)
    const auto r0 = e.evaluate(base);
    ASSERT_TRUE(r0[0].ok()) << r0[0].error;
    EXPECT_DOUBLE_EQ(r0[0].value, simulateTarget(doublingTarget()));
    // A tumour with a longer intrinsic doubling time doubles later (the infiltrate slows both).
    const std::vector<double> slower{140.0};
    const auto r1 = e.evaluate(slower);
    ASSERT_TRUE(r1[0].ok());
    EXPECT_GT(r1[0].value, r0[0].value * 1.2);
    // The evaluation does not change the evaluator: the baseline again gives the same bytes.
    EXPECT_EQ(e.evaluate(base)[0].value, r0[0].value);
    ASSERT_TRUE(e.range(0));
    EXPECT_DOUBLE_EQ(e.range(0)->first, 60.0);
}

TEST(Evaluator, RefusesUnknownPathsBadValuesAndWrongSizes) {
    EXPECT_THROW(Evaluator({doublingTarget()}, {"cell_type/TNBC/no_such_thing"}), InputError);
    const Evaluator e({doublingTarget()}, {"cell_type/TNBC/doubling_time"});
    const std::vector<double> negative{-5.0};
    EXPECT_THROW((void)e.evaluate(negative), InputError);
    const std::vector<double> two{100.0, 1.0};
    EXPECT_THROW((void)e.evaluate(two), InputError);
}

TEST(Evaluator, AStatisticThatCannotBeComputedIsAnErrorNotAThrow) {
    Target bad = doublingTarget();
    bad.id = "bad-column";
    bad.statistic = Statistic::PeakFold;
    bad.column = "no.such.column";
    const Evaluator e({doublingTarget(), bad}, {"cell_type/TNBC/doubling_time"});
    const auto r = e.evaluate(e.baseline());
    EXPECT_TRUE(r[0].ok()) << r[0].error;  // the same simulation serves both targets
    EXPECT_FALSE(r[1].ok());
    EXPECT_TRUE(std::isnan(r[1].value));
    EXPECT_NE(r[1].error.find("no.such.column"), std::string::npos) << r[1].error;
}

TEST(Evaluator, OutputsFileReadsOutputsWithoutBands) {
    const auto dir = std::filesystem::temp_directory_path() / ("nkscape-outputs-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto f = dir / "outputs.toml";
    std::ofstream(f) << "[[output]]\nid = \"tumour-1y\"\nstatistic = \"value_at\"\nfile = \"" << (kRoot / "scenarios/simulate/tnbc-untreated.toml").generic_string()
                     << "\"\ncolumn = \"tumour.cells\"\ntime = { value = 100, unit = \"d\" }\nunit = \"cell\"\n"
                        "[[parameter]]\npath = \"x\"\n";
    const auto outs = loadOutputs(f, {"parameter"});
    ASSERT_EQ(outs.size(), 1u);
    EXPECT_EQ(outs[0].statistic, Statistic::ValueAt);
    EXPECT_DOUBLE_EQ(outs[0].time_d, 100.0);
    const Evaluator e(outs, {});
    const auto r = e.evaluate(std::vector<double>{});
    ASSERT_TRUE(r[0].ok()) << r[0].error;
    EXPECT_GT(r[0].value, 1e8);
    EXPECT_THROW((void)loadOutputs(f), model::ModelError);  // [[parameter]] is not an output table
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace nkscape::calibration
