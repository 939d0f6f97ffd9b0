#pragma once
/// \file
/// Whole runs or nothing: the one writer of an engine's output folder (`--out`).
///
/// A RunFolder is created with the output path before any computation, so that a path that cannot
/// hold a run is refused at once. Files are added into a hidden staging folder next to the target,
/// `<parent>/.<name>.nkscape-partial.<pid>`; commit() writes `manifest.json` last and then puts the
/// whole folder in place in one step:
///   - no target yet: rename(staging, target);
///   - a previous run there: renameat2(staging, target, RENAME_EXCHANGE) swaps the two folders
///     atomically, then the staging path (now holding the previous run) is removed.
/// A reader of `--out`, or a run killed at any moment, therefore sees either the previous complete
/// run or the new complete run, never a mixture. On file systems without RENAME_EXCHANGE (EINVAL,
/// ENOSYS) the fallback is rename(target, `.<name>.nkscape-old.<pid>`), rename(staging, target),
/// remove the old folder: between the two renames (microseconds) the target is absent, and a run
/// killed exactly there leaves the previous run under the `.nkscape-old` name (removed by the next
/// run's stale cleanup).
///
/// `manifest.json` identifies a run folder as nkscape's: an existing non-empty folder without one
/// is never replaced. It lists the run's kind, the nkscape version and each file with its size and
/// FNV-1a 64-bit checksum, in the order added; it holds no time stamp, so the same inputs give the
/// same bytes.
///
/// Staging and old folders of runs whose process is gone (kill(pid, 0) fails with ESRCH), and the
/// per-file temporary files of io::writeFileAtomic (`.<file>.<pid>.<n>.tmp`) of dead processes
/// inside the target, are removed when the next RunFolder for the same target is created.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace nkscape::io {

/// The name of the manifest of a run folder.
inline constexpr std::string_view kRunManifest = "manifest.json";

/// Where a RunFolder is in writing a run; see RunFolderOptions::onStage.
enum class RunStage {
    StagingCreated,   ///< the empty staging folder exists
    FileAdded,        ///< one file (named in the detail) is complete and fsync'ed in staging
    ManifestWritten,  ///< manifest.json is complete in staging, nothing moved yet
    Swapped,          ///< the new run is at the target; the previous one (if any) not yet removed
    Done,             ///< the previous run is removed and the parent fsync'ed
};

/// The name of a stage ("staging-created", "file-added", ...), for messages and tests.
[[nodiscard]] std::string_view runStageName(RunStage stage) noexcept;

/// Options of a RunFolder.
struct RunFolderOptions {
    /// Called at each stage with the stage and a detail (the file name for FileAdded, else empty).
    /// For tests that kill the process at a given stage; empty in production.
    std::function<void(RunStage stage, std::string_view detail)> onStage;
    /// For tests: behave as if the file system had no RENAME_EXCHANGE (use the fallback).
    bool forceRenameFallback = false;
};

/// FNV-1a, 64 bit, of `bytes` (the checksum of manifest.json).
[[nodiscard]] std::uint64_t fnv1a64(std::string_view bytes) noexcept;

/// One run's output folder, written as a whole or not at all (see the file comment).
class RunFolder {
public:
    /// Checks `target` and creates the staging folder next to it; removes stale staging/old
    /// folders and temporary files of dead runs. `kind` is the engine ("assay", "simulate", ...),
    /// recorded in the manifest.
    /// \throws InputError naming `target` and the reason if: the path is empty or has no folder
    ///         name; it exists and is not a directory (or is a symbolic link); it is a non-empty
    ///         directory that is not an nkscape run folder (no manifest.json of ours); its parent
    ///         cannot be created; the staging folder cannot be created in the parent (not writable).
    RunFolder(std::filesystem::path target, std::string kind, RunFolderOptions options = {});

    /// Without commit(): removes the staging folder. Never throws.
    ~RunFolder();

    RunFolder(const RunFolder&) = delete;
    RunFolder& operator=(const RunFolder&) = delete;
    RunFolder(RunFolder&&) = delete;
    RunFolder& operator=(RunFolder&&) = delete;

    /// Writes `contents` as file `name` into the staging folder (created exclusively, fsync'ed).
    /// \throws InternalError if `name` is not a plain file name (empty, ".", "..", contains '/' or
    ///         NUL, starts with '.'), is manifest.json, was already added, or after commit();
    ///         IoError naming the file and the reason if it cannot be written (disk full, ...).
    void add(const std::string& name, std::string_view contents);

    /// Writes manifest.json, fsyncs the staging folder and puts it in place of the target (see
    /// the file comment). Returns the paths of the added files under the target, in the order
    /// added (manifest.json not included).
    /// \throws InputError if the target has meanwhile become something that is not a run folder;
    ///         IoError naming the target and the reason if a write or rename fails (the target is
    ///         then unchanged); InternalError if called twice.
    std::vector<std::filesystem::path> commit();

    /// The output folder, as given.
    [[nodiscard]] const std::filesystem::path& target() const noexcept { return target_; }
    /// The staging folder `<parent>/.<name>.nkscape-partial.<pid>`.
    [[nodiscard]] const std::filesystem::path& staging() const noexcept { return staging_; }

private:
    struct Entry {
        std::string name;
        std::uint64_t bytes;
        std::uint64_t checksum;
    };
    void stage(RunStage stage, std::string_view detail = {}) const;
    void writeStaged(const std::string& name, std::string_view contents) const;

    std::filesystem::path target_;   // as given, for messages and the returned paths
    std::filesystem::path resolved_; // absolute, normalised: what is renamed
    std::filesystem::path staging_;
    std::filesystem::path old_;      // the fallback's `.<name>.nkscape-old.<pid>`
    std::string kind_;
    RunFolderOptions options_;
    std::vector<Entry> entries_;
    bool committed_ = false;
};

}  // namespace nkscape::io
