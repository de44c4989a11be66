// Publish/subscribe permissions of one user, checked per subject, with nats-server 2.9.10's
// rules: entries may name a queue group ("jobs workers"), deny overrides allow.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/options.h"

namespace osprey::server {

// Publishing to a literal subject: allowed when some allow entry matches (or there is no
// allow list) and no deny entry matches. Entries with a queue name do not apply to publishes.
bool may_publish(const Permissions& p, std::string_view subject);
// Subscribing (queue empty for a plain subscription): the subject is matched with its
// wildcards taken as tokens, as nats-server does. Queue entries matching the subject decide
// for queue subscriptions: allowed only for a queue they name, denied for a queue they name.
bool may_subscribe(const Permissions& p, std::string_view subject, std::string_view queue);
// A wildcard subscription that covers a deny entry switches on the per-message deny check for
// the connection (nats-server's mperms); until then deliveries are not filtered.
bool needs_deny_filter(const Permissions& p, std::string_view subject);
bool may_deliver(const Permissions& p, std::string_view subject);
// The config error for an entry that is no valid subject ("subject queue" allowed).
std::optional<std::string> invalid_permission_subject(const std::vector<std::string>& entries);

}  // namespace osprey::server
