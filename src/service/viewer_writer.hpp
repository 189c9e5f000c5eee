// The one viewer writer: drains a viewer queue into a transport's encoder (pop, announce
// drops, write, stop at the final event), and says why it stopped. Protocol-neutral.
#pragma once

#include "service/stream_events.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace spear::service {

/// Why a viewer writer stopped; the caller acts on it (an invoke stream whose writer did not
/// deliver the final event cancels its execution unless detached).
enum class viewer_end : std::uint8_t {
    final_delivered, ///< the final event was written: the execution has ended
    queue_closed,    ///< the queue was closed and drained without a final (the link closed)
    write_failed,    ///< a write failed or timed out: the client cannot be reached
    client_gone,     ///< the client left (viewer_queue::leave) or the writer was cancelled
};
std::string_view to_string(viewer_end end) noexcept;

/// A transport's side of a viewer: encodes and writes one message at a time (the writer never
/// has two writes in flight). Each write returns false when it failed.
class viewer_encoder {
public:
    virtual ~viewer_encoder() = default;
    /// `dropped` chunks were dropped just before the next event (sent before write_event).
    virtual asio::awaitable<bool> write_dropped(std::uint64_t dropped) = 0;
    virtual asio::awaitable<bool> write_event(const stream_event& event) = 0;
    /// Events the writer may hand over at once when the viewer is behind (1: one at a time).
    virtual std::size_t max_batch() const { return 1; }
    /// Writes `items` in order, each as write_dropped (if any were dropped before it) then
    /// write_event would; an encoder that can, does it in one write. The default writes them
    /// one by one.
    virtual asio::awaitable<bool> write_batch(std::span<const viewer_queue::item> items);
    /// Tells the client the stream is alive after keepalive_interval() without a write.
    virtual asio::awaitable<bool> write_keepalive() { co_return true; }
    /// Ends the stream once the writer stopped (e.g. a close frame after the final event).
    virtual asio::awaitable<void> finish(viewer_end end) = 0;
    /// Zero: no keepalives.
    virtual std::chrono::milliseconds keepalive_interval() const { return {}; }
};

/// Writes the queue's events through `encoder` until the final event is written, the queue is
/// closed and drained, a write fails or the client is gone; then calls encoder.finish() with
/// the reason and returns it. A keepalive deadline never takes an event from the queue. When
/// the writer itself is cancelled it returns client_gone without calling finish().
asio::awaitable<viewer_end> run_viewer_writer(viewer_queue& queue, viewer_encoder& encoder);

} // namespace spear::service
