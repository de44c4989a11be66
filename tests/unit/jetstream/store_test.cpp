// The stores: FileStore checked against MemStore (the model) under random operations, across
// reopenings, with small segments so that rolling and dropping happen; and recovery from
// damaged files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "temp_dir.h"
#include "jetstream/store/file_store.h"
#include "jetstream/store/mem_store.h"
#include "jetstream/store/record.h"

using namespace osprey::jetstream;
namespace fs = std::filesystem;

using osprey::testing::temp_dir;

namespace {

FileStoreConfig small(const std::string& dir) {
    FileStoreConfig c;
    c.dir = dir;
    c.segment_bytes = 4096;  // many segments
    return c;
}

void expect_same(Store& a, Store& b) {
    auto sa = a.state(), sb = b.state();
    ASSERT_EQ(sa.msgs, sb.msgs);
    ASSERT_EQ(sa.first_seq, sb.first_seq);
    ASSERT_EQ(sa.last_seq, sb.last_seq);
    ASSERT_EQ(sa.num_subjects, sb.num_subjects);
    ASSERT_EQ(sa.num_deleted, sb.num_deleted);
    for (std::uint64_t s = sa.first_seq; s <= sa.last_seq && s > 0; ++s) {
        auto ma = a.load(s), mb = b.load(s);
        ASSERT_EQ(ma.has_value(), mb.has_value()) << s;
        if (ma) {
            ASSERT_EQ(ma->subject, mb->subject);
            ASSERT_EQ(ma->data, mb->data);
            ASSERT_EQ(ma->hdr, mb->hdr);
        }
    }
    ASSERT_EQ(a.subject_totals(""), b.subject_totals(""));
}

}  // namespace

TEST(Record, RoundTripAndDamage) {
    std::string buf;
    record::append(buf, record::Type::Message, 42, 7, "a.b", "NATS/1.0\r\n\r\n", "data");
    record::View v;
    ASSERT_EQ(record::decode(buf, v), record::Decode::Ok);
    EXPECT_EQ(v.seq, 42u);
    EXPECT_EQ(v.subject, "a.b");
    EXPECT_EQ(v.data, "data");
    EXPECT_EQ(record::decode(std::string_view(buf).substr(0, buf.size() - 1), v),
              record::Decode::NeedMore);
    for (std::size_t i = 0; i < buf.size(); ++i) {
        std::string bad = buf;
        bad[i] ^= 0x01;
        EXPECT_NE(record::decode(bad, v), record::Decode::Ok) << "flip at " << i;
    }
}

TEST(FileStore, MatchesTheMemoryModelAcrossReopens) {
    const std::string dir = temp_dir("osprey-store");
    MemStore model;
    std::mt19937 rng(99);
    const char* subjects[] = {"a", "b", "c.d", "c.e"};
    for (int round = 0; round < 5; ++round) {
        FileStore fsx(small(dir));
        if (round > 0) expect_same(fsx, model);
        for (int i = 0; i < 400; ++i) {
            int op = int(rng() % 10);
            if (op < 7) {
                std::string subj = subjects[rng() % 4];
                std::string data(rng() % 200, char('a' + rng() % 26));
                std::string hdr = rng() % 3 ? "" : "NATS/1.0\r\nX: y\r\n\r\n";
                auto s1 = fsx.append(subj, hdr, data, 1000 + i);
                auto s2 = model.append(subj, hdr, data, 1000 + i);
                ASSERT_TRUE(s1 && s2);
                ASSERT_EQ(*s1, *s2);
            } else if (op < 9) {
                auto st = model.state();
                if (!st.msgs) continue;
                std::uint64_t seq = st.first_seq + rng() % (st.last_seq - st.first_seq + 1);
                ASSERT_EQ(fsx.remove(seq), model.remove(seq)) << seq;
            } else {
                // Full, filtered, kept and bounded purges (a bounded one writes a marker that
                // recovery must apply to the messages before it only).
                std::string filter = rng() % 2 ? "" : subjects[rng() % 4];
                std::uint64_t keep = rng() % 3;
                std::uint64_t below = 0;
                if (auto st = model.state(); st.msgs && rng() % 2) {
                    below = st.first_seq + rng() % (st.last_seq - st.first_seq + 1);
                    keep = 0;
                }
                ASSERT_EQ(fsx.purge(filter, below, keep), model.purge(filter, below, keep));
            }
        }
        expect_same(fsx, model);
        if (auto last = model.load_last("c.*")) {
            auto got = fsx.load_last("c.*");
            ASSERT_TRUE(got);
            EXPECT_EQ(got->seq, last->seq);
        }
        fsx.sync();
    }
    // Dead front segments were dropped: far fewer files than were ever written.
    std::size_t files = 0;
    for (auto& e : fs::directory_iterator(dir + "/msgs")) files += e.is_regular_file();
    EXPECT_LT(files, 400u);
    fs::remove_all(dir);
}

