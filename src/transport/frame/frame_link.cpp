// Frame link: the reader, the writer and the request coroutines of one peer.
#include "transport/frame/frame_link.hpp"

#include "core/limits.hpp"
#include "core/log.hpp"
#include "core/scope_exit.hpp"
#include "service/viewer_writer.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <chrono>
#include <optional>
#include <random>
#include <vector>

#include <sys/random.h>

namespace spear::transport::frame {

using namespace asio::experimental::awaitable_operators;
using core::error;
using core::error_code;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t read_chunk_bytes = core::limits::frame_read_chunk_bytes;
constexpr std::size_t queue_headroom = core::limits::frame_queue_headroom;

/// A fresh link nonce from the kernel's CSPRNG (getrandom; std::random_device if it fails).
link_nonce random_nonce() {
    link_nonce n{};
    if (::getrandom(n.data(), n.size(), 0) != static_cast<ssize_t>(n.size())) {
        std::random_device rd;
        for (auto& b : n)
            b = static_cast<std::uint8_t>(rd());
    }
    return n;
}

/// Room for the auth trailer in every answer when keys exist: encoders stay within
/// max_frame_bytes with it.
std::size_t encode_limit(const core::frame_config& fc) {
    if (fc.peers.empty())
        return std::max(fc.max_frame_bytes, min_frame_bytes);
    return std::max(fc.max_frame_bytes, min_frame_bytes + link_auth::trailer_bytes) -
           link_auth::trailer_bytes;
}

asio::any_io_executor executor_of(frame_link::stream_type& stream) {
    if (auto* socket = std::get_if<asio::ip::tcp::socket>(&stream))
        return socket->get_executor();
    return std::get<asio::serial_port>(stream).get_executor();
}

} // namespace

/// A stream as StreamExecutionResult frames: `seq` counts frames (a service chunk over the
/// frame limit becomes several), a dropped count rides on the next frame.
class frame_link::stream_encoder final : public service::viewer_encoder {
public:
    stream_encoder(frame_link& link, std::uint32_t id, std::string execution_id)
        : link_(link)
        , id_(id)
        , execution_id_(std::move(execution_id))
        , chunk_limit_(max_chunk_bytes(link.max_frame_bytes_)) {}

    asio::awaitable<bool> write_dropped(std::uint64_t dropped) override {
        dropped_ =
            static_cast<std::uint32_t>(std::min<std::uint64_t>(dropped_ + dropped, UINT32_MAX));
        co_return true;
    }

    asio::awaitable<bool> write_event(const service::stream_event& event) override {
        stream_step step;
        step.execution_id = execution_id_;
        step.status = event.status;
        switch (event.type) {
        case service::stream_event::kind::status:
            co_return co_await send(step);
        case service::stream_event::kind::chunk: {
            // A service chunk (up to 16 KiB) becomes as many frames as the limit needs.
            std::string_view rest = event.bytes;
            step.status = core::ExecutionStatus::running;
            while (!rest.empty()) {
                step.chunk = rest.substr(0, chunk_limit_);
                rest.remove_prefix(step.chunk.size());
                if (!co_await send(step))
                    co_return false;
            }
            co_return true;
        }
        case service::stream_event::kind::final: {
            core::ExecutionResult bare; // a final without its record: the status alone
            bare.status = event.status;
            step.final_result = event.result ? event.result.get() : &bare;
            co_return co_await send(step);
        }
        }
        co_return true;
    }

    asio::awaitable<void> finish(service::viewer_end) override { co_return; }

private:
    asio::awaitable<bool> send(stream_step& step) {
        step.seq = seq_++;
        step.dropped = dropped_;
        dropped_ = 0;
        co_return co_await link_.send(encode_stream_result(id_, step, link_.max_frame_bytes_));
    }

    frame_link& link_;
    std::uint32_t id_;
    std::string execution_id_;
    std::size_t chunk_limit_;
    std::uint32_t seq_ = 0;
    std::uint32_t dropped_ = 0;
};

