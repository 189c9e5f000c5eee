// HTTP/1.1 server sessions: keep-alive, pipelining-safe sequential handling, limits, timeouts.
#include "transport/http/http_server.hpp"

#include "core/limits.hpp"
#include "core/log.hpp"
#include "transport/tcp_listener.hpp"
#include "transport/ws/stream_endpoints.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <stdexcept>

namespace spear::transport::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;
using core::error;
using core::error_code;

/// The phase deadline of one HTTP session, kept without a timer operation per request: a
/// phase only stores its deadline; run_deadline's one timer wakes at most every `step` (the
/// shortest phase timeout), re-arms, and closes the socket once the deadline has passed (every
/// pending and later operation on it then fails). Since every phase timeout is >= `step`, a
/// new deadline is never earlier than the armed wake-up, so setting one needs no re-arm;
/// a deadline is still enforced exactly (the last wake-up is armed at it).
struct session_deadline {
    using clock = std::chrono::steady_clock;
    clock::time_point at = clock::time_point::max(); ///< max: none (a request being handled)
    void after(std::chrono::milliseconds d) { at = clock::now() + d; }
    void clear() { at = clock::time_point::max(); }
};

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr auto write_timeout = core::limits::http_write_timeout;

void log_exception(std::exception_ptr e) { log::task_ended("http session", e); }

/// The metrics' route label: "/" and the first path segment when it names a route family,
/// else "other" (a bounded set whatever clients send).
std::string route_label(std::string_view target) {
    target = target.substr(0, target.find('?'));
    if (target.starts_with('/'))
        target.remove_prefix(1);
    const auto first = target.substr(0, target.find('/'));
    static constexpr std::string_view known[] = {"",       "health",    "metrics", "functions",
                                                 "status", "executions", "stream", "events",
                                                 "monitoring", "api", "openapi.json"};
    for (const auto k : known)
        if (first == k)
            return "/" + std::string(k);
    return "other";
}

asio::awaitable<void> run_deadline(tcp::socket& socket, const session_deadline& deadline,
                                   std::chrono::milliseconds step) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (;;) {
        const auto now = session_deadline::clock::now();
        if (now >= deadline.at) {
            boost::system::error_code ignored;
            socket.close(ignored);
            co_return;
        }
        timer.expires_at(deadline.at - now < step ? deadline.at : now + step);
        auto [ec] = co_await timer.async_wait(use_tuple);
        if (ec)
            co_return; // the session ended
    }
}

} // namespace

http_server::http_server(asio::io_context& ioc, service::execution_service& service,
                         const core::config& config)
    : ioc_(ioc)
    , service_(service)
    , full_config_(config)
    , config_(config.http)
    , router_(service, config.http)
    , gate_(config.http)
    , requests_(service.metrics().counter(
          "spearlet_http_requests_total",
          "HTTP requests answered (streams excluded), by route family and status code.",
          {"route", "code"}))
    , acceptor_(ioc) {}

void http_server::listen() { open_listener(acceptor_, config_.address, config_.port, "HTTP"); }

tcp::endpoint http_server::local_endpoint() const { return acceptor_.local_endpoint(); }

asio::awaitable<void> http_server::run_accept_loop() {
    for (;;) {
        auto [ec, socket] = co_await async_accept_cloexec(acceptor_);
        if (stopping_ || ec == asio::error::operation_aborted)
            co_return;
        if (ec) {
            // EMFILE and friends: log, breathe, go on; the listener must survive.
            log::warn("accept failed: " + ec.message());
            asio::steady_timer pause(ioc_, core::limits::accept_retry_pause);
            co_await pause.async_wait(use_tuple);
            continue;
        }
        socket.set_option(tcp::no_delay(true), ec);
        beast::tcp_stream stream(std::move(socket));
        if (sessions_->size() >= config_.max_connections)
            asio::co_spawn(ioc_, refuse_connection(std::move(stream)), log_exception);
        else
            asio::co_spawn(ioc_, run_session(std::move(stream)), log_exception);
    }
}

