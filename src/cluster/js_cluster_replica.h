// This server's share of one replicated stream (internal to the cluster layer's
// js_cluster_*.cpp files).
#pragma once
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "cluster/js_cluster.h"
#include "jetstream/stream/stream.h"

namespace osprey::cluster {

// This server's share of one replicated stream: how the stream proposes, and who leads.
struct JetStreamCluster::Replica : jetstream::StreamReplicator {
    RaftHost* host = nullptr;
    std::string group;
    raft::NodeId self = raft::kNone;
    std::weak_ptr<jetstream::Stream> stream;
    std::atomic<raft::NodeId> leader{raft::kNone};
    // Compaction: after each applied entry, the store's last sequence (host thread writes,
    // the ticker reads); the index up to which every voter agreed the log may go (a committed
    // compaction entry), and what the leader last proposed.
    std::mutex mu;
    std::deque<std::pair<raft::Index, std::uint64_t>> marks;
    raft::Index compact_target = 0, compacted = 0, proposed_compaction = 0;
    std::uint64_t compacted_last_seq = 0;  // the store's last sequence at `compacted`
    // Catch-up (see catch_up()): committed entries held until the store caught up.
    bool catching_up = false, lead_when_caught_up = false;
    // Host thread: whether this replica led, and whether it was asked to step down (a
    // stepdown is not a lost quorum).
    bool was_leader = false;
    std::atomic<bool> stepping_down{false};
    std::deque<raft::Entry> held;
    Clock::time_point next_check{};      // compaction (the leader's)
    Clock::time_point next_reconcile{};  // membership (the leader's)
    // The voters matched the assignment when the leader last looked: nothing to check until
    // the assignment changes or leadership moves (an idle cluster of many streams asks the
    // Raft thread nothing).
    // (A generation, not a flag: an assignment applied while the leader compared must not be
    // marked as looked at.)
    std::atomic<std::uint64_t> peers_gen{1}, settled_gen{0};
    // A replica left out that never heard its removal commit (it was down): a peer whose
    // committed membership leaves it out said so (js_cluster_meta_membership.cpp).
    std::atomic<bool> removal_confirmed{false};
    Clock::time_point next_removal_ask{};
    void propose(std::string entry, std::function<void(bool)> done) override {
        host->propose(group, std::move(entry), [done = std::move(done)](auto r) { done(r.has_value()); });
    }
    std::uint64_t replica_id() const override { return self; }
    std::shared_ptr<std::atomic<std::int64_t>> lease = std::make_shared<std::atomic<std::int64_t>>(0);
    bool may_serve() const override {
        return std::chrono::steady_clock::now().time_since_epoch().count() < lease->load(std::memory_order_relaxed);
    }
};

}  // namespace osprey::cluster
