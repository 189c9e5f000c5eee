// A fake runtime kind for the service tests: registered in a test registry, it drives
// execution_service through the registry with no process or module. Its input is its script:
//   "sleep:N"  waits N ms (ends early on cancel, as cancelled; the service's timeout applies)
//   "fail"     fails with exit code 3
//   "throw"    throws (a runtime bug: the service must still end the execution)
//   anything else completes, writing the input upper-cased.
// A function named "refused-*" is refused at admission (spear::runtime::refusal).
#pragma once

#include "runtime/registry.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cctype>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace spear::test {

namespace asio = boost::asio;

/// What the fake runtime saw, shared with the test.
struct fake_log {
    int runtimes_made = 0;
    std::vector<std::string> prepared; ///< function names, in prepare order
    std::vector<std::string> runs;     ///< function names, in start order
    std::vector<std::string> cancels;  ///< function names whose run saw the cancel
};

class fake_runtime final : public spear::runtime::runtime {
public:
    explicit fake_runtime(std::shared_ptr<fake_log> log)
        : log_(std::move(log)) {}

    void prepare(const spear::runtime::function_spec& f) override {
        log_->prepared.push_back(f.common.name);
    }
    std::optional<std::string> refusal(const spear::runtime::function_spec& f) const override {
        if (f.common.name.starts_with("refused-"))
            return "function '" + f.common.name + "' is refused by the fake runtime";
        return std::nullopt;
    }

    asio::awaitable<core::execution_outcome> run(spear::runtime::run_request request,
                                                 spear::runtime::output_sink& sink,
                                                 spear::runtime::cancel_signal& cancel) override {
        using namespace asio::experimental::awaitable_operators;
        using core::ExecutionStatus;
        log_->runs.push_back(request.function->common.name);
        const std::string& input = request.input;
        if (input.starts_with("sleep:")) {
            const auto ms = std::stol(input.substr(6));
            asio::steady_timer done(co_await asio::this_coro::executor,
                                    std::chrono::milliseconds(ms));
            asio::steady_timer deadline(co_await asio::this_coro::executor, request.timeout);
            const auto first = co_await (done.async_wait(asio::as_tuple(asio::use_awaitable)) ||
                                         deadline.async_wait(asio::as_tuple(asio::use_awaitable)) ||
                                         cancel.wait());
            if (first.index() == 1)
                co_return core::execution_outcome{ExecutionStatus::timeout,
                                                  core::error_code::timeout, "fake timeout",
                                                  std::nullopt, std::nullopt};
            if (first.index() == 2) {
                log_->cancels.push_back(request.function->common.name);
                co_return core::execution_outcome{ExecutionStatus::cancelled,
                                                  core::error_code::none, "cancelled", std::nullopt,
                                                  std::nullopt};
            }
            sink.on_stdout("slept");
            co_return core::execution_outcome{
                ExecutionStatus::completed, core::error_code::none, {}, 0, std::nullopt};
        }
        if (input == "throw")
            throw std::runtime_error("fake runtime bug");
        if (input == "fail") {
            sink.on_stderr("fake failure\n");
            co_return core::execution_outcome{ExecutionStatus::failed,
                                              core::error_code::function_failed,
                                              "exited with code 3", 3, std::nullopt};
        }
        std::string upper = input;
        for (auto& c : upper)
            c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        sink.on_stdout(upper);
        co_return core::execution_outcome{
            ExecutionStatus::completed, core::error_code::none, {}, 0, std::nullopt};
    }

private:
    std::shared_ptr<fake_log> log_;
};

/// The "fake" kind: no fields of its own (its settings are std::monostate), one runtime.
inline spear::runtime::runtime_kind fake_kind(std::shared_ptr<fake_log> log) {
    spear::runtime::runtime_kind kind;
    kind.name = "fake";
    kind.parse = [](core::fields::object_reader&) {
        return spear::runtime::function_settings{};
    };
    kind.describe = [](const spear::runtime::function_spec& f) {
        boost::json::object o;
        o["fake"] = f.common.name;
        return o;
    };
    kind.make =
        [log](const boost::asio::any_io_executor&) -> std::unique_ptr<spear::runtime::runtime> {
        ++log->runtimes_made;
        return std::make_unique<fake_runtime>(log);
    };
    return kind;
}

} // namespace spear::test
