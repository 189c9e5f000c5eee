// JetStream's JSON API over the NATS link: requests to $JS.API.*, PubAcks, pull fetches,
// acknowledgements on $JS.ACK subjects, and a KV bucket as a stream "KV_<bucket>" (the layout
// nats.go and the nats CLI use, so `nats kv get` reads what the appliance writes).
#include "cluster/jetstream.hpp"

#include "core/limits.hpp"
#include "core/log.hpp"
#include "core/text_encoding.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <charconv>

namespace spear::cluster {

namespace json = boost::json;

namespace {

constexpr std::chrono::milliseconds watch_retry{1000}; ///< a failed watch consumer create

std::int64_t to_ns(std::chrono::milliseconds ms) noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(ms).count();
}

/// A bucket name as nats.go accepts it.
bool valid_bucket(std::string_view b) noexcept {
    return !b.empty() && std::all_of(b.begin(), b.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
    });
}

/// A key: subject tokens of [-/_=.a-zA-Z0-9], not starting or ending with '.', no empty token.
bool valid_key(std::string_view k) noexcept {
    if (k.empty() || k.front() == '.' || k.back() == '.' || k.find("..") != k.npos)
        return false;
    return std::all_of(k.begin(), k.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '/' || c == '_' || c == '=' || c == '.';
    });
}

/// A name that is one subject token (stream, consumer): no '.', '*', '>' or whitespace.
bool valid_token(std::string_view t) noexcept {
    return !t.empty() && std::none_of(t.begin(), t.end(), [](char c) {
        return c == '.' || c == '*' || c == '>' || c == ' ' || c == '\t' || c == '\r' ||
               c == '\n';
    });
}

js_error no_answer(std::string_view what) {
    return js_error{0, 0, std::string(what) + ": no answer (timeout, or the link is down)"};
}

/// The {"error": {...}} of an API answer, if any.
std::optional<js_error> api_error(const json::object& answer) {
    const auto* e = answer.if_contains("error");
    if (e == nullptr || !e->is_object())
        return std::nullopt;
    const auto& o = e->get_object();
    js_error err;
    if (const auto* c = o.if_contains("code"); c != nullptr && c->is_int64())
        err.code = static_cast<int>(c->get_int64());
    if (const auto* c = o.if_contains("err_code"); c != nullptr && c->is_int64())
        err.err_code = static_cast<int>(c->get_int64());
    if (const auto* d = o.if_contains("description"); d != nullptr && d->is_string())
        err.description = std::string(d->get_string());
    if (err.description.empty())
        err.description = "JetStream error";
    return err;
}

/// Parses an answer's payload into an object, or the error it carries.
js_result<json::object> parse_answer(const nats_message& m, std::string_view what) {
    if (m.status == 503)
        return js_error{503, 0, std::string(what) + ": no responders (is JetStream enabled?)"};
    if (m.status != 0 && m.data.empty())
        return js_error{m.status, 0, std::string(what) + ": " + m.status_text};
    boost::system::error_code ec;
    json::value v = json::parse(m.data, ec);
    if (ec || !v.is_object())
        return js_error{0, 0, std::string(what) + ": the answer is not a JSON object"};
    if (auto err = api_error(v.get_object()))
        return *err;
    return std::move(v.get_object());
}

struct ack_info {
    std::uint64_t delivered = 0;
    std::uint64_t stream_seq = 0;
};

/// "$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>" (9 tokens), or the
/// 2.9+ form "$JS.ACK.<domain>.<acchash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.
/// <pending>[.<token>]" (11 or 12 tokens).
std::optional<ack_info> parse_ack_subject(std::string_view reply) noexcept {
    constexpr std::string_view prefix = "$JS.ACK.";
    if (reply.substr(0, prefix.size()) != prefix)
        return std::nullopt;
    std::string_view tokens[12];
    std::size_t count = 0;
    std::size_t pos = 0;
    while (true) {
        const std::size_t dot = reply.find('.', pos);
        if (count == 12)
            return std::nullopt;
        tokens[count++] = reply.substr(pos, dot == reply.npos ? reply.npos : dot - pos);
        if (dot == reply.npos)
            break;
        pos = dot + 1;
    }
    std::size_t first = 0; // index of <delivered>
    if (count == 9)
        first = 4;
    else if (count == 11 || count == 12)
        first = 6;
    else
        return std::nullopt;
    auto number = [](std::string_view t, std::uint64_t& out) {
        const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
        return ec == std::errc{} && end == t.data() + t.size() && !t.empty();
    };
    ack_info info;
    if (!number(tokens[first], info.delivered) || !number(tokens[first + 1], info.stream_seq))
        return std::nullopt;
    return info;
}

