// The service's metric families and their recording points.
#include "service/service_metrics.hpp"

namespace spear::service {

namespace {

/// The HTTP status OpenFaaS's gateway would have counted for the invocation's end.
std::string gateway_code(core::ExecutionStatus status) {
    switch (status) {
    case core::ExecutionStatus::completed:
        return "200";
    case core::ExecutionStatus::timeout:
        return "504";
    case core::ExecutionStatus::cancelled:
        return "499"; // the caller (or shutdown) stopped it: nginx's "client closed request"
    default:
        return "500";
    }
}

} // namespace

service_metrics::service_metrics()
    : executions_total(registry.counter(
          "spearlet_executions_total", "Executions ended, by function, mode and final status.",
          {"function", "mode", "status"}))
    , execution_duration(registry.histogram(
          "spearlet_execution_duration_seconds",
          "Running time of executions that started (start to end), by function.", {"function"},
          core::duration_buckets_seconds()))
    , queue_wait(registry.histogram("spearlet_queue_wait_seconds",
                                    "Time from submission to start, by function.", {"function"},
                                    core::duration_buckets_seconds()))
    , estimate_error(registry.histogram(
          "spearlet_estimate_error_seconds",
          "Absolute error of estimated_completion_ms given at submission against the actual "
          "end, for executions that ran to their own end, by function.",
          {"function"}, core::duration_buckets_seconds()))
    , refusals(registry.counter("spearlet_refusals_total",
                                "Submissions and viewers refused with 429 or 503, by reason.",
                                {"code", "reason"}))
    , running(registry.gauge("spearlet_executions_running", "Executions running, by function.",
                             {"function"}))
    , queued(registry.gauge("spearlet_executions_queued",
                            "Executions queued (pending), by function.", {"function"}))
    , records(registry.gauge("spearlet_status_table_records",
                             "Records held in the status table, by status.", {"status"}))
    , capacity(registry.gauge("spearlet_status_table_capacity", "Slots of the status table."))
    , evictions(registry.counter("spearlet_status_table_evictions_total",
                                 "Records evicted from the status table to make room."))
    , started_total(registry.counter("spearlet_executions_started_total",
                                     "Executions handed to their runtime."))
    , ready(registry.gauge("spearlet_ready", "1 while serving, 0 while shutting down."))
    , viewers(registry.gauge("spearlet_stream_viewers",
                             "Viewers (WebSocket, SSE, frame links) attached to live executions."))
    , dropped_chunks_total(registry.counter("spearlet_stream_dropped_chunks_total",
                                            "Output chunks dropped for viewers too slow to "
                                            "take them (the viewer is told how many)."))
    , gateway_invocations(registry.counter(
          "gateway_function_invocation_total",
          "Invocations ended, by function and HTTP-like code (OpenFaaS gateway name).",
          {"function_name", "code"}))
    , gateway_seconds(registry.histogram(
          "gateway_functions_seconds",
          "Submission to end of invocations, by function and code (OpenFaaS gateway name).",
          {"function_name", "code"}, core::duration_buckets_seconds()))
    , gateway_service_count(registry.gauge(
          "gateway_service_count",
          "Replicas per function (OpenFaaS gateway name): 1 for each configured function.",
          {"function_name"}))
    , faas_invocations(registry.counter("faas_invocations_total",
                                        "Invocations ended (OpenTelemetry faas.invocations).",
                                        {"faas_name"}))
    , faas_errors(registry.counter("faas_errors_total",
                                   "Invocations that failed (OpenTelemetry faas.errors).",
                                   {"faas_name"}))
    , faas_timeouts(registry.counter("faas_timeouts_total",
                                     "Invocations that timed out (OpenTelemetry faas.timeouts).",
                                     {"faas_name"}))
    , faas_invoke_duration(registry.histogram(
          "faas_invoke_duration_seconds",
          "Running time of invocations (OpenTelemetry faas.invoke_duration).", {"faas_name"},
          core::duration_buckets_seconds()))
    , faas_coldstarts(registry.counter(
          "faas_coldstarts_total",
          "Invocations that started a fresh instance (OpenTelemetry faas.coldstarts): every "
          "execution does, since no runtime keeps warm instances.",
          {"faas_name"}))
    , faas_mem_usage(registry.histogram(
          "faas_mem_usage_bytes",
          "Peak memory of an invocation's instance where the runtime measures it (wasm: "
          "linear memory) (OpenTelemetry faas.mem_usage).",
          {"faas_name"}, core::memory_buckets_bytes()))
    , process_resident_memory(registry.gauge("process_resident_memory_bytes",
                                             "Resident memory size in bytes."))
    , process_open_fds(registry.gauge("process_open_fds", "Number of open file descriptors."))
    , process_max_fds(registry.gauge("process_max_fds",
                                     "Maximum number of open file descriptors."))
    , process_start_time(registry.gauge("process_start_time_seconds",
                                        "Start time of the process since the Unix epoch in "
                                        "seconds."))
    , process_cpu(registry.counter("process_cpu_seconds_total",
                                   "Total user and system CPU time spent in seconds.")) {}

void service_metrics::on_end(const std::string& function, core::ExecutionMode mode,
                             core::ExecutionStatus status, std::optional<double> run_s,
                             double total_s, std::optional<double> estimate_error_s,
                             std::optional<std::uint64_t> peak_memory_bytes) {
    executions_total
        .with({function, std::string(core::to_string(mode)), std::string(core::to_string(status))})
        .inc();
    const auto code = gateway_code(status);
    gateway_invocations.with({function, code}).inc();
    gateway_seconds.observe({function, code}, total_s);
    faas_invocations.with({function}).inc();
    if (status == core::ExecutionStatus::failed)
        faas_errors.with({function}).inc();
    if (status == core::ExecutionStatus::timeout)
        faas_timeouts.with({function}).inc();
    if (run_s) {
        execution_duration.observe({function}, *run_s);
        faas_invoke_duration.observe({function}, *run_s);
    }
    if (estimate_error_s)
        estimate_error.observe({function}, *estimate_error_s);
    if (peak_memory_bytes)
        faas_mem_usage.observe({function}, static_cast<double>(*peak_memory_bytes));
}

void service_metrics::on_started(const std::string& function, double queue_wait_s) {
    queue_wait.observe({function}, queue_wait_s);
    faas_coldstarts.with({function}).inc();
}

void service_metrics::on_refused(int http_code, const char* reason) {
    refusals.with({std::to_string(http_code), reason}).inc();
}

} // namespace spear::service
