// The hostile-input corpus: every case under tests/data/hostile is a scenario file or a command
// line that the real CLI must answer with the exit code and the stderr lines its header states —
// never a crash, never a hang past 10 s, never more than 1 GiB of memory, and never a NaN or Inf
// written as data. tests/data/hostile/README.md is the convention.
//
// Each case runs the CLI binary in a child process (fork/exec): the reader, the engine and the
// writers are judged as a user meets them, including exit codes and what reaches stderr, and a
// crash or a runaway allocation kills the child, not the test binary.
//
// Cases listed in tests/data/hostile/PENDING wait for fixes being made elsewhere: when they fail
// the test is skipped with the reason; when they pass the test fails, so that PENDING only shrinks.
//
// NKSCAPE_HOSTILE_UPDATE=1 rewrites each case's `# exit:` and `# expect:` lines from what the CLI
// does now instead of comparing (for maintainers drafting a case; review the diff: the corpus
// records what the CLI *must* do).

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace fs = std::filesystem;

#if defined(__SANITIZE_ADDRESS__)
#define NKSCAPE_HOSTILE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NKSCAPE_HOSTILE_ASAN 1
#endif
#endif
#ifndef NKSCAPE_HOSTILE_ASAN
#define NKSCAPE_HOSTILE_ASAN 0
#endif

namespace {

constexpr auto kWallLimit = std::chrono::seconds(10);
constexpr long kRssLimitKiB = 1024L * 1024L;  // 1 GiB, as ru_maxrss counts (KiB on Linux)
// An address-space cap makes a runaway allocation fail fast instead of swapping the shared
// machine; ASan reserves terabytes of shadow address space, so it only applies without ASan.
constexpr rlim_t kAddressSpaceLimit = rlim_t{4} << 30;
constexpr std::uintmax_t kBigFileBytes = std::uintmax_t{200} << 20;

const std::set<std::string> kClasses = {"crash",    "unbounded-work", "file", "silent-accept", "number", "message",
                                        "schedule", "override",       "cli",  "output",        "malformed", "structure"};

const fs::path& sourceDir() {
    static const fs::path dir = fs::path(NKSCAPE_SOURCE_DIR).lexically_normal();
    return dir;
}

const fs::path& corpusDir() {
    static const fs::path dir = sourceDir() / "tests" / "data" / "hostile";
    return dir;
}

bool updateMode() {
    const char* v = std::getenv("NKSCAPE_HOSTILE_UPDATE");
    return v && std::string(v) == "1";
}

/// The cases: top-level *.toml and *.cmd files of the corpus folder, as file names, sorted.
std::vector<std::string> corpusCases() {
    std::vector<std::string> out;
    std::error_code ec;
    if (!fs::is_directory(corpusDir(), ec)) return out;
    for (const auto& entry : fs::directory_iterator(corpusDir(), ec)) {
        const auto ext = entry.path().extension();
        if (entry.is_regular_file() && (ext == ".toml" || ext == ".cmd")) out.push_back(entry.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

/// A case's header: the leading block of `# key: value` comment lines.
struct Header {
    std::string cls, args, why, must;
    std::string exitText;
    std::vector<std::string> expect;
    std::vector<std::string> lines;  ///< every line of the file, for update mode
    std::size_t headerEnd = 0;       ///< index of the first line after the leading comment block
};

Header readHeader(const fs::path& path) {
    Header h;
    std::ifstream in(path, std::ios::binary);
    std::string line;
    while (std::getline(in, line)) h.lines.push_back(line);
    bool inHeader = true;
    for (std::size_t i = 0; i < h.lines.size(); ++i) {
        std::string l = h.lines[i];
        if (!l.empty() && l.back() == '\r') l.pop_back();
        if (inHeader && (l.empty() || l.front() != '#')) {
            inHeader = false;
            h.headerEnd = i;
        }
        if (!inHeader) break;
        auto take = [&](const char* key, std::string& into) {
            const std::string prefix = std::string("# ") + key + ":";
            if (l.rfind(prefix, 0) != 0) return false;
            std::string v = l.substr(prefix.size());
            if (!v.empty() && v.front() == ' ') v.erase(0, 1);
            into = v;
            return true;
        };
        std::string v;
        if (take("expect", v)) h.expect.push_back(v);
        else if (take("class", v)) h.cls = v;
        else if (take("args", v)) h.args = v;
        else if (take("exit", v)) h.exitText = v;
        else if (take("why", v)) h.why = v;
        else if (take("must", v)) h.must = v;
    }
    if (inHeader) h.headerEnd = h.lines.size();
    return h;
}

/// PENDING: `<case file name> <reason>` per line; '#' lines and blank lines are comments.
std::map<std::string, std::string> pendingCases() {
    std::map<std::string, std::string> out;
    std::ifstream in(corpusDir() / "PENDING");
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line.front() == '#') continue;
        const auto sp = line.find_first_of(" \t");
        std::string name = line.substr(0, sp);
        std::string reason = sp == std::string::npos ? "" : line.substr(line.find_first_not_of(" \t", sp));
        out[name] = reason;
    }
    return out;
}

/// Splits a command line the way a shell would for the simple cases the corpus needs: blanks
/// separate words; '...' and "..." quote (so '' is an empty argument); no escapes, no expansion.
std::vector<std::string> splitArgs(const std::string& s, std::string& error) {
    std::vector<std::string> out;
    std::string cur;
    bool have = false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c == ' ' || c == '\t') {
            if (have) out.push_back(cur);
            cur.clear();
            have = false;
        } else if (c == '\'' || c == '"') {
            const auto end = s.find(c, i + 1);
            if (end == std::string::npos) {
                error = "unterminated quote in '# args:'";
                return {};
            }
            cur += s.substr(i + 1, end - i - 1);
            have = true;
            i = end;
        } else {
            cur += c;
            have = true;
        }
    }
    if (have) out.push_back(cur);
    return out;
}

