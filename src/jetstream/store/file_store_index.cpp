// The file store's index tier: sealing entries into index files, reading them back, and the
// summary a clean stop leaves for a fast start (file_store.h has the picture).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include <cstring>

#include <fmt/format.h>

#include "jetstream/store/file_io.h"
#include "jetstream/store/file_store.h"
#include "jetstream/store/le_bytes.h"
#include "jetstream/store/record.h"
#include "util/log.h"

namespace osprey::jetstream {

using file_io::read_at;
using file_io::write_all;
using le_bytes::put64;
using segment_index::kBlock;
using segment_index::kPerBlock;

namespace {
constexpr std::size_t kMaxBlocks = 128;  // 512 KiB of index blocks cached per store
constexpr std::uint64_t kSummaryMagic = 0x31304d5553505350ull;  // "PSPSUM01"

}  // namespace

std::string FileStore::idx_path(std::uint32_t id) const {
    return fmt::format("{}/{:010}.idx", msgs_dir_, id);
}

// ---- reading sealed entries ----

bool FileStore::read(std::uint64_t seq, IndexEntry& out) const {
    auto it = cold_ranges_.upper_bound(seq);
    if (it == cold_ranges_.begin()) return false;
    const std::uint32_t id = std::prev(it)->second;
    auto sit = segments_.find(id);
    if (sit == segments_.end()) return false;
    const Segment& s = sit->second;
    if (seq < s.idx_first || seq >= s.idx_first + s.idx_count) return false;
    const std::uint64_t i = seq - s.idx_first;
    if (auto j = idx_jobs_.find(id); j != idx_jobs_.end()) {
        out = j->second->at(i);
        return true;
    }
    const std::uint64_t blk = i / kPerBlock;
    const std::uint64_t key = (std::uint64_t(id) << 32) | blk;
    auto b = blocks_.find(key);
    if (b == blocks_.end()) {
        Block fresh;
        auto load = [&](int fd) {
            if (fd < 0) return false;
            const std::string raw = read_at(fd, kBlock, kBlock * (1 + blk));
            return segment_index::decode_block(raw, id, blk, fresh.e.data());
        };
        if (!load(s.idx_fd)) {
            // A damaged or missing index file: the segment's records say the same again. The
            // store's lock is held; only this rare path changes state from a const reader.
            auto* self = const_cast<FileStore*>(this);
            if (!self->rebuild_idx_locked(id) || !load(segments_.at(id).idx_fd)) {
                log::error("JetStream store {}: index of segment {} unreadable at sequence {}",
                           cfg_.dir, id, seq);
                return false;
            }
        }
        while (blocks_.size() >= kMaxBlocks && !block_order_.empty()) {
            blocks_.erase(block_order_.front());
            block_order_.pop_front();
        }
        b = blocks_.emplace(key, fresh).first;
        block_order_.push_back(key);
    }
    out = b->second.e[i % kPerBlock];
    return true;
}

void FileStore::evict_blocks_locked(std::uint32_t id) const {
    std::erase_if(blocks_, [&](const auto& kv) { return (kv.first >> 32) == id; });
}

// ---- sealing ----

void FileStore::seal_locked(std::uint64_t upto) {
    const std::uint64_t b = index_.hot_base();
    auto all = std::make_shared<const std::vector<IndexEntry>>(index_.seal(upto));
    if (all->empty()) return;
    const std::uint64_t end = b + all->size();
    // The segments holding them, in order: each takes the sequences up to the next one's
    // first message, the first one from `b` (its own first messages may be gone already, and
    // a gap before them is read as deleted there).
    std::vector<std::uint32_t> ids;
    for (auto& [id, s] : segments_) {
        if (!s.first_seq || s.first_seq >= end || s.idx_count) continue;  // none, later, sealed
        if (s.first_seq <= b) ids.clear();  // an earlier one holds nothing from b on
        ids.push_back(id);
    }
    if (ids.empty()) ids.push_back(cur_);  // only gaps: they must read as deleted somewhere
    for (std::size_t k = 0; k < ids.size(); ++k) {
        Segment& s = segments_[ids[k]];
        const std::uint64_t from = k == 0 ? b : s.first_seq;
        const std::uint64_t to = k + 1 < ids.size() ? segments_[ids[k + 1]].first_seq : end;
        s.idx_first = from;
        s.idx_count = to - from;
        cold_ranges_[from] = ids[k];
        idx_jobs_[ids[k]] = std::make_shared<IdxJob>(
            IdxJob{{ids[k], s.size, from, s.idx_count}, all, std::size_t(from - b)});
    }
    wake_locked();
}

void FileStore::roll_locked() {
    seal_locked();
    open_segment(++cur_, true);
}

bool FileStore::write_idx(std::uint32_t id, const IdxJob& job, int& fd_out) const {
    const std::string bytes =
        segment_index::encode(job.header, job.all->data() + job.off, std::size_t(job.header.count));
    const std::string path = idx_path(id), tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return false;
    if (!write_all(fd, bytes.data(), bytes.size(), 0) || ::fdatasync(fd) != 0 ||
        ::rename(tmp.c_str(), path.c_str()) != 0) {
        ::close(fd);
        ::unlink(tmp.c_str());
        return false;
    }
    fd_out = fd;
    return true;
}

void FileStore::store_idx_locked(std::uint32_t id, IdxJob job) {
    int fd = -1;
    if (write_idx(id, job, fd)) install_idx_locked(id, fd);
    else idx_jobs_[id] = std::make_shared<IdxJob>(std::move(job));  // served from memory, retried
}

void FileStore::install_idx_locked(std::uint32_t id, int fd) {
    auto it = segments_.find(id);
    if (it == segments_.end()) {  // dropped meanwhile
        ::close(fd);
        ::unlink(idx_path(id).c_str());
        return;
    }
    if (it->second.idx_fd >= 0) retire_fd_locked(it->second.idx_fd);
    it->second.idx_fd = fd;
    idx_jobs_.erase(id);
    evict_blocks_locked(id);
}

void FileStore::write_queued_idx() {
    std::vector<std::pair<std::uint32_t, std::shared_ptr<const IdxJob>>> jobs;
    {
        std::lock_guard lk(mu_);
        jobs.assign(idx_jobs_.begin(), idx_jobs_.end());
    }
    for (auto& [id, job] : jobs) {
        int fd = -1;
        const bool ok = write_idx(id, *job, fd);
        std::lock_guard lk(mu_);
        if (!ok) {
            log::warn("JetStream store {}: index file of segment {} not written: {} (kept in memory)",
                      cfg_.dir, id, std::strerror(errno));
            continue;
        }
        auto it = idx_jobs_.find(id);
        if (it == idx_jobs_.end() || it->second != job) {
            // Replaced (compaction wrote a newer one) or the segment went.
            ::close(fd);
            if (!segments_.count(id)) ::unlink(idx_path(id).c_str());
            continue;
        }
        install_idx_locked(id, fd);
    }
}

bool FileStore::rebuild_idx_locked(std::uint32_t id) {
    auto sit = segments_.find(id);
    if (sit == segments_.end() || !sit->second.idx_count) return false;
    Segment& s = sit->second;
    auto all = std::make_shared<std::vector<IndexEntry>>(std::size_t(s.idx_count));
    const std::string buf = read_at(s.fd, s.size);
    std::string_view in(buf);
    for (std::size_t pos = 0; pos < in.size();) {
        record::View v;
        if (record::decode(in.substr(pos), v) != record::Decode::Ok) {
            ++pos;  // a damaged stretch: its messages were never indexed either
            continue;
        }
        if (v.type == record::Type::Message && v.seq >= s.idx_first &&
            v.seq < s.idx_first + s.idx_count) {
            if (auto sid = index_.subject_id(v.subject)) {
                IndexEntry& e = (*all)[v.seq - s.idx_first];
                e.ts = v.ts;
                e.loc = make_loc(id, pos);
                e.subject_id = *sid;
                e.size = std::uint32_t(file_msg_size(v.subject.size(), v.hdr.size(), v.data.size()));
                e.has_hdr = v.hdr.empty() ? 0 : 1;
            }
        }
        pos += v.length;
    }
    log::warn("JetStream store {}: index file of segment {} rebuilt from its records", cfg_.dir, id);
    store_idx_locked(id, IdxJob{{id, s.size, s.idx_first, s.idx_count}, std::move(all), 0});
    return true;
}

bool FileStore::idx_matches_locked(std::uint32_t id) {
    const Segment& s = segments_[id];
    int fd = ::open(idx_path(id).c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st;
    const auto h = segment_index::decode_header(read_at(fd, kBlock));
    const segment_index::Header want{id, s.size, s.idx_first, s.idx_count};
    if (::fstat(fd, &st) != 0 || std::uint64_t(st.st_size) != segment_index::file_size(s.idx_count) ||
        !h || !(*h == want)) {
        ::close(fd);
        return false;
    }
    install_idx_locked(id, fd);
    return true;
}

void FileStore::forget_idx_locked(std::uint32_t id) {
    auto it = segments_.find(id);
    if (it == segments_.end()) return;
    Segment& s = it->second;
    if (s.idx_fd >= 0) retire_fd_locked(s.idx_fd);
    s.idx_fd = -1;
    if (s.idx_count) {
        auto r = cold_ranges_.find(s.idx_first);
        if (r != cold_ranges_.end() && r->second == id) cold_ranges_.erase(r);
        ::unlink(idx_path(id).c_str());
    }
    idx_jobs_.erase(id);
    evict_blocks_locked(id);
}

// ---- the summary of a clean stop ----

void FileStore::finish_index_locked() {
    // Only a complete, synced log may be summarised; and a store that never filled a segment
    // is cheaper to scan at the next start than to summarise now (four syncs per store: a
    // server with thousands of small streams and consumers must stop at once).
    if (!failed_.empty() || write_failing_ || !pending_.empty() || !inflight_.empty()) return;
    if (cold_ranges_.empty() && idx_jobs_.empty()) return;
    seal_locked();
    auto jobs = idx_jobs_;
    for (auto& [id, job] : jobs) {
        int fd = -1;
        if (write_idx(id, *job, fd)) install_idx_locked(id, fd);
    }
    if (!idx_jobs_.empty()) return;
    ::fsync(dir_fd_);  // the index files' names
    write_summary_locked();
}

void FileStore::write_summary_locked() {
    std::string out;
    put64(out, kSummaryMagic);
    put64(out, segments_.size());
    for (auto& [id, s] : segments_)
        for (std::uint64_t v : {std::uint64_t(id), s.size, s.first_seq, s.live, s.msgs, s.idx_first, s.idx_count})
            put64(out, v);
    std::string idx;
    index_.encode(idx);
    put64(out, idx.size());
    out += idx;
    put64(out, XXH64(out.data(), out.size(), 0));
    const std::string tmp = summary_path() + ".tmp";
    int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    const bool ok = write_all(fd, out.data(), out.size(), 0) && ::fdatasync(fd) == 0;
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), summary_path().c_str()) != 0) {
        ::unlink(tmp.c_str());
        return;
    }
    ::fsync(dir_fd_);
}

