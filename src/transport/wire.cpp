#include "transport/wire.h"

namespace osprey::transport {

Wire::Wire(std::shared_ptr<const TlsContext> tls, std::shared_ptr<const WsSettings> ws, bool tls_optional)
    : ws_settings_(std::move(ws)), tls_optional_(tls_optional) {
    if (tls) tls_ = std::make_unique<TlsSession>(std::move(tls));
}

Wire::~Wire() = default;

std::int64_t Wire::handshake_timeout_ms() const {
    if (ws_settings_ && ws_settings_->handshake_timeout_ms > 0) return ws_settings_->handshake_timeout_ms;
    return tls_ ? tls_->context().config().timeout_ms : 0;
}

bool Wire::ready() const { return (!tls_ || tls_->established()) && (!ws_settings_ || upgraded_); }

void Wire::out(std::string_view bytes, std::string& send) {
    if (bytes.empty()) return;
    if (tls_) tls_->write(bytes, send);
    else send.append(bytes);
}

Wire::Fed Wire::feed(std::string_view raw, std::string& plain, std::string& send) {
    Fed f;
    if (closed_) return f;
    if (tls_optional_ && !raw.empty()) {
        // A TLS record starts with a handshake (0x16); anything else is the protocol in clear.
        tls_optional_ = false;
        if (std::uint8_t(raw[0]) != 0x16) tls_.reset();
    }
    // TLS alone decrypts straight into `plain`; under WebSocket into a kept scratch buffer.
    std::string& decrypted = ws_settings_ ? scratch_ : plain;
    if (ws_settings_) decrypted.clear();
    std::string_view data = raw;
    if (tls_) {
        const bool was = tls_->established();
        const auto st = tls_->feed(raw, decrypted, send, f.why);
        if (!was && tls_->established()) f.tls_established = true;
        if (st == TlsSession::Status::Failed) {
            f.status = Status::Failed;
            f.tls_failed = !tls_->established();
            closed_ = true;
            return f;
        }
        if (st == TlsSession::Status::PeerClosed) {
            f.status = Status::PeerClosed;
            closed_ = true;
            return f;  // what came before the close_notify is in `plain` still
        }
        if (!ws_settings_) return f;
        data = decrypted;
    }
    if (!ws_settings_) {
        plain.append(data);
        return f;
    }
    if (!upgraded_) {
        request_.append(data);
        upgrade_ = ws_upgrade(request_, ws_settings_->upgrade);
        if (upgrade_.kind == WsUpgrade::Kind::Incomplete) return f;
        out(upgrade_.response, send);
        if (upgrade_.kind == WsUpgrade::Kind::Rejected) {
            f.status = Status::Failed;
            f.ws_rejected = true;
            f.why = upgrade_.error;
            closed_ = true;
            return f;
        }
        upgraded_ = true;
        f.upgraded = true;
        ws_ = std::make_unique<WsStream>(ws_settings_->max_message, upgrade_.deflate, upgrade_.browser);
        std::string().swap(request_);
        return f;  // nothing may follow the request before the 101 (ws_upgrade checked)
    }
    std::string control;
    const auto st = ws_->feed(data, plain, control, f.why);
    out(control, send);
    if (st == WsStream::Status::Failed) {
        f.status = Status::Failed;
        closed_ = true;
    } else if (st == WsStream::Status::PeerClosed) {
        f.status = Status::PeerClosed;
        closed_ = true;
    }
    return f;
}

void Wire::write(std::string_view plain, std::string& send) {
    if (!ready() || plain.empty()) return;
    if (!ws_) {
        out(plain, send);
        return;
    }
    if (!tls_) {
        ws_->write(plain, send);
        return;
    }
    scratch_out_.clear();
    ws_->write(plain, scratch_out_);
    out(scratch_out_, send);
    if (scratch_out_.capacity() > (1 << 20)) std::string().swap(scratch_out_);
}

void Wire::close(std::uint16_t ws_code, std::string_view reason, std::string& send) {
    if (ws_) {
        std::string framed;
        ws_->close(ws_code, reason, framed);
        out(framed, send);
    }
    if (tls_) tls_->shutdown(send);
}

}  // namespace osprey::transport
