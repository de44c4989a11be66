// A stream's replicas move with nats.c on real clusters: num_replicas scaled up (new replicas
// fill their stores and get the durable consumers from the others, even once the log that
// created them was compacted) and down (the replicas left out delete their copies), and
// STREAM.PEER.REMOVE (a replacement takes the removed server's place; without a free server
// the group shrinks and the answer says the remap failed, as nats-server's does). After each
// move the old leader is killed: what the new replicas serve is everything acknowledged. The
// same scenarios run against nats-server 2.9.10.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "c/js_cluster_consumer_helpers.h"
#include "c/js_cluster_helpers.h"
#include "c/js_helpers.h"

using namespace osprey::testing;

namespace {

class JsClusterMembership : public ::testing::TestWithParam<std::string> {
protected:
    bool osprey() const { return GetParam() == OSPREY_BIN; }
    const char* kind() const { return osprey() ? "osprey" : "nats-server"; }
    // nats-server's elections take 4-9 s: its waits are longer.
    std::chrono::milliseconds bound(std::chrono::milliseconds ms) const { return osprey() ? ms : 3 * ms; }
};

struct Placement {
    std::string leader;
    std::set<std::string> peers;  // the leader and its replicas
    int current = 0;              // replicas the leader calls current
};

Placement placement(jsCtx* js, const char* stream) {
    Placement p;
    jsStreamInfo* si = nullptr;
    jsErrCode err;
    if (js_GetStreamInfo(&si, js, stream, nullptr, &err) != NATS_OK || !si) return p;
    if (si->Cluster) {
        if (si->Cluster->Leader) {
            p.leader = si->Cluster->Leader;
            p.peers.insert(p.leader);
        }
        for (int i = 0; i < si->Cluster->ReplicasLen; ++i) {
            p.peers.insert(si->Cluster->Replicas[i]->Name);
            if (si->Cluster->Replicas[i]->Current) ++p.current;
        }
    }
    jsStreamInfo_Destroy(si);
    return p;
}

// Bounded: a leader and `n` peers, every other one current.
bool wait_placed(jsCtx* js, const char* stream, std::size_t n, std::chrono::milliseconds within, Placement* out) {
    const auto end = Clock::now() + within;
    while (Clock::now() < end) {
        Placement p = placement(js, stream);
        if (!p.leader.empty() && p.peers.size() == n && p.current == int(n) - 1) {
            *out = p;
            return true;
        }
        std::this_thread::sleep_for(100ms);
    }
    *out = placement(js, stream);
    return false;
}

bool scale(jsCtx* js, const char* stream, const char* subject, int replicas, jsErrCode* err) {
    jsStreamInfo* si = put_r(js, stream, subject, replicas, err, true);
    if (si) jsStreamInfo_Destroy(si);
    return si != nullptr;
}

// A cluster's client with an R`replicas` stream WORK holding `n` acknowledged messages.
void fill(jsCtx* js, int replicas, int n, JsCluster& c) {
    jsErrCode err;
    jsStreamInfo* si = create_r(js, "WORK", "work.>", replicas, &err);
    ASSERT_NE(si, nullptr) << int(err) << c.logs();
    jsStreamInfo_Destroy(si);
    for (int i = 1; i <= n; ++i)
        ASSERT_EQ(publish_until_acked(js, "work.item", "w-" + std::to_string(i)), std::uint64_t(i));
}

std::string request(natsConnection* nc, const std::string& subject, const std::string& body) {
    natsMsg* reply = nullptr;
    if (natsConnection_Request(&reply, nc, subject.c_str(), body.data(), int(body.size()), 5000) != NATS_OK)
        return {};
    std::string out(natsMsg_GetData(reply), std::size_t(natsMsg_GetDataLength(reply)));
    natsMsg_Destroy(reply);
    return out;
}

// Bounded: server `i` holds `n` messages in all (its /jsz).
bool holds(JsCluster& c, int i, std::int64_t n, std::chrono::milliseconds within) {
    const auto end = Clock::now() + within;
    while (Clock::now() < end) {
        if (jsz_messages(c, i) == n) return true;
        std::this_thread::sleep_for(100ms);
    }
    return false;
}

// Whether a stream's directory (`name`, or osprey's `name~<group>`) is anywhere under `root`
// (a server's store).
bool has_dir(const std::string& root, const std::string& name) {
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
        if (it->is_directory()) {
            const std::string f = it->path().filename().string();  // osprey's replica: <name>~<group>
            if (f == name || f.rfind(name + "~", 0) == 0) return true;
        }
    return false;
}

// Bounded: no such directory under the server's store.
bool dir_gone(JsCluster& c, int i, const std::string& name, std::chrono::milliseconds within) {
    const auto end = Clock::now() + within;
    while (Clock::now() < end) {
        if (!has_dir(c.store_dir(i), name)) return true;
        std::this_thread::sleep_for(100ms);
    }
    return false;
}

TEST_P(JsClusterMembership, ScalingUpFillsTheNewReplicasAndScalingDownEmptiesTheOldOnes) {
    JsCluster c(GetParam(), 3);
    ASSERT_FALSE(c.agreed_leader(bound(20s)).empty()) << c.logs();
    ClusterClient cl(c, 0);
    ASSERT_TRUE(cl.js);
    jsErrCode err;
    jsStreamInfo* si = create_r(cl.js.get(), "WORK", "work.>", 1, &err);
    ASSERT_NE(si, nullptr) << int(err) << c.logs();
    jsStreamInfo_Destroy(si);
    // The consumer first: by the time the stream scales, the log entry that created it was
    // compacted away on osprey (new replicas get it from the catch-up).
    jsConsumerInfo* ci = add_durable(cl.js.get(), "WORK", "D", 2000, &err);
    ASSERT_NE(ci, nullptr) << int(err) << c.logs();
    jsConsumerInfo_Destroy(ci);
    for (int i = 1; i <= 100; ++i)
        ASSERT_EQ(publish_until_acked(cl.js.get(), "work.item", "w-" + std::to_string(i)), std::uint64_t(i));
    {
        Sub sub = pull_sub(cl.js.get(), "work.>", "D");
        ASSERT_TRUE(sub);
        std::set<std::uint64_t> confirmed;
        ASSERT_EQ(fetch(sub.get(), 30, 20s, true, &confirmed).size(), 30u);
        ASSERT_EQ(confirmed.size(), 30u);
    }
    std::this_thread::sleep_for(2500ms);  // compaction and the consumer's state, each second

    ASSERT_TRUE(scale(cl.js.get(), "WORK", "work.>", 3, &err)) << int(err) << c.logs();
    Placement p;
    ASSERT_TRUE(wait_placed(cl.js.get(), "WORK", 3, bound(30s), &p))
        << "peers " << p.peers.size() << " current " << p.current << "\n" << c.logs();
    ASSERT_TRUE(all_hold(c, 100, bound(30s))) << "every server holds the 100 messages\n" << c.logs();
    EXPECT_TRUE(wait_state(cl.js.get(), "WORK", "D", 10s, [](const ConsumerState& s) {
        return s.ack_floor == 30 && s.replicas == 2;
    })) << c.logs();
    std::this_thread::sleep_for(2500ms);  // the consumer's state reaches the new replicas

    // The old leader goes: a new replica serves everything, and the consumer carries on at 31.
    const int old = index_of(p.leader);
    ASSERT_GE(old, 0);
    c.kill(old);
    ClusterClient other(c, (old + 1) % 3);
    ASSERT_TRUE(other.js);
    Placement after;
    for (const auto end = Clock::now() + bound(20s); Clock::now() < end; std::this_thread::sleep_for(100ms)) {
        after = placement(other.js.get(), "WORK");
        if (!after.leader.empty() && after.leader != p.leader) break;
    }
    ASSERT_FALSE(after.leader.empty()) << c.logs();
    EXPECT_NE(after.leader, p.leader);
    {
        Sub sub = pull_sub_within(other.js.get(), "work.>", "D", "WORK", bound(20s));
        ASSERT_TRUE(sub) << c.logs();
        const auto t0 = Clock::now();
        auto got = fetch(sub.get(), 70, bound(30s), true);
        std::printf("[ info ] %s: %zu messages after the leader's kill, %.1f s\n", kind(), got.size(),
                    std::chrono::duration<double>(Clock::now() - t0).count());
        ASSERT_FALSE(got.empty()) << c.logs();
        EXPECT_EQ(got.front(), 31u) << "the consumer kept its acks through the move";
        std::set<std::uint64_t> seen(got.begin(), got.end());
        for (std::uint64_t q = 31; q <= 100; ++q) EXPECT_TRUE(seen.count(q)) << "message " << q;
    }
    c.start(old);
    const auto t1 = Clock::now();
    ASSERT_TRUE(wait_placed(other.js.get(), "WORK", 3, bound(30s), &after)) << c.logs();
    std::printf("[ info ] %s: the restarted replica is current after %.1f s\n", kind(),
                std::chrono::duration<double>(Clock::now() - t1).count());

    // Down to one replica: the leader stays, the other two delete their copies.
    ASSERT_TRUE(scale(other.js.get(), "WORK", "work.>", 1, &err)) << int(err) << c.logs();
    ASSERT_TRUE(wait_placed(other.js.get(), "WORK", 1, bound(30s), &p)) << c.logs();
    const int kept = index_of(p.leader);
    ASSERT_GE(kept, 0);
    EXPECT_TRUE(holds(c, kept, 100, 10s));
    for (int i = 0; i < 3; ++i) {
        if (i != kept) {
            EXPECT_TRUE(holds(c, i, 0, bound(20s))) << "s" << i << " still holds its copy\n" << c.logs();
        }
    }
    EXPECT_EQ(publish_until_acked(other.js.get(), "work.item", "w-101"), 101u);
    // Up again: the group reforms around the kept replica.
    ASSERT_TRUE(scale(other.js.get(), "WORK", "work.>", 3, &err)) << int(err) << c.logs();
    ASSERT_TRUE(wait_placed(other.js.get(), "WORK", 3, bound(30s), &p)) << c.logs();
    EXPECT_TRUE(all_hold(c, 101, bound(30s))) << c.logs();
}

TEST_P(JsClusterMembership, PeerRemoveMovesAReplicaToAFreeServer) {
    JsCluster c(GetParam(), 4);
    ASSERT_FALSE(c.agreed_leader(bound(20s)).empty()) << c.logs();
    ClusterClient cl(c, 0);
    ASSERT_TRUE(cl.js);
    fill(cl.js.get(), 3, 50, c);
    if (HasFatalFailure()) return;
    Placement p;
    ASSERT_TRUE(wait_placed(cl.js.get(), "WORK", 3, bound(20s), &p)) << c.logs();
    int spare = -1;
    for (int i = 0; i < 4; ++i)
        if (!p.peers.count("s" + std::to_string(i))) spare = i;
    ASSERT_GE(spare, 0);
    std::string follower;
    for (const auto& n : p.peers)
        if (n != p.leader) follower = n;

    // Bad requests, as nats-server answers them.
    const std::string api = "$JS.API.STREAM.PEER.REMOVE.";
    EXPECT_NE(request(cl.nc.get(), api + "WORK", "{}").find("\"err_code\":10003"), std::string::npos);
    EXPECT_NE(request(cl.nc.get(), api + "WORK", "{\"peer\":\"s" + std::to_string(spare) + "\"}")
                  .find("\"err_code\":10040"),
              std::string::npos)
        << "a server that holds no replica is not a member";
    EXPECT_NE(request(cl.nc.get(), api + "NOPE", "{\"peer\":\"s0\"}").find("\"err_code\":10059"), std::string::npos);

    // A follower goes: the free server takes its place and fills its store.
    const std::string r1 = request(cl.nc.get(), api + "WORK", "{\"peer\":\"" + follower + "\"}");
    EXPECT_NE(r1.find("\"success\":true"), std::string::npos) << r1;
    EXPECT_TRUE(holds(c, spare, 50, bound(30s))) << "the replacement holds every message\n" << c.logs();
    EXPECT_TRUE(holds(c, index_of(follower), 0, bound(30s))) << "the removed server still holds its copy\n" << c.logs();
    ASSERT_TRUE(wait_placed(cl.js.get(), "WORK", 3, bound(30s), &p)) << c.logs();
    EXPECT_TRUE(p.peers.count("s" + std::to_string(spare)));
    EXPECT_FALSE(p.peers.count(follower));

    // The leader goes: leadership moves first, nothing acknowledged is lost.
    const std::string old_leader = p.leader;
    const std::string r2 = request(cl.nc.get(), api + "WORK", "{\"peer\":\"" + old_leader + "\"}");
    EXPECT_NE(r2.find("\"success\":true"), std::string::npos) << r2;
    EXPECT_TRUE(holds(c, index_of(follower), 50, bound(30s))) << "the free server (removed before) fills again\n"
                                                              << c.logs();
    ASSERT_TRUE(wait_placed(cl.js.get(), "WORK", 3, bound(30s), &p)) << c.logs();
    EXPECT_NE(p.leader, old_leader);
    EXPECT_FALSE(p.peers.count(old_leader));
    EXPECT_TRUE(holds(c, index_of(old_leader), 0, bound(30s))) << c.logs();
    EXPECT_EQ(publish_until_acked(cl.js.get(), "work.item", "w-51"), 51u);
    // Kill one of the three replicas: the other two still hold everything and serve it.
    std::string victim;  // (not s0, where the client is connected)
    for (const auto& n : p.peers)
        if (n != p.leader && (victim.empty() || victim == "s0")) victim = n;
    c.kill(index_of(victim));
    EXPECT_EQ(publish_until_acked(cl.js.get(), "work.item", "w-52"), 52u) << c.logs();
    for (const auto& n : p.peers) {
        if (n != victim) {
            EXPECT_TRUE(holds(c, index_of(n), 52, bound(20s))) << n << "\n" << c.logs();
        }
    }
}

TEST_P(JsClusterMembership, PeerRemoveWithoutAFreeServerShrinksTheGroup) {
    JsCluster c(GetParam(), 3);
    ASSERT_FALSE(c.agreed_leader(bound(20s)).empty()) << c.logs();
    ClusterClient cl(c, 0);
    ASSERT_TRUE(cl.js);
    fill(cl.js.get(), 3, 20, c);
    if (HasFatalFailure()) return;
    Placement p;
    ASSERT_TRUE(wait_placed(cl.js.get(), "WORK", 3, bound(20s), &p)) << c.logs();
    std::string follower;
    for (const auto& n : p.peers)
        if (n != p.leader) follower = n;
    const std::string r = request(cl.nc.get(), "$JS.API.STREAM.PEER.REMOVE.WORK", "{\"peer\":\"" + follower + "\"}");
    EXPECT_NE(r.find("\"err_code\":10075"), std::string::npos) << r;
    EXPECT_NE(r.find("peer remap failed"), std::string::npos) << r;
    ASSERT_TRUE(wait_placed(cl.js.get(), "WORK", 2, bound(30s), &p)) << "the group shrinks to two\n" << c.logs();
    EXPECT_FALSE(p.peers.count(follower));
    EXPECT_TRUE(holds(c, index_of(follower), 0, bound(30s))) << c.logs();
    EXPECT_EQ(publish_until_acked(cl.js.get(), "work.item", "w-21"), 21u) << c.logs();
    for (const auto& n : p.peers) EXPECT_TRUE(holds(c, index_of(n), 21, bound(20s))) << n;
}

TEST_P(JsClusterMembership, AReplicaRemovedWhileDownDeletesItsCopyWhenItReturns) {
    JsCluster c(GetParam(), 4);
    const std::string meta_leader = c.agreed_leader(bound(20s));
    ASSERT_FALSE(meta_leader.empty()) << c.logs();
    ClusterClient cl(c, index_of(meta_leader));
    ASSERT_TRUE(cl.js);
    fill(cl.js.get(), 3, 30, c);
    if (HasFatalFailure()) return;
    Placement p;
    ASSERT_TRUE(wait_placed(cl.js.get(), "WORK", 3, bound(20s), &p)) << c.logs();
    std::string victim;
    for (const auto& n : p.peers)
        if (n != p.leader && n != meta_leader) victim = n;
    ASSERT_FALSE(victim.empty());
    int spare = -1;
    for (int i = 0; i < 4; ++i)
        if (!p.peers.count("s" + std::to_string(i))) spare = i;
    c.kill(index_of(victim));
    const std::string r = request(cl.nc.get(), "$JS.API.STREAM.PEER.REMOVE.WORK", "{\"peer\":\"" + victim + "\"}");
    EXPECT_NE(r.find("\"success\":true"), std::string::npos) << r;
    EXPECT_TRUE(holds(c, spare, 30, bound(30s))) << c.logs();
    ASSERT_TRUE(wait_placed(cl.js.get(), "WORK", 3, bound(30s), &p)) << c.logs();
    EXPECT_FALSE(p.peers.count(victim));
    std::this_thread::sleep_for(3s);  // the leader has long stopped telling the victim anything
    ASSERT_TRUE(has_dir(c.store_dir(index_of(victim)), "WORK")) << "the victim's copy is on its disk";
    c.start(index_of(victim));
    const bool deleted = dir_gone(c, index_of(victim), "WORK", bound(20s));
    std::printf("[ info ] %s: the replica removed while down %s its copy after its restart\n", kind(),
                deleted ? "deleted" : "kept");
    if (osprey()) {
        EXPECT_TRUE(deleted) << c.logs();
    }
    EXPECT_EQ(publish_until_acked(cl.js.get(), "work.item", "w-31"), 31u) << c.logs();
    for (const auto& n : p.peers) EXPECT_TRUE(holds(c, index_of(n), 31, bound(20s))) << n << "\n" << c.logs();
}

TEST_P(JsClusterMembership, ServerRemoveMovesItsReplicasAndShrinksTheMetaGroup) {
    JsCluster c(GetParam(), 4);
    const std::string meta_leader = c.agreed_leader(bound(20s));
    ASSERT_FALSE(meta_leader.empty()) << c.logs();
    ClusterClient cl(c, index_of(meta_leader));
    ASSERT_TRUE(cl.js);
    fill(cl.js.get(), 3, 30, c);
    if (HasFatalFailure()) return;
    Placement p;
    ASSERT_TRUE(wait_placed(cl.js.get(), "WORK", 3, bound(20s), &p)) << c.logs();
    std::string victim;  // a replica that leads neither the stream nor the meta group
    for (const auto& n : p.peers)
        if (n != p.leader && n != meta_leader) victim = n;
    ASSERT_FALSE(victim.empty());
    int spare = -1;
    for (int i = 0; i < 4; ++i)
        if (!p.peers.count("s" + std::to_string(i))) spare = i;

    const std::string api = "$JS.API.SERVER.REMOVE";
    EXPECT_NE(request(cl.nc.get(), api, "").find("\"err_code\":10003"), std::string::npos);
    EXPECT_NE(request(cl.nc.get(), api, "{x").find("\"err_code\":10025"), std::string::npos);
    EXPECT_NE(request(cl.nc.get(), api, "{\"peer\":\"nope\"}").find("\"err_code\":10044"), std::string::npos);
    const std::string r = request(cl.nc.get(), api, "{\"peer\":\"" + victim + "\"}");
    EXPECT_NE(r.find("\"type\":\"io.nats.jetstream.api.v1.meta_server_remove_response\""), std::string::npos) << r;
    EXPECT_NE(r.find("\"success\":true"), std::string::npos) << r;

    // Its replica moves to the free server; the meta group has three voters.
    EXPECT_TRUE(holds(c, spare, 30, bound(30s))) << "the free server holds the stream\n" << c.logs();
    ASSERT_TRUE(wait_placed(cl.js.get(), "WORK", 3, bound(30s), &p)) << c.logs();
    EXPECT_FALSE(p.peers.count(victim));
    std::string size;
    for (const auto end = Clock::now() + bound(20s); Clock::now() < end; std::this_thread::sleep_for(100ms)) {
        const int l = index_of(c.leader_seen_by(index_of(meta_leader)));
        if (l >= 0 && (size = field(meta_of(c.jsz(l)), "cluster_size")) == " 3") break;
    }
    EXPECT_EQ(size, " 3") << c.logs();
    EXPECT_NE(c.node(index_of(victim)).log().find("JetStream being DISABLED"), std::string::npos) << c.logs();
    const std::string health = http_get(c.node(index_of(victim)).http_port(), "/healthz");
    EXPECT_EQ(health.find("\"ok\""), std::string::npos) << "the removed server is not healthy: " << health;
    if (osprey()) {
        EXPECT_TRUE(holds(c, index_of(victim), 0, bound(20s))) << "the removed server still holds its copy\n" << c.logs();
        // It is not taken back.
        std::this_thread::sleep_for(2s);
        const int l = index_of(c.leader_seen_by(index_of(meta_leader)));
        EXPECT_EQ(field(meta_of(c.jsz(l)), "cluster_size"), " 3");
    }
    EXPECT_EQ(publish_until_acked(cl.js.get(), "work.item", "w-31"), 31u) << c.logs();
    for (const auto& n : p.peers) EXPECT_TRUE(holds(c, index_of(n), 31, bound(20s))) << n << "\n" << c.logs();
}

// Placement: server_tags on each server, a stream's placement tags (all of them, any case) and
// cluster choose its servers; too few matching servers is nats-server's 10005 with the tags it
// could not match. The meta leader may hold no replica of what it placed.
TEST_P(JsClusterMembership, PlacementTagsAndClusterChooseTheServers) {
    JsCluster c(GetParam(), 3, false, -1,
                {"server_tags: [\"ssd\", \"az:1\"]", "server_tags: [\"SSD\", \"az:2\"]", "server_tags: \"hdd\""});
    ASSERT_FALSE(c.agreed_leader(bound(20s)).empty()) << c.logs();
    const std::string varz = http_get(c.node(1).http_port(), "/varz");
    EXPECT_NE(varz.find("\"az:2\""), std::string::npos) << "varz shows the tags, lowercased: " << varz.substr(0, 400);
    EXPECT_EQ(varz.find("\"SSD\""), std::string::npos);
    ClusterClient cl(c, 0);
    ASSERT_TRUE(cl.nc);
    auto create = [&](const std::string& name, int replicas, const std::string& placement) {
        const std::string body = "{\"name\":\"" + name + "\",\"subjects\":[\"" + name + ".>\"],\"num_replicas\":" +
                                 std::to_string(replicas) + ",\"placement\":" + placement + "}";
        return request(cl.nc.get(), "$JS.API.STREAM.CREATE." + name, body);
    };
    const std::string hdd = create("HDD", 1, "{\"tags\":[\"hdd\"]}");
    EXPECT_NE(hdd.find("\"did_create\":true"), std::string::npos) << hdd;
    Placement p;
    ASSERT_TRUE(wait_placed(cl.js.get(), "HDD", 1, bound(20s), &p)) << c.logs();
    EXPECT_EQ(p.leader, "s2");
    const std::string ssd = create("SSD", 2, "{\"tags\":[\"Ssd\"]}");
    EXPECT_NE(ssd.find("\"did_create\":true"), std::string::npos) << ssd;
    ASSERT_TRUE(wait_placed(cl.js.get(), "SSD", 2, bound(20s), &p)) << c.logs();
    EXPECT_EQ(p.peers, (std::set<std::string>{"s0", "s1"}));
    const std::string az = create("AZ", 1, "{\"tags\":[\"ssd\",\"az:2\"]}");
    ASSERT_TRUE(wait_placed(cl.js.get(), "AZ", 1, bound(20s), &p)) << az << c.logs();
    EXPECT_EQ(p.leader, "s1") << "every tag must match";

    const std::string two_hdd = create("HDD2", 2, "{\"tags\":[\"hdd\"]}");
    EXPECT_NE(two_hdd.find("\"err_code\":10005"), std::string::npos) << two_hdd;
    EXPECT_NE(two_hdd.find("no suitable peers for placement, tags not matched ['hdd']"), std::string::npos) << two_hdd;
    const std::string other = create("ELSE", 1, "{\"cluster\":\"elsewhere\"}");
    EXPECT_NE(other.find("\"err_code\":10005"), std::string::npos) << other;
    EXPECT_NE(other.find("no suitable peers for placement"), std::string::npos) << other;
    const std::string here = create("HERE", 3, "{\"cluster\":\"C\"}");
    EXPECT_NE(here.find("\"did_create\":true"), std::string::npos) << here;
    // Scaling keeps to the placement: no second hdd server.
    const std::string up = request(cl.nc.get(), "$JS.API.STREAM.UPDATE.HDD",
                                   "{\"name\":\"HDD\",\"subjects\":[\"HDD.>\"],\"num_replicas\":2,"
                                   "\"placement\":{\"tags\":[\"hdd\"]}}");
    EXPECT_NE(up.find("\"err_code\":10005"), std::string::npos) << up;
    // Messages go where the stream is.
    EXPECT_EQ(publish_until_acked(cl.js.get(), "HDD.x", "h-1"), 1u);
    EXPECT_TRUE(holds(c, 2, 1, 10s)) << c.logs();
}

INSTANTIATE_TEST_SUITE_P(Servers, JsClusterMembership, ::testing::ValuesIn(js_cluster_servers()),
                         [](const auto& info) { return info.param == OSPREY_BIN ? "osprey" : "nats"; });

}  // namespace
