// One framed link to a constrained peer (a TCP connection or a serial port): reads frames,
// serves up to max_outstanding requests at once through the service, writes the answers.
#pragma once

#include "core/config.hpp"
#include "runtime/async_event.hpp"
#include "service/execution_service.hpp"
#include "transport/frame/frame_auth.hpp"
#include "transport/frame/frame_codec.hpp"
#include "transport/frame/frame_messages.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/serial_port.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <variant>

namespace spear::transport::frame {

namespace asio = boost::asio;

/// Counters of one link, logged when it closes.
struct link_stats {
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    std::uint64_t frames_out = 0;
    std::uint64_t requests = 0; ///< valid requests served (pings included)
    std::uint64_t refused = 0;  ///< Error frames sent
    std::array<std::uint64_t, auth_failure_kinds> auth_rejected{}; ///< by auth_failure
    std::uint64_t auth_rejected_total = 0;
};

/// The frame transport's metric families (GET /metrics), registered in the service's registry
/// on first use and shared by every link: links open now, and bad frames by reason.
core::metric_family& frame_links_metric(service::execution_service& service);
core::metric_family& bad_frames_metric(service::execution_service& service);
/// Authenticated links: frames refused by reason (auth_failure), and handshakes completed.
core::metric_family& auth_rejected_metric(service::execution_service& service);
core::metric_family& auth_handshakes_metric(service::execution_service& service);

/// A link serves its peer alone: nothing a peer sends (garbage, floods, stalls) reaches
/// another link. Per link: one reader, one writer (never two writes in flight) with a queue
/// bounded by max_outstanding, one coroutine per outstanding request.
///
/// Rules (docs/constrained-peers.md):
/// - TCP uses varint length-prefixed frames and closes after `idle_timeout_ms` without a byte
///   from the peer while nothing is outstanding; serial uses COBS/CRC frames and no timeout.
/// - A request whose request_id is already outstanding, or beyond max_outstanding, gets an
///   Error frame (invalid_request, too_many_requests) and is not served.
/// - A frame that does not decode gets an Error frame with its request_id when it can be
///   read, else request_id 0; an oversize frame gets Error payload_too_large with id 0. A
///   serial frame with a bad CRC or bad COBS is dropped and counted (line noise), with no
///   answer. A bad TCP length prefix gets Error id 0, then the link closes.
/// - A peer that accepts no byte for the stream write timeout is disconnected.
/// - When the link ends, its stream executions are cancelled unless the request set detach;
///   sync and async executions run on (their records stay readable). A stream is served by
///   the service's viewer writer: whichever notices the end first (the stream failing to
///   send, or the link waking it), the stream's own coroutine cancels its execution.
/// - Authentication (frame_auth.hpp): with frame.peers, a link_hello starts a session; from
///   then on every frame must carry a valid trailer and every answer is sealed. A frame that
///   fails (no trailer where required, bad MAC, replayed counter, unknown key id) gets an
///   Error unauthorized, is counted (spearlet_frame_auth_rejected_total) and logged at most
///   frame_auth_log_burst times per window per link. An authenticated peer's requests run
///   as its frame.peers[].client; others as the default client.
class frame_link : public std::enable_shared_from_this<frame_link> {
public:
    using stream_type = std::variant<asio::ip::tcp::socket, asio::serial_port>;

    /// `name` identifies the peer in logs ("tcp 127.0.0.1:51234", "serial /dev/ttyUSB0").
    /// `auth_required`: refuse unauthenticated frames (frame.require_auth and not this
    /// link's allow_unauthenticated).
    frame_link(stream_type stream, std::string name, service::execution_service& service,
               const core::config& config, bool auth_required);
    frame_link(const frame_link&) = delete;
    frame_link& operator=(const frame_link&) = delete;

    /// Serves the link until the peer leaves, the idle timeout, a fatal framing error, a
    /// write stall or close(); then cancels its non-detached streams. Keep a shared_ptr.
    asio::awaitable<void> run();
    /// Closes the link now (idempotent); outstanding answers are dropped.
    void close();
    /// Refuses new requests (unavailable) and closes once nothing is outstanding.
    void drain();

    bool busy() const noexcept { return !outstanding_.empty(); }
    const std::string& name() const noexcept { return name_; }
    const link_stats& stats() const noexcept { return stats_; }
    const decoder_stats& decoding() const noexcept { return decoder_.stats(); }

private:
    /// Encodes a stream's events as StreamExecutionResult frames for the viewer writer.
    class stream_encoder;

    struct request_state {
        std::shared_ptr<service::viewer_queue> viewer; ///< stream mode only
        core::record_ref ref{};
        std::string execution_id;
        bool detach = false;
    };

    asio::awaitable<void> read_then_drain();
    asio::awaitable<void> read_loop();
    asio::awaitable<void> write_loop();
    asio::awaitable<void> on_frame(std::span<const std::uint8_t> payload);
    asio::awaitable<void> on_decode_error(const decode_result& result);
    asio::awaitable<void> on_hello(std::uint32_t id, const hello_request& hello);
    /// Counts, logs (rate-limited) and answers an authentication failure.
    asio::awaitable<void> reject(std::uint32_t id, auth_failure why);
    /// False when this link's auth log budget for the current window is spent.
    bool auth_log_allowed();
    asio::awaitable<void> serve(std::shared_ptr<frame_link> self, std::uint32_t id,
                                request_body body, core::client_identity who);
    asio::awaitable<void> serve_invoke(std::uint32_t id, core::InvokeFunctionRequest request);
    asio::awaitable<void> serve_stream(std::uint32_t id, core::InvokeFunctionRequest request);
    asio::awaitable<void> serve_status(std::uint32_t id, status_request request,
                                       core::client_identity who);
    asio::awaitable<void> serve_cancel(std::uint32_t id, cancel_request request,
                                       core::client_identity who);
    /// Tells every stream's writer that the peer is gone; each then ends its stream
    /// (cancelling a non-detached execution).
    void leave_streams();
    /// Queues one encoded Frame message for the writer; waits while the queue is full.
    /// Seals it first on an authenticated link (unless `sealed`: the challenge comes sealed).
    /// False once the link is closing (the frame is dropped).
    asio::awaitable<bool> send(bytes message, bool sealed = false);
    asio::awaitable<bool> send_error(std::uint32_t id, const core::error& e);
    void arm_idle_timer();
    void end_request(std::uint32_t id);

    stream_type stream_;
    std::string name_;
    service::execution_service& service_;
    const core::config& config_;
    const framing framing_;
    frame_decoder decoder_;
    link_auth auth_;
    std::chrono::steady_clock::time_point auth_log_window_{};
    std::size_t auth_logged_ = 0;   ///< auth log lines in the current window
    std::size_t auth_unlogged_ = 0; ///< auth failures not logged in the current window
    std::size_t max_frame_bytes_;
    std::size_t max_outstanding_;
    std::size_t queue_capacity_;
    std::deque<bytes> queue_;            ///< framed bytes waiting for the writer
    runtime::async_event writer_wakeup_; ///< set when a frame is queued or writes close
    runtime::async_event space_wakeup_;  ///< set when the queue has room or writes close
    asio::steady_timer idle_timer_;      ///< TCP: closes an idle link
    asio::steady_timer stall_timer_;     ///< closes a link whose peer accepts nothing
    std::unordered_map<std::uint32_t, request_state> outstanding_;
    std::string close_reason_;
    bool closed_ = false;
    bool writes_closed_ = false; ///< no new frames are queued; the writer drains
    bool draining_ = false;
    link_stats stats_;
};

} // namespace spear::transport::frame
