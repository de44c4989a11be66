// What upper layers (consumer groups) serve on the monitoring port beside the monitor's own
// GET endpoints: requests of any method with a body, answered later (a long poll), and
// WebSocket upgrades. No Beast here: only the files that take a socket over include
// server/http_upgrade.h.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace osprey::server {

struct HttpRequest {
    std::string method;  // "GET", "POST", ...
    std::string path;    // without the query
    std::map<std::string, std::string> query;  // decoded
    std::string authorization;                 // the Authorization header, or ""
    std::string body;
    std::string remote;  // the peer's address
};

struct HttpResponse {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
};

// Answers a request: call it once, from any thread.
using HttpRespond = std::function<void(HttpResponse)>;
// Serves the requests under its prefix.
using HttpHandler = std::function<void(HttpRequest&&, HttpRespond)>;

// A WebSocket upgrade request with its connection, handed over (server/http_upgrade.h).
struct HttpUpgrade;
using UpgradeHandler = std::function<void(std::unique_ptr<HttpUpgrade>)>;

// The JSON error body of the groups API ({"code","message"}), for answers the HTTP layer
// gives itself (a body over the limit).
std::string http_error_json(const std::string& code, const std::string& message);

}  // namespace osprey::server
