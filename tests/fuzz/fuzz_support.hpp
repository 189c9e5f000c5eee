// Shared pieces of the fuzz targets: a check that traps (so libFuzzer and the corpus replay
// both stop on it) and the split of an input into link-sized reads.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

namespace spear::fuzz {

inline void check(bool ok) {
    if (!ok)
        __builtin_trap();
}

/// Calls `on_read(piece)` for the input after its first byte, cut into reads of
/// (first byte + 1) bytes, as a link would deliver them. `on_read` returns false to stop.
template <class OnRead>
void for_each_read(const std::uint8_t* data, std::size_t size, OnRead&& on_read) {
    if (size == 0)
        return;
    const std::size_t step = data[0] + 1u;
    std::span<const std::uint8_t> rest(data + 1, size - 1);
    while (!rest.empty()) {
        auto piece = rest.first(std::min(step, rest.size()));
        rest = rest.subspan(piece.size());
        if (!on_read(piece))
            return;
    }
}

} // namespace spear::fuzz
