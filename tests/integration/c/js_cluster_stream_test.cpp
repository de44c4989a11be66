// Replicated streams with nats.c on three servers: an R3 stream acknowledges a publish once a
// majority holds it, every replica ends with every acknowledged message, a kill -9 of the
// stream leader loses nothing acknowledged (publishers retry with their message ids until a
// new leader acknowledges), and the killed server catches up after its restart. The same
// expectations run against three nats-server 2.9.10 processes.
#include <gtest/gtest.h>

#include <set>

#include "c/js_cluster_helpers.h"
#include "c/js_helpers.h"

using namespace osprey::testing;

namespace {

class JsClusterStream : public ::testing::TestWithParam<std::string> {};

TEST_P(JsClusterStream, AnR3StreamAcknowledgesAndEveryReplicaHoldsEveryMessage) {
    JsCluster c(GetParam(), 3);
    ASSERT_FALSE(c.agreed_leader(20s).empty()) << c.logs();
    ClusterClient cl(c, 1);
    ASSERT_TRUE(cl.js);
    jsErrCode err;
    jsStreamInfo* si = create_r(cl.js.get(), "ORDERS", "orders.>", 3, &err);
    ASSERT_NE(si, nullptr) << "create failed, err " << int(err) << "\n" << c.logs();
    ASSERT_NE(si->Cluster, nullptr);
    EXPECT_STREQ(si->Cluster->Name, "C");
    jsStreamInfo_Destroy(si);
    constexpr int kMsgs = 300;
    for (int i = 1; i <= kMsgs; ++i) {
        jsPubAck* pa = nullptr;
        jsErrCode e;
        const std::string body = "order-" + std::to_string(i);
        ASSERT_EQ(js_Publish(&pa, cl.js.get(), "orders.new", body.data(), int(body.size()), nullptr, &e), NATS_OK)
            << "publish " << i << " err " << int(e);
        EXPECT_EQ(pa->Sequence, std::uint64_t(i));
        jsPubAck_Destroy(pa);
    }
    EXPECT_TRUE(all_hold(c, kMsgs)) << "a replica is missing messages";
    // Stream info from the leader: every replica named, current, with the state.
    si = nullptr;
    ASSERT_EQ(js_GetStreamInfo(&si, cl.js.get(), "ORDERS", nullptr, &err), NATS_OK);
    EXPECT_EQ(si->State.Msgs, std::uint64_t(kMsgs));
    EXPECT_EQ(si->State.LastSeq, std::uint64_t(kMsgs));
    ASSERT_NE(si->Cluster, nullptr);
    ASSERT_NE(si->Cluster->Leader, nullptr);
    EXPECT_EQ(si->Cluster->ReplicasLen, 2);
    for (int r = 0; r < si->Cluster->ReplicasLen; ++r) EXPECT_NE(std::string(si->Cluster->Replicas[r]->Name), si->Cluster->Leader);
    jsStreamInfo_Destroy(si);
}

TEST_P(JsClusterStream, PlacementNeedsEnoughServersAndR1StreamsWorkToo) {
    JsCluster c(GetParam(), 3);
    ASSERT_FALSE(c.agreed_leader(20s).empty()) << c.logs();
    ClusterClient cl(c, 0);
    jsErrCode err;
    jsStreamInfo* si = create_r(cl.js.get(), "FIVE", "five.>", 5, &err);
    EXPECT_EQ(si, nullptr);
    EXPECT_EQ(int(err), 10005) << "no suitable peers for placement";
    if (si) jsStreamInfo_Destroy(si);
    si = create_r(cl.js.get(), "ONE", "one.>", 1, &err);
    ASSERT_NE(si, nullptr) << int(err);
    jsStreamInfo_Destroy(si);
    jsPubAck* pa = nullptr;
    jsErrCode e;
    ASSERT_EQ(js_Publish(&pa, cl.js.get(), "one.x", "1", 1, nullptr, &e), NATS_OK);
    EXPECT_EQ(pa->Sequence, 1u);
    jsPubAck_Destroy(pa);
    // Any server answers the names; delete goes through the meta leader.
    ClusterClient other(c, 2);
    jsStreamNamesList* names = nullptr;
    ASSERT_EQ(js_StreamNames(&names, other.js.get(), nullptr, &err), NATS_OK);
    ASSERT_NE(names, nullptr);
    EXPECT_EQ(names->Count, 1);
    jsStreamNamesList_Destroy(names);
    EXPECT_EQ(js_DeleteStream(other.js.get(), "ONE", nullptr, &err), NATS_OK) << int(err);
    EXPECT_EQ(js_GetStreamInfo(&si, other.js.get(), "ONE", nullptr, &err), NATS_NOT_FOUND);
}

TEST_P(JsClusterStream, KillingTheStreamLeaderLosesNothingAcknowledged) {
    JsCluster c(GetParam(), 3);
    ASSERT_FALSE(c.agreed_leader(20s).empty()) << c.logs();
    ClusterClient setup(c, 0);
    jsErrCode err;
    jsStreamInfo* si = create_r(setup.js.get(), "EVENTS", "events.>", 3, &err);
    ASSERT_NE(si, nullptr) << int(err) << c.logs();
    jsStreamInfo_Destroy(si);
    si = nullptr;
    ASSERT_EQ(js_GetStreamInfo(&si, setup.js.get(), "EVENTS", nullptr, &err), NATS_OK);
    const int leader = index_of(si->Cluster->Leader);
    jsStreamInfo_Destroy(si);
    ASSERT_GE(leader, 0);
    const int via = (leader + 1) % 3;  // the publisher is on a server that survives
    ClusterClient cl(c, via);
    constexpr int kMsgs = 200;
    std::set<std::uint64_t> seqs;
    const auto t_kill = Clock::now();
    std::chrono::milliseconds first_ack_after_kill{-1};
    for (int i = 1; i <= kMsgs; ++i) {
        if (i == kMsgs / 2) c.kill(leader);
        const std::uint64_t seq = publish_until_acked(cl.js.get(), "events.e", "id-" + std::to_string(i));
        ASSERT_NE(seq, 0u) << "message " << i << " was never acknowledged\n" << c.logs();
        if (i == kMsgs / 2)
            first_ack_after_kill = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t_kill);
        seqs.insert(seq);
    }
    std::printf("[ info ] %s: first ack %lld ms after kill -9 of the stream leader\n",
                GetParam() == OSPREY_BIN ? "osprey" : "nats-server", (long long)first_ack_after_kill.count());
    // Every acknowledged message once: sequences 1..kMsgs, no holes, no copies.
    EXPECT_EQ(seqs.size(), std::size_t(kMsgs));
    EXPECT_EQ(*seqs.rbegin(), std::uint64_t(kMsgs));
    // The killed server comes back and catches up; every replica holds exactly kMsgs.
    c.start(leader);
    EXPECT_TRUE(all_hold(c, kMsgs, 30s)) << "after the restart a replica differs\n" << c.logs();
}

