// The run folder writer: stage every file of a run in a hidden sibling folder, write the manifest
// last, then swap the whole folder into place (renameat2 RENAME_EXCHANGE). Linux.

#include "nkscape/io/run.hpp"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>  // renameat2, RENAME_EXCHANGE (glibc, _GNU_SOURCE)
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>

#include "nkscape/error.hpp"
#include "nkscape/io/file.hpp"
#include "nkscape/io/json.hpp"
#include "nkscape/version.hpp"

namespace nkscape::io {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kPartialInfix = ".nkscape-partial.";
constexpr std::string_view kOldInfix = ".nkscape-old.";
constexpr std::string_view kFormat = "nkscape run folder";

std::string reason(int err) { return std::strerror(err); }

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

/// The decimal pid `text`, if it is one (digits only, > 0, fits pid_t).
std::optional<pid_t> parsePid(std::string_view text) {
    if (text.empty() || text.size() > 10) return std::nullopt;
    long long v = 0;
    const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
    if (r.ec != std::errc() || r.ptr != text.data() + text.size() || v <= 0 || v > 0x7fffffffLL) return std::nullopt;
    return static_cast<pid_t>(v);
}

bool allDigits(std::string_view s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

/// True only when no process has this pid. EPERM means one exists (another user's): alive.
bool processIsGone(pid_t pid) { return pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH; }

/// fsync of a folder, so that the renames and creations in it are on disk; returns 0 or errno.
int fsyncDir(const fs::path& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno;
    const int rc = ::fsync(fd) == 0 ? 0 : errno;
    ::close(fd);
    return rc;
}

/// Why the existing folder `dir` is not an nkscape run folder, or empty if it is one (or empty).
/// Ours: a manifest.json that says so. Also ours: a folder of an nkscape version from before
/// manifests (only the files those versions wrote, with a summary.json naming nkscape_version), so
/// that output folders of earlier runs are replaced rather than refused.
std::string notARunFolder(const fs::path& dir) {
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) return "it cannot be listed: " + ec.message();
    bool empty = true, hasManifest = false, onlyLegacyNames = true, hasSummary = false;
    for (const auto& e : it) {
        empty = false;
        const std::string name = e.path().filename().string();
        if (name == kRunManifest) hasManifest = true;
        if (name == "summary.json") hasSummary = true;
        static const char* const kLegacy[] = {"lysis.csv", "ifng.csv", "summary.json", "timeseries.csv", "events.csv"};
        bool legacy = false;
        for (const char* l : kLegacy) {
            // The file itself, or a temporary file of the old per-file atomic writes.
            if (name == l || (name.rfind("." + std::string(l) + ".", 0) == 0 && name.size() > 4 && name.ends_with(".tmp"))) legacy = true;
        }
        if (!legacy) onlyLegacyNames = false;
    }
    if (empty) return {};
    const std::string notOurs = "it is a non-empty folder that is not an nkscape run folder (no manifest.json written by nkscape); "
                                "nkscape does not replace a folder it did not write; give an empty or new folder";
    if (hasManifest) {
        try {
            const Json m = Json::parse(readFile(dir / kRunManifest));
            if (m.is_object() && m.value("format", std::string()) == kFormat) return {};
        } catch (const std::exception&) {
            // unreadable or not JSON: not ours
        }
        return notOurs;
    }
    if (onlyLegacyNames && hasSummary) {
        try {
            const Json s = Json::parse(readFile(dir / "summary.json"));
            if (s.is_object() && s.contains("nkscape_version")) return {};
        } catch (const std::exception&) {
        }
    }
    return notOurs;
}

/// Refuses `target` (absolute, normalised; `shown` for messages) if it exists and cannot be
/// replaced by a run folder. Returns true if it exists.
bool checkTarget(const fs::path& target, const fs::path& shown) {
    struct stat st{};
    if (::lstat(target.c_str(), &st) != 0) {
        if (errno == ENOENT) return false;
        throw InputError("output folder " + quoted(shown) + ": cannot be inspected: " + reason(errno));
    }
    if (S_ISLNK(st.st_mode))
        throw InputError("output folder " + quoted(shown) + ": it is a symbolic link; give the folder it points to");
    if (!S_ISDIR(st.st_mode)) throw InputError("output folder " + quoted(shown) + ": it exists and is not a directory");
    if (const std::string why = notARunFolder(target); !why.empty()) throw InputError("output folder " + quoted(shown) + ": " + why);
    return true;
}

/// Removes the staging and old folders of dead runs for the folder named `name` in `parent`, and
/// the temporary files of dead writeFileAtomic calls inside `target`. Best effort: what cannot be
/// removed now is tried again by the next run.
void removeStale(const fs::path& parent, const std::string& name, const fs::path& target) {
    std::error_code ec;
    const std::string prefix = "." + name;
    for (fs::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string entry = it->path().filename().string();
        if (entry.rfind(prefix, 0) != 0) continue;
        const std::string_view rest = std::string_view(entry).substr(prefix.size());
        std::optional<pid_t> pid;
        if (rest.rfind(kPartialInfix, 0) == 0) pid = parsePid(rest.substr(kPartialInfix.size()));
        else if (rest.rfind(kOldInfix, 0) == 0) pid = parsePid(rest.substr(kOldInfix.size()));
        std::error_code rm;
        if (pid && processIsGone(*pid)) fs::remove_all(it->path(), rm);
    }
    ec.clear();
    for (fs::directory_iterator it(target, ec), end; !ec && it != end; it.increment(ec)) {
        // ".<file>.<pid>.<n>.tmp"
        const std::string entry = it->path().filename().string();
        if (entry.size() < 8 || entry.front() != '.' || !entry.ends_with(".tmp")) continue;
        const std::string_view core = std::string_view(entry).substr(1, entry.size() - 5);  // "<file>.<pid>.<n>"
        const auto dotN = core.rfind('.');
        if (dotN == std::string_view::npos || dotN == 0 || !allDigits(core.substr(dotN + 1))) continue;
        const auto dotPid = core.rfind('.', dotN - 1);
        if (dotPid == std::string_view::npos || dotPid == 0) continue;
        const auto pid = parsePid(core.substr(dotPid + 1, dotN - dotPid - 1));
        std::error_code rm;
        if (pid && processIsGone(*pid)) fs::remove(it->path(), rm);
    }
}

std::string hex64(std::uint64_t v) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string s(16, '0');
    for (int i = 15; i >= 0; --i, v >>= 4) s[static_cast<std::size_t>(i)] = kHex[v & 0xF];
    return s;
}

}  // namespace

