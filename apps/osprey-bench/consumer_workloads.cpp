// JetStream consumer and KV workloads: fetch (pull, batch, explicit ack), consume (push,
// explicit ack), ordered (push, no ack), kv-put, kv-get.
#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "js_env.h"
#include "workloads.h"

namespace bench {

using Clock = std::chrono::steady_clock;

namespace {

using Env = JsEnv;

bool open(Env& env, const Config& c) { return env.open(c, 5000); }

// A stream holding c.msgs messages of c.size bytes.
bool populate(Env& env, const Config& c) {
    if (!env.fresh_stream("CBENCH", "cbench", c)) return false;
    std::vector<char> payload(std::size_t(c.size), 'x');
    for (long i = 0; i < c.msgs; ++i)
        js_PublishAsync(env.js, "cbench", payload.data(), c.size, nullptr);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 60000;
    return js_PublishAsyncComplete(env.js, &po) == NATS_OK;
}

void report(const char* name, const Config& c, double secs) {
    std::printf("workload=%s storage=%s msgs=%ld size=%d elapsed_s=%.4f msgs_per_s=%.0f\n", name,
                c.storage.c_str(), c.msgs, c.size, secs, double(c.msgs) / secs);
    std::fflush(stdout);
}

struct Counter {
    std::atomic<long> n{0};
    bool ack = true;
    static void on_msg(natsConnection*, natsSubscription*, natsMsg* m, void* closure) {
        auto* self = static_cast<Counter*>(closure);
        if (self->ack) natsMsg_Ack(m, nullptr);
        natsMsg_Destroy(m);
        self->n.fetch_add(1, std::memory_order_relaxed);
    }
};

int push(const char* name, const Config& c, bool ordered) {
    Env env;
    if (!open(env, c) || !populate(env, c)) return 1;
    Counter counter;
    counter.ack = !ordered;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    if (ordered) {
        so.Ordered = true;
    } else {
        so.Config.AckPolicy = js_AckExplicit;
        so.Config.MaxAckPending = 20000;
    }
    natsSubscription* sub = nullptr;
    jsErrCode e;
    auto t0 = Clock::now();
    if (js_Subscribe(&sub, env.js, "cbench", Counter::on_msg, &counter, nullptr, &so, &e) != NATS_OK)
        return 1;
    natsSubscription_SetPendingLimits(sub, -1, -1);
    auto deadline = Clock::now() + std::chrono::seconds(120);
    while (counter.n.load() < c.msgs && Clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    report(name, c, std::chrono::duration<double>(Clock::now() - t0).count());
    natsSubscription_Destroy(sub);
    return counter.n.load() >= c.msgs ? 0 : 1;
}

}  // namespace

int run_js_fetch(const Config& c) {
    Env env;
    if (!open(env, c) || !populate(env, c)) return 1;
    natsSubscription* sub = nullptr;
    jsErrCode e;
    if (js_PullSubscribe(&sub, env.js, "cbench", "fetcher", nullptr, nullptr, &e) != NATS_OK) return 1;
    const int batch = c.subs > 1 ? c.subs : 100;  // --subs doubles as the batch size here
    long got = 0;
    auto t0 = Clock::now();
    while (got < c.msgs) {
        natsMsgList list{};
        if (natsSubscription_Fetch(&list, sub, batch, 5000, &e) != NATS_OK) break;
        for (int i = 0; i < list.Count; ++i) natsMsg_Ack(list.Msgs[i], nullptr);
        got += list.Count;
        natsMsgList_Destroy(&list);
    }
    report("js-fetch", c, std::chrono::duration<double>(Clock::now() - t0).count());
    natsSubscription_Destroy(sub);
    return got >= c.msgs ? 0 : 1;
}

int run_js_consume(const Config& c) { return push("js-consume", c, false); }
int run_js_ordered(const Config& c) { return push("js-ordered", c, true); }

int run_kv(const Config& c, bool get) {
    Env env;
    if (!open(env, c)) return 1;
    js_DeleteKeyValue(env.js, "BENCHKV");
    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = "BENCHKV";
    kc.StorageType = c.storage == "memory" ? js_MemoryStorage : js_FileStorage;
    kvStore* kv = nullptr;
    if (js_CreateKeyValue(&kv, env.js, &kc) != NATS_OK) return 1;
    std::vector<char> value(std::size_t(c.size), 'v');
    const long keys = 1000;
    auto t0 = Clock::now();
    for (long i = 0; i < (get ? keys : c.msgs); ++i) {
        uint64_t rev = 0;
        std::string key = "key" + std::to_string(i % keys);
        if (kvStore_Put(&rev, kv, key.c_str(), value.data(), c.size) != NATS_OK) return 1;
    }
    if (get) {
        t0 = Clock::now();
        for (long i = 0; i < c.msgs; ++i) {
            kvEntry* entry = nullptr;
            std::string key = "key" + std::to_string(i % keys);
            if (kvStore_Get(&entry, kv, key.c_str()) != NATS_OK) return 1;
            kvEntry_Destroy(entry);
        }
    }
    report(get ? "kv-get" : "kv-put", c, std::chrono::duration<double>(Clock::now() - t0).count());
    kvStore_Destroy(kv);
    return 0;
}

int run_kv_put(const Config& c) { return run_kv(c, false); }
int run_kv_get(const Config& c) { return run_kv(c, true); }

}  // namespace bench
