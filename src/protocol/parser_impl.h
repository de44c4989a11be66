// Template body of protocol::parse(); included by parser.h only.
#pragma once
#include <cstring>

namespace osprey::protocol {

namespace detail {

inline std::string_view trim_line(std::string_view line) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
        line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    return line;
}

}  // namespace detail

template <typename Handler>
Result parse(std::string_view in, const Limits& limits, Handler& h) {
    Result r;
    std::size_t pos = 0;
    while (pos < in.size()) {
        std::string_view rest = in.substr(pos);
        bool need_more = false;
        std::size_t arg_start = 0;
        auto op = identify_op(rest, need_more, arg_start);
        if (!op) {
            if (need_more) break;
            r.error = Error::UnknownOp;
            r.detail = rest.substr(0, std::min<std::size_t>(rest.size(), 32));
            break;
        }
        if (*op == OpKind::HPub && !limits.headers) {
            r.error = Error::NoHeaders;
            break;
        }
        // Every control line, CONNECT and INFO included, is bounded by max_control_line, as
        // nats-server bounds them (a CONNECT with a user JWT fits the default 4096).
        const std::size_t line_limit = limits.max_control_line;
        const void* nl = std::memchr(rest.data() + arg_start, '\n', rest.size() - arg_start);
        if (!nl) {
            if (rest.size() - arg_start > line_limit) {
                r.error = Error::MaxControlLine;
                r.detail = rest.substr(0, 128);
            }
            break;  // an error, or wait for the end of the line
        }
        const std::size_t line_end = static_cast<const char*>(nl) - rest.data();
        std::string_view args = rest.substr(arg_start, line_end - arg_start);
        if (args.size() > line_limit) {
            r.error = Error::MaxControlLine;
            r.detail = rest.substr(0, 128);
            break;
        }
        args = detail::trim_line(args);
        std::size_t op_len = line_end + 1;  // bytes through '\n'
        bool go_on = true;
        switch (*op) {
            case OpKind::Ping: go_on = h.on_ping(); break;
            case OpKind::Pong: go_on = h.on_pong(); break;
            case OpKind::Ok: go_on = h.on_ok(); break;
            case OpKind::Err:
                h.on_err(args);
                r.error = Error::ClientErr;
                r.consumed = pos + op_len;
                return r;
            case OpKind::Connect:
                if (args.empty()) {
                    r.error = Error::BadArgs;
                    r.detail = rest.substr(0, line_end);
                    r.consumed = pos;
                    return r;
                }
                go_on = h.on_connect(args);
                break;
            case OpKind::Info: go_on = h.on_info(args); break;
            case OpKind::Sub: {
                std::string_view a[3];
                int n = split_args(args, a, 3);
                if (n == 2) {
                    go_on = h.on_sub(Sub{a[0], {}, a[1]});
                } else if (n == 3) {
                    go_on = h.on_sub(Sub{a[0], a[1], a[2]});
                } else {
                    r.error = Error::BadArgs;
                    r.detail = args;
                }
                break;
            }
            case OpKind::Unsub: {
                std::string_view a[2];
                int n = split_args(args, a, 2);
                if (n == 1) {
                    go_on = h.on_unsub(Unsub{a[0], 0});
                } else if (n == 2) {
                    auto m = parse_size(a[1]);
                    go_on = h.on_unsub(Unsub{a[0], m ? *m : -1});
                } else {
                    r.error = Error::BadArgs;
                    r.detail = args;
                }
                break;
            }
            case OpKind::Pub:
            case OpKind::HPub: {
                const bool hp = *op == OpKind::HPub;
                std::string_view a[4];
                const int max_args = hp ? 4 : 3;
                int n = split_args(args, a, max_args);
                if (n < max_args - 1 || n > max_args) {
                    r.error = Error::BadArgs;
                    r.detail = args;
                    break;
                }
                Pub p;
                p.subject = a[0];
                std::optional<std::int64_t> hsize, total;
                if (hp) {
                    if (n == 4) p.reply = a[1];
                    hsize = parse_size(a[n - 2]);
                    total = parse_size(a[n - 1]);
                    if (!hsize || !total || *hsize > *total) {
                        r.error = Error::BadArgs;
                        r.detail = args;
                        break;
                    }
                } else {
                    if (n == 3) p.reply = a[1];
                    total = parse_size(a[n - 1]);
                    hsize = 0;
                    if (!total) {
                        r.error = Error::BadArgs;
                        r.detail = args;
                        break;
                    }
                }
                if (*total > limits.max_payload) {
                    r.error = Error::MaxPayload;
                    r.detail = args;
                    break;
                }
                const std::size_t body = line_end + 1;
                const std::size_t need = body + std::size_t(*total) + 2;
                if (rest.size() < need) {
                    // Not all here yet; tell the caller how much is needed by not consuming.
                    r.consumed = pos;
                    return r;
                }
                if (rest[body + *total] != '\r' || rest[body + *total + 1] != '\n') {
                    r.error = Error::UnknownOp;
                    r.detail = rest.substr(body + *total, 2);
                    break;
                }
                p.headers = rest.substr(body, std::size_t(*hsize));
                p.payload = rest.substr(body + *hsize, std::size_t(*total - *hsize));
                op_len = need;
                go_on = h.on_pub(p);
                break;
            }
        }
        if (r.error != Error::None) break;
        pos += op_len;
        if (!go_on) break;
    }
    r.consumed = pos;
    return r;
}

}  // namespace osprey::protocol
