// Which servers hold a stream's replicas, and how its Raft group follows when that changes
// (scaling num_replicas, STREAM.PEER.REMOVE).
//
// The meta group's assignment names the servers the stream should be on ("peers"); the
// stream's Raft voters follow it, level-triggered: the stream's leader compares the two each
// round and makes one voter change at a time (Raft's single-server changes: any two successive
// memberships share a majority), adding before removing so a replacement holds a copy before
// the replica it replaces goes. A replica the assignment adds opens as a non-voter of the
// group's first membership and learns its place from the leader's log or snapshot (then its
// store and consumers come from the catch-up). A replica the assignment leaves out keeps
// serving its part until it knows its removal committed (raft::Node::removed), then closes and
// deletes its files: until then its copy may be one a majority needs.
#include <algorithm>
#include <cctype>
#include <boost/json.hpp>
#include <set>

#include "cluster/js_cluster.h"
#include "cluster/js_cluster_replica.h"
#include "cluster/route_manager.h"
#include "jetstream/jetstream.h"
#include "jetstream/stream/stream.h"
#include "util/log.h"

namespace osprey::cluster {

namespace json = boost::json;
using namespace std::chrono;
using jetstream::ApiError;

namespace {

// A stream's placement ({"cluster": ..., "tags": [...]}, kept as given): which servers may
// hold it. Tags compare as nats-server keeps them (trimmed, lowercased).
struct Wanted {
    std::string cluster;
    std::vector<std::string> tags;
};

Wanted wanted_by(const jetstream::StreamConfig& cfg) {
    Wanted w;
    if (!cfg.placement_json) return w;
    boost::system::error_code ec;
    auto v = json::parse(*cfg.placement_json, ec);
    if (ec || !v.is_object()) return w;
    const auto& o = v.get_object();
    if (auto it = o.find("cluster"); it != o.end() && it->value().is_string()) w.cluster = it->value().get_string();
    if (auto it = o.find("tags"); it != o.end() && it->value().is_array())
        for (const auto& t : it->value().get_array())
            if (t.is_string()) {
                std::string x(t.get_string());
                x.erase(0, x.find_first_not_of(" \t"));
                x.erase(x.find_last_not_of(" \t") + 1);
                std::transform(x.begin(), x.end(), x.begin(), [](unsigned char c) { return char(std::tolower(c)); });
                if (!x.empty()) w.tags.push_back(x);
            }
    return w;
}

}  // namespace

bool JetStreamCluster::placeable(const jetstream::StreamConfig& cfg, const std::vector<std::string>& tags,
                                 std::set<std::string>* missing) {
    const Wanted w = wanted_by(cfg);
    if (!w.cluster.empty() && w.cluster != routes_.cluster_name()) return false;
    bool ok = true;
    for (const auto& t : w.tags)
        if (std::find(tags.begin(), tags.end(), t) == tags.end()) {
            ok = false;
            if (missing) missing->insert(t);
        }
    return ok;
}

std::optional<std::vector<std::string>> JetStreamCluster::place(const Assignment& a, std::size_t want,
                                                                const std::vector<std::string>& exclude,
                                                                std::string* why) {
    auto excluded = [&](const std::string& p) { return std::find(exclude.begin(), exclude.end(), p) != exclude.end(); };
    // The current replicas stay, the stream's leader first (a scale-down keeps it, as
    // nats-server does), as far as `want` allows.
    std::vector<std::string> out;
    std::string leader;
    if (a.replica)
        if (const raft::NodeId l = a.replica->leader.load(); l != raft::kNone) leader = name_of(l);
    if (!leader.empty() && !excluded(leader) && std::find(a.peers.begin(), a.peers.end(), leader) != a.peers.end())
        out.push_back(leader);
    for (const auto& p : a.peers)
        if (out.size() < want && p != leader && !excluded(p)) out.push_back(p);
    if (out.size() == want) return out;
    // Then the connected JetStream servers (this one too) that the placement allows (its
    // cluster, all its tags), holding the fewest replicas.
    std::vector<std::string> candidates;
    std::set<std::string> missing;
    auto consider = [&](const std::string& p, const std::vector<std::string>& tags) {
        if (p.empty() || excluded(p) || std::find(out.begin(), out.end(), p) != out.end() ||
            std::find(candidates.begin(), candidates.end(), p) != candidates.end())
            return;
        if (placeable(a.cfg, tags, &missing)) candidates.push_back(p);
    };
    consider(srv_.server_name(), srv_.options().server_tags);
    for (const auto& p : routes_.peers())
        if (p.jetstream) consider(p.server_name, p.tags);
    std::map<std::string, int> load;
    {
        std::lock_guard lk(assign_mu_);
        for (const auto& [k, other] : streams_)
            for (const auto& p : other.peers) ++load[p];
    }
    std::sort(candidates.begin(), candidates.end(), [&](const std::string& x, const std::string& y) {
        return load[x] != load[y] ? load[x] < load[y] : x < y;
    });
    for (const auto& c : candidates)
        if (out.size() < want) out.push_back(c);
    if (out.size() < want) {
        // As nats-server words it.
        if (why) {
            *why = "no suitable peers for placement";
            if (!missing.empty()) {
                *why += ", tags not matched [";
                bool first = true;
                for (const auto& t : missing) {
                    *why += (first ? "'" : ", '") + t + "'";
                    first = false;
                }
                *why += "]";
            }
        }
        return std::nullopt;
    }
    return out;
}

void JetStreamCluster::propose_peers(const Key& key, const jetstream::StreamConfig& cfg,
                                     const std::vector<std::string>& peers, Done done) {
    {
        std::lock_guard lk(assign_mu_);
        if (updating_.count(key)) return done(ApiError{503, 10008, "JetStream system temporarily unavailable"});
        updating_[key] = {Clock::now() + seconds(10), std::move(done)};
    }
    host_->propose(meta_group_, peers_entry(key, cfg, peers), [this, key](auto r) {
        if (!r) resolve(updating_, key, ApiError{503, 10008, "JetStream system temporarily unavailable"});
    });
}

std::string JetStreamCluster::peers_entry(const Key& key, const jetstream::StreamConfig& cfg,
                                          const std::vector<std::string>& peers) {
    json::array pj;
    for (const auto& p : peers) pj.push_back(json::value(p));
    return json::serialize(json::object{{"op", "update_stream"},
                                        {"account", key.first},
                                        {"config", jetstream::to_json(cfg)},
                                        {"peers", std::move(pj)}});
}

std::vector<std::string> JetStreamCluster::peers_without(const Assignment& a, const std::string& server,
                                                         bool* replaced) {
    auto peers = place(a, a.peers.size(), {server});
    *replaced = peers.has_value();
    if (peers) return *peers;
    std::vector<std::string> out;
    for (const auto& p : a.peers)
        if (p != server) out.push_back(p);
    return out;
}

void JetStreamCluster::remove_stream_peer(const std::string& account, const std::string& stream,
                                          const std::string& server, Done done) {
    const Key key{account, stream};
    Assignment a;
    {
        std::lock_guard lk(assign_mu_);
        auto it = streams_.find(key);
        if (it == streams_.end()) return done(ApiError{404, 10059, "stream not found"});
        a = it->second;
    }
    if (std::find(a.peers.begin(), a.peers.end(), server) == a.peers.end())
        return done(ApiError{400, 10040, "peer not a member"});
    // A replacement keeps the count; without one the group shrinks (nats-server does the
    // same, and answers that the remap failed).
    bool replaced = false;
    const auto peers = peers_without(a, server, &replaced);
    if (peers.empty()) return done(ApiError{503, 10075, "peer remap failed"});
    log::notice("JetStream cluster: stream '{} > {}': removing its replica on {}{}", account, stream, server,
                replaced ? "" : " (no server is free to replace it)");
    propose_peers(key, a.cfg, peers, [done, replaced](std::optional<ApiError> e) {
        if (!e && !replaced) e = ApiError{503, 10075, "peer remap failed"};
        done(e);
    });
}

void JetStreamCluster::apply_peers(const Key& key, std::vector<std::string> peers) {
    // On the host thread, in meta log order.
    const std::string self = srv_.server_name();
    const bool mine = std::find(peers.begin(), peers.end(), self) != peers.end();
    Assignment opened;
    bool open = false;
    {
        std::lock_guard lk(assign_mu_);
        auto it = streams_.find(key);
        if (it == streams_.end()) return;
        Assignment& a = it->second;
        if (a.peers == peers) return;
        a.peers = std::move(peers);
        // Wanted again: an earlier answer that its removal committed no longer counts.
        if (mine && a.replica) a.replica->removal_confirmed = false;
        if (a.replica) ++a.replica->peers_gen;  // its leader looks again
        if (mine && !a.replica) {
            a.replica = std::make_shared<Replica>();
            a.replica->host = host_.get();
            a.replica->group = a.group;
            a.replica->self = self_;
            opened = a;
            open = true;
        }
    }
    for (const auto& p : opened.peers) {
        std::lock_guard nk(names_mu_);
        names_[node_id_of(p)] = p;
    }
    if (open) {
        log::notice("JetStream cluster: stream '{} > {}': this server joins its replicas", key.first, key.second);
        open_replica(key, opened, true);
    }
}

void JetStreamCluster::reconcile_replicas() {
    struct Todo {
        Key key;
        std::string group;
        std::shared_ptr<Replica> rep;
        std::vector<raft::NodeId> desired;
        std::uint64_t gen;  // of the assignment `desired` comes from
    };
    std::vector<Todo> todo;
    const auto now = Clock::now();
    {
        std::lock_guard lk(assign_mu_);
        for (auto& [k, a] : streams_) {
            if (!a.replica || a.replica->leader != self_ || a.replica->settled_gen == a.replica->peers_gen ||
                now < a.replica->next_reconcile)
                continue;
            Todo t{k, a.group, a.replica, {}, a.replica->peers_gen};
            for (const auto& p : a.peers) t.desired.push_back(node_id_of(p));
            todo.push_back(std::move(t));
        }
    }
    if (todo.empty()) return;
    std::set<raft::NodeId> connected{self_};
    for (const auto& p : routes_.peers())
        if (p.jetstream) connected.insert(node_id_of(p.server_name));
    for (auto& t : todo) {
        auto st = host_->status(t.group);
        if (!st || st->role != raft::Role::leader) continue;
        const auto& cur = st->membership.voters;
        auto in = [](const std::vector<raft::NodeId>& v, raft::NodeId id) {
            return std::find(v.begin(), v.end(), id) != v.end();
        };
        std::vector<raft::NodeId> add, remove;
        for (auto id : t.desired)
            if (!in(cur, id)) add.push_back(id);
        for (auto id : cur)
            if (!in(t.desired, id)) remove.push_back(id);
        if (add.empty() && remove.empty()) {
            t.rep->settled_gen = t.gen;
            continue;
        }
        t.rep->next_reconcile = now + milliseconds(500);
        auto peer = [&](raft::NodeId id) -> const RaftHost::PeerStatus* {
            for (const auto& p : st->peers)
                if (p.id == id) return &p;
            return nullptr;
        };
        auto change = [&](std::vector<raft::NodeId> next, const char* what, raft::NodeId who) {
            log::notice("JetStream cluster: stream '{} > {}': {} replica {} ({} voters)", t.key.first, t.key.second,
                        what, name_of(who), next.size());
            host_->change_membership(t.group, raft::Membership::of(std::move(next)), [](bool) {});
        };
        // Adding first: a server that is connected (an unreachable new voter could stop the
        // commits of a small group).
        if (!add.empty()) {  // an unreachable one waits; removals after the adds
            const auto id = std::find_if(add.begin(), add.end(), [&](raft::NodeId x) { return connected.count(x) > 0; });
            if (id != add.end()) {
                std::vector<raft::NodeId> next = cur;
                next.push_back(*id);
                change(std::move(next), "adding", *id);
            }
            continue;
        }
        // Removing: the ones that do not answer first (removing a live one first could leave
        // a two-voter group needing the dead one to commit the next change).
        std::stable_sort(remove.begin(), remove.end(), [&](raft::NodeId x, raft::NodeId y) {
            const auto* px = peer(x);
            const auto* py = peer(y);
            const bool lx = px && px->current, ly = py && py->current;
            return lx < ly;
        });
        const auto other = std::find_if(remove.begin(), remove.end(), [&](raft::NodeId id) { return id != self_; });
        if (other != remove.end()) {
            std::vector<raft::NodeId> next;
            for (auto id : cur)
                if (id != *other) next.push_back(id);
            change(std::move(next), "removing", *other);
            continue;
        }
        // Only this leader is to go: it hands the group to a current replica that is not
        // still filling its store from here (that one would hand it straight back), and the
        // new leader removes it.
        for (const auto& p : st->peers)
            if (p.current && in(t.desired, p.id) && !catchup_->serving(t.group, p.id)) {
                log::notice("JetStream cluster: stream '{} > {}': handing leadership to {} before leaving its replicas",
                            t.key.first, t.key.second, name_of(p.id));
                t.rep->stepping_down = true;
                host_->transfer_leadership(t.group, p.id);
                break;
            }
    }
}

void JetStreamCluster::retire_replicas() {
    const std::string self = srv_.server_name();
    std::vector<std::pair<Key, std::shared_ptr<Replica>>> leaving;
    {
        std::lock_guard lk(assign_mu_);
        for (auto& [k, a] : streams_)
            if (a.replica && std::find(a.peers.begin(), a.peers.end(), self) == a.peers.end())
                leaving.emplace_back(k, a.replica);
    }
    for (auto& [key, rep] : leaving) {
        auto st = host_->status(rep->group);
        if (!st) continue;
        // Its removal committed (it heard so, or a member whose committed membership leaves
        // it out told it), or it never held anything of the group (a replica added and left
        // out again before the leader reached it, or replayed at a restart after its files had
        // gone): nothing a majority needs is here.
        if (!st->removed && st->last != 0 && !rep->removal_confirmed) {
            if (Clock::now() >= rep->next_removal_ask) {
                rep->next_removal_ask = Clock::now() + seconds(2);
                ask_removed(rep->group);
            }
            continue;
        }
        {
            std::lock_guard lk(assign_mu_);
            auto it = streams_.find(key);
            if (it == streams_.end() || it->second.replica != rep) continue;
            if (std::find(it->second.peers.begin(), it->second.peers.end(), self) != it->second.peers.end()) continue;
            it->second.replica.reset();
        }
        log::notice("JetStream cluster: stream '{} > {}': this server's replica was removed{}; its files go", key.first,
                    key.second, st->removed || st->last == 0 ? "" : " (a member confirmed it)");
        close_replica(key, rep->group);
    }
}

}  // namespace osprey::cluster
