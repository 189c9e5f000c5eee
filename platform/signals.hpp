// Process-wide signal dispositions of the appliance.
#pragma once

#include <signal.h>

namespace spear::platform {

/// Ignores SIGPIPE for the whole process, so a write to a pipe or socket whose reader is gone
/// (a function closing its stdin, a client hanging up) fails with EPIPE instead of killing the
/// appliance. Idempotent. Children get the default back before exec (child_process.cpp).
void ignore_sigpipe();

/// The signals this process ignores: SIG_IGN is the one disposition that survives exec (handlers
/// are reset by exec itself), so a child resets exactly these before it execs instead of all 64
/// (one rt_sigaction each while the vforking appliance waits). Scanned once on first use, which
/// catches ignores inherited from whoever started the appliance; ignore_sigpipe keeps it current.
/// Contract: the appliance ignores signals only through this file.
const sigset_t& ignored_signals();

} // namespace spear::platform
