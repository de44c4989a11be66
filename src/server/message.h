// A message on its way through an account: views into the publisher's read buffer.
#pragma once
#include <cstdint>
#include <string_view>

#include "subjects/sublist.h"

namespace osprey::server {

class Client;

struct Message {
    std::string_view subject;
    std::string_view reply;
    std::string_view headers;  // empty: no headers (MSG rather than HMSG)
    std::string_view payload;
    Client* origin = nullptr;  // the publishing client, for echo; null for internal publishes
    // The subject the message was routed by when it differs from the one shown in the MSG line
    // (a consumer delivers a stored message, with its own subject, to a deliver subject or an
    // inbox); empty: `subject`. Imports route by it and keep the shown subject.
    std::string_view routed = {};
    std::string_view route_subject() const { return routed.empty() ? subject : routed; }
    // Came from another server through a route: plain subscriptions of routes are not served
    // (one hop), and queue groups only those the sender named (`route_queues`, space separated).
    bool from_route = false;
    std::string_view route_queues = {};
};

// Another server reached through a route (the cluster layer): takes one message per publish,
// with the queue groups picked for it on this server.
struct RemoteTarget {
    virtual ~RemoteTarget() = default;
    virtual void send_routed(std::string_view account, const Message& m, std::string_view queues) = 0;
};

// What the trie holds on the server side: something that can take a delivery.
struct Receiver : subjects::Subscription {
    // Returns true when the message was delivered (counts as a responder).
    virtual bool deliver(const Message& m) = 0;
    // The client behind this receiver, if any (echo suppression, queue member choice).
    virtual Client* owner() const { return nullptr; }
    // Whether it counts as someone listening (push consumer "push_bound", inactivity). The
    // JetStream API is not: nats-server serves it from the system account.
    virtual bool shows_interest() const { return true; }
    // A route's subscription: the server behind it, and its queue weight (how many members).
    virtual RemoteTarget* remote() const { return nullptr; }
    virtual std::int32_t weight() const { return 1; }
};

// Whether anyone in `r` counts as listening.
inline bool has_interest(const subjects::MatchResult& r) {
    auto listens = [](const subjects::SubPtr& s) { return static_cast<const Receiver*>(s.get())->shows_interest(); };
    for (const auto& s : r.plain)
        if (listens(s)) return true;
    for (const auto& q : r.queues)
        for (const auto& s : q)
            if (listens(s)) return true;
    return false;
}

}  // namespace osprey::server