/// The value of `name` in a raw header block ("NATS/1.0\r\nName: value\r\n\r\n"), or "".
std::string header_in_block(std::string_view block, std::string_view name) {
    std::size_t pos = block.find("\r\n");
    while (pos != block.npos) {
        pos += 2;
        const std::size_t end = block.find("\r\n", pos);
        const std::string_view line = block.substr(pos, end == block.npos ? block.npos : end - pos);
        if (const std::size_t colon = line.find(':'); colon != line.npos) {
            if (line.substr(0, colon) == name) {
                std::string_view value = line.substr(colon + 1);
                while (!value.empty() && value.front() == ' ')
                    value.remove_prefix(1);
                while (!value.empty() && value.back() == ' ')
                    value.remove_suffix(1);
                return std::string(value);
            }
        }
        pos = end;
    }
    return {};
}

bool is_delete_operation(std::string_view op) noexcept { return op == "DEL" || op == "PURGE"; }

/// One API call as a free coroutine: it touches neither the jetstream object nor the link
/// after its request resumes, so a watch may run it while either goes away.
asio::awaitable<js_result<json::object>> call_api(nats_link& link, std::chrono::milliseconds timeout,
                                                  std::string api, json::object body) {
    std::string subject = "$JS.API." + api;
    std::string payload = body.empty() ? std::string{} : json::serialize(body);
    auto answer = co_await link.request(std::move(subject), std::move(payload), timeout);
    if (!answer)
        co_return no_answer(api);
    co_return parse_answer(*answer, api);
}

} // namespace

struct jetstream::watch {
    explicit watch(const asio::any_io_executor& ex) : retry(ex), monitor(ex) {}
    std::uint64_t id = 0;
    std::string bucket;
    kv_handler on_entry;
    bool active = true;
    std::uint64_t generation = 0; ///< of the current consumer; older creates are undone
    std::uint64_t sub_id = 0;     ///< the inbox subscription
    std::string consumer;         ///< the server's name of the current consumer
    std::chrono::steady_clock::time_point last_seen; ///< a delivery or heartbeat, or the start
    asio::steady_timer retry;
    asio::steady_timer monitor;   ///< checks the heartbeats
};

jetstream::jetstream(nats_link& link, std::chrono::milliseconds timeout,
                     std::chrono::milliseconds watch_heartbeat)
    : link_(link), timeout_(timeout), watch_heartbeat_(watch_heartbeat) {
    link_.on_state_change([this, alive = alive_](link_state state) {
        if (*alive)
            on_link_state(state);
    });
}

jetstream::~jetstream() {
    *alive_ = false;
    for (auto* timer : pulls_)
        timer->cancel(); // their fetch_one calls end (touching nothing of this object)
    for (auto& w : watches_) {
        w->active = false;
        w->retry.cancel();
        w->monitor.cancel();
        if (w->sub_id != 0)
            link_.unsubscribe(w->sub_id);
    }
}

asio::awaitable<js_result<json::object>> jetstream::call(std::string api, json::object body) {
    return call_api(link_, timeout_, std::move(api), std::move(body));
}

asio::awaitable<js_result<json::object>> jetstream::ensure_stream(json::object config) {
    const auto* name = config.if_contains("name");
    if (name == nullptr || !name->is_string() || !valid_token(name->get_string()))
        co_return js_error{400, 0, "stream config needs a name that is one subject token"};
    const std::string stream(name->get_string());
    auto created = co_await call("STREAM.CREATE." + stream, config);
    if (const auto* err = std::get_if<js_error>(&created); err != nullptr && err->err_code == 10058)
        co_return co_await call("STREAM.UPDATE." + stream, std::move(config));
    co_return created;
}

