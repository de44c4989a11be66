// A receiver the server itself answers with (system requests, the resolver's claims requests,
// the inbox of an account fetch): a function called on the delivering thread. Its work never
// stalls the publisher as a slow client would (nats-server serves these from its own
// goroutines).
#pragma once
#include <functional>

#include "server/client.h"
#include "server/message.h"

namespace osprey::server {

struct InternalHandler : Receiver {
    std::function<void(const Message&)> fn;
    bool local = false;  // answers this server's clients only: not announced to routes
    bool propagates() const override { return !local; }
    bool deliver(const Message& m) override {
        Client::StallExempt internal;
        fn(m);
        return true;
    }
};

}  // namespace osprey::server
