// The index shared by both stores: per sequence its subject, time, size and where the bytes
// are; per subject its count and first/last sequence; totals. Not thread-safe (the owning
// store locks).
//
// Two tiers. The hot tier is an in-memory array of entries for the newest sequences. A file
// store seals the older ones into a cold tier (`seal()`): their entries then live on disk
// (read through `ColdEntries`, the store's index files) and memory keeps one bit per sealed
// sequence (dead or not), so memory does not grow with the number of stored messages.
// Per-subject state and totals stay in memory for both tiers. A memory store never seals.
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "jetstream/store/store.h"

namespace osprey::jetstream {

struct IndexEntry {
    std::int64_t ts = 0;
    std::uint64_t loc = 0;        // store-specific location
    std::uint32_t subject_id = 0;
    std::uint32_t size : 31 = 0;  // accounted bytes; 0 marks a deleted entry (or a gap)
    std::uint32_t has_hdr : 1 = 0;
};
static_assert(sizeof(IndexEntry) == 24);

// Where sealed entries are read from (the file store's index files).
class ColdEntries {
public:
    virtual ~ColdEntries() = default;
    // The entry of `seq` as it was sealed (size 0: a gap or already deleted then); false if
    // it cannot be read.
    virtual bool read(std::uint64_t seq, IndexEntry& out) const = 0;
};

class MessageIndex {
public:
    using Entry = IndexEntry;

    MessageIndex() = default;
    MessageIndex(MessageIndex&&) = default;
    MessageIndex& operator=(MessageIndex&&) = default;
    MessageIndex(const MessageIndex&) = delete;  // ids_ views names_' strings

    void set_cold(const ColdEntries* cold) { cold_ = cold; }

    // Adds `seq` (> last). Gaps before it become deleted entries.
    void add(std::uint64_t seq, std::string_view subject, std::int64_t ts, std::uint32_t size,
             std::uint64_t loc, bool has_hdr = false);
    // Live sequences stored at or after `ts` that carry headers, newest first.
    std::vector<std::uint64_t> with_headers_since(std::int64_t ts) const;
    // Marks `seq` deleted; false if it was not live.
    bool remove(std::uint64_t seq);
    // Everything below `seq` is gone (a full purge): first becomes seq.
    void reset_first(std::uint64_t seq);

    std::optional<Entry> live(std::uint64_t seq) const;
    bool is_live(std::uint64_t seq) const;  // as live(), without reading a sealed entry
    void set_loc(std::uint64_t seq, std::uint64_t loc) {
        if (seq >= hot_base_ && seq < hot_base_ + entries_.size()) entries_[seq - hot_base_].loc = loc;
    }
    const std::string& subject_of(const Entry& e) const { return names_[e.subject_id]; }
    std::optional<std::uint32_t> subject_id(std::string_view subject) const {
        auto it = ids_.find(subject);
        if (it == ids_.end()) return std::nullopt;
        return it->second;
    }

    // Moves the hot entries below `upto` (all by default) to the cold tier: returns them
    // (sequence `hot_base()` first) for the store to write; memory keeps two bits per
    // sequence. The store must be able to read them back through ColdEntries at once.
    std::vector<Entry> seal(std::uint64_t upto = UINT64_MAX);
    std::uint64_t hot_base() const { return hot_base_; }
    std::size_t hot_entries() const { return entries_.size(); }

    // The whole index when nothing is hot (a store's summary at shutdown), and back.
    void encode(std::string& out) const;
    bool decode(std::string_view in);

    std::uint64_t next_match(std::string_view filter, std::uint64_t start) const;  // 0: none
    std::uint64_t last_match(std::string_view filter) const;                        // 0: none
    std::vector<std::uint64_t> matching(std::string_view filter, std::uint64_t below) const;
    // Live messages matching `filter` with a sequence greater than `seq` (a scan).
    std::uint64_t count_after(std::string_view filter, std::uint64_t seq) const;

    StoreState state() const;
    SubjectState subject_state(std::string_view subject) const;
    std::map<std::string, std::uint64_t> subject_totals(std::string_view filter) const;
    std::vector<std::uint64_t> deleted() const;
    std::uint64_t last_seq() const { return last_; }
    std::uint64_t first_seq() const { return first_; }
    std::uint64_t msgs() const { return msgs_; }
    std::uint64_t removals() const { return removals_; }

private:
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    std::uint32_t intern(std::string_view subject);
    void advance_first();
    bool cold_dead(std::uint64_t seq) const {
        const std::uint64_t i = seq - bits_base_;
        return (bits_[std::size_t(i >> 6)].dead >> (i & 63)) & 1;
    }
    void set_dead(std::uint64_t seq) {
        const std::uint64_t i = seq - bits_base_;
        bits_[std::size_t(i >> 6)].dead |= std::uint64_t(1) << (i & 63);
    }
    // The first sealed sequence at or after `seq` whose bit says live (hot_base_ if none).
    std::uint64_t next_cold_live(std::uint64_t seq) const;

    const ColdEntries* cold_ = nullptr;
    // Sequences [base_, hot_base_) are sealed (cold), [hot_base_, last_] are entries_.
    std::deque<Entry> entries_;
    std::uint64_t base_ = 1, hot_base_ = 1;
    // Two bits per sealed sequence from bits_base_ (a multiple of 64): not live, and has
    // headers (so rebuilding the deduplication window reads only messages that have them).
    struct Bits {
        std::uint64_t dead = 0, hdr = 0;
    };
    std::deque<Bits> bits_;
    std::uint64_t bits_base_ = 0;
    std::uint64_t first_ = 0, last_ = 0;  // first live (0: empty), last assigned
    std::uint64_t msgs_ = 0, bytes_ = 0;
    std::uint64_t removals_ = 0;  // live messages removed so far (any reason)
    std::int64_t last_ts_ = 0;
    // A deque: its strings never move, so the map's keys can be views of them (one copy of
    // each subject, not two).
    std::deque<std::string> names_;
    std::vector<SubjectState> subjects_;
    std::unordered_map<std::string_view, std::uint32_t, Hash> ids_;
    std::uint64_t live_subjects_ = 0;
};

}  // namespace osprey::jetstream
