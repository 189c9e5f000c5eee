// async_event: waiters parked on timers in their own frames, woken by cancelling the timers.
#include "runtime/async_event.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace spear::runtime {

/// One parked wait. Lives in the waiting coroutine's frame; unlinks itself when it resumes
/// (or is destroyed with the frame).
struct async_event::waiter {
    waiter(async_event& e, std::chrono::steady_clock::time_point deadline)
        : owner(&e)
        , timer(e.executor_, deadline) {
        next = owner->waiters_;
        if (next)
            next->prev = this;
        owner->waiters_ = this;
    }
    ~waiter() {
        if (!owner)
            return; // the event is gone
        if (prev)
            prev->next = next;
        else
            owner->waiters_ = next;
        if (next)
            next->prev = prev;
    }
    waiter(const waiter&) = delete;
    waiter& operator=(const waiter&) = delete;

    async_event* owner;
    asio::steady_timer timer;
    waiter* prev = nullptr;
    waiter* next = nullptr;
    bool woken = false;
};

async_event::~async_event() {
    for (auto* w = waiters_; w; w = w->next) {
        w->owner = nullptr;
        w->timer.cancel();
    }
}

void async_event::set() {
    set_ = true;
    // Cancelling does not resume anyone here (completions are posted): the list stays valid.
    for (auto* w = waiters_; w; w = w->next) {
        if (!w->woken) {
            w->woken = true;
            w->timer.cancel();
        }
    }
}

asio::awaitable<bool> async_event::park(std::chrono::steady_clock::time_point deadline) {
    if (set_)
        co_return true;
    waiter w(*this, deadline);
    // Completes on expiry (the deadline), on set() (aborted, woken) or when the awaiting
    // operation is cancelled (aborted, not woken).
    co_await w.timer.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return w.woken;
}

asio::awaitable<bool> async_event::wait() {
    co_return co_await park(std::chrono::steady_clock::time_point::max());
}

asio::awaitable<bool> async_event::wait_for(std::chrono::milliseconds timeout) {
    if (set_ || timeout.count() <= 0)
        co_return set_;
    co_return co_await park(std::chrono::steady_clock::now() + timeout);
}

} // namespace spear::runtime
