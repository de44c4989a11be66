// RFC 6455 framing: what a client may send (masked, fragmented, control frames between
// fragments, any split across reads) and what ends the connection, with the RFC's codes.
#include <gtest/gtest.h>

#include "protocol/ws_frames.h"

namespace osprey::protocol {
namespace {

std::string frame(std::uint8_t op, std::string_view payload, bool fin = true, bool mask = true) {
    std::string f;
    f += char((fin ? 0x80 : 0) | op);
    const std::size_t n = payload.size();
    const char m = mask ? char(0x80) : 0;
    if (n < 126) {
        f += char(m | char(n));
    } else if (n < 65536) {
        f += char(m | 126);
        f += char(n >> 8);
        f += char(n & 0xff);
    } else {
        f += char(m | 127);
        for (int k = 7; k >= 0; --k) f += char((n >> (8 * k)) & 0xff);
    }
    const char key[4] = {0x11, 0x22, 0x33, 0x44};
    if (mask) f.append(key, 4);
    for (std::size_t i = 0; i < n; ++i) f += mask ? char(payload[i] ^ key[i & 3]) : payload[i];
    return f;
}

TEST(WsFrames, MaskedMessagesOfEverySizeInAnySplit) {
    const std::string big(70000, 'b');
    const std::string in = frame(1, "hello") + frame(2, std::string(300, 'x')) + frame(2, big);
    for (std::size_t step : {std::size_t(1), std::size_t(7), in.size()}) {
        WsDecoder d(1 << 20);
        std::vector<WsMessage> out;
        for (std::size_t at = 0; at < in.size(); at += step) ASSERT_FALSE(d.feed(std::string_view(in).substr(at, step), out));
        ASSERT_EQ(out.size(), 3u) << step;
        EXPECT_EQ(out[0].op, WsOp::Text);
        EXPECT_EQ(out[0].payload, "hello");
        EXPECT_EQ(out[1].payload.size(), 300u);
        EXPECT_EQ(out[2].payload, big);
    }
}

TEST(WsFrames, FragmentsJoinAroundControlFrames) {
    WsDecoder d(1024);
    std::vector<WsMessage> out;
    ASSERT_FALSE(d.feed(frame(1, "{\"a\":", false) + frame(9, "p") + frame(0, "1}"), out));
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].op, WsOp::Ping);
    EXPECT_EQ(out[0].payload, "p");
    EXPECT_EQ(out[1].op, WsOp::Text);
    EXPECT_EQ(out[1].payload, "{\"a\":1}");
}

TEST(WsFrames, CloseCarriesItsCode) {
    WsDecoder d(1024);
    std::vector<WsMessage> out;
    ASSERT_FALSE(d.feed(frame(8, std::string("\x03\xe8", 2) + "bye") + frame(8, ""), out));
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].close_code, 1000);
    EXPECT_EQ(out[0].payload, "bye");
    EXPECT_EQ(out[1].close_code, 1005);
}

TEST(WsFrames, ViolationsEndTheConnectionWithTheRfcsCodes) {
    auto fails = [](const std::string& in, std::size_t max = 1024) {
        WsDecoder d(max);
        std::vector<WsMessage> out;
        auto f = d.feed(in, out);
        return f ? int(f->code) : 0;
    };
    EXPECT_EQ(fails(frame(1, "x", true, false)), 1002);                 // unmasked
    EXPECT_EQ(fails(std::string("\xc1\x80\0\0\0\0", 6)), 1002);          // reserved bit
    EXPECT_EQ(fails(frame(3, "x")), 1002);                               // unknown opcode
    EXPECT_EQ(fails(frame(9, "x", false)), 1002);                        // fragmented control
    EXPECT_EQ(fails(frame(9, std::string(126, 'x'))), 1002);             // control over 125
    EXPECT_EQ(fails(frame(0, "x")), 1002);                               // continuation alone
    EXPECT_EQ(fails(frame(1, "a", false) + frame(1, "b")), 1002);        // new message inside one
    EXPECT_EQ(fails(frame(1, "\xff\xfe")), 1007);                        // not UTF-8
    EXPECT_EQ(fails(frame(1, "\xed\xa0\x80")), 1007);                    // a surrogate
    EXPECT_EQ(fails(frame(8, "\x03")), 1002);                            // close of one byte
    EXPECT_EQ(fails(frame(2, std::string(2000, 'x'))), 1009);            // too big
    EXPECT_EQ(fails(frame(2, std::string(600, 'x'), false) + frame(0, std::string(600, 'x'))), 1009);
    EXPECT_EQ(fails(frame(2, "\xff\xfe")), 0);                           // binary: any bytes
}

TEST(WsFrames, ServerFramesAreUnmaskedWithTheirLength) {
    std::string out;
    append_ws_frame(out, WsOp::Text, "hi");
    EXPECT_EQ(out, std::string("\x81\x02hi", 4));
    out.clear();
    append_ws_frame(out, WsOp::Binary, std::string(300, 'x'));
    EXPECT_EQ(out.substr(0, 4), std::string("\x82\x7e\x01\x2c", 4));
    out.clear();
    append_ws_close(out, 1009, "too big");
    EXPECT_EQ(out.substr(0, 4), std::string("\x88\x09\x03\xf1", 4));
}

}  // namespace
}  // namespace osprey::protocol
