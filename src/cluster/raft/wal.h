// One write-ahead log per server, shared by all of its Raft groups, with group commit: one
// write and one fdatasync cover every group's updates queued while the previous batch synced.
//
// Files: segments `dir/wal-<16 hex digits>.log`. Each holds records
//     [u32 body length][u32 crc32c(body)][u32 crc32c(the 8 bytes before)][body]
// (little-endian). The header carries its own checksum so that a damaged length is recognised
// as damage instead of looking like a record torn at the end of the file. A body is a type
// byte, the group's name and a payload (codec.h's primitives). One record holds one group's
// whole update, so recovery sees each update entirely or not at all.
//
// A segment starts with a header record and a checkpoint: one record per live group with its
// complete state. So the newest segment alone is the WAL; older ones only survive a crash in
// the middle of a rotation and recovery removes them. A new segment is written under a
// temporary name, synced, renamed and its directory synced before anything else goes into it.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cluster/raft/node.h"
#include "cluster/raft/types.h"

namespace osprey::raft {

// What one group's Ready asks the host to persist. Applied in this order: snapshot, entries,
// hard state; so a group's recovered Stored is exactly what Node(cfg, Stored) needs. (The {}
// initializers let designated initializers skip fields without -Wmissing-field-initializers.)
struct WalGroupUpdate {
    std::string group{};  // the group's name (e.g. "S-ORDERS", "_meta_"); never empty
    std::optional<HardState> hard_state{};
    // install=false: a compaction, entries <= meta.index go and later ones stay (meta.index
    // must not be below the group's current snapshot). install=true: a snapshot received from
    // a leader, the whole log goes.
    std::optional<Snapshot> snapshot{};
    bool install = false;
    // Consecutive indexes; replace whatever the log holds from entries.front().index on, which
    // must be after the snapshot and at most one past the last entry (no gaps).
    std::vector<Entry> entries{};
    bool drop = false;  // the group is gone: forget all of it (nothing else may be set)
};

struct WalOptions {
    // Rotate once the active segment passes this (and twice its checkpoint, so that a large
    // live state is not rewritten after every batch).
    std::uint64_t segment_bytes = 64ull << 20;
    bool fsync = true;  // false: no fdatasync at all (tests, benchmarks): nothing is durable
};

struct WalRecovery {
    std::map<std::string, Stored> groups;
    std::vector<std::string> notes;  // what recovery found and did (cut tails, removed files)
    bool damaged = false;            // records after the damage (named in notes) were not read
};

class Wal {
public:
    // Creates `dir` if needed and recovers it into `recovered`. Fails (with `recovered` still
    // holding what was read before the damage) when the log is damaged: appending after damage
    // would make the new records unreachable too. The operator or the host decides what then.
    static std::expected<std::unique_ptr<Wal>, std::string> open(const std::string& dir,
                                                                 const WalOptions& opts,
                                                                 WalRecovery& recovered);

    // Queues updates; done(ok) runs once on the writer thread when they are durable. ok=false:
    // the updates were invalid (nothing of this call was applied), or the write or the
    // fdatasync failed; the host must then not send anything depending on them. After an I/O
    // failure every later write fails too (a failed fdatasync cannot be retried safely).
    // Calls are applied in queue order. done must not call flush() (it runs on the writer).
    void write(std::vector<WalGroupUpdate> updates, std::function<void(bool ok)> done);
    // Blocks until everything queued so far is durable and its done has run. False once the
    // WAL has failed.
    bool flush();
    ~Wal();  // flushes, joins the writer

    struct Stats {
        std::uint64_t batches = 0;  // writes of queued calls (each covers one or more calls)
        std::uint64_t syncs = 0;    // fdatasync and directory fsync calls, rotations included
        std::uint64_t bytes = 0;    // record bytes written, checkpoints included
        std::uint64_t rotations = 0;
        std::uint64_t rejected = 0;  // write() calls refused as invalid
    };
    Stats stats() const;

    Wal(const Wal&) = delete;
    Wal& operator=(const Wal&) = delete;

private:
    struct Pending {
        std::vector<WalGroupUpdate> updates;
        std::function<void(bool)> done;
    };
    Wal(std::string dir, const WalOptions& opts);
    void run();
    void process(std::deque<Pending>& batch);
    bool append(const std::string& buf);
    bool sync(int fd);
    bool sync_dir();
    void maybe_rotate();
    bool rotate();

    const std::string dir_;
    const WalOptions opts_;
    // Writer thread only: the live state of every group (what a checkpoint writes), the
    // active segment and where it ends.
    std::map<std::string, Stored> groups_;
    int fd_ = -1;
    std::uint64_t seq_ = 0, size_ = 0, checkpoint_bytes_ = 0, next_rotation_ = 0;
    bool failed_ = false;

    mutable std::mutex mu_;
    std::condition_variable wake_, idle_;
    std::deque<Pending> queue_;
    std::uint64_t queued_ = 0, completed_ = 0;
    bool stop_ = false, broken_ = false;  // broken_: failed_, as seen by other threads
    Stats stats_;
    std::thread writer_;
};

}  // namespace osprey::raft
