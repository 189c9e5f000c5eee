// One execution's life as a sans-io state machine: events in (with `now`), actions out.
// The service performs the actions; every decision about an execution's state is made here.
#pragma once

#include "core/clock.hpp"
#include "core/execution_result.hpp"
#include "core/execution_types.hpp"
#include "core/scheduler_policy.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace spear::core {

/// Where an execution is in its life. The table in docs/architecture.md lists every transition.
enum class execution_phase : std::uint8_t {
    pending,  ///< accepted, waiting in its function's queue for a scheduler slot
    starting, ///< holds a scheduler slot; the driver was told to start its runtime
    running,  ///< its runtime runs it (the record says `running`)
    ended,    ///< terminal: the outcome is final and written to the record
};
std::string_view to_string(execution_phase phase) noexcept;

/// Why a stop was asked of an execution before it ended on its own.
enum class stop_cause : std::uint8_t {
    none,     ///< nobody asked it to stop
    cancel,   ///< a client cancelled it (HTTP, WebSocket, frame, or its stream client left)
    shutdown, ///< the appliance is shutting down
};

/// What the driver must do after an event, as a set of flags. The driver performs them in
/// the order of the enumerators (leave_queue first, start_next last).
enum class execution_action : std::uint16_t {
    none = 0,
    leave_queue = 1 << 0,    ///< remove it from its function's scheduler queue
    kill = 1 << 1,           ///< fire its cancel signal: the runtime stops it, then reports `ended`
    start_runtime = 1 << 2,  ///< hand it to its runtime; the driver reports `started` first thing
    mark_running = 1 << 3,   ///< record: pending -> running (started_at, queue wait)
    publish_status = 1 << 4, ///< tell its viewers the new status (`status()`)
    append_output = 1 << 5,  ///< output of a running execution: keep and forward it
    finish_record = 1 << 6,  ///< write `outcome()` to the record and publish the final event
    record_history = 1 << 7, ///< add `run_ms()` to the function's history (completed/failed runs)
    wake_waiters = 1 << 8,   ///< sync callers, long polls, cancel callers, shutdown
    start_next = 1 << 9,     ///< free its scheduler slot and start whatever may start now
};

/// A set of actions (flags of execution_action).
class execution_actions {
public:
    constexpr execution_actions() = default;
    constexpr execution_actions(execution_action a) // NOLINT: a single action is a set
        : bits_(static_cast<std::uint16_t>(a)) {}
    constexpr bool has(execution_action a) const noexcept {
        return (bits_ & static_cast<std::uint16_t>(a)) != 0;
    }
    constexpr bool empty() const noexcept { return bits_ == 0; }
    constexpr friend execution_actions operator|(execution_actions l, execution_actions r) {
        execution_actions out;
        out.bits_ = static_cast<std::uint16_t>(l.bits_ | r.bits_);
        return out;
    }
    constexpr friend bool operator==(execution_actions, execution_actions) = default;

private:
    std::uint16_t bits_ = 0;
};
constexpr execution_actions operator|(execution_action l, execution_action r) {
    return execution_actions(l) | execution_actions(r);
}

/// The state machine of one execution. Not thread-safe (nothing is: one io_context thread).
/// Every event returns the actions to perform now; an event that does not apply to the
/// current phase (a second cancel, an `ended` after the end) returns no action.
class execution_fsm {
public:
    /// `submitted`: the record exists (pending) and the scheduler made its one admission
    /// decision: start_now -> starting (the driver starts the runtime: `initial_actions()`
    /// says start_runtime); queued -> pending (publish_status). Throws std::invalid_argument
    /// for queue_full: a refused submission has no execution.
    execution_fsm(admit_result admitted, steady_time now);
    /// The actions of `submitted`.
    execution_actions initial_actions() const noexcept;

    /// The scheduler granted a slot to a queued execution: pending -> starting {start_runtime}.
    execution_actions on_admitted(steady_time now);
    /// The driver is about to call the runtime: starting -> running {mark_running,
    /// publish_status}. If a stop was asked while starting, the runtime is never called:
    /// starting -> ended (cancelled) {finish_record, wake_waiters, start_next}.
    execution_actions on_started(steady_time now);
    /// The runtime produced output: {append_output} while starting or running; output that
    /// arrives after the end is dropped, so a finished record never changes.
    execution_actions on_output() const;
    /// The runtime returned its outcome: starting|running -> ended {finish_record,
    /// record_history for completed/failed, wake_waiters, start_next}. When a stop was asked
    /// before, a `cancelled` or `timeout` outcome becomes `cancelled` with the stop's reason:
    /// the first cause wins. A `completed` or `failed` outcome stands (the run ended first).
    execution_actions on_ended(execution_outcome outcome, steady_time now);
    /// A client asked to cancel. pending -> ended (cancelled) {leave_queue, finish_record,
    /// wake_waiters}; starting|running: remember the cause {kill}; ended: nothing.
    execution_actions on_cancel_requested(std::string_view reason, steady_time now);
    /// The appliance is shutting down: like a cancel, with the code `unavailable`.
    execution_actions on_shutdown(steady_time now);

    execution_phase phase() const noexcept { return phase_; }
    bool is_ended() const noexcept { return phase_ == execution_phase::ended; }
    /// The record's status for this phase (pending, running, or the outcome's).
    ExecutionStatus status() const noexcept;
    stop_cause stop_requested() const noexcept { return stop_; }
    /// The final outcome; valid once ended.
    const execution_outcome& outcome() const noexcept { return outcome_; }

    steady_time submitted_at() const noexcept { return submitted_at_; }
    steady_time started_at() const noexcept { return started_at_; } ///< valid once running
    steady_time ended_at() const noexcept { return ended_at_; }     ///< valid once ended
    /// Time spent queued: until it started (or ended, if it never started).
    std::int64_t queue_ms() const noexcept;
    /// Time spent running (so far, against `now`, while running); 0 if it never ran.
    std::int64_t run_ms(steady_time now) const noexcept;
    bool ran() const noexcept { return ran_; }

private:
    execution_actions stop(stop_cause cause, error_code code, std::string message,
                           steady_time now);
    execution_actions end(execution_outcome outcome, steady_time now, bool held_slot);

    execution_phase phase_;
    stop_cause stop_ = stop_cause::none;
    bool ran_ = false;
    execution_outcome stop_outcome_; ///< the outcome a stop will end with
    execution_outcome outcome_;
    steady_time submitted_at_;
    steady_time started_at_{};
    steady_time ended_at_{};
};

} // namespace spear::core
