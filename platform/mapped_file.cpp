// A file mapped shared into memory: open/create, flock, posix_fallocate, mmap, msync.
#include "platform/mapped_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace spear::platform {
namespace {

[[noreturn]] void fail(const std::string& what, int err) {
    throw std::runtime_error(what + ": " + std::strerror(err));
}

} // namespace

void ensure_directory(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            throw std::runtime_error(path + ": exists and is not a directory");
        return;
    }
    if (::mkdir(path.c_str(), 0750) != 0 && errno != EEXIST)
        fail("cannot create data directory " + path, errno);
}

dir_lock::dir_lock(const std::string& dir) {
    const auto path = dir + "/lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd_ < 0)
        fail("cannot open lock file " + path, errno);
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        ::close(fd_);
        fd_ = -1;
        if (err == EWOULDBLOCK)
            throw std::runtime_error("data directory " + dir +
                                     " is in use by another spearlet (" + path +
                                     " is locked); one appliance per node.data_dir");
        fail("cannot lock " + path, err);
    }
}

dir_lock::~dir_lock() {
    if (fd_ >= 0)
        ::close(fd_); // releases the flock
}

mapped_file::mapped_file(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd_ < 0)
        fail("cannot open " + path_ + " for writing", errno);
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
        const int err = errno;
        ::close(fd_);
        fail("cannot stat " + path_, err);
    }
    size_at_open_ = static_cast<std::uint64_t>(st.st_size);
}

mapped_file::~mapped_file() {
    unmap();
    if (fd_ >= 0)
        ::close(fd_);
}

void mapped_file::unmap() noexcept {
    if (base_ != nullptr)
        ::munmap(base_, size_);
    base_ = nullptr;
    size_ = 0;
}

void mapped_file::map_existing() {
    unmap();
    if (size_at_open_ == 0)
        return;
    void* p = ::mmap(nullptr, size_at_open_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED)
        fail("cannot map " + path_, errno);
    base_ = p;
    size_ = size_at_open_;
}

void mapped_file::create(std::uint64_t bytes, bool zero) {
    unmap();
    if (zero && ::ftruncate(fd_, 0) != 0)
        fail("cannot truncate " + path_, errno);
    if (::ftruncate(fd_, static_cast<off_t>(bytes)) != 0)
        fail("cannot size " + path_ + " to " + std::to_string(bytes) + " bytes", errno);
    // Reserve every block now: writes through the mapping can then never meet a full disk
    // (which would be SIGBUS, not an error code).
    if (const int err = ::posix_fallocate(fd_, 0, static_cast<off_t>(bytes)); err != 0)
        fail("cannot reserve " + std::to_string(bytes) + " bytes for " + path_ +
                 (err == ENOSPC ? " (the disk is full)" : ""),
             err);
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED)
        fail("cannot map " + path_, errno);
    base_ = p;
    size_ = bytes;
}

std::error_code mapped_file::sync(std::uint64_t offset, std::uint64_t length) noexcept {
    if (base_ == nullptr || length == 0)
        return {};
    static const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    const auto begin = offset / page * page;
    const auto end = std::min<std::uint64_t>(size_, offset + length);
    if (::msync(static_cast<char*>(base_) + begin, end - begin, MS_SYNC) != 0)
        return {errno, std::generic_category()};
    return {};
}

} // namespace spear::platform
