// A route peer that stops reading: the server must cut it (its outbound is bounded in bytes and
// in time, like a client's) and keep serving its local clients meanwhile. The peer is a scripted
// fake server speaking the route protocol on a raw socket with a tiny receive buffer; the same
// scenario runs against nats-server 2.9.10.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "c/cluster_helpers.h"

using namespace osprey::testing;
using namespace std::chrono_literals;

namespace {

class SlowRoute : public ::testing::TestWithParam<std::string> {};

std::vector<std::string> both_servers() {
    std::vector<std::string> v{OSPREY_BIN};
    if (std::filesystem::exists(NATS_SERVER_BIN)) v.push_back(NATS_SERVER_BIN);
    return v;
}

int dial_with_small_buffer(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    const int small = 4096;  // set before connect so the window stays small
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(uint16_t(port));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    timeval tv{0, 200000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

TEST_P(SlowRoute, StuckPeerIsCutAndLocalClientsKeepFlowing) {
    const int cport = free_port();
    const std::string conf = "/tmp/osprey-slow-route-" + std::to_string(::getpid()) + ".conf";
    std::ofstream(conf) << "write_deadline: \"1s\"\n";
    ServerProcess srv(GetParam(), {"-c", conf, "--cluster_name", "C1", "--cluster",
                                   "nats://127.0.0.1:" + std::to_string(cport)});

    // nats-server opens its route listener after its client listener: retry the dial (bounded).
    int fd = -1;
    for (auto dial_end = std::chrono::steady_clock::now() + 10s;
         fd < 0 && std::chrono::steady_clock::now() < dial_end; std::this_thread::sleep_for(20ms))
        fd = dial_with_small_buffer(cport);
    ASSERT_GE(fd, 0) << srv.log();
    char buf[8192];
    std::string got;
    for (int i = 0; i < 20 && got.find("\r\n") == std::string::npos; ++i) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n > 0) got.append(buf, std::size_t(n));
    }
    ASSERT_EQ(got.rfind("INFO ", 0), 0u) << got;
    const std::string hello =
        "CONNECT {\"echo\":true,\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\"headers\":true,"
        "\"name\":\"NFAKEROUTEPEER000000000000000000000000000000000000000000\",\"cluster\":\"C1\"}\r\n"
        "INFO {\"server_id\":\"NFAKEROUTEPEER000000000000000000000000000000000000000000\",\"server_name\":\"fake\","
        "\"version\":\"2.9.10\",\"proto\":2,\"host\":\"127.0.0.1\",\"port\":1,\"headers\":true,"
        "\"max_payload\":1048576,\"cluster\":\"C1\"} \r\n"
        "RS+ $G load.>\r\n";
    ASSERT_EQ(::send(fd, hello.data(), hello.size(), MSG_NOSIGNAL), ssize_t(hello.size()));

    auto sub_conn = connect(srv.url());
    auto pub_conn = connect(srv.url());
    auto sub = subscribe_sync(sub_conn.get(), "load.x");
    natsSubscription_SetPendingLimits(sub.get(), -1, -1);
    natsConnection_Flush(sub_conn.get());
    // The fake peer's interest is in place once the server counts the route.
    const auto reg_end = std::chrono::steady_clock::now() + 10s;
    while (TestCluster::num_routes(srv) != 1 && std::chrono::steady_clock::now() < reg_end)
        std::this_thread::sleep_for(20ms);
    ASSERT_EQ(TestCluster::num_routes(srv), 1) << srv.log();

    std::atomic<int> received{0};
    std::atomic<bool> stop{false};
    std::thread reader([&] {
        while (!stop)
            if (auto m = next(sub.get(), 100)) ++received;
    });

    // Publish until the server gives up on the peer (bounded): the peer reads nothing.
    const std::string payload(64 * 1024, 'p');
    int published = 0;
    bool cut = false;
    const auto end = std::chrono::steady_clock::now() + 30s;
    while (!cut && std::chrono::steady_clock::now() < end) {
        for (int i = 0; i < 50; ++i, ++published)
            natsConnection_Publish(pub_conn.get(), "load.x", payload.data(), int(payload.size()));
        natsConnection_Flush(pub_conn.get());
        cut = TestCluster::num_routes(srv) == 0;
    }
    EXPECT_TRUE(cut) << "the stuck route was never cut\n" << srv.log();

    // Every message still reached the local subscriber.
    const auto drain_end = std::chrono::steady_clock::now() + 20s;
    while (received < published && std::chrono::steady_clock::now() < drain_end) std::this_thread::sleep_for(20ms);
    stop = true;
    reader.join();
    EXPECT_EQ(received.load(), published);
    EXPECT_NE(srv.log().find("Slow Consumer"), std::string::npos) << srv.log();

    // The server closed the peer's socket: draining it reaches EOF (bounded).
    bool eof = false;
    const auto eof_end = std::chrono::steady_clock::now() + 20s;
    while (!eof && std::chrono::steady_clock::now() < eof_end) {
        char big[65536];
        const ssize_t n = ::recv(fd, big, sizeof big, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) eof = true;
    }
    EXPECT_TRUE(eof);
    ::close(fd);
    std::filesystem::remove(conf);
}

INSTANTIATE_TEST_SUITE_P(Servers, SlowRoute, ::testing::ValuesIn(both_servers()),
                         [](const auto& info) { return std::string(is_nats_server(info.param) ? "nats" : "osprey"); });

}  // namespace
