// Clusters of JetStream servers for the tests: three (or any number of) osprey or nats-server
// 2.9.10 processes on loopback, each with its own store directory that outlives restarts,
// joined by routes; and reading /jsz's meta_cluster.
#pragma once
#include <algorithm>
#include <stdexcept>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "c/js_helpers.h"
#include "c/nats_helpers.h"

namespace osprey::testing {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;


// The string value of `"key": "..."` after `from` in a pretty-printed JSON text ("" if none).
inline std::string field(const std::string& text, const std::string& key, std::size_t from = 0) {
    const auto k = text.find("\"" + key + "\"", from);
    if (k == std::string::npos) return {};
    const auto colon = text.find(':', k);
    const auto q1 = text.find('"', colon);
    const auto nl = text.find_first_of(",\n}", colon);
    if (q1 == std::string::npos || q1 > nl) return text.substr(colon + 1, nl - colon - 1);  // not a string
    return text.substr(q1 + 1, text.find('"', q1 + 1) - q1 - 1);
}

inline std::string meta_of(const std::string& jsz) {
    const auto m = jsz.find("\"meta_cluster\"");
    return m == std::string::npos ? std::string() : jsz.substr(m);
}

class JsCluster {
public:
    // seed_only: every server's routes name server 0 only (a cluster grown from a seed).
    // start_count: how many servers start now (-1: all); start(i) starts the others.
    // extra: more configuration for server i (extra[i], when given).
    JsCluster(std::string bin, int n, bool seed_only = false, int start_count = -1,
              std::vector<std::string> extra = {})
        : bin_(std::move(bin)), seed_only_(seed_only), extra_(std::move(extra)) {
        dir_ = "/tmp/osprey-jsmeta-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++);
        std::filesystem::remove_all(dir_);
        // A route port picked free can be taken by another test before its server binds it:
        // then the whole cluster starts again on new ports (as TestCluster does), at most 3 times.
        for (int attempt = 0; attempt < 3; ++attempt) {
            cports_.clear();
            for (int i = 0; i < n; ++i) cports_.push_back(free_port());
            nodes_.clear();
            nodes_.resize(n);
            bool taken = false;
            try {
                for (int i = 0; i < (start_count < 0 ? n : start_count); ++i) start(i);
            } catch (const std::runtime_error& e) {
                // The server can also exit before its start is seen as done.
                std::string w = e.what();
                std::transform(w.begin(), w.end(), w.begin(), [](unsigned char c) { return char(std::tolower(c)); });
                if (attempt == 2 || w.find("address already in use") == std::string::npos) throw;
                taken = true;
            }
            if (!taken && !a_route_port_was_taken()) break;
            for (auto& node : nodes_)
                if (node) node->stop(SIGKILL);
            std::filesystem::remove_all(dir_);
        }
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
        for (std::size_t j = 0; j < (seed_only_ ? 1 : cports_.size()); ++j)
            routes += (routes.empty() ? "" : ", ") + ("nats://127.0.0.1:" + std::to_string(cports_[j]));
        std::ofstream(conf) << "server_name: s" << i << "\njetstream { store_dir: \"" << dir_ << "/d" << i
                            << "\" }\ncluster { name: C, listen: 127.0.0.1:" << cports_[i] << ", routes: ["
                            << routes << "] }\n"
                            << (std::size_t(i) < extra_.size() ? extra_[std::size_t(i)] : std::string()) << "\n";
        nodes_[i] = std::make_unique<ServerProcess>(bin_, std::vector<std::string>{"-c", conf});
    }
    void kill(int i) { nodes_[i]->stop(SIGKILL); }
    std::string store_dir(int i) const { return dir_ + "/d" + std::to_string(i); }
    ServerProcess& node(int i) { return *nodes_[i]; }
    bool up(int i) const { return i < int(nodes_.size()) && nodes_[i] && nodes_[i]->pid() > 0; }
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
    bool a_route_port_was_taken() {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));  // route listeners start after "ready"
        for (auto& node : nodes_) {
            if (!node) continue;
            std::string l = node->log();
            std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return char(std::tolower(c)); });
            if (l.find("address already in use") != std::string::npos) return true;
        }
        return false;
    }
    static inline int counter_ = 0;
    std::string bin_, dir_;
    bool seed_only_ = false;
    std::vector<std::string> extra_;
    std::vector<int> cports_;
    std::vector<std::unique_ptr<ServerProcess>> nodes_;
};


inline std::vector<std::string> js_cluster_servers() {
    std::vector<std::string> v{OSPREY_BIN};
    if (std::filesystem::exists(NATS_SERVER_BIN)) v.push_back(NATS_SERVER_BIN);
    return v;
}

inline std::int64_t jsz_messages(JsCluster& c, int i) {
    const std::string j = c.jsz(i);
    const std::string v = field(j, "messages");
    return v.empty() ? -1 : std::atoll(v.c_str());
}

// Every running server holds `n` messages (bounded: followers apply a moment after the ack).
inline bool all_hold(JsCluster& c, std::int64_t n, std::chrono::milliseconds within = 15s) {
    const auto end = Clock::now() + within;
    while (Clock::now() < end) {
        bool all = true;
        for (int i = 0; i < c.size(); ++i)
            if (c.up(i) && jsz_messages(c, i) != n) all = false;
        if (all) return true;
        std::this_thread::sleep_for(50ms);
    }
    return false;
}

// Connects to the cluster through server `i`, with a JetStream context.
struct ClusterClient {
    Conn nc;
    Js js;
    explicit ClusterClient(JsCluster& c, int i) {
        natsOptions* o = nullptr;
        natsOptions_Create(&o);
        natsOptions_SetURL(o, c.node(i).url().c_str());
        natsOptions_SetMaxReconnect(o, 100);
        natsOptions_SetReconnectWait(o, 50);
        nc = connect_with(o);
        natsOptions_Destroy(o);
        if (nc) js = jetstream(nc.get());
    }
};

// Creates (or, with `update`, updates) a file stream of `replicas` on one subject.
inline jsStreamInfo* put_r(jsCtx* js, const char* name, const char* subject, int replicas, jsErrCode* err,
                           bool update = false) {
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = name;
    const char* subjects[] = {subject};
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = replicas;
    jsStreamInfo* si = nullptr;
    *err = jsErrCode(0);
    if (update) js_UpdateStream(&si, js, &cfg, nullptr, err);
    else js_AddStream(&si, js, &cfg, nullptr, err);
    return si;
}

inline jsStreamInfo* create_r(jsCtx* js, const char* name, const char* subject, int replicas, jsErrCode* err) {
    return put_r(js, name, subject, replicas, err);
}

// Publishes with a message id, retrying (bounded) until some leader acknowledges it.
inline std::uint64_t publish_until_acked(jsCtx* js, const std::string& subject, const std::string& id,
                                  std::chrono::milliseconds within = 30s) {
    const auto end = Clock::now() + within;
    while (Clock::now() < end) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MsgId = id.c_str();
        po.MaxWait = 1000;
        jsPubAck* pa = nullptr;
        jsErrCode e;
        if (js_Publish(&pa, js, subject.c_str(), id.data(), int(id.size()), &po, &e) == NATS_OK && pa) {
            const std::uint64_t seq = pa->Sequence;
            jsPubAck_Destroy(pa);
            return seq;
        }
        std::this_thread::sleep_for(100ms);
    }
    return 0;
}

inline int index_of(const std::string& name) { return name.size() == 2 && name[0] == 's' ? name[1] - '0' : -1; }

}  // namespace osprey::testing
