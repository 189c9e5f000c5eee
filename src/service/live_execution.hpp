// What the service keeps about an execution that has not ended (private to src/service):
// its state machine and what the driver needs to perform the machine's actions.
#pragma once

#include "service/execution_service.hpp"

namespace spear::service {

/// Everything the service keeps about an execution while it is pending or running. Its state
/// is `fsm` alone; the other members are what the driver needs to perform the actions.
struct execution_service::live_execution {
    live_execution(const asio::any_io_executor& ex, std::string id, const core::config& cfg,
                   core::admit_result admitted, core::steady_time now)
        : fsm(admitted, now)
        , cancel(ex)
        , done(ex)
        , stream(std::move(id), cfg.stream.replay_chunks, core::limits::stream_chunk_bytes) {}

    core::execution_fsm fsm;
    core::record_ref ref;
    std::uint32_t function = 0;
    core::InvokeFunctionRequest request;  ///< input and environment, moved into the run
    /// Bytes of `request.input` counted in the service's queued-input total until the input
    /// moves into the runtime or the execution ends without running (then 0).
    std::size_t held_input_bytes = 0;
    std::int64_t initial_estimate_ms = 0; ///< for the 202 response
    core::estimate_source source = core::estimate_source::fallback;
    std::optional<std::uint64_t> peak_memory_bytes; ///< from the runtime, when it measures it
    runtime::cancel_signal cancel;              ///< fired by the `kill` action
    runtime::async_event done;                  ///< set by `wake_waiters` (the record is final)
    std::optional<core::ExecutionResult> final; ///< the record as it ended
    stream_broadcaster stream;                  ///< live output for stream callers and viewers
};

} // namespace spear::service
