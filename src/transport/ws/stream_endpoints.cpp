// WebSocket and SSE streaming: one writer per connection draining a bounded viewer queue,
// one reader watching for the client leaving; close codes mapped from the error enum here.
#include "transport/ws/stream_endpoints.hpp"

#include "core/log.hpp"
#include "service/json_codec.hpp"
#include "transport/http/http_errors.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/url/parse.hpp>

namespace spear::transport::ws {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace beast_http = beast::http;
using namespace asio::experimental::awaitable_operators;
using core::error;
using core::error_code;
using ws_stream = websocket::stream<beast::tcp_stream&>;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
/// SSE comment sent when no event was written for this long, so proxies keep the line open.
constexpr std::chrono::seconds sse_keepalive{15};

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
    auto parsed = boost::urls::parse_origin_form(req.target());
    if (!parsed)
        return {};
    std::vector<std::string> s;
    for (auto seg : parsed->segments())
        if (!seg.empty())
            s.push_back(seg);
    if (s.size() == 1 && s[0] == "stream")
        return {route::kind::invoke, {}};
    if (s.size() == 3 && s[0] == "executions" && s[2] == "stream")
        return {route::kind::viewer, s[1]};
    return {};
}

asio::awaitable<void> write_http_error(beast::tcp_stream& stream, const request& req,
                                       const error& e) {
    auto res = http::make_error_response(e, req.version(), false);
    stream.expires_after(std::chrono::seconds(10));
    co_await beast_http::async_write(stream, res, use_tuple);
}

