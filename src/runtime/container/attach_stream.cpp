// The attach stream's demultiplexer (attach_stream.hpp).
#include "runtime/container/attach_stream.hpp"

namespace spear::runtime::container {

bool attach_demuxer::feed(std::string_view bytes, handler& out) {
    if (!error_.empty())
        return false;
    while (!bytes.empty()) {
        if (payload_left_ == 0) {
            const std::size_t take = std::min(bytes.size(), header_.size() - header_fill_);
            for (std::size_t i = 0; i < take; ++i)
                header_[header_fill_ + i] = static_cast<unsigned char>(bytes[i]);
            header_fill_ += take;
            bytes.remove_prefix(take);
            if (header_fill_ < header_.size())
                return true;
            header_fill_ = 0;
            if (header_[0] > 2 || header_[1] != 0 || header_[2] != 0 || header_[3] != 0) {
                error_ = "malformed attach stream: frame header with stream type " +
                         std::to_string(header_[0]);
                return false;
            }
            current_ = static_cast<stream>(header_[0]);
            payload_left_ = (std::uint32_t{header_[4]} << 24) | (std::uint32_t{header_[5]} << 16) |
                            (std::uint32_t{header_[6]} << 8) | std::uint32_t{header_[7]};
            continue; // an empty frame is legal: the next header follows
        }
        const std::size_t take = std::min<std::size_t>(bytes.size(), payload_left_);
        payload_left_ -= static_cast<std::uint32_t>(take);
        if (current_ != stream::stdin_stream)
            out.on_payload(current_, bytes.substr(0, take));
        bytes.remove_prefix(take);
    }
    return true;
}

} // namespace spear::runtime::container
