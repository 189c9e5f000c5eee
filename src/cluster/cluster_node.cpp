// The cluster node: mirror, publisher, shared work, control subjects (cluster_node.hpp).
#include "cluster/cluster_node.hpp"

#include "core/execution_id.hpp"
#include "core/limits.hpp"
#include "core/log.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <algorithm>

namespace spear::cluster {

namespace json = boost::json;
using core::ExecutionStatus;
using clock_type = std::chrono::steady_clock;

namespace {

std::int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(d);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

template <class T>
asio::awaitable<void> discard(asio::awaitable<T> task) {
    co_await std::move(task);
}

void spawn(const asio::any_io_executor& ex, asio::awaitable<void> task, std::string name) {
    auto done = [name = std::move(name)](std::exception_ptr e) { log::task_ended(name, e); };
    asio::co_spawn(ex, std::move(task), std::move(done));
}

/// Not yet claimed by a runner: waiting in the work stream.
bool queued_in_stream(const cluster_record& r) {
    return r.shared && r.node == r.origin && r.result.status == ExecutionStatus::pending &&
           r.attempt == 1 && !r.result.started_at;
}

nats_options link_options(const core::cluster_config& c) {
    nats_options o;
    o.servers = c.servers;
    o.name = "spearlet-" + c.node_id;
    o.token = c.token;
    o.user = c.user;
    o.password = c.password;
    o.credentials_file = c.credentials_file;
    o.nkey_seed_file = c.nkey_seed_file;
    o.connect_timeout = std::chrono::milliseconds(c.request_timeout_ms);
    return o;
}

} // namespace

cluster_node::cluster_node(asio::any_io_executor executor, service::execution_service& service,
                           const core::config& config)
    : executor_(executor)
    , service_(service)
    , config_(config)
    , cluster_(*config.cluster)
    , link_(executor, link_options(*config.cluster))
    , js_(link_, std::chrono::milliseconds(config.cluster->request_timeout_ms))
    , boot_(service::make_boot_nonce())
    , state_changed_(executor)
    , dirty_event_(executor)
    , slot_freed_(executor)
    , connected_gauge_(service.metrics()
                           .gauge("spear_cluster_connected",
                                  "1 while this node is connected to NATS and its stream, "
                                  "consumers and bucket are ready")
                           .get())
    , shared_counter_(service.metrics().counter(
          "spear_cluster_shared_total",
          "Async executions handed to the cluster (out) and pulled from it (in)", {"direction"})) {
    shared_counter_.with({"out"});
    shared_counter_.with({"in"});
    refresh_health();
    service.add_health_section("cluster", [this]() -> const std::string& {
        refresh_health();
        return health_;
    });
}

cluster_node::~cluster_node() {
    service_.set_remote(nullptr);
    link_.close();
}

void cluster_node::start() {
    service_.set_remote(this);
    auto changed = [this](link_state state) {
        if (state != link_state::connected) {
            if (ready_)
                log::warn("cluster: lost NATS (" + std::string(to_string(state)) +
                          "); serving locally until it is back");
            ready_ = false;
            connected_gauge_.set(0);
        }
        state_changed_.set();
    };
    link_.on_state_change(std::move(changed));
    link_.subscribe(control_subject(cluster_.node_id, "*"),
                    [this](nats_message&& m) { on_control(std::move(m)); }, std::string());
    link_.start();
    spawn(executor_, run_connection_watch(), "cluster connection");
    spawn(executor_, run_publisher(), "cluster publisher");
    spawn(executor_, run_beacon(), "cluster beacon");
    for (std::uint32_t f = 0; f < config_.functions.size(); ++f)
        spawn(executor_, run_puller(f), "cluster puller " + config_.functions[f].name);
    log::info("cluster: node '" + cluster_.node_id + "' joining through " +
              cluster_.servers.front() + (cluster_.servers.size() > 1 ? " and others" : ""));
}

void cluster_node::stop_pulling() {
    pulling_ = false;
}

asio::awaitable<void> cluster_node::stop() {
    pulling_ = false;
    // What the shutdown ended still goes out, bounded: the link may be down.
    const auto deadline = clock_type::now() + std::chrono::milliseconds(cluster_.request_timeout_ms);
    while (!dirty_.empty() && ready_ && clock_type::now() < deadline)
        co_await sleep_for(std::chrono::milliseconds(20));
    stopping_ = true;
    state_changed_.set();
    dirty_event_.set();
    link_.close();
}

bool cluster_node::can_share() const noexcept {
    return ready_ && pulling_ && !stopping_;
}

// --- connection and setup ----------------------------------------------------------------

asio::awaitable<void> cluster_node::run_connection_watch() {
    // The link logs its own connects; this makes the stream, consumers and bucket ready.
    while (!stopping_) {
        state_changed_.reset();
        const bool now_connected = link_.connected();
        if (now_connected && !ready_)
            co_await run_setup();
        if (now_connected && !ready_) { // setup failed: try again soon
            co_await sleep_for(std::chrono::milliseconds(500));
            continue;
        }
        co_await state_changed_.wait_for(std::chrono::seconds(5));
    }
}

asio::awaitable<void> cluster_node::run_setup() {
    const auto ack_wait_ns = static_cast<std::int64_t>(cluster_.ack_wait_ms) * 1'000'000;
    json::object stream{{"name", cluster_.work_stream},
                        {"subjects", json::array{work_subject(">")}},
                        {"retention", "workqueue"},
                        {"storage", "file"},
                        {"num_replicas", cluster_.replicas},
                        {"discard", "new"},
                        {"max_msgs", -1},
                        {"max_bytes", -1}};
    auto made = co_await js_.ensure_stream(std::move(stream));
    if (auto* e = std::get_if<js_error>(&made)) {
        log::warn("cluster: cannot create stream " + cluster_.work_stream + ": " + e->description);
        co_return;
    }
    for (const auto& fn : config_.functions) {
        json::object consumer{{"durable_name", consumer_name(fn.name)},
                              {"filter_subject", work_subject(fn.name)},
                              {"ack_policy", "explicit"},
                              {"ack_wait", ack_wait_ns},
                              {"max_deliver", -1},
                              {"deliver_policy", "all"},
                              {"max_ack_pending", 10'000},
                              {"num_replicas", 0}};
        auto c = co_await js_.ensure_consumer(cluster_.work_stream, std::move(consumer));
        if (auto* e = std::get_if<js_error>(&c)) {
            log::warn("cluster: cannot create consumer for '" + fn.name + "': " + e->description);
            co_return;
        }
    }
    kv_bucket_config bucket;
    bucket.bucket = cluster_.records_bucket;
    bucket.history = 1;
    // Sized like the ring: every node's slots, each record at most its output cap plus ~2 KiB.
    bucket.max_bytes = static_cast<std::int64_t>(
        config_.status_table.slots * 4 *
        (std::min(config_.status_table.max_output_bytes, core::limits::cluster_record_output_bytes) +
         2048));
    bucket.ttl = std::chrono::seconds(config_.status_table.ttl_s);
    bucket.replicas = static_cast<int>(cluster_.replicas);
    auto kv = co_await js_.kv_create(bucket);
    if (auto* e = std::get_if<js_error>(&kv)) {
        log::warn("cluster: cannot create bucket " + cluster_.records_bucket + ": " +
                  e->description);
        co_return;
    }
    if (watch_id_ == 0)
        watch_id_ = js_.kv_watch_all(cluster_.records_bucket,
                                     [this](kv_entry&& e) { on_bucket_entry(std::move(e)); });
    if (!link_.connected())
        co_return;
    ready_ = true;
    connected_gauge_.set(1);
    log::info("cluster: ready (stream " + cluster_.work_stream + ", bucket " +
              cluster_.records_bucket + ")");
    dirty_event_.set(); // what changed while disconnected goes out now
}

// --- the mirror ----------------------------------------------------------------------------

void cluster_node::on_bucket_entry(kv_entry&& entry) {
    if (entry.key.starts_with("node.")) {
        if (auto beacon = decode_beacon(entry.value)) {
            beacon_seen_[beacon->node] = clock_type::now();
            beacons_[beacon->node] = std::move(*beacon);
        }
        return;
    }
    if (entry.deleted)
        return;
    auto record = decode_record(entry.value);
    if (!record) {
        log::warn("cluster: unreadable record '" + entry.key.substr(0, 64) + "' in the bucket");
        return;
    }
    remember(std::move(entry.key), std::move(*record), entry.revision);
}

void cluster_node::remember(std::string id, cluster_record record, std::uint64_t revision) {
    auto it = mirror_.find(id);
    if (it != mirror_.end()) {
        if (it->second.revision > revision && revision != 0)
            return; // a repeated delivery after a reconnect
        if (queued_in_stream(it->second.record))
            --queued_shared_[it->second.record.result.function_name];
        it->second = {std::move(record), revision};
    } else {
        if (mirror_.size() >= core::limits::cluster_mirror_records) {
            const auto& oldest = mirror_order_.front();
            if (auto old = mirror_.find(oldest); old != mirror_.end()) {
                if (queued_in_stream(old->second.record))
                    --queued_shared_[old->second.record.result.function_name];
                mirror_.erase(old);
            }
            mirror_order_.pop_front();
        }
        mirror_order_.push_back(id);
        it = mirror_.emplace(id, mirrored{std::move(record), revision}).first;
    }
    if (queued_in_stream(it->second.record))
        ++queued_shared_[it->second.record.result.function_name];
    if (auto w = waiters_.find(id); w != waiters_.end()) {
        w->second->set();
        waiters_.erase(w);
    }
}

const cluster_node::mirrored* cluster_node::find(std::string_view id) const {
    auto it = mirror_.find(std::string(id));
    return it == mirror_.end() ? nullptr : &it->second;
}

bool cluster_node::stale(const std::string& node) const {
    if (node == cluster_.node_id)
        return false;
    auto it = beacon_seen_.find(node);
    const auto limit = std::chrono::milliseconds(cluster_.ack_wait_ms);
    return it == beacon_seen_.end() || clock_type::now() - it->second > limit;
}

// --- publishing this node's records -----------------------------------------------------

void cluster_node::on_record(core::record_ref ref) {
    slot_freed_.set(); // pullers waiting for a free slot look again
    if (claiming_) { // accept_shared creating the local record of a pulled work item
        held_by_seq_[ref.seq] = *claiming_;
        return;
    }
    if (auto it = held_by_seq_.find(ref.seq); it != held_by_seq_.end()) {
        mark_dirty(it->second, ref);
        return;
    }
    mark_dirty(service_.execution_id(ref), ref);
}

void cluster_node::mark_dirty(std::string key, core::record_ref ref) {
    if (dirty_.size() >= core::limits::cluster_mirror_records && !dirty_.contains(key)) {
        ++publish_failures_; // disconnected for long: the oldest pending states are dropped
        dirty_.erase(dirty_.begin());
    }
    dirty_[std::move(key)] = ref;
    dirty_event_.set();
}

std::optional<cluster_record> cluster_node::local_record(core::record_ref ref,
                                                         const std::string& id) {
    auto result = service_.snapshot(ref, true);
    if (!result)
        return std::nullopt;
    cluster_record r;
    r.node = cluster_.node_id;
    r.origin = cluster_.node_id;
    if (auto held = held_.find(id); held != held_.end()) {
        r.shared = true;
        r.origin = held->second.origin;
        r.attempt = held->second.attempt;
        r.estimate_ms = held->second.estimate_ms;
        result->execution_id = id;
        // Its client waited from the acceptance on another node, not from the pull.
        result->queued_at = held->second.queued_at;
        const auto until = result->started_at.value_or(std::chrono::system_clock::now());
        result->queue_ms = std::max<std::int64_t>(
            0, std::chrono::duration_cast<std::chrono::milliseconds>(until - result->queued_at)
                   .count());
    }
    r.result = std::move(*result);
    return r;
}

asio::awaitable<void> cluster_node::run_publisher() {
    while (!stopping_) {
        if (dirty_.empty() || !ready_) {
            dirty_event_.reset();
            co_await dirty_event_.wait_for(std::chrono::seconds(1));
            continue;
        }
        auto [key, ref] = *dirty_.begin();
        dirty_.erase(dirty_.begin());
        in_flight_ = key;
        const bool done = co_await publish_one(key, ref);
        in_flight_.clear();
        if (!done) {
            if (!dirty_.contains(key))
                dirty_.emplace(key, ref); // a newer state, if any, stays
            co_await sleep_for(std::chrono::milliseconds(200));
        }
    }
}

asio::awaitable<bool> cluster_node::publish_one(std::string key, core::record_ref ref) {
    auto record = local_record(ref, key);
    if (!record)
        co_return true; // evicted before it went out: nothing to say
    auto held = held_.find(key);
    if (held == held_.end()) {
        // This node's own execution: it is the only writer of the key.
        auto value = encode(*record);
        auto put = co_await js_.kv_put(cluster_.records_bucket, key, std::move(value),
                                       std::nullopt);
        if (std::holds_alternative<js_error>(put)) {
            ++publish_failures_;
            co_return false;
        }
        remember(key, std::move(*record), std::get<std::uint64_t>(put));
        co_return true;
    }
    // A shared execution: written only while the key is still at this node's revision, so
    // a node that declared this one lost, or took the work over, wins.
    const bool terminal = core::is_terminal(record->result.status);
    if (terminal && released_by_shutdown(*record)) {
        // This node's shutdown stopped it: another node runs it (the function says it may run
        // again), as after a node loss, but at once.
        auto& r = record->result;
        r.status = ExecutionStatus::pending;
        r.error = core::error_code::none;
        r.error_message.clear();
        r.started_at.reset();
        r.completed_at.reset();
        r.exit_code.reset();
        r.signal.reset();
        r.output.clear();
        r.output_size = 0;
        r.logs.clear();
        record->node = record->origin;
        auto released = co_await put_if(key, *record, held->second.revision);
        held = held_.find(key);
        if (held == held_.end())
            co_return true;
        if (released) {
            remember(key, std::move(*record), *released);
            js_.nak(held->second.message);
            log::info("cluster: execution " + key + " handed back to the cluster (shutdown)");
        }
        held_by_seq_.erase(held->second.ref.seq);
        held_.erase(held);
        co_return true;
    }
    auto written = co_await put_if(key, *record, held->second.revision);
    held = held_.find(key);
    if (held == held_.end())
        co_return true;
    if (!written) {
        auto current = co_await read(key);
        held = held_.find(key);
        if (held == held_.end())
            co_return true;
        if (!current)
            co_return false; // no answer: try again
        if (current->record.node == cluster_.node_id &&
            !core::is_terminal(current->record.result.status)) {
            held->second.revision = current->revision; // our own earlier write: go on from it
            co_return false;
        }
        // Someone else decided this execution (node_lost, a retry elsewhere, a cancel of the
        // queued item): this node's run is not the cluster's any more.
        log::warn("cluster: execution " + key + " was taken over (" +
                  std::string(core::to_string(current->record.result.status)) + " on " +
                  current->record.node + "); stopping the local run");
        // Not acknowledged: the message belongs to whoever holds it now.
        const auto local_id = service_.execution_id(held->second.ref);
        held_by_seq_.erase(held->second.ref.seq);
        held_.erase(held);
        spawn(executor_, discard(service_.cancel(local_id, "taken over by another cluster node")),
              "cluster cancel " + key);
        co_return true;
    }
    held->second.revision = *written;
    remember(key, std::move(*record), *written);
    if (terminal) {
        js_.ack(held->second.message);
        held_by_seq_.erase(held->second.ref.seq);
        held_.erase(held);
    }
    co_return true;
}

void cluster_node::forget_waiter(const std::string& id,
                                 const std::shared_ptr<runtime::async_event>& event) {
    // The last waiter on an event no update set takes its entry out (a key that never
    // changes again must not keep one).
    auto it = waiters_.find(id);
    if (it != waiters_.end() && it->second == event && event.use_count() <= 2)
        waiters_.erase(it);
}

bool cluster_node::released_by_shutdown(const cluster_record& record) const {
    if (!service_.shutting_down() || record.result.status != ExecutionStatus::cancelled ||
        record.result.error != core::error_code::unavailable)
        return false;
    const auto index = config_.find_function(record.result.function_name);
    return index && config_.functions[*index].retry_interrupted;
}

asio::awaitable<void> cluster_node::published(std::string id) {
    const auto deadline = clock_type::now() + std::chrono::milliseconds(cluster_.request_timeout_ms);
    while (ready_ && (dirty_.contains(id) || in_flight_ == id) && clock_type::now() < deadline) {
        auto& event = waiters_[id];
        if (!event)
            event = std::make_shared<runtime::async_event>(executor_);
        auto held = event; // remember() sets and drops it when the put lands
        co_await held->wait_for(std::chrono::milliseconds(50));
        forget_waiter(id, held);
    }
}

asio::awaitable<std::optional<std::uint64_t>>
cluster_node::put_if(std::string id, const cluster_record& record, std::uint64_t revision) {
    auto value = encode(record);
    auto put = co_await js_.kv_put(cluster_.records_bucket, std::move(id), std::move(value),
                                   revision);
    if (auto* written = std::get_if<std::uint64_t>(&put))
        co_return *written;
    co_return std::nullopt;
}

asio::awaitable<std::optional<cluster_node::mirrored>> cluster_node::read(std::string id) {
    auto got = co_await js_.kv_get(cluster_.records_bucket, id);
    auto* entry = std::get_if<std::optional<kv_entry>>(&got);
    if (!entry || !*entry || (*entry)->deleted)
        co_return std::nullopt;
    auto record = decode_record((*entry)->value);
    if (!record)
        co_return std::nullopt;
    co_return mirrored{std::move(*record), (*entry)->revision};
}

asio::awaitable<void> cluster_node::run_beacon() {
    const auto period = std::chrono::milliseconds(cluster_.ack_wait_ms / 4);
    while (!stopping_) {
        if (ready_) {
            node_beacon b;
            b.node = cluster_.node_id;
            b.at_wall_ms = wall_ms();
            b.boot = boot_;
            for (std::uint32_t f = 0; f < config_.functions.size(); ++f)
                b.typical_ms.emplace_back(config_.functions[f].name, service_.typical_ms(f));
            auto key = beacon_key(cluster_.node_id);
            auto value = encode(b);
            auto put = co_await js_.kv_put(cluster_.records_bucket, std::move(key),
                                           std::move(value), std::nullopt);
            (void)put;
        }
        co_await sleep_for(period);
    }
}

// --- sharing work --------------------------------------------------------------------------

std::string cluster_node::new_shared_id() {
    // This node's nonce, its own sequence, and the slot no ring has: never a local id.
    return core::format_execution_id({boot_, ++shared_seq_, core::execution_id_max_slot});
}

std::int64_t cluster_node::shared_estimate(const std::string& function) const {
    // Every node's typical run of the function, and the work queued ahead of it spread over
    // the nodes that serve it.
    std::int64_t sum = 0;
    std::size_t nodes = 0;
    for (const auto& [node, beacon] : beacons_) {
        if (stale(node))
            continue;
        for (const auto& [name, ms] : beacon.typical_ms)
            if (name == function) {
                sum += ms;
                ++nodes;
            }
    }
    if (nodes == 0)
        if (auto index = config_.find_function(function)) {
            sum = service_.typical_ms(static_cast<std::uint32_t>(*index));
            nodes = 1;
        }
    const auto typical = sum / static_cast<std::int64_t>(std::max<std::size_t>(nodes, 1));
    std::size_t queued = 0;
    if (auto it = queued_shared_.find(function); it != queued_shared_.end())
        queued = it->second;
    return typical * (1 + static_cast<std::int64_t>(queued / std::max<std::size_t>(nodes, 1)));
}

asio::awaitable<std::optional<service::status_view>>
cluster_node::share(core::InvokeFunctionRequest request) {
    if (!can_share())
        co_return std::nullopt;
    const auto index = config_.find_function(request.function_name);
    if (!index)
        co_return std::nullopt;
    const auto& fn = config_.functions[*index];
    work_item item;
    item.id = new_shared_id();
    item.origin = cluster_.node_id;
    item.queued_wall_ms = wall_ms();
    item.request = std::move(request);
    const auto& q = item.request;

    cluster_record record;
    record.node = cluster_.node_id;
    record.origin = cluster_.node_id;
    record.shared = true;
    record.estimate_ms = shared_estimate(fn.name);
    auto& r = record.result;
    r.execution_id = item.id;
    r.client_execution_id = q.client_execution_id;
    r.function_name = fn.name;
    r.mode = q.execution_mode;
    r.status = ExecutionStatus::pending;
    r.content_type = fn.content_type;
    r.queued_at = core::wall_time(std::chrono::milliseconds(item.queued_wall_ms));
    r.client = q.client.name;
    r.priority = std::min(q.priority ? static_cast<int>(*q.priority) : fn.priority,
                          q.client.priority_ceiling);

    // The record first (so any node can answer for it), then the work.
    auto put = co_await put_if(item.id, record, 0);
    if (!put)
        co_return std::nullopt;
    nats_headers dedupe; // JetStream drops a second publish of the same id (a retried one)
    dedupe.emplace_back("Nats-Msg-Id", item.id);
    auto subject = work_subject(fn.name);
    auto body = encode(item);
    auto published = co_await js_.publish(std::move(subject), std::move(body), std::move(dedupe));
    if (auto* e = std::get_if<js_error>(&published)) {
        log::warn("cluster: could not queue work for '" + fn.name + "' (" + e->description +
                  "); running it here");
        co_return std::nullopt;
    }
    ++shared_out_;
    shared_counter_.with({"out"}).inc();
    remember(item.id, record, *put);
    co_return view_of(record, false);
}

asio::awaitable<void> cluster_node::run_puller(std::uint32_t function) {
    const auto& fn = config_.functions[function];
    while (!stopping_) {
        if (!ready_ || !pulling_) {
            state_changed_.reset();
            co_await state_changed_.wait_for(std::chrono::milliseconds(500));
            continue;
        }
        if (!service_.can_start_now(function) || service_.shutting_down()) {
            // A local record change (an end frees a slot) wakes it; the poll is the fallback.
            slot_freed_.reset();
            co_await slot_freed_.wait_for(core::limits::cluster_slot_poll);
            continue;
        }
        auto consumer = consumer_name(fn.name);
        auto got = co_await js_.fetch_one(cluster_.work_stream, std::move(consumer),
                                          core::limits::cluster_pull_wait);
        if (auto* e = std::get_if<js_error>(&got)) {
            if (ready_)
                log::warn("cluster: pull for '" + fn.name + "' failed: " + e->description);
            co_await sleep_for(std::chrono::milliseconds(200));
            continue;
        }
        auto& message = std::get<std::optional<nats_message>>(got);
        if (!message)
            continue;
        co_await take_work(function, std::move(*message));
    }
}

asio::awaitable<void> cluster_node::take_work(std::uint32_t function, nats_message message) {
    const auto& fn = config_.functions[function];
    auto item = decode_work(message.data);
    if (!item || item->request.function_name != fn.name) {
        log::warn("cluster: unreadable work item for '" + fn.name + "'; dropped");
        js_.term(message);
        co_return;
    }
    if (auto running = held_.find(item->id); running != held_.end()) {
        // Redelivered while this node still runs it (its heartbeat was late): keep the newest
        // delivery to acknowledge at the end.
        running->second.message = std::move(message);
        js_.in_progress(running->second.message);
        co_return;
    }
    auto current = co_await read(item->id);
    std::uint64_t revision = 0;
    std::uint32_t attempt = 1;
    cluster_record record;
    if (current) {
        revision = current->revision;
        record = current->record;
        attempt = record.attempt;
        if (core::is_terminal(record.result.status)) {
            js_.ack(message); // cancelled while queued, or ended: nothing to run
            co_return;
        }
        if (!queued_in_stream(record) && record.node != cluster_.node_id) {
            // Claimed by a node that stopped heartbeating within AckWait.
            if (!fn.retry_interrupted) {
                record.result.status = ExecutionStatus::failed;
                record.result.error = core::error_code::node_lost;
                record.result.error_message =
                    "node '" + record.node + "' running the execution stopped answering; it "
                    "was not run again (the function does not set retry_interrupted)";
                record.result.completed_at = std::chrono::system_clock::now();
                const auto lost = co_await put_if(item->id, record, revision);
                if (lost) {
                    ++node_lost_;
                    log::warn("cluster: execution " + item->id + " lost with node " + record.node);
                    remember(item->id, record, *lost);
                    js_.term(message);
                } else {
                    js_.nak(message); // someone wrote meanwhile: look again on redelivery
                }
                co_return;
            }
            ++attempt;
            ++retried_;
            log::info("cluster: running execution " + item->id + " again (attempt " +
                      std::to_string(attempt) + "), its node " + record.node + " was lost");
        }
    }
    if (!service_.can_start_now(function) || !pulling_) {
        // The slot this pull was made for went to local work meanwhile: a node with a free
        // slot takes it (only those pull), rather than it waiting in this node's queue.
        js_.nak(message);
        co_return;
    }
    // Claim it: run it locally; the record goes out under the shared id.
    const auto id = item->id;
    claiming_ = &id;
    auto accepted = service_.accept_shared(std::move(item->request));
    claiming_ = nullptr;
    if (auto* refused = std::get_if<core::error>(&accepted)) {
        if (refused->code == core::error_code::too_many_requests ||
            refused->code == core::error_code::unavailable) {
            js_.nak(message); // another node (or this one, later) takes it
            co_return;
        }
        // It cannot run anywhere as sent (e.g. refused by the runtime): say so.
        record.result.status = ExecutionStatus::failed;
        record.result.error = refused->code;
        record.result.error_message = refused->message;
        record.result.completed_at = std::chrono::system_clock::now();
        record.node = cluster_.node_id;
        const auto written = co_await put_if(id, record, revision);
        if (written)
            js_.term(message);
        else
            js_.nak(message);
        co_return;
    }
    const auto ref = std::get<core::record_ref>(accepted);
    held_work held;
    held.id = id;
    held.ref = ref;
    held.message = std::move(message);
    held.revision = revision;
    held.attempt = attempt;
    held.origin = item->origin;
    held.estimate_ms = record.estimate_ms;
    held.queued_at = core::wall_time(std::chrono::milliseconds(item->queued_wall_ms));
    held_.emplace(id, std::move(held));
    held_by_seq_[ref.seq] = id;
    ++shared_in_;
    shared_counter_.with({"in"}).inc();
    mark_dirty(id, ref);
    spawn(executor_, run_heartbeat(id), "cluster heartbeat " + id);
}

asio::awaitable<void> cluster_node::run_heartbeat(std::string id) {
    const auto period = std::chrono::milliseconds(cluster_.ack_wait_ms / 4);
    while (!stopping_) {
        co_await sleep_for(period);
        auto it = held_.find(id);
        if (it == held_.end())
            co_return;
        js_.in_progress(it->second.message);
    }
}

// --- answering for executions held elsewhere -----------------------------------------------

service::status_view cluster_node::view_of(const cluster_record& record,
                                           bool include_result) const {
    service::status_view view;
    view.result = record.result;
    if (!include_result)
        view.result.output.clear();
    view.result.node = record.node;
    view.source = core::estimate_source::history;
    if (!core::is_terminal(record.result.status)) {
        const auto now = std::chrono::system_clock::now();
        const auto since = record.result.started_at.value_or(record.result.queued_at);
        const auto elapsed =
            std::chrono::duration_cast<std::chrono::milliseconds>(now - since).count();
        const auto estimate = record.result.started_at
                                  ? shared_estimate(record.result.function_name)
                                  : std::max(record.estimate_ms,
                                             shared_estimate(record.result.function_name));
        view.estimated_completion_ms = std::max<std::int64_t>(estimate - elapsed, 1);
        if (record.result.started_at)
            view.result.execution_time_ms = elapsed;
        else
            view.result.queue_ms = elapsed;
    }
    return view;
}

std::optional<service::status_view> cluster_node::status(std::string_view id, bool include_result,
                                                         const core::client_identity& who) {
    if (auto held = held_.find(std::string(id)); held != held_.end())
        if (auto record = local_record(held->second.ref, held->second.id))
            return view_of(*record, include_result);
    const auto* found = find(id);
    if (!found || !who.may_access(found->record.result.client))
        return std::nullopt;
    ++remote_reads_;
    return view_of(found->record, include_result);
}

asio::awaitable<std::optional<service::status_view>>
cluster_node::wait_status(std::string id, std::chrono::milliseconds wait, bool include_result,
                          core::client_identity who) {
    const auto deadline = clock_type::now() + wait;
    if (!find(id) && !held_.contains(id) && ready_) {
        // Not mirrored (yet, or any more): the bucket has the last word.
        auto current = co_await read(id);
        if (current && !find(id))
            remember(id, std::move(current->record), current->revision);
    }
    while (true) {
        auto view = status(id, include_result, who);
        if (!view || core::is_terminal(view->result.status) || clock_type::now() >= deadline)
            co_return view;
        auto& event = waiters_[id];
        if (!event)
            event = std::make_shared<runtime::async_event>(executor_);
        auto held = event; // the map entry goes when it is set
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - clock_type::now());
        // Wake at least every 250 ms: a record this node runs changes locally first.
        co_await held->wait_for(std::min(left, std::chrono::milliseconds(250)));
        forget_waiter(id, held);
    }
}

asio::awaitable<std::optional<std::variant<service::cancel_view, core::error>>>
cluster_node::cancel(std::string id, std::string reason, core::client_identity who) {
    using answer = std::variant<service::cancel_view, core::error>;
    if (auto held = held_.find(id); held != held_.end()) {
        const auto local_id = service_.execution_id(held->second.ref);
        auto local = co_await service_.cancel(local_id, std::move(reason));
        if (auto* view = std::get_if<service::cancel_view>(&local))
            view->execution_id = id;
        co_return local;
    }
    for (int attempt = 0; attempt < 3; ++attempt) {
        const auto* found = find(id);
        if (!found || !who.may_access(found->record.result.client))
            co_return std::nullopt;
        auto record = found->record;
        const auto revision = found->revision;
        service::cancel_view view;
        view.execution_id = id;
        if (core::is_terminal(record.result.status)) {
            view.success = false;
            view.final_status = record.result.status;
            view.message = "execution already ended with status " +
                           std::string(core::to_string(record.result.status));
            co_return answer{view};
        }
        if (queued_in_stream(record)) {
            // Still in the work stream: the record decides; the node that pulls it skips it.
            record.result.status = ExecutionStatus::cancelled;
            record.result.error = core::error_code::none;
            record.result.error_message = reason;
            record.result.completed_at = std::chrono::system_clock::now();
            auto written = co_await put_if(id, record, revision);
            if (!written) {
                auto current = co_await read(id);
                if (current)
                    remember(id, current->record, current->revision);
                continue; // claimed meanwhile: cancel it where it runs
            }
            remember(id, record, *written);
            view.success = true;
            view.final_status = ExecutionStatus::cancelled;
            view.message = "removed from the shared queue before it started";
            co_return answer{view};
        }
        // Running (or queued) on another node: forward to it.
        ++cancels_forwarded_;
        cancel_request request{id, reason, who.name, who.admin};
        // Named arguments: g++ 12 mis-destroys class temporaries inside co_await.
        auto subject = control_subject(record.node, "cancel");
        auto body = encode(request);
        nats_headers none;
        auto reply = co_await link_.request(std::move(subject), std::move(body),
                                            core::limits::cluster_cancel_wait, std::move(none));
        if (reply && reply->status == 0)
            if (auto decoded = decode_cancel_answer(reply->data))
                co_return std::move(*decoded);
        co_return answer{core::error::make(
            core::error_code::unavailable,
            "node '" + record.node + "' running the execution did not answer the cancel; "
            "retry, or poll its status")};
    }
    co_return std::nullopt;
}

std::optional<std::optional<core::error>>
cluster_node::watch(std::string_view id, const std::shared_ptr<service::viewer_queue>& viewer,
                    const core::client_identity& who) {
    const auto* found = find(id);
    auto held = held_.find(std::string(id));
    if (held == held_.end() && (!found || !who.may_access(found->record.result.client)))
        return std::nullopt;
    if (held == held_.end() && core::is_terminal(found->record.result.status)) {
        for (auto& e : service::replay_finished(found->record.result,
                                                core::limits::stream_chunk_bytes))
            viewer->push(std::move(e));
        viewer->close();
        return std::optional<core::error>{};
    }
    const auto node = held != held_.end() ? cluster_.node_id : found->record.node;
    spawn(executor_, run_viewer(std::string(id), viewer, node), "cluster viewer");
    return std::optional<core::error>{};
}

asio::awaitable<void> cluster_node::run_viewer(std::string id,
                                               std::shared_ptr<service::viewer_queue> viewer,
                                               std::string node) {
    // Events arrive on a subject of this viewer's own; the node running it publishes them.
    const auto subject = "spear.relay." + cluster_.node_id + "." + std::to_string(++relay_seq_);
    auto final_seen = std::make_shared<bool>(false);
    std::weak_ptr<service::viewer_queue> weak = viewer;
    auto on_event = [weak, id, final_seen](nats_message&& m) {
        auto queue = weak.lock();
        if (!queue || queue->closed())
            return;
        auto event = decode_event(m.data, id);
        if (!event)
            return;
        const bool last = event->type == service::stream_event::kind::final;
        queue->push(std::make_shared<const service::stream_event>(std::move(*event)));
        if (last) {
            *final_seen = true;
            queue->close();
        }
    };
    const auto sub = link_.subscribe(subject, std::move(on_event), std::string());
    ++relays_;
    auto watch_subject = control_subject(node, "watch");
    auto body = encode(watch_request{id, subject});
    nats_headers none;
    auto reply = co_await link_.request(std::move(watch_subject), std::move(body),
                                        std::chrono::milliseconds(cluster_.request_timeout_ms),
                                        std::move(none));
    bool relayed = reply && reply->status == 0 && reply->data.empty();
    // Until the final event arrives (or the viewer leaves): if the record ends without one
    // reaching this node (the relay broke, the node died), the bucket's record ends the view.
    while (relayed && !*final_seen && !viewer->left() && !stopping_) {
        auto waiter = std::make_shared<runtime::async_event>(executor_);
        waiters_[id] = waiter;
        co_await waiter->wait_for(std::chrono::seconds(1));
        forget_waiter(id, waiter);
        if (*final_seen || viewer->left())
            break;
        const auto* found = find(id);
        if (found && core::is_terminal(found->record.result.status)) {
            co_await sleep_for(std::chrono::milliseconds(500)); // the relay's final may follow
            if (!*final_seen)
                relayed = false;
        } else if (found && stale(found->record.node)) {
            relayed = false;
        }
    }
    link_.unsubscribe(sub);
    if (!*final_seen && !viewer->left() && !viewer->closed()) {
        // No relay: what the bucket holds is what this viewer gets.
        if (const auto* found = find(id); found && core::is_terminal(found->record.result.status))
            for (auto& e : service::replay_finished(found->record.result,
                                                    core::limits::stream_chunk_bytes))
                viewer->push(std::move(e));
        viewer->close();
    }
}

// --- control subjects: other nodes' cancels and viewers ------------------------------------

void cluster_node::on_control(nats_message&& message) {
    const auto verb = message.subject.substr(message.subject.rfind('.') + 1);
    if (message.reply.empty())
        return;
    // The local id of a key: a shared execution this node runs, or its own id.
    auto local_id = [this](const std::string& id) {
        if (auto held = held_.find(id); held != held_.end())
            return service_.execution_id(held->second.ref);
        return id;
    };
    if (verb == "cancel") {
        auto request = decode_cancel(message.data);
        if (!request)
            return;
        auto task = [](cluster_node* self, cancel_request asked, std::string local,
                       std::string reply) -> asio::awaitable<void> {
            core::client_identity who;
            who.name = asked.client;
            who.admin = asked.admin;
            auto outcome = co_await self->service_.cancel(local, asked.reason, who);
            if (auto* view = std::get_if<service::cancel_view>(&outcome))
                view->execution_id = asked.id;
            self->link_.publish(reply, encode(outcome), std::string_view(), nullptr);
        };
        auto local = local_id(request->id);
        spawn(executor_, task(this, std::move(*request), std::move(local), message.reply),
              "cluster cancel");
        return;
    }
    if (verb == "watch") {
        auto request = decode_watch(message.data);
        if (!request)
            return;
        auto queue = service_.make_viewer_queue();
        auto watched = service_.watch(local_id(request->id), queue);
        if (auto* e = std::get_if<core::error>(&watched)) {
            link_.publish(message.reply, std::string(core::to_string(e->code)));
            return;
        }
        link_.publish(message.reply, "");
        spawn(executor_, run_relay(queue, std::get<core::record_ref>(watched), request->subject),
              "cluster relay");
    }
}

asio::awaitable<void> cluster_node::run_relay(std::shared_ptr<service::viewer_queue> queue,
                                              core::record_ref ref, std::string subject) {
    // Bounded by the execution: its final event ends the relay (the queue closes).
    while (!stopping_) {
        const bool ready = co_await queue->wait_ready(std::chrono::seconds(30));
        if (!ready && !queue->closed())
            continue;
        bool ended = false;
        while (auto item = queue->try_pop()) {
            link_.publish(subject, encode(*item->event));
            ended = item->event->type == service::stream_event::kind::final;
        }
        if (ended || queue->closed() || queue->left())
            break;
    }
    service_.unwatch(ref, queue.get());
}

// --- names and health ----------------------------------------------------------------------

std::string cluster_node::consumer_name(std::string_view function) const {
    std::string name = "spear-";
    for (const char c : function) // consumer names may not hold '.'
        name += c == '.' ? '_' : c;
    return name;
}

std::string cluster_node::work_subject(std::string_view function) const {
    return "spear.work." + std::string(function);
}

std::string cluster_node::control_subject(std::string_view node, std::string_view verb) const {
    return "spear.ctl." + std::string(node) + "." + std::string(verb);
}

void cluster_node::refresh_health() {
    json::object o;
    o["node_id"] = cluster_.node_id;
    o["state"] = ready_ ? std::string("connected")
                        : std::string(to_string(link_.state() == link_state::connected
                                                    ? link_state::connecting
                                                    : link_.state()));
    o["server"] = link_.connected_url();
    o["shared_out"] = shared_out_;
    o["shared_in"] = shared_in_;
    o["running_shared"] = held_.size();
    o["remote_reads"] = remote_reads_;
    o["cancels_forwarded"] = cancels_forwarded_;
    o["relays"] = relays_;
    o["node_lost"] = node_lost_;
    o["retried"] = retried_;
    o["publish_backlog"] = dirty_.size();
    o["publish_failures"] = publish_failures_;
    o["mirror_records"] = mirror_.size();
    json::array nodes;
    const auto now = clock_type::now();
    for (const auto& [node, seen] : beacon_seen_)
        nodes.push_back(json::object{
            {"node_id", node},
            {"last_seen_ms",
             std::chrono::duration_cast<std::chrono::milliseconds>(now - seen).count()},
            {"alive", !stale(node)}});
    o["nodes"] = std::move(nodes);
    health_ = json::serialize(o);
}

} // namespace spear::cluster
