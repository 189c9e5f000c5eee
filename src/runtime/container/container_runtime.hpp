// Container runtime: runs each execution of a container function in its own container through
// the Docker Engine API (engine_client): create, attach, start, input on stdin, stdout streamed
// live, a stderr tail, wait, inspect, remove; timeout and cancel kill and remove it first.
#pragma once

#include "runtime/runtime.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <memory>

namespace spear::runtime {

class container_runtime final : public runtime {
public:
    explicit container_runtime(const asio::any_io_executor& executor);
    ~container_runtime() override;

    /// Reads the `container` section, looks at the engine and removes the containers an
    /// earlier run of this node left (labelled spear-edge.node, another spear-edge.instance),
    /// in the background: a missing engine never stops the start.
    void configure(const core::config& cfg) override;
    /// {"engine", "state": "up" | "down" | "unknown", "version" | "error", "checked_ms_ago"};
    /// looks at the engine again (in the background) when the last look is stale.
    boost::json::object health() override;
    /// Returns only once the container is removed (or the engine stopped answering, logged).
    asio::awaitable<core::execution_outcome> run(run_request request, output_sink& sink,
                                                 cancel_signal& cancel) override;

    struct engine_state;

private:
    asio::any_io_executor executor_;
    std::shared_ptr<engine_state> state_; ///< shared with the background look and sweep
};

} // namespace spear::runtime
