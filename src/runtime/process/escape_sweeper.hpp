// Ends processes that escaped their execution's process group (see platform/escaped_children):
// a sweep when a run ends, repeated while it still finds some, since a killed escapee's own
// children come back to the appliance only once it is gone.
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include <memory>

namespace spear::runtime {

class escape_sweeper {
public:
    /// `kill_live` false (per-execution cgroups end escapees, each with its own execution):
    /// sweeps only reap the zombies re-parented to the appliance.
    explicit escape_sweeper(boost::asio::any_io_executor executor, bool kill_live = true);

    /// Sweeps now; while a sweep kills something, sweeps again every sweep_interval (at most
    /// sweep_rounds times in a row). Never blocks; logs what it killed.
    void sweep();

private:
    struct state;
    static void schedule(const std::shared_ptr<state>& s);
    std::shared_ptr<state> state_;
};

} // namespace spear::runtime
