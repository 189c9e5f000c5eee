// Tests of execution_service driven through a test registry holding only the fake runtime kind
// (fake_runtime.hpp): sync and async invocation, cancel, timeout, failure, refusal at admission,
// one runtime per kind, GET /functions fields from the kind's describe().
#include "service/execution_service.hpp"
#include "service/json_codec.hpp"
#include "support/fake_runtime.hpp"
#include "support/io_context.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <exception>
#include <memory>
#include <optional>

using namespace spear;
namespace asio = boost::asio;
using namespace std::chrono_literals;
using core::ExecutionMode;
using core::ExecutionStatus;
using service::execution_service;

namespace {

constexpr std::string_view fake_config = R"({
    "limits": {"kill_grace_ms": 200},
    "functions": [
        {"name": "up", "runtime": "fake", "content_type": "text/plain"},
        {"name": "nap", "max_concurrency": 2},
        {"name": "refused-x", "runtime": "fake"}
    ]})";

core::InvokeFunctionRequest request(std::string function, std::string input,
                                    ExecutionMode mode = ExecutionMode::sync) {
    core::InvokeFunctionRequest r;
    r.function_name = std::move(function);
    r.input = std::move(input);
    r.execution_mode = mode;
    return r;
}

struct service_fixture {
    std::shared_ptr<test::fake_log> log = std::make_shared<test::fake_log>();
    runtime::registry registry{{test::fake_kind(log)}};
    core::config cfg = [this] {
        auto parsed = runtime::parse_config(fake_config, registry);
        BOOST_REQUIRE(parsed.value.has_value());
        return *parsed.value;
    }();
    asio::io_context io;
    execution_service service{io.get_executor(), cfg, registry};

    /// Runs `body` on the io_context to its end and returns its result.
    template <class T> T drive(asio::awaitable<T> body) {
        return test::drive(io, std::move(body), 20s);
    }

    core::ExecutionResult invoke_sync(core::InvokeFunctionRequest r) {
        auto answer = drive(service.invoke_function(std::move(r)));
        BOOST_REQUIRE(std::holds_alternative<core::RuntimeExecutionResponse>(answer));
        return std::get<core::RuntimeExecutionResponse>(answer).result;
    }
};

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::use_awaitable);
}

} // namespace

BOOST_AUTO_TEST_SUITE(execution_service_through_the_registry)

BOOST_FIXTURE_TEST_CASE(functions_resolve_to_the_fake_kind_with_one_runtime, service_fixture) {
    // "nap" names no runtime: the registry's first kind is the default.
    BOOST_TEST(cfg.functions[1].runtime == "fake");
    BOOST_TEST(log->runtimes_made == 1);
    BOOST_TEST((log->prepared == std::vector<std::string>{"up", "nap", "refused-x"}));
}

BOOST_FIXTURE_TEST_CASE(sync_invoke_runs_the_fake_runtime, service_fixture) {
    const auto result = invoke_sync(request("up", "hello"));
    BOOST_TEST((result.status == ExecutionStatus::completed));
    BOOST_TEST(result.output == "HELLO");
    BOOST_TEST(result.content_type == "text/plain");
    BOOST_TEST(log->runs == std::vector<std::string>{"up"});

    const auto failed = invoke_sync(request("up", "fail"));
    BOOST_TEST((failed.status == ExecutionStatus::failed));
    BOOST_TEST((failed.error == core::error_code::function_failed));
    BOOST_TEST(failed.exit_code.value_or(-1) == 3);
    BOOST_TEST(failed.logs == "fake failure\n");
}

BOOST_FIXTURE_TEST_CASE(async_invoke_answers_pending_then_completes, service_fixture) {
    auto submitted = service.handle_async_execution(request("up", "abc", ExecutionMode::async));
    BOOST_REQUIRE(std::holds_alternative<core::RuntimeExecutionResponse>(submitted));
    const auto& accepted = std::get<core::RuntimeExecutionResponse>(submitted);
    BOOST_TEST(accepted.is_async);
    BOOST_TEST((accepted.result.status == ExecutionStatus::pending));
    BOOST_TEST(log->runs.empty()); // started after the answer
    auto status = drive(service.wait_status(accepted.execution_id, 5000ms, true));
    BOOST_REQUIRE(std::holds_alternative<service::status_view>(status));
    const auto& view = std::get<service::status_view>(status);
    BOOST_TEST((view.result.status == ExecutionStatus::completed));
    BOOST_TEST(view.result.output == "ABC");
}

