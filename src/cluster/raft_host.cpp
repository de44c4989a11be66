#include "cluster/raft_host.h"

#include <algorithm>
#include <limits>

#include <future>

#include "cluster/raft/codec.h"
#include "util/fnv.h"
#include "util/log.h"

namespace osprey::cluster {

using namespace std::chrono;

struct RaftHost::Group {
    std::string name;
    std::unique_ptr<raft::Node> node;
    RaftGroupCallbacks cb;
    bool in_flight = false;  // a Ready is being persisted
    bool removed = false;
    raft::Index applied = 0;
    std::map<raft::NodeId, steady_clock::time_point> heard;  // last message from each peer
    // Leader: when each peer last answered an append or a heartbeat of the current term.
    std::map<raft::NodeId, steady_clock::time_point> answered;
    raft::HardState written;  // the hard state last given to the WAL
    raft::HardState latest;   // the core's latest (its commit may not be on disk yet)
};

namespace {

std::uint64_t mix(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}


}  // namespace

RaftHost::RaftHost(raft::NodeId self, std::unique_ptr<raft::Wal> wal, raft::WalRecovery recovered,
                   RaftTransport& transport, RaftHostOptions opts)
    : self_(self), wal_(std::move(wal)), recovered_(std::move(recovered)), transport_(transport), opts_(opts) {
    for (const auto& [name, st] : recovered_.groups) recovered_names_.insert(name);
    seed_ = opts_.seed ? opts_.seed
                       : mix(self_ ^ std::uint64_t(steady_clock::now().time_since_epoch().count()));
}

RaftHost::~RaftHost() { stop(); }

void RaftHost::start() {
    next_tick_ = steady_clock::now() + opts_.tick;
    thread_ = std::thread([this] { run(); });
}

void RaftHost::stop() {
    {
        std::lock_guard lk(mu_);
        if (stop_ && !thread_.joinable()) return;
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (wal_) wal_->flush();
}

void RaftHost::post(std::function<void()> fn) {
    {
        std::lock_guard lk(mu_);
        if (stop_) return;
        tasks_.push_back(std::move(fn));
    }
    cv_.notify_one();
}

void RaftHost::run() {
    for (;;) {
        std::deque<std::function<void()>> tasks;
        {
            std::unique_lock lk(mu_);
            cv_.wait_until(lk, next_tick_, [&] { return stop_ || !tasks_.empty(); });
            if (stop_) return;
            tasks.swap(tasks_);
        }
        for (auto& t : tasks) t();
        const auto now = steady_clock::now();
        if (now >= next_tick_) {
            tick_all();
            next_tick_ += opts_.tick;
            if (next_tick_ < now) next_tick_ = now + opts_.tick;  // fell behind: no burst of ticks
        }
        round();
        send_bundles();
        transport_.flush();
    }
}

void RaftHost::tick_all() {
    for (auto& [name, g] : groups_) {
        g->node->tick();
        update_lease(*g);  // a deposed leader's lease ends here at the latest
    }
}

RaftHost::Group* RaftHost::find(const std::string& name) {
    auto it = groups_.find(name);
    return it == groups_.end() ? nullptr : it->second.get();
}

void RaftHost::send_all(Group& g, const std::vector<raft::Message>& msgs) {
    constexpr std::size_t kBundleBytes = 256 * 1024;
    for (const auto& m : msgs) {
        log::trace("Raft: {} {} to {:x} term {}", g.name, raft::message_type_name(m.type), m.to, m.term);
        const std::string f = frame(g.name, m);
        std::string& b = outbox_[m.to];
        if (!b.empty() && b.size() + f.size() + 4 > kBundleBytes) {
            transport_.send(m.to, {}, b);
            b.clear();
        }
        const auto n = std::uint32_t(f.size());
        for (int i = 0; i < 4; ++i) b.push_back(char((n >> (8 * i)) & 0xff));
        b += f;
    }
}

void RaftHost::send_bundles() {
    for (auto& [to, b] : outbox_)
        if (!b.empty()) {
            transport_.send(to, {}, b);
            b.clear();
        }
}

void RaftHost::round() {
    if (wal_failed_) return;
    std::vector<std::pair<std::shared_ptr<Group>, raft::Ready>> batch;
    std::vector<raft::WalGroupUpdate> updates;
    for (auto& [name, gp] : groups_) {
        Group& g = *gp;
        if (g.in_flight || !g.node->has_ready()) continue;
        raft::Ready rd = g.node->ready();
        if (rd.soft_changed) {
            g.answered.clear();  // a new term or role: earlier answers vouch for nothing
            update_lease(g);
            if (g.cb.role_changed) g.cb.role_changed(rd.role, rd.leader, rd.term);
        }
        send_all(g, rd.messages_now);
        // A hard state that only moved the commit index needs no fdatasync of its own: a
        // commit index behind on disk is learned again from the leader, and what was applied
        // beyond it is applied again idempotently. It rides along with the next write.
        if (rd.hard_state) g.latest = *rd.hard_state;
        const bool commit_only = rd.hard_state && rd.hard_state->term == g.written.term &&
                                 rd.hard_state->vote == g.written.vote;
        if ((rd.hard_state && !commit_only) || !rd.entries.empty() || rd.snapshot) {
            raft::WalGroupUpdate u;
            u.group = g.name;
            if (!(g.latest == g.written)) u.hard_state = g.latest;
            g.written = g.latest;
            if (rd.snapshot) {
                u.snapshot = rd.snapshot;
                u.install = true;
            }
            u.entries = rd.entries;
            updates.push_back(std::move(u));
            g.in_flight = true;
            batch.emplace_back(gp, std::move(rd));
        } else {
            // Nothing to persist: the messages promise nothing new.
            std::vector<std::pair<std::shared_ptr<Group>, raft::Ready>> one;
            one.emplace_back(gp, std::move(rd));
            finish(std::move(one), true);
        }
    }
    if (updates.empty()) return;
    auto shared = std::make_shared<decltype(batch)>(std::move(batch));
    wal_->write(std::move(updates), [this, shared](bool ok) {
        post([this, shared, ok] { finish(std::move(*shared), ok); });
    });
}

void RaftHost::finish(std::vector<std::pair<std::shared_ptr<Group>, raft::Ready>> batch, bool ok) {
    if (!ok) {
        // What the cores were told is persisted is not: no message may leave that depends on
        // it. Every group stops here; the operator sees why.
        if (!wal_failed_) log::error("JetStream cluster: the write-ahead log failed; Raft groups stop");
        wal_failed_ = true;
        return;
    }
    for (auto& [g, rd] : batch) {
        if (g->removed) continue;
        send_all(*g, rd.messages);
        if (rd.snapshot && g->cb.install) g->cb.install(*rd.snapshot, true);
        for (const auto& e : rd.committed) {
            if (e.kind == raft::EntryKind::normal && g->cb.apply && e.index > g->applied) g->cb.apply(e);
            g->applied = std::max(g->applied, e.index);
            if (e.kind == raft::EntryKind::noop && g->cb.leader_ready && g->node->role() == raft::Role::leader &&
                e.term == g->node->term())
                g->cb.leader_ready(e.term);
        }
        g->node->advance(rd);
        g->in_flight = false;
    }
}

void RaftHost::add_group(const std::string& name, const raft::Membership& initial, RaftGroupCallbacks cb,
                         raft::Index applied) {
    post([this, name, initial, cb = std::move(cb), applied]() mutable {
        if (groups_.count(name)) return;
        auto g = std::make_shared<Group>();
        g->name = name;
        g->cb = std::move(cb);
        raft::Config c;
        c.id = self_;
        c.election_ticks = opts_.election_ticks;
        c.heartbeat_ticks = opts_.heartbeat_ticks;
        c.max_append_bytes = 192 * 1024;  // one append fits a bundle (a bigger entry goes alone)
        c.seed = mix(seed_ ^ util::fnv1a64(name));
        auto it = recovered_.groups.find(name);
        if (it != recovered_.groups.end()) {
            raft::Stored st = std::move(it->second);
            recovered_.groups.erase(it);
            g->written = g->latest = st.hard_state;
            if (st.snapshot.index > applied && g->cb.install)
                g->cb.install(raft::Snapshot{st.snapshot, st.snapshot_data}, false);
            applied = std::max(applied, st.snapshot.index);
            applied = std::min(applied, st.hard_state.commit);
            c.applied = applied;
            g->node = std::make_unique<raft::Node>(c, st);
        } else {
            c.applied = 0;
            applied = 0;
            g->node = std::make_unique<raft::Node>(c, initial);
            // The initial voters go to disk first (as an empty snapshot): a restart before the
            // first entry must still know them. The WAL keeps the order of writes.
            raft::WalGroupUpdate u;
            u.group = name;
            u.snapshot = raft::Snapshot{raft::SnapshotMeta{0, 0, initial}, {}};
            std::vector<raft::WalGroupUpdate> v;
            v.push_back(std::move(u));
            wal_->write(std::move(v), [](bool) {});
        }
        g->applied = applied;
        groups_[name] = std::move(g);
    });
}

bool RaftHost::recovered(const std::string& name) const { return recovered_names_.count(name) > 0; }

void RaftHost::remove_group(const std::string& name, bool forget) {
    post([this, name, forget] {
        auto it = groups_.find(name);
        if (it != groups_.end()) {
            it->second->removed = true;
            groups_.erase(it);
        }
        recovered_.groups.erase(name);
        if (forget) {
            raft::WalGroupUpdate u;
            u.group = name;
            u.drop = true;
            std::vector<raft::WalGroupUpdate> v;
            v.push_back(std::move(u));
            wal_->write(std::move(v), [](bool) {});
        }
    });
}

void RaftHost::propose(const std::string& name, std::string data,
                       std::function<void(std::optional<std::pair<raft::Index, raft::Term>>)> done) {
    post([this, name, data = std::move(data), done = std::move(done)]() mutable {
        Group* g = find(name);
        if (!g || g->node->role() != raft::Role::leader) return done(std::nullopt);
        done(g->node->propose(std::move(data)));
    });
}

void RaftHost::compact(const std::string& name, raft::Index upto, std::string data) {
    post([this, name, upto, data = std::move(data)]() mutable {
        Group* g = find(name);
        if (!g) return;
        raft::SnapshotMeta meta = g->node->compact(upto, data);
        log::debug("Raft: {} log compacted up to {}", name, meta.index);
        raft::WalGroupUpdate u;
        u.group = name;
        u.snapshot = raft::Snapshot{meta, std::move(data)};
        std::vector<raft::WalGroupUpdate> v;
        v.push_back(std::move(u));
        wal_->write(std::move(v), [](bool) {});
    });
}

void RaftHost::transfer_leadership(const std::string& name, raft::NodeId to) {
    post([this, name, to] {
        if (Group* g = find(name)) g->node->transfer_leadership(to);
    });
}

void RaftHost::step_down(const std::string& name, std::function<void(bool)> done) {
    post([this, name, done = std::move(done)] {
        Group* g = find(name);
        if (!g || g->node->role() != raft::Role::leader) return done(false);
        // One of the most current voters heard from lately takes over, picked at random (as
        // nats-server does), so repeated stepdowns can reach every server.
        const auto now = steady_clock::now();
        std::vector<raft::NodeId> best;
        raft::Index best_match = 0;
        for (const auto& p : g->node->progress()) {
            if (!g->node->membership().contains(p.id)) continue;
            auto h = g->heard.find(p.id);
            if (h == g->heard.end() || now - h->second > opts_.tick * opts_.election_ticks) continue;
            if (best.empty() || p.match > best_match) {
                best = {p.id};
                best_match = p.match;
            } else if (p.match == best_match) {
                best.push_back(p.id);
            }
        }
        if (best.empty()) return done(false);
        seed_ = mix(seed_);
        done(g->node->transfer_leadership(best[seed_ % best.size()]));
    });
}

void RaftHost::change_membership(const std::string& name, const raft::Membership& next,
                                 std::function<void(bool)> done) {
    post([this, name, next, done = std::move(done)] {
        Group* g = find(name);
        done(g && g->node->propose_membership(next));
    });
}

std::string RaftHost::frame(const std::string& group, const raft::Message& m) {
    std::string out;
    const auto n = std::uint16_t(std::min<std::size_t>(group.size(), 0xffff));
    out.push_back(char(n & 0xff));
    out.push_back(char(n >> 8));
    out.append(group, 0, n);
    out += raft::encode(m);
    return out;
}

void RaftHost::deliver(std::string_view bytes) {
    post([this, b = std::string(bytes)] { deliver_now(b); });
}

void RaftHost::deliver_now(const std::string& bundle) {
    std::string_view rest(bundle);
    while (rest.size() >= 4) {
        std::uint32_t n = 0;
        for (int i = 0; i < 4; ++i) n |= std::uint32_t(std::uint8_t(rest[i])) << (8 * i);
        if (rest.size() - 4 < n) {
            log::debug("Raft: dropped a truncated bundle");
            return;
        }
        deliver_frame(std::string(rest.substr(4, n)));
        rest.remove_prefix(4 + n);
    }
}

void RaftHost::deliver_frame(const std::string& b) {
    if (b.size() < 2) return;
    const std::size_t n = std::uint8_t(b[0]) | (std::size_t(std::uint8_t(b[1])) << 8);
    if (b.size() < 2 + n) return;
    Group* g = find(b.substr(2, n));
    if (!g) return;  // not (yet) ours: Raft resends
    auto m = raft::decode(std::string_view(b).substr(2 + n));
    if (!m || m->to != self_ || m->from == raft::kNone || m->from == self_) {
        log::debug("Raft: dropped a message for group {} ({})", g->name,
                   !m ? "undecodable" : "not addressed to this server");
        return;
    }
    log::trace("Raft: {} {} from {:x} term {}", g->name, raft::message_type_name(m->type), m->from, m->term);
    const auto now = steady_clock::now();
    g->heard[m->from] = now;
    const bool answer = (m->type == raft::MessageType::append_resp || m->type == raft::MessageType::heartbeat_resp) &&
                        m->term == g->node->term();
    g->node->step(*m);
    if (answer && g->node->role() == raft::Role::leader) {
        g->answered[m->from] = now;
        update_lease(*g);
    }
}

void RaftHost::update_lease(Group& g) {
    if (!g.cb.lease_until) return;
    std::int64_t until = 0;
    if (g.node->role() == raft::Role::leader) {
        // The newest time by which a majority (this leader counts itself) had answered.
        const auto& voters = g.node->membership().voters;
        std::vector<steady_clock::time_point> times;
        for (auto id : voters) {
            if (id == self_) continue;
            auto it = g.answered.find(id);
            if (it != g.answered.end()) times.push_back(it->second);
        }
        // Others needed beside this leader (a leader whose removal is not committed yet leads
        // a membership that leaves it out, and does not count itself).
        const bool voter = g.node->membership().contains(self_);
        const std::size_t need = g.node->membership().quorum() - (voter ? 1 : 0);
        if (need == 0) {
            until = std::numeric_limits<std::int64_t>::max();  // a group of one
        } else if (times.size() >= need) {
            std::sort(times.begin(), times.end(), std::greater<>());
            until = (times[need - 1] + opts_.lease()).time_since_epoch().count();
        }
    } else {
        g.answered.clear();
    }
    g.cb.lease_until->store(until, std::memory_order_relaxed);
}

std::optional<RaftHost::Status> RaftHost::status(const std::string& name) {
    auto compute = [this, name]() -> std::optional<Status> {
        Group* g = find(name);
        if (!g) return std::nullopt;
        Status s;
        s.role = g->node->role();
        s.leader = g->node->leader();
        s.term = g->node->term();
        s.commit = g->node->log().committed();
        s.applied = g->applied;
        s.last = g->node->log().last_index();
        s.membership = g->node->membership();
        s.removed = g->node->removed();
        s.membership_committed = g->node->membership_committed();
        const auto now = steady_clock::now();
        for (const auto& p : g->node->progress()) {
            PeerStatus ps;
            ps.id = p.id;
            ps.lag = s.last > p.match ? s.last - p.match : 0;
            ps.current = ps.lag == 0;
            auto h = g->heard.find(p.id);
            ps.since_heard = h == g->heard.end() ? steady_clock::duration::max() : now - h->second;
            s.peers.push_back(ps);
        }
        return s;
    };
    if (std::this_thread::get_id() == thread_.get_id()) return compute();
    auto p = std::make_shared<std::promise<std::optional<Status>>>();
    auto f = p->get_future();
    post([p, compute] { p->set_value(compute()); });
    if (f.wait_for(seconds(2)) != std::future_status::ready) return std::nullopt;
    return f.get();
}

}  // namespace osprey::cluster
