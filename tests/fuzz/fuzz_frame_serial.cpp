// libFuzzer target: the serial framing (COBS + CRC-16, 0x00-delimited) decoder. The input is
// decoded as line bytes in reads of a size chosen by its first byte, and also framed and
// decoded back, which must give the input exactly.
#include "fuzz_support.hpp"
#include "transport/frame/frame_codec.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

using spear::fuzz::check;

namespace {

/// Small on purpose: oversize and discard paths run often.
constexpr std::size_t max_payload = 300;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace spear::transport::frame;
    if (size == 0)
        return 0;

    // 1. Arbitrary line bytes: never crash, never hand out more than the limit.
    frame_decoder decoder(framing::cobs_crc, max_payload);
    spear::fuzz::for_each_read(data, size, [&](std::span<const std::uint8_t> piece) {
        while (!piece.empty()) {
            const auto r = decoder.feed(piece);
            check(r.consumed <= piece.size() && !r.fatal);
            piece = piece.subspan(r.consumed);
            if (r.type == decode_result::kind::frame)
                check(r.payload.size() <= max_payload);
            else if (r.type == decode_result::kind::needs_more)
                check(piece.empty());
        }
        return true;
    });

    // 2. Round trip: the input as one message comes back unchanged (if within the limit).
    const std::span<const std::uint8_t> message(data, std::min(size, max_payload));
    std::vector<std::uint8_t> wire;
    append_cobs_crc(message, wire);
    check(wire.size() <= max_framed_size(framing::cobs_crc, message.size()));
    check(std::count(wire.begin(), wire.end(), 0) == 1 && wire.back() == 0);
    frame_decoder again(framing::cobs_crc, max_payload);
    const auto r = again.feed(wire);
    check(r.type == decode_result::kind::frame && r.consumed == wire.size());
    check(std::equal(r.payload.begin(), r.payload.end(), message.begin(), message.end()));
    return 0;
}
