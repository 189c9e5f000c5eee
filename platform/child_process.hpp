// The OS seam for child processes: vfork+exec a command in its own process group with pipes (or a
// pty) as its standard streams and resource limits applied, then signal, observe and reap it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace spear::platform {

/// Owns one file descriptor; closes it on destruction.
class unique_fd {
public:
    unique_fd() = default;
    explicit unique_fd(int fd) noexcept
        : fd_(fd) {}
    unique_fd(unique_fd&& other) noexcept
        : fd_(other.release()) {}
    unique_fd& operator=(unique_fd&& other) noexcept;
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    ~unique_fd() { reset(); }

    int get() const noexcept { return fd_; }
    bool valid() const noexcept { return fd_ >= 0; }
    /// Gives up ownership; the caller closes the returned descriptor.
    int release() noexcept;
    void reset(int fd = -1) noexcept;

private:
    int fd_ = -1;
};

/// OS resource limits for the child; 0 leaves a limit as the appliance has it. A value above the
/// appliance's own hard limit is clamped to it (an unprivileged process cannot raise it).
struct resource_limits {
    std::uint64_t cpu_seconds = 0;         ///< RLIMIT_CPU: SIGXCPU at the limit, SIGKILL 1 s later
    std::uint64_t address_space_bytes = 0; ///< RLIMIT_AS
    std::uint64_t open_files = 0;          ///< RLIMIT_NOFILE
    std::uint64_t processes = 0;           ///< RLIMIT_NPROC (counts every process of the user)
};

/// How the child closes the descriptors it inherited above stderr before exec.
enum class fd_cleanup {
    automatic, ///< close_range; if the kernel refuses it, scan_proc_fd; if that fails, close_each
    scan_proc_fd, ///< tests only: skip close_range (as on a kernel without it)
    close_each,   ///< tests only: skip close_range and /proc (as with /proc not mounted)
};

struct spawn_options {
    /// argv[0] is a path (contains '/', relative ones resolve in working_dir) or a name looked up
    /// on the PATH found in `env` (absolute entries only). Never passed through a shell.
    std::vector<std::string> argv;
    std::vector<std::string> env; ///< the child's whole environment, "KEY=VALUE"
    std::string working_dir;      ///< empty: the appliance's
    bool stdout_pty = false;      ///< stdout is a raw-mode pty (line-buffering programs)
    resource_limits limits;
    fd_cleanup close_fds = fd_cleanup::automatic; ///< production code leaves the default
    /// A cgroup's cgroup.procs opened for writing (platform/cgroup open_procs), or -1: the
    /// child writes "0" to it first thing, so it and everything it starts run in that cgroup;
    /// if the write fails the function never runs (spawn_stage::cgroup). The caller keeps it.
    int cgroup_procs_fd = -1;
};

/// Where starting a child failed.
enum class spawn_stage : std::int32_t {
    resolve = 1,       ///< argv[0] not found on PATH (or argv empty); nothing was forked
    parent_setup = 2,  ///< pipe, pty or fork failed in the appliance (fd or process limits)
    process_group = 3, ///< setpgid in the child
    streams = 4,       ///< dup2 of stdin/stdout/stderr, or closing inherited fds, in the child
    limits = 5,        ///< setrlimit in the child
    working_dir = 6,   ///< chdir in the child
    exec = 7,          ///< execve in the child
    cgroup = 8,        ///< joining the execution's cgroup in the child
};

struct spawn_failure {
    spawn_stage stage = spawn_stage::exec;
    int error = 0; ///< errno
};

struct spawn_result;
/// Starts `options.argv` with vfork + execve. Everything the child needs (resolved path, argv/envp
/// arrays, limits) is built before fork; the child only makes async-signal-safe calls, resets
/// signal dispositions and mask to defaults (the appliance ignores SIGPIPE), and closes every
/// descriptor above stderr, so no socket of the appliance leaks into a function: close_range,
/// else a scan of /proc/self/fd, else close() of every number below RLIMIT_NOFILE; if none of
/// them can be done the child reports spawn_stage::streams and never runs the function. (The
/// appliance also opens every descriptor CLOEXEC, so this is the second of two guards.)
spawn_result spawn_child(const spawn_options& options);

/// How a reaped child ended.
struct exit_status {
    bool signaled = false; ///< killed by a signal, else exited
    int value = 0;         ///< the signal number if signaled, else the exit code
};

/// A forked child, leader of its own process group (pgid == pid). Until reaped it is killed
/// (SIGKILL to the group) and reaped, blocking, on destruction: that path only runs when the
/// owner is torn down abnormally, and a SIGKILLed process exits promptly.
class child_process {
public:
    child_process() = default;
    child_process(child_process&& other) noexcept;
    child_process& operator=(child_process&& other) noexcept;
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;
    ~child_process();

    pid_t pid() const noexcept { return pid_; }
    bool reaped() const noexcept { return reaped_; }

    /// The parent's ends, all O_CLOEXEC and O_NONBLOCK; the caller may take them (release()).
    unique_fd stdin_fd;  ///< write end of the child's stdin pipe
    unique_fd stdout_fd; ///< read end of the stdout pipe, or the pty master (EIO = end)
    unique_fd stderr_fd; ///< read end of the stderr pipe
    unique_fd pidfd;     ///< readable once the child exits; invalid if pidfd_open is unsupported

    /// True once the leader has exited (a zombie, or already reaped). Non-blocking, and the
    /// leader stays waitable (WNOWAIT): while it is a zombie its pid, the group id, cannot be
    /// reused, so signalling the group is still safe.
    bool has_exited() const noexcept;
    /// Sends `sig` to every process still in the group; no-op once reaped.
    void signal_group(int sig) const noexcept;
    /// Reaps the leader. Call only once has_exited() is true: it never blocks then. nullopt if
    /// the status is unknown (someone else reaped it, e.g. SIGCHLD set to SIG_IGN).
    std::optional<exit_status> reap() noexcept;
    /// Why exec failed, if it did. Definitive once the leader has exited (the report pipe's only
    /// writer is the child before exec); before that, nullopt may just mean "not yet".
    std::optional<spawn_failure> exec_failure() noexcept;

private:
    friend spawn_result spawn_child(const spawn_options& options);

    pid_t pid_ = -1;
    bool reaped_ = false;
    unique_fd report_fd_; ///< read end of the CLOEXEC exec-report pipe
    std::optional<spawn_failure> failure_;
    bool report_read_ = false;
};

struct spawn_result {
    child_process child;                  ///< valid (pid > 0) when failure is empty
    std::optional<spawn_failure> failure; ///< resolve or parent_setup; child stages are reported
                                          ///< later by child_process::exec_failure()
};

/// Where a command name resolves on a PATH value (absolute entries only); nullopt if no entry
/// holds an executable regular file by that name. Names with a '/' are returned unchanged.
std::optional<std::string> resolve_command(const std::string& name, const std::string& path);

/// "SIGSEGV" for 11; empty for signals without a name (real-time signals).
std::string signal_name(int sig);

} // namespace spear::platform
