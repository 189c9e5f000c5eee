// WebSocket and SSE streaming: encoders beneath the service's one viewer writer, one reader
// watching for the client leaving; close codes mapped from the error enum here.
#include "transport/ws/stream_endpoints.hpp"

#include "core/limits.hpp"
#include "core/log.hpp"
#include "service/json_codec.hpp"
#include "service/viewer_writer.hpp"
#include "transport/http/http_errors.hpp"
#include "transport/http/request_target.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/parse.hpp>

#include <algorithm>
#include <array>
#include <span>
#include <vector>

namespace spear::transport::ws {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace beast_http = beast::http;
using namespace asio::experimental::awaitable_operators;
using core::error;
using core::error_code;

namespace {

/// The TCP stream under a WebSocket: Beast's own writes (the handshake, pongs, close frames)
/// and a viewer's batched frames (write_frames) take turns, each written whole, so frames
/// never interleave. A viewer writes its frames itself, several per system call and each
/// frame's payload shared by every viewer (the event's cached JSON), where Beast writes one
/// message per call. Reads pass through.
class shared_write_stream {
public:
    using executor_type = beast::tcp_stream::executor_type;
    using next_layer_type = beast::tcp_stream;

    explicit shared_write_stream(beast::tcp_stream& next)
        : next_(next)
        , turn_(next.get_executor(), asio::steady_timer::time_point::max()) {}

    executor_type get_executor() noexcept { return next_.get_executor(); }
    next_layer_type& next_layer() noexcept { return next_; }

    template <class Buffers, class Token>
    auto async_read_some(const Buffers& buffers, Token&& token) {
        return next_.async_read_some(buffers, std::forward<Token>(token));
    }

    /// Beast's writes: waits its turn, then writes everything (so one Beast frame is never
    /// cut by a viewer's frames).
    template <class Buffers, class Token>
    auto async_write_some(const Buffers& buffers, Token&& token) {
        return asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
            whole_write<Buffers>{*this, buffers}, token, next_);
    }

    /// A viewer's frames, written whole in its turn; false when the write failed.
    asio::awaitable<bool> write_frames(const std::vector<asio::const_buffer>& buffers) {
        while (busy_) {
            co_await turn_.async_wait(asio::as_tuple(asio::use_awaitable));
            auto state = co_await asio::this_coro::cancellation_state;
            if (state.cancelled() != asio::cancellation_type::none)
                co_return false;
        }
        busy_ = true;
        // First one non-blocking send right here: usually the socket takes it all, and the
        // writer goes on without a round through the io_context (at 1000 viewers that round,
        // a completion handler and a resumption per viewer per message, was ~15 % of the
        // fan-out's CPU). Whatever the socket did not take is written asynchronously.
        auto& socket = next_.socket();
        boost::system::error_code ec;
        if (!socket.non_blocking())
            socket.non_blocking(true, ec); // Asio's async operations do not depend on it
        std::size_t sent = ec ? 0 : socket.write_some(buffers, ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) {
            ec = {};
            sent = 0;
        }
        if (!ec && sent < asio::buffer_size(buffers)) {
            rest_.clear();
            for (auto b : buffers) {
                const auto skip = std::min(sent, b.size());
                sent -= skip;
                if (b.size() > skip)
                    rest_.push_back(b + skip);
            }
            auto [wec, n] = co_await asio::async_write(socket, rest_, use_tuple_);
            ec = wec;
        }
        release();
        co_return !ec;
    }

private:
    static constexpr auto use_tuple_ = asio::as_tuple(asio::use_awaitable);

    template <class Buffers>
    struct whole_write {
        shared_write_stream& s;
        Buffers buffers;
        bool writing = false;

        template <class Self>
        void operator()(Self& self, boost::system::error_code ec = {}, std::size_t n = 0) {
            if (writing) {
                s.release();
                self.complete(ec, n);
                return;
            }
            if (self.get_cancellation_state().cancelled() != asio::cancellation_type::none) {
                self.complete(asio::error::operation_aborted, 0);
                return;
            }
            if (s.busy_) {
                s.turn_.async_wait(std::move(self)); // woken by release(): look again
                return;
            }
            s.busy_ = true;
            writing = true;
            asio::async_write(s.next_.socket(), buffers, std::move(self));
        }
    };

