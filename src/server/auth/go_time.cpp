// A port of Go 1.19's time/zoneinfo.go, zoneinfo_read.go, zoneinfo_unix.go and the pieces of
// time.Date and time.Parse that connect-time checks use (see go_time.h).
#include "server/auth/go_time.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

namespace osprey::server::auth {

namespace {

constexpr std::int64_t kAlpha = INT64_MIN;
constexpr std::int64_t kOmega = INT64_MAX;
constexpr int kDay = 86400;

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, int m, int d) {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const std::int64_t yoe = y - era * 400;
    const std::int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t& y, int& m, int& d) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const std::int64_t doe = z - era * 146097;
    const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const std::int64_t mp = (5 * doy + 2) / 153;
    d = int(doy - (153 * mp + 2) / 5 + 1);
    m = int(mp < 10 ? mp + 3 : mp - 9);
    y = yoe + era * 400 + (m <= 2);
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

bool is_leap(std::int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

constexpr int kDaysBefore[13] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365};

int days_in(int month, std::int64_t year) {
    if (month == 2 && is_leap(year)) return 29;
    return kDaysBefore[month] - kDaysBefore[month - 1];
}

// ---- the POSIX TZ rule (tzset) ----

struct Rule {
    enum Kind { Julian, DayOfYear, MonthWeekDay } kind = Julian;
    int day = 0, week = 0, mon = 0;
    int time = 0;  // seconds after local midnight
};

bool tz_name(std::string_view& s, std::string& name) {
    if (s.empty()) return false;
    if (s[0] != '<') {
        for (std::size_t i = 0; i < s.size(); ++i) {
            const char c = s[i];
            if ((c >= '0' && c <= '9') || c == ',' || c == '-' || c == '+') {
                if (i < 3) return false;
                name = std::string(s.substr(0, i));
                s.remove_prefix(i);
                return true;
            }
        }
        if (s.size() < 3) return false;
        name = std::string(s);
        s = {};
        return true;
    }
    const std::size_t close = s.find('>');
    if (close == std::string_view::npos) return false;
    name = std::string(s.substr(1, close - 1));
    s.remove_prefix(close + 1);
    return true;
}

bool tz_num(std::string_view& s, int min, int max, int& out) {
    if (s.empty()) return false;
    int num = 0;
    std::size_t i = 0;
    for (; i < s.size(); ++i) {
        const char c = s[i];
        if (c < '0' || c > '9') {
            if (i == 0 || num < min) return false;
            out = num;
            s.remove_prefix(i);
            return true;
        }
        num = num * 10 + (c - '0');
        if (num > max) return false;
    }
    if (num < min) return false;
    out = num;
    s = {};
    return true;
}

bool tz_offset(std::string_view& s, int& out) {
    if (s.empty()) return false;
    bool neg = false;
    if (s[0] == '+') {
        s.remove_prefix(1);
    } else if (s[0] == '-') {
        s.remove_prefix(1);
        neg = true;
    }
    int hours = 0;
    if (!tz_num(s, 0, 24 * 7, hours)) return false;
    int off = hours * 3600;
    if (!s.empty() && s[0] == ':') {
        s.remove_prefix(1);
        int mins = 0;
        if (!tz_num(s, 0, 59, mins)) return false;
        off += mins * 60;
        if (!s.empty() && s[0] == ':') {
            s.remove_prefix(1);
            int secs = 0;
            if (!tz_num(s, 0, 59, secs)) return false;
            off += secs;
        }
    }
    out = neg ? -off : off;
    return true;
}

bool tz_rule(std::string_view& s, Rule& r) {
    if (s.empty()) return false;
    if (s[0] == 'J') {
        s.remove_prefix(1);
        if (!tz_num(s, 1, 365, r.day)) return false;
        r.kind = Rule::Julian;
    } else if (s[0] == 'M') {
        s.remove_prefix(1);
        if (!tz_num(s, 1, 12, r.mon) || s.empty() || s[0] != '.') return false;
        s.remove_prefix(1);
        if (!tz_num(s, 1, 5, r.week) || s.empty() || s[0] != '.') return false;
        s.remove_prefix(1);
        if (!tz_num(s, 0, 6, r.day)) return false;
        r.kind = Rule::MonthWeekDay;
    } else {
        if (!tz_num(s, 0, 365, r.day)) return false;
        r.kind = Rule::DayOfYear;
    }
    if (s.empty() || s[0] != '/') {
        r.time = 2 * 3600;
        return true;
    }
    s.remove_prefix(1);
    return tz_offset(s, r.time);
}

// Seconds after the start of `year` (UTC) at which the rule fires, for local offset `off`.
std::int64_t tz_rule_time(std::int64_t year, const Rule& r, int off) {
    std::int64_t s = 0;
    switch (r.kind) {
        case Rule::Julian:
            s = std::int64_t(r.day - 1) * kDay;
            if (is_leap(year) && r.day >= 60) s += kDay;
            break;
        case Rule::DayOfYear:
            s = std::int64_t(r.day) * kDay;
            break;
        case Rule::MonthWeekDay: {
            // Zeller's congruence, as Go computes it.
            const int m1 = (r.mon + 9) % 12 + 1;
            std::int64_t yy0 = year;
            if (r.mon <= 2) --yy0;
            const std::int64_t yy1 = yy0 / 100, yy2 = yy0 % 100;
            std::int64_t dow = ((26 * m1 - 2) / 10 + 1 + yy2 + yy2 / 4 + yy1 / 4 - 2 * yy1) % 7;
            if (dow < 0) dow += 7;
            std::int64_t d = r.day - dow;
            if (d < 0) d += 7;
            for (int i = 1; i < r.week; ++i) {
                if (d + 7 >= days_in(r.mon, year)) break;
                d += 7;
            }
            d += kDaysBefore[r.mon - 1];
            if (is_leap(year) && r.mon > 2) ++d;
            s = d * kDay;
            break;
        }
    }
    return s + r.time - off;
}

std::optional<Location::Period> tzset(std::string_view s, std::int64_t last_tx, std::int64_t sec) {
    std::string std_name, dst_name;
    int std_offset = 0, dst_offset = 0;
    if (!tz_name(s, std_name) || !tz_offset(s, std_offset)) return std::nullopt;
    std_offset = -std_offset;  // TZ offsets are west of UTC
    if (s.empty() || s[0] == ',') return Location::Period{std_offset, last_tx, kOmega};
    if (!tz_name(s, dst_name)) return std::nullopt;
    if (s.empty() || s[0] == ',') {
        dst_offset = std_offset + 3600;
    } else {
        if (!tz_offset(s, dst_offset)) return std::nullopt;
        dst_offset = -dst_offset;
    }
    std::string rules = s.empty() ? std::string(",M3.2.0,M11.1.0") : std::string(s);
    std::string_view r = rules;
    if (r[0] != ',' && r[0] != ';') return std::nullopt;
    r.remove_prefix(1);
    Rule start_rule, end_rule;
    if (!tz_rule(r, start_rule) || r.empty() || r[0] != ',') return std::nullopt;
    r.remove_prefix(1);
    if (!tz_rule(r, end_rule) || !r.empty()) return std::nullopt;

    std::int64_t year = 0;
    int mon = 0, day = 0;
    civil_from_days(floor_div(sec, kDay), year, mon, day);
    const std::int64_t yday = days_from_civil(year, mon, day) - days_from_civil(year, 1, 1);
    const std::int64_t ysec = yday * kDay + sec % kDay;
    const std::int64_t abs = days_from_civil(year, 1, 1) * kDay;
    std::int64_t start_sec = tz_rule_time(year, start_rule, std_offset);
    std::int64_t end_sec = tz_rule_time(year, end_rule, dst_offset);
    if (end_sec < start_sec) {  // southern hemisphere: the labels flip
        std::swap(start_sec, end_sec);
        std::swap(std_offset, dst_offset);
    }
    if (ysec < start_sec) return Location::Period{std_offset, abs, start_sec + abs};
    if (ysec >= end_sec)
        return Location::Period{std_offset, end_sec + abs, abs + 365 * std::int64_t(kDay)};
    return Location::Period{dst_offset, start_sec + abs, end_sec + abs};
}

// ---- reading zone files ----

const std::string kBadData = "malformed time zone information";

struct Reader {
    std::string_view d;
    bool error = false;
    std::string_view read(std::size_t n) {
        if (d.size() < n) {
            d = {};
            error = true;
            return {};
        }
        auto p = d.substr(0, n);
        d.remove_prefix(n);
        return p;
    }
    std::optional<std::uint64_t> big(std::size_t n) {
        auto p = read(n);
        if (p.size() < n) return std::nullopt;
        std::uint64_t v = 0;
        for (char c : p) v = v << 8 | static_cast<unsigned char>(c);
        return v;
    }
};

// readFile: the errno text of a failure (Go's syscall.Errno strings), ENOENT told apart.
std::expected<std::string, std::pair<int, std::string>> read_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::unexpected(std::pair{errno, std::string(std::strerror(errno))});
    std::string data;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            const int e = errno;
            ::close(fd);
            std::string text = std::strerror(e);
            if (!text.empty()) text[0] = char(std::tolower(static_cast<unsigned char>(text[0])));
            return std::unexpected(std::pair{e, text});
        }
        if (n == 0) break;
        data.append(buf, std::size_t(n));
        if (data.size() > 10 << 20) {
            ::close(fd);
            return std::unexpected(std::pair{EFBIG, "file " + path + " is too large"});
        }
    }
    ::close(fd);
    return data;
}

