// A container function's own settings: its config fields beside the common ones.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace spear::runtime {

struct container_function {
    std::string image;                ///< a local image; never pulled at invoke
    std::vector<std::string> command; ///< Cmd; empty = the image's own
    std::string working_dir;          ///< empty = the image's
    std::string network = "none";     ///< NetworkMode: "none" unless the function opts in
    bool read_only = true;            ///< ReadonlyRootfs
    std::uint64_t memory_bytes = 0;   ///< 0 = container.memory_bytes
    std::uint64_t milli_cpus = 0;     ///< 0 = container.milli_cpus (1000 = one CPU)
    std::uint64_t pids_limit = 0;     ///< 0 = container.pids_limit
};

} // namespace spear::runtime