    void release() {
        busy_ = false;
        turn_.cancel(); // wakes a waiting writer, if any
    }

    beast::tcp_stream& next_;
    std::vector<asio::const_buffer> rest_; ///< what the first send of write_frames left
    asio::steady_timer turn_; ///< never expires: cancelled to wake the other writer
    bool busy_ = false;
};

template <class Handler>
void async_teardown(beast::role_type role, shared_write_stream& stream, Handler&& handler) {
    using beast::async_teardown;
    async_teardown(role, stream.next_layer(), std::forward<Handler>(handler));
}

inline void teardown(beast::role_type role, shared_write_stream& stream,
                     boost::system::error_code& ec) {
    using beast::teardown;
    teardown(role, stream.next_layer(), ec);
}

using ws_stream = websocket::stream<shared_write_stream>;

/// The connection's TCP stream (to close it).
beast::tcp_stream& tcp_of(ws_stream& ws) { return ws.next_layer().next_layer(); }

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
/// SSE comment sent when no event was written for this long, so proxies keep the line open.
constexpr auto sse_keepalive = core::limits::sse_keepalive;

/// The one mapping from the error enum to WebSocket close codes (RFC 6455 §7.4.1).
websocket::close_code close_code_for(error_code code) {
    switch (code) {
    case error_code::none:
        return websocket::close_code::normal;
    case error_code::payload_too_large:
        return websocket::close_code::too_big;
    case error_code::too_many_requests:
    case error_code::status_table_full:
        return websocket::close_code::try_again_later;
    case error_code::unavailable:
        return websocket::close_code::going_away;
    case error_code::internal:
        return websocket::close_code::internal_error;
    default:
        return websocket::close_code::policy_error;
    }
}

struct route {
    enum class kind { invoke, viewer, none } type = kind::none;
    std::string execution_id;
};

route match(const request& req) {
    // A target that does not parse is no stream route: the HTTP router answers it.
    const auto parsed = http::parse_request_target(req.target());
    const auto* t = std::get_if<http::request_target>(&parsed);
    if (!t)
        return {};
    if (t->matches({"stream"}))
        return {route::kind::invoke, {}};
    if (t->matches({"executions", "*", "stream"}))
        return {route::kind::viewer, t->segments[1]};
    return {};
}

asio::awaitable<void> write_http_error(beast::tcp_stream& stream, const request& req,
                                       const error& e) {
    auto res = http::make_error_response(e, req.version(), false);
    stream.expires_after(core::limits::stream_refusal_write_timeout);
    co_await beast_http::async_write(stream, res, use_tuple);
}

void configure(ws_stream& ws, const core::config& config) {
    auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
    timeouts.handshake_timeout = std::chrono::milliseconds(
        std::min(core::limits::ws_handshake_ms, config.stream.write_timeout_ms));
    ws.set_option(timeouts);
    ws.read_message_max(config.stream.max_message_bytes);
    ws.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(beast_http::field::server, "spearlet"); }));
}

/// Sends an error message, then closes with the mapped code.
asio::awaitable<void> refuse(ws_stream& ws, const error& e) {
    ws.text(true);
    const auto text = service::stream_error_text(e);
    co_await ws.async_write(asio::buffer(text), use_tuple);
    co_await ws.async_close(
        websocket::close_reason(close_code_for(e.code), e.message.substr(0, 100)), use_tuple);
}

/// Write progress of one connection, watched by run_write_watchdog.
struct write_progress {
    bool writing = false;
    std::chrono::steady_clock::time_point since{};
};

