// Transport workloads (docs/transports.md): the core pub/sub path over TLS and over WebSocket.
//   tls-pubsub      1 TLS publisher, 1 TLS subscriber (nats.c, natsOptions_SetSecure)
//   tls-fanout      1 TLS publisher, --subs TLS subscribers, each gets every message
//   tls-handshakes  --msgs new TLS connections one after the other: connect (INFO, TLS
//                   handshake, CONNECT, PING/PONG), flush, close; connections/s and the
//                   connect+flush time's percentiles
//   ws-pubsub       NATS over WebSocket (RFC 6455 binary frames, masked by the client) with a
//                   Boost.Beast client: a publisher and a subscriber connection, --msgs PUBs
//                   batched into frames of about 64 KiB, MSGs counted by parsing the stream
// The TLS ones trust --ca (server verification on, expected host name "localhost"); --url is
// nats://host:port (or tls://). ws-pubsub takes --url ws://host:port[/path]. Server CPU per
// message is measured outside, by the script (bench/transport/run.sh), from /proc. Every wait is
// bounded by --time-limit (the whole workload) as well as by its count.
#include <nats/nats.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "workloads.h"

namespace bench {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kSubject = "bench.subject";

// ---- TLS (nats.c) --------------------------------------------------------------------------

// Options for a TLS connection to c.url, reused for every connection of a workload (nats.c
// clones them per connection and shares the SSL_CTX, so the CA is loaded once).
natsOptions* tls_options(const Config& c) {
    natsOptions* o = nullptr;
    natsOptions_Create(&o);
    natsOptions_SetURL(o, c.url.c_str());
    natsOptions_SetAllowReconnect(o, false);
    natsOptions_SetMaxPendingMsgs(o, 10000000);
    natsOptions_SetTimeout(o, 5000);
    if (natsStatus s = natsOptions_SetSecure(o, true); s != NATS_OK) {
        std::fprintf(stderr, "tls: %s (%s)\n", natsStatus_GetText(s), nats_GetLastError(nullptr));
        std::exit(1);
    }
    if (c.ca_file.empty()) {
        std::fprintf(stderr, "tls: no --ca given, server certificate not verified\n");
        natsOptions_SkipServerVerification(o, true);
    } else {
        if (natsStatus s = natsOptions_LoadCATrustedCertificates(o, c.ca_file.c_str()); s != NATS_OK) {
            std::fprintf(stderr, "tls: load %s: %s (%s)\n", c.ca_file.c_str(), natsStatus_GetText(s),
                         nats_GetLastError(nullptr));
            std::exit(1);
        }
        natsOptions_SetExpectedHostname(o, "localhost");
    }
    return o;
}

natsConnection* tls_connect(natsOptions* o, const Config& c) {
    natsConnection* nc = nullptr;
    if (natsStatus s = natsConnection_Connect(&nc, o); s != NATS_OK) {
        std::fprintf(stderr, "tls connect %s: %s (%s)\n", c.url.c_str(), natsStatus_GetText(s),
                     nats_GetLastError(nullptr));
        return nullptr;
    }
    return nc;
}

struct Counter {
    std::atomic<long> n{0};
    static void on_msg(natsConnection*, natsSubscription*, natsMsg* m, void* closure) {
        static_cast<Counter*>(closure)->n.fetch_add(1, std::memory_order_relaxed);
        natsMsg_Destroy(m);
    }
};

void report(const char* workload, const Config& c, int subs, long delivered, double secs) {
    std::printf(
        "workload=%s msgs=%ld size=%d subs=%d delivered=%ld elapsed_s=%.4f msgs_per_s=%.0f "
        "mb_per_s=%.2f\n",
        workload, c.msgs, c.size, subs, delivered, secs, double(c.msgs) / secs,
        double(c.msgs) * c.size / secs / 1e6);
    std::fflush(stdout);
}

// As workloads.cpp's run_with_subs (not a queue): nsubs TLS subscribers, one TLS publisher that
// stays at most --window messages ahead of the slowest subscriber.
int run_tls_subs(const char* name, const Config& c, int nsubs) {
    const auto deadline = Clock::now() + std::chrono::seconds(c.time_limit);
    natsOptions* o = tls_options(c);
    std::vector<Counter> counters(std::size_t(std::max(nsubs, 1)));
    std::vector<natsConnection*> conns;
    std::vector<natsSubscription*> subs;
    natsConnection* pub = nullptr;
    int rc = 1;
    long total = 0;
    const long want = c.msgs * nsubs;
    for (int i = 0; i < nsubs; ++i) {
        natsConnection* nc = tls_connect(o, c);
        if (!nc) goto done;
        conns.push_back(nc);
        natsSubscription* s = nullptr;
        if (natsConnection_Subscribe(&s, nc, kSubject, Counter::on_msg, &counters[std::size_t(i)]) != NATS_OK)
            goto done;
        subs.push_back(s);
        natsSubscription_SetPendingLimits(s, -1, -1);
        if (natsConnection_Flush(nc) != NATS_OK) goto done;  // the server has the SUB
    }
    pub = tls_connect(o, c);
    if (!pub) goto done;
    {
        std::vector<char> payload(std::size_t(c.size), 'x');
        const auto t0 = Clock::now();
        bool late = false;
        for (long i = 0; i < c.msgs && !late; ++i) {
            natsConnection_Publish(pub, kSubject, payload.data(), c.size);
            if ((i % 1024) != 0) continue;
            for (;;) {
                long slowest = LONG_MAX;
                for (auto& k : counters) slowest = std::min(slowest, k.n.load(std::memory_order_relaxed));
                if (i - slowest < c.window) break;
                if (Clock::now() > deadline) {
                    late = true;
                    break;
                }
                std::this_thread::sleep_for(50us);
            }
        }
        natsConnection_Flush(pub);
        for (;;) {
            total = 0;
            for (auto& k : counters) total += k.n.load();
            if (total >= want || Clock::now() > deadline) break;
            std::this_thread::sleep_for(200us);
        }
        const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
        report(name, c, nsubs, total, secs);
        if (total == want) rc = 0;
        else std::fprintf(stderr, "%s: delivered %ld of %ld within --time-limit %d s\n", name, total, want, c.time_limit);
    }
done:
    for (auto* s : subs) natsSubscription_Destroy(s);
    for (auto* nc : conns) natsConnection_Destroy(nc);
    if (pub) natsConnection_Destroy(pub);
    natsOptions_Destroy(o);
    return rc;
}

// ---- WebSocket (Boost.Beast, synchronous) ----------------------------------------------------

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct WsUrl {
    std::string host = "127.0.0.1", port = "80", path = "/";
};

WsUrl parse_ws_url(const std::string& u) {
    WsUrl r;
    std::string s = u;
    if (auto p = s.find("://"); p != std::string::npos) s = s.substr(p + 3);
    if (auto p = s.find('/'); p != std::string::npos) {
        r.path = s.substr(p);
        s = s.substr(0, p);
    }
    if (auto p = s.rfind(':'); p != std::string::npos) {
        r.host = s.substr(0, p);
        r.port = s.substr(p + 1);
    } else if (!s.empty()) {
        r.host = s;
    }
    return r;
}

// What the server sent, as NATS protocol: INFO, MSG (with payload), PING, PONG, +OK, -ERR.
struct ProtoReader {
    bool info = false;
    long msgs = 0, pings = 0, pongs = 0;
    std::string err;
    // Parses whole operations from [p, p+n); returns how many bytes it used.
    std::size_t feed(const char* p, std::size_t n) {
        std::size_t pos = 0;
        while (pos < n) {
            const void* nl = std::memchr(p + pos, '\n', n - pos);
            if (!nl) break;
            const std::size_t eol = std::size_t(static_cast<const char*>(nl) - p);  // at '\n'
            std::string_view line(p + pos, eol - pos);
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            if (line.starts_with("MSG ")) {
                const auto sp = line.rfind(' ');
                const std::size_t len = std::size_t(std::strtoul(std::string(line.substr(sp + 1)).c_str(), nullptr, 10));
                if (eol + 1 + len + 2 > n) break;  // payload not all here yet
                ++msgs;
                pos = eol + 1 + len + 2;
                continue;
            }
            if (line.starts_with("PING")) ++pings;
            else if (line.starts_with("PONG")) ++pongs;
            else if (line.starts_with("INFO")) info = true;
            else if (line.starts_with("-ERR")) {
                if (err.empty()) err = std::string(line);
            }
            pos = eol + 1;
        }
        return pos;
    }
};

// One NATS connection over WebSocket. All calls are synchronous and from one thread at a time;
// kill() (any thread) shuts the socket down, which ends a blocked read or write.
struct WsConn {
    asio::io_context ioc;
    websocket::stream<tcp::socket> ws{ioc};
    beast::flat_buffer in;  // received, not yet parsed
    ProtoReader proto;
    std::atomic<int> fd{-1};

