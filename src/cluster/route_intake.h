// A system-account subscription for the cluster's own traffic between servers (catch-up,
// meta membership): it takes only what came over a route (a local publish to the subject is
// not a peer's), counts as nobody listening, and hands each message to `fn` on the route's
// loop thread, exempt from the slow-consumer stall (the peer is not a client).
#pragma once
#include <functional>

#include "server/client.h"
#include "server/message.h"

namespace osprey::cluster {

struct RouteIntake : server::Receiver {
    std::function<void(const server::Message&)> fn;
    bool shows_interest() const override { return false; }
    bool deliver(const server::Message& m) override {
        if (!m.from_route) return false;
        server::Client::StallExempt internal;
        fn(m);
        return true;
    }
};

}  // namespace osprey::cluster
