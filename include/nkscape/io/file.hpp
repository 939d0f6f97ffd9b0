#pragma once
/// \file
/// Writing files safely. A single file (a generated document, a test fixture) goes through
/// writeFileAtomic(): a reader (or a crash, or a full disk) sees either the previous file or the
/// complete new one under the final name, never half a file. An engine's output folder, several
/// files that belong together, goes through io::RunFolder (run.hpp) instead.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

namespace nkscape::io {

/// Writes `contents` to `path` atomically: the bytes go to a temporary file in the same folder
/// (".<name>.<pid>.<n>.tmp", created with O_EXCL and mode 0666 minus the umask), which is flushed
/// to disk (fsync) and then renamed over `path`; the folder is fsync'ed afterwards (best effort).
/// On any failure the temporary file is removed and `path` is left as it was.
/// \throws IoError naming `path` and the reason (folder missing or not writable, disk full, `path`
///         is a directory, ...).
void writeFileAtomic(const std::filesystem::path& path, std::string_view contents);

/// The largest input file (model, include or scenario) nkscape reads: 16 MiB. The shipped model
/// is about 0.3 MiB in all; the cap keeps `/dev/zero` or a wrong multi-gigabyte file from being
/// read into memory before it is rejected.
inline constexpr std::size_t kMaxInputFileBytes = std::size_t{16} << 20;

/// Reads a whole regular file into memory (binary, no newline translation), at most `maxBytes`.
/// A FIFO, device, socket or directory is refused without reading (and a FIFO without waiting
/// for a writer); so is a file larger than `maxBytes`, even one that grows while it is read.
/// \throws IoError naming `path` and the reason (missing, not a regular file, too large, ...).
[[nodiscard]] std::string readFile(const std::filesystem::path& path, std::size_t maxBytes = kMaxInputFileBytes);

}  // namespace nkscape::io
