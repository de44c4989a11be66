// The shared write-ahead log: what goes in comes back after a reopen, torn tails are cut and
// damage is reported, rotation keeps everything, group commit shares syncs. A seeded property
// test checks random update sequences against a deliberately naive model (replay a failure with
// OSPREY_SEED=<seed>; OSPREY_WAL_BUDGET_S=<seconds> sets its budget, default 3).
#include "cluster/raft/wal.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <thread>

#include "cluster/raft/codec.h"

using namespace osprey::raft;
namespace fs = std::filesystem;

namespace {

using Model = std::map<std::string, Stored>;

struct TempDir {
    std::string path;
    TempDir() {
        std::string t = (fs::temp_directory_path() / "osprey-wal-XXXXXX").string();
        path = mkdtemp(t.data());
    }
    ~TempDir() { fs::remove_all(path); }
    std::string wal() const { return path + "/wal"; }  // not created: open() must do it
};

// The WAL's documented semantics, written as plainly as possible (not sharing its arithmetic).
void model_apply(Model& m, const WalGroupUpdate& u) {
    if (u.drop) {
        m.erase(u.group);
        return;
    }
    Stored& g = m[u.group];
    if (u.snapshot) {
        g.snapshot = u.snapshot->meta;
        g.snapshot_data = u.snapshot->data;
        const Index upto = u.install ? ~Index(0) : u.snapshot->meta.index;
        std::erase_if(g.entries, [&](const Entry& e) { return e.index <= upto; });
    }
    if (!u.entries.empty()) {
        std::erase_if(g.entries, [&](const Entry& e) { return e.index >= u.entries.front().index; });
        g.entries.insert(g.entries.end(), u.entries.begin(), u.entries.end());
    }
    if (u.hard_state) g.hard_state = *u.hard_state;
}

void expect_same(const Model& want, const Model& got) {
    ASSERT_EQ(want.size(), got.size());
    for (const auto& [name, w] : want) {
        ASSERT_TRUE(got.count(name)) << name;
        const Stored& g = got.at(name);
        EXPECT_EQ(w.hard_state, g.hard_state) << name;
        EXPECT_EQ(w.snapshot.index, g.snapshot.index) << name;
        EXPECT_EQ(w.snapshot.term, g.snapshot.term) << name;
        EXPECT_EQ(w.snapshot.membership, g.snapshot.membership) << name;
        EXPECT_EQ(w.snapshot_data, g.snapshot_data) << name;
        EXPECT_EQ(w.entries, g.entries) << name;
    }
}

std::vector<Entry> entries(Index from, Index to, Term term, std::size_t bytes = 8) {
    std::vector<Entry> v;
    for (Index i = from; i <= to; ++i)
        v.push_back({term, i, i % 7 == 0 ? EntryKind::noop : EntryKind::normal,
                     std::string(bytes, char('a' + i % 26))});
    return v;
}

Snapshot snap(Index i, Term t, std::string data = "state") {
    return {{i, t, Membership::of({1, 2, 3})}, std::move(data)};
}

std::unique_ptr<Wal> open_wal(const std::string& dir, WalRecovery& rec, WalOptions o = {}) {
    auto w = Wal::open(dir, o, rec);
    EXPECT_TRUE(w.has_value()) << (w ? "" : w.error());
    return w ? std::move(*w) : nullptr;
}

// Writes, waits until durable; returns done's verdict.
bool put(Wal& w, std::vector<WalGroupUpdate> ups, Model* model = nullptr) {
    if (model)
        for (const auto& u : ups) model_apply(*model, u);
    std::atomic<int> ok{-1};
    w.write(std::move(ups), [&](bool k) { ok = k; });
    w.flush();
    return ok == 1;
}

std::vector<std::string> segments(const std::string& dir) {
    std::vector<std::string> v;
    for (const auto& e : fs::directory_iterator(dir)) v.push_back(e.path().filename().string());
    std::sort(v.begin(), v.end());
    return v;
}

std::string read_file(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
}
void write_file(const std::string& p, std::string_view data) {
    std::ofstream(p, std::ios::binary | std::ios::trunc).write(data.data(), std::streamsize(data.size()));
}

TEST(Wal, CrcIsCastagnoli) { EXPECT_EQ(wire::crc32c("123456789"), 0xE3069283u); }

TEST(Wal, ManyGroupsRoundTripOverReopen) {
    TempDir d;
    Model model;
    WalRecovery rec;
    for (int round = 0; round < 3; ++round) {
        auto w = open_wal(d.wal(), rec, {.segment_bytes = 64 << 20, .fsync = false});
        ASSERT_TRUE(w);
        expect_same(model, rec.groups);
        EXPECT_TRUE(rec.notes.empty());
        for (int g = 0; g < 60; ++g) {
            const Index from = Index(round * 5 + 1);
            ASSERT_TRUE(put(*w,
                            {{.group = "G" + std::to_string(g),
                              .hard_state = HardState{Term(round + 1), NodeId(g % 3 + 1), from - 1},
                              .entries = entries(from, from + 4, Term(round + 1), g)}},
                            &model));
        }
    }
    auto w = open_wal(d.wal(), rec);
    expect_same(model, rec.groups);
    EXPECT_EQ(rec.groups.at("G7").entries.size(), 15u);
}

TEST(Wal, EntriesReplaceTheSuffix) {
    TempDir d;
    Model model;
    WalRecovery rec;
    {
        auto w = open_wal(d.wal(), rec);
        ASSERT_TRUE(put(*w, {{.group = "S-ORDERS", .entries = entries(1, 10, 1)}}, &model));
        ASSERT_TRUE(put(*w, {{.group = "S-ORDERS", .entries = entries(6, 7, 2)}}, &model));
        // Appending right after the end, and two updates of one group in one call.
        ASSERT_TRUE(put(*w,
                        {{.group = "S-ORDERS", .entries = entries(8, 8, 2)},
                         {.group = "S-ORDERS", .entries = entries(3, 4, 3)}},
                        &model));
    }
    auto w = open_wal(d.wal(), rec);
    expect_same(model, rec.groups);
    const auto& e = rec.groups.at("S-ORDERS").entries;
    ASSERT_EQ(e.size(), 4u);
    EXPECT_EQ(e.back().index, 4u);
    EXPECT_EQ(e.back().term, 3u);
}

TEST(Wal, CompactionAndInstallSnapshots) {
    TempDir d;
    Model model;
    WalRecovery rec;
    {
        auto w = open_wal(d.wal(), rec);
        ASSERT_TRUE(put(*w, {{.group = "a", .entries = entries(1, 10, 1)}}, &model));
        ASSERT_TRUE(put(*w, {{.group = "a", .snapshot = snap(4, 1, "upto4")}}, &model));
        ASSERT_TRUE(put(*w, {{.group = "b", .entries = entries(1, 3, 1)}}, &model));
        ASSERT_TRUE(put(*w, {{.group = "b", .snapshot = snap(9, 2), .entries = entries(10, 11, 2)}}, &model));
        ASSERT_TRUE(put(*w,
                        {{.group = "c",
                          .hard_state = HardState{5, 2, 40},
                          .snapshot = snap(40, 5, std::string(100000, 's')),
                          .install = true,
                          .entries = entries(41, 42, 5)}},
                        &model));
    }
    auto w = open_wal(d.wal(), rec);
    expect_same(model, rec.groups);
    EXPECT_EQ(rec.groups.at("a").snapshot.index, 4u);
    EXPECT_EQ(rec.groups.at("a").entries.front().index, 5u);
    EXPECT_EQ(rec.groups.at("b").entries.front().index, 10u);
    EXPECT_EQ(rec.groups.at("c").hard_state, (HardState{5, 2, 40}));
    // An install takes the whole log, even entries after the snapshot.
    ASSERT_TRUE(put(*w, {{.group = "a", .snapshot = snap(6, 3), .install = true}}, &model));
    w.reset();
    w = open_wal(d.wal(), rec);
    expect_same(model, rec.groups);
    EXPECT_TRUE(rec.groups.at("a").entries.empty());
}

TEST(Wal, DropForgetsTheGroup) {
    TempDir d;
    Model model;
    WalRecovery rec;
    {
        auto w = open_wal(d.wal(), rec);
        ASSERT_TRUE(put(*w, {{.group = "x", .entries = entries(1, 5, 1)}, {.group = "y"}}, &model));
        ASSERT_TRUE(put(*w, {{.group = "x", .drop = true}}, &model));
        ASSERT_TRUE(put(*w, {{.group = "x", .entries = entries(1, 1, 9)}}, &model));  // a new "x"
        ASSERT_TRUE(put(*w, {{.group = "y", .drop = true}}, &model));
    }
    auto w = open_wal(d.wal(), rec);
    expect_same(model, rec.groups);
    EXPECT_EQ(rec.groups.size(), 1u);
}

TEST(Wal, InvalidCallsAreRejectedWhole) {
    TempDir d;
    Model model;
    WalRecovery rec;
    auto w = open_wal(d.wal(), rec);
    ASSERT_TRUE(put(*w, {{.group = "g", .entries = entries(1, 5, 1)}}, &model));
    auto bad = [&](WalGroupUpdate u) {
        EXPECT_FALSE(put(*w, {{.group = "g", .hard_state = HardState{7, 7, 7}}, std::move(u)}));
    };
    bad({.group = "g", .entries = entries(7, 8, 1)});                            // a gap
    bad({.group = "g", .entries = {entries(6, 6, 1)[0], entries(8, 8, 1)[0]}});  // not consecutive
    bad({.group = "", .entries = entries(1, 1, 1)});
    bad({.group = "g", .hard_state = HardState{}, .drop = true});
    bad({.group = "g", .install = true});
    bad({.group = "h", .snapshot = snap(5, 1), .entries = entries(5, 6, 1)});  // overlaps the snapshot
    ASSERT_TRUE(put(*w, {{.group = "g", .snapshot = snap(3, 1)}}, &model));
    bad({.group = "g", .snapshot = snap(2, 1)});  // a compaction going backwards
    EXPECT_EQ(w->stats().rejected, 7u);
    ASSERT_TRUE(put(*w, {{.group = "g", .entries = entries(6, 6, 2)}}, &model));
    w.reset();
    w = open_wal(d.wal(), rec);
    expect_same(model, rec.groups);
}

TEST(Wal, RotationCheckpointsAndRemovesOldSegments) {
    TempDir d;
    Model model;
    WalRecovery rec;
    const WalOptions o{.segment_bytes = 4096, .fsync = false};
    std::uint64_t rotations = 0;
    for (int round = 0; round < 4; ++round) {
        auto w = open_wal(d.wal(), rec, o);
        expect_same(model, rec.groups);
        for (Index i = 1; i <= 300; ++i) {
            const std::string g = "g" + std::to_string(i % 5);
            const Stored& s = model[g];
            const Index next = s.snapshot.index + s.entries.size() + 1;
            WalGroupUpdate u{
                .group = g, .hard_state = HardState{1, 1, next}, .entries = entries(next, next, 1, 50)};
            if (next % 10 == 0) u.snapshot = snap(next - 3, 1);  // the log stays short
            ASSERT_TRUE(put(*w, {u}, &model));
        }
        rotations += w->stats().rotations;
        auto segs = segments(d.wal());
        ASSERT_EQ(segs.size(), 1u);
        EXPECT_LT(fs::file_size(d.wal() + "/" + segs[0]), 3 * 4096u);
    }
    EXPECT_GT(rotations, 20u);
    auto w = open_wal(d.wal(), rec, o);
    expect_same(model, rec.groups);
}

TEST(Wal, LeftoversOfACrashedRotationAreRemoved) {
    TempDir d;
    Model model;
    WalRecovery rec;
    open_wal(d.wal(), rec).reset();
    const std::string first = segments(d.wal())[0], old = read_file(d.wal() + "/" + first);
    {
        auto w = open_wal(d.wal(), rec, {.segment_bytes = 1, .fsync = false});
        for (Index i = 1; i <= 5; ++i)
            ASSERT_TRUE(put(*w, {{.group = "g", .entries = entries(i, i, 1)}}, &model));
    }
    // As if the crash came after a rename (the old segment still there) and before a later one.
    write_file(d.wal() + "/" + first, old);
    write_file(d.wal() + "/wal-00000000000000ff.log.tmp", "half a checkpoint");
    auto w = open_wal(d.wal(), rec);
    expect_same(model, rec.groups);
    EXPECT_EQ(rec.notes.size(), 2u);
    EXPECT_EQ(segments(d.wal()).size(), 1u);
}

TEST(Wal, TornTailAtEveryOffsetIsCut) {
    TempDir d;
    Model before;
    WalRecovery rec;
    std::string seg;
    std::uint64_t start = 0;
    {
        auto w = open_wal(d.wal(), rec);
        ASSERT_TRUE(put(*w, {{.group = "a", .hard_state = HardState{2, 1, 0}, .entries = entries(1, 3, 2)}},
                        &before));
        ASSERT_TRUE(put(*w, {{.group = "b", .snapshot = snap(5, 1)}}, &before));
        seg = d.wal() + "/" + segments(d.wal())[0];
        start = fs::file_size(seg);
        Model after = before;
        ASSERT_TRUE(
            put(*w, {{.group = "a", .hard_state = HardState{3, 2, 3}, .entries = entries(3, 5, 3)}}, &after));
    }
    const std::string full = read_file(seg);
    ASSERT_GT(full.size(), start + 40);
    for (std::size_t cut = start; cut < full.size(); ++cut) {
        SCOPED_TRACE("cut at " + std::to_string(cut));
        write_file(seg, std::string_view(full).substr(0, cut));
        Model model = before;
        {
            auto w = open_wal(d.wal(), rec, {.fsync = false});
            ASSERT_TRUE(w);
            EXPECT_FALSE(rec.damaged);
            EXPECT_EQ(rec.notes.size(), cut > start ? 1u : 0u);
            expect_same(model, rec.groups);
            ASSERT_TRUE(put(*w, {{.group = "c", .entries = entries(1, 1, 1)}}, &model));
        }
        auto w = open_wal(d.wal(), rec, {.fsync = false});
        EXPECT_TRUE(rec.notes.empty());
        expect_same(model, rec.groups);
    }
    // A tail the file system extended without writing reads as zeros: also torn.
    write_file(seg, full.substr(0, start) + std::string(5000, '\0'));
    auto w = open_wal(d.wal(), rec);
    ASSERT_TRUE(w);
    EXPECT_EQ(rec.notes.size(), 1u);
    expect_same(before, rec.groups);
}

TEST(Wal, AFlippedByteInAnOlderRecordIsDamage) {
    TempDir d;
    Model model, upto_first;
    WalRecovery rec;
    std::string seg;
    std::uint64_t first = 0, second = 0;
    {
        auto w = open_wal(d.wal(), rec);
        seg = d.wal() + "/" + segments(d.wal())[0];
        const std::uint64_t header = fs::file_size(seg);
        ASSERT_TRUE(put(*w, {{.group = "a", .entries = entries(1, 2, 1)}}, &model));
        upto_first = model;
        first = fs::file_size(seg);
        ASSERT_TRUE(
            put(*w, {{.group = "a", .hard_state = HardState{1, 1, 2}, .entries = entries(3, 4, 1)}}, &model));
        second = fs::file_size(seg);
        ASSERT_TRUE(put(*w, {{.group = "b", .entries = entries(1, 1, 1)}}, &model));
        ASSERT_GT(first, header);
    }
    const std::string full = read_file(seg);
    for (std::size_t at = first; at < second; ++at) {
        SCOPED_TRACE("flip at " + std::to_string(at));
        std::string bad = full;
        bad[at] ^= 0x10;
        write_file(seg, bad);
        auto w = Wal::open(d.wal(), {}, rec);
        EXPECT_FALSE(w.has_value());
        EXPECT_TRUE(rec.damaged);
        ASSERT_FALSE(rec.notes.empty());
        EXPECT_NE(rec.notes.back().find("offset " + std::to_string(first)), std::string::npos)
            << rec.notes.back();
        expect_same(upto_first, rec.groups);  // what was read before the damage
    }
    write_file(seg, full);
    auto w = open_wal(d.wal(), rec);
    expect_same(model, rec.groups);
}

TEST(Wal, GroupCommitSharesSyncs) {
    TempDir d;
    WalRecovery rec;
    auto w = open_wal(d.wal(), rec);  // fsync on: the syncs are real
    constexpr int kThreads = 8, kCalls = 50;
    std::atomic<int> queued{0};
    std::vector<std::atomic<int>> done(kThreads * kCalls + 1);
    // The first batch holds the writer until every thread has queued, so the rest can only
    // go out together: fewer syncs than calls, deterministically.
    w->write({{.group = "first", .entries = entries(1, 1, 1)}}, [&](bool ok) {
        EXPECT_TRUE(ok);
        while (queued < kThreads * kCalls) std::this_thread::yield();
        ++done[0];
    });
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            for (int c = 0; c < kCalls; ++c) {
                const int id = 1 + t * kCalls + c;
                w->write(
                    {{.group = "t" + std::to_string(t), .entries = entries(Index(c + 1), Index(c + 1), 1)}},
                    [&, id](bool ok) {
                        EXPECT_TRUE(ok);
                        ++done[std::size_t(id)];
                    });
                ++queued;
            }
        });
    for (auto& t : threads) t.join();
    ASSERT_TRUE(w->flush());
    for (auto& n : done) EXPECT_EQ(n.load(), 1);
    const auto s = w->stats();
    EXPECT_LE(s.batches, 3u);
    EXPECT_LT(s.syncs, 10u);  // creating the first segment syncs too
    w.reset();
    w = open_wal(d.wal(), rec);
    ASSERT_EQ(rec.groups.size(), std::size_t(kThreads + 1));
    for (int t = 0; t < kThreads; ++t) EXPECT_EQ(rec.groups.at("t" + std::to_string(t)).entries.size(), 50u);
}

