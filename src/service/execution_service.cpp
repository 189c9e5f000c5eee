// The service layer: mode dispatch, admission, and the driver of each execution's state machine.
#include "service/execution_service.hpp"
#include "service/durable_store.hpp"
#include "service/live_execution.hpp"
#include "service/service_metrics.hpp"

#include "core/log.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <random>

namespace spear::service {

using core::error_code;
using core::ExecutionStatus;
using enum core::execution_action;
using clock_type = std::chrono::steady_clock;

namespace {

core::wall_time wall_now() {
    return std::chrono::system_clock::now();
}

bool is_url_safe_id(std::string_view id) {
    if (id.empty() || id.size() > core::limits::client_execution_id_bytes)
        return false;
    return std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_' || c == '.';
    });
}

/// FNV-1a over the parts of a request that decide what runs: the idempotency key is bound
/// to it, so the same key with another input, timeout or environment is a conflict. The mode
/// is left out: asking for the result of the same work in another mode is the same request.
class request_hasher {
public:
    void add(std::string_view bytes) {
        for (const auto c : bytes) {
            hash_ ^= static_cast<unsigned char>(c);
            hash_ *= 0x100000001b3ULL;
        }
        hash_ ^= 0xff; // a separator no byte sequence can imitate by shifting
        hash_ *= 0x100000001b3ULL;
    }
    std::uint64_t value() const noexcept { return hash_; }

private:
    std::uint64_t hash_ = 0xcbf29ce484222325ULL;
};

std::uint64_t request_hash(const core::InvokeFunctionRequest& request) {
    request_hasher h;
    h.add(request.function_name);
    h.add(request.input);
    h.add(request.timeout_ms ? std::to_string(*request.timeout_ms) : std::string());
    h.add(request.client.name); // a key is scoped to its client: another client's is a conflict
    for (const auto& [key, value] : request.environment) {
        h.add(key);
        h.add(value);
    }
    return h.value();
}

} // namespace

std::uint32_t make_boot_nonce() {
    std::random_device rd;
    return static_cast<std::uint32_t>(rd());
}


/// Routes a runtime's output into the record (capped) and to the stream's viewers, while the
/// state machine says the execution lives.
class execution_service::record_sink final : public runtime::output_sink {
public:
    record_sink(core::ring_status_table& table, live_execution& live)
        : table_(table)
        , live_(live) {}
    void on_stdout(std::string_view bytes) override {
        if (!live_.fsm.on_output().has(append_output))
            return;
        table_.append_output(live_.ref, bytes);
        live_.stream.publish_output(bytes);
    }
    void on_stderr(std::string_view bytes) override {
        if (live_.fsm.on_output().has(append_output))
            table_.append_stderr(live_.ref, bytes);
    }
    void on_peak_memory(std::uint64_t bytes) override { live_.peak_memory_bytes = bytes; }

private:
    core::ring_status_table& table_;
    live_execution& live_;
};

