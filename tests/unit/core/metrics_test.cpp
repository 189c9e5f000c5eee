// Tests of the metrics registry: series creation, histogram buckets, and the exact text
// exposition format (HELP/TYPE, labels, escaping, cumulative buckets, +Inf, _sum, _count).
#include "core/metrics.hpp"

#include <boost/test/unit_test.hpp>

#include <stdexcept>
#include <string>

using namespace spear::core;

BOOST_AUTO_TEST_SUITE(metrics)

BOOST_AUTO_TEST_CASE(counter_and_gauge_render_with_help_type_and_sorted_labels) {
    metric_registry r;
    auto& c = r.counter("spearlet_executions_total", "Executions ended.", {"function", "status"});
    auto& g = r.gauge("gateway_service_count", "Functions configured.");
    c.with({"echo", "succeeded"}).inc();
    c.with({"echo", "succeeded"}).inc();
    c.with({"ai", "failed"}).inc(3);
    g.get().set(2);
    BOOST_TEST(r.render() ==
               "# HELP spearlet_executions_total Executions ended.\n"
               "# TYPE spearlet_executions_total counter\n"
               "spearlet_executions_total{function=\"ai\",status=\"failed\"} 3\n"
               "spearlet_executions_total{function=\"echo\",status=\"succeeded\"} 2\n"
               "# HELP gateway_service_count Functions configured.\n"
               "# TYPE gateway_service_count gauge\n"
               "gateway_service_count 2\n");
}

BOOST_AUTO_TEST_CASE(histogram_buckets_are_cumulative_with_inf_sum_and_count) {
    metric_registry r;
    auto& h = r.histogram("x_seconds", "X.", {"f"}, {0.1, 1});
    h.observe({"a"}, 0.05);
    h.observe({"a"}, 0.1);  // on a bound: counted in that bucket (le)
    h.observe({"a"}, 0.5);
    h.observe({"a"}, 7);    // above every bound: only +Inf
    BOOST_TEST(r.render() == "# HELP x_seconds X.\n"
                             "# TYPE x_seconds histogram\n"
                             "x_seconds_bucket{f=\"a\",le=\"0.1\"} 2\n"
                             "x_seconds_bucket{f=\"a\",le=\"1\"} 3\n"
                             "x_seconds_bucket{f=\"a\",le=\"+Inf\"} 4\n"
                             "x_seconds_sum{f=\"a\"} 7.65\n"
                             "x_seconds_count{f=\"a\"} 4\n");
    const auto* s = h.find({"a"});
    BOOST_REQUIRE(s);
    BOOST_TEST(s->count == 4u);
}

BOOST_AUTO_TEST_CASE(unlabelled_histogram_has_only_le) {
    metric_registry r;
    r.histogram("y_seconds", "Y.", {}, {1}).observe({}, 2);
    BOOST_TEST(r.render() == "# HELP y_seconds Y.\n# TYPE y_seconds histogram\n"
                             "y_seconds_bucket{le=\"1\"} 0\ny_seconds_bucket{le=\"+Inf\"} 1\n"
                             "y_seconds_sum 2\ny_seconds_count 1\n");
}

BOOST_AUTO_TEST_CASE(label_values_and_help_are_escaped) {
    metric_registry r;
    r.counter("e_total", "a \\ b\nc", {"l"}).with({"q\"\\\nz"}).inc();
    BOOST_TEST(r.render() == "# HELP e_total a \\\\ b\\nc\n# TYPE e_total counter\n"
                             "e_total{l=\"q\\\"\\\\\\nz\"} 1\n");
}

BOOST_AUTO_TEST_CASE(values_format_like_prometheus) {
    BOOST_TEST(format_metric_value(0) == "0");
    BOOST_TEST(format_metric_value(12345678901.0) == "12345678901");
    BOOST_TEST(format_metric_value(0.25) == "0.25");
    BOOST_TEST(format_metric_value(-1.5) == "-1.5");
    BOOST_TEST(format_metric_value(1.0 / 0.0) == "+Inf");
}

BOOST_AUTO_TEST_CASE(bad_names_labels_and_buckets_are_refused) {
    metric_registry r;
    auto& ok = r.counter("ok_total", "h");
    BOOST_TEST(&r.counter("ok_total", "same family: shared") == &ok);
    BOOST_CHECK_THROW(r.gauge("ok_total", "another type"), std::invalid_argument);
    BOOST_CHECK_THROW(r.counter("ok_total", "other labels", {"x"}), std::invalid_argument);
    BOOST_CHECK_THROW(r.counter("1bad", "h"), std::invalid_argument);
    BOOST_CHECK_THROW(r.counter("a-b", "h"), std::invalid_argument);
    BOOST_CHECK_THROW(r.gauge("g", "h", {"__reserved"}), std::invalid_argument);
    BOOST_CHECK_THROW(r.histogram("h1", "h", {"le"}, {1}), std::invalid_argument);
    BOOST_CHECK_THROW(r.histogram("h2", "h", {}, {}), std::invalid_argument);
    BOOST_CHECK_THROW(r.histogram("h3", "h", {}, {1, 1}), std::invalid_argument);
    auto& c = r.counter("two_total", "h", {"a", "b"});
    BOOST_CHECK_THROW(c.with({"only-one"}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(series_references_stay_valid_as_series_are_added) {
    metric_registry r;
    auto& c = r.counter("n_total", "h", {"k"});
    auto& first = c.with({"m"});
    for (int i = 0; i < 100; ++i)
        c.with({std::to_string(i)}).inc();
    first.inc(5);
    BOOST_TEST(c.find({"m"})->value == 5);
    c.clear();
    BOOST_TEST(c.find({"m"}) == nullptr);
}

BOOST_AUTO_TEST_CASE(duration_buckets_ascend) {
    const auto b = duration_buckets_seconds();
    BOOST_REQUIRE(!b.empty());
    for (std::size_t i = 1; i < b.size(); ++i)
        BOOST_TEST(b[i] > b[i - 1]);
}

BOOST_AUTO_TEST_SUITE_END()
