// The WebAssembly engine seam: validated modules and fresh instances run in bounded slices of
// instructions. wabt's interpreter is behind it (wabt_engine.cpp); no wabt header is included
// here. This header is also compiled as C++17 (by that adapter), so it uses no C++20 feature.
#pragma once

#include "core/limits.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spear::runtime::wasm {

/// A wasm value type as host functions see it.
enum class value_type : std::uint8_t {
    i32,   ///< 32-bit integer (also a pointer into linear memory)
    i64,   ///< 64-bit integer
    f32,   ///< IEEE single, passed as its bit pattern
    f64,   ///< IEEE double, passed as its bit pattern
    other, ///< v128 or a reference: no host function here takes or returns one
};

/// A function type.
struct signature {
    std::vector<value_type> params;
    std::vector<value_type> results;
};
bool operator==(const signature& a, const signature& b) noexcept;
/// "(i32, i64) -> i32", for messages.
std::string to_string(const signature& s);

/// What a module imports.
enum class import_kind : std::uint8_t {
    function, ///< provided by the host (WASI)
    table,    ///< never provided
    memory,   ///< never provided: modules must define their own memory
    global,   ///< never provided
    tag,      ///< never provided
};

struct import_info {
    std::string module;
    std::string name;
    import_kind kind = import_kind::function;
    signature type; ///< functions only
};

/// Limits applied when a module is loaded: they become part of its memory and table types,
/// so a guest's `memory.grow` past them fails the way the wasm spec says (it returns -1).
struct load_limits {
    std::uint32_t max_memory_pages = core::limits::wasm_memory_pages; ///< 64 KiB pages
    /// Function-table entries (8 bytes each).
    std::uint32_t max_table_elements = core::limits::wasm_table_elements;
};

/// A decoded and validated module, limits applied; immutable, shared by every instance.
class module_image {
public:
    struct impl;

    /// Decodes and validates a binary module. On failure returns null and sets `error` to the
    /// engine's message (no file name in it).
    static std::shared_ptr<const module_image> load(const std::uint8_t* data, std::size_t size,
                                                    const load_limits& limits, std::string& error);

    explicit module_image(std::unique_ptr<impl> p);
    ~module_image();
    module_image(const module_image&) = delete;
    module_image& operator=(const module_image&) = delete;

    const std::vector<import_info>& imports() const noexcept;
    /// The type of the exported function `name`, or nullopt (absent, or not a function).
    std::optional<signature> exported_function(std::string_view name) const;
    /// Pages of the module's own memory at start (0 when it defines none) and their maximum
    /// after the load limits.
    std::uint64_t initial_memory_pages() const noexcept;
    std::uint64_t max_memory_pages() const noexcept;
    bool has_start_function() const noexcept;

    const impl& get() const noexcept { return *impl_; }

private:
    std::unique_ptr<impl> impl_;
};

/// The guest's linear memory during a host call. Valid for that call only: a later
/// `memory.grow` may move it.
struct memory_view {
    std::uint8_t* data = nullptr;
    std::uint64_t size = 0;
};

/// What a host function asks the engine to do when it returns.
enum class host_action : std::uint8_t {
    proceed, ///< results are set; the guest goes on within the same slice
    yield,   ///< results are set; the slice ends now and the guest resumes after the call
    trap,    ///< the execution ends with `trap_message` (proc_exit ends this way)
};

struct host_result {
    host_action action = host_action::proceed;
    std::string trap_message;
    /// Instructions this call counts as (its work: bytes touched, files opened). It is added
    /// to the slice's count, so it uses up the slice budget and the fuel like guest code; a
    /// call whose cost uses up what is left of the budget ends the slice right after it.
    std::uint64_t cost = 0;
};

/// The host side of a module's function imports, called on the thread that runs the slice.
class host_functions {
public:
    virtual ~host_functions() = default;
    /// Import number `import_index` (its position in module_image::imports()) was called.
    /// `params` and `results` hold one 64-bit slot per value (i32 in the low half, floats as
    /// bits), sized by the import's signature.
    virtual host_result call(std::size_t import_index, const std::uint64_t* params,
                             std::uint64_t* results, memory_view memory) = 0;
};

/// How a slice ended.
enum class slice_state : std::uint8_t {
    running,  ///< the instruction budget of the slice is used up: run again to go on
    yielded,  ///< a host function asked to wait: run again when the wait is over
    finished, ///< every queued call returned
    trapped,  ///< a trap, or a host function's trap (proc_exit), ended the execution
};

struct slice_result {
    slice_state state = slice_state::running;
    /// Instructions executed, counted in chunks of `instance::chunk_instructions`: a chunk cut
    /// short by a yield, a trap or a return counts whole (so this never under-counts); plus
    /// the cost of every host call made (host_result::cost).
    std::uint64_t instructions = 0;
    std::string trap_message;           ///< trapped only
    std::optional<std::int32_t> result; ///< finished: the last call's i32 result, if any
};

/// One execution's instance: its own store, memory, globals and tables, all freed with it.
class instance {
public:
    struct impl;
    /// Granularity of instruction counting (see slice_result::instructions).
    static constexpr std::uint64_t chunk_instructions = core::limits::wasm_instruction_chunk;

    /// Instantiates `module`; import i calls `host.call(i, ...)`. `host` must outlive the
    /// instance. The module's start function is not run here: it is queued as the first call,
    /// so it runs in slices like everything else. On failure returns null and sets `error`.
    static std::unique_ptr<instance> create(std::shared_ptr<const module_image> module,
                                            host_functions& host, std::string& error);

    explicit instance(std::unique_ptr<impl> p);
    ~instance();
    instance(const instance&) = delete;
    instance& operator=(const instance&) = delete;

    /// Queues a call of the exported function `name`, which must take no parameters and return
    /// nothing or one i32. False (and `error`) if it cannot be called.
    bool queue_call(std::string_view name, std::string& error);
    /// Runs queued calls for at most `max_instructions` (at least one chunk), host call costs
    /// included: a host call whose cost reaches the budget ends the slice as `running` right
    /// after it returns. After `trapped` or `finished` nothing more runs.
    slice_result run(std::uint64_t max_instructions);
    /// Current size of the instance's memory in 64 KiB pages (0 without memory).
    std::uint64_t memory_pages() const noexcept;

private:
    std::unique_ptr<impl> impl_;
};

} // namespace spear::runtime::wasm
