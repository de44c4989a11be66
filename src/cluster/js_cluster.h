// JetStream in a cluster: the server's Raft host (one write-ahead log, one thread, every
// group), the transport over routes, and the meta group that every JetStream server of the
// cluster belongs to. The meta group forms at first start once every server the configured
// routes name is connected (so all of them bootstrap the same voters); after a restart its
// voters come from the log.
//
// Built so far: the meta group (election, leadership, /jsz meta_cluster). Stream and consumer
// assignments and replicated streams sit on it next (docs/clustering.md).
#pragma once
#include <atomic>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "cluster/raft_host.h"
#include "cluster/raft_transport.h"
#include "cluster/stream_catchup.h"
#include "jetstream/api/cluster_view.h"
#include "jetstream/stream/stream_replicator.h"

namespace osprey::server {
class Server;
}
namespace osprey::jetstream {
class JetStream;
class Stream;
}

namespace osprey::cluster {

struct RouteIntake;  // route_intake.h
class RouteManager;

// nats-server's peer id of a server (its name hashed): what API and monitoring JSON show.
std::string peer_hash(const std::string& server_name);

class JetStreamCluster : public jetstream::ClusterView {
public:
    // The meta group's name: this prefix and a hash of the voters it started with, so servers
    // that bootstrapped different voters (a cluster grown from seed routes) never mix their
    // logs: a group nobody else runs just has no leader.
    static constexpr const char* kMetaPrefix = "_meta_-";

    JetStreamCluster(server::Server& srv, RouteManager& routes, jetstream::JetStream& js,
                     RaftHostOptions opts = {});
    ~JetStreamCluster() override;
    // Opens the WAL and starts the host; false (and why) when the WAL cannot be opened.
    bool start(std::string& error);
    void stop();

    bool is_meta_leader() const override;
    bool removed() const override { return removed_self_; }
    bool meta_ready() const override;
    boost::json::object meta_cluster_json() override;

    void create_stream(const std::string& account, const jetstream::StreamConfig& cfg, Done done) override;
    void delete_stream(const std::string& account, const std::string& stream, Done done) override;
    void update_stream(const std::string& account, const jetstream::StreamConfig& cfg, Done done) override;
    void remove_stream_peer(const std::string& account, const std::string& stream, const std::string& server,
                            Done done) override;
    void remove_server(const std::string& name, const std::string& peer_id, Done done) override;
    std::vector<std::string> stream_names(const std::string& account) override;
    std::optional<jetstream::StreamConfig> stream_config(const std::string& account,
                                                          const std::string& stream) override;
    boost::json::object stream_cluster_json(const std::string& account, const std::string& stream) override;
    GroupLeader stream_group_leader(const std::string& account, const std::string& stream) override;
    void step_down_stream(const std::string& account, const std::string& stream, Done done) override;
    void step_down_meta(Done done) override;

private:
    using Clock = std::chrono::steady_clock;
    struct Replica;
    struct Assignment {
        jetstream::StreamConfig cfg;
        std::vector<std::string> peers;    // server names: the replicas it should have
        std::vector<std::string> genesis;  // the group's first voters (a joining replica's start)
        std::string group;
        std::int64_t created_ns = 0;
        std::shared_ptr<Replica> replica;  // when this server holds one
    };
    using Key = std::pair<std::string, std::string>;  // account, stream
    void apply_meta(const raft::Entry& e);
    // `joining`: the replica is added to a running group (its first voters leave it out
    // until the leader's log adds it).
    void open_replica(const Key& key, const Assignment& a, bool joining);
    // Closes this server's replica (the stream was deleted, or left this server) and
    // deletes its files and its group's state.
    void close_replica(const Key& key, const std::string& group);
    // Membership (js_cluster_membership.cpp). Meta leader: the servers for `want` replicas,
    // keeping the current ones (the leader first) and adding the least loaded.
    // `why`: the error's description when there are too few (nats-server's words).
    std::optional<std::vector<std::string>> place(const Assignment& a, std::size_t want,
                                                  const std::vector<std::string>& exclude, std::string* why = nullptr);
    // Whether a server with these tags may hold the stream (its placement's cluster and tags);
    // the tags it lacks go to `missing`.
    bool placeable(const jetstream::StreamConfig& cfg, const std::vector<std::string>& tags,
                   std::set<std::string>* missing = nullptr);
    void propose_peers(const Key& key, const jetstream::StreamConfig& cfg, const std::vector<std::string>& peers,
                       Done done);
    // The meta entry that gives a stream new peers.
    static std::string peers_entry(const Key& key, const jetstream::StreamConfig& cfg,
                                   const std::vector<std::string>& peers);
    // The stream's peers without `server`: a replacement in its place if a server is free for
    // it (`replaced`), else one fewer.
    std::vector<std::string> peers_without(const Assignment& a, const std::string& server, bool* replaced);
    void apply_peers(const Key& key, std::vector<std::string> peers);
    // Stream leader: one voter change at a time towards the assignment's peers.
    void reconcile_replicas();
    // A replica the assignment left out closes once it knows its removal committed.
    void retire_replicas();
    // Advisories (js_cluster_advisories.cpp), on the host thread.
    boost::json::array replicas_json(const Key& key, const std::string& group, bool* found);
    void publish_advisory(const std::string& account, const std::string& subject, const char* type,
                          const boost::json::object& fields);
    void advise_stream_leader(const Key& key, const std::string& group, const std::shared_ptr<jetstream::Stream>& s);
    void advise_quorum_lost(const Key& key, const std::string& group, const std::shared_ptr<jetstream::Stream>& s);
    void resolve(std::map<Key, std::pair<Clock::time_point, Done>>& waiters, const Key& key,
                 std::optional<jetstream::ApiError> err);
    void check_timeouts();
    void compact_streams();
    // A replica's store is behind its log's snapshot: its applies wait while the messages come
    // from the peers' stores (stream_catchup.h).
    void catch_up(const Key& key, const std::shared_ptr<Replica>& rep, std::uint64_t to);
    void caught_up(const std::shared_ptr<Replica>& rep, const std::string& consumers);
    std::shared_ptr<jetstream::Stream> replica_of_group(const std::string& group);
    bool stream_reachable(const Key& key);
    bool creates_waiting() {
        std::lock_guard lk(assign_mu_);
        return !creating_.empty() || !deleting_.empty() || !updating_.empty();
    }
    void bootstrap_loop();
    void open_meta(const std::string& name, const raft::Membership& initial);
    // The meta group's own membership (js_cluster_meta_membership.cpp): every osprey server
    // with the meta group open answers `$OSP.META.INFO` (its name and first voters), so a
    // server that starts later joins that group instead of forming its own; a joiner asks the
    // leader to add it (`$OSP.META.JOIN`) until it is a voter; SERVER.REMOVE takes one out.
    void start_meta_service();
    void stop_meta_service();
    void serve_meta(const std::string& subject, const std::string& reply, std::string_view body);
    void ask_meta();
    std::optional<std::pair<std::string, std::vector<std::string>>> take_meta_answer();
    void save_meta(const std::string& name, const std::vector<std::string>& genesis);
    std::vector<std::string> load_meta_genesis(const std::string& name);
    void reconcile_meta();
    void apply_remove_server(const std::string& server);
    void remap_streams_of(const std::string& server);
    // A replica left out asks its group's other members whether its removal committed.
    void ask_removed(const std::string& group);
    void answer_removed(const std::string& reply, const std::string& group, const std::string& server);
    std::string name_of(raft::NodeId id);

