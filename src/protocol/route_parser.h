// The route protocol between servers of a cluster (nats-server 2.9.10's), pure: no I/O, no
// server state, like the client parser.
//
//   INFO <json>   CONNECT <json>   PING   PONG   +OK   -ERR '<text>'
//   RS+ <acc> <subject> [<queue> <weight>]      RS- <acc> <subject> [<queue>]
//   RMSG <acc> <subject> [<reply> | + <reply> <q>... | | <q>...] <size>
//   HMSG <acc> <subject> [<reply> | + <reply> <q>... | | <q>...] <hdr size> <total size>
//
// parse() consumes whole operations from the front of the buffer; an incomplete one stays for
// the next call. Route connections carry no max_control_line or max_payload (nats-server does
// not bound them); a bound on the read buffer is the connection's business.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace osprey::protocol {

struct RouteMsg {
    std::string_view account, subject, reply;
    // The queue groups the sender picked on this server, space separated (empty: none, the
    // message goes to plain subscriptions only).
    std::string_view queues;
    std::string_view headers, payload;  // headers empty for RMSG
};

struct RouteHandler {
    virtual ~RouteHandler() = default;
    virtual bool on_info(std::string_view json) = 0;
    virtual bool on_connect(std::string_view json) = 0;
    virtual bool on_ping() = 0;
    virtual bool on_pong() = 0;
    virtual bool on_err(std::string_view text) = 0;
    virtual bool on_sub(std::string_view account, std::string_view subject, std::string_view queue,
                        std::int32_t weight) = 0;
    virtual bool on_unsub(std::string_view account, std::string_view subject, std::string_view queue) = 0;
    virtual bool on_msg(const RouteMsg& m) = 0;
};

enum class RouteError : std::uint8_t {
    None,
    UnknownOp,  // -ERR 'Unknown Protocol Operation', close (also a payload of the wrong length)
    BadArgs,    // malformed arguments: close without -ERR ("Protocol Violation")
};

struct RouteParseResult {
    std::size_t consumed = 0;
    RouteError error = RouteError::None;
    std::string_view detail;
};

RouteParseResult parse_route(std::string_view in, RouteHandler& h);

}  // namespace osprey::protocol
