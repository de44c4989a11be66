#include "protocol/ws_frames.h"

#include <cstring>
#include <string>

namespace osprey::protocol {

bool valid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        int n;
        std::uint32_t cp;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c >> 5) == 6) {
            n = 1;
            cp = c & 0x1f;
        } else if ((c >> 4) == 14) {
            n = 2;
            cp = c & 0x0f;
        } else if ((c >> 3) == 30) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + std::size_t(n) >= s.size()) return false;
        for (int k = 1; k <= n; ++k) {
            const auto cc = static_cast<unsigned char>(s[i + std::size_t(k)]);
            if ((cc >> 6) != 2) return false;
            cp = (cp << 6) | (cc & 0x3f);
        }
        // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += std::size_t(n) + 1;
    }
    return true;
}

namespace {
// XOR with the 4-byte key, 8 bytes at a time (a byte loop costs about a nanosecond a byte).
void unmask(std::string& p, const char* mask) {
    std::uint64_t key = 0;
    std::memcpy(&key, mask, 4);
    key |= key << 32;
    std::size_t k = 0;
    for (; k + 8 <= p.size(); k += 8) {
        std::uint64_t w;
        std::memcpy(&w, p.data() + k, 8);
        w ^= key;
        std::memcpy(p.data() + k, &w, 8);
    }
    for (; k < p.size(); ++k) p[k] = char(p[k] ^ mask[k & 3]);
}
}  // namespace

std::optional<WsFailure> WsDecoder::feed(std::string_view data, std::vector<WsMessage>& out) {
    if (failed_) return WsFailure{1002, "connection failed"};
    buf_.append(data);
    std::size_t at = 0;
    auto fail = [&](std::uint16_t code, std::string reason) {
        failed_ = true;
        buf_.clear();
        return WsFailure{code, std::move(reason)};
    };
    while (buf_.size() - at >= 2) {
        const auto b0 = static_cast<unsigned char>(buf_[at]);
        const auto b1 = static_cast<unsigned char>(buf_[at + 1]);
        const bool fin = b0 & 0x80;
        const auto opcode = std::uint8_t(b0 & 0x0f);
        const bool rsv1 = b0 & 0x40;
        // RSV1 only with permessage-deflate, and only on the first frame of a data message.
        if ((b0 & 0x30) || (rsv1 && (!deflate_ || opcode == 0 || opcode >= 8)))
            return fail(1002, "reserved bits set");
        const bool masked = b1 & 0x80;
        std::uint64_t len = b1 & 0x7f;
        std::size_t head = 2;
        if (len == 126) {
            if (buf_.size() - at < 4) break;
            len = (std::uint64_t(std::uint8_t(buf_[at + 2])) << 8) | std::uint8_t(buf_[at + 3]);
            head = 4;
        } else if (len == 127) {
            if (buf_.size() - at < 10) break;
            len = 0;
            for (int k = 0; k < 8; ++k) len = (len << 8) | std::uint8_t(buf_[at + 2 + std::size_t(k)]);
            head = 10;
            if (len >> 63) return fail(1002, "bad frame length");
        }
        if (!masked) return fail(1002, "mask bit missing");
        const bool control = opcode >= 8;
        // The reasons are nats-server's (websocket.go wsRead), which clients may show.
        if (opcode != 0 && opcode != 1 && opcode != 2 && opcode != 8 && opcode != 9 && opcode != 10)
            return fail(1002, "unknown opcode " + std::to_string(opcode));
        if (control && len > 125)
            return fail(1002, "control frame length bigger than maximum allowed of 125 bytes");
        if (control && !fin) return fail(1002, "control frame does not have final bit set");
        if (len > max_message_ || (!control && partial_.size() + len > max_message_))
            return fail(1009, "message too big");
        if (buf_.size() - at < head + 4 + len) break;
        const char* mask = buf_.data() + at + head;
        std::string payload(buf_.data() + at + head + 4, std::size_t(len));
        unmask(payload, mask);
        at += head + 4 + std::size_t(len);
        if (auto f = frame(fin, rsv1, WsOp(opcode), std::move(payload), out)) {
            failed_ = true;
            buf_.clear();
            return f;
        }
    }
    buf_.erase(0, at);
    return std::nullopt;
}

std::optional<WsFailure> WsDecoder::frame(bool fin, bool rsv1, WsOp op, std::string payload,
                                          std::vector<WsMessage>& out) {
    switch (op) {
        case WsOp::Ping:
        case WsOp::Pong:
            out.push_back(WsMessage{op, std::move(payload)});
            return std::nullopt;
        case WsOp::Close: {
            WsMessage m{op, {}, 1005};
            if (payload.size() == 1) return WsFailure{1002, "bad close frame"};
            if (payload.size() >= 2) {
                m.close_code = std::uint16_t((std::uint8_t(payload[0]) << 8) | std::uint8_t(payload[1]));
                m.payload = payload.substr(2);
                if (!valid_utf8(m.payload)) return WsFailure{1007, "close reason is not UTF-8"};
            }
            out.push_back(std::move(m));
            return std::nullopt;
        }
        case WsOp::Continuation:
            if (partial_op_ == WsOp::Continuation) return WsFailure{1002, "invalid continuation frame"};
            partial_ += payload;
            break;
        case WsOp::Text:
        case WsOp::Binary:
            if (partial_op_ != WsOp::Continuation) return WsFailure{1002, "new message started before final frame for previous message was received"};
            partial_op_ = op;
            partial_compressed_ = rsv1;
            partial_ = std::move(payload);
            break;
    }
    if (!fin) return std::nullopt;
    WsMessage m{partial_op_, std::move(partial_)};
    m.compressed = partial_compressed_;
    partial_.clear();
    partial_op_ = WsOp::Continuation;
    // A compressed text message is checked once inflated, by whoever inflates it.
    if (m.op == WsOp::Text && !m.compressed && !valid_utf8(m.payload)) return WsFailure{1007, "text is not UTF-8"};
    out.push_back(std::move(m));
    return std::nullopt;
}

void append_ws_frame(std::string& out, WsOp op, std::string_view payload) {
    out += char(0x80 | std::uint8_t(op));
    const std::size_t n = payload.size();
    if (n < 126) {
        out += char(n);
    } else if (n <= 0xffff) {
        out += char(126);
        out += char((n >> 8) & 0xff);
        out += char(n & 0xff);
    } else {
        out += char(127);
        for (int k = 7; k >= 0; --k) out += char((std::uint64_t(n) >> (8 * k)) & 0xff);
    }
    out.append(payload);
}

void append_ws_close(std::string& out, std::uint16_t code, std::string_view reason) {
    std::string p;
    p += char(code >> 8);
    p += char(code & 0xff);
    p.append(reason.substr(0, 123));
    append_ws_frame(out, WsOp::Close, p);
}

}  // namespace osprey::protocol