execution_service::execution_service(asio::any_io_executor executor, const core::config& cfg,
                                     const runtime::registry& runtimes)
    : executor_(std::move(executor))
    , config_(cfg)
    , boot_(make_boot_nonce())
    , store_(cfg.node.data_dir.empty() ? nullptr : std::make_unique<durable_store>(cfg, boot_))
    , table_([&] {
        core::ring_status_table_options o{
            cfg.status_table.slots, cfg.status_table.max_output_bytes,
            cfg.status_table.stderr_tail_bytes, std::chrono::seconds(cfg.status_table.ttl_s),
            boot_};
        if (store_) { // seqs continue across boots; earlier boots' ids stay known
            o.first_seq = store_->recovered().first_seq;
            o.earlier_boots = store_->recovered().earlier_boots;
        }
        return o;
    }())
    , scheduler_(
          [&] {
              std::vector<core::scheduler_policy::function_limits> limits;
              for (const auto& f : cfg.functions)
                  limits.push_back({f.max_concurrency, f.queue_depth});
              return limits;
          }(),
          cfg.limits.global_concurrency,
          [&] {
              // Client 0 is the default client (no token, auth_token, frames): no limits.
              std::vector<core::scheduler_client_limits> limits(1);
              for (const auto& t : cfg.http.tokens)
                  limits.push_back({t.max_concurrency.value_or(core::scheduler_policy::unlimited),
                                    t.max_queued.value_or(core::scheduler_policy::unlimited)});
              return limits;
          }())
    , functions_(runtimes.resolve_all(cfg))
    , started_at_(clock_type::now())
    , sync_waiters_gone_(executor_)
    , all_ended_(executor_)
    , metrics_(std::make_unique<service_metrics>()) {
    histories_.reserve(cfg.functions.size());
    for (const auto& f : cfg.functions) {
        histories_.emplace_back(cfg.history.window, f.expected_ms, cfg.history.default_expected_ms);
        function_limits_.push_back(f.max_concurrency);
    }
    rate_buckets_.emplace_back(); // the default client has no rate limit
    client_limits_.push_back(core::scheduler_policy::unlimited);
    for (const auto& t : cfg.http.tokens) {
        if (t.rate_per_s)
            rate_buckets_.emplace_back(std::in_place, *t.rate_per_s, *t.rate_per_s, started_at_);
        else
            rate_buckets_.emplace_back();
        client_limits_.push_back(t.max_concurrency.value_or(core::scheduler_policy::unlimited));
    }
    // One runtime per kind in use; each prepares its functions now (the wasm runtime reads and
    // validates modules, logging a bad one, whose invokes then fail with the reason).
    for (const auto& spec : functions_) {
        auto& rt = runtimes_[spec.kind];
        if (!rt) {
            rt = spec.kind->make(executor_);
            rt->configure(cfg);
        }
        rt->prepare(spec);
    }
    if (store_) {
        recover();
        auto flusher = [store = store_.get()]() { return store->run_flusher(); };
        asio::co_spawn(executor_, flusher(),
                       [](std::exception_ptr e) { log::task_ended("durable results flusher", e); });
    }
}

execution_service::~execution_service() = default;

runtime::runtime& execution_service::runtime_for(const runtime::function_spec& function) const {
    return *runtimes_.at(function.kind);
}

// --- admission ----------------------------------------------------------------------------

std::optional<error> execution_service::validate(const core::InvokeFunctionRequest& request,
                                                 const core::function_config& function) const {
    if (!request.client_execution_id.empty() && !is_url_safe_id(request.client_execution_id))
        return error::make(error_code::invalid_request,
                           "context.execution_id: must be 1-64 characters of [A-Za-z0-9._-]");
    if (request.timeout_ms) {
        if (*request.timeout_ms == 0 || *request.timeout_ms > config_.limits.max_timeout_ms)
            return error::make(error_code::invalid_request,
                               "context.timeout_ms: must be in 1.." +
                                   std::to_string(config_.limits.max_timeout_ms));
    }
    if (request.priority && (*request.priority < 0 || *request.priority > core::limits::priority_max))
        return error::make(error_code::invalid_request,
                           "context.priority: must be an integer in 0.." +
                               std::to_string(core::limits::priority_max) +
                               " (higher starts first; omit it for the function's priority, " +
                               std::to_string(function.priority) + ")");
    if (request.environment.size() > core::limits::request_env_entries)
        return error::make(error_code::invalid_request,
                           "context.environment: at most " +
                               std::to_string(core::limits::request_env_entries) + " entries");
    for (const auto& [key, value] : request.environment) {
        const auto& allowed = function.allow_request_env;
        if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
            return error::make(error_code::invalid_request,
                               "context.environment." + key + ": not allowed by function '" +
                                   function.name + "' (see its allow_request_env)");
    }
    return std::nullopt;
}

std::optional<std::variant<execution_service::submission, error>>
execution_service::find_previous(const core::InvokeFunctionRequest& request,
                                 const core::function_config& fn) {
    if (request.client_execution_id.empty())
        return std::nullopt;
    const auto& key = request.client_execution_id;
    const auto found = table_.find_client_id(key, fn.name, clock_type::now());
    switch (found.status) {
    case core::lookup_status::found:
        if (table_.request_hash(found.ref) != request_hash(request))
            return error::make(error_code::conflict,
                               "context.execution_id '" + key + "' was already used for another "
                               "request to function '" + fn.name +
                               "' (other input, timeout or environment); use a new key");
        return submission{find_live(found.ref), found.ref, true};
    case core::lookup_status::evicted:
        return error::make(error_code::execution_evicted,
                           "context.execution_id '" + key + "' named an execution of function '" +
                               fn.name + "' that was evicted from the status table; use a new "
                               "key to run it again");
    case core::lookup_status::not_found:
    case core::lookup_status::ambiguous:
        break;
    }
    return std::nullopt;
}

