// The host of every Raft group of one server: it drives the pure cores (raft/node.h) on one
// thread, persists what they need through the server's one write-ahead log (one fdatasync
// covers every group's appends of a round: group commit), sends their messages through a
// transport (the cluster's routes), and hands committed entries to each group's application
// (the meta group's assignments, a stream's messages).
//
// The cycle per group (as node.h asks): take a Ready; send the leader's appends at once; queue
// the hard state, snapshot and entries to the WAL with every other group's; once durable, send
// the messages that promise it, apply what is committed, advance. A group takes its next Ready
// only after the previous one advanced; proposals meanwhile batch into the next one.
//
// Threads: everything touching a core runs on the host thread. Callbacks (apply, install,
// role changes, proposal results) run there too and must be short (hand work elsewhere).
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cluster/raft/node.h"
#include "cluster/raft/wal.h"

namespace osprey::cluster {

// Carries one group's Raft message to a peer, best effort: Raft copes with loss, duplicates
// and reordering.
struct RaftTransport {
    virtual ~RaftTransport() = default;
    virtual void send(raft::NodeId to, const std::string& group, const std::string& bytes) = 0;
    // After a batch of sends from one thread: write what they queued.
    virtual void flush() {}
};

struct RaftGroupCallbacks {
    // Committed normal entries, in order (membership and noop entries are the core's own).
    std::function<void(const raft::Entry&)> apply;
    // A snapshot replaced the state: from a leader (`from_leader`), or the WAL's own at a
    // restart (the application's state is already past it).
    std::function<void(const raft::Snapshot&, bool from_leader)> install;
    std::function<void(raft::Role, raft::NodeId leader, raft::Term)> role_changed;
    // This node leads and has applied everything committed before its term (its first entry
    // of the term is applied): it may now decide on the group's state.
    std::function<void(raft::Term)> leader_ready;
    // The leader's lease (steady clock nanoseconds; 0: none): until then no other node can have
    // been elected, because a majority answered this leader's appends or heartbeats of its
    // term less than lease() ago and no voter campaigns before an election timeout of silence.
    // Written on the host thread; a reader (a delivery, a read request) only compares.
    std::shared_ptr<std::atomic<std::int64_t>> lease_until;
};

struct RaftHostOptions {
    std::chrono::milliseconds tick{50};
    int election_ticks = 10;  // 0.5-1 s without a leader before a pre-vote
    int heartbeat_ticks = 2;
    // The leader lease: 60% of the shortest election timeout, which leaves room for a one-way
    // delay of up to 40% of it (200 ms with the defaults) between a follower and the leader.
    std::chrono::nanoseconds lease() const { return tick * election_ticks * 6 / 10; }
    std::uint64_t seed = 0;   // 0: from the node id and the clock
};

class RaftHost {
public:
    RaftHost(raft::NodeId self, std::unique_ptr<raft::Wal> wal, raft::WalRecovery recovered,
             RaftTransport& transport, RaftHostOptions opts = {});
    ~RaftHost();
    void start();
    void stop();  // stops the thread; the WAL is flushed

    raft::NodeId self() const { return self_; }

    // Opens a group: from the WAL when it has it (its stored membership wins), else new with
    // `initial` voters. `applied`: what the application already holds (a stream's store).
    void add_group(const std::string& name, const raft::Membership& initial, RaftGroupCallbacks cb,
                   raft::Index applied = 0);
    // Closes a group; `forget` also drops its state from the WAL (the asset was deleted).
    void remove_group(const std::string& name, bool forget);
    // Whether the WAL held the group at start-up (it existed before a restart).
    bool recovered(const std::string& name) const;

    // Proposes on the group's leader. `done` runs on the host thread with the entry's (index,
    // term), or nullopt when this node cannot propose (not the leader, unknown group). The
    // proposal took effect iff `apply` later sees that index with that term.
    void propose(const std::string& name, std::string data,
                 std::function<void(std::optional<std::pair<raft::Index, raft::Term>>)> done);
    // The application captured its state up to `upto` in `data`: the log before it goes.
    void compact(const std::string& name, raft::Index upto, std::string data);
    void transfer_leadership(const std::string& name, raft::NodeId to);
    // Leader: hands leadership to the most current other voter (the stepdown API).
    void step_down(const std::string& name, std::function<void(bool)> done);
    // Leader: adds or removes one voter.
    void change_membership(const std::string& name, const raft::Membership& next,
                           std::function<void(bool)> done);

    // A message from the transport (any thread).
    void deliver(std::string_view bytes);
    // Runs fn on the host thread.
    void post(std::function<void()> fn);

    struct PeerStatus {
        raft::NodeId id;
        bool current;        // caught up with the leader's log
        raft::Index lag;     // entries behind
        std::chrono::steady_clock::duration since_heard;
    };
    struct Status {
        raft::Role role = raft::Role::follower;
        raft::NodeId leader = raft::kNone;
        raft::Term term = 0;
        raft::Index commit = 0, applied = 0, last = 0;
        raft::Membership membership;
        bool removed = false;  // this node knows its removal committed (raft::Node::removed)
        bool membership_committed = false;  // `membership` is committed
        std::vector<PeerStatus> peers;  // leader only
    };
    // A snapshot of the group's state, taken on the host thread (blocks the caller briefly).
    std::optional<Status> status(const std::string& name);

    // Encoding on the wire: the group's name, then the core's message. What one round sends
    // to one peer travels as one bundle ([u32 length][frame]...): a hundred groups'
    // heartbeats cost one route message, not a hundred.
    static std::string frame(const std::string& group, const raft::Message& m);

private:
    struct Group;
    void run();
    void tick_all();
    void update_lease(Group& g);
    void round();  // takes every ready group's Ready, persists them in one WAL write
    void finish(std::vector<std::pair<std::shared_ptr<Group>, raft::Ready>> batch, bool ok);
    void send_all(Group& g, const std::vector<raft::Message>& msgs);
    void send_bundles();
    std::map<raft::NodeId, std::string> outbox_;  // host thread: this round's bundles
    void deliver_now(const std::string& bundle);
    void deliver_frame(const std::string& frame);
    Group* find(const std::string& name);

    const raft::NodeId self_;
    std::unique_ptr<raft::Wal> wal_;
    raft::WalRecovery recovered_;           // handed to add_group (host thread)
    std::set<std::string> recovered_names_;  // what the WAL held at start (const after)
    RaftTransport& transport_;
    const RaftHostOptions opts_;
    std::uint64_t seed_;

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> tasks_;
    bool stop_ = false;
    std::thread thread_;

    // Host thread only.
    std::map<std::string, std::shared_ptr<Group>> groups_;
    std::chrono::steady_clock::time_point next_tick_;
    bool wal_failed_ = false;
};

}  // namespace osprey::cluster