    void kill() {
        if (int f = fd.load(); f >= 0) ::shutdown(f, SHUT_RDWR);
    }
    // Reads one WebSocket message and parses what it completes; answers the server's PINGs.
    void read_some() {
        ws.read(in);
        const auto d = in.cdata();
        in.consume(proto.feed(static_cast<const char*>(d.data()), d.size()));
        if (!proto.err.empty()) throw std::runtime_error("server: " + proto.err);
        for (; proto.pings > 0; --proto.pings) send("PONG\r\n");
    }
    void send(std::string_view s) { ws.write(asio::buffer(s.data(), s.size())); }
    // PING, then reads until its PONG.
    void round_trip() {
        const long want = proto.pongs + 1;
        send("PING\r\n");
        while (proto.pongs < want) read_some();
    }
    // TCP connect, the upgrade, INFO, CONNECT + PING, PONG.
    void open(const WsUrl& u) {
        tcp::resolver resolver(ioc);
        asio::connect(ws.next_layer(), resolver.resolve(u.host, u.port));
        fd.store(ws.next_layer().native_handle());
        ws.next_layer().set_option(tcp::no_delay(true));
        ws.set_option(websocket::stream_base::decorator(
            [](websocket::request_type& r) { r.set(beast::http::field::user_agent, "osprey-bench"); }));
        ws.read_message_max(std::uint64_t(256) << 20);
        ws.write_buffer_bytes(64 * 1024);  // masking goes through this buffer: one send per frame
        ws.auto_fragment(false);
        ws.handshake(u.host + ":" + u.port, u.path);
        ws.binary(true);
        while (!proto.info) read_some();
        send("CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1}\r\nPING\r\n");
        while (proto.pongs < 1) read_some();
    }
    void close() {
        beast::error_code ec;
        ws.close(websocket::close_code::normal, ec);
    }
};

int run_ws(const Config& c) {
    const auto deadline = Clock::now() + std::chrono::seconds(c.time_limit);
    const WsUrl u = parse_ws_url(c.url);
    WsConn sub, pub;
    std::atomic<long> received{0};
    std::atomic<bool> stop{false}, sub_done{false}, pub_done{false}, failed{false};
    std::atomic<std::int64_t> t_end{0};
    Clock::time_point t0;
    auto fail = [&](const char* who, const std::exception& e) {
        if (!stop.load()) std::fprintf(stderr, "ws-pubsub %s: %s\n", who, e.what());
        failed.store(true);
    };
    // Setup, bounded as the rest: a watchdog shuts both sockets down at the deadline.
    std::atomic<bool> setup_done{false};
    std::thread setup_guard([&] {
        while (!setup_done.load() && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
        if (!setup_done.load()) {
            stop.store(true);
            sub.kill();
            pub.kill();
        }
    });
    try {
        sub.open(u);
        sub.send(std::string("SUB ") + kSubject + " 1\r\n");
        sub.round_trip();  // the server has the SUB
        pub.open(u);
    } catch (const std::exception& e) {
        fail("setup", e);
    }
    setup_done.store(true);
    setup_guard.join();
    if (failed.load()) {
        if (stop.load()) std::fprintf(stderr, "ws-pubsub: not connected within --time-limit %d s\n", c.time_limit);
        return 1;
    }

    // Frames of whole PUBs, about 64 KiB each.
    const std::string one = std::string("PUB ") + kSubject + " " + std::to_string(c.size) + "\r\n" +
                            std::string(std::size_t(c.size), 'x') + "\r\n";
    const long per_frame = std::max<long>(1, long((64 * 1024) / one.size()));
    std::string frame;
    frame.reserve(one.size() * std::size_t(per_frame));
    for (long i = 0; i < per_frame; ++i) frame += one;
    const long window = std::max<long>(c.window, per_frame);

    t0 = Clock::now();
    std::thread sub_thread([&] {
        try {
            while (!stop.load(std::memory_order_relaxed) && sub.proto.msgs < c.msgs) {
                sub.read_some();
                received.store(sub.proto.msgs, std::memory_order_relaxed);
            }
            if (sub.proto.msgs >= c.msgs) t_end.store((Clock::now() - t0).count());
            sub.close();
        } catch (const std::exception& e) {
            fail("subscriber", e);
        }
        sub_done.store(true);
    });
    std::thread pub_thread([&] {
        try {
            for (long sent = 0; sent < c.msgs && !stop.load(std::memory_order_relaxed);) {
                while (sent - received.load(std::memory_order_relaxed) >= window && !stop.load())
                    std::this_thread::sleep_for(50us);
                const long n = std::min(per_frame, c.msgs - sent);
                pub.ws.write(asio::buffer(frame.data(), one.size() * std::size_t(n)));
                sent += n;
            }
            pub.round_trip();  // the server has every PUB
            pub.close();
        } catch (const std::exception& e) {
            fail("publisher", e);
        }
        pub_done.store(true);
    });
    while (!(sub_done.load() && pub_done.load()) && !failed.load() && Clock::now() < deadline)
        std::this_thread::sleep_for(200us);
    if (!(sub_done.load() && pub_done.load())) {
        stop.store(true);
        sub.kill();
        pub.kill();
    }
    sub_thread.join();
    pub_thread.join();
    const long got = received.load();
    const double secs = t_end.load() ? std::chrono::duration<double>(Clock::duration(t_end.load())).count()
                                     : std::chrono::duration<double>(Clock::now() - t0).count();
    report("ws-pubsub", c, 1, got, secs);
    if (got != c.msgs) {
        std::fprintf(stderr, "ws-pubsub: delivered %ld of %ld within --time-limit %d s\n", got, c.msgs, c.time_limit);
        return 1;
    }
    return failed.load() ? 1 : 0;
}

}  // namespace

int run_tls_pubsub(const Config& c) { return run_tls_subs("tls-pubsub", c, 1); }
int run_tls_fanout(const Config& c) { return run_tls_subs("tls-fanout", c, c.subs); }

int run_tls_handshakes(const Config& c) {
    const auto deadline = Clock::now() + std::chrono::seconds(c.time_limit);
    natsOptions* o = tls_options(c);
    std::vector<double> lat;
    lat.reserve(std::size_t(std::max<long>(c.msgs, 0)));
    long failed = 0;
    const auto t0 = Clock::now();
    for (long i = 0; i < c.msgs && Clock::now() < deadline; ++i) {
        const auto a = Clock::now();
        natsConnection* nc = nullptr;
        natsStatus s = natsConnection_Connect(&nc, o);
        if (s == NATS_OK) s = natsConnection_Flush(nc);
        const auto b = Clock::now();
        if (nc) natsConnection_Destroy(nc);
        if (s != NATS_OK) {
            if (++failed <= 3)
                std::fprintf(stderr, "tls-handshakes: %s (%s)\n", natsStatus_GetText(s), nats_GetLastError(nullptr));
            if (failed > 100) break;
            continue;
        }
        lat.push_back(std::chrono::duration<double, std::micro>(b - a).count());
    }
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    natsOptions_Destroy(o);
    std::sort(lat.begin(), lat.end());
    auto pct = [&](double p) { return lat.empty() ? 0.0 : lat[std::min(lat.size() - 1, std::size_t(p * double(lat.size())))]; };
    const long ok = long(lat.size());
    std::printf(
        "workload=tls-handshakes msgs=%ld conns=%ld failed=%ld elapsed_s=%.4f conns_per_s=%.0f p50_us=%.1f "
        "p90_us=%.1f p99_us=%.1f\n",
        c.msgs, ok, failed, secs, secs > 0 ? double(ok) / secs : 0.0, pct(0.5), pct(0.9), pct(0.99));
    std::fflush(stdout);
    if (ok != c.msgs)
        std::fprintf(stderr, "tls-handshakes: %ld of %ld connections within --time-limit %d s\n", ok, c.msgs, c.time_limit);
    return ok == c.msgs ? 0 : 1;
}

int run_ws_pubsub(const Config& c) { return run_ws(c); }

}  // namespace bench
