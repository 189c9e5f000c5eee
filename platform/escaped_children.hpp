// Processes that escaped their execution's process group (setsid, setpgid, or a double fork
// whose middle parent exited): with spearlet as child subreaper they are re-parented to it,
// not to init, so a sweep finds them among its own children and ends them.
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace spear::platform {

/// Makes this process the subreaper of its descendants (prctl PR_SET_CHILD_SUBREAPER): an
/// orphaned descendant becomes its child. False when the kernel refuses; escapes then go to
/// init, as without it. Call once, before starting functions; only the appliance does (a test
/// binary's other children are not ours to sweep).
bool become_child_subreaper() noexcept;
bool is_child_subreaper() noexcept;

/// spawn_child's record of the children it started and has not reaped (the group leaders of
/// running executions): the sweep never touches them. Single-threaded, like the appliance.
void note_child_started(pid_t pid);
void note_child_reaped(pid_t pid);

struct sweep_result {
    std::size_t killed = 0; ///< escaped children sent SIGKILL by this sweep
    std::size_t reaped = 0; ///< escaped children that had exited, reaped now
};

/// One pass, only after become_child_subreaper() succeeded, over this process's children (/proc/self/task/<tid>/children: one read, no scan
/// of /proc): every child spawn_child did not start, or started and has not noted as its own,
/// is an escaped process: a zombie is reaped (waitpid on that pid only, WNOHANG), a live one
/// gets SIGKILL (its own children come back to the next sweep once it is gone). Never blocks.
/// With `kill_live` false only the zombies are reaped: per-execution cgroups end the live
/// ones, each with its own execution (a live orphan belongs to one still running).
sweep_result sweep_escaped_children(bool kill_live = true) noexcept;

} // namespace spear::platform
