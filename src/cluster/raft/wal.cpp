#include "cluster/raft/wal.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>

#include "cluster/raft/codec.h"

namespace osprey::raft {

namespace {

constexpr std::size_t kHeaderBytes = 12;
constexpr std::uint8_t kRecHeader = 1, kRecUpdate = 2;
constexpr std::uint8_t kHasHardState = 1, kHasSnapshot = 2, kInstall = 4, kDrop = 8;
constexpr std::string_view kMagic = "osprey-wal";
constexpr std::uint8_t kFormat = 1;
// A checkpoint is written in pieces of about this much, so it never sits in memory twice.
constexpr std::size_t kCheckpointChunk = 4 << 20;
// A record's length is 32 bits; this leaves room for the framing of the update around its data.
constexpr std::size_t kMaxUpdateBytes = std::size_t(3) << 30;

// Appends one framed record: the body is built in place after a header filled in afterwards.
template <class Body>
void put_record(std::string& out, Body&& body) {
    const std::size_t at = out.size();
    out.append(kHeaderBytes, '\0');
    body(out);
    std::string head;
    wire::put_u32(head, std::uint32_t(out.size() - at - kHeaderBytes));
    wire::put_u32(head, wire::crc32c(std::string_view(out).substr(at + kHeaderBytes)));
    wire::put_u32(head, wire::crc32c(head));
    out.replace(at, kHeaderBytes, head);
}

void put_update(std::string& out, std::string_view group, const HardState* hs, const SnapshotMeta* meta,
                std::string_view snap_data, bool install, bool drop, const std::vector<Entry>& entries) {
    put_record(out, [&](std::string& b) {
        wire::put_u8(b, kRecUpdate);
        wire::put_bytes(b, group);
        wire::put_u8(b, std::uint8_t((hs ? kHasHardState : 0) | (meta ? kHasSnapshot : 0) |
                                     (install ? kInstall : 0) | (drop ? kDrop : 0)));
        if (hs) wire::put_hard_state(b, *hs);
        if (meta) wire::put_snapshot(b, *meta, snap_data);
        wire::put_entries(b, entries.data(), entries.size());
    });
}

void put_update(std::string& out, const WalGroupUpdate& u) {
    put_update(out, u.group, u.hard_state ? &*u.hard_state : nullptr,
               u.snapshot ? &u.snapshot->meta : nullptr, u.snapshot ? u.snapshot->data : "", u.install,
               u.drop, u.entries);
}

// The whole state of a group as one update: recovery rebuilds it from nothing.
void put_checkpoint(std::string& out, const std::string& group, const Stored& g) {
    put_update(out, group, &g.hard_state, &g.snapshot, g.snapshot_data, true, false, g.entries);
}

bool get_update(wire::Reader& r, WalGroupUpdate& u) {
    std::uint8_t flags = 0;
    if (!r.u8(flags) || (flags & ~(kHasHardState | kHasSnapshot | kInstall | kDrop))) return false;
    if (flags & kHasHardState && !r.hard_state(u.hard_state.emplace())) return false;
    if (flags & kHasSnapshot) {
        Snapshot& s = u.snapshot.emplace();
        if (!r.snapshot(s.meta, s.data)) return false;
    }
    u.install = flags & kInstall;
    u.drop = flags & kDrop;
    return r.entries(u.entries) && r.done();
}

// Whether `ups`, in order, keep every group's log contiguous after its snapshot (what Stored
// promises Node). Returns what is wrong, or nothing.
std::string check(const std::map<std::string, Stored>& groups, std::span<const WalGroupUpdate> ups) {
    std::map<std::string_view, std::pair<Index, Index>> bounds;  // group -> (snapshot, last)
    for (const WalGroupUpdate& u : ups) {
        if (u.group.empty()) return "an update without a group name";
        auto it = bounds.find(u.group);
        if (it == bounds.end()) {
            auto g = groups.find(u.group);
            std::pair<Index, Index> b{0, 0};
            if (g != groups.end())
                b = {g->second.snapshot.index, g->second.snapshot.index + g->second.entries.size()};
            it = bounds.emplace(u.group, b).first;
        }
        auto& [snap, last] = it->second;
        if (u.drop) {
            if (u.hard_state || u.snapshot || u.install || !u.entries.empty())
                return u.group + ": drop with other changes";
            snap = last = 0;
            continue;
        }
        if (u.install && !u.snapshot) return u.group + ": install without a snapshot";
        std::size_t bytes = u.snapshot ? u.snapshot->data.size() : 0;
        for (const Entry& e : u.entries) bytes += e.data.size();
        if (bytes > kMaxUpdateBytes) return u.group + ": update too large for one record";
        if (u.snapshot) {
            const Index i = u.snapshot->meta.index;
            if (!u.install && i < snap) return u.group + ": compaction below the snapshot";
            snap = i;
            last = u.install ? i : std::max(last, i);
        }
        if (!u.entries.empty()) {
            const Index first = u.entries.front().index;
            if (first <= snap || first > last + 1)
                return u.group + ": entries leave a gap or overlap the snapshot";
            for (std::size_t k = 1; k < u.entries.size(); ++k)
                if (u.entries[k].index != first + k) return u.group + ": entries not consecutive";
            last = u.entries.back().index;
        }
    }
    return {};
}

// Applies a checked update (the live state and recovery share this, so they cannot differ).
void apply(std::map<std::string, Stored>& groups, WalGroupUpdate&& u) {
    if (u.drop) {
        groups.erase(u.group);
        return;
    }
    Stored& g = groups[u.group];
    if (u.snapshot) {
        if (u.install) {
            g.entries.clear();
        } else {
            const Index gone = std::min<Index>(g.entries.size(), u.snapshot->meta.index - g.snapshot.index);
            g.entries.erase(g.entries.begin(), g.entries.begin() + std::ptrdiff_t(gone));
        }
        g.snapshot = std::move(u.snapshot->meta);
        g.snapshot_data = std::move(u.snapshot->data);
    }
    if (!u.entries.empty()) {
        g.entries.resize(std::size_t(u.entries.front().index - g.snapshot.index - 1));
        std::move(u.entries.begin(), u.entries.end(), std::back_inserter(g.entries));
    }
    if (u.hard_state) g.hard_state = *u.hard_state;
}

std::string segment_name(std::uint64_t seq) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "wal-%016llx.log", static_cast<unsigned long long>(seq));
    return buf;
}

