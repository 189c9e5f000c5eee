// Durable results in the service: writing records and histories to the durable store at each
// state change, and recovering what the files held at start (docs/architecture.md "Durable
// results"). The driver that calls these is in execution_service.cpp.
#include "service/durable_store.hpp"
#include "service/execution_service.hpp"
#include "service/live_execution.hpp"

#include "core/log.hpp"

#include <algorithm>

namespace spear::service {

using core::error_code;
using core::ExecutionStatus;
using clock_type = std::chrono::steady_clock;

namespace {

core::wall_time wall_now() {
    return std::chrono::system_clock::now();
}

} // namespace

void execution_service::persist(core::record_ref ref, const live_execution* live) {
    if (!store_ || !table_.holds(ref))
        return;
    const auto now = clock_type::now();
    auto r = table_.export_record(ref, now);
    // A shutdown's own ends are not written: the record stays as it was on disk (pending
    // resumes, running reads interrupted), the same as after kill -9.
    if (shutting_down_ && r.status == ExecutionStatus::cancelled &&
        r.error == error_code::unavailable)
        return;
    if (live) {
        r.estimate_ms = live->initial_estimate_ms;
        if (!core::is_terminal(r.status)) { // what running it again needs
            r.input = live->request.input;
            r.timeout_ms = live->request.timeout_ms;
            r.environment.assign(live->request.environment.begin(),
                                 live->request.environment.end());
        }
    }
    store_->save(ref.slot, r);
}

void execution_service::persist_history(std::uint32_t function) {
    if (!store_)
        return;
    core::durable::history_state h;
    h.function_name = config_.functions[function].name;
    histories_[function].export_state(h.durations, h.waits, h.runs);
    store_->save_history(function, h);
}

void execution_service::recover() {
    auto state = store_->take_recovered();
    for (const auto& h : state.histories)
        if (auto index = config_.find_function(h.function_name))
            histories_[*index].restore_state(h.durations, h.waits, h.runs);

    const auto now = clock_type::now();
    const auto wall = wall_now();
    const auto wall_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(wall.time_since_epoch()).count();
    // What re-running a pending record needs; the table keeps the rest.
    struct resumed {
        core::record_ref ref;
        std::uint32_t function = 0;
        core::InvokeFunctionRequest request;
        std::int64_t estimate_ms = 0;
        std::uint32_t client = 0; ///< its client's quota index (0: a client no longer configured)
        int priority = 0;
    };
    auto client_index = [this](std::string_view name) -> std::uint32_t {
        for (std::size_t i = 0; i < config_.http.tokens.size(); ++i)
            if (config_.http.tokens[i].name == name)
                return static_cast<std::uint32_t>(i + 1);
        return 0; // "admin", "" or a token removed since: the default client
    };
    std::vector<resumed> resume;
    std::vector<core::record_ref> resolved; // made terminal here, written back below
    std::size_t interrupted = 0;
    for (auto& [slot, r] : state.records) {
        if (core::is_terminal(r.status))
            continue;
        const auto index = config_.find_function(r.function_name);
        const bool retry = index && config_.functions[*index].retry_interrupted;
        if (r.status == ExecutionStatus::running && !retry) {
            // Never re-run silently: it may have had side effects.
            r.status = ExecutionStatus::failed;
            r.error = error_code::interrupted;
            r.error_message = "the appliance restarted while this execution was running; it "
                              "was not run again (set retry_interrupted on the function to "
                              "re-queue such executions)";
            r.completed_wall_ms = wall_ms;
            r.execution_time_ms = std::max<std::int64_t>(0, wall_ms - r.started_wall_ms);
            resolved.push_back({slot, r.seq});
            ++interrupted;
        } else if (!index) {
            r.status = ExecutionStatus::failed;
            r.error = error_code::function_not_found;
            r.error_message = "function '" + r.function_name +
                              "' is no longer configured; the execution accepted before the "
                              "restart did not run";
            r.completed_wall_ms = wall_ms;
            resolved.push_back({slot, r.seq});
        } else { // pending, or running with retry_interrupted: queued again, same id
            r.status = ExecutionStatus::pending;
            r.ran = false;
            r.started_wall_ms = 0;
            r.output.clear();
            r.output_size = 0;
            r.stderr_tail.clear();
            resumed item;
            item.ref = {slot, r.seq};
            item.function = static_cast<std::uint32_t>(*index);
            item.request.function_name = r.function_name;
            item.request.execution_mode = r.mode;
            item.request.input = std::move(r.input);
            item.request.client_execution_id = r.client_execution_id;
            item.request.timeout_ms = r.timeout_ms;
            for (auto& [key, value] : r.environment)
                item.request.environment.emplace(std::move(key), std::move(value));
            item.estimate_ms = r.estimate_ms;
            item.client = client_index(r.client);
            item.priority = r.priority;
            resume.push_back(std::move(item));
        }
        r.input.clear();
    }
    const auto restored = state.records.size();
    const auto skipped = table_.restore(std::move(state.records), now, wall);
    for (const auto ref : resolved) // the interrupted ones read failed on disk as well
        persist(ref, nullptr);

    std::sort(resume.begin(), resume.end(),
              [](const resumed& a, const resumed& b) { return a.ref.seq < b.ref.seq; });
    for (auto& item : resume) {
        if (!table_.holds(item.ref))
            continue;
        const core::scheduled_item key{item.function, item.ref.seq, item.client,
                                       rank_now(item.priority)};
        const auto admitted = scheduler_.admit(key);
        if (admitted == core::admit_result::queue_full) {
            table_.finish(item.ref,
                          {ExecutionStatus::failed, error_code::too_many_requests,
                           "accepted before a restart, but the function's queue is now full "
                           "(queue_depth lowered?)",
                           std::nullopt, std::nullopt},
                          now, wall);
            persist(item.ref, nullptr);
            continue;
        }
        auto live = std::make_shared<live_execution>(executor_, table_.execution_id(item.ref),
                                                     config_, admitted, now);
        live->ref = item.ref;
        live->function = item.function;
        live->client = item.client;
        live->priority = item.priority;
        live->rank = key.rank;
        live->request = std::move(item.request);
        live->held_input_bytes = live->request.input.size();
        queued_input_bytes_ += live->held_input_bytes;
        live->initial_estimate_ms = item.estimate_ms;
        live->source = histories_[item.function].source();
        table_.set_content_type(item.ref, config_.functions[item.function].content_type);
        live_.emplace(item.ref.seq, live);
        persist(item.ref, live.get());
        perform(live, live->fsm.initial_actions());
    }
    log::info("durable results: " + std::to_string(restored - skipped) + " record(s) restored, " +
              std::to_string(resume.size()) + " queued again, " + std::to_string(interrupted) +
              " interrupted, " + std::to_string(state.dropped) + " dropped as corrupt");
}

} // namespace spear::service
