// The worst-case memory a config can make the appliance hold, by part (docs/operations.md
// "Memory"), and the check that refuses a config whose fixed allocation cannot be made.
#pragma once

#include "core/config.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace spear::core {

/// Bytes per part; each is an upper bound the config's limits enforce, not a typical figure.
struct memory_estimate {
    /// Allocated at start and held for life: slots x (max_output_bytes + stderr_tail_bytes).
    std::uint64_t status_table = 0;
    /// limits.queued_input_bytes: inputs of executions waiting to start.
    std::uint64_t queued_input = 0;
    /// global_concurrency x the largest input: inputs of running executions.
    std::uint64_t running_input = 0;
    /// max_connections x (max_header_bytes + 2 x max_body_bytes + 4 KiB): a read buffer
    /// holding a whole request plus the parsed body, per HTTP connection.
    std::uint64_t http_connections = 0;
    /// max_connections x viewer_queue_messages x the chunk bound: every connection a viewer
    /// whose queue is full.
    std::uint64_t viewer_queues = 0;
    /// global_concurrency x replay_chunks x the chunk bound: replay buffers of running ones.
    std::uint64_t replay = 0;
    /// (TCP links + serial ports) x (max_outstanding + 4) x 2 x max_frame_bytes.
    std::uint64_t frame_links = 0;

    /// Disk, not memory: the durable results files under node.data_dir (0 without one):
    /// header + (slots + 1) x slot bytes, reserved at start, never growing; plus the small
    /// runtime-history file. Their pages are shared file cache, not counted in worst_case().
    std::uint64_t durable_files = 0;

    /// What the appliance allocates before serving anything.
    std::uint64_t fixed() const noexcept { return status_table; }
    /// The sum of every part: the most the limits let traffic make the appliance hold.
    std::uint64_t worst_case() const noexcept;
};

/// Pure: computes every part from the config (saturating, never overflows).
memory_estimate estimate_memory(const config& cfg);

/// Refuses a config whose fixed allocation exceeds `available` bytes (the machine's physical
/// memory, platform::physical_memory_bytes): the error names the fields to lower. nullopt when
/// it fits.
std::optional<config_error> check_fixed_memory(const config& cfg, std::uint64_t available);

/// "512 KiB", "212 MiB", "16384 GiB": rounded up, in the largest unit that keeps an integer
/// readable (KiB below 1 MiB, MiB below 10 GiB, GiB above).
std::string format_bytes(std::uint64_t bytes);

} // namespace spear::core
