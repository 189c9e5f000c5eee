// Runs one execution of a compiled wasm module in a spear-wasm-worker process, awaited on the
// io_context like a process function: input to the worker's stdin, output frames from its
// stdout streamed to the sink as they come, timeout and cancel killing the worker.
#pragma once

#include "platform/child_process.hpp"
#include "runtime/runtime.hpp"
#include "runtime/wasm/aot/aot_protocol.hpp"

#include <string>

namespace spear::runtime::wasm::aot {

/// Starts a worker for `module_so` (vfork + exec, its own process group, nothing inherited
/// but the three pipes, an empty environment): it limits itself, loads the module and waits
/// for its request on stdin. The wasm runtime keeps one such spare per function, started ahead
/// of need, so a run does not wait for exec and dlopen.
platform::spawn_result spawn_worker(const std::string& worker, const std::string& module_so,
                                    std::uint32_t max_pages);

/// Runs `work` in `child` (from spawn_worker, for the same max_memory_pages). Outcomes as the
/// interpreter's (docs/wasm.md "Outcomes"): completed / failed with the exit code / failed
/// "wasm trap: ..." with the memory note / timeout / cancelled (the worker's group is killed
/// at once); a worker that dies without a last frame fails with how it died (SIGSYS: a
/// forbidden system call). The worker is reaped before this returns.
asio::awaitable<core::execution_outcome> run_in_worker(platform::child_process child,
                                                       worker_request work,
                                                       const run_request& request,
                                                       output_sink& sink, cancel_signal& cancel);

/// The memory note of failure messages, the interpreter's wording: empty unless the memory
/// is at least 3/4 full or `always`.
std::string memory_note(std::uint64_t pages, std::uint64_t limit, bool always);

} // namespace spear::runtime::wasm::aot
