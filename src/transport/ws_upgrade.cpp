#include "transport/ws_upgrade.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>

namespace osprey::transport {

namespace {

std::string lower(std::string_view s) {
    std::string o(s);
    for (auto& c : o) c = char(std::tolower((unsigned char)c));
    return o;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Header values by lowercased name, in the order they came (Go's http.Header).
using Headers = std::multimap<std::string, std::string>;

std::string first(const Headers& h, const char* name) {
    auto it = h.find(name);
    return it == h.end() ? std::string() : it->second;
}

// nats-server's wsHeaderContains: one of the comma separated tokens equals `value`, any case.
bool contains_token(const Headers& h, const char* name, std::string_view value) {
    auto [a, b] = h.equal_range(name);
    for (auto it = a; it != b; ++it) {
        std::string_view v = it->second;
        for (;;) {
            const auto comma = v.find(',');
            if (lower(trim(v.substr(0, comma))) == lower(value)) return true;
            if (comma == std::string_view::npos) break;
            v.remove_prefix(comma + 1);
        }
    }
    return false;
}

// wsPMCExtensionSupport(header, true): permessage-deflate is among the offered extensions.
bool offers_deflate(const Headers& h) {
    auto [a, b] = h.equal_range("sec-websocket-extensions");
    for (auto it = a; it != b; ++it) {
        std::string_view v = it->second;
        while (!v.empty()) {
            const auto cut = v.find_first_of(",;");
            if (lower(trim(v.substr(0, cut))) == "permessage-deflate") return true;
            if (cut == std::string_view::npos) break;
            v.remove_prefix(cut + 1);
        }
    }
    return false;
}

std::string http_date() {
    const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return buf;
}

// Go's http.Error(w, StatusText(status), status) after wsReturnHTTPError set the version
// header: Go writes the set headers sorted, then Date and Content-Length.
WsUpgrade reject(int status, const char* text, std::string why) {
    WsUpgrade u;
    u.kind = WsUpgrade::Kind::Rejected;
    const std::string body = std::string(text) + "\n";
    u.response = "HTTP/1.1 " + std::to_string(status) + " " + text +
                 "\r\nContent-Type: text/plain; charset=utf-8\r\nSec-Websocket-Version: 13\r\n"
                 "X-Content-Type-Options: nosniff\r\nDate: " +
                 http_date() + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    u.error = "websocket handshake error: " + why;
    return u;
}

// What Go's HTTP server answers itself to a request it cannot read.
WsUpgrade bad_request(std::string why) {
    WsUpgrade u;
    u.kind = WsUpgrade::Kind::Rejected;
    u.response = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request";
    u.error = "websocket handshake error: " + why;
    return u;
}

// wsGetHostAndPort: host lowercased, the scheme's port when none is given.
bool host_port(std::string_view hp, bool tls, std::string& host, std::string& port) {
    if (hp.empty()) return false;
    if (hp.front() == '[') {
        const auto close = hp.find(']');
        if (close == std::string_view::npos) return false;
        host = lower(hp.substr(1, close - 1));
        auto rest = hp.substr(close + 1);
        if (rest.empty()) port = tls ? "443" : "80";
        else if (rest.front() == ':') port = std::string(rest.substr(1));
        else return false;
        return true;
    }
    const auto colon = hp.rfind(':');
    if (colon == std::string_view::npos) {
        host = lower(hp);
        port = tls ? "443" : "80";
        return true;
    }
    if (hp.find(':') != colon) return false;  // "too many colons"
    host = lower(hp.substr(0, colon));
    port = std::string(hp.substr(colon + 1));
    return true;
}

bool is_ip(std::string_view s) {
    if (s.empty()) return false;
    int dots = 0, digits = 0;
    for (char c : s) {
        if (c == '.') {
            if (digits == 0) return false;
            ++dots;
            digits = 0;
        } else if (std::isdigit((unsigned char)c)) {
            if (++digits > 3) return false;
        } else {
            return s.find(':') != std::string_view::npos &&
                   std::all_of(s.begin(), s.end(), [](char x) { return std::isxdigit((unsigned char)x) || x == ':' || x == '.'; });
        }
    }
    return dots == 3 && digits > 0;
}

}  // namespace

bool parse_origin(std::string_view url, WsOrigin& out) {
    const auto sep = url.find("://");
    if (sep == std::string_view::npos || sep == 0) return false;
    out.scheme = lower(url.substr(0, sep));
    auto rest = url.substr(sep + 3);
    rest = rest.substr(0, rest.find('/'));
    return host_port(rest, out.scheme == "https", out.host, out.port);
}

std::string ws_accept_key(std::string_view key) {
    static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    std::string input(key);
    input += kGuid;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(input.data(), input.size(), md, &len, EVP_sha1(), nullptr);
    std::string out(4 * ((len + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), md, int(len));
    out.resize(std::size_t(n));
    return out;
}

WsUpgrade ws_upgrade(std::string_view bytes, const WsUpgradeConfig& cfg, std::size_t max_request) {
    const auto end = bytes.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        if (bytes.size() > max_request) return bad_request("request header too large");
        return {};
    }
    std::string_view head = bytes.substr(0, end + 2);
    const auto eol = head.find("\r\n");
    const std::string_view line = head.substr(0, eol);
    head.remove_prefix(eol + 2);
    // "METHOD SP target SP HTTP/1.x"
    const auto sp1 = line.find(' ');
    const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos) return bad_request("malformed HTTP request");
    const std::string_view method = line.substr(0, sp1);
    const std::string_view version = line.substr(sp2 + 1);
    if (!version.starts_with("HTTP/1.")) return bad_request("malformed HTTP version");
    Headers h;
    while (!head.empty()) {
        const auto e = head.find("\r\n");
        std::string_view hl = head.substr(0, e);
        head.remove_prefix(e + 2);
        const auto colon = hl.find(':');
        if (colon == std::string_view::npos || colon == 0) return bad_request("malformed MIME header line");
        h.emplace(lower(hl.substr(0, colon)), std::string(trim(hl.substr(colon + 1))));
    }
    // Go's server refuses an HTTP/1.1 request without Host before any handler runs.
    const std::string host = first(h, "host");
    if (host.empty() && version == "HTTP/1.1") return bad_request("missing required Host header");

    if (method != "GET") return reject(405, "Method Not Allowed", "request method must be GET");
    if (host.empty()) return reject(400, "Bad Request", "'Host' missing in request");
    if (!contains_token(h, "upgrade", "websocket")) return reject(400, "Bad Request", "invalid value for header 'Upgrade'");
    if (!contains_token(h, "connection", "Upgrade")) return reject(400, "Bad Request", "invalid value for header 'Connection'");
    const std::string key = first(h, "sec-websocket-key");
    if (key.empty()) return reject(400, "Bad Request", "key missing");
    if (!contains_token(h, "sec-websocket-version", "13")) return reject(400, "Bad Request", "invalid version");
    if (cfg.same_origin || !cfg.allowed_origins.empty()) {
        std::string origin = first(h, "origin");
        if (origin.empty()) origin = first(h, "sec-websocket-origin");
        // No Origin: not a browser, which could send any (RFC 6455 1.6), so accepted.
        if (!origin.empty()) {
            WsOrigin o;
            if (!parse_origin(origin, o)) return reject(403, "Forbidden", "origin not allowed: invalid origin " + origin);
            if (cfg.same_origin) {
                std::string rh, rp;
                if (!host_port(host, cfg.tls, rh, rp) || rh != o.host || rp != o.port)
                    return reject(403, "Forbidden", "origin not allowed: not same origin");
            }
            if (!cfg.allowed_origins.empty()) {
                const auto it = std::find_if(cfg.allowed_origins.begin(), cfg.allowed_origins.end(),
                                             [&](const WsOrigin& a) { return a.host == o.host; });
                if (it == cfg.allowed_origins.end() || it->scheme != o.scheme || it->port != o.port)
                    return reject(403, "Forbidden", "origin not allowed: not in the allowed list");
            }
        }
    }
    if (bytes.size() > end + 4)
        return reject(400, "Bad Request", "client sent data before handshake is complete");

    WsUpgrade u;
    u.kind = WsUpgrade::Kind::Accepted;
    u.deflate = cfg.compression && offers_deflate(h);
    // Nats-No-Masking (unmasked client frames) is not offered: without the header in the
    // answer, a client masks as usual.
    u.response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
                 ws_accept_key(key) + "\r\n";
    if (u.deflate)
        u.response += "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n";
    u.response += "\r\n";
    const std::string ua = first(h, "user-agent");
    u.browser = ua.starts_with("Mozilla/");
    if (auto xff = first(h, "x-forwarded-for"); is_ip(xff)) u.client_ip = xff;
    if (!cfg.jwt_cookie.empty()) {
        // Cookie: a=b; c=d
        auto [a, b] = h.equal_range("cookie");
        for (auto it = a; it != b && u.cookie_jwt.empty(); ++it) {
            std::string_view v = it->second;
            while (!v.empty()) {
                const auto semi = v.find(';');
                std::string_view pair = trim(v.substr(0, semi));
                const auto eq = pair.find('=');
                if (eq != std::string_view::npos && pair.substr(0, eq) == cfg.jwt_cookie) {
                    std::string_view val = pair.substr(eq + 1);
                    if (val.size() >= 2 && val.front() == '"' && val.back() == '"') val = val.substr(1, val.size() - 2);
                    u.cookie_jwt = std::string(val);
                    break;
                }
                if (semi == std::string_view::npos) break;
                v.remove_prefix(semi + 1);
            }
        }
    }
    return u;
}

}  // namespace osprey::transport
