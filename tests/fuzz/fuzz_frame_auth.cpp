// libFuzzer target: frame link authentication (link_auth over spear_hmac.c). After a real
// handshake, the input drives a sequence of frames: arbitrary bytes (never accepted, never read
// out of bounds), frames the peer seals (accepted once, then refused as a replay) and sealed
// frames with one byte flipped (always refused); every frame the appliance seals opens on the
// peer's side.
#include "fuzz_support.hpp"
#include "transport/frame/frame_auth.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>
#include <vector>

using spear::fuzz::check;
namespace frame = spear::transport::frame;

namespace {

/// Reads the input front to back; past the end every read is zero.
struct input_reader {
    const std::uint8_t* data;
    std::size_t size;
    std::uint8_t byte() {
        if (size == 0)
            return 0;
        --size;
        return *data++;
    }
    std::vector<std::uint8_t> take(std::size_t n) {
        n = std::min(n, size);
        std::vector<std::uint8_t> out(data, data + n);
        data += n;
        size -= n;
        return out;
    }
};

const spear::core::frame_config& the_config() {
    static const auto config = [] {
        spear::core::frame_config c;
        c.peers.push_back({"sensor-7", std::string(16, '\x5a'), "", 0});
        c.require_auth = true;
        return c;
    }();
    return config;
}

bool accepted(const std::variant<std::span<const std::uint8_t>, frame::auth_failure>& r) {
    return std::holds_alternative<std::span<const std::uint8_t>>(r);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    input_reader in{data, size};
    const auto& config = the_config();
    frame::link_auth appliance(config, true);
    check(!accepted(appliance.open(std::span<const std::uint8_t>(data, size)))); // no session

    frame::hello_request hello;
    hello.key_id = (in.byte() & 7) == 0 ? "other" : "sensor-7";
    frame::link_nonce fresh{};
    for (auto& b : hello.peer_nonce)
        b = in.byte();
    for (auto& b : fresh)
        b = in.byte();
    auto challenge = appliance.hello(1, hello, fresh);
    if (hello.key_id != "sensor-7") {
        check(std::get<frame::auth_failure>(challenge) == frame::auth_failure::unknown_key);
        return 0;
    }
    const auto& key = config.peers.front().key;
    spear_auth_t peer{};
    spear_auth_init(&peer, reinterpret_cast<const std::uint8_t*>(key.data()), key.size(),
                    hello.peer_nonce.data(), fresh.data(), SPEAR_AUTH_FROM_PEER);
    const auto& sealed_challenge = std::get<frame::bytes>(challenge);
    std::size_t body = 0;
    check(spear_auth_open_challenge(&peer, sealed_challenge.data(), sealed_challenge.size(),
                                    &body) == SPEAR_AUTH_OK);

    for (int step = 0; step < 64 && in.size > 0; ++step) {
        const auto op = in.byte() % 4;
        auto message = in.take(in.byte());
        switch (op) {
        case 0: { // arbitrary bytes: a forgery cannot verify (16-byte MAC)
            check(!accepted(appliance.open(message)));
            break;
        }
        case 1:   // sealed by the peer: accepted once, with its body, then a replay
        case 2: { // sealed, then one byte flipped: refused, and the good frame still opens
            const auto length = message.size();
            message.resize(length + SPEAR_AUTH_TRAILER_BYTES);
            check(spear_auth_seal(&peer, message.data(), length, message.size()) ==
                  message.size());
            if (op == 2) {
                auto tampered = message;
                tampered[in.byte() % tampered.size()] ^= static_cast<std::uint8_t>(in.byte() | 1);
                check(!accepted(appliance.open(tampered)));
            }
            const auto opened = appliance.open(message);
            check(accepted(opened));
            const auto got = std::get<std::span<const std::uint8_t>>(opened);
            check(got.size() == length && std::equal(got.begin(), got.end(), message.begin()));
            check(std::get<frame::auth_failure>(appliance.open(message)) ==
                  frame::auth_failure::replay);
            break;
        }
        default: { // sealed by the appliance: opens on the peer's side, once
            const auto length = message.size();
            check(appliance.seal(message));
            check(spear_auth_open(&peer, message.data(), message.size(), &body, nullptr) ==
                      SPEAR_AUTH_OK &&
                  body == length);
            check(spear_auth_open(&peer, message.data(), message.size(), &body, nullptr) ==
                  SPEAR_AUTH_REPLAY);
            break;
        }
        }
    }
    return 0;
}
