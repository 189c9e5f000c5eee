// A client of the Docker Engine API (v1.41, as Docker and Podman serve it) over a unix socket on
// the caller's io_context: one connection per request, every step bounded by a timeout, no
// thread and no CLI. Attach hands back the hijacked connection for the raw stream.
#pragma once

#include "core/config.hpp"
#include "runtime/container/engine_http.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace spear::runtime::container {

namespace asio = boost::asio;

/// The socket path of "unix:///PATH", or nullopt for anything else (and for a path too long
/// for a sockaddr_un).
std::optional<std::string> engine_socket_path(std::string_view uri);

/// Every path of the API is prefixed with this version (both engines serve it).
inline constexpr std::string_view api_prefix = "/v1.41";

/// Why an engine request did not produce a response.
class engine_error : public std::runtime_error {
public:
    enum class kind {
        unreachable, ///< connect failed or timed out: no engine listens there
        timeout,     ///< connected, but no whole answer within the request timeout
        protocol,    ///< the answer was not HTTP we understand, or the connection broke
    };
    engine_error(kind k, const std::string& message)
        : std::runtime_error(message)
        , kind_(k) {}
    kind which() const noexcept { return kind_; }

private:
    kind kind_;
};

struct engine_options {
    std::string uri;         ///< "unix:///run/docker.sock", for messages
    std::string socket_path; ///< engine_socket_path(uri)
    std::chrono::milliseconds connect_timeout{2'000};
    std::chrono::milliseconds request_timeout{30'000};
};

/// The options of the `container` section's engine.
engine_options options_for(const core::container_config& c);

/// A hijacked attach connection: the raw multiplexed stream, and what already arrived of it.
struct attach_connection {
    asio::local::stream_protocol::socket socket;
    std::string leftover;
};

class engine_client {
public:
    engine_client(asio::any_io_executor executor, engine_options options);

    const engine_options& options() const noexcept { return options_; }

    /// One request (`target` under api_prefix, e.g. "/containers/create"); the response for
    /// any HTTP status. Throws engine_error. `timeout` overrides the request timeout (a wait
    /// for a container's exit is bounded by the caller instead).
    asio::awaitable<engine_response>
    request(std::string_view method, std::string_view target, std::string body = {},
            std::optional<std::chrono::milliseconds> timeout = std::nullopt) const;

    /// POST /containers/{id}/attach with stdin, stdout and stderr, upgraded to a raw stream
    /// (101, or 200 from engines that hijack without upgrading). Throws engine_error, also for
    /// an answer other than those (with its message).
    asio::awaitable<attach_connection> attach(std::string_view container_id) const;

    /// The message of an error response's body ({"message": ...}), else the body, cut short.
    static std::string error_text(const engine_response& response);

private:
    asio::awaitable<asio::local::stream_protocol::socket> connect() const;

    asio::any_io_executor executor_;
    engine_options options_;
};

} // namespace spear::runtime::container
