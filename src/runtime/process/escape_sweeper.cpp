// The escape sweeper: one platform sweep now, more on a timer while escapees keep coming.
#include "runtime/process/escape_sweeper.hpp"

#include "core/limits.hpp"
#include "core/log.hpp"
#include "platform/escaped_children.hpp"

#include <boost/asio/steady_timer.hpp>

#include <string>

namespace spear::runtime {

struct escape_sweeper::state {
    state(boost::asio::any_io_executor ex, bool kill)
        : timer(std::move(ex))
        , kill_live(kill) {}
    boost::asio::steady_timer timer;
    bool kill_live = true;
    bool scheduled = false;
    int rounds_left = 0;
};

escape_sweeper::escape_sweeper(boost::asio::any_io_executor executor, bool kill_live)
    : state_(std::make_shared<state>(std::move(executor), kill_live)) {}

namespace {

/// One sweep; true when it killed something (so another sweep should follow).
bool sweep_once(bool kill_live) {
    const auto swept = platform::sweep_escaped_children(kill_live);
    if (swept.killed > 0)
        log::warn("killed " + std::to_string(swept.killed) +
                  " process(es) that left their execution's process group (setsid or setpgid) "
                  "and outlived it");
    return swept.killed > 0;
}

} // namespace

void escape_sweeper::sweep() {
    if (!sweep_once(state_->kill_live))
        return;
    state_->rounds_left = core::limits::escape_sweep_rounds;
    if (!state_->scheduled)
        schedule(state_);
}

void escape_sweeper::schedule(const std::shared_ptr<state>& s) {
    s->scheduled = true;
    s->timer.expires_after(core::limits::escape_sweep_interval);
    s->timer.async_wait([s](const boost::system::error_code& ec) {
        s->scheduled = false;
        if (ec)
            return;
        if (sweep_once(s->kill_live) && --s->rounds_left > 0)
            schedule(s);
    });
}

} // namespace spear::runtime