std::variant<execution_service::submission, error>
execution_service::submit(core::InvokeFunctionRequest&& request,
                          const std::shared_ptr<viewer_queue>& viewer) {
    if (shutting_down_) {
        metrics_->on_refused(503, "shutting_down");
        return error::make(error_code::unavailable);
    }
    const auto index = config_.find_function(request.function_name);
    if (!index)
        return error::make(error_code::function_not_found,
                           "no function named '" + request.function_name.substr(0, 64) + "'");
    const auto function = static_cast<std::uint32_t>(*index);
    const auto& fn = config_.functions[function];
    // A runtime that will not run the function at all refuses it before any record exists.
    if (auto refused = runtime_for(functions_[function]).refusal(functions_[function]))
        return error::make(error_code::function_failed, std::move(*refused));
    if (auto invalid = validate(request, fn))
        return *invalid;
    if (store_) { // accepted work must be re-runnable after a restart: its input is persisted
        std::size_t bytes = request.input.size();
        for (const auto& [key, value] : request.environment)
            bytes += key.size() + value.size();
        if (bytes > config_.status_table.max_input_bytes)
            return error::make(error_code::payload_too_large,
                               "input and environment of " + std::to_string(bytes) +
                                   " bytes exceed status_table.max_input_bytes (" +
                                   std::to_string(config_.status_table.max_input_bytes) +
                                   "), the most a durable appliance keeps to run it after a "
                                   "restart");
    }
    if (auto previous = find_previous(request, fn)) {
        if (auto* accepted = std::get_if<submission>(&*previous); accepted && viewer)
            if (auto refused = attach_viewer(accepted->ref, viewer))
                return *refused;
        return std::move(*previous);
    }

    // The client's submission rate (http.tokens[].rate_per_s): every attempt takes a token.
    const auto& who = request.client;
    if (auto& bucket = rate_buckets_.at(who.index)) {
        if (const auto wait = bucket->take(clock_type::now())) {
            auto refused = error::make(
                error_code::too_many_requests,
                "client '" + who.name + "' exceeded its rate_per_s (" +
                    std::to_string(config_.http.tokens.at(who.index - 1).rate_per_s.value_or(0)) +
                    " submissions per second); retry later");
            refused.retry_after_ms = *wait;
            metrics_->on_refused(429, "client_rate");
            return refused;
        }
    }

    // Priority: the request's, else the function's, lowered to the client's ceiling. The
    // scheduler starts by rank (priority with aging: see core::start_rank).
    const int priority = std::min(
        request.priority ? static_cast<int>(*request.priority) : fn.priority, who.priority_ceiling);
    const core::scheduled_item item{function, table_.next_seq(), who.index, rank_now(priority)};

    // The global queued-input budget refuses before admission, like validation: inputs
    // waiting to start may not hold more than limits.queued_input_bytes, all functions
    // together (each function's queue_depth alone would allow queue_depth x max_body_bytes).
    auto [estimate, source] = estimate_for_new(item);
    const auto budget = config_.limits.queued_input_bytes;
    if (request.input.size() > budget - std::min(budget, queued_input_bytes_)) {
        auto refused = error::make(
            error_code::too_many_requests,
            "executions waiting to start hold " + std::to_string(queued_input_bytes_) +
                " input bytes; this input (" + std::to_string(request.input.size()) +
                " bytes) would exceed limits.queued_input_bytes (" + std::to_string(budget) +
                "); retry later");
        refused.retry_after_ms = estimate;
        metrics_->on_refused(429, "queued_input_bytes");
        return refused;
    }

    // Admission is decided once, by the scheduler, keyed by the seq the record will take; a
    // record the table cannot hold withdraws it again.
    // Retry-After of a full queue: when the projection starts the first waiting execution
    // that holds a place in it.
    const auto admitted = scheduler_.admit(item);
    if (admitted == core::admit_result::queue_full) {
        auto refused = error::make(error_code::too_many_requests,
                                   "function '" + fn.name + "' has " +
                                       std::to_string(scheduler_.queued(function)) +
                                       " executions queued (its queue_depth); retry later");
        refused.retry_after_ms =
            first_start_ms(function, std::nullopt);
        metrics_->on_refused(429, "queue_full");
        return refused;
    }
    if (admitted == core::admit_result::client_queue_full) {
        auto refused = error::make(
            error_code::too_many_requests,
            "client '" + who.name + "' has " +
                std::to_string(scheduler_.client_running(who.index)) +
                " executions running and " + std::to_string(scheduler_.client_queued(who.index)) +
                " queued (its max_concurrency and max_queued); retry later");
        refused.retry_after_ms =
            first_start_ms(std::nullopt, who.index);
        metrics_->on_refused(429, "client_max_queued");
        return refused;
    }
    const auto now = clock_type::now();
    const core::new_execution record{fn.name,
                                     request.client_execution_id,
                                     request.execution_mode,
                                     now + core::millis(estimate),
                                     request_hash(request)};
    auto inserted = table_.insert(record, now, wall_now());
    if (auto* refused = std::get_if<error>(&inserted)) {
        scheduler_.withdraw(item);
        metrics_->on_refused(503, "status_table_full");
        return *refused;
    }
    const auto ref = std::get<core::record_ref>(inserted);
    table_.set_content_type(ref, fn.content_type);
    table_.set_client(ref, who.name, priority);

    auto live = std::make_shared<live_execution>(executor_, table_.execution_id(ref), config_,
                                                 admitted, now);
    live->ref = ref;
    live->function = function;
    live->client = who.index;
    live->priority = priority;
    live->rank = item.rank;
    live->request = std::move(request);
    live->held_input_bytes = live->request.input.size();
    queued_input_bytes_ += live->held_input_bytes;
    live->initial_estimate_ms = estimate;
    live->source = source;
    if (viewer)
        live->stream.attach(viewer);
    live_.emplace(ref.seq, live);
    if (store_)
        store_->note_next_seq(table_.next_seq());
    persist(ref, live.get());
    if (remote_)
        remote_->on_record(ref);
    perform(live, live->fsm.initial_actions());
    return submission{live, ref, false};
}

