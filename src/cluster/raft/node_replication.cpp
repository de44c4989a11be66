// Replication: appends and their answers, heartbeats, snapshots for followers far behind,
// the commit rule, membership changes and compaction.
#include <algorithm>

#include "cluster/raft/node.h"

namespace osprey::raft {

// ---- proposals ----

std::optional<std::pair<Index, Term>> Node::propose(std::string data) {
    if (role_ != Role::leader || transfer_target_ != kNone) return std::nullopt;
    Entry e{term_, log_.last_index() + 1, EntryKind::normal, std::move(data)};
    log_.append({std::move(e)});
    pending_broadcast_ = true;  // sent with the next Ready: proposals batch up
    return std::make_pair(log_.last_index(), term_);
}

bool Node::propose_membership(const Membership& next) {
    if (role_ != Role::leader || transfer_target_ != kNone) return false;
    if (pending_membership_ > log_.committed()) return false;  // one change at a time
    const Membership& cur = membership();
    std::size_t added = 0, removed = 0;
    for (NodeId v : next.voters) added += cur.contains(v) ? 0 : 1;
    for (NodeId v : cur.voters) removed += next.contains(v) ? 0 : 1;
    if (added + removed != 1 || next.voters.empty()) return false;
    Entry e{term_, log_.last_index() + 1, EntryKind::membership, next.encode()};
    pending_membership_ = e.index;
    std::vector<Entry> one{e};
    log_.append(std::move(one));
    note_membership_entries({e});
    sync_progress();
    pending_broadcast_ = true;
    return true;
}

bool Node::transfer_leadership(NodeId to) {
    if (role_ != Role::leader || to == cfg_.id || !membership().contains(to)) return false;
    transfer_target_ = to;
    election_elapsed_ = 0;  // the transfer has one election timeout to complete
    auto it = progress_.find(to);
    if (it != progress_.end() && it->second.match == log_.last_index()) {
        Message m;
        m.type = MessageType::timeout_now;
        m.to = to;
        send(std::move(m));
    } else {
        send_append(to);
    }
    return true;
}

// ---- membership ----

void Node::note_membership_entries(const std::vector<Entry>& entries) {
    for (const Entry& e : entries) {
        if (e.kind != EntryKind::membership || e.index <= history_.back().index) continue;
        if (auto m = Membership::decode(e.data)) history_.push_back({e.index, e.term, std::move(*m)});
    }
}

void Node::trim_membership_history() {
    // Membership entries cut by a conflict no longer count: back to the one before.
    while (history_.size() > 1 && !log_.matches(history_.back().index, history_.back().term)) history_.pop_back();
}

void Node::sync_progress() {
    if (role_ != Role::leader) return;
    for (NodeId v : membership().voters) {
        if (v == cfg_.id || progress_.count(v)) continue;
        Progress p;
        p.next = log_.last_index() + 1;
        progress_.emplace(v, p);
    }
    // A removed node keeps its progress (marked leaving) until broadcast_heartbeat() told it
    // the removal committed; one added again is a voter again.
    for (auto& [id, pr] : progress_) {
        pr.leaving = !membership().contains(id);
        if (!pr.leaving) pr.leave_heartbeats = 0;
    }
}

// ---- sending ----

bool Node::send_append(NodeId to) {
    auto it = progress_.find(to);
    if (it == progress_.end()) return false;
    Progress& pr = it->second;
    if (pr.state == Progress::State::snapshot) return false;
    if (pr.state == Progress::State::probe && pr.probe_sent) return false;
    if (pr.state == Progress::State::replicate && pr.inflight.size() >= cfg_.max_inflight) return false;
    const Index prev = pr.next - 1;
    const auto prev_term = log_.term(prev);
    if (!prev_term) {
        // What it needs was compacted away: the snapshot, then entries after it.
        if (!snapshot_) return false;
        Message m;
        m.type = MessageType::snapshot;
        m.to = to;
        m.snapshot = snapshot_;
        pr.state = Progress::State::snapshot;
        pr.pending_snapshot = snapshot_->meta.index;
        pr.inflight.clear();
        send(std::move(m), true);
        return true;
    }
    std::vector<Entry> entries = log_.slice(pr.next, cfg_.max_append_bytes);
    if (entries.empty() && pr.state == Progress::State::replicate) return false;
    Message m;
    m.type = MessageType::append;
    m.to = to;
    m.index = prev;
    m.log_term = *prev_term;
    m.commit = log_.committed();
    if (pr.state == Progress::State::replicate) {
        pr.next = entries.back().index + 1;
        pr.inflight.push_back(entries.back().index);
    } else {
        pr.probe_sent = true;
    }
    m.entries = std::move(entries);
    send(std::move(m), true);  // a leader's appends need not wait for its own disk
    return true;
}

void Node::broadcast_append() {
    for (auto& [id, pr] : progress_) send_append(id);
}

void Node::broadcast_heartbeat() {
    // Leaving nodes go once a few heartbeats carried a commit index past the last membership
    // entry (one of them most likely arrived), or after a few election timeouts of trying: a
    // node that never learns it keeps its copy and stays out of the group (it cannot win an
    // election: its log lacks the removal, which a majority holds).
    const int give_up = 4 * std::max(1, cfg_.election_ticks / std::max(1, cfg_.heartbeat_ticks));
    for (auto it = progress_.begin(); it != progress_.end();) {
        Progress& pr = it->second;
        if (pr.leaving && log_.committed() >= pending_membership_) {
            const bool told = pr.match >= pending_membership_;
            if (++pr.leave_heartbeats > (told ? 3 : give_up)) {
                it = progress_.erase(it);
                continue;
            }
        }
        ++it;
    }
    for (auto& [id, pr] : progress_) {
        Message m;
        m.type = MessageType::heartbeat;
        m.to = id;
        m.commit = std::min(pr.match, log_.committed());  // never more than it is known to hold
        send(std::move(m), true);
    }
}

// ---- the leader's side ----

bool Node::quorum_active() const {
    std::size_t active = membership().contains(cfg_.id) ? 1 : 0;
    for (const auto& [id, pr] : progress_)
        if (pr.recent_active && membership().contains(id)) ++active;
    return active >= membership().quorum();
}

bool Node::maybe_commit() {
    std::vector<Index> matches;
    for (NodeId v : membership().voters) {
        if (v == cfg_.id) {
            matches.push_back(log_.stable());  // only what we have on disk counts
        } else {
            auto it = progress_.find(v);
            matches.push_back(it == progress_.end() ? 0 : it->second.match);
        }
    }
    if (matches.empty()) return false;
    std::sort(matches.begin(), matches.end(), std::greater<>());
    const Index n = matches[membership().quorum() - 1];
    if (n <= log_.committed()) return false;
    // Raft's figure 8: an earlier term's entry is committed only by committing one of ours.
    if (log_.term(n) != term_ && !cfg_.unsafe_commit_older_terms_by_count) return false;
    log_.commit_to(n);
    if (!membership().contains(cfg_.id) && log_.committed() >= pending_membership_) {
        // We were removed, and that is now committed: step aside (we will not campaign).
        become_follower(term_, kNone);
    }
    return true;
}

void Node::handle_append_resp(const Message& m) {
    auto it = progress_.find(m.from);
    if (it == progress_.end()) return;
    Progress& pr = it->second;
    pr.recent_active = true;
    if (m.reject) {
        // Stale answers (to appends sent before a later probe) are ignored.
        if (pr.state == Progress::State::replicate) {
            if (m.index <= pr.match) return;
            pr.state = Progress::State::probe;
            pr.inflight.clear();
            pr.next = pr.match + 1;
        } else if (pr.state == Progress::State::probe) {
            if (pr.next - 1 != m.index) return;
            pr.next = std::max<Index>(pr.match + 1, std::min(m.index, m.hint + 1));
            if (pr.next == 0) pr.next = 1;
        } else {
            pr.state = Progress::State::probe;
            pr.next = pr.match + 1;
        }
        pr.probe_sent = false;
        send_append(m.from);
        return;
    }
    const bool was_paused = (pr.state == Progress::State::probe && pr.probe_sent) ||
                            (pr.state == Progress::State::replicate && pr.inflight.size() >= cfg_.max_inflight);
    const bool updated = m.hint > pr.match;
    if (updated) pr.match = m.hint;
    pr.next = std::max(pr.next, pr.match + 1);
    pr.probe_sent = false;
    if (pr.state == Progress::State::probe && updated) {
        pr.state = Progress::State::replicate;
        pr.next = pr.match + 1;
        pr.inflight.clear();
    } else if (pr.state == Progress::State::snapshot && pr.match >= pr.pending_snapshot) {
        pr.state = Progress::State::replicate;
        pr.next = pr.match + 1;
        pr.inflight.clear();
    } else if (pr.state == Progress::State::probe && !updated) {
        // An answer to a probe that taught us nothing new (it already had it): replicate.
        pr.state = Progress::State::replicate;
        pr.next = pr.match + 1;
        pr.inflight.clear();
    }
    pr.inflight.erase(pr.inflight.begin(),
                      std::upper_bound(pr.inflight.begin(), pr.inflight.end(), pr.match));
    const bool committed = maybe_commit();
    if (role_ != Role::leader) return;  // the commit removed us from the group
    if (committed) {
        broadcast_append();
    } else if (was_paused || updated) {
        send_append(m.from);
    }
    while (pr.state == Progress::State::replicate && send_append(m.from)) {
    }
    if (transfer_target_ == m.from && pr.match == log_.last_index()) {
        Message t;
        t.type = MessageType::timeout_now;
        t.to = m.from;
        send(std::move(t));
    }
}

void Node::handle_heartbeat_resp(const Message& m) {
    auto it = progress_.find(m.from);
    if (it == progress_.end()) return;
    Progress& pr = it->second;
    pr.recent_active = true;
    pr.probe_sent = false;
    if (pr.state == Progress::State::snapshot) {
        // Its answer to the snapshot may have been lost: probe; a snapshot it already has is
        // acknowledged at once, one it lacks is sent again.
        pr.state = Progress::State::probe;
        pr.next = pr.match + 1;
    } else if (pr.state == Progress::State::replicate && !pr.inflight.empty() && pr.match == pr.match_at_heartbeat) {
        // Appends in flight and no progress over a whole heartbeat period: they were lost.
        // Probe again from its match (a busy follower that keeps up never gets here).
        pr.state = Progress::State::probe;
        pr.inflight.clear();
        pr.next = pr.match + 1;
    }
    pr.match_at_heartbeat = pr.match;
    if (pr.match < log_.last_index()) send_append(m.from);
}

// ---- the follower's side ----

void Node::handle_append(const Message& m) {
    Message r;
    r.type = MessageType::append_resp;
    r.to = m.from;
    r.index = m.index;
    if (m.index < log_.committed()) {
        r.hint = log_.committed();  // old news: we have all of it
        send(std::move(r));
        return;
    }
    bool cut_committed = false;
    const auto match = log_.maybe_append(m.index, m.log_term, m.entries, &cut_committed);
    if (cut_committed) {
        violation_ = "leader " + std::to_string(m.from) + " (term " + std::to_string(m.term) +
                     ") asked to truncate committed entries below " + std::to_string(log_.committed() + 1);
        return;
    }
    if (!match) {
        r.reject = true;
        r.hint = log_.last_index();
        send(std::move(r));
        return;
    }
    trim_membership_history();
    note_membership_entries(m.entries);
    log_.commit_to(std::min(m.commit, *match));
    r.hint = *match;
    send(std::move(r));
}

void Node::handle_heartbeat(const Message& m) {
    log_.commit_to(std::min(m.commit, log_.last_index()));
    Message r;
    r.type = MessageType::heartbeat_resp;
    r.to = m.from;
    r.hint = log_.last_index();
    send(std::move(r));
}

void Node::handle_snapshot(const Message& m) {
    if (!m.snapshot) return;
    const SnapshotMeta& meta = m.snapshot->meta;
    Message r;
    r.type = MessageType::append_resp;
    r.to = m.from;
    r.index = meta.index;
    if (meta.index <= log_.committed()) {
        r.hint = log_.committed();
    } else if (log_.matches(meta.index, meta.term)) {
        // We hold it already: only the commit moves.
        log_.commit_to(meta.index);
        r.hint = meta.index;
    } else {
        log_.restore(meta);
        history_.clear();
        history_.push_back({meta.index, meta.term, meta.membership});
        pending_snapshot_ = *m.snapshot;
        r.hint = meta.index;
    }
    send(std::move(r));
}

std::string Node::describe_progress() const {
    std::string out;
    for (const auto& [id, pr] : progress_) {
        static const char* states[] = {"probe", "replicate", "snapshot"};
        out += "n" + std::to_string(id) + ":" + states[int(pr.state)] + " match " + std::to_string(pr.match) +
               " next " + std::to_string(pr.next) + (pr.probe_sent ? " sent" : "") + " inflight " +
               std::to_string(pr.inflight.size()) + "; ";
    }
    return out;
}

std::vector<Node::PeerProgress> Node::progress() const {
    std::vector<PeerProgress> out;
    if (role_ != Role::leader) return out;
    for (const auto& [id, pr] : progress_)
        if (!pr.leaving) out.push_back({id, pr.match});
    return out;
}

// ---- compaction ----

SnapshotMeta Node::compact(Index upto, std::string data) {
    upto = std::min(upto, log_.applied());
    SnapshotMeta meta;
    if (upto < log_.snapshot_index()) upto = log_.snapshot_index();
    meta.index = upto;
    meta.term = log_.term(upto).value_or(log_.snapshot_term());
    // The membership in force at `upto`.
    for (const auto& h : history_)
        if (h.index <= upto) meta.membership = h.membership;
    log_.compact(upto);
    while (history_.size() > 1 && history_[1].index <= upto) history_.erase(history_.begin());
    history_.front() = {meta.index, meta.term, meta.membership};
    snapshot_ = Snapshot{meta, std::move(data)};
    return meta;
}

}  // namespace osprey::raft