std::string_view runStageName(RunStage stage) noexcept {
    switch (stage) {
        case RunStage::StagingCreated: return "staging-created";
        case RunStage::FileAdded: return "file-added";
        case RunStage::ManifestWritten: return "manifest-written";
        case RunStage::Swapped: return "swapped";
        case RunStage::Done: return "done";
    }
    return "unknown";
}

std::uint64_t fnv1a64(std::string_view bytes) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (char c : bytes) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ULL;
    }
    return h;
}

RunFolder::RunFolder(fs::path target, std::string kind, RunFolderOptions options)
    : target_(std::move(target)), kind_(std::move(kind)), options_(std::move(options)) {
    if (target_.empty()) throw InputError("output folder '': the path is empty; give --out a folder name");
    std::error_code ec;
    resolved_ = fs::absolute(target_, ec).lexically_normal();
    if (ec) throw InputError("output folder " + quoted(target_) + ": cannot be resolved: " + ec.message());
    if (resolved_.filename().empty() && resolved_.has_parent_path() && resolved_ != resolved_.root_path())
        resolved_ = resolved_.parent_path();  // "out/" is "out"
    const std::string name = resolved_.filename().string();
    if (name.empty() || name == "." || name == "..")
        throw InputError("output folder " + quoted(target_) + ": it has no folder name of its own (give e.g. 'out/run1')");
    const fs::path parent = resolved_.parent_path();

    checkTarget(resolved_, target_);
    fs::create_directories(parent, ec);
    if (ec) throw InputError("output folder " + quoted(target_) + ": cannot create its parent folder " + quoted(parent) + ": " + ec.message());
    removeStale(parent, name, resolved_);

    const std::string pid = std::to_string(::getpid());
    staging_ = parent / ("." + name + std::string(kPartialInfix) + pid);
    old_ = parent / ("." + name + std::string(kOldInfix) + pid);
    // Creating the staging folder is the proof that the parent is writable, before any computation.
    if (::mkdir(staging_.c_str(), 0777) != 0) {
        const int err = errno;
        if (err == EEXIST)
            throw InputError("output folder " + quoted(target_) + ": the staging folder " + quoted(staging_) +
                             " exists already (another writer of this folder in this process?)");
        // Not the staging folder's name: it holds the pid, and the message should read the same
        // every time.
        throw InputError("output folder " + quoted(target_) + ": cannot create a staging folder in " + quoted(parent) + ": " + reason(err) +
                         " (is " + quoted(parent) + " a writable folder?)");
    }
    try {
        stage(RunStage::StagingCreated);
    } catch (...) {
        fs::remove_all(staging_, ec);
        throw;
    }
}

RunFolder::~RunFolder() {
    if (committed_) return;
    try {
        std::error_code ec;
        fs::remove_all(staging_, ec);
    } catch (...) {
        // Nothing to do: the next run removes a staging folder of a dead process.
    }
}

