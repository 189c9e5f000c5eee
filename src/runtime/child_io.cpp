// child_io: the descriptors of a child as stream descriptors, and the wait for its exit.
#include "runtime/child_io.hpp"

#include "core/limits.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace spear::runtime {

namespace asio = boost::asio;

child_io::child_io(const asio::any_io_executor& ex, platform::child_process&& process)
    : child(std::move(process))
    , stdin_pipe(ex, child.stdin_fd.release())
    , stdout_pipe(ex, child.stdout_fd.release())
    , stderr_pipe(ex, child.stderr_fd.release())
    , readers_done(ex) {
    if (child.pidfd.valid())
        pidfd.emplace(ex, child.pidfd.release());
}

asio::awaitable<void> wait_exit(child_io& io) {
    if (io.pidfd) {
        // Asio's epoll reactor is edge-triggered and a wait is never tried speculatively: if the
        // exit edge was consumed while no wait was queued (an earlier wait lost a race and was
        // cancelled), it never comes again. So look before each wait; the look and the queued
        // wait happen in one handler, with no reactor run in between. The loop also absorbs a
        // spurious wakeup.
        while (!io.child.has_exited()) {
            auto [ec] = co_await io.pidfd->async_wait(child_io::stream_descriptor::wait_read,
                                                      asio::as_tuple(asio::use_awaitable));
            if (ec)
                co_return;
        }
        co_return;
    }
    asio::steady_timer poll(co_await asio::this_coro::executor);
    while (!io.child.has_exited()) {
        poll.expires_after(core::limits::process_exit_poll_interval);
        auto [ec] = co_await poll.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec)
            co_return;
    }
}

} // namespace spear::runtime
