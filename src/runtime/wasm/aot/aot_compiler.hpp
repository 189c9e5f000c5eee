// The AOT tier's compiler: a WebAssembly module to a shared object through Debian's wasm2c and
// the system C compiler, plus the cache of compiled modules (keyed by the module's sha256,
// the appliance version and the worker ABI). Blocking: called at start, by --check-config and
// by `spearlet compile`, never while the io_context serves.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace spear::runtime::wasm::aot {

/// The programs and files a compile needs.
struct toolchain {
    std::string wasm2c;      ///< the wasm2c program
    std::string cc;          ///< the C compiler
    std::string runtime_dir; ///< holds wasm-rt-impl.c and wasm-rt-impl.h
};

/// Finds wasm2c and cc on PATH (and SPEAR_WASM2C / SPEAR_CC when set) and wabt's runtime
/// sources. nullopt and `why_not` (what is missing, what to install) otherwise.
std::optional<toolchain> find_toolchain(std::string& why_not);

/// The C shim that makes wasm2c's output a module of aot_abi.h, from the header wasm2c wrote
/// (module name "guest"). Empty and `error` set when the header has something the shim
/// cannot bind (an import that is not a WASI i32/i64 function). Exposed for tests.
std::string generate_shim(std::string_view header, std::string& error);

/// Compiles the module at `wasm_path` into `out_path` (written to a temporary file beside it,
/// then renamed: a reader never sees half a file). nullopt, or what went wrong (the tool's
/// own message included, trimmed).
std::optional<std::string> compile_module(const toolchain& tools, const std::string& wasm_path,
                                          const std::string& out_path);

/// Where compiled modules are kept: `data_dir`/wasm-aot when the config sets node.data_dir,
/// else $CACHE_DIRECTORY/wasm-aot (systemd's CacheDirectory=), else
/// $XDG_CACHE_HOME/spear-edge/wasm-aot, else /tmp/spear-edge-aot-<uid>. `version` is the
/// appliance's, part of every cache key. Call once at start (and by --check-config).
void configure_cache(const std::string& data_dir, const std::string& version);
/// The cache directory, created (mode 0700) if needed; nullopt and `error` when it cannot be
/// created or is not a directory owned by this user (a /tmp path someone else made).
std::optional<std::string> cache_dir(std::string& error);
/// The cache file of a module whose bytes hash to `sha256_hex`.
std::string cache_file(const std::string& dir, std::string_view sha256_hex);

/// The worker program that runs compiled modules: spear-wasm-worker in
/// <dir of spearlet>/../libexec/spear-edge/ (the build tree and the package keep it at the same
/// place), or SPEAR_WASM_WORKER when set. Empty when it is not there.
std::string worker_path();

} // namespace spear::runtime::wasm::aot
