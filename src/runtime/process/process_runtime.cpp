// Process runtime: a function's argv as a child process group on the io_context, input on stdin,
// stdout and stderr streamed to the sink as they arrive, timeout and cancel killing the group.
//
// One run is four coroutines joined with `&&` on the caller's executor, none of which blocks:
//   feed_stdin  writes the input, then closes stdin (EPIPE is fine: the child need not read it);
//   pump x2     forwards stdout and stderr chunk by chunk until EOF, so the child never blocks on
//               a full pipe however much it writes;
//   supervise   races leader exit against the timeout and the cancel signal, runs the kill
//               sequence (SIGTERM to the group, SIGKILL after kill_grace), then, before reaping
//               the leader, SIGKILLs the group (and the execution's cgroup, when there is one)
//               so no straggler outlives the run, reaps, drains the pipes for at most
//               drain_bound and closes them.
// With per-execution cgroups (execution_cgroups) the child joins exec-<n> before exec; after
// the four, the run waits (bounded) until that cgroup is empty and removes it.
// The child itself is owned by platform::child_process, which kills and reaps it if the run is
// torn down abnormally (an exception, or the io_context destroyed mid-run): no zombie either way.
#include "runtime/process/process_runtime.hpp"
#include "runtime/child_io.hpp"
#include "runtime/run_environment.hpp"

#include "core/limits.hpp"
#include "core/log.hpp"
#include "core/scope_exit.hpp"
#include "platform/cgroup.hpp"
#include "platform/child_process.hpp"
#include "platform/signals.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/system_error.hpp>

#include <signal.h>

#include <array>
#include <cerrno>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

