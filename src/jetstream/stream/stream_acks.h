// Publish acknowledgements as nats-server words them, shared by the stream's direct and
// replicated paths. Internal to jetstream/.
#pragma once
#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "jetstream/api/api_error.h"

namespace osprey::jetstream {

inline std::string error_ack(const ApiError& e, const std::string& stream) {
    return fmt::format(
        "{{\"error\":{{\"code\":{},\"err_code\":{},\"description\":{}}},\"stream\":{},\"seq\":0}}",
        e.code, e.err_code, boost::json::serialize(boost::json::value(e.description)),
        boost::json::serialize(boost::json::value(stream)));
}

inline std::string ok_ack(const std::string& prefix, std::uint64_t seq, bool duplicate) {
    // nats-server's exact shape, spaces included.
    return fmt::format("{}{}{}}}", prefix, seq, duplicate ? ",\"duplicate\": true" : "");
}

// The same into a caller's buffer: the hot path of acknowledgements allocates nothing.
inline std::string_view ok_ack_into(char* buf, std::size_t cap, const std::string& prefix,
                             std::uint64_t seq) {
    auto r = fmt::format_to_n(buf, cap, "{}{}}}", prefix, seq);
    return std::string_view(buf, std::min<std::size_t>(r.size, cap));
}

inline std::optional<std::uint64_t> parse_u64(std::string_view s) {
    if (s.empty()) return std::nullopt;
    std::uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + std::uint64_t(c - '0');
    }
    return v;
}


}  // namespace osprey::jetstream
