// The run folder writer (io/run.hpp): unusable output folders are refused before anything is
// written; a run killed at any stage leaves either the previous complete run or the new complete
// run, never a mixture; stale staging folders and temporary files of dead runs are removed.

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nkscape/error.hpp"
#include "nkscape/io/file.hpp"
#include "nkscape/io/run.hpp"

#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace nkscape;

namespace {

// Each test's own scratch folder (tests/support/temp_dir.hpp).
class TempDir : public nkscape::testing::TempDir {
public:
    TempDir() : nkscape::testing::TempDir("nkscape-run") {}
};

using Files = std::map<std::string, std::string>;  // name -> bytes

// The previous run has a file the new one lacks, so a mixture would show.
const Files kPrevious{{"a.csv", "x\n1\n"}, {"b.csv", "y\n2\n"}, {"old-only.csv", "z\n3\n"}, {"summary.json", "{\"run\": 1}\n"}};
const Files kNew{{"a.csv", "x\n10\n11\n"}, {"b.csv", "y\n20\n21\n"}, {"summary.json", "{\"run\": 2}\n"}};

void writeRun(const fs::path& out, const Files& files, io::RunFolderOptions options = {}) {
    io::RunFolder run(out, "test", std::move(options));
    for (const auto& [name, bytes] : files) run.add(name, bytes);
    (void)run.commit();
}

// Every file of `dir` (names and bytes).
Files readAll(const fs::path& dir) {
    Files f;
    for (const auto& e : fs::directory_iterator(dir)) f[e.path().filename().string()] = io::readFile(e.path());
    return f;
}

// The data files of `dir` after checking that the manifest lists exactly them, with their sizes and
// checksums. Fails the test (and returns what it found) otherwise.
Files checkedRun(const fs::path& dir) {
    Files all = readAll(dir);
    EXPECT_EQ(all.count("manifest.json"), 1u) << dir;
    if (!all.count("manifest.json")) return all;
    const auto m = nlohmann::json::parse(all["manifest.json"]);
    EXPECT_EQ(m["format"], "nkscape run folder");
    all.erase("manifest.json");
    EXPECT_EQ(m["files"].size(), all.size()) << "files on disk that the manifest does not list, or the reverse";
    for (const auto& f : m["files"]) {
        const std::string name = f["name"];
        EXPECT_EQ(all.count(name), 1u) << name;
        if (!all.count(name)) continue;
        EXPECT_EQ(f["bytes"].get<std::size_t>(), all[name].size()) << name;
        char hex[17];
        std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(io::fnv1a64(all[name])));
        EXPECT_EQ(f["fnv1a64"], std::string(hex)) << name;
    }
    return all;
}

// Entries of `dir` that a finished run must not leave behind.
std::vector<std::string> leftovers(const fs::path& dir) {
    std::vector<std::string> found;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        const std::string n = e.path().filename().string();
        if (n.find(".nkscape-partial.") != std::string::npos || n.find(".nkscape-old.") != std::string::npos || n.ends_with(".tmp"))
            found.push_back(e.path().string());
    }
    return found;
}

// A pid that no process has: a child that has exited and been reaped.
pid_t deadPid() {
    const pid_t pid = ::fork();
    if (pid == 0) ::_exit(0);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return pid;
}

}  // namespace

TEST(RunFolder, RefusesAnEmptyPath) {
    try {
        io::RunFolder run("", "test");
        FAIL() << "no exception";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("output folder '': the path is empty"), std::string::npos) << e.what();
    }
}

TEST(RunFolder, RefusesAFileAndASymlink) {
    TempDir dir;
    io::writeFileAtomic(dir.path() / "file", "data\n");
    EXPECT_THROW(io::RunFolder(dir.path() / "file", "test"), InputError);
    fs::create_directory(dir.path() / "real");
    fs::create_directory_symlink(dir.path() / "real", dir.path() / "link");
    EXPECT_THROW(io::RunFolder(dir.path() / "link", "test"), InputError);
    EXPECT_EQ(io::readFile(dir.path() / "file"), "data\n");
}

TEST(RunFolder, NeverReplacesAFolderItDidNotWrite) {
    TempDir dir;
    const fs::path out = dir.path() / "mine";
    fs::create_directory(out);
    io::writeFileAtomic(out / "thesis.tex", "precious\n");
    try {
        io::RunFolder run(out, "test");
        FAIL() << "no exception";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("not an nkscape run folder"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(out.string()), std::string::npos) << e.what();
    }
    // A manifest.json that is not ours does not make it ours either.
    io::writeFileAtomic(out / "manifest.json", "{\"format\": \"something else\"}\n");
    EXPECT_THROW(io::RunFolder(out, "test"), InputError);
    EXPECT_EQ(io::readFile(out / "thesis.tex"), "precious\n");
    EXPECT_TRUE(leftovers(dir.path()).empty());
}

