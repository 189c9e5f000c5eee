// Tests of the execution state machine: every transition and the actions it asks for,
// including the races between cancel, start, end, timeout and shutdown.
#include "core/execution_fsm.hpp"

#include <boost/test/unit_test.hpp>

#include <stdexcept>

using namespace spear::core;
using enum execution_action;

namespace {

const steady_time t0{std::chrono::seconds(1000)};

steady_time at(int ms) { return t0 + std::chrono::milliseconds(ms); }

execution_outcome completed() {
    return {ExecutionStatus::completed, error_code::none, {}, 0, std::nullopt};
}
execution_outcome failed() {
    return {ExecutionStatus::failed, error_code::function_failed, "exit 1", 1, std::nullopt};
}
execution_outcome runtime_cancelled() {
    return {ExecutionStatus::cancelled, error_code::none, "cancelled", std::nullopt, 15};
}
execution_outcome timed_out() {
    return {ExecutionStatus::timeout, error_code::timeout, "killed after 100 ms", std::nullopt, 9};
}

/// A machine that was admitted at once and whose runtime has started.
execution_fsm running_machine() {
    execution_fsm m(admit_result::start_now, t0);
    m.on_started(at(5));
    return m;
}

const execution_actions ended_holding_slot = finish_record | wake_waiters | start_next;

} // namespace

BOOST_AUTO_TEST_SUITE(execution_fsm_suite)

BOOST_AUTO_TEST_CASE(admitted_at_once_starts_its_runtime) {
    execution_fsm m(admit_result::start_now, t0);
    BOOST_TEST((m.phase() == execution_phase::starting));
    BOOST_TEST((m.initial_actions() == start_runtime));
    BOOST_TEST((m.status() == ExecutionStatus::pending));
}

BOOST_AUTO_TEST_CASE(queued_publishes_pending_and_starts_when_admitted) {
    execution_fsm m(admit_result::queued, t0);
    BOOST_TEST((m.phase() == execution_phase::pending));
    BOOST_TEST((m.initial_actions() == publish_status));
    BOOST_TEST((m.on_admitted(at(10)) == start_runtime));
    BOOST_TEST((m.phase() == execution_phase::starting));
    BOOST_TEST((m.on_admitted(at(11)).empty())); // admitted once
}

