// Test fixture: how Boost.Test prints the core enums in failed assertions.
#pragma once

#include "core/error_code.hpp"
#include "core/execution_types.hpp"

#include <ostream>

namespace spear::core {
inline std::ostream& boost_test_print_type(std::ostream& os, ExecutionStatus s) {
    return os << to_string(s);
}
inline std::ostream& boost_test_print_type(std::ostream& os, error_code c) {
    return os << to_string(c);
}
} // namespace spear::core
