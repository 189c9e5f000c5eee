// run_environment: the layered environment of an execution.
#include "runtime/run_environment.hpp"

namespace spear::runtime {

namespace {

bool valid_env_entry(const std::string& key, const std::string& value) {
    return !key.empty() && key.find('=') == std::string::npos &&
           key.find('\0') == std::string::npos && value.find('\0') == std::string::npos;
}

} // namespace

std::vector<std::string> run_environment(const run_request& request,
                                         const std::map<std::string, std::string>& base) {
    std::map<std::string, std::string> env = base;
    env["SPEAR_EXECUTION_ID"] = request.execution_id;
    env["SPEAR_FUNCTION_NAME"] = request.function->common.name;
    for (const auto& [key, value] : request.function->common.env)
        env[key] = value;
    for (const auto& [key, value] : request.request_env)
        env[key] = value;
    std::vector<std::string> entries;
    entries.reserve(env.size());
    for (const auto& [key, value] : env)
        if (valid_env_entry(key, value))
            entries.push_back(key + "=" + value);
    return entries;
}

} // namespace spear::runtime