// Random valid (and a few invalid) updates for a handful of groups, reopened at random points.
void run_property(std::uint64_t seed, const std::string& dir) {
    std::mt19937_64 r(seed);
    const WalOptions o{.segment_bytes = std::uint64_t(256) << (r() % 14), .fsync = false};
    const char* names[] = {"_meta_", "S-ORDERS", "S-X", "C-ORDERS-d", "S-BIG"};
    Model model;
    WalRecovery rec;
    auto w = open_wal(dir, rec, o);
    std::vector<std::pair<std::shared_ptr<std::atomic<int>>, bool>> pending;  // outcome, expected
    for (int step = 0; step < 400 && w; ++step) {
        std::vector<WalGroupUpdate> ups;
        bool valid = true;
        for (int k = int(r() % 4); k >= 0; --k) {
            WalGroupUpdate u{.group = names[r() % 5]};
            Model trial = model;  // the updates before this one, in this call
            for (const auto& p : ups) model_apply(trial, p);
            const Stored& s = trial[u.group];
            Index snap_i = s.snapshot.index, last = snap_i + s.entries.size();
            const int what = int(r() % 20);
            if (what == 0) {
                u.drop = true;
            } else if (what <= 2) {
                u.install = what == 1;
                const Index at = u.install ? last + r() % 5 : snap_i + r() % (last - snap_i + 3);
                u.snapshot = snap(at, 1 + r() % 3, std::string(r() % 300, 'd'));
                snap_i = at;
                last = u.install ? at : std::max(last, at);
            }
            if (!u.drop && r() % 3) {
                const Index first = last + 1 - r() % (last - snap_i + 1);
                u.entries = entries(first, first + r() % 6, 1 + r() % 4, r() % 200);
            }
            if (!u.drop && r() % 2) u.hard_state = HardState{r() % 9, r() % 4, r() % 50};
            if (r() % 50 == 0) {  // a gap: the whole call must be refused
                u.entries = entries(last + 2, last + 2, 1);
                valid = false;
            }
            ups.push_back(std::move(u));
        }
        if (valid)
            for (const auto& u : ups) model_apply(model, u);
        auto ok = std::make_shared<std::atomic<int>>(-1);
        w->write(std::move(ups), [ok](bool k) { *ok = k; });
        pending.emplace_back(std::move(ok), valid);
        auto settled = [&] {
            for (const auto& [got, want] : pending) EXPECT_EQ(got->load(), want ? 1 : 0) << "step " << step;
            pending.clear();
        };
        if (r() % 4 == 0) {
            w->flush();
            settled();
        }
        if (r() % 30 == 0) {
            w.reset();
            settled();
            w = open_wal(dir, rec, o);
            expect_same(model, rec.groups);
            if (::testing::Test::HasFailure()) return;
        }
    }
    w.reset();
    w = open_wal(dir, rec, o);
    expect_same(model, rec.groups);
}

TEST(WalProperty, RandomUpdatesMatchTheModel) {
    const char* b = std::getenv("OSPREY_WAL_BUDGET_S");
    const char* replay = std::getenv("OSPREY_SEED");
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(b ? std::atof(b) : 3.0);
    const std::uint64_t base = replay ? std::strtoull(replay, nullptr, 10) : std::random_device{}();
    std::uint64_t n = 0;
    for (; n == 0 || (!replay && std::chrono::steady_clock::now() < end); ++n) {
        TempDir d;
        SCOPED_TRACE("seed " + std::to_string(base + n) + " (replay with OSPREY_SEED)");
        run_property(base + n, d.wal());
        if (HasFailure()) break;
    }
    std::printf("[ WalProperty ] %llu seeds from %llu\n", static_cast<unsigned long long>(n),
                static_cast<unsigned long long>(base));
}

}  // namespace
