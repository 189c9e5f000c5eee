// JSON forms of the service's messages (docs/api.md), shared by the HTTP and WebSocket
// transports: InvokeFunctionRequest in; InvokeFunctionResponse, GetExecutionStatusResponse,
// CancelExecutionResponse, ListExecutionsResponse, StreamExecutionResult and errors out.
#pragma once

#include "core/error_code.hpp"
#include "core/execution_result.hpp"
#include "core/invoke_request.hpp"
#include "core/ring_status_table.hpp"
#include "service/execution_service.hpp"
#include "service/stream_events.hpp"

#include <boost/json/object.hpp>

#include <string>
#include <string_view>
#include <variant>

namespace spear::service {

/// Parses a JSON InvokeFunctionRequest. Errors name the field: invalid_request for malformed
/// JSON, unknown or wrongly typed fields, bad base64; unknown_execution_mode for a bad mode.
std::variant<core::InvokeFunctionRequest, core::error> parse_invoke_request(std::string_view text);

/// The encoders taking `sp` build their values there (default: the heap); the HTTP routes
/// pass a per-response arena.
/// ExecutionResult; `output` is omitted when `include_output` is false.
boost::json::object to_json(const core::ExecutionResult& result, bool include_output,
                            boost::json::storage_ptr sp = {});
/// The output payload: {content_type, data} for UTF-8, {content_type, data_base64} otherwise.
boost::json::object output_to_json(std::string_view content_type, std::string_view bytes,
                                   boost::json::storage_ptr sp = {});
/// InvokeFunctionResponse.
boost::json::object to_json(const core::RuntimeExecutionResponse& response,
                            boost::json::storage_ptr sp = {});
/// GetExecutionStatusResponse.
boost::json::object to_json(const status_view& status, bool include_output,
                            boost::json::storage_ptr sp = {});
/// CancelExecutionResponse (with an "error" member when it failed).
boost::json::object to_json(const cancel_view& cancel);
/// ListExecutionsResponse.
boost::json::object to_json(const core::list_page& page);
boost::json::object to_json(const function_view& function);
/// The health body as JSON text (with to_text's trailing newline), written directly.
std::string health_text(const health_view& health);
/// StreamExecutionResult text of an event (cached in the event: encoded once for all viewers).
/// status: {type, execution_id, seq, status, is_final:false}
/// chunk:  {type, execution_id, seq, chunk_data, encoding: "utf-8"|"base64", is_final:false}
/// final:  {type, execution_id, seq, is_final:true, status, exit_code|signal, error_code,
///          error_message, execution_time_ms, output_size, output_truncated, result}
const std::string& stream_event_text(const stream_event& event);
/// {type:"dropped", execution_id, dropped}: told to a slow viewer before its next event.
std::string dropped_notice_text(std::string_view execution_id, std::uint64_t dropped);
/// {type:"error", error:{code, message}}: a stream request that could not start.
std::string stream_error_text(const core::error& e);

/// {"error": {"code": ..., "message": ...}}.
boost::json::object error_body(const core::error& e);

/// serialize() plus a trailing newline (friendlier for curl).
std::string to_text(const boost::json::object& object);

} // namespace spear::service
