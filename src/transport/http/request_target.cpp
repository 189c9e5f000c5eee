// Request-target parsing with Boost.URL: segments and query parameters, decoded.
#include "transport/http/request_target.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <algorithm>

namespace spear::transport::http {

std::optional<std::string_view> request_target::param(std::string_view name) const {
    for (const auto& [key, value] : params)
        if (key == name)
            return std::string_view(value);
    return std::nullopt;
}

bool request_target::matches(std::initializer_list<std::string_view> expected) const {
    return segments.size() == expected.size() &&
           std::equal(expected.begin(), expected.end(), segments.begin(),
                      [](std::string_view want, const std::string& got) {
                          return want == "*" || want == got;
                      });
}

std::variant<request_target, core::error> parse_request_target(std::string_view text) {
    auto parsed = boost::urls::parse_origin_form(text);
    if (!parsed)
        return core::error::make(core::error_code::invalid_request,
                                 "the request target is not a valid path");
    request_target t;
    for (auto segment : parsed->segments())
        if (!segment.empty())
            t.segments.push_back(segment);
    for (auto p : parsed->params())
        t.params.emplace_back(p.key, p.has_value ? p.value : std::string());
    return t;
}

} // namespace spear::transport::http
