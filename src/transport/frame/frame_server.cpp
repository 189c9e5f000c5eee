// Frame server: accept loop, serial open/reopen loops, and the set of live links.
#include "transport/frame/frame_server.hpp"

#include "core/limits.hpp"
#include "core/log.hpp"
#include "platform/serial_device.hpp"
#include "transport/tcp_listener.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/serial_port.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <boost/json/serialize.hpp>

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <sys/file.h>
#include <unistd.h>

namespace spear::transport::frame {

using asio::ip::tcp;
using core::error;
using core::error_code;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t max_tcp_links = core::limits::frame_tcp_links;

void log_exception(std::exception_ptr e) {
    log::task_ended("frame server task", e);
}

std::string endpoint_text(const tcp::endpoint& ep) {
    return ep.address().to_string() + ":" + std::to_string(ep.port());
}

/// GET /health "frame": the same counters as /metrics (never a key). The series are looked up
/// once (their references live as long as the registry) and the JSON text is rebuilt only
/// when a value changed: /health is polled far more often than frames go wrong.
std::function<const std::string&()> health_section(service::execution_service& service,
                                                  const core::config& config) {
    struct section_state {
        const core::metric_series* links = nullptr;
        const core::metric_series* handshakes = nullptr;
        std::vector<std::pair<std::string, const core::metric_series*>> bad;
        std::vector<std::pair<std::string, const core::metric_series*>> rejected;
        std::vector<double> last; ///< the values the text shows
        std::string text;
        std::size_t peers = 0;
        bool required = false;
    };
    auto state = std::make_shared<section_state>();
    state->links = &frame_links_metric(service).get();
    state->handshakes = &auth_handshakes_metric(service).get();
    for (auto e : {decode_error::oversize, decode_error::bad_varint, decode_error::bad_cobs,
                   decode_error::bad_crc}) {
        std::string name(to_string(e));
        state->bad.emplace_back(name, &bad_frames_metric(service).with({name}));
    }
    for (std::size_t i = 0; i < auth_failure_kinds; ++i) {
        std::string name(to_string(static_cast<auth_failure>(i)));
        state->rejected.emplace_back(name, &auth_rejected_metric(service).with({name}));
    }
    state->peers = config.frame.peers.size();
    state->required = config.frame.require_auth;
    return [state]() -> const std::string& {
        auto& st = *state;
        std::vector<double> now{st.links->value, st.handshakes->value};
        for (const auto& [name, series] : st.bad)
            now.push_back(series->value);
        for (const auto& [name, series] : st.rejected)
            now.push_back(series->value);
        if (now == st.last && !st.text.empty())
            return st.text;
        const auto count = [](const core::metric_series* s) {
            return static_cast<std::uint64_t>(s->value);
        };
        boost::json::object bad;
        for (const auto& [name, series] : st.bad)
            bad[name] = count(series);
        boost::json::object rejected;
        for (const auto& [name, series] : st.rejected)
            rejected[name] = count(series);
        boost::json::object auth;
        auth["peers"] = st.peers;
        auth["required"] = st.required;
        auth["handshakes"] = count(st.handshakes);
        auth["rejected"] = std::move(rejected);
        boost::json::object o;
        o["links"] = count(st.links);
        o["bad_frames"] = std::move(bad);
        o["auth"] = std::move(auth);
        st.text = boost::json::serialize(o);
        st.last = std::move(now);
        return st.text;
    };
}

} // namespace

frame_server::frame_server(asio::io_context& ioc, service::execution_service& service,
                           const core::config& config)
    : ioc_(ioc)
    , service_(service)
    , config_(config)
    , acceptor_(ioc) {
    frame_links_metric(service).get(); // every family shows from the first scrape
    bad_frames_metric(service);
    auth_rejected_metric(service);
    auth_handshakes_metric(service).get();
    service.add_health_section("frame", health_section(service, config));
}

void frame_server::listen() {
    const auto& fc = config_.frame;
    if (!fc.tcp_enabled)
        return;
    open_listener(acceptor_, fc.tcp_address, fc.tcp_port, "frames");
    log::info("serving frames on tcp://" + endpoint_text(acceptor_.local_endpoint()) +
              " (max frame " + std::to_string(fc.max_frame_bytes) + " bytes, " +
              std::to_string(fc.max_outstanding) + " outstanding per link, " +
              (fc.require_auth && !fc.tcp_allow_unauthenticated
                   ? "authentication required"
                   : fc.peers.empty() ? "unauthenticated" : "authentication optional") +
              ")");
}

std::optional<tcp::endpoint> frame_server::tcp_endpoint() const {
    if (!acceptor_.is_open())
        return std::nullopt;
    return acceptor_.local_endpoint();
}

void frame_server::run() {
    if (acceptor_.is_open())
        asio::co_spawn(ioc_, accept_loop(), log_exception);
    for (std::size_t i = 0; i < config_.frame.serial.size(); ++i) {
        reopen_timers_.push_back(std::make_unique<asio::steady_timer>(ioc_));
        asio::co_spawn(ioc_, serial_loop(i), log_exception);
    }
}