frame_link::frame_link(stream_type stream, std::string name, service::execution_service& service,
                       const core::config& config, bool auth_required)
    : stream_(std::move(stream))
    , name_(std::move(name))
    , service_(service)
    , config_(config)
    , framing_(std::holds_alternative<asio::ip::tcp::socket>(stream_) ? framing::length_prefixed
                                                                      : framing::cobs_crc)
    , decoder_(framing_, config.frame.max_frame_bytes)
    , auth_(config.frame, auth_required)
    , max_frame_bytes_(encode_limit(config.frame))
    , max_outstanding_(std::max<std::size_t>(config.frame.max_outstanding, 1))
    , queue_capacity_(max_outstanding_ + queue_headroom)
    , writer_wakeup_(executor_of(stream_))
    , space_wakeup_(executor_of(stream_))
    , idle_timer_(executor_of(stream_))
    , stall_timer_(executor_of(stream_)) {}

core::metric_family& frame_links_metric(service::execution_service& service) {
    return service.metrics().gauge("spearlet_frame_links", "Frame links (TCP and serial) open.");
}

core::metric_family& bad_frames_metric(service::execution_service& service) {
    return service.metrics().counter("spearlet_frame_bad_frames_total",
                                     "Frames dropped or refused by the decoder, by reason.",
                                     {"reason"});
}

core::metric_family& auth_rejected_metric(service::execution_service& service) {
    return service.metrics().counter(
        "spearlet_frame_auth_rejected_total",
        "Frames refused by link authentication (frame.peers), by reason.", {"reason"});
}

core::metric_family& auth_handshakes_metric(service::execution_service& service) {
    return service.metrics().counter("spearlet_frame_auth_handshakes_total",
                                     "Frame link handshakes (link_hello) that succeeded.");
}

asio::awaitable<void> frame_link::run() {
    auto self = shared_from_this();
    arm_idle_timer();
    auto& open_links = frame_links_metric(service_).get();
    open_links.inc();
    const auto counted = core::scope_exit([&open_links] { open_links.inc(-1); });
    co_await (read_then_drain() && write_loop());
    close(); // wakes the streams still waiting for events; each ends its own execution
    const auto& d = decoder_.stats();
    log::info("frame link " + name_ + " closed (" +
              (close_reason_.empty() ? std::string("closed") : close_reason_) +
              "): " + std::to_string(stats_.requests) + " requests, " + std::to_string(d.frames) +
              " frames in, " + std::to_string(stats_.frames_out) + " out, " +
              std::to_string(d.dropped()) + " dropped (" + std::to_string(d.bad_crc) +
              " bad crc, " + std::to_string(d.bad_cobs) + " bad cobs, " +
              std::to_string(d.oversize) + " oversize)" +
              (stats_.auth_rejected_total
                   ? ", " + std::to_string(stats_.auth_rejected_total) + " refused by auth"
                   : std::string()) +
              (auth_unlogged_ ? " (" + std::to_string(auth_unlogged_) + " not logged)"
                              : std::string()));
}

void frame_link::close() {
    if (close_reason_.empty())
        close_reason_ = "closed by the appliance";
    if (closed_)
        return;
    closed_ = true;
    writes_closed_ = true;
    boost::system::error_code ignored;
    if (auto* socket = std::get_if<asio::ip::tcp::socket>(&stream_)) {
        socket->shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        socket->close(ignored);
    } else {
        std::get<asio::serial_port>(stream_).close(ignored);
    }
    idle_timer_.cancel();
    stall_timer_.cancel();
    writer_wakeup_.set();
    space_wakeup_.set();
    leave_streams();
}

void frame_link::drain() {
    draining_ = true;
    if (outstanding_.empty()) {
        close_reason_ = "the appliance is shutting down";
        close();
    }
}

// --- reading ------------------------------------------------------------------------------

