// Clusters of real servers for the tests: any mix of osprey and nats-server 2.9.10 processes
// on loopback, joined by routes, started and stopped by the test.
#pragma once
#include <algorithm>
#include <stdexcept>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "c/nats_helpers.h"

namespace osprey::testing {

inline bool is_nats_server(const std::string& bin) { return bin.find("nats-server") != std::string::npos; }

// The mixes the cluster tests run: all osprey, and mixed with nats-server both ways.
inline std::vector<std::vector<std::string>> cluster_mixes() {
    std::vector<std::vector<std::string>> m{{OSPREY_BIN, OSPREY_BIN, OSPREY_BIN}};
    if (std::filesystem::exists(NATS_SERVER_BIN)) {
        m.push_back({OSPREY_BIN, OSPREY_BIN, NATS_SERVER_BIN});
        m.push_back({NATS_SERVER_BIN, NATS_SERVER_BIN, OSPREY_BIN});
    }
    return m;
}

inline std::string mix_name(const std::vector<std::string>& bins) {
    std::string s;
    for (auto& b : bins) s += (s.empty() ? "" : "+") + std::string(is_nats_server(b) ? "nats" : "osprey");
    return s;
}

class TestCluster {
public:
    struct Options {
        bool seed_only = false;       // every node routes to node 0 only (gossip finds the rest)
        std::string config;           // extra config text for every node (a file is written)
        std::string route_user, route_pass;  // cluster authorization and the credentials in the URLs
    };

    explicit TestCluster(std::vector<std::string> bins) : TestCluster(std::move(bins), Options()) {}
    TestCluster(std::vector<std::string> bins, Options o) : bins_(std::move(bins)), o_(std::move(o)) {
        // A route port found free can be taken (by a parallel test, or as a connection's
        // ephemeral port) before its server binds it; that server then fails after "ready".
        // Every node names the others' ports, so the whole cluster starts again on new ones
        // (bounded).
        for (int attempt = 1;; ++attempt) {
            cports_.clear();
            for (std::size_t i = 0; i < bins_.size(); ++i) cports_.push_back(free_port());
            bool taken = false;
            try {
                for (std::size_t i = 0; i < bins_.size(); ++i) start(i);
            } catch (const std::runtime_error& e) {
                // The server can also exit before its start is seen as done.
                if (attempt == 3 || !says_port_taken(e.what())) throw;
                taken = true;
            }
            if (!taken && (attempt == 3 || !a_route_port_was_taken())) break;
            for (auto& n : nodes_)
                if (n) n->stop();
            nodes_.clear();
        }
    }

    void start(std::size_t i) {
        std::vector<std::string> args{"-n", "s" + std::to_string(i), "--cluster_name", "C1"};
        std::string creds = o_.route_user.empty() ? "" : o_.route_user + ":" + o_.route_pass + "@";
        args.push_back("--cluster");
        args.push_back("nats://" + creds + "127.0.0.1:" + std::to_string(cports_[i]));
        std::string routes;
        for (std::size_t j = 0; j < bins_.size(); ++j) {
            if (j == i || (o_.seed_only && j != 0)) continue;
            routes += (routes.empty() ? "" : ",") + ("nats://" + creds + "127.0.0.1:" + std::to_string(cports_[j]));
        }
        if (!routes.empty()) {
            args.push_back("--routes");
            args.push_back(routes);
        }
        if (!o_.config.empty()) {
            const std::string path = "/tmp/osprey-cluster-" + std::to_string(::getpid()) + "-" +
                                     std::to_string(cports_[i]) + ".conf";
            std::ofstream(path) << o_.config;
            args.push_back("-c");
            args.push_back(path);
        }
        if (nodes_.size() <= i) nodes_.resize(i + 1);
        nodes_[i] = std::make_unique<ServerProcess>(bins_[i], args);
    }

    // Stops every node: a crash on the way out fails the test (sanitizer reports are checked
    // by ServerProcess).
    ~TestCluster() {
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            if (!nodes_[i]) continue;
            const bool was_running = nodes_[i]->pid() > 0;
            const int status = nodes_[i]->stop();
            if (was_running && !is_nats_server(bins_[i])) {
                EXPECT_EQ(status, 0) << "s" << i << " exit status\n" << nodes_[i]->log().substr(0, 8000);
            }
        }
    }

    ServerProcess& node(std::size_t i) { return *nodes_[i]; }
    int cluster_port(std::size_t i) const { return cports_[i]; }
    std::size_t size() const { return nodes_.size(); }
    void kill(std::size_t i, int sig = SIGKILL) { nodes_[i]->stop(sig); }

    static int num_routes(ServerProcess& p) {
        const std::string r = http_get(p.http_port(), "/routez");
        const auto k = r.find("\"num_routes\"");
        if (k == std::string::npos) return -1;
        return std::atoi(r.c_str() + r.find(':', k) + 1);
    }

    // Every node routed to every other (bounded wait).
    bool wait_mesh(int timeout_ms = 15000, std::size_t skip = SIZE_MAX) {
        const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        const int want = int(nodes_.size()) - (skip == SIZE_MAX ? 1 : 2);
        while (std::chrono::steady_clock::now() < end) {
            bool all = true;
            for (std::size_t i = 0; i < nodes_.size(); ++i)
                if (i != skip && nodes_[i]->pid() > 0 && num_routes(*nodes_[i]) != want) all = false;
            if (all) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return false;
    }

    std::string logs() {
        std::string s;
        for (std::size_t i = 0; i < nodes_.size(); ++i)
            s += "---- s" + std::to_string(i) + " (" + bins_[i] + ")\n" + nodes_[i]->log().substr(0, 4000);
        return s;
    }

private:
    static bool says_port_taken(std::string l) {
        std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return char(std::tolower(c)); });
        return l.find("address already in use") != std::string::npos;
    }
    bool a_route_port_was_taken() {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));  // route listeners start after "ready"
        for (auto& n : nodes_)
            if (says_port_taken(n->log())) return true;
        return false;
    }

    std::vector<std::string> bins_;
    Options o_;
    std::vector<int> cports_;
    std::vector<std::unique_ptr<ServerProcess>> nodes_;
};

// Interest takes a moment to cross a route: retry a request until it is answered (bounded).
inline Msg request_until(natsConnection* nc, const char* subject, const char* data, int timeout_ms = 5000) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < end) {
        natsMsg* r = nullptr;
        if (natsConnection_RequestString(&r, nc, subject, data, 500) == NATS_OK) return Msg(r);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return Msg(nullptr);
}

}  // namespace osprey::testing
