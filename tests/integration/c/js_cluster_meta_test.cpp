// JetStream in a cluster, first part: the meta group every JetStream server of a cluster joins.
// Three servers with JetStream and routes elect one meta leader that every server names in
// /jsz and /varz (nats-server's "meta_cluster": the leader's peer hash, the replicas listed
// by the leader only); /healthz is unavailable until there is a leader; a kill -9 of the
// leader brings another, and the restarted server rejoins from its write-ahead log; a server
// started after the group formed joins it. The same expectations run against three
// nats-server 2.9.10 processes.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <thread>

#include "c/nats_helpers.h"

using namespace osprey::testing;
using namespace std::chrono_literals;

#include "c/js_cluster_helpers.h"

namespace {

class JsClusterMeta : public ::testing::TestWithParam<std::string> {
protected:
    bool osprey() const { return GetParam() == OSPREY_BIN; }
};


TEST_P(JsClusterMeta, OneLeaderThatEveryServerNames) {
    JsCluster c(GetParam(), 3);
    const std::string leader = c.agreed_leader(20s);
    ASSERT_FALSE(leader.empty()) << c.logs();
    const int li = index_of(leader);
    ASSERT_GE(li, 0);
    for (int i = 0; i < 3; ++i) {
        const std::string meta = meta_of(c.jsz(i));
        EXPECT_EQ(field(meta, "name"), "C");
        EXPECT_EQ(field(meta, "cluster_size"), " 3") << meta;
        // "peer" is the leader's peer id, on every server.
        EXPECT_EQ(field(meta, "peer"), field(meta_of(c.jsz(li)), "peer"));
        const bool lists = meta.find("\"replicas\"") != std::string::npos;
        EXPECT_EQ(lists, i == li) << "only the leader lists the replicas: s" << i << "\n" << meta;
        // The same block in /varz.
        const std::string varz = http_get(c.node(i).http_port(), "/varz");
        EXPECT_EQ(field(varz.substr(varz.find("\"meta\"")), "leader"), leader);
    }
    const std::string lm = meta_of(c.jsz(li));
    for (int i = 0; i < 3; ++i) {
        if (i == li) continue;
        EXPECT_NE(lm.find("\"name\": \"s" + std::to_string(i) + "\""), std::string::npos) << lm;
    }
    // Healthy everywhere once there is a leader (bounded: a follower learns it at once).
    for (int i = 0; i < 3; ++i) {
        std::string h;
        for (auto end = Clock::now() + 5s; Clock::now() < end; std::this_thread::sleep_for(50ms))
            if ((h = http_get(c.node(i).http_port(), "/healthz")).find("\"ok\"") != std::string::npos) break;
        EXPECT_NE(h.find("\"ok\""), std::string::npos) << h;
    }
}

TEST_P(JsClusterMeta, AServerAloneIsUnavailableUntilItHasALeader) {
    JsCluster c(GetParam(), 1);  // routes to itself only: it waits for a quorum that never comes
    std::this_thread::sleep_for(1500ms);
    EXPECT_EQ(c.leader_seen_by(0), "") << c.jsz(0);
    const std::string h = http_get(c.node(0).http_port(), "/healthz");
    EXPECT_NE(h.find("\"unavailable\""), std::string::npos) << h;
    EXPECT_NE(h.find("JetStream has not established contact with a meta leader"), std::string::npos) << h;
    EXPECT_NE(http_get(c.node(0).http_port(), "/healthz?js-enabled-only=true").find("\"ok\""), std::string::npos);
}

TEST_P(JsClusterMeta, KilledLeaderIsReplacedAndRejoinsAfterRestart) {
    JsCluster c(GetParam(), 3);
    const std::string first = c.agreed_leader(20s);
    ASSERT_FALSE(first.empty()) << c.logs();
    const int li = index_of(first);
    const auto t0 = Clock::now();
    c.kill(li);
    const std::string next = c.agreed_leader(30s, first);
    ASSERT_FALSE(next.empty()) << "no new meta leader\n" << c.logs();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
    std::printf("[ info ] %s: new meta leader %s %lld ms after kill -9 of %s\n",
                GetParam() == OSPREY_BIN ? "osprey" : "nats-server", next.c_str(), (long long)ms, first.c_str());
    // The old leader comes back with its store and follows the new one; nobody is deposed.
    c.start(li);
    const std::string after = c.agreed_leader(20s);
    EXPECT_EQ(after, next) << c.logs();
    if (GetParam() == OSPREY_BIN) {
        EXPECT_NE(c.node(li).log().find("recovering the meta group from the write-ahead log"), std::string::npos)
            << c.node(li).log();
    }
}

// A cluster grown from a seed route: the first two servers form the meta group; a third that
// comes later is not added to it (membership changes are not built), and must not disturb it:
// it runs a meta group of its own voters, which has no leader, so it serves no JetStream
// assets rather than diverging. (nats-server grows its meta group instead: osprey only.)
// Routes that name only the first server: two servers form the meta group, and the third,
// started later, joins it (it asks the others whether a group runs before forming one) and is
// added as a voter; streams can then be placed on it.
TEST_P(JsClusterMeta, ALateServerJoinsTheFormedMetaGroup) {
    JsCluster c(GetParam(), 3, /*seed_only=*/true, /*start_count=*/2);
    const std::string leader = c.agreed_leader(osprey() ? 20s : 60s);
    ASSERT_FALSE(leader.empty()) << c.logs();
    c.start(2);
    std::string size;
    std::string third;
    for (const auto end = Clock::now() + (osprey() ? 20s : 60s); Clock::now() < end; std::this_thread::sleep_for(100ms)) {
        const int l = index_of(c.leader_seen_by(0));
        size = l >= 0 ? field(meta_of(c.jsz(l)), "cluster_size") : "";
        third = c.leader_seen_by(2);
        if (size == " 3" && !third.empty()) break;
    }
    EXPECT_EQ(size, " 3") << "the meta group has three voters\n" << c.logs();
    EXPECT_EQ(third, c.leader_seen_by(0)) << "the late server names the group's leader\n" << c.logs();
    EXPECT_NE(http_get(c.node(2).http_port(), "/healthz").find("\"ok\""), std::string::npos);
    // An R3 stream needs the late server: placed, acknowledged, held by all three.
    ClusterClient cl(c, 2);
    ASSERT_TRUE(cl.js);
    jsErrCode err;
    jsStreamInfo* si = nullptr;
    for (const auto end = Clock::now() + 20s; Clock::now() < end && !si; std::this_thread::sleep_for(200ms))
        si = create_r(cl.js.get(), "LATE", "late.>", 3, &err);
    ASSERT_NE(si, nullptr) << int(err) << c.logs();
    jsStreamInfo_Destroy(si);
    for (int i = 1; i <= 10; ++i) ASSERT_EQ(publish_until_acked(cl.js.get(), "late.x", "l-" + std::to_string(i)), std::uint64_t(i));
    EXPECT_TRUE(all_hold(c, 10)) << c.logs();
    // Restarted, the late server is a voter from its own log.
    c.node(2).stop();
    c.start(2);
    for (const auto end = Clock::now() + (osprey() ? 20s : 60s); Clock::now() < end; std::this_thread::sleep_for(100ms))
        if (!(third = c.leader_seen_by(2)).empty()) break;
    EXPECT_FALSE(third.empty()) << c.logs();
    EXPECT_TRUE(all_hold(c, 10)) << c.logs();
}

INSTANTIATE_TEST_SUITE_P(Servers, JsClusterMeta, ::testing::ValuesIn(js_cluster_servers()),
                         [](const auto& info) { return info.param == OSPREY_BIN ? "osprey" : "nats"; });

}  // namespace
