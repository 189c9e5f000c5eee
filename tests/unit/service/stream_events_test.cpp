// Tests of stream fan-out: the slow-viewer drop policy, replay for late viewers, UTF-8 chunking.
#include "service/stream_events.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

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
    ioc.run_for(std::chrono::seconds(2));
    ioc.restart();
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
    auto waiter = [&]() -> boost::asio::awaitable<void> { got = co_await q.pop(); };
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

BOOST_AUTO_TEST_SUITE_END()
