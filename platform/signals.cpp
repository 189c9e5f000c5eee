// Process-wide signal dispositions of the appliance.
#include "platform/signals.hpp"

#include <cerrno>
#include <system_error>

namespace spear::platform {
namespace {

sigset_t scan_ignored_signals() noexcept {
    sigset_t ignored;
    ::sigemptyset(&ignored);
    for (int sig = 1; sig < NSIG; ++sig) {
        struct sigaction current {};
        // glibc-reserved real-time signals fail with EINVAL: they are not ours to reset.
        if (::sigaction(sig, nullptr, &current) == 0 && current.sa_handler == SIG_IGN)
            ::sigaddset(&ignored, sig);
    }
    return ignored;
}

sigset_t& ignored_set() noexcept {
    static sigset_t ignored = scan_ignored_signals();
    return ignored;
}

} // namespace

void ignore_sigpipe() {
    struct sigaction action {};
    action.sa_handler = SIG_IGN;
    ::sigemptyset(&action.sa_mask);
    if (::sigaction(SIGPIPE, &action, nullptr) != 0)
        throw std::system_error(errno, std::generic_category(), "sigaction(SIGPIPE)");
    ::sigaddset(&ignored_set(), SIGPIPE);
}

const sigset_t& ignored_signals() { return ignored_set(); }

} // namespace spear::platform