// loadLocation(name, sources): the first source holding a good file wins; the error is the
// first failure other than "no such file", else "unknown time zone".
std::expected<Location, std::string> load_from(const std::string& name,
                                               const std::vector<std::string>& sources) {
    std::optional<std::string> first_err;
    for (const auto& source : sources) {
        const std::string path = source.empty() ? name : source + "/" + name;
        auto data = read_file(path);
        if (data) {
            auto loc = location_from_tzdata(name, *data);
            if (loc) return loc;
            if (!first_err) first_err = loc.error();
            continue;
        }
        if (!first_err && data.error().first != ENOENT) {
            // Go's Errno texts are lower case ("is a directory", "permission denied").
            std::string text = data.error().second;
            if (!text.empty()) text[0] = char(std::tolower(static_cast<unsigned char>(text[0])));
            first_err = text;
        }
    }
    if (first_err) return std::unexpected(*first_err);
    return std::unexpected("unknown time zone " + name);
}

const std::vector<std::string> kPlatformSources = {
    "/usr/share/zoneinfo/", "/usr/share/lib/zoneinfo/", "/usr/lib/locale/TZ/"};

std::shared_ptr<const Location> make_local() {
    auto loc = std::make_shared<Location>();
    const char* tz = std::getenv("TZ");
    if (!tz) {
        if (auto z = load_from("localtime", {"/etc"})) {
            *loc = std::move(*z);
            loc->name = "Local";
            return loc;
        }
    } else if (*tz) {
        std::string t = tz;
        if (t[0] == ':') t.erase(0, 1);
        if (!t.empty() && t[0] == '/') {
            if (auto z = load_from(t, {""})) {
                *loc = std::move(*z);
                loc->name = t == "/etc/localtime" ? "Local" : t;
                return loc;
            }
        } else if (!t.empty() && t != "UTC") {
            if (auto z = load_from(t, kPlatformSources)) {
                *loc = std::move(*z);
                return loc;
            }
        }
    }
    loc->name = "UTC";
    return loc;
}

}  // namespace