TEST(RunFolder, RefusesAParentThatCannotBeCreatedOrWritten) {
    TempDir dir;
    io::writeFileAtomic(dir.path() / "file", "data\n");
    EXPECT_THROW(io::RunFolder(dir.path() / "file" / "out", "test"), InputError);  // parent is a file
    EXPECT_THROW(io::RunFolder("/proc/forbidden", "test"), InputError);            // parent not writable (even by root)
}

TEST(RunFolder, AcceptsAnEmptyFolderAndAnOldStyleOutputFolder) {
    TempDir dir;
    fs::create_directory(dir.path() / "empty");
    writeRun(dir.path() / "empty", kNew);
    EXPECT_EQ(checkedRun(dir.path() / "empty"), kNew);
    // The outputs of an nkscape from before manifests are replaced, not refused.
    const fs::path legacy = dir.path() / "legacy";
    fs::create_directory(legacy);
    io::writeFileAtomic(legacy / "lysis.csv", "condition\n");
    io::writeFileAtomic(legacy / "summary.json", "{\"nkscape_version\": \"0.1.0\"}\n");
    writeRun(legacy, kNew);
    EXPECT_EQ(checkedRun(legacy), kNew);
}

TEST(RunFolder, StagesInASiblingAndCleansUpWithoutCommit) {
    TempDir dir;
    const fs::path out = dir.path() / "out";
    {
        io::RunFolder run(out, "test");
        EXPECT_EQ(run.staging(), dir.path() / (".out.nkscape-partial." + std::to_string(::getpid())));
        EXPECT_TRUE(fs::is_directory(run.staging()));
        run.add("a.csv", "x\n");
        EXPECT_FALSE(fs::exists(out));  // nothing at the target before commit()
    }
    EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(RunFolder, CommitReplacesThePreviousRunWhole) {
    TempDir dir;
    const fs::path out = dir.path() / "out";
    writeRun(out, kPrevious);
    EXPECT_EQ(checkedRun(out), kPrevious);
    io::RunFolder run(out, "test");
    for (const auto& [name, bytes] : kNew) run.add(name, bytes);
    const auto paths = run.commit();
    ASSERT_EQ(paths.size(), 3u);
    EXPECT_EQ(paths[0], out / "a.csv");
    EXPECT_EQ(checkedRun(out), kNew);  // old-only.csv is gone
    EXPECT_TRUE(leftovers(dir.path()).empty());
    EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(RunFolder, FallbackWithoutRenameExchangeAlsoReplacesWhole) {
    TempDir dir;
    const fs::path out = dir.path() / "out";
    io::RunFolderOptions fallback;
    fallback.forceRenameFallback = true;
    writeRun(out, kPrevious, fallback);
    writeRun(out, kNew, fallback);
    EXPECT_EQ(checkedRun(out), kNew);
    EXPECT_TRUE(leftovers(dir.path()).empty());
}

TEST(RunFolder, ManifestIsDeterministic) {
    TempDir dir;
    writeRun(dir.path() / "one", kNew);
    writeRun(dir.path() / "two", kNew);
    const std::string m = io::readFile(dir.path() / "one" / "manifest.json");
    EXPECT_EQ(m, io::readFile(dir.path() / "two" / "manifest.json"));
    EXPECT_NE(m.find("\"kind\": \"test\""), std::string::npos) << m;
    EXPECT_EQ(io::fnv1a64(""), 0xcbf29ce484222325ULL);
    EXPECT_EQ(io::fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
}

TEST(RunFolder, AddRefusesNamesThatAreNotPlainFiles) {
    TempDir dir;
    io::RunFolder run(dir.path() / "out", "test");
    for (const char* bad : {"", ".", "..", ".hidden", "sub/file.csv", "/abs.csv", "manifest.json"})
        EXPECT_THROW(run.add(bad, "x"), InternalError) << bad;
    run.add("a.csv", "x");
    EXPECT_THROW(run.add("a.csv", "y"), InternalError);
    (void)run.commit();
    EXPECT_THROW(run.add("b.csv", "y"), InternalError);
    EXPECT_THROW((void)run.commit(), InternalError);
}

TEST(RunFolder, RemovesStaleFoldersAndTempFilesOfDeadRuns) {
    TempDir dir;
    const fs::path out = dir.path() / "out";
    writeRun(out, kPrevious);
    const std::string dead = std::to_string(deadPid());
    fs::create_directory(dir.path() / (".out.nkscape-partial." + dead));
    io::writeFileAtomic(dir.path() / (".out.nkscape-partial." + dead) / "big.csv", std::string(1000, 'x'));
    fs::create_directory(dir.path() / (".out.nkscape-old." + dead));
    io::writeFileAtomic(out / (".lysis.csv." + dead + ".0.tmp"), "half");
    io::writeFileAtomic(out / (".summary.json." + dead + ".12.tmp"), "half");
    // Alive (pid 1 always is): left alone. Another folder's staging: left alone.
    fs::create_directory(dir.path() / ".out.nkscape-partial.1");
    fs::create_directory(dir.path() / (".other.nkscape-partial." + dead));
    {
        io::RunFolder run(out, "test");
        EXPECT_FALSE(fs::exists(dir.path() / (".out.nkscape-partial." + dead)));
        EXPECT_FALSE(fs::exists(dir.path() / (".out.nkscape-old." + dead)));
        EXPECT_FALSE(fs::exists(out / (".lysis.csv." + dead + ".0.tmp")));
        EXPECT_FALSE(fs::exists(out / (".summary.json." + dead + ".12.tmp")));
        EXPECT_TRUE(fs::exists(dir.path() / ".out.nkscape-partial.1"));
        EXPECT_TRUE(fs::exists(dir.path() / (".other.nkscape-partial." + dead)));
    }
    EXPECT_EQ(checkedRun(out), kPrevious);
}

// Kill a writer at every stage: --out holds the previous complete run or the new complete run.
namespace {

struct KillPoint {
    io::RunStage stage;
    int occurrence;  // the n-th time the stage is reached (FileAdded: the n-th file)
};

void killTest(bool withPrevious, bool fallback) {
    const std::vector<KillPoint> points{{io::RunStage::StagingCreated, 1}, {io::RunStage::FileAdded, 1}, {io::RunStage::FileAdded, 2},
                                        {io::RunStage::FileAdded, 3},      {io::RunStage::ManifestWritten, 1}, {io::RunStage::Swapped, 1},
                                        {io::RunStage::Done, 1}};
    TempDir dir;
    const fs::path out = dir.path() / "out";
    for (const auto& kp : points) {
        SCOPED_TRACE(std::string(io::runStageName(kp.stage)) + " #" + std::to_string(kp.occurrence));
        fs::remove_all(out);
        if (withPrevious) writeRun(out, kPrevious);
        const pid_t child = ::fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
            int seen = 0;
            io::RunFolderOptions options;
            options.forceRenameFallback = fallback;
            options.onStage = [&](io::RunStage s, std::string_view) {
                if (s == kp.stage && ++seen == kp.occurrence) ::raise(SIGKILL);
            };
            try {
                writeRun(out, kNew, options);
            } catch (...) {
                ::_exit(3);
            }
            ::_exit(0);
        }
        int status = 0;
        ASSERT_EQ(::waitpid(child, &status, 0), child);
        ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the child was not killed at its stage";
        if (!withPrevious && !fs::exists(out)) {
            EXPECT_LT(static_cast<int>(kp.stage), static_cast<int>(io::RunStage::Swapped));
        } else {
            const Files found = checkedRun(out);
            EXPECT_TRUE(found == kNew || (withPrevious && found == kPrevious)) << "a mixture of two runs";
            // Once the new run is in place it stays: from Swapped on, the new run is there.
            if (kp.stage == io::RunStage::Swapped || kp.stage == io::RunStage::Done) {
                EXPECT_EQ(found, kNew);
            }
        }
        // A full run afterwards leaves nothing stale behind, in the parent or the target.
        writeRun(out, kNew);
        EXPECT_EQ(checkedRun(out), kNew);
        EXPECT_TRUE(leftovers(dir.path()).empty()) << leftovers(dir.path()).front();
        EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
    }
}

}  // namespace

TEST(RunFolderKill, OverAPreviousRun) { killTest(true, false); }
TEST(RunFolderKill, OverAPreviousRunWithoutRenameExchange) { killTest(true, true); }
TEST(RunFolderKill, IntoANewFolder) { killTest(false, false); }
