// Unit tests of the process runtime: real children on a test io_context, each run bounded by an
// overall deadline so a bug fails the test instead of hanging CI.
#include "runtime/process/process_runtime.hpp"

#include "platform/child_process.hpp"
#include "platform/signals.hpp"
#include "support/io_context.hpp"
#include "support/print_types.hpp"
#include "support/temp_dir.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using spear::core::error_code;
using spear::core::execution_outcome;
using spear::core::ExecutionStatus;
using spear::runtime::cancel_signal;
using spear::runtime::run_request;
using clock_type = std::chrono::steady_clock;

/// Generous: a run that takes this long is a bug, not a slow machine.
constexpr auto overall_deadline = 20s;

struct recording_sink final : spear::runtime::output_sink {
    struct chunk {
        clock_type::time_point at;
        std::string bytes;
    };
    bool keep = true; ///< false: only count (floods)
    std::string out;
    std::string err;
    std::vector<chunk> out_chunks;
    std::uint64_t out_bytes = 0;
    std::size_t largest_chunk = 0;

    void on_stdout(std::string_view bytes) override {
        out_bytes += bytes.size();
        largest_chunk = std::max(largest_chunk, bytes.size());
        if (keep) {
            out.append(bytes);
            out_chunks.push_back({clock_type::now(), std::string(bytes)});
        }
    }
    void on_stderr(std::string_view bytes) override { err.append(bytes); }
};

spear::runtime::function_spec function(std::vector<std::string> command) {
    spear::runtime::function_spec f;
    f.common.name = "fn";
    f.common.runtime = "process";
    spear::runtime::process_function settings;
    settings.command = std::move(command);
    f.settings = std::move(settings);
    return f;
}

/// The process settings of a function made by function() or shell().
spear::runtime::process_function& proc(spear::runtime::function_spec& f) {
    return std::get<spear::runtime::process_function>(f.settings);
}

spear::runtime::function_spec shell(const std::string& script) {
    return function({"sh", "-c", script});
}

/// Records the largest gap between ticks of a 10 ms timer while a run is in flight.
struct ticker {
    int ticks = 0;
    clock_type::duration max_gap{};
    bool stop = false;

    asio::awaitable<void> run() {
        asio::steady_timer timer(co_await asio::this_coro::executor);
        auto last = clock_type::now();
        while (!stop) {
            timer.expires_after(10ms);
            co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
            const auto now = clock_type::now();
            max_gap = std::max(max_gap, now - last);
            last = now;
            ++ticks;
        }
    }
};

/// Descriptors open in the test process right now.
std::size_t open_fds() {
    const std::filesystem::directory_iterator fds("/proc/self/fd");
    return static_cast<std::size_t>(std::distance(begin(fds), end(fds)));
}

struct runtime_fixture {
    asio::io_context ioc;
    /// Opens the io_context's reactor (epoll, eventfd, timerfd) before any fd is counted.
    asio::steady_timer reactor_opened{ioc};
    spear::runtime::process_runtime runtime;
    cancel_signal cancel{ioc.get_executor()};
    recording_sink sink;
    clock_type::duration elapsed{};

    /// Runs one execution to its end on the test io_context (and `extra` beside it).
    execution_outcome run(const spear::runtime::function_spec& fn, std::string input = {},
                          std::chrono::milliseconds timeout = 5000ms,
                          std::chrono::milliseconds kill_grace = 2000ms,
                          std::map<std::string, std::string> request_env = {},
                          ticker* extra = nullptr) {
        run_request request;
        request.function = &fn;
        request.execution_id = "exec-1";
        request.input = std::move(input);
        request.request_env = std::move(request_env);
        request.timeout = timeout;
        request.kill_grace = kill_grace;

        std::optional<execution_outcome> outcome;
        std::exception_ptr failure;
        const std::size_t fds_before = open_fds();
        const auto started = clock_type::now();
        asio::co_spawn(ioc, runtime.run(std::move(request), sink, cancel),
                       [&](std::exception_ptr e, execution_outcome o) {
                           failure = e;
                           outcome = std::move(o);
                           elapsed = clock_type::now() - started;
                           if (extra)
                               extra->stop = true;
                       });
        if (extra)
            asio::co_spawn(ioc, extra->run(), asio::detached);
        spear::test::run_until_idle(ioc, overall_deadline);
        BOOST_REQUIRE_MESSAGE(outcome, "the run did not end within the overall deadline");
        if (failure)
            std::rethrow_exception(failure);
        // Whatever the run did, it left no zombie behind.
        BOOST_TEST(::waitpid(-1, nullptr, WNOHANG) <= 0);
        // ... and closed every descriptor it opened (pipes, pty, pidfd, report pipe).
        BOOST_TEST(open_fds() == fds_before);
        return *outcome;
    }
};

