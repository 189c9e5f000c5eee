// The service layer: validates invocations, dispatches on the execution mode, and drives each
// execution's state machine (core::execution_fsm) by performing the actions it returns; answers
// status, cancel, list and health queries. Every transport (HTTP, WebSocket, frames) calls
// this one object; it never sees a socket.
#pragma once

#include "core/client_quota.hpp"
#include "core/config.hpp"
#include "core/execution_fsm.hpp"
#include "core/execution_result.hpp"
#include "core/invoke_request.hpp"
#include "core/metrics.hpp"
#include "core/queue_projection.hpp"
#include "core/ring_status_table.hpp"
#include "core/runtime_history.hpp"
#include "core/scheduler_policy.hpp"
#include "runtime/registry.hpp"
#include "runtime/runtime.hpp"
#include "service/stream_events.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <functional>
#include <map>
#include <memory>
#include <unordered_map>
#include <variant>
#include <string_view>
#include <utility>
#include <vector>

namespace spear::service {

struct service_metrics;
class durable_store;

namespace asio = boost::asio;
using core::error;

/// GetExecutionStatusResponse, protocol-neutral.
struct status_view {
    core::ExecutionResult result;
    std::int64_t estimated_completion_ms = 0; ///< remaining, while pending or running
    core::estimate_source source = core::estimate_source::fallback;
    std::optional<std::size_t> queue_position; ///< 0-based, while pending
};

/// CancelExecutionResponse, protocol-neutral.
struct cancel_view {
    bool success = false;
    std::string message;
    core::ExecutionStatus final_status = core::ExecutionStatus::cancelled;
    std::string execution_id;
    /// The stop was sent but the execution had not stopped within the wait (success false,
    /// final_status running): HTTP answers 202, the client polls its status.
    bool still_stopping = false;
};

/// One configured function with its live figures (GET /functions).
struct function_view {
    const core::function_config* config = nullptr;
    const runtime::function_spec* spec = nullptr; ///< its runtime kind and typed settings
    std::uint64_t runs = 0;
    std::int64_t typical_ms = 0;
    std::int64_t p95_ms = 0;
    std::int64_t typical_queue_ms = 0;
    core::estimate_source source = core::estimate_source::fallback;
    std::int64_t current_estimate_ms = 0; ///< for a submission made now
    std::size_t running = 0;
    std::size_t queued = 0;
    std::size_t effective_concurrency = 0;
};

struct health_view {
    bool ready = true; ///< false while shutting down
    std::size_t running = 0;
    std::size_t pending = 0;
    std::size_t records = 0; ///< held in the status table
    std::size_t capacity = 0;
    std::array<std::size_t, core::status_count> by_status{};
    std::uint64_t evictions = 0;
    std::int64_t uptime_ms = 0;
    std::uint64_t executions_started = 0;
    /// Per runtime kind that reports something (the container runtime: its engine), by name.
    boost::json::object runtimes;
    /// Durable results (node.data_dir): enabled, degraded to memory after a disk error,
    /// records dropped at start (torn or corrupt), the results file's size.
    bool durable = false;
    bool durable_degraded = false;
    std::size_t durable_dropped_records = 0;
    std::uint64_t durable_file_bytes = 0;
    std::string durability;
    /// Sections a transport added (add_health_section): name and JSON text, e.g. "frame".
    /// Views into the service and the transport: valid until the next health() call.
    std::vector<std::pair<std::string_view, std::string_view>> sections;
};

/// The service's seam to other appliances (src/cluster implements it; none: a single
/// appliance). The service asks it about ids it does not hold itself, hands it async
/// submissions it cannot start now, and tells it of every change of a local record.
class remote_executions {
public:
    virtual ~remote_executions() = default;
    /// This appliance's node id, which its records carry ("node").
    virtual const std::string& node_id() const noexcept = 0;
    /// True while a submission can be handed to the cluster (connected to it).
    virtual bool can_share() const noexcept = 0;
    /// Hands a validated submission this appliance cannot start now to the cluster: the
    /// pending record to answer with, or nullopt to run it here after all (the cluster
    /// could not take it).
    virtual asio::awaitable<std::optional<status_view>> share(core::InvokeFunctionRequest request) = 0;
    /// The status of an execution held elsewhere; nullopt when the cluster does not know it.
    virtual std::optional<status_view> status(std::string_view id, bool include_result,
                                              const core::client_identity& who) = 0;
    /// Long-poll of an execution held elsewhere (answers at its end or after `wait`).
    virtual asio::awaitable<std::optional<status_view>>
    wait_status(std::string id, std::chrono::milliseconds wait, bool include_result,
                core::client_identity who) = 0;
    /// Cancels an execution held elsewhere (forwarded to the node running it).
    virtual asio::awaitable<std::optional<std::variant<cancel_view, error>>>
    cancel(std::string id, std::string reason, core::client_identity who) = 0;
    /// Attaches a viewer to an execution held elsewhere: nullopt when the cluster does not
    /// know it, else the refusal or (empty) success.
    virtual std::optional<std::optional<error>> watch(std::string_view id,
                                                      const std::shared_ptr<viewer_queue>& viewer,
                                                      const core::client_identity& who) = 0;
    /// A local record was created or changed state (pending, running, ended).
    virtual void on_record(core::record_ref ref) = 0;
    /// Completes once the latest state of local record `id` is in the cluster (bounded by the
    /// cluster's request timeout; at once while disconnected): an async 202 is answered after
    /// it, so the client may poll any node.
    virtual asio::awaitable<void> published(std::string id) = 0;
};

/// The record_ref watch() answers for a viewer of an execution held elsewhere: it names no
/// local record (unwatch ignores it; transports use the id they were asked for).
inline constexpr core::record_ref remote_record_ref{0xffffffffu, 0};

class execution_service {
public:
    /// `cfg` must have been parsed with `runtimes` (runtime::parse_config): its functions are
    /// resolved through it (std::invalid_argument otherwise), and each kind they use gets one
    /// runtime from it. `runtimes` outlives the service.
    execution_service(asio::any_io_executor executor, const core::config& cfg,
                      const runtime::registry& runtimes = runtime::builtin_registry());
    ~execution_service();
    execution_service(const execution_service&) = delete;
    execution_service& operator=(const execution_service&) = delete;