asio::awaitable<void> frame_link::read_then_drain() {
    co_await read_loop();
    // No more requests: let the writer flush what is queued (a fatal-error Error frame, the
    // last answers), then stop it. Answers of requests still running are dropped.
    writes_closed_ = true;
    writer_wakeup_.set();
    space_wakeup_.set();
}

void frame_link::arm_idle_timer() {
    const auto idle = config_.frame.idle_timeout_ms;
    if (framing_ != framing::length_prefixed || idle == 0 || closed_)
        return;
    idle_timer_.expires_after(std::chrono::milliseconds(idle));
    std::weak_ptr<frame_link> weak = weak_from_this();
    idle_timer_.async_wait([weak](const boost::system::error_code& ec) {
        auto self = weak.lock();
        if (ec || !self)
            return; // re-armed or closed
        if (self->busy()) {
            self->arm_idle_timer(); // a long sync request or a stream is not idleness
            return;
        }
        self->close_reason_ =
            "idle for " + std::to_string(self->config_.frame.idle_timeout_ms) + " ms";
        self->close();
    });
}

asio::awaitable<void> frame_link::read_loop() {
    std::array<std::uint8_t, read_chunk_bytes> buffer{};
    for (;;) {
        std::size_t n = 0;
        boost::system::error_code ec;
        if (auto* socket = std::get_if<asio::ip::tcp::socket>(&stream_))
            std::tie(ec, n) = co_await socket->async_read_some(asio::buffer(buffer), use_tuple);
        else
            std::tie(ec, n) = co_await std::get<asio::serial_port>(stream_).async_read_some(
                asio::buffer(buffer), use_tuple);
        if (ec || closed_) {
            if (close_reason_.empty())
                close_reason_ = ec == asio::error::eof ? "the peer left" : ec.message();
            co_return;
        }
        stats_.bytes_in += n;
        arm_idle_timer();
        std::span<const std::uint8_t> input(buffer.data(), n);
        while (!input.empty() && !closed_) {
            const auto result = decoder_.feed(input);
            input = input.subspan(result.consumed);
            if (result.type == decode_result::kind::frame) {
                co_await on_frame(result.payload);
            } else if (result.type == decode_result::kind::error) {
                co_await on_decode_error(result);
                if (result.fatal) {
                    close_reason_ = "bad length prefix";
                    co_return;
                }
            }
        }
        if (closed_)
            co_return;
    }
}

asio::awaitable<void> frame_link::on_decode_error(const decode_result& result) {
    bad_frames_metric(service_).with({std::string(to_string(result.error))}).inc();
    switch (result.error) {
    case decode_error::bad_cobs:
    case decode_error::bad_crc:
        // Line noise on a serial link: answering it would only add noise. Counted, logged
        // at debug, and the next 0x00 starts a fresh frame.
        log::debug("frame link " + name_ + ": dropped a frame (" +
                   std::string(to_string(result.error)) + ")");
        co_return;
    case decode_error::oversize: {
        const auto declared = result.declared_length
                                  ? " (" + std::to_string(result.declared_length) + " bytes)"
                                  : std::string();
        co_await send_error(0, error::make(error_code::payload_too_large,
                                           "frame over the limit of " +
                                               std::to_string(config_.frame.max_frame_bytes) +
                                               " bytes" + declared + "; it was skipped"));
        co_return;
    }
    case decode_error::bad_varint:
        co_await send_error(0, error::make(error_code::invalid_request,
                                           "bad length prefix (a varint over 64 bits); the "
                                           "link cannot resynchronise and closes"));
        co_return;
    }
}

