// Who a request comes from (client_identity, from its token) and the per-client submission
// rate (token_bucket). Sans-io: the bucket takes `now`.
#pragma once

#include "core/clock.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace spear::core {

/// The client a request comes from, as the transport authenticated it. Index 0 is the default
/// client (no token configured, the single http.auth_token, or a frame link); index i >= 1 is
/// http.tokens[i - 1]. The service keys the scheduler's per-client limits and the records'
/// `client` field by it.
struct client_identity {
    std::uint32_t index = 0;
    std::string name;         ///< "" (no auth, frames), "admin" (auth_token), or the token's name
    bool admin = true;        ///< sees and cancels every client's executions
    int priority_ceiling = 9; ///< a higher context.priority is lowered to it

    /// True when this client may see or cancel a record carrying `record_client`.
    bool may_access(std::string_view record_client) const noexcept {
        return admin || record_client == name;
    }
};

/// A token bucket: `rate_per_s` tokens per second, holding at most `burst`. Starts full.
class token_bucket {
public:
    /// rate_per_s > 0; burst >= 1 (smaller values count as 1).
    token_bucket(double rate_per_s, double burst, steady_time now);
    /// Takes one token: nullopt when taken, else the ms until one is available (>= 1).
    std::optional<std::int64_t> take(steady_time now);

private:
    void refill(steady_time now);
    double rate_per_ms_;
    double burst_;
    double tokens_;
    steady_time last_;
};

} // namespace spear::core
