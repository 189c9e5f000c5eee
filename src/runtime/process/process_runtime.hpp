// Process runtime: runs a function's configured argv as a child process group, input on stdin,
// stdout as output, a bounded stderr tail; timeout and cancel kill the whole group.
#pragma once

#include "runtime/process/escape_sweeper.hpp"
#include "runtime/runtime.hpp"

#include <optional>

namespace spear::runtime {

class process_runtime final : public runtime {
public:
    asio::awaitable<core::execution_outcome> run(run_request request, output_sink& sink,
                                                 cancel_signal& cancel) override;

private:
    std::optional<escape_sweeper> sweeper_; ///< made on the first run, on its executor
};

} // namespace spear::runtime
