// Stream fan-out: viewer queues with the drop-oldest-chunk policy, and the broadcaster.
#include "service/stream_events.hpp"

#include "core/text_encoding.hpp"

#include <algorithm>

namespace spear::service {

// --- viewer_queue -------------------------------------------------------------------------

viewer_queue::viewer_queue(const asio::any_io_executor& ex, std::size_t capacity)
    : capacity_(std::max<std::size_t>(capacity, 2))
    , ready_(ex) {}

void viewer_queue::push(event_ptr event) {
    if (closed_ || left_)
        return;
    if (events_.size() >= capacity_) {
        // Drop the oldest chunk; status and final events always get through.
        auto oldest_chunk = std::find_if(events_.begin(), events_.end(), [](const event_ptr& e) {
            return e->type == stream_event::kind::chunk;
        });
        if (oldest_chunk != events_.end()) {
            events_.erase(oldest_chunk);
            ++dropped_pending_;
            ++dropped_total_;
            if (drop_sink_)
                ++*drop_sink_;
        }
    }
    events_.push_back(std::move(event));
    ready_.set();
}

void viewer_queue::close() {
    closed_ = true;
    ready_.set();
}

void viewer_queue::leave() {
    left_ = true;
    events_.clear();
    ready_.set();
}

std::optional<viewer_queue::item> viewer_queue::try_pop() {
    if (left_ || events_.empty())
        return std::nullopt;
    item next{std::move(events_.front()), 0};
    events_.pop_front();
    // Drops happened before the oldest queued event: report them with it.
    next.dropped_before = dropped_pending_;
    dropped_pending_ = 0;
    if (events_.empty() && !closed_)
        ready_.reset();
    return next;
}

asio::awaitable<bool> viewer_queue::wait_ready() {
    co_return co_await ready_.wait();
}

asio::awaitable<bool> viewer_queue::wait_ready(std::chrono::milliseconds timeout) {
    co_return co_await ready_.wait_for(timeout);
}

asio::awaitable<std::optional<viewer_queue::item>> viewer_queue::pop() {
    for (;;) {
        if (auto next = try_pop())
            co_return next;
        if (closed_ || left_)
            co_return std::nullopt;
        const bool woken = co_await ready_.wait();
        if (!woken)
            co_return std::nullopt; // the awaiting operation was cancelled
    }
}

// --- stream_broadcaster -------------------------------------------------------------------

stream_broadcaster::stream_broadcaster(std::string execution_id, std::size_t replay_chunks,
                                       std::size_t max_chunk_bytes)
    : execution_id_(std::move(execution_id))
    , replay_chunks_(replay_chunks)
    , max_chunk_bytes_(std::max<std::size_t>(max_chunk_bytes, 16)) {}

void stream_broadcaster::emit(std::shared_ptr<stream_event> event) {
    event->seq = next_seq_++;
    event->execution_id = execution_id_;
    event_ptr shared = std::move(event);
    if (shared->type == stream_event::kind::chunk) {
        replay_.push_back(shared);
        while (replay_.size() > replay_chunks_)
            replay_.pop_front();
    } else if (shared->type == stream_event::kind::status) {
        last_status_ = shared;
    }
    for (const auto& v : viewers_)
        v->push(shared);
}

void stream_broadcaster::publish_status(core::ExecutionStatus status) {
    auto e = std::make_shared<stream_event>();
    e->type = stream_event::kind::status;
    e->status = status;
    emit(std::move(e));
}

void stream_broadcaster::emit_chunk(std::string bytes) {
    auto e = std::make_shared<stream_event>();
    e->type = stream_event::kind::chunk;
    e->bytes = std::move(bytes);
    emit(std::move(e));
}

namespace {

/// Splits into pieces of at most `max` bytes without cutting a UTF-8 sequence in two.
std::vector<std::string> split_chunks(std::string_view data, std::size_t max) {
    std::vector<std::string> pieces;
    std::size_t offset = 0;
    while (offset < data.size()) {
        std::size_t take = std::min(max, data.size() - offset);
        if (offset + take < data.size())
            take -= core::incomplete_utf8_tail(data.substr(offset, take));
        if (take == 0) // not UTF-8 at all: cut anywhere
            take = std::min(max, data.size() - offset);
        pieces.emplace_back(data.substr(offset, take));
        offset += take;
    }
    return pieces;
}

} // namespace

void stream_broadcaster::publish_output(std::string_view bytes) {
    std::string data = std::move(held_utf8_);
    held_utf8_.clear();
    data.append(bytes);
    const auto hold = core::incomplete_utf8_tail(data);
    held_utf8_.assign(data, data.size() - hold, hold);
    data.resize(data.size() - hold);
    for (auto& piece : split_chunks(data, max_chunk_bytes_))
        emit_chunk(std::move(piece));
}

void stream_broadcaster::publish_final(const core::ExecutionResult& result) {
    if (!held_utf8_.empty()) {
        emit_chunk(std::move(held_utf8_));
        held_utf8_.clear();
    }
    auto e = std::make_shared<stream_event>();
    e->type = stream_event::kind::final;
    e->status = result.status;
    auto without_output = result;
    without_output.output.clear();
    e->result = std::make_shared<const core::ExecutionResult>(std::move(without_output));
    emit(std::move(e));
    for (const auto& v : viewers_)
        v->close();
    viewers_.clear();
}

void stream_broadcaster::attach(const std::shared_ptr<viewer_queue>& viewer) {
    // Replay in seq order: the last status precedes every chunk still in the buffer unless
    // it came after them (pending -> running with output already replayed is impossible:
    // output only flows once running).
    if (last_status_)
        viewer->push(last_status_);
    for (const auto& e : replay_)
        viewer->push(e);
    viewers_.push_back(viewer);
}

void stream_broadcaster::detach(const viewer_queue* viewer) {
    std::erase_if(viewers_, [&](const auto& v) { return v.get() == viewer; });
}

std::vector<event_ptr> replay_finished(const core::ExecutionResult& result,
                                       std::size_t max_chunk_bytes) {
    std::vector<event_ptr> events;
    std::uint64_t seq = 0;
    for (auto& piece : split_chunks(result.output, std::max<std::size_t>(max_chunk_bytes, 16))) {
        auto e = std::make_shared<stream_event>();
        e->type = stream_event::kind::chunk;
        e->seq = seq++;
        e->execution_id = result.execution_id;
        e->status = result.status;
        e->bytes = std::move(piece);
        e->replayed = true;
        events.push_back(std::move(e));
    }
    auto final_event = std::make_shared<stream_event>();
    final_event->type = stream_event::kind::final;
    final_event->seq = seq;
    final_event->execution_id = result.execution_id;
    final_event->status = result.status;
    auto without_output = result;
    without_output.output.clear();
    final_event->result = std::make_shared<const core::ExecutionResult>(std::move(without_output));
    events.push_back(std::move(final_event));
    return events;
}

} // namespace spear::service
