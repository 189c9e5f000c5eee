// The JSON the cluster's nodes exchange (cluster_record): every message round-trips field for
// field, and the decoders refuse what another node could send wrong (bad JSON, missing or
// mistyped fields, unknown enums, bad base64) instead of trusting it.
#include "cluster/cluster_record.hpp"

#include "core/limits.hpp"

#include <boost/test/unit_test.hpp>

using namespace spear;
using namespace spear::cluster;
using core::ExecutionStatus;

namespace {

core::ExecutionResult sample_result() {
    core::ExecutionResult r;
    r.execution_id = "0123456789abcdef01234567";
    r.client_execution_id = "order-7";
    r.function_name = "resize";
    r.mode = core::ExecutionMode::async;
    r.status = ExecutionStatus::failed;
    r.content_type = "image/png";
    r.output = std::string("\x00\xff\x10 binary", 10);
    r.output_size = 10;
    r.logs = "warn: low memory\n";
    r.error = core::error_code::function_failed;
    r.error_message = "exited with code 3";
    r.exit_code = 3;
    r.queued_at = core::wall_time(std::chrono::milliseconds(1'796'000'000'123));
    r.started_at = core::wall_time(std::chrono::milliseconds(1'796'000'000'200));
    r.completed_at = core::wall_time(std::chrono::milliseconds(1'796'000'001'000));
    r.queue_ms = 77;
    r.execution_time_ms = 800;
    r.seq = 42;
    r.client = "line-3";
    r.priority = 7;
    return r;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_record_round_trips_field_for_field) {
    cluster_record in;
    in.node = "gw-b";
    in.origin = "gw-a";
    in.shared = true;
    in.attempt = 2;
    in.estimate_ms = 1500;
    in.result = sample_result();
    const auto out = decode_record(encode(in));
    BOOST_REQUIRE(out);
    BOOST_TEST(out->node == "gw-b");
    BOOST_TEST(out->origin == "gw-a");
    BOOST_TEST(out->shared);
    BOOST_TEST(out->attempt == 2u);
    BOOST_TEST(out->estimate_ms == 1500);
    const auto& r = out->result;
    const auto s = sample_result();
    BOOST_TEST(r.execution_id == s.execution_id);
    BOOST_TEST(r.client_execution_id == s.client_execution_id);
    BOOST_TEST(r.function_name == s.function_name);
    BOOST_TEST((r.mode == s.mode));
    BOOST_TEST((r.status == s.status));
    BOOST_TEST(r.content_type == s.content_type);
    BOOST_TEST(r.output == s.output); // binary bytes survive (base64 on the wire)
    BOOST_TEST(r.output_size == s.output_size);
    BOOST_TEST(!r.output_truncated);
    BOOST_TEST(r.logs == s.logs);
    BOOST_TEST((r.error == s.error));
    BOOST_TEST(r.error_message == s.error_message);
    BOOST_TEST(*r.exit_code == 3);
    BOOST_TEST(!r.signal);
    BOOST_TEST((r.queued_at == s.queued_at));
    BOOST_TEST((*r.started_at == *s.started_at));
    BOOST_TEST((*r.completed_at == *s.completed_at));
    BOOST_TEST(r.queue_ms == 77);
    BOOST_TEST(r.execution_time_ms == 800);
    BOOST_TEST(r.seq == 42u);
    BOOST_TEST(r.client == "line-3");
    BOOST_TEST(r.priority == 7);
}

BOOST_AUTO_TEST_CASE(a_pending_record_has_no_times_and_keeps_node_lost) {
    cluster_record in;
    in.node = in.origin = "gw-a";
    in.result = sample_result();
    in.result.started_at.reset();
    in.result.completed_at.reset();
    in.result.exit_code.reset();
    in.result.error = core::error_code::node_lost;
    const auto out = decode_record(encode(in));
    BOOST_REQUIRE(out);
    BOOST_TEST(!out->result.started_at);
    BOOST_TEST(!out->result.completed_at);
    BOOST_TEST(!out->result.exit_code);
    BOOST_TEST((out->result.error == core::error_code::node_lost));
}

BOOST_AUTO_TEST_CASE(output_beyond_the_bucket_cap_is_cut_and_marked_truncated) {
    cluster_record in;
    in.result = sample_result();
    in.result.output.assign(core::limits::cluster_record_output_bytes + 100, 'x');
    in.result.output_size = in.result.output.size();
    const auto out = decode_record(encode(in));
    BOOST_REQUIRE(out);
    BOOST_TEST(out->result.output.size() == core::limits::cluster_record_output_bytes);
    BOOST_TEST(out->result.output_size == core::limits::cluster_record_output_bytes + 100);
    BOOST_TEST(out->result.output_truncated);
}

BOOST_AUTO_TEST_CASE(a_work_item_round_trips_with_its_client_and_context) {
    work_item in;
    in.id = "0123456789abcdef01ffffff";
    in.origin = "gw-a";
    in.queued_wall_ms = 1'796'000'000'000;
    auto& q = in.request;
    q.function_name = "resize";
    q.execution_mode = core::ExecutionMode::sync;
    q.input = std::string("\x01\x02\x00\x03", 4);
    q.input_content_type = "application/octet-stream";
    q.client_execution_id = "k-1";
    q.timeout_ms = 2500;
    q.environment = {{"TRACE_ID", "abc"}};
    q.priority = 3;
    q.client.name = "line-3";
    q.client.admin = false;
    q.client.priority_ceiling = 5;
    const auto out = decode_work(encode(in));
    BOOST_REQUIRE(out);
    BOOST_TEST(out->id == in.id);
    BOOST_TEST(out->origin == "gw-a");
    BOOST_TEST(out->queued_wall_ms == in.queued_wall_ms);
    BOOST_TEST(out->request.function_name == "resize");
    BOOST_TEST((out->request.execution_mode == core::ExecutionMode::sync));
    BOOST_TEST(out->request.input == q.input);
    BOOST_TEST(out->request.client_execution_id == "k-1");
    BOOST_TEST(*out->request.timeout_ms == 2500u);
    BOOST_TEST(out->request.environment.at("TRACE_ID") == "abc");
    BOOST_TEST(*out->request.priority == 3);
    BOOST_TEST(out->request.client.name == "line-3");
    BOOST_TEST(!out->request.client.admin);
    BOOST_TEST(out->request.client.priority_ceiling == 5);
}

BOOST_AUTO_TEST_CASE(beacons_cancels_and_answers_round_trip) {
    node_beacon b{"gw-c", 1'796'000'000'000, 0xdeadbeef, {{"resize", 800}, {"echo", 3}}};
    const auto bo = decode_beacon(encode(b));
    BOOST_REQUIRE(bo);
    BOOST_TEST(bo->node == "gw-c");
    BOOST_TEST(bo->boot == 0xdeadbeefu);
    BOOST_TEST(bo->typical_ms.size() == 2u);

    const auto c = decode_cancel(encode(cancel_request{"id-1", "requested by a client", "line-3", false}));
    BOOST_REQUIRE(c);
    BOOST_TEST(c->client == "line-3");
    BOOST_TEST(!c->admin);

    service::cancel_view view;
    view.success = true;
    view.message = "stopped while running";
    view.final_status = ExecutionStatus::cancelled;
    view.execution_id = "id-1";
    const auto a = decode_cancel_answer(encode(std::variant<service::cancel_view, core::error>{view}));
    BOOST_REQUIRE(a);
    BOOST_REQUIRE(std::holds_alternative<service::cancel_view>(*a));
    BOOST_TEST(std::get<service::cancel_view>(*a).success);
    BOOST_TEST(std::get<service::cancel_view>(*a).execution_id == "id-1");

    const auto e = decode_cancel_answer(encode(std::variant<service::cancel_view, core::error>{
        core::error::make(core::error_code::execution_not_found, "gone")}));
    BOOST_REQUIRE(e);
    BOOST_REQUIRE(std::holds_alternative<core::error>(*e));
    BOOST_TEST((std::get<core::error>(*e).code == core::error_code::execution_not_found));
}

BOOST_AUTO_TEST_CASE(a_relayed_final_event_takes_the_viewers_id) {
    service::stream_event final_event;
    final_event.type = service::stream_event::kind::final;
    final_event.seq = 9;
    final_event.execution_id = "local-id";
    final_event.status = ExecutionStatus::completed;
    auto result = sample_result();
    result.execution_id = "local-id";
    final_event.result = std::make_shared<const core::ExecutionResult>(result);
    const auto out = decode_event(encode(final_event), "shared-id");
    BOOST_REQUIRE(out);
    BOOST_TEST((out->type == service::stream_event::kind::final));
    BOOST_TEST(out->seq == 9u);
    BOOST_TEST(out->execution_id == "shared-id");
    BOOST_TEST(out->result->execution_id == "shared-id");

    service::stream_event chunk;
    chunk.seq = 3;
    chunk.bytes = "line 1\n";
    const auto c = decode_event(encode(chunk), "shared-id");
    BOOST_REQUIRE(c);
    BOOST_TEST(c->bytes == "line 1\n");
}

BOOST_AUTO_TEST_CASE(decoders_refuse_what_another_node_got_wrong) {
    BOOST_TEST(!decode_record(""));
    BOOST_TEST(!decode_record("[1]"));
    BOOST_TEST(!decode_record("{\"v\":2}"));
    cluster_record in;
    in.result = sample_result();
    auto text = encode(in);
    auto swap = [&](std::string_view from, std::string_view to) {
        auto t = text;
        const auto at = t.find(from);
        BOOST_REQUIRE(at != std::string::npos);
        t.replace(at, from.size(), to);
        return t;
    };
    BOOST_TEST(!decode_record(swap("\"status\":\"failed\"", "\"status\":\"exploded\"")));
    BOOST_TEST(!decode_record(swap("\"error\":\"function_failed\"", "\"error\":7")));
    BOOST_TEST(!decode_record(swap("\"mode\":2", "\"mode\":9")));
    BOOST_TEST(!decode_record(swap("\"output\":\"", "\"output\":\"!!")));
    BOOST_TEST(!decode_record(swap("\"node\":", "\"nodes\":")));
    BOOST_TEST(!decode_work("{\"v\":1}"));
    BOOST_TEST(!decode_beacon("{\"v\":1,\"node\":\"x\",\"at\":1,\"boot\":1,\"typical_ms\":{\"f\":\"slow\"}}"));
    BOOST_TEST(!decode_event("{\"type\":2,\"seq\":1,\"status\":\"completed\",\"bytes\":\"\",\"replayed\":false}", "x"));
    BOOST_TEST(!decode_watch("{\"id\":\"x\"}"));
}
