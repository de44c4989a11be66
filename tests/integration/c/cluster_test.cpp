// Clusters joined by routes, driven by the nats.c client: every scenario runs on three osprey
// nodes and on mixed clusters with nats-server 2.9.10 (osprey+osprey+nats, nats+nats+osprey),
// so osprey's routes speak what nats-server speaks in both directions.
#include <gtest/gtest.h>
#include <nats/nats.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "c/cluster_helpers.h"

using namespace osprey::testing;
using namespace std::chrono_literals;

namespace {

class Cluster : public ::testing::TestWithParam<std::vector<std::string>> {};

// Wait (bounded) until a subscription made on one node is known on another: a message published
// there reaches it. Probe subjects keep the real subjects' counts exact.
bool wait_interest(natsConnection* pub, natsConnection* sub_conn, const std::string& probe) {
    auto s = subscribe_sync(sub_conn, probe.c_str());
    natsConnection_Flush(sub_conn);
    const auto end = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < end) {
        natsConnection_PublishString(pub, probe.c_str(), "probe");
        natsConnection_Flush(pub);
        if (auto m = next(s.get(), 100)) return true;
    }
    return false;
}

// Counts subscriptions a node knows (its own clients' and, for nats-server, its routes').
int num_subs(ServerProcess& p) {
    const std::string r = http_get(p.http_port(), "/subsz");
    const auto k = r.find("\"num_subscriptions\"");
    if (k == std::string::npos) return -1;
    return std::atoi(r.c_str() + r.find(':', k) + 1);
}

TEST_P(Cluster, MessagesCrossRoutesToPlainAndWildcardSubscribers) {
    TestCluster c(GetParam());
    ASSERT_TRUE(c.wait_mesh()) << c.logs();
    auto a = connect(c.node(0).url());
    auto b = connect(c.node(1).url());
    auto d = connect(c.node(2).url());
    auto plain = subscribe_sync(b.get(), "orders.new");
    auto star = subscribe_sync(d.get(), "orders.*");
    auto full = subscribe_sync(d.get(), "orders.>");
    natsConnection_Flush(b.get());
    natsConnection_Flush(d.get());
    // The last subscription made on each node has crossed once a probe made after it has.
    ASSERT_TRUE(wait_interest(a.get(), b.get(), "probe.b"));
    ASSERT_TRUE(wait_interest(a.get(), d.get(), "probe.d"));

    for (int i = 0; i < 50; ++i)
        natsConnection_PublishString(a.get(), "orders.new", ("m" + std::to_string(i)).c_str());
    natsConnection_PublishString(a.get(), "orders.eu.paid", "deep");
    natsConnection_Flush(a.get());

    // Each subscriber gets every message once and in order: one copy per route, however many
    // subscriptions the far side has.
    for (int i = 0; i < 50; ++i) {
        auto m1 = next(plain.get());
        auto m2 = next(star.get());
        auto m3 = next(full.get());
        ASSERT_TRUE(m1 && m2 && m3) << "message " << i << "\n" << c.logs();
        EXPECT_EQ(data(m1.get()), "m" + std::to_string(i));
        EXPECT_EQ(data(m2.get()), "m" + std::to_string(i));
        EXPECT_EQ(data(m3.get()), "m" + std::to_string(i));
    }
    auto deep = next(full.get());
    ASSERT_TRUE(deep);
    EXPECT_EQ(data(deep.get()), "deep");
    EXPECT_FALSE(next(plain.get(), 200));
    EXPECT_FALSE(next(star.get(), 200));  // orders.* does not take orders.eu.paid
    EXPECT_FALSE(next(full.get(), 200));
}

// A client that closes queues the removal of its interest for the routes on its own thread;
// interest made afterwards on that server must still cross (it once did not: the route
// waited for a flush that thread never did, until some message happened to cross).
TEST_P(Cluster, InterestCrossesAfterAClientClosed) {
    TestCluster c(GetParam());
    ASSERT_TRUE(c.wait_mesh()) << c.logs();
    auto far = connect(c.node(1).url());
    for (int round = 0; round < 6; ++round) {
        {
            // A raw client that just goes away (no UNSUB first, as a crashed client): its
            // interest is removed by the close itself.
            RawConn gone(c.node(0).port());
            gone.read("\r\n");
            gone.send("CONNECT {\"verbose\":false}\r\nSUB gone." + std::to_string(round) + " 1\r\nPING\r\n");
            ASSERT_NE(gone.read("PONG").find("PONG"), std::string::npos);
        }
        std::this_thread::sleep_for(50ms);
        auto after = connect(c.node(0).url());
        const std::string subj = "after." + std::to_string(round);
        auto s = subscribe_sync(after.get(), subj.c_str());
        natsConnection_Flush(after.get());
        bool got = false;
        for (auto end = std::chrono::steady_clock::now() + 5s; !got && std::chrono::steady_clock::now() < end;) {
            natsConnection_PublishString(far.get(), subj.c_str(), "x");
            natsConnection_Flush(far.get());
            got = next(s.get(), 100) != nullptr;
        }
        ASSERT_TRUE(got) << "round " << round << ": interest never crossed\n" << c.logs();
    }
}

