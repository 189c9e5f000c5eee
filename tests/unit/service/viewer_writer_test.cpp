// Tests of the one viewer writer with a recording encoder: how it ends (final delivered,
// queue closed, write failed, client gone, cancelled), drop notices, keepalives.
#include "service/viewer_writer.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <vector>

using namespace spear;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using service::stream_event;
using service::viewer_end;
using service::viewer_queue;

namespace spear::service {
inline std::ostream& boost_test_print_type(std::ostream& os, viewer_end end) {
    return os << to_string(end);
}
} // namespace spear::service

namespace {

/// Records every call as a line; fails every write from the `fail_at`-th on (0: never).
class recording_encoder final : public service::viewer_encoder {
public:
    std::vector<std::string> lines;
    std::size_t fail_at = 0;
    std::chrono::milliseconds keepalive{0};

    asio::awaitable<bool> write_dropped(std::uint64_t dropped) override {
        co_return record("dropped " + std::to_string(dropped));
    }
    asio::awaitable<bool> write_event(const stream_event& event) override {
        co_return record(std::string(service::name_of(event.type)) + " " +
                         std::to_string(event.seq));
    }
    asio::awaitable<bool> write_keepalive() override { co_return record("keepalive"); }
    asio::awaitable<void> finish(viewer_end end) override {
        lines.push_back("finish " + std::string(to_string(end)));
        co_return;
    }
    std::chrono::milliseconds keepalive_interval() const override { return keepalive; }
    /// Batches of up to `batch` events, each recorded as "batch N" before its items.
    std::size_t batch = 1;
    std::size_t max_batch() const override { return batch; }
    asio::awaitable<bool> write_batch(std::span<const viewer_queue::item> items) override {
        lines.push_back("batch " + std::to_string(items.size()));
        co_return co_await viewer_encoder::write_batch(items);
    }

private:
    bool record(std::string line) {
        ++writes_;
        if (fail_at != 0 && writes_ >= fail_at)
            return false;
        lines.push_back(std::move(line));
        return true;
    }
    std::size_t writes_ = 0;
};

std::shared_ptr<stream_event> event(stream_event::kind kind, std::uint64_t seq) {
    auto e = std::make_shared<stream_event>();
    e->type = kind;
    e->seq = seq;
    return e;
}

/// Spawns the writer; `end` is set when it returns.
void spawn_writer(asio::io_context& ioc, viewer_queue& q, recording_encoder& enc,
                  std::optional<viewer_end>& end) {
    auto writer = [&]() -> asio::awaitable<void> {
        end = co_await service::run_viewer_writer(q, enc);
    };
    asio::co_spawn(ioc, writer, asio::detached);
}

using lines_t = std::vector<std::string>;

} // namespace

BOOST_AUTO_TEST_SUITE(viewer_writer)

BOOST_AUTO_TEST_CASE(writes_in_order_and_stops_at_the_final_event) {
    asio::io_context ioc;
    viewer_queue q(ioc.get_executor(), 16);
    recording_encoder enc;
    std::optional<viewer_end> end;
    q.push(event(stream_event::kind::status, 0));
    q.push(event(stream_event::kind::chunk, 1));
    q.push(event(stream_event::kind::final, 2));
    q.push(event(stream_event::kind::chunk, 3)); // after the final: never written
    spawn_writer(ioc, q, enc, end);
    ioc.poll();
    BOOST_TEST((end == viewer_end::final_delivered));
    BOOST_TEST(enc.lines == (lines_t{"status 0", "chunk 1", "final 2", "finish final_delivered"}));
}

BOOST_AUTO_TEST_CASE(waits_for_live_events) {
    asio::io_context ioc;
    viewer_queue q(ioc.get_executor(), 16);
    recording_encoder enc;
    std::optional<viewer_end> end;
    spawn_writer(ioc, q, enc, end);
    ioc.poll();
    BOOST_TEST(!end.has_value());
    q.push(event(stream_event::kind::chunk, 0));
    ioc.poll();
    BOOST_TEST(enc.lines == (lines_t{"chunk 0"}));
    q.push(event(stream_event::kind::final, 1));
    ioc.poll();
    BOOST_TEST((end == viewer_end::final_delivered));
}

BOOST_AUTO_TEST_CASE(announces_drops_before_the_next_event) {
    asio::io_context ioc;
    viewer_queue q(ioc.get_executor(), 3);
    recording_encoder enc;
    std::optional<viewer_end> end;
    q.push(event(stream_event::kind::status, 0));
    for (std::uint64_t seq = 1; seq <= 5; ++seq)
        q.push(event(stream_event::kind::chunk, seq)); // chunks 1..3 are dropped
    q.push(event(stream_event::kind::final, 6));       // drops chunk 4
    spawn_writer(ioc, q, enc, end);
    ioc.poll();
    BOOST_TEST(enc.lines ==
               (lines_t{"dropped 4", "status 0", "chunk 5", "final 6", "finish final_delivered"}));
}

