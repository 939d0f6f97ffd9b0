// The resource budget (io/budget.hpp) and bounded input reading (io::readFile): limits are
// checked before work starts and every refusal says what, how much, the limit and where.

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "nkscape/assay/assay.hpp"
#include "nkscape/error.hpp"
#include "nkscape/io/budget.hpp"
#include "nkscape/io/file.hpp"
#include "nkscape/model/diagnostics.hpp"
#include "nkscape/qsp/scenario.hpp"

#include "default_model.hpp"

using namespace nkscape;
namespace fs = std::filesystem;

namespace {

fs::path scratch(const std::string& name) {
    const fs::path dir = fs::temp_directory_path() / ("nkscape-test-budget-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    return dir / name;
}

std::string messageOf(const io::ResourceEstimate& e, const io::ResourceLimits& l) {
    try {
        io::checkBudget(e, l);
    } catch (const model::ModelError& err) {
        return err.what();
    }
    return {};
}

}  // namespace

TEST(Budget, ParsesByteSizes) {
    EXPECT_EQ(io::parseByteSize("4G"), std::uint64_t{4} << 30);
    EXPECT_EQ(io::parseByteSize("512M"), std::uint64_t{512} << 20);
    EXPECT_EQ(io::parseByteSize("1.5GiB"), std::uint64_t{3} << 29);
    EXPECT_EQ(io::parseByteSize("100"), 100u);
    EXPECT_EQ(io::parseByteSize("2 kb"), 2048u);
    for (const char* bad : {"", "G", "-1G", "0", "1.2.3G", "4X", "1e3G", "99999999999T"}) EXPECT_THROW((void)io::parseByteSize(bad), InputError) << bad;
}

TEST(Budget, ThreadsFromOneToFourPerCore) {
    const int hi = io::maxThreads();
    EXPECT_GE(hi, 4);
    EXPECT_LE(hi, 1024);
    EXPECT_EQ(io::checkThreads(1), 1);
    EXPECT_EQ(io::checkThreads(hi), hi);
    for (long long bad : {0LL, -1LL, static_cast<long long>(hi) + 1, 100000LL}) {
        try {
            (void)io::checkThreads(bad);
            FAIL() << bad;
        } catch (const InputError& e) {
            EXPECT_EQ(std::string(e.what()), "threads: must be a whole number from 1 to " + std::to_string(hi) +
                                                 " (4 per core of this machine; docs/limits.md), got " + std::to_string(bad));
        }
    }
    // The command line's text: one message for every wrong value, whatever its kind of wrong.
    EXPECT_EQ(io::parseThreads("1"), 1);
    EXPECT_EQ(io::parseThreads(std::to_string(hi)), hi);
    for (const char* bad : {"", "0", "-1", "abc", "1.5", "1e9", " 2", "2 ", "99999999999999999999", "100000"}) {
        try {
            (void)io::parseThreads(bad);
            FAIL() << bad;
        } catch (const InputError& e) {
            EXPECT_EQ(std::string(e.what()), "--threads: must be a whole number from 1 to " + std::to_string(hi) +
                                                 " (4 per core of this machine; docs/limits.md), got '" + bad + "'");
        }
    }
}

TEST(Budget, RefusesEachExceededLimitAtItsKeyAndAllowLargeLiftsOnlyWork) {
    io::ResourceEstimate e;
    io::WorkItem w;
    w.what = "output rows";
    w.amount = 2e6;
    w.limit = 1e6;
    w.detail = "duration / output_interval + 1";
    w.where = model::SourceLocation{"s.toml", 21, 19};
    w.entity = "[simulation]";
    w.key = "output_interval";
    e.work.push_back(w);
    e.memoryBytes = 5.0 * (1 << 30);
    e.memoryDetail = "rows";
    e.memoryWhere = w.where;
    e.memoryEntity = "[simulation]";
    e.memoryKey = "output_interval";
    const std::string both = messageOf(e, {});
    EXPECT_NE(both.find("s.toml:21:19: error: [simulation]: key 'output_interval': the run would need 2,000,000 output rows (duration / "
                        "output_interval + 1); the limit is 1,000,000 output rows (docs/limits.md); reduce it, or pass --allow-large if you mean it"),
              std::string::npos)
        << both;
    EXPECT_NE(both.find("about 5.0 GiB of memory (rows); the limit is 4.0 GiB (docs/limits.md); reduce it, or raise the limit with --max-memory"),
              std::string::npos)
        << both;
    io::ResourceLimits large;
    large.allowLarge = true;
    const std::string memoryOnly = messageOf(e, large);
    EXPECT_EQ(memoryOnly.find("output rows"), std::string::npos) << memoryOnly;
    EXPECT_NE(memoryOnly.find("GiB of memory"), std::string::npos);
    large.maxMemoryBytes = std::uint64_t{8} << 30;
    EXPECT_EQ(messageOf(e, large), "");
    e.memoryBytes = std::nan("");  // an estimate that went wrong is over every limit
    EXPECT_NE(messageOf(e, large), "");
}

// The shipped scenarios are far inside the default limits; a long assay or simulation is refused
// by its estimate, before it runs.
TEST(Budget, EstimatesOfShippedScenariosPassAndScaleWithTheirKeys) {
    const fs::path root = NKSCAPE_SOURCE_DIR;
    const auto a = assay::loadAssayScenario(root / "scenarios/assays/example-et-curve.toml");
    const auto ea = assay::estimateResources(a.model, a.scenario, 2);
    ASSERT_EQ(ea.work.size(), 1u);
    // 6 replicates x 1000 targets x (1 + 2.5 + 5 + 10 + 20) NK per target x 2 /h x 4 h.
    EXPECT_NEAR(ea.work[0].amount, 6.0 * 1000 * 38.5 * 2 * 4, 1e-6);
    EXPECT_NO_THROW(io::checkBudget(ea, {}));
    auto longer = a.scenario;
    longer.durationHours = 720;
    longer.targets = 100000;
    EXPECT_THROW(io::checkBudget(assay::estimateResources(a.model, longer, 2), {}), model::ModelError);

    const auto s = qsp::loadSimulationScenario(root / "scenarios/simulate/tnbc-untreated.toml");
    const auto es = qsp::estimateResources(s);
    ASSERT_EQ(es.work.size(), 2u);
    EXPECT_NEAR(es.work[0].amount, 365.242198781, 1e-6);  // simulated days (udunits2 yr: the tropical year)
    EXPECT_EQ(es.work[1].amount, 53.0);  // output rows: floor(365.24 / 7) + 1
    EXPECT_LT(es.memoryBytes, 100.0 * (1 << 20));
    EXPECT_NO_THROW(io::checkBudget(es, {}));
    EXPECT_EQ(es.work[0].where.line, 20);  // [simulation] duration in the file
    auto fine = s;
    fine.spec.outputIntervalDays = 1e-6;
    EXPECT_THROW(io::checkBudget(qsp::estimateResources(fine), {}), model::ModelError);
}

TEST(ReadFile, RefusesFifosDevicesFoldersAndFilesOverTheCap) {
    const fs::path fifo = scratch("fifo");
    fs::remove(fifo);
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    // Would block for ever if the reader waited for a writer.
    try {
        (void)io::readFile(fifo);
        FAIL();
    } catch (const IoError& e) {
        EXPECT_NE(std::string(e.what()).find("it is a FIFO (named pipe), not a regular file"), std::string::npos) << e.what();
    }
    try {
        (void)io::readFile("/dev/zero");
        FAIL();
    } catch (const IoError& e) {
        EXPECT_NE(std::string(e.what()).find("it is a character device"), std::string::npos) << e.what();
    }
    EXPECT_THROW((void)io::readFile(fifo.parent_path()), IoError);
    EXPECT_THROW((void)io::readFile(scratch("missing")), IoError);
    const fs::path big = scratch("big.toml");
    std::ofstream(big) << std::string(5000, 'x');
    EXPECT_EQ(io::readFile(big, 5000).size(), 5000u);
    try {
        (void)io::readFile(big, 4999);
        FAIL();
    } catch (const IoError& e) {
        EXPECT_NE(std::string(e.what()).find("it is 5000 bytes; input files are limited to 4999 bytes"), std::string::npos) << e.what();
    }
    fs::remove_all(fifo.parent_path());
}

// A well stops once no target is left to meet: the longest assay the reader accepts, at a high
// E:T ratio, ends as soon as every target is dead instead of drawing encounters for 720 h (before,
// a duration of 1e308 h never ended). Without the stop a well draws ~1.44e7 meetings (10,000 NK
// cells x 2 per hour x 720 h); with it, 1.5e5-2.5e5 (the ~12 h the NK cells take to commit to
// every target).
TEST(AssayWork, AWellStopsWhenNoTargetIsLeft) {
    const std::string text = R"([scenario]
name = "long"
kind = "assay"
model = "unused.toml"
seed = 3

[assay]
duration = { value = 720, unit = "h" }
effector_target_ratios = [50]
targets = 200
replicates = 2
well_volume = { value = 200, unit = "uL" }

[[condition]]
name = "resting"
effector = "CD56dim NK"
target = "MDA-MB-231"
)";
    const auto& m = nkscape::testing::defaultModel();
    const auto sc = assay::parseAssayScenario(text, "long.toml", m);
    assay::AssayOptions options;
    options.threads = 1;
    const auto r = assay::runAssay(m, sc, options);
    ASSERT_EQ(r.conditions.size(), 1u);
    for (const auto& w : r.conditions[0].ratios[0].wells) {
        EXPECT_EQ(w.deadWell, 200u);
        EXPECT_GT(w.kills, 0u);
        EXPECT_GT(w.meetings, w.contacts);
        EXPECT_LT(w.meetings, 1000000u);
    }
}
