// Escaped-process sweep: the subreaper setting, the record of our own children, the sweep.
#include "platform/escaped_children.hpp"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <string>
#include <unordered_set>

namespace spear::platform {

namespace {

std::unordered_set<pid_t>& own_children() {
    static std::unordered_set<pid_t> pids;
    return pids;
}

/// The state letter of /proc/PID/stat ('Z' for a zombie), or 0 if it cannot be read.
char process_state(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(in, line))
        return 0;
    // "pid (comm) S ...": comm may hold spaces and parentheses; the state follows the last ')'.
    const auto close = line.rfind(')');
    if (close == std::string::npos || close + 2 >= line.size())
        return 0;
    return line[close + 2];
}

bool subreaper = false; ///< set by become_child_subreaper: the sweep runs only then

} // namespace

bool become_child_subreaper() noexcept {
    subreaper = ::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0;
    return subreaper;
}

bool is_child_subreaper() noexcept {
    int flag = 0;
    return ::prctl(PR_GET_CHILD_SUBREAPER, &flag) == 0 && flag != 0;
}

void note_child_started(pid_t pid) { own_children().insert(pid); }
void note_child_reaped(pid_t pid) { own_children().erase(pid); }

sweep_result sweep_escaped_children(bool kill_live) noexcept {
    sweep_result result;
    if (!subreaper)
        return result; // a process that is no subreaper (a test) may have children of its own
    try {
        // Orphans are re-parented to a thread of the subreaper; the appliance has one.
        std::ifstream in("/proc/self/task/" + std::to_string(::gettid()) + "/children");
        long pid = 0;
        while (in >> pid) {
            const auto child = static_cast<pid_t>(pid);
            if (own_children().contains(child))
                continue;
            if (process_state(child) == 'Z') {
                int status = 0;
                if (::waitpid(child, &status, WNOHANG) == child)
                    ++result.reaped;
            } else if (kill_live && ::kill(child, SIGKILL) == 0) {
                ++result.killed;
            }
        }
    } catch (...) {
        // Reading /proc failed (unmounted, out of memory): nothing to sweep this time.
    }
    return result;
}

} // namespace spear::platform
