// The Store interface: what a stream needs from its storage, memory or file.
//
// A store keeps messages by sequence, with per-subject counts, and knows nothing of streams,
// limits, retention or consumers (those live above it). Durability contract:
//   append()      the message is accepted and readable at once (at the next sequence, or at
//                 `at_seq` when a mirror keeps its origin's sequences: the gap reads as deleted);
//   when_durable  the callback runs once the message is as durable as the store's sync policy
//                 promises (FileStore default: on disk, fdatasync'd, shared by every message
//                 that arrived meanwhile; MemStore: at once).
// Thread-safe: every method may be called from any thread.
#pragma once
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace osprey::jetstream {

struct StoredMsg {
    std::string subject;
    std::string hdr;
    std::string data;
    std::uint64_t seq = 0;
    std::int64_t ts = 0;  // unix nanoseconds
};

struct StoreState {
    std::uint64_t msgs = 0;
    std::uint64_t bytes = 0;
    std::uint64_t first_seq = 0;
    std::uint64_t last_seq = 0;
    std::int64_t first_ts = 0;
    std::int64_t last_ts = 0;
    std::uint64_t num_deleted = 0;  // interior gaps between first and last
    std::uint64_t num_subjects = 0;
};

struct SubjectState {
    std::uint64_t msgs = 0;
    std::uint64_t first = 0;
    std::uint64_t last = 0;
};

// What recovery found and did (reported in the log and /jsz).
struct RecoveryReport {
    std::uint64_t records = 0;
    std::uint64_t bad_records = 0;     // checksum or framing failures skipped
    std::uint64_t truncated_bytes = 0;  // torn tail cut off
    std::vector<std::string> notes;
};

class Store {
public:
    virtual ~Store() = default;

    virtual std::expected<std::uint64_t, std::string> append(std::string_view subject,
                                                             std::string_view hdr,
                                                             std::string_view data,
                                                             std::int64_t ts, std::uint64_t at_seq = 0) = 0;
    virtual void when_durable(std::uint64_t seq, std::function<void()> cb) = 0;
    // Called (on the store's thread, or inline for memory) with the highest durable sequence
    // after each batch: one call per batch instead of one callback per message.
    virtual void set_durable_listener(std::function<void(std::uint64_t)> fn) = 0;
    virtual std::uint64_t durable_seq() const = 0;

    virtual std::optional<StoredMsg> load(std::uint64_t seq) const = 0;
    // First live message with seq >= start whose subject matches `filter` (empty: any).
    virtual std::optional<StoredMsg> load_next(std::string_view filter,
                                               std::uint64_t start) const = 0;
    // Last live message whose subject matches `filter`.
    virtual std::optional<StoredMsg> load_last(std::string_view filter) const = 0;

    virtual bool remove(std::uint64_t seq) = 0;
    // Removes and overwrites the stored bytes (MSG.DELETE without no_erase).
    virtual bool erase(std::uint64_t seq) { return remove(seq); }
    // Removes live messages matching `filter` (empty: all) with seq < `below` (0: no bound),
    // keeping the newest `keep` of those. Returns how many were removed.
    virtual std::uint64_t purge(std::string_view filter, std::uint64_t below,
                                std::uint64_t keep) = 0;

    virtual StoreState state() const = 0;
    virtual SubjectState subject_state(std::string_view subject) const = 0;
    // Live message count per subject matching `filter` (empty: all).
    virtual std::map<std::string, std::uint64_t> subject_totals(std::string_view filter) const = 0;
    virtual std::vector<std::uint64_t> deleted() const = 0;
    virtual std::uint64_t count_after(std::string_view filter, std::uint64_t seq) const = 0;
    // Live sequences stored at or after `ts` that carry headers, newest first (rebuilding the
    // deduplication window without reading every message).
    virtual std::vector<std::uint64_t> with_headers_since(std::int64_t ts) const = 0;
    // How many live messages were removed so far, for any reason (a cheap "did anything go?"),
    // and whether `seq` is still stored.
    virtual std::uint64_t removals() const = 0;
    virtual bool contains(std::uint64_t seq) const = 0;
    // Sequence and timestamp of the oldest live message (0 if empty): for max_age.
    virtual std::pair<std::uint64_t, std::int64_t> oldest() const = 0;

    // Waits until everything appended so far is durable (purge, delete, shutdown).
    virtual void sync() = 0;
    // Stops background work; the store stays readable.
    virtual void stop() = 0;
    // Deletes the stored data (stream delete).
    virtual void destroy() = 0;
    virtual RecoveryReport recovery() const { return {}; }
};

// Size accounting as nats-server reports "bytes" (so stream info matches it).
inline std::uint64_t file_msg_size(std::size_t subj, std::size_t hdr, std::size_t data) {
    return 22 + subj + hdr + data + 8 + (hdr ? 4 : 0);
}
inline std::uint64_t mem_msg_size(std::size_t subj, std::size_t hdr, std::size_t data) {
    return subj + hdr + data + 16;
}

}  // namespace osprey::jetstream
