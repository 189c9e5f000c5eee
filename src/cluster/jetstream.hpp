// JetStream over a nats_link, spoken as its JSON API on plain subjects ($JS.API.*, $KV.*,
// $JS.ACK.*): streams, durable pull consumers, acknowledgements and a key-value bucket. libnats's
// own js_* and kvStore_* calls block their thread until the server answers, which on the
// appliance's single loop thread would wait for a reply only that thread can read; these are
// coroutines on the io_context instead, each bounded by a timeout.
#pragma once

#include "cluster/nats_link.hpp"
#include "core/limits.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>
#include <variant>

namespace spear::cluster {

/// A JetStream failure: the API's {code, err_code, description}, or code 0 with a description
/// for a timeout or a lost link.
struct js_error {
    int code = 0;     ///< HTTP-like: 400, 404, 408, 409, 503; 0: no answer (timeout, link down)
    int err_code = 0; ///< JetStream's own: 10058 stream name in use, 10071 wrong last sequence...
    std::string description;
};

template <class T>
using js_result = std::variant<T, js_error>;

/// One key's value in a bucket.
struct kv_entry {
    std::string key;
    std::string value;
    std::uint64_t revision = 0; ///< the stream sequence of this value
    bool deleted = false;       ///< a delete or purge marker (KV-Operation header)
};

struct kv_bucket_config {
    std::string bucket;                 ///< stream "KV_<bucket>", subjects "$KV.<bucket>.>"
    std::int64_t history = 1;           ///< values kept per key
    std::int64_t max_bytes = -1;        ///< -1: unlimited; when full the oldest values go
    std::chrono::milliseconds ttl{0};   ///< max_age; 0: none
    int replicas = 1;
};

class jetstream {
public:
    /// `timeout` bounds each API call (the appliance's cluster.request_timeout_ms).
    /// `watch_heartbeat`: the idle heartbeat of a watch's consumer; a watch that misses two is
    /// re-created (0: none).
    jetstream(nats_link& link, std::chrono::milliseconds timeout,
              std::chrono::milliseconds watch_heartbeat =
                  std::chrono::milliseconds(core::limits::nats_watch_heartbeat_ms));
    /// Ends every watch (no kv handler runs afterwards). The link must still exist. Calls still
    /// suspended must not resume afterwards (as for any member coroutine), except fetch_one.
    ~jetstream();
    jetstream(const jetstream&) = delete;
    jetstream& operator=(const jetstream&) = delete;

    /// Any API call: publishes `body` to "$JS.API.<api>" and parses the JSON answer; an answer
    /// with an "error" member becomes js_error.
    asio::awaitable<js_result<boost::json::object>> call(std::string api, boost::json::object body);

    /// Creates the stream, or updates it when it exists with another config (10058).
    /// `config` is a StreamConfig ({name, subjects, retention, max_bytes, ...}).
    asio::awaitable<js_result<boost::json::object>> ensure_stream(boost::json::object config);
    /// Creates or updates a durable consumer (`config` has durable_name) on `stream`.
    asio::awaitable<js_result<boost::json::object>> ensure_consumer(std::string stream,
                                                                    boost::json::object config);

    /// Publishes to a stream subject and waits for its PubAck; the stream sequence. Headers
    /// such as Nats-Expected-Last-Subject-Sequence or Nats-Msg-Id pass through (a wrong expected
    /// sequence answers js_error err_code 10071).
    asio::awaitable<js_result<std::uint64_t>> publish(std::string subject, std::string data,
                                                      nats_headers headers = {});

    /// Pulls one message from a durable pull consumer, waiting at most `wait` on the server
    /// (a pull request with batch 1 and expires = wait). nullopt: none arrived within `wait`
    /// (404/408 status answers). The message's `reply` is its $JS.ACK subject. A js_error with
    /// code 0 at once when the link is down or goes down meanwhile.
    asio::awaitable<js_result<std::optional<nats_message>>>
    fetch_one(std::string stream, std::string consumer, std::chrono::milliseconds wait);
    /// Acknowledgements of a pulled message (fire and forget on its reply subject).
    bool ack(const nats_message& message);         ///< "+ACK": done, not redelivered
    bool in_progress(const nats_message& message); ///< "+WPI": resets its AckWait
    bool nak(const nats_message& message);         ///< "-NAK": redeliver now
    bool term(const nats_message& message);        ///< "+TERM": never redeliver
    /// The delivery count of a pulled message (from its $JS.ACK subject), 1 on the first.
    static std::uint64_t delivery_count(const nats_message& message) noexcept;

    /// Creates the bucket's stream ("KV_<bucket>", discard old, rollup allowed) or updates it.
    asio::awaitable<js_result<boost::json::object>> kv_create(kv_bucket_config config);
    /// The key's last value; nullopt when it has none.
    asio::awaitable<js_result<std::optional<kv_entry>>> kv_get(std::string bucket, std::string key);
    /// Puts a value; with `expected_revision`, only if the key's last revision is that one (0:
    /// only if the key has no value): else js_error err_code 10071. The new revision.
    asio::awaitable<js_result<std::uint64_t>>
    kv_put(std::string bucket, std::string key, std::string value,
           std::optional<std::uint64_t> expected_revision = std::nullopt);

    using kv_handler = std::function<void(kv_entry&&)>;
    /// Watches every key of `bucket`: first the last value of each key, then each new value, on
    /// the io_context, through an ephemeral push consumer (deliver last per subject, no acks)
    /// delivered to an inbox. Re-created after a reconnect (deliveries may repeat: the revision
    /// tells). Returns an id for unwatch; 0 when the link is closed.
    std::uint64_t kv_watch_all(std::string bucket, kv_handler on_entry);
    void unwatch(std::uint64_t id);

private:
    struct watch;
    void start_watch(const std::shared_ptr<watch>& w);
    void on_link_state(link_state state);
    static asio::awaitable<void> run_watch_create(jetstream* self, std::shared_ptr<bool> alive,
                                                  nats_link* link, std::chrono::milliseconds timeout,
                                                  std::shared_ptr<watch> w, std::uint64_t generation,
                                                  boost::json::object body);
    static asio::awaitable<void> run_watch_monitor(jetstream* self, std::shared_ptr<bool> alive,
                                                   std::shared_ptr<watch> w,
                                                   std::chrono::milliseconds heartbeat);

    nats_link& link_;
    std::chrono::milliseconds timeout_;
    std::chrono::milliseconds watch_heartbeat_;
    std::vector<std::shared_ptr<watch>> watches_;
    std::uint64_t next_watch_id_ = 0;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true); ///< seen by the link's state handler
    std::unordered_set<asio::steady_timer*> pulls_; ///< fetch_one waits, ended when the link drops
};

} // namespace spear::cluster
