// A client behind TLS and/or WebSocket (see transport/wire.h). Everything the Wire does runs
// under out_mu_: its TLS state is shared by the read side (the loop) and writers on any thread.
#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <cstring>

#include "server/client.h"
#include "transport/wire.h"
#include "util/log.h"

namespace osprey::server {

namespace asio = boost::asio;

namespace {

// nats-server's wsEnqueueCloseMessage: the close frame's status for each reason.
std::uint16_t ws_close_code(CloseReason r) {
    switch (r) {
        case CloseReason::ClientClosed: return 1000;
        case CloseReason::AuthTimeout:
        case CloseReason::AuthViolation:
        case CloseReason::SlowConsumerPending:
        case CloseReason::SlowConsumerDeadline:
        case CloseReason::MaxAccountConnections:
        case CloseReason::MaxConnections:
        case CloseReason::MaxControlLine:
        case CloseReason::MaxSubscriptions:
        case CloseReason::AuthExpired:
        case CloseReason::Revocation: return 1008;
        case CloseReason::TlsHandshakeError: return 1015;
        case CloseReason::ProtocolViolation: return 1002;
        case CloseReason::MaxPayload: return 1009;
        case CloseReason::ServerShutdown: return 1001;
        case CloseReason::WriteError:
        case CloseReason::ReadError:
        case CloseReason::StaleConnection: return 1006;
    }
    return 1011;
}

}  // namespace

void Client::start_wire() {
    if (const auto ms = wire_->handshake_timeout_ms(); ms > 0) {
        handshake_timer_.expires_after(std::chrono::milliseconds(ms));
        handshake_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
            if (ec || self->closing_) return;
            bool ready;
            {
                std::lock_guard lk(self->out_mu_);
                ready = self->wire_->ready();
            }
            if (ready) return;
            log::error("{} - {}", self->tag(),
                       self->wire_->websocket() && self->wire_->tls_started() ? "websocket handshake timeout"
                                                                             : "TLS handshake timeout");
            self->close_now(CloseReason::TlsHandshakeError);
        });
    }
    if (!wire_->websocket()) {
        // NATS over TLS: the INFO goes out in the clear, and the client starts TLS on reading
        // its tls_required. The auth timer runs from here, as for a plain client.
        {
            std::lock_guard lk(out_mu_);
            wout_ += server_.info_line(cid_, ip_, false, nonce_);
        }
        if (needs_auth_) start_auth_timer();
        flush();
    }
}

void Client::on_wire_ready() {
    handshake_timer_.cancel();
    if (wire_->websocket()) {
        // Over WebSocket the INFO is the first message after the upgrade.
        send_info();
        if (needs_auth_) start_auth_timer();
    }
    start_ping_timer(true);
}

bool Client::ingest_wire(std::size_t n) {
    std::string& plain = wplain_;  // reused: no allocation per read
    plain.clear();
    transport::Wire::Fed f;
    bool ready_before, ready_after;
    {
        std::lock_guard lk(out_mu_);
        if (closed_) return false;
        ready_before = wire_->ready();
        f = wire_->feed(std::string_view(wraw_.data(), n), plain, wout_);
        ready_after = wire_->ready();
    }
    if (!plain.empty()) {
        if (rbuf_.size() < rlen_ + plain.size()) rbuf_.resize(std::max(rbuf_.size() * 2, rlen_ + plain.size()));
        std::memcpy(rbuf_.data() + rlen_, plain.data(), plain.size());
        rlen_ += plain.size();
        if (plain.capacity() > (1 << 20)) std::string().swap(plain);
    }
    using Status = transport::Wire::Status;
    if (f.status == Status::Failed) {
        if (f.ws_rejected) log::error("{} - {}", tag(), f.why);
        else if (f.tls_failed) log::error("{} - TLS handshake error: {}", tag(), f.why);
        else log::error("{} - {}", tag(), f.why);
        // What the Wire queued (the alert, the HTTP error, the close frame) goes out first.
        flush();
        close_now(f.tls_failed || f.ws_rejected ? CloseReason::TlsHandshakeError : CloseReason::ProtocolViolation);
        flush_scheduled();
        return false;
    }
    if (!ready_before && ready_after) on_wire_ready();
    flush();  // handshake records, the 101, pongs
    if (f.status == Status::PeerClosed) {
        process_buffer();  // what came before the close is the client's
        close_now(CloseReason::ClientClosed);
        flush_scheduled();
        return false;
    }
    return true;
}

bool Client::write_wire_locked() {
    if (out_off_ < out_.size() && wire_->ready()) {
        wire_->write(std::string_view(out_).substr(out_off_), wout_);
        out_.clear();
        out_off_ = 0;
        if (out_.capacity() > 4 * 1024 * 1024) std::string().swap(out_);
    }
    while (wout_off_ < wout_.size()) {
        ssize_t n = ::send(fd_, wout_.data() + wout_off_, wout_.size() - wout_off_, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            wout_off_ += std::size_t(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wout_off_ >= 64 * 1024 && wout_off_ * 2 >= wout_.size()) {
                wout_.erase(0, wout_off_);
                wout_off_ = 0;
            }
            write_blocked_ = true;
            release_stalled_locked();
            asio::post(socket_.get_executor(), [self = shared_from_this()] { self->wait_writable(); });
            return true;
        }
        return false;
    }
    wout_.clear();
    wout_off_ = 0;
    release_stalled_locked();
    if (wout_.capacity() > 4 * 1024 * 1024) std::string().swap(wout_);
    return true;
}

void Client::close_wire_locked(CloseReason reason) {
    if (wire_->ready()) {
        if (out_off_ < out_.size()) {
            wire_->write(std::string_view(out_).substr(out_off_), wout_);
            out_.clear();
            out_off_ = 0;
        }
        wire_->close(ws_close_code(reason), reason_text(reason), wout_);
    }
    while (wout_off_ < wout_.size()) {
        ssize_t n = ::send(fd_, wout_.data() + wout_off_, wout_.size() - wout_off_, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n <= 0) break;
        wout_off_ += std::size_t(n);
    }
    std::string().swap(wout_);
    wout_off_ = 0;
}

}  // namespace osprey::server
