// Core NATS clusters under real network faults: three servers, each in its own network namespace
// (tests/integration/common/netns.h), joined by routes on port 6222 of their own addresses.
// Partitions drop packets on the bridge, so a route does not see a close: it has to notice by
// itself (route PINGs: the servers get ping_interval 1s, ping_max 2). Every scenario runs on three
// osprey servers and on three nats-server 2.9.10 servers, so what is expected is what nats-server
// does. The tests skip (with the reason) where namespaces cannot be made (not root, no iproute2).
//
// The test's nats.c clients connect from inside each server's namespace (NetnsLab::in_ns), so a
// client always reaches its own server; only server-to-server traffic crosses the bridge.
#include <gtest/gtest.h>
#include <nats/nats.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "c/cluster_helpers.h"
#include "c/nats_helpers.h"
#include "common/netns.h"

using namespace osprey::testing;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

double secs_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// ---- the harness itself, without servers -------------------------------------------------------

TEST(NetnsLab, PartitionsDropPacketsAndHealRestoresThem) {
    std::string why;
    if (!NetnsLab::available(&why)) GTEST_SKIP() << "network namespaces unavailable: " << why;
    std::string prefix;
    pid_t sleeper = -1;
    {
        NetnsLab lab(3);
        prefix = lab.prefix();
        // Connects to a closed port: refused = the packets got there and back; timed out = dropped.
        auto reach = [&](int a, int b) { return lab.tcp_probe(a, lab.ip(b), 9, 300); };
        for (int a = 0; a < 3; ++a)
            for (int b = 0; b < 3; ++b) EXPECT_EQ(reach(a, b), ECONNREFUSED) << a << "->" << b;

        lab.partition({{0}, {1, 2}});
        EXPECT_EQ(reach(0, 1), ETIMEDOUT);
        EXPECT_EQ(reach(1, 0), ETIMEDOUT);
        EXPECT_EQ(reach(2, 0), ETIMEDOUT);
        EXPECT_EQ(reach(1, 2), ECONNREFUSED);
        EXPECT_EQ(reach(0, 0), ECONNREFUSED);  // a node always reaches itself

        lab.partition({{0, 1}});  // node 2 alone; the old cut 0|1 is gone
        EXPECT_EQ(reach(0, 1), ECONNREFUSED);
        EXPECT_EQ(reach(2, 1), ETIMEDOUT);
        EXPECT_EQ(reach(0, 2), ETIMEDOUT);

        lab.heal();
        lab.cut(0, 1, /*one_way=*/true);  // 0's packets never reach 1; a TCP handshake fails both ways
        EXPECT_TRUE(lab.blocked(0, 1));
        EXPECT_FALSE(lab.blocked(1, 0));
        EXPECT_EQ(reach(0, 1), ETIMEDOUT);
        EXPECT_EQ(reach(1, 0), ETIMEDOUT);
        EXPECT_EQ(reach(0, 2), ECONNREFUSED);

        lab.heal();
        lab.isolate(1);
        EXPECT_EQ(reach(1, 2), ETIMEDOUT);
        EXPECT_EQ(reach(0, 2), ECONNREFUSED);
        lab.heal();
        for (int a = 0; a < 3; ++a)
            for (int b = 0; b < 3; ++b) EXPECT_EQ(reach(a, b), ECONNREFUSED) << a << "->" << b;

        // The flapper cuts and heals node 2 in turn.
        lab.start_flap(2, 200ms);
        bool saw_cut = false, saw_open = false;
        for (const auto end = Clock::now() + 2s; Clock::now() < end && !(saw_cut && saw_open);) {
            (lab.blocked(0, 2) ? saw_cut : saw_open) = true;
            std::this_thread::sleep_for(10ms);
        }
        lab.stop_flap();
        EXPECT_TRUE(saw_cut && saw_open);
        EXPECT_FALSE(lab.blocked(0, 2));
        EXPECT_EQ(reach(0, 2), ECONNREFUSED);

        // A process runs inside its node, sees only that node's interfaces, and is killed at the end.
        const std::string log = "/tmp/osprey-netns-" + std::to_string(::getpid()) + "-selftest.log";
        const pid_t p = lab.spawn(1, {"/bin/sh", "-c", "cat /proc/net/dev; exec sleep 60"}, log);
        ASSERT_GT(p, 0);
        sleeper = p;
        bool got = false;
        for (const auto end = Clock::now() + 5s; Clock::now() < end && !got;) {
            std::ifstream f(log);
            const std::string s((std::istreambuf_iterator<char>(f)), {});
            got = s.find("eth0") != std::string::npos && s.find(" lo:") != std::string::npos;
            if (got) {
                EXPECT_EQ(s.find("ifb0"), std::string::npos) << s;  // the root namespace's devices are not there
                EXPECT_EQ(s.find("p1:"), std::string::npos) << s;
            }
            std::this_thread::sleep_for(20ms);
        }
        EXPECT_TRUE(got);
        EXPECT_TRUE(lab.alive(p));
        lab.pause(p);
        lab.resume(p);
        EXPECT_TRUE(lab.alive(p));

        // A binary that cannot run: status 127, and why in its log.
        const pid_t bad = lab.spawn(0, {"/nonexistent/server"}, log);
        for (const auto end = Clock::now() + 5s; Clock::now() < end && lab.alive(bad);) std::this_thread::sleep_for(5ms);
        EXPECT_EQ(lab.stop(bad), 127);  // exited by itself: its recorded status
        std::ifstream f(log);
        EXPECT_NE(std::string((std::istreambuf_iterator<char>(f)), {}).find("execv failed, errno 002"), std::string::npos);
        std::filesystem::remove(log);
    }
    // Gone: the process (by PID) and every namespace of the lab.
    EXPECT_NE(::kill(sleeper, 0), 0);
    const auto r = netns_detail::run({netns_detail::find_tool("ip"), "netns", "list"});
    EXPECT_EQ(r.out.find(prefix + "-"), std::string::npos) << r.out;
}

