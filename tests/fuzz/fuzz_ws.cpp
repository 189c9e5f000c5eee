// libFuzzer target: the WebSocket stream routes from frames. Each input is one connection: the
// harness completes a valid upgrade to GET /stream (or, for one input in four, to the viewer
// route GET /executions/{id}/stream of a live async execution), waits for the 101, then sends
// client frames built from the input (header bits, opcode, fragmentation, length encodings,
// payload; masked unless the input says otherwise) to the real http_server on a loopback
// port, in process, in front of the fake runtime (tests/support/fake_runtime.hpp); then
// half-closes (which the server takes as the client leaving).
// The first message of /stream is the InvokeFunctionRequest, later ones may be
// {"type":"cancel"}; pings, pongs, closes, binary and bad UTF-8 all reach the server.
// Invariants: the server answers 101 (or, for a viewer, a JSON HTTP error), then only well-
// formed server frames (unmasked, no RSV bits, known opcodes, control frames whole and short),
// every text message a JSON object with a string "type" (an "error" one with the error body),
// at most one close frame and nothing after it, its code one the server sends (1000, 1001,
// 1002, 1007, 1008, 1009, 1011, 1013) or the client's own echoed back, 1000 only after the
// final event; and the connection ends within a bound.
//
// Input: byte 0 picks the route (& 3 == 3: viewer); then frames, each
//   [b0: FIN, RSV1-3, opcode as on the wire]
//   [b1: bit 7 set = send unmasked; bits 0-6: a length 0-125, or 126 (next 2 bytes, 16-bit
//    encoding), or 127 (next 4 bytes, 64-bit encoding)]
//   [payload: the declared length, or what is left of the input]
#include "fuzz_support.hpp"
#include "support/fake_runtime.hpp"
#include "service/execution_service.hpp"
#include "service/json_codec.hpp"
#include "transport/http/http_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/parse.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using spear::fuzz::check;

// Small limits and short timeouts keep each input fast: a message over 1024 bytes is too big,
// a function times out after 50 ms (100 ms at most), a missing first message 200 ms.
constexpr std::string_view config_text = R"({
    "http": {"address": "127.0.0.1", "port": 0, "max_body_bytes": 4096,
             "max_header_bytes": 2048, "max_connections": 8, "header_timeout_ms": 200,
             "idle_timeout_ms": 200, "max_long_poll_ms": 20, "shutdown_grace_ms": 10},
    "stream": {"first_message_timeout_ms": 200, "write_timeout_ms": 200,
               "max_message_bytes": 1024},
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

/// The close code at the start of a close frame's payload (two bytes, big-endian).
unsigned close_code_of(std::string_view payload) {
    return (unsigned{static_cast<unsigned char>(payload[0])} << 8) |
           unsigned{static_cast<unsigned char>(payload[1])};
}

/// The client frames of an input, and the close codes it sends (the server may echo them).
struct client_frames {
    std::string bytes;
    std::set<unsigned> close_codes;
    bool empty_close = false; ///< a close frame without a code
};

client_frames build_frames(const std::uint8_t* data, std::size_t size) {
    client_frames out;
    std::size_t i = 0;
    auto next = [&]() -> std::uint8_t { return i < size ? data[i++] : 0; };
    static constexpr std::uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    while (i < size) {
        const std::uint8_t b0 = next();
        const std::uint8_t b1 = next();
        const bool masked = (b1 & 0x80) == 0;
        std::uint64_t length = b1 & 0x7f;
        std::string header;
        header += static_cast<char>(b0);
        header += static_cast<char>((masked ? 0x80 : 0) | (b1 & 0x7f));
        if (length == 126) {
            const std::uint8_t hi = next(), lo = next();
            length = (std::uint64_t{hi} << 8) | lo;
            header += static_cast<char>(hi);
            header += static_cast<char>(lo);
        } else if (length == 127) {
            length = 0;
            header.append(4, '\0');
            for (int k = 0; k < 4; ++k) {
                const std::uint8_t b = next();
                length = (length << 8) | b;
                header += static_cast<char>(b);
            }
        }
        const std::size_t available = std::min<std::uint64_t>(length, size - i);
        std::string payload(reinterpret_cast<const char*>(data + i), available);
        i += available;
        if ((b0 & 0x0f) == 0x8 && (b0 & 0x70) == 0) {
            if (payload.size() >= 2)
                out.close_codes.insert(close_code_of(payload));
            else
                out.empty_close = true;
        }
        if (masked) {
            header.append(reinterpret_cast<const char*>(key), 4);
            for (std::size_t k = 0; k < payload.size(); ++k)
                payload[k] = static_cast<char>(payload[k] ^ key[k % 4]);
        }
        out.bytes += header;
        out.bytes += payload;
    }
    return out;
}

