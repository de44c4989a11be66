// Events as members see them: the HTTP shape (snake_case) and Ironflow's WebSocket shape
// (camelCase); the payload as JSON when it is JSON, else as text plus base64.
#include <boost/json.hpp>

#include "groups/gateway_internal.h"
#include "util/rfc3339.h"

namespace osprey::groups {

namespace json = boost::json;

namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

bool valid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        const int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
        if (n < 0 || i + std::size_t(n) >= s.size() + (n == 0 ? 1 : 0)) return false;
        for (int k = 1; k <= n; ++k)
            if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
        i += std::size_t(n) + 1;
    }
    return true;
}

void append_json_string(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    out += '"';
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20) {
            out += "\\u00";
            out += kHex[u >> 4];
            out += kHex[u & 15];
        } else {
            out += c;
        }
    }
    out += '"';
}

// The payload as `,"data":...`: verbatim when it is a JSON document (checked by parsing into
// a buffer on the stack, nothing built or written again), else text (bytes that are no UTF-8
// made '?') with the exact bytes in base64.
void append_data(std::string& out, std::string_view payload, const char* base64_key) {
    if (!payload.empty()) {
        unsigned char buf[8192];
        json::monotonic_resource mr(buf, sizeof buf);
        boost::system::error_code ec;
        json::parse(payload, ec, &mr);
        if (!ec) {
            out += ",\"data\":";
            out.append(payload);
            return;
        }
    }
    out += ",\"data\":";
    if (valid_utf8(payload)) {
        append_json_string(out, payload);
    } else {
        std::string text;
        for (unsigned char c : payload) text += c < 0x80 ? char(c) : '?';
        append_json_string(out, text);
    }
    if (!payload.empty()) {
        out += ",\"";
        out += base64_key;
        out += "\":\"";
        out += base64_encode(payload);
        out += '"';
    }
}

// `,"headers":{...}` (the first value of each name), or nothing.
void append_headers(std::string& out, std::string_view headers) {
    if (headers.empty()) return;
    std::vector<std::string_view> names;
    std::string h;
    for_each_header(headers, [&](std::string_view name, std::string_view value, std::string_view) {
        for (auto n : names)
            if (n == name) return;
        names.push_back(name);
        h += h.empty() ? "" : ",";
        append_json_string(h, name);
        h += ':';
        append_json_string(h, value);
    });
    if (names.empty()) return;
    out += ",\"headers\":{";
    out += h;
    out += '}';
}

std::string timestamp(std::int64_t ns) { return util::format_rfc3339_nano({ns, 0}); }

}  // namespace

std::string base64_encode(std::string_view in) {
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const std::uint32_t v = (std::uint32_t(std::uint8_t(in[i])) << 16) | (std::uint32_t(std::uint8_t(in[i + 1])) << 8) |
                                std::uint8_t(in[i + 2]);
        out += kB64[v >> 18];
        out += kB64[(v >> 12) & 63];
        out += kB64[(v >> 6) & 63];
        out += kB64[v & 63];
    }
    if (i < in.size()) {
        std::uint32_t v = std::uint32_t(std::uint8_t(in[i])) << 16;
        if (i + 1 < in.size()) v |= std::uint32_t(std::uint8_t(in[i + 1])) << 8;
        out += kB64[v >> 18];
        out += kB64[(v >> 12) & 63];
        out += i + 1 < in.size() ? kB64[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
    auto val = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+' || c == '-') return 62;
        if (c == '/' || c == '_') return 63;
        return -1;
    };
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        if (c == '=') break;
        const int v = val(c);
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | std::uint32_t(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += char((acc >> bits) & 0xff);
        }
    }
    return out;
}

void for_each_header(std::string_view h, const std::function<void(std::string_view name, std::string_view value,
                                                                   std::string_view line)>& fn) {
    // "NATS/1.0[ status]\r\nName: value\r\n...\r\n\r\n"
    const auto first = h.find("\r\n");
    if (first == std::string_view::npos) return;
    h.remove_prefix(first + 2);
    while (!h.empty()) {
        const auto end = h.find("\r\n");
        std::string_view line = h.substr(0, end);
        if (line.empty()) break;
        if (const auto colon = line.find(':'); colon != std::string_view::npos) {
            std::string_view value = line.substr(colon + 1);
            while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
            fn(line.substr(0, colon), value, line);
        }
        if (end == std::string_view::npos) break;
        h.remove_prefix(end + 2);
    }
}

json::object headers_json(std::string_view h) {
    json::object o;
    for_each_header(h, [&](std::string_view name, std::string_view value, std::string_view) {
        if (!o.contains(name)) o[name] = json::string(value);
    });
    return o;
}

bool parse_ack_subject(std::string_view reply, Event& e) {
    // Counted from the end: the older 9-token form and the 12-token form with a domain.
    std::vector<std::string_view> t;
    while (!reply.empty()) {
        const auto dot = reply.find('.');
        t.push_back(reply.substr(0, dot));
        if (dot == std::string_view::npos) break;
        reply.remove_prefix(dot + 1);
    }
    if (t.size() < 9 || t[0] != "$JS" || t[1] != "ACK") return false;
    const std::size_t n = t.size() == 9 ? 9 : t.size() - 1;  // the 12-token form ends in a random token
    if (n < 9) return false;
    auto num = [](std::string_view v, std::uint64_t& out) {
        if (v.empty() || v.size() > 19) return false;
        out = 0;
        for (char c : v) {
            if (c < '0' || c > '9') return false;
            out = out * 10 + std::uint64_t(c - '0');
        }
        return true;
    };
    std::uint64_t ts = 0, attempt = 0, seq = 0;
    if (!num(t[n - 5], attempt) || !num(t[n - 4], seq) || !num(t[n - 2], ts)) return false;
    e.attempt = attempt;
    e.seq = seq;
    e.ts_ns = std::int64_t(ts);
    return true;
}

std::string http_event_json(const Event& e) {
    std::string o;
    o.reserve(160 + e.subject.size() + e.payload.size() + e.headers.size());
    o += "{\"event_id\":\"" + std::to_string(e.seq) + "\",\"subject\":";
    append_json_string(o, e.subject);
    o += ",\"sequence\":" + std::to_string(e.seq) + ",\"delivery_attempt\":" + std::to_string(e.attempt) +
         ",\"timestamp\":\"" + timestamp(e.ts_ns) + "\"";
    append_data(o, e.payload, "data_base64");
    append_headers(o, e.headers);
    o += '}';
    return o;
}

std::string ws_event_json(const Event& e, const std::string& subscription_id) {
    std::string o;
    o.reserve(200 + e.subject.size() + e.payload.size() + e.headers.size());
    o += "{\"type\":\"event\",\"subscriptionId\":";
    append_json_string(o, subscription_id);
    o += ",\"eventId\":\"" + std::to_string(e.seq) + "\",\"topic\":";
    append_json_string(o, e.subject);
    append_data(o, e.payload, "dataBase64");
    append_headers(o, e.headers);
    o += ",\"meta\":{\"timestamp\":\"" + timestamp(e.ts_ns) + "\",\"sequence\":" + std::to_string(e.seq) +
         "},\"deliveryAttempt\":" + std::to_string(e.attempt) + "}";
    return o;
}

std::string format_time(SystemClock::time_point t) {
    return timestamp(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

std::string rfc3339_now() { return format_time(SystemClock::now()); }

}  // namespace osprey::groups