// ---- clusters --------------------------------------------------------------------------------

std::vector<std::string> server_kinds() {
    std::vector<std::string> k{OSPREY_BIN};
    if (std::filesystem::exists(NATS_SERVER_BIN)) k.push_back(NATS_SERVER_BIN);
    return k;
}

// Wait (bounded) until a subscription made on one node is known on another: a message published
// there reaches it. Probe subjects keep the real subjects' counts exact.
bool wait_interest(natsConnection* pub, natsConnection* sub_conn, const std::string& probe, int timeout_ms = 10000) {
    auto s = subscribe_sync(sub_conn, probe.c_str());
    natsConnection_Flush(sub_conn);
    const auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < end) {
        natsConnection_PublishString(pub, probe.c_str(), "probe");
        natsConnection_FlushTimeout(pub, 1000);
        if (auto m = next(s.get(), 100)) return true;
    }
    return false;
}

class NetnsCluster : public ::testing::TestWithParam<std::string> {
protected:
    static constexpr int kNodes = 3;

    void SetUp() override {
        std::string why;
        if (!NetnsLab::available(&why)) GTEST_SKIP() << "network namespaces unavailable: " << why;
        lab_ = std::make_unique<NetnsLab>(kNodes);
        // Route (and client) PINGs every second, two unanswered close the connection: a route cut
        // silently is noticed in about 3 s instead of 2 x 2 min.
        conf_ = "/tmp/osprey-netns-" + std::to_string(::getpid()) + "-" + lab_->prefix() + ".conf";
        std::ofstream(conf_) << "ping_interval: \"1s\"\nping_max: 2\n";
        nodes_.resize(kNodes);
        for (int i = 0; i < kNodes; ++i) start(i);
    }

    void start(int i) {
        std::string routes;
        for (int j = 0; j < kNodes; ++j)
            if (j != i) routes += (routes.empty() ? "" : ",") + ("nats://" + lab_->ip(j) + ":6222");
        nodes_[std::size_t(i)] = std::make_unique<NsServerProcess>(
            *lab_, i, GetParam(),
            std::vector<std::string>{"-c", conf_, "-n", "s" + std::to_string(i), "--cluster_name", "C", "--cluster",
                                     "nats://" + lab_->ip(i) + ":6222", "--routes", routes});
    }

    void TearDown() override {
        // A crash on the way out fails the test (osprey exits 0 on SIGTERM).
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            if (!nodes_[i]) continue;
            const bool was_running = nodes_[i]->running();
            const int status = nodes_[i]->stop();
            if (was_running && !is_nats_server(GetParam())) {
                EXPECT_EQ(status, 0) << "s" << i << " exit status\n" << nodes_[i]->log().substr(0, 8000);
            }
        }
        nodes_.clear();
        lab_.reset();
        if (!conf_.empty()) std::filesystem::remove(conf_);
    }

    NsServerProcess& node(int i) { return *nodes_[std::size_t(i)]; }

    // A nats.c connection made from inside node i's namespace to node i (no reconnect: it would
    // run in the root namespace).
    Conn connect_to(int i) {
        return lab_->in_ns(i, [&] { return connect(node(i).url()); });
    }

    int num_routes(int i) {
        const std::string r = node(i).http_get("/routez", 1000);
        const auto k = r.find("\"num_routes\"");
        if (k == std::string::npos) return -1;
        return std::atoi(r.c_str() + r.find(':', k) + 1);
    }

    // Bounded wait until node i has want[i] routes for every i (-1: not asked, e.g. paused).
    bool wait_routes(const std::vector<int>& want, int timeout_ms, double* took = nullptr) {
        const auto t0 = Clock::now();
        const auto end = t0 + std::chrono::milliseconds(timeout_ms);
        while (Clock::now() < end) {
            bool all = true;
            for (int i = 0; i < kNodes && all; ++i)
                if (want[std::size_t(i)] >= 0 && num_routes(i) != want[std::size_t(i)]) all = false;
            if (all) {
                if (took) *took = secs_since(t0);
                return true;
            }
            std::this_thread::sleep_for(50ms);
        }
        return false;
    }
    bool wait_mesh(int timeout_ms = 15000, double* took = nullptr) { return wait_routes({2, 2, 2}, timeout_ms, took); }

    std::string state() {
        std::string s;
        for (int i = 0; i < kNodes; ++i) {
            s += "---- s" + std::to_string(i) + " (" + GetParam() + ")";
            if (nodes_[std::size_t(i)]) {
                s += " routes=" + std::to_string(num_routes(i)) + "\n" + node(i).log().substr(0, 6000);
            }
            s += "\n";
        }
        return s;
    }

    const char* kind() const { return is_nats_server(GetParam()) ? "nats-server" : "osprey"; }

    std::unique_ptr<NetnsLab> lab_;  // first: destroyed last
    std::string conf_;
    std::vector<std::unique_ptr<NsServerProcess>> nodes_;
};

