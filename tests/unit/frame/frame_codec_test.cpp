// Unit tests of the sans-io frame codec: both framings, every split point, and each way a
// frame can be broken (oversize, bad varint, bad COBS, bad CRC, garbage between frames).
#include "transport/frame/frame_codec.hpp"

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

using namespace spear::transport::frame;

namespace spear::transport::frame {
std::ostream& operator<<(std::ostream& os, decode_error e) {
    return os << to_string(e);
}
std::ostream& operator<<(std::ostream& os, decode_result::kind k) {
    return os << static_cast<int>(k);
}
} // namespace spear::transport::frame

namespace {

using byte_vector = std::vector<std::uint8_t>;

byte_vector bytes_of(std::string_view text) {
    return byte_vector(text.begin(), text.end());
}

/// Everything the decoder reported for a byte sequence fed in the given pieces.
struct decoded {
    std::vector<byte_vector> frames;
    std::vector<decode_error> errors;
    bool fatal = false;
};

decoded feed_pieces(frame_decoder& decoder, const std::vector<byte_vector>& pieces) {
    decoded out;
    for (const auto& piece : pieces) {
        std::span<const std::uint8_t> input(piece);
        for (;;) {
            const auto r = decoder.feed(input);
            BOOST_REQUIRE_LE(r.consumed, input.size());
            input = input.subspan(r.consumed);
            if (r.type == decode_result::kind::frame)
                out.frames.emplace_back(r.payload.begin(), r.payload.end());
            else if (r.type == decode_result::kind::error) {
                out.errors.push_back(r.error);
                if (r.fatal) {
                    out.fatal = true;
                    return out;
                }
            } else {
                BOOST_REQUIRE(input.empty()); // needs_more only when everything was used
                break;
            }
            if (input.empty())
                break;
        }
    }
    return out;
}

decoded feed_all(frame_decoder& decoder, const byte_vector& wire) {
    return feed_pieces(decoder, {wire});
}

byte_vector framed(framing kind, const std::vector<byte_vector>& messages) {
    byte_vector wire;
    for (const auto& m : messages)
        append_framed(kind, m, wire);
    return wire;
}

/// Messages that exercise the encoders: empty, zeros (COBS), 254/255-byte runs, > 127 bytes
/// (two-byte varint).
std::vector<byte_vector> sample_messages() {
    std::vector<byte_vector> m;
    m.push_back({});
    m.push_back(bytes_of("hello"));
    m.push_back(byte_vector{0, 0, 1, 0});
    m.push_back(byte_vector(254, 0x41));
    m.push_back(byte_vector(255, 0x42));
    byte_vector mixed;
    for (int i = 0; i < 700; ++i)
        mixed.push_back(static_cast<std::uint8_t>(i % 7 == 0 ? 0 : i));
    m.push_back(mixed);
    return m;
}

} // namespace

BOOST_AUTO_TEST_SUITE(frame_codec)

BOOST_AUTO_TEST_CASE(crc16_matches_the_ccitt_false_check_value) {
    const auto digits = bytes_of("123456789");
    BOOST_TEST(crc16_ccitt_false(digits) == 0x29B1);
    BOOST_TEST(crc16_ccitt_false({}) == 0xFFFF);
}

BOOST_AUTO_TEST_CASE(length_prefix_is_protobuf_varint) {
    byte_vector wire;
    append_length_prefixed(byte_vector(300, 7), wire);
    BOOST_REQUIRE_EQUAL(wire.size(), 302u);
    BOOST_TEST(wire[0] == 0xAC); // 300 = 0b10_0101100
    BOOST_TEST(wire[1] == 0x02);
    BOOST_TEST(max_framed_size(framing::length_prefixed, 300) == 302u);
}

BOOST_AUTO_TEST_CASE(cobs_frame_has_no_zero_before_its_delimiter) {
    for (const auto& message : sample_messages()) {
        byte_vector wire;
        append_cobs_crc(message, wire);
        BOOST_REQUIRE(!wire.empty());
        BOOST_TEST(wire.back() == 0);
        for (std::size_t i = 0; i + 1 < wire.size(); ++i)
            BOOST_REQUIRE(wire[i] != 0);
        BOOST_TEST(wire.size() <= max_framed_size(framing::cobs_crc, message.size()));
    }
}

BOOST_AUTO_TEST_CASE(round_trips_every_sample_in_both_framings) {
    for (const auto kind : {framing::length_prefixed, framing::cobs_crc}) {
        frame_decoder decoder(kind, 1024);
        const auto messages = sample_messages();
        const auto out = feed_all(decoder, framed(kind, messages));
        BOOST_TEST(out.errors.empty());
        BOOST_REQUIRE_EQUAL(out.frames.size(), messages.size());
        for (std::size_t i = 0; i < messages.size(); ++i)
            BOOST_TEST(out.frames[i] == messages[i]);
        BOOST_TEST(decoder.stats().frames == messages.size());
    }
}