/// Live (non-zombie) processes whose process group is `pgid`, from /proc. Zombies are not
/// counted: stragglers are reparented to PID 1, which need not reap them promptly (in some
/// sandboxes never), and a zombie runs nothing.
int live_members_of_group(pid_t pgid) {
    int live = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        const std::string name = entry.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos)
            continue;
        std::ifstream stat(entry.path() / "stat");
        std::string line;
        if (!std::getline(stat, line))
            continue;
        const auto close = line.rfind(')');
        if (close == std::string::npos)
            continue;
        std::istringstream fields(line.substr(close + 2));
        char state = 0;
        long ppid = 0;
        long group = 0;
        fields >> state >> ppid >> group;
        if (group == pgid && state != 'Z' && state != 'X')
            ++live;
    }
    return live;
}

pid_t first_line_as_pid(const std::string& out) {
    return static_cast<pid_t>(std::stol(out.substr(0, out.find('\n'))));
}

/// Descriptor numbers open in process `pid`, from /proc/PID/fd.
std::set<int> fds_of(pid_t pid) {
    std::set<int> fds;
    for (const auto& entry :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
        fds.insert(std::stoi(entry.path().filename().string()));
    return fds;
}

bool is_cloexec(const spear::platform::unique_fd& fd) {
    const int flags = ::fcntl(fd.get(), F_GETFD);
    return flags >= 0 && (flags & FD_CLOEXEC) != 0;
}

/// Starts `sleep` with `how` while the test process holds descriptors without CLOEXEC (as a
/// careless library would), and returns what the child has open once it runs.
std::set<int> fds_of_child_started_with(spear::platform::fd_cleanup how, bool pty = false) {
    using spear::platform::unique_fd;
    const unique_fd file(::open("/dev/null", O_RDONLY));
    const unique_fd sock(::socket(AF_INET, SOCK_STREAM, 0));
    const unique_fd high(::fcntl(file.get(), F_DUPFD, 200)); // F_DUPFD leaves CLOEXEC clear
    BOOST_REQUIRE(file.valid() && sock.valid() && high.valid());
    spear::platform::spawn_options options;
    options.argv = {"/bin/sleep", "30"};
    options.env = {"PATH=/usr/bin:/bin"};
    options.stdout_pty = pty;
    options.close_fds = how;
    auto spawned = spear::platform::spawn_child(options);
    BOOST_REQUIRE(!spawned.failure);
    auto& child = spawned.child;
    // The parent's ends never reach a later child either.
    BOOST_TEST(is_cloexec(child.stdin_fd));
    BOOST_TEST(is_cloexec(child.stdout_fd));
    BOOST_TEST(is_cloexec(child.stderr_fd));
    // vfork: spawn_child returns once the child has exec'd, but the kernel releases the parent
    // (exec_mmap) before it closes the child's CLOEXEC descriptors (the report pipe, fd 3): wait
    // up to 1 s for that close. A descriptor that really leaked stays and fails the test.
    auto fds = fds_of(child.pid());
    for (int i = 0; i < 100 && fds.size() > 3; ++i) {
        ::usleep(10'000);
        fds = fds_of(child.pid());
    }
    BOOST_TEST(!child.exec_failure().has_value());
    return fds; // the child_process destructor kills and reaps `sleep`
}

const std::set<int> stdio_only{0, 1, 2};

} // namespace

BOOST_AUTO_TEST_SUITE(process_runtime)

BOOST_FIXTURE_TEST_CASE(echo_round_trip_text_and_binary, runtime_fixture) {
    const auto fn = function({"cat"});
    BOOST_TEST(run(fn, "hello\n").status == ExecutionStatus::completed);
    BOOST_TEST(sink.out == "hello\n");

    // Every byte value, and more than a pipe holds: input and output must flow at once.
    std::string binary;
    for (int round = 0; round < 1024; ++round) {
        for (int b = 0; b < 256; ++b)
            binary.push_back(static_cast<char>(b));
    }
    sink = recording_sink{};
    const auto outcome = run(fn, binary);
    BOOST_TEST(outcome.status == ExecutionStatus::completed);
    BOOST_TEST(outcome.error == error_code::none);
    BOOST_TEST(outcome.exit_code.value_or(-1) == 0);
    BOOST_TEST(sink.out.size() == binary.size());
    BOOST_TEST((sink.out == binary));
    BOOST_TEST(sink.largest_chunk <= 16u * 1024u);
}

BOOST_FIXTURE_TEST_CASE(nonzero_exit_reports_code_and_stderr, runtime_fixture) {
    const auto outcome = run(shell("echo oops >&2; exit 3"));
    BOOST_TEST(outcome.status == ExecutionStatus::failed);
    BOOST_TEST(outcome.error == error_code::function_failed);
    BOOST_TEST(outcome.exit_code.value_or(-1) == 3);
    BOOST_TEST(!outcome.signal);
    BOOST_TEST(outcome.error_message == "exited with code 3");
    BOOST_TEST(sink.err == "oops\n");
    BOOST_TEST(sink.out.empty());
}

BOOST_FIXTURE_TEST_CASE(killed_by_signal, runtime_fixture) {
    const auto outcome = run(shell("kill -SEGV $$"));
    BOOST_TEST(outcome.status == ExecutionStatus::failed);
    BOOST_TEST(outcome.error == error_code::function_failed);
    BOOST_TEST(outcome.signal.value_or(-1) == SIGSEGV);
    BOOST_TEST(!outcome.exit_code);
    BOOST_TEST(outcome.error_message == "killed by signal 11 (SIGSEGV)");
}

BOOST_FIXTURE_TEST_CASE(missing_command_fails_cleanly, runtime_fixture) {
    // Not on PATH: refused before fork.
    auto outcome = run(function({"spear-no-such-command-xyz", "arg"}));
    BOOST_TEST(outcome.status == ExecutionStatus::failed);
    BOOST_TEST(outcome.error == error_code::function_failed);
    BOOST_TEST(outcome.error_message ==
               "command 'spear-no-such-command-xyz' was not found or is not executable");
    BOOST_TEST(!outcome.exit_code);

    // A path: execve fails in the child, which reports errno through the CLOEXEC pipe.
    outcome = run(function({"/nonexistent/spear-tool"}));
    BOOST_TEST(outcome.status == ExecutionStatus::failed);
    BOOST_TEST(outcome.error == error_code::function_failed);
    BOOST_TEST(outcome.error_message ==
               "command '/nonexistent/spear-tool' was not found or is not executable");
    BOOST_TEST(!outcome.exit_code);

    // Exists but is not executable.
    const spear::test::temp_dir dir("spear-proc");
    const std::string file = dir.write("data.txt", "not a program\n").string();
    outcome = run(function({file}));
    BOOST_TEST(outcome.error_message ==
               "command '" + file + "' was not found or is not executable");
    // A working directory that does not exist.
    auto in_missing_dir = function({"true"});
    proc(in_missing_dir).working_dir = (dir.path() / "missing").string();
    outcome = run(in_missing_dir);
    BOOST_TEST(outcome.status == ExecutionStatus::failed);
    BOOST_TEST(outcome.error == error_code::function_failed);
    BOOST_TEST(outcome.error_message.find("working directory") != std::string::npos);
    BOOST_TEST(outcome.error_message.find(dir.path().string()) == std::string::npos);

    // No command at all.
    outcome = run(function({}));
    BOOST_TEST(outcome.status == ExecutionStatus::failed);
}

BOOST_FIXTURE_TEST_CASE(working_dir_is_used, runtime_fixture) {
    auto fn = function({"pwd"});
    proc(fn).working_dir = "/usr";
    BOOST_TEST(run(fn).status == ExecutionStatus::completed);
    BOOST_TEST(sink.out == "/usr\n");
}

BOOST_FIXTURE_TEST_CASE(timeout_kills_group_including_children, runtime_fixture) {
    const auto outcome = run(shell("echo $$; sleep 30 & sleep 30 & wait"), {}, 300ms);
    BOOST_TEST(outcome.status == ExecutionStatus::timeout);
    BOOST_TEST(outcome.error == error_code::timeout);
    BOOST_TEST(outcome.error_message == "killed after exceeding its 300 ms timeout");
    BOOST_TEST(elapsed < 3s);
    const pid_t pgid = first_line_as_pid(sink.out);
    BOOST_TEST(pgid > 1);
    BOOST_TEST(live_members_of_group(pgid) == 0);
}

BOOST_FIXTURE_TEST_CASE(ignores_sigterm_then_sigkilled_after_grace, runtime_fixture) {
    // The ignored TERM is inherited by the sleep: the whole group ignores it.
    const auto outcome = run(shell("trap '' TERM; echo $$; sleep 30"), {}, 200ms, 300ms);
    BOOST_TEST(outcome.status == ExecutionStatus::timeout);
    BOOST_TEST(outcome.error == error_code::timeout);
    BOOST_TEST(outcome.signal.value_or(-1) == SIGKILL);
    BOOST_TEST(elapsed >= 500ms);
    BOOST_TEST(elapsed < 3s);
    BOOST_TEST(live_members_of_group(first_line_as_pid(sink.out)) == 0);
}

BOOST_FIXTURE_TEST_CASE(cancel_stops_running_child, runtime_fixture) {
    asio::steady_timer later(ioc, 100ms);
    later.async_wait([this](boost::system::error_code) { cancel.cancel(); });
    const auto outcome = run(shell("echo $$; sleep 30"));
    BOOST_TEST(outcome.status == ExecutionStatus::cancelled);
    BOOST_TEST(outcome.error == error_code::none);
    BOOST_TEST(outcome.error_message == "cancelled");
    BOOST_TEST(elapsed < 3s);
    BOOST_TEST(live_members_of_group(first_line_as_pid(sink.out)) == 0);
}

BOOST_FIXTURE_TEST_CASE(cancel_before_start_does_not_spawn, runtime_fixture) {
    cancel.cancel();
    const auto outcome = run(shell("echo started"));
    BOOST_TEST(outcome.status == ExecutionStatus::cancelled);
    BOOST_TEST(sink.out.empty());
}

BOOST_FIXTURE_TEST_CASE(background_child_killed_when_leader_exits, runtime_fixture) {
    // The sleep holds stdout open; it must be killed with the group, not waited for.
    const auto outcome = run(shell("sleep 30 & echo $$"));
    BOOST_TEST(outcome.status == ExecutionStatus::completed);
    BOOST_TEST(elapsed < 2s);
    BOOST_TEST(live_members_of_group(first_line_as_pid(sink.out)) == 0);
}

BOOST_FIXTURE_TEST_CASE(escaped_grandchild_holding_pipe_does_not_stall, runtime_fixture) {
    // setsid leaves the group (the leader waits until it has: pgrp == pid in /proc/PID/stat),
    // then holds stdout open: the runtime cannot kill it, only stop waiting for the pipe.
    const auto outcome = run(shell("setsid sleep 5 & p=$!; "
                                   "while [ \"$(cut -d' ' -f5 /proc/$p/stat)\" != $p ]; do "
                                   "sleep 0.01; done; echo $p"));
    BOOST_TEST(outcome.status == ExecutionStatus::completed);
    BOOST_TEST(elapsed >= 450ms); // the drain bound ran out
    BOOST_TEST(elapsed < 2s);
    const pid_t escaped = first_line_as_pid(sink.out);
    BOOST_TEST(live_members_of_group(escaped) == 1); // still running, in its own group
    ::kill(escaped, SIGKILL);                        // tidy up
}

BOOST_FIXTURE_TEST_CASE(flood_stdout_counts_every_byte, runtime_fixture) {
    sink.keep = false;
    const auto outcome = run(shell("yes | head -c 50000000"));
    BOOST_TEST(outcome.status == ExecutionStatus::completed);
    BOOST_TEST(sink.out_bytes == 50'000'000u);
    BOOST_TEST(sink.largest_chunk <= 16u * 1024u);
}

BOOST_FIXTURE_TEST_CASE(flood_stdout_does_not_block, runtime_fixture) {
    // An endless flood: the timeout must fire on time and other io_context work must go on.
    sink.keep = false;
    ticker tick;
    const auto outcome = run(function({"yes"}), {}, 800ms, 2000ms, {}, &tick);
    BOOST_TEST(outcome.status == ExecutionStatus::timeout);
    BOOST_TEST(outcome.signal.value_or(-1) == SIGTERM);
    BOOST_TEST(elapsed < 3s);
    BOOST_TEST(sink.out_bytes > 1'000'000u);
    BOOST_TEST(tick.ticks >= 20);
    BOOST_TEST(std::chrono::duration_cast<std::chrono::milliseconds>(tick.max_gap).count() < 400);
}

BOOST_FIXTURE_TEST_CASE(child_not_reading_stdin_with_large_input, runtime_fixture) {
    const auto outcome = run(function({"true"}), std::string(1 << 20, 'x'));
    BOOST_TEST(outcome.status == ExecutionStatus::completed);
    BOOST_TEST(outcome.exit_code.value_or(-1) == 0);
    // A child that lives on without reading: the write stays pending until it exits.
    const auto slow = run(shell("sleep 0.2; echo done"), std::string(1 << 20, 'y'));
    BOOST_TEST(slow.status == ExecutionStatus::completed);
    BOOST_TEST(sink.out == "done\n");
}

BOOST_FIXTURE_TEST_CASE(env_and_request_env_visible, runtime_fixture) {
    ::setenv("SPEAR_TEST_APPLIANCE_SECRET", "leak", 1);
    auto fn = shell("echo \"$PATH|$SPEAR_EXECUTION_ID|$SPEAR_FUNCTION_NAME|$FROM_FN|$BOTH|"
                    "${SPEAR_TEST_APPLIANCE_SECRET-unset}\"");
    fn.common.name = "envfn";
    fn.common.env = {{"FROM_FN", "fn-value"}, {"BOTH", "from-function"}};
    const auto outcome = run(fn, {}, 5000ms, 2000ms, {{"BOTH", "from-request"}});
    ::unsetenv("SPEAR_TEST_APPLIANCE_SECRET");
    BOOST_TEST(outcome.status == ExecutionStatus::completed);
    BOOST_TEST(sink.out ==
               "/usr/local/bin:/usr/bin:/bin|exec-1|envfn|fn-value|from-request|unset\n");
}

BOOST_FIXTURE_TEST_CASE(request_data_never_reaches_a_shell, runtime_fixture) {
    // argv is passed as is: request input and env are data, not shell syntax.
    auto fn = function({"printf", "%s", "$(echo injected)"});
    const auto outcome = run(fn, "; echo injected", 5000ms, 2000ms, {{"X", "$(id)"}});
    BOOST_TEST(outcome.status == ExecutionStatus::completed);
    BOOST_TEST(sink.out == "$(echo injected)");
}

BOOST_FIXTURE_TEST_CASE(rlimit_applied, runtime_fixture) {
    auto fn = shell("ulimit -n; ulimit -c");
    proc(fn).rlimits.open_files = 64;
    BOOST_TEST(run(fn).status == ExecutionStatus::completed);
    BOOST_TEST(sink.out == "64\n0\n");

    // CPU seconds: a busy loop is stopped by the kernel (SIGXCPU at 1 s of CPU).
    auto busy = shell("while :; do :; done");
    proc(busy).rlimits.cpu_seconds = 1;
    const auto outcome = run(busy, {}, 10'000ms);
    BOOST_TEST(outcome.status == ExecutionStatus::failed);
    BOOST_TEST((outcome.signal.value_or(-1) == SIGXCPU || outcome.signal.value_or(-1) == SIGKILL));
}

BOOST_FIXTURE_TEST_CASE(pty_mode_streams_line_by_line, runtime_fixture) {
    auto fn = shell("test -t 1 && echo tty || echo notty; echo a; sleep 0.3; echo b");
    proc(fn).stdout_mode = "pty";
    const auto started = clock_type::now();
    const auto outcome = run(fn);
    BOOST_TEST(outcome.status == ExecutionStatus::completed);
    BOOST_TEST(sink.out == "tty\na\nb\n"); // raw mode: no "\r\n"
    // "a" arrived before "b" was written (0.3 s later): the output streams as it is produced.
    std::optional<clock_type::duration> a_at;
    std::optional<clock_type::duration> b_at;
    std::string seen;
    for (const auto& c : sink.out_chunks) {
        seen += c.bytes;
        if (!a_at && seen.find("a\n") != std::string::npos)
            a_at = c.at - started;
        if (!b_at && seen.find("b\n") != std::string::npos)
            b_at = c.at - started;
    }
    BOOST_REQUIRE(a_at);
    BOOST_REQUIRE(b_at);
    BOOST_TEST((*b_at - *a_at >= 250ms));

    // The same script on a pipe: not a tty, same bytes.
    proc(fn).stdout_mode = "pipe";
    sink = recording_sink{};
    BOOST_TEST(run(fn).status == ExecutionStatus::completed);
    BOOST_TEST(sink.out == "notty\na\nb\n");
}

BOOST_FIXTURE_TEST_CASE(exits_after_writing_everything_in_pty_mode, runtime_fixture) {
    // Output written just before exit is still delivered (the master reads it before EIO).
    auto fn = shell("head -c 100000 /dev/zero | tr '\\0' x");
    proc(fn).stdout_mode = "pty";
    BOOST_TEST(run(fn).status == ExecutionStatus::completed);
    BOOST_TEST(sink.out == std::string(100000, 'x'));
}

BOOST_AUTO_TEST_CASE(io_context_destroyed_mid_run_kills_and_reaps) {
    // The abnormal path: the run's frame is destroyed while the child runs (appliance teardown).
    const auto fn = shell("echo $$; sleep 30");
    recording_sink sink;
    {
        asio::io_context ioc;
        cancel_signal cancel(ioc.get_executor());
        spear::runtime::process_runtime runtime;
        run_request request;
        request.function = &fn;
        request.execution_id = "exec-1";
        asio::co_spawn(ioc, runtime.run(std::move(request), sink, cancel), asio::detached);
        for (int i = 0; i < 200 && sink.out.empty(); ++i)
            ioc.run_for(10ms);
    }
    BOOST_REQUIRE(!sink.out.empty());
    BOOST_TEST(live_members_of_group(first_line_as_pid(sink.out)) == 0);
    BOOST_TEST(::waitpid(-1, nullptr, WNOHANG) <= 0);
}

BOOST_AUTO_TEST_CASE(child_inherits_only_stdio) {
    // close_range, on this kernel.
    BOOST_TEST(fds_of_child_started_with(spear::platform::fd_cleanup::automatic) == stdio_only);
    BOOST_TEST(fds_of_child_started_with(spear::platform::fd_cleanup::automatic, true) ==
               stdio_only);
}

BOOST_AUTO_TEST_CASE(child_inherits_only_stdio_without_close_range) {
    // The fallback for kernels before 5.9: the /proc/self/fd scan.
    BOOST_TEST(fds_of_child_started_with(spear::platform::fd_cleanup::scan_proc_fd) == stdio_only);
    BOOST_TEST(fds_of_child_started_with(spear::platform::fd_cleanup::scan_proc_fd, true) ==
               stdio_only);
}

BOOST_AUTO_TEST_CASE(child_inherits_only_stdio_without_close_range_or_proc) {
    // The last resort: close() every number below the soft RLIMIT_NOFILE. Lowered here (and
    // restored) so the test does not depend on how high the machine's limit is.
    rlimit saved{};
    BOOST_REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
    rlimit lowered = saved;
    lowered.rlim_cur = std::min<rlim_t>(saved.rlim_cur, 1024);
    BOOST_REQUIRE(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);
    const auto fds = fds_of_child_started_with(spear::platform::fd_cleanup::close_each);
    ::setrlimit(RLIMIT_NOFILE, &saved);
    BOOST_TEST(fds == stdio_only);
}

BOOST_FIXTURE_TEST_CASE(child_gets_default_signal_dispositions, runtime_fixture) {
    // The appliance ignores SIGPIPE; a function must not inherit that (nor a blocked mask).
    spear::platform::ignore_sigpipe();
    BOOST_TEST(::sigismember(&spear::platform::ignored_signals(), SIGPIPE) == 1);
    BOOST_TEST(run(function({"grep", "^Sig\\(Ign\\|Blk\\)", "/proc/self/status"})).status ==
               ExecutionStatus::completed);
    BOOST_TEST(sink.out == "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
}

BOOST_AUTO_TEST_CASE(no_zombies_left) {
    // Every run above reaped its child: nothing is left for waitpid (ECHILD, or 0 if some other
    // child of the test process still runs).
    errno = 0;
    const pid_t reaped = ::waitpid(-1, nullptr, WNOHANG);
    BOOST_TEST(reaped <= 0);
    if (reaped < 0)
        BOOST_TEST(errno == ECHILD);
}

BOOST_AUTO_TEST_SUITE_END()