std::expected<Location, std::string> location_from_tzdata(std::string name, std::string_view data) {
    Reader d{data};
    if (d.read(4) != "TZif") return std::unexpected(kBadData);
    auto p = d.read(16);
    if (p.size() != 16) return std::unexpected(kBadData);
    int version = 0;
    switch (p[0]) {
        case 0:
            version = 1;
            break;
        case '2':
            version = 2;
            break;
        case '3':
            version = 3;
            break;
        default:
            return std::unexpected(kBadData);
    }
    enum { NUTCLocal, NStdWall, NLeap, NTime, NZone, NChar };
    std::uint64_t n[6];
    auto counts = [&]() {
        for (auto& c : n) {
            auto v = d.big(4);
            if (!v) return false;
            c = *v;
        }
        return true;
    };
    if (!counts()) return std::unexpected(kBadData);
    std::size_t size = 4;
    if (version > 1) {
        // Skip the 32-bit data and the second header; read the 64-bit data.
        d.read(n[NTime] * 4 + n[NTime] + n[NZone] * 6 + n[NChar] + n[NLeap] * 8 + n[NStdWall] +
               n[NUTCLocal] + 20);
        if (!counts()) return std::unexpected(kBadData);
        size = 8;
    }
    Reader times{d.read(n[NTime] * size)};
    const std::string_view tx_zones = d.read(n[NTime]);
    Reader zone_data{d.read(n[NZone] * 6)};
    const std::string_view abbrev = d.read(n[NChar]);
    d.read(n[NLeap] * (size + 4));
    d.read(n[NStdWall]);
    d.read(n[NUTCLocal]);
    if (d.error) return std::unexpected(kBadData);
    Location loc;
    loc.name = std::move(name);
    if (d.d.size() > 2 && d.d.front() == '\n' && d.d.back() == '\n')
        loc.extend = std::string(d.d.substr(1, d.d.size() - 2));
    if (n[NZone] == 0) return std::unexpected(kBadData);
    for (std::uint64_t i = 0; i < n[NZone]; ++i) {
        auto off = zone_data.big(4);
        auto dst = zone_data.big(1);
        auto idx = zone_data.big(1);
        if (!off || !dst || !idx || *idx >= abbrev.size()) return std::unexpected(kBadData);
        loc.zones.push_back({int(std::int32_t(std::uint32_t(*off))), *dst != 0});
    }
    for (std::uint64_t i = 0; i < n[NTime]; ++i) {
        auto w = times.big(size);
        if (!w) return std::unexpected(kBadData);
        const std::int64_t when =
            size == 4 ? std::int64_t(std::int32_t(std::uint32_t(*w))) : std::int64_t(*w);
        const int zi = static_cast<unsigned char>(tx_zones[i]);
        if (std::size_t(zi) >= loc.zones.size()) return std::unexpected(kBadData);
        loc.tx.push_back({when, zi});
    }
    if (loc.tx.empty()) loc.tx.push_back({kAlpha, 0});  // a fixed zone, such as Etc/GMT+5
    return loc;
}