TEST_P(Cluster, HeadersAndLargePayloadsCrossRoutes) {
    TestCluster c(GetParam());
    ASSERT_TRUE(c.wait_mesh()) << c.logs();
    auto a = connect(c.node(0).url());
    auto b = connect(c.node(2).url());
    auto s = subscribe_sync(b.get(), "h");
    ASSERT_TRUE(wait_interest(a.get(), b.get(), "probe.h"));

    natsMsg* m = nullptr;
    ASSERT_EQ(natsMsg_Create(&m, "h", "reply.to", "body", 4), NATS_OK);
    natsMsgHeader_Set(m, "X-Trace", "abc");
    natsMsgHeader_Add(m, "X-Trace", "def");
    ASSERT_EQ(natsConnection_PublishMsg(a.get(), m), NATS_OK);
    natsMsg_Destroy(m);
    const std::string big(512 * 1024, 'x');
    natsConnection_Publish(a.get(), "h", big.data(), int(big.size()));
    natsConnection_Flush(a.get());

    auto got = next(s.get());
    ASSERT_TRUE(got) << c.logs();
    EXPECT_EQ(data(got.get()), "body");
    EXPECT_STREQ(natsMsg_GetReply(got.get()), "reply.to");
    const char** vals = nullptr;
    int n = 0;
    ASSERT_EQ(natsMsgHeader_Values(got.get(), "X-Trace", &vals, &n), NATS_OK);
    ASSERT_EQ(n, 2);
    EXPECT_STREQ(vals[0], "abc");
    EXPECT_STREQ(vals[1], "def");
    free(vals);
    auto large = next(s.get());
    ASSERT_TRUE(large);
    EXPECT_EQ(data(large.get()), big);
}

TEST_P(Cluster, QueueGroupDeliversEachMessageOnceClusterWide) {
    TestCluster c(GetParam());
    ASSERT_TRUE(c.wait_mesh()) << c.logs();
    auto a = connect(c.node(0).url());
    auto b = connect(c.node(1).url());
    auto d = connect(c.node(2).url());
    // Members on the two nodes the publisher is not on; two on one node, one on the other.
    auto q1 = subscribe_sync(b.get(), "work", "workers");
    auto q2 = subscribe_sync(b.get(), "work", "workers");
    auto q3 = subscribe_sync(d.get(), "work", "workers");
    ASSERT_TRUE(wait_interest(a.get(), b.get(), "probe.qb"));
    ASSERT_TRUE(wait_interest(a.get(), d.get(), "probe.qd"));

    const int total = 300;
    for (int i = 0; i < total; ++i) natsConnection_PublishString(a.get(), "work", std::to_string(i).c_str());
    natsConnection_Flush(a.get());

    std::set<std::string> seen;
    std::map<int, int> per_node;
    int dups = 0;
    auto drain = [&](natsSubscription* s, int node) {
        while (auto m = next(s, 300)) {
            if (!seen.insert(data(m.get())).second) ++dups;
            ++per_node[node];
        }
    };
    drain(q1.get(), 1);
    drain(q2.get(), 1);
    drain(q3.get(), 2);
    EXPECT_EQ(dups, 0);
    EXPECT_EQ(int(seen.size()), total) << c.logs();
    // The pick is random across nodes: 300 messages all landing on one node would be a bug.
    EXPECT_GT(per_node[1], 0);
    EXPECT_GT(per_node[2], 0);
}

