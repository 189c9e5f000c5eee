// libFuzzer target: the HTTP layer from bytes. Each input is one connection's byte stream
// (pipelined requests, chunked bodies, Expect, oversize headers, upgrades...) written to the
// real http_server on a loopback port, in process, in front of a real execution service whose
// functions run on the fake runtime (tests/support/fake_runtime.hpp). The client half-closes
// after the input; the server must answer with well-formed HTTP/1.1 responses only, every
// error as the JSON error body, and end the connection within a bound.
#include "fuzz_support.hpp"
#include "support/fake_runtime.hpp"
#include "service/execution_service.hpp"
#include "transport/http/http_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/parse.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using spear::fuzz::check;

// Small limits and short timeouts keep each input fast: a function times out after 50 ms, a
// long-poll waits at most 20 ms, a stalled header or WebSocket first message 200 ms.
constexpr std::string_view config_text = R"({
    "http": {"address": "127.0.0.1", "port": 0, "max_body_bytes": 4096,
             "max_header_bytes": 2048, "max_connections": 8, "header_timeout_ms": 200,
             "idle_timeout_ms": 200, "max_long_poll_ms": 20, "shutdown_grace_ms": 10},
    "stream": {"first_message_timeout_ms": 200, "write_timeout_ms": 200},
    "status_table": {"slots": 64, "max_output_bytes": 1024},
    "limits": {"global_concurrency": 4, "default_timeout_ms": 50, "max_timeout_ms": 100},
    "functions": [
        {"name": "up", "runtime": "fake", "content_type": "text/plain", "queue_depth": 4},
        {"name": "refused-x", "runtime": "fake"}
    ]
})";

struct harness {
    asio::io_context io{1};
    std::shared_ptr<spear::test::fake_log> log = std::make_shared<spear::test::fake_log>();
    spear::runtime::registry registry{{spear::test::fake_kind(log)}};
    spear::core::config cfg = [this] {
        auto parsed = spear::runtime::parse_config(config_text, registry);
        check(parsed.value.has_value());
        return *parsed.value;
    }();
    spear::service::execution_service service{io.get_executor(), cfg, registry};
    spear::transport::http::http_server server{io, service, cfg};
    tcp::endpoint endpoint;

    harness() {
        server.listen();
        endpoint = server.local_endpoint();
        asio::co_spawn(io, server.run_accept_loop(), asio::detached);
    }
};

harness& the_harness() {
    static harness h; // one server for the whole run, as in production
    return h;
}

/// Writes `input`, half-closes, and collects everything the server sends until it closes.
asio::awaitable<void> run_client(tcp::endpoint endpoint, std::string input, std::string& out,
                                 bool& done) {
    tcp::socket socket(co_await asio::this_coro::executor);
    co_await socket.async_connect(endpoint, asio::use_awaitable);
    co_await asio::async_write(socket, asio::buffer(input), asio::as_tuple(asio::use_awaitable));
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    char chunk[4096];
    for (;;) {
        auto [ec, n] =
            co_await socket.async_read_some(asio::buffer(chunk), asio::as_tuple(asio::use_awaitable));
        out.append(chunk, n);
        if (ec)
            break;
    }
    done = true;
}

/// Every response in `bytes` parses as HTTP/1.1; error responses carry the JSON error body.
void check_responses(std::string_view bytes) {
    beast::flat_buffer buffer;
    buffer.commit(asio::buffer_copy(buffer.prepare(bytes.size()), asio::buffer(bytes)));
    while (buffer.size() > 0) {
        http::response_parser<http::string_body> parser;
        parser.body_limit(1 << 20);
        parser.eager(true);
        boost::system::error_code ec;
        // Feed what we have; the server's output is complete (it closed the connection).
        while (!ec && !parser.is_done()) {
            const auto used = parser.put(buffer.data(), ec);
            buffer.consume(used);
            if (ec == http::error::need_more) {
                ec = {};
                if (buffer.size() == 0) {
                    parser.put_eof(ec);
                    break;
                }
            }
        }
        // A 101 switches to WebSocket framing: the rest is not HTTP.
        if (!ec && parser.get().result() == http::status::switching_protocols)
            return;
        check(!ec);
        const auto& res = parser.get();
        check(res.version() == 11 || res.version() == 10); // 1.0 answers a 1.0 request
        const unsigned status = res.result_int();
        check(status >= 100 && status <= 599);
        if (status >= 400 && res[http::field::content_type].starts_with("application/json")) {
            boost::system::error_code jec;
            const auto body = boost::json::parse(res.body(), jec);
            check(!jec && body.is_object());
            const auto* error = body.as_object().if_contains("error");
            check(error && error->is_object());
            const auto& e = error->as_object();
            check(e.contains("code") && e.at("code").is_string());
            check(e.contains("message") && e.at("message").is_string() &&
                  !e.at("message").as_string().empty());
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto& h = the_harness();
    std::string out;
    bool done = false;
    asio::co_spawn(h.io,
                   run_client(h.endpoint, std::string(reinterpret_cast<const char*>(data), size),
                              out, done),
                   asio::detached);
    // The server closes every connection within its timeouts (header/idle 200 ms, functions
    // 100 ms at most, long-polls 20 ms): 5 s is a hang.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done) {
        check(std::chrono::steady_clock::now() < deadline);
        h.io.run_one_for(std::chrono::milliseconds(50));
    }
    check_responses(out);
    h.log->runs.clear(); // the fake's log would grow with every input
    h.log->cancels.clear();
    return 0;
}