BOOST_FIXTURE_TEST_CASE(cancel_reaches_the_running_fake, service_fixture) {
    auto submitted =
        service.handle_async_execution(request("nap", "sleep:10000", ExecutionMode::async));
    BOOST_REQUIRE(std::holds_alternative<core::RuntimeExecutionResponse>(submitted));
    const auto id = std::get<core::RuntimeExecutionResponse>(submitted).execution_id;
    auto cancel_later = [this,
                         id]() -> asio::awaitable<std::variant<service::cancel_view, core::error>> {
        co_await sleep_for(50ms); // running by now
        co_return co_await service.cancel(id, "test");
    };
    const auto started = std::chrono::steady_clock::now();
    auto answer = drive(cancel_later());
    BOOST_TEST((std::chrono::steady_clock::now() - started < 5s));
    BOOST_REQUIRE(std::holds_alternative<service::cancel_view>(answer));
    const auto& view = std::get<service::cancel_view>(answer);
    BOOST_TEST(view.success);
    BOOST_TEST((view.final_status == ExecutionStatus::cancelled));
    BOOST_TEST(log->cancels == std::vector<std::string>{"nap"});
    auto status = service.get_status(id, true);
    BOOST_REQUIRE(std::holds_alternative<service::status_view>(status));
    BOOST_TEST(
        (std::get<service::status_view>(status).result.status == ExecutionStatus::cancelled));
}

BOOST_FIXTURE_TEST_CASE(timeout_is_passed_to_the_fake, service_fixture) {
    auto r = request("nap", "sleep:10000");
    r.timeout_ms = 100;
    const auto started = std::chrono::steady_clock::now();
    const auto result = invoke_sync(std::move(r));
    BOOST_TEST((std::chrono::steady_clock::now() - started < 5s));
    BOOST_TEST((result.status == ExecutionStatus::timeout));
    BOOST_TEST((result.error == core::error_code::timeout));
}

BOOST_FIXTURE_TEST_CASE(a_refusal_answers_function_failed_without_a_record, service_fixture) {
    auto answer = drive(service.invoke_function(request("refused-x", "x")));
    BOOST_REQUIRE(std::holds_alternative<core::error>(answer));
    const auto& e = std::get<core::error>(answer);
    BOOST_TEST((e.code == core::error_code::function_failed));
    BOOST_TEST(e.message == "function 'refused-x' is refused by the fake runtime");
    BOOST_TEST(log->runs.empty());
    BOOST_TEST(service.list({}).executions.empty());
}

BOOST_FIXTURE_TEST_CASE(get_functions_carries_the_kinds_description, service_fixture) {
    const auto views = service.functions();
    BOOST_REQUIRE(views.size() == 3u);
    const auto o = service::to_json(views[0]);
    BOOST_TEST(o.at("name").as_string() == "up");
    BOOST_TEST(o.at("runtime").as_string() == "fake");
    BOOST_TEST(o.at("runtime_config").as_object().at("fake").as_string() == "up");
    BOOST_TEST(o.at("limits").as_object().at("max_concurrency").as_uint64() == 4u);
}

BOOST_FIXTURE_TEST_CASE(cancel_racing_the_start_never_runs_the_function, service_fixture) {
    // The start is posted when the slot is granted; a cancel that lands before the post runs
    // used to mark the record cancelled while the function still ran on its freed slot.
    auto submit_then_cancel =
        [this]() -> asio::awaitable<std::variant<service::cancel_view, core::error>> {
        auto submitted =
            service.handle_async_execution(request("nap", "sleep:300", ExecutionMode::async));
        const auto id = std::get<core::RuntimeExecutionResponse>(submitted).execution_id;
        co_return co_await service.cancel(id, "at once"); // before the posted start runs
    };
    auto answer = drive(submit_then_cancel());
    BOOST_REQUIRE(std::holds_alternative<service::cancel_view>(answer));
    const auto& view = std::get<service::cancel_view>(answer);
    BOOST_TEST(view.success);
    BOOST_TEST(view.message == "removed from the queue before it started");
    io.run_for(500ms); // let the posted start run, if anything were left to run
    io.restart();
    BOOST_TEST(log->runs.empty()); // the runtime was never called
    const auto nap = service.functions()[1];
    BOOST_TEST(nap.running == 0u); // its slot is free again
    BOOST_TEST(service.health().running == 0u);
    const auto status = std::get<service::status_view>(service.get_status(view.execution_id, true));
    BOOST_TEST((status.result.status == ExecutionStatus::cancelled));
    BOOST_TEST(status.result.error_message == "cancelled while pending: at once");
    // The function still serves: both its slots are usable.
    BOOST_TEST((invoke_sync(request("nap", "ok")).status == ExecutionStatus::completed));
}

