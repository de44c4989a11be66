#include "sim.h"

#include <algorithm>
#include <sstream>

namespace osprey::raft::sim {

std::uint64_t chain(std::uint64_t h, const Entry& e) {
    auto mix = [&](const void* p, std::size_t n) {
        const auto* b = static_cast<const unsigned char*>(p);
        for (std::size_t i = 0; i < n; ++i) {
            h ^= b[i];
            h *= 1099511628211ULL;
        }
    };
    if (h == 0) h = 1469598103934665603ULL;
    mix(&e.term, sizeof e.term);
    mix(&e.index, sizeof e.index);
    mix(&e.kind, sizeof e.kind);
    mix(e.data.data(), e.data.size());
    return h;
}

namespace {
std::string encode_sm(Index i, std::uint64_t h) { return std::to_string(i) + ":" + std::to_string(h); }
std::pair<Index, std::uint64_t> decode_sm(const std::string& s) {
    const auto c = s.find(':');
    return {std::stoull(s.substr(0, c)), std::stoull(s.substr(c + 1))};
}
}  // namespace

Simulation::Simulation(const Options& o) : o_(o), rng_(o.seed) {
    std::vector<NodeId> ids;
    for (int i = 1; i <= o_.nodes; ++i) ids.push_back(NodeId(i));
    const Membership initial = Membership::of(ids);
    nodes_.resize(std::size_t(o_.nodes));
    for (int i = 0; i < o_.nodes; ++i) {
        SimNode& n = nodes_[std::size_t(i)];
        n.id = NodeId(i + 1);
        n.disk.snap.membership = initial;
        n.tick_every = 1 + int(rng_() % 3);  // clock skew: some nodes' clocks run slow
        n.tick_phase = int(rng_() % std::uint64_t(n.tick_every));
        n.node = std::make_unique<Node>(config_for(n.id, 0), initial);
    }
}

Config Simulation::config_for(NodeId id, Index applied) const {
    Config c;
    c.id = id;
    c.election_ticks = 10;
    c.heartbeat_ticks = 2;
    c.max_append_bytes = o_.max_append_bytes;
    c.max_inflight = o_.max_inflight;
    c.seed = o_.seed * 7919 + id * 104729 + std::uint64_t(now_);
    c.applied = applied;
    c.unsafe_commit_older_terms_by_count = o_.unsafe_commit_older_terms_by_count;
    return c;
}

void Simulation::note(const std::string& event) {
    trace_.push_back("t" + std::to_string(now_) + " " + event);
    if (trace_.size() > 300) trace_.pop_front();
}

void Simulation::fail(const std::string& why) {
    if (!result_.violation.empty()) return;
    result_.violation = "step " + std::to_string(now_) + ": " + why;
}

// ---- nodes ----

void Simulation::crash(SimNode& n) {
    if (!n.up) return;
    n.up = false;
    n.node.reset();
    ++result_.crashes;
    note("crash n" + std::to_string(n.id));
}

void Simulation::restart(SimNode& n) {
    Stored st{n.disk.hs, n.disk.snap, n.disk.snap_data, n.disk.entries};
    n.node = std::make_unique<Node>(config_for(n.id, n.disk.snap.index), st);
    n.up = true;
    if (n.disk.snap.index > 0) {
        auto [i, h] = decode_sm(n.disk.snap_data);
        n.sm_index = i;
        n.sm_hash = h;
    } else {
        n.sm_index = 0;
        n.sm_hash = 0;
    }
    n.last_commit_seen = n.node->log().committed();
    note("restart n" + std::to_string(n.id) + " term " + std::to_string(n.disk.hs.term) + " log " +
         std::to_string(n.disk.snap.index) + "+" + std::to_string(n.disk.entries.size()));
}

void Simulation::persist(SimNode& n, const Ready& rd) {
    Disk& d = n.disk;
    if (rd.snapshot) {
        d.snap = rd.snapshot->meta;
        d.snap_data = rd.snapshot->data;
        d.entries.clear();
    }
    if (!rd.entries.empty()) {
        const Index first = rd.entries.front().index;
        while (!d.entries.empty() && d.entries.back().index >= first) d.entries.pop_back();
        for (const auto& e : rd.entries)
            if (e.index > d.snap.index) d.entries.push_back(e);
    }
    if (rd.hard_state) d.hs = *rd.hard_state;
}

void Simulation::apply(SimNode& n, const Entry& e) {
    if (e.index <= n.sm_index) return;  // a restart re-applies: idempotent by index
    if (e.index != n.sm_index + 1) {
        fail("n" + std::to_string(n.id) + " applies " + std::to_string(e.index) + " after " +
             std::to_string(n.sm_index));
        return;
    }
    auto it = applied_.find(e.index);
    if (it == applied_.end()) {
        applied_[e.index] = e;
    } else if (it->second.term != e.term || it->second.data != e.data) {
        fail("state machine safety: n" + std::to_string(n.id) + " applies (" + std::to_string(e.term) + ", '" +
             e.data + "') at " + std::to_string(e.index) + " where another applied (" +
             std::to_string(it->second.term) + ", '" + it->second.data + "')");
        return;
    }
    n.sm_hash = chain(n.sm_hash, e);
    n.sm_index = e.index;
    auto h = hash_at_.find(e.index);
    if (h == hash_at_.end()) hash_at_[e.index] = n.sm_hash;
    else if (h->second != n.sm_hash) fail("state machine diverged at " + std::to_string(e.index));
    // The client's acknowledgement: its leader applied the entry it proposed.
    auto p = proposals_.find({n.id, e.index});
    if (p != proposals_.end() && p->second.term == e.term && p->second.data == e.data) acked_[e.index] = e.data;
}

void Simulation::install(SimNode& n, const Snapshot& s) {
    auto [i, h] = decode_sm(s.data);
    auto it = hash_at_.find(i);
    if (i > 0 && it == hash_at_.end()) fail("snapshot at " + std::to_string(i) + " of nothing applied");
    else if (i > 0 && it->second != h) fail("snapshot at " + std::to_string(i) + " differs from what was applied");
    n.sm_index = i;
    n.sm_hash = h;
}

void Simulation::process_ready(SimNode& n) {
    for (int rounds = 0; rounds < 4 && n.up && n.node->has_ready(); ++rounds) {
        Ready rd = n.node->ready();
        if (rd.soft_changed && rd.role == Role::leader) {
            ++result_.elections;
            note("n" + std::to_string(n.id) + " leader of term " + std::to_string(rd.term));
        }
        for (const auto& m : rd.messages_now) send(m);
        if (std::bernoulli_distribution(faults_on_ ? o_.crash_in_persist : 0)(rng_)) {
            // The crash hits during the write: all of it or none of it reached the disk.
            if (rng_() % 2) persist(n, rd);
            crash(n);
            return;
        }
        persist(n, rd);
        for (const auto& m : rd.messages) send(m);
        if (rd.snapshot) install(n, *rd.snapshot);
        for (const auto& e : rd.committed) apply(n, e);
        n.node->advance(rd);
        if (!n.node->safety_violation().empty()) fail("n" + std::to_string(n.id) + ": " + n.node->safety_violation());
    }
    if (n.up && std::bernoulli_distribution(o_.compact)(rng_) && n.sm_index > n.node->log().snapshot_index() &&
        n.sm_index == n.node->log().applied()) {
        // The state machine is saved with the snapshot, then the log before it goes.
        const SnapshotMeta meta = n.node->compact(n.sm_index, encode_sm(n.sm_index, n.sm_hash));
        n.disk.snap = meta;
        n.disk.snap_data = encode_sm(n.sm_index, n.sm_hash);
        while (!n.disk.entries.empty() && n.disk.entries.front().index <= meta.index)
            n.disk.entries.erase(n.disk.entries.begin());
    }
}

// ---- network ----

bool Simulation::link_up(NodeId a, NodeId b) const {
    auto it = cut_.find({std::min(a, b), std::max(a, b)});
    return it == cut_.end() || !it->second;
}

void Simulation::send(const Message& m) {
    if (m.to == kNone || m.to > NodeId(nodes_.size())) return;
    if (faults_on_ && std::bernoulli_distribution(o_.drop)(rng_)) return;
    const int copies = faults_on_ && std::bernoulli_distribution(o_.duplicate)(rng_) ? 2 : 1;
    for (int c = 0; c < copies; ++c)
        net_.push_back({now_ + 1 + int(rng_() % std::uint64_t(o_.max_delay)), m});
}

void Simulation::deliver(const Message& m) {
    SimNode& to = nodes_[std::size_t(m.to - 1)];
    if (!to.up || !link_up(m.from, m.to)) return;
    to.node->step(m);
}

// ---- faults and the client ----

Simulation::SimNode* Simulation::leader() {
    SimNode* best = nullptr;
    for (auto& n : nodes_)
        if (n.up && n.node->role() == Role::leader && (!best || n.node->term() > best->node->term())) best = &n;
    return best;
}

void Simulation::random_faults() {
    std::bernoulli_distribution crash(o_.crash), restart(o_.restart), partition(o_.partition), heal(o_.heal);
    for (auto& n : nodes_) {
        if (n.up && crash(rng_)) this->crash(n);
        else if (!n.up && restart(rng_)) this->restart(n);
    }
    if (partition(rng_)) {
        // Split the pool in two at random (or flap one link).
        cut_.clear();
        if (rng_() % 3 == 0) {
            NodeId a = 1 + rng_() % nodes_.size(), b = 1 + rng_() % nodes_.size();
            if (a != b) cut_[{std::min(a, b), std::max(a, b)}] = true;
            note("cut link " + std::to_string(a) + "-" + std::to_string(b));
        } else {
            std::vector<int> side(nodes_.size());
            for (auto& s : side) s = int(rng_() % 2);
            std::string desc;
            for (std::size_t i = 0; i < nodes_.size(); ++i) {
                desc += side[i] ? "B" : "A";
                for (std::size_t j = i + 1; j < nodes_.size(); ++j)
                    if (side[i] != side[j]) cut_[{NodeId(i + 1), NodeId(j + 1)}] = true;
            }
            note("partition " + desc);
        }
    } else if (!cut_.empty() && heal(rng_)) {
        cut_.clear();
        note("heal");
    }
    SimNode* l = leader();
    if (l && std::bernoulli_distribution(o_.membership_change)(rng_)) {
        Membership cur = l->node->membership();
        std::vector<NodeId> v = cur.voters;
        const NodeId pick = 1 + rng_() % nodes_.size();
        if (cur.contains(pick)) {
            if (v.size() > 3) v.erase(std::find(v.begin(), v.end(), pick));
        } else {
            v.push_back(pick);
        }
        Membership next = Membership::of(v);
        if (next != cur && l->node->propose_membership(next)) note("n" + std::to_string(l->id) + " proposes " + next.encode());
    }
    if (l && std::bernoulli_distribution(o_.transfer)(rng_)) {
        const NodeId to = 1 + rng_() % nodes_.size();
        if (l->node->transfer_leadership(to)) note("n" + std::to_string(l->id) + " transfers to n" + std::to_string(to));
    }
}

void Simulation::client() {
    if (!clients_on_ || !std::bernoulli_distribution(o_.propose)(rng_)) return;
    // The client asks whichever node claims to lead (a stale leader may still claim it).
    std::vector<SimNode*> leaders;
    for (auto& n : nodes_)
        if (n.up && n.node->role() == Role::leader) leaders.push_back(&n);
    if (leaders.empty()) return;
    SimNode* l = leaders[rng_() % leaders.size()];
    std::string data = "v" + std::to_string(++next_data_);
    if (auto r = l->node->propose(data)) proposals_[{l->id, r->first}] = {l->id, r->first, r->second, std::move(data)};
}

// ---- checks ----

void Simulation::check() {
    for (auto& n : nodes_) {
        if (!n.up) continue;
        const Node& node = *n.node;
        if (node.role() == Role::leader) {
            auto [it, fresh] = leaders_.emplace(node.term(), n.id);
            if (!fresh && it->second != n.id)
                fail("election safety: n" + std::to_string(it->second) + " and n" + std::to_string(n.id) +
                     " both lead term " + std::to_string(node.term()));
            if (fresh) {
                // Leader completeness: it holds everything applied anywhere.
                for (const auto& [i, e] : applied_) {
                    if (i <= node.log().snapshot_index()) continue;
                    if (node.log().term(i) != e.term)
                        fail("leader completeness: n" + std::to_string(n.id) + " leads term " +
                             std::to_string(node.term()) + " without applied entry " + std::to_string(i));
                }
            }
        }
        if (node.log().committed() < n.last_commit_seen)
            fail("n" + std::to_string(n.id) + " commit moved back to " + std::to_string(node.log().committed()));
        n.last_commit_seen = node.log().committed();
    }
    for (const auto& [i, data] : acked_) {
        auto it = applied_.find(i);
        if (it == applied_.end() || it->second.data != data) fail("acknowledged entry " + std::to_string(i) + " lost");
    }
}

void Simulation::check_logs_match() {
    for (std::size_t a = 0; a < nodes_.size(); ++a) {
        if (!nodes_[a].up) continue;
        for (std::size_t b = a + 1; b < nodes_.size(); ++b) {
            if (!nodes_[b].up) continue;
            const RaftLog& la = nodes_[a].node->log();
            const RaftLog& lb = nodes_[b].node->log();
            const Index lo = std::max(la.snapshot_index(), lb.snapshot_index()) + 1;
            const Index hi = std::min(la.last_index(), lb.last_index());
            bool agreed = false;
            for (Index i = hi; i >= lo && i > 0; --i) {
                const Entry* ea = la.at(i);
                const Entry* eb = lb.at(i);
                if (!agreed && ea->term == eb->term) agreed = true;
                if (agreed && !(*ea == *eb)) {
                    fail("log matching: n" + std::to_string(a + 1) + " and n" + std::to_string(b + 1) +
                         " agree above " + std::to_string(i) + " but differ at it");
                    return;
                }
            }
        }
    }
}

// ---- the run ----

void Simulation::step() {
    ++now_;
    for (auto& n : nodes_)
        if (n.up && now_ % n.tick_every == n.tick_phase) n.node->tick();
    // Deliver what is due (in the order it was sent among messages due the same step).
    std::vector<Flight> due;
    auto split = std::stable_partition(net_.begin(), net_.end(), [&](const Flight& f) { return f.at > now_; });
    due.assign(std::make_move_iterator(split), std::make_move_iterator(net_.end()));
    net_.erase(split, net_.end());
    std::shuffle(due.begin(), due.end(), rng_);
    for (const auto& f : due) deliver(f.m);
    if (faults_on_) random_faults();
    client();
    for (auto& n : nodes_)
        if (n.up) process_ready(n);
    check();
    if (now_ % 50 == 0) check_logs_match();
}

Result Simulation::run() {
    for (int i = 0; i < o_.fault_steps && result_.violation.empty(); ++i) step();
    // Heal: everyone up, every link back, no more faults; the group must converge.
    faults_on_ = false;
    cut_.clear();
    for (auto& n : nodes_)
        if (!n.up) restart(n);
    note("heal all");
    for (int i = 0; i < o_.settle_steps && result_.violation.empty(); ++i) {
        // Proposals stop halfway, so the end finds the group quiet with everything replicated.
        if (i == o_.settle_steps / 2) clients_on_ = false;
        step();
    }
    // Then until every voter applied every acknowledged entry (bounded: slow catch-up is
    // allowed, never catching up is a failure).
    auto converged = [&] {
        const Index want = acked_.empty() ? 0 : acked_.rbegin()->first;  // acks still arrive
        SimNode* l = leader();
        if (!l) return false;
        for (NodeId v : l->node->membership().voters)
            if (nodes_[std::size_t(v - 1)].sm_index < want) return false;
        return true;
    };
    for (int i = 0; i < 50000 && result_.violation.empty() && !converged(); ++i) step();
    if (result_.violation.empty()) {
        check_logs_match();
        // Every node that is a voter of the final membership applied every acknowledged entry.
        SimNode* l = leader();
        if (!l) {
            fail("no leader after settling");
        } else {
            for (NodeId v : l->node->membership().voters) {
                SimNode& n = nodes_[std::size_t(v - 1)];
                for (const auto& [i, data] : acked_) {
                    if (i > n.sm_index) {
                        fail("n" + std::to_string(v) + " never applied acknowledged entry " + std::to_string(i) +
                             " (applied up to " + std::to_string(n.sm_index) + ")");
                        break;
                    }
                }
            }
        }
    }
    result_.acked = acked_.size();
    for (auto& n : nodes_) {
        if (!n.up) continue;
        const RaftLog& l = n.node->log();
        note("n" + std::to_string(n.id) + " " + role_name(n.node->role()) + " term " + std::to_string(n.node->term()) +
             " leader n" + std::to_string(n.node->leader()) + " snap " + std::to_string(l.snapshot_index()) + " last " +
             std::to_string(l.last_index()) + " stable " + std::to_string(l.stable()) + " commit " +
             std::to_string(l.committed()) + " applied " + std::to_string(l.applied()) + " sm " +
             std::to_string(n.sm_index) + " voters " + n.node->membership().encode() + " " +
             n.node->describe_progress());
    }
    std::ostringstream t;
    for (const auto& line : trace_) t << line << "\n";
    result_.trace = t.str();
    return result_;
}

}  // namespace osprey::raft::sim
