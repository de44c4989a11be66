// The file store's index tier: sealed entries read back from index files, the summary of a
// clean stop, and every way those files can be missing, damaged or stale. The memory store
// is the model; "a crash" is a copy of the directory taken while the store is open (after a
// sync), which is what kill -9 leaves: no summary, index files as last written.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "temp_dir.h"
#include "jetstream/store/file_store.h"
#include "jetstream/store/mem_store.h"

using namespace osprey::jetstream;
namespace fs = std::filesystem;

using osprey::testing::temp_dir;

namespace {

FileStoreConfig tiny(const std::string& dir) {
    FileStoreConfig c;
    c.dir = dir;
    c.segment_bytes = 2048;  // a seal every few dozen messages
    return c;
}

const char* kSubjects[] = {"a", "b", "c.d", "c.e", "c.f.g"};

// Everything a stream asks of its store, compared with the model.
void expect_same(const Store& f, const Store& m) {
    const auto a = f.state(), b = m.state();
    ASSERT_EQ(a.msgs, b.msgs);
    ASSERT_EQ(a.first_seq, b.first_seq);
    ASSERT_EQ(a.last_seq, b.last_seq);
    ASSERT_EQ(a.first_ts, b.first_ts);
    ASSERT_EQ(a.num_subjects, b.num_subjects);
    ASSERT_EQ(a.num_deleted, b.num_deleted);
    ASSERT_EQ(f.deleted(), m.deleted());
    ASSERT_EQ(f.subject_totals(""), m.subject_totals(""));
    ASSERT_EQ(f.with_headers_since(0), m.with_headers_since(0));
    for (const char* s : kSubjects) {
        const auto x = f.subject_state(s), y = m.subject_state(s);
        ASSERT_EQ(x.msgs, y.msgs) << s;
        ASSERT_EQ(x.first, y.first) << s;
        ASSERT_EQ(x.last, y.last) << s;
    }
    std::uint64_t bytes = 0;  // the stores account sizes differently (as nats-server's do)
    for (std::uint64_t q = a.first_seq; q <= a.last_seq && q > 0; ++q) {
        auto x = f.load(q), y = m.load(q);
        if (y) bytes += file_msg_size(y->subject.size(), y->hdr.size(), y->data.size());
        ASSERT_EQ(x.has_value(), y.has_value()) << q;
        if (x) {
            ASSERT_EQ(x->subject, y->subject) << q;
            ASSERT_EQ(x->data, y->data) << q;
            ASSERT_EQ(x->hdr, y->hdr) << q;
            ASSERT_EQ(x->ts, y->ts) << q;
        }
        ASSERT_EQ(f.contains(q), m.contains(q)) << q;
    }
    ASSERT_EQ(a.bytes, bytes);
    for (const char* filter : {"", "c.*", "c.>", "b", "z"}) {
        for (std::uint64_t from : {std::uint64_t(0), a.first_seq + (a.last_seq - a.first_seq) / 2}) {
            auto x = f.load_next(filter, from), y = m.load_next(filter, from);
            ASSERT_EQ(x.has_value(), y.has_value()) << filter;
            if (x) {
                ASSERT_EQ(x->seq, y->seq) << filter;
            }
            ASSERT_EQ(f.count_after(filter, from), m.count_after(filter, from)) << filter;
        }
        auto x = f.load_last(filter), y = m.load_last(filter);
        ASSERT_EQ(x.has_value(), y.has_value()) << filter;
        if (x) {
            ASSERT_EQ(x->seq, y->seq) << filter;
        }
    }
}

void random_ops(FileStore& f, MemStore& m, std::mt19937& rng, int n, std::int64_t& ts,
                bool purges = true) {
    for (int i = 0; i < n; ++i) {
        const int op = int(rng() % 20);
        if (op < 15) {
            std::string subj = kSubjects[rng() % 5];
            std::string data(rng() % 120, char('a' + rng() % 26));
            std::string hdr = rng() % 3 ? "" : "NATS/1.0\r\nX: y\r\n\r\n";
            ++ts;
            auto s1 = f.append(subj, hdr, data, ts);
            auto s2 = m.append(subj, hdr, data, ts);
            ASSERT_TRUE(s1 && s2);
            ASSERT_EQ(*s1, *s2);
        } else if (op < 19 || !purges) {
            const auto st = m.state();
            if (!st.msgs) continue;
            const std::uint64_t q = st.first_seq + rng() % (st.last_seq - st.first_seq + 1);
            ASSERT_EQ(f.remove(q), m.remove(q)) << q;
        } else {
            std::string filter = rng() % 2 ? "" : kSubjects[rng() % 5];
            const std::uint64_t keep = rng() % 4;
            ASSERT_EQ(f.purge(filter, 0, keep), m.purge(filter, 0, keep));
        }
    }
}

std::size_t count_files(const std::string& dir, std::string_view suffix) {
    std::size_t n = 0;
    for (auto& e : fs::directory_iterator(dir + "/msgs")) n += e.path().string().ends_with(suffix);
    return n;
}

}  // namespace

