// JetStream in a cluster, first part: the meta group every JetStream server of a cluster joins.
// Three servers with JetStream and routes elect one meta leader that every server names in
// /jsz and /varz (nats-server's "meta_cluster": the leader's peer hash, the replicas listed
// by the leader only); /healthz is unavailable until there is a leader; a kill -9 of the
// leader brings another, and the restarted server rejoins from its write-ahead log. The same
// expectations run against three nats-server 2.9.10 processes.
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
using Clock = std::chrono::steady_clock;

namespace {

// The string value of `"key": "..."` after `from` in a pretty-printed JSON text ("" if none).
std::string field(const std::string& text, const std::string& key, std::size_t from = 0) {
    const auto k = text.find("\"" + key + "\"", from);
    if (k == std::string::npos) return {};
    const auto colon = text.find(':', k);
    const auto q1 = text.find('"', colon);
    const auto nl = text.find_first_of(",\n}", colon);
    if (q1 == std::string::npos || q1 > nl) return text.substr(colon + 1, nl - colon - 1);  // not a string
    return text.substr(q1 + 1, text.find('"', q1 + 1) - q1 - 1);
}

std::string meta_of(const std::string& jsz) {
    const auto m = jsz.find("\"meta_cluster\"");
    return m == std::string::npos ? std::string() : jsz.substr(m);
}

class JsCluster {
public:
    JsCluster(std::string bin, int n) : bin_(std::move(bin)) {
        ::setenv("OSPREY_DEV_JS_CLUSTER", "1", 1);  // osprey refuses JetStream in a cluster otherwise
        dir_ = "/tmp/osprey-jsmeta-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++);
        std::filesystem::remove_all(dir_);
        for (int i = 0; i < n; ++i) cports_.push_back(free_port());
        nodes_.resize(n);
        for (int i = 0; i < n; ++i) start(i);
    }
    ~JsCluster() {
        for (auto& n : nodes_)
            if (n) n->stop();
        std::filesystem::remove_all(dir_);
    }
    void start(int i) {
        const std::string conf = dir_ + "/s" + std::to_string(i) + ".conf";
        std::filesystem::create_directories(dir_ + "/d" + std::to_string(i));
        std::string routes;
        for (std::size_t j = 0; j < cports_.size(); ++j)
            routes += (routes.empty() ? "" : ", ") + ("nats://127.0.0.1:" + std::to_string(cports_[j]));
        std::ofstream(conf) << "server_name: s" << i << "\njetstream { store_dir: \"" << dir_ << "/d" << i
                            << "\" }\ncluster { name: C, listen: 127.0.0.1:" << cports_[i] << ", routes: ["
                            << routes << "] }\n";
        nodes_[i] = std::make_unique<ServerProcess>(bin_, std::vector<std::string>{"-c", conf});
    }
    void kill(int i) { nodes_[i]->stop(SIGKILL); }
    ServerProcess& node(int i) { return *nodes_[i]; }
    bool up(int i) const { return nodes_[i] && nodes_[i]->pid() > 0; }
    int size() const { return int(nodes_.size()); }
    std::string jsz(int i) { return http_get(nodes_[i]->http_port(), "/jsz"); }
    std::string leader_seen_by(int i) { return field(meta_of(jsz(i)), "leader"); }

    // The leader every running server names, once they agree (bounded); "" if they do not.
    std::string agreed_leader(std::chrono::milliseconds within, const std::string& not_this = {}) {
        const auto end = Clock::now() + within;
        while (Clock::now() < end) {
            std::string l;
            bool same = true;
            for (int i = 0; i < size() && same; ++i) {
                if (!up(i)) continue;
                const std::string li = leader_seen_by(i);
                if (li.empty() || li == not_this || (!l.empty() && li != l)) same = false;
                l = li;
            }
            if (same && !l.empty()) return l;
            std::this_thread::sleep_for(50ms);
        }
        return {};
    }
    std::string logs() {
        std::string s;
        for (int i = 0; i < size(); ++i)
            if (nodes_[i]) s += "---- s" + std::to_string(i) + "\n" + nodes_[i]->log().substr(0, 3000);
        return s;
    }

private:
    static inline int counter_ = 0;
    std::string bin_, dir_;
    std::vector<int> cports_;
    std::vector<std::unique_ptr<ServerProcess>> nodes_;
};

class JsClusterMeta : public ::testing::TestWithParam<std::string> {};

std::vector<std::string> servers() {
    std::vector<std::string> v{OSPREY_BIN};
    if (std::filesystem::exists(NATS_SERVER_BIN)) v.push_back(NATS_SERVER_BIN);
    return v;
}

int index_of(const std::string& name) { return name.size() == 2 && name[0] == 's' ? name[1] - '0' : -1; }

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

INSTANTIATE_TEST_SUITE_P(Servers, JsClusterMeta, ::testing::ValuesIn(servers()),
                         [](const auto& info) { return info.param == OSPREY_BIN ? "osprey" : "nats"; });

}  // namespace
