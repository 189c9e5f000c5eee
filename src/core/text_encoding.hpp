// Byte/text helpers shared by every transport: UTF-8 validation and boundaries, base64 (RFC 4648).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace spear::core {

/// True if `bytes` is well-formed UTF-8 (no overlongs, no surrogates, max U+10FFFF).
bool is_valid_utf8(std::string_view bytes) noexcept;

/// Largest n <= max at which `text` may be cut without splitting a UTF-8 sequence: `text`
/// itself if it fits, else `max` moved back over continuation bytes (0 if all of them are).
/// The one UTF-8 cutter: status-table messages, frame text fields and stream chunks use it.
std::size_t utf8_cut_point(std::string_view text, std::size_t max) noexcept;

/// Bytes at the end of `bytes` that start a UTF-8 sequence not yet complete (0..3): a
/// streamed chunk holds them back until the next read completes the character.
std::size_t incomplete_utf8_tail(std::string_view bytes) noexcept;

/// Length of the well-formed UTF-8 sequence starting at bytes[i] (1..4), 0 if it is malformed
/// or truncated. Requires i < bytes.size().
std::size_t utf8_sequence_at(std::string_view bytes, std::size_t i) noexcept;

/// Standard alphabet with '=' padding.
std::string base64_encode(std::string_view bytes);
/// Accepts the standard alphabet with or without padding; nullopt on any other character.
std::optional<std::string> base64_decode(std::string_view text);

} // namespace spear::core
