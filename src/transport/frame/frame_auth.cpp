// Frame link authentication: the handshake and the trailer, as glue over spear_hmac.c.
#include "transport/frame/frame_auth.hpp"

#include <algorithm>

namespace spear::transport::frame {

std::string_view to_string(auth_failure f) noexcept {
    switch (f) {
    case auth_failure::unauthenticated:
        return "unauthenticated";
    case auth_failure::no_keys:
        return "no_keys";
    case auth_failure::unknown_key:
        return "unknown_key";
    case auth_failure::bad_mac:
        return "bad_mac";
    case auth_failure::replay:
        return "replay";
    case auth_failure::exhausted:
        return "exhausted";
    }
    return "unauthenticated";
}

std::string_view describe(auth_failure f) noexcept {
    switch (f) {
    case auth_failure::unauthenticated:
        return "this link requires authentication: send link_hello with your key id, then "
               "append the auth trailer to every frame (docs/constrained-peers.md)";
    case auth_failure::no_keys:
        return "this appliance has no frame keys (frame.peers): send frames without link_hello";
    case auth_failure::unknown_key:
        return "link_hello: unknown key id (not in frame.peers)";
    case auth_failure::bad_mac:
        return "the frame's MAC does not verify (wrong key, altered bytes, or a frame of "
               "another link); it was dropped";
    case auth_failure::replay:
        return "the frame's counter is not above the last one accepted (a replayed frame); it "
               "was dropped";
    case auth_failure::exhausted:
        return "the link's counter is exhausted: send link_hello again";
    }
    return "unauthorized";
}

link_auth::link_auth(const core::frame_config& config, bool required)
    : config_(config)
    , required_(required) {}

std::variant<bytes, auth_failure> link_auth::hello(std::uint32_t request_id, const hello_request& h,
                                                   const link_nonce& fresh) {
    if (config_.peers.empty())
        return auth_failure::no_keys;
    const auto it = std::find_if(config_.peers.begin(), config_.peers.end(),
                                 [&](const auto& p) { return p.id == h.key_id; });
    if (it == config_.peers.end())
        return auth_failure::unknown_key;
    peer_ = &*it;
    spear_auth_init(&state_, reinterpret_cast<const std::uint8_t*>(peer_->key.data()),
                    peer_->key.size(), h.peer_nonce.data(), fresh.data(),
                    SPEAR_AUTH_FROM_APPLIANCE);
    auto message = encode_challenge(request_id, fresh);
    const auto body = message.size();
    message.resize(body + trailer_bytes);
    spear_auth_write_trailer(&state_, SPEAR_AUTH_FROM_APPLIANCE, 0, message.data(), body,
                             message.data() + body);
    return message;
}

std::variant<std::span<const std::uint8_t>, auth_failure>
link_auth::open(std::span<const std::uint8_t> message) {
    if (!peer_)
        return auth_failure::unauthenticated;
    std::size_t body = 0;
    switch (spear_auth_open(&state_, message.data(), message.size(), &body, nullptr)) {
    case SPEAR_AUTH_OK:
        return message.first(body);
    case SPEAR_AUTH_MISSING:
        return auth_failure::unauthenticated;
    case SPEAR_AUTH_REPLAY:
        return auth_failure::replay;
    case SPEAR_AUTH_EXHAUSTED:
        return auth_failure::exhausted;
    case SPEAR_AUTH_BAD_MAC:
        break;
    }
    return auth_failure::bad_mac;
}

bool link_auth::seal(bytes& message) {
    if (!peer_)
        return true;
    const auto body = message.size();
    message.resize(body + trailer_bytes);
    if (spear_auth_seal(&state_, message.data(), body, message.size()) == 0) {
        message.resize(body);
        return false;
    }
    return true;
}

} // namespace spear::transport::frame