TEST(IndexTier, MatchesTheModelThroughCleanStopsAndCrashes) {
    std::string dir = temp_dir("osprey-index");
    MemStore model;
    std::mt19937 rng(7);
    std::int64_t ts = 1000;
    std::vector<std::string> dirs{dir};
    bool had_summary = false;
    int summaries = 0;
    for (int round = 0; round < 8; ++round) {
        const bool crash = round % 3 == 2;
        std::string next = dir;
        {
            FileStore f(tiny(dir));
            // A clean stop of a store with sealed segments leaves a summary that the start
            // reads; after a crash (or with nothing sealed) the start reads the segments.
            EXPECT_EQ(f.started_from_summary(), had_summary) << round;
            if (round > 0) expect_same(f, model);
            random_ops(f, model, rng, 600, ts);
            // Sealed segments leave memory: only the current one's entries are held.
            EXPECT_LT(f.hot_entries(), 64u);
            expect_same(f, model);
            f.sync();
            if (crash) {
                next = temp_dir("osprey-index");
                fs::copy(dir, next, fs::copy_options::recursive);
                dirs.push_back(next);
            }
        }
        dir = next;
        had_summary = fs::exists(dir + "/msgs/index.summary");
        if (crash) {
            EXPECT_FALSE(had_summary) << round;
        }
        summaries += had_summary;
    }
    EXPECT_GE(summaries, 2);  // both paths were taken
    for (auto& d : dirs) fs::remove_all(d);
}

TEST(IndexTier, MissingDamagedAndShortIndexFilesAreRebuiltFromTheirSegments) {
    const std::string dir = temp_dir("osprey-index");
    MemStore model;
    std::mt19937 rng(11);
    std::int64_t ts = 1000;
    {
        FileStore f(tiny(dir));
        random_ops(f, model, rng, 800, ts, false);  // many segments stay
    }
    std::vector<fs::path> idx;
    for (auto& e : fs::directory_iterator(dir + "/msgs"))
        if (e.path().extension() == ".idx") idx.push_back(e.path());
    std::sort(idx.begin(), idx.end());
    ASSERT_GE(idx.size(), 6u);
    fs::remove(idx[1]);                                   // missing
    fs::resize_file(idx[2], fs::file_size(idx[2]) - 100);  // short
    {
        std::fstream io(idx[3], std::ios::in | std::ios::out | std::ios::binary);  // a flipped
        io.seekp(4096 + 30);                                                      // bit in a
        char c;                                                                   // block
        io.seekg(4096 + 30);
        io.get(c);
        io.seekp(4096 + 30);
        io.put(char(c ^ 0x10));
    }
    {
        std::fstream io(idx[4], std::ios::in | std::ios::out | std::ios::binary);  // header
        io.seekp(17);
        io.put('\x7f');
    }
    {
        FileStore f(tiny(dir));
        EXPECT_TRUE(f.started_from_summary());
        expect_same(f, model);  // the flipped block is found on reading and rebuilt
        random_ops(f, model, rng, 200, ts);
        expect_same(f, model);
    }
    fs::remove_all(dir);
}

TEST(IndexTier, AStaleOrDamagedSummaryIsNotUsed) {
    const std::string dir = temp_dir("osprey-index");
    MemStore model;
    std::mt19937 rng(5);
    std::int64_t ts = 1000;
    {
        FileStore f(tiny(dir));
        random_ops(f, model, rng, 500, ts);
    }
    const std::string summary = dir + "/msgs/index.summary";
    const std::string old = dir + "/old.summary";
    fs::copy_file(summary, old);
    {
        FileStore f(tiny(dir));  // reads it, deletes it, changes the store
        EXPECT_TRUE(f.started_from_summary());
        random_ops(f, model, rng, 300, ts);
        f.sync();
        // A summary from before these changes put back (as a crash could never leave it,
        // but a restored backup could): it no longer matches the segments.
        fs::copy_file(old, dir + "/saved.summary");
    }
    fs::remove(summary);
    fs::copy_file(dir + "/saved.summary", summary);
    {
        FileStore f(tiny(dir));
        EXPECT_FALSE(f.started_from_summary());
        expect_same(f, model);
        random_ops(f, model, rng, 100, ts);
    }
    {
        // A flipped byte in the summary: not used, nothing lost.
        std::fstream io(summary, std::ios::in | std::ios::out | std::ios::binary);
        io.seekp(40);
        io.put('\x55');
    }
    {
        FileStore f(tiny(dir));
        EXPECT_FALSE(f.started_from_summary());
        expect_same(f, model);
    }
    fs::remove_all(dir);
}

