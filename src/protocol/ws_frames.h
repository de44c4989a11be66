// RFC 6455 framing, the server's side: a decoder for what clients send (masked frames,
// fragmented messages, control frames between fragments) and the encoder of the server's
// unmasked frames. Pure: no I/O, no state beyond the bytes fed; fuzzable like the protocol
// parser. Writing frames ourselves lets a connection put every queued frame into one write.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace osprey::protocol {

enum class WsOp : std::uint8_t { Continuation = 0, Text = 1, Binary = 2, Close = 8, Ping = 9, Pong = 10 };

struct WsMessage {
    WsOp op;               // Text, Binary (whole messages), Close, Ping, Pong
    std::string payload;   // a Close's reason after its code
    std::uint16_t close_code = 0;  // Close: the peer's code (1005 when it gave none)
    bool compressed = false;       // RSV1 on its first frame: permessage-deflate (RFC 7692)
};

// Why the connection must close, with the RFC's status code.
struct WsFailure {
    std::uint16_t code;  // 1002 protocol error, 1007 invalid UTF-8, 1009 too big
    std::string reason;
};

class WsDecoder {
public:
    // `deflate`: permessage-deflate was negotiated, so RSV1 may mark a compressed message.
    explicit WsDecoder(std::size_t max_message, bool deflate = false)
        : max_message_(max_message), deflate_(deflate) {}
    // Appends the messages completed by `data` to `out`; a failure ends the connection (the
    // decoder takes nothing more after it).
    std::optional<WsFailure> feed(std::string_view data, std::vector<WsMessage>& out);

private:
    std::optional<WsFailure> frame(bool fin, bool rsv1, WsOp op, std::string payload, std::vector<WsMessage>& out);
    std::size_t max_message_;
    bool deflate_;
    bool partial_compressed_ = false;
    std::string buf_;        // bytes of a frame not complete yet
    std::string partial_;    // a fragmented message so far
    WsOp partial_op_ = WsOp::Continuation;  // Continuation: none in progress
    bool failed_ = false;
};

// Appends a server frame (FIN, unmasked) to `out`.
void append_ws_frame(std::string& out, WsOp op, std::string_view payload);
// A Close frame with a status code and a reason.
void append_ws_close(std::string& out, std::uint16_t code, std::string_view reason);
bool valid_utf8(std::string_view s);

}  // namespace osprey::protocol
