// A small in-memory WASI preview1 layer: stdin is the request input, stdout and stderr go to
// the caller as they are written, args/environ/clocks/random, sleeping through poll_oneoff as
// a yield, proc_exit as the end of the execution (never the appliance's), and read-only access
// to mapped directories. Everything else answers ENOSYS (or EROFS for writes).
#pragma once

#include "core/limits.hpp"
#include "runtime/wasm/wasm_engine.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spear::runtime::wasm {

/// The preview1 functions this layer implements; any other preview1 name returning an errno
/// binds to one of the two "unsupported" answers (ENOSYS, or EROFS for writes).
enum class wasi_function : std::uint8_t {
    args_get,            ///< argv pointers and strings
    args_sizes_get,      ///< argc and the size of the strings
    environ_get,         ///< "KEY=VALUE" pointers and strings
    environ_sizes_get,   ///< count and size
    clock_res_get,       ///< clock resolution
    clock_time_get,      ///< realtime, monotonic, process/thread time (since the start)
    fd_close,            ///< stdio and opened files
    fd_fdstat_get,       ///< stdio is a character device (so stdout is line-buffered)
    fd_fdstat_set_flags, ///< accepts no flag change
    fd_filestat_get,     ///< stdio and opened files
    fd_prestat_get,      ///< mapped directories (fd 3 onwards); EBADF ends the scan
    fd_prestat_dir_name, ///< the guest path of a mapped directory
    fd_read,             ///< stdin (the input) and opened files
    fd_pread,            ///< opened files
    fd_readdir,          ///< opened directories (a cursor per directory: no rescans)
    fd_seek,             ///< opened files (ESPIPE for stdio)
    fd_tell,             ///< opened files (ESPIPE for stdio)
    fd_write,            ///< stdout and stderr
    path_open,           ///< read-only regular files and directories below a mapped one
    path_filestat_get,   ///< below a mapped directory; symlinks are never followed
    poll_oneoff,         ///< clocks sleep (the engine yields); stdio is always ready
    proc_exit,           ///< ends the execution with the code
    random_get,          ///< the OS random source
    sched_yield,         ///< ends the slice
    unsupported_nosys,   ///< any other preview1 function: ENOSYS
    unsupported_rofs,    ///< preview1 functions that would write files: EROFS
};

/// Binds one import of a module to the layer. nullopt (and `error`, naming the import) when
/// the import is not a preview1 function or its signature is not preview1's.
std::optional<wasi_function> bind_wasi_import(const import_info& import, std::string& error);

/// What the layer needs from its surroundings: output, clocks, random bytes.
class wasi_host {
public:
    virtual ~wasi_host() = default;
    virtual void write_stdout(std::string_view bytes) = 0;
    virtual void write_stderr(std::string_view bytes) = 0;
    /// Wall-clock time since the Unix epoch, in ns (default: the system clock).
    virtual std::uint64_t realtime_ns();
    /// A monotonic time in ns (default: the steady clock).
    virtual std::uint64_t monotonic_ns();
    /// Fills `out` with unpredictable bytes (default: getrandom(2)).
    virtual void random_bytes(std::span<std::uint8_t> out);
};

struct wasi_config {
    std::vector<std::string> args; ///< argv, argv[0] included
    std::vector<std::string> env;  ///< "KEY=VALUE"
    std::string stdin_data;        ///< what fd 0 reads, then end of file
    /// Read-only directories: guest path -> host directory, given fds 3, 4, ... in this order.
    std::vector<std::pair<std::string, std::string>> mapped_dirs;
};

/// One execution's WASI state. Single-threaded; called by the engine during slices.
class wasi_context {
public:
    /// Files opened by the guest at once (beyond it: EMFILE); each is a host fd.
    static constexpr std::size_t max_open_files = core::limits::wasm_open_files;
    /// iovec entries per read or write call (Linux's IOV_MAX).
    static constexpr std::uint32_t max_iovecs = core::limits::wasm_iovecs;
    /// Guest memory one call may touch (see call()).
    static constexpr std::size_t max_call_bytes = core::limits::wasm_host_call_bytes;

    /// Opens the mapped directories; a directory that cannot be opened is an error thrown as
    /// std::runtime_error naming its guest path (the host path stays out of the message).
    wasi_context(wasi_config config, wasi_host& host);
    ~wasi_context();
    wasi_context(const wasi_context&) = delete;
    wasi_context& operator=(const wasi_context&) = delete;

