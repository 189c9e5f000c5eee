// The runtime registry: each runtime kind owns the parsing and validation of its config fields,
// its --check-config check, its GET /functions fields and the making of its runtime. The
// service, the command line and the JSON codec reach runtimes only through it.
#pragma once

#include "core/config.hpp"
#include "core/config_reader.hpp"
#include "runtime/function_spec.hpp"
#include "runtime/runtime.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/json/object.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spear::runtime {

/// One runtime kind. parse and make are required; check and describe may be empty.
struct runtime_kind {
    std::string name; ///< the value of a function's "runtime" field
    /// Its own config fields: a function of a kind that does not list one gets "only for NAME
    /// functions"; kinds may share a name (process and container both read "command").
    std::vector<std::string> fields;
    /// Reads a function's own fields (every field that is neither common nor another kind's)
    /// and reports errors through `r` (paths "functions[2].module"); the registry reports the
    /// fields it did not ask for as unknown afterwards.
    std::function<function_settings(core::fields::object_reader& r)> parse;
    /// --check-config: what a start would find wrong beyond the config text (the wasm kind
    /// reads and validates the module). `path` is the function's ("functions[2]").
    std::function<std::optional<core::config_error>(const function_spec&, const std::string& path)>
        check;
    /// Its fields in GET /functions ("runtime_config"): nothing a client should not see (no
    /// host paths, no argv).
    std::function<boost::json::object(const function_spec&)> describe;
    /// One runtime that runs every function of this kind.
    std::function<std::unique_ptr<runtime>(const boost::asio::any_io_executor&)> make;
    /// Optional, for --check-config, after `check`: what the host lacks for this kind's
    /// functions among `functions` (all of the config's, in order; paths "functions[i].x").
    /// The container kind asks its engine for each image (an engine that does not answer is
    /// logged, not an error: it may be started later). May block: nothing else runs then.
    std::function<std::vector<core::config_error>(const core::config&,
                                                  const std::vector<function_spec>&)>
        check_host{};
};

class registry final : public core::function_fields_parser {
public:
    /// Throws std::invalid_argument for an empty list, a duplicate name, a field listed twice
    /// by one kind, or a kind without parse or make. The first kind is the default runtime.
    explicit registry(std::vector<runtime_kind> kinds);
    registry(const registry&) = delete; // function_spec::kind points into it
    registry& operator=(const registry&) = delete;

    const std::vector<runtime_kind>& kinds() const noexcept { return kinds_; }
    /// The kind named `name`, or nullptr.
    const runtime_kind* find(std::string_view name) const noexcept;

    /// core::function_fields_parser: checks a function's runtime fields (errors as resolve()
    /// reports them) and names its runtime in f.runtime.
    void parse(core::function_config& f, const std::string& path,
               std::vector<core::config_error>& errors) const override;
    /// The typed spec of a function, or nullopt with errors appended (paths under `path`).
    std::optional<function_spec> resolve(const core::function_config& f, const std::string& path,
                                         std::vector<core::config_error>& errors) const;
    /// Every function of a config that parsed with this registry, in config order. Throws
    /// std::invalid_argument naming the first error otherwise.
    std::vector<function_spec> resolve_all(const core::config& cfg) const;

private:
    const runtime_kind* kind_of(const core::function_config& f, const std::string& path,
                                std::vector<core::config_error>* errors) const;
    const runtime_kind* owner_of(std::string_view field) const noexcept;
    std::string owners_text(std::string_view field) const;
    std::string names_text() const;

    std::vector<runtime_kind> kinds_;
};

/// The registry of registered_runtimes (registered_runtimes.hpp).
const registry& builtin_registry();

/// core::parse_config with `runtimes` reading every function's runtime fields.
core::config_result parse_config(std::string_view json_text,
                                 const registry& runtimes = builtin_registry());

} // namespace spear::runtime
