#include "cluster/js_cluster.h"

#include <boost/json.hpp>
#include <openssl/sha.h>

#include <algorithm>
#include <fmt/format.h>
#include <filesystem>

#include "cluster/route_manager.h"
#include "jetstream/jetstream.h"
#include "server/server.h"
#include "util/fnv.h"
#include "util/log.h"

namespace osprey::cluster {

namespace json = boost::json;
using namespace std::chrono;

JetStreamCluster::JetStreamCluster(server::Server& srv, RouteManager& routes, jetstream::JetStream& js,
                                   RaftHostOptions opts)
    : srv_(srv),
      routes_(routes),
      js_(js),
      dir_(js.store_dir()),
      opts_(opts),
      self_(node_id_of(srv.server_name())) {
    names_[self_] = srv.server_name();
}

JetStreamCluster::~JetStreamCluster() { stop(); }

bool JetStreamCluster::start(std::string& error) {
    raft::WalRecovery rec;
    raft::WalOptions wo;
    auto wal = raft::Wal::open(dir_ + "/_cluster_/wal", wo, rec);
    if (!wal) {
        error = "JetStream cluster: cannot open the write-ahead log: " + wal.error();
        return false;
    }
    for (const auto& n : rec.notes) log::warn("JetStream cluster: write-ahead log: {}", n);
    if (rec.damaged) log::error("JetStream cluster: the write-ahead log is damaged; see the notes above");
    std::string recovered_meta;
    for (const auto& [name, st] : rec.groups)
        if (name.starts_with(kMetaPrefix)) recovered_meta = name;
    const bool had_meta = !recovered_meta.empty();
    transport_ = std::make_unique<RouteRaftTransport>(srv_, self_);
    host_ = std::make_unique<RaftHost>(self_, std::move(*wal), std::move(rec), *transport_, opts_);
    transport_->attach(*host_);
    catchup_ = std::make_unique<StreamCatchup>(srv_, self_, [this](const std::string& g) { return replica_of_group(g); });
    catchup_->start();
    host_->start();
    if (had_meta) {
        log::notice("JetStream cluster: recovering the meta group from the write-ahead log");
        meta_genesis_ = load_meta_genesis(recovered_meta);
        if (meta_genesis_.empty())
            log::warn("JetStream cluster: {}/_cluster_/meta.json does not name the meta group's first voters: "
                      "servers that start later cannot join through this one",
                      dir_);
        open_meta(recovered_meta, {});
    }
    start_meta_service();
    bootstrap_ = std::thread([this, had_meta] {
        if (!had_meta) bootstrap_loop();
        else {
            std::unique_lock lk(mu_);
            while (!stop_) {
                lk.unlock();
                check_timeouts();
                lk.lock();
                cv_.wait_for(lk, milliseconds(creates_waiting() ? 10 : 200));
            }
        }
    });
    return true;
}

void JetStreamCluster::stop() {
    {
        std::lock_guard lk(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (bootstrap_.joinable()) bootstrap_.join();
    stop_meta_service();
    if (catchup_) catchup_->stop();
    if (transport_) transport_->detach();
    if (host_) host_->stop();
}

void JetStreamCluster::bootstrap_loop() {
    // At least one other server, as nats-server (a cluster of one has no meta leader).
    const std::size_t want = std::max<std::size_t>(1, routes_.configured_peers());
    log::notice("JetStream cluster: waiting for {} other server{} to form the meta group", want,
                want == 1 ? "" : "s");
    std::unique_lock lk(mu_);
    // Before forming a group, ask whether the connected servers already run one (this server
    // started after the cluster formed): then it joins that one (js_cluster_meta_membership.cpp).
    // Servers that start together find none and form the same group from the same voters.
    auto asked_at = Clock::time_point{};
    int asks = 0;
    while (!stop_) {
        if (auto joined = take_meta_answer()) {
            lk.unlock();
            std::vector<raft::NodeId> ids;
            for (const auto& n : joined->second) {
                const raft::NodeId id = node_id_of(n);
                ids.push_back(id);
                std::lock_guard nk(names_mu_);
                names_[id] = n;
            }
            log::notice("JetStream cluster: joining the existing meta group of {} first voters", ids.size());
            meta_genesis_ = joined->second;
            save_meta(joined->first, meta_genesis_);
            open_meta(joined->first, raft::Membership::of(ids));
            lk.lock();
            break;
        }
        std::vector<raft::NodeId> ids{self_};
        std::vector<std::string> names{srv_.server_name()};
        for (const auto& p : routes_.peers()) {
            if (!p.jetstream || p.server_name.empty()) continue;
            const raft::NodeId id = node_id_of(p.server_name);
            ids.push_back(id);
            names.push_back(p.server_name);
            std::lock_guard nk(names_mu_);
            names_[id] = p.server_name;
        }
        if (ids.size() > 1 && (asks == 0 || Clock::now() - asked_at > milliseconds(400))) {
            ask_meta();
            ++asks;
            asked_at = Clock::now();
        }
        // Formed once enough servers are here and three rounds of asking found no group (one
        // was not enough on a loaded machine: the question can go out before the others'
        // interest in it has arrived, and the answer come late).
        if (ids.size() >= want + 1 && asks >= 3 && Clock::now() - asked_at > milliseconds(300)) {
            lk.unlock();
            const raft::Membership voters = raft::Membership::of(ids);
            std::uint64_t h = util::fnv1a64({});
            for (raft::NodeId v : voters.voters)
                h = util::fnv1a64(std::string_view(reinterpret_cast<const char*>(&v), sizeof v), h);
            const std::string name = fmt::format("{}{:016x}", kMetaPrefix, h);
            std::sort(names.begin(), names.end());
            meta_genesis_ = names;
            save_meta(name, meta_genesis_);
            open_meta(name, voters);
            lk.lock();
            break;
        }
        cv_.wait_for(lk, milliseconds(100));
    }
    while (!stop_) {
        lk.unlock();
        check_timeouts();
        lk.lock();
        cv_.wait_for(lk, milliseconds(creates_waiting() ? 10 : 200));
    }
}

void JetStreamCluster::open_meta(const std::string& name, const raft::Membership& initial) {
    meta_group_ = name;
    RaftGroupCallbacks cb;
    cb.role_changed = [this](raft::Role role, raft::NodeId leader, raft::Term term) {
        const raft::NodeId before = meta_leader_.exchange(leader);
        meta_term_ = term;
        if (leader == before || leader == raft::kNone) return;
        if (leader == self_) log::notice("Self is new JetStream cluster metadata leader");
        else log::notice("JetStream cluster new metadata leader: {}/{}", name_of(leader), routes_.cluster_name());
        (void)role;
    };
    cb.apply = [this](const raft::Entry& e) { apply_meta(e); };
    host_->add_group(meta_group_, initial, std::move(cb));
    meta_open_ = true;
}

std::string JetStreamCluster::name_of(raft::NodeId id) {
    {
        std::lock_guard lk(names_mu_);
        if (auto it = names_.find(id); it != names_.end()) return it->second;
    }
    for (const auto& p : routes_.peers()) {
        const raft::NodeId pid = node_id_of(p.server_name);
        std::lock_guard lk(names_mu_);
        names_[pid] = p.server_name;
    }
    std::lock_guard lk(names_mu_);
    auto it = names_.find(id);
    return it == names_.end() ? std::string() : it->second;
}

bool JetStreamCluster::is_meta_leader() const { return meta_open_ && meta_leader_ == self_; }

bool JetStreamCluster::meta_ready() const { return meta_open_ && meta_leader_ != raft::kNone; }

// nats-server's peer id: the first 8 bytes of sha256(server name), each as one of 62 digits.
std::string peer_hash(const std::string& server_name) {
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(server_name.data()), server_name.size(), h);
    std::string out(8, '0');
    for (int i = 0; i < 8; ++i) out[i] = digits[h[i] % 62];
    return out;
}

json::object JetStreamCluster::meta_cluster_json() {
    // As nats-server 2.9.10: "peer" is the leader's (the hash of "" without one), and only the
    // leader lists the replicas.
    json::object o;
    o["name"] = routes_.cluster_name();
    const raft::NodeId leader = meta_leader_;
    const std::string leader_name = leader == raft::kNone ? std::string() : name_of(leader);
    if (!leader_name.empty()) o["leader"] = leader_name;
    o["peer"] = peer_hash(leader_name);
    std::size_t size = std::max<std::size_t>(1, routes_.configured_peers()) + 1;
    if (meta_open_) {
        if (auto st = host_->status(meta_group_)) {
            size = st->membership.voters.size();
            if (st->role == raft::Role::leader) {
                std::vector<std::pair<std::string, json::object>> rows;
                for (const auto& p : st->peers) {
                    const std::string n = name_of(p.id);
                    json::object r{{"name", n}, {"current", p.current}};
                    if (p.since_heard == steady_clock::duration::max()) r["offline"] = true;
                    r["active"] = p.since_heard == steady_clock::duration::max()
                                      ? std::int64_t(0)
                                      : std::int64_t(duration_cast<nanoseconds>(p.since_heard).count());
                    if (p.lag) r["lag"] = p.lag;
                    r["peer"] = peer_hash(n);
                    rows.emplace_back(n, std::move(r));
                }
                std::sort(rows.begin(), rows.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
                json::array replicas;
                for (auto& [n, r] : rows) replicas.push_back(std::move(r));
                if (!replicas.empty()) o["replicas"] = std::move(replicas);
            }
        }
    }
    o["cluster_size"] = size;
    return o;
}

}  // namespace osprey::cluster
