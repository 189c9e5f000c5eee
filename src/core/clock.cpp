// RFC 3339 formatting of wall-clock times.
#include "core/clock.hpp"

#include <cstdio>
#include <ctime>

namespace spear::core {

std::string format_rfc3339(wall_time t) {
    const auto ms_total =
        std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    const std::time_t secs = static_cast<std::time_t>(ms_total / 1000);
    const int ms = static_cast<int>(ms_total % 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64]; // generous: snprintf cannot prove the year fits 4 digits
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    return buf;
}

} // namespace spear::core
