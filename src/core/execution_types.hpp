// Execution vocabulary shared by every layer: modes, statuses and their text forms (docs/api.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace spear::core {

/// How a caller wants the result delivered.
enum class ExecutionMode : std::uint8_t {
    sync = 1,   ///< the request waits for the whole result
    async = 2,  ///< 202 at once, the caller polls the status endpoint
    stream = 3, ///< output flows live over WebSocket or frames
};

/// Where an execution is in its life. Terminal: completed, failed, cancelled, timeout.
enum class ExecutionStatus : std::uint8_t {
    pending = 1,   ///< accepted and queued, not started
    running = 2,   ///< the runtime is executing it
    completed = 3, ///< ended successfully (exit code 0)
    failed = 4,    ///< ended with a non-zero exit, a signal, a trap or a spawn error
    cancelled = 5, ///< stopped by a cancel request, a disconnect or shutdown
    timeout = 6,   ///< killed after exceeding its timeout or instruction budget
};

inline constexpr ExecutionStatus all_statuses[] = {
    ExecutionStatus::pending,   ExecutionStatus::running,   ExecutionStatus::completed,
    ExecutionStatus::failed,    ExecutionStatus::cancelled, ExecutionStatus::timeout};
inline constexpr std::size_t status_count = 6;

/// Lowercase names: "sync", "async", "stream".
std::string_view to_string(ExecutionMode mode) noexcept;
/// Lowercase names: "pending", "running", ...
std::string_view to_string(ExecutionStatus status) noexcept;

/// Accepts "sync", "EXECUTION_MODE_SYNC" or "1" (case-sensitive names, as SPEAR writes them).
std::optional<ExecutionMode> parse_execution_mode(std::string_view text) noexcept;
/// Accepts the number form of SPEAR's enum (1 sync, 2 async, 3 stream).
std::optional<ExecutionMode> execution_mode_from_number(std::int64_t number) noexcept;
/// Accepts "completed", "EXECUTION_STATUS_COMPLETED" or its number (1..6).
std::optional<ExecutionStatus> parse_execution_status(std::string_view text) noexcept;

/// The text listing the valid modes, for unknown_execution_mode messages.
inline constexpr std::string_view valid_modes_text =
    "valid modes are sync, async, stream (or EXECUTION_MODE_SYNC/ASYNC/STREAM, or 1/2/3)";

constexpr bool is_terminal(ExecutionStatus status) noexcept {
    return status != ExecutionStatus::pending && status != ExecutionStatus::running;
}

} // namespace spear::core
