// Publish/subscribe permissions of one user, checked per subject.
#pragma once
#include <string_view>

#include "server/options.h"

namespace osprey::server {

// Publishing to a literal subject: allowed when some allow pattern matches (or there is no
// allow list) and no deny pattern matches.
bool may_publish(const Permissions& p, std::string_view subject);
// Subscribing: the subscription's subject is checked with its wildcards taken as tokens, as
// nats-server does; a wildcard subscription that only partly overlaps a deny pattern is
// allowed, and the deny list is then applied per delivered message (see may_deliver).
bool may_subscribe(const Permissions& p, std::string_view subject);
bool may_deliver(const Permissions& p, std::string_view subject);

}  // namespace osprey::server
