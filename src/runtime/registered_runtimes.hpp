// The runtimes this build registers: the one list from which both the typed settings of a
// function (function_settings) and the built-in registry's table are derived. Adding a
// runtime: its folder (settings struct, kind, runtime) and one entry here.
#pragma once

#include "runtime/container/container_kind.hpp"
#include "runtime/process/process_kind.hpp"
#include "runtime/wasm/wasm_kind.hpp"

#include <variant>

namespace spear::runtime {

/// A list of kinds; each has `settings` (its typed config part) and `descriptor()`.
template <class... Kinds> struct runtime_list {
    /// std::monostate: a kind with no fields of its own (none of the built-in ones; the unit
    /// tests' fake kind is one).
    using settings = std::variant<std::monostate, typename Kinds::settings...>;
};

/// The registration line. The first kind is the default of a function with no "runtime".
using registered_runtimes = runtime_list<process_kind, wasm_kind, container_kind>;

} // namespace spear::runtime
