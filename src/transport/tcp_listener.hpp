// TCP listeners and accepted sockets that no function can inherit, shared by the HTTP and frame
// servers.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <string>
#include <tuple>

namespace spear::transport {

/// Opens (SOCK_CLOEXEC | SOCK_NONBLOCK), binds (with SO_REUSEADDR) and listens. Throws
/// std::runtime_error naming `what` (e.g. "HTTP", "frames"), the address and the OS reason, for
/// the startup log.
void open_listener(boost::asio::ip::tcp::acceptor& acceptor, const std::string& address,
                   std::uint16_t port, const std::string& what);

/// Accepts one connection with accept4(SOCK_CLOEXEC): Asio's async_accept calls plain accept(),
/// whose socket every function started before it closes would inherit. Use it instead of
/// async_accept on an acceptor opened by open_listener. Transient failures (a connection reset
/// while queued, a spurious wake-up) are retried; others (EMFILE, ...) are returned, and
/// operation_aborted once the acceptor is closed.
boost::asio::awaitable<std::tuple<boost::system::error_code, boost::asio::ip::tcp::socket>>
async_accept_cloexec(boost::asio::ip::tcp::acceptor& acceptor);

} // namespace spear::transport
