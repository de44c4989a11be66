// RFC 3339 times as the NATS APIs carry them (Go's time.Time in JSON): parsing any offset and
// fraction, and Go's RFC3339Nano output (trailing zeros of the fraction dropped).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace osprey::util {

struct Rfc3339 {
    std::int64_t unix_ns = 0;
    int offset_minutes = 0;  // east of UTC; 0 with "Z" (and printed as "Z", as Go does)
};

// "2006-01-02T15:04:05[.999999999](Z|+07:00|-07:00)"; nullopt when malformed.
std::optional<Rfc3339> parse_rfc3339(std::string_view s);
// Go's RFC3339Nano in the given zone: "2006-01-02T15:04:05.5Z", "...05+01:00".
std::string format_rfc3339_nano(const Rfc3339& t);

}  // namespace osprey::util