void replaceAll(std::string& s, const std::string& from, const std::string& to) {
    if (from.empty()) return;
    for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) s.replace(pos, from.size(), to);
}

/// Control bytes (NUL included) as \xNN, so that expectations stay one printable line each.
std::string escapeControl(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

std::string readFile(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// The scratch folder of one case and the placeholders that point into it.
class Scratch {
public:
    Scratch() {
        std::string tmpl = (fs::temp_directory_path() / "nkscape-hostile-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed: " + std::string(std::strerror(errno)));
        base_ = tmpl;
    }
    ~Scratch() {
        std::error_code ec;
        fs::remove_all(base_, ec);
    }
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;

    const fs::path& base() const { return base_; }
    fs::path out() const { return base_ / "out"; }
    fs::path fifo() const { return base_ / "fifo"; }
    fs::path dir() const { return base_ / "dir"; }
    fs::path bigfile() const { return base_ / "bigfile"; }
    fs::path file() const { return base_ / "file"; }

    /// Creates what `args` refers to (only that: a 200 MB file for every case would be wasteful).
    std::string prepare(const std::string& args) {
        if (args.find("{fifo}") != std::string::npos && ::mkfifo(fifo().c_str(), 0600) != 0)
            return "mkfifo failed: " + std::string(std::strerror(errno));
        if (args.find("{dir}") != std::string::npos) fs::create_directory(dir());
        if (args.find("{file}") != std::string::npos) std::ofstream(file()) << "an existing regular file\n";
        if (args.find("{bigfile}") != std::string::npos) {
            // Sparse: 200 MB of apparent size without 200 MB of disk.
            const int fd = ::open(bigfile().c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(kBigFileBytes)) != 0) return "cannot create the big file";
            ::close(fd);
        }
        return {};
    }

    /// The placeholder → path pairs, most specific first (so {out} is tried before the base).
    std::vector<std::pair<std::string, std::string>> placeholders(const std::string& caseRel) const {
        return {{"{out}", out().string()},         {"{fifo}", fifo().string()}, {"{dir}", dir().string()},
                {"{bigfile}", bigfile().string()}, {"{file}", file().string()}, {"{tmp}", base_.string()},
                {"{case}", caseRel},               {"{model}", "models/default.toml"}};
    }

private:
    fs::path base_;
};

struct RunResult {
    bool hung = false;
    int exitCode = -1;
    int signal = 0;
    long maxRssKiB = 0;
    double seconds = 0;
    std::string stderrText;
    std::string spawnError;
};

RunResult runCli(const std::vector<std::string>& args, const fs::path& scratch) {
    RunResult r;
    const fs::path errPath = scratch / "stderr.txt";
    const fs::path outPath = scratch / "stdout.txt";

    std::vector<std::string> argvStore;
    argvStore.push_back(NKSCAPE_CLI);
    argvStore.insert(argvStore.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argvStore) argv.push_back(a.data());
    argv.push_back(nullptr);

    // The environment: ours (sanitizer options, PATH), CI=1 so no progress bar is drawn, and no
    // NKSCAPE_MODEL, so the default model is the one the cases assume.
    std::vector<std::string> envStore;
    for (char** e = environ; *e; ++e) {
        const std::string kv = *e;
        if (kv.rfind("CI=", 0) == 0 || kv.rfind("NKSCAPE_MODEL=", 0) == 0) continue;
        envStore.push_back(kv);
    }
    envStore.push_back("CI=1");
    std::vector<char*> envp;
    for (auto& e : envStore) envp.push_back(e.data());
    envp.push_back(nullptr);

    const auto start = std::chrono::steady_clock::now();
    const pid_t pid = ::fork();
    if (pid < 0) {
        r.spawnError = "fork failed: " + std::string(std::strerror(errno));
        return r;
    }
    if (pid == 0) {
        // The child: own process group (a hang kills it and anything it started), the repo root as
        // working directory, stdin from /dev/null, no core files.
        ::setpgid(0, 0);
        if (::chdir(sourceDir().c_str()) != 0) ::_exit(126);
        const int in = ::open("/dev/null", O_RDONLY);
        const int out = ::open(outPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        const int err = ::open(errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0 || err < 0) ::_exit(126);
        ::dup2(in, 0);
        ::dup2(out, 1);
        ::dup2(err, 2);
        rlimit core{0, 0};
        ::setrlimit(RLIMIT_CORE, &core);
        if (!NKSCAPE_HOSTILE_ASAN) {
            rlimit as{kAddressSpaceLimit, kAddressSpaceLimit};
            ::setrlimit(RLIMIT_AS, &as);
        }
        ::execve(argv[0], argv.data(), envp.data());
        ::_exit(127);
    }
    ::setpgid(pid, pid);  // also from the parent, so the group exists before we might kill it

    int status = 0;
    rusage usage{};
    for (;;) {
        const pid_t w = ::wait4(pid, &status, WNOHANG, &usage);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) {
            r.spawnError = "wait4 failed: " + std::string(std::strerror(errno));
            return r;
        }
        if (std::chrono::steady_clock::now() - start > kWallLimit) {
            r.hung = true;
            ::kill(-pid, SIGKILL);
            ::wait4(pid, &status, 0, &usage);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    r.maxRssKiB = usage.ru_maxrss;
    if (!r.hung) {
        if (WIFEXITED(status)) r.exitCode = WEXITSTATUS(status);
        else if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
    }
    r.stderrText = readFile(errPath);
    return r;
}

/// io::maxThreads() of this machine, computed the same way (the driver runs the CLI, it does not
/// link the library): 4 per core, at least 4, at most 1024.
int maxThreadsHere() {
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    return static_cast<int>(std::clamp<unsigned>(4 * cores, 4, 1024));
}

/// The stderr lines to compare: blank lines and progress-bar redraws (CR or ESC) are dropped,
/// scratch paths become their placeholders, the repo root is removed, control bytes are escaped.
std::vector<std::string> stderrLines(const std::string& text, const std::vector<std::pair<std::string, std::string>>& ph) {
    std::vector<std::string> out;
    std::istringstream in(text);
    std::string line;
    const std::string root = sourceDir().string() + "/";
    while (std::getline(in, line)) {
        if (line.find('\r') != std::string::npos || line.find('\033') != std::string::npos) continue;
        if (line.empty()) continue;
        for (const auto& [name, path] : ph)
            if (name != "{case}" && name != "{model}") replaceAll(line, path, name);
        replaceAll(line, root, "");
        // The thread limit is 4 per core of the machine (io::maxThreads): written {maxthreads} so
        // that a case passes on any machine.
        replaceAll(line, "from 1 to " + std::to_string(maxThreadsHere()) + " (4 per core", "from 1 to {maxthreads} (4 per core");
        out.push_back(escapeControl(line));
    }
    return out;
}

bool isNonFiniteToken(std::string t) {
    while (!t.empty() && (t.front() == ' ' || t.front() == '+' || t.front() == '-')) t.erase(0, 1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\r')) t.pop_back();
    std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return t == "nan" || t == "inf" || t == "infinity" || t == "1.#inf" || t == "1.#qnan" || t == "-nan(ind)";
}

/// Unquoted CSV fields that are NaN or Inf, as "file:line: field" strings.
void scanCsv(const fs::path& p, const std::string& rel, std::vector<std::string>& problems) {
    const std::string text = readFile(p);
    std::size_t line = 1;
    std::string field;
    bool quoted = false, inQuotes = false;
    auto endField = [&] {
        if (!quoted && isNonFiniteToken(field)) problems.push_back(rel + ":" + std::to_string(line) + ": non-finite field '" + field + "'");
        field.clear();
        quoted = false;
    };
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (inQuotes) {
            if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') ++i;
            else if (c == '"') inQuotes = false;
            if (c == '\n') ++line;
            continue;
        }
        if (c == '"') inQuotes = quoted = true;
        else if (c == ',') endField();
        else if (c == '\n') {
            endField();
            ++line;
        } else field += c;
    }
    endField();
}

/// Keys whose JSON null means "not set" rather than a number that went wrong.
/// tests/data/nullable-json-keys.txt: the one list, shared with tests/cli/no_nonfinite.sh.
const std::set<std::string>& nullableJsonKeys() {
    static const std::set<std::string> keys = [] {
        std::set<std::string> k;
        std::ifstream in(fs::path(NKSCAPE_SOURCE_DIR) / "tests" / "data" / "nullable-json-keys.txt");
        std::string line;
        while (std::getline(in, line))
            if (!line.empty() && line[0] != '#') k.insert(line);
        return k;
    }();
    return keys;
}

/// Bare NaN/Infinity tokens, and null values (outside the keys above), in a JSON file.
void scanJson(const fs::path& p, const std::string& rel, std::vector<std::string>& problems) {
    const std::string text = readFile(p);
    std::size_t line = 1;
    std::string lastString;  // the most recent string literal: the key of a value that follows ':'
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\n') ++line;
        if (c == '"') {
            std::string s;
            for (++i; i < text.size() && text[i] != '"'; ++i) {
                if (text[i] == '\\' && i + 1 < text.size()) s += text[++i];
                else s += text[i];
            }
            lastString = s;
            continue;
        }
        if (std::isalpha(static_cast<unsigned char>(c))) {
            std::size_t j = i;
            while (j < text.size() && std::isalpha(static_cast<unsigned char>(text[j]))) ++j;
            const std::string word = text.substr(i, j - i);
            if (word == "null" && !nullableJsonKeys().count(lastString))
                problems.push_back(rel + ":" + std::to_string(line) + ": null value (key '" + lastString + "')");
            else if (word != "null" && word != "true" && word != "false" && word != "e" && word != "E" && isNonFiniteToken(word))
                problems.push_back(rel + ":" + std::to_string(line) + ": non-finite number '" + word + "'");
            i = j - 1;
        }
    }
}

void scanOutputs(const fs::path& out, std::vector<std::string>& problems) {
    std::error_code ec;
    if (!fs::is_directory(out, ec)) return;
    for (const auto& e : fs::recursive_directory_iterator(out, ec)) {
        if (!e.is_regular_file()) continue;
        const std::string rel = "{out}/" + fs::relative(e.path(), out).generic_string();
        if (e.path().extension() == ".csv") scanCsv(e.path(), rel, problems);
        else if (e.path().extension() == ".json") scanJson(e.path(), rel, problems);
    }
}

std::string joinLines(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& l : v) s += "    " + l + "\n";
    return s.empty() ? "    (none)\n" : s;
}

/// Rewrites the `# exit:` and `# expect:` lines of a case from what the CLI did: the old expect
/// lines go, the new ones follow the exit line.
void rewriteHeader(const fs::path& file, const Header& h, int exitCode, const std::vector<std::string>& lines) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < h.lines.size(); ++i) {
        const std::string& l = h.lines[i];
        if (i < h.headerEnd && l.rfind("# expect:", 0) == 0) continue;
        if (i < h.headerEnd && l.rfind("# exit:", 0) == 0) {
            out.push_back("# exit: " + std::to_string(exitCode));
            for (const auto& e : lines) out.push_back("# expect: " + e);
            continue;
        }
        out.push_back(l);
    }
    std::ofstream o(file, std::ios::binary | std::ios::trunc);
    for (const auto& l : out) o << l << '\n';
}

