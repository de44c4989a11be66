#include "subjects/sublist.h"

#include <algorithm>
#include <mutex>

#include "subjects/subject.h"

namespace osprey::subjects {

struct Sublist::Node {
    std::unique_ptr<Level> next;
    std::vector<SubPtr> plain;
    std::vector<std::pair<std::string, std::vector<SubPtr>>> queues;
    bool empty() const;
};

struct Sublist::Level {
    std::unordered_map<std::string, std::unique_ptr<Node>, StringHash, std::equal_to<>> literal;
    std::unique_ptr<Node> pwc;  // "*"
    std::unique_ptr<Node> fwc;  // ">"
    bool empty() const { return literal.empty() && !pwc && !fwc; }
};

bool Sublist::Node::empty() const {
    return plain.empty() && queues.empty() && (!next || next->empty());
}

Sublist::Sublist() : root_(std::make_unique<Level>()) {}
Sublist::~Sublist() = default;

namespace {

// Splits into a reused per-thread vector: no allocation per match in steady state.
int tokenize(std::string_view s, std::vector<std::string_view>& toks) {
    toks.clear();
    Tokens t(s);
    std::string_view tok;
    while (t.next(tok)) toks.push_back(tok);
    return int(toks.size());
}

// Queue groups of the same name under different patterns form one group (one delivery).
void add_queue_subs(MatchResult& r, const std::string& name, const std::vector<SubPtr>& subs) {
    for (auto& group : r.queues) {
        if (!group.empty() && group.front()->queue == name) {
            group.insert(group.end(), subs.begin(), subs.end());
            return;
        }
    }
    r.queues.push_back(subs);
}

}  // namespace

bool Sublist::insert_impl(const SubPtr& sub) {
    std::unique_lock lk(mu_);
    Level* level = root_.get();
    Node* node = nullptr;
    Tokens t(sub->subject);
    std::string_view tok;
    while (t.next(tok)) {
        if (node) {
            if (!node->next) node->next = std::make_unique<Level>();
            level = node->next.get();
        }
        std::unique_ptr<Node>* slot;
        if (tok == "*") {
            slot = &level->pwc;
        } else if (tok == ">") {
            slot = &level->fwc;
        } else {
            auto it = level->literal.find(tok);
            if (it == level->literal.end())
                it = level->literal.emplace(std::string(tok), nullptr).first;
            slot = &it->second;
        }
        if (!*slot) *slot = std::make_unique<Node>();
        node = slot->get();
    }
    if (!node) return false;
    if (sub->queue.empty()) {
        node->plain.push_back(sub);
    } else {
        auto it = std::find_if(node->queues.begin(), node->queues.end(),
                               [&](auto& q) { return q.first == sub->queue; });
        if (it == node->queues.end()) {
            node->queues.emplace_back(sub->queue, std::vector<SubPtr>{});
            it = node->queues.end() - 1;
        }
        it->second.push_back(sub);
    }
    ++count_;
    ++inserts_;
    generation_.fetch_add(1, std::memory_order_release);
    invalidate(sub->subject);
    return true;
}

void Sublist::insert(const SubPtr& sub) {
    if (insert_impl(sub) && observer_) observer_(sub, true);
}

bool Sublist::remove(const SubPtr& sub) {
    const bool removed = remove_impl(sub);
    if (removed && observer_) observer_(sub, false);
    return removed;
}

namespace {
template <typename V>
bool erase_one(V& v, const SubPtr& sub) {
    auto it = std::find(v.begin(), v.end(), sub);
    if (it == v.end()) return false;
    *it = std::move(v.back());
    v.pop_back();
    return true;
}
}  // namespace

bool Sublist::remove_impl(const SubPtr& sub) {
    std::unique_lock lk(mu_);
    std::vector<std::string_view> toks;
    int n = tokenize(sub->subject, toks);
    if (n <= 0) return false;
    // Walk down remembering the path so empty nodes can be pruned on the way back.
    std::vector<std::pair<Level*, std::string_view>> path(n);
    Level* level = root_.get();
    Node* node = nullptr;
    for (int i = 0; i < n; ++i) {
        path[i] = {level, toks[i]};
        if (toks[i] == "*") {
            node = level->pwc.get();
        } else if (toks[i] == ">") {
            node = level->fwc.get();
        } else {
            auto it = level->literal.find(toks[i]);
            node = it == level->literal.end() ? nullptr : it->second.get();
        }
        if (!node) return false;
        if (i + 1 < n) {
            if (!node->next) return false;
            level = node->next.get();
        }
    }
    bool removed = false;
    if (sub->queue.empty()) {
        removed = erase_one(node->plain, sub);
    } else {
        auto it = std::find_if(node->queues.begin(), node->queues.end(),
                               [&](auto& q) { return q.first == sub->queue; });
        if (it != node->queues.end()) {
            removed = erase_one(it->second, sub);
            if (it->second.empty()) node->queues.erase(it);
        }
    }
    if (!removed) return false;
    for (int i = n - 1; i >= 0; --i) {
        Level* l = path[i].first;
        std::string_view tk = path[i].second;
        std::unique_ptr<Node>* slot;
        if (tk == "*") {
            slot = &l->pwc;
        } else if (tk == ">") {
            slot = &l->fwc;
        } else {
            slot = &l->literal.find(tk)->second;
        }
        if (!(*slot)->empty()) break;
        if (tk == "*" || tk == ">") {
            slot->reset();
        } else {
            l->literal.erase(l->literal.find(tk));
        }
    }
    --count_;
    ++removes_;
    generation_.fetch_add(1, std::memory_order_release);
    invalidate(sub->subject);
    return true;
}

void Sublist::invalidate(std::string_view pattern) {
    if (cache_.empty()) return;
    if (!has_wildcard(pattern)) {
        cache_.erase(std::string(pattern));
        return;
    }
    for (auto it = cache_.begin(); it != cache_.end();) {
        if (matches(pattern, it->first)) {
            it = cache_.erase(it);
        } else {
            ++it;
        }
    }
}

MatchPtr Sublist::compute(std::string_view subject) const {
    auto result = std::make_shared<MatchResult>();
    thread_local std::vector<std::string_view> toks;
    int n = tokenize(subject, toks);
    if (n <= 0) return result;
    auto add_node = [&](const Node* node) {
        result->plain.insert(result->plain.end(), node->plain.begin(), node->plain.end());
        for (auto& [name, subs] : node->queues) add_queue_subs(*result, name, subs);
    };
    // Iterative descent with an explicit stack of (level, token index).
    struct Frame {
        const Level* level;
        int i;
    };
    thread_local std::vector<Frame> stack;
    stack.clear();
    stack.push_back({root_.get(), 0});
    while (!stack.empty()) {
        Frame f = stack.back();
        stack.pop_back();
        const Level* l = f.level;
        if (l->fwc) add_node(l->fwc.get());
        const bool last = f.i + 1 == n;
        auto visit = [&](const Node* node) {
            if (last) {
                add_node(node);
            } else if (node->next) {
                stack.push_back({node->next.get(), f.i + 1});
            }
        };
        if (l->pwc) visit(l->pwc.get());
        auto it = l->literal.find(toks[f.i]);
        if (it != l->literal.end()) visit(it->second.get());
    }
    return result;
}

MatchPtr Sublist::match_uncached(std::string_view subject) const {
    matches_.fetch_add(1, std::memory_order_relaxed);
    std::shared_lock lk(mu_);
    auto it = cache_.find(subject);
    if (it != cache_.end()) {
        cache_hits_.fetch_add(1, std::memory_order_relaxed);
        return it->second;
    }
    return compute(subject);
}

MatchPtr Sublist::match_fresh(std::string_view subject) const {
    matches_.fetch_add(1, std::memory_order_relaxed);
    std::shared_lock lk(mu_);
    return compute(subject);
}

MatchPtr Sublist::match(std::string_view subject) {
    matches_.fetch_add(1, std::memory_order_relaxed);
    MatchPtr result;
    std::uint64_t gen;
    {
        std::shared_lock lk(mu_);
        auto it = cache_.find(subject);
        if (it != cache_.end()) {
            cache_hits_.fetch_add(1, std::memory_order_relaxed);
            return it->second;
        }
        gen = generation_.load(std::memory_order_relaxed);
        result = compute(subject);
    }
    // Admission on the second sighting: one-shot subjects (reply inboxes, ack subjects) pass
    // through without an allocation or the write lock, and never push useful entries out.
    // A sighting takes an occupied slot only half of the time: subjects sharing a slot and
    // seen in turn (publishes cycling over many subjects) would otherwise evict each other's
    // sighting forever and never be cached (about 60% of 1000 subjects cycled over 1024
    // slots were recomputed on every publish).
    const std::size_t h = StringHash{}(subject);
    auto& seen = seen_[h % kSeenSlots];
    if (const std::size_t was = seen.load(std::memory_order_relaxed); was != h) {
        thread_local std::uint32_t coin = 0x9e3779b9u;
        coin ^= coin << 13;
        coin ^= coin >> 17;
        coin ^= coin << 5;
        if (was == 0 || (coin & 1)) seen.store(h, std::memory_order_relaxed);
        return result;
    }
    const std::uint64_t fanout = result->plain.size() + result->queues.size();
    fanout_sum_.fetch_add(fanout, std::memory_order_relaxed);
    if (fanout > fanout_max_.load(std::memory_order_relaxed))
        fanout_max_.store(fanout, std::memory_order_relaxed);
    std::unique_lock lk(mu_);
    if (gen == generation_.load(std::memory_order_relaxed)) {
        if (cache_.size() >= kCacheMax) {
            // Sweep half the cache; which half does not matter for correctness.
            std::size_t drop = cache_.size() / 2;
            for (auto it = cache_.begin(); it != cache_.end() && drop > 0; --drop)
                it = cache_.erase(it);
        }
        cache_.emplace(std::string(subject), result);
    }
    return result;
}

std::size_t Sublist::count() const {
    std::shared_lock lk(mu_);
    return count_;
}

SublistStats Sublist::stats() const {
    std::shared_lock lk(mu_);
    SublistStats s;
    s.subscriptions = count_;
    s.cache_entries = cache_.size();
    s.inserts = inserts_;
    s.removes = removes_;
    s.matches = matches_.load();
    s.cache_hits = cache_hits_.load();
    const std::uint64_t misses = s.matches - s.cache_hits;
    s.avg_fanout = misses ? double(fanout_sum_.load()) / double(misses) : 0.0;
    s.max_fanout = fanout_max_.load();
    return s;
}

std::vector<SubPtr> Sublist::all() const {
    std::shared_lock lk(mu_);
    std::vector<SubPtr> out;
    std::vector<const Level*> todo{root_.get()};
    auto take = [&](const Node* n) {
        out.insert(out.end(), n->plain.begin(), n->plain.end());
        for (auto& q : n->queues) out.insert(out.end(), q.second.begin(), q.second.end());
        if (n->next) todo.push_back(n->next.get());
    };
    while (!todo.empty()) {
        const Level* l = todo.back();
        todo.pop_back();
        for (auto& [k, n] : l->literal) take(n.get());
        if (l->pwc) take(l->pwc.get());
        if (l->fwc) take(l->fwc.get());
    }
    return out;
}

}  // namespace osprey::subjects