BOOST_AUTO_TEST_CASE(a_viewer_behind_takes_what_is_queued_in_batches) {
    asio::io_context ioc;
    viewer_queue q(ioc.get_executor(), 4);
    recording_encoder enc;
    enc.batch = 3;
    std::optional<viewer_end> end;
    q.push(event(stream_event::kind::status, 0));
    for (std::uint64_t seq = 1; seq <= 4; ++seq)
        q.push(event(stream_event::kind::chunk, seq)); // chunk 1 is dropped (capacity 4)
    spawn_writer(ioc, q, enc, end);
    ioc.poll();
    // One batch of three, then the one left; the drop is announced inside the batch.
    BOOST_TEST(enc.lines == (lines_t{"batch 3", "dropped 1", "status 0", "chunk 2", "chunk 3",
                                     "batch 1", "chunk 4"}));
    enc.lines.clear();
    q.push(event(stream_event::kind::chunk, 5)); // a viewer keeping up: one event per write
    ioc.poll();
    BOOST_TEST(enc.lines == (lines_t{"batch 1", "chunk 5"}));
    enc.lines.clear();
    q.push(event(stream_event::kind::chunk, 6));
    q.push(event(stream_event::kind::final, 7));
    q.push(event(stream_event::kind::chunk, 8)); // after the final: never written
    ioc.poll();
    BOOST_TEST((end == viewer_end::final_delivered));
    BOOST_TEST(enc.lines ==
               (lines_t{"batch 2", "chunk 6", "final 7", "finish final_delivered"}));
}

BOOST_AUTO_TEST_CASE(a_queue_closed_without_final_ends_queue_closed) {
    asio::io_context ioc;
    viewer_queue q(ioc.get_executor(), 16);
    recording_encoder enc;
    std::optional<viewer_end> end;
    spawn_writer(ioc, q, enc, end);
    q.push(event(stream_event::kind::chunk, 0));
    q.close();
    ioc.poll();
    BOOST_TEST((end == viewer_end::queue_closed));
    BOOST_TEST(enc.lines == (lines_t{"chunk 0", "finish queue_closed"})); // drained first
}

BOOST_AUTO_TEST_CASE(a_failed_write_ends_write_failed) {
    asio::io_context ioc;
    viewer_queue q(ioc.get_executor(), 16);
    recording_encoder enc;
    enc.fail_at = 2;
    std::optional<viewer_end> end;
    q.push(event(stream_event::kind::status, 0));
    q.push(event(stream_event::kind::chunk, 1));
    q.push(event(stream_event::kind::final, 2));
    spawn_writer(ioc, q, enc, end);
    ioc.poll();
    BOOST_TEST((end == viewer_end::write_failed));
    BOOST_TEST(enc.lines == (lines_t{"status 0", "finish write_failed"}));
}

BOOST_AUTO_TEST_CASE(a_client_that_left_ends_client_gone_even_with_events_queued) {
    asio::io_context ioc;
    viewer_queue q(ioc.get_executor(), 16);
    recording_encoder enc;
    std::optional<viewer_end> end;
    spawn_writer(ioc, q, enc, end);
    ioc.poll(); // parked
    q.push(event(stream_event::kind::chunk, 0));
    q.push(event(stream_event::kind::final, 1));
    q.leave(); // in the same turn: nothing more is written
    ioc.poll();
    BOOST_TEST((end == viewer_end::client_gone));
    BOOST_TEST(enc.lines == (lines_t{"finish client_gone"}));
}

BOOST_AUTO_TEST_CASE(keepalives_while_idle_never_cost_an_event) {
    asio::io_context ioc;
    viewer_queue q(ioc.get_executor(), 16);
    recording_encoder enc;
    enc.keepalive = 2ms;
    std::optional<viewer_end> end;
    spawn_writer(ioc, q, enc, end);
    // Events arrive at moments unrelated to the keepalive deadline; none may be lost.
    std::vector<std::unique_ptr<asio::steady_timer>> timers;
    for (std::uint64_t seq = 0; seq < 20; ++seq) {
        timers.push_back(
            std::make_unique<asio::steady_timer>(ioc, std::chrono::milliseconds(3 * seq + 1)));
        const auto kind = seq == 19 ? stream_event::kind::final : stream_event::kind::chunk;
        timers.back()->async_wait(
            [&q, kind, seq](boost::system::error_code) { q.push(event(kind, seq)); });
    }
    ioc.run_for(3s);
    BOOST_TEST((end == viewer_end::final_delivered));
    lines_t events;
    std::size_t keepalives = 0;
    for (const auto& line : enc.lines) {
        if (line == "keepalive")
            ++keepalives;
        else if (line.rfind("finish", 0) != 0)
            events.push_back(line);
    }
    lines_t expected;
    for (std::uint64_t seq = 0; seq < 20; ++seq)
        expected.push_back((seq == 19 ? "final " : "chunk ") + std::to_string(seq));
    BOOST_TEST(events == expected);
    BOOST_TEST(keepalives >= 1u); // events 3 ms apart, a keepalive after 2 ms idle
}

BOOST_AUTO_TEST_CASE(a_cancelled_writer_ends_client_gone_without_finish) {
    asio::io_context ioc;
    viewer_queue q(ioc.get_executor(), 16);
    recording_encoder enc;
    std::optional<viewer_end> end;
    asio::cancellation_signal cancel;
    auto writer = [&]() -> asio::awaitable<void> {
        end = co_await service::run_viewer_writer(q, enc);
    };
    asio::co_spawn(ioc, writer, asio::bind_cancellation_slot(cancel.slot(), asio::detached));
    ioc.poll();
    cancel.emit(asio::cancellation_type::terminal);
    ioc.poll();
    BOOST_TEST((end == viewer_end::client_gone));
    BOOST_TEST(enc.lines.empty());
    BOOST_TEST(q.size() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
