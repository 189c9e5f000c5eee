// Opening a TCP listener from a configured address and port, shared by the HTTP and frame servers.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <string>

namespace spear::transport {

/// Opens, binds (with SO_REUSEADDR) and listens. Throws std::runtime_error naming `what`
/// (e.g. "HTTP", "frames"), the address and the OS reason, for the startup log.
void open_listener(boost::asio::ip::tcp::acceptor& acceptor, const std::string& address,
                   std::uint16_t port, const std::string& what);

} // namespace spear::transport
