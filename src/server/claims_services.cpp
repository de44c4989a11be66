// The account resolver's requests in the system account, as nats-server 2.9.10 answers them
// (accounts.go: DirAccResolver.Start, respondToUpdate; events.go: accountClaimUpdate):
//   $SYS.REQ.CLAIMS.UPDATE                 an account JWT (nsc push); the account is its subject
//   $SYS.REQ.ACCOUNT.<key>.CLAIMS.UPDATE   the same for <key> (and the old $SYS.ACCOUNT.<key>...)
//   $SYS.REQ.ACCOUNT.<key>.CLAIMS.LOOKUP   the stored JWT, raw (full resolver only)
//   $SYS.REQ.CLAIMS.LIST                   {"data":[keys...]} (full and cache)
//   $SYS.REQ.CLAIMS.DELETE                 an operator-signed list of accounts (allow_delete)
//   $SYS.REQ.CLAIMS.PACK                   the full resolvers' sync
// Replies: {"data":{"account","code":200,"message"},"server":{...}} or
// {"error":{"account","code":500,"description":"<message> - <error>"},"server":{...}}.
#include <boost/json.hpp>

#include "server/account.h"
#include "server/internal_handler.h"
#include "server/server.h"
#include "server/system_services.h"
#include "subjects/sublist.h"
#include "util/log.h"

namespace osprey::server {

namespace json = boost::json;

namespace {

// The <key> of $SYS.REQ.ACCOUNT.<key>.CLAIMS.X (6 tokens) or $SYS.ACCOUNT.<key>.CLAIMS.UPDATE
// (5); empty when the subject has another shape.
std::string account_token(std::string_view subject, std::size_t index, std::size_t tokens) {
    std::vector<std::string_view> t;
    std::size_t start = 0;
    while (true) {
        const auto dot = subject.find('.', start);
        t.push_back(subject.substr(start, dot == std::string_view::npos ? dot : dot - start));
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    return t.size() == tokens ? std::string(t[index]) : std::string();
}

}  // namespace

void SystemServices::claims_reply(Account& to, const Message& m, const Server::ClaimsReply& r) {
    // respondToUpdate: logged, and answered unless there is no reply subject.
    if (r.code == 200) log::debug("{} - {}", r.message, r.account);
    else log::error("{} - {} - {}", r.message, r.account, r.error);
    if (m.reply.empty()) return;
    json::object body{{"code", r.code}};
    if (!r.account.empty()) body["account"] = r.account;
    if (r.code == 200) body["message"] = r.message;
    else body["description"] = r.message + " - " + r.error;
    reply(to, m, "{\"" + std::string(r.code == 200 ? "data" : "error") + "\":" + json::serialize(body) +
                     ",\"server\":" + server_info() + "}");
}

void SystemServices::add_claims_handlers(Account& sys) {
    if (server_.resolver().empty()) return;
    const bool full = server_.resolver() == "FULL", cache = server_.resolver() == "CACHE";
    auto add = [&](std::string subject, std::function<void(const Message&)> fn) {
        add_handler(sys, std::move(subject), std::move(fn), false);
    };
    auto update = [this, &sys](const Message& m, const std::string& account) {
        claims_reply(sys, m, server_.update_claims(m.payload, account));
    };
    add("$SYS.REQ.ACCOUNT.*.CLAIMS.UPDATE", [update](const Message& m) {
        const std::string key = account_token(m.subject, 3, 6);
        if (!key.empty()) update(m, key);
    });
    add("$SYS.ACCOUNT.*.CLAIMS.UPDATE", [update](const Message& m) {
        const std::string key = account_token(m.subject, 2, 5);
        if (!key.empty()) update(m, key);
    });
    if (!full && !cache) return;  // the MEMORY resolver takes updates of the accounts it has
    add("$SYS.REQ.CLAIMS.UPDATE", [update](const Message& m) { update(m, ""); });
    add("$SYS.REQ.CLAIMS.LIST", [this, &sys](const Message& m) {
        json::array keys;
        for (auto& k : server_.list_claims()) keys.push_back(json::value(k));
        reply(sys, m, "{\"data\":" + json::serialize(keys) + ",\"server\":" + server_info() + "}");
    });
    add("$SYS.REQ.CLAIMS.DELETE", [this, &sys](const Message& m) { claims_reply(sys, m, server_.delete_claims(m.payload)); });
    if (!full) return;
    add("$SYS.REQ.ACCOUNT.*.CLAIMS.LOOKUP", [this, &sys](const Message& m) {
        const std::string key = account_token(m.subject, 3, 6);
        if (key.empty() || m.reply.empty()) return;
        auto jwt = server_.lookup_claims(key);
        if (!jwt) return;  // nats-server answers nothing (another full server may)
        reply(sys, m, *jwt);
    });
    // The full resolvers' sync: a peer's store hash is answered with what this server has when
    // the hashes differ, a line per JWT, then an empty message. nats-server's responders form
    // the queue group "responder" (one answers); osprey's answers every peer's request but
    // its own, since a queue group's local member would take this server's own request
    // every time, and its peers' stores would never reach it. Merging twice is harmless.
    const std::string own = "$SYS._INBOX." + server_.server_id() + ".";
    add("$SYS.REQ.CLAIMS.PACK", [this, &sys, own](const Message& m) {
        if (m.reply.empty() || m.reply.starts_with(own)) return;
        for (const auto& line : server_.pack_claims(m.payload)) reply(sys, m, line);
        reply(sys, m, "");
    });
}

}  // namespace osprey::server
