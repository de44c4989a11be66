// The MSG/HMSG encoder: appends a delivery to an output buffer. Pure.
#pragma once
#include <charconv>
#include <string>
#include <string_view>

namespace osprey::protocol {

inline void append_number(std::string& out, std::size_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    (void)ec;
    out.append(buf, end);
}

// "MSG <subject> <sid> [reply] <size>\r\n<payload>\r\n", or HMSG when headers are present.
inline void append_msg(std::string& out, std::string_view subject, std::string_view sid,
                       std::string_view reply, std::string_view headers,
                       std::string_view payload) {
    out.append(headers.empty() ? "MSG " : "HMSG ");
    out.append(subject);
    out.push_back(' ');
    out.append(sid);
    out.push_back(' ');
    if (!reply.empty()) {
        out.append(reply);
        out.push_back(' ');
    }
    if (!headers.empty()) {
        append_number(out, headers.size());
        out.push_back(' ');
    }
    append_number(out, headers.size() + payload.size());
    out.append("\r\n");
    out.append(headers);
    out.append(payload);
    out.append("\r\n");
}

}  // namespace osprey::protocol