namespace spear::runtime {
namespace {

using namespace asio::experimental::awaitable_operators;
using asio::posix::stream_descriptor;
using core::error_code;
using core::execution_outcome;
using core::ExecutionStatus;

constexpr std::size_t chunk_bytes = core::limits::process_read_bytes;
constexpr auto drain_bound = core::limits::process_drain_bound;
/// The PATH every function starts with; its `env` (or an allowed request variable) may change it.
constexpr const char* default_path = "/usr/local/bin:/usr/bin:/bin";

enum class stop_reason {
    exited,    ///< the leader exited by itself
    timeout,   ///< the run's timeout fired first
    cancelled, ///< the cancel signal fired first
};

asio::awaitable<void> feed_stdin(stream_descriptor& pipe, const std::string& input) {
    // Any error is expected (EPIPE, ECONNRESET: the child exited or closed stdin without reading;
    // operation_aborted: supervise closed the pipe after the leader exited).
    if (!input.empty())
        co_await asio::async_write(pipe, asio::buffer(input), asio::as_tuple(asio::use_awaitable));
    boost::system::error_code ignored;
    pipe.close(ignored); // EOF for the child
}

asio::awaitable<void> pump(stream_descriptor& pipe, output_sink& sink,
                           void (output_sink::*deliver)(std::string_view), child_io& io) {
    std::array<char, chunk_bytes> buffer;
    for (;;) {
        auto [ec, n] = co_await pipe.async_read_some(asio::buffer(buffer),
                                                     asio::as_tuple(asio::use_awaitable));
        if (n > 0)
            (sink.*deliver)(std::string_view(buffer.data(), n));
        // EOF; EIO from a pty master once every slave fd is closed; or closed by supervise.
        if (ec)
            break;
    }
    if (--io.readers_left == 0)
        io.readers_done.set();
}

const process_function& settings_of(const function_spec& fn) {
    return std::get<process_function>(fn.settings);
}

std::string quoted_command(const function_spec& fn) {
    const auto& command = settings_of(fn).command;
    return "'" + (command.empty() ? std::string() : command.front()) + "'";
}

/// The outcome of a child that never ran the function's code. Messages name the configured
/// command (config, not request data) and never the working directory.
execution_outcome start_failure(const platform::spawn_failure& failure, const function_spec& fn) {
    using platform::spawn_stage;
    const std::string reason = std::generic_category().message(failure.error);
    execution_outcome o;
    o.status = ExecutionStatus::failed;
    o.error = error_code::function_failed;
    switch (failure.stage) {
    case spawn_stage::resolve:
        o.error_message = "command " + quoted_command(fn) + " was not found or is not executable";
        break;
    case spawn_stage::exec:
        switch (failure.error) {
        case ENOENT:
        case EACCES:
        case ENOEXEC:
        case ENOTDIR:
        case EISDIR:
        case ELOOP:
        case ENAMETOOLONG:
        case EPERM:
            o.error_message =
                "command " + quoted_command(fn) + " was not found or is not executable";
            break;
        default:
            o.error_message = "command " + quoted_command(fn) + " could not be started: " + reason;
            break;
        }
        break;
    case spawn_stage::working_dir:
        o.error_message = "the working directory of function '" + fn.common.name +
                          "' could not be entered: " + reason;
        break;
    case spawn_stage::limits:
        o.error_message = "the resource limits of function '" + fn.common.name +
                          "' could not be applied: " + reason;
        break;
    case spawn_stage::process_group:
    case spawn_stage::streams:
        o.error_message =
            "the process of function '" + fn.common.name + "' could not be set up: " + reason;
        break;
    case spawn_stage::cgroup:
        // The appliance's problem too, but said plainly: the function was not run uncontained.
        o.error = error_code::internal;
        o.error_message = "the process of function '" + fn.common.name +
                          "' could not join its execution cgroup: " + reason;
        break;
    case spawn_stage::parent_setup:
        // Out of descriptors or processes: the appliance's problem, not the function's.
        o.error = error_code::internal;
        o.error_message = std::string(core::default_message(error_code::internal));
        break;
    }
    return o;
}

execution_outcome finish(stop_reason reason, const std::optional<platform::exit_status>& status,
                         const run_request& request) {
    execution_outcome o;
    if (status) {
        if (status->signaled)
            o.signal = status->value;
        else
            o.exit_code = status->value;
    }
    switch (reason) {
    case stop_reason::timeout:
        o.status = ExecutionStatus::timeout;
        o.error = error_code::timeout;
        o.error_message =
            "killed after exceeding its " + std::to_string(request.timeout.count()) + " ms timeout";
        return o;
    case stop_reason::cancelled:
        o.status = ExecutionStatus::cancelled;
        o.error = error_code::none;
        o.error_message = "cancelled";
        return o;
    case stop_reason::exited:
        break;
    }
    if (!status) {
        o.status = ExecutionStatus::failed;
        o.error = error_code::internal;
        o.error_message = std::string(core::default_message(error_code::internal));
        log::error("process of function '" + request.function->common.name + "' (execution " +
                   request.execution_id + ") was reaped elsewhere; its exit status is lost");
    } else if (status->signaled) {
        o.status = ExecutionStatus::failed;
        o.error = error_code::function_failed;
        o.error_message = "killed by signal " + std::to_string(status->value);
        if (const auto name = platform::signal_name(status->value); !name.empty())
            o.error_message += " (" + name + ")";
    } else if (status->value != 0) {
        o.status = ExecutionStatus::failed;
        o.error = error_code::function_failed;
        o.error_message = "exited with code " + std::to_string(status->value);
    } else {
        o.status = ExecutionStatus::completed;
    }
    return o;
}

asio::awaitable<execution_outcome> supervise(child_io& io, const run_request& request,
                                             cancel_signal& cancel, escape_sweeper& sweeper,
                                             const std::string& cgroup_dir) {
    const auto ex = co_await asio::this_coro::executor;
    asio::steady_timer deadline(ex, request.timeout);
    const auto first = co_await (
        wait_exit(io) || deadline.async_wait(asio::as_tuple(asio::use_awaitable)) || cancel.wait());
    const stop_reason reason = first.index() == 0   ? stop_reason::exited
                               : first.index() == 1 ? stop_reason::timeout
                                                    : stop_reason::cancelled;
    if (reason != stop_reason::exited) {
        io.child.signal_group(SIGTERM);
        io.child.signal_group(SIGCONT); // a stopped process must run to act on SIGTERM
        asio::steady_timer grace(ex, request.kill_grace);
        const auto second =
            co_await (wait_exit(io) || grace.async_wait(asio::as_tuple(asio::use_awaitable)));
        if (second.index() == 1 && !io.child.has_exited()) {
            io.child.signal_group(SIGKILL);
            co_await wait_exit(io);
        }
    }
    if (!io.child.has_exited()) // only when the run itself is being cancelled from outside
        throw boost::system::system_error(asio::error::operation_aborted);

    // The leader has exited but is not reaped: its pid, which is the group id, cannot be reused
    // yet, so this reaches only the function's own stragglers (background children, children
    // ignoring SIGTERM). Processes that left the group (setsid) are the sweeper's: orphaned,
    // they are the appliance's children (it is their subreaper), and the sweep ends them
    // before the drain below, so one holding a pipe does not hold the run.
    io.child.signal_group(SIGKILL);
    // The execution's cgroup holds every process it started, escaped from the group or not,
    // and nothing of any other execution: all of them die now, before the drain.
    if (!cgroup_dir.empty())
        execution_cgroups::kill(cgroup_dir);
    const auto status = io.child.reap();
    sweeper.sweep();
    const auto exec_failure = io.child.exec_failure(); // definitive now that the child is gone

    boost::system::error_code ignored;
    io.stdin_pipe.close(ignored); // nobody is left to read the rest of the input
    // What the group wrote before it ended is still in the pipes: drain it, but an escaped
    // process holding a pipe open must not hold the run.
    if (!co_await io.readers_done.wait_for(drain_bound)) {
        io.stdout_pipe.close(ignored);
        io.stderr_pipe.close(ignored);
    }

    if (exec_failure) {
        log::warn("function '" + request.function->common.name + "' (execution " +
                  request.execution_id + "): starting " + quoted_command(*request.function) +
                  " failed at stage " + std::to_string(static_cast<int>(exec_failure->stage)) +
                  ": " + std::generic_category().message(exec_failure->error));
        co_return start_failure(*exec_failure, *request.function);
    }
    co_return finish(reason, status, request);
}

/// PATH below the layers every runtime gives (run_environment): nothing of the appliance's
/// own environment is passed on.
std::vector<std::string> environment_for(const run_request& request) {
    return run_environment(request, {{"PATH", std::string(default_path)}});
}

platform::spawn_options spawn_options_for(const run_request& request) {
    const process_function& fn = settings_of(*request.function);
    platform::spawn_options options;
    options.argv = fn.command;
    options.env = environment_for(request);
    options.working_dir = fn.working_dir;
    options.stdout_pty = fn.stdout_mode == "pty";
    options.limits.cpu_seconds = fn.rlimits.cpu_seconds;
    options.limits.address_space_bytes = fn.rlimits.address_space_bytes;
    options.limits.open_files = fn.rlimits.open_files;
    options.limits.processes = fn.rlimits.processes;
    return options;
}

} // namespace

void process_runtime::configure(const core::config& cfg) {
    cgroups_.emplace(executor_);
    if (!executor_) // unit tests: no executor for the background removals
        return;
    cgroups_->configure(cfg.process);
}

boost::json::object process_runtime::health() {
    boost::json::object o;
    if (cgroups_)
        o["cgroups"] = cgroups_->health();
    return o;
}

asio::awaitable<core::execution_outcome>
process_runtime::run(run_request request, output_sink& sink, cancel_signal& cancel) {
    // The appliance ignores SIGPIPE at start; make sure of it here too, once, since a write to
    // the stdin of a child that exited would otherwise kill the whole process.
    [[maybe_unused]] static const bool sigpipe_ignored = (platform::ignore_sigpipe(), true);

    if (!request.function)
        throw std::invalid_argument("process_runtime: run_request.function is null");
    const function_spec& fn = *request.function;
    const process_function& settings = settings_of(fn);
    if (cancel.requested()) // cancelled before it started: do not start it at all
        co_return execution_outcome{ExecutionStatus::cancelled, error_code::none, "cancelled",
                                    std::nullopt, std::nullopt};
    if (settings.command.empty())
        co_return execution_outcome{ExecutionStatus::failed, error_code::function_failed,
                                    "function '" + fn.common.name + "' has no command configured",
                                    std::nullopt, std::nullopt};

    const bool cgroup_active = cgroups_ && cgroups_->active();
    execution_cgroups::made cgroup;
    if (cgroup_active) {
        cgroup = cgroups_->create(settings);
        if (cgroup.dir.empty()) {
            log::error("function '" + fn.common.name + "' (execution " + request.execution_id +
                       "): cannot make its execution cgroup (" + cgroup.step +
                       "): " + std::generic_category().message(cgroup.error));
            co_return start_failure(platform::spawn_failure{platform::spawn_stage::cgroup,
                                                            cgroup.error},
                                    fn);
        }
    }
    auto options = spawn_options_for(request);
    options.cgroup_procs_fd = cgroup.procs.get();
    auto spawned = platform::spawn_child(options);
    cgroup.procs.reset(); // the child has joined (or failed to) by the time vfork returns
    if (spawned.failure) {
        if (!cgroup.dir.empty())
            platform::cgroup::remove(cgroup.dir); // nothing ever ran in it
        if (spawned.failure->stage == platform::spawn_stage::parent_setup)
            log::error("function '" + fn.common.name + "' (execution " + request.execution_id +
                       "): could not create its process: " +
                       std::generic_category().message(spawned.failure->error));
        co_return start_failure(*spawned.failure, fn);
    }

    // Declared before the child, so destroyed after it: a run torn down abnormally kills the
    // child (its destructor), then the cgroup, and leaves the removal to the background.
    auto abandon = core::scope_exit([this, &cgroup] {
        if (!cgroup.dir.empty())
            cgroups_->abandon(cgroup.dir);
    });
    const auto ex = co_await asio::this_coro::executor;
    if (!sweeper_)
        sweeper_.emplace(ex, !cgroup_active);
    child_io io(ex, std::move(spawned.child));
    auto outcome = co_await (feed_stdin(io.stdin_pipe, request.input) &&
                             pump(io.stdout_pipe, sink, &output_sink::on_stdout, io) &&
                             pump(io.stderr_pipe, sink, &output_sink::on_stderr, io) &&
                             supervise(io, request, cancel, *sweeper_, cgroup.dir));
    if (!cgroup.dir.empty()) {
        co_await cgroups_->finish(cgroup.dir); // if this is cancelled, `abandon` takes over
        abandon.release();
        sweeper_->sweep(); // reaps the zombies the cgroup's end handed to the appliance
    }
    co_return outcome;
}

} // namespace spear::runtime
