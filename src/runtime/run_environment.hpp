// The environment every runtime gives an execution: the same layers for a process and a
// container (docs/operations.md, "Functions").
#pragma once

#include "runtime/runtime.hpp"

#include <map>
#include <string>
#include <vector>

namespace spear::runtime {

/// "KEY=VALUE" entries, sorted by key: `base` (the process runtime's PATH), then
/// SPEAR_EXECUTION_ID and SPEAR_FUNCTION_NAME, then the function's env, then the request's
/// (already filtered by allow_request_env); a later layer overrides an earlier one. Nothing of
/// the appliance's own environment is passed on. Entries that execve cannot carry (an empty
/// key, '=' in a key, a NUL anywhere) are dropped.
std::vector<std::string> run_environment(const run_request& request,
                                         const std::map<std::string, std::string>& base = {});

} // namespace spear::runtime