std::optional<std::uint64_t> segment_seq(std::string_view name) {
    std::uint64_t v = 0;
    if (name.size() != 24 || !name.starts_with("wal-") || !name.ends_with(".log")) return std::nullopt;
    const auto [end, ec] = std::from_chars(name.data() + 4, name.data() + 20, v, 16);
    if (ec != std::errc() || end != name.data() + 20) return std::nullopt;
    return v;
}

bool write_all(int fd, std::string_view buf, std::uint64_t at) {
    while (!buf.empty()) {
        const ssize_t n = ::pwrite(fd, buf.data(), buf.size(), off_t(at));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        buf.remove_prefix(std::size_t(n));
        at += std::uint64_t(n);
    }
    return true;
}

bool read_all(const std::string& path, std::string& out) {
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    if (!f) return false;
    out.resize(std::size_t(f.tellg()));
    f.seekg(0);
    return bool(f.read(out.data(), std::streamsize(out.size())));
}

std::string err(std::string_view what, const std::string& path) {
    return std::string(what) + " " + path + ": " + std::strerror(errno);
}

// Reads one segment into `rec`. Returns where its last good record ends, and where the
// checkpoint ends. A damaged record is a torn write (cut, noted) when nothing after it can be a
// record: it runs to the end of the file, or only zeros follow (a file extended but never
// written). Then it was never acknowledged. Anywhere else it is damage. The one ambiguity left:
// a corrupted body in the very last record looks torn too.
struct Scan {
    std::uint64_t end = 0, checkpoint_end = 0;
    bool torn = false;
};
Scan scan_segment(const std::string& path, std::uint64_t seq, WalRecovery& rec) {
    Scan s;
    std::string data;
    if (!read_all(path, data)) {
        rec.damaged = true;
        rec.notes.push_back(err("cannot read", path));
        return s;
    }
    auto zeros_from = [&](std::size_t at) {
        return at >= data.size() ||
               std::all_of(data.begin() + std::ptrdiff_t(at), data.end(), [](char c) { return c == 0; });
    };
    auto damage = [&](std::size_t at, const std::string& what) {
        rec.damaged = true;
        rec.notes.push_back(path + ": " + what + " at offset " + std::to_string(at) +
                            "; nothing after it was read");
    };
    std::uint64_t checkpoint_left = 0;
    bool header = false;
    std::size_t off = 0;
    while (off < data.size()) {
        const std::string_view rest = std::string_view(data).substr(off);
        if (rest.size() < kHeaderBytes) break;
        const std::uint32_t len = wire::get_u32(rest.data()), crc = wire::get_u32(rest.data() + 4);
        if (wire::crc32c(rest.substr(0, 8)) != wire::get_u32(rest.data() + 8)) {
            if (!zeros_from(off + kHeaderBytes)) damage(off, "damaged record header");
            break;
        }
        if (len > rest.size() - kHeaderBytes) break;
        const std::string_view body = rest.substr(kHeaderBytes, len);
        if (wire::crc32c(body) != crc) {
            if (!zeros_from(off + kHeaderBytes + len)) damage(off, "checksum mismatch");
            break;
        }
        wire::Reader r(body);
        std::uint8_t type = 0;
        WalGroupUpdate u;
        if (!r.u8(type) || !r.bytes(u.group)) return damage(off, "unreadable record"), s;
        if (type == kRecHeader) {
            std::string magic;
            std::uint8_t format = 0;
            std::uint64_t file_seq = 0;
            if (off != 0 || !u.group.empty() || !r.bytes(magic) || magic != kMagic || !r.u8(format) ||
                format != kFormat || !r.varint(file_seq) || file_seq != seq || !r.varint(checkpoint_left) ||
                !r.done())
                return damage(off, "bad segment header"), s;
            header = true;
        } else if (type != kRecUpdate || !header || !get_update(r, u)) {
            return damage(off, header ? "unreadable record" : "no segment header"), s;
        } else if (std::string why = check(rec.groups, std::span(&u, 1)); !why.empty()) {
            return damage(off, "invalid update (" + why + ")"), s;
        } else {
            apply(rec.groups, std::move(u));
            checkpoint_left -= checkpoint_left > 0;
        }
        off += kHeaderBytes + len;
        s.end = off;
        if (checkpoint_left == 0 && s.checkpoint_end == 0) s.checkpoint_end = off;
    }
    if (rec.damaged) return s;
    if (!header || checkpoint_left > 0) {
        damage(s.end, header ? "checkpoint incomplete" : "no segment header");
    } else if (s.end < data.size()) {
        s.torn = true;
        rec.notes.push_back(path + ": cut a torn record at offset " + std::to_string(s.end) + " (" +
                            std::to_string(data.size() - s.end) + " bytes)");
    }
    return s;
}

}  // namespace

