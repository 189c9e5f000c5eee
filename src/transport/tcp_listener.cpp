// TCP listener setup with startup-friendly errors.
#include "transport/tcp_listener.hpp"

#include <stdexcept>

namespace spear::transport {

namespace asio = boost::asio;

void open_listener(asio::ip::tcp::acceptor& acceptor, const std::string& address,
                   std::uint16_t port, const std::string& what) {
    boost::system::error_code ec;
    const auto ip = asio::ip::make_address(address, ec);
    if (ec)
        throw std::runtime_error(what + " address '" + address + "' is not an IP address");
    const asio::ip::tcp::endpoint endpoint{ip, port};
    acceptor.open(endpoint.protocol(), ec);
    if (!ec)
        acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec)
        acceptor.bind(endpoint, ec);
    if (!ec)
        acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
        throw std::runtime_error("cannot listen for " + what + " on " + address + ":" +
                                 std::to_string(port) + ": " + ec.message());
}

} // namespace spear::transport
