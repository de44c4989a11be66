// The client protocol parser: pure, no I/O, no server state.
//
// parse() consumes whole operations from the front of a buffer and hands each to a handler
// with string_views into that buffer (zero copy). An operation that is not complete yet is
// left unconsumed: the caller keeps the tail and calls again when more bytes arrived. Errors
// are detected as early as nats-server detects them (an unknown operation on its first bad
// byte, a too long control line before its end, an oversized payload from its header).
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace osprey::protocol {

struct Limits {
    std::size_t max_control_line = 4096;
    std::int64_t max_payload = 1024 * 1024;
    bool headers = false;  // HPUB allowed (the client said headers:true in CONNECT)
};

enum class Error : std::uint8_t {
    None,
    UnknownOp,       // -ERR 'Unknown Protocol Operation', close
    MaxControlLine,  // -ERR 'maximum control line exceeded', close
    MaxPayload,      // -ERR 'Maximum Payload Violation', close
    BadArgs,         // malformed arguments of PUB/HPUB/SUB/UNSUB/CONNECT: close silently
    NoHeaders,       // HPUB without headers support: close silently
    ClientErr,       // the client sent -ERR: close
};

struct Pub {
    std::string_view subject;
    std::string_view reply;
    std::string_view headers;  // HPUB: the header block including its final blank line
    std::string_view payload;
    std::size_t total() const { return headers.size() + payload.size(); }
};

struct Sub {
    std::string_view subject;
    std::string_view queue;
    std::string_view sid;
};

struct Unsub {
    std::string_view sid;
    std::int64_t max = 0;  // <= 0: unsubscribe now
};

struct Result {
    std::size_t consumed = 0;
    Error error = Error::None;
    std::string_view detail;  // the offending control line (for logs)
};

// The handler: each call returns false to stop parsing after this operation.
// struct Handler {
//     bool on_pub(const Pub&); bool on_sub(const Sub&); bool on_unsub(const Unsub&);
//     bool on_connect(std::string_view json); bool on_info(std::string_view json);
//     bool on_ping(); bool on_pong(); bool on_ok(); bool on_err(std::string_view);
// };

// Helpers, exposed for tests.
std::optional<std::int64_t> parse_size(std::string_view s);  // digits only
// Splits a control line into at most max_args whitespace-separated arguments;
// returns the count, or max_args + 1 when there are more.
int split_args(std::string_view line, std::string_view* out, int max_args);

enum class OpKind : std::uint8_t { Pub, HPub, Sub, Unsub, Ping, Pong, Connect, Info, Ok, Err };

// Identifies the operation at the front of `in`. Returns nullopt with `need_more` set when the
// bytes so far are a prefix of some operation, nullopt with need_more clear when they cannot be.
// On success `arg_start` is where the arguments begin.
std::optional<OpKind> identify_op(std::string_view in, bool& need_more, std::size_t& arg_start);

template <typename Handler>
Result parse(std::string_view in, const Limits& limits, Handler& h);

}  // namespace osprey::protocol

#include "protocol/parser_impl.h"
