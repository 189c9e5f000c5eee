// Frame codec: the varint and COBS/CRC state machines and the matching encoders.
#include "transport/frame/frame_codec.hpp"

#include <algorithm>

namespace spear::transport::frame {

namespace {

/// A varint holds at most 64 bits in 10 bytes (protobuf's rule).
constexpr unsigned max_varint_bytes = 10;
/// CRC bytes carried by every serial frame.
constexpr std::size_t crc_bytes = 2;

/// Decodes COBS in place: `data` holds the bytes between two delimiters. Returns the decoded
/// length, or false on a code byte that runs past the end (or a zero, which cannot occur
/// between delimiters but is refused anyway).
bool cobs_decode_in_place(std::vector<std::uint8_t>& data, std::size_t& decoded) {
    std::size_t read = 0;
    std::size_t write = 0;
    const std::size_t n = data.size();
    while (read < n) {
        const std::uint8_t code = data[read++];
        if (code == 0 || read + code - 1u > n)
            return false;
        for (unsigned i = 1; i < code; ++i)
            data[write++] = data[read++];
        // A code below 0xFF stands for a zero after its run, except at the very end.
        if (code != 0xFF && read < n)
            data[write++] = 0;
    }
    decoded = write;
    return true;
}

decode_result make_error(decode_error e, std::size_t consumed, bool fatal = false) {
    decode_result r;
    r.type = decode_result::kind::error;
    r.error = e;
    r.consumed = consumed;
    r.fatal = fatal;
    return r;
}

} // namespace

std::string_view to_string(decode_error e) noexcept {
    switch (e) {
    case decode_error::oversize:
        return "oversize";
    case decode_error::bad_varint:
        return "bad_varint";
    case decode_error::bad_cobs:
        return "bad_cobs";
    case decode_error::bad_crc:
        return "bad_crc";
    }
    return "unknown";
}

frame_decoder::frame_decoder(framing kind, std::size_t max_payload)
    : kind_(kind)
    , max_payload_(max_payload)
    , max_encoded_(cobs_encoded_size(max_payload + crc_bytes))
    , state_(state::length) {}

decode_result frame_decoder::feed(std::span<const std::uint8_t> input) {
    if (state_ == state::failed)
        return make_error(decode_error::bad_varint, 0, true);
    if (payload_out_) {
        // The previous frame's payload was valid until this call.
        buffer_.clear();
        payload_out_ = false;
    }
    return kind_ == framing::length_prefixed ? feed_length_prefixed(input) : feed_cobs(input);
}

decode_result frame_decoder::feed_length_prefixed(std::span<const std::uint8_t> input) {
    std::size_t pos = 0;
    while (pos < input.size()) {
        switch (state_) {
        case state::length: {
            const std::uint8_t byte = input[pos++];
            // The 10th byte may only carry the top bit of a 64-bit value.
            if (length_bytes_ == max_varint_bytes - 1 && (byte & 0x7E) != 0) {
                state_ = state::failed;
                ++stats_.bad_varint;
                return make_error(decode_error::bad_varint, pos, true);
            }
            length_ |= std::uint64_t{byte & 0x7Fu} << (7 * length_bytes_);
            ++length_bytes_;
            if (byte & 0x80) {
                if (length_bytes_ == max_varint_bytes) {
                    state_ = state::failed;
                    ++stats_.bad_varint;
                    return make_error(decode_error::bad_varint, pos, true);
                }
                continue;
            }
            const auto length = length_;
            length_ = 0;
            length_bytes_ = 0;
            if (length > max_payload_) {
                // Refused before allocating; its bytes are skipped so the next frame is found.
                ++stats_.oversize;
                skip_left_ = length;
                state_ = state::skip;
                auto r = make_error(decode_error::oversize, pos);
                r.declared_length = length;
                return r;
            }
            buffer_.clear();
            buffer_.reserve(static_cast<std::size_t>(length));
            length_ = length;
            state_ = state::body;
            if (length == 0) {
                state_ = state::length;
                ++stats_.frames;
                decode_result r;
                r.type = decode_result::kind::frame;
                r.consumed = pos;
                r.payload = {buffer_.data(), 0};
                return r;
            }
            break;
        }
        case state::body: {
            const auto want = static_cast<std::size_t>(length_) - buffer_.size();
            const auto take = std::min(want, input.size() - pos);
            buffer_.insert(buffer_.end(), input.begin() + static_cast<std::ptrdiff_t>(pos),
                           input.begin() + static_cast<std::ptrdiff_t>(pos + take));
            pos += take;
            if (buffer_.size() == length_) {
                length_ = 0;
                state_ = state::length;
                ++stats_.frames;
                decode_result r;
                r.type = decode_result::kind::frame;
                r.consumed = pos;
                r.payload = {buffer_.data(), buffer_.size()};
                return r;
            }
            break;
        }
        case state::skip: {
            const auto take =
                static_cast<std::size_t>(std::min<std::uint64_t>(skip_left_, input.size() - pos));
            skip_left_ -= take;
            pos += take;
            if (skip_left_ == 0)
                state_ = state::length;
            break;
        }
        case state::discard:
        case state::failed:
            break; // not used by this framing
        }
    }
    decode_result r;
    r.consumed = pos;
    return r;
}

decode_result frame_decoder::feed_cobs(std::span<const std::uint8_t> input) {
    std::size_t pos = 0;
    while (pos < input.size()) {
        const std::uint8_t byte = input[pos++];
        if (state_ == state::discard) {
            // After an oversize frame: drop everything up to the next delimiter.
            if (byte == 0)
                state_ = state::length;
            continue;
        }
        if (byte == 0) {
            if (buffer_.empty())
                continue; // back-to-back delimiters: peers may send 0x00 to flush a line
            return finish_cobs_frame(pos);
        }
        if (buffer_.size() == max_encoded_) {
            ++stats_.oversize;
            buffer_.clear();
            state_ = state::discard;
            return make_error(decode_error::oversize, pos);
        }
        if (buffer_.capacity() == 0)
            buffer_.reserve(max_encoded_);
        buffer_.push_back(byte);
    }
    decode_result r;
    r.consumed = pos;
    return r;
}

decode_result frame_decoder::finish_cobs_frame(std::size_t consumed) {
    std::size_t decoded = 0;
    if (!cobs_decode_in_place(buffer_, decoded)) {
        ++stats_.bad_cobs;
        buffer_.clear();
        return make_error(decode_error::bad_cobs, consumed);
    }
    if (decoded < crc_bytes) {
        ++stats_.bad_crc;
        buffer_.clear();
        return make_error(decode_error::bad_crc, consumed);
    }
    const std::size_t length = decoded - crc_bytes;
    const auto expected = static_cast<std::uint16_t>((buffer_[length] << 8) | buffer_[length + 1]);
    if (crc16_ccitt_false({buffer_.data(), length}) != expected) {
        ++stats_.bad_crc;
        buffer_.clear();
        return make_error(decode_error::bad_crc, consumed);
    }
    if (length > max_payload_) {
        ++stats_.oversize;
        buffer_.clear();
        return make_error(decode_error::oversize, consumed);
    }
    ++stats_.frames;
    // The payload stays in buffer_ until the next feed() clears it.
    buffer_.resize(length);
    decode_result r;
    r.type = decode_result::kind::frame;
    r.consumed = consumed;
    r.payload = {buffer_.data(), length};
    payload_out_ = true;
    return r;
}

std::uint16_t crc16_ccitt_false(std::span<const std::uint8_t> bytes) noexcept {
    std::uint16_t crc = 0xFFFF;
    for (const auto byte : bytes) {
        crc = static_cast<std::uint16_t>(crc ^ (byte << 8));
        for (int bit = 0; bit < 8; ++bit)
            crc = static_cast<std::uint16_t>((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

void append_length_prefixed(std::span<const std::uint8_t> message, std::vector<std::uint8_t>& out) {
    std::uint64_t n = message.size();
    while (n >= 0x80) {
        out.push_back(static_cast<std::uint8_t>(n | 0x80));
        n >>= 7;
    }
    out.push_back(static_cast<std::uint8_t>(n));
    out.insert(out.end(), message.begin(), message.end());
}

void append_cobs_crc(std::span<const std::uint8_t> message, std::vector<std::uint8_t>& out) {
    const std::uint16_t crc = crc16_ccitt_false(message);
    const std::uint8_t tail[crc_bytes] = {static_cast<std::uint8_t>(crc >> 8),
                                          static_cast<std::uint8_t>(crc & 0xFF)};
    out.reserve(out.size() + cobs_encoded_size(message.size() + crc_bytes) + 1);
    std::size_t code_at = out.size();
    out.push_back(0); // placeholder for the first code byte
    std::uint8_t code = 1;
    auto put = [&](std::uint8_t byte) {
        if (byte == 0) {
            out[code_at] = code;
            code_at = out.size();
            out.push_back(0);
            code = 1;
            return;
        }
        out.push_back(byte);
        if (++code == 0xFF) {
            out[code_at] = code;
            code_at = out.size();
            out.push_back(0);
            code = 1;
        }
    };
    for (const auto byte : message)
        put(byte);
    for (const auto byte : tail)
        put(byte);
    out[code_at] = code;
    out.push_back(0); // the delimiter
}

void append_framed(framing kind, std::span<const std::uint8_t> message,
                   std::vector<std::uint8_t>& out) {
    if (kind == framing::length_prefixed)
        append_length_prefixed(message, out);
    else
        append_cobs_crc(message, out);
}

std::size_t max_framed_size(framing kind, std::size_t payload) noexcept {
    if (kind == framing::length_prefixed) {
        std::size_t prefix = 1;
        for (auto n = payload; n >= 0x80; n >>= 7)
            ++prefix;
        return prefix + payload;
    }
    return cobs_encoded_size(payload + crc_bytes) + 1;
}

} // namespace spear::transport::frame
