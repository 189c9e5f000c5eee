// The wasm runtime's entry in the registry (registered_runtimes.hpp).
#pragma once

#include "runtime/wasm/wasm_function.hpp"

namespace spear::runtime {

struct runtime_kind;

struct wasm_kind {
    using settings = wasm_function;
    /// "wasm": module, entry, args, sha256, max_memory_pages, fuel, mapped_dirs; --check-config
    /// reads and validates the module.
    static runtime_kind descriptor();
};

} // namespace spear::runtime