void configure(ws_stream& ws, const core::config& config) {
    ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
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

/// Writes one text message; false if it failed.
asio::awaitable<bool> write_message(ws_stream& ws, std::string_view text,
                                    write_progress& progress) {
    progress.writing = true;
    progress.since = std::chrono::steady_clock::now();
    auto [ec, n] = co_await ws.async_write(asio::buffer(text), use_tuple);
    progress.writing = false;
    co_return !ec;
}

/// Closes the connection when one write has made no progress for `timeout` (the client
/// stopped reading). One timer per connection, ticking at a quarter of the timeout, rather
/// than a timer per message: at 1000 viewers the per-message timer was most of the cost.
asio::awaitable<void> run_write_watchdog(ws_stream& ws, const write_progress& progress,
                                         std::chrono::milliseconds timeout) {
    asio::steady_timer tick(co_await asio::this_coro::executor);
    const auto period =
        std::max<std::chrono::milliseconds>(timeout / 4, std::chrono::milliseconds(50));
    for (;;) {
        tick.expires_after(period);
        auto [ec] = co_await tick.async_wait(use_tuple);
        if (ec)
            co_return;
        if (progress.writing && std::chrono::steady_clock::now() - progress.since >= timeout) {
            log::info("closing a stream viewer that accepted nothing for " +
                      std::to_string(timeout.count()) + " ms");
            ws.next_layer().close();
            co_return;
        }
    }
}

/// Drains the viewer queue into the socket; after the final event, closes normally (1000).
asio::awaitable<void> run_ws_writer(ws_stream& ws, service::viewer_queue& queue,
                                    std::string execution_id, write_progress& progress) {
    ws.text(true);
    for (;;) {
        auto next = co_await queue.pop();
        if (!next)
            break;
        if (next->dropped_before > 0 &&
            !co_await write_message(
                ws, service::dropped_notice_text(execution_id, next->dropped_before), progress))
            co_return;
        if (!co_await write_message(ws, service::stream_event_text(*next->event), progress))
            co_return;
        if (next->event->type == service::stream_event::kind::final)
            break;
    }
    co_await ws.async_close(websocket::close_code::normal, use_tuple);
}

/// Reads until the client goes away or closes (pings and pongs are answered by Beast).
/// On an invoke stream (`cancel_id` set) a {"type":"cancel"} message cancels the execution;
/// the writer then delivers the final event. Other messages are ignored.
asio::awaitable<void> run_ws_reader(ws_stream& ws, service::execution_service* service,
                                    std::string cancel_id) {
    beast::flat_buffer buffer;
    for (;;) {
        auto [ec, n] = co_await ws.async_read(buffer, use_tuple);
        if (ec)
            co_return;
        const auto text = beast::buffers_to_string(buffer.data());
        buffer.consume(buffer.size());
        if (service && text.find("\"cancel\"") != std::string::npos)
            co_await service->cancel(cancel_id, "requested by the stream client");
    }
}

asio::awaitable<void> serve_invoke(beast::tcp_stream& stream, request req,
                                   service::execution_service& service,
                                   const core::config& config) {
    ws_stream ws(stream);
    configure(ws, config);
    stream.expires_never();
    if (auto [ec] = co_await ws.async_accept(req, use_tuple); ec)
        co_return;

    // The first message is the InvokeFunctionRequest.
    beast::flat_buffer buffer;
    auto [rec, rn] = co_await ws.async_read(buffer, use_tuple);
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
    const bool detach = invoke.detach;
    auto queue = service.make_viewer_queue();
    auto started = service.start_stream_execution(std::move(invoke), queue);
    if (auto* refused = std::get_if<error>(&started)) {
        co_await refuse(ws, *refused);
        co_return;
    }
    const auto ref = std::get<core::record_ref>(started);
    const auto id = service.execution_id(ref);

    const auto write_timeout = std::chrono::milliseconds(config.stream.write_timeout_ms);
    write_progress progress;
    auto outcome =
        co_await (run_ws_writer(ws, *queue, id, progress) || run_ws_reader(ws, &service, id) ||
                  run_write_watchdog(ws, progress, write_timeout));
    if (outcome.index() != 0) {
        // The client left before the final event: its execution goes too, unless detached.
        service.unwatch(ref, queue.get());
        if (!detach)
            co_await service.cancel(id, "the stream client disconnected");
    }
}

asio::awaitable<void> serve_ws_viewer(beast::tcp_stream& stream, request req,
                                      service::execution_service& service,
                                      const core::config& config, core::record_ref ref,
                                      std::shared_ptr<service::viewer_queue> queue) {
    ws_stream ws(stream);
    configure(ws, config);
    stream.expires_never();
    if (auto [ec] = co_await ws.async_accept(req, use_tuple); ec) {
        service.unwatch(ref, queue.get());
        co_return;
    }
    const auto id = service.execution_id(ref);
    const auto write_timeout = std::chrono::milliseconds(config.stream.write_timeout_ms);
    write_progress progress;
    co_await (run_ws_writer(ws, *queue, id, progress) || run_ws_reader(ws, nullptr, {}) ||
              run_write_watchdog(ws, progress, write_timeout));
    service.unwatch(ref, queue.get());
}

/// Server-Sent Events: the same events as the WebSocket viewer, as `event:`/`data:` lines.
asio::awaitable<void> serve_sse_viewer(beast::tcp_stream& stream, const request& req,
                                       service::execution_service& service, core::record_ref ref,
                                       std::shared_ptr<service::viewer_queue> queue) {
    const auto id = service.execution_id(ref);
    std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                       "Cache-Control: no-cache\r\nConnection: close\r\n"
                       "X-Accel-Buffering: no\r\nX-Execution-Id: " +
                       id + "\r\n\r\n";
    (void)req;
    auto write = [&](std::string text) -> asio::awaitable<bool> {
        stream.expires_after(std::chrono::seconds(30)); // a stalled client cannot hold us
        auto [ec, n] = co_await asio::async_write(stream, asio::buffer(text), use_tuple);
        co_return !ec;
    };
    if (!co_await write(std::move(head))) {
        service.unwatch(ref, queue.get());
        co_return;
    }
    auto ex = co_await asio::this_coro::executor;
    for (;;) {
        asio::steady_timer keepalive(ex, sse_keepalive);
        auto next = co_await (queue->pop() || keepalive.async_wait(use_tuple));
        if (next.index() == 1) {
            if (!co_await write(": keep-alive\n\n"))
                break;
            continue;
        }
        auto& item = std::get<0>(next);
        if (!item)
            break;
        if (item->dropped_before > 0 &&
            !co_await write("event: dropped\ndata: " +
                            service::dropped_notice_text(id, item->dropped_before) + "\n\n"))
            break;
        const auto& event = *item->event;
        const char* name = event.type == service::stream_event::kind::chunk    ? "chunk"
                           : event.type == service::stream_event::kind::status ? "status"
                                                                               : "final";
        if (!co_await write(std::string("id: ") + std::to_string(event.seq) + "\nevent: " + name +
                            "\ndata: " + service::stream_event_text(event) + "\n\n"))
            break;
        if (event.type == service::stream_event::kind::final)
            break;
    }
    service.unwatch(ref, queue.get());
    boost::system::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

} // namespace

bool is_stream_route(const request& req) {
    return req.method() == beast_http::verb::get && match(req).type != route::kind::none;
}

asio::awaitable<void> serve_stream_route(beast::tcp_stream& stream, request req,
                                         service::execution_service& service,
                                         const core::config& config,
                                         const std::function<bool(const request&)>& authorized) {
    const auto r = match(req);
    if (!authorized(req)) {
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
        co_await serve_invoke(stream, std::move(req), service, config);
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
    auto watched = service.watch(r.execution_id, queue);
    if (auto* missing = std::get_if<error>(&watched)) {
        co_await write_http_error(stream, req, *missing);
        co_return;
    }
    const auto ref = std::get<core::record_ref>(watched);
    if (upgrade)
        co_await serve_ws_viewer(stream, std::move(req), service, config, ref, queue);
    else
        co_await serve_sse_viewer(stream, req, service, ref, queue);
}

} // namespace spear::transport::ws