TEST_P(Cluster, QueueGroupSpansLocalAndRemoteMembersBesideAPlainSubscriber) {
    TestCluster c(GetParam());
    ASSERT_TRUE(c.wait_mesh()) << c.logs();
    auto a = connect(c.node(0).url());
    auto b = connect(c.node(1).url());
    auto local = subscribe_sync(a.get(), "jobs", "g");
    auto remote = subscribe_sync(b.get(), "jobs", "g");
    auto watcher = subscribe_sync(b.get(), "jobs");  // a plain subscriber sees every message
    ASSERT_TRUE(wait_interest(a.get(), b.get(), "probe.local"));
    for (int i = 0; i < 100; ++i) natsConnection_PublishString(a.get(), "jobs", "j");
    natsConnection_Flush(a.get());
    int l = 0, r = 0, w = 0;
    while (auto m = next(local.get(), 300)) ++l;
    while (auto m = next(remote.get(), 300)) ++r;
    while (auto m = next(watcher.get(), 300)) ++w;
    // nats-server 2.9 picks among a client's message's queue members at random, the route's
    // member included (no preference for local ones): both sides get some, none twice.
    EXPECT_EQ(l + r, 100);
    EXPECT_GT(l, 0);
    EXPECT_GT(r, 0);
    EXPECT_EQ(w, 100);
}

TEST_P(Cluster, RequestReplyAcrossTwoRoutes) {
    TestCluster c(GetParam());
    ASSERT_TRUE(c.wait_mesh()) << c.logs();
    auto requester = connect(c.node(0).url());
    auto responder = connect(c.node(2).url());
    auto svc = subscribe_sync(responder.get(), "svc.echo");
    natsConnection_Flush(responder.get());
    std::atomic<bool> stop{false};
    std::thread t([&] {
        while (!stop) {
            if (auto m = next(svc.get(), 100))
                natsConnection_PublishString(responder.get(), natsMsg_GetReply(m.get()),
                                             ("re:" + data(m.get())).c_str());
        }
    });
    auto first = request_until(requester.get(), "svc.echo", "hello");
    ASSERT_TRUE(first) << c.logs();
    EXPECT_EQ(data(first.get()), "re:hello");
    for (int i = 0; i < 20; ++i) {
        natsMsg* r = nullptr;
        ASSERT_EQ(natsConnection_RequestString(&r, requester.get(), "svc.echo", std::to_string(i).c_str(), 2000),
                  NATS_OK);
        EXPECT_EQ(data(r), "re:" + std::to_string(i));
        natsMsg_Destroy(r);
    }
    stop = true;
    t.join();
}

TEST_P(Cluster, UnsubscribeRemovesInterestAcrossRoutes) {
    TestCluster c(GetParam());
    ASSERT_TRUE(c.wait_mesh()) << c.logs();
    auto a = connect(c.node(0).url());
    auto b = connect(c.node(1).url());
    const int before = num_subs(c.node(0));
    auto s = subscribe_sync(b.get(), "gone.soon");
    ASSERT_TRUE(wait_interest(a.get(), b.get(), "probe.gone"));
    natsConnection_PublishString(a.get(), "gone.soon", "1");
    natsConnection_Flush(a.get());
    ASSERT_TRUE(next(s.get()));

    // A subscription that auto-unsubscribes after one more message, then a closed connection:
    // both take their interest out of the other nodes.
    auto once = subscribe_sync(b.get(), "once");
    natsSubscription_AutoUnsubscribe(once.get(), 1);
    ASSERT_TRUE(wait_interest(a.get(), b.get(), "probe.once"));
    natsConnection_PublishString(a.get(), "once", "1");
    natsConnection_PublishString(a.get(), "once", "2");
    natsConnection_Flush(a.get());
    auto m = next(once.get());
    ASSERT_TRUE(m);
    EXPECT_EQ(data(m.get()), "1");
    EXPECT_FALSE(next(once.get(), 300));

    natsSubscription_Unsubscribe(s.get());
    b.reset();  // closes the connection: what it still had goes too
    // nats-server's /subsz counts route subscriptions: node 0's count falls back.
    const auto end = std::chrono::steady_clock::now() + 10s;
    int now = -2;
    while (std::chrono::steady_clock::now() < end && (now = num_subs(c.node(0))) != before)
        std::this_thread::sleep_for(50ms);
    if (is_nats_server(GetParam()[0])) {
        EXPECT_EQ(now, before);
    }

    // Interest is gone on node 1: a new subscriber there starts from nothing, and a publish
    // from node 0 is not routed to node 1 for the old subscription (the route stays quiet).
    auto b2 = connect(c.node(1).url());
    auto fresh = subscribe_sync(b2.get(), "gone.soon");
    ASSERT_TRUE(wait_interest(a.get(), b2.get(), "probe.fresh"));
    natsConnection_PublishString(a.get(), "gone.soon", "2");
    natsConnection_Flush(a.get());
    auto f = next(fresh.get());
    ASSERT_TRUE(f);
    EXPECT_EQ(data(f.get()), "2");
    EXPECT_FALSE(next(fresh.get(), 200));
}

