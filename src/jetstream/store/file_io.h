// Positional whole-buffer I/O for the file store's segments and index files, and the
// directory sync every durable rename or creation needs.
#pragma once
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>

namespace osprey::jetstream::file_io {

inline bool write_all(int fd, const char* p, std::size_t n, std::uint64_t off) {
    while (n > 0) {
        ssize_t w = ::pwrite(fd, p, n, off_t(off));
        if (w < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += w;
        n -= std::size_t(w);
        off += std::uint64_t(w);
    }
    return true;
}

// `size` bytes from `off` (fewer if the file is shorter).
inline std::string read_at(int fd, std::uint64_t size, std::uint64_t off = 0) {
    std::string buf(size, '\0');
    std::size_t got = 0;
    while (got < buf.size()) {
        ssize_t n = ::pread(fd, buf.data() + got, buf.size() - got, off_t(off + got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += std::size_t(n);
    }
    buf.resize(got);
    return buf;
}

// fsync of a directory: its entries (a created, renamed or removed file) are durable after it.
inline bool sync_dir(const std::string& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return false;
    const bool ok = ::fsync(fd) == 0;
    ::close(fd);
    return ok;
}

}  // namespace osprey::jetstream::file_io
