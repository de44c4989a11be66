// One member of one Raft group, as a pure state machine in the style of etcd's raft: no I/O,
// no threads, no clock. The host feeds it ticks, received messages and proposals, and takes
// `Ready` batches out of it:
//
//   1. persist rd.hard_state, rd.snapshot and rd.entries (entries replace whatever the stored
//      log holds from rd.entries.front().index on), then fdatasync;
//      rd.messages_now may be sent before or during the persist (a leader's appends);
//   2. send rd.messages (votes, acknowledgements: they promise what was just persisted);
//   3. install rd.snapshot if any, then apply rd.committed in order;
//   4. call advance(rd).
//
// Safety rules this core keeps (each one has a simulator check, tests/unit/raft/):
// - a vote or a term reaches no one before it is on disk (messages wait for the persist
//   whenever the term or the vote changed);
// - a leader counts itself towards a commit only for entries it has persisted;
// - only entries of the leader's own term are committed by counting replicas (earlier terms
//   commit with them, Raft's figure 8);
// - committed entries are never truncated (a leader asking for it is reported, not obeyed);
// - pre-vote and check-quorum: a node that was cut off cannot disrupt a healthy leader when it
//   comes back, and a leader that lost its majority steps down within an election timeout;
// - one membership change at a time, effective when appended.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cluster/raft/log.h"
#include "cluster/raft/types.h"

namespace osprey::raft {

struct Config {
    NodeId id = kNone;
    int election_ticks = 10;   // campaign after a random [election, 2 x election) silent ticks
    int heartbeat_ticks = 1;   // a leader's heartbeat period
    std::size_t max_append_bytes = 1 << 20;
    std::size_t max_inflight = 256;  // appends in flight per follower
    bool pre_vote = true;
    bool check_quorum = true;
    std::uint64_t seed = 1;    // election timeouts are random: seeded for replayable tests
    Index applied = 0;         // after a restart: what the state machine already holds
    // A deliberately broken rule, so a test can show the simulator catches it. Never set it.
    bool unsafe_commit_older_terms_by_count = false;
};

// What the host has on disk for this group.
struct Stored {
    HardState hard_state;
    SnapshotMeta snapshot;     // index 0: none (membership is then the initial one)
    std::string snapshot_data;
    std::vector<Entry> entries;  // after the snapshot, in order
};

struct Ready {
    std::optional<HardState> hard_state;
    std::vector<Entry> entries;
    std::optional<Snapshot> snapshot;
    std::vector<Message> messages_now;
    std::vector<Message> messages;
    std::vector<Entry> committed;
    // Role changes since the last Ready (for advisories, the API's leader routing).
    bool soft_changed = false;
    Role role = Role::follower;
    NodeId leader = kNone;
    Term term = 0;
};

class Node {
public:
    // A new group: every member starts from the same membership.
    Node(const Config& cfg, const Membership& initial);
    // A restart from what the host stored.
    Node(const Config& cfg, const Stored& stored);

    void tick();
    void step(const Message& m);
    // Leader only, and not while handing leadership over: the entry's (index, term). The
    // proposal succeeded if the entry applied at that index has that term.
    std::optional<std::pair<Index, Term>> propose(std::string data);
    // Leader only; one change at a time, adding or removing exactly one voter.
    bool propose_membership(const Membership& next);
    // Leader only: hand leadership to `to` once its log is current.
    bool transfer_leadership(NodeId to);
    void campaign();  // start an election now (a host's or a test's nudge)

    bool has_ready() const;
    Ready ready();
    void advance(const Ready& rd);
    // The application captured its state up to `upto` (applied) in `data`: entries up to it go.
    // Returns what the host stores as its snapshot point.
    SnapshotMeta compact(Index upto, std::string data);