// A bounded purge keeps what comes after it, across a restart, even where the dead segments
// before it are dropped (recovery once took a bounded purge marker for a full one).
TEST(FileStore, BoundedPurgeKeepsLaterMessagesAcrossRestart) {
    const std::string dir = temp_dir("osprey-store");
    {
        FileStore fsx(small(dir));
        for (int i = 0; i < 300; ++i) ASSERT_TRUE(fsx.append("s", {}, std::string(100, 'x'), i));
        EXPECT_EQ(fsx.purge("", 150, 0), 149u);
        for (int i = 0; i < 20; ++i) ASSERT_TRUE(fsx.append("s", {}, std::string(100, 'y'), 1000 + i));
        fsx.sync();
    }
    for (int round = 0; round < 2; ++round) {
        FileStore fsx(small(dir));
        auto st = fsx.state();
        EXPECT_EQ(st.first_seq, 150u);
        EXPECT_EQ(st.last_seq, 320u);
        EXPECT_EQ(st.msgs, 171u);
        for (std::uint64_t q = 150; q <= 320; ++q) ASSERT_TRUE(fsx.load(q)) << q;
        fsx.sync();  // lets the writer drop dead front segments before the next reopen
    }
    fs::remove_all(dir);
}

TEST(FileStore, DurableCallbacksRunAfterSync) {
    const std::string dir = temp_dir("osprey-store");
    FileStore fsx(small(dir));
    std::atomic<int> done{0};
    for (int i = 0; i < 100; ++i) {
        auto seq = fsx.append("s", "", "x", i);
        fsx.when_durable(*seq, [&] { ++done; });
    }
    fsx.sync();
    for (int i = 0; i < 100 && done < 100; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_EQ(done.load(), 100);
    EXPECT_EQ(fsx.durable_seq(), 100u);
    fs::remove_all(dir);
}

TEST(FileStore, RecoverySkipsDamageAndCutsTornTail) {
    const std::string dir = temp_dir("osprey-store");
    {
        FileStoreConfig c;
        c.dir = dir;
        FileStore fsx(c);
        for (int i = 1; i <= 50; ++i) fsx.append("s", "", "message-" + std::to_string(i), i);
        fsx.sync();
    }
    const std::string seg = dir + "/msgs/0000000001.seg";
    std::string bytes;
    {
        std::ifstream f(seg, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(f), {});
    }
    std::vector<std::size_t> starts;
    for (auto p = bytes.find("OSPR"); p != std::string::npos; p = bytes.find("OSPR", p + 1))
        starts.push_back(p);
    ASSERT_EQ(starts.size(), 50u);
    bytes[starts[4] + 4] ^= 0x40;          // length of record 5
    bytes[starts[20] + 36] ^= 0x01;        // payload of record 21
    bytes.resize(starts[49] + 10);         // torn record 50
    {
        std::ofstream f(seg, std::ios::binary | std::ios::trunc);
        f << bytes;
    }
    FileStoreConfig c;
    c.dir = dir;
    FileStore fsx(c);
    auto rep = fsx.recovery();
    EXPECT_EQ(rep.bad_records, 2u);
    EXPECT_GT(rep.truncated_bytes, 0u);
    auto st = fsx.state();
    EXPECT_EQ(st.msgs, 47u);
    EXPECT_EQ(st.last_seq, 49u);
    EXPECT_FALSE(fsx.load(5));
    EXPECT_FALSE(fsx.load(21));
    EXPECT_EQ(fsx.load(22)->data, "message-22");
    EXPECT_EQ(*fsx.append("s", "", "next", 99), 50u);
    fs::remove_all(dir);
}

TEST(FileStore, EraseOverwritesTheBytes) {
    const std::string dir = temp_dir("osprey-store");
    {
        FileStoreConfig c;
        c.dir = dir;
        FileStore fsx(c);
        fsx.append("s", "", "keep-me", 1);
        fsx.append("s", "", "SECRET-PAYLOAD", 2);
        fsx.append("s", "", "keep-me-too", 3);
        fsx.sync();
        EXPECT_TRUE(fsx.erase(2));
        EXPECT_FALSE(fsx.erase(2));
        fsx.sync();
    }
    std::ifstream f(dir + "/msgs/0000000001.seg", std::ios::binary);
    std::string bytes(std::istreambuf_iterator<char>(f), {});
    EXPECT_EQ(bytes.find("SECRET-PAYLOAD"), std::string::npos);
    FileStoreConfig c;
    c.dir = dir;
    FileStore fsx(c);
    EXPECT_EQ(fsx.recovery().bad_records, 0u);
    EXPECT_EQ(fsx.state().msgs, 2u);
    EXPECT_FALSE(fsx.load(2));
    EXPECT_EQ(fsx.load(3)->data, "keep-me-too");
    fs::remove_all(dir);
}

TEST(FileStore, CompactsSegmentsThatAreMostlyHoles) {
    const std::string dir = temp_dir("osprey-store");
    auto dir_bytes = [&] {
        std::uintmax_t n = 0;
        for (auto& e : fs::directory_iterator(dir + "/msgs")) n += e.file_size();
        return n;
    };
    MemStore model;
    {
        FileStore fsx(small(dir));
        for (int i = 1; i <= 400; ++i) {
            std::string data = "message-" + std::to_string(i) + std::string(60, 'z');
            fsx.append("s", "", data, i);
            model.append("s", "", data, i);
        }
        fsx.sync();
        const auto before = dir_bytes();
        // Interior deletes: every message but one in four goes.
        for (std::uint64_t s = 1; s <= 400; ++s) {
            if (s % 4 == 1) continue;
            fsx.remove(s);
            model.remove(s);
        }
        fsx.append("s", "", "last", 401);
        model.append("s", "", "last", 401);
        for (int i = 0; i < 40; ++i) fsx.sync();  // one compaction per write batch
        EXPECT_GT(fsx.compactions(), 0u);
        EXPECT_LT(dir_bytes(), before);
        expect_same(fsx, model);
    }
    FileStore reopened(small(dir));
    EXPECT_EQ(reopened.recovery().bad_records, 0u);
    expect_same(reopened, model);
    fs::remove_all(dir);
}

// Lazy sync (sync_interval > 0): the record reaches the kernel before append() returns, so it
// is "durable" for this mode at once and survives the process (here: a second store reading
// the files while the first never synced).
TEST(FileStore, LazyModeWritesBeforeAppendReturns) {
    const std::string dir = temp_dir("osprey-store");
    FileStoreConfig cfg = small(dir);
    cfg.sync_interval_ms = 60 * 60 * 1000;
    FileStore first(cfg);
    for (int i = 0; i < 300; ++i) {
        auto seq = first.append("lazy." + std::to_string(i % 7), i % 3 ? "" : "NATS/1.0\r\nA: b\r\n\r\n",
                                "payload-" + std::to_string(i), i);
        ASSERT_TRUE(seq);
        EXPECT_EQ(first.durable_seq(), *seq);
        bool called = false;
        first.when_durable(*seq, [&] { called = true; });
        EXPECT_TRUE(called);
    }
    ASSERT_TRUE(first.remove(5));
    {
        FileStore second(cfg);  // reads what the kernel has
        EXPECT_EQ(second.state().msgs, 299u);
        EXPECT_FALSE(second.load(5));
        auto m = second.load(300);
        ASSERT_TRUE(m);
        EXPECT_EQ(m->data, "payload-299");
        EXPECT_EQ(m->subject, "lazy.5");
        second.stop();
    }
    first.stop();
    fs::remove_all(dir);
}
