// Text forms of execution modes and statuses.
#include "core/execution_types.hpp"

#include <charconv>

namespace spear::core {
namespace {

std::optional<std::int64_t> parse_number(std::string_view text) noexcept {
    std::int64_t value = 0;
    const auto* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc{} || ptr != end || text.empty())
        return std::nullopt;
    return value;
}

// True for `name` itself or for `prefix` + NAME in upper case (SPEAR's enum spelling).
bool matches_name(std::string_view text, std::string_view prefix, std::string_view name) noexcept {
    if (text == name)
        return true;
    if (text.size() != prefix.size() + name.size() || !text.starts_with(prefix))
        return false;
    for (std::size_t i = 0; i < name.size(); ++i)
        if (text[prefix.size() + i] != static_cast<char>(name[i] - ('a' - 'A')))
            return false;
    return true;
}

} // namespace

std::string_view to_string(ExecutionMode mode) noexcept {
    switch (mode) {
    case ExecutionMode::sync: return "sync";
    case ExecutionMode::async: return "async";
    case ExecutionMode::stream: return "stream";
    }
    return "unknown";
}

std::string_view to_string(ExecutionStatus status) noexcept {
    switch (status) {
    case ExecutionStatus::pending: return "pending";
    case ExecutionStatus::running: return "running";
    case ExecutionStatus::completed: return "completed";
    case ExecutionStatus::failed: return "failed";
    case ExecutionStatus::cancelled: return "cancelled";
    case ExecutionStatus::timeout: return "timeout";
    }
    return "unknown";
}

std::optional<ExecutionMode> execution_mode_from_number(std::int64_t number) noexcept {
    if (number >= 1 && number <= 3)
        return static_cast<ExecutionMode>(number);
    return std::nullopt;
}

std::optional<ExecutionMode> parse_execution_mode(std::string_view text) noexcept {
    for (auto mode : {ExecutionMode::sync, ExecutionMode::async, ExecutionMode::stream})
        if (matches_name(text, "EXECUTION_MODE_", to_string(mode)))
            return mode;
    if (auto number = parse_number(text))
        return execution_mode_from_number(*number);
    return std::nullopt;
}

std::optional<ExecutionStatus> parse_execution_status(std::string_view text) noexcept {
    for (auto status : all_statuses)
        if (matches_name(text, "EXECUTION_STATUS_", to_string(status)))
            return status;
    if (auto number = parse_number(text); number && *number >= 1 && *number <= 6)
        return static_cast<ExecutionStatus>(*number);
    return std::nullopt;
}

} // namespace spear::core
