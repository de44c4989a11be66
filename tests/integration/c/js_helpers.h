// Helpers for the JetStream tests with nats.c: a server with a fresh store directory that
// survives restarts within one test.
#pragma once
#include <filesystem>
#include <random>

#include "c/nats_helpers.h"

namespace osprey::testing {

struct JsCtxDeleter {
    void operator()(jsCtx* j) const { jsCtx_Destroy(j); }
};
using Js = std::unique_ptr<jsCtx, JsCtxDeleter>;

inline Js jetstream(natsConnection* nc) {
    jsCtx* js = nullptr;
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = 5000;
    EXPECT_EQ(natsConnection_JetStream(&js, nc, &o), NATS_OK);
    return Js(js);
}

inline std::string fresh_store_dir() {
    static std::atomic<int> n{0};
    std::string d = "/tmp/osprey-js-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d);
    return d;
}

// A JetStream server whose store directory outlives restarts.
class JsServer {
public:
    explicit JsServer(std::vector<std::string> extra = {}, std::string binary = OSPREY_BIN)
        : dir_(fresh_store_dir()), extra_(extra), binary_(std::move(binary)) {
        start();
    }
    ~JsServer() {
        proc_.reset();
        std::filesystem::remove_all(dir_);
    }
    void start() {
        std::vector<std::string> args{"-js", "-sd", dir_};
        args.insert(args.end(), extra_.begin(), extra_.end());
        proc_ = std::make_unique<ServerProcess>(binary_, args);
    }
    int kill9() { return proc_->stop(SIGKILL); }
    int term() { return proc_->stop(SIGTERM); }
    ServerProcess& proc() { return *proc_; }
    std::string url() const { return proc_->url(); }
    const std::string& dir() const { return dir_; }

private:
    std::string dir_;
    std::vector<std::string> extra_;
    std::string binary_;
    std::unique_ptr<ServerProcess> proc_;
};

// The servers a behaviour test runs against: nats-server 2.9.10 first (the reference, when
// installed), then osprey.
inline std::vector<std::string> servers_to_compare() {
    std::vector<std::string> bins{OSPREY_BIN};
    if (std::filesystem::exists(NATS_SERVER_BIN)) bins.insert(bins.begin(), NATS_SERVER_BIN);
    return bins;
}

inline jsStreamInfo* add_stream(jsCtx* js, const char* name, std::vector<const char*> subjects,
                                jsStorageType storage = js_FileStorage,
                                void (*tweak)(jsStreamConfig&) = nullptr,
                                jsErrCode* err = nullptr) {
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = name;
    cfg.Subjects = subjects.data();
    cfg.SubjectsLen = int(subjects.size());
    cfg.Storage = storage;
    if (tweak) tweak(cfg);
    jsStreamInfo* si = nullptr;
    jsErrCode e = jsErrCode(0);
    natsStatus s = js_AddStream(&si, js, &cfg, nullptr, &e);
    if (err) *err = e;
    if (s != NATS_OK) return nullptr;
    return si;
}

}  // namespace osprey::testing