BOOST_FIXTURE_TEST_CASE(an_exception_in_a_runtime_ends_the_execution_and_frees_its_slot,
                        service_fixture) {
    const auto result = invoke_sync(request("nap", "throw"));
    BOOST_TEST((result.status == ExecutionStatus::failed));
    BOOST_TEST((result.error == core::error_code::internal));
    BOOST_TEST(service.functions()[1].running == 0u);
    BOOST_TEST((invoke_sync(request("nap", "ok")).status == ExecutionStatus::completed));
}

BOOST_FIXTURE_TEST_CASE(a_client_key_is_bound_to_its_request_and_scoped_to_its_function,
                        service_fixture) {
    auto keyed = [](std::string function, std::string input) {
        auto r = request(std::move(function), std::move(input), ExecutionMode::async);
        r.client_execution_id = "dev-1";
        return r;
    };
    auto first = service.handle_async_execution(keyed("up", "a"));
    const auto first_id = std::get<core::RuntimeExecutionResponse>(first).execution_id;
    // Same key, same request: the same execution, replayed.
    auto again = service.handle_async_execution(keyed("up", "a"));
    BOOST_TEST(std::get<core::RuntimeExecutionResponse>(again).execution_id == first_id);
    BOOST_TEST(std::get<core::RuntimeExecutionResponse>(again).metadata.at("replayed") == "true");
    // Same key, other input: a conflict naming the key, not the first client's output.
    auto other = service.handle_async_execution(keyed("up", "b"));
    BOOST_REQUIRE(std::holds_alternative<core::error>(other));
    BOOST_TEST((std::get<core::error>(other).code == core::error_code::conflict));
    BOOST_TEST(std::get<core::error>(other).message.find("dev-1") != std::string::npos);
    // Same key for another function: its own execution.
    auto elsewhere = service.handle_async_execution(keyed("nap", "a"));
    BOOST_REQUIRE(std::holds_alternative<core::RuntimeExecutionResponse>(elsewhere));
    BOOST_TEST(std::get<core::RuntimeExecutionResponse>(elsewhere).execution_id != first_id);
    // The stream path goes through the same check: no duplicate execution.
    auto viewer = service.make_viewer_queue();
    auto streamed = service.start_stream_execution(keyed("up", "a"), viewer);
    BOOST_REQUIRE(std::holds_alternative<core::record_ref>(streamed));
    BOOST_TEST(service.execution_id(std::get<core::record_ref>(streamed)) == first_id);
    auto conflicting = service.start_stream_execution(keyed("up", "zzz"), viewer);
    BOOST_TEST(std::holds_alternative<core::error>(conflicting));
    io.run_for(500ms);
    io.restart();
    BOOST_TEST(service.list({}).executions.size() == 2u);
    // The key alone names two functions' executions now: ambiguous on the status endpoint.
    auto status = service.get_status("dev-1", false);
    BOOST_REQUIRE(std::holds_alternative<core::error>(status));
    BOOST_TEST((std::get<core::error>(status).code == core::error_code::conflict));
}

