// Texts and number syntax as Go prints and parses them, for replies that must match
// nats-server byte for byte (it is written in Go).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace osprey::util {

// strconv.Atoi: optional sign, decimal digits, within int64; `out_of_range` tells the two
// failures apart (Go reports "value out of range" or "invalid syntax").
std::optional<std::int64_t> go_atoi(std::string_view s, bool& out_of_range);

// time.Duration's String(): "1s", "1.5s", "500ms", "1m30s", "2h0m0s".
std::string go_duration(std::int64_t ns);

}  // namespace osprey::util