TEST_P(Cluster, NodesFindEachOtherThroughASeed) {
    TestCluster::Options o;
    o.seed_only = true;  // nodes 1 and 2 know only node 0; gossip makes the mesh
    TestCluster c(GetParam(), o);
    ASSERT_TRUE(c.wait_mesh()) << c.logs();
    auto b = connect(c.node(1).url());
    auto d = connect(c.node(2).url());
    auto s = subscribe_sync(d.get(), "direct");
    ASSERT_TRUE(wait_interest(b.get(), d.get(), "probe.direct"));
    natsConnection_PublishString(b.get(), "direct", "x");
    natsConnection_Flush(b.get());
    ASSERT_TRUE(next(s.get()));
}

TEST_P(Cluster, ClientsLearnTheClusterAndFailOverWhenANodeDies) {
    TestCluster c(GetParam());
    ASSERT_TRUE(c.wait_mesh()) << c.logs();
    // The client knows only node 0; node 0's INFO tells it the other nodes' client URLs.
    auto o = make_opts(c.node(0).url());
    natsOptions_SetAllowReconnect(o.get(), true);
    natsOptions_SetMaxReconnect(o.get(), 20);
    natsOptions_SetReconnectWait(o.get(), 100);
    auto nc = connect_with(o.get());
    ASSERT_TRUE(nc);
    const auto end = std::chrono::steady_clock::now() + 10s;
    int discovered = 0;
    while (std::chrono::steady_clock::now() < end) {
        char** servers = nullptr;
        int count = 0;
        natsConnection_GetDiscoveredServers(nc.get(), &servers, &count);
        for (int i = 0; i < count; ++i) free(servers[i]);
        free(servers);
        if ((discovered = count) >= 2) break;
        std::this_thread::sleep_for(50ms);
    }
    ASSERT_GE(discovered, 2) << c.logs();

    auto sub = subscribe_sync(nc.get(), "after.failover");
    natsConnection_Flush(nc.get());
    c.kill(0);
    // The client reconnects to node 1 or 2 and resends its subscription there.
    auto other = connect(c.node(1).url());
    bool got = false;
    const auto end2 = std::chrono::steady_clock::now() + 15s;
    while (!got && std::chrono::steady_clock::now() < end2) {
        natsConnection_PublishString(other.get(), "after.failover", "y");
        natsConnection_Flush(other.get());
        got = bool(next(sub.get(), 200));
    }
    EXPECT_TRUE(got) << c.logs();

    // The dead node comes back (on a fresh client port) and the mesh heals; the interest that
    // lived on while it was gone is sent to it again.
    c.start(0);
    EXPECT_TRUE(c.wait_mesh(20000)) << c.logs();
    auto back = connect(c.node(0).url());
    bool again = false;
    const auto end3 = std::chrono::steady_clock::now() + 15s;
    while (!again && std::chrono::steady_clock::now() < end3) {
        natsConnection_PublishString(back.get(), "after.failover", "z");
        natsConnection_Flush(back.get());
        again = bool(next(sub.get(), 200));
    }
    EXPECT_TRUE(again) << c.logs();
}

TEST_P(Cluster, RoutesNeedTheClusterCredentials) {
    TestCluster::Options o;
    o.seed_only = true;
    o.route_user = "ruser";
    o.route_pass = "rpass";
    std::vector<std::string> two{GetParam()[0], GetParam()[1]};
    TestCluster c(two, o);
    ASSERT_TRUE(c.wait_mesh()) << c.logs();

    // A third server with the wrong password for the seed is refused.
    const int cport = free_port();
    ServerProcess intruder(GetParam()[2],
                           {"-n", "intruder", "--cluster_name", "C1", "--cluster",
                            "nats://ruser:rpass@127.0.0.1:" + std::to_string(cport), "--routes",
                            "nats://ruser:wrong@127.0.0.1:" + std::to_string(c.cluster_port(0))});
    auto a = connect(c.node(0).url());
    auto x = connect(intruder.url());
    auto s = subscribe_sync(a.get(), "secret");
    natsConnection_Flush(a.get());
    std::this_thread::sleep_for(1500ms);  // time for several route attempts
    EXPECT_EQ(TestCluster::num_routes(intruder), 0) << intruder.log();
    EXPECT_EQ(TestCluster::num_routes(c.node(0)), 1);
    natsConnection_PublishString(x.get(), "secret", "leak");
    natsConnection_Flush(x.get());
    EXPECT_FALSE(next(s.get(), 300));
}

