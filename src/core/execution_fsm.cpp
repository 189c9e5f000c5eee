// The execution state machine: transitions and the actions each one asks of the driver.
#include "core/execution_fsm.hpp"

#include <stdexcept>
#include <utility>

namespace spear::core {

using enum execution_action;

std::string_view to_string(execution_phase phase) noexcept {
    switch (phase) {
    case execution_phase::pending:
        return "pending";
    case execution_phase::starting:
        return "starting";
    case execution_phase::running:
        return "running";
    case execution_phase::ended:
        return "ended";
    }
    return "unknown";
}

execution_fsm::execution_fsm(admit_result admitted, steady_time now)
    : phase_(admitted == admit_result::start_now ? execution_phase::starting
                                                 : execution_phase::pending)
    , submitted_at_(now) {
    if (admitted == admit_result::queue_full)
        throw std::invalid_argument("execution_fsm: a refused submission has no execution");
}

execution_actions execution_fsm::initial_actions() const noexcept {
    return phase_ == execution_phase::starting ? execution_actions(start_runtime)
                                               : execution_actions(publish_status);
}

execution_actions execution_fsm::on_admitted(steady_time) {
    if (phase_ != execution_phase::pending)
        return {};
    phase_ = execution_phase::starting;
    return start_runtime;
}

execution_actions execution_fsm::on_started(steady_time now) {
    if (phase_ != execution_phase::starting)
        return {};
    if (stop_ != stop_cause::none) // stopped before its runtime was called: never call it
        return end(stop_outcome_, now, true);
    phase_ = execution_phase::running;
    ran_ = true;
    started_at_ = now;
    return mark_running | publish_status;
}

execution_actions execution_fsm::on_output() const {
    if (phase_ == execution_phase::starting || phase_ == execution_phase::running)
        return append_output;
    return {};
}

execution_actions execution_fsm::on_ended(execution_outcome outcome, steady_time now) {
    if (phase_ != execution_phase::starting && phase_ != execution_phase::running)
        return {};
    if (!is_terminal(outcome.status)) { // a runtime bug: end it anyway, as failed
        outcome.status = ExecutionStatus::failed;
        outcome.error = error_code::internal;
        outcome.error_message = std::string(default_message(error_code::internal));
    }
    if (stop_ != stop_cause::none && (outcome.status == ExecutionStatus::cancelled ||
                                      outcome.status == ExecutionStatus::timeout)) {
        // The stop came first; the runtime's own account of it (or a timeout that fired
        // during the kill grace) yields to the reason the stop was asked for.
        outcome.status = stop_outcome_.status;
        outcome.error = stop_outcome_.error;
        outcome.error_message = stop_outcome_.error_message;
    }
    auto actions = end(std::move(outcome), now, true);
    if (ran_ && (outcome_.status == ExecutionStatus::completed ||
                 outcome_.status == ExecutionStatus::failed))
        actions = actions | record_history;
    return actions;
}

execution_actions execution_fsm::on_cancel_requested(std::string_view reason, steady_time now) {
    // A starting execution has not run yet: for its client it is still pending.
    const auto* when = phase_ == execution_phase::running ? "cancelled while running: "
                                                          : "cancelled while pending: ";
    return stop(stop_cause::cancel, error_code::none, when + std::string(reason), now);
}

execution_actions execution_fsm::on_shutdown(steady_time now) {
    return stop(stop_cause::shutdown, error_code::unavailable,
                "cancelled: the appliance is shutting down", now);
}

execution_actions execution_fsm::stop(stop_cause cause, error_code code, std::string message,
                                      steady_time now) {
    execution_outcome outcome{ExecutionStatus::cancelled, code, std::move(message), std::nullopt,
                              std::nullopt};
    switch (phase_) {
    case execution_phase::pending:
        stop_ = cause;
        return leave_queue | end(std::move(outcome), now, false);
    case execution_phase::starting:
    case execution_phase::running:
        if (stop_ != stop_cause::none) // already stopping: the first cause stands
            return {};
        stop_ = cause;
        stop_outcome_ = std::move(outcome);
        return kill;
    case execution_phase::ended:
        break;
    }
    return {};
}

execution_actions execution_fsm::end(execution_outcome outcome, steady_time now, bool held_slot) {
    phase_ = execution_phase::ended;
    ended_at_ = now;
    outcome_ = std::move(outcome);
    auto actions = finish_record | wake_waiters;
    if (held_slot)
        actions = actions | start_next;
    return actions;
}

ExecutionStatus execution_fsm::status() const noexcept {
    switch (phase_) {
    case execution_phase::pending:
    case execution_phase::starting:
        return ExecutionStatus::pending;
    case execution_phase::running:
        return ExecutionStatus::running;
    case execution_phase::ended:
        break;
    }
    return outcome_.status;
}

std::int64_t execution_fsm::queue_ms() const noexcept {
    if (ran_)
        return elapsed_ms(submitted_at_, started_at_);
    if (phase_ == execution_phase::ended)
        return elapsed_ms(submitted_at_, ended_at_);
    return 0;
}

std::int64_t execution_fsm::run_ms(steady_time now) const noexcept {
    if (!ran_)
        return 0;
    return elapsed_ms(started_at_, phase_ == execution_phase::ended ? ended_at_ : now);
}

} // namespace spear::core