// (a) A message published on node 0 reaches a subscriber on node 2, through the bridge.
TEST_P(NetnsCluster, MessageFromNode0ReachesSubscriberOnNode2) {
    double took = 0;
    ASSERT_TRUE(wait_mesh(15000, &took)) << state();
    std::printf("[netns] %s: full mesh after %.2f s\n", kind(), took);
    auto c0 = connect_to(0);
    auto c2 = connect_to(2);
    ASSERT_TRUE(c0 && c2);
    auto s2 = subscribe_sync(c2.get(), "greet");
    ASSERT_TRUE(wait_interest(c0.get(), c2.get(), "probe.a")) << state();
    natsConnection_PublishString(c0.get(), "greet", "hello from node 0");
    natsConnection_Flush(c0.get());
    auto m = next(s2.get());
    ASSERT_TRUE(m) << state();
    EXPECT_EQ(data(m.get()), "hello from node 0");
    EXPECT_FALSE(next(s2.get(), 200));
}

// (b) Node 2 cut away from {0, 1}: the routes notice by PINGs alone, 0 still delivers to 1 and
// not to 2; healed, the routes come back and 0 delivers to 2 again. Nothing published during the
// partition reaches 2 later (at most once: a closed route's data is not replayed).
TEST_P(NetnsCluster, PartitionCutsNode2AwayAndHealBringsItBack) {
    ASSERT_TRUE(wait_mesh()) << state();
    auto c0 = connect_to(0);
    auto c1 = connect_to(1);
    auto c2 = connect_to(2);
    ASSERT_TRUE(c0 && c1 && c2);
    auto s1 = subscribe_sync(c1.get(), "p");
    auto s2 = subscribe_sync(c2.get(), "p");
    ASSERT_TRUE(wait_interest(c0.get(), c1.get(), "probe.b1")) << state();
    ASSERT_TRUE(wait_interest(c0.get(), c2.get(), "probe.b2")) << state();
    natsConnection_PublishString(c0.get(), "p", "before");
    natsConnection_Flush(c0.get());
    for (auto* s : {s1.get(), s2.get()}) {
        auto m = next(s);
        ASSERT_TRUE(m) << state();
        EXPECT_EQ(data(m.get()), "before");
    }

    lab_->partition({{0, 1}, {2}});
    // The cut is real: node 0 can no longer open a TCP connection to node 2's route port.
    EXPECT_EQ(lab_->tcp_probe(0, lab_->ip(2), 6222, 300), ETIMEDOUT);
    EXPECT_EQ(lab_->tcp_probe(0, lab_->ip(1), 6222, 300), 0);
    double noticed = 0;
    ASSERT_TRUE(wait_routes({1, 1, 0}, 15000, &noticed)) << state();
    std::printf("[netns] %s: routes to the cut node closed %.2f s after the partition\n", kind(), noticed);

    for (int i = 0; i < 10; ++i) natsConnection_PublishString(c0.get(), "p", ("during" + std::to_string(i)).c_str());
    natsConnection_Flush(c0.get());
    for (int i = 0; i < 10; ++i) {
        auto m = next(s1.get());
        ASSERT_TRUE(m) << "message " << i << "\n" << state();
        EXPECT_EQ(data(m.get()), "during" + std::to_string(i));
    }
    EXPECT_FALSE(next(s2.get(), 500)) << "node 2 got a message through a partition";
    // Node 2 still serves its own clients.
    {
        auto local = subscribe_sync(c2.get(), "local");
        natsConnection_Flush(c2.get());
        natsConnection_PublishString(c2.get(), "local", "x");
        natsConnection_Flush(c2.get());
        EXPECT_TRUE(next(local.get(), 1000));
    }

    lab_->heal();
    double back = 0;
    ASSERT_TRUE(wait_routes({2, 2, 2}, 15000, &back)) << state();
    std::printf("[netns] %s: full mesh again %.2f s after the heal\n", kind(), back);
    ASSERT_TRUE(wait_interest(c0.get(), c2.get(), "probe.b3")) << state();
    natsConnection_PublishString(c0.get(), "p", "after");
    natsConnection_Flush(c0.get());
    auto m2 = next(s2.get());
    ASSERT_TRUE(m2) << state();
    EXPECT_EQ(data(m2.get()), "after");  // not a "during" one replayed
    auto m1 = next(s1.get());
    ASSERT_TRUE(m1) << state();
    EXPECT_EQ(data(m1.get()), "after");
    EXPECT_FALSE(next(s2.get(), 200));
    EXPECT_FALSE(next(s1.get(), 200));
}

