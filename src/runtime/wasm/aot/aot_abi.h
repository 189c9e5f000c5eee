/* The contract between a compiled wasm module (.so made by `spearlet compile`) and the worker
 * that runs it. C, so the generated shim (aot_compiler.cpp writes it) and the worker (C++)
 * share it. No wasm2c/wasm-rt type appears here: those stay inside the .so. */
#ifndef SPEAR_AOT_ABI_H
#define SPEAR_AOT_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever this struct or the shim's behaviour changes; part of the cache key. */
#define SPEAR_AOT_ABI_VERSION 1u
/* The one symbol a compiled module exports. */
#define SPEAR_AOT_SYMBOL "spear_aot_module_v1"

/* Import `import_index` was called: params/results one 64-bit slot per value (i32 in the low
 * half); `memory` is the guest's linear memory as it is now (NULL/0 without one). */
typedef void (*spear_aot_host_fn)(void* ctx, uint32_t import_index, const uint64_t* params,
                                  uint64_t* results, uint8_t* memory, uint64_t memory_size);

struct spear_aot_import {
    const char* module;  /* always "wasi_snapshot_preview1" (checked when compiled) */
    const char* name;
    const char* params;  /* one char per value: 'i' i32, 'I' i64 */
    const char* results; /* "" or "i" */
};

struct spear_aot_export {
    const char* name;    /* the export's name; only () -> () and () -> i32 functions */
    int returns_i32;
};

struct spear_aot_module {
    uint32_t abi_version; /* SPEAR_AOT_ABI_VERSION */
    uint32_t import_count;
    const struct spear_aot_import* imports;
    uint32_t export_count;
    const struct spear_aot_export* exports;
    /* Creates the one instance of this process: 0, or a message in `error` (a trap while the
     * module's data segments are applied, a memory above max_pages). The memory's maximum
     * becomes min(its own, max_pages). */
    int (*instantiate)(spear_aot_host_fn host, void* ctx, uint32_t max_pages, char* error,
                       size_t error_size);
    /* Calls export `index`: 0 when it returned (`*result` = its i32, or 0), else a trap and
     * `*message` the interpreter's wording ("out of bounds memory access", ...). */
    int (*call)(uint32_t index, int32_t* result, const char** message);
    /* Pages of the memory now and its maximum (0, 0 without memory). */
    void (*memory_pages)(uint32_t* pages, uint32_t* max_pages);
};

#ifdef __cplusplus
}
#endif

#endif /* SPEAR_AOT_ABI_H */
