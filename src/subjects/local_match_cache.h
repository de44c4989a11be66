// A per-connection cache of match results in front of a shared Sublist, as nats-server keeps
// one per client: a publisher that repeats its subjects skips the Sublist's lock and shared
// cache entirely. Entries are valid while the Sublist's generation is unchanged.
//
// A subject is admitted on its second sighting: one-shot subjects (a reply to a request, an
// ack) cost no allocation, evict nothing, and are matched straight in the trie. The subject is
// hashed once per publish; the tables are allocated on first use (idle connections pay
// nothing).
// Not thread-safe: one per connection, used on its loop.
#pragma once
#include <array>
#include <memory>
#include <string>
#include <string_view>

#include "subjects/sublist.h"

namespace osprey::subjects {

class LocalMatchCache {
public:
    static constexpr std::size_t kSlots = 128;  // open addressing, at most half full (7 KB)
    static constexpr std::size_t kMaxEntries = kSlots / 2;
    static constexpr std::size_t kSeenSlots = 128;

    MatchPtr match(Sublist& sl, std::string_view subject) {
        const std::uint64_t gen = sl.generation();
        if (&sl != list_ || gen != gen_) {
            clear();
            list_ = &sl;
            gen_ = gen;
        }
        const std::size_t h = std::hash<std::string_view>{}(subject);
        if (t_) {
            for (std::size_t i = h % kSlots; t_->slots[i].result; i = (i + 1) % kSlots) {
                const Slot& s = t_->slots[i];
                if (s.hash == h && s.subject == subject) return s.result;
            }
        } else {
            t_ = std::make_unique<Tables>();
        }
        std::size_t& seen = t_->seen[h % kSeenSlots];
        if (seen != h) {
            seen = h;
            return sl.match_fresh(subject);
        }
        MatchPtr r = sl.match(subject);
        // The result may be newer than gen_ if the list changed meanwhile: only keep it when
        // nothing changed, so an entry never outlives the generation it was taken at.
        if (sl.generation() == gen_) {
            if (count_ >= kMaxEntries) clear();
            std::size_t i = h % kSlots;
            while (t_->slots[i].result) i = (i + 1) % kSlots;
            t_->slots[i].hash = h;
            t_->slots[i].subject.assign(subject);
            t_->slots[i].result = std::move(r);
            ++count_;
            return t_->slots[i].result;
        }
        return r;
    }

    // Drops every entry and the tables. A closing connection must call it: its cached results
    // can hold its own subscriptions, which hold the connection (a cycle that would leak it).
    void reset() {
        t_.reset();
        count_ = 0;
        list_ = nullptr;
    }

private:
    struct Slot {
        std::size_t hash = 0;
        std::string subject;
        MatchPtr result;  // empty: a free slot
    };
    struct Tables {
        std::array<Slot, kSlots> slots;
        std::array<std::size_t, kSeenSlots> seen{};  // hashes of subjects that missed once
    };
    void clear() {
        if (!t_ || count_ == 0) return;
        for (auto& s : t_->slots) s.result.reset();  // subjects keep their buffers for reuse
        count_ = 0;
    }

    const Sublist* list_ = nullptr;
    std::uint64_t gen_ = 0;
    std::size_t count_ = 0;
    std::unique_ptr<Tables> t_;
};

}  // namespace osprey::subjects
