// Fork+exec of function processes: pipes or a pty for their streams, their own process group,
// resource limits, an exec-failure report pipe, group signals and reaping.
#include "platform/child_process.hpp"
#include "platform/escaped_children.hpp"
#include "platform/signals.hpp"

#include "core/limits.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

namespace spear::platform {

unique_fd& unique_fd::operator=(unique_fd&& other) noexcept {
    if (this != &other)
        reset(other.release());
    return *this;
}

int unique_fd::release() noexcept {
    return std::exchange(fd_, -1);
}

void unique_fd::reset(int fd) noexcept {
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = fd;
}

namespace {

/// Moves `fd` above stderr (still O_CLOEXEC), so that in the child the dup2 onto 0..2 can never
/// overwrite a descriptor that is still to be duplicated. Only matters when the appliance was
/// started with a standard stream closed.
int lift_above_stdio(unique_fd& fd) noexcept {
    if (fd.get() > STDERR_FILENO)
        return 0;
    const int moved = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    if (moved < 0)
        return errno;
    fd.reset(moved);
    return 0;
}

void set_nonblocking(const unique_fd& fd) noexcept {
    const int flags = ::fcntl(fd.get(), F_GETFL);
    if (flags >= 0)
        ::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK);
}

struct fd_pair {
    unique_fd read;
    unique_fd write;
};

/// A CLOEXEC pipe; returns 0 or an errno.
int make_pipe(fd_pair& p) noexcept {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
        return errno;
    p.read.reset(fds[0]);
    p.write.reset(fds[1]);
    if (const int e = lift_above_stdio(p.read))
        return e;
    return lift_above_stdio(p.write);
}

/// A pty whose slave is in raw mode: no "\n" -> "\r\n", no echo. Both ends CLOEXEC (openpty
/// cannot ask for it; the appliance is single-threaded, so no fork can happen in between).
int make_raw_pty(fd_pair& p) noexcept {
    int master = -1;
    int slave = -1;
    winsize size{};
    size.ws_row = 24;
    size.ws_col = 80;
    if (::openpty(&master, &slave, nullptr, nullptr, &size) != 0)
        return errno;
    p.read.reset(master);
    p.write.reset(slave);
    if (::fcntl(master, F_SETFD, FD_CLOEXEC) != 0 || ::fcntl(slave, F_SETFD, FD_CLOEXEC) != 0)
        return errno;
    termios mode{};
    if (::tcgetattr(slave, &mode) != 0)
        return errno;
    ::cfmakeraw(&mode);
    if (::tcsetattr(slave, TCSANOW, &mode) != 0)
        return errno;
    if (const int e = lift_above_stdio(p.read))
        return e;
    return lift_above_stdio(p.write);
}

struct limit_setting {
    int resource = 0;
    rlimit value{};
};

/// The limits to set in the child, computed before fork from the appliance's own hard limits.
std::vector<limit_setting> plan_limits(const resource_limits& limits) {
    std::vector<limit_setting> plan;
    const auto add = [&plan](int resource, std::uint64_t wanted, std::uint64_t hard_extra) {
        rlimit current{};
        if (::getrlimit(resource, &current) != 0)
            return;
        limit_setting s;
        s.resource = resource;
        s.value.rlim_cur = std::min<rlim_t>(wanted, current.rlim_max);
        // The hard limit follows the soft one, so the function cannot raise it again.
        s.value.rlim_max = std::min<rlim_t>(
            wanted > RLIM_INFINITY - hard_extra ? RLIM_INFINITY : wanted + hard_extra,
            current.rlim_max);
        plan.push_back(s);
    };
    // A crashing function must not fill a gateway's flash with core files. Only the soft limit:
    // a function that wants cores for debugging may raise it itself.
    {
        rlimit current{};
        if (::getrlimit(RLIMIT_CORE, &current) == 0) {
            current.rlim_cur = 0;
            plan.push_back(limit_setting{RLIMIT_CORE, current});
        }
    }
    // CPU: the soft limit sends SIGXCPU; a hard limit one second later sends SIGKILL, so a
    // function that handles SIGXCPU still cannot run on.
    if (limits.cpu_seconds != 0)
        add(RLIMIT_CPU, limits.cpu_seconds, 1);
    if (limits.address_space_bytes != 0)
        add(RLIMIT_AS, limits.address_space_bytes, 0);
    if (limits.open_files != 0)
        add(RLIMIT_NOFILE, limits.open_files, 0);
    if (limits.processes != 0)
        add(RLIMIT_NPROC, limits.processes, 0);
    return plan;
}

/// Everything the child needs, prepared before fork: the child must not allocate.
struct child_plan {
    const char* path = nullptr;
    char* const* argv = nullptr;
    char* const* envp = nullptr;
    const char* working_dir = nullptr; ///< nullptr: keep the appliance's
    int stdin_fd = -1;
    int stdout_fd = -1;
    int stderr_fd = -1;
    int report_fd = -1;
    const limit_setting* limits = nullptr;
    std::size_t limit_count = 0;
    fd_cleanup close_fds = fd_cleanup::automatic;
    const sigset_t* ignored_signals = nullptr; ///< to reset to SIG_DFL before exec
    int cgroup_procs_fd = -1; ///< joined first, by writing "0" (the writer) to it
};

/// The report fd's number in the child: right above stderr, everything above it is closed.
constexpr int child_report_fd = STDERR_FILENO + 1;

/// The highest descriptor number close_each_from tries (see the limit's reason).
constexpr rlim_t close_each_max = spear::core::limits::child_close_fds_max;

/// The descriptor named by a /proc/self/fd entry; -1 for "." and "..".
int fd_of_entry(const char* name) noexcept {
    if (*name < '0' || *name > '9')
        return -1;
    int fd = 0;
    for (; *name >= '0' && *name <= '9'; ++name)
        fd = fd * 10 + (*name - '0');
    return fd;
}

/// Closes every descriptor >= `first` listed in /proc/self/fd. Child-safe: open + getdents64
/// into a stack buffer (opendir would allocate). False if /proc cannot be read.
bool close_listed_from(int first) noexcept {
    const int dir = ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return false;
    alignas(dirent64) char buffer[2048];
    bool ok = true;
    for (;;) {
        const ssize_t n = ::getdents64(dir, buffer, sizeof buffer);
        if (n <= 0) {
            ok = n == 0;
            break;
        }
        bool closed = false;
        for (ssize_t at = 0; at < n;) {
            const auto* entry = reinterpret_cast<const dirent64*>(buffer + at);
            at += entry->d_reclen;
            const int fd = fd_of_entry(entry->d_name);
            if (fd >= first && fd != dir) {
                ::close(fd); // EBADF/EINTR/EIO: the number is released either way
                closed = true;
            }
        }
        // Closing changed the listing under the read position: read it again from the start
        // until a whole pass finds nothing left to close.
        if (closed && ::lseek(dir, 0, SEEK_SET) != 0) {
            ok = false;
            break;
        }
    }
    ::close(dir);
    return ok;
}

/// Closes every descriptor number from `first` up to the soft RLIMIT_NOFILE (numbers above it
/// cannot be opened any more, only inherited from before a lowering: a documented gap).
bool close_each_from(int first) noexcept {
    rlimit nofile{};
    if (::getrlimit(RLIMIT_NOFILE, &nofile) != 0)
        return false;
    if (nofile.rlim_cur > close_each_max) {
        errno = EMFILE;
        return false;
    }
    for (int fd = first; fd < static_cast<int>(nofile.rlim_cur); ++fd)
        ::close(fd);
    return true;
}

/// Closes every descriptor >= `first`; false (errno set) if no method worked.
bool close_inherited_from(int first, fd_cleanup how) noexcept {
    // close_range fails with ENOSYS before Linux 5.9 (and EINVAL under some seccomp filters).
    if (how == fd_cleanup::automatic && ::close_range(static_cast<unsigned>(first), ~0U, 0) == 0)
        return true;
    if (how != fd_cleanup::close_each && close_listed_from(first))
        return true;
    return close_each_from(first);
}

[[noreturn]] void report_and_exit(int report_fd, spawn_stage stage) noexcept {
    const std::int32_t message[2] = {static_cast<std::int32_t>(stage), errno};
    // 8 bytes < PIPE_BUF: written whole or not at all (if the parent is gone: nobody to tell).
    [[maybe_unused]] const auto written = ::write(report_fd, message, sizeof message);
    ::_exit(127);
}

/// Runs in the forked child: async-signal-safe calls only (no allocation, no locks).
[[noreturn]] void run_child(const child_plan& plan) noexcept {
    int report_fd = plan.report_fd;
    // The execution's cgroup before anything else: every process the function starts is born
    // in it. Failing, the function must not run uncontained.
    if (plan.cgroup_procs_fd >= 0 && ::write(plan.cgroup_procs_fd, "0", 1) != 1)
        report_and_exit(report_fd, spawn_stage::cgroup);
    // Own group next: from here on a signal to the group reaches this process.
    if (::setpgid(0, 0) != 0)
        report_and_exit(report_fd, spawn_stage::process_group);
    // Ignored signals and the mask survive exec (handlers do not): give the function the
    // defaults (the appliance ignores SIGPIPE, which would make `producer | head` run on after
    // head exits). Only the ignored ones, named by the parent: one call each, not 64.
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    ::sigemptyset(&default_action.sa_mask);
    for (int sig = 1; sig < NSIG; ++sig) {
        if (::sigismember(plan.ignored_signals, sig) == 1)
            ::sigaction(sig, &default_action, nullptr);
    }
    sigset_t no_signals;
    ::sigemptyset(&no_signals);
    ::sigprocmask(SIG_SETMASK, &no_signals, nullptr);
    // Every source fd is above stderr (lift_above_stdio), so these cannot clobber each other.
    if (::dup2(plan.stdin_fd, STDIN_FILENO) < 0 || ::dup2(plan.stdout_fd, STDOUT_FILENO) < 0 ||
        ::dup2(plan.stderr_fd, STDERR_FILENO) < 0)
        report_and_exit(report_fd, spawn_stage::streams);
    if (report_fd != child_report_fd) {
        if (::dup2(report_fd, child_report_fd) < 0)
            report_and_exit(report_fd, spawn_stage::streams);
        report_fd = child_report_fd;
    }
    ::fcntl(report_fd, F_SETFD, FD_CLOEXEC); // dup2 cleared it; exec must close the report pipe
    // Close everything else the appliance has open. Its own descriptors are all CLOEXEC; this
    // also catches any a library opened without it. No method left: the function never runs.
    if (!close_inherited_from(child_report_fd + 1, plan.close_fds))
        report_and_exit(report_fd, spawn_stage::streams);
    for (std::size_t i = 0; i < plan.limit_count; ++i) {
        if (::setrlimit(plan.limits[i].resource, &plan.limits[i].value) != 0)
            report_and_exit(report_fd, spawn_stage::limits);
    }
    if (plan.working_dir && ::chdir(plan.working_dir) != 0)
        report_and_exit(report_fd, spawn_stage::working_dir);
    ::execve(plan.path, plan.argv, plan.envp);
    report_and_exit(report_fd, spawn_stage::exec);
}

std::string path_of(const std::vector<std::string>& env) {
    constexpr std::string_view key = "PATH=";
    std::string path;
    for (const auto& entry : env) { // the last one wins, as in the child's getenv
        if (std::string_view(entry).substr(0, key.size()) == key)
            path = entry.substr(key.size());
    }
    return path;
}

std::vector<char*> pointers_to(std::vector<std::string>& strings) {
    std::vector<char*> pointers;
    pointers.reserve(strings.size() + 1);
    for (auto& s : strings)
        pointers.push_back(s.data());
    pointers.push_back(nullptr);
    return pointers;
}

} // namespace

