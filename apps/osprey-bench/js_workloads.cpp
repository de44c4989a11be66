// JetStream workloads: synchronous and windowed asynchronous publish with acks, direct get.
#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "js_env.h"
#include "workloads.h"

namespace bench {

using Clock = std::chrono::steady_clock;

namespace {

bool setup(JsEnv& env, const Config& c, std::int64_t max_pending = 0) {
    return env.open(c, max_pending) && env.fresh_stream("BENCH", "bench.js", c, true);
}

void report(const char* name, const Config& c, double secs, const std::vector<double>* lat) {
    std::printf("workload=%s storage=%s msgs=%ld size=%d window=%ld elapsed_s=%.4f msgs_per_s=%.0f",
                name, c.storage.c_str(), c.msgs, c.size, c.window, secs, double(c.msgs) / secs);
    if (lat && !lat->empty()) {
        auto v = *lat;
        std::sort(v.begin(), v.end());
        auto pct = [&](double p) { return v[std::min(v.size() - 1, std::size_t(p * v.size()))]; };
        std::printf(" p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f", pct(0.5), pct(0.9),
                    pct(0.99), pct(0.999));
    }
    std::printf("\n");
    std::fflush(stdout);
}

}  // namespace

int run_js_pub_sync(const Config& c) {
    JsEnv env;
    if (!setup(env, c)) return 1;
    std::vector<char> payload(std::size_t(c.size), 'x');
    std::vector<double> lat;
    lat.reserve(std::size_t(c.msgs));
    auto t0 = Clock::now();
    for (long i = 0; i < c.msgs; ++i) {
        jsPubAck* ack = nullptr;
        jsErrCode e;
        auto a = Clock::now();
        natsStatus s = js_Publish(&ack, env.js, "bench.js", payload.data(), c.size, nullptr, &e);
        if (s != NATS_OK) {
            std::fprintf(stderr, "publish: %s\n", natsStatus_GetText(s));
            return 1;
        }
        lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
        jsPubAck_Destroy(ack);
    }
    report("js-pub-sync", c, std::chrono::duration<double>(Clock::now() - t0).count(), &lat);
    return 0;
}

int run_js_pub_async(const Config& c) {
    JsEnv env;
    if (!setup(env, c, c.window)) return 1;
    std::vector<char> payload(std::size_t(c.size), 'x');
    auto t0 = Clock::now();
    for (long i = 0; i < c.msgs; ++i) {
        natsStatus s = js_PublishAsync(env.js, "bench.js", payload.data(), c.size, nullptr);
        if (s != NATS_OK) {
            std::fprintf(stderr, "publish async: %s\n", natsStatus_GetText(s));
            return 1;
        }
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 60000;
    if (js_PublishAsyncComplete(env.js, &po) != NATS_OK) {
        std::fprintf(stderr, "publish async: not all acknowledged\n");
        return 1;
    }
    report("js-pub-async", c, std::chrono::duration<double>(Clock::now() - t0).count(), nullptr);
    return 0;
}

int run_js_get(const Config& c) {
    JsEnv env;
    if (!setup(env, c, 10000)) return 1;
    std::vector<char> payload(std::size_t(c.size), 'x');
    for (long i = 0; i < c.msgs; ++i) js_PublishAsync(env.js, "bench.js", payload.data(), c.size, nullptr);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 60000;
    if (js_PublishAsyncComplete(env.js, &po) != NATS_OK) return 1;
    std::vector<double> lat;
    lat.reserve(std::size_t(c.msgs));
    auto t0 = Clock::now();
    for (long i = 0; i < c.msgs; ++i) {
        jsDirectGetMsgOptions o;
        jsDirectGetMsgOptions_Init(&o);
        o.Sequence = std::uint64_t(1 + (i * 7919) % c.msgs);
        natsMsg* m = nullptr;
        auto a = Clock::now();
        natsStatus s = js_DirectGetMsg(&m, env.js, "BENCH", nullptr, &o);
        if (s != NATS_OK) {
            std::fprintf(stderr, "direct get %llu: %s\n", (unsigned long long)o.Sequence,
                         natsStatus_GetText(s));
            return 1;
        }
        lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
        natsMsg_Destroy(m);
    }
    report("js-get", c, std::chrono::duration<double>(Clock::now() - t0).count(), &lat);
    return 0;
}

}  // namespace bench
