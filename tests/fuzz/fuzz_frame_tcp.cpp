// libFuzzer target: the TCP framing (varint length-prefixed) decoder, fed in reads of a size
// chosen by the first input byte. Checks: no read past the input, frames within the limit,
// each frame re-encodes to the bytes it came from.
#include "fuzz_support.hpp"
#include "transport/frame/frame_codec.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

using spear::fuzz::check;

namespace {

/// Small on purpose: oversize and skip paths run often.
constexpr std::size_t max_payload = 300;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace spear::transport::frame;
    if (size == 0)
        return 0;
    frame_decoder decoder(framing::length_prefixed, max_payload);
    std::uint64_t frames = 0;
    bool stopped = false;
    spear::fuzz::for_each_read(data, size, [&](std::span<const std::uint8_t> piece) {
        while (!piece.empty()) {
            const auto r = decoder.feed(piece);
            check(r.consumed <= piece.size());
            piece = piece.subspan(r.consumed);
            if (r.type == decode_result::kind::frame) {
                ++frames;
                check(r.payload.size() <= max_payload);
                std::vector<std::uint8_t> again;
                append_length_prefixed(r.payload, again);
                frame_decoder second(framing::length_prefixed, max_payload);
                const auto back = second.feed(again);
                check(back.type == decode_result::kind::frame && back.consumed == again.size());
                check(std::equal(back.payload.begin(), back.payload.end(), r.payload.begin(),
                                 r.payload.end()));
            } else if (r.type == decode_result::kind::error) {
                if (r.fatal) {
                    stopped = true;
                    return false;
                }
                check(r.error == decode_error::oversize && r.declared_length > max_payload);
            } else {
                check(piece.empty());
            }
        }
        return true;
    });
    if (stopped)
        return 0;
    check(decoder.stats().frames == frames);
    return 0;
}
