// The wire codec: exact round trips of every message shape, and hostile input (truncations,
// mutations, random bytes, absurd lengths) rejected without crashing or allocating much.
#include "cluster/raft/codec.h"

#include <gtest/gtest.h>

#include <random>

using namespace osprey::raft;

namespace {

void expect_same(const Message& a, const Message& b) {
    EXPECT_EQ(a.type, b.type);
    EXPECT_EQ(a.from, b.from);
    EXPECT_EQ(a.to, b.to);
    EXPECT_EQ(a.term, b.term);
    EXPECT_EQ(a.index, b.index);
    EXPECT_EQ(a.log_term, b.log_term);
    EXPECT_EQ(a.commit, b.commit);
    EXPECT_EQ(a.reject, b.reject);
    EXPECT_EQ(a.hint, b.hint);
    EXPECT_EQ(a.transfer, b.transfer);
    EXPECT_EQ(a.entries, b.entries);
    ASSERT_EQ(a.snapshot.has_value(), b.snapshot.has_value());
    if (a.snapshot) {
        EXPECT_EQ(a.snapshot->meta.index, b.snapshot->meta.index);
        EXPECT_EQ(a.snapshot->meta.term, b.snapshot->meta.term);
        EXPECT_EQ(a.snapshot->meta.membership, b.snapshot->meta.membership);
        EXPECT_EQ(a.snapshot->data, b.snapshot->data);
    }
}

std::uint64_t big(std::mt19937_64& r) {
    // Every varint width, the extremes included.
    switch (r() % 4) {
        case 0: return 0;
        case 1: return r() % 200;
        case 2: return ~std::uint64_t(0);
        default: return r() >> (r() % 64);
    }
}

Message random_message(std::mt19937_64& r, MessageType type, std::size_t max_data = 64) {
    Message m;
    m.type = type;
    m.from = big(r);
    m.to = big(r);
    m.term = big(r);
    m.index = big(r);
    m.log_term = big(r);
    m.commit = big(r);
    m.hint = big(r);
    m.reject = r() % 2;
    m.transfer = r() % 2;
    const std::size_t n = r() % 4 == 0 ? 0 : r() % 6;
    for (std::size_t i = 0; i < n; ++i) {
        Entry e{big(r), m.index + i + 1, EntryKind(r() % 3), std::string(r() % (max_data + 1), 'x')};
        for (char& c : e.data) c = char(r());
        m.entries.push_back(std::move(e));
    }
    if (type == MessageType::snapshot || r() % 5 == 0) {
        Snapshot s;
        s.meta.index = big(r);
        s.meta.term = big(r);
        std::vector<NodeId> ids;
        for (std::size_t i = r() % 7; i > 0; --i) ids.push_back(big(r));
        s.meta.membership = Membership::of(ids);
        s.data.resize(r() % (max_data + 1));
        for (char& c : s.data) c = char(r());
        m.snapshot = std::move(s);
    }
    return m;
}

// What decoding arbitrary bytes must satisfy: no crash, and anything accepted is stable under
// re-encoding (the decoder accepts nothing the encoder would not describe the same way).
void check_arbitrary(std::string_view bytes) {
    auto m = decode(bytes);
    if (!m) return;
    auto again = decode(encode(*m));
    ASSERT_TRUE(again.has_value());
    expect_same(*m, *again);
}

TEST(Codec, RoundTripsEveryMessageType) {
    std::mt19937_64 r(7);
    for (int t = 0; t <= int(MessageType::timeout_now); ++t) {
        for (int k = 0; k < 200; ++k) {
            const Message m = random_message(r, MessageType(t));
            const std::string wire = encode(m);
            ASSERT_EQ(wire[0], char(kCodecVersion));
            auto back = decode(wire);
            ASSERT_TRUE(back.has_value()) << message_type_name(MessageType(t)) << " #" << k;
            expect_same(m, *back);
        }
    }
}

TEST(Codec, RoundTripsDefaultsAndBigPayloads) {
    const Message empty;
    auto back = decode(encode(empty));
    ASSERT_TRUE(back.has_value());
    expect_same(empty, *back);

    Message m;
    m.type = MessageType::append;
    for (Index i = 1; i <= 8; ++i)
        m.entries.push_back({3, i, i == 4 ? EntryKind::membership : EntryKind::normal,
                             std::string((1 << 20) + i, char('a' + i))});
    Message s;
    s.type = MessageType::snapshot;
    s.snapshot =
        Snapshot{{~Index(0), ~Term(0), Membership::of({1, 2, 3, ~NodeId(0)})}, std::string(5 << 20, 'z')};
    for (const Message* x : {&m, &s}) {
        auto b = decode(encode(*x));
        ASSERT_TRUE(b.has_value());
        expect_same(*x, *b);
    }
}

TEST(Codec, EveryTruncationIsRejected) {
    std::mt19937_64 r(11);
    for (int k = 0; k < 40; ++k) {
        const std::string wire = encode(random_message(r, MessageType(k % 10), 24));
        // Every field is mandatory and the entry count is fixed up front: no strict prefix is
        // a message.
        for (std::size_t n = 0; n < wire.size(); ++n) EXPECT_FALSE(decode(wire.substr(0, n))) << n;
        EXPECT_FALSE(decode(wire + '\0'));
    }
}

TEST(Codec, RejectsBadVersionEnumsFlagsAndMemberships) {
    Message m;
    m.type = MessageType::snapshot;
    m.entries.push_back({1, 1, EntryKind::noop, "d"});
    m.snapshot = Snapshot{{5, 2, Membership::of({1, 2})}, "s"};
    const std::string good = encode(m);
    ASSERT_TRUE(decode(good));
    // Offsets of the layout with one-byte varints: version, type, 7 varints, flags, count,
    // entry (term, index, kind, len, data), snapshot (index, term, count, voters...).
    auto with = [&](std::size_t at, char v) {
        std::string w = good;
        w[at] = v;
        return w;
    };
    EXPECT_FALSE(decode(with(0, 2)));          // version
    EXPECT_FALSE(decode(with(1, 10)));         // message type
    EXPECT_FALSE(decode(with(9, 0x4 | 0x8)));  // unknown flag bit
    EXPECT_FALSE(decode(with(13, 3)));         // entry kind
    EXPECT_FALSE(decode(with(20, 1)));         // voters 1,1: not unique
    EXPECT_FALSE(decode(with(19, 0)));         // voter kNone
    EXPECT_TRUE(decode(with(20, 3)));          // voters 1,3: fine
}

TEST(Codec, AbsurdLengthsAreRejectedWithoutAllocating) {
    auto prefix = [] {
        std::string p;
        wire::put_u8(p, kCodecVersion);
        wire::put_u8(p, std::uint8_t(MessageType::append));
        for (int i = 0; i < 7; ++i) wire::put_varint(p, 1);
        wire::put_u8(p, 0);
        return p;
    };
    std::string many = prefix();
    wire::put_varint(many, std::uint64_t(1) << 60);  // 2^60 entries in a few bytes
    EXPECT_FALSE(decode(many));
    std::string huge = prefix();
    wire::put_varint(huge, 1);
    wire::put_varint(huge, 1);
    wire::put_varint(huge, 1);
    wire::put_u8(huge, 0);
    wire::put_varint(huge, ~std::uint64_t(0));  // data length 2^64-1
    huge += "abc";
    EXPECT_FALSE(decode(huge));
    std::string voters = prefix();
    voters.back() = 4;  // has a snapshot
    wire::put_varint(voters, 0);
    wire::put_varint(voters, 1);
    wire::put_varint(voters, 1);
    wire::put_varint(voters, std::uint64_t(1) << 62);
    EXPECT_FALSE(decode(voters));
    // Varints: 10 bytes max, the tenth carrying one bit.
    std::string overflow = prefix().substr(0, 2) + std::string(9, char(0xff)) + char(0x02);
    EXPECT_FALSE(decode(overflow));
    std::string endless = prefix().substr(0, 2) + std::string(20, char(0x80));
    EXPECT_FALSE(decode(endless));
}

TEST(Codec, RandomBytesNeverCrash) {
    std::mt19937_64 r(12345);
    std::string buf;
    for (int k = 0; k < 100000; ++k) {
        buf.resize(r() % 96);
        for (char& c : buf) c = char(r() % 3 == 0 ? r() % 4 : r());
        // Half start like a message, so the fields after the header get exercised too.
        if (k % 2 && buf.size() >= 2) {
            buf[0] = char(kCodecVersion);
            buf[1] = char(r() % 11);
        }
        check_arbitrary(buf);
        if (HasFatalFailure()) return;
    }
}

TEST(Codec, SingleByteMutationsNeverCrash) {
    std::mt19937_64 r(99);
    int accepted = 0;
    for (int k = 0; k < 100000; ++k) {
        std::string w = encode(random_message(r, MessageType(r() % 10), 16));
        const std::size_t at = r() % w.size();
        w[at] = r() % 2 ? char(w[at] ^ (1 << (r() % 8))) : char(r());
        auto m = decode(w);
        accepted += m.has_value();
        check_arbitrary(w);
        if (HasFatalFailure()) return;
    }
    EXPECT_GT(accepted, 0);  // most mutations of a data byte or a value still decode
}

}  // namespace