/// Closes the connection when one write has made no progress for `timeout` (the client
/// stopped reading): the write then fails and the writer ends with write_failed. One timer per
/// connection, ticking at a quarter of the timeout, rather than a timer per message: at 1000
/// viewers the per-message timer was most of the cost. Runs until cancelled.
asio::awaitable<void> run_write_watchdog(ws_stream& ws, const write_progress& progress,
                                         std::chrono::milliseconds timeout) {
    asio::steady_timer tick(co_await asio::this_coro::executor);
    const auto period =
        std::max<std::chrono::milliseconds>(timeout / 4, core::limits::write_watchdog_period_min);
    bool fired = false;
    for (;;) {
        tick.expires_after(period);
        auto [ec] = co_await tick.async_wait(use_tuple);
        if (ec)
            co_return;
        if (!fired && progress.writing &&
            std::chrono::steady_clock::now() - progress.since >= timeout) {
            log::info("closing a stream viewer that accepted nothing for " +
                      std::to_string(timeout.count()) + " ms");
            tcp_of(ws).close();
            fired = true;
        }
    }
}

/// WebSocket encoding of a viewer: one text message per event (the JSON of json_codec), the
/// dropped notice as its own message; a normal close (1000) after the final event.
class ws_encoder final : public service::viewer_encoder {
public:
    ws_encoder(ws_stream& ws, std::string execution_id, write_progress& progress)
        : ws_(ws)
        , execution_id_(std::move(execution_id))
        , progress_(progress) {
        ws_.text(true);
    }

    asio::awaitable<bool> write_dropped(std::uint64_t dropped) override {
        const auto text = service::dropped_notice_text(execution_id_, dropped);
        co_return co_await write(text);
    }
    asio::awaitable<bool> write_event(const service::stream_event& event) override {
        co_return co_await write(service::stream_event_text(event)); // cached in the event
    }
    std::size_t max_batch() const override { return core::limits::viewer_write_batch; }
    /// Every item's frames (its dropped notice, then the event) in one gathered write: the
    /// headers are built here, each payload is the event's cached JSON, shared by all viewers.
    asio::awaitable<bool> write_batch(std::span<const service::viewer_queue::item> items) override {
        notices_.clear();
        headers_.clear();
        buffers_.clear();
        for (const auto& item : items)
            if (item.dropped_before > 0)
                notices_.push_back(service::dropped_notice_text(execution_id_, item.dropped_before));
        headers_.reserve(items.size() + notices_.size());
        auto notice = notices_.begin();
        auto frame = [&](std::string_view payload) {
            headers_.push_back(text_frame_header(payload.size()));
            buffers_.emplace_back(headers_.back().bytes.data(), headers_.back().size);
            buffers_.emplace_back(payload.data(), payload.size());
        };
        for (const auto& item : items) {
            if (item.dropped_before > 0)
                frame(*notice++);
            frame(service::stream_event_text(*item.event));
        }
        progress_.writing = true;
        progress_.since = std::chrono::steady_clock::now();
        const bool ok = co_await ws_.next_layer().write_frames(buffers_);
        progress_.writing = false;
        co_return ok;
    }
    asio::awaitable<void> finish(service::viewer_end end) override {
        using service::viewer_end;
        if (end == viewer_end::final_delivered || end == viewer_end::queue_closed) {
            const auto code = end == viewer_end::final_delivered
                                  ? websocket::close_code::normal
                                  : websocket::close_code::going_away;
            co_await ws_.async_close(code, use_tuple);
            co_return;
        }
        // The client cannot be reached or has gone: drop the connection (ends the reader).
        tcp_of(ws_).close();
    }

private:
    asio::awaitable<bool> write(std::string_view text) {
        progress_.writing = true;
        progress_.since = std::chrono::steady_clock::now();
        auto [ec, n] = co_await ws_.async_write(asio::buffer(text), use_tuple);
        progress_.writing = false;
        co_return !ec;
    }

