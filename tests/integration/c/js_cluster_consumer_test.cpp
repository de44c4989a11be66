// Durable consumers of R3 streams with nats.c on three servers: a consumer is on every
// replica, its acks and deliveries survive a kill -9 of the stream leader (nothing whose
// AckSync was confirmed comes again; what was not acknowledged does), leadership moves with
// its state, its deletion reaches every replica, and a whole-cluster restart keeps it. The
// same run against three nats-server 2.9.10 processes prints what nats-server does where it
// is weak (a confirmed ack undone by a leader kill) instead of failing on it.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "c/js_cluster_consumer_helpers.h"
#include "c/js_cluster_helpers.h"
#include "c/js_helpers.h"

using namespace osprey::testing;

namespace {

class JsClusterConsumer : public ::testing::TestWithParam<std::string> {
protected:
    bool osprey() const { return GetParam() == OSPREY_BIN; }
    const char* kind() const { return osprey() ? "osprey" : "nats-server"; }
};

TEST_P(JsClusterConsumer, ADurableConsumerKeepsItsConfirmedAcksThroughALeaderKill) {
    JsCluster c(GetParam(), 3);
    ASSERT_FALSE(c.agreed_leader(20s).empty()) << c.logs();
    jsErrCode err;
    int leader = -1;
    {
        ClusterClient setup(c, 0);
        jsStreamInfo* si = create_r(setup.js.get(), "WORK", "work.>", 3, &err);
        ASSERT_NE(si, nullptr) << int(err) << c.logs();
        jsStreamInfo_Destroy(si);
        for (int i = 1; i <= 100; ++i)
            ASSERT_EQ(publish_until_acked(setup.js.get(), "work.item", "w-" + std::to_string(i)), std::uint64_t(i));
        jsConsumerInfo* ci = add_durable(setup.js.get(), "WORK", "D", 2000, &err);
        ASSERT_NE(ci, nullptr) << int(err) << c.logs();
        ASSERT_NE(ci->Cluster, nullptr) << "consumer info names its cluster";
        EXPECT_STREQ(ci->Cluster->Name, "C");
        jsConsumerInfo_Destroy(ci);
        leader = stream_leader(setup.js.get(), "WORK");
    }
    ASSERT_GE(leader, 0);
    // The client lives on a server that survives.
    const int via = (leader + 1) % 3;
    ClusterClient cl(c, via);
    ASSERT_TRUE(cl.js);
    Sub sub = pull_sub(cl.js.get(), "work.>", "D");
    ASSERT_TRUE(sub) << c.logs();
    std::set<std::uint64_t> confirmed;
    auto acked = fetch(sub.get(), 40, 20s, true, &confirmed);
    ASSERT_EQ(acked.size(), 40u) << c.logs();
    ASSERT_EQ(confirmed.size(), 40u) << "every AckSync confirmed";
    auto unacked = fetch(sub.get(), 10, 10s, false);
    ASSERT_EQ(unacked.size(), 10u);
    ASSERT_TRUE(wait_state(cl.js.get(), "WORK", "D", 10s, [](const ConsumerState& s) {
        return s.ack_floor == 40 && s.ack_pending == 10 && s.delivered == 50;
    })) << "ack floor 40, 10 pending, 50 delivered";
    if (osprey()) {
        auto s = consumer_state(cl.js.get(), "WORK", "D");
        EXPECT_EQ(s.replicas, 2) << "the consumer is on every replica";
        EXPECT_EQ(index_of(s.leader), leader) << "the consumer leads where its stream leads";
        // Its state reaches the followers within a second or two (the leader proposes it).
        std::this_thread::sleep_for(2500ms);
    }
    c.kill(leader);
    const auto t_kill = Clock::now();
    // Everything not confirmed comes (41..50 again after their ack wait, 51..100 new); nothing
    // confirmed comes again.
    std::map<std::uint64_t, int> seen;
    const auto end = Clock::now() + 40s;
    while (Clock::now() < end) {
        auto got = fetch(sub.get(), 10, 2s, true, &confirmed);
        for (auto q : got) ++seen[q];
        bool all = true;
        for (std::uint64_t q = 41; q <= 100 && all; ++q) all = seen.count(q) > 0;
        if (all) break;
    }
    std::size_t again = 0;
    for (auto& [q, n] : seen)
        if (q <= 40) ++again;
    std::printf("[ info ] %s: after kill -9 of the stream leader: %zu distinct messages, %zu confirmed ones again, "
                "%.1f s\n",
                kind(), seen.size(), again, std::chrono::duration<double>(Clock::now() - t_kill).count());
    for (std::uint64_t q = 41; q <= 100; ++q) EXPECT_TRUE(seen.count(q)) << "message " << q << " never came\n" << c.logs();
    if (osprey()) {
        EXPECT_EQ(again, 0u) << "a message whose ack was confirmed came again";
        // The new leader's view: everything acknowledged.
        EXPECT_TRUE(wait_state(cl.js.get(), "WORK", "D", 10s, [](const ConsumerState& s) {
            return s.ack_floor == 100 && s.ack_pending == 0 && s.pending == 0;
        })) << c.logs();
    }
    // The killed server comes back: its copy of the consumer agrees once it leads.
    c.start(leader);
    std::this_thread::sleep_for(3s);
    if (osprey()) {
        jsCtx* js = cl.js.get();
        const auto until = Clock::now() + 20s;
        // Hand the stream (and its consumer) to the restarted server.
        while (Clock::now() < until && stream_leader(js, "WORK") != leader) {
            natsMsg* reply = nullptr;
            natsConnection_RequestString(&reply, cl.nc.get(), "$JS.API.STREAM.LEADER.STEPDOWN.WORK", "", 2000);
            if (reply) natsMsg_Destroy(reply);
            std::this_thread::sleep_for(1500ms);
        }
        ASSERT_EQ(stream_leader(js, "WORK"), leader) << c.logs();
        EXPECT_TRUE(wait_state(js, "WORK", "D", 10s, [](const ConsumerState& s) {
            return s.ack_floor == 100 && s.ack_pending == 0 && s.pending == 0;
        })) << "the restarted replica's consumer differs\n" << c.logs();
        auto more = fetch(sub.get(), 1, 3s, false);
        EXPECT_TRUE(more.empty()) << "a message came again from the restarted leader: " << (more.empty() ? 0 : more[0]);
    }
}

TEST_P(JsClusterConsumer, CreateDeleteAndStepdownReachEveryReplicaAndARestartKeepsTheConsumer) {
    JsCluster c(GetParam(), 3);
    ASSERT_FALSE(c.agreed_leader(20s).empty()) << c.logs();
    jsErrCode err;
    {
        ClusterClient cl(c, 1);
        jsStreamInfo* si = create_r(cl.js.get(), "WORK", "work.>", 3, &err);
        ASSERT_NE(si, nullptr) << int(err) << c.logs();
        jsStreamInfo_Destroy(si);
        for (int i = 1; i <= 20; ++i)
            ASSERT_EQ(publish_until_acked(cl.js.get(), "work.item", "w-" + std::to_string(i)), std::uint64_t(i));
        jsConsumerInfo* ci = add_durable(cl.js.get(), "WORK", "KEEP", 30000, &err);
        ASSERT_NE(ci, nullptr) << int(err);
        jsConsumerInfo_Destroy(ci);
        ci = add_durable(cl.js.get(), "WORK", "GONE", 30000, &err);
        ASSERT_NE(ci, nullptr) << int(err);
        jsConsumerInfo_Destroy(ci);
        Sub sub = pull_sub(cl.js.get(), "work.>", "KEEP");
        ASSERT_TRUE(sub);
        ASSERT_EQ(fetch(sub.get(), 15, 15s, true).size(), 15u);
        EXPECT_EQ(js_DeleteConsumer(cl.js.get(), "WORK", "GONE", nullptr, &err), NATS_OK) << int(err);
        // A consumer replica count above the stream's is refused, as nats-server refuses it.
        jsConsumerConfig cc;
        jsConsumerConfig_Init(&cc);
        cc.Durable = "TOO";
        cc.AckPolicy = js_AckExplicit;
        cc.Replicas = 5;
        ci = nullptr;
        EXPECT_NE(js_AddConsumer(&ci, cl.js.get(), "WORK", &cc, nullptr, &err), NATS_OK);
        EXPECT_EQ(int(err), 10126);
        if (ci) jsConsumerInfo_Destroy(ci);
        // Stepdown: the consumer's leadership moves; its state goes along. (Its leader, not the
        // stream's: nats-server elects a consumer's leader apart from its stream's.)
        const int before = index_of(consumer_state(cl.js.get(), "WORK", "KEEP").leader);
        Sub elected = subscribe_sync(cl.nc.get(), "$JS.EVENT.ADVISORY.CONSUMER.LEADER_ELECTED.WORK.KEEP");
        ASSERT_TRUE(elected);
        natsConnection_Flush(cl.nc.get());
        std::this_thread::sleep_for(2s);  // the state reaches the followers
        natsMsg* reply = nullptr;
        ASSERT_EQ(natsConnection_RequestString(&reply, cl.nc.get(), "$JS.API.CONSUMER.LEADER.STEPDOWN.WORK.KEEP", "",
                                               5000),
                  NATS_OK);
        EXPECT_NE(std::string(natsMsg_GetData(reply)).find("\"success\":true"), std::string::npos)
            << natsMsg_GetData(reply);
        natsMsg_Destroy(reply);
        EXPECT_TRUE(wait_state(cl.js.get(), "WORK", "KEEP", osprey() ? 10s : 30s, [&](const ConsumerState& s) {
            return !s.leader.empty() && index_of(s.leader) != before && s.ack_floor == 15 && s.pending == 5;
        })) << "after the stepdown: a new leader, ack floor 15, 5 pending\n" << c.logs();
        // The new leader announces itself, as nats-server does.
        Msg adv = next(elected.get(), 10000);
        ASSERT_TRUE(adv) << "no consumer leader-elected advisory";
        const std::string body = data(adv.get());
        EXPECT_NE(body.find("\"type\":\"io.nats.jetstream.advisory.v1.consumer_leader_elected\""), std::string::npos) << body;
        EXPECT_NE(body.find("\"consumer\":\"KEEP\""), std::string::npos) << body;
        // Membership requests: an empty one is a bad request on both servers
        // (js_cluster_membership_test.cpp moves replicas and removes servers).
        for (const char* subj : {"$JS.API.STREAM.PEER.REMOVE.WORK", "$JS.API.SERVER.REMOVE"}) {
            natsMsg* r = nullptr;
            ASSERT_EQ(natsConnection_RequestString(&r, cl.nc.get(), subj, "", 5000), NATS_OK) << subj;
            EXPECT_NE(std::string(natsMsg_GetData(r)).find("\"err_code\":10003"), std::string::npos) << natsMsg_GetData(r);
            natsMsg_Destroy(r);
        }
        ConsumerState gone = consumer_state(cl.js.get(), "WORK", "GONE");
        EXPECT_FALSE(gone.ok) << "the deleted consumer is gone on the new leader too";
    }
    for (int i = 0; i < 3; ++i) c.node(i).stop();
    for (int i = 0; i < 3; ++i) c.start(i);
    ASSERT_FALSE(c.agreed_leader(30s).empty()) << c.logs();
    ClusterClient cl(c, 2);
    EXPECT_TRUE(wait_state(cl.js.get(), "WORK", "KEEP", 30s, [](const ConsumerState& s) {
        return s.ack_floor == 15 && s.pending == 5;
    })) << "after a restart of every server\n" << c.logs();
    EXPECT_FALSE(consumer_state(cl.js.get(), "WORK", "GONE").ok);
    Sub sub = pull_sub(cl.js.get(), "work.>", "KEEP");
    ASSERT_TRUE(sub);
    auto rest = fetch(sub.get(), 5, 15s, true);
    ASSERT_EQ(rest.size(), 5u) << c.logs();
    EXPECT_EQ(rest.front(), 16u) << "the acknowledged messages do not come again";
    if (osprey()) {
        for (int i = 0; i < 3; ++i) EXPECT_EQ(c.node(i).log().find("[ERR]"), std::string::npos) << c.node(i).log();
    }
}

// A work queue on three replicas: an acknowledged message leaves every replica (the removal
// applies from the log everywhere alike), through a kill -9 of the leader; every message is
// worked on, and the queue ends empty on every server.
TEST_P(JsClusterConsumer, AReplicatedWorkQueueEmptiesOnEveryReplica) {
    JsCluster c(GetParam(), 3);
    ASSERT_FALSE(c.agreed_leader(20s).empty()) << c.logs();
    jsErrCode err;
    int leader = -1;
    {
        ClusterClient setup(c, 0);
        jsStreamConfig cfg;
        jsStreamConfig_Init(&cfg);
        cfg.Name = "WORK";
        const char* subjects[] = {"work.>"};
        cfg.Subjects = subjects;
        cfg.SubjectsLen = 1;
        cfg.Storage = js_FileStorage;
        cfg.Replicas = 3;
        cfg.Retention = js_WorkQueuePolicy;
        jsStreamInfo* si = nullptr;
        ASSERT_EQ(js_AddStream(&si, setup.js.get(), &cfg, nullptr, &err), NATS_OK) << int(err) << c.logs();
        jsStreamInfo_Destroy(si);
        for (int i = 1; i <= 100; ++i)
            ASSERT_EQ(publish_until_acked(setup.js.get(), "work.item", "q-" + std::to_string(i)), std::uint64_t(i));
        jsConsumerInfo* ci = add_durable(setup.js.get(), "WORK", "Q", 2000, &err);
        ASSERT_NE(ci, nullptr) << int(err) << c.logs();
        jsConsumerInfo_Destroy(ci);
        leader = stream_leader(setup.js.get(), "WORK");
    }
    ASSERT_GE(leader, 0);
    const int via = (leader + 1) % 3;
    ClusterClient cl(c, via);
    Sub sub = pull_sub(cl.js.get(), "work.>", "Q");
    ASSERT_TRUE(sub) << c.logs();
    std::set<std::uint64_t> done;
    for (auto q : fetch(sub.get(), 40, 20s, true)) done.insert(q);
    ASSERT_EQ(done.size(), 40u);
    EXPECT_TRUE(all_hold(c, 60)) << "every replica removed the 40 acknowledged messages\n" << c.logs();
    c.kill(leader);
    const auto end = Clock::now() + 40s;
    while (done.size() < 100 && Clock::now() < end)
        for (auto q : fetch(sub.get(), 10, 2s, true)) done.insert(q);
    EXPECT_EQ(done.size(), 100u) << "every message was worked on";
    c.start(leader);
    EXPECT_TRUE(all_hold(c, 0, 30s)) << "the queue is empty on every replica, the restarted one too\n" << c.logs();
}

// Interest retention on an R3 stream: a message nobody takes is not kept, one every interested
// consumer acknowledged goes, one a consumer still needs stays, on every replica alike, through
// a kill of the leader and the deletion of a consumer (the leader decides and logs each removal).
TEST_P(JsClusterConsumer, AnR3InterestStreamKeepsOnlyWhatAConsumerStillNeeds) {
    JsCluster c(GetParam(), 3);
    ASSERT_FALSE(c.agreed_leader(osprey() ? 20s : 60s).empty()) << c.logs();
    ClusterClient cl(c, 0);
    ASSERT_TRUE(cl.js);
    jsErrCode err;
    {
        jsStreamConfig cfg;
        jsStreamConfig_Init(&cfg);
        cfg.Name = "INT";
        const char* subjects[] = {"int.>"};
        cfg.Subjects = subjects;
        cfg.SubjectsLen = 1;
        cfg.Storage = js_FileStorage;
        cfg.Retention = js_InterestPolicy;
        cfg.Replicas = 3;
        jsStreamInfo* si = nullptr;
        ASSERT_EQ(js_AddStream(&si, cl.js.get(), &cfg, nullptr, &err), NATS_OK) << int(err) << c.logs();
        jsStreamInfo_Destroy(si);
    }
    for (int i = 1; i <= 5; ++i) ASSERT_GT(publish_until_acked(cl.js.get(), "int.a", "none-" + std::to_string(i)), 0u);
    EXPECT_TRUE(all_hold(c, 0)) << "nobody was interested\n" << c.logs();
    auto durable = [&](const char* name, const char* filter) {
        jsConsumerConfig cc;
        jsConsumerConfig_Init(&cc);
        cc.Durable = name;
        cc.AckPolicy = js_AckExplicit;
        cc.FilterSubject = filter;
        jsConsumerInfo* ci = nullptr;
        const natsStatus st = js_AddConsumer(&ci, cl.js.get(), "INT", &cc, nullptr, &err);
        if (ci) jsConsumerInfo_Destroy(ci);
        return st;
    };
    ASSERT_EQ(durable("ALL", "int.>"), NATS_OK) << int(err);
    ASSERT_EQ(durable("BEES", "int.b"), NATS_OK) << int(err);
    for (int i = 1; i <= 10; ++i) {
        ASSERT_GT(publish_until_acked(cl.js.get(), "int.a", "a-" + std::to_string(i)), 0u);
        ASSERT_GT(publish_until_acked(cl.js.get(), "int.b", "b-" + std::to_string(i)), 0u);
    }
    EXPECT_TRUE(all_hold(c, 20)) << c.logs();
    {
        Sub all = pull_sub(cl.js.get(), "int.>", "ALL", "INT");
        ASSERT_TRUE(all);
        ASSERT_EQ(fetch(all.get(), 20, 20s, true).size(), 20u);
    }
    EXPECT_TRUE(all_hold(c, 10)) << "what only BEES still needs stays\n" << c.logs();
    const int l = stream_leader(cl.js.get(), "INT");
    ASSERT_GE(l, 0);
    const int via = (l + 1) % 3;
    c.kill(l);
    ClusterClient other(c, via);
    ASSERT_TRUE(other.js);
    {
        Sub bees = pull_sub_within(other.js.get(), "int.b", "BEES", "INT", osprey() ? 20s : 60s);
        ASSERT_TRUE(bees) << c.logs();
        ASSERT_EQ(fetch(bees.get(), 10, osprey() ? 20s : 60s, true).size(), 10u) << c.logs();
    }
    EXPECT_TRUE(all_hold(c, 0, osprey() ? 15s : 45s)) << "the new leader's copies agree\n" << c.logs();
    c.start(l);
    EXPECT_TRUE(all_hold(c, 0, 30s)) << "the restarted replica too\n" << c.logs();
    // A consumer deleted: what only it needed goes.
    for (int i = 1; i <= 5; ++i) ASSERT_GT(publish_until_acked(other.js.get(), "int.b", "late-" + std::to_string(i)), 0u);
    {
        Sub all = pull_sub_within(other.js.get(), "int.>", "ALL", "INT", osprey() ? 20s : 60s);
        ASSERT_TRUE(all);
        ASSERT_EQ(fetch(all.get(), 5, 20s, true).size(), 5u);
    }
    EXPECT_TRUE(all_hold(c, 5, 30s)) << c.logs();
    ASSERT_EQ(js_DeleteConsumer(other.js.get(), "INT", "BEES", nullptr, &err), NATS_OK) << int(err);
    EXPECT_TRUE(all_hold(c, 0, 30s)) << "BEES was the last to need them\n" << c.logs();
}

INSTANTIATE_TEST_SUITE_P(Servers, JsClusterConsumer, ::testing::ValuesIn(js_cluster_servers()),
                         [](const auto& info) { return info.param == OSPREY_BIN ? "osprey" : "nats"; });

}  // namespace
