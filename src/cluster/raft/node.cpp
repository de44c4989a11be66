// Roles, elections (pre-vote, check-quorum, transfer), the step dispatch and Ready/advance.
// Replication, commit and membership are in node_replication.cpp.
#include "cluster/raft/node.h"

namespace osprey::raft {

namespace {
std::uint64_t splitmix(std::uint64_t& s) {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
}  // namespace

const char* role_name(Role r) {
    switch (r) {
        case Role::follower: return "follower";
        case Role::pre_candidate: return "pre-candidate";
        case Role::candidate: return "candidate";
        case Role::leader: return "leader";
    }
    return "?";
}

const char* message_type_name(MessageType t) {
    switch (t) {
        case MessageType::pre_vote: return "pre_vote";
        case MessageType::pre_vote_resp: return "pre_vote_resp";
        case MessageType::vote: return "vote";
        case MessageType::vote_resp: return "vote_resp";
        case MessageType::append: return "append";
        case MessageType::append_resp: return "append_resp";
        case MessageType::heartbeat: return "heartbeat";
        case MessageType::heartbeat_resp: return "heartbeat_resp";
        case MessageType::snapshot: return "snapshot";
        case MessageType::timeout_now: return "timeout_now";
    }
    return "?";
}

Node::Node(const Config& cfg, const Membership& initial) : cfg_(cfg), rng_(cfg.seed ^ (cfg.id * 0x9E37ULL)) {
    history_.push_back({0, 0, initial});
    init_common();
}

Node::Node(const Config& cfg, const Stored& stored)
    : cfg_(cfg), log_(stored.snapshot, stored.entries, stored.hard_state.commit),
      rng_(cfg.seed ^ (cfg.id * 0x9E37ULL)) {
    term_ = stored.hard_state.term;
    vote_ = stored.hard_state.vote;
    persisted_ = stored.hard_state;
    history_.push_back({stored.snapshot.index, stored.snapshot.term, stored.snapshot.membership});
    note_membership_entries(stored.entries);
    if (stored.snapshot.index > 0) snapshot_ = Snapshot{stored.snapshot, stored.snapshot_data};
    log_.applied_to(std::min(cfg.applied, log_.committed()));
    init_common();
}

void Node::init_common() {
    role_ = Role::follower;
    reported_term_ = term_;
    reset_election_timeout();
}

void Node::reset_election_timeout() {
    election_elapsed_ = 0;
    randomized_timeout_ = cfg_.election_ticks + int(splitmix(rng_) % std::uint64_t(cfg_.election_ticks));
}

bool Node::in_lease() const {
    // A follower that heard from its leader within the (base) election timeout: it refuses to
    // help depose it, so a node coming back from a partition cannot disrupt the group.
    return cfg_.check_quorum && leader_ != kNone && election_elapsed_ < cfg_.election_ticks;
}

bool Node::has_quorum_lease() const {
    return role_ == Role::leader && (!cfg_.check_quorum || quorum_active());
}

// ---- roles ----

void Node::become_follower(Term term, NodeId leader) {
    if (term > term_) {
        term_ = term;
        vote_ = kNone;
    }
    role_ = Role::follower;
    leader_ = leader;
    transfer_target_ = kNone;
    progress_.clear();
    votes_.clear();
    reset_election_timeout();
}

void Node::become_pre_candidate() {
    // Term and vote unchanged: a pre-vote costs nothing if it fails.
    role_ = Role::pre_candidate;
    leader_ = kNone;
    votes_.clear();
    reset_election_timeout();
}

void Node::become_candidate() {
    ++term_;
    vote_ = cfg_.id;
    role_ = Role::candidate;
    leader_ = kNone;
    votes_.clear();
    reset_election_timeout();
}

void Node::become_leader() {
    role_ = Role::leader;
    leader_ = cfg_.id;
    transfer_target_ = kNone;
    heartbeat_elapsed_ = 0;
    election_elapsed_ = 0;
    progress_.clear();
    sync_progress();
    // Whatever membership entry the log holds may still be uncommitted: no new change until
    // everything up to here is committed.
    pending_membership_ = log_.last_index();
    Entry noop{term_, log_.last_index() + 1, EntryKind::noop, {}};
    log_.append({std::move(noop)});
    pending_broadcast_ = true;
}

void Node::campaign() { start_campaign(cfg_.pre_vote, false); }

void Node::start_campaign(bool pre, bool transfer) {
    if (!promotable() || role_ == Role::leader) return;
    if (pre) become_pre_candidate();
    else become_candidate();
    const Term vote_term = pre ? term_ + 1 : term_;
    poll(cfg_.id, true, pre);
    if (role_ == Role::leader || (pre && role_ == Role::candidate)) return;  // a group of one
    for (NodeId v : membership().voters) {
        if (v == cfg_.id) continue;
        Message m;
        m.type = pre ? MessageType::pre_vote : MessageType::vote;
        m.to = v;
        m.term = vote_term;
        m.index = log_.last_index();
        m.log_term = log_.last_term();
        m.transfer = transfer;
        send(std::move(m));
    }
}

void Node::poll(NodeId from, bool granted, bool pre) {
    votes_.emplace(from, granted);
    std::size_t yes = 0, no = 0;
    for (auto& [id, g] : votes_) {
        if (!membership().contains(id)) continue;
        (g ? yes : no) += 1;
    }
    const std::size_t q = membership().quorum();
    if (yes >= q) {
        if (pre) start_campaign(false, false);
        else become_leader();
    } else if (no >= q) {
        become_follower(term_, kNone);
    }
}

// ---- ticks ----

void Node::tick() {
    ++election_elapsed_;
    if (role_ == Role::leader) {
        ++heartbeat_elapsed_;
        if (election_elapsed_ >= cfg_.election_ticks) {
            election_elapsed_ = 0;
            transfer_target_ = kNone;  // a transfer not done within an election timeout is off
            if (cfg_.check_quorum) {
                if (!quorum_active()) {
                    become_follower(term_, kNone);
                    return;
                }
                for (auto& [id, pr] : progress_) pr.recent_active = false;
            }
        }
        if (heartbeat_elapsed_ >= cfg_.heartbeat_ticks) {
            heartbeat_elapsed_ = 0;
            broadcast_heartbeat();
        }
        return;
    }
    if (promotable() && election_elapsed_ >= randomized_timeout_) campaign();
}

// ---- messages ----

void Node::step(const Message& m) {
    if (m.term > term_) {
        const bool pre_request = m.type == MessageType::pre_vote;
        const bool pre_granted = m.type == MessageType::pre_vote_resp && !m.reject;
        if (m.type == MessageType::vote && !m.transfer && in_lease()) return;  // keep our leader
        if (!pre_request && !pre_granted) {
            const bool from_leader = m.type == MessageType::append || m.type == MessageType::heartbeat ||
                                     m.type == MessageType::snapshot;
            become_follower(m.term, from_leader ? m.from : kNone);
        }
    } else if (m.term < term_) {
        if (m.type == MessageType::append || m.type == MessageType::heartbeat || m.type == MessageType::snapshot) {
            // A leader of an older term: our reply carries the current term and deposes it.
            Message r;
            r.type = MessageType::append_resp;
            r.to = m.from;
            r.term = term_;
            r.index = m.index;
            r.reject = true;
            r.hint = log_.last_index();
            send(std::move(r));
        } else if (m.type == MessageType::pre_vote) {
            Message r;
            r.type = MessageType::pre_vote_resp;
            r.to = m.from;
            r.term = term_;
            r.reject = true;
            send(std::move(r));
        }
        return;
    }

    switch (m.type) {
        case MessageType::pre_vote:
        case MessageType::vote:
            handle_vote_request(m);
            return;
        case MessageType::pre_vote_resp:
            if (role_ == Role::pre_candidate && m.term == term_ + 1) poll(m.from, !m.reject, true);
            else if (role_ == Role::pre_candidate && m.reject && m.term == term_) poll(m.from, false, true);
            return;
        case MessageType::vote_resp:
            if (role_ == Role::candidate && m.term == term_) poll(m.from, !m.reject, false);
            return;
        default:
            break;
    }

    if (role_ == Role::leader) {
        if (m.type == MessageType::append_resp) handle_append_resp(m);
        else if (m.type == MessageType::heartbeat_resp) handle_heartbeat_resp(m);
        // Another leader in our term cannot exist; appends to us are ignored.
        return;
    }
    const bool from_leader =
        m.type == MessageType::append || m.type == MessageType::heartbeat || m.type == MessageType::snapshot;
    if (from_leader) {
        if (role_ != Role::follower) become_follower(term_, m.from);
        leader_ = m.from;
        election_elapsed_ = 0;
    }
    switch (m.type) {
        case MessageType::append: handle_append(m); break;
        case MessageType::heartbeat: handle_heartbeat(m); break;
        case MessageType::snapshot: handle_snapshot(m); break;
        case MessageType::timeout_now:
            if (m.from == leader_ || leader_ == kNone) start_campaign(false, true);
            break;
        default: break;
    }
}

void Node::handle_vote_request(const Message& m) {
    const bool pre = m.type == MessageType::pre_vote;
    bool can_vote = vote_ == m.from || (vote_ == kNone && leader_ == kNone) || (pre && m.term > term_);
    if (pre && !m.transfer && in_lease()) can_vote = false;  // we still hear from our leader
    Message r;
    r.type = pre ? MessageType::pre_vote_resp : MessageType::vote_resp;
    r.to = m.from;
    if (can_vote && log_.is_up_to_date(m.index, m.log_term)) {
        r.term = m.term;  // pre-vote: the term it would campaign at
        if (!pre) {
            vote_ = m.from;
            election_elapsed_ = 0;
        }
    } else {
        r.term = term_;
        r.reject = true;
    }
    send(std::move(r));
}

void Node::send(Message m, bool now) {
    m.from = cfg_.id;
    if (m.term == 0) m.term = term_;
    (now ? msgs_now_ : msgs_).push_back(std::move(m));
}

// ---- Ready ----

bool Node::has_ready() const {
    const HardState hs{term_, vote_, log_.committed()};
    return pending_broadcast_ || hs != persisted_ || !msgs_.empty() || !msgs_now_.empty() || pending_snapshot_ ||
           log_.stable() < log_.last_index() || log_.has_to_apply() || role_ != reported_role_ ||
           leader_ != reported_leader_ || term_ != reported_term_;
}

Ready Node::ready() {
    if (pending_broadcast_) {
        pending_broadcast_ = false;
        if (role_ == Role::leader) broadcast_append();
    }
    Ready rd;
    const HardState hs{term_, vote_, log_.committed()};
    if (hs != persisted_) rd.hard_state = hs;
    rd.entries = log_.unstable();
    if (pending_snapshot_) {
        rd.snapshot = std::move(pending_snapshot_);
        pending_snapshot_.reset();
    }
    rd.committed = log_.to_apply();
    // Nothing of a new term or vote may leave before it is on disk.
    const bool vote_changed = hs.term != persisted_.term || hs.vote != persisted_.vote;
    if (vote_changed) {
        for (auto& m : msgs_now_) msgs_.push_back(std::move(m));
        msgs_now_.clear();
    }
    rd.messages_now.swap(msgs_now_);
    rd.messages.swap(msgs_);
    if (role_ != reported_role_ || leader_ != reported_leader_ || term_ != reported_term_) {
        rd.soft_changed = true;
        reported_role_ = role_;
        reported_leader_ = leader_;
        reported_term_ = term_;
    }
    rd.role = role_;
    rd.leader = leader_;
    rd.term = term_;
    return rd;
}

void Node::advance(const Ready& rd) {
    if (rd.hard_state) persisted_ = *rd.hard_state;
    if (!rd.entries.empty()) log_.stable_to(rd.entries.back().index, rd.entries.back().term);
    if (!rd.committed.empty()) log_.applied_to(rd.committed.back().index);
    if (role_ == Role::leader && maybe_commit()) pending_broadcast_ = true;
}

}  // namespace osprey::raft
