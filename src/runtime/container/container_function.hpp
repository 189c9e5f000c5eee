// A container function's own settings: its config fields beside the common ones.
#pragma once

#include <string>

namespace spear::runtime {

struct container_function {
    std::string image; ///< the image name
};

} // namespace spear::runtime
