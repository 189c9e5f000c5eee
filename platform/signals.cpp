// Process-wide signal dispositions of the appliance.
#include "platform/signals.hpp"

#include <signal.h>

#include <cerrno>
#include <system_error>

namespace spear::platform {

void ignore_sigpipe() {
    struct sigaction action {};
    action.sa_handler = SIG_IGN;
    ::sigemptyset(&action.sa_mask);
    if (::sigaction(SIGPIPE, &action, nullptr) != 0)
        throw std::system_error(errno, std::generic_category(), "sigaction(SIGPIPE)");
}

} // namespace spear::platform
