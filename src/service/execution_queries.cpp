// The read side of the service: completion estimates, status reads and long-polls, the
// execution list, the function list, health and the metrics scrape. The driver is in
// execution_service.cpp.
#include "service/execution_service.hpp"
#include "service/durable_store.hpp"
#include "service/live_execution.hpp"
#include "service/service_metrics.hpp"

#include "platform/process_stats.hpp"

#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace spear::service {

using core::error_code;
using core::ExecutionStatus;
using clock_type = std::chrono::steady_clock;

// --- estimates ----------------------------------------------------------------------------

std::int64_t execution_service::rank_now(int priority) const {
    return core::start_rank(core::elapsed_ms(started_at_, clock_type::now()), priority,
                            static_cast<std::int64_t>(config_.limits.priority_aging_ms));
}

const std::vector<core::projected_times>&
execution_service::project(const core::scheduled_item* extra) {
    const auto now = clock_type::now();
    projected_running_.clear();
    projected_queued_.clear();
    projection_order_.clear();
    // Running: everything holding a scheduler slot (a starting execution has run 0 ms).
    for (const auto& [seq, live] : live_) {
        const auto phase = live->fsm.phase();
        if (phase != core::execution_phase::starting && phase != core::execution_phase::running)
            continue;
        projected_running_.push_back({live->function, live->client,
                                      histories_[live->function].typical_ms() -
                                          live->fsm.run_ms(now)});
    }
    // Queued: the scheduler's start order, with `extra` (largest key) at its rank.
    const auto push = [this](const core::scheduled_item& item, std::uint64_t key) {
        projected_queued_.push_back(
            {item.function, item.client, histories_[item.function].typical_ms()});
        projection_order_.push_back(key);
    };
    bool placed = extra == nullptr;
    scheduler_.for_each_queued([&](const core::scheduled_item& queued) {
        if (!placed && std::pair{extra->rank, extra->key} < std::pair{queued.rank, queued.key}) {
            push(*extra, 0);
            placed = true;
        }
        push(queued, queued.key);
    });
    if (!placed)
        push(*extra, 0);
    const core::projection_limits limits{scheduler_.global_concurrency(), function_limits_,
                                         client_limits_};
    return projection_.project(limits, projected_running_, projected_queued_);
}

std::pair<std::int64_t, core::estimate_source>
execution_service::estimate_for_new(const core::scheduled_item& item) {
    const auto& times = project(&item);
    const auto at = std::find(projection_order_.begin(), projection_order_.end(), 0u);
    const auto completion = times.at(static_cast<std::size_t>(at - projection_order_.begin()))
                                .completion_ms;
    return {completion, histories_[item.function].source()};
}

std::int64_t execution_service::estimate_remaining(const live_execution& live) {
    const auto typical = histories_[live.function].typical_ms();
    if (live.fsm.phase() != core::execution_phase::pending)
        return core::estimate_remaining_ms(typical, live.fsm.run_ms(clock_type::now()));
    const auto& times = project(nullptr);
    const auto at = std::find(projection_order_.begin(), projection_order_.end(), live.ref.seq);
    if (at == projection_order_.end())
        return typical; // not queued (cannot happen while pending): its own duration
    return times[static_cast<std::size_t>(at - projection_order_.begin())].completion_ms;
}

std::int64_t execution_service::first_start_ms(std::optional<std::uint32_t> function,
                                               std::optional<std::uint32_t> client) {
    const auto match = [&](std::uint32_t f, std::uint32_t c) {
        return (!function || f == *function) && (!client || c == *client);
    };
    const auto& times = project(nullptr);
    std::optional<std::int64_t> first;
    for (std::size_t i = 0; i < times.size(); ++i)
        if (match(projected_queued_[i].function, projected_queued_[i].client))
            first = std::min(first.value_or(times[i].start_ms), times[i].start_ms);
    // Nothing of it waits (e.g. max_queued 0): the earliest end of one of its running ones.
    if (!first)
        for (const auto& r : projected_running_)
            if (match(r.function, r.client))
                first = std::min(first.value_or(r.remaining_ms), r.remaining_ms);
    return std::max<std::int64_t>(1, first.value_or(1000));
}

core::client_identity execution_service::client(std::uint32_t index) const {
    core::client_identity who;
    if (index == 0) {
        who.name = config_.http.auth_token.empty() ? "" : "admin";
        return who;
    }
    const auto& t = config_.http.tokens.at(index - 1);
    who.index = index;
    who.name = t.name;
    who.admin = t.admin;
    who.priority_ceiling = t.priority_ceiling;
    return who;
}

