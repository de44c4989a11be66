// File storage: an append-only log of checksummed records in segment files, an index whose
// sealed part lives in per-segment index files, and writer threads that group-commit.
//
// Durability contract (see store.h): with sync_interval 0 ("always", the default) a
// when_durable() callback runs only after fdatasync covered the message, and one fdatasync
// covers every record appended while the previous one ran. With sync_interval > 0 the
// callback runs once the record is written to the kernel, and fdatasync runs at least that
// often: a machine crash may lose that window, a process crash does not. In that mode the
// appending thread writes the record itself (one pwrite), so an acknowledgement needs no
// hand-off to a writer, which then only fdatasyncs. Writing and syncing run on the shared
// WriterPool (a few threads for every store), one batch at a time per store.
//
// Index tier (file_store_index.cpp): when a segment is full its index entries move to its
// index file (`.idx`, written by the writer) and memory keeps one bit per message; a clean
// shutdown seals the last segment too and writes `index.summary` (per-subject state, totals,
// the bits, the segments). A start that finds a summary matching the segments on disk reads
// it instead of the segments, deletes it before anything is appended, and appends to a new
// segment; without one (kill -9) it scans every segment: a record that fails its checksum or
// framing is skipped (the magic finds the next one), never served; a torn tail of the last
// segment is cut off. An index file whose header does not match its segment, or a block that
// fails its checksum, is rebuilt from the segment. Whole segments at the front are deleted
// once nothing in them is live.
#pragma once
#include <array>
#include <condition_variable>
#include <memory>
#include <unordered_map>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "jetstream/store/indexed_store.h"
#include "jetstream/store/segment_index.h"
#include "jetstream/store/writer_pool.h"

namespace osprey::jetstream {

struct FileStoreConfig {
    std::string dir;                 // the stream's directory; messages live in dir/msgs
    std::int64_t sync_interval_ms = 0;  // 0: fdatasync before every acknowledgement batch
    std::size_t segment_bytes = 8 * 1024 * 1024;
    // Runs on the writer thread after each batch of when_durable callbacks (the server uses it
    // to flush every connection the callbacks wrote to, once).
    std::function<void()> after_callbacks;
};

class FileStore final : public IndexedStore, private WriterPool::Task, private ColdEntries {
public:
    // Opens (and recovers) the store; throws std::runtime_error if the directory is unusable.
    explicit FileStore(FileStoreConfig cfg);
    ~FileStore() override;

    std::expected<std::uint64_t, std::string> append(std::string_view subject,
                                                     std::string_view hdr, std::string_view data,
                                                     std::int64_t ts, std::uint64_t at_seq = 0) override;
    // `copies` identical records (no headers, ts 0) appended together, so that one writer batch
    // and one fdatasync take them all; the last one's sequence (the earlier ones precede it).
    std::expected<std::uint64_t, std::string> append_copies(std::string_view subject, std::string_view data,
                                                            int copies);
    void when_durable(std::uint64_t seq, std::function<void()> cb) override;
    void set_durable_listener(std::function<void(std::uint64_t)> fn) override;
    std::uint64_t durable_seq() const override {
        std::lock_guard lk(mu_);
        return durable_seq_;
    }
    std::optional<StoredMsg> load(std::uint64_t seq) const override;
    std::optional<StoredMsg> load_next(std::string_view filter,
                                       std::uint64_t start) const override;
    std::optional<StoredMsg> load_last(std::string_view filter) const override;
    bool remove(std::uint64_t seq) override;
    bool erase(std::uint64_t seq) override;
    std::uint64_t purge(std::string_view filter, std::uint64_t below,
                        std::uint64_t keep) override;
    void sync() override;
    void stop() override;
    void destroy() override;
    RecoveryReport recovery() const override { return report_; }
    std::uint64_t compactions() const {
        std::lock_guard lk(mu_);
        return compacted_segments_;
    }
    // Entries still held in memory (the unsealed ones), and whether the last start read the
    // summary instead of the segments: for tests and /jsz.
    std::size_t hot_entries() const {
        std::lock_guard lk(mu_);
        return index_.hot_entries();
    }
    bool started_from_summary() const { return from_summary_; }

private:
    struct Segment {
        int fd = -1;
        std::uint64_t size = 0;   // bytes appended (written or pending)
        std::uint64_t live = 0;   // live messages stored in it
        std::uint64_t msgs = 0;   // message records in it, live or not
        std::uint64_t first_seq = 0;  // of its first message record (0: none yet)
        bool synced_dir = false;  // its directory entry is durable
        // Sealed: its index file covers sequences [idx_first, idx_first + idx_count).
        std::uint64_t idx_first = 0, idx_count = 0;
        int idx_fd = -1;
    };
    // A sealed segment's entries until the writer has written its index file.
    struct IdxJob {
        segment_index::Header header;
        std::shared_ptr<const std::vector<IndexEntry>> all;  // one seal's entries, shared
        std::size_t off = 0;                                  // this segment's first in `all`
        const IndexEntry& at(std::uint64_t i) const { return (*all)[off + std::size_t(i)]; }
    };
    static constexpr std::uint64_t kOffsetBits = 40;
    static constexpr std::uint64_t kOffsetMask = (std::uint64_t(1) << kOffsetBits) - 1;
    static std::uint64_t make_loc(std::uint32_t seg, std::uint64_t off) {
        return (std::uint64_t(seg) << kOffsetBits) | off;
    }
    static std::uint32_t seg_of(std::uint64_t loc) { return std::uint32_t(loc >> kOffsetBits); }
    struct Chunk {
        std::uint32_t seg;
        std::uint64_t offset;
        std::string bytes;
    };

