// The sd_notify protocol by hand: readiness, shutdown and watchdog datagrams to $NOTIFY_SOCKET.
#include "platform/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

namespace spear::platform {

namespace {

std::string take_env(const char* name) {
    const char* v = std::getenv(name);
    std::string value = v ? v : "";
    ::unsetenv(name);
    return value;
}

// Decimal digits only (no sign, at most 19 digits); 0 for anything else, which the protocol
// reads as "not set".
unsigned long long parse_decimal(const std::string& s) {
    if (s.empty() || s.size() > 19)
        return 0;
    unsigned long long v = 0;
    for (char c : s) {
        if (c < '0' || c > '9')
            return 0;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    return v;
}

} // namespace

service_notifier::service_notifier() {
    const std::string path = take_env("NOTIFY_SOCKET");
    const std::string watchdog_usec = take_env("WATCHDOG_USEC");
    const std::string watchdog_pid = take_env("WATCHDOG_PID");

    // "@name" is an abstract socket (leading NUL); anything else must be an absolute path.
    if (path.size() < 2 || path.size() >= sizeof(sockaddr_un::sun_path) ||
        (path[0] != '/' && path[0] != '@'))
        return;
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    address_ = path;
    if (address_[0] == '@')
        address_[0] = '\0';
    fd_ = fd;

    const bool for_us = watchdog_pid.empty() ||
                        parse_decimal(watchdog_pid) == static_cast<unsigned long long>(::getpid());
    const unsigned long long usec = parse_decimal(watchdog_usec);
    if (for_us && usec > 0)
        watchdog_interval_ = std::chrono::microseconds(static_cast<long long>(usec / 2));
}

service_notifier::~service_notifier() {
    if (fd_ >= 0)
        ::close(fd_);
}

bool service_notifier::notify(std::string_view state) noexcept {
    if (fd_ < 0)
        return false;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, address_.data(), address_.size());
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size());
    return ::sendto(fd_, state.data(), state.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                    reinterpret_cast<const sockaddr*>(&addr),
                    len) == static_cast<ssize_t>(state.size());
}

} // namespace spear::platform
