#include "workloads.h"

#include <arpa/inet.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

namespace {

natsConnection* connect_to(const std::string& url, bool send_asap = false) {
    natsOptions* o = nullptr;
    natsOptions_Create(&o);
    // For latency: write each message at once instead of waiting for the flusher thread.
    natsOptions_SetSendAsap(o, send_asap);
    natsOptions_SetURL(o, url.c_str());
    natsOptions_SetAllowReconnect(o, false);
    natsOptions_SetMaxPendingMsgs(o, 10000000);
    natsConnection* nc = nullptr;
    natsStatus s = natsConnection_Connect(&nc, o);
    natsOptions_Destroy(o);
    if (s != NATS_OK) {
        std::fprintf(stderr, "connect %s: %s\n", url.c_str(), natsStatus_GetText(s));
        std::exit(1);
    }
    return nc;
}

natsConnection* connect(const Config& c, bool send_asap = false) { return connect_to(c.url, send_asap); }

// Where subscriber i connects: round-robin over --sub-urls, else the publisher's server.
const std::string& sub_url(const Config& c, std::size_t i) {
    return c.sub_urls.empty() ? c.url : c.sub_urls[i % c.sub_urls.size()];
}

// In a cluster a subscription takes a moment to reach the publisher's server. Each subscriber
// connection also answers "bench.ready.<i>", subscribed after its real subscription: once the
// publisher gets an answer, the real interest has crossed the route too (routes keep order).
void answer_ready(natsConnection* nc, std::size_t i) {
    natsSubscription* s = nullptr;
    natsConnection_Subscribe(
        &s, nc, ("bench.ready." + std::to_string(i)).c_str(),
        [](natsConnection* conn, natsSubscription*, natsMsg* m, void*) {
            if (natsMsg_GetReply(m)) natsConnection_PublishString(conn, natsMsg_GetReply(m), "ok");
            natsMsg_Destroy(m);
        },
        nullptr);
    natsConnection_Flush(nc);
}

bool wait_ready(natsConnection* pub, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        bool ok = false;
        for (int attempt = 0; attempt < 200 && !ok; ++attempt) {
            natsMsg* r = nullptr;
            ok = natsConnection_RequestString(&r, pub, ("bench.ready." + std::to_string(i)).c_str(), "", 100) ==
                 NATS_OK;
            natsMsg_Destroy(r);
            if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        if (!ok) {
            std::fprintf(stderr, "subscriber %zu never became reachable\n", i);
            return false;
        }
    }
    return true;
}

struct Counter {
    std::atomic<long> n{0};
    static void on_msg(natsConnection*, natsSubscription*, natsMsg* m, void* closure) {
        static_cast<Counter*>(closure)->n.fetch_add(1, std::memory_order_relaxed);
        natsMsg_Destroy(m);
    }
};

void report(const char* workload, const Config& c, long delivered, double secs) {
    std::printf(
        "workload=%s msgs=%ld size=%d subs=%d delivered=%ld elapsed_s=%.4f msgs_per_s=%.0f "
        "mb_per_s=%.2f\n",
        workload, c.msgs, c.size, c.subs, delivered, secs, double(c.msgs) / secs,
        double(c.msgs) * c.size / secs / 1e6);
    std::fflush(stdout);
}

// Publishes c.msgs messages, keeping at most c.window ahead of the slowest counter (so a
// server's slow-consumer protection is never what a benchmark measures).
double publish_all(natsConnection* pub, const Config& c, std::vector<Counter>& counters,
                   long per_msg_expected_total) {
    std::vector<char> payload(std::size_t(c.size), 'x');
    auto t0 = Clock::now();
    for (long i = 0; i < c.msgs; ++i) {
        natsConnection_Publish(pub, "bench.subject", payload.data(), c.size);
        if (!counters.empty() && (i % 1024) == 0) {
            for (;;) {
                long slowest = per_msg_expected_total >= 0 ? 0 : LONG_MAX;
                if (per_msg_expected_total >= 0) {
                    for (auto& k : counters) slowest += k.n.load(std::memory_order_relaxed);
                } else {
                    for (auto& k : counters)
                        slowest = std::min(slowest, k.n.load(std::memory_order_relaxed));
                }
                if (i - slowest < c.window) break;
                std::this_thread::sleep_for(std::chrono::microseconds(50));
            }
        }
    }
    natsConnection_Flush(pub);
    (void)t0;
    return 0;
}

int run_with_subs(const char* name, const Config& c, int nsubs, bool queue) {
    std::vector<natsConnection*> conns;
    std::vector<Counter> counters(static_cast<std::size_t>(nsubs));
    std::vector<natsSubscription*> subs;
    for (int i = 0; i < nsubs; ++i) {
        natsConnection* nc = connect_to(sub_url(c, std::size_t(i)));
        natsSubscription* s = nullptr;
        natsStatus st = queue ? natsConnection_QueueSubscribe(&s, nc, "bench.subject", "q",
                                                               Counter::on_msg, &counters[i])
                              : natsConnection_Subscribe(&s, nc, "bench.subject", Counter::on_msg,
                                                         &counters[i]);
        if (st != NATS_OK) return 1;
        natsSubscription_SetPendingLimits(s, -1, -1);
        natsConnection_Flush(nc);
        answer_ready(nc, std::size_t(i));
        conns.push_back(nc);
        subs.push_back(s);
    }
    natsConnection* pub = connect(c);
    if (!wait_ready(pub, std::size_t(nsubs))) return 1;
    auto t0 = Clock::now();
    publish_all(pub, c, counters, queue ? 0 : -1);
    const long want = queue ? c.msgs : c.msgs * nsubs;
    auto deadline = Clock::now() + std::chrono::seconds(60);
    long total = 0;
    for (;;) {
        total = 0;
        for (auto& k : counters) total += k.n.load();
        if (total >= want || Clock::now() > deadline) break;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    report(name, c, total, secs);
    for (auto* s : subs) natsSubscription_Destroy(s);
    for (auto* nc : conns) natsConnection_Destroy(nc);
    natsConnection_Destroy(pub);
    if (total != want) {
        std::fprintf(stderr, "%s: delivered %ld of %ld\n", name, total, want);
        return 1;
    }
    return 0;
}

}  // namespace

int run_pub(const Config& c) {
    natsConnection* pub = connect(c);
    std::vector<Counter> none;
    auto t0 = Clock::now();
    publish_all(pub, c, none, -1);
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    report("pub", c, 0, secs);
    natsConnection_Destroy(pub);
    return 0;
}

int run_pubsub(const Config& c) { return run_with_subs("pubsub", c, 1, false); }
int run_fanout(const Config& c) { return run_with_subs("fanout", c, c.subs, false); }
int run_queue(const Config& c) { return run_with_subs("queue", c, c.subs, true); }

int run_reqrep(const Config& c) {
    natsConnection* svc = connect_to(sub_url(c, 0), true);
    natsConnection* cli = connect(c, true);
    natsSubscription* s = nullptr;
    natsConnection_Subscribe(
        &s, svc, "bench.req",
        [](natsConnection* nc, natsSubscription*, natsMsg* m, void*) {
            natsConnection_Publish(nc, natsMsg_GetReply(m), natsMsg_GetData(m),
                                   natsMsg_GetDataLength(m));
            natsMsg_Destroy(m);
        },
        nullptr);
    natsConnection_Flush(svc);
    answer_ready(svc, 0);
    if (!wait_ready(cli, 1)) return 1;
    std::vector<char> payload(std::size_t(c.size), 'x');
    std::vector<double> lat;
    lat.reserve(std::size_t(c.msgs));
    auto t0 = Clock::now();
    for (long i = 0; i < c.msgs; ++i) {
        natsMsg* r = nullptr;
        auto a = Clock::now();
        natsStatus st = natsConnection_Request(&r, cli, "bench.req", payload.data(), c.size, 5000);
        auto b = Clock::now();
        if (st != NATS_OK) {
            std::fprintf(stderr, "request: %s\n", natsStatus_GetText(st));
            return 1;
        }
        natsMsg_Destroy(r);
        lat.push_back(std::chrono::duration<double, std::micro>(b - a).count());
    }
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    std::sort(lat.begin(), lat.end());
    auto pct = [&](double p) { return lat[std::min(lat.size() - 1, std::size_t(p * lat.size()))]; };
    std::printf(
        "workload=reqrep msgs=%ld size=%d subs=1 delivered=%ld elapsed_s=%.4f msgs_per_s=%.0f "
        "p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f\n",
        c.msgs, c.size, c.msgs, secs, double(c.msgs) / secs, pct(0.5), pct(0.9), pct(0.99),
        pct(0.999));
    std::fflush(stdout);
    natsSubscription_Destroy(s);
    natsConnection_Destroy(svc);
    natsConnection_Destroy(cli);
    return 0;
}

int run_idle(const Config& c) {
    // Raw protocol connections (CONNECT, PING, PONG): a client thread per connection would
    // measure the client, not the server.
    std::string hostport = c.url.substr(c.url.find("//") + 2);
    std::string host = hostport.substr(0, hostport.rfind(':'));
    int port = std::atoi(hostport.substr(hostport.rfind(':') + 1).c_str());
    std::vector<int> fds;
    for (int i = 0; i < c.subs; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(uint16_t(port));
        inet_pton(AF_INET, host.c_str(), &a.sin_addr);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            std::fprintf(stderr, "idle: connect %d failed\n", i);
            return 1;
        }
        const char* hello = "CONNECT {\"verbose\":false}\r\nSUB idle.x 1\r\nPING\r\n";
        ::send(fd, hello, std::strlen(hello), 0);
        fds.push_back(fd);
    }
    for (int fd : fds) {
        std::string got;
        char buf[4096];
        while (got.find("PONG\r\n") == std::string::npos) {
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) return 1;
            got.append(buf, std::size_t(n));
        }
    }
    std::printf("workload=idle conns=%d ready\n", c.subs);
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::seconds(c.hold_seconds));
    for (int fd : fds) ::close(fd);
    return 0;
}

}  // namespace bench