asio::awaitable<void> frame_link::on_frame(std::span<const std::uint8_t> payload) {
    // Authenticate first: on a session, only a frame whose trailer verifies is served (a
    // frame without one may still be a link_hello from a peer that restarted).
    auto body = payload;
    bool authenticated = false;
    std::optional<auth_failure> failure;
    if (auth_.active()) {
        auto opened = auth_.open(payload);
        if (auto* verified = std::get_if<std::span<const std::uint8_t>>(&opened)) {
            body = *verified;
            authenticated = true;
        } else {
            failure = std::get<auth_failure>(opened);
        }
    }
    // Decode at once: the payload is only valid until the decoder is fed again.
    auto decoded = decode_request(body);
    auto* bad = std::get_if<bad_request>(&decoded);
    auto* request = std::get_if<peer_request>(&decoded);
    const auto id = request ? request->request_id : bad->request_id;
    if (failure && *failure != auth_failure::unauthenticated) {
        co_await reject(id, *failure);
        co_return;
    }
    if (request)
        if (auto* hello = std::get_if<hello_request>(&request->body)) {
            co_await on_hello(id, *hello);
            co_return;
        }
    if (!authenticated && (failure || auth_.required())) {
        co_await reject(id, auth_failure::unauthenticated);
        co_return;
    }
    if (bad) {
        co_await send_error(bad->request_id, bad->error);
        co_return;
    }
    // Who the requests run as: the authenticated peer's client, else the default client.
    core::client_identity who;
    if (authenticated && auth_.peer()->client_index != 0)
        who = service_.client(auth_.peer()->client_index);
    if (std::holds_alternative<ping_request>(request->body)) {
        ++stats_.requests;
        co_await send(encode_pong(id));
        co_return;
    }
    if (draining_) {
        co_await send_error(id, error::make(error_code::unavailable));
        co_return;
    }
    if (outstanding_.contains(id)) {
        co_await send_error(id, error::make(error_code::invalid_request,
                                            "request_id " + std::to_string(id) +
                                                " is already outstanding on this link"));
        co_return;
    }
    if (outstanding_.size() >= max_outstanding_) {
        auto refusal = error::make(error_code::too_many_requests,
                                   "this link already has " + std::to_string(max_outstanding_) +
                                       " requests outstanding (frame.max_outstanding)");
        refusal.retry_after_ms = core::limits::frame_outstanding_retry_ms;
        co_await send_error(id, refusal);
        co_return;
    }
    ++stats_.requests;
    outstanding_.emplace(id, request_state{});
    auto task = "frame link " + name_ + " request " + std::to_string(id);
    asio::co_spawn(executor_of(stream_),
                   serve(shared_from_this(), id, std::move(request->body), std::move(who)),
                   [task](std::exception_ptr e) { log::task_ended(task, e); });
}

asio::awaitable<void> frame_link::on_hello(std::uint32_t id, const hello_request& hello) {
    auto answer = auth_.hello(id, hello, random_nonce());
    if (auto* refused = std::get_if<auth_failure>(&answer)) {
        co_await reject(id, *refused);
        co_return;
    }
    auth_handshakes_metric(service_).get().inc();
    ++stats_.requests;
    if (auth_log_allowed()) {
        const auto& peer = *auth_.peer();
        log::info("frame link " + name_ + " authenticated with key id '" + peer.id +
                  "' (client " + (peer.client.empty() ? std::string("default") : peer.client) +
                  ")");
    }
    co_await send(std::move(std::get<bytes>(answer)), true);
}

bool frame_link::auth_log_allowed() {
    const auto now = std::chrono::steady_clock::now();
    if (now - auth_log_window_ >= core::limits::frame_auth_log_window) {
        auth_log_window_ = now;
        auth_logged_ = 0;
    }
    if (auth_logged_ < core::limits::frame_auth_log_burst) {
        ++auth_logged_;
        return true;
    }
    ++auth_unlogged_;
    return false;
}

