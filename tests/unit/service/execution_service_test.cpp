// Tests of execution_service driven through a test registry holding only the fake runtime kind
// (fake_runtime.hpp): sync and async invocation, cancel, timeout, failure, refusal at admission,
// one runtime per kind, GET /functions fields from the kind's describe().
#include "service/execution_service.hpp"
#include "service/json_codec.hpp"
#include "support/fake_runtime.hpp"
#include "support/io_context.hpp"

#include <boost/asio/co_spawn.hpp>
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

BOOST_AUTO_TEST_SUITE_END()