Wal::Wal(std::string dir, const WalOptions& opts) : dir_(std::move(dir)), opts_(opts) {}

std::expected<std::unique_ptr<Wal>, std::string> Wal::open(const std::string& dir, const WalOptions& opts,
                                                           WalRecovery& rec) {
    namespace fs = std::filesystem;
    rec = {};
    std::error_code ec;
    if (fs::create_directories(dir, ec)) {
        // The new directory's own entry must be durable too.
        const fs::path parent = fs::absolute(dir, ec).parent_path();
        const int pfd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd >= 0 && opts.fsync) ::fsync(pfd);
        if (pfd >= 0) ::close(pfd);
    } else if (ec) {
        return std::unexpected("cannot create " + dir + ": " + ec.message());
    }
    std::unique_ptr<Wal> wal(new Wal(dir, opts));
    std::vector<std::uint64_t> seqs;
    for (const auto& de : fs::directory_iterator(dir, ec)) {
        const std::string name = de.path().filename().string();
        if (auto seq = segment_seq(name)) {
            seqs.push_back(*seq);
        } else if (name.starts_with("wal-") && name.ends_with(".log.tmp")) {
            // A rotation that crashed before its rename: the older segment is still complete.
            ::unlink(de.path().c_str());
            rec.notes.push_back("removed an unfinished segment " + name);
        }
    }
    if (ec) return std::unexpected("cannot list " + dir + ": " + ec.message());
    std::sort(seqs.begin(), seqs.end());
    if (seqs.empty()) {
        if (!wal->rotate()) return std::unexpected(err("cannot create a segment in", dir));
    } else {
        const std::string path = dir + "/" + segment_name(seqs.back());
        const Scan s = scan_segment(path, seqs.back(), rec);
        if (rec.damaged) return std::unexpected("damaged: " + rec.notes.back());
        wal->fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
        if (wal->fd_ < 0) return std::unexpected(err("cannot open", path));
        if (s.torn && (::ftruncate(wal->fd_, off_t(s.end)) != 0 || !wal->sync(wal->fd_)))
            return std::unexpected(err("cannot cut the torn tail of", path));
        // The newest segment starts with a checkpoint of everything: older ones are what a
        // crash left behind between a rotation's rename and its deletes.
        for (std::size_t i = 0; i + 1 < seqs.size(); ++i) {
            ::unlink((dir + "/" + segment_name(seqs[i])).c_str());
            rec.notes.push_back("removed a superseded segment " + segment_name(seqs[i]));
        }
        if (!wal->sync_dir()) return std::unexpected(err("cannot sync", dir));
        wal->seq_ = seqs.back();
        wal->size_ = s.end;
        wal->checkpoint_bytes_ = s.checkpoint_end;
        wal->groups_ = rec.groups;
    }
    wal->writer_ = std::thread([w = wal.get()] { w->run(); });
    return wal;
}