// --- queries ------------------------------------------------------------------------------

std::shared_ptr<execution_service::live_execution>
execution_service::find_live(core::record_ref ref) const {
    auto it = live_.find(ref.seq);
    if (it == live_.end() || it->second->ref.slot != ref.slot)
        return nullptr;
    return it->second;
}

std::variant<core::record_ref, error>
execution_service::resolve_or_error(std::string_view id, const core::client_identity& who) {
    const auto found = table_.find(id, clock_type::now());
    switch (found.status) {
    case core::lookup_status::found:
        // Another client's record answers as if it did not exist: ids do not leak.
        if (!who.may_access(table_.client(found.ref)))
            break;
        return found.ref;
    case core::lookup_status::evicted:
        return error::make(error_code::execution_evicted,
                           "execution '" + std::string(id.substr(0, 64)) +
                               "' was evicted from the status table (its slot was reused or "
                               "its record expired)");
    case core::lookup_status::ambiguous:
        return error::make(error_code::conflict,
                           "execution id '" + std::string(id.substr(0, 64)) +
                               "' is a client id that executions of several functions carry; "
                               "use the execution_id the appliance answered with");
    case core::lookup_status::not_found:
        break;
    }
    return error::make(error_code::execution_not_found,
                       "no execution '" + std::string(id.substr(0, 64)) +
                           "' was issued by this appliance since it started");
}

std::variant<core::record_ref, error> execution_service::resolve(std::string_view id,
                                                                 const core::client_identity& who) {
    return resolve_or_error(id, who);
}

bool execution_service::held_elsewhere(const error& e) {
    return e.code == error_code::execution_not_found || e.code == error_code::execution_evicted;
}

status_view execution_service::make_status(core::record_ref ref, bool include_result) {
    status_view view;
    view.result = table_.snapshot(ref, include_result, clock_type::now());
    if (remote_)
        view.result.node = remote_->node_id();
    if (auto live = find_live(ref)) {
        view.estimated_completion_ms = estimate_remaining(*live);
        view.source = histories_[live->function].source();
        if (live->fsm.phase() == core::execution_phase::pending)
            view.queue_position = scheduler_.queue_position({live->function, ref.seq});
    }
    return view;
}

std::variant<status_view, error> execution_service::get_status(std::string_view id,
                                                               bool include_result,
                                                               const core::client_identity& who) {
    auto resolved = resolve_or_error(id, who);
    if (auto* missing = std::get_if<error>(&resolved)) {
        if (remote_ && held_elsewhere(*missing))
            if (auto view = remote_->status(id, include_result, who))
                return std::move(*view);
        return *missing;
    }
    return make_status(std::get<core::record_ref>(resolved), include_result);
}

asio::awaitable<std::variant<status_view, error>>
execution_service::wait_status(std::string id, std::chrono::milliseconds wait,
                               bool include_result, core::client_identity who) {
    auto resolved = resolve_or_error(id, who);
    if (auto* missing = std::get_if<error>(&resolved)) {
        if (remote_ && held_elsewhere(*missing)) {
            auto missing_copy = *missing;
            auto view = co_await remote_->wait_status(std::move(id), wait, include_result,
                                                      std::move(who));
            if (view)
                co_return std::move(*view);
            co_return missing_copy;
        }
        co_return *missing;
    }
    const auto ref = std::get<core::record_ref>(resolved);
    auto live = find_live(ref);
    if (live) {
        co_await live->done.wait_for(wait); // capped by the caller's transport limit
        if (live->final && !table_.holds(ref)) {
            status_view view;
            view.result = *live->final;
            if (!include_result)
                view.result.output.clear();
            co_return view;
        }
    }
    co_return make_status(ref, include_result);
}

std::variant<core::record_ref, error>
execution_service::accept_shared(core::InvokeFunctionRequest request) {
    auto submitted = submit(std::move(request), nullptr);
    if (auto* refused = std::get_if<error>(&submitted))
        return *refused;
    return std::get<submission>(submitted).ref;
}

bool execution_service::can_start_now(std::uint32_t function, std::uint32_t client) const {
    if (function >= config_.functions.size() || client >= scheduler_.client_count())
        return false;
    return scheduler_.can_start({function, 0, client, 0});
}

std::optional<core::ExecutionResult> execution_service::snapshot(core::record_ref ref,
                                                                 bool include_output) {
    if (!table_.holds(ref))
        return std::nullopt;
    return table_.snapshot(ref, include_output, clock_type::now());
}

