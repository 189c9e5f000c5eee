// A configured function as the runtimes see it: the common config and its runtime's typed part.
#pragma once

#include "core/config.hpp"
#include "runtime/registered_runtimes.hpp"

namespace spear::runtime {

struct runtime_kind;

/// One alternative per registered runtime (see registered_runtimes.hpp).
using function_settings = registered_runtimes::settings;

struct function_spec {
    core::function_config common;
    const runtime_kind* kind = nullptr; ///< in the registry that resolved it (outlives this)
    function_settings settings;
};

} // namespace spear::runtime
