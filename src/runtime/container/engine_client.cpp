// The engine client (engine_client.hpp): connect, write one request, feed the answer to the
// sans-io reader (engine_http), each step raced against its timer on the caller's executor.
#include "runtime/container/engine_client.hpp"

#include "core/limits.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/system/system_error.hpp>

#include <sys/un.h>

#include <array>

namespace spear::runtime::container {
namespace {

using namespace asio::experimental::awaitable_operators;
using local_socket = asio::local::stream_protocol::socket;

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

std::string ms_text(std::chrono::milliseconds d) {
    return std::to_string(d.count()) + " ms";
}

/// Writes the request and reads until the reader has a whole answer (or its header only).
asio::awaitable<void> exchange(local_socket& socket, const std::string& request,
                               response_reader& reader, const std::string& uri) {
    auto [wec, written] =
        co_await asio::async_write(socket, asio::buffer(request), tuple_awaitable);
    if (wec)
        throw engine_error(engine_error::kind::protocol,
                           "the container engine at " + uri +
                               " broke the connection: " + wec.message());
    std::array<char, core::limits::container_read_bytes> buffer;
    while (reader.current() == response_reader::state::needs_more) {
        auto [ec, n] = co_await socket.async_read_some(asio::buffer(buffer), tuple_awaitable);
        if (n > 0)
            reader.feed(std::string_view(buffer.data(), n));
        else if (ec == asio::error::eof)
            reader.feed_eof();
        else if (ec)
            throw engine_error(engine_error::kind::protocol,
                               "the container engine at " + uri +
                                   " broke the connection: " + ec.message());
    }
    if (reader.current() == response_reader::state::error)
        throw engine_error(engine_error::kind::protocol, reader.error());
}

} // namespace

std::optional<std::string> engine_socket_path(std::string_view uri) {
    constexpr std::string_view scheme = "unix://";
    if (!uri.starts_with(scheme))
        return std::nullopt;
    std::string path(uri.substr(scheme.size()));
    if (path.size() < 2 || path.front() != '/' || path.size() >= sizeof(sockaddr_un{}.sun_path) ||
        path.find('\0') != std::string::npos)
        return std::nullopt;
    return path;
}

engine_options options_for(const core::container_config& c) {
    engine_options o;
    o.uri = c.engine;
    o.socket_path = engine_socket_path(c.engine).value_or(std::string());
    o.connect_timeout = std::chrono::milliseconds(c.connect_timeout_ms);
    o.request_timeout = std::chrono::milliseconds(c.request_timeout_ms);
    return o;
}

engine_client::engine_client(asio::any_io_executor executor, engine_options options)
    : executor_(std::move(executor))
    , options_(std::move(options)) {}

asio::awaitable<local_socket> engine_client::connect() const {
    local_socket socket(executor_);
    asio::steady_timer timer(executor_, options_.connect_timeout);
    const asio::local::stream_protocol::endpoint endpoint(options_.socket_path);
    auto first = co_await (socket.async_connect(endpoint, tuple_awaitable) ||
                           timer.async_wait(tuple_awaitable));
    if (first.index() == 1)
        throw engine_error(engine_error::kind::unreachable,
                           "container engine not reachable at " + options_.uri +
                               ": no connection within " + ms_text(options_.connect_timeout));
    if (auto [ec] = std::get<0>(first); ec)
        throw engine_error(engine_error::kind::unreachable, "container engine not reachable at " +
                                                                options_.uri + ": " + ec.message());
    co_return socket;
}

asio::awaitable<engine_response>
engine_client::request(std::string_view method, std::string_view target, std::string body,
                       std::optional<std::chrono::milliseconds> timeout) const {
    auto socket = co_await connect();
    const std::string full_target = std::string(api_prefix) + std::string(target);
    const std::string bytes = format_request(method, full_target, body);
    response_reader reader(core::limits::container_response_bytes);
    const auto bound = timeout.value_or(options_.request_timeout);
    asio::steady_timer timer(executor_, bound);
    auto first = co_await (exchange(socket, bytes, reader, options_.uri) ||
                           timer.async_wait(tuple_awaitable));
    if (first.index() == 1)
        throw engine_error(engine_error::kind::timeout,
                           "the container engine at " + options_.uri + " did not answer " +
                               std::string(method) + " " + std::string(target) + " within " +
                               ms_text(bound));
    co_return reader.response();
}

asio::awaitable<attach_connection> engine_client::attach(std::string_view container_id) const {
    auto socket = co_await connect();
    const std::string target = std::string(api_prefix) + "/containers/" +
                               std::string(container_id) +
                               "/attach?stream=1&stdin=1&stdout=1&stderr=1";
    const std::string bytes = format_request("POST", target, {}, true);
    response_reader reader(core::limits::container_response_bytes, true);
    asio::steady_timer timer(executor_, options_.request_timeout);
    auto first = co_await (exchange(socket, bytes, reader, options_.uri) ||
                           timer.async_wait(tuple_awaitable));
    if (first.index() == 1)
        throw engine_error(engine_error::kind::timeout, "the container engine at " + options_.uri +
                                                            " did not answer an attach within " +
                                                            ms_text(options_.request_timeout));
    const unsigned status = reader.response().status;
    if (status != 101 && status != 200)
        throw engine_error(engine_error::kind::protocol,
                           "the container engine refused to attach (HTTP " +
                               std::to_string(status) + ")");
    co_return attach_connection{std::move(socket), reader.take_leftover()};
}

std::string engine_client::error_text(const engine_response& response) {
    boost::system::error_code ec;
    const auto v = boost::json::parse(response.body, ec);
    std::string text;
    if (!ec && v.is_object())
        if (const auto* m = v.get_object().if_contains("message"); m && m->is_string())
            text = std::string(m->get_string());
    if (text.empty())
        text = response.body;
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
        text.pop_back();
    if (text.size() > 300)
        text = text.substr(0, 300) + "...";
    return text.empty() ? "HTTP " + std::to_string(response.status) : text;
}

} // namespace spear::runtime::container
