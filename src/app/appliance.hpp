// The appliance: wires config, service and transports onto one io_context, runs until
// SIGTERM/SIGINT, and shuts down in order.
#pragma once

#include "core/config.hpp"

namespace spear::app {

/// Runs the appliance to completion; returns the process exit code (0 after a clean stop).
int run_appliance(const core::config& cfg, std::string_view config_source);

} // namespace spear::app
