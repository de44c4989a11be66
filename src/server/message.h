// A message on its way through an account: views into the publisher's read buffer.
#pragma once
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
};

// What the trie holds on the server side: something that can take a delivery.
struct Receiver : subjects::Subscription {
    // Returns true when the message was delivered (counts as a responder).
    virtual bool deliver(const Message& m) = 0;
    // The client behind this receiver, if any (echo suppression, queue member choice).
    virtual Client* owner() const { return nullptr; }
};

}  // namespace osprey::server
