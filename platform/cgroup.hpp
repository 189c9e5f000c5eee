// The OS seam for cgroup v2: find the appliance's own cgroup, and make, join, kill, watch and
// remove the per-execution cgroups in it (docs/operations.md "Children that leave the process
// group"). Each call is one or a few small reads or writes on cgroupfs: none waits.
#pragma once

#include "platform/child_process.hpp"

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spear::platform::cgroup {

// --- Parsing (pure, unit-tested) -----------------------------------------------------------

/// The cgroup v2 path ("/system.slice/spearlet.service") from the text of /proc/self/cgroup:
/// its "0::PATH" line. nullopt if there is none (a cgroup v1 only host).
std::optional<std::string> unified_path(std::string_view proc_self_cgroup);

/// One cgroup2 mount from /proc/self/mountinfo: the mount's root inside the hierarchy (its 4th
/// field, "/" unless a subtree is bind-mounted) and its mount point (octal escapes decoded).
struct mount {
    std::string root;
    std::string point;
};
/// Every cgroup2 mount in the text of /proc/self/mountinfo, in order.
std::vector<mount> cgroup2_mounts(std::string_view mountinfo);

/// The directory of cgroup `path` (as unified_path gives it) under the first of `mounts` that
/// shows it; nullopt if none does.
std::optional<std::string> directory_of(std::string_view path, const std::vector<mount>& mounts);

/// The "populated" flag of a cgroup.events text ("populated 1\nfrozen 0\n").
std::optional<bool> populated_in(std::string_view events);

/// A "key value" line's value in a flat-keyed file (cpu.stat "usage_usec 1234").
std::optional<std::uint64_t> flat_value(std::string_view text, std::string_view key);

/// The space-separated words of cgroup.controllers or cgroup.subtree_control.
std::vector<std::string> words(std::string_view text);

// --- The file system -----------------------------------------------------------------------

/// The appliance's own cgroup v2 directory, from /proc/self/cgroup and /proc/self/mountinfo;
/// nullopt with `why` set when there is none.
std::optional<std::string> own_directory(std::string& why);
/// The part of /proc/self/cgroup's "0::" line: "/" for the root (or a namespace's root).
std::optional<std::string> own_path();

/// A small file's whole text; nullopt (errno set) if it cannot be read.
std::optional<std::string> read_text(const std::string& file);
/// Writes `text` to `file` in one write; 0 or an errno.
int write_text(const std::string& file, std::string_view text) noexcept;

/// Whether `dir` is a cgroup v2 directory this process may change: create children in it
/// (write access to the directory) and move processes (to its cgroup.procs). 0 or an errno
/// (ENOTDIR: not a cgroup v2 directory, e.g. missing or in a v1 hierarchy).
int check_writable(const std::string& dir) noexcept;
/// Whether `dir` is marked as delegated: systemd sets the xattr trusted.delegate (and, from
/// v251, user.delegate, which an unprivileged service can read) to "1" on the cgroup of a unit
/// with Delegate=yes.
bool marked_delegated(const std::string& dir) noexcept;
/// Whether this process is not root and owns `dir`: someone chowned it to it (delegation
/// without systemd).
bool owned_by_this_user(const std::string& dir) noexcept;
/// The pids in `dir`/cgroup.procs (empty if it cannot be read).
std::vector<pid_t> processes(const std::string& dir);
/// The names of the subdirectories of `dir` starting with `prefix`.
std::vector<std::string> children(const std::string& dir, std::string_view prefix);

/// mkdir of a child cgroup; 0 or an errno (EEXIST when it exists).
int make(const std::string& dir) noexcept;
/// rmdir of `dir` and of any child cgroups in it, depth first; 0 or an errno (EBUSY while a
/// process is still in it, ENOENT when already gone).
int remove(const std::string& dir) noexcept;
/// Moves process `pid` (all its threads) into cgroup `dir`; 0 or an errno.
int move_process(const std::string& dir, pid_t pid) noexcept;
/// `dir`/cgroup.procs opened O_WRONLY|O_CLOEXEC, for a spawned child to join `dir` before it
/// execs (spawn_options::cgroup_procs_fd); invalid with errno set on failure.
unique_fd open_procs(const std::string& dir) noexcept;

/// Kills every process in `dir` and its descendants with SIGKILL: cgroup.kill (Linux 5.14),
/// which also catches a fork in progress; without it, SIGKILL to each pid in cgroup.procs,
/// repeated while pids remain (at most limits::cgroup_kill_passes). 0 or an errno.
int kill_all(const std::string& dir) noexcept;
/// cgroup.events "populated": a process is still in `dir` or below; nullopt if unreadable.
std::optional<bool> populated(const std::string& dir);
/// cpu.stat usage_usec: CPU time of every process that ran in `dir`.
std::optional<std::uint64_t> cpu_usage_usec(const std::string& dir);
/// cgroup.controllers: the controllers `dir`'s children may enable.
std::vector<std::string> controllers(const std::string& dir);
/// Enables `names` for `dir`'s children ("+pids +memory" to cgroup.subtree_control); the
/// kernel refuses while processes sit in `dir` itself (no internal processes). 0 or an errno.
int enable_controllers(const std::string& dir, const std::vector<std::string>& names) noexcept;

} // namespace spear::platform::cgroup
