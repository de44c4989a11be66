// The replicated streams' and consumers' leadership advisories, as nats-server 2.9.10 publishes
// them: leader elected (from the new leader) and quorum lost (from a leader that lost its
// majority), each into the stream's account and into the system account (with the account
// named). A durable consumer leads where its stream leads, so each of the stream's replicated
// consumers is announced with it.
#include <boost/json.hpp>

#include "cluster/js_cluster.h"
#include "jetstream/consumer/consumer.h"
#include "jetstream/stream/stream.h"
#include "server/account.h"
#include "server/message.h"
#include "server/server.h"
#include "util/random.h"

namespace osprey::cluster {

namespace json = boost::json;
using namespace std::chrono;

json::array JetStreamCluster::replicas_json(const Key& key, const std::string& group, bool* found) {
    std::vector<std::string> peers;
    {
        std::lock_guard lk(assign_mu_);
        auto it = streams_.find(key);
        *found = it != streams_.end();
        if (!*found) return {};
        peers = it->second.peers;
    }
    auto st = host_->status(group);  // on the host thread: computed at once
    json::array replicas;
    for (const auto& p : peers) {
        json::object r{{"name", p}};
        bool current = p == srv_.server_name();
        std::int64_t active = 0;
        std::uint64_t lag = 0;
        if (st)
            for (const auto& ps : st->peers)
                if (ps.id == node_id_of(p)) {
                    current = ps.current;
                    lag = ps.lag;
                    if (ps.since_heard != steady_clock::duration::max())
                        active = duration_cast<nanoseconds>(ps.since_heard).count();
                }
        r["current"] = current;
        r["active"] = active;
        if (lag) r["lag"] = lag;
        r["peer"] = peer_hash(p);
        replicas.push_back(std::move(r));
    }
    return replicas;
}

void JetStreamCluster::publish_advisory(const std::string& account, const std::string& subject, const char* type,
                                        const json::object& fields) {
    const std::string ts = jetstream::rfc3339_ns(jetstream::now_unix_ns());
    auto body = [&](bool with_account) {
        json::object o{{"type", type}, {"id", util::random_token(22)}, {"timestamp", ts}};
        if (with_account) o["account"] = account;
        for (const auto& f : fields) o[f.key()] = f.value();
        return json::serialize(o);
    };
    if (server::Account* acc = srv_.find_account(account)) {
        const std::string b = body(false);
        server::Message m{subject, {}, {}, b, nullptr};
        acc->route(m);
    }
    if (server::Account* sys = srv_.system_account(); sys && sys->name() != account) {
        const std::string b = body(true);
        server::Message m{subject, {}, {}, b, nullptr};
        sys->route(m);
    }
}

namespace {

std::vector<std::string> replicated_consumers(const std::shared_ptr<jetstream::Stream>& s) {
    std::vector<std::string> v;
    if (s)
        for (auto& c : s->consumers())
            if (c->replicated()) v.push_back(c->name());
    return v;
}

}  // namespace

void JetStreamCluster::advise_stream_leader(const Key& key, const std::string& group,
                                            const std::shared_ptr<jetstream::Stream>& s) {
    bool found = false;
    json::array replicas = replicas_json(key, group, &found);
    if (!found) return;
    json::object f{{"stream", key.second}, {"leader", srv_.server_name()}, {"replicas", replicas}};
    publish_advisory(key.first, "$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED." + key.second,
                     "io.nats.jetstream.advisory.v1.stream_leader_elected", f);
    for (const auto& c : replicated_consumers(s)) {
        json::object cf{{"stream", key.second}, {"consumer", c}, {"leader", srv_.server_name()}, {"replicas", replicas}};
        publish_advisory(key.first, "$JS.EVENT.ADVISORY.CONSUMER.LEADER_ELECTED." + key.second + "." + c,
                         "io.nats.jetstream.advisory.v1.consumer_leader_elected", cf);
    }
}

void JetStreamCluster::advise_quorum_lost(const Key& key, const std::string& group,
                                          const std::shared_ptr<jetstream::Stream>& s) {
    bool found = false;
    json::array replicas = replicas_json(key, group, &found);
    if (!found) return;
    json::object f{{"stream", key.second}, {"replicas", replicas}};
    publish_advisory(key.first, "$JS.EVENT.ADVISORY.STREAM.QUORUM_LOST." + key.second,
                     "io.nats.jetstream.advisory.v1.stream_quorum_lost", f);
    for (const auto& c : replicated_consumers(s)) {
        json::object cf{{"stream", key.second}, {"consumer", c}, {"replicas", replicas}};
        publish_advisory(key.first, "$JS.EVENT.ADVISORY.CONSUMER.QUORUM_LOST." + key.second + "." + c,
                         "io.nats.jetstream.advisory.v1.consumer_quorum_lost", cf);
    }
}

}  // namespace osprey::cluster
