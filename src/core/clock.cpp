// RFC 3339 formatting of wall-clock times.
#include "core/clock.hpp"

#include <cstdio>

namespace spear::core {

namespace {

char* put_digits(char* out, unsigned value, int width) {
    for (int i = width - 1; i >= 0; --i, value /= 10)
        out[i] = static_cast<char>('0' + value % 10);
    return out + width;
}

} // namespace

std::string format_rfc3339(wall_time t) {
    // Calendar arithmetic (no gmtime_r, whose time-zone lock and printf cost ~4 k instructions
    // a call: a status body has three times). Floors, so times before 1970 are right too.
    using namespace std::chrono;
    const auto ms = floor<milliseconds>(t);
    const auto day = floor<days>(ms);
    const year_month_day date{day};
    const hh_mm_ss time{ms - day};
    const int year = static_cast<int>(date.year());
    char buf[48];
    char* p = buf;
    if (year >= 0 && year <= 9999)
        p = put_digits(p, static_cast<unsigned>(year), 4);
    else
        p += std::snprintf(p, 16, "%d", year);
    *p++ = '-';
    p = put_digits(p, static_cast<unsigned>(date.month()), 2);
    *p++ = '-';
    p = put_digits(p, static_cast<unsigned>(date.day()), 2);
    *p++ = 'T';
    p = put_digits(p, static_cast<unsigned>(time.hours().count()), 2);
    *p++ = ':';
    p = put_digits(p, static_cast<unsigned>(time.minutes().count()), 2);
    *p++ = ':';
    p = put_digits(p, static_cast<unsigned>(time.seconds().count()), 2);
    *p++ = '.';
    p = put_digits(p, static_cast<unsigned>(time.subseconds().count()), 3);
    *p++ = 'Z';
    return std::string(buf, p);
}

} // namespace spear::core