// --- the driver ---------------------------------------------------------------------------

void execution_service::release_input(live_execution& live) {
    queued_input_bytes_ -= live.held_input_bytes;
    live.held_input_bytes = 0;
    live.request.input = std::string(); // frees it even if a caller still holds `live`
}

void execution_service::perform(const std::shared_ptr<live_execution>& live,
                                core::execution_actions actions) {
    const auto now = clock_type::now();
    if (actions.has(leave_queue))
        scheduler_.remove_queued({live->function, live->ref.seq});
    if (actions.has(kill))
        live->cancel.cancel();
    if (actions.has(start_runtime)) {
        ++executions_started_;
        // Posted, not run inline: the caller (e.g. an async 202) answers before the spawn.
        // A cancel that lands before the post runs is seen by `started` (never run).
        auto spawn = [this, live]() {
            auto id = table_.execution_id(live->ref);
            asio::co_spawn(executor_, run_execution(live),
                           [id](std::exception_ptr e) { log::task_ended("execution " + id, e); });
        };
        asio::post(executor_, std::move(spawn));
    }
    if (actions.has(mark_running)) {
        table_.mark_running(live->ref, now, wall_now());
        auto& history = histories_[live->function];
        history.record_queue_wait(live->fsm.queue_ms());
        metrics_->on_started(config_.functions[live->function].name,
                             static_cast<double>(live->fsm.queue_ms()) / 1000.0);
        table_.set_expected_completion(live->ref, now + core::millis(history.typical_ms()));
        persist(live->ref, live.get());
        if (remote_)
            remote_->on_record(live->ref);
    }
    if (actions.has(publish_status))
        live->stream.publish_status(live->fsm.status());
    if (actions.has(finish_record)) {
        table_.finish(live->ref, live->fsm.outcome(), now, wall_now());
        persist(live->ref, live.get());
        live->final = table_.snapshot(live->ref, true, now);
        live->stream.publish_final(*live->final);
        record_end_metrics(*live, now);
        if (remote_)
            remote_->on_record(live->ref);
    }
    if (actions.has(record_history)) {
        histories_[live->function].record_run(live->fsm.run_ms(now));
        persist_history(live->function);
    }
    if (actions.has(wake_waiters)) {
        release_input(*live); // ended without running: its input is not needed any more
        live->done.set();
        live_.erase(live->ref.seq);
        if (shutting_down_ && live_.empty())
            all_ended_.set();
    }
    if (actions.has(start_next))
        for (const auto& next : scheduler_.finish(live->function, live->client))
            if (auto it = live_.find(next.key); it != live_.end()) {
                auto waiting = it->second; // perform may erase it from live_
                perform(waiting, waiting->fsm.on_admitted(now));
            }
}

