// Frame link authentication (sans-io): the keys of frame.peers, the link_hello/link_challenge
// handshake and the MAC trailer of every frame, over the C code peers use (spear_hmac.c).
#pragma once

#include "core/config.hpp"
#include "transport/frame/frame_messages.hpp"

#include "spear_hmac.h"

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <variant>

namespace spear::transport::frame {

/// Why an authenticated link refused a frame: the `reason` label of
/// spearlet_frame_auth_rejected_total and the /health counters.
enum class auth_failure : std::uint8_t {
    unauthenticated, ///< a frame without a trailer where authentication is required
    no_keys,         ///< a link_hello to an appliance without frame.peers
    unknown_key,     ///< a link_hello naming a key id not in frame.peers
    bad_mac,         ///< wrong key, a tampered frame, or one from another link (nonce)
    replay,          ///< the MAC verifies but the counter is not above the last one
    exhausted,       ///< the appliance's counter would wrap: the peer must send a new hello
};
inline constexpr std::size_t auth_failure_kinds = 6;
std::string_view to_string(auth_failure f) noexcept;
/// The error frame's text for each failure: says what to do, never anything about the key.
std::string_view describe(auth_failure f) noexcept;

using link_nonce = std::array<std::uint8_t, SPEAR_AUTH_NONCE_BYTES>;

/// One link's authentication. Until a hello succeeds the link is unauthenticated (frames
/// pass when not required()); after it, every incoming frame must open() and every
/// outgoing one is seal()ed. A new hello replaces the session (a peer that restarted); a
/// failed hello leaves the current session as it was.
class link_auth {
public:
    /// `required`: refuse unauthenticated frames on this link (frame.require_auth and not
    /// this link's allow_unauthenticated). `config` must outlive the link (keys are not copied).
    link_auth(const core::frame_config& config, bool required);

    bool required() const noexcept { return required_; }
    bool active() const noexcept { return peer_ != nullptr; }
    /// The authenticated peer (its id and client), or nullptr.
    const core::frame_peer_config* peer() const noexcept { return peer_; }

    /// Handles a link_hello: starts a session with `fresh` (random bytes from the caller)
    /// and returns the sealed link_challenge message (counter 0), or why it was refused.
    std::variant<bytes, auth_failure> hello(std::uint32_t request_id, const hello_request& h,
                                            const link_nonce& fresh);

    /// On an active link: the frame's bytes before its trailer when the trailer verifies and
    /// its counter is above the last one accepted (the counter is then recorded).
    std::variant<std::span<const std::uint8_t>, auth_failure>
    open(std::span<const std::uint8_t> message);

    /// On an active link: appends the trailer with the next counter. False (message
    /// untouched) when the counter is exhausted.
    bool seal(bytes& message);

    /// Bytes seal() adds.
    static constexpr std::size_t trailer_bytes = SPEAR_AUTH_TRAILER_BYTES;

private:
    const core::frame_config& config_;
    bool required_;
    const core::frame_peer_config* peer_ = nullptr;
    spear_auth_t state_{};
};

} // namespace spear::transport::frame
