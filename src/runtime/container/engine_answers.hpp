// The JSON bodies of the engine's answers read into plain values, sans-io (so the fuzz target
// tests/fuzz/fuzz_engine.cpp feeds them arbitrary bytes): create, inspect and version.
#pragma once

#include "runtime/container/engine_http.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace spear::runtime::container {

/// The new container's id: a 201 whose body is an object with a string "Id"; else nullopt.
std::optional<std::string> created_id(const engine_response& r);

/// What an inspect (GET /containers/{id}/json) says of the container's state.
struct container_state {
    bool running = false;
    std::int64_t exit_code = -1; ///< State.ExitCode, -1 when absent or not an integer
    bool oom_killed = false;
};

/// The state of a 200 whose body is an object with a "State" object; else nullopt (the caller
/// reports engine_client::error_text). A "Running" that is not `true` counts as not running.
std::optional<container_state> inspected_state(const engine_response& r);

/// "Name Version" of a /version body (Docker and Podman name their first component), the
/// version alone, or empty.
std::string engine_version(const engine_response& r);

} // namespace spear::runtime::container
