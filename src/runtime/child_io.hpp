// One child process as a runtime awaits it on the io_context: its pipes as stream
// descriptors, its pidfd, a count of the output readers still running, and the wait for its
// exit. Shared by the process runtime and the wasm AOT tier's worker.
#pragma once

#include "platform/child_process.hpp"
#include "runtime/async_event.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <optional>

namespace spear::runtime {

/// What one run owns while its child lives; lives in the run's frame, and the coroutines that
/// pump its pipes take it by reference. `child` is declared first so it is destroyed last,
/// after the descriptors.
struct child_io {
    using stream_descriptor = boost::asio::posix::stream_descriptor;

    child_io(const boost::asio::any_io_executor& ex, platform::child_process&& process);

    platform::child_process child;
    stream_descriptor stdin_pipe;
    stream_descriptor stdout_pipe; ///< a pipe, or the pty master in the process runtime's "pty" mode
    stream_descriptor stderr_pipe;
    std::optional<stream_descriptor> pidfd; ///< empty: poll for the exit instead
    int readers_left = 2;
    async_event readers_done; ///< set when both output readers have ended
};

/// Completes once the child has exited (a zombie, not reaped), or early if cancelled: callers
/// check has_exited() when that matters. With a pidfd it waits for it to become readable,
/// else it polls every limits::process_exit_poll_interval.
boost::asio::awaitable<void> wait_exit(child_io& io);

} // namespace spear::runtime
