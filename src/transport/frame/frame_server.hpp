// Frame server: the TCP listener and the serial ports of frame_config, one frame_link each,
// with the same start/stop shape as http_server.
#pragma once

#include "core/config.hpp"
#include "core/limits.hpp"
#include "service/execution_service.hpp"
#include "transport/frame/frame_link.hpp"
#include "transport/session_list.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <list>
#include <memory>
#include <optional>
#include <vector>

namespace spear::transport::frame {

class frame_server {
public:
    frame_server(asio::io_context& ioc, service::execution_service& service,
                 const core::config& config);
    frame_server(const frame_server&) = delete;
    frame_server& operator=(const frame_server&) = delete;

    /// Binds the TCP listener when frame.tcp_enabled, and logs
    /// "serving frames on tcp://ADDRESS:PORT" (the real port when the config says 0).
    /// Throws std::runtime_error naming the address on failure. Serial ports are opened by
    /// run(), and a device that is missing is retried, never fatal.
    void listen();
    std::optional<asio::ip::tcp::endpoint> tcp_endpoint() const;

    /// Spawns the accept loop and one coroutine per serial port on the io_context. Each
    /// serial coroutine opens its device (logging "serving frames on serial DEVICE at BAUD
    /// baud"), serves it, and reopens it after an error (unplugged USB adapter, closed pty)
    /// every `reopen_delay` until stop().
    void run();

    /// Stops accepting and reopening; idle links close now, busy ones once their
    /// outstanding requests are answered (new requests get Error unavailable).
    void stop();
    /// Closes every link (end of shutdown).
    void close_all();
    /// Shutdown, after the service has drained: stop(), let busy links answer for at most
    /// `bound`, then close what is left and wait (at most `bound` again) for every link to end.
    asio::awaitable<void> drain(std::chrono::milliseconds bound);
    std::size_t links() const noexcept { return links_->size(); }

    /// Delay before a serial device is opened again after it failed or closed.
    static constexpr std::chrono::milliseconds reopen_delay =
        core::limits::frame_serial_reopen_delay;

private:
    asio::awaitable<void> accept_loop();
    asio::awaitable<void> serial_loop(std::size_t index);
    asio::awaitable<void> serve_link(std::shared_ptr<frame_link> link);
    asio::awaitable<void> refuse(asio::ip::tcp::socket socket);

    asio::io_context& ioc_;
    service::execution_service& service_;
    const core::config& config_;
    asio::ip::tcp::acceptor acceptor_;
    std::vector<std::unique_ptr<asio::steady_timer>> reopen_timers_; ///< one per serial port
    std::shared_ptr<session_list<std::shared_ptr<frame_link>>> links_ =
        std::make_shared<session_list<std::shared_ptr<frame_link>>>();
    bool stopping_ = false;
};

} // namespace spear::transport::frame
