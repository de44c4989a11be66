// Consumer groups over HTTP and WebSocket (docs/groups.md): the REST resource under
// /v1/groups, HTTP members (fetch, ack), WebSocket members (/ws) and dead letters, served on
// the monitoring port. A group is a durable pull consumer; the gateway is a client of it.
#pragma once
#include <memory>

namespace osprey::server {
class Server;
}

namespace osprey::groups {

class GatewayCore;

class Gateway {
public:
    // Adds the HTTP handlers to the monitor (before the server starts); a no-op without a
    // monitoring port.
    explicit Gateway(server::Server& srv, bool jetstream);
    ~Gateway();
    // After JetStream started: listens for the advisories that make dead letters.
    void start();
    // Once the server's loops stopped: lets go of every subscription.
    void stop();

private:
    std::shared_ptr<GatewayCore> core_;
};

}  // namespace osprey::groups
