// The container runtime's entry in the registry (registered_runtimes.hpp). This version has
// no container runtime: container functions are accepted by the config and refused at invoke.
#pragma once

#include "runtime/container/container_function.hpp"

namespace spear::runtime {

struct runtime_kind;

struct container_kind {
    using settings = container_function;
    /// "container": image. Its runtime refuses every invocation (function_failed).
    static runtime_kind descriptor();
};

} // namespace spear::runtime