    /// Runs one call. `params`/`results` follow host_functions::call. Every call is metered
    /// here, in one place: its result's `cost` is wasm_host_call_cost, plus one instruction per
    /// wasm_host_bytes_per_instruction bytes of guest memory it touched, plus
    /// wasm_host_fs_op_cost per file-system operation and wasm_host_dirent_cost per directory
    /// entry read. No call touches more than max_call_bytes of guest memory: fd_read and
    /// fd_write transfer at most that much (a short count, which the guest's libc loops on);
    /// random_get, fd_readdir and poll_oneoff with larger buffers answer EINVAL.
    host_result call(wasi_function fn, const std::uint64_t* params, std::uint64_t* results,
                     memory_view memory);

    /// The code given to proc_exit, once it was called.
    std::optional<std::uint32_t> exit_code() const noexcept { return exit_code_; }
    /// After a yield: how long the guest asked to wait (zero for sched_yield). Resets it.
    std::chrono::nanoseconds take_wait() noexcept;
    /// Input bytes not read yet.
    std::size_t stdin_remaining() const noexcept { return config_.stdin_data.size() - stdin_pos_; }
    /// Host fds held for mapped directories and opened files.
    std::size_t host_fds_open() const noexcept;

private:
    struct file;
    class guest_memory;

    host_result dispatch(wasi_function fn, const std::uint64_t* params, std::uint64_t* results,
                         guest_memory& mem);

    std::uint16_t strings_sizes(const std::vector<std::string>& list, guest_memory& mem,
                                std::uint64_t count_ptr, std::uint64_t size_ptr);
    std::uint16_t strings_get(const std::vector<std::string>& list, guest_memory& mem,
                              std::uint64_t ptrs, std::uint64_t buf);
    std::uint16_t clock_time(std::uint32_t id, std::uint64_t& out);
    std::uint16_t fd_write(guest_memory& mem, std::uint32_t fd, std::uint32_t iovs,
                           std::uint32_t iovs_len, std::uint32_t nwritten_ptr);
    std::uint16_t fd_read(guest_memory& mem, std::uint32_t fd, std::uint32_t iovs,
                          std::uint32_t iovs_len, std::optional<std::uint64_t> offset,
                          std::uint32_t nread_ptr);
    std::uint16_t fd_fdstat_get(guest_memory& mem, std::uint32_t fd, std::uint32_t out);
    std::uint16_t fd_filestat_get(guest_memory& mem, std::uint32_t fd, std::uint32_t out);
    std::uint16_t fd_seek(std::uint32_t fd, std::int64_t offset, std::uint32_t whence,
                          std::uint64_t& out);
    std::uint16_t fd_close(std::uint32_t fd);
    std::uint16_t fd_readdir(guest_memory& mem, std::uint32_t fd, std::uint32_t buf,
                             std::uint32_t buf_len, std::uint64_t cookie, std::uint32_t used_ptr);
    std::uint16_t random_get(guest_memory& mem, std::uint32_t buf, std::uint32_t len);
    std::uint16_t path_open(guest_memory& mem, const std::uint64_t* p);
    std::uint16_t path_filestat_get(guest_memory& mem, std::uint32_t fd, std::uint32_t flags,
                                    std::uint32_t path, std::uint32_t path_len, std::uint32_t out);
    std::uint16_t poll_oneoff(guest_memory& mem, std::uint32_t in, std::uint32_t out,
                              std::uint32_t nsubs, std::uint32_t nevents_ptr, bool& wait);
    /// Opens `path` below directory fd `dir` without following symlinks (a symlink anywhere
    /// in it is ELOOP, except as the last component of a `path_only` open, which then refers
    /// to the link itself). A reading open never blocks (O_NONBLOCK) and yields only regular
    /// files and directories (anything else, FIFOs and devices included, is EACCES). The
    /// host fd, or -1 with `error` set.
    int open_below(std::uint32_t dir, std::string_view path, bool want_dir, bool path_only,
                   std::uint16_t& error);
    /// Closes an opened file or directory and its directory cursor.
    static void close_file(file& f) noexcept;
    file* find_file(std::uint32_t fd) noexcept;

    wasi_config config_;
    wasi_host& host_;
    std::size_t stdin_pos_ = 0;
    bool stdio_closed_[3] = {false, false, false};
    std::vector<file> files_; ///< index i is fd 3 + i; closed entries have host_fd -1
    std::optional<std::uint32_t> exit_code_;
    std::chrono::nanoseconds wait_{0};
    std::uint64_t start_ns_ = 0;
    /// The current call's host work, turned into its cost when it returns.
    std::uint64_t fs_ops_ = 0;
    std::uint64_t dirents_ = 0;
    std::string write_buffer_; ///< fd_write's gathered iovecs (at most max_call_bytes)
};

} // namespace spear::runtime::wasm
