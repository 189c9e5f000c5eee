// A sans-io metrics registry (counters, gauges, fixed-bucket histograms with labels) that
// renders the Prometheus text exposition format 0.0.4. One thread: no locks, no atomics.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace spear::core {

enum class metric_type : std::uint8_t { counter, gauge, histogram };

/// One labelled series of a family. Counters only grow (`inc`); a counter that mirrors a total
/// kept elsewhere is `set` at scrape time. Histograms count observations into the family's
/// buckets (cumulative at render time).
struct metric_series {
    double value = 0; ///< counter or gauge value; histogram: the sum of observations
    std::uint64_t count = 0;               ///< histogram: number of observations
    std::vector<std::uint64_t> buckets;    ///< histogram: per-bucket (not cumulative) counts

    void inc(double by = 1) { value += by; }
    void set(double v) { value = v; }
};

/// A metric name with its help text, type, label names and (histograms) bucket bounds.
class metric_family {
public:
    metric_family(std::string name, std::string help, metric_type type,
                  std::vector<std::string> label_names, std::vector<double> bounds);

    /// The series for these label values (created at zero on first use). Throws
    /// std::invalid_argument if the number of values differs from the label names. The
    /// reference stays valid for the family's life.
    metric_series& with(const std::vector<std::string>& label_values);
    /// The unlabelled series (a family with no label names).
    metric_series& get() { return with({}); }
    /// Histogram: records one observation.
    void observe(const std::vector<std::string>& label_values, double v);
    /// Drops every series (a gauge family refilled at scrape time).
    void clear() { series_.clear(); }

    const std::string& name() const noexcept { return name_; }
    metric_type type() const noexcept { return type_; }
    const std::vector<double>& bounds() const noexcept { return bounds_; }
    const std::vector<std::string>& label_names() const noexcept { return label_names_; }
    /// The series, or nullptr if none has these values (for tests and readers).
    const metric_series* find(const std::vector<std::string>& label_values) const;
    void render(std::string& out) const;

private:
    std::string name_;
    std::string help_;
    metric_type type_;
    std::vector<std::string> label_names_;
    std::vector<double> bounds_; ///< ascending, without +Inf
    std::map<std::vector<std::string>, metric_series> series_; ///< sorted: stable output
};

/// The families of one process, rendered in registration order.
class metric_registry {
public:
    /// Registers a family, or returns the one of that name if it has the same type, labels
    /// and bounds. Throws std::invalid_argument on an invalid name or label name, a name taken
    /// by another kind of family, or histogram bounds that are empty or not strictly ascending.
    metric_family& counter(std::string name, std::string help,
                           std::vector<std::string> label_names = {});
    metric_family& gauge(std::string name, std::string help,
                         std::vector<std::string> label_names = {});
    metric_family& histogram(std::string name, std::string help,
                             std::vector<std::string> label_names, std::vector<double> bounds);

    /// Text exposition format 0.0.4 (HELP and TYPE before each family's samples).
    std::string render() const;
    const metric_family* find(std::string_view name) const;

private:
    metric_family& add(std::string name, std::string help, metric_type type,
                       std::vector<std::string> label_names, std::vector<double> bounds);
    std::vector<std::unique_ptr<metric_family>> families_;
};

/// Bucket bounds in seconds for execution durations, queue waits and estimate errors: 1 ms to
/// 5 min, about x2-x2.5 apart (16 buckets: a function's histogram stays 19 lines).
std::vector<double> duration_buckets_seconds();
/// Bucket bounds for memory sizes: 64 KiB (one wasm page) to 4 GiB (wasm32's ceiling), x4.
std::vector<double> memory_buckets_bytes();

/// A sample value as Prometheus writes it: integers without a fraction, +Inf/-Inf/NaN.
std::string format_metric_value(double v);

/// Label value escaping of the text format: backslash, double quote and newline.
std::string escape_label_value(std::string_view v);

} // namespace spear::core