std::string caseName(const ::testing::TestParamInfo<std::string>& info) {
    std::string s = info.param;
    const auto dot = s.rfind('.');
    const std::string ext = s.substr(dot + 1);
    s.resize(dot);
    s += "_" + ext;  // a .toml and a .cmd of the same stem stay two tests
    for (char& c : s)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    return s;
}

class HostileCase : public ::testing::TestWithParam<std::string> {};

TEST_P(HostileCase, ExitsAsStatedWithTheStatedDiagnostics) {
    const std::string name = GetParam();
    const fs::path file = corpusDir() / name;
    const std::string rel = fs::relative(file, sourceDir()).generic_string();
    const Header h = readHeader(file);

    // The header itself: malformed headers are failures whatever PENDING says.
    ASSERT_TRUE(kClasses.count(h.cls)) << rel << ": '# class: " << h.cls << "' is not one of the classes of README.md";
    ASSERT_FALSE(h.args.empty()) << rel << ": no '# args:' line";
    ASSERT_FALSE(h.why.empty()) << rel << ": no '# why:' line";
    ASSERT_FALSE(h.exitText.empty()) << rel << ": no '# exit:' line";
    const int expectedExit = std::atoi(h.exitText.c_str());
    ASSERT_TRUE(expectedExit == 0 || expectedExit == 1 || expectedExit == 2) << rel << ": '# exit: " << h.exitText << "'";

    Scratch scratch;
    const std::string prepError = scratch.prepare(h.args);
    ASSERT_TRUE(prepError.empty()) << prepError;
    const auto ph = scratch.placeholders(rel);
    std::string splitError;
    std::vector<std::string> args = splitArgs(h.args, splitError);
    ASSERT_TRUE(splitError.empty()) << rel << ": " << splitError;
    for (auto& a : args)
        for (const auto& [key, value] : ph) replaceAll(a, key, value);

    const RunResult r = runCli(args, scratch.base());
    ASSERT_TRUE(r.spawnError.empty()) << r.spawnError;
    const std::vector<std::string> actual = stderrLines(r.stderrText, ph);

    std::vector<std::string> problems;  // everything wrong with this run
    if (r.hung) problems.push_back("hung: killed after " + std::to_string(kWallLimit.count()) + " s");
    if (r.signal != 0) problems.push_back("crashed: signal " + std::to_string(r.signal) + " (" + strsignal(r.signal) + ")");
    if (r.maxRssKiB > kRssLimitKiB)
        problems.push_back("peak memory " + std::to_string(r.maxRssKiB / 1024) + " MiB, above the 1024 MiB limit");

    if (updateMode()) {
        if (!problems.empty()) {
            ADD_FAILURE() << rel << " not updated: " << problems.front();
            return;
        }
        rewriteHeader(file, h, r.exitCode, actual);
        // Diagnostics name line numbers, and the header is part of the file: when the rewrite
        // changed the header's length, run again so that the lines match the rewritten file.
        const Header h2 = readHeader(file);
        if (h2.headerEnd != h.headerEnd) {
            const RunResult r2 = runCli(args, scratch.base());
            rewriteHeader(file, h2, r2.exitCode, stderrLines(r2.stderrText, ph));
        }
        std::cout << "[update] " << rel << ": exit " << r.exitCode << ", " << actual.size() << " stderr line(s)\n";
        return;
    }

    if (!r.hung && r.signal == 0 && r.exitCode != expectedExit)
        problems.push_back("exit " + std::to_string(r.exitCode) + ", expected " + std::to_string(expectedExit));
    std::vector<std::string> expected = h.expect, got = actual;
    std::sort(expected.begin(), expected.end());
    std::sort(got.begin(), got.end());
    if (expected != got) {
        std::vector<std::string> missing, unexpected;
        std::set_difference(expected.begin(), expected.end(), got.begin(), got.end(), std::back_inserter(missing));
        std::set_difference(got.begin(), got.end(), expected.begin(), expected.end(), std::back_inserter(unexpected));
        problems.push_back("stderr differs from the '# expect:' lines\n  expected but not printed:\n" + joinLines(missing) +
                           "  printed but not expected:\n" + joinLines(unexpected));
    }
    if (r.exitCode == 0) scanOutputs(scratch.out(), problems);

    const auto pending = pendingCases();
    const auto it = pending.find(name);
    if (it != pending.end()) {
        if (problems.empty()) FAIL() << rel << " passes: remove it from tests/data/hostile/PENDING";
        std::string all;
        for (const auto& p : problems) all += "\n  " + p;
        GTEST_SKIP() << "pending (" << it->second << "):" << all;
    }
    for (const auto& p : problems) ADD_FAILURE() << rel << ": " << p << (h.must.empty() ? "" : "\n  must: " + h.must);
}

