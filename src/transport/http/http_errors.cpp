// HTTP mapping of the error enum.
#include "transport/http/http_errors.hpp"

#include "core/runtime_history.hpp"
#include "service/json_codec.hpp"

namespace spear::transport::http {

using core::error_code;
using beast_http::status;

status status_for(error_code code) noexcept {
    switch (code) {
    case error_code::none: return status::ok;
    case error_code::invalid_request: return status::bad_request;
    case error_code::unknown_execution_mode: return status::bad_request;
    case error_code::use_stream_endpoint: return status::bad_request;
    case error_code::unauthorized: return status::unauthorized;
    case error_code::function_not_found: return status::not_found;
    case error_code::execution_not_found: return status::not_found;
    case error_code::execution_evicted: return status::gone;
    case error_code::conflict: return status::conflict;
    case error_code::payload_too_large: return status::payload_too_large;
    case error_code::too_many_requests: return status::too_many_requests;
    case error_code::status_table_full: return status::service_unavailable;
    case error_code::function_failed: return status::internal_server_error;
    case error_code::timeout: return status::gateway_timeout;
    case error_code::internal: return status::internal_server_error;
    case error_code::unavailable: return status::service_unavailable;
    case error_code::route_not_found: return status::not_found;
    case error_code::method_not_allowed: return status::method_not_allowed;
    case error_code::forbidden: return status::forbidden;
    case error_code::unsupported_media_type: return status::unsupported_media_type;
    case error_code::interrupted: return status::internal_server_error;
    case error_code::node_lost: return status::internal_server_error;
    }
    return status::internal_server_error;
}

response make_error_response(const core::error& e, unsigned version, bool keep_alive) {
    response res{status_for(e.code), version};
    res.set(beast_http::field::content_type, "application/json");
    if (e.code == error_code::unauthorized)
        res.set(beast_http::field::www_authenticate, "Bearer realm=\"spearlet\"");
    if (e.retry_after_ms > 0 || e.code == error_code::too_many_requests ||
        e.code == error_code::status_table_full || e.code == error_code::unavailable)
        res.set(beast_http::field::retry_after,
                std::to_string(core::retry_after_seconds(e.retry_after_ms)));
    res.keep_alive(keep_alive);
    res.body() = service::to_text(service::error_body(e));
    res.prepare_payload();
    return res;
}

} // namespace spear::transport::http
