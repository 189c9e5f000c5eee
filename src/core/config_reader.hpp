// Reading one JSON config object field by field, with errors that name the field path: the
// helpers core's config parser and every runtime kind's parser (runtime/registry) share, so a
// runtime's fields are reported exactly like the common ones.
#pragma once

#include "core/config.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace spear::core::fields {

namespace json = boost::json;
using error_list = std::vector<config_error>;

inline constexpr std::uint64_t u16_max = std::numeric_limits<std::uint16_t>::max();
inline constexpr std::uint64_t u32_max = std::numeric_limits<std::uint32_t>::max();
inline constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();
/// Byte sizes and counts without a ceiling in limits.hpp are still kept within 32 bits: they
/// feed 32-bit APIs (Beast's header limit) and anything larger is a typo on a gateway.
inline constexpr std::uint64_t size_max = u32_max;

// --- Text rules ---------------------------------------------------------------------------

bool no_nul(std::string_view s);
bool non_empty(std::string_view s);
bool printable(std::string_view s);

struct text_rule {
    bool (*ok)(std::string_view);
    const char* reason; ///< reported for a wrong type as well as for bad content
};

inline constexpr text_rule any_text{no_nul, "must be a string without NUL characters"};
inline constexpr text_rule non_empty_text{non_empty, "must be a non-empty string"};

// --- Reading ------------------------------------------------------------------------------

/// `prefix.key`, or `key` at the top level. A key that is not a plain name (empty, or with
/// characters other than [A-Za-z0-9_-] and the brackets of an element, "tokens[2]") is
/// written as a JSON string, so the path still says
/// which field: `functions[0].""`, `http."a.b"`.
std::string field_path(std::string_view prefix, std::string_view key);

/// One JSON object being read: hands out fields by name, remembers which names exist, and
/// reports every other field as unknown when finished (or hands them on: rest()).
class object_reader {
public:
    object_reader(const json::object& object, std::string path, error_list& errors)
        : object_(object)
        , path_(std::move(path))
        , errors_(errors) {}

    /// The field's value, or nullptr when absent; either way `key` becomes a known name.
    const json::value* get(std::string_view key) {
        known_.push_back(key);
        return object_.if_contains(key);
    }
    bool has(std::string_view key) const { return object_.contains(key); }
    std::string at(std::string_view key) const { return field_path(path_, key); }
    const std::string& path() const noexcept { return path_; }
    void fail(std::string_view key, std::string reason) { fail_at(at(key), std::move(reason)); }
    void fail_at(std::string path, std::string reason) {
        errors_.push_back({std::move(path), std::move(reason)});
    }
    error_list& errors() { return errors_; }

    /// Reports every field that was never asked for as "unknown field".
    void finish();
    /// The fields never asked for, as written (for a later reader: see function_fields_parser).
    json::object rest() const;

private:
    bool known(std::string_view key) const;

    const json::object& object_;
    std::string path_;
    error_list& errors_;
    std::vector<std::string_view> known_;
};

std::string range_reason(std::uint64_t lo, std::uint64_t hi, std::string_view hint = {});
std::optional<std::uint64_t> as_unsigned(const json::value& v);

/// Reads an integer field into `out` when it is in lo..hi; a 0 where 0 is not allowed says
/// "must be > 0" first, since that is the usual mistake.
template <class T>
void read_int(object_reader& r, std::string_view key, T& out, std::uint64_t lo, std::uint64_t hi,
              std::string_view hint = {}) {
    static_assert(std::is_unsigned_v<T>);
    const json::value* v = r.get(key);
    if (!v)
        return;
    const auto n = as_unsigned(*v);
    if (n && *n >= lo && *n <= hi && *n <= std::numeric_limits<T>::max()) {
        out = static_cast<T>(*n);
        return;
    }
    if (n && *n == 0 && lo == 1)
        r.fail(key, "must be > 0 (an integer in 1.." + std::to_string(hi) +
                        (hint.empty() ? std::string() : ", " + std::string(hint)) + ")");
    else
        r.fail(key, range_reason(lo, hi, hint));
}

void read_bool(object_reader& r, std::string_view key, bool& out);
/// Checks a string value against a rule; reports at `path` and returns nullopt when it fails.
std::optional<std::string_view> check_text(object_reader& r, const std::string& path,
                                           const json::value& v, const text_rule& rule);
/// Reads a string field; true when present and valid.
bool read_text(object_reader& r, std::string_view key, std::string& out, const text_rule& rule);
/// Reads an array of strings; each bad element is reported at `key[i]`.
void read_text_list(object_reader& r, std::string_view key, std::vector<std::string>& out,
                    const text_rule& rule);
/// Reads an object of strings; a bad name or value is reported at `key.NAME`.
void read_text_map(object_reader& r, std::string_view key, std::map<std::string, std::string>& out,
                   const text_rule& name_rule, const text_rule& value_rule);
/// The object at `key`, or nullptr when absent or not an object (reported).
const json::object* read_object(object_reader& r, std::string_view key);

} // namespace spear::core::fields
