// The process runtime's entry in the registry (registered_runtimes.hpp).
#pragma once

#include "runtime/process/process_function.hpp"

namespace spear::runtime {

struct runtime_kind;

struct process_kind {
    using settings = process_function;
    /// "process": command, working_dir, stdout, rlimits.
    static runtime_kind descriptor();
};

} // namespace spear::runtime