void execution_service::record_end_metrics(const live_execution& live, core::steady_time now) {
    const auto& fsm = live.fsm;
    const auto status = fsm.outcome().status;
    std::optional<double> run_s;
    if (fsm.ran())
        run_s = static_cast<double>(fsm.run_ms(now)) / 1000.0;
    const auto total_ms = core::elapsed_ms(fsm.submitted_at(), now);
    // The estimate's accuracy: only executions that ran to their own end (a cancel or a
    // shutdown says nothing about how long the function takes).
    std::optional<double> estimate_error_s;
    if (fsm.ran() && status != ExecutionStatus::cancelled)
        estimate_error_s =
            static_cast<double>(std::abs(total_ms - live.initial_estimate_ms)) / 1000.0;
    metrics_->on_end(config_.functions[live.function].name, live.request.execution_mode, status,
                     run_s, static_cast<double>(total_ms) / 1000.0, estimate_error_s,
                     live.peak_memory_bytes);
}

asio::awaitable<void> execution_service::run_execution(std::shared_ptr<live_execution> live) {
    perform(live, live->fsm.on_started(clock_type::now()));
    if (live->fsm.phase() != core::execution_phase::running)
        co_return; // stopped before it started: the runtime is never called

    const auto& fn = config_.functions[live->function];
    runtime::run_request request;
    request.function = &functions_[live->function];
    request.execution_id = table_.execution_id(live->ref);
    request.input = std::move(live->request.input);
    release_input(*live); // the input now belongs to the run, outside the queued budget
    request.request_env = std::move(live->request.environment);
    request.timeout = core::millis(live->request.timeout_ms.value_or(config_.timeout_for(fn)));
    request.kill_grace = core::millis(config_.limits.kill_grace_ms);

    record_sink sink(table_, *live);
    core::execution_outcome outcome;
    try {
        outcome = co_await runtime_for(functions_[live->function])
                      .run(std::move(request), sink, live->cancel);
    } catch (const std::exception& e) {
        // Whatever a runtime throws, the execution ends and gives back what it holds.
        log::error("runtime error in execution " + table_.execution_id(live->ref) + ": " +
                   e.what());
        outcome = {ExecutionStatus::failed, error_code::internal,
                   std::string(core::default_message(error_code::internal)), std::nullopt,
                   std::nullopt};
    }
    perform(live, live->fsm.on_ended(std::move(outcome), clock_type::now()));
}

// --- invoke -------------------------------------------------------------------------------

bool execution_service::should_share(const core::InvokeFunctionRequest& request) {
    if (!remote_ || !remote_->can_share() || shutting_down_)
        return false;
    const auto index = config_.find_function(request.function_name);
    if (!index)
        return false; // the local path answers 404
    const auto function = static_cast<std::uint32_t>(*index);
    const auto& fn = config_.functions[function];
    if (request.execution_mode == core::ExecutionMode::sync && !fn.share)
        return false; // sync stays local unless the function says "share": true
    if (can_start_now(function, request.client.index))
        return false;
    // Whatever the local path would refuse (or replay) it answers itself.
    if (runtime_for(functions_[function]).refusal(functions_[function]) || validate(request, fn) ||
        find_previous(request, fn))
        return false;
    if (auto& bucket = rate_buckets_.at(request.client.index))
        if (bucket->take(clock_type::now()))
            return false; // refused by the local path too (its next take fails as well)
    return true;
}

