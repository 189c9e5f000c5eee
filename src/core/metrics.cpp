// The metrics registry and its Prometheus text rendering.
#include "core/metrics.hpp"

#include <charconv>
#include <cmath>
#include <stdexcept>

namespace spear::core {

namespace {

bool valid_name(std::string_view n, bool label) {
    if (n.empty())
        return false;
    for (std::size_t i = 0; i < n.size(); ++i) {
        const char c = n[i];
        const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                           (!label && c == ':');
        const bool digit = c >= '0' && c <= '9';
        if (!alpha && !(digit && i > 0))
            return false;
    }
    return !(label && n.starts_with("__"));
}

std::string escape_help(std::string_view v) {
    std::string out;
    for (const char c : v) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

void append_labels(std::string& out, const std::vector<std::string>& names,
                   const std::vector<std::string>& values, std::string_view extra_name = {},
                   std::string_view extra_value = {}) {
    if (names.empty() && extra_name.empty())
        return;
    out += '{';
    bool first = true;
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (!first)
            out += ',';
        first = false;
        out += names[i];
        out += "=\"";
        out += escape_label_value(values[i]);
        out += '"';
    }
    if (!extra_name.empty()) {
        if (!first)
            out += ',';
        out += extra_name;
        out += "=\"";
        out += extra_value;
        out += '"';
    }
    out += '}';
}

std::string_view type_name(metric_type t) {
    switch (t) {
    case metric_type::counter:
        return "counter";
    case metric_type::gauge:
        return "gauge";
    case metric_type::histogram:
        return "histogram";
    }
    return "untyped";
}

} // namespace

std::string format_metric_value(double v) {
    if (std::isnan(v))
        return "NaN";
    if (std::isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    if (v == std::trunc(v) && std::fabs(v) < 1e15)
        return std::to_string(static_cast<std::int64_t>(v));
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v); // shortest round-trip form
    return std::string(buf, r.ptr);
}

std::string escape_label_value(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (const char c : v) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::vector<double> duration_buckets_seconds() {
    return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
}

std::vector<double> memory_buckets_bytes() {
    std::vector<double> bounds;
    for (double b = 64.0 * 1024; b <= 4.0 * 1024 * 1024 * 1024; b *= 4)
        bounds.push_back(b);
    return bounds;
}

metric_family::metric_family(std::string name, std::string help, metric_type type,
                             std::vector<std::string> label_names, std::vector<double> bounds)
    : name_(std::move(name))
    , help_(std::move(help))
    , type_(type)
    , label_names_(std::move(label_names))
    , bounds_(std::move(bounds)) {}

metric_series& metric_family::with(const std::vector<std::string>& label_values) {
    if (label_values.size() != label_names_.size())
        throw std::invalid_argument("metric " + name_ + ": expected " +
                                    std::to_string(label_names_.size()) + " label values, got " +
                                    std::to_string(label_values.size()));
    auto [it, inserted] = series_.try_emplace(label_values);
    if (inserted && type_ == metric_type::histogram)
        it->second.buckets.assign(bounds_.size(), 0);
    return it->second;
}

void metric_family::observe(const std::vector<std::string>& label_values, double v) {
    auto& s = with(label_values);
    s.value += v;
    ++s.count;
    for (std::size_t i = 0; i < bounds_.size(); ++i)
        if (v <= bounds_[i]) {
            ++s.buckets[i];
            break;
        }
}

const metric_series* metric_family::find(const std::vector<std::string>& label_values) const {
    const auto it = series_.find(label_values);
    return it == series_.end() ? nullptr : &it->second;
}

void metric_family::render(std::string& out) const {
    out += "# HELP " + name_ + ' ' + escape_help(help_) + '\n';
    out += "# TYPE " + name_ + ' ' + std::string(type_name(type_)) + '\n';
    for (const auto& [values, s] : series_) {
        if (type_ != metric_type::histogram) {
            out += name_;
            append_labels(out, label_names_, values);
            out += ' ' + format_metric_value(s.value) + '\n';
            continue;
        }
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i <= bounds_.size(); ++i) {
            cumulative = i < bounds_.size() ? cumulative + s.buckets[i] : s.count;
            out += name_ + "_bucket";
            append_labels(out, label_names_, values, "le",
                          i < bounds_.size() ? format_metric_value(bounds_[i]) : "+Inf");
            out += ' ' + std::to_string(cumulative) + '\n';
        }
        out += name_ + "_sum";
        append_labels(out, label_names_, values);
        out += ' ' + format_metric_value(s.value) + '\n';
        out += name_ + "_count";
        append_labels(out, label_names_, values);
        out += ' ' + std::to_string(s.count) + '\n';
    }
}

metric_family& metric_registry::add(std::string name, std::string help, metric_type type,
                                    std::vector<std::string> label_names,
                                    std::vector<double> bounds) {
    if (!valid_name(name, false))
        throw std::invalid_argument("invalid metric name '" + name + "'");
    for (const auto& f : families_)
        if (f->name() == name) {
            // The same family asked for again (e.g. a second listener of one kind) is shared.
            if (f->type() == type && f->label_names() == label_names && f->bounds() == bounds)
                return *f;
            throw std::invalid_argument("metric '" + name +
                                        "' is already registered with another type or labels");
        }
    for (const auto& l : label_names)
        if (!valid_name(l, true) || (type == metric_type::histogram && l == "le"))
            throw std::invalid_argument("metric " + name + ": invalid label name '" + l + "'");
    if (type == metric_type::histogram) {
        if (bounds.empty())
            throw std::invalid_argument("histogram " + name + ": no buckets");
        for (std::size_t i = 0; i < bounds.size(); ++i)
            if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
                throw std::invalid_argument("histogram " + name +
                                            ": bucket bounds must be finite and ascending");
    }
    families_.push_back(std::make_unique<metric_family>(std::move(name), std::move(help), type,
                                                        std::move(label_names),
                                                        std::move(bounds)));
    return *families_.back();
}

metric_family& metric_registry::counter(std::string name, std::string help,
                                        std::vector<std::string> label_names) {
    return add(std::move(name), std::move(help), metric_type::counter, std::move(label_names), {});
}

metric_family& metric_registry::gauge(std::string name, std::string help,
                                      std::vector<std::string> label_names) {
    return add(std::move(name), std::move(help), metric_type::gauge, std::move(label_names), {});
}

metric_family& metric_registry::histogram(std::string name, std::string help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> bounds) {
    return add(std::move(name), std::move(help), metric_type::histogram, std::move(label_names),
               std::move(bounds));
}

std::string metric_registry::render() const {
    std::string out;
    for (const auto& f : families_)
        f->render(out);
    return out;
}

const metric_family* metric_registry::find(std::string_view name) const {
    for (const auto& f : families_)
        if (f->name() == name)
            return f.get();
    return nullptr;
}

} // namespace spear::core
