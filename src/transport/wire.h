// What lies between a client's socket and its NATS protocol bytes: TLS, WebSocket, both (wss)
// or neither. A plain TCP client has no Wire at all, so its hot path is untouched.
//
// Reading: feed() takes the socket's bytes and yields protocol bytes, plus bytes to send
// back (handshake records, the 101, pongs). Writing: write() turns protocol bytes into socket
// bytes. Not thread safe: the client calls both under its write lock.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "transport/tls_session.h"
#include "transport/ws_stream.h"
#include "transport/ws_upgrade.h"

namespace osprey::transport {

struct WsSettings {
    WsUpgradeConfig upgrade;
    std::size_t max_message = 64 * 1024 * 1024;
    std::int64_t handshake_timeout_ms = 0;  // 0: none (the TLS timeout still bounds a wss handshake)
};

class Wire {
public:
    // `tls`: null for no TLS. `ws`: null for the NATS protocol straight on the stream.
    // `tls_optional` (allow_non_tls): the client's first byte tells whether it starts TLS.
    Wire(std::shared_ptr<const TlsContext> tls, std::shared_ptr<const WsSettings> ws, bool tls_optional = false);
    ~Wire();

    enum class Status { Ok, PeerClosed, Failed };
    struct Fed {
        Status status = Status::Ok;
        bool upgraded = false;          // the WebSocket handshake just completed
        bool tls_established = false;   // the TLS handshake just completed
        bool tls_failed = false;        // Failed during the TLS handshake
        bool ws_rejected = false;       // Failed: the upgrade request was refused (HTTP error sent)
        std::string why;                // Failed: for the log
    };
    Fed feed(std::string_view raw, std::string& plain, std::string& send);
    // Protocol bytes to send; only once ready().
    void write(std::string_view plain, std::string& send);
    // The last bytes of a connection closing for `ws_code` / `reason`.
    void close(std::uint16_t ws_code, std::string_view reason, std::string& send);

    bool ready() const;  // the handshakes are done: protocol bytes may flow both ways
    bool websocket() const { return ws_settings_ != nullptr; }
    // How long the handshakes may take (0: unbounded).
    std::int64_t handshake_timeout_ms() const;
    const TlsSession* tls() const { return tls_.get(); }
    const WsUpgrade* upgrade() const { return upgraded_ ? &upgrade_ : nullptr; }
    // Bytes that go out as they are, before TLS starts (the INFO a NATS client reads first).
    bool tls_started() const { return tls_ && tls_->established(); }

private:
    void out(std::string_view bytes, std::string& send);  // through TLS when there is TLS
    std::unique_ptr<TlsSession> tls_;
    std::shared_ptr<const WsSettings> ws_settings_;
    std::unique_ptr<WsStream> ws_;
    std::string request_;  // the upgrade request so far
    WsUpgrade upgrade_;
    bool upgraded_ = false;
    bool closed_ = false;
    bool tls_optional_ = false;
    std::string scratch_, scratch_out_;  // decrypted input, framed output: reused
};

}  // namespace osprey::transport
