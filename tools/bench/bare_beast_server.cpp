// Benchmark reference (not part of spearlet): the least a Beast coroutine server does per
// request on one thread: read a request, write a fixed 200 JSON body, keep the connection.
// tools/bench/http_bench.sh runs it next to spearlet and nginx so each figure reads
// "ours / bare Beast" (what Beast itself costs) as well as "ours / nginx".
// Usage: bare_beast_server PORT   (binds 127.0.0.1; runs until killed)
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <cstdlib>
#include <iostream>

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

asio::awaitable<void> run_session(tcp::socket socket) {
    boost::beast::flat_buffer buffer;
    for (;;) {
        http::request<http::string_body> req;
        auto [rec, rn] = co_await http::async_read(socket, buffer, req, use_tuple);
        if (rec)
            break;
        http::response<http::string_body> res{http::status::ok, req.version()};
        res.set(http::field::content_type, "application/json");
        res.keep_alive(req.keep_alive());
        res.body() = R"({"status":"ok"})";
        res.prepare_payload();
        auto [wec, wn] = co_await http::async_write(socket, res, use_tuple);
        if (wec || !res.keep_alive())
            break;
    }
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> run_accept_loop(tcp::acceptor& acceptor) {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
        if (ec)
            continue;
        socket.set_option(tcp::no_delay(true), ec);
        asio::co_spawn(acceptor.get_executor(), run_session(std::move(socket)), asio::detached);
    }
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: bare_beast_server PORT\n";
        return 2;
    }
    asio::io_context ioc(1);
    tcp::acceptor acceptor(
        ioc, {asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(std::atoi(argv[1]))});
    asio::co_spawn(ioc, run_accept_loop(acceptor), asio::detached);
    ioc.run();
}
