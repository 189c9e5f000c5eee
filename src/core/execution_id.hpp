// Execution ids: boot nonce + submission sequence + slot, so lookup is O(1) and stale ids are
// recognised (docs/api.md, docs/architecture.md). Format: 24 lowercase hex digits, URL-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace spear::core {

struct execution_id_parts {
    std::uint32_t boot = 0; ///< random per process start: ids stay unique across restarts
    std::uint64_t seq = 0;  ///< submission order within the boot (40 bits used)
    std::uint32_t slot = 0; ///< ring status table slot (24 bits used)

    friend bool operator==(const execution_id_parts&, const execution_id_parts&) = default;
};

inline constexpr std::size_t execution_id_length = 24;
inline constexpr std::uint64_t execution_id_max_seq = (std::uint64_t{1} << 40) - 1;
inline constexpr std::uint32_t execution_id_max_slot = (1u << 24) - 1;

/// "{boot:8 hex}{seq:10 hex}{slot:6 hex}".
std::string format_execution_id(const execution_id_parts& parts);
/// nullopt unless `text` is exactly 24 lowercase hex digits.
std::optional<execution_id_parts> parse_execution_id(std::string_view text) noexcept;

} // namespace spear::core
