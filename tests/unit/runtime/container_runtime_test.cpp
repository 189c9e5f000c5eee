// Unit tests of the container runtime without an engine: a run against a socket nobody
// listens on fails with the engine's address (and /health says down), a run cancelled before
// it starts creates nothing. The journeys with a real engine are
// tests/functional/test_container.py.
#include "runtime/container/container_runtime.hpp"

#include "runtime/registry.hpp"
#include "support/io_context.hpp"
#include "support/temp_dir.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <string>

namespace {

using spear::core::error_code;
using spear::core::ExecutionStatus;
using spear::runtime::cancel_signal;
using spear::runtime::run_request;

struct null_sink final : spear::runtime::output_sink {
    std::string out;
    void on_stdout(std::string_view b) override { out.append(b); }
    void on_stderr(std::string_view) override {}
};

struct fixture {
    spear::test::temp_dir dir;
    std::string uri = "unix://" + (dir.path() / "no-engine.sock").string();
    spear::core::config cfg;
    std::vector<spear::runtime::function_spec> specs;
    boost::asio::io_context io;

    fixture() {
        const auto text = R"({"container": {"engine": ")" + uri +
                          R"("}, "functions": [{"name": "c", "runtime": "container",
                             "image": "busybox:1", "command": ["/bin/true"]}]})";
        auto parsed = spear::runtime::parse_config(text);
        BOOST_REQUIRE(parsed.value);
        cfg = *parsed.value;
        specs = spear::runtime::builtin_registry().resolve_all(cfg);
    }
    run_request request() const {
        run_request r;
        r.function = &specs[0];
        r.execution_id = "exec-1";
        r.input = "x";
        return r;
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(container_runtime)

BOOST_FIXTURE_TEST_CASE(engine_not_reachable_fails_the_run_with_its_address, fixture) {
    spear::runtime::container_runtime rt(io.get_executor());
    rt.configure(cfg);
    spear::test::run_until_idle(io); // the start-up look finds nothing listening
    const auto health = rt.health();
    BOOST_TEST(health.at("state").as_string() == "down");
    BOOST_TEST(health.at("engine").as_string() == uri);

    cancel_signal cancel(io.get_executor());
    null_sink sink;
    const auto outcome = spear::test::drive(io, rt.run(request(), sink, cancel));
    BOOST_TEST((outcome.status == ExecutionStatus::failed));
    BOOST_TEST((outcome.error == error_code::function_failed));
    BOOST_TEST(outcome.error_message.starts_with("container engine not reachable at " + uri),
               outcome.error_message);
}

BOOST_FIXTURE_TEST_CASE(cancelled_before_start_creates_nothing, fixture) {
    spear::runtime::container_runtime rt(io.get_executor());
    rt.configure(cfg);
    cancel_signal cancel(io.get_executor());
    cancel.cancel();
    null_sink sink;
    const auto outcome = spear::test::drive(io, rt.run(request(), sink, cancel));
    BOOST_TEST((outcome.status == ExecutionStatus::cancelled));
}

BOOST_AUTO_TEST_SUITE_END()