TEST_P(JsClusterStream, EveryServerRestartedKeepsEveryMessage) {
    // Long enough for the replicas to compact their logs (the stores hold what the logs
    // dropped), then every server stops and starts again: nothing acknowledged is missing,
    // nothing is stored twice, and sequences go on.
    JsCluster c(GetParam(), 3);
    ASSERT_FALSE(c.agreed_leader(20s).empty()) << c.logs();
    constexpr int kMsgs = 400;
    {
        ClusterClient cl(c, 0);
        jsErrCode err;
        jsStreamInfo* si = create_r(cl.js.get(), "KEEP", "keep.>", 3, &err);
        ASSERT_NE(si, nullptr) << int(err);
        jsStreamInfo_Destroy(si);
        for (int i = 1; i <= kMsgs; ++i) {
            ASSERT_EQ(publish_until_acked(cl.js.get(), "keep.k", "k-" + std::to_string(i)), std::uint64_t(i));
            if (i == kMsgs / 2) std::this_thread::sleep_for(1500ms);  // a compaction round
        }
        ASSERT_TRUE(all_hold(c, kMsgs));
        std::this_thread::sleep_for(1500ms);
    }
    for (int i = 0; i < 3; ++i) c.node(i).stop();
    for (int i = 0; i < 3; ++i) c.start(i);
    ASSERT_FALSE(c.agreed_leader(30s).empty()) << c.logs();
    EXPECT_TRUE(all_hold(c, kMsgs, 30s)) << c.logs();
    ClusterClient cl(c, 1);
    EXPECT_EQ(publish_until_acked(cl.js.get(), "keep.k", "k-after"), std::uint64_t(kMsgs + 1)) << c.logs();
    EXPECT_TRUE(all_hold(c, kMsgs + 1));
    if (GetParam() == OSPREY_BIN) {
        for (int i = 0; i < 3; ++i) EXPECT_EQ(c.node(i).log().find("[ERR]"), std::string::npos) << c.node(i).log();
    }
}

