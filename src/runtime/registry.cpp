// The registry: dispatch of a function's runtime fields to its kind, the errors common to all
// kinds (unknown runtime, a field of another kind), and resolution into function_spec.
#include "runtime/registry.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>

namespace spear::runtime {

registry::registry(std::vector<runtime_kind> kinds)
    : kinds_(std::move(kinds)) {
    if (kinds_.empty())
        throw std::invalid_argument("runtime registry: no runtime kinds");
    std::set<std::string, std::less<>> names;
    for (const auto& k : kinds_) {
        if (!names.insert(k.name).second)
            throw std::invalid_argument("runtime registry: two kinds named '" + k.name + "'");
        if (!k.parse || !k.make)
            throw std::invalid_argument("runtime registry: kind '" + k.name +
                                        "' has no parse or no make");
        // Two kinds may share a field name (process and container both read "command"); one
        // kind lists each name once, and "runtime" belongs to the registry.
        std::set<std::string, std::less<>> fields;
        for (const auto& f : k.fields)
            if (f == "runtime" || !fields.insert(f).second)
                throw std::invalid_argument("runtime registry: field '" + f + "' of kind '" +
                                            k.name + "' is already taken");
    }
}

const runtime_kind* registry::find(std::string_view name) const noexcept {
    const auto it = std::find_if(kinds_.begin(), kinds_.end(),
                                 [name](const runtime_kind& k) { return k.name == name; });
    return it == kinds_.end() ? nullptr : &*it;
}

namespace {
bool lists(const runtime_kind& k, std::string_view field) {
    return std::find(k.fields.begin(), k.fields.end(), field) != k.fields.end();
}
} // namespace

const runtime_kind* registry::owner_of(std::string_view field) const noexcept {
    for (const auto& k : kinds_)
        if (lists(k, field))
            return &k;
    return nullptr;
}

/// "process" or "process and container": the kinds that list `field`.
std::string registry::owners_text(std::string_view field) const {
    std::vector<std::string_view> owners;
    for (const auto& k : kinds_)
        if (lists(k, field))
            owners.push_back(k.name);
    std::string text;
    for (std::size_t i = 0; i < owners.size(); ++i) {
        if (i > 0)
            text += i + 1 == owners.size() ? " and " : ", ";
        text += owners[i];
    }
    return text;
}

/// "process", "wasm" or "container"
std::string registry::names_text() const {
    std::string text;
    for (std::size_t i = 0; i < kinds_.size(); ++i) {
        if (i > 0)
            text += i + 1 == kinds_.size() ? " or " : ", ";
        text += "\"" + kinds_[i].name + "\"";
    }
    return text;
}

const runtime_kind* registry::kind_of(const core::function_config& f, const std::string& path,
                                      std::vector<core::config_error>* errors) const {
    const auto* v = f.runtime_fields.if_contains("runtime");
    if (!v)
        return &kinds_.front();
    if (v->is_string())
        if (const auto* k = find(v->get_string()))
            return k;
    if (errors)
        errors->push_back({path + ".runtime", "must be " + names_text()});
    return nullptr;
}

void registry::parse(core::function_config& f, const std::string& path,
                     std::vector<core::config_error>& errors) const {
    resolve(f, path, errors);
    if (const auto* kind = kind_of(f, path, nullptr))
        f.runtime = kind->name;
}

std::optional<function_spec> registry::resolve(const core::function_config& f,
                                               const std::string& path,
                                               std::vector<core::config_error>& errors) const {
    const auto errors_before = errors.size();
    const runtime_kind* kind = kind_of(f, path, &errors);

    // The kind reads its own fields and whatever no kind owns (reported unknown); a field of
    // another kind would silently do nothing, so it is reported (once, without its content
    // being checked). With an unknown runtime, only fields that no kind owns are reported.
    boost::json::object own;
    for (const auto& field : f.runtime_fields) {
        const std::string_view key = field.key();
        if (key == "runtime")
            continue;
        const runtime_kind* owner = owner_of(key);
        if (kind && owner && !lists(*kind, key))
            errors.push_back({core::fields::field_path(path, key),
                              "only for " + owners_text(key) +
                                  " functions (this one's runtime is " + kind->name + ")"});
        else if (kind)
            own.emplace(key, field.value());
        else if (!owner)
            errors.push_back({core::fields::field_path(path, key), "unknown field"});
    }
    if (!kind)
        return std::nullopt;

    core::fields::object_reader reader(own, path, errors);
    function_spec spec;
    spec.settings = kind->parse(reader);
    reader.finish();
    if (errors.size() != errors_before)
        return std::nullopt;
    spec.common = f;
    spec.common.runtime = kind->name;
    spec.kind = kind;
    return spec;
}

std::vector<function_spec> registry::resolve_all(const core::config& cfg) const {
    std::vector<function_spec> specs;
    specs.reserve(cfg.functions.size());
    for (std::size_t i = 0; i < cfg.functions.size(); ++i) {
        std::vector<core::config_error> errors;
        auto spec = resolve(cfg.functions[i], "functions[" + std::to_string(i) + "]", errors);
        if (!spec)
            throw std::invalid_argument("config not checked with this runtime registry: " +
                                        errors.front().to_string());
        specs.push_back(std::move(*spec));
    }
    return specs;
}

core::config_result parse_config(std::string_view json_text, const registry& runtimes) {
    return core::parse_config(json_text, runtimes);
}

} // namespace spear::runtime