Location::Period Location::lookup(std::int64_t sec) const {
    if (zones.empty()) return {0, kAlpha, kOmega};
    if (tx.empty() || sec < tx[0].when) {
        // lookupFirstZone: the zone before any transition.
        std::size_t zi = 0;
        bool used = false;
        for (const auto& t : tx) used |= t.zone == 0;
        if (used) {
            bool found = false;
            if (!tx.empty() && zones[std::size_t(tx[0].zone)].dst) {
                for (int z = tx[0].zone - 1; z >= 0; --z)
                    if (!zones[std::size_t(z)].dst) {
                        zi = std::size_t(z);
                        found = true;
                        break;
                    }
            }
            if (!found) {
                for (std::size_t z = 0; z < zones.size(); ++z)
                    if (!zones[z].dst) {
                        zi = z;
                        break;
                    }
            }
        }
        return {zones[zi].offset, kAlpha, tx.empty() ? kOmega : tx[0].when};
    }
    std::int64_t end = kOmega;
    std::size_t lo = 0, hi = tx.size();
    while (hi - lo > 1) {
        const std::size_t m = lo + (hi - lo) / 2;
        if (sec < tx[m].when) {
            end = tx[m].when;
            hi = m;
        } else {
            lo = m;
        }
    }
    Period p{zones[std::size_t(tx[lo].zone)].offset, tx[lo].when, end};
    if (lo == tx.size() - 1 && !extend.empty())
        if (auto e = tzset(extend, p.start, sec)) return *e;
    return p;
}

