// Memory: what the machine can give (physical memory, from sysconf) and what the allocator
// keeps (free heap, returned to the OS on request).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace spear::platform {

/// Physical memory in bytes (_SC_PHYS_PAGES x _SC_PAGESIZE); nullopt if the OS does not say.
std::optional<std::uint64_t> physical_memory_bytes() noexcept;

/// Bytes the allocator holds free in its heap (glibc: mallinfo2's fordblks, every arena);
/// 0 where the C library does not say. Walks the free lists: call it seldom (seconds apart).
std::size_t heap_free_bytes() noexcept;

/// Returns the heap's free pages to the OS (glibc: malloc_trim(0)); a no-op elsewhere. After a
/// burst (1000 viewers, 10 000 queued requests) glibc keeps the freed memory mapped, and RSS
/// would stay at the burst's peak.
void trim_heap() noexcept;

} // namespace spear::platform