    /// An unmasked, final text frame's header (RFC 6455 5.2): what Beast writes for a
    /// server's text message without compression (permessage-deflate is never enabled here).
    struct frame_header {
        std::array<unsigned char, 10> bytes{};
        std::size_t size = 0;
    };
    static frame_header text_frame_header(std::size_t length) {
        frame_header h;
        h.bytes[0] = 0x81; // FIN | text
        if (length < 126) {
            h.bytes[1] = static_cast<unsigned char>(length);
            h.size = 2;
        } else if (length <= 0xffff) {
            h.bytes[1] = 126;
            h.bytes[2] = static_cast<unsigned char>(length >> 8);
            h.bytes[3] = static_cast<unsigned char>(length);
            h.size = 4;
        } else {
            h.bytes[1] = 127;
            for (std::size_t i = 0; i < 8; ++i)
                h.bytes[2 + i] = static_cast<unsigned char>(
                    static_cast<std::uint64_t>(length) >> (8 * (7 - i)));
            h.size = 10;
        }
        return h;
    }

    ws_stream& ws_;
    std::string execution_id_;
    write_progress& progress_;
    // One batch's frames, kept between batches so a viewer allocates them once.
    std::vector<std::string> notices_;
    std::vector<frame_header> headers_;
    std::vector<asio::const_buffer> buffers_;
};

/// True for the one client message an invoke stream acts on: a JSON object whose "type" is
/// "cancel" (other members are ignored).
bool is_cancel_message(std::string_view text) {
    boost::system::error_code ec;
    const auto value = boost::json::parse(text, ec);
    if (ec || !value.is_object())
        return false;
    const auto* type = value.as_object().if_contains("type");
    return type && type->is_string() && type->get_string() == "cancel";
}

/// Reads until the client goes away or closes (pings and pongs are answered by Beast), then
/// tells the writer (viewer_queue::leave). On an invoke stream (`service` set) a cancel
/// message cancels the execution and the writer then delivers the final event; any other
/// message is ignored.
asio::awaitable<void> run_ws_reader(ws_stream& ws, service::viewer_queue& queue,
                                    service::execution_service* service, std::string execution_id) {
    beast::flat_buffer buffer;
    for (;;) {
        auto [ec, n] = co_await ws.async_read(buffer, use_tuple);
        if (ec)
            break;
        const bool cancel =
            service && ws.got_text() && is_cancel_message(beast::buffers_to_string(buffer.data()));
        buffer.consume(buffer.size());
        if (cancel)
            co_await service->cancel(execution_id, "requested by the stream client");
    }
    queue.leave();
}

/// One WebSocket viewer: the viewer writer, the reader and the write watchdog side by side.
/// Returns once the writer and the reader have both ended, with the writer's end.
asio::awaitable<service::viewer_end> run_ws_viewer(ws_stream& ws, service::viewer_queue& queue,
                                                   const std::string& execution_id,
                                                   const core::config& config,
                                                   service::execution_service* service) {
    write_progress progress;
    ws_encoder encoder(ws, execution_id, progress);
    const auto write_timeout = std::chrono::milliseconds(config.stream.write_timeout_ms);
    auto ended = co_await ((service::run_viewer_writer(queue, encoder) &&
                            run_ws_reader(ws, queue, service, execution_id)) ||
                           run_write_watchdog(ws, progress, write_timeout));
    if (ended.index() != 0)
        co_return service::viewer_end::write_failed; // not reached: the watchdog never returns
    co_return std::get<0>(ended);
}

/// Ends a /stream connection whose first message has not arrived within `limit`: an error
/// message, then close 1008. Runs beside the first read (Beast allows a write beside a read).
asio::awaitable<void> run_first_message_deadline(ws_stream& ws, std::chrono::milliseconds limit) {
    asio::steady_timer timer(co_await asio::this_coro::executor, limit);
    if (auto [ec] = co_await timer.async_wait(use_tuple); ec)
        co_return; // the first message came in time
    co_await refuse(ws,
                    error::make(error_code::invalid_request,
                                "no InvokeFunctionRequest within " + std::to_string(limit.count()) +
                                    " ms (stream.first_message_timeout_ms)"));
}

