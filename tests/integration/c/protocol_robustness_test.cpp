// Hostile clients on the core protocol: connections sending mutated protocol (bad verbs,
// broken sizes, wrong header lengths, binary noise, half lines) while a well-behaved pair
// keeps publishing and receiving. The server may close the hostile connections (as
// nats-server does) but must never crash or stall the others.
#include <atomic>
#include <random>
#include <thread>

#include "c/js_helpers.h"

using namespace osprey::testing;

namespace {

std::string hostile_chunk(std::mt19937& rng) {
    static const std::vector<std::string> lines{
        "CONNECT {\"verbose\":true,\"pedantic\":true,\"headers\":true}\r\n",
        "CONNECT {\"echo\":false,\"protocol\":1,\"no_responders\":true,\"headers\":true}\r\n",
        "CONNECT {bad json\r\n",
        "SUB foo.* 1\r\n", "SUB foo.> q 2\r\n", "SUB > 3\r\n", "SUB foo..bar 4\r\n", "SUB 5\r\n",
        "UNSUB 1\r\n", "UNSUB 2 5\r\n", "UNSUB x\r\n",
        "PUB foo.bar 5\r\nhello\r\n", "PUB foo.bar reply 0\r\n\r\n", "PUB foo.bar 3\r\nhello\r\n",
        "PUB foo.* 2\r\nhi\r\n", "PUB foo.bar -1\r\n", "PUB foo.bar 99999999999999999999\r\n",
        "HPUB foo.bar 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", "HPUB foo.bar 40 20\r\nNATS/1.0\r\n\r\n\r\n",
        "HPUB foo.bar 12 14\r\nXXXX/1.0\r\n\r\nhi\r\n", "HPUB foo.bar x y\r\n",
        "PING\r\n", "PONG\r\n", "ping\r\n", "MSG foo 1 2\r\nhi\r\n", "+OK\r\n", "-ERR 'x'\r\n",
        "INFO {}\r\n", "\r\n", "PUB\r\n", "SUB\r\n", "P", "PU", "PUB foo 1", "\x00\x01\x02\xff",
    };
    std::string s;
    const int n = 1 + int(rng() % 8);
    for (int i = 0; i < n; ++i) {
        std::string l = lines[rng() % lines.size()];
        if (rng() % 4 == 0 && !l.empty()) l[rng() % l.size()] = char(rng() % 256);  // flip a byte
        if (rng() % 8 == 0) l.resize(rng() % (l.size() + 1));                         // cut it
        s += l;
    }
    return s;
}

}  // namespace

TEST(ProtocolRobustness, HostileClientsNeverHurtTheOthers) {
    ServerProcess srv(OSPREY_BIN);
    const char* env_seed = std::getenv("OSPREY_SEED");
    const unsigned seed = env_seed ? unsigned(std::stoul(env_seed)) : std::random_device{}();
    SCOPED_TRACE("seed " + std::to_string(seed));

    // The witness: a subscriber and a publisher that must keep working throughout.
    Conn sub_conn = connect(srv.url());
    Sub sub = subscribe_sync(sub_conn.get(), "witness");
    natsConnection_Flush(sub_conn.get());
    Conn pub_conn = connect(srv.url());

    std::atomic<bool> stop{false};
    std::atomic<int> connections{0};
    std::vector<std::thread> hostile;
    for (int t = 0; t < 4; ++t) {
        hostile.emplace_back([&, t] {
            std::mt19937 rng(seed + unsigned(t));
            while (!stop) {
                RawConn c(srv.port());
                ++connections;
                c.read("\r\n", 200);  // INFO
                for (int i = 0; i < 50 && !stop && !c.closed(); ++i) {
                    c.send(hostile_chunk(rng));
                    if (i % 10 == 9) c.read("", 5);  // drain what comes back now and then
                }
            }
        });
    }
    int received = 0;
    for (int i = 0; i < 200; ++i) {
        const std::string payload = "w" + std::to_string(i);
        ASSERT_EQ(natsConnection_PublishString(pub_conn.get(), "witness", payload.c_str()), NATS_OK);
        Msg m = next(sub.get(), 3000);
        ASSERT_TRUE(m) << "the witness lost message " << i << " while hostile clients ran";
        EXPECT_EQ(data(m.get()), payload);
        ++received;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    stop = true;
    for (auto& h : hostile) h.join();
    EXPECT_EQ(received, 200);
    EXPECT_GT(connections.load(), 4);
    EXPECT_EQ(natsConnection_FlushTimeout(pub_conn.get(), 2000), NATS_OK);
    const std::string log = srv.log();
    EXPECT_EQ(log.find("AddressSanitizer"), std::string::npos);
    EXPECT_EQ(log.find("runtime error"), std::string::npos) << log.substr(0, 4000);
}
