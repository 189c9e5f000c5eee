// The one interface every runtime (process, wasm, container) implements: run one execution
// on the io_context, stream its output to a sink, honour timeout and cancellation.
#pragma once

#include "core/execution_result.hpp"
#include "runtime/async_event.hpp"
#include "runtime/function_spec.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace spear::runtime {

namespace asio = boost::asio;

/// Receives output as the execution produces it. Called on the io_context thread.
class output_sink {
public:
    virtual ~output_sink() = default;
    virtual void on_stdout(std::string_view bytes) = 0;
    virtual void on_stderr(std::string_view bytes) = 0;
    /// The instance's peak memory, once, when the runtime can measure it (wasm: linear
    /// memory, which only grows); feeds the faas_mem_usage_bytes histogram.
    virtual void on_peak_memory(std::uint64_t /*bytes*/) {}
};

/// One execution as a runtime sees it.
struct run_request {
    const function_spec* function = nullptr;         ///< outlives the run
    std::string execution_id;
    std::string input;                               ///< stdin / WASI stdin
    std::map<std::string, std::string> request_env;  ///< already filtered by allow_request_env
    std::chrono::milliseconds timeout{30'000};
    std::chrono::milliseconds kill_grace{2'000};     ///< SIGTERM -> SIGKILL
};

class runtime {
public:
    virtual ~runtime() = default;
    /// Called once, right after the runtime is made and before any prepare: the whole config
    /// (the container runtime reads its `container` section and sweeps leftovers). Throws only
    /// std::runtime_error, when the config demands what the host cannot give (the process
    /// runtime's process.cgroups "required"): the start fails with that reason.
    virtual void configure(const core::config& /*cfg*/) {}
    /// What GET /health says about this runtime beyond the counts (the container runtime: its
    /// engine's state); empty: nothing.
    virtual boost::json::object health() { return {}; }
    /// Called once per function of its kind when the service starts: a runtime may load what
    /// it needs now (the wasm runtime reads and validates modules). A problem is logged by the
    /// runtime, and the function's runs then fail with the reason; never throws.
    virtual void prepare(const function_spec& /*function*/) {}
    /// Why this runtime will not run `function` at all (nullopt: it will). Checked at
    /// admission, before a record exists: the caller gets function_failed with this message.
    virtual std::optional<std::string> refusal(const function_spec& /*function*/) const {
        return std::nullopt;
    }
    /// Runs to the end. Returns a terminal outcome: completed, failed (exit != 0, signal,
    /// trap, spawn error), timeout, or cancelled (when `cancel` fired). Never throws for
    /// function errors; nothing the function does may outlive the returned awaitable.
    virtual asio::awaitable<core::execution_outcome> run(run_request request, output_sink& sink,
                                                         cancel_signal& cancel) = 0;
};

} // namespace spear::runtime