asio::awaitable<js_result<json::object>> jetstream::ensure_consumer(std::string stream,
                                                                   json::object config) {
    const auto* durable = config.if_contains("durable_name");
    if (!valid_token(stream) || durable == nullptr || !durable->is_string() ||
        !valid_token(durable->get_string()))
        co_return js_error{400, 0, "consumer needs a stream and a durable_name (subject tokens)"};
    const std::string name(durable->get_string());
    json::object body;
    body["stream_name"] = stream;
    body["config"] = std::move(config);
    co_return co_await call("CONSUMER.DURABLE.CREATE." + stream + "." + name, std::move(body));
}

asio::awaitable<js_result<std::uint64_t>> jetstream::publish(std::string subject, std::string data,
                                                            nats_headers headers) {
    const std::string what = "publish to " + subject;
    auto answer = co_await link_.request(std::move(subject), std::move(data), timeout_,
                                         std::move(headers));
    if (!answer)
        co_return no_answer(what);
    auto parsed = parse_answer(*answer, what);
    if (auto* err = std::get_if<js_error>(&parsed)) {
        if (err->code == 503)
            err->description = what + ": no stream takes this subject";
        co_return std::move(*err);
    }
    const auto& ack = std::get<json::object>(parsed);
    const auto* seq = ack.if_contains("seq");
    if (seq == nullptr || !seq->is_number())
        co_return js_error{0, 0, what + ": the PubAck has no seq"};
    boost::system::error_code ec;
    const auto value = seq->to_number<std::uint64_t>(ec);
    if (ec)
        co_return js_error{0, 0, what + ": the PubAck has a bad seq"};
    co_return value;
}

asio::awaitable<js_result<std::optional<nats_message>>>
jetstream::fetch_one(std::string stream, std::string consumer, std::chrono::milliseconds wait) {
    if (!valid_token(stream) || !valid_token(consumer))
        co_return js_error{400, 0, "fetch needs a stream and a consumer name (subject tokens)"};
    json::object body;
    body["batch"] = 1;
    if (wait.count() > 0)
        body["expires"] = to_ns(wait);
    else
        body["no_wait"] = true; // an expires of 0 would wait on the server for ever
    // The answer comes to a dedicated inbox: a stream message arrives with its own subject (not
    // the reply subject), so the link's request mux, which routes by subject, cannot take it.
    // It is the message, or a status: 404 none, 408 expired, 409 (consumer deleted, too many
    // waiting pulls...). The server answers by `wait`; `timeout_` more covers the round trip.
    const std::string what = "fetch from " + stream + "/" + consumer;
    if (!link_.connected())
        co_return no_answer(what);
    struct pull {
        explicit pull(const asio::any_io_executor& ex) : timer(ex) {}
        asio::steady_timer timer;
        std::optional<nats_message> answer;
    };
    auto state = std::make_shared<pull>(link_.get_executor());
    const std::string inbox = link_.new_inbox();
    const auto sub = link_.subscribe(inbox, [state](nats_message&& m) {
        if (m.status == 100 || state->answer)
            return; // a heartbeat, or more than asked for
        state->answer = std::move(m);
        state->timer.cancel();
    });
    if (sub == 0)
        co_return no_answer(what);
    if (!link_.publish("$JS.API.CONSUMER.MSG.NEXT." + stream + "." + consumer,
                       json::serialize(body), inbox)) {
        link_.unsubscribe(sub);
        co_return no_answer(what);
    }
    state->timer.expires_after(wait + timeout_);
    auto alive = alive_;
    pulls_.insert(&state->timer);
    (void)co_await state->timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!*alive)
        co_return no_answer(what); // the jetstream object went away meanwhile
    pulls_.erase(&state->timer);
    link_.unsubscribe(sub);
    if (!state->answer)
        co_return no_answer(what);
    auto& answer = state->answer;
    if (answer->status == 404 || answer->status == 408)
        co_return std::optional<nats_message>{};
    if (answer->status == 503)
        co_return js_error{503, 0, what + ": no responders (is JetStream enabled?)"};
    if (answer->status != 0)
        co_return js_error{answer->status, 0, what + ": " + answer->status_text};
    if (!answer->reply.starts_with("$JS.ACK.")) {
        // Not a stream message: an API error ({"error": ...}).
        auto parsed = parse_answer(*answer, what);
        if (auto* err = std::get_if<js_error>(&parsed))
            co_return std::move(*err);
        co_return js_error{0, 0, what + ": unexpected answer"};
    }
    co_return std::move(answer);
}

