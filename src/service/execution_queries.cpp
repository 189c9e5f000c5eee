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

std::int64_t execution_service::estimate_start_after(std::uint32_t function,
                                                     std::size_t queued_ahead) const {
    const auto now = clock_type::now();
    std::vector<std::int64_t> running_elapsed;
    for (const auto& [seq, live] : live_)
        if (live->function == function && live->fsm.phase() == core::execution_phase::running)
            running_elapsed.push_back(live->fsm.run_ms(now));
    return core::estimate_new_completion_ms(histories_[function].typical_ms(), running_elapsed,
                                            queued_ahead,
                                            scheduler_.effective_concurrency(function));
}

std::pair<std::int64_t, core::estimate_source>
execution_service::estimate_for_new(std::uint32_t function) {
    return {estimate_start_after(function, scheduler_.queued(function)),
            histories_[function].source()};
}

std::int64_t execution_service::estimate_remaining(const live_execution& live) {
    if (live.fsm.phase() == core::execution_phase::running)
        return core::estimate_remaining_ms(histories_[live.function].typical_ms(),
                                           live.fsm.run_ms(clock_type::now()));
    const auto position = scheduler_.queue_position({live.function, live.ref.seq});
    return estimate_start_after(live.function, position.value_or(0));
}

// --- queries ------------------------------------------------------------------------------

std::shared_ptr<execution_service::live_execution>
execution_service::find_live(core::record_ref ref) const {
    auto it = live_.find(ref.seq);
    if (it == live_.end() || it->second->ref.slot != ref.slot)
        return nullptr;
    return it->second;
}

std::variant<core::record_ref, error> execution_service::resolve_or_error(std::string_view id) {
    const auto found = table_.find(id, clock_type::now());
    switch (found.status) {
    case core::lookup_status::found:
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

std::variant<core::record_ref, error> execution_service::resolve(std::string_view id) {
    return resolve_or_error(id);
}

status_view execution_service::make_status(core::record_ref ref, bool include_result) {
    status_view view;
    view.result = table_.snapshot(ref, include_result, clock_type::now());
    if (auto live = find_live(ref)) {
        view.estimated_completion_ms = estimate_remaining(*live);
        view.source = histories_[live->function].source();
        if (live->fsm.phase() == core::execution_phase::pending)
            view.queue_position = scheduler_.queue_position({live->function, ref.seq});
    }
    return view;
}

std::variant<status_view, error> execution_service::get_status(std::string_view id,
                                                               bool include_result) {
    auto resolved = resolve_or_error(id);
    if (auto* missing = std::get_if<error>(&resolved))
        return *missing;
    return make_status(std::get<core::record_ref>(resolved), include_result);
}

asio::awaitable<std::variant<status_view, error>>
execution_service::wait_status(std::string id, std::chrono::milliseconds wait,
                               bool include_result) {
    auto resolved = resolve_or_error(id);
    if (auto* missing = std::get_if<error>(&resolved))
        co_return *missing;
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

core::list_page execution_service::list(const core::list_query& query) {
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
        v.current_estimate_ms = estimate_for_new(i).first;
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
    if (store_) {
        h.durable = true;
        h.durable_degraded = store_->degraded();
        h.durable_dropped_records = store_->dropped_at_start();
        h.durable_file_bytes = store_->results_file_bytes();
        h.durability = core::to_string(store_->level());
    }
    return h;
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