TEST_P(Cluster, AccountsStayApartAcrossRoutes) {
    TestCluster::Options o;
    o.config = R"(
accounts {
  A { users = [ { user: a, password: a } ] }
  B { users = [ { user: b, password: b } ] }
}
)";
    TestCluster c(GetParam(), o);
    ASSERT_TRUE(c.wait_mesh()) << c.logs();
    auto url_as = [&](std::size_t n, const char* u) {
        return "nats://" + std::string(u) + ":" + u + "@127.0.0.1:" + std::to_string(c.node(n).port());
    };
    auto a0 = connect(url_as(0, "a"));
    auto a1 = connect(url_as(1, "a"));
    auto b1 = connect(url_as(1, "b"));
    auto b2 = connect(url_as(2, "b"));
    auto sa = subscribe_sync(a1.get(), "shared.name");
    auto sb = subscribe_sync(b1.get(), "shared.name");
    auto sb2 = subscribe_sync(b2.get(), ">");
    ASSERT_TRUE(wait_interest(a0.get(), a1.get(), "probe.a"));
    natsConnection_PublishString(a0.get(), "shared.name", "for A");
    natsConnection_Flush(a0.get());
    auto m = next(sa.get());
    ASSERT_TRUE(m) << c.logs();
    EXPECT_EQ(data(m.get()), "for A");
    EXPECT_FALSE(next(sb.get(), 300));
    EXPECT_FALSE(next(sb2.get(), 100));
}

TEST_P(Cluster, LameDuckModeMovesClientsAway) {
    TestCluster::Options o;
    o.config = "lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"500ms\"\n";
    TestCluster c(GetParam(), o);
    ASSERT_TRUE(c.wait_mesh()) << c.logs();
    auto opts = make_opts(c.node(0).url());
    std::atomic<bool> ldm{false};
    natsOptions_SetAllowReconnect(opts.get(), true);
    natsOptions_SetReconnectWait(opts.get(), 100);
    natsOptions_SetLameDuckModeCB(
        opts.get(), [](natsConnection*, void* flag) { static_cast<std::atomic<bool>*>(flag)->store(true); }, &ldm);
    auto nc = connect_with(opts.get());
    ASSERT_TRUE(nc);
    // Wait until node 0 has told this client about the others (so it has somewhere to go).
    const auto end = std::chrono::steady_clock::now() + 10s;
    for (;;) {
        char** servers = nullptr;
        int count = 0;
        natsConnection_GetDiscoveredServers(nc.get(), &servers, &count);
        for (int i = 0; i < count; ++i) free(servers[i]);
        free(servers);
        if (count >= 2 || std::chrono::steady_clock::now() > end) break;
        std::this_thread::sleep_for(50ms);
    }
    auto sub = subscribe_sync(nc.get(), "ldm.after");
    natsConnection_Flush(nc.get());

    ::kill(c.node(0).pid(), SIGUSR2);
    const auto end2 = std::chrono::steady_clock::now() + 10s;
    while (!ldm && std::chrono::steady_clock::now() < end2) std::this_thread::sleep_for(20ms);
    EXPECT_TRUE(ldm) << "no INFO with ldm";

    // After the grace period the server closes its clients; this one reconnects to another
    // node (the lame duck no longer accepts any) and takes its subscription there.
    const std::string ldm_url = c.node(0).url();
    const auto end3 = std::chrono::steady_clock::now() + 15s;
    std::string now_url;
    while (std::chrono::steady_clock::now() < end3) {
        char buf[256] = {0};
        if (natsConnection_Status(nc.get()) == NATS_CONN_STATUS_CONNECTED &&
            natsConnection_GetConnectedUrl(nc.get(), buf, sizeof buf) == NATS_OK &&
            (now_url = buf) != ldm_url && !now_url.empty())
            break;
        std::this_thread::sleep_for(20ms);
    }
    ASSERT_NE(now_url, ldm_url) << c.logs();
    auto other = connect(c.node(2).url());
    bool got = false;
    const auto end4 = std::chrono::steady_clock::now() + 10s;
    while (!got && std::chrono::steady_clock::now() < end4) {
        natsConnection_PublishString(other.get(), "ldm.after", "z");
        natsConnection_Flush(other.get());
        got = bool(next(sub.get(), 200));
    }
    EXPECT_TRUE(got) << c.logs();
    // With its last client gone the lame duck exits by itself (well before 30 s).
    EXPECT_TRUE(c.node(0).wait_exit(15000)) << c.logs();
}

INSTANTIATE_TEST_SUITE_P(Mixes, Cluster, ::testing::ValuesIn(cluster_mixes()),
                         [](const auto& info) {
                             std::string n = mix_name(info.param);
                             for (auto& ch : n)
                                 if (ch == '+') ch = '_';
                             return n;
                         });

}  // namespace