bool FileStore::load_summary(const std::vector<std::uint32_t>& ids) {
    int fd = ::open(summary_path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st;
    std::string buf;
    if (::fstat(fd, &st) == 0) buf = read_at(fd, std::uint64_t(st.st_size));
    ::close(fd);
    auto refuse = [&](std::string_view why) {
        report_.notes.push_back(fmt::format("index summary not used ({}): every segment is read", why));
        return false;
    };
    if (buf.size() < 24) return refuse("too short");
    std::uint64_t sum;
    std::memcpy(&sum, buf.data() + buf.size() - 8, 8);
    if (sum != XXH64(buf.data(), buf.size() - 8, 0)) return refuse("checksum");
    le_bytes::Reader r{std::string_view(buf.data(), buf.size() - 8)};
    if (r.u64() != kSummaryMagic) return refuse("not a summary");
    const std::uint64_t n = r.u64();
    if (!r.ok || n != ids.size()) return refuse("segments differ");
    std::map<std::uint32_t, Segment> seen;
    for (std::uint64_t k = 0; k < n && r.ok; ++k) {
        const auto id = std::uint32_t(r.u64());
        Segment s;
        s.size = r.u64();
        s.first_seq = r.u64();
        s.live = r.u64();
        s.msgs = r.u64();
        s.idx_first = r.u64();
        s.idx_count = r.u64();
        auto it = segments_.find(id);
        // Every segment as it was when the summary was written: any change since (an append,
        // a compaction) means the summary is stale.
        if (!r.ok || it == segments_.end() || it->second.size != s.size) return refuse("segments differ");
        seen[id] = s;
    }
    const std::uint64_t len = r.u64();
    if (!r.ok || len != r.in.size() || !index_.decode(r.in)) return refuse("index");
    for (auto& [id, s] : seen) {
        Segment& seg = segments_[id];
        seg.first_seq = s.first_seq;
        seg.live = s.live;
        seg.msgs = s.msgs;
        seg.idx_first = s.idx_first;
        seg.idx_count = s.idx_count;
        if (seg.idx_count) cold_ranges_[seg.idx_first] = id;
    }
    for (auto& [id, s] : seen)
        if (s.idx_count && !idx_matches_locked(id) && !rebuild_idx_locked(id)) {
            // Back to a scan from nothing.
            index_ = MessageIndex{};
            index_.set_cold(this);
            cold_ranges_.clear();
            idx_jobs_.clear();
            for (auto& [sid, seg] : segments_) {
                if (seg.idx_fd >= 0) ::close(seg.idx_fd);
                seg.idx_fd = -1;
                seg.first_seq = seg.live = seg.msgs = seg.idx_first = seg.idx_count = 0;
            }
            return refuse("index file");
        }
    return true;
}

}  // namespace osprey::jetstream
