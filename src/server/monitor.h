// The HTTP monitoring endpoints (/varz, /connz, /subsz, /routez, /healthz), nats-server's
// field names and units. Serves on loop 0 of the server; requests are rare and small.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace osprey::server {

class Server;

class Monitor {
public:
    explicit Monitor(Server& server);
    ~Monitor();
    void start(const std::string& host, int port);  // throws on bind failure
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
    // A member of /varz filled by an upper layer ("jetstream"): the handler returns its JSON.
    void add_varz_section(const std::string& key, Endpoint handler);
    // /healthz asks this (JetStream in a cluster): the error that makes it unavailable, or "".
    void set_health_check(Endpoint check);

private:
    Server& server_;
    std::mutex endpoints_mu_;
    std::map<std::string, Endpoint> endpoints_;
    std::map<std::string, Endpoint> varz_sections_;
    Endpoint health_check_;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace osprey::server
