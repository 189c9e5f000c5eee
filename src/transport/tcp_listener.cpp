// TCP listeners and accepted sockets that no function can inherit, shared by the HTTP and frame
// servers.
#include "transport/tcp_listener.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

namespace spear::transport {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

void open_listener(tcp::acceptor& acceptor, const std::string& address, std::uint16_t port,
                   const std::string& what) {
    error_code ec;
    const auto ip = asio::ip::make_address(address, ec);
    if (ec)
        throw std::runtime_error(what + " address '" + address + "' is not an IP address");
    const tcp::endpoint endpoint{ip, port};
    // Created here, not by acceptor.open(): Asio's ::socket() call has no SOCK_CLOEXEC.
    // Non-blocking, so accept4 after a spurious wake-up returns EAGAIN instead of blocking.
    const int fd =
        ::socket(endpoint.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
                 endpoint.protocol().protocol());
    if (fd < 0)
        ec.assign(errno, boost::system::system_category());
    else {
        acceptor.assign(endpoint.protocol(), fd, ec);
        if (ec)
            ::close(fd);
    }
    if (!ec)
        acceptor.native_non_blocking(true, ec); // tells Asio what the descriptor already is
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

asio::awaitable<std::tuple<error_code, tcp::socket>> async_accept_cloexec(tcp::acceptor& acceptor) {
    tcp::socket socket(acceptor.get_executor());
    for (;;) {
        if (!acceptor.is_open())
            co_return std::make_tuple(error_code(asio::error::operation_aborted),
                                      std::move(socket));
        // Accept first and wait only when nothing is queued, as Asio's async_accept does: a
        // burst costs one accept4 per connection, not a reactor round trip each.
        sockaddr_storage peer{};
        socklen_t peer_size = sizeof peer;
        const int fd = ::accept4(acceptor.native_handle(), reinterpret_cast<sockaddr*>(&peer),
                                 &peer_size, SOCK_CLOEXEC);
        if (fd >= 0) {
            error_code ec;
            const auto protocol = peer.ss_family == AF_INET6 ? tcp::v6() : tcp::v4();
            socket.assign(protocol, fd, ec);
            if (ec)
                ::close(fd);
            // Let other work run between two accepts, as Asio's own async_accept does.
            co_await asio::post(acceptor.get_executor(), asio::use_awaitable);
            co_return std::make_tuple(ec, std::move(socket));
        }
        const int e = errno;
        // Gone before we took it (ECONNABORTED, EPROTO) or interrupted: try again at once.
        if (e == EINTR || e == ECONNABORTED || e == EPROTO)
            continue;
        if (e != EAGAIN && e != EWOULDBLOCK)
            co_return std::make_tuple(error_code(e, boost::system::system_category()),
                                      std::move(socket));
        auto [ec] = co_await acceptor.async_wait(tcp::acceptor::wait_read,
                                                 asio::as_tuple(asio::use_awaitable));
        if (ec)
            co_return std::make_tuple(ec, std::move(socket));
    }
}

} // namespace spear::transport
