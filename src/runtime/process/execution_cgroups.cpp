// Per-execution cgroups: the start-up decision, exec-<n> per run, kill, wait-until-empty, rmdir.
#include "runtime/process/execution_cgroups.hpp"

#include "core/limits.hpp"
#include "core/log.hpp"
#include "platform/cgroup.hpp"
#include "runtime/process/process_function.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/array.hpp>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <system_error>

namespace spear::runtime {

namespace asio = boost::asio;
namespace cg = platform::cgroup;

namespace {

std::string reason_of(int error) {
    return std::generic_category().message(error);
}

/// The controllers worth enabling for executions: they bound what one execution may take.
constexpr const char* wanted_controllers[] = {"pids", "memory"};

bool contains(const std::vector<std::string>& list, std::string_view name) {
    return std::find(list.begin(), list.end(), name) != list.end();
}

std::string joined(const std::vector<std::string>& names) {
    std::string text;
    for (const auto& n : names)
        text += (text.empty() ? "" : " ") + n;
    return text.empty() ? "none" : text;
}

/// Removes `dir` once it is empty, polling (and killing again: without cgroup.kill a fork may
/// race the kill) from limits::cgroup_poll_first, doubling up to cgroup_poll_last, for at most
/// `bound`. True once it is gone.
asio::awaitable<bool> remove_when_empty(std::string dir, std::chrono::milliseconds bound) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    const auto deadline = std::chrono::steady_clock::now() + bound;
    auto interval = core::limits::cgroup_poll_first;
    for (;;) {
        if (cg::populated(dir).value_or(false)) {
            cg::kill_all(dir);
        } else {
            const int e = cg::remove(dir);
            if (e == 0 || e == ENOENT)
                co_return true;
            if (e != EBUSY) { // EACCES, EROFS: waiting will not help
                log::warn("cannot remove the execution cgroup " + dir + ": " + reason_of(e));
                co_return false;
            }
        }
        if (std::chrono::steady_clock::now() >= deadline)
            co_return false;
        timer.expires_after(interval);
        co_await timer.async_wait(asio::use_awaitable);
        interval = std::min(interval * 2, core::limits::cgroup_poll_last);
    }
}

asio::awaitable<void> remove_in_background(std::string dir) {
    // The result in a local first: g++ 12 miscompiles a co_await in this if's condition
    // (the frame traps on resume under UBSan).
    const bool removed = co_await remove_when_empty(dir, core::limits::cgroup_remove_bound);
    if (!removed)
        log::warn("gave up removing the execution cgroup " + dir + "; the next start removes it");
}

} // namespace

execution_cgroups::execution_cgroups(asio::any_io_executor executor)
    : executor_(std::move(executor)) {}

void execution_cgroups::configure(const core::process_config& cfg) {
    mode_ = cfg.cgroups;
    if (mode_ == "off") {
        reason_ = "process.cgroups is \"off\"";
        log::info("per-execution cgroups: off (process.cgroups); escaped processes are ended by "
                  "the subreaper sweep");
        return;
    }
    std::string dir;
    std::string own;
    {
        std::string why;
        own = cg::own_directory(why).value_or("");
        if (!cfg.cgroup_path.empty()) {
            dir = cfg.cgroup_path;
            if (const int e = cg::check_writable(dir))
                reason_ = "process.cgroup_path " + dir +
                          (e == ENOTDIR || e == ENOENT ? " is not a cgroup v2 directory"
                                                       : " cannot be changed: " + reason_of(e));
        } else if (own.empty()) {
            reason_ = why;
        } else if (cg::own_path().value_or("/") == "/") {
            reason_ = "the appliance runs in the root cgroup, which is not delegated to it (run "
                      "it under systemd with Delegate=yes, or set process.cgroup_path)";
        } else {
            // A previous start of this process (an exec in place) may have moved it here.
            dir = own;
            if (dir.ends_with("/supervisor"))
                dir.resize(dir.size() - std::string_view("/supervisor").size());
            if (const int e = cg::check_writable(dir)) {
                reason_ = "its cgroup " + dir + " is not delegated to it (" + reason_of(e) +
                          "; systemd: Delegate=yes)";
            } else if (!cg::marked_delegated(dir) && !cg::owned_by_this_user(dir)) {
                // Root may write anywhere: that alone does not make a cgroup its own.
                reason_ = "its cgroup " + dir +
                          " is not marked as delegated (systemd's Delegate=yes sets the "
                          "user.delegate xattr; or set process.cgroup_path)";
            } else {
                const auto pids = cg::processes(own);
                const bool alone =
                    std::all_of(pids.begin(), pids.end(), [](pid_t p) { return p == ::getpid(); });
                if (!alone)
                    reason_ = "its cgroup " + own +
                              " holds other processes too, so it is not delegated to it alone "
                              "(systemd: Delegate=yes, or set process.cgroup_path)";
            }
        }
    }
    if (!reason_.empty()) {
        if (mode_ == "required")
            throw std::runtime_error("process.cgroups is \"required\", but per-execution cgroups "
                                     "cannot be used: " +
                                     reason_);
        log::info("per-execution cgroups: not used: " + reason_ +
                  "; escaped processes are ended by the subreaper sweep");
        return;
    }
    base_ = dir;
    enable_controllers(own);
    log::info("per-execution cgroups: on, exec-<n> in " + base_ +
              " (controllers for executions: " + joined(controllers_) + ")");
    sweep_leftovers();
}

