// One NATS connection (libnats) driven by the appliance's io_context through libnats's external
// event-loop API: socket readiness is awaited with Asio, and libnats's own threads (message
// delivery, reconnect, timers) only asio::post into the loop. Everything a caller sees
// (handlers, coroutine results, state changes) runs on the io_context.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spear::cluster {

namespace asio = boost::asio;

using nats_headers = std::vector<std::pair<std::string, std::string>>;

/// A message as delivered to a handler or a request's caller (a copy: libnats's is freed).
struct nats_message {
    std::string subject;
    std::string reply; ///< empty when the sender wants no answer
    std::string data;
    nats_headers headers;
    /// The status of a header-only status message ("NATS/1.0 404 No Messages": 404), else 0.
    /// JetStream answers a pull with 404 (no messages), 408 (request expired), 409, 100
    /// (idle heartbeat / flow control).
    int status = 0;
    std::string status_text;

    /// The first header named `name` (case-sensitive, as NATS headers are), or "".
    std::string_view header(std::string_view name) const noexcept;
};

struct nats_options {
    std::vector<std::string> servers; ///< "nats://host:port", at least one
    std::string name;                 ///< the connection name the server shows (the node id)
    std::string token;                ///< one of token, user+password, credentials_file, nkey_seed_file
    std::string user;
    std::string password;
    std::string credentials_file;     ///< a .creds file (JWT + nkey seed)
    std::string nkey_seed_file;       ///< a file holding an nkey seed ("SU...")
    std::chrono::milliseconds connect_timeout{2000};
    std::chrono::milliseconds reconnect_wait{500}; ///< between attempts, forever
    std::chrono::milliseconds ping_interval{5000}; ///< a dead server is noticed in ~2 pings
};

enum class link_state : std::uint8_t {
    connecting,   ///< never connected yet (start() retries until the first connect)
    connected,
    reconnecting, ///< lost the server; libnats buffers publishes and reconnects
    closed,       ///< close() was called
};
std::string_view to_string(link_state state) noexcept;

struct link_counters {
    std::uint64_t connects = 0;    ///< first connect and every reconnect
    std::uint64_t disconnects = 0;
    std::uint64_t messages_in = 0; ///< delivered to handlers and requests
    std::uint64_t messages_out = 0;
    std::uint64_t requests_timed_out = 0;
    std::uint64_t dropped = 0;     ///< libnats slow-consumer drops reported by async errors
};

class nats_link {
public:
    /// Does not connect: start() does. `executor` is the appliance's single io_context.
    nats_link(asio::any_io_executor executor, nats_options options);
    /// Closes the connection (if any) and frees libnats state; no handler runs afterwards.
    ~nats_link();
    nats_link(const nats_link&) = delete;
    nats_link& operator=(const nats_link&) = delete;

    /// Starts connecting and returns. Until the first connect succeeds it retries every
    /// reconnect_wait in the background (an appliance starts before its NATS server); after
    /// that libnats reconnects forever. The one blocking step: libnats makes its first attempt
    /// on each URL synchronously (a refused or answered connect: a millisecond; a black-holed
    /// address: up to connect_timeout per URL), so keep connect_timeout short.
    void start();
    /// Closes for good (shutdown): pending requests end with nullopt; no handler (message,
    /// state) runs afterwards. May wait for libnats's own threads (bounded by connect_timeout
    /// when a reconnect attempt is in its TCP connect). Idempotent.
    void close();

    link_state state() const noexcept;
    bool connected() const noexcept { return state() == link_state::connected; }
    /// The server currently connected to ("nats://127.0.0.1:4222"), "" when none.
    std::string connected_url() const;
    const link_counters& counters() const noexcept;
    /// Runs on the io_context after every state change (connected, reconnecting, connected
    /// again after a reconnect: subscriptions are restored by libnats; JetStream consumers and
    /// watches may need re-creating by the caller). Adds a handler: any number may be set (the
    /// jetstream object sets its own for its watches); none runs after close().
    void on_state_change(std::function<void(link_state)> handler);

    /// Publishes (fire and forget). False when the link is closed, never connected, or libnats
    /// refused it (its reconnect buffer is full). While reconnecting libnats buffers it.
    bool publish(std::string_view subject, std::string_view data, std::string_view reply = {},
                 const nats_headers* headers = nullptr);

    /// Request-reply through one wildcard inbox subscription: publishes with a fresh reply
    /// subject and completes with the first answer, or nullopt after `timeout` or when the link
    /// is not connected. A status-only answer (503 no responders) is returned as a message with
    /// `status` set. Never blocks the io_context.
    asio::awaitable<std::optional<nats_message>> request(std::string subject, std::string data,
                                                         std::chrono::milliseconds timeout,
                                                         nats_headers headers = {});

    using handler = std::function<void(nats_message&&)>;
    /// Subscribes `subject` (wildcards allowed), in `queue_group` when not empty. `on_message`
    /// runs on the io_context for each message. Kept across reconnects. Returns an id for
    /// unsubscribe; 0 when the link is closed.
    std::uint64_t subscribe(std::string subject, handler on_message, std::string queue_group = {});
    void unsubscribe(std::uint64_t id);

    /// A fresh, unique inbox subject ("_INBOX.<nuid>"): subscribe it to receive a push
    /// consumer's deliveries or a pull request's messages.
    std::string new_inbox() const;

    /// The io_context executor the link runs on (for work spawned on behalf of the link).
    asio::any_io_executor get_executor() const noexcept;

private:
    struct impl;
    std::shared_ptr<impl> impl_; ///< shared with posted completions, which check `closed`
};

} // namespace spear::cluster