asio::awaitable<void> frame_server::accept_loop() {
    for (;;) {
        auto [ec, socket] = co_await async_accept_cloexec(acceptor_);
        if (stopping_ || ec == asio::error::operation_aborted)
            co_return;
        if (ec) {
            // EMFILE and friends: log, breathe, go on; the listener must survive.
            log::warn("frame accept failed: " + ec.message());
            asio::steady_timer pause(ioc_, core::limits::accept_retry_pause);
            co_await pause.async_wait(use_tuple);
            continue;
        }
        socket.set_option(tcp::no_delay(true), ec);
        if (links_->size() >= max_tcp_links + config_.frame.serial.size()) {
            asio::co_spawn(ioc_, refuse(std::move(socket)), log_exception);
            continue;
        }
        const auto remote = socket.remote_endpoint(ec);
        auto name = "tcp " + (ec ? std::string("?") : endpoint_text(remote));
        const bool auth_required =
            config_.frame.require_auth && !config_.frame.tcp_allow_unauthenticated;
        auto link = std::make_shared<frame_link>(std::move(socket), std::move(name), service_,
                                                 config_, auth_required);
        asio::co_spawn(ioc_, serve_link(std::move(link)), log_exception);
    }
}

asio::awaitable<void> frame_server::refuse(tcp::socket socket) {
    // One Error frame (request_id 0) so the peer knows why, then close.
    const auto message =
        encode_error(0,
                     error::make(error_code::too_many_requests,
                                 "the appliance serves " + std::to_string(max_tcp_links) +
                                     " frame peers at most; retry later"),
                     config_.frame.max_frame_bytes);
    bytes framed;
    append_length_prefixed(message, framed);
    asio::steady_timer deadline(ioc_, core::limits::refusal_write_timeout);
    deadline.async_wait([&socket](const boost::system::error_code& ec) {
        if (!ec) {
            boost::system::error_code ignored;
            socket.close(ignored);
        }
    });
    co_await asio::async_write(socket, asio::buffer(framed), use_tuple);
    deadline.cancel();
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
}

asio::awaitable<void> frame_server::serial_loop(std::size_t index) {
    const auto& port_config = config_.frame.serial[index];
    auto& retry = *reopen_timers_[index];
    bool reported_failure = false;
    while (!stopping_) {
        // Opened by platform (O_CLOEXEC: Asio's serial_port::open would leave the UART
        // inheritable by every function started while it is open), then handed to Asio.
        asio::serial_port port(ioc_);
        boost::system::error_code ec;
        const auto opened = platform::open_serial_device(port_config.device);
        if (opened.fd < 0)
            ec.assign(opened.error, boost::system::system_category());
        else {
            port.assign(opened.fd, ec);
            if (ec)
                ::close(opened.fd);
        }
        // Two processes reading one UART would each get half the bytes: take an advisory lock
        // (honoured by every spearlet, also when run as root, where TIOCEXCL is not).
        std::string why;
        if (!ec && ::flock(port.native_handle(), LOCK_EX | LOCK_NB) != 0) {
            why = "another process holds its lock (is a second spearlet running?)";
            ec = asio::error::already_open;
            boost::system::error_code ignored;
            port.close(ignored);
        }
        if (!ec)
            port.set_option(asio::serial_port_base::baud_rate(port_config.baud), ec);
        if (!ec)
            port.set_option(asio::serial_port_base::character_size(8), ec);
        if (!ec)
            port.set_option(asio::serial_port_base::parity(asio::serial_port_base::parity::none),
                            ec);
        if (!ec)
            port.set_option(
                asio::serial_port_base::stop_bits(asio::serial_port_base::stop_bits::one), ec);
        if (!ec)
            port.set_option(
                asio::serial_port_base::flow_control(asio::serial_port_base::flow_control::none),
                ec);
        if (ec) {
            // Logged once per outage: an unplugged adapter must not flood the log.
            if (!reported_failure)
                log::warn("cannot open serial device " + port_config.device + " at " +
                          std::to_string(port_config.baud) +
                          " baud: " + (why.empty() ? ec.message() : why) + "; retrying every " +
                          std::to_string(reopen_delay.count()) + " ms");
            reported_failure = true;
        } else {
            reported_failure = false;
            log::info("serving frames on serial " + port_config.device + " at " +
                      std::to_string(port_config.baud) + " baud");
            const bool auth_required =
                config_.frame.require_auth && !port_config.allow_unauthenticated;
            auto link = std::make_shared<frame_link>(std::move(port),
                                                     "serial " + port_config.device, service_,
                                                     config_, auth_required);
            co_await serve_link(std::move(link));
        }
        if (stopping_)
            break;
        retry.expires_after(reopen_delay);
        co_await retry.async_wait(use_tuple);
    }
}

asio::awaitable<void> frame_server::serve_link(std::shared_ptr<frame_link> link) {
    auto membership = session_list<std::shared_ptr<frame_link>>::join(links_, link);
    if (stopping_)
        link->drain();
    co_await link->run();
}

void frame_server::stop() {
    stopping_ = true;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    for (auto& timer : reopen_timers_)
        timer->cancel();
    for (auto& link : links_->all())
        link->drain();
}

void frame_server::close_all() {
    stopping_ = true;
    for (auto& link : links_->all())
        link->close();
}

asio::awaitable<void> frame_server::drain(std::chrono::milliseconds bound) {
    stop();
    const bool drained = co_await links_->wait_empty(ioc_.get_executor(), bound);
    if (drained)
        co_return;
    close_all();
    co_await links_->wait_empty(ioc_.get_executor(), bound);
}

} // namespace spear::transport::frame
