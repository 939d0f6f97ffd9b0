// Output I/O: atomic writes leave either the old file or the whole new one, never half a file or a
// stray temporary; CSV quoting and numbers; JSON text.

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <clocale>
#include <cmath>
#include <filesystem>
#include <limits>
#include <string>

#include "nkscape/error.hpp"
#include "nkscape/io/csv.hpp"
#include "nkscape/io/file.hpp"
#include "nkscape/io/json.hpp"

#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace nkscape;

namespace {

// Each test's own scratch folder (tests/support/temp_dir.hpp).
class TempDir : public nkscape::testing::TempDir {
public:
    TempDir() : nkscape::testing::TempDir("nkscape-io") {}
};

}  // namespace

TEST(WriteFileAtomic, WritesAndReplacesWholeFiles) {
    TempDir dir;
    const fs::path f = dir.path() / "out.csv";
    io::writeFileAtomic(f, "a,b\n1,2\n");
    EXPECT_EQ(io::readFile(f), "a,b\n1,2\n");
    io::writeFileAtomic(f, "replaced\n");
    EXPECT_EQ(io::readFile(f), "replaced\n");
    io::writeFileAtomic(f, "");
    EXPECT_EQ(io::readFile(f), "");
    EXPECT_EQ(dir.entries(), 1u) << "no temporary file may stay behind";
}

TEST(WriteFileAtomic, ReadOnlyFolderFailsCleanly) {
    if (::geteuid() == 0) GTEST_SKIP() << "root writes into read-only folders; see TargetIsADirectoryFailsCleanly";
    TempDir dir;
    fs::permissions(dir.path(), fs::perms::owner_read | fs::perms::owner_exec);
    const fs::path f = dir.path() / "lysis.csv";
    try {
        io::writeFileAtomic(f, "data\n");
        FAIL() << "expected IoError";
    } catch (const IoError& e) {
        EXPECT_NE(std::string(e.what()).find(f.string()), std::string::npos) << e.what();
    }
    fs::permissions(dir.path(), fs::perms::owner_all);
    EXPECT_FALSE(fs::exists(f));
    EXPECT_EQ(dir.entries(), 0u);
}

