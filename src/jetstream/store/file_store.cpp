#include "jetstream/store/file_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>

#include "jetstream/store/file_io.h"
#include "jetstream/store/record.h"
#include "jetstream/store/writer_pool.h"
#include "util/log.h"

namespace osprey::jetstream {

namespace fs = std::filesystem;

using file_io::read_at;
using file_io::write_all;

namespace {
std::string read_all(int fd, std::uint64_t size) { return read_at(fd, size, 0); }
}  // namespace

FileStore::FileStore(FileStoreConfig cfg) : cfg_(std::move(cfg)) {
    msgs_dir_ = cfg_.dir + "/msgs";
    std::error_code ec;
    // The directories this creates: each one's entry in its parent must be durable before the
    // first acknowledgement (a power cut could otherwise lose a whole new stream or ack log).
    for (fs::path p = msgs_dir_; !p.empty() && p != p.parent_path() && !fs::exists(p, ec); p = p.parent_path())
        parents_to_sync_.push_back(p.parent_path().string());
    fs::create_directories(msgs_dir_, ec);
    if (ec) throw std::runtime_error("cannot create " + msgs_dir_ + ": " + ec.message());
    dir_fd_ = ::open(msgs_dir_.c_str(), O_RDONLY | O_DIRECTORY);
    if (dir_fd_ < 0) throw std::runtime_error("cannot open " + msgs_dir_);
    index_.set_cold(this);
    recover();
    last_sync_ = std::chrono::steady_clock::now();
}

FileStore::~FileStore() {
    stop();
    for (auto& [id, s] : segments_) {
        if (s.fd >= 0) ::close(s.fd);
        if (s.idx_fd >= 0) ::close(s.idx_fd);
    }
    for (int fd : retired_fds_) ::close(fd);
    if (dir_fd_ >= 0) ::close(dir_fd_);
}

std::string FileStore::seg_path(std::uint32_t id) const {
    return fmt::format("{}/{:010}.seg", msgs_dir_, id);
}

std::uint32_t FileStore::open_segment(std::uint32_t id, bool create) {
    int fd = ::open(seg_path(id).c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
    if (fd < 0) throw std::runtime_error("cannot open segment " + seg_path(id) + ": " +
                                         std::strerror(errno));
    Segment& s = segments_[id];
    s.fd = fd;
    s.synced_dir = !create;
    struct stat st;
    if (::fstat(fd, &st) == 0) s.size = std::uint64_t(st.st_size);
    return id;
}

// ---- recovery ----

void FileStore::recover() {
    std::vector<std::uint32_t> ids;
    for (const auto& e : fs::directory_iterator(msgs_dir_)) {
        const auto name = e.path().filename().string();
        if (name.ends_with(".tmp") || name.ends_with(".compact")) {
            // Left by a write that was killed before its rename: never part of the store.
            ::unlink(e.path().c_str());
            continue;
        }
        if (name.size() == 14 && name.ends_with(".seg")) {
            try {
                ids.push_back(std::uint32_t(std::stoul(name.substr(0, 10))));
            } catch (...) {
            }
        }
    }
    std::sort(ids.begin(), ids.end());
    for (std::uint32_t id : ids) open_segment(id, false);
    from_summary_ = !ids.empty() && load_summary(ids);
    if (!from_summary_) {
        for (std::size_t i = 0; i < ids.size(); ++i) recover_segment(ids[i], i + 1 == ids.size());
        // Every index file is written again (subject ids are this run's), but for the last
        // segment's: it stays hot and takes the appends.
        const std::uint64_t last_first = ids.empty() ? 0 : segments_[ids.back()].first_seq;
        seal_locked(last_first ? last_first : UINT64_MAX);
    }
    // The summary describes the store as it was at the last clean stop: gone before anything
    // changes, so a later start without a clean stop scans the segments.
    if (::unlink(summary_path().c_str()) == 0) ::fsync(dir_fd_);
    // Appends go to the last segment unless it is sealed (after a summary), then to a new one.
    if (!ids.empty() && !segments_[ids.back()].idx_count) {
        cur_ = ids.back();
    } else {
        cur_ = ids.empty() ? 1 : ids.back() + 1;
        open_segment(cur_, true);
    }
    appended_seq_ = durable_seq_ = index_.last_seq();
    for (const auto& n : report_.notes) log::warn("JetStream store {}: {}", cfg_.dir, n);
}

void FileStore::recover_segment(std::uint32_t id, bool last) {
    Segment& seg = segments_[id];
    std::string buf = read_all(seg.fd, seg.size);
    std::string_view all(buf);
    std::size_t pos = 0;
    while (pos < all.size()) {
        record::View v;
        auto r = record::decode(all.substr(pos), v);
        if (r == record::Decode::Ok) {
            ++report_.records;
            if (v.type == record::Type::Message) {
                if (v.seq > index_.last_seq()) {
                    index_.add(v.seq, v.subject, v.ts,
                               std::uint32_t(file_msg_size(v.subject.size(), v.hdr.size(),
                                                           v.data.size())),
                               make_loc(id, pos), !v.hdr.empty());
                    ++seg.live;
                    ++seg.msgs;
                    if (!seg.first_seq) seg.first_seq = v.seq;
                }
            } else if (v.type == record::Type::Delete) {
                if (const auto e = index_.live(v.seq)) {
                    auto sid = seg_of(e->loc);
                    if (index_.remove(v.seq) && segments_.count(sid)) --segments_[sid].live;
                }
            } else {
                // A purge marker: everything below its sequence is gone (a full purge, or a
                // bounded one that keeps what comes after).
                drop_below_locked(v.seq);
            }
            pos += v.length;
            continue;
        }
        // A damaged or torn record: find the next record that checks out.
        std::size_t next = std::string::npos;
        for (std::size_t p = pos + 1; p + 8 <= all.size(); ++p) {
            if (std::uint8_t(all[p]) != 0x4f) continue;  // first byte of the magic
            record::View probe;
            if (record::decode(all.substr(p), probe) == record::Decode::Ok) {
                next = p;
                break;
            }
        }
        if (next == std::string::npos) {
            if (last) {
                const std::uint64_t cut = all.size() - pos;
                report_.truncated_bytes += cut;
                report_.notes.push_back(fmt::format(
                    "segment {}: cut {} bytes of torn or damaged tail at offset {}", id, cut, pos));
                if (::ftruncate(seg.fd, off_t(pos)) == 0) ::fdatasync(seg.fd);
                seg.size = pos;
            } else {
                ++report_.bad_records;
                report_.notes.push_back(fmt::format(
                    "segment {}: {} damaged bytes at offset {} skipped", id, all.size() - pos, pos));
            }
            break;
        }
        ++report_.bad_records;
        report_.notes.push_back(fmt::format(
            "segment {}: damaged record at offset {} skipped ({} bytes)", id, pos, next - pos));
        pos = next;
    }
}

// ---- writing ----

bool FileStore::append_record_locked(std::string_view rec) {
    Segment* s = &segments_[cur_];
    if (s->size > 0 && s->size + rec.size() > cfg_.segment_bytes) {
        roll_locked();
        s = &segments_[cur_];
    }
    const std::uint64_t off = s->size;
    // Lazy sync: write it here (nothing queued before it, so order holds); the writer thread
    // only fdatasyncs. A failed write falls back to the queue, which retries and reports.
    if (cfg_.sync_interval_ms > 0 && pending_.empty() && inflight_.empty() &&
        write_all(s->fd, rec.data(), rec.size(), off)) {
        s->size += rec.size();
        written_unsynced_.insert(cur_);
        arm_sync_locked();
        return true;
    }
    if (!pending_.empty() && pending_.back().seg == cur_ &&
        pending_.back().offset + pending_.back().bytes.size() == off) {
        pending_.back().bytes.append(rec);
    } else {
        spare_.clear();
        spare_.append(rec);
        pending_.push_back(Chunk{cur_, off, std::move(spare_)});
        spare_ = std::string();
    }
    s->size += rec.size();
    wake_locked();
    return false;
}

std::expected<std::uint64_t, std::string> FileStore::append(std::string_view subject,
                                                            std::string_view hdr,
                                                            std::string_view data,
                                                            std::int64_t ts, std::uint64_t at_seq) {
    std::lock_guard lk(mu_);
    return append_locked(subject, hdr, data, ts, at_seq);
}

std::expected<std::uint64_t, std::string> FileStore::append_copies(std::string_view subject, std::string_view data,
                                                                   int copies) {
    // Under one hold of the lock: the writer takes them in one batch, one fdatasync.
    std::lock_guard lk(mu_);
    std::expected<std::uint64_t, std::string> seq = std::unexpected(std::string("no copies"));
    std::vector<std::uint64_t> done;
    for (int i = 0; i < copies; ++i) {
        if (!(seq = append_locked(subject, {}, data, 0, 0))) {
            for (std::uint64_t d : done) remove_locked(d);  // all or none
            break;
        }
        done.push_back(*seq);
    }
    return seq;
}

std::expected<std::uint64_t, std::string> FileStore::append_locked(std::string_view subject, std::string_view hdr,
                                                                   std::string_view data, std::int64_t ts,
                                                                   std::uint64_t at_seq) {
    if (stop_) return std::unexpected(std::string("store is closed"));
    if (!failed_.empty()) return std::unexpected("store failed: " + failed_);
    if (write_failing_) return std::unexpected(std::string("store write failed, retrying"));
    const std::uint64_t seq = std::max(index_.last_seq() + 1, at_seq);
    scratch_.clear();
    record::append(scratch_, record::Type::Message, seq, ts, subject, hdr, data);
    if (scratch_.size() > record::kMaxRecord) return std::unexpected(std::string("message too large"));
    // Roll first so the location points into the segment that will hold the record.
    if (segments_[cur_].size > 0 && segments_[cur_].size + scratch_.size() > cfg_.segment_bytes)
        roll_locked();
    index_.add(seq, subject, ts,
               std::uint32_t(file_msg_size(subject.size(), hdr.size(), data.size())),
               make_loc(cur_, segments_[cur_].size), !hdr.empty());
    ++segments_[cur_].live;
    ++segments_[cur_].msgs;
    if (!segments_[cur_].first_seq) segments_[cur_].first_seq = seq;
    const bool written = append_record_locked(scratch_);
    appended_seq_ = seq;
    // Written with nothing queued before it: as durable as lazy mode promises.
    if (written) durable_seq_ = seq;
    return seq;
}

void FileStore::when_durable(std::uint64_t seq, std::function<void()> cb) {
    {
        std::lock_guard lk(mu_);
        if (seq > durable_seq_) {
            waiters_.emplace(seq, std::move(cb));
            return;
        }
    }
    cb();
}

void FileStore::set_durable_listener(std::function<void(std::uint64_t)> fn) {
    std::lock_guard lk(mu_);
    listener_ = std::move(fn);
}

void FileStore::retire_fd_locked(int fd) {
    retired_fds_.push_back(fd);
    wake_locked();
}

void FileStore::wake_locked() {
    if (!detached_) WriterPool::shared().schedule(this);
}

void FileStore::arm_sync_locked() {
    if (detached_ || sync_armed_ || cfg_.sync_interval_ms <= 0) return;
    sync_armed_ = true;
    WriterPool::shared().schedule_at(this, last_sync_ + std::chrono::milliseconds(cfg_.sync_interval_ms));
}

void FileStore::run_batch() {
    std::unique_lock lk(mu_);
    auto& last_sync = last_sync_;
    auto& dirty = dirty_;
    auto& dirty_fds = dirty_fds_;
    sync_armed_ = false;
    {
        const bool lazy = cfg_.sync_interval_ms > 0;
        // Nothing of ours uses these any more: their data is dead (or rewritten and synced).
        for (int fd : retired_fds_) {
            std::erase(dirty_fds, fd);
            ::close(fd);
        }
        retired_fds_.clear();
        const std::uint64_t gen = write_gen_;
        const bool sync_due = lazy && (dirty || !written_unsynced_.empty()) &&
                              std::chrono::steady_clock::now() - last_sync >= std::chrono::milliseconds(cfg_.sync_interval_ms);
        if (pending_.empty() && written_unsynced_.empty() && !dirty && gen == done_gen_) {
            // Only housekeeping was asked for (a retired descriptor, an index file): done.
            if (!idx_jobs_.empty()) {
                lk.unlock();
                write_queued_idx();
                lk.lock();
            }
            done_cv_.notify_all();
            return;
        }
        if (pending_.empty() && gen == done_gen_ && !sync_due && !stop_) {
            // Lazy data waits for its sync time.
            arm_sync_locked();
            return;
        }
        inflight_.swap(pending_);
        const std::uint64_t target = appended_seq_;
        std::vector<std::pair<int, bool>> fds;  // fd, new file
        std::vector<std::uint32_t> touched;     // segments written by this batch or inline
        for (auto& c : inflight_) touched.push_back(c.seg);
        touched.insert(touched.end(), written_unsynced_.begin(), written_unsynced_.end());
        written_unsynced_.clear();
        for (std::uint32_t id : touched) {
            auto it = segments_.find(id);
            if (it == segments_.end() || it->second.fd < 0) continue;
            const Segment& s = it->second;
            if (std::none_of(fds.begin(), fds.end(), [&](auto& f) { return f.first == s.fd; }))
                fds.emplace_back(s.fd, !s.synced_dir);
        }
        std::vector<std::string> parents;
        if (std::any_of(fds.begin(), fds.end(), [](auto& f) { return f.second; })) parents.swap(parents_to_sync_);
        lk.unlock();
        for (const auto& d : parents) file_io::sync_dir(d);

        bool ok = true, written = true;
        for (auto& c : inflight_) {
            int fd = -1;
            {
                std::lock_guard g(mu_);
                fd = segments_[c.seg].fd;
            }
            written = written && write_all(fd, c.bytes.data(), c.bytes.size(), c.offset);
        }
        ok = written;
        for (auto& [fd, fresh] : fds) {
            if (std::find(dirty_fds.begin(), dirty_fds.end(), fd) == dirty_fds.end())
                dirty_fds.push_back(fd);
            if (fresh) ::fsync(dir_fd_);
        }
        const auto now = std::chrono::steady_clock::now();
        const bool force = gen != done_gen_;
        if (!lazy || force || stop_ ||
            now - last_sync >= std::chrono::milliseconds(cfg_.sync_interval_ms)) {
            bool synced = true;
            for (int fd : dirty_fds) synced = (::fdatasync(fd) == 0) && synced;
            if (!synced) {
                // After a failed fdatasync the kernel may have dropped the dirty pages: a retry
                // could report success for data that is not on disk. Stop acknowledging.
                std::lock_guard g(mu_);
                failed_ = std::string("fdatasync failed: ") + std::strerror(errno);
            }
            ok = ok && synced;
            dirty_fds.clear();
            last_sync = now;
            dirty = false;
        } else {
            dirty = !dirty_fds.empty();
        }
        if (!written) log::error("JetStream store {}: write failed: {}", cfg_.dir, std::strerror(errno));

        lk.lock();
        for (std::uint32_t id : touched)
            if (auto it = segments_.find(id); it != segments_.end()) it->second.synced_dir = true;
        for (auto& c : inflight_) {
            // The read window may hold these bytes half written: drop it.
            if (c.seg == rcache_seg_ && c.offset < rcache_off_ + rcache_.size()) rcache_.clear();
        }
        if (!written && failed_.empty()) {
            // Nothing of this batch counts as durable: the chunks go back to the front of the
            // queue (writes are positional, so writing them again is harmless) and the writer
            // retries after a pause; meanwhile appends are refused, so memory stays bounded.
            for (auto it = inflight_.rbegin(); it != inflight_.rend(); ++it) pending_.push_front(std::move(*it));
            inflight_.clear();
            write_failing_ = true;
            done_cv_.notify_all();
            if (!detached_)
                WriterPool::shared().schedule_at(this, std::chrono::steady_clock::now() + std::chrono::milliseconds(100));
            return;
        }
        if (written) write_failing_ = false;
        if (!inflight_.empty() && inflight_.front().bytes.capacity() > spare_.capacity())
            spare_ = std::move(inflight_.front().bytes);
        inflight_.clear();
        std::vector<std::function<void()>> ready;
        if (ok) {
            durable_seq_ = std::max(durable_seq_, target);
            auto end = waiters_.upper_bound(durable_seq_);
            for (auto it = waiters_.begin(); it != end; ++it) ready.push_back(std::move(it->second));
            waiters_.erase(waiters_.begin(), end);
        }
        if (!dirty) done_gen_ = gen;
        // Everything appended so far is written: dead front segments may go now, and segments
        // that are mostly holes get rewritten.
        if (pending_.empty()) {
            drop_dead_front_segments_locked();
            compact_locked();
        }
        auto listener = ok && target ? listener_ : nullptr;
        const bool idx_due = !idx_jobs_.empty();
        lk.unlock();
        for (auto& cb : ready) cb();
        if (listener) listener(target);
        if ((!ready.empty() || listener) && cfg_.after_callbacks) cfg_.after_callbacks();
        // Index files of sealed segments, after the acknowledgements they must not delay.
        if (idx_due) write_queued_idx();
        lk.lock();
        done_cv_.notify_all();
        // More came meanwhile, or lazy data waits for its sync.
        if (!pending_.empty() || write_gen_ != done_gen_ || !retired_fds_.empty()) wake_locked();
        else if (lazy && (dirty || !written_unsynced_.empty())) arm_sync_locked();
    }
}

void FileStore::sync() {
    std::unique_lock lk(mu_);
    if (stop_) return;
    const std::uint64_t gen = ++write_gen_;
    wake_locked();
    done_cv_.wait(lk, [&] { return done_gen_ >= gen || stop_ || !failed_.empty(); });
}

void FileStore::stop() {
    {
        std::unique_lock lk(mu_);
        if (stop_) return;
        stop_ = true;
        // A last batch writes and syncs everything (bounded: a failing disk gives up).
        const std::uint64_t gen = ++write_gen_;
        wake_locked();
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        done_cv_.wait_until(lk, until, [&] { return (done_gen_ >= gen && pending_.empty()) || !failed_.empty(); });
        detached_ = true;  // no more runs are asked for
    }
    WriterPool::shared().cancel(this);
    std::lock_guard lk(mu_);
    finish_index_locked();
}

void FileStore::destroy() {
    stop();
    std::lock_guard lk(mu_);
    for (auto& [id, s] : segments_) {
        if (s.fd >= 0) ::close(s.fd);
        if (s.idx_fd >= 0) ::close(s.idx_fd);
        s.fd = s.idx_fd = -1;
    }
    segments_.clear();
    cold_ranges_.clear();
    idx_jobs_.clear();
    blocks_.clear();
    block_order_.clear();
    index_ = MessageIndex{};
    std::error_code ec;
    fs::remove_all(cfg_.dir, ec);
}

// ---- reading ----

bool FileStore::read_locked(std::uint64_t loc, std::string& out) const {
    const auto seg = seg_of(loc);
    const std::uint64_t off = loc & kOffsetMask;
    for (const auto* q : {&inflight_, &pending_}) {
        for (const auto& c : *q) {
            if (c.seg == seg && off >= c.offset && off < c.offset + c.bytes.size()) {
                out.assign(c.bytes, std::size_t(off - c.offset), std::string::npos);
                return true;
            }
        }
    }
    auto it = segments_.find(seg);
    if (it == segments_.end() || it->second.fd < 0) return false;
    auto from_cache = [&]() {
        if (rcache_seg_ != seg || off < rcache_off_ || off + 8 > rcache_off_ + rcache_.size())
            return false;
        const std::size_t at = std::size_t(off - rcache_off_);
        std::uint32_t len;
        std::memcpy(&len, rcache_.data() + at + 4, 4);
        if (len > record::kMaxRecord || at + len > rcache_.size()) return false;
        out.assign(rcache_, at, len);
        return true;
    };
    if (from_cache()) return true;
    constexpr std::size_t kWindow = 256 * 1024;
    rcache_.resize(kWindow);
    ssize_t n = ::pread(it->second.fd, rcache_.data(), rcache_.size(), off_t(off));
    rcache_.resize(n > 0 ? std::size_t(n) : 0);
    rcache_seg_ = seg;
    rcache_off_ = off;
    if (from_cache()) return true;
    // A record larger than the window.
    if (rcache_.size() < 8) return false;
    std::uint32_t len;
    std::memcpy(&len, rcache_.data() + 4, 4);
    if (len > record::kMaxRecord) return false;
    out.resize(len);
    n = ::pread(it->second.fd, out.data(), len, off_t(off));
    return n == ssize_t(len);
}

std::optional<StoredMsg> FileStore::load_locked(std::uint64_t seq) const {
    const auto e = index_.live(seq);
    if (!e) return std::nullopt;
    std::string buf;
    if (!read_locked(e->loc, buf)) return std::nullopt;
    record::View v;
    if (record::decode(buf, v) != record::Decode::Ok || v.seq != seq) {
        // Damaged after it was indexed (a flipped bit on disk): never serve it.
        log::error("JetStream store {}: record for sequence {} failed its checksum", cfg_.dir,
                   seq);
        return std::nullopt;
    }
    return StoredMsg{std::string(v.subject), std::string(v.hdr), std::string(v.data), seq, v.ts};
}

std::optional<StoredMsg> FileStore::load(std::uint64_t seq) const {
    std::lock_guard lk(mu_);
    return load_locked(seq);
}

std::optional<StoredMsg> FileStore::load_next(std::string_view filter, std::uint64_t start) const {
    std::lock_guard lk(mu_);
    for (std::uint64_t s = index_.next_match(filter, start); s;
         s = index_.next_match(filter, s + 1)) {
        if (auto m = load_locked(s)) return m;
    }
    return std::nullopt;
}

std::optional<StoredMsg> FileStore::load_last(std::string_view filter) const {
    std::lock_guard lk(mu_);
    std::uint64_t s = index_.last_match(filter);
    return s ? load_locked(s) : std::nullopt;
}

// ---- removal ----

bool FileStore::remove_locked(std::uint64_t seq) {
    const auto e = index_.live(seq);
    if (!e) return false;
    const auto seg = seg_of(e->loc);
    index_.remove(seq);
    if (auto it = segments_.find(seg); it != segments_.end() && it->second.live) --it->second.live;
    scratch_.clear();
    record::append(scratch_, record::Type::Delete, seq, 0, {}, {}, {});
    append_record_locked(scratch_);
    return true;
}

void FileStore::drop_dead_front_segments_locked() {
    while (segments_.size() > 1) {
        auto it = segments_.begin();
        if (it->first == cur_ || it->second.live > 0) break;
        const std::uint32_t id = it->first;
        auto busy = [&](const std::deque<Chunk>& q) {
            return std::any_of(q.begin(), q.end(), [&](const Chunk& c) { return c.seg == id; });
        };
        if (busy(pending_) || busy(inflight_)) break;
        if (it->second.fd >= 0) retire_fd_locked(it->second.fd);
        forget_idx_locked(id);
        ::unlink(seg_path(id).c_str());
        segments_.erase(it);
        if (rcache_seg_ == id) rcache_.clear();
    }
}

bool FileStore::erase(std::uint64_t seq) {
    std::unique_lock lk(mu_);
    const auto e = index_.live(seq);
    if (!e) return false;
    const std::uint64_t loc = e->loc;
    const auto seg = seg_of(loc);
    const std::uint64_t off = loc & kOffsetMask;
    auto in_flight = [&] {
        return std::any_of(inflight_.begin(), inflight_.end(), [&](const Chunk& c) {
            return c.seg == seg && off >= c.offset && off < c.offset + c.bytes.size();
        });
    };
    if (in_flight()) {  // being written right now: let it land first
        lk.unlock();
        sync();
        lk.lock();
        if (!index_.live(seq)) return false;
    }
    std::string rec;
    if (read_locked(loc, rec)) {
        record::View v;
        if (record::decode(rec, v) == record::Decode::Ok) {
            // Same length, no content: a tombstone padded with zeros, valid to recovery.
            std::string blank;
            record::append(blank, record::Type::Delete, seq, 0, {}, {},
                           std::string(v.length - record::kHeaderSize - record::kTrailerSize, '\0'));
            bool patched = false;
            for (auto& c : pending_) {
                if (c.seg == seg && off >= c.offset && off + blank.size() <= c.offset + c.bytes.size()) {
                    c.bytes.replace(std::size_t(off - c.offset), blank.size(), blank);
                    patched = true;
                }
            }
            if (!patched && segments_.count(seg))
                write_all(segments_[seg].fd, blank.data(), blank.size(), off);
            rcache_.clear();
        }
    }
    remove_locked(seq);
    drop_dead_front_segments_locked();
    return true;
}

void FileStore::compact_locked() {
    for (auto& [id, seg] : segments_) {
        if (id == cur_ || seg.msgs < 16 || seg.live * 2 >= seg.msgs) continue;
        if (compact_segment_locked(id)) return;  // one per batch: the writer stays responsive
    }
}

bool FileStore::compact_segment_locked(std::uint32_t id) {
    Segment& seg = segments_[id];
    std::string buf = read_all(seg.fd, seg.size);
    std::string out;
    std::vector<std::pair<std::uint64_t, IndexEntry>> moved;  // seq, its entry at the new offset
    // A tombstone is needed only while the record it deletes may still be on disk: not for
    // sequences older than the oldest segment's first message.
    std::uint64_t oldest_on_disk = UINT64_MAX;
    for (auto& [sid, sg] : segments_)
        if (sg.first_seq) oldest_on_disk = std::min(oldest_on_disk, sg.first_seq);
    std::uint64_t msgs = 0;
    std::string_view all(buf);
    for (std::size_t pos = 0; pos < all.size();) {
        record::View v;
        if (record::decode(all.substr(pos), v) != record::Decode::Ok) {
            // A damaged stretch: keep the bytes as they are rather than guess.
            out.append(all.substr(pos));
            break;
        }
        const std::string_view rec = all.substr(pos, v.length);
        if (v.type == record::Type::Message) {
            auto e = index_.live(v.seq);
            if (e && e->loc == make_loc(id, pos)) {
                e->loc = make_loc(id, out.size());
                moved.emplace_back(v.seq, *e);
                out.append(rec);
                ++msgs;
            }
        } else if (v.type != record::Type::Delete || v.seq >= oldest_on_disk) {
            out.append(rec);  // purge markers and needed tombstones stay
        }
        pos += v.length;
    }
    const std::string tmp = seg_path(id) + ".compact";
    int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return false;
    if (!write_all(fd, out.data(), out.size(), 0) || ::fdatasync(fd) != 0 ||
        ::rename(tmp.c_str(), seg_path(id).c_str()) != 0) {
        ::close(fd);
        ::unlink(tmp.c_str());
        return false;
    }
    ::fsync(dir_fd_);
    retire_fd_locked(seg.fd);
    seg.fd = fd;
    seg.size = out.size();
    seg.msgs = msgs;
    for (auto& [sq, e] : moved) index_.set_loc(sq, e.loc);
    if (seg.idx_count) {
        // Sealed: its index file describes the old offsets. Written again before anything
        // reads through it (the old one is still installed until then).
        auto all = std::make_shared<std::vector<IndexEntry>>(std::size_t(seg.idx_count));
        for (auto& [sq, e] : moved)
            if (sq >= seg.idx_first && sq < seg.idx_first + seg.idx_count) (*all)[sq - seg.idx_first] = e;
        store_idx_locked(id, IdxJob{{id, seg.size, seg.idx_first, seg.idx_count}, std::move(all), 0});
    }
    rcache_.clear();
    ++compacted_segments_;
    return true;
}

std::uint64_t FileStore::drop_below_locked(std::uint64_t below) {
    // Each live message below `below` leaves its segment's live count, so a segment that still
    // holds later messages is never taken for empty.
    std::uint64_t n = 0;
    std::uint64_t q = index_.first_seq();
    // Sealed segments wholly below it: their live count says how many go, nothing is read.
    for (auto& [id, sg] : segments_) {
        if (!sg.idx_count || sg.idx_first + sg.idx_count > below) continue;
        n += sg.live;
        sg.live = 0;
        q = std::max(q, sg.idx_first + sg.idx_count);
    }
    for (; q && q < below && q <= index_.last_seq(); ++q) {
        if (!index_.is_live(q)) continue;
        const auto e = index_.live(q);
        if (!e) continue;
        const auto sid = seg_of(e->loc);
        if (auto it = segments_.find(sid); it != segments_.end() && it->second.live) --it->second.live;
        ++n;
    }
    index_.reset_first(below);
    return n;
}

bool FileStore::remove(std::uint64_t seq) {
    std::lock_guard lk(mu_);
    if (!remove_locked(seq)) return false;
    drop_dead_front_segments_locked();
    return true;
}

std::uint64_t FileStore::purge(std::string_view filter, std::uint64_t below, std::uint64_t keep) {
    std::uint64_t n = 0;
    {
        std::lock_guard lk(mu_);
        if (filter.empty() && keep == 0 && below > 0 && below <= index_.last_seq()) {
            // Everything below `below`: one purge marker, decided under the lock (a caller
            // that compared with last_seq before could lose an append made meanwhile).
            const std::uint64_t first_before = index_.first_seq();
            n = drop_below_locked(below);
            // Nothing changed (interest retention asks after every ack): no record.
            if (n > 0 || index_.first_seq() != first_before) {
                scratch_.clear();
                record::append(scratch_, record::Type::Purge, below, 0, {}, {}, {});
                append_record_locked(scratch_);
            }
        } else if (filter.empty() && keep == 0) {
            const std::uint64_t next = index_.last_seq() + 1;
            n = drop_below_locked(next);
            scratch_.clear();
            record::append(scratch_, record::Type::Purge, next, 0, {}, {}, {});
            append_record_locked(scratch_);
        } else {
            auto seqs = index_.matching(filter, below);
            if (keep > 0) {
                // The newest `keep` of those (below `below`, when given: a replicated purge
                // keeps them as of its place in the log) stay.
                const std::uint64_t limit = seqs.size() > keep ? seqs[seqs.size() - keep] : 0;
                std::erase_if(seqs, [&](std::uint64_t s) { return limit == 0 || s >= limit; });
            }
            for (auto s : seqs) n += remove_locked(s) ? 1 : 0;
        }
    }
    // Dead front segments are dropped by the writer once this is written.
    return n;
}

// ---- state ----

}  // namespace osprey::jetstream
