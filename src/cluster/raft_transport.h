// Raft messages between servers over the cluster's routes: each server subscribes, in the
// system account, to its own inbox subject; a message for a peer is an internal publish to the
// peer's inbox, which the route carries as one RMSG (all groups share the route). Best effort,
// as Raft wants: a route that is down or cut just loses messages.
#pragma once
#include <memory>
#include <string>

#include "cluster/raft_host.h"

namespace osprey::server {
class Server;
class Account;
}

namespace osprey::cluster {

class RouteRaftTransport : public RaftTransport {
public:
    RouteRaftTransport(server::Server& srv, raft::NodeId self);
    ~RouteRaftTransport() override;
    // Starts taking messages for `host` (subscribes the inbox); detach before the host goes.
    void attach(RaftHost& host);
    void detach();
    void send(raft::NodeId to, const std::string& group, const std::string& bytes) override;
    void flush() override;

    static std::string inbox(raft::NodeId id);

private:
    struct Inbox;
    server::Server& srv_;
    server::Account* sys_;
    const raft::NodeId self_;
    std::shared_ptr<Inbox> sub_;
};

// A server's Raft id: a hash of its name (server names are unique in a JetStream cluster).
raft::NodeId node_id_of(const std::string& server_name);

}  // namespace osprey::cluster
