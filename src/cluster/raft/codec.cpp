#include "cluster/raft/codec.h"

#include <array>

namespace osprey::raft {
namespace wire {

namespace {
// The smallest encodings, used to bound a count by the bytes left before reserving anything:
// an entry is term, index, kind and a data length (one byte each at least), a voter one byte.
constexpr std::size_t kMinEntryBytes = 4;
constexpr std::uint8_t kMaxEntryKind = std::uint8_t(EntryKind::noop);

constexpr std::array<std::uint32_t, 256> kCrcTable = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;  // reflected
        t[i] = c;
    }
    return t;
}();
}  // namespace

std::uint32_t crc32c(std::string_view data, std::uint32_t crc) {
    crc = ~crc;
    for (char c : data) crc = kCrcTable[(crc ^ std::uint8_t(c)) & 0xff] ^ (crc >> 8);
    return ~crc;
}

void put_u32(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(char(v >> (8 * i)));
}

std::uint32_t get_u32(const char* p) {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= std::uint32_t(std::uint8_t(p[i])) << (8 * i);
    return v;
}

void put_u8(std::string& out, std::uint8_t v) { out.push_back(char(v)); }

void put_varint(std::string& out, std::uint64_t v) {
    while (v >= 0x80) {
        out.push_back(char(std::uint8_t(v) | 0x80));
        v >>= 7;
    }
    out.push_back(char(v));
}

void put_bytes(std::string& out, std::string_view b) {
    put_varint(out, b.size());
    out.append(b);
}

void put_entries(std::string& out, const Entry* e, std::size_t n) {
    put_varint(out, n);
    for (std::size_t i = 0; i < n; ++i) {
        put_varint(out, e[i].term);
        put_varint(out, e[i].index);
        put_u8(out, std::uint8_t(e[i].kind));
        put_bytes(out, e[i].data);
    }
}

void put_snapshot(std::string& out, const SnapshotMeta& meta, std::string_view data) {
    put_varint(out, meta.index);
    put_varint(out, meta.term);
    put_varint(out, meta.membership.voters.size());
    for (NodeId v : meta.membership.voters) put_varint(out, v);
    put_bytes(out, data);
}

void put_hard_state(std::string& out, const HardState& hs) {
    put_varint(out, hs.term);
    put_varint(out, hs.vote);
    put_varint(out, hs.commit);
}

bool Reader::u8(std::uint8_t& v) {
    if (!ok_ || left() < 1) return fail();
    v = std::uint8_t(in_[pos_++]);
    return true;
}

bool Reader::varint(std::uint64_t& v) {
    if (!ok_) return false;
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (left() < 1) return fail();
        const std::uint8_t b = std::uint8_t(in_[pos_++]);
        // The tenth byte carries bit 63 only: anything more would overflow.
        if (shift == 63 && b > 1) return fail();
        v |= std::uint64_t(b & 0x7f) << shift;
        if (!(b & 0x80)) return true;
    }
    return fail();
}

bool Reader::bytes(std::string& v) {
    std::uint64_t n = 0;
    if (!varint(n)) return false;
    if (n > left()) return fail();
    v.assign(in_.substr(pos_, std::size_t(n)));
    pos_ += std::size_t(n);
    return true;
}

bool Reader::entries(std::vector<Entry>& v) {
    std::uint64_t n = 0;
    if (!varint(n)) return false;
    if (n > left() / kMinEntryBytes) return fail();
    v.clear();
    v.reserve(std::size_t(n));
    for (std::uint64_t i = 0; i < n; ++i) {
        Entry e;
        std::uint8_t kind = 0;
        if (!varint(e.term) || !varint(e.index) || !u8(kind) || !bytes(e.data)) return false;
        if (kind > kMaxEntryKind) return fail();
        e.kind = EntryKind(kind);
        v.push_back(std::move(e));
    }
    return true;
}

bool Reader::snapshot(SnapshotMeta& meta, std::string& data) {
    std::uint64_t n = 0;
    if (!varint(meta.index) || !varint(meta.term) || !varint(n)) return false;
    if (n > left()) return fail();
    meta.membership.voters.clear();
    meta.membership.voters.reserve(std::size_t(n));
    for (std::uint64_t i = 0; i < n; ++i) {
        NodeId id = 0;
        if (!varint(id)) return false;
        // Membership's invariant (sorted, unique, no kNone) is checked, not repaired: a
        // message breaking it did not come from an osprey node.
        if (id == kNone || (!meta.membership.voters.empty() && id <= meta.membership.voters.back()))
            return fail();
        meta.membership.voters.push_back(id);
    }
    return bytes(data);
}

bool Reader::hard_state(HardState& hs) { return varint(hs.term) && varint(hs.vote) && varint(hs.commit); }

}  // namespace wire

namespace {
constexpr std::uint8_t kMaxMessageType = std::uint8_t(MessageType::timeout_now);
constexpr std::uint8_t kReject = 1, kTransfer = 2, kHasSnapshot = 4;
}  // namespace

std::string encode(const Message& m) {
    std::string out;
    std::size_t data = 0;
    for (const Entry& e : m.entries) data += e.data.size() + 24;
    if (m.snapshot) data += m.snapshot->data.size() + 16 + 10 * m.snapshot->meta.membership.voters.size();
    out.reserve(64 + data);
    wire::put_u8(out, kCodecVersion);
    wire::put_u8(out, std::uint8_t(m.type));
    wire::put_varint(out, m.from);
    wire::put_varint(out, m.to);
    wire::put_varint(out, m.term);
    wire::put_varint(out, m.index);
    wire::put_varint(out, m.log_term);
    wire::put_varint(out, m.commit);
    wire::put_varint(out, m.hint);
    wire::put_u8(out, std::uint8_t((m.reject ? kReject : 0) | (m.transfer ? kTransfer : 0) |
                                   (m.snapshot ? kHasSnapshot : 0)));
    wire::put_entries(out, m.entries.data(), m.entries.size());
    if (m.snapshot) wire::put_snapshot(out, m.snapshot->meta, m.snapshot->data);
    return out;
}

std::optional<Message> decode(std::string_view data) {
    wire::Reader r(data);
    Message m;
    std::uint8_t version = 0, type = 0, flags = 0;
    if (!r.u8(version) || version != kCodecVersion) return std::nullopt;
    if (!r.u8(type) || type > kMaxMessageType) return std::nullopt;
    m.type = MessageType(type);
    if (!r.varint(m.from) || !r.varint(m.to) || !r.varint(m.term) || !r.varint(m.index) ||
        !r.varint(m.log_term) || !r.varint(m.commit) || !r.varint(m.hint) || !r.u8(flags))
        return std::nullopt;
    if (flags & ~(kReject | kTransfer | kHasSnapshot)) return std::nullopt;
    m.reject = flags & kReject;
    m.transfer = flags & kTransfer;
    if (!r.entries(m.entries)) return std::nullopt;
    if (flags & kHasSnapshot) {
        Snapshot s;
        if (!r.snapshot(s.meta, s.data)) return std::nullopt;
        m.snapshot = std::move(s);
    }
    if (!r.done()) return std::nullopt;
    return m;
}

}  // namespace osprey::raft
