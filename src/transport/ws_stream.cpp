#include "transport/ws_stream.h"

#include <zlib.h>

namespace osprey::transport {

using protocol::WsOp;

// Up to this a message goes out as it is: deflate would not pay for its own header.
constexpr std::size_t kCompressThreshold = 64;
constexpr std::size_t kBrowserFrame = 4096;

struct WsStream::Zlib {
    z_stream in{}, out{};
    bool in_ok = false, out_ok = false;
    ~Zlib() {
        if (in_ok) inflateEnd(&in);
        if (out_ok) deflateEnd(&out);
    }
};

WsStream::WsStream(std::size_t max_message, bool deflate, bool browser)
    : decoder_(max_message, deflate), max_message_(max_message), deflate_(deflate), browser_(browser) {
    if (!deflate_) return;
    z_ = std::make_unique<Zlib>();
    // Raw deflate (negative window bits), as RFC 7692 carries it.
    z_->in_ok = inflateInit2(&z_->in, -15) == Z_OK;
    z_->out_ok = deflateInit2(&z_->out, Z_BEST_SPEED, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK;
}

WsStream::~WsStream() = default;

bool WsStream::inflate(std::string_view in, std::string& out) {
    if (!z_ || !z_->in_ok) return false;
    // The sender took the empty stored block's tail (00 00 ff ff) off; it goes back on.
    static const unsigned char tail[4] = {0x00, 0x00, 0xff, 0xff};
    z_stream& s = z_->in;
    inflateReset(&s);  // client_no_context_takeover: every message stands alone
    const std::size_t start = out.size();
    bool ended = false;  // a final block: what follows (the tail) is not read
    auto run = [&](const unsigned char* data, std::size_t n) {
        s.next_in = const_cast<unsigned char*>(data);
        s.avail_in = uInt(n);
        for (;;) {
            const std::size_t at = out.size();
            out.resize(at + 16384);
            s.next_out = reinterpret_cast<unsigned char*>(out.data() + at);
            s.avail_out = 16384;
            const int r = ::inflate(&s, Z_SYNC_FLUSH);
            const bool full = s.avail_out == 0;
            out.resize(at + 16384 - s.avail_out);
            if (out.size() - start > max_message_) return false;  // a deflate bomb
            if (r == Z_STREAM_END) {
                ended = true;
                return true;
            }
            if (r == Z_BUF_ERROR) return s.avail_in == 0;  // no progress: done, or stuck
            if (r != Z_OK) return false;
            if (s.avail_in == 0 && !full) return true;
        }
    };
    return run(reinterpret_cast<const unsigned char*>(in.data()), in.size()) && (ended || run(tail, sizeof tail));
}

void WsStream::deflate_into(std::string_view in, std::string& send) {
    z_stream& s = z_->out;
    deflateReset(&s);  // server_no_context_takeover
    std::string body;
    body.resize(deflateBound(&s, uLong(in.size())) + 16);
    s.next_in = reinterpret_cast<unsigned char*>(const_cast<char*>(in.data()));
    s.avail_in = uInt(in.size());
    s.next_out = reinterpret_cast<unsigned char*>(body.data());
    s.avail_out = uInt(body.size());
    (void)::deflate(&s, Z_SYNC_FLUSH);
    body.resize(body.size() - s.avail_out);
    if (body.size() >= 4 && body.compare(body.size() - 4, 4, std::string_view("\x00\x00\xff\xff", 4)) == 0)
        body.resize(body.size() - 4);
    // RSV1 marks the message compressed: the frame's first byte is FIN|RSV1|binary.
    const std::size_t at = send.size();
    protocol::append_ws_frame(send, WsOp::Binary, body);
    send[at] = char(std::uint8_t(send[at]) | 0x40);
}

WsStream::Status WsStream::feed(std::string_view bytes, std::string& plain, std::string& send, std::string& why) {
    msgs_.clear();
    auto failed = decoder_.feed(bytes, msgs_);
    for (auto& m : msgs_) {
        switch (m.op) {
            case WsOp::Binary:
            case WsOp::Text:
                if (m.compressed) {
                    if (!inflate(m.payload, plain)) {
                        why = "invalid compressed data";
                        close(1007, why, send);
                        return Status::Failed;
                    }
                } else {
                    plain.append(m.payload);
                }
                break;
            case WsOp::Ping:
                if (!closed_) protocol::append_ws_frame(send, WsOp::Pong, m.payload);
                break;
            case WsOp::Pong:
                break;
            case WsOp::Close:
                // Echoed, code and reason (nats-server's wsHandleControlFrame; RFC 6455 5.5.1).
                close(m.close_code, m.payload, send);
                return Status::PeerClosed;
            default:
                break;
        }
    }
    if (failed) {
        why = failed->reason;
        close(failed->code, failed->reason, send);
        return Status::Failed;
    }
    return Status::Ok;
}

void WsStream::write(std::string_view plain, std::string& send) {
    if (closed_ || plain.empty()) return;
    if (deflate_ && z_ && z_->out_ok && plain.size() > kCompressThreshold) {
        deflate_into(plain, send);
        return;
    }
    if (!browser_ || plain.size() <= kBrowserFrame) {
        protocol::append_ws_frame(send, WsOp::Binary, plain);
        return;
    }
    // Complete binary frames of 4 KiB each, as nats-server: the protocol is a byte stream.
    for (std::size_t at = 0; at < plain.size(); at += kBrowserFrame)
        protocol::append_ws_frame(send, WsOp::Binary, plain.substr(at, kBrowserFrame));
}

void WsStream::close(std::uint16_t code, std::string_view reason, std::string& send) {
    if (closed_) return;
    closed_ = true;
    // nats-server sends the code it has, 1005 included (an empty close is answered 03 ED),
    // and cuts a long reason to 120 bytes and "...".
    std::string r(reason);
    if (r.size() > 123) r = r.substr(0, 120) + "...";
    protocol::append_ws_close(send, code, r);
}

}  // namespace osprey::transport
