// The HTTP monitoring endpoints (/varz, /connz, /subsz, /routez, /healthz), nats-server's
// field names and units. Serves on loop 0 of the server; requests are rare and small.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "server/http_api.h"

namespace osprey::transport {
class TlsContext;
}

namespace osprey::server {

class Server;

class Monitor {
public:
    explicit Monitor(Server& server);
    ~Monitor();
    // Throws on bind failure. `tls`: HTTPS (https_port), with the tls {} block's certificate.
    void start(const std::string& host, int port, std::shared_ptr<const transport::TlsContext> tls = nullptr);
    void stop();
    int port() const;

    // The JSON body for a path with its query ("/connz?subs=1"); empty: not found. `status`
    // (when given) is set to the HTTP status (503 for an unhealthy /healthz).
    std::string handle(const std::string& target, int* status = nullptr);

    // Endpoints of upper layers (JetStream's /jsz): the handler gets the query parameters and
    // returns compact JSON, which the monitor pretty-prints like its own.
    using Query = std::map<std::string, std::string>;
    using Endpoint = std::function<std::string(const Query&)>;
    void add_endpoint(const std::string& path, Endpoint handler);
    // A member of an upper layer's endpoint filled by a layer above it (the groups in /jsz).
    void add_section(const std::string& path, const std::string& key, Endpoint handler);
    // A member of /varz filled by an upper layer ("jetstream"): the handler returns its JSON.
    void add_varz_section(const std::string& key, Endpoint handler);
    // /healthz asks this (JetStream in a cluster): the error that makes it unavailable, or "".
    void set_health_check(Endpoint check);
    // Requests of any method under `prefix` ("/v1/") go to `handler`, which answers when it
    // can (before start()). A WebSocket upgrade of `path` ("/ws") is handed to `upgrade`.
    void add_http_handler(const std::string& prefix, HttpHandler handler);
    void add_upgrade_handler(const std::string& path, UpgradeHandler upgrade);
    // The handler of a path, or null (any thread after start()).
    const HttpHandler* http_handler(std::string_view path) const;
    const UpgradeHandler* upgrade_handler(std::string_view path) const;

private:
    Server& server_;
    std::mutex endpoints_mu_;
    std::map<std::string, Endpoint> endpoints_;
    std::map<std::string, Endpoint> varz_sections_;
    std::map<std::pair<std::string, std::string>, Endpoint> sections_;
    Endpoint health_check_;
    std::map<std::string, HttpHandler> http_handlers_;       // by prefix; set before start()
    std::map<std::string, UpgradeHandler> upgrade_handlers_;  // by path
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace osprey::server
