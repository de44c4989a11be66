// The JetStream API as an account without JetStream sees it on a server with JetStream.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/message.h"

namespace osprey::server {
class Account;
}

namespace osprey::jetstream {

// The 503/10039 reply nats-server gives to `api_subject` (after "$JS.API."), or nullopt
// where it gives none.
std::optional<std::string> not_enabled_response(std::string_view api_subject, std::string_view body);

// Whether `account` imports a service covering every subject under `prefix` (e.g. another
// account's "$JS.API.>"): then that account answers, as in nats-server, and this one's own
// API (or its "not enabled" answer) must stay silent, or each request gets two replies.
bool imports_api(const server::Account& account, std::string_view prefix);

// Subscribes `account` to its $JS.API (and the domain's) with that answer, but for prefixes
// it imports; returns the subscriptions for removal at shutdown.
std::vector<std::shared_ptr<server::Receiver>> answer_not_enabled(server::Account& account,
                                                                   const std::string& domain);

}  // namespace osprey::jetstream