BOOST_AUTO_TEST_CASE(decodes_the_same_at_every_split_point) {
    for (const auto kind : {framing::length_prefixed, framing::cobs_crc}) {
        const std::vector<byte_vector> messages = {bytes_of("first"), byte_vector(300, 0),
                                                   bytes_of("third")};
        const auto wire = framed(kind, messages);
        for (std::size_t split = 0; split <= wire.size(); ++split) {
            frame_decoder decoder(kind, 1024);
            const byte_vector a(wire.begin(), wire.begin() + static_cast<std::ptrdiff_t>(split));
            const byte_vector b(wire.begin() + static_cast<std::ptrdiff_t>(split), wire.end());
            const auto out = feed_pieces(decoder, {a, b});
            BOOST_TEST_CONTEXT("split at " << split) {
                BOOST_TEST(out.errors.empty());
                BOOST_REQUIRE_EQUAL(out.frames.size(), messages.size());
                BOOST_TEST(out.frames[1] == messages[1]);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(decodes_byte_by_byte) {
    for (const auto kind : {framing::length_prefixed, framing::cobs_crc}) {
        const auto messages = sample_messages();
        const auto wire = framed(kind, messages);
        std::vector<byte_vector> pieces;
        for (const auto b : wire)
            pieces.push_back({b});
        frame_decoder decoder(kind, 1024);
        const auto out = feed_pieces(decoder, pieces);
        BOOST_TEST(out.errors.empty());
        BOOST_REQUIRE_EQUAL(out.frames.size(), messages.size());
        BOOST_TEST(out.frames.back() == messages.back());
    }
}

BOOST_AUTO_TEST_CASE(refuses_oversize_length_before_allocating_and_skips_it) {
    frame_decoder decoder(framing::length_prefixed, 16);
    byte_vector wire;
    append_length_prefixed(byte_vector(17, 0x55), wire);
    append_length_prefixed(bytes_of("ok"), wire);
    const auto first = decoder.feed(wire);
    BOOST_REQUIRE(first.type == decode_result::kind::error);
    BOOST_TEST(first.error == decode_error::oversize);
    BOOST_TEST(!first.fatal);
    BOOST_TEST(first.declared_length == 17u);
    BOOST_TEST(first.consumed == 1u); // only the length prefix was read
    const auto out = feed_all(decoder, byte_vector(wire.begin() + 1, wire.end()));
    BOOST_REQUIRE_EQUAL(out.frames.size(), 1u);
    BOOST_TEST(out.frames[0] == bytes_of("ok"));
    BOOST_TEST(decoder.stats().oversize == 1u);
}

BOOST_AUTO_TEST_CASE(huge_declared_length_costs_no_memory) {
    frame_decoder decoder(framing::length_prefixed, 4096);
    // 2^62: a peer announcing an absurd frame is refused from the prefix alone.
    const byte_vector wire = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40};
    const auto r = decoder.feed(wire);
    BOOST_REQUIRE(r.type == decode_result::kind::error);
    BOOST_TEST(r.error == decode_error::oversize);
    BOOST_TEST(r.declared_length == (std::uint64_t{1} << 62));
}

BOOST_AUTO_TEST_CASE(bad_varint_is_fatal_and_stays_fatal) {
    frame_decoder decoder(framing::length_prefixed, 4096);
    const byte_vector eleven(11, 0xFF);
    const auto out = feed_all(decoder, eleven);
    BOOST_REQUIRE_EQUAL(out.errors.size(), 1u);
    BOOST_TEST(out.errors[0] == decode_error::bad_varint);
    BOOST_TEST(out.fatal);
    byte_vector good;
    append_length_prefixed(bytes_of("late"), good);
    const auto after = decoder.feed(good);
    BOOST_TEST(after.type == decode_result::kind::error);
    BOOST_TEST(after.fatal);
    BOOST_TEST(decoder.stats().bad_varint == 1u);
}

BOOST_AUTO_TEST_CASE(tenth_varint_byte_over_one_bit_is_bad) {
    frame_decoder decoder(framing::length_prefixed, 4096);
    byte_vector wire(9, 0x80);
    wire.push_back(0x02); // would be bit 64
    const auto out = feed_all(decoder, wire);
    BOOST_REQUIRE_EQUAL(out.errors.size(), 1u);
    BOOST_TEST(out.errors[0] == decode_error::bad_varint);
}

BOOST_AUTO_TEST_CASE(bad_crc_is_dropped_counted_and_the_next_frame_decodes) {
    frame_decoder decoder(framing::cobs_crc, 1024);
    byte_vector wire;
    append_cobs_crc(bytes_of("corrupt me"), wire);
    wire[3] ^= 0x01; // a flipped bit in the payload (still non-zero)
    append_cobs_crc(bytes_of("intact"), wire);
    const auto out = feed_all(decoder, wire);
    BOOST_REQUIRE_EQUAL(out.errors.size(), 1u);
    BOOST_TEST(out.errors[0] == decode_error::bad_crc);
    BOOST_REQUIRE_EQUAL(out.frames.size(), 1u);
    BOOST_TEST(out.frames[0] == bytes_of("intact"));
    BOOST_TEST(decoder.stats().bad_crc == 1u);
    BOOST_TEST(decoder.stats().frames == 1u);
}

BOOST_AUTO_TEST_CASE(bad_cobs_code_past_the_delimiter_is_dropped) {
    frame_decoder decoder(framing::cobs_crc, 1024);
    byte_vector wire = {0x09, 'a', 'b', 0x00}; // code 9 promises 8 bytes, 2 follow
    append_cobs_crc(bytes_of("next"), wire);
    const auto out = feed_all(decoder, wire);
    BOOST_REQUIRE_EQUAL(out.errors.size(), 1u);
    BOOST_TEST(out.errors[0] == decode_error::bad_cobs);
    BOOST_REQUIRE_EQUAL(out.frames.size(), 1u);
    BOOST_TEST(out.frames[0] == bytes_of("next"));
    BOOST_TEST(decoder.stats().bad_cobs == 1u);
}

BOOST_AUTO_TEST_CASE(frame_shorter_than_its_crc_is_bad_crc) {
    frame_decoder decoder(framing::cobs_crc, 1024);
    const byte_vector wire = {0x02, 0x41, 0x00}; // decodes to one byte
    const auto out = feed_all(decoder, wire);
    BOOST_REQUIRE_EQUAL(out.errors.size(), 1u);
    BOOST_TEST(out.errors[0] == decode_error::bad_crc);
}

BOOST_AUTO_TEST_CASE(garbage_between_serial_frames_costs_only_the_garbage) {
    frame_decoder decoder(framing::cobs_crc, 1024);
    byte_vector wire;
    append_cobs_crc(bytes_of("one"), wire);
    // Line noise: junk without a delimiter, junk with zeros, stray delimiters.
    for (const auto b : bytes_of("\x13\x37noise\xff\xfe"))
        wire.push_back(b);
    wire.push_back(0);
    wire.push_back(0);
    for (const auto b : byte_vector{0x05, 0x00, 0x7f, 0x01, 0x00})
        wire.push_back(b);
    append_cobs_crc(bytes_of("two"), wire);
    const auto out = feed_all(decoder, wire);
    BOOST_REQUIRE_EQUAL(out.frames.size(), 2u);
    BOOST_TEST(out.frames[0] == bytes_of("one"));
    BOOST_TEST(out.frames[1] == bytes_of("two"));
    BOOST_TEST(out.errors.size() == 3u);
    BOOST_TEST(decoder.stats().dropped() == 3u);
}

BOOST_AUTO_TEST_CASE(serial_frame_without_delimiter_is_oversize_then_resyncs) {
    frame_decoder decoder(framing::cobs_crc, 32);
    byte_vector wire(200, 0x11); // no delimiter for far longer than any frame
    wire.push_back(0);
    append_cobs_crc(bytes_of("after"), wire);
    const auto out = feed_all(decoder, wire);
    BOOST_REQUIRE_EQUAL(out.errors.size(), 1u);
    BOOST_TEST(out.errors[0] == decode_error::oversize);
    BOOST_REQUIRE_EQUAL(out.frames.size(), 1u);
    BOOST_TEST(out.frames[0] == bytes_of("after"));
}

BOOST_AUTO_TEST_CASE(serial_accepts_exactly_the_limit_and_refuses_one_more) {
    frame_decoder decoder(framing::cobs_crc, 300);
    byte_vector wire;
    append_cobs_crc(byte_vector(300, 0xAB), wire);
    append_cobs_crc(byte_vector(301, 0xAB), wire);
    append_cobs_crc(bytes_of("z"), wire);
    const auto out = feed_all(decoder, wire);
    BOOST_REQUIRE_EQUAL(out.frames.size(), 2u);
    BOOST_TEST(out.frames[0].size() == 300u);
    BOOST_TEST(out.frames[1] == bytes_of("z"));
    BOOST_REQUIRE_EQUAL(out.errors.size(), 1u);
    BOOST_TEST(out.errors[0] == decode_error::oversize);
}

BOOST_AUTO_TEST_CASE(tcp_accepts_exactly_the_limit) {
    frame_decoder decoder(framing::length_prefixed, 300);
    const auto out = feed_all(decoder, framed(framing::length_prefixed, {byte_vector(300, 1)}));
    BOOST_REQUIRE_EQUAL(out.frames.size(), 1u);
    BOOST_TEST(out.errors.empty());
}

BOOST_AUTO_TEST_SUITE_END()
