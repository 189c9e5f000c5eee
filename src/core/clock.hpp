// Time types used across core: steady time for durations and deadlines, wall time for reports.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace spear::core {

using steady_time = std::chrono::steady_clock::time_point;
using wall_time = std::chrono::system_clock::time_point;
using millis = std::chrono::milliseconds;

/// RFC 3339 UTC with milliseconds: "2026-11-29T02:44:45.123Z".
std::string format_rfc3339(wall_time t);

/// Whole milliseconds between two steady points, never negative.
inline std::int64_t elapsed_ms(steady_time from, steady_time to) noexcept {
    const auto d = std::chrono::duration_cast<millis>(to - from).count();
    return d < 0 ? 0 : d;
}

} // namespace spear::core
