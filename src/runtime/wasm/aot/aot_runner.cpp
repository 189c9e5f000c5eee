// The worker round trip: spawn, feed, read frames, supervise (timeout, cancel), reap.
#include "runtime/wasm/aot/aot_runner.hpp"
#include "runtime/child_io.hpp"

#include "core/limits.hpp"
#include "core/log.hpp"
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

#include <signal.h>

#include <array>
#include <cstdlib>
#include <optional>

namespace spear::runtime::wasm::aot {
namespace {

using namespace asio::experimental::awaitable_operators;
using asio::posix::stream_descriptor;
using core::error_code;
using core::execution_outcome;
using core::ExecutionStatus;

/// The worker as the run awaits it, and the outcome its last frame gave.
struct worker_io : child_io {
    using child_io::child_io;
    std::optional<execution_outcome> last; ///< from the worker's last frame
    std::string diagnostics;               ///< the worker's own stderr (bounded)
    std::uint32_t limit_pages = 0;
};

execution_outcome outcome(ExecutionStatus status, error_code code, std::string message,
                          std::optional<int> exit_code = std::nullopt) {
    return execution_outcome{status, code, std::move(message), exit_code, std::nullopt};
}

asio::awaitable<void> feed(stream_descriptor& pipe, std::string data) {
    co_await asio::async_write(pipe, asio::buffer(data), asio::as_tuple(asio::use_awaitable));
    boost::system::error_code ignored;
    pipe.close(ignored);
}

void reader_done(worker_io& io) {
    if (--io.readers_left == 0)
        io.readers_done.set();
}

/// Turns the last frame into the outcome; the guest's memory size goes to the sink's peak
/// (linear memory only grows).
std::optional<execution_outcome> final_outcome(frame_kind kind, std::string_view payload,
                                               output_sink& sink) {
    reader in(payload);
    switch (kind) {
    case frame_kind::exit: {
        const auto code = in.u32();
        const auto pages = in.u32();
        const auto max_pages = in.u32();
        if (!in.ok)
            return std::nullopt;
        sink.on_peak_memory(std::uint64_t{pages} * 65536);
        if (code == 0)
            return outcome(ExecutionStatus::completed, error_code::none, {}, 0);
        const auto as_int = static_cast<int>(code);
        return outcome(ExecutionStatus::failed, error_code::function_failed,
                       "exit code " + std::to_string(as_int) + memory_note(pages, max_pages, false),
                       as_int);
    }
    case frame_kind::trap: {
        const auto pages = in.u32();
        const auto max_pages = in.u32();
        if (!in.ok)
            return std::nullopt;
        sink.on_peak_memory(std::uint64_t{pages} * 65536);
        return outcome(ExecutionStatus::failed, error_code::function_failed,
                       "wasm trap: " + std::string(in.rest()) + memory_note(pages, max_pages, true));
    }
    case frame_kind::error:
        return outcome(ExecutionStatus::failed, error_code::function_failed,
                       "the wasm module does not load: " + std::string(payload));
    default:
        return std::nullopt;
    }
}

asio::awaitable<void> read_frames(worker_io& io, output_sink& sink) {
    std::array<char, core::limits::process_read_bytes> buffer;
    std::string pending;
    bool broken = false;
    for (;;) {
        auto [ec, n] = co_await io.stdout_pipe.async_read_some(asio::buffer(buffer),
                                                               asio::as_tuple(asio::use_awaitable));
        if (n > 0 && !broken) {
            pending.append(buffer.data(), n);
            std::size_t at = 0;
            while (pending.size() - at >= 5) {
                reader head(std::string_view(pending).substr(at + 1, 4));
                const auto len = head.u32();
                if (len > max_frame_bytes) {
                    broken = true;
                    break;
                }
                if (pending.size() - at - 5 < len)
                    break;
                const auto kind = static_cast<frame_kind>(pending[at]);
                const std::string_view payload(pending.data() + at + 5, len);
                if (kind == frame_kind::out)
                    sink.on_stdout(payload);
                else if (kind == frame_kind::err)
                    sink.on_stderr(payload);
                else if (!io.last)
                    io.last = final_outcome(kind, payload, sink);
                at += 5 + len;
            }
            pending.erase(0, at);
        }
        if (ec)
            break;
    }
    reader_done(io);
}

asio::awaitable<void> read_diagnostics(worker_io& io) {
    std::array<char, 4096> buffer;
    for (;;) {
        auto [ec, n] = co_await io.stderr_pipe.async_read_some(asio::buffer(buffer),
                                                               asio::as_tuple(asio::use_awaitable));
        if (n > 0 && io.diagnostics.size() < core::limits::wasm_aot_diagnostics_bytes)
            io.diagnostics.append(buffer.data(),
                                  std::min(n, core::limits::wasm_aot_diagnostics_bytes -
                                                  io.diagnostics.size()));
        if (ec)
            break;
    }
    reader_done(io);
}

asio::awaitable<execution_outcome> supervise(worker_io& io, const run_request& request,
                                             cancel_signal& cancel) {
    const auto ex = co_await asio::this_coro::executor;
    asio::steady_timer deadline(ex, request.timeout);
    const auto first = co_await (
        wait_exit(io) || deadline.async_wait(asio::as_tuple(asio::use_awaitable)) || cancel.wait());
    if (first.index() != 0) {
        // The worker holds nothing worth a grace period: it goes at once.
        io.child.signal_group(SIGKILL);
        co_await wait_exit(io);
    }
    if (!io.child.has_exited())
        throw boost::system::system_error(asio::error::operation_aborted);
    io.child.signal_group(SIGKILL);
    const auto status = io.child.reap();
    const auto exec_failure = io.child.exec_failure();
    boost::system::error_code ignored;
    io.stdin_pipe.close(ignored);
    if (!co_await io.readers_done.wait_for(core::limits::process_drain_bound)) {
        io.stdout_pipe.close(ignored);
        io.stderr_pipe.close(ignored);
    }
    const auto& name = request.function->common.name;
    if (!io.diagnostics.empty())
        log::warn("wasm function '" + name + "' (execution " + request.execution_id +
                  "): worker said: " + io.diagnostics);
    if (first.index() == 1)
        co_return outcome(ExecutionStatus::timeout, error_code::timeout,
                          "timed out after " + std::to_string(request.timeout.count()) + " ms");
    if (first.index() == 2)
        co_return outcome(ExecutionStatus::cancelled, error_code::none, "cancelled");
    if (exec_failure) {
        log::error("wasm function '" + name + "': the AOT worker could not be started: " +
                   std::generic_category().message(exec_failure->error));
        co_return outcome(ExecutionStatus::failed, error_code::function_failed,
                          "the wasm AOT worker could not be started");
    }
    if (io.last)
        co_return *io.last;
    std::string how = "the wasm worker ended without a result";
    if (status && status->signaled) {
        how = "the wasm worker was killed by signal " + std::to_string(status->value);
        if (const auto sig = platform::signal_name(status->value); !sig.empty())
            how += " (" + sig + ")";
        if (status->value == SIGSYS)
            how += ": the module made a system call its sandbox forbids";
    } else if (status) {
        how += " (exit status " + std::to_string(status->value) + ")";
    }
    log::warn("wasm function '" + name + "' (execution " + request.execution_id + "): " + how);
    co_return outcome(ExecutionStatus::failed, error_code::function_failed, how);
}

} // namespace

std::string memory_note(std::uint64_t pages, std::uint64_t limit, bool always) {
    if (limit == 0 || (!always && pages * 4 < limit * 3))
        return {};
    return " (linear memory: " + std::to_string(pages) + " of " + std::to_string(limit) +
           " pages in use, max_memory_pages)";
}

platform::spawn_result spawn_worker(const std::string& worker, const std::string& module_so,
                                    std::uint32_t max_pages) {
    platform::spawn_options options;
    options.argv = {worker, module_so, std::to_string(max_pages)};
    // The worker's environment is empty (the guest's is in the request); a sanitizer build
    // passes its options on.
    for (const char* key : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"})
        if (const char* v = std::getenv(key))
            options.env.push_back(std::string(key) + "=" + v);
    return platform::spawn_child(options);
}

asio::awaitable<execution_outcome> run_in_worker(platform::child_process child,
                                                 worker_request work, const run_request& request,
                                                 output_sink& sink, cancel_signal& cancel) {
    const auto ex = co_await asio::this_coro::executor;
    worker_io io(ex, std::move(child));
    if (cancel.requested()) {
        io.child.signal_group(SIGKILL); // destroyed with io: reaped
        co_return outcome(ExecutionStatus::cancelled, error_code::none, "cancelled");
    }
    auto result = co_await (feed(io.stdin_pipe, encode(work)) && read_frames(io, sink) &&
                            read_diagnostics(io) && supervise(io, request, cancel));
    co_return result;
}

} // namespace spear::runtime::wasm::aot
