// Runs one execution of a compiled wasm module in a spear-wasm-worker process, awaited on the
// io_context like a process function: input to the worker's stdin, output frames from its
// stdout streamed to the sink as they come, timeout and cancel killing the worker.
#pragma once

#include "runtime/runtime.hpp"
#include "runtime/wasm/aot/aot_protocol.hpp"

#include <string>

namespace spear::runtime::wasm::aot {

/// Outcomes as the interpreter's (docs/wasm.md "Outcomes"): completed / failed with the exit
/// code / failed "wasm trap: ..." with the memory note / timeout / cancelled; a worker that
/// dies without a last frame fails with how it died (SIGSYS: a forbidden system call).
asio::awaitable<core::execution_outcome> run_in_worker(std::string worker, std::string module_so,
                                                       worker_request work,
                                                       const run_request& request,
                                                       output_sink& sink, cancel_signal& cancel);

/// The memory note of failure messages, the interpreter's wording: empty unless the memory
/// is at least 3/4 full or `always`.
std::string memory_note(std::uint64_t pages, std::uint64_t limit, bool always);

} // namespace spear::runtime::wasm::aot
