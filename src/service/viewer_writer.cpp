// The viewer writer loop, written once for WebSocket, SSE and frames.
#include "service/viewer_writer.hpp"

#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/this_coro.hpp>

#include <vector>

namespace spear::service {

std::string_view to_string(viewer_end end) noexcept {
    switch (end) {
    case viewer_end::final_delivered:
        return "final_delivered";
    case viewer_end::queue_closed:
        return "queue_closed";
    case viewer_end::write_failed:
        return "write_failed";
    case viewer_end::client_gone:
        return "client_gone";
    }
    return "unknown";
}

asio::awaitable<bool> viewer_encoder::write_batch(std::span<const viewer_queue::item> items) {
    for (const auto& item : items) {
        if (item.dropped_before > 0 && !co_await write_dropped(item.dropped_before))
            co_return false;
        if (!co_await write_event(*item.event))
            co_return false;
    }
    co_return true;
}

namespace {

/// The loop without finish(): returns as soon as the reason is known.
asio::awaitable<viewer_end> drain(viewer_queue& queue, viewer_encoder& encoder) {
    const auto keepalive = encoder.keepalive_interval();
    const auto max_batch = encoder.max_batch();
    std::vector<viewer_queue::item> batch;
    for (;;) {
        auto next = queue.try_pop();
        if (!next) {
            if (queue.left())
                co_return viewer_end::client_gone;
            if (queue.closed())
                co_return viewer_end::queue_closed;
            bool ready = false;
            if (keepalive.count() > 0)
                ready = co_await queue.wait_ready(keepalive);
            else
                ready = co_await queue.wait_ready();
            if (ready)
                continue;
            // Not ready: the awaiting operation was cancelled, or the keepalive is due.
            auto state = co_await asio::this_coro::cancellation_state;
            if (state.cancelled() != asio::cancellation_type::none)
                co_return viewer_end::client_gone;
            if (!co_await encoder.write_keepalive())
                co_return viewer_end::write_failed;
            continue;
        }
        if (max_batch > 1) {
            // A viewer that is behind takes what is queued (up to max_batch) in one write;
            // the queue's capacity and drop policy still bound what waits behind it.
            batch.clear();
            batch.push_back(std::move(*next));
            while (batch.size() < max_batch &&
                   batch.back().event->type != stream_event::kind::final) {
                auto more = queue.try_pop();
                if (!more)
                    break;
                batch.push_back(std::move(*more));
            }
            if (!co_await encoder.write_batch(batch))
                co_return viewer_end::write_failed;
            if (batch.back().event->type == stream_event::kind::final)
                co_return viewer_end::final_delivered;
            continue;
        }
        if (next->dropped_before > 0 && !co_await encoder.write_dropped(next->dropped_before))
            co_return viewer_end::write_failed;
        if (!co_await encoder.write_event(*next->event))
            co_return viewer_end::write_failed;
        if (next->event->type == stream_event::kind::final)
            co_return viewer_end::final_delivered;
    }
}

} // namespace

asio::awaitable<viewer_end> run_viewer_writer(viewer_queue& queue, viewer_encoder& encoder) {
    const auto end = co_await drain(queue, encoder);
    // A cancelled writer may not await anything more (Asio would throw): no finish().
    auto state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() == asio::cancellation_type::none)
        co_await encoder.finish(end);
    co_return end;
}

} // namespace spear::service
