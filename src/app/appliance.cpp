// Appliance wiring and lifecycle on a single-threaded io_context.
#include "app/appliance.hpp"

#include "cluster/cluster_node.hpp"
#include "core/log.hpp"
#include "core/limits.hpp"
#include "platform/escaped_children.hpp"
#include "platform/memory.hpp"
#include "platform/sd_notify.hpp"
#include "platform/signals.hpp"
#include "service/execution_service.hpp"
#include "transport/frame/frame_server.hpp"
#include "transport/http/http_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <csignal>
#include <optional>
#include <stdexcept>
#include <thread>

namespace spear::app {

namespace asio = boost::asio;

namespace {

void log_exception(std::exception_ptr e) { log::task_ended("appliance task", e); }

std::string function_names(const core::config& cfg) {
    std::string names;
    for (const auto& f : cfg.functions) {
        if (!names.empty())
            names += ", ";
        names += f.name;
    }
    return names.empty() ? "none" : names;
}

// WATCHDOG=1 every interval from the io_context itself: a stalled loop stops the pings and the
// service manager restarts the appliance (WatchdogSec in packaging/spearlet.service).
asio::awaitable<void> run_watchdog(platform::service_notifier& notifier) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (;;) {
        notifier.notify("WATCHDOG=1");
        timer.expires_after(notifier.watchdog_interval());
        co_await timer.async_wait(asio::use_awaitable);
    }
}

/// Returns the heap's free pages to the OS once more than limits::heap_trim_free_bytes are free
/// (after a burst of viewers or queued requests), checking every limits::heap_trim_period.
asio::awaitable<void> run_heap_trim() {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (;;) {
        timer.expires_after(core::limits::heap_trim_period);
        co_await timer.async_wait(asio::use_awaitable);
        if (platform::heap_free_bytes() > core::limits::heap_trim_free_bytes)
            platform::trim_heap();
    }
}

} // namespace

int run_appliance(const core::config& cfg, std::string_view config_source) {
    platform::ignore_sigpipe();
    // Orphaned descendants of functions (setsid escapes) become ours, so the process runtime's
    // sweep can end them (docs/operations.md, "Hostile functions").
    if (!platform::become_child_subreaper())
        log::warn("cannot become child subreaper: a function process that leaves its process "
                  "group (setsid) can outlive its execution");
    platform::service_notifier notifier; // before anything can start a thread or a child
    asio::io_context ioc(1);
    // With node.data_dir, the service opens and reads back its durable results here: a dir
    // that is locked by another instance, read-only or full, or a results file of another
    // version or geometry, stops the start with the reason.
    std::optional<service::execution_service> service_holder;
    try {
        service_holder.emplace(ioc.get_executor(), cfg);
    } catch (const std::runtime_error& e) {
        log::error(std::string("cannot start: ") + e.what());
        return 1;
    }
    auto& service = *service_holder;

    // A cluster node (a `cluster` section): connects to NATS in the background; until it is
    // ready, and whenever NATS is away, the appliance serves alone.
    std::optional<cluster::cluster_node> cluster;
    if (cfg.cluster) {
        cluster.emplace(ioc.get_executor(), service, cfg);
        cluster->start();
    }

    std::optional<transport::http::http_server> http;
    if (cfg.http.enabled) {
        http.emplace(ioc, service, cfg);
        try {
            http->listen();
        } catch (const std::exception& e) {
            log::error(e.what());
            return 1;
        }
        asio::co_spawn(ioc, http->run_accept_loop(), log_exception);
    }

    std::optional<transport::frame::frame_server> frames;
    if (cfg.frame.tcp_enabled || !cfg.frame.serial.empty()) {
        frames.emplace(ioc, service, cfg);
        try {
            frames->listen();
        } catch (const std::exception& e) {
            log::error(e.what());
            return 1;
        }
        frames->run();
    }

    std::string serving = "spearlet " SPEAR_VERSION " (" + std::string(config_source) + ")";
    if (http) {
        const auto ep = http->local_endpoint();
        serving += " serving HTTP on http://" + ep.address().to_string() + ":" +
                   std::to_string(ep.port());
    }
    if (const auto ep = frames ? frames->tcp_endpoint() : std::nullopt)
        serving += std::string(http ? "," : "") + " serving frames on tcp://" +
                   ep->address().to_string() + ":" + std::to_string(ep->port());
    serving += " with " + std::to_string(cfg.functions.size()) + " functions (" +
               function_names(cfg) + ")";
    if (cfg.cluster)
        serving += " as cluster node '" + cfg.cluster->node_id + "'";
    log::info(serving);
    // Every listener is bound by now: systemd (Type=notify) may start what depends on us.
    notifier.notify("READY=1\nSTATUS=" + serving);
    if (notifier.watchdog_interval().count() > 0)
        asio::co_spawn(ioc, run_watchdog(notifier), log_exception);
    asio::co_spawn(ioc, run_heap_trim(), log_exception);

    // SIGTERM/SIGINT: stop accepting, drain sync requests within the grace period, cancel the
    // rest, close connections, stop. A second signal during the drain stops at once.
    asio::signal_set signals(ioc, SIGTERM, SIGINT);
    // A second signal stops the loop at once; the suspended session frames are destroyed with
    // the io_context afterwards, and they leave session lists they co-own (session_list.hpp).
    auto on_signal_again = [&](const boost::system::error_code& ec, int) {
        if (ec)
            return;
        log::warn("second signal: stopping now");
        ioc.stop();
    };
    auto on_signal = [&](const boost::system::error_code& ec, int sig) {
        if (ec)
            return;
        log::info(std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") +
                  ": shutting down");
        notifier.notify("STOPPING=1");
        // The designed order: stop accepting; the service drains sync callers within the
        // grace, cancels the rest and waits for the runtimes; then the connections write their
        // last responses and close (each step bounded, none polled).
        auto drain = [&]() -> asio::awaitable<void> {
            if (http)
                http->stop_accepting();
            if (frames)
                frames->stop();
            if (cluster)
                cluster->stop_pulling();
            co_await service.shutdown(std::chrono::milliseconds(cfg.http.shutdown_grace_ms));
            if (cluster)
                co_await cluster->stop();
            if (http)
                co_await http->drain(core::limits::connection_drain);
            if (frames)
                co_await frames->drain(core::limits::connection_drain);
            log::info("stopped cleanly");
            ioc.stop();
        };
        asio::co_spawn(ioc, drain, log_exception);
        signals.async_wait(on_signal_again);
    };
    signals.async_wait(on_signal);

    ioc.run();
    // The loop has stopped, so the process runtime's follow-up sweeps will not run: finish
    // them here, blocking is fine now. Each round ends one level of escaped descendants.
    for (int round = 0; round < core::limits::escape_sweep_rounds; ++round) {
        if (platform::sweep_escaped_children().killed == 0)
            break;
        std::this_thread::sleep_for(core::limits::escape_sweep_interval);
    }
    return 0;
}

} // namespace spear::app
