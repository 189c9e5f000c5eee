// Byte/text helpers shared by every transport: UTF-8 validation and base64 (RFC 4648).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace spear::core {

/// True if `bytes` is well-formed UTF-8 (no overlongs, no surrogates, max U+10FFFF).
bool is_valid_utf8(std::string_view bytes) noexcept;

/// Standard alphabet with '=' padding.
std::string base64_encode(std::string_view bytes);
/// Accepts the standard alphabet with or without padding; nullopt on any other character.
std::optional<std::string> base64_decode(std::string_view text);

} // namespace spear::core
