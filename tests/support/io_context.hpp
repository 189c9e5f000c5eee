// Test fixture: runs coroutines on a test io_context to their end, with a bound on the time.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <exception>
#include <optional>
#include <utility>

namespace spear::test {

/// Runs `io` until it has nothing left to do or `limit` has passed, then makes it runnable
/// again (the next test step may spawn more work on it).
inline void run_until_idle(boost::asio::io_context& io,
                           std::chrono::steady_clock::duration limit = std::chrono::seconds(5)) {
    io.run_for(limit);
    io.restart();
}

/// Runs `body` on `io` to its end and returns its result; rethrows what it threw. A body that
/// has not ended within `limit` fails the test.
template <class T>
T drive(boost::asio::io_context& io, boost::asio::awaitable<T> body,
        std::chrono::steady_clock::duration limit = std::chrono::seconds(20)) {
    std::optional<T> out;
    std::exception_ptr failure;
    boost::asio::co_spawn(io, std::move(body), [&](std::exception_ptr e, T value) {
        failure = e;
        if (!e)
            out = std::move(value);
    });
    run_until_idle(io, limit);
    if (failure)
        std::rethrow_exception(failure);
    BOOST_REQUIRE_MESSAGE(out.has_value(), "the coroutine did not end in time");
    return std::move(*out);
}

} // namespace spear::test
