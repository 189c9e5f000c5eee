// The in-memory WASI preview1 layer: argument decoding, bounds-checked guest memory access and
// each implemented function.
#include "runtime/wasm/wasi_context.hpp"

#include "core/scope_exit.hpp"
#include "runtime/wasm/wasi_abi.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>

namespace spear::runtime::wasm {

namespace abi = wasi_abi;

static_assert(std::endian::native == std::endian::little,
              "guest memory is little-endian and is read with memcpy");

namespace {

using vt = value_type;

struct known_function {
    std::string_view name;
    wasi_function fn;
    signature type;
};

signature sig(std::initializer_list<vt> params, std::initializer_list<vt> results) {
    return signature{std::vector<vt>(params), std::vector<vt>(results)};
}

const std::vector<known_function>& known_functions() {
    static const std::vector<known_function> table = [] {
        const auto i32 = vt::i32;
        const auto i64 = vt::i64;
        return std::vector<known_function>{
            {"args_get", wasi_function::args_get, sig({i32, i32}, {i32})},
            {"args_sizes_get", wasi_function::args_sizes_get, sig({i32, i32}, {i32})},
            {"environ_get", wasi_function::environ_get, sig({i32, i32}, {i32})},
            {"environ_sizes_get", wasi_function::environ_sizes_get, sig({i32, i32}, {i32})},
            {"clock_res_get", wasi_function::clock_res_get, sig({i32, i32}, {i32})},
            {"clock_time_get", wasi_function::clock_time_get, sig({i32, i64, i32}, {i32})},
            {"fd_close", wasi_function::fd_close, sig({i32}, {i32})},
            {"fd_fdstat_get", wasi_function::fd_fdstat_get, sig({i32, i32}, {i32})},
            {"fd_fdstat_set_flags", wasi_function::fd_fdstat_set_flags, sig({i32, i32}, {i32})},
            {"fd_filestat_get", wasi_function::fd_filestat_get, sig({i32, i32}, {i32})},
            {"fd_prestat_get", wasi_function::fd_prestat_get, sig({i32, i32}, {i32})},
            {"fd_prestat_dir_name", wasi_function::fd_prestat_dir_name,
             sig({i32, i32, i32}, {i32})},
            {"fd_read", wasi_function::fd_read, sig({i32, i32, i32, i32}, {i32})},
            {"fd_pread", wasi_function::fd_pread, sig({i32, i32, i32, i64, i32}, {i32})},
            {"fd_readdir", wasi_function::fd_readdir, sig({i32, i32, i32, i64, i32}, {i32})},
            {"fd_seek", wasi_function::fd_seek, sig({i32, i64, i32, i32}, {i32})},
            {"fd_tell", wasi_function::fd_tell, sig({i32, i32}, {i32})},
            {"fd_write", wasi_function::fd_write, sig({i32, i32, i32, i32}, {i32})},
            {"path_open", wasi_function::path_open,
             sig({i32, i32, i32, i32, i32, i64, i64, i32, i32}, {i32})},
            {"path_filestat_get", wasi_function::path_filestat_get,
             sig({i32, i32, i32, i32, i32}, {i32})},
            {"poll_oneoff", wasi_function::poll_oneoff, sig({i32, i32, i32, i32}, {i32})},
            {"proc_exit", wasi_function::proc_exit, sig({i32}, {})},
            {"random_get", wasi_function::random_get, sig({i32, i32}, {i32})},
            {"sched_yield", wasi_function::sched_yield, sig({}, {i32})},
        };
    }();
    return table;
}

/// preview1 functions that would change files: they answer EROFS.
constexpr std::string_view writing_functions[] = {
    "fd_allocate",
    "fd_datasync",
    "fd_filestat_set_size",
    "fd_filestat_set_times",
    "fd_pwrite",
    "fd_sync",
    "path_create_directory",
    "path_filestat_set_times",
    "path_link",
    "path_remove_directory",
    "path_rename",
    "path_symlink",
    "path_unlink_file",
};

std::uint16_t from_host_errno(int e) {
    switch (e) {
    case ENOENT:
        return abi::errno_noent;
    case EACCES:
        return abi::errno_acces;
    case EPERM:
        return abi::errno_perm;
    case ENOTDIR:
        return abi::errno_notdir;
    case EISDIR:
        return abi::errno_isdir;
    case ELOOP:
        return abi::errno_loop;
    case ENAMETOOLONG:
        return abi::errno_nametoolong;
    case EMFILE:
    case ENFILE:
        return abi::errno_mfile;
    case EINVAL:
        return abi::errno_inval;
    case EROFS:
        return abi::errno_rofs;
    case EEXIST:
        return abi::errno_exist;
    case EOVERFLOW:
        return abi::errno_overflow;
    case ESPIPE:
        return abi::errno_spipe;
    default:
        return abi::errno_io;
    }
}

std::uint8_t filetype_of(mode_t mode) {
    if (S_ISREG(mode))
        return abi::filetype_regular_file;
    if (S_ISDIR(mode))
        return abi::filetype_directory;
    if (S_ISCHR(mode))
        return abi::filetype_character_device;
    if (S_ISBLK(mode))
        return abi::filetype_block_device;
    if (S_ISLNK(mode))
        return abi::filetype_symbolic_link;
    return abi::filetype_unknown;
}

std::uint64_t to_ns(const timespec& ts) {
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

std::uint32_t u32(std::uint64_t slot) {
    return static_cast<std::uint32_t>(slot);
}

constexpr std::uint64_t rights_file = abi::right_fd_read | abi::right_fd_seek | abi::right_fd_tell |
                                      abi::right_fd_filestat_get | abi::right_poll_fd_readwrite;
constexpr std::uint64_t rights_dir = abi::right_path_open | abi::right_fd_readdir |
                                     abi::right_path_filestat_get | abi::right_fd_filestat_get;

} // namespace

std::optional<wasi_function> bind_wasi_import(const import_info& import, std::string& error) {
    const std::string what = "import " + import.module + "." + import.name;
    if (import.module != abi::module_name) {
        error = what + ": only " + abi::module_name + " functions are provided";
        return std::nullopt;
    }
    if (import.kind != import_kind::function) {
        error = what + ": only functions are provided (a module defines its own memory)";
        return std::nullopt;
    }
    for (const auto& k : known_functions()) {
        if (k.name != import.name)
            continue;
        if (!(k.type == import.type)) {
            error = what + " has type " + to_string(import.type) + ", WASI preview1 says " +
                    to_string(k.type);
            return std::nullopt;
        }
        return k.fn;
    }
    if (import.type.results.size() != 1 || import.type.results[0] != vt::i32) {
        error = what + " is not a WASI preview1 function this host knows";
        return std::nullopt;
    }
    for (auto name : writing_functions)
        if (name == import.name)
            return wasi_function::unsupported_rofs;
    return wasi_function::unsupported_nosys;
}

// --- wasi_host defaults ---------------------------------------------------------------------

std::uint64_t wasi_host::realtime_ns() {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now).count());
}

