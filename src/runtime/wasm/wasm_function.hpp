// A wasm function's own settings: its config fields beside the common ones.
#pragma once

#include "core/limits.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace spear::runtime {

struct wasm_function {
    std::string module;                             ///< path of the .wasm file
    std::string entry;                              ///< empty: _start, then main
    std::vector<std::string> args;                  ///< argv[1..] for the guest
    std::string sha256;                             ///< optional, lowercase hex
    std::uint32_t max_memory_pages = core::limits::wasm_memory_pages; ///< 64 KiB pages
    std::uint64_t fuel = 0;                         ///< instruction budget, 0 = none
    std::map<std::string, std::string> mapped_dirs; ///< guest path -> host dir, read-only
    /// "interpreter" (wabt, sliced on the io_context), "aot" (compiled by wasm2c + cc, run in
    /// a worker process; a missing toolchain is a config error) or "auto" (aot when it can
    /// be compiled, else the interpreter with a log line).
    std::string tier = "interpreter";
};

} // namespace spear::runtime