void RunFolder::stage(RunStage stage, std::string_view detail) const {
    if (options_.onStage) options_.onStage(stage, detail);
}

void RunFolder::writeStaged(const std::string& name, std::string_view contents) const {
    const fs::path path = staging_ / name;
    const std::string what = "cannot write " + quoted(target_ / name) + " (staged as " + quoted(path) + "): ";
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) throw IoError(what + reason(errno));
    int err = 0;
    const char* p = contents.data();
    std::size_t left = contents.size();
    while (left > 0 && err == 0) {
        const ssize_t n = ::write(fd, p, left);
        if (n < 0) {
            if (errno != EINTR) err = errno;
            continue;
        }
        p += n;
        left -= static_cast<std::size_t>(n);
    }
    if (err == 0 && ::fsync(fd) != 0) err = errno;
    if (::close(fd) != 0 && err == 0) err = errno;
    if (err != 0) {
        ::unlink(path.c_str());
        throw IoError(what + reason(err));
    }
}

void RunFolder::add(const std::string& name, std::string_view contents) {
    if (committed_) throw InternalError("run folder " + quoted(target_) + ": add('" + name + "') after commit()");
    const bool plain = !name.empty() && name.front() != '.' && name.find('/') == std::string::npos && name.find('\0') == std::string::npos;
    if (!plain) throw InternalError("run folder " + quoted(target_) + ": '" + name + "' is not a plain file name");
    if (name == kRunManifest) throw InternalError("run folder " + quoted(target_) + ": manifest.json is written by commit(), not add()");
    for (const auto& e : entries_)
        if (e.name == name) throw InternalError("run folder " + quoted(target_) + ": file '" + name + "' added twice");
    writeStaged(name, contents);
    entries_.push_back({name, contents.size(), fnv1a64(contents)});
    stage(RunStage::FileAdded, name);
}

std::vector<fs::path> RunFolder::commit() {
    if (committed_) throw InternalError("run folder " + quoted(target_) + ": commit() called twice");
    Json files = Json::array();
    for (const auto& e : entries_) files.push_back({{"name", e.name}, {"bytes", e.bytes}, {"fnv1a64", hex64(e.checksum)}});
    const Json manifest = {{"format", kFormat}, {"format_version", 1}, {"kind", kind_}, {"nkscape_version", kVersion}, {"files", files}};
    // The manifest last: a staging folder with a manifest is complete.
    writeStaged(std::string(kRunManifest), jsonText(manifest));
    stage(RunStage::ManifestWritten);
    if (const int err = fsyncDir(staging_); err != 0)
        throw IoError("cannot write run folder " + quoted(target_) + ": fsync of " + quoted(staging_) + " failed: " + reason(err));

    const std::string what = "cannot put run folder " + quoted(target_) + " in place: ";
    fs::path previous;  // where the previous run is once the new one is in place (empty: none)
    bool exists = checkTarget(resolved_, target_);
    if (!exists) {
        if (::rename(staging_.c_str(), resolved_.c_str()) == 0) {
            committed_ = true;
        } else if (errno == EEXIST || errno == ENOTEMPTY) {
            exists = checkTarget(resolved_, target_);  // created meanwhile: swap with it if it is ours
        } else {
            throw IoError(what + reason(errno));
        }
    }
    if (!committed_ && exists) {
        bool fallback = options_.forceRenameFallback;
        if (!fallback) {
            if (::renameat2(AT_FDCWD, staging_.c_str(), AT_FDCWD, resolved_.c_str(), RENAME_EXCHANGE) == 0) {
                previous = staging_;
                committed_ = true;
            } else if (errno == EINVAL || errno == ENOSYS) {
                fallback = true;  // the file system cannot exchange: see the header
            } else {
                throw IoError(what + reason(errno));
            }
        }
        if (fallback) {
            std::error_code ec;
            fs::remove_all(old_, ec);  // a leftover of a dead process that had our pid
            if (::rename(resolved_.c_str(), old_.c_str()) != 0) throw IoError(what + "moving the previous run aside: " + reason(errno));
            if (::rename(staging_.c_str(), resolved_.c_str()) != 0) {
                const int err = errno;
                (void)::rename(old_.c_str(), resolved_.c_str());  // put the previous run back
                throw IoError(what + reason(err));
            }
            previous = old_;
            committed_ = true;
        }
    }
    stage(RunStage::Swapped);
    if (!previous.empty()) {
        // Best effort: a folder left here is removed by the next run once this process is gone.
        std::error_code ec;
        fs::remove_all(previous, ec);
    }
    (void)fsyncDir(resolved_.parent_path());  // durability of the rename; the run is in place already
    stage(RunStage::Done);

    std::vector<fs::path> paths;
    for (const auto& e : entries_) paths.push_back(target_ / e.name);
    return paths;
}

}  // namespace nkscape::io