std::uint64_t wasi_host::monotonic_ns() {
    const auto now = std::chrono::steady_clock::now().time_since_epoch();
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now).count());
}

void wasi_host::random_bytes(std::span<std::uint8_t> out) {
    std::size_t done = 0;
    while (done < out.size()) {
        const auto n = ::getrandom(out.data() + done, out.size() - done, 0);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
        } else if (n < 0 && errno != EINTR) {
            // No getrandom (very old kernel): fall back to random_device, still not a PRNG
            // whose seed a guest could guess from its outputs.
            std::random_device rd;
            for (; done < out.size(); ++done)
                out[done] = static_cast<std::uint8_t>(rd());
        }
    }
}

// --- guest memory ---------------------------------------------------------------------------

/// Bounds-checked little-endian access to linear memory; every failure is EFAULT. It counts
/// the bytes a call touches (the metering's measure): `at` counts the span it hands out,
/// `load`/`store`/`zero` what they access, `iovecs` the array only; a call adds the iovec
/// bytes it really moves with `touch`.
class wasi_context::guest_memory {
public:
    explicit guest_memory(memory_view v)
        : v_(v) {}

    bool valid(std::uint64_t ptr, std::uint64_t len) const noexcept {
        return ptr <= v_.size && len <= v_.size - ptr;
    }
    std::uint8_t* at(std::uint64_t ptr, std::uint64_t len) noexcept {
        if (!valid(ptr, len))
            return nullptr;
        touched_ += len;
        return v_.data + ptr;
    }
    template <typename T> bool load(std::uint64_t ptr, T& out) noexcept {
        if (!valid(ptr, sizeof(T)))
            return false;
        std::memcpy(&out, v_.data + ptr, sizeof(T));
        touched_ += sizeof(T);
        return true;
    }
    template <typename T> bool store(std::uint64_t ptr, T value) noexcept {
        if (!valid(ptr, sizeof(T)))
            return false;
        std::memcpy(v_.data + ptr, &value, sizeof(T));
        touched_ += sizeof(T);
        return true;
    }
    bool zero(std::uint64_t ptr, std::uint64_t len) noexcept {
        if (!valid(ptr, len))
            return false;
        std::memset(v_.data + ptr, 0, len);
        touched_ += len;
        return true;
    }
    /// The iovec array at `iovs`, each buffer checked; false on any bad pointer.
    bool iovecs(std::uint32_t iovs, std::uint32_t count, std::vector<::iovec>& out) {
        out.clear();
        for (std::uint32_t i = 0; i < count; ++i) {
            std::uint32_t buf = 0;
            std::uint32_t len = 0;
            const std::uint64_t at_ = std::uint64_t{iovs} + std::uint64_t{i} * abi::iovec_size;
            if (!load(at_, buf) || !load(at_ + 4, len) || !valid(buf, len))
                return false;
            out.push_back(::iovec{v_.data + buf, len});
        }
        return true;
    }
    void touch(std::uint64_t bytes) noexcept { touched_ += bytes; }
    std::uint64_t touched() const noexcept { return touched_; }

private:
    memory_view v_;
    std::uint64_t touched_ = 0;
};

namespace {

/// Trims an iovec list so that it covers at most `cap` bytes in total (a short transfer).
void cap_iovecs(std::vector<::iovec>& v, std::size_t cap) {
    std::size_t total = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i].iov_len >= cap - total) {
            v[i].iov_len = cap - total;
            v.resize(i + 1);
            return;
        }
        total += v[i].iov_len;
    }
}

} // namespace

// --- files ------------------------------------------------------------------------------------

/// A directory entry read from the host but not yet delivered whole to the guest.
struct held_dirent {
    std::uint64_t index = 0; ///< its position: the cookie that asks for it
    std::uint64_t ino = 0;
    std::uint8_t type = 0;
    std::string name;
};