std::int64_t execution_service::typical_ms(std::uint32_t function) const {
    return histories_.at(function).typical_ms();
}

core::list_page execution_service::list(core::list_query query,
                                        const core::client_identity& who) {
    if (!who.admin)
        query.client = who.name; // a client lists only its own executions
    return table_.list(query, clock_type::now());
}

std::vector<function_view> execution_service::functions() {
    std::vector<function_view> views;
    for (std::uint32_t i = 0; i < config_.functions.size(); ++i) {
        const auto& history = histories_[i];
        function_view v;
        v.config = &config_.functions[i];
        v.spec = &functions_[i];
        v.runs = history.runs_recorded();
        v.typical_ms = history.typical_ms();
        v.p95_ms = history.p95_ms();
        v.typical_queue_ms = history.typical_queue_ms();
        v.source = history.source();
        const core::scheduled_item probe{i, table_.next_seq(), 0,
                                         rank_now(config_.functions[i].priority)};
        v.current_estimate_ms = estimate_for_new(probe).first;
        v.running = scheduler_.running(i);
        v.queued = scheduler_.queued(i);
        v.effective_concurrency = scheduler_.effective_concurrency(i);
        views.push_back(v);
    }
    return views;
}

health_view execution_service::health() {
    table_.expire(clock_type::now());
    health_view h;
    h.ready = !shutting_down_;
    h.by_status = table_.counts();
    h.pending = h.by_status[static_cast<std::size_t>(ExecutionStatus::pending) - 1];
    h.running = h.by_status[static_cast<std::size_t>(ExecutionStatus::running) - 1];
    h.records = table_.size();
    h.capacity = table_.capacity();
    h.evictions = table_.evictions();
    h.uptime_ms = core::elapsed_ms(started_at_, clock_type::now());
    h.executions_started = executions_started_;
    for (const auto& [kind, rt] : runtimes_)
        if (auto facts = rt->health(); !facts.empty())
            h.runtimes[kind->name] = std::move(facts);
    if (store_) {
        h.durable = true;
        h.durable_degraded = store_->degraded();
        h.durable_dropped_records = store_->dropped_at_start();
        h.durable_file_bytes = store_->results_file_bytes();
        h.durability = core::to_string(store_->level());
    }
    for (const auto& [name, fill] : health_sections_)
        h.sections.emplace_back(name, fill());
    return h;
}

void execution_service::add_health_section(std::string name,
                                           std::function<const std::string&()> fill) {
    health_sections_.emplace_back(std::move(name), std::move(fill));
}

core::metric_registry& execution_service::metrics() noexcept {
    return metrics_->registry;
}

std::string execution_service::render_metrics() {
    auto& m = *metrics_;
    const auto h = health();
    m.running.clear();
    m.queued.clear();
    m.gateway_service_count.clear();
    for (std::uint32_t i = 0; i < config_.functions.size(); ++i) {
        const auto& name = config_.functions[i].name;
        m.running.with({name}).set(static_cast<double>(scheduler_.running(i)));
        m.queued.with({name}).set(static_cast<double>(scheduler_.queued(i)));
        m.gateway_service_count.with({name}).set(1);
    }
    for (const auto status : core::all_statuses)
        m.records.with({std::string(core::to_string(status))})
            .set(static_cast<double>(h.by_status[static_cast<std::size_t>(status) - 1]));
    m.capacity.get().set(static_cast<double>(h.capacity));
    m.evictions.get().set(static_cast<double>(h.evictions)); // mirrors the table's own total
    m.started_total.get().set(static_cast<double>(h.executions_started));
    m.ready.get().set(h.ready ? 1 : 0);
    std::size_t viewers = 0;
    for (const auto& [seq, live] : live_)
        viewers += live->stream.viewers();
    m.viewers.get().set(static_cast<double>(viewers));
    m.dropped_chunks_total.get().set(static_cast<double>(*m.dropped_chunks));
    const auto p = platform::read_process_stats();
    if (p.resident_memory_bytes)
        m.process_resident_memory.get().set(static_cast<double>(*p.resident_memory_bytes));
    if (p.open_fds)
        m.process_open_fds.get().set(static_cast<double>(*p.open_fds));
    if (p.max_fds)
        m.process_max_fds.get().set(static_cast<double>(*p.max_fds));
    if (p.start_time_seconds)
        m.process_start_time.get().set(*p.start_time_seconds);
    if (p.cpu_seconds)
        m.process_cpu.get().set(*p.cpu_seconds);
    return m.registry.render();
}

} // namespace spear::service
