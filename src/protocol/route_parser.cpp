#include "protocol/route_parser.h"

#include <cctype>
#include <cstring>

#include "protocol/parser.h"

namespace osprey::protocol {

namespace {

bool starts_with_ci(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i)
        if (std::toupper(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

enum class Op { Info, Connect, Ping, Pong, Ok, Err, SubPlus, SubMinus, RMsg, HMsg, LSubPlus, LSubMinus, LMsg, Sub, Unsub };

struct OpName {
    const char* name;
    Op op;
};
// Longest names first where one is a prefix of another.
constexpr OpName kOps[] = {
    {"CONNECT", Op::Connect}, {"INFO", Op::Info},   {"PING", Op::Ping},      {"PONG", Op::Pong},
    {"+OK", Op::Ok},          {"-ERR", Op::Err},    {"RS+", Op::SubPlus},    {"RS-", Op::SubMinus},
    {"RMSG", Op::RMsg},       {"HMSG", Op::HMsg},   {"LS+", Op::LSubPlus},   {"LS-", Op::LSubMinus},
    {"LMSG", Op::LMsg},       {"UNSUB", Op::Unsub}, {"SUB", Op::Sub},
};

// The message line after the op: <acc> <subject> [reply | + reply q.. | | q..] [hdr] size.
bool parse_msg_args(std::string_view line, bool with_headers, RouteMsg& m, std::size_t& hdr_len,
                    std::size_t& total) {
    std::string_view a[64];
    const int n = split_args(line, a, 63);
    const int sizes = with_headers ? 2 : 1;
    if (n < 2 + sizes || n > 63) return false;
    m.account = a[0];
    m.subject = a[1];
    const int extra = n - 2 - sizes;  // between the subject and the size(s)
    if (extra == 1) {
        m.reply = a[2];
    } else if (extra >= 2) {
        if (a[2] == "+") {
            if (extra < 3) return false;
            m.reply = a[3];
            m.queues = std::string_view(a[4].data(), std::size_t(a[n - sizes - 1].data() + a[n - sizes - 1].size() - a[4].data()));
        } else if (a[2] == "|") {
            m.queues = std::string_view(a[3].data(), std::size_t(a[n - sizes - 1].data() + a[n - sizes - 1].size() - a[3].data()));
        } else {
            return false;  // nats-server: "Bad or Missing Reply Indicator"
        }
    }
    auto s1 = parse_size(a[n - sizes]);
    if (!s1) return false;
    if (with_headers) {
        auto s2 = parse_size(a[n - 1]);
        if (!s2 || *s1 > *s2) return false;
        hdr_len = std::size_t(*s1);
        total = std::size_t(*s2);
    } else {
        hdr_len = 0;
        total = std::size_t(*s1);
    }
    return true;
}

}  // namespace

RouteParseResult parse_route(std::string_view in, RouteHandler& h) {
    RouteParseResult r;
    std::size_t pos = 0;
    while (pos < in.size()) {
        std::string_view rest = in.substr(pos);
        const void* nl = std::memchr(rest.data(), '\n', rest.size());
        // Identify the op from what is there (an unknown one is known before the line ends).
        const OpName* found = nullptr;
        bool maybe = false;
        for (const auto& o : kOps) {
            const std::string_view name = o.name;
            if (rest.size() > name.size()) {
                // The op must end here: a space, a tab, CR or LF ("PING\r\n", "RS+ ...").
                const char c = rest[name.size()];
                if (starts_with_ci(rest, name) && (c == ' ' || c == '\t' || c == '\r' || c == '\n')) {
                    found = &o;
                    break;
                }
            } else {
                bool prefix = true;  // what is there could still become this op
                for (std::size_t i = 0; i < rest.size() && prefix; ++i)
                    prefix = std::toupper(static_cast<unsigned char>(rest[i])) == name[i];
                maybe = maybe || prefix;
            }
        }
        if (!found) {
            if (maybe && !nl) break;
            r.error = RouteError::UnknownOp;
            r.detail = rest.substr(0, std::min<std::size_t>(rest.size(), 32));
            break;
        }
        if (!nl) break;  // the line is not complete yet
        const std::size_t line_end = std::size_t(static_cast<const char*>(nl) - rest.data());
        std::string_view line = trim(rest.substr(std::strlen(found->name), line_end - std::strlen(found->name)));
        std::size_t next = pos + line_end + 1;
        bool go_on = true;
        switch (found->op) {
            case Op::Info: go_on = h.on_info(line); break;
            case Op::Connect: go_on = h.on_connect(line); break;
            case Op::Ping: go_on = h.on_ping(); break;
            case Op::Pong: go_on = h.on_pong(); break;
            case Op::Ok: break;
            case Op::Err: {
                std::string_view t = line;
                if (t.size() >= 2 && t.front() == '\'' && t.back() == '\'') t = t.substr(1, t.size() - 2);
                go_on = h.on_err(t);
                break;
            }
            case Op::SubPlus:
            case Op::LSubPlus: {
                std::string_view a[6];
                int n = split_args(line, a, 5);
                std::string_view* args = a;
                if (found->op == Op::LSubPlus) {  // an origin cluster first
                    if (n < 1) n = -1;
                    else {
                        ++args;
                        --n;
                    }
                }
                if (n == 2) {
                    go_on = h.on_sub(args[0], args[1], {}, 0);
                } else if (n == 4) {
                    auto w = parse_size(args[3]);
                    if (!w || *w <= 0 || *w > INT32_MAX) {
                        r.error = RouteError::BadArgs;
                        r.detail = line;
                        r.consumed = pos;
                        return r;
                    }
                    go_on = h.on_sub(args[0], args[1], args[2], std::int32_t(*w));
                } else {
                    r.error = RouteError::BadArgs;
                    r.detail = line;
                    r.consumed = pos;
                    return r;
                }
                break;
            }
            case Op::SubMinus:
            case Op::LSubMinus:
            case Op::Unsub: {
                std::string_view a[4];
                const int n = split_args(line, a, 3);
                if (n == 2 || n == 3) {
                    go_on = h.on_unsub(a[0], a[1], n == 3 ? a[2] : std::string_view());
                } else {
                    r.error = RouteError::BadArgs;
                    r.detail = line;
                    r.consumed = pos;
                    return r;
                }
                break;
            }
            case Op::Sub: break;  // a client's SUB on a route: nats-server ignores it
            case Op::RMsg:
            case Op::HMsg:
            case Op::LMsg: {
                RouteMsg m;
                std::size_t hdr = 0, total = 0;
                std::string_view args = line;
                if (found->op == Op::LMsg) {  // the origin cluster first, then as HMSG
                    const std::size_t sp = args.find_first_of(" \t");
                    args = sp == std::string_view::npos ? std::string_view() : trim(args.substr(sp));
                }
                if (!parse_msg_args(args, found->op != Op::RMsg, m, hdr, total)) {
                    r.error = RouteError::BadArgs;
                    r.detail = line;
                    r.consumed = pos;
                    return r;
                }
                // The payload and its CRLF.
                if (in.size() - next < total + 2) {
                    r.consumed = pos;
                    return r;  // wait for the rest
                }
                if (in.substr(next + total, 2) != "\r\n") {
                    r.error = RouteError::UnknownOp;
                    r.detail = line;
                    r.consumed = pos;
                    return r;
                }
                m.headers = in.substr(next, hdr);
                m.payload = in.substr(next + hdr, total - hdr);
                next += total + 2;
                go_on = h.on_msg(m);
                break;
            }
        }
        pos = next;
        r.consumed = pos;
        if (!go_on) break;
    }
    if (r.error == RouteError::None) r.consumed = pos;
    return r;
}

}  // namespace osprey::protocol
