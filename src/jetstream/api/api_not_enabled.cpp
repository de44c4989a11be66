// $JS.API in an account without JetStream on a server that has it: nats-server imports the
// API into every account and answers each request it knows with 503/10039, in the response
// type of that request (with the zero-valued fields Go's encoder writes for it). Direct gets,
// pull requests and unknown subjects get no answer at all.
#include "jetstream/api/api_not_enabled.h"

#include <array>

#include "jetstream/api/jetstream_internal.h"
#include "server/account.h"
#include "server/client.h"
#include "subjects/subject.h"

namespace osprey::jetstream {

namespace {

struct Known {
    const char* pattern;  // matched against the subject after "$JS.API."
    const char* type;
    const char* extra;  // JSON members after "error" (Go's non-omitempty zero values)
};

// js.apiSubs of nats-server 2.9.10, with their response types.
constexpr std::array<Known, 26> kKnown{{
    {"INFO", "account_info_response", ""},
    {"STREAM.TEMPLATE.CREATE.*", "stream_template_create_response", ""},
    {"STREAM.TEMPLATE.NAMES", "stream_template_names_response",
     R"(,"total":0,"offset":0,"limit":0,"streams":null)"},
    {"STREAM.TEMPLATE.INFO.*", "stream_template_info_response", ""},
    {"STREAM.TEMPLATE.DELETE.*", "stream_template_delete_response", ""},
    {"STREAM.CREATE.*", "stream_create_response", ""},
    {"STREAM.UPDATE.*", "stream_update_response", ""},
    {"STREAM.NAMES", "stream_names_response", R"(,"total":0,"offset":0,"limit":0,"streams":null)"},
    {"STREAM.LIST", "stream_list_response", R"(,"total":0,"offset":0,"limit":0,"streams":[])"},
    {"STREAM.INFO.*", "stream_info_response", R"(,"total":0,"offset":0,"limit":0)"},
    {"STREAM.DELETE.*", "stream_delete_response", ""},
    {"STREAM.PURGE.*", "stream_purge_response", R"(,"purged":0)"},
    {"STREAM.SNAPSHOT.*", "stream_snapshot_response", ""},
    {"STREAM.RESTORE.*", "stream_restore_response", R"(,"deliver_subject":"")"},
    {"STREAM.PEER.REMOVE.*", "stream_remove_peer_response", ""},
    {"STREAM.LEADER.STEPDOWN.*", "stream_leader_stepdown_response", ""},
    {"CONSUMER.LEADER.STEPDOWN.*.*", "consumer_leader_stepdown_response", ""},
    {"STREAM.MSG.DELETE.*", "stream_msg_delete_response", ""},
    {"STREAM.MSG.GET.*", "stream_msg_get_response", ""},
    {"CONSUMER.CREATE.*.>", "consumer_create_response", ""},
    {"CONSUMER.CREATE.*", "consumer_create_response", ""},
    {"CONSUMER.DURABLE.CREATE.*.*", "consumer_create_response", ""},
    {"CONSUMER.NAMES.*", "consumer_names_response",
     R"(,"total":0,"offset":0,"limit":0,"consumers":[])"},
    {"CONSUMER.LIST.*", "consumer_list_response", R"(,"total":0,"offset":0,"limit":0,"consumers":[])"},
    {"CONSUMER.INFO.*.*", "consumer_info_response", ""},
    {"CONSUMER.DELETE.*.*", "consumer_delete_response", ""},
}};

struct NotEnabledIntake : server::Receiver {
    server::Account* account = nullptr;
    std::size_t prefix_len = 0;  // "$JS.API." or "$JS.<domain>.API."
    bool deliver(const server::Message& m) override {
        if (m.reply.empty()) return true;
        auto body = not_enabled_response(m.subject.substr(prefix_len), m.payload);
        if (!body) return true;  // nats-server stays silent
        server::Client::StallExempt internal;
        server::Message r{m.reply, {}, {}, *body, nullptr};
        account->route_reply(r);
        return true;
    }
    bool shows_interest() const override { return false; }
    bool propagates() const override { return false; }
};

}  // namespace

std::optional<std::string> not_enabled_response(std::string_view api_subject, std::string_view body) {
    for (const auto& k : kKnown) {
        if (!subjects::matches(k.pattern, api_subject)) continue;
        const std::string_view type = k.type;
        // Checked before the account: clustering (these need a cluster anyway) and the body
        // of a consumer create.
        if (type == "stream_remove_peer_response" || type == "stream_leader_stepdown_response" ||
            type == "consumer_leader_stepdown_response")
            return std::string(R"({"type":"io.nats.jetstream.api.v1.)") + k.type +
                   R"(","error":{"code":503,"err_code":10010,"description":"JetStream clustering support required"}})";
        if (type == "consumer_create_response" && !parse_body(std::string(body)))
            return std::string(R"({"type":"io.nats.jetstream.api.v1.)") + k.type +
                   R"(","error":{"code":400,"err_code":10025,"description":"invalid JSON"}})";
        return std::string(R"({"type":"io.nats.jetstream.api.v1.)") + k.type +
               R"(","error":{"code":503,"err_code":10039,"description":"JetStream not enabled for account"})" +
               k.extra + "}";
    }
    return std::nullopt;
}

bool imports_api(const server::Account& account, std::string_view prefix) {
    const std::string all = std::string(prefix) + ">";
    for (const auto& im : account.imports())
        if (im.service && subjects::is_subset(all, im.local)) return true;
    return false;
}

std::vector<std::shared_ptr<server::Receiver>> answer_not_enabled(server::Account& account,
                                                                   const std::string& domain) {
    std::vector<std::string> prefixes{"$JS.API."};
    if (!domain.empty()) prefixes.push_back("$JS." + domain + ".API.");
    std::vector<std::shared_ptr<server::Receiver>> subs;
    for (const auto& p : prefixes) {
        if (imports_api(account, p)) continue;
        auto in = std::make_shared<NotEnabledIntake>();
        in->account = &account;
        in->prefix_len = p.size();
        in->subject = p + ">";
        account.sublist().insert(in);
        subs.push_back(std::move(in));
    }
    return subs;
}

}  // namespace osprey::jetstream
