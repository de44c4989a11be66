// The in-memory index shared by both stores: per sequence its subject, time, size and where
// the bytes are; per subject its count and first/last sequence; totals. Not thread-safe (the
// owning store locks).
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "jetstream/store/store.h"

namespace osprey::jetstream {

class MessageIndex {
public:
    struct Entry {
        std::int64_t ts = 0;
        std::uint64_t loc = 0;        // store-specific location
        std::uint32_t subject_id = 0;
        std::uint32_t size : 31 = 0;  // accounted bytes; 0 marks a deleted entry
        std::uint32_t has_hdr : 1 = 0;
    };

    // Adds `seq` (> last). Gaps before it become deleted entries.
    void add(std::uint64_t seq, std::string_view subject, std::int64_t ts, std::uint32_t size,
             std::uint64_t loc, bool has_hdr = false);
    // Live sequences stored at or after `ts` that carry headers, newest first.
    std::vector<std::uint64_t> with_headers_since(std::int64_t ts) const;
    // Marks `seq` deleted; false if it was not live.
    bool remove(std::uint64_t seq);
    // Everything below `seq` is gone (a full purge): first becomes seq.
    void reset_first(std::uint64_t seq);

    const Entry* live(std::uint64_t seq) const;
    void set_loc(std::uint64_t seq, std::uint64_t loc) {
        if (seq >= base_ && seq < base_ + entries_.size()) entries_[seq - base_].loc = loc;
    }
    const std::string& subject_of(const Entry& e) const { return names_[e.subject_id]; }

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

private:
    struct SubjectInfo {
        SubjectState st;
    };
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    std::uint32_t intern(std::string_view subject);
    void advance_first();

    std::deque<Entry> entries_;  // entries_[i] is seq base_ + i
    std::uint64_t base_ = 1;
    std::uint64_t first_ = 0, last_ = 0;  // first live (0: empty), last assigned
    std::uint64_t msgs_ = 0, bytes_ = 0;
    std::uint64_t removals_ = 0;  // live messages removed so far (any reason)

public:
    std::uint64_t removals() const { return removals_; }

private:
    std::int64_t last_ts_ = 0;
    std::vector<std::string> names_;
    std::vector<SubjectInfo> subjects_;
    std::unordered_map<std::string, std::uint32_t, Hash, std::equal_to<>> ids_;
    std::uint64_t live_subjects_ = 0;
};

}  // namespace osprey::jetstream