BOOST_AUTO_TEST_CASE(a_refused_submission_has_no_machine) {
    BOOST_CHECK_THROW(execution_fsm(admit_result::queue_full, t0), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(started_marks_running_and_publishes) {
    execution_fsm m(admit_result::queued, t0);
    m.on_admitted(at(40));
    BOOST_TEST((m.on_started(at(50)) == (mark_running | publish_status)));
    BOOST_TEST((m.status() == ExecutionStatus::running));
    BOOST_TEST(m.queue_ms() == 50);
    BOOST_TEST(m.run_ms(at(80)) == 30);
    BOOST_TEST((m.on_started(at(60)).empty())); // a second start is ignored
}

BOOST_AUTO_TEST_CASE(completed_run_ends_records_history_and_frees_its_slot) {
    auto m = running_machine();
    BOOST_TEST((m.on_ended(completed(), at(105)) == (ended_holding_slot | record_history)));
    BOOST_TEST(m.is_ended());
    BOOST_TEST((m.status() == ExecutionStatus::completed));
    BOOST_TEST(m.run_ms(at(500)) == 100); // frozen at the end
}

BOOST_AUTO_TEST_CASE(failed_run_counts_in_history_timeout_does_not) {
    auto f = running_machine();
    BOOST_TEST(f.on_ended(failed(), at(20)).has(record_history));
    auto t = running_machine();
    const auto actions = t.on_ended(timed_out(), at(20));
    BOOST_TEST(!actions.has(record_history));
    BOOST_TEST(actions.has(start_next));
    BOOST_TEST((t.status() == ExecutionStatus::timeout));
    BOOST_TEST(t.outcome().error_message == "killed after 100 ms");
}

BOOST_AUTO_TEST_CASE(output_is_kept_only_while_the_execution_lives) {
    execution_fsm queued(admit_result::queued, t0);
    BOOST_TEST(queued.on_output().empty()); // nothing runs yet
    auto m = running_machine();
    BOOST_TEST((m.on_output() == append_output));
    m.on_ended(completed(), at(10));
    BOOST_TEST(m.on_output().empty()); // a finished record never changes
}

BOOST_AUTO_TEST_CASE(cancel_while_pending_leaves_the_queue_and_ends_at_once) {
    execution_fsm m(admit_result::queued, t0);
    const auto actions = m.on_cancel_requested("by the client", at(30));
    BOOST_TEST((actions == (leave_queue | finish_record | wake_waiters)));
    BOOST_TEST(!actions.has(start_next)); // a queued execution held no slot
    BOOST_TEST((m.status() == ExecutionStatus::cancelled));
    BOOST_TEST(m.outcome().error_message == "cancelled while pending: by the client");
    BOOST_TEST(m.queue_ms() == 30);
    BOOST_TEST(m.run_ms(at(40)) == 0);
    BOOST_TEST((m.on_admitted(at(31)).empty())); // a late grant cannot revive it
    BOOST_TEST((m.on_started(at(32)).empty()));
}

BOOST_AUTO_TEST_CASE(cancel_racing_the_start_never_calls_the_runtime) {
    // The slot is granted and the start is posted; the cancel arrives before the driver runs.
    execution_fsm m(admit_result::start_now, t0);
    BOOST_TEST((m.on_cancel_requested("by the client", at(1)) == kill));
    BOOST_TEST((m.phase() == execution_phase::starting));
    const auto actions = m.on_started(at(2));
    BOOST_TEST((actions == ended_holding_slot)); // no mark_running: the runtime is not called
    BOOST_TEST((m.status() == ExecutionStatus::cancelled));
    BOOST_TEST(m.outcome().error_message == "cancelled while pending: by the client");
    BOOST_TEST(!m.ran());
}

BOOST_AUTO_TEST_CASE(cancel_while_running_kills_then_ends_with_the_reason) {
    auto m = running_machine();
    BOOST_TEST((m.on_cancel_requested("requested", at(20)) == kill));
    BOOST_TEST((m.phase() == execution_phase::running)); // still running until the runtime says
    BOOST_TEST((m.on_output() == append_output));        // output until the kill lands is kept
    const auto actions = m.on_ended(runtime_cancelled(), at(25));
    BOOST_TEST((actions == ended_holding_slot));
    BOOST_TEST((m.status() == ExecutionStatus::cancelled));
    BOOST_TEST(m.outcome().error_message == "cancelled while running: requested");
    BOOST_TEST((m.outcome().signal == 15)); // the runtime's facts stay
}

BOOST_AUTO_TEST_CASE(cancel_racing_the_end_keeps_the_real_outcome) {
    auto m = running_machine();
    m.on_cancel_requested("too late", at(20));
    m.on_ended(completed(), at(21)); // the process exited before the kill landed
    BOOST_TEST((m.status() == ExecutionStatus::completed));
    BOOST_TEST(m.outcome().error_message.empty());
}

BOOST_AUTO_TEST_CASE(timeout_after_cancel_reports_the_cancel) {
    auto m = running_machine();
    m.on_cancel_requested("first", at(20));
    m.on_ended(timed_out(), at(90)); // the deadline fired during the kill grace
    BOOST_TEST((m.status() == ExecutionStatus::cancelled));
    BOOST_TEST(m.outcome().error_message == "cancelled while running: first");
}

BOOST_AUTO_TEST_CASE(cancel_after_the_end_does_nothing) {
    auto m = running_machine();
    m.on_ended(failed(), at(10));
    BOOST_TEST(m.on_cancel_requested("late", at(11)).empty());
    BOOST_TEST(m.on_shutdown(at(12)).empty());
    BOOST_TEST((m.status() == ExecutionStatus::failed));
}

BOOST_AUTO_TEST_CASE(a_second_cancel_keeps_the_first_reason) {
    auto m = running_machine();
    BOOST_TEST((m.on_cancel_requested("first", at(10)) == kill));
    BOOST_TEST(m.on_cancel_requested("second", at(11)).empty());
    m.on_ended(runtime_cancelled(), at(12));
    BOOST_TEST(m.outcome().error_message == "cancelled while running: first");
}

BOOST_AUTO_TEST_CASE(ended_twice_keeps_the_first_outcome) {
    auto m = running_machine();
    m.on_ended(completed(), at(10));
    BOOST_TEST(m.on_ended(failed(), at(11)).empty());
    BOOST_TEST((m.status() == ExecutionStatus::completed));
}

BOOST_AUTO_TEST_CASE(shutdown_with_queued_work_ends_it_as_unavailable) {
    execution_fsm m(admit_result::queued, t0);
    const auto actions = m.on_shutdown(at(7));
    BOOST_TEST((actions == (leave_queue | finish_record | wake_waiters)));
    BOOST_TEST((m.status() == ExecutionStatus::cancelled));
    BOOST_TEST((m.outcome().error == error_code::unavailable));
    BOOST_TEST(m.outcome().error_message == "cancelled: the appliance is shutting down");
    BOOST_TEST((m.stop_requested() == stop_cause::shutdown));
}

BOOST_AUTO_TEST_CASE(shutdown_while_running_kills_and_reports_unavailable) {
    auto m = running_machine();
    BOOST_TEST((m.on_shutdown(at(10)) == kill));
    m.on_ended(runtime_cancelled(), at(15));
    BOOST_TEST((m.status() == ExecutionStatus::cancelled));
    BOOST_TEST((m.outcome().error == error_code::unavailable));
}

BOOST_AUTO_TEST_CASE(shutdown_after_a_cancel_keeps_the_cancel) {
    auto m = running_machine();
    m.on_cancel_requested("client", at(10));
    BOOST_TEST(m.on_shutdown(at(11)).empty());
    m.on_ended(runtime_cancelled(), at(15));
    BOOST_TEST((m.stop_requested() == stop_cause::cancel));
    BOOST_TEST(m.outcome().error_message == "cancelled while running: client");
}

BOOST_AUTO_TEST_CASE(a_non_terminal_outcome_from_a_runtime_ends_as_internal_failure) {
    auto m = running_machine();
    execution_outcome bogus{ExecutionStatus::running, error_code::none, {}, {}, {}};
    BOOST_TEST(m.on_ended(bogus, at(10)).has(finish_record));
    BOOST_TEST((m.status() == ExecutionStatus::failed));
    BOOST_TEST((m.outcome().error == error_code::internal));
}

BOOST_AUTO_TEST_CASE(phases_have_names) {
    BOOST_TEST(to_string(execution_phase::starting) == "starting");
    BOOST_TEST(to_string(execution_phase::ended) == "ended");
}

BOOST_AUTO_TEST_SUITE_END()
