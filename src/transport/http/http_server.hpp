// HTTP/1.1 server: an accept loop and one coroutine per connection (Beast), with the limits
// and timeouts of http_config, and a designed shutdown.
#pragma once

#include "core/config.hpp"
#include "transport/http/http_routes.hpp"
#include "transport/session_list.hpp"
#include "transport/http/request_gate.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <chrono>
#include <memory>

namespace spear::transport::http {

struct session_deadline; // http_server.cpp: a session's phase deadline

class http_server {
public:
    http_server(boost::asio::io_context& ioc, service::execution_service& service,
                const core::config& config);

    /// Binds and listens; throws std::runtime_error naming the address on failure.
    void listen();
    boost::asio::ip::tcp::endpoint local_endpoint() const;

    /// Accepts until stop_accepting(); each connection runs run_session.
    boost::asio::awaitable<void> run_accept_loop();

    /// Closes the listener and every idle connection; busy ones close after their response.
    void stop_accepting();
    /// Closes every remaining connection (end of shutdown).
    void close_all();
    /// Shutdown, after the service has drained: stops accepting, lets busy connections write
    /// their last response (keep-alive off) for at most `bound`, then closes what is left and
    /// waits (at most `bound` again) until every session has ended.
    boost::asio::awaitable<void> drain(std::chrono::milliseconds bound);
    std::size_t connections() const noexcept { return sessions_->size(); }

private:
    struct session_entry {
        boost::beast::tcp_stream* stream = nullptr;
        bool busy = false;
    };

    boost::asio::awaitable<void> run_session(boost::beast::tcp_stream stream);
    boost::asio::awaitable<void> serve_requests(boost::beast::tcp_stream& stream,
                                                session_entry& self,
                                                session_deadline& deadline);
    boost::asio::awaitable<void> refuse_connection(boost::beast::tcp_stream stream);

    boost::asio::io_context& ioc_;
    service::execution_service& service_;
    const core::config& full_config_;
    const core::http_config& config_;
    router router_;
    request_gate gate_; ///< Host/Origin checks before any route, streams included
    core::metric_family& requests_; ///< spearlet_http_requests_total{route,code}
    boost::asio::ip::tcp::acceptor acceptor_;
    std::shared_ptr<session_list<session_entry>> sessions_ =
        std::make_shared<session_list<session_entry>>();
    bool stopping_ = false;
};

} // namespace spear::transport::http
