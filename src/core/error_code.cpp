// Names and default messages of the protocol-neutral error codes.
#include "core/error_code.hpp"

namespace spear::core {
namespace {

struct error_info {
    error_code code;
    std::string_view name;
    std::string_view message;
};

constexpr error_info infos[] = {
    {error_code::none, "none", "no error"},
    {error_code::invalid_request, "invalid_request", "the request is malformed"},
    {error_code::unknown_execution_mode, "unknown_execution_mode",
     "unknown execution mode; valid modes are sync, async, stream"},
    {error_code::use_stream_endpoint, "use_stream_endpoint",
     "stream mode is served over WebSocket at /stream"},
    {error_code::unauthorized, "unauthorized", "a valid bearer token is required"},
    {error_code::function_not_found, "function_not_found", "no such function"},
    {error_code::execution_not_found, "execution_not_found", "no execution with this id was issued"},
    {error_code::execution_evicted, "execution_evicted",
     "this execution's record was evicted or expired"},
    {error_code::conflict, "conflict", "the request conflicts with the execution's state"},
    {error_code::payload_too_large, "payload_too_large", "the payload is over the limit"},
    {error_code::too_many_requests, "too_many_requests", "too many requests; retry later"},
    {error_code::status_table_full, "status_table_full",
     "the status table has no free slot; retry later"},
    {error_code::function_failed, "function_failed", "the function failed"},
    {error_code::timeout, "timeout", "the execution exceeded its timeout"},
    {error_code::internal, "internal", "internal error"},
    {error_code::unavailable, "unavailable", "the appliance is shutting down"},
    {error_code::route_not_found, "route_not_found", "no such endpoint"},
    {error_code::method_not_allowed, "method_not_allowed", "method not allowed on this endpoint"},
    {error_code::forbidden, "forbidden", "the request is not allowed from where it came"},
    {error_code::unsupported_media_type, "unsupported_media_type",
     "the body must be sent as Content-Type: application/json"},
    {error_code::interrupted, "interrupted",
     "the appliance restarted while the execution was running; it was not run again"},
    {error_code::node_lost, "node_lost",
     "the cluster node running the execution stopped answering; it was not run again"},
};

} // namespace

std::string_view to_string(error_code code) noexcept {
    for (const auto& info : infos)
        if (info.code == code)
            return info.name;
    return "internal";
}

std::optional<error_code> parse_error_code(std::string_view name) noexcept {
    for (const auto& info : infos)
        if (info.name == name)
            return info.code;
    return std::nullopt;
}

std::string_view default_message(error_code code) noexcept {
    for (const auto& info : infos)
        if (info.code == code)
            return info.message;
    return "internal error";
}

} // namespace spear::core
