// Atomic file writes: temporary file in the target's folder, fsync, rename. POSIX.

#include "nkscape/io/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "nkscape/error.hpp"

namespace nkscape::io {
namespace {

std::string reason(int err) { return std::strerror(err); }

// Closes a descriptor and removes the temporary file unless release() was called.
class TempFile {
public:
    TempFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    ~TempFile() {
        if (fd_ >= 0) ::close(fd_);
        if (!path_.empty()) ::unlink(path_.c_str());
    }
    [[nodiscard]] int fd() const noexcept { return fd_; }
    /// Closes the descriptor; returns 0 or errno.
    int close() {
        const int rc = ::close(fd_);
        fd_ = -1;
        return rc == 0 ? 0 : errno;
    }
    /// The file was renamed into place: nothing to remove.
    void release() { path_.clear(); }

private:
    int fd_;
    std::string path_;
};

std::atomic<unsigned> gTempCounter{0};  // distinguishes temporary names within one process

}  // namespace

void writeFileAtomic(const std::filesystem::path& path, std::string_view contents) {
    const std::string target = path.string();
    if (path.filename().empty()) throw IoError("cannot write '" + target + "': not a file name");
    const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");

    // An exclusive new file next to the target (same file system, so rename() is atomic).
    int fd = -1;
    std::string tmp;
    for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
        tmp = (dir / ("." + path.filename().string() + "." + std::to_string(::getpid()) + "." +
                      std::to_string(gTempCounter.fetch_add(1)) + ".tmp"))
                  .string();
        fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        throw IoError("cannot write '" + target + "': cannot create a temporary file in '" + dir.string() + "': " + reason(errno));
    }
    TempFile file(fd, tmp);

    const char* p = contents.data();
    std::size_t left = contents.size();
    while (left > 0) {
        const ssize_t n = ::write(file.fd(), p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw IoError("cannot write '" + target + "': " + reason(errno));
        }
        p += n;
        left -= static_cast<std::size_t>(n);
    }
    if (::fsync(file.fd()) != 0) throw IoError("cannot write '" + target + "': fsync failed: " + reason(errno));
    if (const int err = file.close(); err != 0) throw IoError("cannot write '" + target + "': close failed: " + reason(err));
    if (::rename(tmp.c_str(), target.c_str()) != 0) throw IoError("cannot write '" + target + "': " + reason(errno));
    file.release();

    // Make the rename itself durable. Best effort: the file is complete under its name already.
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)::fsync(dfd);
        ::close(dfd);
    }
}

std::string readFile(const std::filesystem::path& path, std::size_t maxBytes) {
    const std::string name = path.string();
    // O_NONBLOCK: opening a FIFO for reading must not wait for a writer; the descriptor is
    // refused below unless it is a regular file, whose reads never block.
    const int fd = ::open(name.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) throw IoError("cannot read '" + name + "': " + reason(errno));
    TempFile guard(fd, "");  // closes the descriptor on every path; removes nothing
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw IoError("cannot read '" + name + "': " + reason(errno));
    if (!S_ISREG(st.st_mode)) {
        const char* what = S_ISDIR(st.st_mode)    ? "it is a directory"
                           : S_ISFIFO(st.st_mode) ? "it is a FIFO (named pipe), not a regular file"
                           : S_ISCHR(st.st_mode)  ? "it is a character device, not a regular file"
                           : S_ISBLK(st.st_mode)  ? "it is a block device, not a regular file"
                           : S_ISSOCK(st.st_mode) ? "it is a socket, not a regular file"
                                                  : "it is not a regular file";
        throw IoError("cannot read '" + name + "': " + what);
    }
    auto tooLarge = [&](std::uint64_t bytes) {
        return IoError("cannot read '" + name + "': it is " + std::to_string(bytes) + " bytes; input files are limited to " +
                       std::to_string(maxBytes) + " bytes (" + std::to_string(maxBytes >> 20) + " MiB)");
    };
    if (static_cast<std::uint64_t>(st.st_size) > maxBytes) throw tooLarge(static_cast<std::uint64_t>(st.st_size));
    // Read at most maxBytes + 1: a file that grows while it is read is still refused, not
    // read without bound.
    std::string out;
    out.resize(static_cast<std::size_t>(st.st_size));
    std::size_t have = 0;
    for (;;) {
        if (have == out.size()) {
            if (out.size() > maxBytes) throw tooLarge(out.size());
            out.resize(std::min<std::size_t>(maxBytes + 1, std::max<std::size_t>(out.size() * 2, 4096)));
        }
        const ssize_t n = ::read(fd, out.data() + have, out.size() - have);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw IoError("cannot read '" + name + "': " + reason(errno));
        }
        if (n == 0) break;
        have += static_cast<std::size_t>(n);
    }
    out.resize(have);
    if (have > maxBytes) throw tooLarge(have);
    return out;
}

}  // namespace nkscape::io
