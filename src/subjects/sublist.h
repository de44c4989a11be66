// The subscription trie: insert/remove subscriptions (with '*' and '>' and queue groups) and
// match a literal subject to the subscriptions interested in it.
//
// Thread-safe: matches run concurrently under a shared lock; inserts and removes take it
// exclusively. Match results are cached per subject (bounded); a change invalidates only the
// cached subjects it affects. Results are immutable and shared, so a publisher holds a
// result (and the subscriptions in it) alive while it delivers, even if they go away meanwhile.
#pragma once
#include <atomic>
#include <functional>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace osprey::subjects {

// The trie knows a subscription by its subject and queue only; owners derive from it.
struct Subscription {
    std::string subject;
    std::string queue;  // empty: not in a queue group
    virtual ~Subscription() = default;
    // Whether this interest is announced to the other servers of a cluster (a route's own
    // subscriptions and internal forwarders are not).
    virtual bool propagates() const { return true; }
    // For the Sublist's observer, under the observer's own lock: the observer runs after the
    // trie lock is released, so a removal (an auto-unsubscribe on a publisher's thread) can be
    // observed before its insertion is; this records which of the two came first.
    enum class Observed : std::uint8_t { none, counted, removed_first };
    mutable Observed observed = Observed::none;
};
using SubPtr = std::shared_ptr<Subscription>;

struct MatchResult {
    std::vector<SubPtr> plain;
    std::vector<std::vector<SubPtr>> queues;  // one vector per queue name
    bool empty() const { return plain.empty() && queues.empty(); }
};
using MatchPtr = std::shared_ptr<const MatchResult>;

struct SublistStats {
    std::uint64_t subscriptions = 0;
    std::uint64_t cache_entries = 0;
    std::uint64_t inserts = 0;
    std::uint64_t removes = 0;
    std::uint64_t matches = 0;
    std::uint64_t cache_hits = 0;
    double avg_fanout = 0;
    std::uint64_t max_fanout = 0;
};

class Sublist {
public:
    static constexpr std::size_t kCacheMax = 1024;

    Sublist();
    ~Sublist();
    Sublist(const Sublist&) = delete;
    Sublist& operator=(const Sublist&) = delete;

    void insert(const SubPtr& sub);
    bool remove(const SubPtr& sub);
    // Told of every insert and remove, after it and outside the lock (the cluster's interest
    // propagation). Set before the sublist is shared between threads.
    using Observer = std::function<void(const SubPtr&, bool inserted)>;
    void set_observer(Observer o) { observer_ = std::move(o); }
    // Cached: a subject enters the cache the second time it misses it.
    MatchPtr match(std::string_view subject);
    // The same, without touching the cache: for one-shot subjects (reply inboxes) that would
    // only churn it.
    MatchPtr match_uncached(std::string_view subject) const;
    // Straight from the trie, not even looking in the cache: for a subject its caller has not
    // seen before (LocalMatchCache's first sighting).
    MatchPtr match_fresh(std::string_view subject) const;
    std::size_t count() const;
    // Changes with every insert and remove: a result taken at generation g is still exact
    // while generation() == g (see LocalMatchCache).
    std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
    SublistStats stats() const;
    // Every subscription (for monitoring); a snapshot.
    std::vector<SubPtr> all() const;

private:
    struct Node;
    struct Level;
    struct StringHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };

    bool insert_impl(const SubPtr& sub);
    bool remove_impl(const SubPtr& sub);
    Observer observer_;
    MatchPtr compute(std::string_view subject) const;
    void invalidate(std::string_view pattern);

    mutable std::shared_mutex mu_;
    std::unique_ptr<Level> root_;
    std::unordered_map<std::string, MatchPtr, StringHash, std::equal_to<>> cache_;
    // Hashes of subjects that missed the cache once (see match()); races only cost a miss.
    static constexpr std::size_t kSeenSlots = 1024;
    std::unique_ptr<std::atomic<std::size_t>[]> seen_{new std::atomic<std::size_t>[kSeenSlots]{}};
    std::atomic<std::uint64_t> generation_{0};
    std::size_t count_ = 0;
    std::uint64_t inserts_ = 0, removes_ = 0;
    mutable std::atomic<std::uint64_t> matches_{0}, cache_hits_{0};
    std::atomic<std::uint64_t> fanout_sum_{0}, fanout_max_{0};
};

}  // namespace osprey::subjects
