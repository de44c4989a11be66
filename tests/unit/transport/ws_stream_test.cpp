// NATS over WebSocket after the upgrade: frames in and out, control frames, permessage-deflate.
#include "transport/ws_stream.h"

#include <gtest/gtest.h>
#include <zlib.h>

namespace osprey::transport {
namespace {

using protocol::WsOp;

// A client frame: masked, with FIN (and RSV1 when `compressed`).
std::string client_frame(WsOp op, const std::string& payload, bool fin = true, bool compressed = false) {
    std::string f;
    f += char((fin ? 0x80 : 0) | (compressed ? 0x40 : 0) | std::uint8_t(op));
    const std::size_t n = payload.size();
    if (n < 126) {
        f += char(0x80 | n);
    } else if (n <= 0xffff) {
        f += char(0x80 | 126);
        f += char(n >> 8);
        f += char(n & 0xff);
    } else {
        f += char(0x80 | 127);
        for (int k = 7; k >= 0; --k) f += char((std::uint64_t(n) >> (8 * k)) & 0xff);
    }
    const char mask[4] = {0x11, 0x22, 0x33, 0x44};
    f.append(mask, 4);
    for (std::size_t i = 0; i < n; ++i) f += char(payload[i] ^ mask[i & 3]);
    return f;
}

// Raw deflate of one message, the tail 00 00 ff ff taken off (RFC 7692 7.2.1).
std::string deflate_message(const std::string& in) {
    z_stream s{};
    deflateInit2(&s, Z_BEST_SPEED, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    std::string out(deflateBound(&s, in.size()) + 16, '\0');
    s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    s.avail_in = uInt(in.size());
    s.next_out = reinterpret_cast<Bytef*>(out.data());
    s.avail_out = uInt(out.size());
    deflate(&s, Z_SYNC_FLUSH);
    out.resize(out.size() - s.avail_out);
    deflateEnd(&s);
    out.resize(out.size() - 4);
    return out;
}

std::string inflate_message(std::string in) {
    in.append("\x00\x00\xff\xff", 4);
    z_stream s{};
    inflateInit2(&s, -15);
    std::string out(in.size() * 50 + 1024, '\0');
    s.next_in = reinterpret_cast<Bytef*>(in.data());
    s.avail_in = uInt(in.size());
    s.next_out = reinterpret_cast<Bytef*>(out.data());
    s.avail_out = uInt(out.size());
    inflate(&s, Z_SYNC_FLUSH);
    out.resize(out.size() - s.avail_out);
    inflateEnd(&s);
    return out;
}

// The frames the server sent: (first byte, payload) each.
std::vector<std::pair<std::uint8_t, std::string>> server_frames(const std::string& bytes) {
    std::vector<std::pair<std::uint8_t, std::string>> out;
    std::size_t at = 0;
    while (at + 2 <= bytes.size()) {
        const std::uint8_t b0 = std::uint8_t(bytes[at]);
        std::uint64_t n = std::uint8_t(bytes[at + 1]) & 0x7f;
        std::size_t head = 2;
        if (n == 126) {
            n = (std::uint64_t(std::uint8_t(bytes[at + 2])) << 8) | std::uint8_t(bytes[at + 3]);
            head = 4;
        } else if (n == 127) {
            n = 0;
            for (int k = 0; k < 8; ++k) n = (n << 8) | std::uint8_t(bytes[at + 2 + std::size_t(k)]);
            head = 10;
        }
        EXPECT_EQ(std::uint8_t(bytes[at + 1]) & 0x80, 0) << "a server frame is never masked";
        out.emplace_back(b0, bytes.substr(at + head, std::size_t(n)));
        at += head + std::size_t(n);
    }
    EXPECT_EQ(at, bytes.size());
    return out;
}

TEST(WsStream, DataFramesOfAnyKindAreTheProtocolStream) {
    WsStream ws(1 << 20, false);
    std::string plain, send, why;
    const std::string in = client_frame(WsOp::Binary, "PUB a 2\r\nhi\r\n") + client_frame(WsOp::Text, "PING\r\n") +
                           client_frame(WsOp::Binary, "PI", false) + client_frame(WsOp::Continuation, "NG\r\n");
    // Fed one byte at a time: frames cut anywhere still make the same stream.
    for (char c : in) ASSERT_EQ(ws.feed(std::string_view(&c, 1), plain, send, why), WsStream::Status::Ok) << why;
    EXPECT_EQ(plain, "PUB a 2\r\nhi\r\nPING\r\nPING\r\n");
    EXPECT_TRUE(send.empty());
}

TEST(WsStream, PingGetsItsPongAndACloseIsEchoed) {
    WsStream ws(1 << 20, false);
    std::string plain, send, why;
    ASSERT_EQ(ws.feed(client_frame(WsOp::Ping, "abc") + client_frame(WsOp::Ping, ""), plain, send, why),
              WsStream::Status::Ok);
    auto f = server_frames(send);
    ASSERT_EQ(f.size(), 2u);
    EXPECT_EQ(f[0], (std::pair<std::uint8_t, std::string>{0x8a, "abc"}));
    EXPECT_EQ(f[1], (std::pair<std::uint8_t, std::string>{0x8a, ""}));
    send.clear();
    ASSERT_EQ(ws.feed(client_frame(WsOp::Close, std::string("\x03\xe8", 2) + "bye"), plain, send, why),
              WsStream::Status::PeerClosed);
    EXPECT_EQ(server_frames(send), (std::vector<std::pair<std::uint8_t, std::string>>{{0x88, std::string("\x03\xe8", 2) + "bye"}}));
    // An empty close is answered with 1005, as nats-server does.
    WsStream ws2(1 << 20, false);
    send.clear();
    ASSERT_EQ(ws2.feed(client_frame(WsOp::Close, ""), plain, send, why), WsStream::Status::PeerClosed);
    EXPECT_EQ(server_frames(send)[0].second, std::string("\x03\xed", 2));
}

TEST(WsStream, ProtocolErrorsCloseWith1002AndNatsServersReason) {
    struct Case {
        std::string bytes, reason;
    };
    std::string unmasked = client_frame(WsOp::Binary, "x");
    unmasked[1] = char(unmasked[1] & 0x7f);
    unmasked.erase(2, 4);
    const Case cases[] = {
        {unmasked, "mask bit missing"},
        {client_frame(WsOp(3), "x"), "unknown opcode 3"},
        {client_frame(WsOp::Ping, std::string(126, 'p')), "control frame length bigger than maximum allowed of 125 bytes"},
        {client_frame(WsOp::Ping, "p", false), "control frame does not have final bit set"},
        {client_frame(WsOp::Continuation, "x"), "invalid continuation frame"},
        {client_frame(WsOp::Binary, "a", false) + client_frame(WsOp::Binary, "b"),
         "new message started before final frame for previous message was received"},
    };
    for (const auto& c : cases) {
        WsStream ws(1 << 20, false);
        std::string plain, send, why;
        EXPECT_EQ(ws.feed(c.bytes, plain, send, why), WsStream::Status::Failed) << c.reason;
        EXPECT_EQ(why, c.reason);
        auto f = server_frames(send);
        ASSERT_EQ(f.size(), 1u) << c.reason;
        EXPECT_EQ(f[0].first, 0x88);
        EXPECT_EQ(f[0].second, std::string("\x03\xea", 2) + c.reason);
    }
}

TEST(WsStream, DeflatesWhatIsAboveTheThresholdAndInflatesCompressedMessages) {
    WsStream ws(1 << 20, true);
    std::string send;
    ws.write("PONG\r\n", send);
    const std::string big = "MSG subject 1 1000\r\n" + std::string(1000, 'z') + "\r\n";
    ws.write(big, send);
    auto f = server_frames(send);
    ASSERT_EQ(f.size(), 2u);
    EXPECT_EQ(f[0], (std::pair<std::uint8_t, std::string>{0x82, "PONG\r\n"}));
    EXPECT_EQ(f[1].first, 0xc2);  // FIN, RSV1, binary
    EXPECT_LT(f[1].second.size(), big.size() / 10);
    EXPECT_EQ(inflate_message(f[1].second), big);

    std::string plain, out, why;
    const std::string msg = "PUB x 600\r\n" + std::string(600, 'q') + "\r\n";
    ASSERT_EQ(ws.feed(client_frame(WsOp::Binary, deflate_message(msg), true, true) +
                          client_frame(WsOp::Binary, deflate_message("PING\r\n"), true, true),
                      plain, out, why),
              WsStream::Status::Ok)
        << why;
    EXPECT_EQ(plain, msg + "PING\r\n");
}

TEST(WsStream, ADeflateBombOrGarbageFailsInsteadOfGrowing) {
    WsStream ws(64 * 1024, true);
    std::string plain, send, why;
    EXPECT_EQ(ws.feed(client_frame(WsOp::Binary, deflate_message(std::string(10 << 20, 'a')), true, true), plain,
                      send, why),
              WsStream::Status::Failed);
    EXPECT_LE(plain.size(), 64u * 1024 + 16384);
    WsStream ws2(1 << 20, true);
    plain.clear();
    EXPECT_EQ(ws2.feed(client_frame(WsOp::Binary, "\xff\xfe garbage", true, true), plain, send, why),
              WsStream::Status::Failed);
    // Without permessage-deflate, RSV1 is a protocol error.
    WsStream ws3(1 << 20, false);
    EXPECT_EQ(ws3.feed(client_frame(WsOp::Binary, "x", true, true), plain, send, why), WsStream::Status::Failed);
}

TEST(WsStream, BrowsersGetFramesOfFourKibibytes) {
    WsStream ws(1 << 20, false, true);
    std::string send;
    ws.write(std::string(10000, 'b'), send);
    auto f = server_frames(send);
    ASSERT_EQ(f.size(), 3u);
    for (const auto& [b0, p] : f) EXPECT_EQ(b0, 0x82);  // complete binary frames
    EXPECT_EQ(f[0].second.size(), 4096u);
    EXPECT_EQ(f[2].second.size(), 10000u - 8192u);
}

}  // namespace
}  // namespace osprey::transport
