// This process's resource figures from /proc/self (Linux), read at metrics scrape time.
#pragma once

#include <cstdint>
#include <optional>

namespace spear::platform {

struct process_stats {
    std::optional<std::uint64_t> resident_memory_bytes; ///< /proc/self/statm resident x page size
    std::optional<std::uint64_t> open_fds;              ///< entries of /proc/self/fd
    std::optional<std::uint64_t> max_fds;               ///< RLIMIT_NOFILE soft limit
    std::optional<double> start_time_seconds; ///< Unix time: /proc/stat btime + starttime ticks
    std::optional<double> cpu_seconds;        ///< user + system, from /proc/self/stat
};

/// Reads the figures; a figure the OS does not give (no /proc) stays nullopt. Small reads of
/// procfs only: fine on the io_context thread.
process_stats read_process_stats() noexcept;

} // namespace spear::platform
