// SHA-256 (FIPS 180-4), for checking a wasm module file against its configured digest.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace spear::runtime::wasm {

/// The SHA-256 digest of `bytes` as 64 lowercase hexadecimal characters.
std::string sha256_hex(std::string_view bytes);

} // namespace spear::runtime::wasm
