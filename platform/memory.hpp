// What the machine can give: its physical memory, from sysconf.
#pragma once

#include <cstdint>
#include <optional>

namespace spear::platform {

/// Physical memory in bytes (_SC_PHYS_PAGES x _SC_PAGESIZE); nullopt if the OS does not say.
std::optional<std::uint64_t> physical_memory_bytes() noexcept;

} // namespace spear::platform