std::int64_t Location::date(std::int64_t year, int month, int day, int hour, int min,
                            int sec) const {
    // Normalize the month into the year; days and times overflow through the arithmetic.
    std::int64_t m = month - 1;
    year += floor_div(m, 12);
    m -= floor_div(m, 12) * 12;
    std::int64_t secs = (days_from_civil(year, int(m) + 1, 1) + day - 1) * kDay +
                        std::int64_t(hour) * 3600 + std::int64_t(min) * 60 + sec;
    const Period p = lookup(secs);
    int offset = p.offset;
    if (offset != 0) {
        const std::int64_t utc = secs - offset;
        if (utc < p.start || utc >= p.end) offset = lookup(utc).offset;
        secs -= offset;
    }
    return secs;
}

void Location::civil(std::int64_t unix_s, std::int64_t& year, int& month, int& day) const {
    civil_from_days(floor_div(unix_s + lookup(unix_s).offset, kDay), year, month, day);
}

std::shared_ptr<const Location> utc_location() {
    static const auto utc = [] {
        auto l = std::make_shared<Location>();
        l->name = "UTC";
        return std::shared_ptr<const Location>(l);
    }();
    return utc;
}

std::shared_ptr<const Location> local_location() {
    // Go reads $TZ once, when the process starts; so do we (on first use).
    static const std::shared_ptr<const Location> local = make_local();
    return local;
}

std::expected<std::shared_ptr<const Location>, std::string> load_location(
    std::string_view name_view) {
    const std::string name(name_view);
    if (name.empty() || name == "UTC") return utc_location();
    if (name == "Local") return local_location();
    if (name.find("..") != std::string::npos || name[0] == '/' || name[0] == '\\')
        return std::unexpected(std::string("time: invalid location name"));
    static std::mutex mu;
    static std::map<std::string, std::expected<std::shared_ptr<const Location>, std::string>> cache;
    std::lock_guard lock(mu);
    if (auto it = cache.find(name); it != cache.end()) return it->second;
    std::vector<std::string> sources;
    if (const char* zi = std::getenv("ZONEINFO"); zi && *zi)
        sources.push_back(zi);  // a directory (zip unsupported)
    sources.insert(sources.end(), kPlatformSources.begin(), kPlatformSources.end());
    auto loc = load_from(name, sources);
    std::expected<std::shared_ptr<const Location>, std::string> result =
        loc ? std::expected<std::shared_ptr<const Location>, std::string>(
                  std::make_shared<Location>(std::move(*loc)))
            : std::unexpected(loc.error());
    cache.emplace(name, result);
    return result;
}

std::optional<ClockTime> parse_clock(std::string_view s) {
    auto digit = [&](std::size_t i) { return i < s.size() && s[i] >= '0' && s[i] <= '9'; };
    ClockTime t;
    // "15": one or two digits.
    if (!digit(0)) return std::nullopt;
    std::size_t i = 1;
    t.hour = s[0] - '0';
    if (digit(1)) {
        t.hour = t.hour * 10 + (s[1] - '0');
        i = 2;
    }
    if (t.hour >= 24) return std::nullopt;
    // ":04" and ":05": exactly two digits each.
    auto two = [&](int& out) {
        if (i >= s.size() || s[i] != ':' || !digit(i + 1) || !digit(i + 2)) return false;
        out = (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
        i += 3;
        return out < 60;
    };
    if (!two(t.min) || !two(t.sec)) return std::nullopt;
    // A fraction the layout does not name is still taken (Go 1.17+: '.' or ',').
    if (i + 1 < s.size() && (s[i] == '.' || s[i] == ',') && digit(i + 1)) {
        std::size_t n = i + 1;
        while (digit(n)) ++n;
        const std::size_t used =
            std::min<std::size_t>(n - i, 10);  // the separator and up to 9 digits
        int ns = 0;
        for (std::size_t k = i + 1; k < i + used; ++k) ns = ns * 10 + (s[k] - '0');
        for (std::size_t k = used; k < 10; ++k) ns *= 10;
        t.nsec = ns;
        i = n;
    }
    if (i != s.size()) return std::nullopt;
    return t;
}

}  // namespace osprey::server::auth