// (c) Node 1 frozen by SIGSTOP: its peers drop its routes (no PONG) and keep delivering between
// themselves; after SIGCONT it rejoins, its clients still connected, and delivery works all ways.
TEST_P(NetnsCluster, StoppedNodeIsDroppedAndRejoinsAfterSigcont) {
    ASSERT_TRUE(wait_mesh()) << state();
    auto c0 = connect_to(0);
    auto c1 = connect_to(1);
    auto c2 = connect_to(2);
    ASSERT_TRUE(c0 && c1 && c2);
    auto s1 = subscribe_sync(c1.get(), "q");
    auto s2 = subscribe_sync(c2.get(), "q");
    ASSERT_TRUE(wait_interest(c0.get(), c1.get(), "probe.c1")) << state();
    ASSERT_TRUE(wait_interest(c0.get(), c2.get(), "probe.c2")) << state();

    const auto paused_at = Clock::now();
    node(1).pause();
    double dropped = 0;
    const bool noticed = wait_routes({1, -1, 1}, 8000, &dropped);
    // Keep it stopped a few seconds in all (peers noticing or not).
    std::this_thread::sleep_for(std::chrono::milliseconds(std::max<long>(0, 4000 - long(secs_since(paused_at) * 1000))));
    const std::string while_paused = noticed ? "" : state();
    // The two running nodes still deliver to each other.
    natsConnection_PublishString(c0.get(), "q", "while-stopped");
    natsConnection_Flush(c0.get());
    auto w = next(s2.get());
    const double stopped_for = secs_since(paused_at);
    node(1).resume();
    EXPECT_TRUE(noticed) << "peers kept the route to a stopped node for 8 s\n" << while_paused;
    if (noticed)
        std::printf("[netns] %s: routes to the stopped node closed %.2f s after SIGSTOP (stopped %.1f s)\n", kind(),
                    dropped, stopped_for);
    ASSERT_TRUE(w) << state();
    EXPECT_EQ(data(w.get()), "while-stopped");

    double back = 0;
    ASSERT_TRUE(wait_mesh(15000, &back)) << state();
    std::printf("[netns] %s: full mesh again %.2f s after SIGCONT\n", kind(), back);
    // The connection made before the stop still works both ways.
    ASSERT_TRUE(wait_interest(c0.get(), c1.get(), "probe.c3")) << state();
    ASSERT_TRUE(wait_interest(c1.get(), c2.get(), "probe.c4")) << state();
    natsConnection_PublishString(c0.get(), "q", "from0");
    natsConnection_Flush(c0.get());
    natsConnection_PublishString(c1.get(), "q", "from1");
    natsConnection_Flush(c1.get());
    // s1 may still hold "while-stopped" if the route was not noticed as dead (nats-server and osprey
    // both close it, so it must not).
    std::vector<std::string> got1, got2;
    for (int i = 0; i < 2; ++i) {
        if (auto m = next(s1.get())) got1.push_back(data(m.get()));
        if (auto m = next(s2.get())) got2.push_back(data(m.get()));
    }
    // From two sources (a route and a local client, or two routes): no order between them.
    std::sort(got1.begin(), got1.end());
    std::sort(got2.begin(), got2.end());
    EXPECT_EQ(got1, (std::vector<std::string>{"from0", "from1"})) << state();
    EXPECT_EQ(got2, (std::vector<std::string>{"from0", "from1"})) << state();
    EXPECT_FALSE(next(s1.get(), 200));
    EXPECT_FALSE(next(s2.get(), 200));
}

INSTANTIATE_TEST_SUITE_P(Servers, NetnsCluster, ::testing::ValuesIn(server_kinds()),
                         [](const auto& info) { return std::string(is_nats_server(info.param) ? "nats" : "osprey"); });

}  // namespace