    server::Server& srv_;
    RouteManager& routes_;
    jetstream::JetStream& js_;
    const std::string dir_;
    const RaftHostOptions opts_;
    const raft::NodeId self_;
    std::unique_ptr<RouteRaftTransport> transport_;
    std::unique_ptr<RaftHost> host_;
    std::unique_ptr<StreamCatchup> catchup_;

    std::atomic<bool> meta_open_{false};
    std::string meta_group_;                // set once, before meta_open_
    std::vector<std::string> meta_genesis_;  // its first voters' names (set with meta_group_)
    std::shared_ptr<RouteIntake> meta_requests_, meta_answers_;
    std::mutex meta_mu_;
    std::optional<std::pair<std::string, std::vector<std::string>>> meta_answer_;  // a peer's
    std::map<std::string, Clock::time_point> joiners_;  // meta leader: who asked to join, when
    std::set<std::string> removed_servers_;             // committed SERVER.REMOVEs (meta_mu_)
    std::atomic<bool> removed_self_{false};             // this server's among them

    Clock::time_point next_meta_reconcile_{}, next_join_ask_{};
    std::atomic<raft::NodeId> meta_leader_{raft::kNone};
    std::atomic<raft::Term> meta_term_{0};
    std::mutex names_mu_;
    std::map<raft::NodeId, std::string> names_;  // every server seen, by Raft id

    // The meta group's state: stream assignments (changed on the host thread, read anywhere).
    std::mutex assign_mu_;
    std::map<Key, Assignment> streams_;
    // Meta leader: API requests waiting for their assignment to take effect.
    std::map<Key, std::pair<Clock::time_point, Done>> creating_, deleting_, updating_;
    std::map<Key, std::pair<Clock::time_point, Done>> removing_;  // SERVER.REMOVE: {"", server}

    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    std::thread bootstrap_;  // forms the meta group, then watches the waiters' deadlines
};

}  // namespace osprey::cluster
