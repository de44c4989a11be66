// Fast producer stall: a flood publisher and a subscriber that keeps up only on average. As
// nats-server 2.9.10 does, the server pauses the publisher (not the loop) while the reader is
// far behind, so nothing is cut and nothing lost; a reader that stops is still cut, and other
// clients keep flowing meanwhile.
#include <sys/socket.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <thread>

#include "c/js_helpers.h"

using namespace osprey::testing;
using std::chrono::milliseconds;

namespace {

std::string write_conf(const std::string& text) {
    static int n = 0;
    std::string path = "/tmp/osprey-stall-" + std::to_string(::getpid()) + "-" +
                       std::to_string(n++) + ".conf";
    std::ofstream(path) << text;
    return path;
}

constexpr int kPayload = 1024;

// Publishes `n` numbered messages on `subject` as fast as the socket takes them; then runs
// `while_open` (if given) before the connection closes.
void flood(int port, const std::string& subject, int n, const std::function<void()>& while_open = {}) {
    RawConn pub(port);
    pub.read("\r\n");
    pub.send("CONNECT {\"verbose\":false}\r\n");
    std::string batch;
    for (int i = 0; i < n; ++i) {
        std::string body = std::to_string(i);
        body.resize(kPayload, '.');
        batch += "PUB " + subject + " " + std::to_string(kPayload) + "\r\n" + body + "\r\n";
        if (batch.size() > 256 * 1024 || i + 1 == n) {
            std::size_t off = 0;
            while (off < batch.size()) {
                ssize_t w = ::send(pub.fd(), batch.data() + off, batch.size() - off, MSG_NOSIGNAL);
                if (w <= 0) return;
                off += std::size_t(w);
            }
            batch.clear();
        }
    }
    pub.send("PING\r\n");
    pub.read("PONG\r\n", 60000);
    if (while_open) while_open();
}

// A subscriber on a raw socket that reads for `read_ms`, then stops reading for `pause_ms`,
// until it has `n` messages, the server closes it, or `limit_ms` pass. Returns the messages
// received in order (false in `in_order` if a number was skipped or repeated).
struct BurstyReader {
    int received = 0;
    bool in_order = true;
    bool closed = false;
    std::string tail;  // what the server said last (an -ERR)
    void run(int port, const std::string& subject, int n, int read_ms, int pause_ms, int limit_ms) {
        RawConn c(port);
        int small = 64 * 1024;
        ::setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        c.read("\r\n");
        c.send("CONNECT {\"verbose\":false}\r\nSUB " + subject + " 1\r\nPING\r\n");
        std::string buf = c.read("PONG\r\n");
        buf.erase(0, buf.find("PONG\r\n") + 6);
        const auto end = std::chrono::steady_clock::now() + milliseconds(limit_ms);
        auto phase_end = std::chrono::steady_clock::now() + milliseconds(read_ms);
        while (received < n && std::chrono::steady_clock::now() < end) {
            if (std::chrono::steady_clock::now() >= phase_end) {
                std::this_thread::sleep_for(milliseconds(pause_ms));
                phase_end = std::chrono::steady_clock::now() + milliseconds(read_ms);
            }
            buf += c.read("", 20);
            if (c.closed()) {
                closed = true;
                tail = buf.substr(0, 200);
                break;
            }
            std::size_t pos = 0;
            while (true) {
                if (buf.compare(pos, 6, "PING\r\n") == 0) {
                    c.send("PONG\r\n");
                    pos += 6;
                    continue;
                }
                if (buf.compare(pos, 4, "MSG ") != 0) break;
                const std::size_t eol = buf.find("\r\n", pos);
                if (eol == std::string::npos) break;
                const std::size_t sp = buf.rfind(' ', eol);
                const std::size_t len = std::stoul(buf.substr(sp + 1, eol - sp - 1));
                if (buf.size() < eol + 2 + len + 2) break;
                const int num = std::stoi(buf.substr(eol + 2, 10));
                if (num != received) in_order = false;
                ++received;
                pos = eol + 2 + len + 2;
            }
            if (pos < buf.size() && buf.compare(pos, 4, "MSG ") != 0 &&
                buf.compare(pos, 4, "PING") != 0 && buf.size() - pos >= 4) {
                tail = buf.substr(pos, 200);  // -ERR 'Slow Consumer...' or garbage
                break;
            }
            buf.erase(0, pos);
        }
    }
};

// Request/reply on the same server, every 20 ms while `stop` is false: every reply must come.
struct Witness {
    std::atomic<int> ok{0}, failed{0};
    void run(const std::string& url, std::atomic<bool>& stop) {
        Conn responder = connect(url);
        Conn requester = connect(url);
        natsSubscription* raw = nullptr;
        natsConnection_Subscribe(
            &raw, responder.get(), "witness",
            [](natsConnection* nc, natsSubscription*, natsMsg* m, void*) {
                natsConnection_PublishString(nc, natsMsg_GetReply(m), "pong");
                natsMsg_Destroy(m);
            },
            nullptr);
        Sub sub(raw);
        natsConnection_Flush(responder.get());
        while (!stop) {
            natsMsg* r = nullptr;
            if (natsConnection_RequestString(&r, requester.get(), "witness", "ping", 5000) == NATS_OK) {
                ++ok;
                natsMsg_Destroy(r);
            } else {
                ++failed;
            }
            std::this_thread::sleep_for(milliseconds(20));
        }
    }
};

std::int64_t json_int(const std::string& json, const std::string& key) {
    auto p = json.find("\"" + key + "\":");
    if (p == std::string::npos) return -1;
    p = json.find_first_of("-0123456789", p + key.size() + 3);
    return std::stoll(json.substr(p));
}

}  // namespace

