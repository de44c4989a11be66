// The meta group's own membership: servers that start after the cluster formed join it, and
// SERVER.REMOVE takes one out.
//
// Joining: every osprey server with the meta group open answers `$OSP.META.INFO` (system
// account, over the routes) with the group's name and its first voters. A server with no meta
// group of its own asks before forming one; given an answer, it opens that group with those
// first voters (itself outside them, so it cannot campaign or count until the leader's log
// adds it), and asks to be added (`$OSP.META.JOIN`, each second until it is a voter). The meta
// leader adds one connected joiner at a time (Raft's single-server change). The name and the
// first voters are kept in `_cluster_/meta.json`, so a restarted server answers too.
//
// Removing (`$JS.API.SERVER.REMOVE`): a committed meta entry names the server; the meta leader
// moves that server's stream replicas elsewhere (as STREAM.PEER.REMOVE does, shrinking a group
// with no free server) and then takes it out of the meta voters; it is never added back. A
// removed server that hears of it logs that JetStream is disabled for it, as nats-server does.
#include <boost/json.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>

#include "cluster/js_cluster.h"
#include "cluster/js_cluster_replica.h"
#include "cluster/route_intake.h"
#include "cluster/route_manager.h"
#include "jetstream/jetstream.h"
#include "server/account.h"
#include "server/client.h"
#include "server/message.h"
#include "server/server.h"
#include "util/log.h"