void execution_cgroups::enable_controllers(const std::string& own) {
    const auto available = cg::controllers(base_);
    std::vector<std::string> wanted;
    for (const char* name : wanted_controllers)
        if (contains(available, name))
            wanted.push_back(name);
    if (wanted.empty())
        return;
    const auto active_text = cg::read_text(base_ + "/cgroup.subtree_control");
    const auto active = cg::words(active_text.value_or(""));
    std::vector<std::string> missing;
    for (const auto& name : wanted)
        if (!contains(active, name))
            missing.push_back(name);
    if (!missing.empty()) {
        // No internal processes: the appliance leaves the cgroup that gets controllers for
        // its children, into a leaf of its own beside the executions.
        if (own == base_) {
            const std::string leaf = base_ + "/supervisor";
            int e = cg::make(leaf);
            if (e == 0 || e == EEXIST)
                e = cg::move_process(leaf, ::getpid());
            if (e != 0) {
                log::warn("per-execution cgroups: cannot move the appliance into " + leaf + " (" +
                          reason_of(e) + "): executions run without the " + joined(missing) +
                          " controllers");
                missing.clear();
            }
        }
        if (!missing.empty()) {
            if (const int e = cg::enable_controllers(base_, missing))
                log::warn("per-execution cgroups: cannot enable " + joined(missing) + " in " +
                          base_ + " (" + reason_of(e) + "): executions run without them");
        }
    }
    const auto now = cg::words(cg::read_text(base_ + "/cgroup.subtree_control").value_or(""));
    for (const auto& name : wanted)
        if (contains(now, name))
            controllers_.push_back(name);
}

void execution_cgroups::sweep_leftovers() {
    const auto stale = cg::children(base_, "exec-");
    if (stale.empty())
        return;
    log::warn("per-execution cgroups: killing and removing " + std::to_string(stale.size()) +
              " execution cgroup(s) a previous run left in " + base_);
    for (const auto& name : stale) {
        const std::string dir = base_ + "/" + name;
        cg::kill_all(dir);
        remove_later(dir);
    }
}

boost::json::object execution_cgroups::health() const {
    boost::json::object o;
    o["active"] = active();
    o["mode"] = mode_;
    if (active()) {
        o["directory"] = base_;
        boost::json::array names;
        for (const auto& n : controllers_)
            names.emplace_back(n);
        o["controllers"] = std::move(names);
    } else {
        o["reason"] = reason_;
    }
    return o;
}

execution_cgroups::made execution_cgroups::create(const process_function& fn) {
    made m;
    std::string dir;
    int e = EEXIST;
    for (int attempt = 0; attempt < core::limits::cgroup_name_attempts && e == EEXIST; ++attempt) {
        dir = base_ + "/exec-" + std::to_string(++next_);
        e = cg::make(dir);
    }
    if (e != 0) {
        m.error = e;
        m.step = "create";
        return m;
    }
    const auto fail = [&](int error, std::string step) {
        cg::remove(dir);
        m.error = error;
        m.step = std::move(step);
        return std::move(m);
    };
    if (fn.rlimits.processes != 0 && contains(controllers_, "pids"))
        if (const int le = cg::write_text(dir + "/pids.max", std::to_string(fn.rlimits.processes)))
            return fail(le, "pids.max");
    if (fn.rlimits.address_space_bytes != 0 && contains(controllers_, "memory"))
        if (const int le =
                cg::write_text(dir + "/memory.max", std::to_string(fn.rlimits.address_space_bytes)))
            return fail(le, "memory.max");
    m.procs = cg::open_procs(dir);
    if (!m.procs.valid())
        return fail(errno, "cgroup.procs");
    m.dir = std::move(dir);
    return m;
}

void execution_cgroups::kill(const std::string& dir) noexcept {
    cg::kill_all(dir);
}

asio::awaitable<void> execution_cgroups::finish(std::string dir) {
    cg::kill_all(dir);
    const bool removed = co_await remove_when_empty(dir, core::limits::cgroup_empty_wait);
    if (!removed) {
        log::warn("execution cgroup " + dir + " still holds processes " +
                  std::to_string(core::limits::cgroup_empty_wait.count()) +
                  " ms after the kill; removing it in the background");
        remove_later(std::move(dir));
    }
}

void execution_cgroups::abandon(const std::string& dir) noexcept {
    cg::kill_all(dir);
    remove_later(dir);
}

void execution_cgroups::remove_later(std::string dir) noexcept {
    if (!executor_)
        return; // the next start's sweep removes it
    try {
        asio::co_spawn(executor_, remove_in_background(std::move(dir)), [](std::exception_ptr e) {
            log::task_ended("execution cgroup removal", e);
        });
    } catch (...) {
        // Out of memory: the next start's sweep removes it.
    }
}

} // namespace spear::runtime