TEST(ProducerStall, BurstyReaderGetsEverythingAndOthersKeepFlowing) {
    for (const auto& bin : servers_to_compare()) {
        SCOPED_TRACE(bin);
        ServerProcess srv(bin, {"-c", write_conf("max_pending: 8MB\n")});
        const int n = 48000;  // ~50 MB through an 8 MB allowance
        std::atomic<bool> stop{false};
        Witness witness;
        std::thread w([&] { witness.run(srv.url(), stop); });
        BurstyReader reader;
        std::thread r([&] { reader.run(srv.port(), "flood", n, 40, 250, 90000); });
        std::this_thread::sleep_for(milliseconds(200));  // subscribed
        std::string connz;  // while the publisher is still connected: its stalls, per connection
        flood(srv.port(), "flood", n, [&] { connz = http_get(srv.http_port(), "/connz"); });
        r.join();
        stop = true;
        w.join();
        EXPECT_EQ(reader.received, n) << reader.tail << "\n" << srv.log().substr(0, 2000);
        EXPECT_TRUE(reader.in_order);
        EXPECT_FALSE(reader.closed) << reader.tail;
        EXPECT_EQ(witness.failed, 0);
        EXPECT_GT(witness.ok, 0);
        const std::string varz = http_get(srv.http_port(), "/varz");
        EXPECT_EQ(json_int(varz, "slow_consumers"), 0) << varz;
        if (bin == OSPREY_BIN) {
            EXPECT_GT(json_int(varz, "stalled_clients"), 0) << varz;
            // nats-server 2.11's per-connection count and its (rate-limited) log line.
            EXPECT_GT(json_int(connz, "stalls"), 0) << connz;
            EXPECT_NE(srv.log().find("Producer was stalled for a total of "), std::string::npos);
        }
    }
}

TEST(ProducerStall, ReaderThatStopsIsStillCut) {
    ServerProcess srv(OSPREY_BIN, {"-c", write_conf("max_pending: 8MB\nwrite_deadline: \"2s\"\n")});
    std::atomic<bool> stop{false};
    Witness witness;
    std::thread w([&] { witness.run(srv.url(), stop); });
    BurstyReader reader;  // reads its SUB's PONG, then never again within the limit
    std::thread r([&] { reader.run(srv.port(), "stuck", 1, 0, 60000, 30000); });
    std::this_thread::sleep_for(milliseconds(200));
    const int n = 30000;
    std::thread p([&] { flood(srv.port(), "stuck", n); });
    // The publisher finishes (its stalls are bounded) and the stuck reader is cut.
    p.join();
    stop = true;
    w.join();
    r.detach();  // still "pausing"; its socket closes with the process
    std::string varz;
    for (int i = 0; i < 100; ++i) {
        varz = http_get(srv.http_port(), "/varz");
        if (json_int(varz, "slow_consumers") > 0) break;
        std::this_thread::sleep_for(milliseconds(50));
    }
    EXPECT_EQ(json_int(varz, "slow_consumers"), 1) << varz;
    EXPECT_EQ(witness.failed, 0);
    EXPECT_GT(witness.ok, 0);
}

TEST(ProducerStall, SwitchedOffTheReaderIsCutAtMaxPending) {
    ServerProcess srv(OSPREY_BIN, {"-c", write_conf("max_pending: 4MB\nwrite_deadline: \"60s\"\n"
                                                    "no_fast_producer_stall: true\n")});
    BurstyReader reader;
    std::thread r([&] { reader.run(srv.port(), "nostall", 1, 0, 60000, 30000); });
    std::this_thread::sleep_for(milliseconds(200));
    flood(srv.port(), "nostall", 20000);  // 20 MB at a reader that never reads
    r.detach();
    std::string varz;
    for (int i = 0; i < 100; ++i) {
        varz = http_get(srv.http_port(), "/varz");
        if (json_int(varz, "slow_consumers") > 0) break;
        std::this_thread::sleep_for(milliseconds(50));
    }
    EXPECT_EQ(json_int(varz, "slow_consumers"), 1) << varz;
    EXPECT_EQ(json_int(varz, "stalled_clients"), 0) << varz;
    EXPECT_NE(srv.log().find("MaxPending"), std::string::npos) << srv.log().substr(0, 2000);
}