INSTANTIATE_TEST_SUITE_P(HostileCorpus, HostileCase, ::testing::ValuesIn(corpusCases()), caseName);

TEST(HostileCorpus, HasAtLeast130CasesOverEveryClass) {
    std::map<std::string, int> perClass;
    const auto cases = corpusCases();
    for (const auto& c : cases) ++perClass[readHeader(corpusDir() / c).cls];
    std::string line = std::to_string(cases.size()) + " cases:";
    for (const auto& [cls, n] : perClass) line += " " + cls + "=" + std::to_string(n);
    std::cout << line << "\n";
    RecordProperty("classes", line);
    EXPECT_GE(cases.size(), 130u);
    for (const auto& cls : kClasses) EXPECT_GE(perClass[cls], 1) << "no case of class '" << cls << "'";
}

TEST(HostileCorpus, PendingNamesExistingCases) {
    const auto cases = corpusCases();
    for (const auto& [name, reason] : pendingCases()) {
        EXPECT_TRUE(std::find(cases.begin(), cases.end(), name) != cases.end()) << "PENDING lists '" << name << "', which is not a case";
        EXPECT_FALSE(reason.empty()) << "PENDING gives no reason for '" << name << "'";
    }
}

TEST(HostileCorpus, CaseNamesAreUnique) {
    std::vector<std::string> names;
    const auto cases = corpusCases();
    for (std::size_t i = 0; i < cases.size(); ++i) names.push_back(caseName({cases[i], i}));
    std::sort(names.begin(), names.end());
    EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
}

}  // namespace