struct wasi_context::file {
    int host_fd = -1;
    bool is_dir = false;
    std::string guest_path; ///< mapped directories only (their preopen name)
    bool mapped = false;    ///< a mapped directory (has a prestat)
    // fd_readdir's cursor: a host directory stream (on its own fd, opened at the first
    // fd_readdir), the index of the entry it returns next, and the entry a full buffer cut
    // short (a guest asks for it again with a larger buffer or in its next call).
    DIR* dir = nullptr;
    std::uint64_t next_index = 0;
    std::optional<held_dirent> held;
};

wasi_context::wasi_context(wasi_config config, wasi_host& host)
    : config_(std::move(config))
    , host_(host)
    , start_ns_(host.monotonic_ns()) {
    for (const auto& [guest, host_dir] : config_.mapped_dirs) {
        const int fd = ::open(host_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            for (auto& f : files_)
                close_file(f);
            throw std::runtime_error("mapped directory '" + guest +
                                     "' cannot be opened: " + std::strerror(errno));
        }
        file dir;
        dir.host_fd = fd;
        dir.is_dir = true;
        dir.guest_path = guest;
        dir.mapped = true;
        files_.push_back(std::move(dir));
    }
}

wasi_context::~wasi_context() {
    for (auto& f : files_)
        close_file(f);
}

void wasi_context::close_file(file& f) noexcept {
    if (f.dir)
        ::closedir(f.dir);
    if (f.host_fd >= 0)
        ::close(f.host_fd);
    f = file{};
}

std::size_t wasi_context::host_fds_open() const noexcept {
    return static_cast<std::size_t>(
        std::count_if(files_.begin(), files_.end(), [](const file& f) { return f.host_fd >= 0; }));
}

std::chrono::nanoseconds wasi_context::take_wait() noexcept {
    return std::exchange(wait_, std::chrono::nanoseconds{0});
}

wasi_context::file* wasi_context::find_file(std::uint32_t fd) noexcept {
    if (fd < 3 || fd - 3 >= files_.size())
        return nullptr;
    auto& f = files_[fd - 3];
    return f.host_fd >= 0 ? &f : nullptr;
}

// --- dispatch -------------------------------------------------------------------------------

host_result wasi_context::call(wasi_function fn, const std::uint64_t* p, std::uint64_t* results,
                               memory_view memory) {
    guest_memory mem(memory);
    fs_ops_ = 0;
    dirents_ = 0;
    host_result r = dispatch(fn, p, results, mem);
    // The metering: every call, whatever it did, is charged for its work in one place.
    r.cost = core::limits::wasm_host_call_cost +
             mem.touched() / core::limits::wasm_host_bytes_per_instruction +
             fs_ops_ * core::limits::wasm_host_fs_op_cost +
             dirents_ * core::limits::wasm_host_dirent_cost;
    return r;
}

