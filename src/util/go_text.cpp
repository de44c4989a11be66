#include "util/go_text.h"

#include <fmt/format.h>

namespace osprey::util {

std::optional<std::int64_t> go_atoi(std::string_view s, bool& out_of_range) {
    out_of_range = false;
    std::size_t i = 0;
    bool neg = false;
    if (!s.empty() && (s[0] == '+' || s[0] == '-')) neg = s[i++] == '-';
    if (i == s.size()) return std::nullopt;
    unsigned __int128 v = 0;
    for (; i < s.size(); ++i) {
        if (s[i] < '0' || s[i] > '9') return std::nullopt;
        v = v * 10 + unsigned(s[i] - '0');
        if (v > (unsigned __int128)(1) << 64) out_of_range = true;
    }
    const unsigned __int128 limit = neg ? (unsigned __int128)(1) << 63 : ((unsigned __int128)(1) << 63) - 1;
    if (out_of_range || v > limit) {
        out_of_range = true;
        return std::nullopt;
    }
    return neg ? -std::int64_t(v - 1) - 1 : std::int64_t(v);
}

std::string go_duration(std::int64_t ns) {
    if (ns == 0) return "0s";
    std::string sign = ns < 0 ? "-" : "";
    std::uint64_t u = ns < 0 ? std::uint64_t(-(ns + 1)) + 1 : std::uint64_t(ns);
    auto frac = [](std::uint64_t v, std::uint64_t unit) {
        std::string digits = fmt::format("{:0{}}", v % unit, std::to_string(unit).size() - 1);
        while (!digits.empty() && digits.back() == '0') digits.pop_back();
        return fmt::format("{}{}{}", v / unit, digits.empty() ? "" : ".", digits);
    };
    if (u < 1000) return sign + fmt::format("{}ns", u);
    if (u < 1000'000) return sign + frac(u, 1000) + "\u00b5s";
    if (u < 1000'000'000) return sign + frac(u, 1000'000) + "ms";
    const std::uint64_t h = u / 3600'000'000'000ULL, m = (u / 60'000'000'000ULL) % 60;
    const std::string secs = frac(u % 60'000'000'000ULL, 1000'000'000) + "s";
    if (h) return sign + fmt::format("{}h{}m", h, m) + secs;
    if (m) return sign + fmt::format("{}m", m) + secs;
    return sign + secs;
}

}  // namespace osprey::util
