#include "cluster/raft_transport.h"

#include <fmt/format.h>

#include <atomic>

#include "server/account.h"
#include "server/client.h"
#include "server/message.h"
#include "server/server.h"
#include "util/fnv.h"

namespace osprey::cluster {

struct RouteRaftTransport::Inbox : server::Receiver {
    std::atomic<RaftHost*> host{nullptr};
    bool shows_interest() const override { return false; }
    bool deliver(const server::Message& m) override {
        // Only what came over a route: a local publish to the inbox is not a peer's.
        if (!m.from_route) return false;
        if (RaftHost* h = host.load()) h->deliver(m.payload);
        return true;
    }
};

raft::NodeId node_id_of(const std::string& server_name) {
    const std::uint64_t h = util::fnv1a64(server_name);
    return h == raft::kNone ? 1 : h;
}

std::string RouteRaftTransport::inbox(raft::NodeId id) { return fmt::format("$OSP.RAFT.{:016x}", id); }

RouteRaftTransport::RouteRaftTransport(server::Server& srv, raft::NodeId self)
    : srv_(srv), sys_(srv.system_account()), self_(self) {}

RouteRaftTransport::~RouteRaftTransport() { detach(); }

void RouteRaftTransport::attach(RaftHost& host) {
    if (!sys_ || sub_) return;
    sub_ = std::make_shared<Inbox>();
    sub_->subject = inbox(self_);
    sub_->host = &host;
    sys_->sublist().insert(sub_);
}

void RouteRaftTransport::detach() {
    if (!sub_) return;
    sub_->host = nullptr;
    sys_->sublist().remove(sub_);
    sub_.reset();
}

void RouteRaftTransport::send(raft::NodeId to, const std::string&, const std::string& bytes) {
    if (!sys_) return;
    const std::string subject = inbox(to);
    server::Message m{subject, {}, {}, bytes, nullptr};
    sys_->route(m);
}

}  // namespace osprey::cluster

namespace osprey::cluster {

void RouteRaftTransport::flush() {
    // Internal publishes from the host thread queue into the routes' buffers; the loops write
    // them once asked, as at the end of a client's read batch (this runs the routes' hook too).
    server::Client::flush_scheduled();
}

}  // namespace osprey::cluster