asio::awaitable<void> frame_link::reject(std::uint32_t id, auth_failure why) {
    ++stats_.auth_rejected[static_cast<std::size_t>(why)];
    ++stats_.auth_rejected_total;
    auth_rejected_metric(service_).with({std::string(to_string(why))}).inc();
    // Logged with the link and the key id, never the key; a hostile peer's flood is counted,
    // not logged line by line.
    if (auth_log_allowed())
        log::warn("frame link " + name_ + ": refused a frame (" + std::string(to_string(why)) +
                  (auth_.peer() ? ", session key id '" + auth_.peer()->id + "'" : std::string()) +
                  ")" +
                  (auth_logged_ == core::limits::frame_auth_log_burst
                       ? "; further refusals on this link are counted, not logged, for " +
                             std::to_string(core::limits::frame_auth_log_window.count()) + " ms"
                       : std::string()));
    co_await send_error(id, error::make(error_code::unauthorized, std::string(describe(why))));
}

// --- serving ------------------------------------------------------------------------------

asio::awaitable<void> frame_link::serve(std::shared_ptr<frame_link> self, std::uint32_t id,
                                        request_body body, core::client_identity who) {
    (void)self; // keeps the link alive while the request runs
    bool failed = false;
    try {
        if (auto* invoke = std::get_if<core::InvokeFunctionRequest>(&body)) {
            invoke->client = who;
            if (invoke->execution_mode == core::ExecutionMode::stream)
                co_await serve_stream(id, std::move(*invoke));
            else
                co_await serve_invoke(id, std::move(*invoke));
        } else if (auto* status = std::get_if<status_request>(&body)) {
            co_await serve_status(id, std::move(*status), who);
        } else if (auto* cancel = std::get_if<cancel_request>(&body)) {
            co_await serve_cancel(id, std::move(*cancel), who);
        }
    } catch (const std::exception& e) {
        // Logged with detail; the peer gets the generic message.
        log::error("frame link " + name_ + ": request " + std::to_string(id) + ": " + e.what());
        failed = true;
    }
    if (failed)
        co_await send_error(id, error::make(error_code::internal));
    end_request(id);
}

void frame_link::end_request(std::uint32_t id) {
    outstanding_.erase(id);
    if (draining_ && outstanding_.empty() && !closed_) {
        close_reason_ = "the appliance is shutting down";
        // Let the last answer go out first: closing writes lets the writer drain the queue.
        writes_closed_ = true;
        writer_wakeup_.set();
    }
}

asio::awaitable<void> frame_link::serve_invoke(std::uint32_t id,
                                               core::InvokeFunctionRequest request) {
    auto result = co_await service_.invoke_function(std::move(request));
    if (auto* refused = std::get_if<error>(&result)) {
        co_await send_error(id, *refused);
        co_return;
    }
    const auto& response = std::get<core::RuntimeExecutionResponse>(result);
    co_await send(encode_invoke_response(id, response, max_frame_bytes_));
}

asio::awaitable<void> frame_link::serve_stream(std::uint32_t id,
                                               core::InvokeFunctionRequest request) {
    auto viewer = service_.make_viewer_queue();
    const bool detach = request.detach;
    auto started = service_.start_stream_execution(std::move(request), viewer);
    if (auto* refused = std::get_if<error>(&started)) {
        co_await send_error(id, *refused);
        co_return;
    }
    const auto ref = std::get<core::record_ref>(started);
    const auto execution_id = service_.execution_id(ref);
    if (auto it = outstanding_.find(id); it != outstanding_.end())
        it->second = request_state{viewer, ref, execution_id, detach};
    if (closed_)
        viewer->leave(); // the link closed while the execution was being admitted

    stream_encoder encoder(*this, id, execution_id);
    const auto end = co_await service::run_viewer_writer(*viewer, encoder);
    if (end != service::viewer_end::final_delivered) {
        // The link closed (or stopped sending) before the final event.
        service_.unwatch(ref, viewer.get());
        if (!detach)
            co_await service_.cancel(execution_id, "the frame link closed");
    }
}

