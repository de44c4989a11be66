// The WebSocket opening handshake of a NATS websocket port (nats-server 2.9.10's wsUpgrade):
// the client's HTTP request is checked point by point as RFC 6455 4.2.1 lists them, in
// nats-server's order and with its answers. Pure: bytes in, the response bytes out.
#pragma once
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace osprey::transport {

struct WsOrigin {
    std::string scheme, host, port;
};

struct WsUpgradeConfig {
    bool compression = false;  // permessage-deflate when the client offers it
    bool same_origin = false;  // Origin must match the request's Host
    std::vector<WsOrigin> allowed_origins;  // parsed at start-up (parse_origin)
    std::string jwt_cookie;    // the cookie carrying a user JWT, if any
    bool tls = false;          // the port is wss: an origin without a port means 443
};

// "https://example.com:8443" -> {https, example.com, 8443}; false if it is not a URL.
bool parse_origin(std::string_view url, WsOrigin& out);

struct WsUpgrade {
    enum class Kind { Incomplete, Rejected, Accepted } kind = Kind::Incomplete;
    std::string response;  // the 101, or the HTTP error (then the connection closes)
    std::string error;     // Rejected: why, for the log ("websocket handshake error: ...")
    bool deflate = false;
    bool browser = false;     // a User-Agent starting with Mozilla/: frames of 4 KiB at most
    std::string cookie_jwt;
    std::string client_ip;    // X-Forwarded-For, when it is an IP address
};

// Looks at what was read so far; at most `max_request` bytes are waited for.
WsUpgrade ws_upgrade(std::string_view bytes, const WsUpgradeConfig& cfg, std::size_t max_request = 64 * 1024);

// base64(SHA-1(key + GUID)), RFC 6455 4.2.2.
std::string ws_accept_key(std::string_view key);

}  // namespace osprey::transport