namespace osprey::cluster {

namespace json = boost::json;
using namespace std::chrono;
using jetstream::ApiError;

namespace {
constexpr const char* kMetaInfo = "$OSP.META.INFO";
constexpr const char* kMetaJoin = "$OSP.META.JOIN";
constexpr const char* kMetaRemoved = "$OSP.META.REMOVED";
std::string meta_answers(raft::NodeId id) { return fmt::format("$OSP.META.R.{:016x}", id); }
}  // namespace


void JetStreamCluster::start_meta_service() {
    server::Account* sys = srv_.system_account();
    if (!sys || meta_requests_) return;
    meta_requests_ = std::make_shared<RouteIntake>();
    meta_requests_->subject = "$OSP.META.*";
    meta_requests_->fn = [this](const server::Message& m) {
        serve_meta(std::string(m.subject), std::string(m.reply), m.payload);
    };
    meta_answers_ = std::make_shared<RouteIntake>();
    meta_answers_->subject = meta_answers(self_);
    meta_answers_->fn = [this](const server::Message& m) {
        boost::system::error_code ec;
        auto v = json::parse(m.payload, ec);
        if (ec || !v.is_object()) return;
        const auto& o = v.get_object();
        if (auto r = o.find("removed_from"); r != o.end() && r->value().is_string()) {
            const std::string group(r->value().get_string());
            std::lock_guard lk(assign_mu_);
            for (auto& [k, a] : streams_)
                if (a.group == group && a.replica) a.replica->removal_confirmed = true;
            return;
        }
        auto g = o.find("group");
        auto gen = o.find("genesis");
        if (g == o.end() || !g->value().is_string() || gen == o.end() || !gen->value().is_array()) return;
        std::vector<std::string> names;
        for (const auto& n : gen->value().get_array())
            if (n.is_string()) names.emplace_back(n.get_string());
        if (names.empty()) return;
        std::lock_guard lk(meta_mu_);
        if (!meta_answer_) meta_answer_.emplace(std::string(g->value().get_string()), std::move(names));
    };
    sys->sublist().insert(meta_requests_);
    sys->sublist().insert(meta_answers_);
}

void JetStreamCluster::stop_meta_service() {
    server::Account* sys = srv_.system_account();
    if (!sys) return;
    if (meta_requests_) sys->sublist().remove(meta_requests_);
    if (meta_answers_) sys->sublist().remove(meta_answers_);
    meta_requests_.reset();
    meta_answers_.reset();
}

void JetStreamCluster::serve_meta(const std::string& subject, const std::string& reply, std::string_view body) {
    if (subject == kMetaInfo) {
        if (reply.empty() || !meta_open_ || meta_genesis_.empty()) return;
        json::array gen;
        for (const auto& n : meta_genesis_) gen.push_back(json::value(n));
        const std::string out = json::serialize(json::object{{"group", meta_group_}, {"genesis", std::move(gen)}});
        server::Message m{reply, {}, {}, out, nullptr};
        srv_.system_account()->route(m);
        server::Client::flush_scheduled();
    } else if (subject == kMetaRemoved) {
        boost::system::error_code ec;
        auto v = json::parse(body, ec);
        if (reply.empty() || ec || !v.is_object()) return;
        const auto& o = v.get_object();
        auto g = o.find("group"), sv = o.find("server");
        if (g == o.end() || sv == o.end() || !g->value().is_string() || !sv->value().is_string()) return;
        answer_removed(reply, std::string(g->value().get_string()), std::string(sv->value().get_string()));
    } else if (subject == kMetaJoin) {
        boost::system::error_code ec;
        auto v = json::parse(body, ec);
        if (ec || !v.is_object()) return;
        auto it = v.get_object().find("join");
        if (it == v.get_object().end() || !it->value().is_string()) return;
        const std::string name(it->value().get_string());
        if (name.empty()) return;
        std::lock_guard lk(meta_mu_);
        joiners_[name] = Clock::now();
    }
}

void JetStreamCluster::ask_removed(const std::string& group) {
    server::Account* sys = srv_.system_account();
    if (!sys) return;
    const std::string reply = meta_answers(self_);
    const std::string body = json::serialize(json::object{{"group", group}, {"server", srv_.server_name()}});
    server::Message m{kMetaRemoved, reply, {}, body, nullptr};
    sys->route(m);
    server::Client::flush_scheduled();
}

void JetStreamCluster::answer_removed(const std::string& reply, const std::string& group, const std::string& server) {
    // On the host thread (the group's state is there; a route's loop must not wait for it).
    // Only a committed membership that leaves the server out answers: committed entries are
    // never undone, so the removed replica's copy is no longer one any majority needs.
    host_->post([this, reply, group, server] {
        auto st = host_->status(group);
        if (!st || !st->membership_committed) return;
        const raft::NodeId id = node_id_of(server);
        if (std::find(st->membership.voters.begin(), st->membership.voters.end(), id) != st->membership.voters.end())
            return;
        if (std::find(st->membership.voters.begin(), st->membership.voters.end(), self_) == st->membership.voters.end())
            return;  // this server is out too: it knows nothing newer
        const std::string out = json::serialize(json::object{{"removed_from", group}});
        server::Message m{reply, {}, {}, out, nullptr};
        srv_.system_account()->route(m);
        server::Client::flush_scheduled();
    });
}

void JetStreamCluster::ask_meta() {
    server::Account* sys = srv_.system_account();
    if (!sys) return;
    const std::string reply = meta_answers(self_);
    server::Message m{kMetaInfo, reply, {}, {}, nullptr};
    sys->route(m);
    server::Client::flush_scheduled();
}

std::optional<std::pair<std::string, std::vector<std::string>>> JetStreamCluster::take_meta_answer() {
    std::lock_guard lk(meta_mu_);
    return std::exchange(meta_answer_, std::nullopt);
}

void JetStreamCluster::save_meta(const std::string& name, const std::vector<std::string>& genesis) {
    json::array gen;
    for (const auto& n : genesis) gen.push_back(json::value(n));
    const std::string path = dir_ + "/_cluster_/meta.json";
    std::error_code ec;
    std::filesystem::create_directories(dir_ + "/_cluster_", ec);
    std::ofstream(path + ".tmp") << json::serialize(json::object{{"group", name}, {"genesis", std::move(gen)}});
    std::filesystem::rename(path + ".tmp", path, ec);
    if (ec) log::warn("JetStream cluster: cannot write {}: {}", path, ec.message());
}

std::vector<std::string> JetStreamCluster::load_meta_genesis(const std::string& name) {
    std::ifstream f(dir_ + "/_cluster_/meta.json");
    const std::string text((std::istreambuf_iterator<char>(f)), {});
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    std::vector<std::string> out;
    if (ec || !v.is_object()) return out;
    const auto& o = v.get_object();
    auto g = o.find("group");
    if (g == o.end() || !g->value().is_string() || g->value().get_string() != name) return out;
    if (auto gen = o.find("genesis"); gen != o.end() && gen->value().is_array())
        for (const auto& n : gen->value().get_array())
            if (n.is_string()) out.emplace_back(n.get_string());
    return out;
}

void JetStreamCluster::reconcile_meta() {
    if (!meta_open_) return;
    const auto now = Clock::now();
    auto st = host_->status(meta_group_);
    if (!st) return;
    const bool voter = std::find(st->membership.voters.begin(), st->membership.voters.end(), self_) !=
                       st->membership.voters.end();
    bool removed_self = false;
    {
        std::lock_guard lk(meta_mu_);
        removed_self = removed_servers_.count(srv_.server_name()) > 0;
    }
    // A joiner asks the leader to add it until it is a voter.
    if (!voter && !removed_self && now >= next_join_ask_) {
        next_join_ask_ = now + seconds(1);
        // (A Message holds views: the body must outlive it.)
        const std::string body = json::serialize(json::object{{"join", srv_.server_name()}});
        server::Message m{kMetaJoin, {}, {}, body, nullptr};
        srv_.system_account()->route(m);
        server::Client::flush_scheduled();
    }
    if (st->role != raft::Role::leader || now < next_meta_reconcile_) return;
    std::set<std::string> removed;
    std::vector<std::string> joiners;
    {
        std::lock_guard lk(meta_mu_);
        removed = removed_servers_;
        for (auto it = joiners_.begin(); it != joiners_.end();) {
            if (now - it->second > seconds(5)) it = joiners_.erase(it);
            else joiners.push_back((it++)->first);
        }
    }
    const auto& cur = st->membership.voters;
    auto in = [&](raft::NodeId id) { return std::find(cur.begin(), cur.end(), id) != cur.end(); };
    // Removed servers go first (one at a time; the leader hands over before removing itself).
    for (const auto& r : removed) {
        const raft::NodeId id = node_id_of(r);
        if (!in(id)) continue;
        next_meta_reconcile_ = now + milliseconds(500);
        if (id == self_) {
            host_->step_down(meta_group_, [](bool) {});
            return;
        }
        std::vector<raft::NodeId> next;
        for (auto v : cur)
            if (v != id) next.push_back(v);
        log::notice("JetStream cluster: removing {} from the meta group ({} voters)", r, next.size());
        host_->change_membership(meta_group_, raft::Membership::of(std::move(next)), [](bool) {});
        return;
    }
    std::set<std::string> connected;
    for (const auto& p : routes_.peers())
        if (p.jetstream) connected.insert(p.server_name);
    for (const auto& j : joiners) {
        const raft::NodeId id = node_id_of(j);
        if (in(id) || removed.count(j) || !connected.count(j)) continue;
        {
            std::lock_guard nk(names_mu_);
            names_[id] = j;
        }
        std::vector<raft::NodeId> next = cur;
        next.push_back(id);
        next_meta_reconcile_ = now + milliseconds(500);
        log::notice("JetStream cluster: adding {} to the meta group ({} voters)", j, next.size());
        host_->change_membership(meta_group_, raft::Membership::of(std::move(next)), [](bool) {});
        return;
    }
}

void JetStreamCluster::remove_server(const std::string& name, const std::string& peer_id, Done done) {
    auto st = host_->status(meta_group_);
    if (!st) return done(ApiError{503, 10008, "JetStream system temporarily unavailable"});
    std::string found;
    for (auto v : st->membership.voters) {
        const std::string n = name_of(v);
        if (n.empty()) continue;
        if ((!name.empty() && n == name) || (!peer_id.empty() && peer_hash(n) == peer_id)) found = n;
    }
    if (found.empty()) return done(ApiError{400, 10044, "server is not a member of the cluster"});
    const Key key{"", found};
    {
        std::lock_guard lk(assign_mu_);
        if (removing_.count(key)) return done(ApiError{503, 10008, "JetStream system temporarily unavailable"});
        removing_[key] = {Clock::now() + seconds(10), std::move(done)};
    }
    log::notice("JetStream cluster: removing server {} from the cluster", found);
    json::object e{{"op", "remove_server"}, {"server", found}};
    host_->propose(meta_group_, json::serialize(e), [this, key](auto r) {
        if (!r) resolve(removing_, key, ApiError{503, 10008, "JetStream system temporarily unavailable"});
    });
}

void JetStreamCluster::apply_remove_server(const std::string& server) {
    // On the host thread, in meta log order.
    {
        std::lock_guard lk(meta_mu_);
        removed_servers_.insert(server);
    }
    if (server == srv_.server_name() && !removed_self_.exchange(true))
        log::error("JetStream being DISABLED, our server was removed from the cluster");
    if (is_meta_leader()) {
        remap_streams_of(server);
        std::string server_id;
        for (const auto& p : routes_.peers())
            if (p.server_name == server) server_id = p.server_id;
        if (server::Account* sys = srv_.system_account())
            publish_advisory(sys->name(), "$JS.EVENT.ADVISORY.SERVER.REMOVED", "io.nats.jetstream.advisory.v1.server_removed",
                             json::object{{"server", server}, {"server_id", server_id}, {"cluster", routes_.cluster_name()}});
    }
    resolve(removing_, Key{"", server}, std::nullopt);
}

void JetStreamCluster::remap_streams_of(const std::string& server) {
    // Meta leader: each stream the server held gets a replacement, or shrinks without one (an
    // R1 stream with no other server keeps its only replica: its messages are nowhere else).
    std::vector<std::pair<Key, Assignment>> affected;
    {
        std::lock_guard lk(assign_mu_);
        for (const auto& [k, a] : streams_)
            if (std::find(a.peers.begin(), a.peers.end(), server) != a.peers.end()) affected.emplace_back(k, a);
    }
    for (auto& [key, a] : affected) {
        bool replaced = false;
        const auto peers = peers_without(a, server, &replaced);
        if (!replaced)
            log::warn("JetStream cluster could not replace peer for stream '{} > {}'", key.first, key.second);
        if (peers.empty()) continue;
        host_->propose(meta_group_, peers_entry(key, a.cfg, peers), [](auto) {});
    }
}

}  // namespace osprey::cluster