    using invoke_result = std::variant<core::RuntimeExecutionResponse, error>;

    /// Validates and dispatches on the mode: sync -> handle_sync_execution, async ->
    /// handle_async_execution, stream -> use_stream_endpoint error (streams start elsewhere).
    asio::awaitable<invoke_result> invoke_function(core::InvokeFunctionRequest request);
    /// Submits and waits for the end (bounded by the execution's timeout and queue).
    asio::awaitable<invoke_result> handle_sync_execution(core::InvokeFunctionRequest request);
    /// Submits and answers at once with the pending record and an estimate.
    invoke_result handle_async_execution(core::InvokeFunctionRequest request);

    /// Stream mode: submits the execution with `viewer` attached from its first event.
    std::variant<core::record_ref, error>
    start_stream_execution(core::InvokeFunctionRequest request,
                           const std::shared_ptr<viewer_queue>& viewer);
    /// Attaches a viewer to any execution: a live one sends its replay buffer then live
    /// events; a finished one fills the queue with its kept output and final event and closes
    /// it. Errors: not found / evicted, too_many_requests at the viewer limit.
    std::variant<core::record_ref, error> watch(std::string_view id,
                                                const std::shared_ptr<viewer_queue>& viewer,
                                                const core::client_identity& who = {});
    /// Detaches a viewer (no-op if the execution has ended).
    void unwatch(core::record_ref ref, const viewer_queue* viewer);
    /// A new viewer queue on the service's executor with the configured bound.
    std::shared_ptr<viewer_queue> make_viewer_queue() const;

    /// Status by id (ours or a client's). error: execution_not_found / execution_evicted.
    /// Every query by id answers execution_not_found for a record of another client unless
    /// `who` is an admin (ids do not leak across clients); the default identity is an admin.
    std::variant<status_view, error> get_status(std::string_view id, bool include_result,
                                                const core::client_identity& who = {});
    /// Long-poll: answers when the execution ends or after `wait`. The caller caps `wait` with
    /// its transport's limit (http.max_long_poll_ms, frame.max_long_poll_ms).
    asio::awaitable<std::variant<status_view, error>>
    wait_status(std::string id, std::chrono::milliseconds wait, bool include_result,
                core::client_identity who);
    /// As the default (admin) client. Not a coroutine: g++ 12 double-frees a defaulted
    /// class-type parameter of a coroutine.
    asio::awaitable<std::variant<status_view, error>>
    wait_status(std::string id, std::chrono::milliseconds wait, bool include_result) {
        return wait_status(std::move(id), wait, include_result, core::client_identity{});
    }
    /// Resolves an id to a held record (for viewers).
    std::variant<core::record_ref, error> resolve(std::string_view id,
                                                  const core::client_identity& who = {});