TEST(IndexTier, LeftoversOfAKilledIndexWriteAreHarmless) {
    const std::string dir = temp_dir("osprey-index");
    MemStore model;
    std::mt19937 rng(3);
    std::int64_t ts = 1000;
    std::string copy;
    {
        FileStore f(tiny(dir));
        random_ops(f, model, rng, 500, ts);
        f.sync();
        copy = temp_dir("osprey-index");
        fs::copy(dir, copy, fs::copy_options::recursive);  // killed here
    }
    // Killed while writing index files: half-written temporaries, and a summary temporary.
    std::ofstream(copy + "/msgs/0000000003.idx.tmp") << std::string(5000, 'x');
    std::ofstream(copy + "/msgs/index.summary.tmp") << "half";
    {
        FileStore f(tiny(copy));
        EXPECT_FALSE(f.started_from_summary());
        expect_same(f, model);
    }
    {
        FileStore f(tiny(copy));
        EXPECT_TRUE(f.started_from_summary());
        expect_same(f, model);
    }
    EXPECT_GT(count_files(copy, ".idx"), 0u);
    EXPECT_EQ(count_files(copy, ".tmp"), 0u);  // cleared at the start
    fs::remove_all(dir);
    fs::remove_all(copy);
}

// Default-sized segments, many messages: memory holds one segment's entries, a clean stop's
// summary is used, and every message reads back after it.
TEST(IndexTier, ALargeStoreStartsFromItsSummaryWithLittleInMemory) {
    const std::string dir = temp_dir("osprey-index");
    FileStoreConfig c;
    c.dir = dir;
    c.segment_bytes = 1 << 20;
    constexpr int kMsgs = 100000;
    {
        FileStore f(c);
        for (int i = 1; i <= kMsgs; ++i)
            ASSERT_TRUE(f.append("orders." + std::to_string(i % 7), i % 10 ? "" : "NATS/1.0\r\n\r\n",
                                 std::to_string(i), i));
        EXPECT_LT(f.hot_entries(), 20000u);
        ASSERT_TRUE(f.remove(5));
        ASSERT_TRUE(f.remove(kMsgs / 2));
    }
    FileStore f(c);
    ASSERT_TRUE(f.started_from_summary());
    EXPECT_EQ(f.hot_entries(), 0u);
    const auto st = f.state();
    EXPECT_EQ(st.msgs, std::uint64_t(kMsgs - 2));
    EXPECT_EQ(st.num_deleted, 2u);
    EXPECT_EQ(f.with_headers_since(0).size(), std::size_t(kMsgs / 10 - 1));  // 50000 was one
    for (int i = 1; i <= kMsgs; ++i) {
        auto m = f.load(std::uint64_t(i));
        if (i == 5 || i == kMsgs / 2) {
            ASSERT_FALSE(m);
            continue;
        }
        ASSERT_TRUE(m) << i;
        ASSERT_EQ(m->data, std::to_string(i));
        ASSERT_EQ(m->subject, "orders." + std::to_string(i % 7));
    }
    EXPECT_EQ(f.subject_state("orders.3").msgs, std::uint64_t(kMsgs / 7 + (kMsgs % 7 >= 3)));
    fs::remove_all(dir);
}

// A store that never filled a segment (most streams and every consumer's ack log) stops
// without writing anything (a server with thousands of them stops at once) and starts again
// on the same segment.
TEST(IndexTier, ASmallStoreStopsWithoutWritingAnIndex) {
    const std::string dir = temp_dir("osprey-index");
    {
        FileStore f(tiny(dir));
        for (int i = 0; i < 5; ++i) ASSERT_TRUE(f.append("a", "", "x", i + 1));
    }
    EXPECT_EQ(count_files(dir, ".idx"), 0u);
    EXPECT_FALSE(fs::exists(dir + "/msgs/index.summary"));
    {
        FileStore f(tiny(dir));
        EXPECT_EQ(f.state().msgs, 5u);
        ASSERT_TRUE(f.append("a", "", "y", 6));
    }
    EXPECT_EQ(count_files(dir, ".seg"), 1u);
    fs::remove_all(dir);
}
