// Live output of executions, protocol-neutral: the events of one execution's stream, the
// per-execution broadcaster with its replay buffer, and each viewer's bounded queue with the
// slow-viewer policy. Transports (WebSocket, SSE, frames) only encode and write events.
#pragma once

#include "core/execution_result.hpp"
#include "runtime/async_event.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spear::service {

namespace asio = boost::asio;

/// One message of an execution's stream. Shared (immutable) between all its viewers.
struct stream_event {
    enum class kind : std::uint8_t {
        status, ///< the execution was accepted (pending) or started (running)
        chunk,  ///< output bytes, in order
        final,  ///< the outcome; always the last event
    };
    kind type = kind::chunk;
    std::uint64_t seq = 0; ///< 0, 1, 2, ... per execution, no gaps
    std::string execution_id;
    core::ExecutionStatus status = core::ExecutionStatus::running;
    std::string bytes;     ///< chunk: the output bytes
    bool replayed = false; ///< chunk re-sent from the record to a late viewer
    std::shared_ptr<const core::ExecutionResult> result; ///< final: the record (without output)
    mutable std::string encoded; ///< a transport's cached encoding (one thread: safe)
};
using event_ptr = std::shared_ptr<const stream_event>;

/// The names of stream messages on every wire (JSON `type`, SSE `event:`, logs): the three
/// event kinds in enum order, then the notice a slow viewer gets. The one table.
inline constexpr std::array<std::string_view, 4> stream_message_names{"status", "chunk", "final",
                                                                      "dropped"};
constexpr std::string_view name_of(stream_event::kind kind) noexcept {
    return stream_message_names[static_cast<std::size_t>(kind)];
}
inline constexpr std::string_view dropped_message_name = stream_message_names[3];

/// A viewer's bounded queue. Policy for a slow viewer: when the queue holds `capacity`
/// events, the oldest *chunk* is dropped and counted; status and final events are never
/// dropped. The writer learns how many were dropped before the next event it takes, so
/// it can tell its client. One writer per queue.
///
/// Waiting and taking are separate: wait_ready() takes nothing, so a wait that loses a race
/// (a keepalive deadline, a cancelled `||` branch) can never lose an event; try_pop() then
/// takes without waiting.
class viewer_queue {
public:
    viewer_queue(const asio::any_io_executor& ex, std::size_t capacity);

    void push(event_ptr event);
    /// Marks the end of the events: the writer drains what is queued, then stops.
    void close();
    bool closed() const noexcept { return closed_; }
    /// The viewer's client is gone: the writer stops at its next wait without delivering
    /// what is queued. Later pushes are ignored.
    void leave();
    bool left() const noexcept { return left_; }

    struct item {
        event_ptr event;
        std::uint64_t dropped_before = 0; ///< chunks dropped since the previous item
    };
    /// The next event without waiting; nullopt when none is queued or the viewer left.
    std::optional<item> try_pop();
    /// True while try_pop() has an event, or the queue is closed or left.
    bool ready() const noexcept { return ready_.is_set(); }
    /// Waits until ready() (at once if it is). True when ready; false when the awaiting
    /// operation was cancelled. Takes nothing.
    asio::awaitable<bool> wait_ready();
    /// As wait_ready(), for at most `timeout`; false on timeout or cancellation.
    asio::awaitable<bool> wait_ready(std::chrono::milliseconds timeout);
    /// wait_ready() then try_pop(): nullopt when closed and drained, left, or cancelled.
    /// Never race pop() in an `||` (a losing branch may already have taken its event): wait
    /// with wait_ready() there, then try_pop().
    asio::awaitable<std::optional<item>> pop();

    std::uint64_t dropped_total() const noexcept { return dropped_total_; }
    std::size_t size() const noexcept { return events_.size(); }
    /// Every later drop is also added to `*sink` (the service's total for GET /metrics; shared
    /// so a queue may outlive the service).
    void count_drops_into(std::shared_ptr<std::uint64_t> sink) { drop_sink_ = std::move(sink); }

private:
    std::deque<event_ptr> events_;
    std::size_t capacity_;
    std::uint64_t dropped_pending_ = 0;
    std::uint64_t dropped_total_ = 0;
    std::shared_ptr<std::uint64_t> drop_sink_;
    bool closed_ = false;
    bool left_ = false;
    runtime::async_event ready_; ///< set while an event is queued, or once closed or left
};

/// The stream side of one live execution: numbers events, keeps the last `replay_chunks`
/// chunks for late viewers, and fans every event out to the attached viewers.
class stream_broadcaster {
public:
    stream_broadcaster(std::string execution_id, std::size_t replay_chunks,
                       std::size_t max_chunk_bytes);

    void publish_status(core::ExecutionStatus status);
    /// Splits `bytes` into chunks of at most max_chunk_bytes; a UTF-8 sequence cut at the end
    /// of a read is held back (up to 3 bytes) and sent with the next read or at the end.
    void publish_output(std::string_view bytes);
    /// Flushes held bytes, publishes the final event and closes every viewer.
    void publish_final(const core::ExecutionResult& result);

    /// Attaches a viewer; it first receives the replay buffer (and the last status).
    void attach(const std::shared_ptr<viewer_queue>& viewer);
    void detach(const viewer_queue* viewer);
    std::size_t viewers() const noexcept { return viewers_.size(); }

private:
    void emit(std::shared_ptr<stream_event> event);
    void emit_chunk(std::string bytes);

    std::string execution_id_;
    std::size_t replay_chunks_;
    std::size_t max_chunk_bytes_;
    std::uint64_t next_seq_ = 0;
    std::string held_utf8_; ///< an incomplete UTF-8 sequence awaiting its rest
    event_ptr last_status_;
    std::deque<event_ptr> replay_;
    std::vector<std::shared_ptr<viewer_queue>> viewers_;
};

/// Events for a viewer of an execution that has already ended: the kept output re-chunked
/// (marked replayed) and the final event.
std::vector<event_ptr> replay_finished(const core::ExecutionResult& result,
                                       std::size_t max_chunk_bytes);

} // namespace spear::service