asio::awaitable<void> serve_invoke(beast::tcp_stream& stream, request req,
                                   service::execution_service& service,
                                   const core::config& config, core::client_identity who) {
    ws_stream ws(stream);
    configure(ws, config);
    stream.expires_never();
    if (auto [ec] = co_await ws.async_accept(req, use_tuple); ec)
        co_return;

    // The first message is the InvokeFunctionRequest, within first_message_timeout_ms.
    beast::flat_buffer buffer;
    const auto first_limit = std::chrono::milliseconds(config.stream.first_message_timeout_ms);
    auto first =
        co_await (ws.async_read(buffer, use_tuple) || run_first_message_deadline(ws, first_limit));
    if (first.index() != 0)
        co_return; // refused for want of a request
    auto [rec, rn] = std::get<0>(first);
    if (rec == websocket::error::message_too_big) {
        co_await refuse(ws, error::make(error_code::payload_too_large,
                                        "message over " +
                                            std::to_string(config.stream.max_message_bytes) +
                                            " bytes"));
        co_return;
    }
    if (rec)
        co_return; // closed, timed out, or bad UTF-8 (Beast closes with 1007 itself)
    if (!ws.got_text()) {
        co_await refuse(ws, error::make(error_code::invalid_request,
                                        "the first message must be a JSON text message "
                                        "(InvokeFunctionRequest)"));
        co_return;
    }
    auto parsed = service::parse_invoke_request(beast::buffers_to_string(buffer.data()));
    if (auto* bad = std::get_if<error>(&parsed)) {
        co_await refuse(ws, *bad);
        co_return;
    }
    auto invoke = std::get<core::InvokeFunctionRequest>(std::move(parsed));
    if (invoke.execution_mode_given && invoke.execution_mode != core::ExecutionMode::stream) {
        co_await refuse(ws, error::make(error_code::invalid_request,
                                        "execution_mode: /stream serves stream mode only; use "
                                        "POST /functions/execute for sync and async"));
        co_return;
    }
    invoke.execution_mode = core::ExecutionMode::stream;
    invoke.client = who;
    const bool detach = invoke.detach;
    auto queue = service.make_viewer_queue();
    auto started = service.start_stream_execution(std::move(invoke), queue);
    if (auto* refused = std::get_if<error>(&started)) {
        co_await refuse(ws, *refused);
        co_return;
    }
    const auto ref = std::get<core::record_ref>(started);
    const auto id = service.execution_id(ref);

    const auto end = co_await run_ws_viewer(ws, *queue, id, config, &service);
    if (end != service::viewer_end::final_delivered) {
        // The client left, or cannot be written to, before the final event: its execution
        // goes too, unless detached.
        service.unwatch(ref, queue.get());
        if (!detach)
            co_await service.cancel(id, end == service::viewer_end::write_failed
                                            ? "the stream client stopped accepting data"
                                            : "the stream client disconnected");
    }
}

asio::awaitable<void> serve_ws_viewer(beast::tcp_stream& stream, request req,
                                      service::execution_service& service,
                                      const core::config& config, core::record_ref ref,
                                      std::string id,
                                      std::shared_ptr<service::viewer_queue> queue) {
    ws_stream ws(stream);
    configure(ws, config);
    stream.expires_never();
    if (auto [ec] = co_await ws.async_accept(req, use_tuple); !ec)
        co_await run_ws_viewer(ws, *queue, id, config, nullptr);
    service.unwatch(ref, queue.get());
}

/// Server-Sent Events encoding of a viewer: `id:`/`event:`/`data:` blocks with the same JSON
/// and names as the WebSocket messages, a `: keep-alive` comment when idle.
class sse_encoder final : public service::viewer_encoder {
public:
    sse_encoder(beast::tcp_stream& stream, std::string execution_id,
                std::chrono::milliseconds write_timeout)
        : stream_(stream)
        , execution_id_(std::move(execution_id))
        , write_timeout_(write_timeout) {}

