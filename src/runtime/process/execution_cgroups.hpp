// Per-execution cgroups (process.cgroups): where they live, decided once at start; for each run
// a fresh exec-<n> its process joins before exec, killed whole when the run ends, awaited until
// empty and removed, without blocking the io_context (docs/operations.md).
#pragma once

#include "core/config.hpp"
#include "platform/child_process.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace spear::runtime {

struct process_function;

class execution_cgroups {
public:
    explicit execution_cgroups(boost::asio::any_io_executor executor);

    /// Decides whether runs get cgroups and where: process.cgroup_path, else the appliance's own
    /// cgroup when it is delegated to it (not the root cgroup; writable; marked delegated by
    /// systemd, or owned by the appliance's non-root user; no other process in it). To enable the
    /// pids and memory controllers for the executions it first moves itself into <base>/supervisor
    /// (cgroup v2 allows no process beside child cgroups that use controllers). Kills and removes
    /// exec-* cgroups a previous run left. Logs the decision once. Throws std::runtime_error when
    /// process.cgroups is "required" and it cannot be met.
    void configure(const core::process_config& cfg);

    bool active() const noexcept { return !base_.empty(); }
    /// {"active", "mode", and "directory" + "controllers" or "reason"} for GET /health.
    boost::json::object health() const;

    /// One execution's cgroup, or why it could not be made.
    struct made {
        std::string dir;           ///< empty on failure
        platform::unique_fd procs; ///< its cgroup.procs for spawn_options::cgroup_procs_fd
        int error = 0;             ///< errno on failure
        std::string step;          ///< what failed ("create", "pids.max", ...)
    };
    /// A new exec-<n> with the function's limits where the controllers allow (pids.max from
    /// rlimits.processes, memory.max from rlimits.address_space_bytes). Only when active().
    made create(const process_function& fn);

    /// SIGKILL to everything in `dir` now, escaped or not (one write to cgroup.kill).
    static void kill(const std::string& dir) noexcept;
    /// Kills, waits until `dir` is empty and removes it, for at most limits::cgroup_empty_wait;
    /// past that the removal goes on in the background (limits::cgroup_remove_bound).
    boost::asio::awaitable<void> finish(std::string dir);
    /// For a run torn down abnormally: kill now, remove in the background.
    void abandon(const std::string& dir) noexcept;

private:
    void sweep_leftovers();
    void enable_controllers(const std::string& own);
    void remove_later(std::string dir) noexcept;

    boost::asio::any_io_executor executor_;
    std::string mode_ = "off";
    std::string base_;                     ///< empty: not active
    std::string reason_;                   ///< why not active
    std::vector<std::string> controllers_; ///< enabled for the executions: "pids", "memory"
    std::uint64_t next_ = 0;
};

} // namespace spear::runtime
