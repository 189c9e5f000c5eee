// A process function's own settings: its config fields beside the common ones.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace spear::runtime {

/// OS resource limits applied to a process function's child (0 = inherit).
struct rlimit_config {
    std::uint64_t cpu_seconds = 0;
    std::uint64_t address_space_bytes = 0;
    std::uint64_t open_files = 0;
    std::uint64_t processes = 0;
};

struct process_function {
    std::vector<std::string> command; ///< argv; argv[0] is a path or a PATH name
    std::string working_dir;          ///< empty = the appliance's
    std::string stdout_mode = "pipe"; ///< "pipe" or "pty"
    rlimit_config rlimits;
};

} // namespace spear::runtime
