// The shared field readers of config parsing (core and runtime kinds).
#include "core/config_reader.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

#include <algorithm>

namespace spear::core::fields {

std::string field_path(std::string_view prefix, std::string_view key) {
    const bool plain = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-' || c == '[' || c == ']'; // "tokens[2]": an element

    });
    const std::string name = plain ? std::string(key) : json::serialize(json::string(key));
    return prefix.empty() ? name : std::string(prefix) + "." + name;
}

bool no_nul(std::string_view s) {
    return s.find('\0') == std::string_view::npos;
}
bool non_empty(std::string_view s) {
    return !s.empty() && no_nul(s);
}
bool printable(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

bool object_reader::known(std::string_view key) const {
    return std::find(known_.begin(), known_.end(), key) != known_.end();
}

void object_reader::finish() {
    for (const auto& field : object_) {
        if (!known(field.key()))
            fail(field.key(), "unknown field");
    }
}

json::object object_reader::rest() const {
    json::object out;
    for (const auto& field : object_) {
        if (!known(field.key()))
            out.emplace(field.key(), field.value());
    }
    return out;
}

std::string range_reason(std::uint64_t lo, std::uint64_t hi, std::string_view hint) {
    std::string reason = "must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi);
    if (!hint.empty())
        reason += " (" + std::string(hint) + ")";
    return reason;
}

std::optional<std::uint64_t> as_unsigned(const json::value& v) {
    if (v.is_uint64())
        return v.get_uint64();
    if (v.is_int64() && v.get_int64() >= 0)
        return static_cast<std::uint64_t>(v.get_int64());
    return std::nullopt;
}

void read_bool(object_reader& r, std::string_view key, bool& out) {
    const json::value* v = r.get(key);
    if (!v)
        return;
    if (v->is_bool())
        out = v->get_bool();
    else
        r.fail(key, "must be true or false");
}

/// Checks a string value against a rule; reports at `path` and returns nullopt when it fails.
std::optional<std::string_view> check_text(object_reader& r, const std::string& path,
                                           const json::value& v, const text_rule& rule) {
    if (v.is_string() && rule.ok(v.get_string()))
        return std::string_view(v.get_string());
    r.fail_at(path, rule.reason);
    return std::nullopt;
}

/// Reads a string field; true when present and valid.
bool read_text(object_reader& r, std::string_view key, std::string& out, const text_rule& rule) {
    const json::value* v = r.get(key);
    if (!v)
        return false;
    if (const auto s = check_text(r, r.at(key), *v, rule)) {
        out = std::string(*s);
        return true;
    }
    return false;
}

/// Reads an array of strings; each bad element is reported at `key[i]`.
void read_text_list(object_reader& r, std::string_view key, std::vector<std::string>& out,
                    const text_rule& rule) {
    const json::value* v = r.get(key);
    if (!v)
        return;
    if (!v->is_array()) {
        r.fail(key, "must be an array of strings");
        return;
    }
    out.clear();
    const auto& items = v->get_array();
    for (std::size_t i = 0; i < items.size(); ++i) {
        const auto path = r.at(key) + "[" + std::to_string(i) + "]";
        if (const auto s = check_text(r, path, items[i], rule))
            out.emplace_back(*s);
    }
}

/// Reads an object of strings; a bad name or value is reported at `key.NAME`.
void read_text_map(object_reader& r, std::string_view key, std::map<std::string, std::string>& out,
                   const text_rule& name_rule, const text_rule& value_rule) {
    const json::value* v = r.get(key);
    if (!v)
        return;
    if (!v->is_object()) {
        r.fail(key, "must be an object of strings");
        return;
    }
    out.clear();
    for (const auto& field : v->get_object()) {
        const std::string_view name = field.key();
        const auto path = r.at(key) + "." + std::string(name);
        if (!name_rule.ok(name)) {
            r.fail_at(path, std::string("the name ") + name_rule.reason);
            continue;
        }
        if (const auto s = check_text(r, path, field.value(), value_rule))
            out.emplace(std::string(name), std::string(*s));
    }
}

/// The object at `key`, or nullptr when absent or not an object (reported).
const json::object* read_object(object_reader& r, std::string_view key) {
    const json::value* v = r.get(key);
    if (!v)
        return nullptr;
    if (!v->is_object()) {
        r.fail(key, "must be an object");
        return nullptr;
    }
    return &v->get_object();
}
} // namespace spear::core::fields