asio::awaitable<std::optional<execution_service::invoke_result>>
execution_service::try_share(const core::InvokeFunctionRequest& request) {
    if (!should_share(request))
        co_return std::nullopt;
    const auto mode = request.execution_mode;
    const auto promote_after = request.respond_async_after_ms;
    const auto timeout_ms = request.timeout_ms;
    auto pending = co_await remote_->share(request); // a copy: run here if it is not taken
    if (!pending)
        co_return std::nullopt;
    auto id = pending->result.execution_id;
    auto request_id = pending->result.client_execution_id.empty()
                          ? pending->result.execution_id
                          : pending->result.client_execution_id;
    if (mode == core::ExecutionMode::sync) {
        // The caller's node waits for the remote result: the run's timeout plus the kill
        // grace, plus as long again for the shared queue; Prefer: respond-async caps it.
        const auto& fn = config_.functions[*config_.find_function(request.function_name)];
        auto bound = 2 * std::chrono::milliseconds(timeout_ms.value_or(config_.timeout_for(fn))) +
                     std::chrono::milliseconds(config_.limits.kill_grace_ms) +
                     core::limits::cancel_confirm_margin;
        if (promote_after)
            bound = std::min(bound, std::chrono::milliseconds(*promote_after));
        core::client_identity admin; // named: g++ 12 mis-destroys class temporaries in co_await
        auto ended = co_await remote_->wait_status(id, bound, true, admin);
        if (ended && core::is_terminal(ended->result.status)) {
            auto response = core::RuntimeExecutionResponse::new_sync(
                std::move(request_id), std::move(ended->result), wall_now());
            response.metadata["node"] = ended->result.node;
            co_return response;
        }
        if (ended)
            pending = std::move(ended);
        auto response = core::RuntimeExecutionResponse::new_async(
            std::move(request_id), std::move(pending->result), pending->estimated_completion_ms,
            pending->source, wall_now());
        response.metadata["promoted"] = "true";
        co_return response;
    }
    auto response = core::RuntimeExecutionResponse::new_async(
        std::move(request_id), std::move(pending->result), pending->estimated_completion_ms,
        pending->source, wall_now());
    response.metadata["shared"] = "true";
    co_return response;
}

asio::awaitable<execution_service::invoke_result>
execution_service::invoke_function(core::InvokeFunctionRequest request) {
    if (remote_ && request.execution_mode != core::ExecutionMode::stream) {
        auto shared = co_await try_share(request); // a single appliance skips the frame
        if (shared)
            co_return std::move(*shared);
    }
    switch (request.execution_mode) {
    case core::ExecutionMode::sync:
        co_return co_await handle_sync_execution(std::move(request));
    case core::ExecutionMode::async: {
        auto accepted = handle_async_execution(std::move(request));
        if (auto* response = std::get_if<core::RuntimeExecutionResponse>(&accepted);
            response && remote_) {
            auto id = response->execution_id;
            co_await remote_->published(std::move(id)); // then any node answers for it
        }
        co_return accepted;
    }
    case core::ExecutionMode::stream:
        break;
    }
    co_return error::make(error_code::use_stream_endpoint,
                          "stream mode is served over WebSocket: connect to /stream and send this "
                          "request as the first message");
}