    /// Cancels a pending (removed from its queue) or running (killed) execution, and answers
    /// once it has really stopped (bounded by the kill grace). An execution that had already
    /// ended answers success=false with its final status (transports: 409 conflict).
    asio::awaitable<std::variant<cancel_view, error>> cancel(std::string id, std::string reason,
                                                             core::client_identity who);
    /// As the default (admin) client (not a coroutine: see wait_status).
    asio::awaitable<std::variant<cancel_view, error>> cancel(std::string id, std::string reason) {
        return cancel(std::move(id), std::move(reason), core::client_identity{});
    }

    /// The id of a held or once-held record (transports never reach into the table).
    std::string execution_id(core::record_ref ref) const { return table_.execution_id(ref); }

    /// A non-admin `who` sees only its own records (the query's client filter is forced).
    core::list_page list(core::list_query query, const core::client_identity& who = {});
    /// The identity of http.tokens[i - 1] (i >= 1), or of the default client (i = 0): what
    /// the HTTP transport hands in after matching a token.
    core::client_identity client(std::uint32_t index) const;
    std::vector<function_view> functions();
    health_view health();
    /// Adds a top-level section to GET /health, read at each call (a transport's counters:
    /// "frame"). `fill` returns the section's JSON text (an object), owned by the transport and
    /// valid until its next call: /health is the hottest route, so a transport keeps the text
    /// and rebuilds it only when its counters change. Register at start-up; `fill` must only
    /// read what outlives the service.
    void add_health_section(std::string name, std::function<const std::string&()> fill);
    const core::config& config() const noexcept { return config_; }
    /// The appliance's metric registry: the service's families, and transports may add theirs
    /// (register at start-up, before serving). Lives as long as the service.
    core::metric_registry& metrics() noexcept;
    /// Refreshes the gauges (in flight, queued, status table, process) and renders every family
    /// in the Prometheus text format 0.0.4 (GET /metrics).
    std::string render_metrics();

    /// Cluster seam (none by default). `remote` outlives the service or is reset first.
    void set_remote(remote_executions* remote) noexcept { remote_ = remote; }
    bool clustered() const noexcept { return remote_ != nullptr; }
    /// Accepts a submission shared by another node to run here (status, cancel and viewers
    /// by the returned record's id): a normal submission, refused as one would be.
    std::variant<core::record_ref, error> accept_shared(core::InvokeFunctionRequest request);
    /// True when a submission of `function` by `client` would start at once (a free slot).
    bool can_start_now(std::uint32_t function, std::uint32_t client = 0) const;
    /// The record of a held id (nullopt when it is gone), with output when asked.
    std::optional<core::ExecutionResult> snapshot(core::record_ref ref, bool include_output);
    /// The function's typical run time (its history's median, else configured or fallback).
    std::int64_t typical_ms(std::uint32_t function) const;

    /// Graceful shutdown: refuse new submissions, let live sync requests finish within the
    /// grace period, then cancel everything still pending or running and wait (bounded) for
    /// the runtimes to stop their children.
    asio::awaitable<void> shutdown(std::chrono::milliseconds grace);
    bool shutting_down() const noexcept { return shutting_down_; }

private:
    struct live_execution;
    class record_sink;
    /// An accepted submission: a new execution, or (same client id, same request) the one
    /// already accepted, whose `live` is null once it has ended.
    struct submission {
        std::shared_ptr<live_execution> live;
        core::record_ref ref;
        bool replayed = false;
    };