void Wal::write(std::vector<WalGroupUpdate> updates, std::function<void(bool ok)> done) {
    {
        std::lock_guard lk(mu_);
        queue_.push_back({std::move(updates), std::move(done)});
        ++queued_;
    }
    wake_.notify_one();
}

bool Wal::flush() {
    std::unique_lock lk(mu_);
    const std::uint64_t target = queued_;
    idle_.wait(lk, [&] { return completed_ >= target; });
    return !broken_;
}

Wal::~Wal() {
    if (writer_.joinable()) {
        {
            std::lock_guard lk(mu_);
            stop_ = true;
        }
        wake_.notify_one();
        writer_.join();
    }
    if (fd_ >= 0) ::close(fd_);
}

Wal::Stats Wal::stats() const {
    std::lock_guard lk(mu_);
    return stats_;
}

void Wal::run() {
    for (;;) {
        std::deque<Pending> batch;
        {
            std::unique_lock lk(mu_);
            wake_.wait(lk, [&] { return stop_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping, and everything queued is done
            batch.swap(queue_);
        }
        process(batch);
        {
            std::lock_guard lk(mu_);
            completed_ += batch.size();
            broken_ = failed_;
        }
        idle_.notify_all();
    }
}

void Wal::process(std::deque<Pending>& batch) {
    std::string buf;
    std::vector<char> ok(batch.size(), 0);
    std::uint64_t rejected = 0;
    for (std::size_t i = 0; i < batch.size(); ++i) {
        if (failed_) continue;
        if (!check(groups_, batch[i].updates).empty()) {
            ++rejected;
            continue;
        }
        for (WalGroupUpdate& u : batch[i].updates) {
            put_update(buf, u);
            apply(groups_, std::move(u));
        }
        ok[i] = 1;
    }
    if (!buf.empty() && !failed_) failed_ = !append(buf) || !sync(fd_);
    {
        std::lock_guard lk(mu_);
        stats_.batches += !buf.empty();
        stats_.rejected += rejected;
    }
    for (std::size_t i = 0; i < batch.size(); ++i)
        if (batch[i].done) batch[i].done(ok[i] && !failed_);
    if (!failed_) maybe_rotate();
}

bool Wal::append(const std::string& buf) {
    if (!write_all(fd_, buf, size_)) return false;
    size_ += buf.size();
    std::lock_guard lk(mu_);
    stats_.bytes += buf.size();
    return true;
}

bool Wal::sync(int fd) {
    if (!opts_.fsync) return true;
    if (::fdatasync(fd) != 0) return false;
    std::lock_guard lk(mu_);
    ++stats_.syncs;
    return true;
}

bool Wal::sync_dir() {
    if (!opts_.fsync) return true;
    const int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return false;
    const bool ok = ::fsync(dfd) == 0;
    ::close(dfd);
    std::lock_guard lk(mu_);
    stats_.syncs += ok;
    return ok;
}

void Wal::maybe_rotate() {
    const std::uint64_t due = std::max({opts_.segment_bytes, 2 * checkpoint_bytes_, next_rotation_});
    if (size_ < due) return;
    // Failing before the rename leaves the active segment whole: keep using it and retry a
    // segment later rather than after every batch (a full disk would make each one slower).
    if (!rotate() && !failed_) next_rotation_ = size_ + opts_.segment_bytes;
}

// Starts segment seq_+1 with a checkpoint of every live group, then removes the old one.
bool Wal::rotate() {
    const std::string path = dir_ + "/" + segment_name(seq_ + 1), tmp = path + ".tmp";
    const int fd = ::open(tmp.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) return false;
    std::string buf;
    put_record(buf, [&](std::string& b) {
        wire::put_u8(b, kRecHeader);
        wire::put_bytes(b, "");
        wire::put_bytes(b, kMagic);
        wire::put_u8(b, kFormat);
        wire::put_varint(b, seq_ + 1);
        wire::put_varint(b, groups_.size());
    });
    std::uint64_t at = 0;
    bool ok = true;
    auto it = groups_.begin();
    while (ok && (!buf.empty() || it != groups_.end())) {
        if (it != groups_.end() && buf.size() < kCheckpointChunk) {
            put_checkpoint(buf, it->first, it->second);
            ++it;
            continue;
        }
        ok = write_all(fd, buf, at);
        at += buf.size();
        buf.clear();
    }
    if (!ok || !sync(fd) || ::rename(tmp.c_str(), path.c_str()) != 0) {
        ::close(fd);
        ::unlink(tmp.c_str());
        return false;
    }
    // Renamed: from here the new segment may be what a restart finds, so any failure to make
    // that certain stops the WAL (appending to the old segment could go unseen).
    if (!sync_dir()) {
        ::close(fd);
        failed_ = true;
        return false;
    }
    if (fd_ >= 0) {
        ::close(fd_);
        ::unlink((dir_ + "/" + segment_name(seq_)).c_str());
        sync_dir();  // a failure only leaves a superseded segment for recovery to delete
    }
    fd_ = fd;
    ++seq_;
    size_ = checkpoint_bytes_ = at;
    next_rotation_ = 0;
    std::lock_guard lk(mu_);
    stats_.bytes += at;
    stats_.rotations += seq_ > 1;
    return true;
}

}  // namespace osprey::raft
