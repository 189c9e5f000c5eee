// Tests of stream fan-out: the slow-viewer drop policy, replay for late viewers, UTF-8 chunking.
#include "service/stream_events.hpp"
#include "support/io_context.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>

using namespace spear;
using service::stream_event;
using service::viewer_queue;

namespace {

/// Pops everything the queue holds (until it is closed and empty) on a test io_context.
std::vector<viewer_queue::item> drain(boost::asio::io_context& ioc, viewer_queue& q) {
    std::vector<viewer_queue::item> items;
    auto pop_all = [&]() -> boost::asio::awaitable<void> {
        while (auto item = co_await q.pop())
            items.push_back(*item);
    };
    boost::asio::co_spawn(ioc, pop_all, boost::asio::detached);
    spear::test::run_until_idle(ioc, std::chrono::seconds(2));
    return items;
}

std::string text_of(const std::vector<viewer_queue::item>& items) {
    std::string out;
    for (const auto& i : items)
        if (i.event->type == stream_event::kind::chunk)
            out += i.event->bytes;
    return out;
}

core::ExecutionResult finished(core::ExecutionStatus status) {
    core::ExecutionResult r;
    r.execution_id = "id";
    r.status = status;
    return r;
}

} // namespace

BOOST_AUTO_TEST_SUITE(stream_events)

BOOST_AUTO_TEST_CASE(events_are_numbered_without_gaps_and_end_with_final) {
    boost::asio::io_context ioc;
    auto q = std::make_shared<viewer_queue>(ioc.get_executor(), 100);
    service::stream_broadcaster b("id", 8, 1024);
    b.attach(q);
    b.publish_status(core::ExecutionStatus::running);
    b.publish_output("a\n");
    b.publish_output("b\n");
    b.publish_final(finished(core::ExecutionStatus::completed));
    auto items = drain(ioc, *q);
    BOOST_REQUIRE_EQUAL(items.size(), 4u);
    for (std::size_t i = 0; i < items.size(); ++i)
        BOOST_TEST(items[i].event->seq == i);
    BOOST_TEST((items.back().event->type == stream_event::kind::final));
    BOOST_TEST(q->closed());
}

BOOST_AUTO_TEST_CASE(slow_viewer_drops_oldest_chunks_and_is_told) {
    boost::asio::io_context ioc;
    auto q = std::make_shared<viewer_queue>(ioc.get_executor(), 4);
    auto metrics_total = std::make_shared<std::uint64_t>(5); // other viewers' drops so far
    q->count_drops_into(metrics_total);
    service::stream_broadcaster b("id", 8, 1024);
    b.attach(q);
    b.publish_status(core::ExecutionStatus::running);
    for (int i = 0; i < 10; ++i)
        b.publish_output(std::to_string(i));
    b.publish_final(finished(core::ExecutionStatus::completed));
    auto items = drain(ioc, *q);
    // Status and final always survive; the newest chunks fill the rest.
    BOOST_REQUIRE_EQUAL(items.size(), 4u);
    BOOST_TEST((items.front().event->type == stream_event::kind::status));
    BOOST_TEST((items.back().event->type == stream_event::kind::final));
    BOOST_TEST(text_of(items) == "89");
    std::uint64_t dropped = 0;
    for (const auto& i : items)
        dropped += i.dropped_before;
    BOOST_TEST(dropped == 8u);
    BOOST_TEST(q->dropped_total() == 8u);
    BOOST_TEST(*metrics_total == 13u); // the service's total for GET /metrics
}

BOOST_AUTO_TEST_CASE(late_viewer_gets_replay_of_recent_chunks_then_live) {
    boost::asio::io_context ioc;
    service::stream_broadcaster b("id", 3, 1024);
    b.publish_status(core::ExecutionStatus::running);
    for (int i = 0; i < 6; ++i)
        b.publish_output(std::to_string(i));
    auto late = std::make_shared<viewer_queue>(ioc.get_executor(), 100);
    b.attach(late);
    b.publish_output("6");
    b.publish_final(finished(core::ExecutionStatus::failed));
    auto items = drain(ioc, *late);
    BOOST_TEST(text_of(items) == "3456");
    BOOST_TEST((items.front().event->type == stream_event::kind::status));
    BOOST_TEST(items[1].event->seq == 4u); // status=0, chunks 1..6: replay starts at "3"
}

BOOST_AUTO_TEST_CASE(utf8_sequences_are_never_split_between_chunks) {
    boost::asio::io_context ioc;
    auto q = std::make_shared<viewer_queue>(ioc.get_executor(), 1000);
    service::stream_broadcaster b("id", 8, 16);
    b.attach(q);
    const std::string euro = "\xe2\x82\xac";
    std::string all;
    for (int i = 0; i < 20; ++i)
        all += euro;
    // Feed it cut at awkward places, as pipe reads would.
    b.publish_output(all.substr(0, 7));
    b.publish_output(all.substr(7, 1));
    b.publish_output(all.substr(8));
    b.publish_final(finished(core::ExecutionStatus::completed));
    auto items = drain(ioc, *q);
    for (const auto& i : items)
        if (i.event->type == stream_event::kind::chunk) {
            BOOST_TEST(i.event->bytes.size() % 3 == 0u);
            BOOST_TEST(i.event->bytes.size() <= 16u);
        }
    BOOST_TEST(text_of(items) == all);
}

