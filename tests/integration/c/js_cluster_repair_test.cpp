// A replica whose stream files are lost or damaged is rebuilt from the other replicas: three
// servers, an R3 stream long enough for the logs to be compacted (so the log alone cannot
// rebuild it), one follower stopped, its stream store deleted or a byte of it flipped, and
// restarted. It must end holding every message, and serve every one of them, byte for byte,
// once it leads. The same scenario runs on nats-server 2.9.10, whose outcome is printed.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "c/js_cluster_helpers.h"
#include "c/js_helpers.h"

using namespace osprey::testing;
namespace fs = std::filesystem;

namespace {

constexpr int kMsgs = 400;

class JsClusterRepair : public ::testing::TestWithParam<std::string> {
protected:
    bool osprey() const { return GetParam() == OSPREY_BIN; }
    const char* kind() const { return osprey() ? "osprey" : "nats-server"; }
};

std::string body_of(int i) { return "payload-" + std::to_string(i) + std::string(64, char('a' + i % 26)); }

int leader_of(jsCtx* js) {
    jsStreamInfo* si = nullptr;
    jsErrCode err;
    if (js_GetStreamInfo(&si, js, "FIX", nullptr, &err) != NATS_OK || !si) return -1;
    const int l = si->Cluster && si->Cluster->Leader ? index_of(si->Cluster->Leader) : -1;
    jsStreamInfo_Destroy(si);
    return l;
}

// The directories that hold server `i`'s copy of stream FIX's messages (osprey: .../FIX~<tag>/msgs,
// nats-server: .../streams/FIX/msgs).
std::vector<fs::path> message_dirs(const std::string& store) {
    std::vector<fs::path> v;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(store, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) break;
        const auto& p = it->path();
        if (it->is_directory() && p.filename() == "msgs" && p.parent_path().filename().string().starts_with("FIX"))
            v.push_back(p);
    }
    return v;
}

enum class Damage { Lost, BitFlip };

void run_repair(const std::string& bin, Damage damage, const char* kind) {
    auto osprey = [&] { return bin == OSPREY_BIN; };
    JsCluster c(bin, 3);
    ASSERT_FALSE(c.agreed_leader(20s).empty()) << c.logs();
    ClusterClient cl(c, 0);
    jsErrCode err;
    jsStreamInfo* si = create_r(cl.js.get(), "FIX", "fix.>", 3, &err);
    ASSERT_NE(si, nullptr) << int(err) << c.logs();
    jsStreamInfo_Destroy(si);
    for (int i = 1; i <= kMsgs; ++i) {
        const std::string b = body_of(i);
        jsPubAck* pa = nullptr;
        jsErrCode e;
        ASSERT_EQ(js_Publish(&pa, cl.js.get(), "fix.m", b.data(), int(b.size()), nullptr, &e), NATS_OK) << i;
        jsPubAck_Destroy(pa);
        if (i == kMsgs / 2) std::this_thread::sleep_for(1500ms);  // a compaction round in between
    }
    ASSERT_TRUE(all_hold(c, kMsgs)) << c.logs();
    std::this_thread::sleep_for(2500ms);  // the replicas sync and compact their logs
    const int leader = leader_of(cl.js.get());
    ASSERT_GE(leader, 0);
    const int victim = leader == 2 ? 1 : 2;  // a follower, and not server 0 (the client's)
    c.node(victim).stop();
    auto dirs = message_dirs(c.store_dir(victim));
    ASSERT_FALSE(dirs.empty()) << "no message directory of FIX under " << c.store_dir(victim);
    if (damage == Damage::Lost) {
        for (auto& d : dirs) fs::remove_all(d);
    } else {
        // One byte in the middle of every segment file: records whose checksum fails.
        int flipped = 0;
        for (auto& d : dirs)
            for (auto& f : fs::directory_iterator(d)) {
                if (!f.is_regular_file() || f.file_size() < 1024) continue;
                std::fstream io(f.path(), std::ios::in | std::ios::out | std::ios::binary);
                io.seekg(std::streamoff(f.file_size() / 2));
                char ch = 0;
                io.read(&ch, 1);
                ch = char(ch ^ 0x20);
                io.seekp(std::streamoff(f.file_size() / 2));
                io.write(&ch, 1);
                ++flipped;
            }
        ASSERT_GT(flipped, 0) << "no segment file to damage";
    }
    c.start(victim);
    const bool held = all_hold(c, kMsgs, 30s);
    std::printf("[ info ] %s %s: after the restart the damaged replica %s %d messages\n", kind,
                damage == Damage::Lost ? "lost store" : "bit flip", held ? "holds all" : "does not hold all", kMsgs);
    if (osprey()) {
        ASSERT_TRUE(held) << c.logs();
    }
    // The damaged replica leads (bounded stepdowns), then serves every message as it was.
    bool leads = false;
    for (int k = 0; k < 20 && !leads; ++k) {
        const int l = leader_of(cl.js.get());
        if (l == victim) {
            leads = true;
            break;
        }
        natsMsg* reply = nullptr;
        natsConnection_RequestString(&reply, cl.nc.get(), "$JS.API.STREAM.LEADER.STEPDOWN.FIX", "", 3000);
        if (reply) natsMsg_Destroy(reply);
        std::this_thread::sleep_for(osprey() ? 800ms : 3000ms);
    }
    if (!leads) {
        std::printf("[ info ] %s: s%d could not be made the leader; its copy is checked by /jsz only\n", kind, victim);
        if (osprey()) ADD_FAILURE() << "the repaired replica never led\n" << c.logs();
        return;
    }
    int wrong = 0, missing = 0;
    for (int i = 1; i <= kMsgs; ++i) {
        natsMsg* m = nullptr;
        jsErrCode e;
        if (js_GetMsg(&m, cl.js.get(), "FIX", std::uint64_t(i), nullptr, &e) != NATS_OK || !m) {
            ++missing;
            continue;
        }
        if (std::string(natsMsg_GetData(m), std::size_t(natsMsg_GetDataLength(m))) != body_of(i)) ++wrong;
        natsMsg_Destroy(m);
    }
    std::printf("[ info ] %s: read from the repaired replica as leader: %d missing, %d different\n", kind, missing, wrong);
    if (osprey()) {
        EXPECT_EQ(missing, 0) << c.logs();
        EXPECT_EQ(wrong, 0);
        const std::string log = c.node(victim).log();
        EXPECT_NE(log.find(damage == Damage::Lost ? "fetching the rest from the other replicas" : "damaged records"),
                  std::string::npos)
            << log;
    }
}

TEST_P(JsClusterRepair, AReplicaThatLostItsStoreIsRebuiltFromTheOthers) { run_repair(GetParam(), Damage::Lost, kind()); }

TEST_P(JsClusterRepair, AReplicaWithAFlippedBitIsRepairedAndNeverServesIt) {
    run_repair(GetParam(), Damage::BitFlip, kind());
}

INSTANTIATE_TEST_SUITE_P(Servers, JsClusterRepair, ::testing::ValuesIn(js_cluster_servers()),
                         [](const auto& info) { return info.param == OSPREY_BIN ? "osprey" : "nats"; });

}  // namespace
