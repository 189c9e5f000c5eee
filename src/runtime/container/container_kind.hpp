// The container runtime's entry in the registry (registered_runtimes.hpp).
#pragma once

#include "runtime/container/container_function.hpp"

namespace spear::runtime {

struct runtime_kind;

struct container_kind {
    using settings = container_function;
    /// "container": image, command, working_dir, network, read_only, memory_bytes,
    /// milli_cpus, pids_limit; runs on container_runtime (the Docker Engine API).
    static runtime_kind descriptor();
};

} // namespace spear::runtime
