// The opening handshake of a NATS websocket port, checked against nats-server 2.9.10's answers.
#include "transport/ws_upgrade.h"

#include <gtest/gtest.h>

namespace osprey::transport {
namespace {

std::string request(const std::string& extra, const std::string& method = "GET") {
    return method + " / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
           extra + "\r\n";
}

std::string status_line(const WsUpgrade& u) { return u.response.substr(0, u.response.find("\r\n")); }

TEST(WsUpgrade, AcceptsAndComputesTheRfcKey) {
    EXPECT_EQ(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    auto u = ws_upgrade(request(""), {});
    ASSERT_EQ(u.kind, WsUpgrade::Kind::Accepted);
    EXPECT_EQ(u.response,
              "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
    EXPECT_FALSE(u.deflate);
}

TEST(WsUpgrade, WaitsForTheWholeRequestWithinABound) {
    const std::string r = request("");
    for (std::size_t n = 0; n < r.size(); ++n)
        EXPECT_EQ(ws_upgrade(r.substr(0, n), {}).kind, WsUpgrade::Kind::Incomplete) << n;
    EXPECT_EQ(ws_upgrade(std::string(70000, 'a'), {}).kind, WsUpgrade::Kind::Rejected);
}

TEST(WsUpgrade, RefusesAsNatsServerDoes) {
    struct Case {
        std::string req, status, why;
    };
    const std::string base = "Host: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
    const Case cases[] = {
        {request("", "POST"), "HTTP/1.1 405 Method Not Allowed", "request method must be GET"},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nSec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\n\r\n",
         "HTTP/1.1 400 Bad Request", "invalid value for header 'Upgrade'"},
        {"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\n\r\n",
         "HTTP/1.1 400 Bad Request", "invalid value for header 'Connection'"},
        {"GET / HTTP/1.1\r\n" + base + "Sec-WebSocket-Version: 13\r\n\r\n", "HTTP/1.1 400 Bad Request", "key missing"},
        {"GET / HTTP/1.1\r\n" + base + "Sec-WebSocket-Key: k\r\nSec-WebSocket-Version: 8\r\n\r\n",
         "HTTP/1.1 400 Bad Request", "invalid version"},
        {request("") + "PUB x 1\r\n", "HTTP/1.1 400 Bad Request", "client sent data before handshake is complete"},
    };
    for (const auto& c : cases) {
        auto u = ws_upgrade(c.req, {});
        ASSERT_EQ(u.kind, WsUpgrade::Kind::Rejected) << c.why;
        EXPECT_EQ(status_line(u), c.status) << c.why;
        EXPECT_NE(u.response.find("Sec-Websocket-Version: 13\r\n"), std::string::npos);
        EXPECT_EQ(u.error, "websocket handshake error: " + c.why);
        // Go's http.Error body: the status text and a newline.
        const std::string text = c.status.substr(13);
        EXPECT_TRUE(u.response.ends_with("\r\n\r\n" + text + "\n")) << u.response;
    }
    // No Host in HTTP/1.1: Go's server answers before any handler.
    auto u = ws_upgrade("GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", {});
    EXPECT_EQ(u.kind, WsUpgrade::Kind::Rejected);
    EXPECT_EQ(status_line(u), "HTTP/1.1 400 Bad Request");
}

TEST(WsUpgrade, NegotiatesDeflateOnlyWhenAllowedAndOffered) {
    WsUpgradeConfig on;
    on.compression = true;
    auto u = ws_upgrade(request("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"), on);
    ASSERT_EQ(u.kind, WsUpgrade::Kind::Accepted);
    EXPECT_TRUE(u.deflate);
    EXPECT_NE(u.response.find("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                              "client_no_context_takeover\r\n"),
              std::string::npos);
    EXPECT_FALSE(ws_upgrade(request(""), on).deflate);
    EXPECT_FALSE(ws_upgrade(request("Sec-WebSocket-Extensions: permessage-deflate\r\n"), {}).deflate);
}

TEST(WsUpgrade, ChecksOriginsAsNatsServerDoes) {
    WsUpgradeConfig same;
    same.same_origin = true;
    auto with_origin = [](const std::string& o) { return request("Origin: " + o + "\r\n"); };
    // Host 127.0.0.1:8080: the scheme is not compared, host and port are.
    EXPECT_EQ(ws_upgrade(with_origin("http://127.0.0.1:8080"), same).kind, WsUpgrade::Kind::Accepted);
    EXPECT_EQ(ws_upgrade(with_origin("https://127.0.0.1:8080"), same).kind, WsUpgrade::Kind::Accepted);
    EXPECT_EQ(ws_upgrade(with_origin("http://localhost:8080"), same).kind, WsUpgrade::Kind::Rejected);
    EXPECT_EQ(ws_upgrade(request(""), same).kind, WsUpgrade::Kind::Accepted);  // no Origin: not a browser
    auto refused = ws_upgrade(with_origin("http://127.0.0.1"), same);
    EXPECT_EQ(status_line(refused), "HTTP/1.1 403 Forbidden");
    EXPECT_EQ(refused.error, "websocket handshake error: origin not allowed: not same origin");

    WsUpgradeConfig list;
    WsOrigin good;
    ASSERT_TRUE(parse_origin("http://good.example", good));
    EXPECT_EQ(good.port, "80");
    list.allowed_origins.push_back(good);
    EXPECT_EQ(ws_upgrade(with_origin("http://good.example"), list).kind, WsUpgrade::Kind::Accepted);
    EXPECT_EQ(ws_upgrade(with_origin("http://GOOD.example:80/page"), list).kind, WsUpgrade::Kind::Accepted);
    EXPECT_EQ(ws_upgrade(with_origin("https://good.example"), list).kind, WsUpgrade::Kind::Rejected);
    EXPECT_EQ(ws_upgrade(with_origin("http://good.example:8080"), list).kind, WsUpgrade::Kind::Rejected);
    EXPECT_EQ(ws_upgrade(with_origin("http://evil.example"), list).error,
              "websocket handshake error: origin not allowed: not in the allowed list");
    EXPECT_EQ(ws_upgrade(with_origin("null"), list).kind, WsUpgrade::Kind::Rejected);
}

TEST(WsUpgrade, ReadsTheJwtCookieBrowsersAndForwardedAddresses) {
    WsUpgradeConfig c;
    c.jwt_cookie = "jwt";
    auto u = ws_upgrade(request("Cookie: a=b; jwt=\"eyJx.y.z\"; c=d\r\nUser-Agent: Mozilla/5.0\r\nX-Forwarded-For: 10.1.2.3\r\n"), c);
    ASSERT_EQ(u.kind, WsUpgrade::Kind::Accepted);
    EXPECT_EQ(u.cookie_jwt, "eyJx.y.z");
    EXPECT_TRUE(u.browser);
    EXPECT_EQ(u.client_ip, "10.1.2.3");
    EXPECT_EQ(ws_upgrade(request("X-Forwarded-For: not-an-ip\r\n"), c).client_ip, "");
}

}  // namespace
}  // namespace osprey::transport