TEST_P(JsClusterStream, PurgeAndDeleteReachEveryReplicaAndSurviveRestarts) {
    JsCluster c(GetParam(), 3);
    ASSERT_FALSE(c.agreed_leader(20s).empty()) << c.logs();
    {
        ClusterClient cl(c, 2);
        jsErrCode err;
        jsStreamInfo* si = create_r(cl.js.get(), "TRIM", "trim.>", 3, &err);
        ASSERT_NE(si, nullptr) << int(err);
        jsStreamInfo_Destroy(si);
        for (int i = 1; i <= 20; ++i)
            ASSERT_EQ(publish_until_acked(cl.js.get(), i <= 10 ? "trim.keep" : "trim.drop", "t-" + std::to_string(i)),
                      std::uint64_t(i));
        EXPECT_EQ(js_DeleteMsg(cl.js.get(), "TRIM", 3, nullptr, &err), NATS_OK) << int(err);
        EXPECT_NE(js_DeleteMsg(cl.js.get(), "TRIM", 3, nullptr, &err), NATS_OK) << "deleted twice";
        jsOptions o;
        jsOptions_Init(&o);
        o.Stream.Purge.Subject = "trim.drop";
        EXPECT_EQ(js_PurgeStream(cl.js.get(), "TRIM", &o, &err), NATS_OK) << int(err);
        EXPECT_TRUE(all_hold(c, 9)) << "every replica: 20 - 1 deleted - 10 purged";
        // Keeping the newest 4 of trim.keep (9 there): the same 4 on every replica.
        jsOptions k;
        jsOptions_Init(&k);
        k.Stream.Purge.Subject = "trim.keep";
        k.Stream.Purge.Keep = 4;
        EXPECT_EQ(js_PurgeStream(cl.js.get(), "TRIM", &k, &err), NATS_OK) << int(err);
        EXPECT_TRUE(all_hold(c, 4)) << "every replica keeps 4\n" << c.logs();
    }
    for (int i = 0; i < 3; ++i) c.node(i).stop();
    for (int i = 0; i < 3; ++i) c.start(i);
    ASSERT_FALSE(c.agreed_leader(30s).empty()) << c.logs();
    EXPECT_TRUE(all_hold(c, 4, 30s)) << "after a restart the purges and the delete still hold\n" << c.logs();
    ClusterClient cl(c, 0);
    {
        jsStreamInfo* si = nullptr;
        jsErrCode err;
        for (const auto end = Clock::now() + 20s; Clock::now() < end && !si; std::this_thread::sleep_for(200ms))
            js_GetStreamInfo(&si, cl.js.get(), "TRIM", nullptr, &err);
        ASSERT_NE(si, nullptr);
        EXPECT_EQ(si->State.FirstSeq, 7u) << "the newest four of trim.keep are 7..10";
        jsStreamInfo_Destroy(si);
    }
    EXPECT_EQ(publish_until_acked(cl.js.get(), "trim.drop", "t-after"), 21u);
    EXPECT_TRUE(all_hold(c, 5));
}

TEST_P(JsClusterStream, AnUpdateReachesEveryReplica) {
    JsCluster c(GetParam(), 3);
    ASSERT_FALSE(c.agreed_leader(20s).empty()) << c.logs();
    ClusterClient cl(c, 1);
    jsErrCode err;
    jsStreamInfo* si = create_r(cl.js.get(), "UPD", "upd.>", 3, &err);
    ASSERT_NE(si, nullptr) << int(err);
    jsStreamInfo_Destroy(si);
    for (int i = 1; i <= 10; ++i) ASSERT_EQ(publish_until_acked(cl.js.get(), "upd.x", "u-" + std::to_string(i)), std::uint64_t(i));
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = "UPD";
    const char* subjects[] = {"upd.>"};
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = 3;
    cfg.MaxMsgs = 5;
    si = nullptr;
    ASSERT_EQ(js_UpdateStream(&si, cl.js.get(), &cfg, nullptr, &err), NATS_OK) << int(err) << c.logs();
    EXPECT_EQ(si->Config->MaxMsgs, 5);
    jsStreamInfo_Destroy(si);
    EXPECT_TRUE(all_hold(c, 5)) << "every replica keeps the newest 5";
    EXPECT_EQ(publish_until_acked(cl.js.get(), "upd.x", "u-11"), 11u);
    EXPECT_TRUE(all_hold(c, 5));
}

INSTANTIATE_TEST_SUITE_P(Servers, JsClusterStream, ::testing::ValuesIn(js_cluster_servers()),
                         [](const auto& info) { return info.param == OSPREY_BIN ? "osprey" : "nats"; });

}  // namespace
