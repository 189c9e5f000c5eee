// Process runtime: runs a function's configured argv as a child process group, input on stdin,
// stdout as output, a bounded stderr tail; timeout and cancel kill the whole group (and, with
// per-execution cgroups, everything the run started, escaped or not).
#pragma once

#include "runtime/process/escape_sweeper.hpp"
#include "runtime/process/execution_cgroups.hpp"
#include "runtime/runtime.hpp"

#include <optional>

namespace spear::runtime {

class process_runtime final : public runtime {
public:
    /// Without an executor (unit tests) configure() leaves cgroups off.
    process_runtime() = default;
    explicit process_runtime(asio::any_io_executor executor)
        : executor_(std::move(executor)) {}

    /// process.cgroups: throws std::runtime_error when "required" cannot be met.
    void configure(const core::config& cfg) override;
    /// {"cgroups": execution_cgroups::health()} once configured.
    boost::json::object health() override;
    asio::awaitable<core::execution_outcome> run(run_request request, output_sink& sink,
                                                 cancel_signal& cancel) override;

private:
    asio::any_io_executor executor_;
    std::optional<execution_cgroups> cgroups_; ///< set by configure
    std::optional<escape_sweeper> sweeper_;    ///< made on the first run, on its executor
};

} // namespace spear::runtime