TEST(WriteFileAtomic, TargetIsADirectoryFailsCleanly) {
    // The temporary file is written in full, then the rename fails (even for root): the temporary
    // must be removed and the name left as it was.
    TempDir dir;
    const fs::path f = dir.path() / "summary.json";
    fs::create_directory(f);
    try {
        io::writeFileAtomic(f, "{}\n");
        FAIL() << "expected IoError";
    } catch (const IoError& e) {
        EXPECT_NE(std::string(e.what()).find("summary.json"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(fs::is_directory(f));
    EXPECT_EQ(dir.entries(), 1u) << "the temporary file must be removed";
}

TEST(WriteFileAtomic, MissingFolderFailsNamingThePath) {
    TempDir dir;
    const fs::path f = dir.path() / "no" / "such" / "dir" / "lysis.csv";
    try {
        io::writeFileAtomic(f, "x");
        FAIL() << "expected IoError";
    } catch (const IoError& e) {
        EXPECT_NE(std::string(e.what()).find(f.string()), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(f));
}

TEST(WriteFileAtomic, FailedReplaceKeepsTheOldFile) {
    if (::geteuid() == 0) GTEST_SKIP() << "root writes into read-only folders";
    TempDir dir;
    const fs::path f = dir.path() / "lysis.csv";
    io::writeFileAtomic(f, "old\n");
    fs::permissions(dir.path(), fs::perms::owner_read | fs::perms::owner_exec);
    EXPECT_THROW(io::writeFileAtomic(f, "new\n"), IoError);
    fs::permissions(dir.path(), fs::perms::owner_all);
    EXPECT_EQ(io::readFile(f), "old\n");
    EXPECT_EQ(dir.entries(), 1u);
}

TEST(ReadFile, MissingFileThrowsIoError) {
    EXPECT_THROW((void)io::readFile("/nonexistent/nkscape/file.txt"), IoError);
}

TEST(Csv, QuotesOnlyWhatNeedsIt) {
    EXPECT_EQ(io::csvField("plain"), "plain");
    EXPECT_EQ(io::csvField("HLA-E high + monalizumab"), "HLA-E high + monalizumab");
    EXPECT_EQ(io::csvField("a,b"), "\"a,b\"");
    EXPECT_EQ(io::csvField("say \"hi\""), "\"say \"\"hi\"\"\"");
    EXPECT_EQ(io::csvField(" padded"), "\" padded\"");
    EXPECT_EQ(io::csvField(""), "");
}

TEST(Csv, ControlCharactersAreEscapedVisibly) {
    EXPECT_EQ(io::csvField("two\nlines"), "two\\x0Alines");
    EXPECT_EQ(io::csvField("tab\there"), "tab\\x09here");
    EXPECT_EQ(io::csvField(std::string_view("nul\0x", 5)), "nul\\x00x");
    EXPECT_EQ(io::csvField("del\x7f"), "del\\x7F");
    EXPECT_EQ(io::csvField("cr\r,lf"), "\"cr\\x0D,lf\"");
    EXPECT_EQ(io::csvField("\x1b[31mred"), "\\x1B[31mred");
    // Every record is one line: no raw byte below 0x20 survives.
    for (int c = 0; c < 0x20; ++c) {
        const std::string out = io::csvField(std::string(1, static_cast<char>(c)));
        for (char o : out) EXPECT_GE(static_cast<unsigned char>(o), 0x20u) << "control " << c;
    }
}

TEST(Csv, PaddingIsQuoted) {
    EXPECT_EQ(io::csvField("padded "), "\"padded \"");
    EXPECT_EQ(io::csvField("\tpadded"), "\\x09padded");  // escaped, so no longer white space
}

TEST(Csv, NumbersArePercentTenGWithADot) {
    EXPECT_EQ(io::csvNumber(0.1), "0.1");
    EXPECT_EQ(io::csvNumber(12.8), "12.8");
    EXPECT_EQ(io::csvNumber(1.0 / 3.0), "0.3333333333");
    EXPECT_EQ(io::csvNumber(1e-12), "1e-12");
    EXPECT_EQ(io::csvNumber(123456789012.0), "1.23456789e+11");
    EXPECT_EQ(io::csvNumber(20), "20");
    EXPECT_EQ(io::csvNumber(-2.5), "-2.5");
    EXPECT_THROW((void)io::csvNumber(std::nan("")), InternalError);
    EXPECT_THROW((void)io::csvNumber(std::numeric_limits<double>::infinity()), InternalError);
    EXPECT_THROW((void)io::csvNumber(-std::numeric_limits<double>::infinity()), InternalError);
    // A comma-decimal locale must not change the output.
    if (std::setlocale(LC_ALL, "de_DE.UTF-8") || std::setlocale(LC_ALL, "fr_FR.UTF-8")) {
        EXPECT_EQ(io::csvNumber(2.5), "2.5");
        std::setlocale(LC_ALL, "C");
    }
}

TEST(Csv, TableRendersHeaderAndRows) {
    io::CsvTable t({"condition", "et_ratio", "replicates"});
    t.addRow({std::string("a, b"), 2.5, std::int64_t{6}});
    t.addRow({std::string("c"), 10.0, std::int64_t{1}});
    EXPECT_EQ(t.rows(), 2u);
    EXPECT_EQ(t.str(), "condition,et_ratio,replicates\n\"a, b\",2.5,6\nc,10,1\n");
    EXPECT_THROW(t.addRow({std::string("short")}), InputError);
}

TEST(Csv, NonFiniteIsRefusedAndMissingIsAnEmptyField) {
    io::CsvTable t({"condition", "ci_low", "n"});
    EXPECT_THROW(t.addRow({std::string("a"), std::nan(""), std::int64_t{1}}), InternalError);
    EXPECT_THROW(t.addRow({std::string("a"), -std::numeric_limits<double>::infinity(), std::int64_t{1}}), InternalError);
    EXPECT_EQ(t.rows(), 0u);  // a refused row leaves nothing behind
    t.addRow({std::string("a"), io::csvMissing(), std::int64_t{1}});
    t.addRow({std::string("b"), io::csvOptional(std::nullopt), std::int64_t{1}});
    t.addRow({std::string("c"), io::csvOptional(0.5), std::int64_t{2}});
    EXPECT_EQ(t.str(), "condition,ci_low,n\na,,1\nb,,1\nc,0.5,2\n");
}

TEST(Json, TextKeepsKeyOrderAndRefusesNonFiniteNumbers) {
    EXPECT_THROW((void)io::jsonNumber(std::nan("")), InternalError);
    EXPECT_THROW((void)io::jsonNumber(std::numeric_limits<double>::infinity()), InternalError);
    EXPECT_THROW((void)io::jsonOptional(std::nan("")), InternalError);
    io::Json j;
    j["zeta"] = 1;
    j["alpha"] = io::jsonOptional(std::nullopt);
    j["beta"] = io::jsonNumber(0.25);
    EXPECT_EQ(io::jsonText(j), "{\n  \"zeta\": 1,\n  \"alpha\": null,\n  \"beta\": 0.25\n}\n");
}

TEST(Json, WriteJsonFileIsAtomic) {
    TempDir dir;
    const fs::path f = dir.path() / "summary.json";
    io::writeJsonFile(f, io::Json{{"seed", 42}});
    EXPECT_EQ(io::readFile(f), "{\n  \"seed\": 42\n}\n");
    EXPECT_EQ(dir.entries(), 1u);
}
