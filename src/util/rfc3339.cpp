#include "util/rfc3339.h"

#include <ctime>

#include <fmt/format.h>

namespace osprey::util {

namespace {
bool digits(std::string_view s, std::size_t at, std::size_t n, int& out) {
    if (at + n > s.size()) return false;
    out = 0;
    for (std::size_t i = at; i < at + n; ++i) {
        if (s[i] < '0' || s[i] > '9') return false;
        out = out * 10 + (s[i] - '0');
    }
    return true;
}

// Days from 1970-01-01 to y-m-d (proleptic Gregorian), without the C library's time zone.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = unsigned(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + std::int64_t(doe) - 719468;
}
}  // namespace

std::optional<Rfc3339> parse_rfc3339(std::string_view s) {
    int Y, M, D, h, m, sec;
    if (!digits(s, 0, 4, Y) || s.size() < 19 || s[4] != '-' || !digits(s, 5, 2, M) || s[7] != '-' ||
        !digits(s, 8, 2, D) || (s[10] != 'T' && s[10] != 't') || !digits(s, 11, 2, h) || s[13] != ':' ||
        !digits(s, 14, 2, m) || s[16] != ':' || !digits(s, 17, 2, sec))
        return std::nullopt;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 59) return std::nullopt;
    std::size_t i = 19;
    std::int64_t frac = 0;
    if (i < s.size() && s[i] == '.') {
        ++i;
        int n = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            if (n < 9) frac = frac * 10 + (s[i] - '0'), ++n;
            ++i;
        }
        if (n == 0) return std::nullopt;
        for (; n < 9; ++n) frac *= 10;
    }
    Rfc3339 t;
    if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
        ++i;
    } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
        int oh, om;
        if (!digits(s, i + 1, 2, oh) || i + 3 >= s.size() || s[i + 3] != ':' || !digits(s, i + 4, 2, om))
            return std::nullopt;
        t.offset_minutes = (s[i] == '-' ? -1 : 1) * (oh * 60 + om);
        i += 6;
    } else {
        return std::nullopt;
    }
    if (i != s.size()) return std::nullopt;
    const std::int64_t secs = days_from_civil(Y, unsigned(M), unsigned(D)) * 86400 + h * 3600 + m * 60 + sec -
                              std::int64_t(t.offset_minutes) * 60;
    t.unix_ns = secs * 1'000'000'000 + frac;
    return t;
}

std::string format_rfc3339_nano(const Rfc3339& t) {
    const std::int64_t local_ns = t.unix_ns + std::int64_t(t.offset_minutes) * 60 * 1'000'000'000;
    std::int64_t secs = local_ns / 1'000'000'000;
    std::int64_t frac = local_ns % 1'000'000'000;
    if (frac < 0) frac += 1'000'000'000, --secs;
    time_t tt = time_t(secs);
    tm u;
    gmtime_r(&tt, &u);
    std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", u.tm_year + 1900, u.tm_mon + 1,
                                  u.tm_mday, u.tm_hour, u.tm_min, u.tm_sec);
    if (frac) {
        std::string f = fmt::format("{:09}", frac);
        while (!f.empty() && f.back() == '0') f.pop_back();
        out += "." + f;
    }
    if (t.offset_minutes == 0) {  // Go's "Z07:00": a zero offset prints as Z
        out += "Z";
    } else {
        const int off = t.offset_minutes < 0 ? -t.offset_minutes : t.offset_minutes;
        out += fmt::format("{}{:02}:{:02}", t.offset_minutes < 0 ? '-' : '+', off / 60, off % 60);
    }
    return out;
}

}  // namespace osprey::util