bool jetstream::ack(const nats_message& message) {
    return !message.reply.empty() && link_.publish(message.reply, "+ACK");
}
bool jetstream::in_progress(const nats_message& message) {
    return !message.reply.empty() && link_.publish(message.reply, "+WPI");
}
bool jetstream::nak(const nats_message& message) {
    return !message.reply.empty() && link_.publish(message.reply, "-NAK");
}
bool jetstream::term(const nats_message& message) {
    return !message.reply.empty() && link_.publish(message.reply, "+TERM");
}

std::uint64_t jetstream::delivery_count(const nats_message& message) noexcept {
    const auto info = parse_ack_subject(message.reply);
    return info ? info->delivered : 0;
}

asio::awaitable<js_result<json::object>> jetstream::kv_create(kv_bucket_config config) {
    if (!valid_bucket(config.bucket))
        co_return js_error{400, 0, "bucket name must be [a-zA-Z0-9_-]+"};
    json::object stream;
    stream["name"] = "KV_" + config.bucket;
    stream["subjects"] = json::array{"$KV." + config.bucket + ".>"};
    stream["retention"] = "limits";
    stream["storage"] = "file";
    stream["max_msgs_per_subject"] = std::max<std::int64_t>(config.history, 1);
    stream["max_msgs"] = -1;
    stream["max_bytes"] = config.max_bytes;
    stream["max_age"] = to_ns(config.ttl);
    stream["max_msg_size"] = -1;
    stream["discard"] = "old";
    stream["num_replicas"] = std::max(config.replicas, 1);
    stream["allow_rollup_hdrs"] = true;
    stream["deny_delete"] = true;
    stream["allow_direct"] = true;
    // The server refuses a duplicate window longer than max_age (its default is 2 min).
    constexpr std::chrono::milliseconds default_window{120'000};
    stream["duplicate_window"] = to_ns(config.ttl.count() > 0 && config.ttl < default_window
                                           ? config.ttl
                                           : default_window);
    co_return co_await ensure_stream(std::move(stream));
}

asio::awaitable<js_result<std::optional<kv_entry>>> jetstream::kv_get(std::string bucket,
                                                                      std::string key) {
    if (!valid_bucket(bucket) || !valid_key(key))
        co_return js_error{400, 0, "invalid bucket or key"};
    json::object body;
    body["last_by_subj"] = "$KV." + bucket + "." + key;
    auto answer = co_await call("STREAM.MSG.GET.KV_" + bucket, std::move(body));
    if (auto* err = std::get_if<js_error>(&answer)) {
        if (err->err_code == 10037 || (err->code == 404 && err->err_code != 10059))
            co_return std::optional<kv_entry>{}; // no message for that subject
        co_return std::move(*err);
    }
    const auto* msg = std::get<json::object>(answer).if_contains("message");
    if (msg == nullptr || !msg->is_object())
        co_return js_error{0, 0, "kv get: the answer has no message"};
    const auto& m = msg->get_object();
    kv_entry entry;
    entry.key = key;
    if (const auto* seq = m.if_contains("seq"); seq != nullptr && seq->is_number()) {
        boost::system::error_code ec;
        entry.revision = seq->to_number<std::uint64_t>(ec);
    }
    if (const auto* data = m.if_contains("data"); data != nullptr && data->is_string()) {
        auto decoded = core::base64_decode(data->get_string());
        if (!decoded)
            co_return js_error{0, 0, "kv get: the value is not base64"};
        entry.value = std::move(*decoded);
    }
    if (const auto* hdrs = m.if_contains("hdrs"); hdrs != nullptr && hdrs->is_string()) {
        if (auto block = core::base64_decode(hdrs->get_string()))
            entry.deleted = is_delete_operation(header_in_block(*block, "KV-Operation"));
    }
    co_return std::optional<kv_entry>{std::move(entry)};
}

asio::awaitable<js_result<std::uint64_t>>
jetstream::kv_put(std::string bucket, std::string key, std::string value,
                  std::optional<std::uint64_t> expected_revision) {
    if (!valid_bucket(bucket) || !valid_key(key))
        co_return js_error{400, 0, "invalid bucket or key"};
    nats_headers headers;
    if (expected_revision)
        headers.emplace_back("Nats-Expected-Last-Subject-Sequence",
                             std::to_string(*expected_revision));
    co_return co_await publish("$KV." + bucket + "." + key, std::move(value), std::move(headers));
}

std::uint64_t jetstream::kv_watch_all(std::string bucket, kv_handler on_entry) {
    if (link_.state() == link_state::closed || !on_entry || !valid_bucket(bucket))
        return 0;
    auto w = std::make_shared<watch>(link_.get_executor());
    w->id = ++next_watch_id_;
    w->bucket = std::move(bucket);
    w->on_entry = std::move(on_entry);
    watches_.push_back(w);
    start_watch(w);
    if (watch_heartbeat_.count() > 0)
        asio::co_spawn(link_.get_executor(), run_watch_monitor(this, alive_, w, watch_heartbeat_),
                       asio::detached);
    return w->id;
}

void jetstream::unwatch(std::uint64_t id) {
    auto it = std::find_if(watches_.begin(), watches_.end(),
                           [id](const auto& w) { return w->id == id; });
    if (it == watches_.end())
        return;
    auto w = *it;
    watches_.erase(it);
    w->active = false;
    w->retry.cancel();
    w->monitor.cancel();
    if (w->sub_id != 0)
        link_.unsubscribe(w->sub_id);
    w->sub_id = 0;
    if (!w->consumer.empty())
        link_.publish("$JS.API.CONSUMER.DELETE.KV_" + w->bucket + "." + w->consumer, "");
}

void jetstream::on_link_state(link_state state) {
    if (state != link_state::connected) {
        // A pull's answer cannot come any more: end the waits now, not after wait + timeout.
        for (auto* timer : pulls_)
            timer->cancel();
        return;
    }
    // After a reconnect the push consumer may be gone (a restarted server keeps no ephemeral
    // consumer) and deliveries since the loss are unknown: start over from the last values.
    for (auto& w : watches_)
        start_watch(w);
}

/// (Re)creates the watch's inbox subscription and its ephemeral push consumer. Deliveries of a
/// superseded consumer stop with its subscription; the server deletes it after
/// nats_watch_inactive_ms without interest (or at once when it is told).
void jetstream::start_watch(const std::shared_ptr<watch>& w) {
    if (!w->active)
        return;
    const std::uint64_t gen = ++w->generation;
    w->last_seen = std::chrono::steady_clock::now();
    w->retry.cancel();
    if (w->sub_id != 0)
        link_.unsubscribe(w->sub_id);
    w->sub_id = 0;
    if (!w->consumer.empty()) {
        link_.publish("$JS.API.CONSUMER.DELETE.KV_" + w->bucket + "." + w->consumer, "");
        w->consumer.clear();
    }
    if (link_.state() != link_state::connected)
        return; // the next "connected" starts it

    const std::string inbox = link_.new_inbox();
    const std::string prefix = "$KV." + w->bucket + ".";
    std::weak_ptr<watch> weak = w;
    w->sub_id = link_.subscribe(inbox, [weak, prefix, gen, this](nats_message&& m) {
        auto self = weak.lock();
        if (!self || !self->active || self->generation != gen)
            return;
        self->last_seen = std::chrono::steady_clock::now();
        if (m.status != 0) {
            // 100: idle heartbeat or flow control (answered so the consumer keeps going).
            if (!m.reply.empty())
                link_.publish(m.reply, "");
            return;
        }
        if (!m.subject.starts_with(prefix))
            return;
        kv_entry entry;
        entry.key = m.subject.substr(prefix.size());
        if (const auto info = parse_ack_subject(m.reply))
            entry.revision = info->stream_seq;
        entry.deleted = is_delete_operation(m.header("KV-Operation"));
        entry.value = std::move(m.data);
        auto handler = self->on_entry; // the handler may unwatch
        handler(std::move(entry));
    });
    if (w->sub_id == 0)
        return;

    json::object config;
    config["deliver_subject"] = inbox;
    config["deliver_policy"] = "last_per_subject";
    config["ack_policy"] = "none";
    config["filter_subject"] = prefix + ">";
    config["inactive_threshold"] =
        to_ns(std::chrono::milliseconds(core::limits::nats_watch_inactive_ms));
    config["flow_control"] = false;
    config["headers_only"] = false;
    config["replay_policy"] = "instant";
    if (watch_heartbeat_.count() > 0)
        config["idle_heartbeat"] = to_ns(watch_heartbeat_);
    config["max_ack_pending"] = -1;
    json::object body;
    body["stream_name"] = "KV_" + w->bucket;
    body["config"] = std::move(config);

    asio::co_spawn(link_.get_executor(),
                   run_watch_create(this, alive_, &link_, timeout_, w, gen, std::move(body)),
                   asio::detached);
}

/// Creates the push consumer of one watch generation; on failure (e.g. the bucket does not
/// exist yet) tries again after watch_retry while the link is up. Touches `self` and `link`
/// only while `alive` (the jetstream object exists, and so does the link it needs).
asio::awaitable<void> jetstream::run_watch_create(jetstream* self, std::shared_ptr<bool> alive,
                                                  nats_link* link, std::chrono::milliseconds timeout,
                                                  std::shared_ptr<watch> w, std::uint64_t generation,
                                                  json::object body) {
    auto answer = co_await call_api(*link, timeout, "CONSUMER.CREATE.KV_" + w->bucket,
                                    std::move(body));
    if (!*alive || !w->active)
        co_return;
    std::string name;
    if (auto* ok = std::get_if<json::object>(&answer)) {
        if (const auto* n = ok->if_contains("name"); n != nullptr && n->is_string())
            name = std::string(n->get_string());
    }
    if (w->generation != generation) {
        // Superseded while it was being created: this consumer is nobody's.
        if (!name.empty())
            link->publish("$JS.API.CONSUMER.DELETE.KV_" + w->bucket + "." + name, "");
        co_return;
    }
    if (const auto* err = std::get_if<js_error>(&answer)) {
        log::warn("jetstream: watch of bucket " + w->bucket + " not created: " + err->description);
        if (link->state() != link_state::connected)
            co_return; // the next "connected" starts it again
        w->retry.expires_after(watch_retry);
        auto [ec] = co_await w->retry.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec || !*alive || !w->active || w->generation != generation)
            co_return;
        self->start_watch(w);
        co_return;
    }
    w->consumer = std::move(name);
}

/// Re-creates a watch whose deliveries and heartbeats stopped for two heartbeat intervals while
/// the link stayed up: its consumer is gone (in a NATS cluster, the server that held it died
/// while this node stayed connected to another; or the server deleted it).
asio::awaitable<void> jetstream::run_watch_monitor(jetstream* self, std::shared_ptr<bool> alive,
                                                   std::shared_ptr<watch> w,
                                                   std::chrono::milliseconds heartbeat) {
    while (true) {
        w->monitor.expires_after(heartbeat);
        auto [ec] = co_await w->monitor.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec || !*alive || !w->active)
            co_return;
        if (w->consumer.empty() || !self->link_.connected())
            continue; // not created yet (its creator retries), or the link is down
        if (std::chrono::steady_clock::now() - w->last_seen > 2 * heartbeat) {
            log::warn("jetstream: watch of bucket " + w->bucket +
                      " missed its heartbeats; re-creating it");
            self->start_watch(w);
        }
    }
}

} // namespace spear::cluster
