// Formatting and parsing of execution ids.
#include "core/execution_id.hpp"

namespace spear::core {
namespace {

constexpr char hex_digits[] = "0123456789abcdef";

void put_hex(std::string& out, std::uint64_t value, int digits) {
    for (int i = digits - 1; i >= 0; --i)
        out.push_back(hex_digits[(value >> (4 * i)) & 0xF]);
}

std::optional<std::uint64_t> get_hex(std::string_view text) noexcept {
    std::uint64_t value = 0;
    for (char c : text) {
        int digit;
        if (c >= '0' && c <= '9')
            digit = c - '0';
        else if (c >= 'a' && c <= 'f')
            digit = c - 'a' + 10;
        else
            return std::nullopt;
        value = (value << 4) | static_cast<std::uint64_t>(digit);
    }
    return value;
}

} // namespace

std::string format_execution_id(const execution_id_parts& parts) {
    std::string out;
    out.reserve(execution_id_length);
    put_hex(out, parts.boot, 8);
    put_hex(out, parts.seq & execution_id_max_seq, 10);
    put_hex(out, parts.slot & execution_id_max_slot, 6);
    return out;
}

std::optional<execution_id_parts> parse_execution_id(std::string_view text) noexcept {
    if (text.size() != execution_id_length)
        return std::nullopt;
    auto boot = get_hex(text.substr(0, 8));
    auto seq = get_hex(text.substr(8, 10));
    auto slot = get_hex(text.substr(18, 6));
    if (!boot || !seq || !slot)
        return std::nullopt;
    return execution_id_parts{static_cast<std::uint32_t>(*boot), *seq,
                              static_cast<std::uint32_t>(*slot)};
}

} // namespace spear::core