    NodeId id() const { return cfg_.id; }
    Role role() const { return role_; }
    NodeId leader() const { return leader_; }
    Term term() const { return term_; }
    const RaftLog& log() const { return log_; }
    const Membership& membership() const { return history_.back().membership; }
    // The membership this node holds is committed (not a change still in flight).
    bool membership_committed() const { return log_.committed() >= history_.back().index; }
    // This node knows that its removal from the group is committed: the membership it holds
    // leaves it out, and the commit index reached that membership. (A node that joins a group
    // starts outside the membership it is first given, which is not a removal: the host
    // tells the two apart by what the application asked for.)
    bool removed() const {
        return !membership().contains(cfg_.id) && history_.back().index > 0 &&
               log_.committed() >= history_.back().index;
    }
    // A leader that heard from a majority within the last election timeout.
    bool has_quorum_lease() const;
    // Set when a peer asked for something unsafe (cutting a committed entry): a bug somewhere.
    const std::string& safety_violation() const { return violation_; }
    // The leader's view of each follower, for logs and test traces.
    std::string describe_progress() const;
    // The leader's view of each follower: how far its log is known to match ours.
    struct PeerProgress {
        NodeId id;
        Index match;
    };
    std::vector<PeerProgress> progress() const;

private:
    struct Progress {
        enum class State : std::uint8_t { probe, replicate, snapshot };
        Index match = 0;
        Index next = 1;
        State state = State::probe;
        bool probe_sent = false;
        std::vector<Index> inflight;  // last index of each append in flight, ascending
        Index pending_snapshot = 0;
        bool recent_active = false;
        Index match_at_heartbeat = 0;  // to notice appends lost in flight
        // A node the membership no longer holds: it still gets appends (it counts for
        // nothing) until it was told its removal committed, so it knows to stop for good.
        bool leaving = false;
        int leave_heartbeats = 0;  // heartbeats since the removal committed
    };
    struct MembershipAt {
        Index index;
        Term term;
        Membership membership;
    };

    void init_common();
    void become_follower(Term term, NodeId leader);
    void become_pre_candidate();
    void become_candidate();
    void become_leader();
    void start_campaign(bool pre, bool transfer);
    void poll(NodeId from, bool granted, bool pre);
    bool promotable() const { return membership().contains(cfg_.id); }
    bool in_lease() const;
    void reset_election_timeout();

    void handle_vote_request(const Message& m);
    void handle_append(const Message& m);
    void handle_heartbeat(const Message& m);
    void handle_snapshot(const Message& m);
    void handle_append_resp(const Message& m);
    void handle_heartbeat_resp(const Message& m);

    bool send_append(NodeId to);
    void broadcast_append();
    void broadcast_heartbeat();
    bool maybe_commit();
    bool quorum_active() const;
    void send(Message m, bool now = false);

    void note_membership_entries(const std::vector<Entry>& entries);
    void trim_membership_history();
    void sync_progress();

    Config cfg_;
    RaftLog log_;
    std::vector<MembershipAt> history_;  // front: the snapshot's; back: the current one
    Term term_ = 0;
    NodeId vote_ = kNone;
    NodeId leader_ = kNone;
    Role role_ = Role::follower;
    HardState persisted_;
    int election_elapsed_ = 0;
    int heartbeat_elapsed_ = 0;
    int randomized_timeout_ = 0;
    std::uint64_t rng_;
    std::map<NodeId, bool> votes_;
    std::map<NodeId, Progress> progress_;  // leader: every voter but itself
    Index pending_membership_ = 0;         // leader: index of the last membership entry
    NodeId transfer_target_ = kNone;
    bool pending_broadcast_ = false;
    std::optional<Snapshot> snapshot_;          // the latest, to send to followers far behind
    std::optional<Snapshot> pending_snapshot_;  // received, for the host to install
    std::vector<Message> msgs_now_, msgs_;
    Role reported_role_ = Role::follower;
    NodeId reported_leader_ = kNone;
    Term reported_term_ = 0;
    std::string violation_;
};

}  // namespace osprey::raft