host_result wasi_context::dispatch(wasi_function fn, const std::uint64_t* p, std::uint64_t* results,
                                   guest_memory& mem) {
    std::uint16_t err = abi::errno_success;
    host_result r;
    switch (fn) {
    case wasi_function::args_sizes_get:
        err = strings_sizes(config_.args, mem, p[0], p[1]);
        break;
    case wasi_function::args_get:
        err = strings_get(config_.args, mem, p[0], p[1]);
        break;
    case wasi_function::environ_sizes_get:
        err = strings_sizes(config_.env, mem, p[0], p[1]);
        break;
    case wasi_function::environ_get:
        err = strings_get(config_.env, mem, p[0], p[1]);
        break;
    case wasi_function::clock_res_get: {
        const auto id = u32(p[0]);
        if (id > abi::clock_thread_cputime)
            err = abi::errno_inval;
        else if (!mem.store<std::uint64_t>(u32(p[1]), 1'000))
            err = abi::errno_fault; // 1 us: what the steady and system clocks promise here
        break;
    }
    case wasi_function::clock_time_get: {
        std::uint64_t t = 0;
        err = clock_time(u32(p[0]), t);
        if (err == abi::errno_success && !mem.store(u32(p[2]), t))
            err = abi::errno_fault;
        break;
    }
    case wasi_function::fd_close:
        err = fd_close(u32(p[0]));
        break;
    case wasi_function::fd_fdstat_get:
        err = fd_fdstat_get(mem, u32(p[0]), u32(p[1]));
        break;
    case wasi_function::fd_fdstat_set_flags: {
        const auto fd = u32(p[0]);
        if (fd > 2 && !find_file(fd))
            err = abi::errno_badf;
        else if (u32(p[1]) != 0)
            err = abi::errno_notsup;
        break;
    }
    case wasi_function::fd_filestat_get:
        err = fd_filestat_get(mem, u32(p[0]), u32(p[1]));
        break;
    case wasi_function::fd_prestat_get: {
        const auto* f = find_file(u32(p[0]));
        if (!f || !f->mapped)
            err = abi::errno_badf;
        else if (!mem.zero(u32(p[1]), abi::prestat_size) ||
                 !mem.store(u32(p[1]) + 4u, static_cast<std::uint32_t>(f->guest_path.size())))
            err = abi::errno_fault;
        break;
    }
    case wasi_function::fd_prestat_dir_name: {
        const auto* f = find_file(u32(p[0]));
        if (!f || !f->mapped) {
            err = abi::errno_badf;
        } else if (u32(p[2]) < f->guest_path.size()) {
            err = abi::errno_nametoolong;
        } else if (auto* dst = mem.at(u32(p[1]), f->guest_path.size())) {
            std::memcpy(dst, f->guest_path.data(), f->guest_path.size());
        } else {
            err = abi::errno_fault;
        }
        break;
    }
    case wasi_function::fd_read:
        err = fd_read(mem, u32(p[0]), u32(p[1]), u32(p[2]), std::nullopt, u32(p[3]));
        break;
    case wasi_function::fd_pread:
        err = fd_read(mem, u32(p[0]), u32(p[1]), u32(p[2]), p[3], u32(p[4]));
        break;
    case wasi_function::fd_readdir:
        err = fd_readdir(mem, u32(p[0]), u32(p[1]), u32(p[2]), p[3], u32(p[4]));
        break;
    case wasi_function::fd_seek: {
        std::uint64_t pos = 0;
        err = fd_seek(u32(p[0]), static_cast<std::int64_t>(p[1]), u32(p[2]), pos);
        if (err == abi::errno_success && !mem.store(u32(p[3]), pos))
            err = abi::errno_fault;
        break;
    }
    case wasi_function::fd_tell: {
        std::uint64_t pos = 0;
        err = fd_seek(u32(p[0]), 0, abi::whence_cur, pos);
        if (err == abi::errno_success && !mem.store(u32(p[1]), pos))
            err = abi::errno_fault;
        break;
    }
    case wasi_function::fd_write:
        err = fd_write(mem, u32(p[0]), u32(p[1]), u32(p[2]), u32(p[3]));
        break;
    case wasi_function::path_open:
        err = path_open(mem, p);
        break;
    case wasi_function::path_filestat_get:
        err = path_filestat_get(mem, u32(p[0]), u32(p[1]), u32(p[2]), u32(p[3]), u32(p[4]));
        break;
    case wasi_function::poll_oneoff: {
        bool wait = false;
        err = poll_oneoff(mem, u32(p[0]), u32(p[1]), u32(p[2]), u32(p[3]), wait);
        if (wait)
            r.action = host_action::yield;
        break;
    }
    case wasi_function::proc_exit:
        exit_code_ = u32(p[0]);
        r.action = host_action::trap;
        r.trap_message = "proc_exit(" + std::to_string(*exit_code_) + ")";
        return r;
    case wasi_function::random_get:
        err = random_get(mem, u32(p[0]), u32(p[1]));
        break;
    case wasi_function::sched_yield:
        wait_ = std::chrono::nanoseconds{0};
        r.action = host_action::yield;
        break;
    case wasi_function::unsupported_nosys:
        err = abi::errno_nosys;
        break;
    case wasi_function::unsupported_rofs:
        err = abi::errno_rofs;
        break;
    }
    results[0] = err;
    return r;
}

// --- args, environ, clocks --------------------------------------------------------------------

std::uint16_t wasi_context::strings_sizes(const std::vector<std::string>& list, guest_memory& mem,
                                          std::uint64_t count_ptr, std::uint64_t size_ptr) {
    std::uint64_t size = 0;
    for (const auto& s : list)
        size += s.size() + 1;
    if (size > std::numeric_limits<std::uint32_t>::max())
        return abi::errno_overflow;
    if (!mem.store(u32(count_ptr), static_cast<std::uint32_t>(list.size())) ||
        !mem.store(u32(size_ptr), static_cast<std::uint32_t>(size)))
        return abi::errno_fault;
    return abi::errno_success;
}

std::uint16_t wasi_context::strings_get(const std::vector<std::string>& list, guest_memory& mem,
                                        std::uint64_t ptrs, std::uint64_t buf) {
    std::uint64_t at = u32(buf);
    for (std::size_t i = 0; i < list.size(); ++i) {
        const auto& s = list[i];
        auto* dst = mem.at(at, s.size() + 1);
        if (!dst || !mem.store(u32(ptrs) + 4 * static_cast<std::uint64_t>(i),
                               static_cast<std::uint32_t>(at)))
            return abi::errno_fault;
        std::memcpy(dst, s.data(), s.size());
        dst[s.size()] = 0;
        at += s.size() + 1;
    }
    return abi::errno_success;
}

std::uint16_t wasi_context::clock_time(std::uint32_t id, std::uint64_t& out) {
    switch (id) {
    case abi::clock_realtime:
        out = host_.realtime_ns();
        return abi::errno_success;
    case abi::clock_monotonic:
        out = host_.monotonic_ns();
        return abi::errno_success;
    case abi::clock_process_cputime:
    case abi::clock_thread_cputime:
        // The guest's time since its execution started: it has no CPU of its own to measure.
        out = host_.monotonic_ns() - start_ns_;
        return abi::errno_success;
    default:
        return abi::errno_inval;
    }
}

// --- reads and writes -------------------------------------------------------------------------

std::uint16_t wasi_context::fd_write(guest_memory& mem, std::uint32_t fd, std::uint32_t iovs,
                                     std::uint32_t iovs_len, std::uint32_t nwritten_ptr) {
    if (fd == 0 || (fd <= 2 && stdio_closed_[fd]))
        return abi::errno_badf;
    if (fd > 2) // opened files are read-only
        return find_file(fd) ? abi::errno_notcapable : abi::errno_badf;
    if (iovs_len > max_iovecs)
        return abi::errno_inval;
    std::vector<::iovec> v;
    if (!mem.iovecs(iovs, iovs_len, v))
        return abi::errno_fault;
    if (!mem.valid(nwritten_ptr, 4))
        return abi::errno_fault;
    // At most max_call_bytes per call, a short write beyond it (the guest's libc writes the
    // rest in further calls, each charged): iovecs covering gigabytes are never gathered, and
    // the sink never receives more than the cap at once. One call to the sink per fd_write:
    // a guest's write is one chunk for stream viewers.
    cap_iovecs(v, max_call_bytes);
    write_buffer_.clear();
    for (const auto& io : v)
        write_buffer_.append(static_cast<const char*>(io.iov_base), io.iov_len);
    mem.touch(write_buffer_.size());
    if (!write_buffer_.empty()) {
        if (fd == 1)
            host_.write_stdout(write_buffer_);
        else
            host_.write_stderr(write_buffer_);
    }
    mem.store(nwritten_ptr, static_cast<std::uint32_t>(write_buffer_.size()));
    return abi::errno_success;
}

std::uint16_t wasi_context::random_get(guest_memory& mem, std::uint32_t buf, std::uint32_t len) {
    // random_get cannot return fewer bytes than asked: a larger request is refused rather
    // than served in one unbounded call (wasi-libc's getentropy asks for 256 at most).
    if (len > max_call_bytes)
        return abi::errno_inval;
    auto* dst = mem.at(buf, len);
    if (!dst)
        return abi::errno_fault;
    host_.random_bytes({dst, len});
    return abi::errno_success;
}

std::uint16_t wasi_context::fd_read(guest_memory& mem, std::uint32_t fd, std::uint32_t iovs,
                                    std::uint32_t iovs_len, std::optional<std::uint64_t> offset,
                                    std::uint32_t nread_ptr) {
    if (iovs_len > max_iovecs)
        return abi::errno_inval;
    if (fd <= 2 && (fd != 0 || stdio_closed_[0]))
        return abi::errno_badf;
    std::vector<::iovec> v;
    if (!mem.iovecs(iovs, iovs_len, v) || !mem.valid(nread_ptr, 4))
        return abi::errno_fault;
    cap_iovecs(v, max_call_bytes); // a short read beyond the cap, as POSIX allows
    std::uint64_t total = 0;
    if (fd == 0) {
        if (offset)
            return abi::errno_spipe;
        for (const auto& io : v) {
            const auto n = std::min(io.iov_len, stdin_remaining());
            std::memcpy(io.iov_base, config_.stdin_data.data() + stdin_pos_, n);
            stdin_pos_ += n;
            total += n;
        }
    } else {
        auto* f = find_file(fd);
        if (!f)
            return abi::errno_badf;
        if (f->is_dir)
            return abi::errno_isdir;
        // A regular file (open_below admits nothing else), so this read does not block.
        ++fs_ops_;
        const auto n = offset ? ::preadv(f->host_fd, v.data(), static_cast<int>(v.size()),
                                         static_cast<off_t>(*offset))
                              : ::readv(f->host_fd, v.data(), static_cast<int>(v.size()));
        if (n < 0)
            return from_host_errno(errno);
        total = static_cast<std::uint64_t>(n);
    }
    mem.touch(total);
    mem.store(nread_ptr, static_cast<std::uint32_t>(total));
    return abi::errno_success;
}

std::uint16_t wasi_context::fd_seek(std::uint32_t fd, std::int64_t offset, std::uint32_t whence,
                                    std::uint64_t& out) {
    if (fd <= 2)
        return stdio_closed_[fd] ? abi::errno_badf : abi::errno_spipe;
    auto* f = find_file(fd);
    if (!f)
        return abi::errno_badf;
    if (f->is_dir)
        return abi::errno_isdir;
    int how = SEEK_SET;
    switch (whence) {
    case abi::whence_set:
        how = SEEK_SET;
        break;
    case abi::whence_cur:
        how = SEEK_CUR;
        break;
    case abi::whence_end:
        how = SEEK_END;
        break;
    default:
        return abi::errno_inval;
    }
    const auto pos = ::lseek(f->host_fd, static_cast<off_t>(offset), how);
    if (pos < 0)
        return from_host_errno(errno);
    out = static_cast<std::uint64_t>(pos);
    return abi::errno_success;
}

std::uint16_t wasi_context::fd_close(std::uint32_t fd) {
    if (fd <= 2) {
        if (stdio_closed_[fd])
            return abi::errno_badf;
        stdio_closed_[fd] = true;
        return abi::errno_success;
    }
    auto* f = find_file(fd);
    if (!f)
        return abi::errno_badf;
    close_file(*f);
    return abi::errno_success;
}

// --- stat ---------------------------------------------------------------------------------

std::uint16_t wasi_context::fd_fdstat_get(guest_memory& mem, std::uint32_t fd, std::uint32_t out) {
    std::uint8_t type = abi::filetype_character_device;
    std::uint64_t base = 0;
    std::uint64_t inheriting = 0;
    if (fd <= 2) {
        if (stdio_closed_[fd])
            return abi::errno_badf;
        // A character device without seek/tell rights: wasi-libc's isatty() says yes, so
        // stdout is line-buffered and a streaming guest's lines leave as they are printed.
        base = (fd == 0 ? abi::right_fd_read : abi::right_fd_write) | abi::right_poll_fd_readwrite;
    } else {
        const auto* f = find_file(fd);
        if (!f)
            return abi::errno_badf;
        type = f->is_dir ? abi::filetype_directory : abi::filetype_regular_file;
        base = f->is_dir ? rights_dir : rights_file;
        inheriting = f->is_dir ? (rights_dir | rights_file) : 0;
    }
    if (!mem.zero(out, abi::fdstat_size))
        return abi::errno_fault;
    mem.store(out, type);
    mem.store(out + 8u, base);
    mem.store(out + 16u, inheriting);
    return abi::errno_success;
}

namespace {

bool store_filestat(auto& mem, std::uint32_t out, const struct stat& st) {
    if (!mem.zero(out, abi::filestat_size))
        return false;
    mem.store(out + 0u, static_cast<std::uint64_t>(st.st_dev));
    mem.store(out + 8u, static_cast<std::uint64_t>(st.st_ino));
    mem.store(out + 16u, filetype_of(st.st_mode));
    mem.store(out + 24u, static_cast<std::uint64_t>(st.st_nlink));
    mem.store(out + 32u, static_cast<std::uint64_t>(st.st_size));
    mem.store(out + 40u, to_ns(st.st_atim));
    mem.store(out + 48u, to_ns(st.st_mtim));
    mem.store(out + 56u, to_ns(st.st_ctim));
    return true;
}

} // namespace

std::uint16_t wasi_context::fd_filestat_get(guest_memory& mem, std::uint32_t fd,
                                            std::uint32_t out) {
    struct stat st {};
    if (fd <= 2) {
        if (stdio_closed_[fd])
            return abi::errno_badf;
        st.st_mode = S_IFCHR;
    } else {
        const auto* f = find_file(fd);
        if (!f)
            return abi::errno_badf;
        if (::fstat(f->host_fd, &st) != 0)
            return from_host_errno(errno);
    }
    return store_filestat(mem, out, st) ? abi::errno_success : abi::errno_fault;
}

// --- paths ----------------------------------------------------------------------------------

int wasi_context::open_below(std::uint32_t dir, std::string_view path, bool want_dir,
                             bool path_only, std::uint16_t& error) {
    const auto* base = find_file(dir);
    if (!base) {
        error = abi::errno_badf;
        return -1;
    }
    if (!base->is_dir) {
        error = abi::errno_notdir;
        return -1;
    }
    if (path.empty()) {
        error = abi::errno_noent;
        return -1;
    }
    if (path.size() > core::limits::wasm_path_bytes) {
        error = abi::errno_nametoolong;
        return -1;
    }
    if (path.front() == '/' || path.find('\0') != std::string_view::npos) {
        error = abi::errno_notcapable;
        return -1;
    }
    // Lexical walk: ".." may not climb above the directory; symlinks are never followed
    // (O_NOFOLLOW on every component), so nothing outside the mapped tree can be reached.
    std::vector<std::string> parts;
    std::size_t i = 0;
    while (i <= path.size()) {
        const auto j = std::min(path.find('/', i), path.size());
        const auto part = path.substr(i, j - i);
        if (part == "..") {
            if (parts.empty()) {
                error = abi::errno_notcapable;
                return -1;
            }
            parts.pop_back();
        } else if (!part.empty() && part != ".") {
            parts.emplace_back(part);
        }
        i = j + 1;
    }
    int current = base->host_fd;
    bool owned = false; // `current` is a directory this walk opened: closed on every way out
    const auto close_current = core::scope_exit([&] {
        if (owned)
            ::close(current);
    });
    auto fail = [&](int e) {
        error = from_host_errno(e);
        return -1;
    };
    // O_PATH|O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR (it opens the link,
    // which is no directory): say ELOOP, as for the last component, when it was one.
    auto is_symlink = [&](const std::string& name) {
        struct stat st {};
        return ::fstatat(current, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
               S_ISLNK(st.st_mode);
    };
    for (std::size_t k = 0; k + 1 < parts.size(); ++k) {
        ++fs_ops_;
        const int next =
            ::openat(current, parts[k].c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0)
            return fail(errno == ENOTDIR && is_symlink(parts[k]) ? ELOOP : errno);
        if (owned)
            ::close(current);
        current = next;
        owned = true;
    }
    // A reading open never blocks: O_NONBLOCK makes opening a FIFO return at once (a device
    // node's open could wait too), and the fstat below admits only regular files and
    // directories, so no later read can block either.
    int flags = O_NOFOLLOW | O_CLOEXEC;
    flags |= path_only ? O_PATH : (O_RDONLY | O_NONBLOCK);
    if (want_dir)
        flags |= O_DIRECTORY;
    const std::string last = parts.empty() ? std::string(".") : parts.back();
    ++fs_ops_;
    const int fd = ::openat(current, last.c_str(), flags);
    if (fd < 0)
        return fail(errno == ENOTDIR && want_dir && is_symlink(last) ? ELOOP : errno);
    if (!path_only) {
        struct stat st {};
        if (::fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
            ::close(fd);
            error = abi::errno_acces;
            return -1;
        }
    }
    return fd;
}

std::uint16_t wasi_context::path_open(guest_memory& mem, const std::uint64_t* p) {
    const auto dirfd = u32(p[0]);
    const auto path_ptr = u32(p[2]);
    const auto path_len = u32(p[3]);
    const auto oflags = static_cast<std::uint16_t>(p[4]);
    const auto rights = p[5];
    const auto fdflags = static_cast<std::uint16_t>(p[7]);
    const auto fd_out = u32(p[8]);
    if (path_len > core::limits::wasm_path_bytes)
        return abi::errno_nametoolong;
    const auto* path = mem.at(path_ptr, path_len);
    if (!path || !mem.valid(fd_out, 4))
        return abi::errno_fault;
    if ((oflags & (abi::oflag_creat | abi::oflag_trunc | abi::oflag_excl)) ||
        (fdflags & abi::fdflag_append) || (rights & abi::rights_that_write))
        return abi::errno_rofs;
    if (host_fds_open() >= max_open_files + config_.mapped_dirs.size())
        return abi::errno_mfile;
    std::uint16_t error = abi::errno_success;
    const int fd =
        open_below(dirfd, std::string_view(reinterpret_cast<const char*>(path), path_len),
                   (oflags & abi::oflag_directory) != 0, false, error);
    if (fd < 0)
        return error;
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const auto e = from_host_errno(errno);
        ::close(fd);
        return e;
    }
    file f;
    f.host_fd = fd;
    f.is_dir = S_ISDIR(st.st_mode);
    std::size_t slot = 0;
    while (slot < files_.size() && files_[slot].host_fd >= 0)
        ++slot;
    if (slot == files_.size())
        files_.push_back(std::move(f));
    else
        files_[slot] = std::move(f);
    mem.store(fd_out, static_cast<std::uint32_t>(slot + 3));
    return abi::errno_success;
}

std::uint16_t wasi_context::path_filestat_get(guest_memory& mem, std::uint32_t fd,
                                              std::uint32_t flags, std::uint32_t path,
                                              std::uint32_t path_len, std::uint32_t out) {
    if (path_len > core::limits::wasm_path_bytes)
        return abi::errno_nametoolong;
    const auto* text = mem.at(path, path_len);
    if (!text || !mem.valid(out, abi::filestat_size))
        return abi::errno_fault;
    std::uint16_t error = abi::errno_success;
    const int host_fd = open_below(
        fd, std::string_view(reinterpret_cast<const char*>(text), path_len), false, true, error);
    if (host_fd < 0)
        return error;
    struct stat st {};
    const int rc = ::fstat(host_fd, &st);
    const int e = errno;
    ::close(host_fd);
    if (rc != 0)
        return from_host_errno(e);
    // Without LOOKUP_SYMLINK_FOLLOW this is lstat: a symlink is reported as one. With it
    // (stat), the link would have to be followed, which never happens here: ELOOP.
    if (S_ISLNK(st.st_mode) && (flags & abi::lookupflag_symlink_follow))
        return abi::errno_loop;
    store_filestat(mem, out, st);
    return abi::errno_success;
}

namespace {

std::uint8_t filetype_of_dirent(unsigned char d_type) {
    switch (d_type) {
    case DT_REG:
        return abi::filetype_regular_file;
    case DT_DIR:
        return abi::filetype_directory;
    case DT_LNK:
        return abi::filetype_symbolic_link;
    case DT_CHR:
        return abi::filetype_character_device;
    case DT_BLK:
        return abi::filetype_block_device;
    default:
        return abi::filetype_unknown;
    }
}

} // namespace

std::uint16_t wasi_context::fd_readdir(guest_memory& mem, std::uint32_t fd, std::uint32_t buf,
                                       std::uint32_t buf_len, std::uint64_t cookie,
                                       std::uint32_t used_ptr) {
    auto* f = find_file(fd);
    if (!f)
        return abi::errno_badf;
    if (!f->is_dir)
        return abi::errno_notdir;
    // A partly filled buffer means "end of directory" to the guest, so this call cannot stop
    // early at the cap: a larger buffer is refused (wasi-libc uses 4 KiB).
    if (buf_len > max_call_bytes)
        return abi::errno_inval;
    auto* out = mem.at(buf, buf_len);
    if (!out || !mem.valid(used_ptr, 4))
        return abi::errno_fault;
    if (!f->dir) {
        ++fs_ops_;
        const int dup_fd = ::openat(f->host_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dup_fd < 0)
            return from_host_errno(errno);
        f->dir = ::fdopendir(dup_fd);
        if (!f->dir) {
            const auto e = from_host_errno(errno);
            ::close(dup_fd);
            return e;
        }
        f->next_index = 0;
        f->held.reset();
    }
    // The cursor: entries in readdir order, the cookie of entry k is k + 1. A guest reading
    // on (the cookie of the last entry it got whole) continues where the stream is; only a
    // cookie behind it (rewinddir, seekdir back) rewinds and skips, charged per entry.
    auto read_entry = [&]() -> std::optional<held_dirent> {
        const dirent* e = ::readdir(f->dir); // an error ends the listing like its end
        if (!e)
            return std::nullopt;
        ++dirents_;
        return held_dirent{f->next_index++, e->d_ino, filetype_of_dirent(e->d_type), e->d_name};
    };
    const std::uint64_t position = f->held ? f->held->index : f->next_index;
    if (cookie < position) {
        ::rewinddir(f->dir);
        f->next_index = 0;
        f->held.reset();
    }
    if (f->held && f->held->index < cookie)
        f->held.reset();
    while (!f->held && f->next_index < cookie)
        if (!read_entry())
            break;

    std::uint32_t used = 0;
    while (used < buf_len) {
        auto entry = f->held ? std::exchange(f->held, std::nullopt) : read_entry();
        if (!entry)
            break;
        const auto name_len = static_cast<std::uint32_t>(entry->name.size());
        std::uint8_t header[abi::dirent_size] = {};
        const std::uint64_t next = entry->index + 1;
        std::memcpy(header + 0, &next, 8);
        std::memcpy(header + 8, &entry->ino, 8);
        std::memcpy(header + 16, &name_len, 4);
        header[20] = entry->type;
        const auto take_header = std::min<std::uint32_t>(abi::dirent_size, buf_len - used);
        std::memcpy(out + used, header, take_header);
        used += take_header;
        const auto take_name = std::min<std::uint32_t>(name_len, buf_len - used);
        std::memcpy(out + used, entry->name.data(), take_name);
        used += take_name;
        // Cut short by the end of the buffer: the guest asks for it again by its cookie.
        if (take_header < abi::dirent_size || take_name < name_len)
            f->held = std::move(entry);
    }
    mem.store(used_ptr, used);
    return abi::errno_success;
}

// --- poll_oneoff ----------------------------------------------------------------------------

std::uint16_t wasi_context::poll_oneoff(guest_memory& mem, std::uint32_t in, std::uint32_t out,
                                        std::uint32_t nsubs, std::uint32_t nevents_ptr,
                                        bool& wait) {
    wait = false;
    if (nsubs == 0 || std::uint64_t{nsubs} * abi::subscription_size > max_call_bytes)
        return abi::errno_inval;
    if (!mem.valid(in, std::uint64_t{nsubs} * abi::subscription_size) ||
        !mem.valid(out, std::uint64_t{nsubs} * abi::event_size) || !mem.valid(nevents_ptr, 4))
        return abi::errno_fault;

    struct event {
        std::uint64_t userdata;
        std::uint16_t error;
        std::uint8_t type;
        std::uint64_t nbytes;
        std::uint16_t flags;
    };
    std::vector<event> ready;
    struct clock_sub {
        std::uint64_t userdata;
        std::uint64_t wait_ns;
    };
    std::vector<clock_sub> clocks;
    for (std::uint32_t i = 0; i < nsubs; ++i) {
        const std::uint64_t s = std::uint64_t{in} + std::uint64_t{i} * abi::subscription_size;
        std::uint64_t userdata = 0;
        std::uint8_t tag = 0;
        mem.load(s, userdata);
        mem.load(s + 8, tag);
        if (tag == abi::eventtype_clock) {
            std::uint32_t id = 0;
            std::uint64_t timeout = 0;
            std::uint16_t flags = 0;
            mem.load(s + 16, id);
            mem.load(s + 24, timeout);
            mem.load(s + 40, flags);
            std::uint64_t now = 0;
            if (clock_time(id, now) != abi::errno_success) {
                ready.push_back({userdata, abi::errno_inval, tag, 0, 0});
                continue;
            }
            const std::uint64_t wait_ns =
                (flags & abi::subclock_abstime) ? (timeout > now ? timeout - now : 0) : timeout;
            clocks.push_back({userdata, wait_ns});
        } else if (tag == abi::eventtype_fd_read || tag == abi::eventtype_fd_write) {
            std::uint32_t fd = 0;
            mem.load(s + 16, fd);
            const bool reads = tag == abi::eventtype_fd_read;
            if (fd <= 2 && !stdio_closed_[fd] && (fd == 0) == reads) {
                // stdin is all in memory and stdout/stderr never block: always ready.
                const std::uint64_t n = fd == 0 ? stdin_remaining() : 0;
                const std::uint16_t hup = (fd == 0 && n == 0) ? abi::eventrw_hangup : 0;
                ready.push_back({userdata, abi::errno_success, tag, n, hup});
            } else if (const auto* f = find_file(fd); f && reads && !f->is_dir) {
                ready.push_back({userdata, abi::errno_success, tag, 0, 0});
            } else {
                ready.push_back({userdata, abi::errno_badf, tag, 0, 0});
            }
        } else {
            ready.push_back({userdata, abi::errno_inval, tag, 0, 0});
        }
    }
    // Nothing ready: the earliest clocks fire after the engine waits (the guest resumes only
    // then, so the events it reads are true when it reads them).
    if (ready.empty() && !clocks.empty()) {
        std::uint64_t earliest = std::numeric_limits<std::uint64_t>::max();
        for (const auto& c : clocks)
            earliest = std::min(earliest, c.wait_ns);
        for (const auto& c : clocks)
            if (c.wait_ns == earliest)
                ready.push_back({c.userdata, abi::errno_success, abi::eventtype_clock, 0, 0});
        if (earliest > 0) {
            const auto capped = std::min<std::uint64_t>(
                earliest, static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
            wait_ = std::chrono::nanoseconds(static_cast<std::int64_t>(capped));
            wait = true;
        }
    } else {
        for (const auto& c : clocks)
            if (c.wait_ns == 0)
                ready.push_back({c.userdata, abi::errno_success, abi::eventtype_clock, 0, 0});
    }
    for (std::size_t k = 0; k < ready.size(); ++k) {
        const std::uint64_t e = std::uint64_t{out} + k * abi::event_size;
        mem.zero(e, abi::event_size);
        mem.store(e, ready[k].userdata);
        mem.store(e + 8, ready[k].error);
        mem.store(e + 10, ready[k].type);
        mem.store(e + 16, ready[k].nbytes);
        mem.store(e + 24, ready[k].flags);
    }
    mem.store(nevents_ptr, static_cast<std::uint32_t>(ready.size()));
    return abi::errno_success;
}

} // namespace spear::runtime::wasm