    asio::awaitable<bool> write_dropped(std::uint64_t dropped) override {
        co_return co_await write("event: " + std::string(service::dropped_message_name) +
                                 "\ndata: " + service::dropped_notice_text(execution_id_, dropped) +
                                 "\n\n");
    }
    asio::awaitable<bool> write_event(const service::stream_event& event) override {
        co_return co_await write("id: " + std::to_string(event.seq) +
                                 "\nevent: " + std::string(service::name_of(event.type)) +
                                 "\ndata: " + service::stream_event_text(event) + "\n\n");
    }
    asio::awaitable<bool> write_keepalive() override {
        co_return co_await write(": keep-alive\n\n");
    }
    asio::awaitable<void> finish(service::viewer_end) override {
        boost::system::error_code ignored;
        stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
        co_return;
    }
    std::chrono::milliseconds keepalive_interval() const override { return sse_keepalive; }

    /// Writes `text`; false if it failed or made no progress for the write timeout.
    asio::awaitable<bool> write(std::string text) {
        stream_.expires_after(write_timeout_); // a stalled client cannot hold us
        auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(text), use_tuple);
        stream_.expires_never();
        co_return !ec;
    }

private:
    beast::tcp_stream& stream_;
    std::string execution_id_;
    std::chrono::milliseconds write_timeout_;
};

/// Server-Sent Events: the same events as the WebSocket viewer.
asio::awaitable<void> serve_sse_viewer(beast::tcp_stream& stream,
                                       service::execution_service& service,
                                       const core::config& config, core::record_ref ref,
                                       std::string id,
                                       std::shared_ptr<service::viewer_queue> queue) {
    sse_encoder encoder(stream, id, std::chrono::milliseconds(config.stream.write_timeout_ms));
    if (co_await encoder.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                               "Cache-Control: no-cache\r\nConnection: close\r\n"
                               "X-Accel-Buffering: no\r\nX-Execution-Id: " +
                               id + "\r\n\r\n"))
        co_await service::run_viewer_writer(*queue, encoder);
    service.unwatch(ref, queue.get());
}

} // namespace

bool is_stream_route(const request& req) {
    return req.method() == beast_http::verb::get && match(req).type != route::kind::none;
}

asio::awaitable<void>
serve_stream_route(beast::tcp_stream& stream, request req, service::execution_service& service,
                   const core::config& config,
                   const std::function<std::optional<core::client_identity>(const request&)>&
                       authenticate) {
    const auto r = match(req);
    const auto who = authenticate(req);
    if (!who) {
        co_await write_http_error(stream, req, error::make(error_code::unauthorized));
        co_return;
    }
    const bool upgrade = websocket::is_upgrade(req);
    if (r.type == route::kind::invoke) {
        if (!upgrade) {
            co_await write_http_error(
                stream, req,
                error::make(error_code::invalid_request,
                            "/stream is a WebSocket endpoint: send a WebSocket upgrade, then the "
                            "InvokeFunctionRequest as the first text message"));
            co_return;
        }
        co_await serve_invoke(stream, std::move(req), service, config, *who);
        co_return;
    }

    const bool sse =
        req[beast_http::field::accept].find("text/event-stream") != std::string_view::npos;
    if (!upgrade && !sse) {
        co_await write_http_error(
            stream, req,
            error::make(error_code::invalid_request,
                        "this endpoint streams over WebSocket (send an upgrade) or Server-Sent "
                        "Events (send Accept: text/event-stream)"));
        co_return;
    }
    // Resolve before upgrading: an unknown id is a plain 404 (410 if evicted).
    auto queue = service.make_viewer_queue();
    auto watched = service.watch(r.execution_id, queue, *who);
    if (auto* missing = std::get_if<error>(&watched)) {
        co_await write_http_error(stream, req, *missing);
        co_return;
    }
    const auto ref = std::get<core::record_ref>(watched);
    // An execution held by another cluster node has no local record: it keeps the id asked for.
    auto id = ref == service::remote_record_ref ? std::string(r.execution_id)
                                                : service.execution_id(ref);
    if (upgrade)
        co_await serve_ws_viewer(stream, std::move(req), service, config, ref, std::move(id),
                                 queue);
    else
        co_await serve_sse_viewer(stream, service, config, ref, std::move(id), queue);
}

} // namespace spear::transport::ws
