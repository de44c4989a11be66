// The parts of Go's time package that user JWT connect times depend on: time.LoadLocation
// (the system tz database, TZif files, with the POSIX rule in their footer for dates past the
// table), time.Local (from $TZ or /etc/localtime, as Go reads it), time.Date's conversion of a
// local wall clock to an instant (including its choice at DST gaps and overlaps), and
// time.Parse with the layout "15:04:05". GCC 12's libstdc++ has no std::chrono tz database,
// and POSIX TZ/localtime tricks mutate process state, so this is a port of Go's zoneinfo.go.
// Loading reads files (once per name; results are cached); lookups are pure.
#pragma once
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace osprey::server::auth {

class Location {
  public:
    struct Zone {
        int offset = 0;  // seconds east of UTC
        bool dst = false;
    };
    struct Transition {
        std::int64_t when;
        int zone;
    };
    struct Period {
        int offset;
        std::int64_t start, end;  // the instants [start, end) this offset holds for
    };

    std::string name;
    std::vector<Zone> zones;  // empty: UTC
    std::vector<Transition> tx;
    std::string extend;  // the TZif footer's POSIX TZ rule

    // Location.lookup: the offset in force at `unix_s`.
    Period lookup(std::int64_t unix_s) const;
    // time.Date(year, month, day, hour, min, sec, 0, loc).Unix(); month and day may overflow.
    std::int64_t date(std::int64_t year, int month, int day, int hour, int min, int sec) const;
    // The local calendar date of an instant.
    void civil(std::int64_t unix_s, std::int64_t& year, int& month, int& day) const;
};

// time.LoadLocation. Errors as Go words them: "unknown time zone X", "time: invalid location
// name", "malformed time zone information", or the file error ("is a directory").
std::expected<std::shared_ptr<const Location>, std::string> load_location(std::string_view name);
// time.Local and time.UTC.
std::shared_ptr<const Location> local_location();
std::shared_ptr<const Location> utc_location();
// Go's LoadLocationFromTZData (for tests with hand-made data).
std::expected<Location, std::string> location_from_tzdata(std::string name, std::string_view data);

struct ClockTime {
    int hour = 0, min = 0, sec = 0;
    int nsec = 0;
};
// time.Parse("15:04:05", s): the hour may have one digit, minutes and seconds need two, a
// fraction of a second (".5" or ",5") is accepted, nothing may follow.
std::optional<ClockTime> parse_clock(std::string_view s);

}  // namespace osprey::server::auth
