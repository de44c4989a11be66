// The consumer configuration log: the newest text of each name survives reopening, erasing,
// a bit flip in either copy, and a crash between writing a new record and removing the old.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "temp_dir.h"
#include "jetstream/store/config_log.h"
#include "jetstream/store/file_store.h"

using namespace osprey::jetstream;
namespace fs = std::filesystem;
using osprey::testing::temp_dir;

namespace {

std::vector<fs::path> segments(const std::string& dir) {
    std::vector<fs::path> v;
    for (auto& e : fs::directory_iterator(dir + "/msgs"))
        if (e.path().extension() == ".seg") v.push_back(e.path());
    std::sort(v.begin(), v.end());
    return v;
}

std::string read(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

void write(const fs::path& p, const std::string& s) {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f << s;
}

}  // namespace

TEST(ConfigLog, NoLogUntilTheFirstPut) {
    const std::string dir = temp_dir("osprey-cfglog");
    ConfigLog log(dir, 0);
    EXPECT_TRUE(log.load().empty());
    EXPECT_FALSE(fs::exists(dir));  // a stream without durable consumers writes nothing
    EXPECT_TRUE(log.erase("nobody"));
    EXPECT_FALSE(fs::exists(dir));
}

TEST(ConfigLog, NewestTextOfEachNameAcrossReopens) {
    const std::string dir = temp_dir("osprey-cfglog");
    std::map<std::string, std::string> model;
    std::mt19937 rng(3);
    for (int round = 0; round < 6; ++round) {
        ConfigLog log(dir, 0);
        ASSERT_EQ(log.load(), model) << "round " << round;
        for (int i = 0; i < 200; ++i) {
            const std::string name = "c" + std::to_string(rng() % 40);
            if (rng() % 4 == 0) {
                ASSERT_TRUE(log.erase(name));
                model.erase(name);
            } else {
                const std::string text = "{\"config\":" + std::to_string(rng()) + std::string(rng() % 300, 'x') + "}";
                ASSERT_TRUE(log.put(name, text));
                model[name] = text;
            }
        }
        log.close(false);
    }
    ConfigLog log(dir, 0);
    EXPECT_EQ(log.load(), model);
}

TEST(ConfigLog, DurableCallbackRunsOncePerPut) {
    const std::string dir = temp_dir("osprey-cfglog");
    ConfigLog log(dir, 0);
    log.load();
    std::atomic<int> done{0};
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(log.put("c" + std::to_string(i), "{}", [&] { ++done; }));
    ASSERT_TRUE(log.erase("c0", [&] { ++done; }));
    for (int i = 0; i < 500 && done < 51; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_EQ(done.load(), 51);
}

// A flipped byte in one record: the other copy of the same put stands in. Every byte of the
// segment is tried in turn (one at a time): the newest text of each name is served or, if a
// flip hits both copies' framing at once (it cannot: they are separate records), nothing
// wrong ever is.
TEST(ConfigLog, AFlippedByteInEitherCopyLosesNothing) {
    const std::string dir = temp_dir("osprey-cfglog");
    std::map<std::string, std::string> model;
    {
        ConfigLog log(dir, 0);
        log.load();
        for (int i = 0; i < 3; ++i) {
            const std::string name = "c" + std::to_string(i);
            model[name] = "{\"config\":{\"durable_name\":\"" + name + "\"}}";
            ASSERT_TRUE(log.put(name, "{\"old\":1}"));
            ASSERT_TRUE(log.put(name, model[name]));
        }
        log.close(false);
    }
    const auto segs = segments(dir);
    ASSERT_EQ(segs.size(), 1u);
    const std::string pristine = read(segs[0]);
    const std::string saved = dir + ".pristine";
    fs::remove_all(saved);
    fs::copy(dir, saved, fs::copy_options::recursive);
    for (std::size_t at = 0; at < pristine.size(); at += 7) {
        fs::remove_all(dir);
        fs::copy(saved, dir, fs::copy_options::recursive);
        std::string bad = pristine;
        bad[at] = char(bad[at] ^ 0x20);
        write(segments(dir)[0], bad);
        ConfigLog log(dir, 0);
        auto got = log.load();
        for (auto& [name, text] : got) {
            ASSERT_TRUE(model.contains(name)) << "byte " << at << ": unknown name " << name;
            EXPECT_EQ(text, model[name]) << "byte " << at << ": an old or damaged text served";
        }
        EXPECT_EQ(got.size(), model.size()) << "byte " << at << ": a configuration was lost";
    }
}

// A crash after the new record was written but before the old one's removal reached the
// disk: both are in the log and the newest wins (the store's own recovery keeps both).
TEST(ConfigLog, NewestWinsWhenTheOldRecordWasNotRemoved) {
    const std::string dir = temp_dir("osprey-cfglog");
    {
        // Written as an older osprey would have left it mid-update: two generations.
        FileStoreConfig fc;
        fc.dir = dir;
        FileStore st(fc);
        ASSERT_TRUE(st.append("c", {}, "{\"v\":1}", 0));
        ASSERT_TRUE(st.append("c", {}, "{\"v\":1}", 0));
        ASSERT_TRUE(st.append("c", {}, "{\"v\":2}", 0));
        ASSERT_TRUE(st.append("c", {}, "{\"v\":2}", 0));
        ASSERT_TRUE(st.append("d", {}, "{\"v\":1}", 0));
        ASSERT_TRUE(st.append("d", {}, "", 0));  // erased
        st.stop();
    }
    {
        ConfigLog log(dir, 0);
        auto got = log.load();
        ASSERT_EQ(got.size(), 1u);
        EXPECT_EQ(got["c"], "{\"v\":2}");
        log.close(false);
    }
    // The stale records were removed by that load: the store holds the newest pair alone.
    FileStoreConfig fc;
    fc.dir = dir;
    FileStore st(fc);
    EXPECT_EQ(st.state().msgs, 2u);
}
