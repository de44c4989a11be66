// A per-connection cache of match results in front of a shared Sublist, as nats-server keeps
// one per client: a publisher that repeats its subjects skips the Sublist's lock and shared
// cache entirely. Entries are valid while the Sublist's generation is unchanged.
// Not thread-safe: one per connection, used on its loop.
#pragma once
#include <array>
#include <string>
#include <string_view>
#include <unordered_map>

#include "subjects/sublist.h"

namespace osprey::subjects {

class LocalMatchCache {
public:
    static constexpr std::size_t kMaxEntries = 128;
    static constexpr std::size_t kSeenSlots = 256;

    MatchPtr match(Sublist& sl, std::string_view subject) {
        const std::uint64_t gen = sl.generation();
        if (&sl != list_ || gen != gen_) {
            entries_.clear();
            list_ = &sl;
            gen_ = gen;
        }
        auto it = entries_.find(subject);
        if (it != entries_.end()) return it->second;
        // Admission on the second sighting, as in the Sublist: a subject published once
        // (a reply to a request, an ack) costs no allocation and evicts nothing.
        const std::size_t h = Hash{}(subject);
        std::size_t& seen = seen_[h % kSeenSlots];
        if (seen != h) {
            seen = h;
            return sl.match_uncached(subject);
        }
        MatchPtr r = sl.match(subject);
        // The result may be newer than gen_ if the list changed meanwhile: only keep it when
        // nothing changed, so an entry never outlives the generation it was taken at.
        if (sl.generation() == gen_) {
            if (entries_.size() >= kMaxEntries) entries_.clear();
            entries_.emplace(std::string(subject), r);
        }
        return r;
    }

private:
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    const Sublist* list_ = nullptr;
    std::uint64_t gen_ = 0;
    std::unordered_map<std::string, MatchPtr, Hash, std::equal_to<>> entries_;
    std::array<std::size_t, kSeenSlots> seen_{};  // hashes of subjects that missed once
};

}  // namespace osprey::subjects
