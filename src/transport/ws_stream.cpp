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
                // Answered with the client's own code, as RFC 6455 5.5.1 suggests.
                close(m.close_code == 1005 ? 1000 : m.close_code, {}, send);
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
    // Fragments: the first binary, then continuations, FIN on the last only.
    for (std::size_t at = 0; at < plain.size(); at += kBrowserFrame) {
        const std::size_t start = send.size();
        const bool last = at + kBrowserFrame >= plain.size();
        protocol::append_ws_frame(send, at == 0 ? WsOp::Binary : WsOp::Continuation, plain.substr(at, kBrowserFrame));
        if (!last) send[start] = char(std::uint8_t(send[start]) & 0x7f);
    }
}

void WsStream::close(std::uint16_t code, std::string_view reason, std::string& send) {
    if (closed_) return;
    closed_ = true;
    if (code == 1005 || code == 1006 || code == 1015) {
        protocol::append_ws_frame(send, WsOp::Close, {});  // codes a frame must not carry
        return;
    }
    protocol::append_ws_close(send, code, reason);
}

}  // namespace osprey::transport