    void recover();
    void recover_segment(std::uint32_t id, bool last);
    // One batch on a pool thread: write what is queued, fdatasync (or not yet, lazily), call
    // back; asks for another run when more came meanwhile.
    void run_batch() override;
    void wake_locked();      // a batch is needed
    void arm_sync_locked();  // lazy data needs its fdatasync at the next interval
    std::uint32_t open_segment(std::uint32_t id, bool create);
    // Queues `rec` for the writer, or in lazy mode writes it at once; true when written.
    bool append_record_locked(std::string_view rec);
    std::expected<std::uint64_t, std::string> append_locked(std::string_view subject, std::string_view hdr,
                                                            std::string_view data, std::int64_t ts,
                                                            std::uint64_t at_seq);
    std::optional<StoredMsg> load_locked(std::uint64_t seq) const;
    bool read_locked(std::uint64_t loc, std::string& out) const;
    bool remove_locked(std::uint64_t seq);
    std::uint64_t drop_below_locked(std::uint64_t below);  // in memory: the effect of a purge marker
    void drop_dead_front_segments_locked();
    // Rewrites segments that are mostly deleted messages, keeping live records and tombstones.
    void compact_locked();
    bool compact_segment_locked(std::uint32_t id);
    std::string seg_path(std::uint32_t id) const;

    // ---- index tier (file_store_index.cpp) ----
    bool read(std::uint64_t seq, IndexEntry& out) const override;  // ColdEntries
    // The hot entries below `upto` (all by default) to the cold tier; each segment's index
    // file is queued for the writer.
    void seal_locked(std::uint64_t upto = UINT64_MAX);
    void roll_locked();  // seal, then a new segment for appends
    // Writes the index file of segment `id` (tmp, fdatasync, rename); false on I/O failure.
    bool write_idx(std::uint32_t id, const IdxJob& job, int& fd_out) const;
    void install_idx_locked(std::uint32_t id, int fd);
    void store_idx_locked(std::uint32_t id, IdxJob job);  // written now, else kept in memory
    void write_queued_idx();          // on the writer thread, outside the lock
    bool rebuild_idx_locked(std::uint32_t id);  // from the segment's records
    bool idx_matches_locked(std::uint32_t id);  // its file exists and its header fits
    void forget_idx_locked(std::uint32_t id);   // the segment goes (dropped)
    void evict_blocks_locked(std::uint32_t id) const;
    std::string idx_path(std::uint32_t id) const;
    std::string summary_path() const { return msgs_dir_ + "/index.summary"; }
    bool load_summary(const std::vector<std::uint32_t>& ids);
    void write_summary_locked();
    void finish_index_locked();  // at stop: seal all, write every index file and the summary

    std::map<std::uint64_t, std::uint32_t> cold_ranges_;  // idx_first -> segment
    std::map<std::uint32_t, std::shared_ptr<const IdxJob>> idx_jobs_;
    struct Block {
        std::array<IndexEntry, segment_index::kPerBlock> e;
    };
    mutable std::unordered_map<std::uint64_t, Block> blocks_;  // (segment << 32 | block)
    mutable std::deque<std::uint64_t> block_order_;            // oldest first, for eviction
    bool from_summary_ = false;

    FileStoreConfig cfg_;
    std::string msgs_dir_;
    int dir_fd_ = -1;
    std::vector<std::string> parents_to_sync_;  // directories whose new entries need an fsync
    RecoveryReport report_;

    std::condition_variable done_cv_;  // wakes sync() waiters
    std::map<std::uint32_t, Segment> segments_;
    std::uint32_t cur_ = 0;
    std::deque<Chunk> pending_, inflight_;
    std::set<std::uint32_t> written_unsynced_;  // segments written inline, not fdatasync'd yet
    // Descriptors of dropped or replaced segments: the writer closes them between batches, so
    // a descriptor it writes or syncs outside the lock is never closed (or reused) under it.
    std::vector<int> retired_fds_;
    void retire_fd_locked(int fd);
    std::uint64_t appended_seq_ = 0, durable_seq_ = 0;
    std::uint64_t write_gen_ = 0, done_gen_ = 0;  // sync(): batches handed out / finished
    std::multimap<std::uint64_t, std::function<void()>> waiters_;
    std::function<void(std::uint64_t)> listener_;
    std::string spare_;  // a drained chunk buffer, reused so appends do not reallocate
    std::uint64_t compacted_segments_ = 0;
    // The last window read from a segment: consumers read sequentially, so one pread serves
    // many messages. Cleared whenever bytes on disk change under it (erase, compaction).
    mutable std::string rcache_;
    mutable std::uint32_t rcache_seg_ = 0;
    mutable std::uint64_t rcache_off_ = 0;
    std::string scratch_;
    bool stop_ = false;
    // A write that failed is retried and appends are refused meanwhile; a failed fdatasync
    // ends acknowledgements for good (the data it covered may be gone from the page cache).
    bool write_failing_ = false;
    std::string failed_;
    // Between batches (pool threads run them one at a time per store).
    std::chrono::steady_clock::time_point last_sync_{};
    bool dirty_ = false;  // written but not fdatasync'd (lazy mode)
    std::vector<int> dirty_fds_;
    bool sync_armed_ = false;  // a timed run for the lazy sync is asked for
    bool detached_ = false;    // stopped: no more runs
};

}  // namespace osprey::jetstream