asio::awaitable<execution_service::invoke_result>
execution_service::handle_sync_execution(core::InvokeFunctionRequest request) {
    const auto promote_after = request.respond_async_after_ms;
    auto submitted = submit(std::move(request), nullptr);
    if (auto* refused = std::get_if<error>(&submitted))
        co_return *refused;
    const auto accepted = std::get<submission>(std::move(submitted));
    const auto& live = accepted.live;

    if (live) {
        // A safety bound only, never reached while runtimes keep their contract: every
        // execution ends by its own timeout, and each one queued ahead may run to the longest
        // timeout there is. With no Prefer, a sync caller is answered at the end, never 202.
        const auto per_run = std::chrono::milliseconds(config_.limits.max_timeout_ms) +
                             std::chrono::milliseconds(config_.limits.kill_grace_ms);
        // Ahead of it: everything queued now, and what may still overtake it (higher priority
        // within the aging window, other functions): at most every queue full once more.
        std::size_t capacity = 0;
        for (const auto& f : config_.functions)
            capacity += f.queue_depth;
        // Capped so that the bound stays below 2^63 ns (limits.hpp: 1e6 x (1 h + 1 min)).
        const auto ahead = static_cast<std::int64_t>(
            std::min<std::size_t>(scheduler_.queued_total() + capacity, 1'000'000));
        auto bound = per_run * (ahead + 1) + core::limits::cancel_confirm_margin;
        if (promote_after)
            bound = std::min(bound, std::chrono::milliseconds(*promote_after));
        ++sync_waiters_;
        co_await live->done.wait_for(bound);
        if (--sync_waiters_ == 0 && shutting_down_)
            sync_waiters_gone_.set();
        if (promote_after && !live->done.is_set()) {
            // Opted-in promotion: the caller gets the async answer and polls.
            auto pending = table_.snapshot(live->ref, false, clock_type::now());
            auto request_id = pending.client_execution_id.empty() ? pending.execution_id
                                                                  : pending.client_execution_id;
            auto response = core::RuntimeExecutionResponse::new_async(
                std::move(request_id), std::move(pending), estimate_remaining(*live),
                histories_[live->function].source(), wall_now());
            response.metadata["promoted"] = "true";
            co_return response;
        }
    }

    core::ExecutionResult result;
    if (live && live->final)
        result = *live->final;
    else
        result = table_.snapshot(accepted.ref, true, clock_type::now());
    auto request_id =
        result.client_execution_id.empty() ? result.execution_id : result.client_execution_id;
    if (remote_)
        result.node = remote_->node_id();
    auto response = core::RuntimeExecutionResponse::new_sync(std::move(request_id),
                                                             std::move(result), wall_now());
    if (accepted.replayed)
        response.metadata["replayed"] = "true";
    co_return response;
}

execution_service::invoke_result
execution_service::handle_async_execution(core::InvokeFunctionRequest request) {
    auto submitted = submit(std::move(request), nullptr);
    if (auto* refused = std::get_if<error>(&submitted))
        return *refused;
    const auto accepted = std::get<submission>(std::move(submitted));
    auto status = make_status(accepted.ref, accepted.replayed);
    if (!accepted.replayed) { // a new execution answers with the estimate it was accepted with
        status.estimated_completion_ms = accepted.live->initial_estimate_ms;
        status.source = accepted.live->source;
    }
    auto request_id = status.result.client_execution_id.empty()
                          ? status.result.execution_id
                          : status.result.client_execution_id;
    auto response = core::RuntimeExecutionResponse::new_async(
        std::move(request_id), std::move(status.result), status.estimated_completion_ms,
        status.source, wall_now());
    if (accepted.replayed)
        response.metadata["replayed"] = "true";
    return response;
}

std::variant<core::record_ref, error>
execution_service::start_stream_execution(core::InvokeFunctionRequest request,
                                          const std::shared_ptr<viewer_queue>& viewer) {
    auto submitted = submit(std::move(request), viewer);
    if (auto* refused = std::get_if<error>(&submitted))
        return *refused;
    return std::get<submission>(submitted).ref;
}

std::shared_ptr<viewer_queue> execution_service::make_viewer_queue() const {
    auto queue = std::make_shared<viewer_queue>(executor_, config_.stream.viewer_queue_messages);
    queue->count_drops_into(metrics_->dropped_chunks);
    return queue;
}

std::optional<error> execution_service::attach_viewer(core::record_ref ref,
                                                      const std::shared_ptr<viewer_queue>& viewer) {
    if (auto live = find_live(ref)) {
        if (live->stream.viewers() >= config_.stream.max_viewers_per_execution) {
            auto refused = error::make(
                error_code::too_many_requests,
                "execution has the maximum of " +
                    std::to_string(config_.stream.max_viewers_per_execution) + " viewers");
            refused.retry_after_ms = 1000;
            metrics_->on_refused(429, "viewer_limit");
            return refused;
        }
        live->stream.attach(viewer);
        return std::nullopt;
    }
    for (auto& e : replay_finished(table_.snapshot(ref, true, clock_type::now()),
                                   core::limits::stream_chunk_bytes))
        viewer->push(std::move(e));
    viewer->close();
    return std::nullopt;
}

