// The HTTP monitoring endpoints (/varz, /connz, /subsz, /routez, /healthz), nats-server's
// field names and units. Serves on loop 0 of the server; requests are rare and small.
#pragma once
#include <memory>
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

    // The JSON body for a path with its query ("/connz?subs=1"); empty: not found.
    std::string handle(const std::string& target);

private:
    Server& server_;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace osprey::server
