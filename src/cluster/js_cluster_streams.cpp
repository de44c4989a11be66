// The meta group's stream assignments and the replicated streams on top of them.
//
// Meta entries are JSON:
//   {"op":"add_stream","account":A,"config":{...},"peers":["s0","s1"],"group":G,"created":ns}
//   {"op":"del_stream","account":A,"stream":N}
// Every server applies them in the same order. The servers named in "peers" open a replica
// (the stream's store plus its Raft group G, whose voters are those peers); the stream's
// leader takes its subjects once it has applied everything committed before its term.
#include <boost/json.hpp>
#include <deque>

#include "cluster/js_cluster.h"
#include "cluster/js_cluster_replica.h"
#include "cluster/route_manager.h"
#include "jetstream/jetstream.h"
#include "jetstream/stream/stream.h"
#include "util/log.h"
#include "util/random.h"
#include "server/account.h"
#include "server/message.h"
#include "server/server.h"
#include "subjects/subject.h"

namespace osprey::cluster {

namespace json = boost::json;
using namespace std::chrono;
using jetstream::ApiError;

namespace {

constexpr std::uint8_t kCompactEntry = 0xC0;  // a stream entry of the cluster layer (not a batch)
constexpr raft::Index kCompactEvery = 16;  // at most once a second (the check), when the log moved

ApiError unavailable() { return ApiError{503, 10008, "JetStream system temporarily unavailable"}; }

}  // namespace

void JetStreamCluster::create_stream(const std::string& account, const jetstream::StreamConfig& cfg,
                                     Done done) {
    // Placement: this server, then the JetStream servers holding the fewest streams, among
    // those its placement allows (its cluster, all its tags).
    const std::size_t want = std::size_t(std::max<std::int64_t>(1, cfg.num_replicas));
    Assignment here;
    here.cfg = cfg;
    if (placeable(cfg, srv_.options().server_tags)) here.peers = {srv_.server_name()};
    std::string why;
    auto placed = place(here, want, {}, &why);
    if (!placed) return done(ApiError{400, 10005, why});
    const std::vector<std::string> peers = std::move(*placed);
    const std::int64_t created = jetstream::now_unix_ns();
    json::array pj;
    for (auto& p : peers) pj.push_back(json::value(p));
    json::object e{{"op", "add_stream"},
                   {"account", account},
                   {"config", jetstream::to_json(cfg)},
                   {"peers", std::move(pj)},
                   {"group", "S-R" + std::to_string(want) + "-" + util::random_token(8)},
                   {"created", created}};
    const Key key{account, cfg.name};
    {
        std::lock_guard lk(assign_mu_);
        if (creating_.count(key)) return done(ApiError{400, 10058, "stream name already in use with a different configuration"});
        creating_[key] = {Clock::now() + seconds(10), std::move(done)};
    }
    host_->propose(meta_group_, json::serialize(e), [this, key](auto r) {
        if (!r) resolve(creating_, key, unavailable());
    });
}

void JetStreamCluster::delete_stream(const std::string& account, const std::string& stream, Done done) {
    const Key key{account, stream};
    {
        std::lock_guard lk(assign_mu_);
        if (!streams_.count(key)) return done(ApiError{404, 10059, "stream not found"});
        deleting_[key] = {Clock::now() + seconds(10), std::move(done)};
    }
    json::object e{{"op", "del_stream"}, {"account", account}, {"stream", stream}};
    host_->propose(meta_group_, json::serialize(e), [this, key](auto r) {
        if (!r) resolve(deleting_, key, unavailable());
    });
}

void JetStreamCluster::update_stream(const std::string& account, const jetstream::StreamConfig& cfg, Done done) {
    const Key key{account, cfg.name};
    std::optional<Assignment> scaled;
    {
        std::lock_guard lk(assign_mu_);
        auto it = streams_.find(key);
        if (it == streams_.end()) return done(ApiError{404, 10059, "stream not found"});
        if (it->second.peers.size() != std::size_t(std::max<std::int64_t>(1, cfg.num_replicas))) scaled = it->second;
    }
    if (scaled) {
        // num_replicas moved (or a removed peer left the group short): new placement, and
        // the stream's leader moves the group's voters to it (js_cluster_membership.cpp).
        scaled->cfg = cfg;
        std::string why;
        auto peers = place(*scaled, std::size_t(std::max<std::int64_t>(1, cfg.num_replicas)), {}, &why);
        if (!peers) return done(ApiError{400, 10005, why});
        return propose_peers(key, cfg, *peers, std::move(done));
    }
    {
        std::lock_guard lk(assign_mu_);
        if (!streams_.count(key)) return done(ApiError{404, 10059, "stream not found"});
        if (updating_.count(key)) return done(unavailable());
        updating_[key] = {Clock::now() + seconds(10), std::move(done)};
    }
    json::object e{{"op", "update_stream"}, {"account", account}, {"config", jetstream::to_json(cfg)}};
    host_->propose(meta_group_, json::serialize(e), [this, key](auto r) {
        if (!r) resolve(updating_, key, unavailable());
    });
}

void JetStreamCluster::resolve(std::map<Key, std::pair<Clock::time_point, Done>>& waiters, const Key& key,
                               std::optional<ApiError> err) {
    Done done;
    {
        std::lock_guard lk(assign_mu_);
        auto it = waiters.find(key);
        if (it == waiters.end()) return;
        done = std::move(it->second.second);
        waiters.erase(it);
    }
    done(err);
}

bool JetStreamCluster::stream_reachable(const Key& key) {
    // The create is answered once a publish from here would reach the stream's leader: its
    // subscription is in this server's sublist (its own, or through a route), as nats-server
    // answers from the new leader once it took its subjects.
    std::optional<jetstream::StreamConfig> cfg = stream_config(key.first, key.second);
    server::Account* acc = srv_.find_account(key.first);
    if (!cfg || !acc || cfg->subjects.empty()) return cfg.has_value();
    std::string probe;
    subjects::Tokens tok(cfg->subjects.front());
    std::string_view t;
    while (tok.next(t)) probe += (probe.empty() ? "" : ".") + std::string(t == "*" || t == ">" ? "x" : t);
    return server::has_interest(*acc->sublist().match_uncached(probe));
}

void JetStreamCluster::compact_streams() {
    std::vector<std::pair<std::string, std::shared_ptr<Replica>>> reps;
    {
        std::lock_guard lk(assign_mu_);
        for (auto& [k, a] : streams_)
            if (a.replica) reps.emplace_back(a.group, a.replica);
    }
    const auto now = Clock::now();
    for (auto& [group, rep] : reps) {
        // Leader: propose a compaction up to what every voter's log matches.
        if (rep->leader == self_ && now >= rep->next_check) {
            rep->next_check = now + seconds(1);
            if (auto st = host_->status(group); st && st->role == raft::Role::leader) {
                raft::Index floor = st->commit;
                for (const auto& p : st->peers) floor = std::min(floor, raft::Index(p.current ? st->last : st->last - p.lag));
                if (st->peers.size() + 1 < st->membership.voters.size()) floor = 0;  // someone unheard of
                std::lock_guard lk(rep->mu);
                if (floor >= rep->proposed_compaction + kCompactEvery) {
                    rep->proposed_compaction = floor;
                    std::string e(1, char(kCompactEntry));
                    for (int i = 0; i < 8; ++i) e.push_back(char((floor >> (8 * i)) & 0xff));
                    host_->propose(group, std::move(e), [](auto) {});
                }
            }
        }
        // Every replica: drop the log up to the agreed index, as far as the store has synced.
        auto s = rep->stream.lock();
        if (!s) continue;
        const std::uint64_t durable = s->store().durable_seq();
        raft::Index upto = 0;
        std::string snap_data;
        {
            std::lock_guard lk(rep->mu);
            std::uint64_t last_seq = rep->compacted_last_seq;
            while (!rep->marks.empty() && rep->marks.front().first <= rep->compact_target &&
                   rep->marks.front().second <= durable) {
                upto = rep->marks.front().first;
                last_seq = rep->marks.front().second;
                rep->marks.pop_front();
            }
            if (upto <= rep->compacted) continue;
            rep->compacted = upto;
            rep->compacted_last_seq = last_seq;
            // The snapshot names the stream's last sequence at that index: a replica whose
            // store lacks some of it (see catch_up) knows what to fetch.
            for (int i = 0; i < 8; ++i) snap_data.push_back(char((last_seq >> (8 * i)) & 0xff));
        }
        // The consumers' ack logs sync lazily too: what they applied from the entries that go
        // must be on disk first.
        s->sync_consumer_logs();
        host_->compact(group, upto, std::move(snap_data));
    }
}

void JetStreamCluster::check_timeouts() {
    compact_streams();
    reconcile_meta();
    reconcile_replicas();
    retire_replicas();
    // A meta group with no leader for long: say why it may be (once).
    static thread_local Clock::time_point leaderless_since{};
    static thread_local bool warned = false;
    if (meta_open_ && meta_leader_ == raft::kNone) {
        if (leaderless_since == Clock::time_point{}) leaderless_since = Clock::now();
        if (!warned && Clock::now() - leaderless_since > seconds(30)) {
            warned = true;
            log::warn("JetStream cluster: no meta leader for 30 s: fewer than a majority of the meta group's voters "
                      "are connected, or this server formed a meta group of its own (servers must list the same "
                      "cluster in their routes at first start, or start after it formed to join it)");
        }
    } else {
        leaderless_since = {};
    }
    std::vector<Key> ready;
    {
        std::lock_guard lk(assign_mu_);
        for (auto& [k, w] : creating_)
            if (streams_.count(k)) ready.push_back(k);
    }
    for (auto& k : ready)
        if (stream_reachable(k)) resolve(creating_, k, std::nullopt);
    // Requests whose entry never took effect in time: unavailable.
    for (auto* waiters : {&creating_, &deleting_, &updating_, &removing_}) {
        std::vector<Key> late;
        {
            std::lock_guard lk(assign_mu_);
            const auto now = Clock::now();
            for (auto& [k, w] : *waiters)
                if (w.first < now) late.push_back(k);
        }
        for (auto& k : late) resolve(*waiters, k, unavailable());
    }
}

void JetStreamCluster::apply_meta(const raft::Entry& e) {
    boost::system::error_code ec;
    auto v = json::parse(e.data, ec);
    if (ec || !v.is_object()) {
        log::error("JetStream cluster: a meta entry at {} is not JSON", e.index);
        return;
    }
    const auto& o = v.get_object();
    auto str = [&](const char* k) {
        auto it = o.find(k);
        return it != o.end() && it->value().is_string() ? std::string(it->value().get_string()) : std::string();
    };
    const std::string op = str("op"), account = str("account");
    if (op == "add_stream") {
        auto cit = o.find("config");
        if (cit == o.end()) return;
        auto cfg = jetstream::parse_stream_config(cit->value(), "");
        if (!cfg) {
            log::error("JetStream cluster: a stream assignment at {} has a bad config: {}", e.index,
                       cfg.error().description);
            return;
        }
        Assignment a;
        a.cfg = std::move(*cfg);
        a.group = str("group");
        if (auto it = o.find("created"); it != o.end() && it->value().is_int64()) a.created_ns = it->value().get_int64();
        if (auto it = o.find("peers"); it != o.end() && it->value().is_array())
            for (const auto& p : it->value().get_array())
                if (p.is_string()) a.peers.emplace_back(p.get_string());
        a.genesis = a.peers;
        const Key key{account, a.cfg.name};
        const bool mine = std::find(a.peers.begin(), a.peers.end(), srv_.server_name()) != a.peers.end();
        {
            std::lock_guard lk(assign_mu_);
            if (streams_.count(key)) return;  // already assigned (a replayed duplicate)
            if (mine) {
                a.replica = std::make_shared<Replica>();
                a.replica->host = host_.get();
                a.replica->group = a.group;
                a.replica->self = self_;
            }
            streams_[key] = a;
        }
        for (const auto& p : a.peers) {
            std::lock_guard nk(names_mu_);
            names_[node_id_of(p)] = p;
        }
        // The create is answered once the stream's leader took its subjects (check_timeouts),
        // whether or not this server holds a replica.
        if (mine) open_replica(key, a, false);
    } else if (op == "update_stream") {
        auto cit = o.find("config");
        if (cit == o.end()) return;
        auto cfg = jetstream::parse_stream_config(cit->value(), "");
        if (!cfg) return;
        const Key key{account, cfg->name};
        bool mine = false;
        {
            std::lock_guard lk(assign_mu_);
            auto it = streams_.find(key);
            if (it == streams_.end()) return;
            it->second.cfg = *cfg;
            mine = it->second.replica != nullptr;
        }
        // New replicas (scaling, a removed peer's replacement): a replica added here opens
        // with the new configuration; one left out stays until its removal committed.
        if (auto it = o.find("peers"); it != o.end() && it->value().is_array()) {
            std::vector<std::string> peers;
            for (const auto& p : it->value().get_array())
                if (p.is_string()) peers.emplace_back(p.get_string());
            if (!peers.empty()) apply_peers(key, std::move(peers));
        }
        if (!mine) return resolve(updating_, key, std::nullopt);
        // Every replica takes it in log order (on the API thread, which owns the streams).
        js_.post([this, key, c = *cfg] {
            std::optional<ApiError> err = js_.update_replica(key.first, c);
            if (err) log::error("JetStream cluster: stream '{} > {}' refused an update: {}", key.first, key.second, err->description);
            resolve(updating_, key, err);
        });
    } else if (op == "remove_server") {
        if (const std::string server = str("server"); !server.empty()) apply_remove_server(server);
    } else if (op == "del_stream") {
        const Key key{account, str("stream")};
        Assignment a;
        {
            std::lock_guard lk(assign_mu_);
            auto it = streams_.find(key);
            if (it == streams_.end()) return;
            a = std::move(it->second);
            streams_.erase(it);
        }
        if (a.replica) close_replica(key, a.group);
        resolve(deleting_, key, std::nullopt);
    }
}

void JetStreamCluster::close_replica(const Key& key, const std::string& group) {
    host_->remove_group(group, true);
    js_.post([this, key] { js_.close_replica(key.first, key.second, true); });
}

void JetStreamCluster::open_replica(const Key& key, const Assignment& a, bool joining) {
    // The store opens on the API thread (it owns the stream maps); the group starts after it,
    // so the first committed entry finds the stream.
    std::shared_ptr<Replica> rep = a.replica;
    // A new group starts with its peers as voters. A replica joining a running group starts
    // from the group's first voters without itself, as the others' logs began: it cannot
    // campaign or count until the leader's log (or snapshot) brings the membership with it.
    // (A group the WAL holds keeps its stored membership either way.)
    raft::Membership voters;
    for (const auto& p : joining ? a.genesis : a.peers)
        if (!joining || p != srv_.server_name()) voters.voters.push_back(node_id_of(p));
    voters = raft::Membership::of(voters.voters);
    const auto created = system_clock::time_point(duration_cast<system_clock::duration>(nanoseconds(a.created_ns)));
    const auto cfg = a.cfg;
    const std::string tag = a.group;
    js_.post([this, key, rep, voters, created, cfg, tag] {
        auto stream = js_.open_replica(key.first, cfg, created, tag, rep.get());
        if (!stream) {
            resolve(creating_, key, ApiError{500, 10049, "stream replica could not be opened"});
            return;
        }
        rep->stream = stream;
        RaftGroupCallbacks cb;
        cb.lease_until = rep->lease;
        std::weak_ptr<jetstream::Stream> weak = stream;
        cb.apply = [weak, rep](const raft::Entry& e) {
            if (!e.data.empty() && std::uint8_t(e.data[0]) == kCompactEntry) {
                // Every voter had the log up to the index: each replica may now drop it once
                // its store holds what it applied from it on disk.
                raft::Index upto = 0;
                for (int i = 0; i < 8 && 1 + i < int(e.data.size()); ++i)
                    upto |= raft::Index(std::uint8_t(e.data[1 + i])) << (8 * i);
                std::lock_guard lk(rep->mu);
                rep->compact_target = std::max(rep->compact_target, upto);
                return;
            }
            {
                // The store is catching up from the peers: what the log commits meanwhile
                // applies after it, in order.
                std::lock_guard lk(rep->mu);
                if (rep->catching_up) {
                    rep->held.push_back(e);
                    return;
                }
            }
            auto s = weak.lock();
            if (!s) return;
            s->apply_entry(e.data);
            std::lock_guard lk(rep->mu);
            rep->marks.emplace_back(e.index, s->store().state().last_seq);
        };
        cb.install = [this, key, weak, rep](const raft::Snapshot& snap, bool from_leader) {
            // The snapshot (ours at a restart, or the leader's when our log was behind its
            // compacted log) covers the stream up to the sequence it names; a store that lacks
            // some of that (its files were lost, or damaged and set aside) fetches it. The
            // leader's snapshot also skipped the consumers' entries it covers (a new replica
            // never saw them): their state comes with the catch-up.
            std::uint64_t last = 0;
            for (int i = 0; i < 8 && i < int(snap.data.size()); ++i)
                last |= std::uint64_t(std::uint8_t(snap.data[i])) << (8 * i);
            auto s = weak.lock();
            if (!s) return;
            const std::uint64_t have = s->store().state().last_seq;
            if (have < last || from_leader) catch_up(key, rep, last);
        };
        cb.role_changed = [this, key, tag, weak, rep](raft::Role role, raft::NodeId leader, raft::Term) {
            rep->leader = leader;
            if (role == raft::Role::leader) rep->settled_gen = 0;  // a new leader looks
            // A leader that stops leading without having been asked to lost its majority.
            const bool lost = rep->was_leader && role != raft::Role::leader && !rep->stepping_down;
            rep->was_leader = role == raft::Role::leader;
            if (role != raft::Role::leader) rep->stepping_down = false;
            if (role != raft::Role::leader)
                if (auto s = weak.lock()) s->set_leader(false);
            if (lost) advise_quorum_lost(key, tag, weak.lock());
        };
        cb.leader_ready = [this, weak, key, tag, rep](raft::Term) {
            {
                std::lock_guard lk(rep->mu);
                if (rep->catching_up) {
                    // A store with a hole must not lead: hand the group to a peer that is
                    // current (or lead once caught up, if none is).
                    rep->lead_when_caught_up = true;
                    rep->stepping_down = true;
                    if (auto st = host_->status(tag))
                        for (const auto& p : st->peers)
                            if (p.current) {
                                host_->transfer_leadership(tag, p.id);
                                break;
                            }
                    return;
                }
            }
            auto s = weak.lock();
            if (s) s->set_leader(true);
            advise_stream_leader(key, tag, s);
        };
        host_->add_group(tag, voters, std::move(cb), 0);
    });
}

void JetStreamCluster::catch_up(const Key& key, const std::shared_ptr<Replica>& rep, std::uint64_t to) {
    auto s = rep->stream.lock();
    if (!s) return;
    {
        std::lock_guard lk(rep->mu);
        if (rep->catching_up) return;  // one at a time; the held entries carry the rest
        rep->catching_up = true;
    }
    const std::uint64_t from = s->store().state().last_seq + 1;
    if (from <= to)
        log::warn("JetStream cluster: stream '{} > {}': this replica's store ends at {} but its log starts after {}; "
                  "fetching the rest from the other replicas",
                  key.first, key.second, from - 1, to);
    else
        log::notice("JetStream cluster: stream '{} > {}': this replica's log starts at the leader's snapshot; "
                    "fetching its consumers from the other replicas",
                    key.first, key.second);
    StreamCatchup::Job job;
    job.group = rep->group;
    job.stream = s;
    job.from = from;
    job.to = to;
    job.memory = s->config().storage == jetstream::StorageType::Memory;
    job.sources = [this, key, rep] {
        // The leader first (it has everything committed), then the other peers.
        std::vector<raft::NodeId> v;
        const raft::NodeId l = rep->leader.load();
        if (l != raft::kNone && l != self_) v.push_back(l);
        std::lock_guard lk(assign_mu_);
        if (auto it = streams_.find(key); it != streams_.end())
            for (const auto& p : it->second.peers)
                if (const auto id = node_id_of(p); id != self_ && id != l) v.push_back(id);
        return v;
    };
    job.done = [this, rep](std::string consumers) {
        host_->post([this, rep, consumers = std::move(consumers)] { caught_up(rep, consumers); });
    };
    catchup_->fetch(std::move(job));
}

void JetStreamCluster::caught_up(const std::shared_ptr<Replica>& rep, const std::string& consumers) {
    // On the host thread: the consumers as the peer held them, then the held entries, before
    // anything committed later.
    std::deque<raft::Entry> held;
    bool lead = false;
    auto s = rep->stream.lock();
    if (s && !consumers.empty()) s->apply_consumers_catchup(consumers);
    {
        std::lock_guard lk(rep->mu);
        held.swap(rep->held);
        rep->catching_up = false;
        lead = std::exchange(rep->lead_when_caught_up, false);
    }
    if (!s) return;
    for (const auto& e : held) {
        s->apply_entry(e.data);
        std::lock_guard lk(rep->mu);
        rep->marks.emplace_back(e.index, s->store().state().last_seq);
    }
    if (lead)
        if (auto st = host_->status(rep->group); st && st->role == raft::Role::leader) s->set_leader(true);
}

std::shared_ptr<jetstream::Stream> JetStreamCluster::replica_of_group(const std::string& group) {
    std::lock_guard lk(assign_mu_);
    for (auto& [k, a] : streams_)
        if (a.group == group && a.replica) return a.replica->stream.lock();
    return nullptr;
}

std::vector<std::string> JetStreamCluster::stream_names(const std::string& account) {
    std::vector<std::string> out;
    std::lock_guard lk(assign_mu_);
    for (const auto& [k, a] : streams_)
        if (k.first == account) out.push_back(k.second);
    return out;
}

std::optional<jetstream::StreamConfig> JetStreamCluster::stream_config(const std::string& account,
                                                                        const std::string& stream) {
    std::lock_guard lk(assign_mu_);
    auto it = streams_.find({account, stream});
    if (it == streams_.end()) return std::nullopt;
    return it->second.cfg;
}

jetstream::ClusterView::GroupLeader JetStreamCluster::stream_group_leader(const std::string& account,
                                                                        const std::string& stream) {
    std::shared_ptr<Replica> rep;
    {
        std::lock_guard lk(assign_mu_);
        auto it = streams_.find({account, stream});
        if (it != streams_.end()) rep = it->second.replica;
    }
    const raft::NodeId l = rep ? rep->leader.load() : raft::kNone;
    return l == raft::kNone ? GroupLeader::none : l == self_ ? GroupLeader::self : GroupLeader::other;
}

json::object JetStreamCluster::stream_cluster_json(const std::string& account, const std::string& stream) {
    std::string group;
    std::vector<std::string> peers;
    std::shared_ptr<Replica> rep;
    {
        std::lock_guard lk(assign_mu_);
        auto it = streams_.find({account, stream});
        if (it == streams_.end()) return json::object{{"name", routes_.cluster_name()}};
        group = it->second.group;
        peers = it->second.peers;
        rep = it->second.replica;
    }
    json::object o{{"name", routes_.cluster_name()}};
    const raft::NodeId leader = rep ? rep->leader.load() : raft::kNone;
    if (leader != raft::kNone) o["leader"] = name_of(leader);
    std::optional<RaftHost::Status> st;
    if (rep) st = host_->status(group);
    std::sort(peers.begin(), peers.end());
    json::array replicas;
    for (const auto& p : peers) {
        if (p == srv_.server_name()) continue;  // the answering server is not listed
        json::object r{{"name", p}};
        bool current = false;
        std::int64_t active = 0;
        bool known = false;
        if (st)
            for (const auto& ps : st->peers)
                if (ps.id == node_id_of(p)) {
                    known = ps.since_heard != steady_clock::duration::max();
                    current = ps.current;
                    if (known) active = duration_cast<nanoseconds>(ps.since_heard).count();
                    if (ps.lag) r["lag"] = ps.lag;
                }
        r["current"] = current;
        if (st && st->role == raft::Role::leader && !known) r["offline"] = true;
        r["active"] = active;
        r["peer"] = peer_hash(p);
        replicas.push_back(std::move(r));
    }
    if (!replicas.empty()) o["replicas"] = std::move(replicas);
    return o;
}

void JetStreamCluster::step_down_stream(const std::string& account, const std::string& stream, Done done) {
    std::string group;
    {
        std::lock_guard lk(assign_mu_);
        auto it = streams_.find({account, stream});
        if (it == streams_.end()) return done(ApiError{404, 10059, "stream not found"});
        group = it->second.group;
        if (it->second.peers.size() < 2) return done(std::nullopt);  // R1: nothing to hand over
        if (it->second.replica) it->second.replica->stepping_down = true;
    }
    host_->step_down(group, [done](bool ok) {
        done(ok ? std::nullopt : std::optional<ApiError>(ApiError{503, 10008, "JetStream system temporarily unavailable"}));
    });
}

void JetStreamCluster::step_down_meta(Done done) {
    host_->step_down(meta_group_, [done](bool ok) {
        done(ok ? std::nullopt : std::optional<ApiError>(ApiError{503, 10008, "JetStream system temporarily unavailable"}));
    });
}

}  // namespace osprey::cluster
