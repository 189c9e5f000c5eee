// The protocol-neutral error enum (docs/api.md); each transport maps it to its status codes once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace spear::core {

enum class error_code : std::uint8_t {
    none = 0,               ///< no error
    invalid_request,        ///< malformed JSON/frame, missing or wrongly typed field
    unknown_execution_mode, ///< mode outside sync/async/stream
    use_stream_endpoint,    ///< stream mode sent to a request/response endpoint
    unauthorized,           ///< missing or wrong bearer token
    function_not_found,     ///< no such function configured
    execution_not_found,    ///< execution id never issued (by this boot)
    execution_evicted,      ///< id issued, but its slot was reused or its record expired
    conflict,               ///< e.g. cancel of an execution that already ended
    payload_too_large,      ///< body, message or frame over its limit
    too_many_requests,      ///< per-function queue or a connection/viewer limit is full
    status_table_full,      ///< no evictable slot in the ring status table
    function_failed,        ///< the function ran and failed (non-zero exit, signal, trap)
    timeout,                ///< the execution exceeded its timeout and was stopped
    internal,               ///< a bug or an unexpected OS error; detail goes to the log only
    unavailable,            ///< the appliance is shutting down
    route_not_found,        ///< no such endpoint
    method_not_allowed,     ///< the endpoint exists, not with this method
    forbidden,              ///< refused whoever asks: a Host or Origin the appliance does not serve
    unsupported_media_type, ///< a browser sent a JSON route a body that is not application/json
    interrupted, ///< the appliance restarted while the execution ran (durable results)
    node_lost,   ///< cluster: the node running it stopped heartbeating; it was not run again
};

/// snake_case wire name ("invalid_request").
std::string_view to_string(error_code code) noexcept;
/// Inverse of to_string; nullopt for unknown names.
std::optional<error_code> parse_error_code(std::string_view name) noexcept;
/// A generic client-safe message for the code, used when no specific one is given.
std::string_view default_message(error_code code) noexcept;

/// An error as it travels from core/service to a transport: code plus a client-safe message.
struct error {
    error_code code = error_code::none;
    std::string message;                 ///< shown to the client; never paths or internals
    std::int64_t retry_after_ms = 0;     ///< for too_many_requests/status_table_full: when to retry

    static error make(error_code c, std::string msg = {}) {
        return error{c, msg.empty() ? std::string(default_message(c)) : std::move(msg), 0};
    }
};

} // namespace spear::core