std::variant<core::record_ref, error>
execution_service::watch(std::string_view id, const std::shared_ptr<viewer_queue>& viewer,
                         const core::client_identity& who) {
    auto resolved = resolve_or_error(id, who);
    if (auto* missing = std::get_if<error>(&resolved)) {
        if (remote_ && held_elsewhere(*missing))
            if (auto attached = remote_->watch(id, viewer, who)) {
                if (*attached)
                    return **attached;
                return remote_record_ref;
            }
        return *missing;
    }
    const auto ref = std::get<core::record_ref>(resolved);
    if (auto refused = attach_viewer(ref, viewer))
        return *refused;
    return ref;
}

void execution_service::unwatch(core::record_ref ref, const viewer_queue* viewer) {
    if (ref == remote_record_ref)
        return; // a relay from another node ends with its queue
    if (auto live = find_live(ref))
        live->stream.detach(viewer);
}

asio::awaitable<std::variant<cancel_view, error>>
execution_service::cancel(std::string id, std::string reason, core::client_identity who) {
    auto resolved = resolve_or_error(id, who);
    if (auto* missing = std::get_if<error>(&resolved)) {
        if (remote_ && held_elsewhere(*missing)) {
            auto missing_copy = *missing;
            auto forwarded = co_await remote_->cancel(id, std::move(reason), std::move(who));
            if (forwarded)
                co_return std::move(*forwarded);
            co_return missing_copy;
        }
        co_return *missing;
    }
    const auto ref = std::get<core::record_ref>(resolved);
    cancel_view view;
    view.execution_id = table_.execution_id(ref);
    auto live = find_live(ref);
    if (!live) {
        view.success = false;
        view.final_status = table_.status(ref);
        view.message = "execution already ended with status " +
                       std::string(core::to_string(view.final_status));
        co_return view;
    }
    perform(live, live->fsm.on_cancel_requested(reason, clock_type::now()));
    // Answer once the runtime has really stopped the function (bounded by the kill grace).
    if (!live->fsm.is_ended())
        co_await live->done.wait_for(std::chrono::milliseconds(config_.limits.kill_grace_ms) +
                                     core::limits::cancel_confirm_margin);
    if (!live->fsm.is_ended()) {
        view.still_stopping = true;
        view.final_status = ExecutionStatus::running;
        view.message = "stop requested; the execution has not stopped yet (poll its status)";
        co_return view;
    }
    view.final_status = live->fsm.outcome().status;
    view.success = view.final_status == ExecutionStatus::cancelled;
    view.message = !view.success ? "execution ended with status " +
                                       std::string(core::to_string(view.final_status)) +
                                       " before the cancel took effect"
                   : live->fsm.ran() ? "stopped while running"
                                     : "removed from the queue before it started";
    co_return view;
}

// --- shutdown -----------------------------------------------------------------------------

asio::awaitable<void> execution_service::shutdown(std::chrono::milliseconds grace) {
    shutting_down_ = true;

    // 1. In-flight sync requests get the grace period to finish on their own.
    if (sync_waiters_ > 0)
        co_await sync_waiters_gone_.wait_for(grace);

    // 2. Every execution still live gets the shutdown event: pending ones leave their queues
    //    and end at once (in submission order, so nothing new starts), running ones are killed.
    std::vector<std::shared_ptr<live_execution>> lives;
    for (const auto& [seq, live] : live_)
        lives.push_back(live);
    std::sort(lives.begin(), lives.end(),
              [](const auto& a, const auto& b) { return a->ref.seq < b->ref.seq; });
    for (const auto& live : lives)
        perform(live, live->fsm.on_shutdown(clock_type::now()));

    // 3. Wait (bounded) for the runtimes to report the ends of the killed ones.
    if (!live_.empty())
        co_await all_ended_.wait_for(std::chrono::milliseconds(config_.limits.kill_grace_ms) +
                                     core::limits::shutdown_stop_margin);
    if (!live_.empty())
        log::warn(std::to_string(live_.size()) + " executions did not stop in time");
    if (store_) // a clean stop leaves everything on disk, whatever the durability level
        store_->sync_now();
}

} // namespace spear::service
