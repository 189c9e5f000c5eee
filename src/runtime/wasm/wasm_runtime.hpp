// The wasm runtime: runs a function's WebAssembly module (WASI preview1 command) in wabt's
// interpreter on the io_context thread, in bounded slices of instructions, yielding between
// slices so every other client keeps being served; input on stdin, output streamed from stdout.
#pragma once

#include "core/limits.hpp"
#include "platform/child_process.hpp"
#include "runtime/runtime.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace spear::runtime {

struct wasm_runtime_options {
    // Defaults and reasons in core/limits.hpp; tests shrink them to reach the edges.
    /// Instructions a guest runs before the io_context gets the thread back.
    std::uint64_t slice_instructions = core::limits::wasm_slice_instructions;
    /// A slice also ends once it has run this long (checked every sub-slice).
    std::chrono::microseconds slice_time = core::limits::wasm_slice_time;
    /// Instructions between two clock reads within a slice.
    std::uint64_t sub_slice_instructions = core::limits::wasm_sub_slice_instructions;
    /// The slice time and sub-slice while other work is ready: a round trip through the
    /// io_context longer than contention_gap marks it ready for contention_window.
    std::chrono::microseconds slice_time_contended = core::limits::wasm_slice_time_contended;
    std::uint64_t sub_slice_instructions_contended =
        core::limits::wasm_sub_slice_instructions_contended;
    std::chrono::microseconds contention_gap = core::limits::wasm_contention_gap;
    std::chrono::milliseconds contention_window = core::limits::wasm_contention_window;
    /// Largest module file read.
    std::size_t max_module_bytes = core::limits::wasm_module_bytes;
};

/// The file a function's `module` names. A leading "$ORIGIN/" stands for the directory of the
/// running spearlet binary (as in an ELF rpath), so a config can name modules installed next
/// to it: "$ORIGIN/../share/spear-edge/functions/wasm/echo.wasm". Other relative paths are
/// relative to the working directory.
std::string resolve_module_path(std::string_view configured);

/// Checks a wasm function the way its first run would: the module file is readable, matches
/// its sha256, decodes and validates, imports only WASI preview1 functions, has an entry and
/// starts within max_memory_pages. nullopt when it is fine, else one line naming the file and
/// the reason (for --check-config and the startup log; it holds a host path).
std::optional<std::string> validate_wasm_function(const function_spec& function,
                                                  const wasm_runtime_options& options = {});

/// Where compiled modules are cached: node.data_dir/wasm-aot, else $CACHE_DIRECTORY/wasm-aot,
/// else $XDG_CACHE_HOME/spear-edge/wasm-aot, else /tmp/spear-edge-aot-<uid>; `version` (the appliance's) is part of the key.
void configure_wasm_aot_cache(const std::string& data_dir, const std::string& version);

/// `spearlet compile`: validates the module as a function's first run would (default limits),
/// then compiles it to `out_so`. nullopt, or why not.
std::optional<std::string> compile_wasm_module(const std::string& wasm_path,
                                               const std::string& out_so);

/// A compiled module ready for the AOT tier.
struct aot_choice {
    std::string module_so; ///< in the cache
    std::string worker;    ///< spear-wasm-worker
};

/// Settles the tier of a function whose module validates: nullopt for the interpreter (its
/// tier, or "auto" when AOT is not possible or fuel is set), else the compiled module, compiled
/// now into the cache unless it is there already (blocking: for start and --check-config
/// only). `problem` says why AOT is not possible (for "aot" an error, for "auto" the reason of
/// the fallback); `note` what happened (a cache hit, a compile and its time). Records the
/// result for tier_in_use().
std::optional<aot_choice> resolve_aot_tier(const function_spec& function, std::string& problem,
                                           std::string& note);
/// "interpreter" or "aot" once the function's tier is settled, else empty (GET /functions).
std::string tier_in_use(const function_spec& function);

class wasm_runtime final : public runtime {
public:
    explicit wasm_runtime(wasm_runtime_options options = {});
    ~wasm_runtime() override;

    /// Outcomes: completed (entry returned, or proc_exit(0)); failed (proc_exit or an i32
    /// result != 0 with that exit code, a trap with its message, a module that does not load);
    /// timeout (the deadline passed, or the fuel budget ran out); cancelled. Each run gets a
    /// fresh instance: nothing from one run is visible to the next.
    asio::awaitable<core::execution_outcome> run(run_request request, output_sink& sink,
                                                 cancel_signal& cancel) override;

    /// Loads and caches the function's module now (it is otherwise loaded on first run):
    /// nullopt, or the error as validate_wasm_function words it. A loaded module is kept until
    /// exit. A failed load is remembered with the file's identity (device, inode, size, mtime,
    /// ctime, or why it cannot be stat'ed): until the file changes, runs fail with the same
    /// error after one stat, without reading or hashing the file again on the io_context;
    /// a fixed file is picked up by the next run.
    std::optional<std::string> preload(const function_spec& function);
    /// preload(), logging a problem as an error naming the function.
    void prepare(const function_spec& function) override;
    std::size_t cached_modules() const noexcept { return cache_.size(); }
    /// Module files read so far (loads attempted past the caches), for tests and diagnostics.
    std::size_t module_reads() const noexcept { return module_reads_; }

    struct loaded_module;
    struct failed_module;

private:
    std::shared_ptr<const loaded_module> cached(const function_spec& function, std::string& error);

    wasm_runtime_options options_;
    std::unordered_map<const function_spec*, std::shared_ptr<const loaded_module>> cache_;
    std::unordered_map<const function_spec*, std::shared_ptr<const failed_module>> failed_;
    /// Functions settled on the AOT tier at prepare(), and those whose "aot" tier failed there.
    std::unordered_map<const function_spec*, aot_choice> aot_;
    std::unordered_map<const function_spec*, std::string> aot_failed_;
    /// One worker per AOT function started ahead of need, its module loaded and instantiated,
    /// waiting for a request: a run takes it, and starts the next once it ends (killed and
    /// reaped with the runtime).
    std::unordered_map<const function_spec*, platform::child_process> spares_;
    /// Expires with the runtime: a posted refill_spare finds it gone and does nothing.
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    /// The worker for a run of `function`: its spare if alive, else a new one.
    platform::spawn_result take_worker(const function_spec& function, const aot_choice& choice);
    /// Starts the function's spare worker unless it has one.
    void refill_spare(const function_spec& function, const aot_choice& choice);
    std::size_t module_reads_ = 0;
};

} // namespace spear::runtime
