#include "cluster/raft/log.h"

namespace osprey::raft {

RaftLog::RaftLog(const SnapshotMeta& snap, std::vector<Entry> entries, Index commit)
    : snap_index_(snap.index), snap_term_(snap.term) {
    for (auto& e : entries)
        if (e.index == last_index() + 1) entries_.push_back(std::move(e));
    stable_ = last_index();
    committed_ = std::clamp(commit, snap_index_, last_index());
    applied_ = snap_index_;
}

std::optional<Term> RaftLog::term(Index i) const {
    if (i == snap_index_) return snap_term_;
    if (i < snap_index_ || i > last_index()) return std::nullopt;
    return entries_[offset(i)].term;
}

bool RaftLog::is_up_to_date(Index last, Term lterm) const {
    const Term mine = last_term();
    return lterm > mine || (lterm == mine && last >= last_index());
}

const Entry* RaftLog::at(Index i) const {
    if (i <= snap_index_ || i > last_index()) return nullptr;
    return &entries_[offset(i)];
}

Index RaftLog::append(std::vector<Entry> entries) {
    for (auto& e : entries) entries_.push_back(std::move(e));
    return last_index();
}

std::optional<Index> RaftLog::maybe_append(Index prev, Term prev_term, std::span<const Entry> entries,
                                           bool* truncated_committed) {
    if (prev < snap_index_) {
        // What our snapshot covers is committed, so it matches the leader's log: skip it.
        const std::size_t skip = std::min<std::size_t>(entries.size(), std::size_t(snap_index_ - prev));
        if (skip == entries.size()) return prev + entries.size();
        entries = entries.subspan(skip);
        prev = snap_index_;
        prev_term = snap_term_;
    }
    if (!matches(prev, prev_term)) return std::nullopt;
    Index last_new = prev + entries.size();
    for (std::size_t k = 0; k < entries.size(); ++k) {
        const Entry& e = entries[k];
        const auto t = term(e.index);
        if (t == e.term) continue;  // already have it
        if (t) {
            // A conflict: everything from here on goes.
            if (e.index <= committed_) {
                if (truncated_committed) *truncated_committed = true;
                return std::nullopt;
            }
            entries_.resize(offset(e.index));
            stable_ = std::min(stable_, e.index - 1);
        }
        for (std::size_t j = k; j < entries.size(); ++j) entries_.push_back(entries[j]);
        break;
    }
    return last_new;
}

std::vector<Entry> RaftLog::slice(Index from, std::size_t max_bytes) const {
    std::vector<Entry> out;
    std::size_t bytes = 0;
    for (Index i = std::max(from, first_index()); i <= last_index(); ++i) {
        const Entry& e = entries_[offset(i)];
        if (!out.empty() && bytes + e.data.size() > max_bytes) break;
        bytes += e.data.size();
        out.push_back(e);
    }
    return out;
}

void RaftLog::commit_to(Index i) {
    if (i > committed_) committed_ = std::min(i, last_index());
}

void RaftLog::stable_to(Index i, Term t) {
    if (i > stable_ && term(i) == t) stable_ = i;
}

std::vector<Entry> RaftLog::unstable() const {
    std::vector<Entry> out;
    for (Index i = std::max(stable_ + 1, first_index()); i <= last_index(); ++i) out.push_back(entries_[offset(i)]);
    return out;
}

std::vector<Entry> RaftLog::to_apply() const {
    std::vector<Entry> out;
    const Index upto = std::min(committed_, stable_);
    for (Index i = std::max(applied_ + 1, first_index()); i <= upto; ++i) out.push_back(entries_[offset(i)]);
    return out;
}

void RaftLog::compact(Index i) {
    if (i <= snap_index_ || i > applied_ || i > last_index()) return;
    snap_term_ = *term(i);
    entries_.erase(entries_.begin(), entries_.begin() + std::ptrdiff_t(offset(i) + 1));
    snap_index_ = i;
}

void RaftLog::restore(const SnapshotMeta& meta) {
    entries_.clear();
    snap_index_ = meta.index;
    snap_term_ = meta.term;
    committed_ = meta.index;
    applied_ = meta.index;
    stable_ = meta.index;
}

}  // namespace osprey::raft
