// Per-client submission rate: a token bucket refilled from the elapsed time.
#include "core/client_quota.hpp"

#include <algorithm>
#include <cmath>

namespace spear::core {

token_bucket::token_bucket(double rate_per_s, double burst, steady_time now)
    : rate_per_ms_(std::max(rate_per_s, 1e-9) / 1000.0)
    , burst_(std::max(burst, 1.0))
    , tokens_(burst_)
    , last_(now) {}

void token_bucket::refill(steady_time now) {
    if (now <= last_)
        return;
    const auto elapsed_us =
        std::chrono::duration_cast<std::chrono::microseconds>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + static_cast<double>(elapsed_us) / 1000.0 * rate_per_ms_);
    last_ = now;
}

std::optional<std::int64_t> token_bucket::take(steady_time now) {
    refill(now);
    if (tokens_ >= 1.0) {
        tokens_ -= 1.0;
        return std::nullopt;
    }
    const double wait_ms = std::ceil((1.0 - tokens_) / rate_per_ms_);
    return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::min(wait_ms, 1e12)));
}

} // namespace spear::core
