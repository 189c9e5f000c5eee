// Physical memory from sysconf (Linux: from /proc/meminfo's MemTotal); the heap's free bytes
// and trimming through glibc's malloc.h.
#include "platform/memory.hpp"

#include <unistd.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace spear::platform {

std::optional<std::uint64_t> physical_memory_bytes() noexcept {
    const long pages = ::sysconf(_SC_PHYS_PAGES);
    const long page_size = ::sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page_size <= 0)
        return std::nullopt;
    return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page_size);
}

std::size_t heap_free_bytes() noexcept {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    return ::mallinfo2().fordblks;
#else
    return 0;
#endif
}

void trim_heap() noexcept {
#if defined(__GLIBC__)
    ::malloc_trim(0);
#endif
}

} // namespace spear::platform