child_process::child_process(child_process&& other) noexcept
    : stdin_fd(std::move(other.stdin_fd))
    , stdout_fd(std::move(other.stdout_fd))
    , stderr_fd(std::move(other.stderr_fd))
    , pidfd(std::move(other.pidfd))
    , pid_(std::exchange(other.pid_, -1))
    , reaped_(other.reaped_)
    , report_fd_(std::move(other.report_fd_))
    , failure_(other.failure_)
    , report_read_(other.report_read_) {}

child_process& child_process::operator=(child_process&& other) noexcept {
    if (this != &other) {
        child_process old(std::move(*this)); // kills and reaps what this held
        stdin_fd = std::move(other.stdin_fd);
        stdout_fd = std::move(other.stdout_fd);
        stderr_fd = std::move(other.stderr_fd);
        pidfd = std::move(other.pidfd);
        pid_ = std::exchange(other.pid_, -1);
        reaped_ = other.reaped_;
        report_fd_ = std::move(other.report_fd_);
        failure_ = other.failure_;
        report_read_ = other.report_read_;
    }
    return *this;
}

child_process::~child_process() {
    if (pid_ <= 0 || reaped_)
        return;
    ::kill(-pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    note_child_reaped(pid_);
}

bool child_process::has_exited() const noexcept {
    if (pid_ <= 0 || reaped_)
        return true;
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0)
        return errno == ECHILD; // not our child any more: nothing left to wait for
    return info.si_pid != 0;
}

