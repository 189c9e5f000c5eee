// Test fixture: a real `nats-server -js` on a free loopback port with its own store directory,
// started and killed by PID, and helpers that drive an io_context until a condition holds.
#pragma once

#include "cluster/nats_link.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <csignal>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace spear::test {

/// A free TCP port on 127.0.0.1 (bound once with port 0, then released).
inline int free_loopback_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    BOOST_REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    BOOST_REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    ::close(fd);
    return ntohs(addr.sin_port);
}

inline bool port_accepts(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

/// One nats-server process with JetStream; killed (SIGKILL) and its directory removed at the end.
class nats_test_server {
public:
    nats_test_server() : nats_test_server(free_loopback_port()) {}
    /// `extra_args` go to nats-server as they are; a non-empty `config` is written to a file
    /// passed with -c (authorization blocks, for instance).
    explicit nats_test_server(int port, std::vector<std::string> extra_args = {},
                              const std::string& config = {})
        : port_(port), extra_args_(std::move(extra_args)) {
        char tmpl[] = "/tmp/spear-nats-XXXXXX";
        BOOST_REQUIRE(::mkdtemp(tmpl) != nullptr);
        dir_ = tmpl;
        if (!config.empty()) {
            std::ofstream(dir_ + "/server.conf") << config;
            extra_args_.push_back("-c");
            extra_args_.push_back(dir_ + "/server.conf");
        }
        start();
    }
    ~nats_test_server() {
        kill();
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }
    nats_test_server(const nats_test_server&) = delete;
    nats_test_server& operator=(const nats_test_server&) = delete;

    /// Starts the server (again: same port and store directory) and waits until it accepts.
    void start() {
        BOOST_REQUIRE(pid_ <= 0);
        const std::string port = std::to_string(port_);
        const std::string store = dir_ + "/store";
        const std::string log = dir_ + "/server.log";
        pid_ = ::fork();
        BOOST_REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
            if (out >= 0) {
                ::dup2(out, 1);
                ::dup2(out, 2);
            }
            std::vector<std::string> args{"nats-server", "-js", "-a", "127.0.0.1", "-p", port,
                                          "-sd", store};
            args.insert(args.end(), extra_args_.begin(), extra_args_.end());
            std::vector<char*> argv;
            for (auto& a : args)
                argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execvp("nats-server", argv.data());
            ::execv("/usr/sbin/nats-server", argv.data()); // PATH without /usr/sbin
            ::_exit(127);
        }
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!port_accepts(port_)) {
            int status = 0;
            BOOST_REQUIRE_MESSAGE(::waitpid(pid_, &status, WNOHANG) == 0,
                                  "nats-server exited at start (see " + log + ")");
            BOOST_REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline,
                                  "nats-server did not listen in 10 s");
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }

    /// SIGKILL by PID and reap.
    void kill() {
        if (pid_ <= 0)
            return;
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }

    int port() const noexcept { return port_; }
    const std::string& dir() const noexcept { return dir_; }
    std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }

private:
    int port_;
    std::vector<std::string> extra_args_;
    std::string dir_;
    pid_t pid_ = -1;
};

/// Open file descriptors of this process (sockets included).
inline std::size_t open_fd_count() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
        ++n;
    return n;
}

/// Runs `io` until `done()` holds; false if `limit` passed first.
inline bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
                      std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline)
            return false;
        io.run_for(std::chrono::milliseconds(5));
        if (io.stopped())
            io.restart();
    }
    return true;
}

/// Runs `io` for `d` (work keeps flowing: NATS traffic, timers).
/// Link options for a test server at `url`: short timeouts, so failures show within seconds.
inline cluster::nats_options options_for(const std::string& url) {
    cluster::nats_options o;
    o.servers = {url};
    o.name = "unit-test";
    o.connect_timeout = std::chrono::milliseconds(1000);
    o.reconnect_wait = std::chrono::milliseconds(100);
    o.ping_interval = std::chrono::milliseconds(1000);
    return o;
}

inline void run_for(boost::asio::io_context& io, std::chrono::milliseconds d) {
    run_until(io, [] { return false; }, d);
}

/// Runs the coroutine on `io` until it ends; fails the test if it has not ended within `limit`.
template <class T>
T await(boost::asio::io_context& io, boost::asio::awaitable<T> body,
        std::chrono::milliseconds limit = std::chrono::milliseconds(15000)) {
    std::optional<T> out;
    std::exception_ptr failure;
    bool ended = false;
    boost::asio::co_spawn(io, std::move(body), [&](std::exception_ptr e, T value) {
        ended = true;
        failure = e;
        if (!e)
            out = std::move(value);
    });
    BOOST_REQUIRE_MESSAGE(run_until(io, [&] { return ended; }, limit),
                          "the coroutine did not end in time");
    if (failure)
        std::rethrow_exception(failure);
    return std::move(*out);
}

} // namespace spear::test
