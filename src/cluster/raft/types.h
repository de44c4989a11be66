// The vocabulary of osprey's Raft core: ids, log entries, messages, durable state. Plain data,
// no behaviour beyond comparisons; the core (node.h) is a pure state machine over these.
#pragma once
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace osprey::raft {

using NodeId = std::uint64_t;  // 0 is "nobody"
using Term = std::uint64_t;
using Index = std::uint64_t;
constexpr NodeId kNone = 0;

enum class EntryKind : std::uint8_t {
    normal = 0,      // application data (a stream's message, an assignment)
    membership = 1,  // data: an encoded Membership; takes effect when appended
    noop = 2,        // a new leader's first entry: commits the earlier terms' entries
};

struct Entry {
    Term term = 0;
    Index index = 0;
    EntryKind kind = EntryKind::normal;
    std::string data;
    bool operator==(const Entry&) const = default;
};

// The voters of a group. One voter is added or removed per change (Raft's single-server
// membership changes), so any two successive memberships share a majority.
struct Membership {
    std::vector<NodeId> voters;  // sorted, unique
    bool contains(NodeId id) const { return std::binary_search(voters.begin(), voters.end(), id); }
    std::size_t quorum() const { return voters.size() / 2 + 1; }
    bool operator==(const Membership&) const = default;
    std::string encode() const;
    static std::optional<Membership> decode(std::string_view data);
    static Membership of(std::vector<NodeId> ids);
};

struct SnapshotMeta {
    Index index = 0;  // the last entry the snapshot covers
    Term term = 0;    // that entry's term
    Membership membership;
};

// What the application captured of its state machine up to meta.index. For a stream this is
// small (sequence range, counters): the messages themselves are fetched from the leader's store.
struct Snapshot {
    SnapshotMeta meta;
    std::string data;
};

// What must be on disk before any message depending on it leaves: the current term, the vote
// cast in it, and how far the log is known committed.
struct HardState {
    Term term = 0;
    NodeId vote = kNone;
    Index commit = 0;
    bool operator==(const HardState&) const = default;
};

enum class MessageType : std::uint8_t {
    pre_vote,       // "would you vote for me at term+1?" (the sender's term is unchanged)
    pre_vote_resp,
    vote,
    vote_resp,
    append,         // entries after (index, log_term), and the leader's commit
    append_resp,    // reject=false: hint is the follower's match; true: hint is its last index
    heartbeat,      // commit only (at most what the follower is known to hold)
    heartbeat_resp,
    snapshot,       // install this snapshot
    timeout_now,    // leadership transfer: campaign now, without pre-vote
};

struct Message {
    MessageType type = MessageType::heartbeat;
    NodeId from = kNone;
    NodeId to = kNone;
    Term term = 0;
    Index index = 0;     // vote: candidate's last index; append: index before entries
    Term log_term = 0;   // vote: candidate's last term; append: term at index
    std::vector<Entry> entries;
    Index commit = 0;
    bool reject = false;
    Index hint = 0;
    bool transfer = false;  // a vote asked for by a leadership transfer
    std::optional<Snapshot> snapshot;
};

enum class Role : std::uint8_t { follower, pre_candidate, candidate, leader };

const char* role_name(Role r);
const char* message_type_name(MessageType t);

}  // namespace osprey::raft
