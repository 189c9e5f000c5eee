// This appliance as one node of a cluster sharing work through NATS JetStream (docs/
// architecture.md "Cluster"): it mirrors the records bucket, publishes its own records, hands
// async work it cannot start to the work stream and pulls what it can run, and answers other
// nodes' cancels and viewers on its control subjects. The service reaches it through the
// remote_executions seam; without a `cluster` section none of this exists.
#pragma once

#include "cluster/cluster_record.hpp"
#include "cluster/jetstream.hpp"
#include "cluster/nats_link.hpp"
#include "core/config.hpp"
#include "core/metrics.hpp"
#include "runtime/async_event.hpp"
#include "service/execution_service.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace spear::cluster {

class cluster_node final : public service::remote_executions {
public:
    /// `service` and `config` outlive the node. Registers its /health section and metrics.
    cluster_node(asio::any_io_executor executor, service::execution_service& service,
                 const core::config& config);
    ~cluster_node() override;
    cluster_node(const cluster_node&) = delete;
    cluster_node& operator=(const cluster_node&) = delete;

    /// Connects (in the background) and starts the node's long-lived tasks.
    void start();
    /// Shutdown, step 1 (before the service's): stop pulling new work.
    void stop_pulling();
    /// Shutdown, step 2 (after the service's): publish what is left (bounded), then close.
    asio::awaitable<void> stop();

    // service::remote_executions
    const std::string& node_id() const noexcept override { return cluster_.node_id; }
    bool can_share() const noexcept override;
    asio::awaitable<std::optional<service::status_view>>
    share(core::InvokeFunctionRequest request) override;
    std::optional<service::status_view> status(std::string_view id, bool include_result,
                                               const core::client_identity& who) override;
    asio::awaitable<std::optional<service::status_view>>
    wait_status(std::string id, std::chrono::milliseconds wait, bool include_result,
                core::client_identity who) override;
    asio::awaitable<std::optional<std::variant<service::cancel_view, core::error>>>
    cancel(std::string id, std::string reason, core::client_identity who) override;
    std::optional<std::optional<core::error>>
    watch(std::string_view id, const std::shared_ptr<service::viewer_queue>& viewer,
          const core::client_identity& who) override;
    void on_record(core::record_ref ref) override;
    asio::awaitable<void> published(std::string id) override;

private:
    /// A record of the bucket as this node last saw it.
    struct mirrored {
        cluster_record record;
        std::uint64_t revision = 0;
    };
    /// A shared execution this node runs: its local record and the work message to ack.
    struct held_work {
        std::string id; ///< the shared id (the bucket's key)
        core::record_ref ref;
        nats_message message;
        std::uint64_t revision = 0; ///< the bucket revision this node last wrote
        std::uint32_t attempt = 1;
        std::string origin;
        std::int64_t estimate_ms = 0;
        core::wall_time queued_at{}; ///< when its origin accepted it: the record keeps that
    };

    asio::awaitable<void> run_connection_watch();
    asio::awaitable<void> run_setup();
    asio::awaitable<void> run_publisher();
    asio::awaitable<void> run_beacon();
    asio::awaitable<void> run_puller(std::uint32_t function);
    asio::awaitable<void> run_heartbeat(std::string id);
    asio::awaitable<void> run_relay(std::shared_ptr<service::viewer_queue> queue,
                                    core::record_ref ref, std::string subject);
    asio::awaitable<void> run_viewer(std::string id, std::shared_ptr<service::viewer_queue> viewer,
                                     std::string node);

    /// Takes one pulled work message: skip (already ended or cancelled), mark node_lost, or run.
    asio::awaitable<void> take_work(std::uint32_t function, nats_message message);
    /// Writes `record` under `id` only if the key is still at `revision`: the new revision,
    /// or nullopt (someone else wrote first, or no answer).
    asio::awaitable<std::optional<std::uint64_t>> put_if(std::string id, const cluster_record& record,
                                                         std::uint64_t revision);
    /// The bucket's current value of a key (nullopt: none, or unreadable).
    asio::awaitable<std::optional<mirrored>> read(std::string id);
    /// One publish of the latest state of `key` (a local record); false to retry later.
    asio::awaitable<bool> publish_one(std::string key, core::record_ref ref);

    void on_bucket_entry(kv_entry&& entry);
    void on_control(nats_message&& message);
    void remember(std::string id, cluster_record record, std::uint64_t revision);
    void forget_waiter(const std::string& id, const std::shared_ptr<runtime::async_event>& event);
    const mirrored* find(std::string_view id) const;
    std::optional<cluster_record> local_record(core::record_ref ref, const std::string& id);
    service::status_view view_of(const cluster_record& record, bool include_result) const;
    std::int64_t shared_estimate(const std::string& function) const;
    void mark_dirty(std::string key, core::record_ref ref);
    std::string new_shared_id();
    std::string consumer_name(std::string_view function) const;
    std::string work_subject(std::string_view function) const;
    std::string control_subject(std::string_view node, std::string_view verb) const;
    void refresh_health();
    /// A shared record this node's shutdown ended, of a function that may run again.
    bool released_by_shutdown(const cluster_record& record) const;
    bool stale(const std::string& node) const;

    asio::any_io_executor executor_;
    service::execution_service& service_;
    const core::config& config_;
    const core::cluster_config& cluster_;
    nats_link link_;
    jetstream js_;
    std::uint32_t boot_;          ///< the nonce in the ids of shared submissions
    std::uint64_t shared_seq_ = 0;
    bool ready_ = false;          ///< connected, and the stream, consumers and bucket exist
    bool pulling_ = true;
    bool stopping_ = false;
    std::uint64_t watch_id_ = 0;
    runtime::async_event state_changed_;
    runtime::async_event dirty_event_;

    std::unordered_map<std::string, mirrored> mirror_;
    std::deque<std::string> mirror_order_; ///< insertion order, for the bound
    std::unordered_map<std::string, std::shared_ptr<runtime::async_event>> waiters_;
    std::map<std::string, node_beacon, std::less<>> beacons_;
    std::map<std::string, std::chrono::steady_clock::time_point, std::less<>> beacon_seen_;
    std::map<std::string, std::size_t, std::less<>> queued_shared_; ///< per function, unclaimed

    std::unordered_map<std::string, held_work> held_;             ///< by shared id
    std::unordered_map<std::uint64_t, std::string> held_by_seq_;  ///< local seq -> shared id
    /// Keys whose latest state is not yet in the bucket, with their local record.
    std::map<std::string, core::record_ref> dirty_;
    const std::string* claiming_ = nullptr; ///< the shared id accept_shared is creating now
    std::string in_flight_; ///< the key the publisher is writing now

    std::uint64_t shared_out_ = 0;
    std::uint64_t shared_in_ = 0;
    std::uint64_t remote_reads_ = 0;
    std::uint64_t cancels_forwarded_ = 0;
    std::uint64_t relays_ = 0;
    std::uint64_t node_lost_ = 0;
    std::uint64_t retried_ = 0;
    std::uint64_t publish_failures_ = 0;
    std::uint64_t relay_seq_ = 0;
    std::string health_;
    core::metric_series& connected_gauge_;
    core::metric_family& shared_counter_;
};

} // namespace spear::cluster
