// The outcome types of an execution: ExecutionResult (a record as clients see it) and
// RuntimeExecutionResponse (what invoke_function answers, built by new_sync/new_async).
#pragma once

#include "core/clock.hpp"
#include "core/error_code.hpp"
#include "core/execution_types.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace spear::core {

/// How a runtime ended an execution; the table turns it into a terminal record.
struct execution_outcome {
    ExecutionStatus status = ExecutionStatus::failed; ///< must be terminal
    error_code error = error_code::none;               ///< none when completed
    std::string error_message;                         ///< client-safe, cut to a limit
    std::optional<int> exit_code;                      ///< process/container exit code, wasm proc_exit
    std::optional<int> signal;                         ///< process killed by this signal
};

/// One execution record as reported to clients (a snapshot: it does not change afterwards).
struct ExecutionResult {
    std::string execution_id;
    std::string client_execution_id; ///< context.execution_id supplied by the caller, if any
    std::string function_name;
    ExecutionMode mode = ExecutionMode::sync;
    ExecutionStatus status = ExecutionStatus::pending;
    std::string content_type;        ///< of the output
    std::string output;              ///< capped at the table's max_output_bytes (empty if omitted)
    std::uint64_t output_size = 0;   ///< true size of everything the function wrote
    bool output_truncated = false;   ///< output_size > what is kept
    std::string logs;                ///< bounded tail of stderr
    error_code error = error_code::none;
    std::string error_message;
    std::optional<int> exit_code;
    std::optional<int> signal;
    wall_time queued_at{};
    std::optional<wall_time> started_at;
    std::optional<wall_time> completed_at;
    std::int64_t queue_ms = 0;           ///< pending time (so far, while pending)
    std::int64_t execution_time_ms = 0;  ///< running time (so far, while running)
    std::uint64_t seq = 0;               ///< submission order within this boot
    std::string client;                  ///< the submitting client's name ("" for the default)
    int priority = 0;                    ///< the priority it was scheduled with (0..9)
    std::string node; ///< in a cluster: the node that ran it (or holds it while queued); else ""
};

/// Where an estimate came from (docs/architecture.md).
enum class estimate_source : std::uint8_t {
    history, ///< median of the function's recent runs
    configured, ///< the function's `expected_ms` (no history yet)
    fallback,   ///< the global default (no history, no expected_ms)
};
std::string_view to_string(estimate_source source) noexcept;

/// What invoke_function answers for any mode; transports encode it (InvokeFunctionResponse).
struct RuntimeExecutionResponse {
    std::string request_id;          ///< client's id if it gave one, else the execution id
    std::string execution_id;
    ExecutionMode execution_mode = ExecutionMode::sync;
    bool is_async = false;
    ExecutionResult result;          ///< sync: the whole result; async: the pending record
    std::string status_endpoint;     ///< async: "/status/{id}"; sync: empty
    std::int64_t estimated_completion_ms = 0; ///< async: from history; sync: 0
    estimate_source source = estimate_source::fallback;
    std::map<std::string, std::string> metadata; ///< free-form annotations (e.g. "replayed")
    wall_time timestamp{};           ///< when the response was built

    /// A finished sync execution: the whole result, no status endpoint, estimate 0.
    static RuntimeExecutionResponse new_sync(std::string request_id, ExecutionResult result,
                                             wall_time now);
    /// An accepted async execution: pending result, status endpoint and an estimate.
    static RuntimeExecutionResponse new_async(std::string request_id, ExecutionResult result,
                                              std::int64_t estimated_completion_ms,
                                              estimate_source source, wall_time now);

    /// True when the result is completed (sync) or accepted (async).
    bool success() const noexcept;
};

} // namespace spear::core
