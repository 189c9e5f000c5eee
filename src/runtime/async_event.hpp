// The one awaitable event of the io_context: set/reset, any number of waiters, waits with or
// without a deadline, and no allocation of its own per wait.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>

namespace spear::runtime {

namespace asio = boost::asio;

/// A level-triggered event on one thread (no locking). set() wakes every waiter and the
/// event stays set until reset(); a wait on a set event completes at once. Reusable: reset()
/// then wait again (a queue resets it when drained, a condition when it re-checks).
///
/// Each waiter parks on a timer in its own coroutine frame, linked into the event's
/// intrusive list; set() cancels those timers. So a wait needs no extra timer, no `||` and
/// no new event, and wait_for's deadline is the same timer. Destroying the event wakes its
/// waiters (as not set); they do not touch it afterwards.
class async_event {
public:
    explicit async_event(const asio::any_io_executor& ex)
        : executor_(ex) {}
    ~async_event();
    async_event(const async_event&) = delete;
    async_event& operator=(const async_event&) = delete;

    /// Sets the event and wakes every current waiter.
    void set();
    /// Clears the event; later waits park until the next set().
    void reset() noexcept { set_ = false; }
    bool is_set() const noexcept { return set_; }

    /// Completes when the event is set (at once if it is), or when the awaiting operation is
    /// itself cancelled (e.g. the losing branch of an `||`). True if it was woken by set()
    /// (even if reset() ran before it resumed), false if cancelled.
    asio::awaitable<bool> wait();
    /// As wait(), but for at most `timeout`; true if set, false on timeout or cancellation.
    asio::awaitable<bool> wait_for(std::chrono::milliseconds timeout);

private:
    struct waiter;
    asio::awaitable<bool> park(std::chrono::steady_clock::time_point deadline);

    asio::any_io_executor executor_;
    waiter* waiters_ = nullptr; ///< intrusive list of parked waiters (in their frames)
    bool set_ = false;
};

/// A one-shot cancel request shared by the service and a running execution.
/// cancel() wakes every waiter of wait(); a runtime races wait() against its own work.
class cancel_signal : public async_event {
public:
    using async_event::async_event;
    void cancel() { set(); }
    bool requested() const noexcept { return is_set(); }
};

} // namespace spear::runtime
