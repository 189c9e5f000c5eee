// Worst-case memory of a config: one sum per part, saturating arithmetic, no I/O.
#include "core/memory_estimate.hpp"

#include "core/durable_format.hpp"

#include <algorithm>
#include <limits>

namespace spear::core {
namespace {

constexpr std::uint64_t saturated = std::numeric_limits<std::uint64_t>::max();

std::uint64_t mul(std::uint64_t a, std::uint64_t b) {
    if (a != 0 && b > saturated / a)
        return saturated;
    return a * b;
}

std::uint64_t add(std::uint64_t a, std::uint64_t b) {
    return b > saturated - a ? saturated : a + b;
}

/// The first read of an HTTP connection (http_server.cpp).
constexpr std::uint64_t http_first_read = 4096;

} // namespace

std::uint64_t memory_estimate::worst_case() const noexcept {
    std::uint64_t sum = 0;
    for (const auto part : {status_table, queued_input, running_input, http_connections,
                            viewer_queues, replay, frame_links})
        sum = add(sum, part);
    return sum;
}

memory_estimate estimate_memory(const config& cfg) {
    memory_estimate m;
    const auto& table = cfg.status_table;
    m.status_table = mul(table.slots, add(table.max_output_bytes, table.stderr_tail_bytes));
    if (!cfg.node.data_dir.empty()) {
        const auto slot = durable::results_slot_bytes(table.max_output_bytes,
                                                      table.stderr_tail_bytes, table.max_input_bytes);
        m.durable_files =
            add(durable::file_bytes(table.slots + 1, slot),
                durable::file_bytes(std::max<std::size_t>(cfg.functions.size(), 1),
                                    durable::history_slot_bytes(cfg.history.window)));
    }
    m.queued_input = cfg.limits.queued_input_bytes;
    const std::uint64_t largest_input =
        std::max(cfg.http.max_body_bytes, cfg.stream.max_message_bytes);
    m.running_input = mul(cfg.limits.global_concurrency, largest_input);
    if (cfg.http.enabled) {
        const auto per_connection =
            add(add(cfg.http.max_header_bytes, mul(2, cfg.http.max_body_bytes)), http_first_read);
        m.http_connections = mul(cfg.http.max_connections, per_connection);
        m.viewer_queues = mul(cfg.http.max_connections,
                              mul(cfg.stream.viewer_queue_messages, limits::stream_chunk_bytes));
    }
    m.replay = mul(cfg.limits.global_concurrency,
                   mul(cfg.stream.replay_chunks, limits::stream_chunk_bytes));
    const std::uint64_t links =
        (cfg.frame.tcp_enabled ? limits::frame_tcp_links : 0) + cfg.frame.serial.size();
    m.frame_links = mul(links, mul(add(cfg.frame.max_outstanding, limits::frame_queue_headroom),
                                   mul(2, cfg.frame.max_frame_bytes)));
    return m;
}

std::optional<config_error> check_fixed_memory(const config& cfg, std::uint64_t available) {
    const auto fixed = estimate_memory(cfg).fixed();
    if (fixed <= available)
        return std::nullopt;
    const auto& table = cfg.status_table;
    return config_error{
        "status_table",
        "slots x (max_output_bytes + stderr_tail_bytes) = " + std::to_string(table.slots) + " x (" +
            std::to_string(table.max_output_bytes) + " + " +
            std::to_string(table.stderr_tail_bytes) + ") = " + format_bytes(fixed) +
            ", allocated at start, exceeds this machine's memory (" + format_bytes(available) +
            "): lower status_table.slots or status_table.max_output_bytes"};
}

std::string format_bytes(std::uint64_t bytes) {
    constexpr std::uint64_t kib = 1024;
    constexpr std::uint64_t mib = kib * 1024;
    constexpr std::uint64_t gib = mib * 1024;
    auto up = [bytes](std::uint64_t unit) {
        return bytes / unit + (bytes % unit != 0 ? 1 : 0);
    };
    if (bytes < mib)
        return std::to_string(up(kib)) + " KiB";
    if (bytes < 10 * gib)
        return std::to_string(up(mib)) + " MiB";
    return std::to_string(up(gib)) + " GiB";
}

} // namespace spear::core
