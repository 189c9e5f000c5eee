// The sd_notify protocol by hand: readiness, shutdown and watchdog datagrams to $NOTIFY_SOCKET.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace spear::platform {

/// Talks to the service manager (systemd with Type=notify) the way sd_notify(3) does, without
/// libsystemd: one AF_UNIX datagram per message on the socket named by $NOTIFY_SOCKET (a path,
/// or "@name" for an abstract socket). Outside systemd (no NOTIFY_SOCKET) every call is a no-op.
/// Construct it once, early, while the process has one thread: it reads and then unsets
/// NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID so that functions started later never inherit
/// them. Sends never block (MSG_DONTWAIT); a failed send is ignored, as sd_notify's callers do.
/// Each send names the address (no connect), so a service manager that re-binds its socket still
/// hears us.
class service_notifier {
public:
    service_notifier();
    ~service_notifier();
    service_notifier(const service_notifier&) = delete;
    service_notifier& operator=(const service_notifier&) = delete;

    /// Sends one state string, e.g. "READY=1" or "STOPPING=1" (newline-separated assignments).
    /// Returns true if the datagram was sent.
    bool notify(std::string_view state) noexcept;

    /// How often to send "WATCHDOG=1": half of $WATCHDOG_USEC (as sd_watchdog_enabled(3)
    /// advises), or zero when no watchdog is set for this process (WATCHDOG_PID names another
    /// process, the value is malformed, or there is no notify socket).
    std::chrono::microseconds watchdog_interval() const noexcept { return watchdog_interval_; }

private:
    int fd_ = -1;
    std::string address_; // sun_path bytes (a leading NUL for an abstract socket)
    std::chrono::microseconds watchdog_interval_{0};
};

} // namespace spear::platform
