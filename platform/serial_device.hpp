// Opening a serial device for frame links: CLOEXEC from the start, raw 8-bit mode.
#pragma once

#include <string>

namespace spear::platform {

/// A descriptor just opened, or the errno of the failure.
struct opened_fd {
    int fd = -1;   ///< owned by the caller; -1 on failure
    int error = 0; ///< errno when fd is -1
};

/// Opens `device` read-write with O_CLOEXEC (a function started later must not inherit the UART),
/// O_NOCTTY (a tty must never become the appliance's controlling terminal) and O_NONBLOCK (for
/// the reactor), and puts it in raw mode as Asio's serial_port::open does (cfmakeraw, IGNPAR,
/// CREAD, CLOCAL). Baud rate and framing are the caller's (serial_port::set_option).
opened_fd open_serial_device(const std::string& device);

} // namespace spear::platform
