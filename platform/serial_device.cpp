// Opening a serial device for frame links: CLOEXEC from the start, raw 8-bit mode.
#include "platform/serial_device.hpp"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>

namespace spear::platform {

opened_fd open_serial_device(const std::string& device) {
    const int fd = ::open(device.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return {-1, errno};
    termios mode{};
    if (::tcgetattr(fd, &mode) == 0) {
        ::cfmakeraw(&mode);
        mode.c_iflag |= IGNPAR;
        mode.c_cflag |= CREAD | CLOCAL;
        if (::tcsetattr(fd, TCSANOW, &mode) == 0)
            return {fd, 0};
    }
    const int error = errno; // ENOTTY: not a terminal at all
    ::close(fd);
    return {-1, error};
}

} // namespace spear::platform