asio::awaitable<void> frame_link::serve_status(std::uint32_t id, status_request request,
                                               core::client_identity who) {
    std::variant<service::status_view, error> result;
    // A long-poll is capped by frame.max_long_poll_ms (0 disables long-polls over frames).
    const auto wait = std::min<std::uint64_t>(request.wait_ms, config_.frame.max_long_poll_ms);
    if (wait > 0)
        result = co_await service_.wait_status(std::move(request.execution_id),
                                               std::chrono::milliseconds(wait),
                                               request.include_result, std::move(who));
    else
        result = service_.get_status(request.execution_id, request.include_result, who);
    if (auto* missing = std::get_if<error>(&result)) {
        co_await send_error(id, *missing);
        co_return;
    }
    co_await send(
        encode_status_response(id, std::get<service::status_view>(result), max_frame_bytes_));
}

asio::awaitable<void> frame_link::serve_cancel(std::uint32_t id, cancel_request request,
                                               core::client_identity who) {
    auto result = co_await service_.cancel(std::move(request.execution_id),
                                           std::move(request.reason), std::move(who));
    if (auto* missing = std::get_if<error>(&result)) {
        co_await send_error(id, *missing);
        co_return;
    }
    co_await send(
        encode_cancel_response(id, std::get<service::cancel_view>(result), max_frame_bytes_));
}

void frame_link::leave_streams() {
    for (auto& [id, state] : outstanding_)
        if (state.viewer)
            state.viewer->leave();
}

// --- writing ------------------------------------------------------------------------------

asio::awaitable<bool> frame_link::send(bytes message, bool sealed) {
    while (queue_.size() >= queue_capacity_ && !writes_closed_) {
        space_wakeup_.reset();
        co_await space_wakeup_.wait();
    }
    if (writes_closed_ || message.empty())
        co_return false;
    // Sealed here, right before queueing, so counters follow the order frames are written.
    if (!sealed && !auth_.seal(message)) {
        if (auth_log_allowed())
            log::warn("frame link " + name_ + ": the link's counter is exhausted; the peer must "
                      "send link_hello again");
        co_return false;
    }
    bytes framed;
    framed.reserve(max_framed_size(framing_, message.size()));
    append_framed(framing_, message, framed);
    queue_.push_back(std::move(framed));
    writer_wakeup_.set();
    co_return true;
}

asio::awaitable<bool> frame_link::send_error(std::uint32_t id, const core::error& e) {
    ++stats_.refused;
    co_return co_await send(encode_error(id, e, max_frame_bytes_));
}

asio::awaitable<void> frame_link::write_loop() {
    const auto stall = std::chrono::milliseconds(config_.frame.write_timeout_ms);
    for (;;) {
        while (queue_.empty() && !writes_closed_) {
            writer_wakeup_.reset();
            co_await writer_wakeup_.wait();
        }
        if (queue_.empty() || closed_) {
            close(); // drained after the reader ended, or while draining: the reader stops too
            co_return;
        }
        auto framed = std::move(queue_.front());
        queue_.pop_front();
        space_wakeup_.set();

        // A peer that accepts nothing for the write timeout is cut off (the timer closes the
        // stream, which aborts the write).
        stall_timer_.expires_after(stall);
        std::weak_ptr<frame_link> weak = weak_from_this();
        stall_timer_.async_wait([weak](const boost::system::error_code& ec) {
            if (auto self = weak.lock(); self && !ec) {
                self->close_reason_ = "the peer accepted nothing for " +
                                      std::to_string(self->config_.frame.write_timeout_ms) + " ms";
                self->close();
            }
        });
        boost::system::error_code ec;
        std::size_t n = 0;
        if (auto* socket = std::get_if<asio::ip::tcp::socket>(&stream_))
            std::tie(ec, n) = co_await asio::async_write(*socket, asio::buffer(framed), use_tuple);
        else
            std::tie(ec, n) = co_await asio::async_write(std::get<asio::serial_port>(stream_),
                                                         asio::buffer(framed), use_tuple);
        stall_timer_.cancel();
        if (ec) {
            if (close_reason_.empty())
                close_reason_ = "write failed: " + ec.message();
            close();
            co_return;
        }
        stats_.bytes_out += n;
        ++stats_.frames_out;
    }
}

} // namespace spear::transport::frame