asio::awaitable<void> http_server::refuse_connection(beast::tcp_stream stream) {
    auto e = error::make(error_code::too_many_requests,
                         "the appliance is at its connection limit (" +
                             std::to_string(config_.max_connections) + "); retry later");
    auto res = make_error_response(e, 11, false);
    stream.expires_after(core::limits::refusal_write_timeout);
    co_await beast_http::async_write(stream, res, use_tuple);
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

asio::awaitable<void> http_server::run_session(beast::tcp_stream stream) {
    using namespace asio::experimental::awaitable_operators;
    auto membership = session_list<session_entry>::join(sessions_, session_entry{&stream, false});
    session_deadline deadline;
    const auto step = std::chrono::milliseconds(
        std::min({config_.idle_timeout_ms, config_.header_timeout_ms,
                  static_cast<std::uint32_t>(
                      std::chrono::milliseconds(write_timeout).count())}));
    co_await (serve_requests(stream, membership.entry(), deadline) ||
              run_deadline(stream.socket(), deadline, step));
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.close();
}

asio::awaitable<void> http_server::serve_requests(beast::tcp_stream& stream, session_entry& self,
                                                  session_deadline& deadline) {
    // HTTP phases read and write the socket itself under `deadline` (tcp_stream's own timers
    // cost two timer operations per phase); stream routes get the tcp_stream, whose expiry
    // they set.
    auto& socket = stream.socket();
    // The argument is the buffer's limit, not its size: it starts empty and grows to hold a
    // header block (up to max_header_bytes; bodies stream through it); after a large one its
    // capacity is released (below), so an idle keep-alive connection does not hold the
    // high-water mark of its largest request for its life.
    beast::flat_buffer buffer(config_.max_header_bytes + config_.max_body_bytes + 4096);
    for (;;) {
        if (stopping_)
            break;
        // Idle: wait for the first byte of the next request (pipelined bytes may be buffered).
        if (buffer.size() == 0) {
            deadline.after(std::chrono::milliseconds(config_.idle_timeout_ms));
            auto [ec, n] = co_await socket.async_read_some(buffer.prepare(4096), use_tuple);
            if (ec)
                break; // idle timeout, close by the peer, or shutdown
            buffer.commit(n);
        }
        self.busy = true;

        // Header, then body: a half-sent request is bounded by header_timeout_ms in total.
        beast_http::request_parser<beast_http::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(config_.max_header_bytes));
        parser.body_limit(config_.max_body_bytes);
        deadline.after(std::chrono::milliseconds(config_.header_timeout_ms));
        auto [hec, hn] = co_await beast_http::async_read_header(socket, buffer, parser, use_tuple);
        std::optional<error> refusal;
        if (!hec) {
            const auto& header = parser.get();
            // Browser defences first, before any body is read or route (stream ones too) runs.
            if (auto refused = gate_.check(header)) {
                log::debug("refused a request: " + refused->message);
                refusal = std::move(refused);
            } else if (header.payload_size() && *header.payload_size() > config_.max_body_bytes) {
                refusal = error::make(error_code::payload_too_large,
                                      "the body is over the limit of " +
                                          std::to_string(config_.max_body_bytes) + " bytes");
            } else if (beast::iequals(header[beast_http::field::expect], "100-continue")) {
                static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
                co_await asio::async_write(socket, asio::buffer(continue_line), use_tuple);
            }
        }
        boost::system::error_code ec = hec;
        if (!ec && !refusal && !parser.is_done()) { // a bodiless request is complete already
            auto [bec, bn] = co_await beast_http::async_read(socket, buffer, parser, use_tuple);
            ec = bec;
        }
        if (ec == beast_http::error::body_limit)
            refusal = error::make(error_code::payload_too_large,
                                  "the body is over the limit of " +
                                      std::to_string(config_.max_body_bytes) + " bytes");
        else if (ec == beast_http::error::header_limit)
            refusal = error::make(error_code::invalid_request,
                                  "the request header is over the limit of " +
                                      std::to_string(config_.max_header_bytes) + " bytes");
        else if (ec && &ec.category() == &beast_http::make_error_code(beast_http::error::bad_target).category() &&
                 ec != beast_http::error::end_of_stream && ec != beast_http::error::partial_message)
            refusal = error::make(error_code::invalid_request, "malformed HTTP request: " +
                                                                   ec.message());
        if (refusal) {
            auto res = make_error_response(*refusal, 11, false);
            if (ec == beast_http::error::header_limit)
                res.result(beast_http::status::request_header_fields_too_large);
            deadline.after(write_timeout);
            co_await beast_http::async_write(socket, res, use_tuple);
            break;
        }
        if (ec)
            break; // timeout or the peer went away mid-request

        // Streaming routes take the connection over until the stream ends.
        if (ws::is_stream_route(parser.get())) {
            deadline.clear();
            auto authenticate = [this](const request& r) { return router_.authenticate(r); };
            co_await ws::serve_stream_route(stream, parser.release(), service_, full_config_,
                                            authenticate);
            break;
        }

        // Handle: sync invokes and long-polls may take long; they are bounded by the service.
        deadline.clear();
        auto route = route_label(parser.get().target());
        auto res = co_await router_.handle(parser.release());
        requests_.with({std::move(route), std::to_string(res.result_int())}).inc();
        if (stopping_)
            res.keep_alive(false);
        deadline.after(write_timeout);
        auto [wec, wn] = co_await beast_http::async_write(socket, res, use_tuple);
        self.busy = false;
        if (wec || !res.keep_alive())
            break;
        if (buffer.capacity() > core::limits::http_buffer_keep_bytes)
            buffer.shrink_to_fit(); // keeps only pipelined bytes already received
    }
}

void http_server::stop_accepting() {
    stopping_ = true;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    for (auto& s : sessions_->all())
        if (!s.busy)
            s.stream->cancel();
}

void http_server::close_all() {
    stopping_ = true;
    for (auto& s : sessions_->all())
        s.stream->cancel();
}

asio::awaitable<void> http_server::drain(std::chrono::milliseconds bound) {
    stop_accepting();
    const bool drained = co_await sessions_->wait_empty(ioc_.get_executor(), bound);
    if (drained)
        co_return;
    close_all();
    co_await sessions_->wait_empty(ioc_.get_executor(), bound);
}

} // namespace spear::transport::http
