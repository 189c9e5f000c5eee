// Process-wide signal dispositions of the appliance.
#pragma once

namespace spear::platform {

/// Ignores SIGPIPE for the whole process, so a write to a pipe or socket whose reader is gone
/// (a function closing its stdin, a client hanging up) fails with EPIPE instead of killing the
/// appliance. Idempotent. Children get the default back before exec (child_process.cpp).
void ignore_sigpipe();

} // namespace spear::platform
