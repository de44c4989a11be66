// The NATS protocol carried over WebSocket, once the upgrade is done (nats-server's
// websocket.go): the client's frames in, the protocol bytes out, and the server's bytes as
// binary frames, deflated per message (RFC 7692, no context takeover either way) when the
// client offered permessage-deflate and the server allows compression.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "protocol/ws_frames.h"

namespace osprey::transport {

class WsStream {
public:
    // `browser`: frames of at most 4 KiB, which browsers take better (nats-server's finding).
    WsStream(std::size_t max_message, bool deflate, bool browser = false);
    ~WsStream();
    WsStream(const WsStream&) = delete;
    WsStream& operator=(const WsStream&) = delete;

    enum class Status { Ok, PeerClosed, Failed };
    // The client's bytes: data messages appended to `plain`; a pong, or the close reply, to
    // `send`. PeerClosed after the client's close frame (answered); Failed with a close frame
    // carrying the RFC's code queued, and `why` for the log.
    Status feed(std::string_view bytes, std::string& plain, std::string& send, std::string& why);
    // The server's protocol bytes as one binary message.
    void write(std::string_view plain, std::string& send);
    void close(std::uint16_t code, std::string_view reason, std::string& send);
    bool deflate() const { return deflate_; }

private:
    bool inflate(std::string_view in, std::string& out);
    void deflate_into(std::string_view in, std::string& send);
    protocol::WsDecoder decoder_;
    std::size_t max_message_;
    bool deflate_;
    bool browser_;
    bool closed_ = false;  // a close frame went out: nothing more is sent
    struct Zlib;
    std::unique_ptr<Zlib> z_;
    std::vector<protocol::WsMessage> msgs_;
};

}  // namespace osprey::transport