/// Writes the upgrade, waits for the answer's header (a client must not send frames before
/// it, RFC 6455 4.1), writes the frames after a 101, half-closes, and collects all the server
/// sends.
asio::awaitable<void> run_client(tcp::endpoint endpoint, std::string upgrade, std::string frames,
                                 std::string& out, bool& clean_end, bool& done) {
    tcp::socket socket(co_await asio::this_coro::executor);
    co_await socket.async_connect(endpoint, asio::use_awaitable);
    co_await asio::async_write(socket, asio::buffer(upgrade), asio::as_tuple(asio::use_awaitable));
    char chunk[4096];
    bool header = true;
    for (;;) {
        if (header && out.find("\r\n\r\n") != std::string::npos) {
            header = false;
            if (out.starts_with("HTTP/1.1 101 "))
                co_await asio::async_write(socket, asio::buffer(frames),
                                           asio::as_tuple(asio::use_awaitable));
            boost::system::error_code ignored;
            socket.shutdown(tcp::socket::shutdown_send, ignored);
        }
        auto [ec, n] =
            co_await socket.async_read_some(asio::buffer(chunk), asio::as_tuple(asio::use_awaitable));
        out.append(chunk, n);
        if (ec) {
            clean_end = ec == asio::error::eof;
            break;
        }
    }
    done = true;
}

bool is_json_error_body(const boost::json::object& o) {
    const auto* error = o.if_contains("error");
    if (!error || !error->is_object())
        return false;
    const auto& e = error->as_object();
    return e.contains("code") && e.at("code").is_string() && e.contains("message") &&
           e.at("message").is_string() && !e.at("message").as_string().empty();
}