BOOST_FIXTURE_TEST_CASE(ended_executions_are_counted_in_the_metrics, service_fixture) {
    invoke_sync(request("up", "hello"));
    invoke_sync(request("up", "fail"));
    auto slow = request("nap", "sleep:10000");
    slow.timeout_ms = 50;
    invoke_sync(std::move(slow));

    const auto& m = service.metrics();
    auto series = [&](std::string_view family, std::vector<std::string> labels) {
        const auto* f = m.find(family);
        BOOST_REQUIRE(f);
        const auto* s = f->find(labels);
        return s ? *s : core::metric_series{};
    };
    BOOST_TEST(series("spearlet_executions_total", {"up", "sync", "completed"}).value == 1);
    BOOST_TEST(series("spearlet_executions_total", {"up", "sync", "failed"}).value == 1);
    BOOST_TEST(series("spearlet_executions_total", {"nap", "sync", "timeout"}).value == 1);
    BOOST_TEST(series("gateway_function_invocation_total", {"up", "200"}).value == 1);
    BOOST_TEST(series("gateway_function_invocation_total", {"up", "500"}).value == 1);
    BOOST_TEST(series("gateway_function_invocation_total", {"nap", "504"}).value == 1);
    BOOST_TEST(series("faas_timeouts_total", {"nap"}).value == 1);
    BOOST_TEST(series("spearlet_execution_duration_seconds", {"up"}).count == 2u);
    BOOST_TEST(series("spearlet_queue_wait_seconds", {"up"}).count == 2u);
    const auto nap = series("spearlet_execution_duration_seconds", {"nap"});
    BOOST_TEST(nap.count == 1u);
    BOOST_TEST(nap.value >= 0.05); // it ran until its 50 ms timeout
    BOOST_TEST(series("spearlet_estimate_error_seconds", {"up"}).count == 2u);

    const auto text = service.render_metrics();
    BOOST_TEST(text.find("spearlet_executions_running{function=\"nap\"} 0\n") != std::string::npos);
    BOOST_TEST(text.find("spearlet_status_table_records{status=\"completed\"} 1\n") !=
               std::string::npos);
    BOOST_TEST(text.find("gateway_service_count{function_name=\"refused-x\"} 1\n") !=
               std::string::npos);
    BOOST_TEST(text.find("\nprocess_resident_memory_bytes ") != std::string::npos);
    BOOST_TEST(text.find("\nprocess_start_time_seconds ") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_config_not_parsed_with_the_registry_is_refused) {
    auto log = std::make_shared<test::fake_log>();
    runtime::registry registry{{test::fake_kind(log)}};
    const auto builtin = runtime::parse_config(
        R"({"functions": [{"name": "p", "runtime": "process", "command": ["cat"]}]})");
    BOOST_REQUIRE(builtin.value.has_value());
    asio::io_context io;
    BOOST_CHECK_THROW(execution_service(io.get_executor(), *builtin.value, registry),
                      std::invalid_argument);
}

// Defect 10.7: inputs of executions waiting to start are bounded by one global budget.
BOOST_AUTO_TEST_CASE(queued_input_budget_refuses_beyond_it_and_frees_on_start_and_cancel) {
    auto log = std::make_shared<test::fake_log>();
    runtime::registry registry{{test::fake_kind(log)}};
    // Two functions share the budget: 30 bytes hold two 11-byte inputs, not three.
    auto parsed = runtime::parse_config(R"({
        "http": {"max_body_bytes": 16},
        "stream": {"max_message_bytes": 16},
        "limits": {"kill_grace_ms": 200, "queued_input_bytes": 30},
        "functions": [{"name": "a", "max_concurrency": 1}, {"name": "b", "max_concurrency": 1}]
    })",
                                        registry);
    BOOST_REQUIRE(parsed.value.has_value());
    const auto cfg = *parsed.value;
    asio::io_context io;
    execution_service service{io.get_executor(), cfg, registry};
    auto submit = [&](std::string fn, std::string input) {
        return service.handle_async_execution(request(std::move(fn), std::move(input),
                                                      ExecutionMode::async));
    };
    auto accepted_id = [](const execution_service::invoke_result& r) {
        BOOST_REQUIRE(std::holds_alternative<core::RuntimeExecutionResponse>(r));
        return std::get<core::RuntimeExecutionResponse>(r).execution_id;
    };
    auto settle = [&] {
        io.run_for(100ms);
        io.restart();
    };

    // a1 and b1 start (their inputs move into the runtime and leave the budget).
    accepted_id(submit("a", "sleep:10000"));
    accepted_id(submit("b", "sleep:10000"));
    settle();
    BOOST_TEST(log->runs.size() == 2u);
    // a2 and b2 wait: 22 of 30 bytes.
    const auto a2 = accepted_id(submit("a", "sleep:10001"));
    accepted_id(submit("b", "sleep:10001"));
    const auto refused = submit("a", "sleep:10002");
    BOOST_REQUIRE(std::holds_alternative<core::error>(refused));
    const auto& e = std::get<core::error>(refused);
    BOOST_TEST((e.code == core::error_code::too_many_requests));
    BOOST_TEST(e.message.find("limits.queued_input_bytes (30)") != std::string::npos);
    BOOST_TEST(e.message.find("hold 22 input bytes") != std::string::npos);
    BOOST_TEST(e.retry_after_ms > 0);
    // A smaller input still fits (8 bytes left), whatever its function.
    accepted_id(submit("b", "sleep:1"));
    BOOST_TEST(std::holds_alternative<core::error>(submit("b", "sleep:1")));

    // Cancelling a queued execution gives its bytes back.
    auto cancel = [&]() -> asio::awaitable<void> {
        co_await service.cancel(a2, "test");
    };
    asio::co_spawn(io, cancel(), asio::detached);
    settle();
    accepted_id(submit("a", "sleep:10002"));
    BOOST_TEST(std::holds_alternative<core::error>(submit("a", "sleep:10003")));

    // Every refusal above is counted by its reason (GET /metrics).
    const auto* refusals = service.metrics().find("spearlet_refusals_total");
    BOOST_REQUIRE(refusals);
    const auto* by_budget = refusals->find({"429", "queued_input_bytes"});
    BOOST_REQUIRE(by_budget);
    BOOST_TEST(by_budget->value == 3);

    // Shutdown ends everything and frees every byte (ASan checks nothing is left behind).
    asio::co_spawn(io, service.shutdown(0ms), asio::detached);
    io.run_for(5s);
}

BOOST_AUTO_TEST_SUITE_END()
