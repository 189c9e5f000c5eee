// Constructors of the response types (SPEAR's new_sync / new_async).
#include "core/execution_result.hpp"

namespace spear::core {

std::string_view to_string(estimate_source source) noexcept {
    switch (source) {
    case estimate_source::history: return "history";
    case estimate_source::configured: return "default";
    case estimate_source::fallback: return "default";
    }
    return "default";
}

RuntimeExecutionResponse RuntimeExecutionResponse::new_sync(std::string request_id,
                                                            ExecutionResult result, wall_time now) {
    RuntimeExecutionResponse r;
    r.request_id = std::move(request_id);
    r.execution_id = result.execution_id;
    r.execution_mode = result.mode;
    r.is_async = false;
    r.result = std::move(result);
    r.timestamp = now;
    return r;
}

RuntimeExecutionResponse RuntimeExecutionResponse::new_async(std::string request_id,
                                                             ExecutionResult result,
                                                             std::int64_t estimated_completion_ms,
                                                             estimate_source source, wall_time now) {
    RuntimeExecutionResponse r;
    r.request_id = std::move(request_id);
    r.execution_id = result.execution_id;
    r.execution_mode = ExecutionMode::async;
    r.is_async = true;
    r.status_endpoint = "/status/" + result.execution_id;
    r.estimated_completion_ms = estimated_completion_ms < 0 ? 0 : estimated_completion_ms;
    r.source = source;
    r.result = std::move(result);
    r.timestamp = now;
    return r;
}

bool RuntimeExecutionResponse::success() const noexcept {
    if (is_async)
        return result.error == error_code::none;
    return result.status == ExecutionStatus::completed;
}

} // namespace spear::core