void child_process::signal_group(int sig) const noexcept {
    if (pid_ > 0 && !reaped_)
        ::kill(-pid_, sig);
}

std::optional<exit_status> child_process::reap() noexcept {
    if (pid_ <= 0 || reaped_)
        return std::nullopt;
    int status = 0;
    pid_t result = -1;
    do {
        result = ::waitpid(pid_, &status, 0);
    } while (result < 0 && errno == EINTR);
    reaped_ = true;
    note_child_reaped(pid_);
    if (result != pid_)
        return std::nullopt;
    if (WIFSIGNALED(status))
        return exit_status{true, WTERMSIG(status)};
    return exit_status{false, WEXITSTATUS(status)};
}

std::optional<spawn_failure> child_process::exec_failure() noexcept {
    if (report_read_ || !report_fd_.valid())
        return failure_;
    std::int32_t message[2] = {0, 0};
    const ssize_t n = ::read(report_fd_.get(), message, sizeof message);
    if (n == static_cast<ssize_t>(sizeof message))
        failure_ = spawn_failure{static_cast<spawn_stage>(message[0]), message[1]};
    else if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return std::nullopt; // the child has not reached exec yet
    report_read_ = true;
    report_fd_.reset();
    return failure_;
}

spawn_result spawn_child(const spawn_options& options) {
    spawn_result result;
    const auto fail = [&result](spawn_stage stage, int error) {
        result.failure = spawn_failure{stage, error};
        return std::move(result);
    };
    if (options.argv.empty())
        return fail(spawn_stage::resolve, ENOENT);
    const auto path = resolve_command(options.argv.front(), path_of(options.env));
    if (!path)
        return fail(spawn_stage::resolve, ENOENT);

    std::vector<std::string> args = options.argv;
    std::vector<std::string> env = options.env;
    const std::vector<char*> argv = pointers_to(args);
    const std::vector<char*> envp = pointers_to(env);
    const std::vector<limit_setting> limits = plan_limits(options.limits);

    fd_pair in;
    fd_pair out;
    fd_pair err;
    fd_pair report;
    if (const int e = make_pipe(in))
        return fail(spawn_stage::parent_setup, e);
    if (const int e = options.stdout_pty ? make_raw_pty(out) : make_pipe(out))
        return fail(spawn_stage::parent_setup, e);
    if (const int e = make_pipe(err))
        return fail(spawn_stage::parent_setup, e);
    if (const int e = make_pipe(report))
        return fail(spawn_stage::parent_setup, e);

    child_plan plan;
    plan.path = path->c_str();
    plan.argv = argv.data();
    plan.envp = envp.data();
    plan.working_dir = options.working_dir.empty() ? nullptr : options.working_dir.c_str();
    plan.stdin_fd = in.read.get();
    plan.stdout_fd = out.write.get();
    plan.stderr_fd = err.write.get();
    plan.report_fd = report.write.get();
    plan.limits = limits.data();
    plan.limit_count = limits.size();
    plan.close_fds = options.close_fds;
    plan.ignored_signals = &ignored_signals();
    plan.cgroup_procs_fd = options.cgroup_procs_fd;

    // vfork, not fork: the child borrows the appliance's memory until it execs, so starting a
    // function costs the same however much memory the appliance holds (fork copies page
    // tables: measured 3 -> 7 ms of appliance CPU per start as the status table fills). The
    // child code is allocation-free and makes only async-signal-safe calls. Every signal is
    // blocked around the vfork so no handler of ours can run in the child on shared memory;
    // the child resets dispositions and the mask to defaults itself.
    sigset_t all_signals;
    sigset_t previous_mask;
    ::sigfillset(&all_signals);
    ::pthread_sigmask(SIG_SETMASK, &all_signals, &previous_mask);
    const pid_t pid = ::vfork();
    if (pid == 0)
        run_child(plan);
    const int vfork_error = errno;
    ::pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);
    if (pid < 0)
        return fail(spawn_stage::parent_setup, vfork_error);

    // Also set the group here: whichever of parent and child runs first, the group exists before
    // the parent can signal it. Fails harmlessly (EACCES) if the child has already exec'd.
    ::setpgid(pid, pid);
    result.child.pid_ = pid;
    note_child_started(pid); // the escaped-process sweep spares it until it is reaped
    // The child's ends: closing ours is what makes EOF (or EIO on the pty master) possible.
    in.read.reset();
    out.write.reset();
    err.write.reset();
    report.write.reset();
    for (const unique_fd* fd : {&in.write, &out.read, &err.read, &report.read})
        set_nonblocking(*fd);
    result.child.stdin_fd = std::move(in.write);
    result.child.stdout_fd = std::move(out.read);
    result.child.stderr_fd = std::move(err.read);
    result.child.report_fd_ = std::move(report.read);
    // pidfd_open fds are always CLOEXEC. A zombie child still has a pid, so this cannot miss an
    // early exit; only the appliance reaps its children.
    const long pidfd = ::syscall(SYS_pidfd_open, pid, 0);
    if (pidfd >= 0)
        result.child.pidfd.reset(static_cast<int>(pidfd));
    return result;
}

std::optional<std::string> resolve_command(const std::string& name, const std::string& path) {
    if (name.empty())
        return std::nullopt;
    if (name.find('/') != std::string::npos)
        return name;
    std::string_view rest = path;
    for (;;) {
        const auto colon = rest.find(':');
        const std::string_view dir = rest.substr(0, colon);
        // Relative entries (and "" = cwd) would depend on the appliance's cwd: skipped.
        if (!dir.empty() && dir.front() == '/') {
            std::string candidate(dir);
            candidate += '/';
            candidate += name;
            struct stat info {};
            if (::stat(candidate.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
                ::access(candidate.c_str(), X_OK) == 0)
                return candidate;
        }
        if (colon == std::string_view::npos)
            break;
        rest.remove_prefix(colon + 1);
    }
    return std::nullopt;
}

std::string signal_name(int sig) {
    const char* abbrev = ::sigabbrev_np(sig);
    return abbrev ? std::string("SIG") + abbrev : std::string();
}

} // namespace spear::platform