    std::variant<submission, error> submit(core::InvokeFunctionRequest&& request,
                                           const std::shared_ptr<viewer_queue>& viewer);
    std::optional<error> validate(const core::InvokeFunctionRequest& request,
                                  const core::function_config& function) const;
    /// The idempotency check every submission path goes through: nullopt when the client id
    /// is new for this function, else the record to replay or the refusal (409, 410).
    std::optional<std::variant<submission, error>>
    find_previous(const core::InvokeFunctionRequest& request, const core::function_config& fn);
    /// Performs what the execution's state machine asked for, in the machine's order.
    void perform(const std::shared_ptr<live_execution>& live, core::execution_actions actions);
    /// Counts an ended execution in the metrics (status, durations, estimate error).
    void record_end_metrics(const live_execution& live, core::steady_time now);
    asio::awaitable<void> run_execution(std::shared_ptr<live_execution> live);
    /// Takes an execution's input out of the queued-input total (idempotent) and frees it.
    void release_input(live_execution& live);
    std::optional<error> attach_viewer(core::record_ref ref,
                                       const std::shared_ptr<viewer_queue>& viewer);
    /// Projects the scheduler's drain (core::queue_projection): the running executions with
    /// their functions' typical durations against their elapsed time, the queued ones in
    /// start order, and `extra` (a submission not yet admitted) at its place in that order.
    /// Fills projection_order_ with the key of each projected queued item (extra: key 0).
    const std::vector<core::projected_times>& project(const core::scheduled_item* extra);
    /// A new submission's projected completion (ms from now) and its source.
    std::pair<std::int64_t, core::estimate_source> estimate_for_new(const core::scheduled_item& item);
    /// The projected completion of a pending or running execution (ms from now).
    std::int64_t estimate_remaining(const live_execution& live);
    /// ms until the first queued execution of `function` (or of `client`, when given) is
    /// projected to start, i.e. a queue place frees: a 429's Retry-After; at least 1.
    std::int64_t first_start_ms(std::optional<std::uint32_t> function,
                                std::optional<std::uint32_t> client);
    /// The rank (start order) of a submission made now with `priority`.
    std::int64_t rank_now(int priority) const;
    status_view make_status(core::record_ref ref, bool include_result);
    std::shared_ptr<live_execution> find_live(core::record_ref ref) const;
    /// Durable results: writes the record's slot (with what re-running needs while it is
    /// pending or running). No-op in memory; during shutdown a record ended by the shutdown
    /// keeps its last persisted state, so it resumes (pending) or reads interrupted.
    void persist(core::record_ref ref, const live_execution* live);
    void persist_history(std::uint32_t function);
    /// At start: restores the records and histories the files held, resolves those that
    /// were running (interrupted, or re-queued with retry_interrupted), queues pending ones.
    void recover();
    /// True for the lookup errors another node may answer (not found, evicted).
    static bool held_elsewhere(const error& e);
    /// In a cluster: whether a submission goes to the cluster (this node cannot start it now,
    /// the local path would accept it, and its mode may be shared).
    bool should_share(const core::InvokeFunctionRequest& request);
    /// Shares the submission when should_share says so: the answer, or nullopt to run here.
    asio::awaitable<std::optional<invoke_result>>
    try_share(const core::InvokeFunctionRequest& request);
    std::variant<core::record_ref, error> resolve_or_error(std::string_view id,
                                                           const core::client_identity& who);
    runtime::runtime& runtime_for(const runtime::function_spec& function) const;

    asio::any_io_executor executor_;
    const core::config& config_;
    std::uint32_t boot_;                   ///< this boot's id nonce
    std::unique_ptr<durable_store> store_; ///< null: in memory only
    core::ring_status_table table_;
    core::scheduler_policy scheduler_;
    std::vector<core::runtime_history> histories_; ///< one per function, config order
    /// Per client (index as core::client_identity): its rate bucket, if it has a rate_per_s.
    std::vector<std::optional<core::token_bucket>> rate_buckets_;
    core::queue_projection projection_;                ///< reused buffers
    std::vector<core::projected_running> projected_running_;
    std::vector<core::projected_queued> projected_queued_;
    std::vector<std::uint64_t> projection_order_;      ///< key of each projected queued item
    std::vector<std::size_t> function_limits_;         ///< for the projection
    std::vector<std::size_t> client_limits_;           ///< for the projection
    std::vector<runtime::function_spec> functions_; ///< config order, resolved by the registry
    /// One runtime per kind in use, made by the kind's registry entry.
    std::map<const runtime::runtime_kind*, std::unique_ptr<runtime::runtime>> runtimes_;
    std::unordered_map<std::uint64_t, std::shared_ptr<live_execution>> live_; ///< by seq
    core::steady_time started_at_;
    std::uint64_t executions_started_ = 0;
    std::size_t sync_waiters_ = 0;
    /// Input bytes of executions not yet started (limits.queued_input_bytes bounds it).
    std::size_t queued_input_bytes_ = 0;
    bool shutting_down_ = false;
    runtime::async_event sync_waiters_gone_; ///< set during shutdown when no sync caller waits
    runtime::async_event all_ended_;         ///< set during shutdown when nothing is live
    std::unique_ptr<service_metrics> metrics_;
    std::vector<std::pair<std::string, std::function<const std::string&()>>> health_sections_;
    remote_executions* remote_ = nullptr;
};

/// The ids of a boot: a random nonce so ids differ across restarts.
std::uint32_t make_boot_nonce();

} // namespace spear::service