BOOST_AUTO_TEST_CASE(finished_execution_replays_output_and_final) {
    auto r = finished(core::ExecutionStatus::completed);
    r.output = std::string(40, 'x');
    auto events = service::replay_finished(r, 16);
    BOOST_REQUIRE_EQUAL(events.size(), 4u);
    BOOST_TEST(events[0]->replayed);
    BOOST_TEST(events[0]->bytes.size() == 16u);
    BOOST_TEST((events.back()->type == stream_event::kind::final));
    BOOST_TEST(events.back()->result->output.empty());
}

BOOST_AUTO_TEST_CASE(pop_waits_for_a_push) {
    boost::asio::io_context ioc;
    viewer_queue q(ioc.get_executor(), 4);
    std::optional<viewer_queue::item> got;
    auto waiter = [&]() -> boost::asio::awaitable<void> {
        got = co_await q.pop();
    };
    boost::asio::co_spawn(ioc, waiter, boost::asio::detached);
    ioc.poll();
    BOOST_TEST(!got.has_value());
    auto e = std::make_shared<stream_event>();
    e->bytes = "x";
    q.push(e);
    ioc.poll();
    BOOST_REQUIRE(got.has_value());
    BOOST_TEST(got->event->bytes == "x");
}

BOOST_AUTO_TEST_CASE(a_pop_racing_a_deadline_loses_its_event_but_wait_ready_does_not) {
    // Audit 10.11: the SSE loop raced pop() against its keepalive timer. When the keepalive
    // completes first while the pop has already been woken by a push, the pop still takes the
    // event and the `||` throws it away. An async_event stands in for the keepalive timer so
    // the schedule is exact: the keepalive fires, then the event arrives, in the same turn.
    using namespace boost::asio::experimental::awaitable_operators;
    boost::asio::io_context ioc;
    viewer_queue q(ioc.get_executor(), 8);
    runtime::async_event keepalive(ioc.get_executor());
    auto first = std::make_shared<stream_event>();
    first->bytes = "first";

    std::optional<std::size_t> old_winner;
    auto old_loop = [&]() -> boost::asio::awaitable<void> {
        auto r = co_await (q.pop() || keepalive.wait());
        old_winner = r.index();
    };
    boost::asio::co_spawn(ioc, old_loop, boost::asio::detached);
    ioc.poll();
    keepalive.set();
    q.push(first);
    ioc.poll();
    BOOST_REQUIRE(old_winner.has_value());
    BOOST_TEST(*old_winner == 1u); // the keepalive won ...
    BOOST_TEST(q.size() == 0u);    // ... and the event is gone: nobody will ever write it
    BOOST_TEST(!q.try_pop().has_value());

    // The same schedule, waiting without taking: the event stays queued for try_pop().
    ioc.restart();
    keepalive.reset();
    auto second = std::make_shared<stream_event>();
    second->bytes = "second";
    std::optional<std::size_t> new_winner;
    std::optional<viewer_queue::item> taken;
    auto new_loop = [&]() -> boost::asio::awaitable<void> {
        auto r = co_await (q.wait_ready() || keepalive.wait());
        new_winner = r.index();
        taken = q.try_pop();
    };
    boost::asio::co_spawn(ioc, new_loop, boost::asio::detached);
    ioc.poll();
    keepalive.set();
    q.push(second);
    ioc.poll();
    BOOST_REQUIRE(new_winner.has_value());
    BOOST_TEST(*new_winner == 1u);
    BOOST_REQUIRE(taken.has_value());
    BOOST_TEST(taken->event->bytes == "second");
}

BOOST_AUTO_TEST_CASE(wait_ready_with_a_timeout_takes_nothing) {
    boost::asio::io_context ioc;
    viewer_queue q(ioc.get_executor(), 8);
    std::vector<bool> results;
    auto waiter = [&]() -> boost::asio::awaitable<void> {
        results.push_back(co_await q.wait_ready(std::chrono::milliseconds(10))); // times out
        results.push_back(co_await q.wait_ready(std::chrono::seconds(5)));       // a push
        results.push_back(co_await q.wait_ready(std::chrono::milliseconds(10))); // still ready
    };
    boost::asio::co_spawn(ioc, waiter, boost::asio::detached);
    boost::asio::steady_timer later(ioc, std::chrono::milliseconds(50));
    later.async_wait([&](boost::system::error_code) { q.push(std::make_shared<stream_event>()); });
    ioc.run_for(std::chrono::seconds(3));
    BOOST_TEST(results == (std::vector<bool>{false, true, true}));
    BOOST_TEST(q.size() == 1u);
    BOOST_TEST(q.try_pop().has_value());
    BOOST_TEST(!q.ready()); // drained and open: not ready until the next push
}

BOOST_AUTO_TEST_CASE(leave_drops_what_is_queued_and_ignores_later_pushes) {
    boost::asio::io_context ioc;
    viewer_queue q(ioc.get_executor(), 8);
    q.push(std::make_shared<stream_event>());
    q.leave();
    q.push(std::make_shared<stream_event>());
    BOOST_TEST(q.left());
    BOOST_TEST(q.ready());
    BOOST_TEST(!q.try_pop().has_value());
}

BOOST_AUTO_TEST_CASE(message_names_are_one_table) {
    BOOST_TEST(service::name_of(stream_event::kind::status) == "status");
    BOOST_TEST(service::name_of(stream_event::kind::chunk) == "chunk");
    BOOST_TEST(service::name_of(stream_event::kind::final) == "final");
    BOOST_TEST(service::dropped_message_name == "dropped");
}

BOOST_AUTO_TEST_SUITE_END()
