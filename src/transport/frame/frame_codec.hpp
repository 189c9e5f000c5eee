// Sans-io frame codec for constrained peers: varint length-prefixed frames (TCP) and COBS +
// CRC-16/CCITT-FALSE frames delimited by 0x00 (serial). No I/O, no Asio: bytes in, frames out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace spear::transport::frame {

/// How frames are delimited on a byte link (docs/constrained-peers.md has the bytes).
enum class framing : std::uint8_t {
    length_prefixed, ///< TCP: varint length, then the message (what pb_encode_delimited writes)
    cobs_crc,        ///< serial: COBS(message ++ CRC-16 big-endian) ++ 0x00
};

/// Why a frame could not be read.
enum class decode_error : std::uint8_t {
    oversize,   ///< declared (TCP) or accumulated (serial) length over the limit
    bad_varint, ///< TCP: length prefix over 10 bytes or 64 bits; the stream cannot resync
    bad_cobs,   ///< serial: a COBS code byte runs past the delimiter
    bad_crc,    ///< serial: checksum mismatch, or a frame too short to hold one
};

/// "oversize", "bad_varint", "bad_cobs", "bad_crc" (for logs).
std::string_view to_string(decode_error e) noexcept;

/// What one call to frame_decoder::feed produced.
struct decode_result {
    enum class kind : std::uint8_t {
        needs_more, ///< every byte given was consumed; no frame is complete yet
        frame,      ///< a whole message is in `payload`
        error,      ///< a frame was dropped (or, if `fatal`, the link cannot go on)
    };
    kind type = kind::needs_more;
    std::size_t consumed = 0;              ///< bytes of the input used by this call
    std::span<const std::uint8_t> payload; ///< frame: valid until the next feed()
    decode_error error = decode_error::oversize;
    bool fatal = false;                ///< error: no later frame can be found
    std::uint64_t declared_length = 0; ///< oversize on TCP: the length the peer sent
};

/// Counters of one decoder (a link's health, reported in logs and tests).
struct decoder_stats {
    std::uint64_t frames = 0;
    std::uint64_t oversize = 0;
    std::uint64_t bad_varint = 0;
    std::uint64_t bad_cobs = 0;
    std::uint64_t bad_crc = 0;
    std::uint64_t dropped() const noexcept { return oversize + bad_varint + bad_cobs + bad_crc; }
};

/// Incremental decoder for one direction of one link. Memory is bounded by `max_payload`
/// (serial: by its COBS-encoded size): an oversize length is refused before anything is
/// allocated for it. After an error the decoder resynchronises by itself: TCP skips the
/// declared length of an oversize frame; serial drops bytes up to the next 0x00. Only a bad
/// varint is fatal (a TCP stream has no marker to resync on).
class frame_decoder {
public:
    frame_decoder(framing kind, std::size_t max_payload);

    /// Consumes bytes from the front of `input` until a frame is complete, an error is found,
    /// or the input is used up. Call again with the rest (input.subspan(consumed)) until it
    /// returns needs_more. After a fatal error every call returns the same error.
    decode_result feed(std::span<const std::uint8_t> input);

    const decoder_stats& stats() const noexcept { return stats_; }
    framing kind() const noexcept { return kind_; }
    std::size_t max_payload() const noexcept { return max_payload_; }

private:
    decode_result feed_length_prefixed(std::span<const std::uint8_t> input);
    decode_result feed_cobs(std::span<const std::uint8_t> input);
    decode_result finish_cobs_frame(std::size_t consumed);

    enum class state : std::uint8_t { length, body, skip, discard, failed };

    framing kind_;
    std::size_t max_payload_;
    std::size_t max_encoded_; ///< serial: COBS bytes of the largest frame
    state state_;
    std::uint64_t length_ = 0;         ///< TCP: the varint being read, then the body length
    unsigned length_bytes_ = 0;        ///< TCP: varint bytes read so far
    std::uint64_t skip_left_ = 0;      ///< TCP: bytes of an oversize frame still to skip
    std::vector<std::uint8_t> buffer_; ///< the frame being assembled (capacity bounded)
    bool payload_out_ = false;         ///< serial: buffer_ holds the payload last returned
    decoder_stats stats_;
};

/// CRC-16/CCITT-FALSE: polynomial 0x1021, initial 0xFFFF, no reflection, no final xor
/// (check value 0x29B1 for "123456789").
std::uint16_t crc16_ccitt_false(std::span<const std::uint8_t> bytes) noexcept;

/// Appends the varint length of `message` and the message to `out`.
void append_length_prefixed(std::span<const std::uint8_t> message, std::vector<std::uint8_t>& out);
/// Appends COBS(message ++ crc16 high byte ++ low byte) and the 0x00 delimiter to `out`.
void append_cobs_crc(std::span<const std::uint8_t> message, std::vector<std::uint8_t>& out);
/// Appends `message` framed as `kind` to `out`.
void append_framed(framing kind, std::span<const std::uint8_t> message,
                   std::vector<std::uint8_t>& out);

/// Bytes on the wire for a message of `payload` bytes, framing included (worst case for COBS).
std::size_t max_framed_size(framing kind, std::size_t payload) noexcept;
/// COBS-encoded size of `n` bytes, delimiter excluded (worst case: one code byte per 254).
constexpr std::size_t cobs_encoded_size(std::size_t n) noexcept {
    return n + n / 254 + 1;
}

} // namespace spear::transport::frame
