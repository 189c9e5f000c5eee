// The service's metric families (Prometheus names, docs/operations.md "Metrics") and the
// recording points the driver calls; gauges are refilled from the service at scrape time.
#pragma once

#include "core/execution_types.hpp"
#include "core/metrics.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace spear::service {

struct service_metrics {
    service_metrics();

    /// An execution ended. `run_s` is its running time (nullopt if it never ran), `total_s`
    /// submission to end, `estimate_error_s` |estimated completion at submission - actual end|
    /// (nullopt when it did not run to its own end), `peak_memory_bytes` the runtime's
    /// measure of the instance's memory (nullopt when it has none).
    void on_end(const std::string& function, core::ExecutionMode mode,
                core::ExecutionStatus status, std::optional<double> run_s, double total_s,
                std::optional<double> estimate_error_s,
                std::optional<std::uint64_t> peak_memory_bytes);
    /// The runtime started a fresh instance (every execution does: a process, a wasm
    /// instance, a container), after `queue_wait_s` in the queue.
    void on_started(const std::string& function, double queue_wait_s);
    /// A submission or viewer refused with 429 or 503; `reason` from a fixed set.
    void on_refused(int http_code, const char* reason);

    /// Chunks dropped for slow viewers, added to by every viewer queue the service makes.
    std::shared_ptr<std::uint64_t> dropped_chunks = std::make_shared<std::uint64_t>(0);

    core::metric_registry registry;
    core::metric_family& executions_total;
    core::metric_family& execution_duration;
    core::metric_family& queue_wait;
    core::metric_family& estimate_error;
    core::metric_family& refusals;
    core::metric_family& running;
    core::metric_family& queued;
    core::metric_family& records;
    core::metric_family& capacity;
    core::metric_family& evictions;
    core::metric_family& started_total;
    core::metric_family& ready;
    core::metric_family& viewers;
    core::metric_family& dropped_chunks_total;
    core::metric_family& gateway_invocations;
    core::metric_family& gateway_seconds;
    core::metric_family& gateway_service_count;
    core::metric_family& faas_invocations;
    core::metric_family& faas_errors;
    core::metric_family& faas_timeouts;
    core::metric_family& faas_invoke_duration;
    core::metric_family& faas_coldstarts;
    core::metric_family& faas_mem_usage;
    core::metric_family& process_resident_memory;
    core::metric_family& process_open_fds;
    core::metric_family& process_max_fds;
    core::metric_family& process_start_time;
    core::metric_family& process_cpu;
};

} // namespace spear::service
