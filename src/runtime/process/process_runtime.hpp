// Process runtime: runs a function's configured argv as a child process group, input on stdin,
// stdout as output, a bounded stderr tail; timeout and cancel kill the whole group.
#pragma once

#include "runtime/runtime.hpp"

namespace spear::runtime {

class process_runtime final : public runtime {
public:
    asio::awaitable<core::execution_outcome> run(run_request request, output_sink& sink,
                                                 cancel_signal& cancel) override;
};

} // namespace spear::runtime
