// async_event's awaitable waits.
#include "runtime/runtime.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace spear::runtime {

asio::awaitable<void> async_event::wait() {
    // One wait: set() cancels the timer, which completes it with operation_aborted.
    if (!set_)
        co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<bool> async_event::wait_for(std::chrono::milliseconds timeout) {
    using namespace asio::experimental::awaitable_operators;
    if (set_ || timeout.count() <= 0)
        co_return set_;
    asio::steady_timer deadline(co_await asio::this_coro::executor, timeout);
    co_await (wait() || deadline.async_wait(asio::as_tuple(asio::use_awaitable)));
    co_return set_;
}

} // namespace spear::runtime