/// Checks the server's bytes: the handshake answer, then frames (see the top of the file).
/// `clean_end`: the server closed with a FIN (a reset may cut the last frame short).
void check_server_bytes(std::string_view bytes, bool viewer, const client_frames& sent,
                        bool clean_end) {
    const auto header_end = bytes.find("\r\n\r\n");
    if (header_end == std::string_view::npos) {
        check(bytes.empty() || !clean_end); // nothing, or cut by a reset
        return;
    }
    const auto head = bytes.substr(0, header_end + 4);
    bytes.remove_prefix(head.size());
    if (!head.starts_with("HTTP/1.1 101 ")) {
        // Only a viewer is refused before the upgrade (unknown or evicted id, viewer limit),
        // or any route at the connection limit (429: earlier inputs' connections still close).
        check(viewer || head.starts_with("HTTP/1.1 429 "));
        check(head.starts_with("HTTP/1.1 4") || head.starts_with("HTTP/1.1 5"));
        const auto brace = bytes.find('{');
        check(brace != std::string_view::npos);
        boost::system::error_code ec;
        const auto body = boost::json::parse(bytes.substr(brace), ec);
        check(!ec && body.is_object() && is_json_error_body(body.as_object()));
        return;
    }
    static const std::set<unsigned> server_codes{1000, 1001, 1002, 1007, 1008, 1009, 1011, 1013};
    std::string message;
    bool in_message = false;
    bool closed = false;
    bool final_seen = false;
    bool error_seen = false;
    std::size_t pos = 0;
    while (pos < bytes.size()) {
        check(!closed); // nothing after the close frame
        if (bytes.size() - pos < 2) {
            check(!clean_end);
            return;
        }
        const auto b0 = static_cast<unsigned char>(bytes[pos]);
        const auto b1 = static_cast<unsigned char>(bytes[pos + 1]);
        check((b1 & 0x80) == 0); // a server never masks
        check((b0 & 0x70) == 0); // no extension was negotiated
        const unsigned opcode = b0 & 0x0f;
        const bool fin = (b0 & 0x80) != 0;
        check(opcode <= 2 || (opcode >= 8 && opcode <= 10));
        std::uint64_t length = b1 & 0x7f;
        std::size_t header = 2;
        if (length >= 126) {
            const std::size_t extra = length == 126 ? 2 : 8;
            if (bytes.size() - pos < 2 + extra) {
                check(!clean_end);
                return;
            }
            length = 0;
            for (std::size_t k = 0; k < extra; ++k)
                length = (length << 8) | static_cast<unsigned char>(bytes[pos + 2 + k]);
            check(length >= (extra == 2 ? 126u : 65536u)); // the shortest encoding
            header += extra;
        }
        if (bytes.size() - pos - header < length) {
            check(!clean_end);
            return;
        }
        const auto payload = bytes.substr(pos + header, length);
        pos += header + length;
        if (opcode >= 8) {
            check(fin && length <= 125); // control frames are whole and short
            if (opcode == 8) {
                closed = true;
                if (payload.empty()) {
                    check(sent.empty_close); // only an echo of the client's own
                    continue;
                }
                check(payload.size() >= 2);
                const unsigned code = close_code_of(payload);
                check(server_codes.contains(code) || sent.close_codes.contains(code));
                if (code == 1000 && sent.close_codes.empty() && !sent.empty_close)
                    check(final_seen && !error_seen); // normal only after the final event
                if (error_seen && !sent.close_codes.contains(code))
                    check(code != 1000);
            }
            continue;
        }
        // Data frames: a message starts with text (the server only sends text) and continues.
        check(in_message ? opcode == 0 : opcode == 1);
        in_message = true;
        message.append(payload);
        check(message.size() <= (1u << 20));
        if (!fin)
            continue;
        in_message = false;
        boost::system::error_code ec;
        const auto value = boost::json::parse(message, ec);
        check(!ec && value.is_object());
        const auto& o = value.as_object();
        const auto* type = o.if_contains("type");
        check(type && type->is_string());
        if (type->as_string() == "error") {
            check(is_json_error_body(o));
            error_seen = true;
        }
        if (const auto* f = o.if_contains("is_final"); f && f->is_bool() && f->as_bool())
            final_seen = true;
        message.clear();
    }
    check(!in_message || !clean_end);
}

/// A live async execution for the viewer route: its id, or one that does not exist.
std::string live_execution_id(harness& h) {
    auto parsed = spear::service::parse_invoke_request(
        R"({"function_name":"up","input":"sleep:20","execution_mode":"async"})");
    auto* request = std::get_if<spear::core::InvokeFunctionRequest>(&parsed);
    check(request != nullptr);
    auto result = h.service.handle_async_execution(std::move(*request));
    if (auto* ok = std::get_if<spear::core::RuntimeExecutionResponse>(&result))
        return ok->execution_id;
    return "no-such-execution"; // queue full: the viewer is refused with a 404, also checked
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0)
        return 0;
    auto& h = the_harness();
    const bool viewer = (data[0] & 3) == 3;
    const std::string target =
        viewer ? "/executions/" + live_execution_id(h) + "/stream" : std::string("/stream");
    const auto frames = build_frames(data + 1, size - 1);
    std::string upgrade = "GET " + target +
                          " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\n\r\n";
    std::string out;
    bool clean_end = false;
    bool done = false;
    asio::co_spawn(h.io,
                   run_client(h.endpoint, std::move(upgrade), frames.bytes, out, clean_end, done),
                   asio::detached);
    // The server ends every connection within its timeouts (first message 200 ms, functions
    // 100 ms at most, write 200 ms): 5 s is a hang.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done) {
        check(std::chrono::steady_clock::now() < deadline);
        h.io.run_one_for(std::chrono::milliseconds(50));
    }
    check_server_bytes(out, viewer, frames, clean_end);
    h.log->runs.clear(); // the fake's log would grow with every input
    h.log->cancels.clear();
    return 0;
}
