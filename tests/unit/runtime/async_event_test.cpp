// Tests of the one awaitable event: set before and during a wait, many waiters, wait_for's
// deadline, a cancelled wait, reuse through reset(), and destruction with waiters parked.
#include "runtime/async_event.hpp"
#include "support/io_context.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <memory>
#include <optional>

using namespace spear;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using runtime::async_event;
using clock_type = std::chrono::steady_clock;

namespace {

/// Runs `ioc` until it has nothing left to do (bounded).
void run(asio::io_context& ioc) {
    spear::test::run_until_idle(ioc, 5s);
}

/// Spawns a wait on `e` that records its result.
void spawn_wait(asio::io_context& ioc, async_event& e, std::optional<bool>& result) {
    auto waiter = [&e, &result]() -> asio::awaitable<void> {
        result = co_await e.wait();
    };
    asio::co_spawn(ioc, waiter, asio::detached);
}

} // namespace

BOOST_AUTO_TEST_SUITE(async_event_suite)

BOOST_AUTO_TEST_CASE(a_wait_on_a_set_event_completes_at_once) {
    asio::io_context ioc;
    async_event e(ioc.get_executor());
    e.set();
    std::optional<bool> result;
    spawn_wait(ioc, e, result);
    ioc.poll(); // no timer may be involved: one poll is enough
    BOOST_TEST(result.has_value());
    BOOST_TEST(*result);
    BOOST_TEST(e.is_set());
}

BOOST_AUTO_TEST_CASE(set_during_a_wait_wakes_every_waiter) {
    asio::io_context ioc;
    async_event e(ioc.get_executor());
    std::optional<bool> a, b;
    spawn_wait(ioc, e, a);
    spawn_wait(ioc, e, b);
    ioc.poll();
    BOOST_TEST(!a.has_value()); // parked
    BOOST_TEST(!b.has_value());
    e.set();
    ioc.poll();
    BOOST_TEST((a && *a));
    BOOST_TEST((b && *b));
}

BOOST_AUTO_TEST_CASE(wait_for_times_out_false_and_is_true_when_set_in_time) {
    asio::io_context ioc;
    async_event e(ioc.get_executor());
    std::optional<bool> first, second;
    clock_type::duration waited{};
    auto timed = [&]() -> asio::awaitable<void> {
        const auto t0 = clock_type::now();
        first = co_await e.wait_for(50ms);
        waited = clock_type::now() - t0;
        second = co_await e.wait_for(5s);
    };
    asio::co_spawn(ioc, timed, asio::detached);
    asio::steady_timer later(ioc, 150ms);
    later.async_wait([&](boost::system::error_code) { e.set(); });
    const auto t0 = clock_type::now();
    run(ioc);
    BOOST_TEST((first && !*first));
    BOOST_TEST((waited >= 50ms));
    BOOST_TEST((second && *second));
    BOOST_TEST((clock_type::now() - t0 < 2s)); // the second wait ended on set(), not its deadline
}

BOOST_AUTO_TEST_CASE(a_cancelled_wait_returns_false_and_the_event_stays_usable) {
    using namespace asio::experimental::awaitable_operators;
    asio::io_context ioc;
    async_event e(ioc.get_executor());
    std::optional<std::size_t> winner;
    std::optional<bool> after;
    auto race = [&]() -> asio::awaitable<void> {
        asio::steady_timer t(co_await asio::this_coro::executor, 20ms);
        // The event loses: its wait is cancelled by the `||`.
        auto r = co_await (e.wait() || t.async_wait(asio::as_tuple(asio::use_awaitable)));
        winner = r.index();
    };
    asio::co_spawn(ioc, race, asio::detached);
    run(ioc);
    BOOST_TEST((winner && *winner == 1u));
    BOOST_TEST(!e.is_set());
    spawn_wait(ioc, e, after); // the cancelled waiter left no trace behind
    ioc.poll();
    BOOST_TEST(!after.has_value());
    e.set();
    ioc.poll();
    BOOST_TEST((after && *after));
}

BOOST_AUTO_TEST_CASE(a_cancelled_wait_reports_false) {
    asio::io_context ioc;
    async_event e(ioc.get_executor());
    asio::cancellation_signal cancel;
    std::optional<bool> result;
    auto waiter = [&]() -> asio::awaitable<void> {
        result = co_await e.wait();
    };
    asio::co_spawn(ioc, waiter, asio::bind_cancellation_slot(cancel.slot(), asio::detached));
    ioc.poll();
    cancel.emit(asio::cancellation_type::terminal);
    ioc.poll();
    BOOST_TEST((result && !*result));
}

BOOST_AUTO_TEST_CASE(reset_makes_it_reusable_without_a_new_event) {
    asio::io_context ioc;
    async_event e(ioc.get_executor());
    int wakes = 0;
    bool stop = false;
    auto consumer = [&]() -> asio::awaitable<void> {
        while (!stop) {
            if (co_await e.wait())
                ++wakes;
            e.reset();
        }
    };
    asio::co_spawn(ioc, consumer, asio::detached);
    for (int i = 0; i < 100; ++i) {
        ioc.poll();
        if (i == 99)
            stop = true;
        e.set();
    }
    ioc.poll();
    BOOST_TEST(wakes == 100);
    BOOST_TEST(!e.is_set());
}

BOOST_AUTO_TEST_CASE(woken_by_set_even_if_reset_before_it_resumed) {
    asio::io_context ioc;
    async_event e(ioc.get_executor());
    std::optional<bool> result;
    spawn_wait(ioc, e, result);
    ioc.poll();
    e.set();
    e.reset(); // the waiter was already woken: it must not miss that set()
    ioc.poll();
    BOOST_TEST((result && *result));
}

BOOST_AUTO_TEST_CASE(destroying_the_event_wakes_its_waiters_as_not_set) {
    asio::io_context ioc;
    auto e = std::make_unique<async_event>(ioc.get_executor());
    std::optional<bool> result;
    spawn_wait(ioc, *e, result);
    ioc.poll();
    e = nullptr;
    ioc.poll();
    BOOST_TEST((result && !*result));
}

BOOST_AUTO_TEST_CASE(cancel_signal_keeps_its_api) {
    asio::io_context ioc;
    runtime::cancel_signal cancel(ioc.get_executor());
    BOOST_TEST(!cancel.requested());
    std::optional<bool> result;
    auto waiter = [&]() -> asio::awaitable<void> {
        result = co_await cancel.wait();
    };
    asio::co_spawn(ioc, waiter, asio::detached);
    ioc.poll();
    cancel.cancel();
    ioc.poll();
    BOOST_TEST(cancel.requested());
    BOOST_TEST((result && *result));
}

BOOST_AUTO_TEST_SUITE_END()
