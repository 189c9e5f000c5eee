// A file mapped shared into memory (durable results): open or create, lock, reserve its
// blocks, map, msync. Errors are std::runtime_error with a message naming the path and reason.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <system_error>

namespace spear::platform {

/// Creates `path` (one level, mode 0750) unless it is a directory already; throws
/// std::runtime_error naming the path and the OS reason otherwise.
void ensure_directory(const std::string& path);

/// An exclusive lock on `dir`/lock (flock, non-blocking), held for the object's life: one
/// appliance per data dir. Throws std::runtime_error when another process holds it.
class dir_lock {
public:
    explicit dir_lock(const std::string& dir);
    ~dir_lock();
    dir_lock(const dir_lock&) = delete;
    dir_lock& operator=(const dir_lock&) = delete;

private:
    int fd_ = -1;
};

class mapped_file {
public:
    /// Opens `path` read-write, creating it (mode 0640) when missing; maps nothing yet.
    explicit mapped_file(std::string path);
    ~mapped_file();
    mapped_file(const mapped_file&) = delete;
    mapped_file& operator=(const mapped_file&) = delete;

    /// The file's size when it was opened (0 for a new file).
    std::uint64_t size_at_open() const noexcept { return size_at_open_; }
    const std::string& path() const noexcept { return path_; }

    /// Maps the file as it is (size_at_open bytes) to read it.
    void map_existing();
    /// Sizes the file to `bytes` (new bytes read as zero), reserves its blocks on disk
    /// (posix_fallocate: a full disk fails here, at start, never as SIGBUS on a write later)
    /// and maps it shared. `zero` first truncates to 0 (a fresh file of that size).
    void create(std::uint64_t bytes, bool zero);

    std::span<char> bytes() noexcept { return {static_cast<char*>(base_), size_}; }
    std::span<const char> bytes() const noexcept { return {static_cast<const char*>(base_), size_}; }

    /// msync(MS_SYNC) of the pages covering [offset, offset + length): blocks until they are
    /// on disk. Returns the OS error, if any.
    std::error_code sync(std::uint64_t offset, std::uint64_t length) noexcept;
    std::error_code sync_all() noexcept { return sync(0, size_); }

private:
    void unmap() noexcept;
    std::string path_;
    int fd_ = -1;
    void* base_ = nullptr;
    std::size_t size_ = 0;
    std::uint64_t size_at_open_ = 0;
};

} // namespace spear::platform
