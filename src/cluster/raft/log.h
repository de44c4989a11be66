// A Raft group's log as the core sees it: a snapshot point, then the entries after it in
// memory. Entries up to `stable()` are on the host's disk; the rest wait for the next Ready.
// Committed entries are never truncated (a request to do so is a safety violation the core
// reports, never performs).
#pragma once
#include <deque>
#include <optional>
#include <span>
#include <vector>

#include "cluster/raft/types.h"

namespace osprey::raft {

class RaftLog {
public:
    RaftLog() = default;
    // After a restart: what the host has on disk.
    RaftLog(const SnapshotMeta& snap, std::vector<Entry> entries, Index commit);

    Index first_index() const { return snap_index_ + 1; }
    Index last_index() const { return snap_index_ + entries_.size(); }
    Term last_term() const { return term(last_index()).value_or(0); }
    Index snapshot_index() const { return snap_index_; }
    Term snapshot_term() const { return snap_term_; }
    // The term of entry i; nothing when i was compacted away or is past the end.
    std::optional<Term> term(Index i) const;
    bool matches(Index i, Term t) const { return term(i) == t; }
    // Raft's "at least as up-to-date" comparison of a candidate's last entry with ours.
    bool is_up_to_date(Index last, Term last_term) const;

    Index committed() const { return committed_; }
    Index applied() const { return applied_; }
    Index stable() const { return stable_; }

    // Leader: appends entries (their index and term already set). Returns the new last index.
    Index append(std::vector<Entry> entries);
    // Follower: the leader's entries after (prev, prev_term). Returns the index of the last
    // entry now known to match the leader's, or nothing when (prev, prev_term) does not match.
    // Conflicting entries are truncated; `truncated_committed` is set instead if a conflict
    // would cut a committed entry (the caller treats that as a safety failure).
    std::optional<Index> maybe_append(Index prev, Term prev_term, std::span<const Entry> entries,
                                      bool* truncated_committed);
    // Entries [from, last], at most max_bytes of data (at least one entry when any).
    std::vector<Entry> slice(Index from, std::size_t max_bytes) const;
    const Entry* at(Index i) const;

    void commit_to(Index i);
    void applied_to(Index i) { applied_ = std::max(applied_, i); }
    // The host persisted entries up to (i, t); ignored if the entry at i changed meanwhile.
    void stable_to(Index i, Term t);
    // Entries the host must persist next (index > stable()).
    std::vector<Entry> unstable() const;
    // Committed, persisted, not yet applied.
    std::vector<Entry> to_apply() const;
    bool has_to_apply() const { return std::min(committed_, stable_) > applied_; }

    // Drops entries up to i (inclusive); i must be applied.
    void compact(Index i);
    // Replaces everything with a snapshot (a follower far behind).
    void restore(const SnapshotMeta& meta);

private:
    std::size_t offset(Index i) const { return std::size_t(i - snap_index_ - 1); }
    Index snap_index_ = 0;
    Term snap_term_ = 0;
    std::deque<Entry> entries_;  // indexes snap_index_+1 .. last_index()
    Index committed_ = 0;
    Index applied_ = 0;
    Index stable_ = 0;
};

}  // namespace osprey::raft
