// Test helpers for config errors: find the reason given for a field path, build one-function
// configs. Shared by the core config tests and the runtime registry tests.
#pragma once

#include "core/config.hpp"

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace spear::test {

/// The reason given for `path`, or "" when no error names that path.
inline std::string reason_at(const std::vector<core::config_error>& errors,
                             std::string_view path) {
    for (const auto& e : errors)
        if (e.path == path)
            return e.reason;
    return {};
}

/// True when an error names `path` with a reason containing `reason_part`.
inline bool has_error(const std::vector<core::config_error>& errors, std::string_view path,
                      std::string_view reason_part = {}) {
    return std::any_of(errors.begin(), errors.end(), [&](const core::config_error& e) {
        return e.path == path && e.reason.find(reason_part) != std::string::npos;
    });
}

/// A config with one function named "f" whose body is `fields` (JSON members, no braces).
inline std::string with_function(const std::string& fields) {
    return R"({"functions": [{"name": "f", )" + fields + "}]}";
}

} // namespace spear::test
