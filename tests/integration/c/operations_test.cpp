// Operating osprey: slow consumers, keepalive, shutdown, monitoring, flags, config errors,
// and a differential check of the raw protocol against nats-server 2.9.10.
#include <sys/resource.h>

#include <filesystem>
#include <fstream>

#include "c/nats_helpers.h"

using namespace osprey::testing;

namespace {

std::string write_file(const std::string& text) {
    static int n = 0;
    std::string path = "/tmp/osprey-ops-" + std::to_string(::getpid()) + "-" +
                       std::to_string(n++) + ".conf";
    std::ofstream(path) << text;
    return path;
}

// Runs the osprey binary to completion; returns exit code and output.
std::pair<int, std::string> run(const std::string& args) {
    std::string cmd = std::string(OSPREY_BIN) + " " + args + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int status = ::pclose(p);
    return {WEXITSTATUS(status), out};
}

}  // namespace

TEST(Operations, SlowConsumerIsCutAndOthersKeepWorking) {
    // The allowance is generous enough that the healthy subscriber (a nats.c thread that may
    // be starved for a moment on a loaded 2-core machine) never falls that far behind.
    std::string cfg = write_file("max_pending: 24MB\nwrite_deadline: \"1s\"\n");
    ServerProcess srv(OSPREY_BIN, {"-c", cfg, "-D"});
    // A subscriber that never reads, with a tiny receive buffer.
    RawConn slow(srv.port());
    int small = 4096;
    ::setsockopt(slow.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    slow.read("\r\n");
    slow.send("CONNECT {\"verbose\":false}\r\nSUB flood 1\r\nPING\r\n");
    ASSERT_NE(slow.read("PONG\r\n").find("PONG"), std::string::npos);

    Conn fast = connect(srv.url());
    Sub fs = subscribe_sync(fast.get(), "flood");
    natsConnection_Flush(fast.get());
    Conn pub = connect(srv.url());
    std::string payload(4096, 'p');
    const int n = 16000;  // 64 MB through a 24 MB allowance: more than kernel buffers hold
    for (int i = 0; i < n; ++i) {
        ASSERT_EQ(natsConnection_Publish(pub.get(), "flood", payload.data(), int(payload.size())),
                  NATS_OK);
        if (i % 20 == 0) natsConnection_Flush(pub.get());
    }
    natsConnection_Flush(pub.get());
    int got = 0;
    natsStatus last = NATS_OK;
    while (got < n) {
        natsMsg* m = nullptr;
        last = natsSubscription_NextMsg(&m, fs.get(), 2000);
        if (last != NATS_OK) break;
        natsMsg_Destroy(m);
        ++got;
    }
    EXPECT_EQ(last, NATS_OK) << natsStatus_GetText(last);
    EXPECT_EQ(got, n) << srv.log();  // the fast client got everything, the publisher never blocked
    std::string varz;
    for (int i = 0; i < 100; ++i) {
        varz = http_get(srv.http_port(), "/varz");
        if (varz.find("\"slow_consumers\": 0") == std::string::npos) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(varz.find("\"slow_consumers\": 0"), std::string::npos) << varz;
    EXPECT_NE(srv.log().find("Slow Consumer Detected"), std::string::npos);
    // Still serving.
    natsMsg* r = nullptr;
    EXPECT_EQ(natsConnection_RequestString(&r, pub.get(), "none", "x", 1000), NATS_NO_RESPONDERS);
}

TEST(Operations, StaleConnectionAfterMissedPongs) {
    std::string cfg = write_file("ping_interval: \"100ms\"\nping_max: 2\n");
    ServerProcess srv(OSPREY_BIN, {"-c", cfg});
    RawConn raw(srv.port());
    raw.send("CONNECT {\"verbose\":false}\r\n");
    std::string out = raw.read("Stale Connection'\r\n", 3000);
    EXPECT_NE(out.find("PING\r\nPING\r\n"), std::string::npos) << out;
    EXPECT_NE(out.find("-ERR 'Stale Connection'"), std::string::npos) << out;
    // A client that answers stays.
    Conn c = connect(srv.url());
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    EXPECT_EQ(natsConnection_Status(c.get()), NATS_CONN_STATUS_CONNECTED);
}

TEST(Operations, GracefulShutdownFlushesAndExitsZero) {
    auto srv = std::make_unique<ServerProcess>(OSPREY_BIN);
    RawConn sub(srv->port());
    sub.read("\r\n");
    sub.send("CONNECT {\"verbose\":false}\r\nSUB s 1\r\nPING\r\n");
    sub.read("PONG\r\n");
    Conn pub = connect(srv->url());
    for (int i = 0; i < 100; ++i) natsConnection_PublishString(pub.get(), "s", "m");
    natsConnection_Flush(pub.get());
    EXPECT_EQ(srv->stop(SIGTERM), 0);
    std::string rest = sub.read("", 1000);
    EXPECT_TRUE(sub.closed());
    EXPECT_NE(srv->log().find("Server Exiting"), std::string::npos) << srv->log();
}

TEST(Operations, MonitoringEndpoints) {
    ServerProcess srv(OSPREY_BIN, {"-n", "mon-test"});
    // Internal subscriptions (the system account's request handlers) count, as in
    // nats-server: measure them first.
    auto count_of = [](const std::string& body, const std::string& key) {
        auto p = body.find("\"" + key + "\": ");
        return p == std::string::npos ? -1 : std::stoi(body.substr(p + key.size() + 4));
    };
    const int base_subs = count_of(http_get(srv.http_port(), "/varz"), "subscriptions");
    const int base_subsz = count_of(http_get(srv.http_port(), "/subsz"), "num_subscriptions");
    auto o = make_opts(srv.url());
    natsOptions_SetName(o.get(), "the-client");
    Conn c = connect_with(o.get());
    ASSERT_TRUE(c);
    Sub s1 = subscribe_sync(c.get(), "m.one");
    Sub s2 = subscribe_sync(c.get(), "m.two");
    Conn c2 = connect(srv.url());
    natsConnection_PublishString(c.get(), "m.one", "x");
    natsConnection_Flush(c.get());
    natsConnection_Flush(c2.get());

    std::string varz = http_get(srv.http_port(), "/varz");
    for (const char* f : {"\"server_name\": \"mon-test\"", "\"max_payload\": 1048576",
                          "\"ping_interval\": 120000000000", "\"write_deadline\": 10000000000",
                          "\"connections\": 2", "\"in_msgs\": 1", "\"out_msgs\": 1",
                          "\"uptime\"", "\"mem\""})
        EXPECT_NE(varz.find(f), std::string::npos) << f << "\n" << varz;
    EXPECT_EQ(count_of(varz, "subscriptions"), base_subs + 2) << varz;

    std::string connz = http_get(srv.http_port(), "/connz?subs=1");
    EXPECT_NE(connz.find("\"num_connections\": 2"), std::string::npos) << connz;
    EXPECT_NE(connz.find("\"name\": \"the-client\""), std::string::npos) << connz;
    EXPECT_NE(connz.find("\"subscriptions_list\""), std::string::npos) << connz;
    EXPECT_NE(connz.find("\"m.two\""), std::string::npos) << connz;
    EXPECT_NE(connz.find("\"lang\": \"C\""), std::string::npos) << connz;

    std::string paged = http_get(srv.http_port(), "/connz?limit=1&offset=1&sort=subs");
    EXPECT_NE(paged.find("\"num_connections\": 1"), std::string::npos) << paged;
    EXPECT_NE(paged.find("\"total\": 2"), std::string::npos) << paged;
    EXPECT_NE(paged.find("\"offset\": 1"), std::string::npos) << paged;
    EXPECT_EQ(paged.find("the-client"), std::string::npos) << paged;  // most subs sorts first

    std::string subsz = http_get(srv.http_port(), "/subsz");
    EXPECT_EQ(count_of(subsz, "num_subscriptions"), base_subsz + 2) << subsz;
    EXPECT_NE(subsz.find("\"cache_hit_rate\""), std::string::npos) << subsz;
    EXPECT_NE(http_get(srv.http_port(), "/routez").find("\"num_routes\": 0"), std::string::npos);
    EXPECT_EQ(http_get(srv.http_port(), "/healthz"), "{\"status\":\"ok\"}");
    EXPECT_NE(http_get(srv.http_port(), "/nope").find("404"), std::string::npos);
}

TEST(Operations, CommandLine) {
    auto [rc, out] = run("-x");
    EXPECT_EQ(rc, 1);
    EXPECT_NE(out.find("flag provided but not defined: -x"), std::string::npos) << out;
    std::tie(rc, out) = run("--version");
    EXPECT_EQ(rc, 0);
    EXPECT_NE(out.find("osprey: v"), std::string::npos);
    std::tie(rc, out) = run("-h");
    EXPECT_EQ(rc, 0);
    EXPECT_NE(out.find("Usage"), std::string::npos);

    std::string good = write_file("port: 4999\n");
    std::tie(rc, out) = run("-c " + good + " -t");
    EXPECT_EQ(rc, 0) << out;
    std::string bad = write_file("port: 4999\nhost: \"open\n");
    std::tie(rc, out) = run("-c " + bad + " -t");
    EXPECT_EQ(rc, 1);
    EXPECT_NE(out.find(bad + ":2:"), std::string::npos) << out;
}

TEST(Operations, FlagsWinOverConfigAndPortsAndPidFiles) {
    const int cfg_port = free_port();
    std::string dir = "/tmp/osprey-ports-" + std::to_string(::getpid());
    std::filesystem::create_directories(dir);
    std::string cfg = write_file("port: " + std::to_string(cfg_port) + "\nserver_name: fromconf\n");
    // ServerProcess passes -p after nothing else: the flag must win over the file.
    ServerProcess srv(OSPREY_BIN, {"-c", cfg, "--ports_file_dir", dir, "-P", dir + "/osprey.pid"});
    EXPECT_FALSE(port_open(cfg_port));
    Conn c = connect(srv.url());
    EXPECT_TRUE(c);
    std::string ports;
    for (auto& e : std::filesystem::directory_iterator(dir))
        if (e.path().extension() == ".ports") {
            std::ifstream f(e.path());
            ports.assign(std::istreambuf_iterator<char>(f), {});
        }
    EXPECT_NE(ports.find(std::to_string(srv.port())), std::string::npos) << ports;
    std::ifstream pidf(dir + "/osprey.pid");
    int pid = 0;
    pidf >> pid;
    EXPECT_EQ(pid, srv.pid());
    EXPECT_NE(http_get(srv.http_port(), "/varz").find("fromconf"), std::string::npos);
}

TEST(Operations, ListensOnIPv6Any) {
    ServerProcess srv(OSPREY_BIN, {"-a", "::"}, false);  // the last -a wins
    Conn c = connect("nats://127.0.0.1:" + std::to_string(srv.port()));
    EXPECT_TRUE(c);
    Conn c6 = connect("nats://[::1]:" + std::to_string(srv.port()));
    EXPECT_TRUE(c6);
}

// The same raw protocol conversation against nats-server and osprey must read the same.
TEST(Differential, RawProtocolMatchesNatsServer) {
    if (!std::filesystem::exists(NATS_SERVER_BIN)) GTEST_SKIP() << "nats-server not installed";
    ServerProcess nats(NATS_SERVER_BIN, {}, false);
    ServerProcess osp(OSPREY_BIN, {}, false);
    const std::vector<std::string> cases = {
        "PING\r\n", "ping\r\n", "PING\n", "PUX\r\n", "FOO",
        "PUB foo 3\r\nabc\r\nPING\r\n", "PUB foo 3\r\nabcd\r\nPING\r\n", "PUB foo\r\n",
        "PUB foo x\r\n", "SUB foo\r\n", "SUB foo.. 1\r\nPING\r\n", "UNSUB\r\n",
        "UNSUB 99\r\nPING\r\n", "CONNECT {\r\n", "MSG foo 1 1\r\nx\r\n", "+OK\r\nPING\r\n",
        "-ERR foo\r\nPING\r\n", "INFO {}\r\nPING\r\n", "HPUB foo 2 1\r\n",
        "CONNECT {\"verbose\":true}\r\nPING\r\nSUB a 1\r\nPUB a 1\r\nx\r\n",
        "SUB foo 1\r\nUNSUB 1 0\r\nPUB foo 1\r\nx\r\nPING\r\n",
        "SUB foo.> 1\r\nSUB foo.* 2\r\nSUB > 3\r\nPUB foo.bar r 1\r\nx\r\nPING\r\n",
        "CONNECT {\"pedantic\":true}\r\nPUB foo.* 1\r\nx\r\nPING\r\n",
        "CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB foo 1\r\n"
        "HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n",
        "CONNECT {\"verbose\":false}\r\nPUB foo 2000000\r\n",
        "CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true}\r\n"
        "SUB _INBOX.x 1\r\nPUB foo _INBOX.x 1\r\nx\r\nPING\r\n",
        "CONNECT {\"verbose\":false,\"echo\":false}\r\nSUB foo 1\r\nPUB foo 1\r\nx\r\nPING\r\n",
        "CONNECT {\"verbose\":false}\r\nSUB foo 1\r\nUNSUB 1 2\r\nPUB foo 1\r\nx\r\n"
        "PUB foo 1\r\ny\r\nPUB foo 1\r\nz\r\nPING\r\n",
        "CONNECT {\"protocol\":1,\"verbose\":1}\r\nPING\r\n",
        "PUB " + std::string(5000, 'a') + " 1\r\nx\r\n",
    };
    auto converse = [](int port, const std::string& input) {
        RawConn c(port);
        c.read("\r\n");  // INFO
        c.send(input);
        std::string out = c.read("", 400);
        return out + (c.closed() ? "<closed>" : "");
    };
    for (const auto& in : cases) {
        EXPECT_EQ(converse(osp.port(), in), converse(nats.port(), in)) << "input: " << in;
    }
}

TEST(Operations, ProtocolTraceToLogFile) {
    const std::string logf = "/tmp/osprey-trace-" + std::to_string(::getpid()) + ".log";
    std::remove(logf.c_str());
    ServerProcess srv(OSPREY_BIN, {"-DV", "-l", logf});
    RawConn raw(srv.port());
    raw.read("\r\n");
    raw.send("CONNECT {\"verbose\":false,\"lang\":\"C\",\"version\":\"1.0\"}\r\n"
             "SUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n");
    raw.read("PONG\r\n");
    std::string log;
    for (int i = 0; i < 100; ++i) {
        std::ifstream f(logf);
        log.assign(std::istreambuf_iterator<char>(f), {});
        if (log.find("->> [PONG]") != std::string::npos) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    for (const char* want : {"[TRC] 127.0.0.1:", "<<- [CONNECT {\"verbose\":false",
                             " - \"v1.0:C\" - <<- [SUB foo  1]", "<<- [PUB foo 2]",
                             "<<- MSG_PAYLOAD: [\"hi\"]", "->> [MSG foo 1 2]", "->> [PONG]",
                             "[DBG] 127.0.0.1:", "Client connection created", "[INF] Server is ready"})
        EXPECT_NE(log.find(want), std::string::npos) << want << "\n" << log;
}

namespace {
// `-t` of a config against a binary: exit code and what it printed after its own name.
std::pair<int, std::string> check_config(const std::string& binary, const std::string& conf) {
    const std::string cmd = binary + " -c " + conf + " -t 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    const int status = ::pclose(p);
    return {WEXITSTATUS(status), out};
}
}  // namespace

// nats-server refuses a key it does not know, at any level, naming file, line and column;
// a key that only serves as a $variable is fine. Both servers, the same files.
TEST(Operations, UnknownConfigKeysAreRefusedAsNatsServerDoes) {
    struct Case {
        std::string text, expect;  // expect: "" (valid) or the error after the file name
    };
    const std::vector<Case> cases = {
        {"port: 4222\nbogus_key: 1\n", ":2:1: unknown field \"bogus_key\""},
        {"authorization {\n  user: a\n  password: b\n  colour: red\n}\n", ":4:3: unknown field \"colour\""},
        {"jetstream {\n  store_dir: \"/tmp/x\"\n  turbo: true\n}\n", ":3:3: unknown field \"turbo\""},
        {"accounts {\n  A: {\n    users: [{user: a, password: a, shoe: 1}]\n  }\n}\n",
         ":3:36: unknown field \"shoe\""},
        {"foo: 1\n", ":1:0: unknown field \"foo\""},  // nats-server counts from 0 on line 1
        {"cluster {\n  name: c\n  pool_size: 3\n}\n", ":3:3: unknown field \"pool_size\""},  // 2.10's
        {"SECRET: s3cret\nauthorization { token: $SECRET }\n", ""},
        {"max_payload: 1MB\nwrite_deadline: \"3s\"\n", ""},
        // The nats based account resolver's map.
        {"resolver {\n  type: full\n}\n", ":1:0: dir has no value and needs to point to a directory"},
        {"resolver {\n  type: bogus\n  dir: /tmp/x\n}\n",
         ":1:0: error parsing account resolver, should be MEM or  URL(\"url\") or a map containing dir and type state=[FULL|CACHE])"},
        {"resolver {\n  type: full\n  dir: \"/tmp/x\"\n  ttl: \"1h\"\n}\n", ":1:0: FULL does not accept ttl"},
        {"resolver {\n  type: full\n  dir: \"/tmp/x\"\n  interval: 2\n}\n",
         ":4:3: interface conversion: interface {} is int64, not string"},
    };
    for (const std::string& bin : {std::string(NATS_SERVER_BIN), std::string(OSPREY_BIN)}) {
        if (!std::filesystem::exists(bin)) continue;
        for (const auto& c : cases) {
            SCOPED_TRACE(bin + "\n" + c.text);
            const std::string path = write_file(c.text);
            auto [code, out] = check_config(bin, path);
            if (c.expect.empty()) {
                EXPECT_EQ(code, 0) << out;
            } else {
                EXPECT_NE(code, 0) << out;
                EXPECT_NE(out.find(path + c.expect), std::string::npos) << out;
            }
        }
        // Every unknown key is named, at any depth, not only the first one found.
        SCOPED_TRACE(bin + " (several unknown keys)");
        const std::string path = write_file("bogus_a: 1\nport: 4222\njetstream {\n  turbo: 1\n}\nbogus_b: 2\n");
        auto [code, out] = check_config(bin, path);
        EXPECT_NE(code, 0) << out;
        for (const char* want : {":1:0: unknown field \"bogus_a\"", ":4:3: unknown field \"turbo\"",
                                 ":6:1: unknown field \"bogus_b\""})
            EXPECT_NE(out.find(path + want), std::string::npos) << want << "\n" << out;
    }
}

// Account configurations nats-server refuses, with its text and position, in `-t` as at
// start: a user in two accounts, an import cycle, imports of what is not exported.
TEST(Operations, AccountConfigRefusalsMatchNatsServer) {
    struct Case {
        std::string text, expect;
    };
    const std::vector<Case> cases = {
        {"accounts {\n  A: { users: [{user: u, password: p}] }\n  B: { users: [{user: u, password: q}] }\n}\n",
         ":3:8: Duplicate user \"u\" detected"},  // nats-server: :2:8 or :3:8 (Go's map order)
        {"accounts {\n  A: { exports: [{stream: \"c.>\"}], imports: [{stream: {account: B, subject: \"c.>\"}}] }\n"
         "  B: { exports: [{stream: \"c.>\"}], imports: [{stream: {account: A, subject: \"c.>\"}}] }\n}\n",
         ":1:0: Error adding stream import \"c.>\": import forms a cycle"},
        {"accounts {\n  A: { }\n  B: { imports: [{stream: {account: A, subject: \"c.>\"}}] }\n}\n",
         ":1:0: Error adding stream import \"c.>\": stream import not authorized"},
        {"accounts {\n  A: { }\n  B: { imports: [{service: {account: A, subject: \"q\"}}] }\n}\n",
         ":1:0: Error adding service import \"q\": service import not authorized"},
    };
    for (const std::string& bin : {std::string(NATS_SERVER_BIN), std::string(OSPREY_BIN)}) {
        if (!std::filesystem::exists(bin)) continue;
        for (const auto& c : cases) {
            SCOPED_TRACE(bin + "\n" + c.text);
            const std::string path = write_file(c.text);
            auto [code, out] = check_config(bin, path);
            EXPECT_NE(code, 0) << out;
            std::string want = c.expect;
            if (bin == NATS_SERVER_BIN && want.starts_with(":3:8: Duplicate") && out.find(path + ":2:8:") != std::string::npos)
                want.replace(1, 1, "2");  // it met the other account first
            EXPECT_NE(out.find(path + want), std::string::npos) << out;
        }
    }
}

// What osprey does not implement yet is named, never silently ignored: refused where
// running without it could mislead, else a warning (also in the -t check).
TEST(Operations, UnimplementedConfigKeysAreNamed) {
    for (const char* key : {"http_base_path: /nats", "leafnodes { port: 7422 }", "mqtt { port: 1883 }",
                            "gateway { name: g }", "resolver: URL(\"http://127.0.0.1:1/jwt/v1/accounts/\")"}) {
        SCOPED_TRACE(key);
        auto [code, out] = check_config(OSPREY_BIN, write_file(std::string(key) + "\n"));
        EXPECT_NE(code, 0) << out;
        EXPECT_NE(out.find("not supported by osprey yet"), std::string::npos) << out;
    }
    auto [code, out] = check_config(OSPREY_BIN, write_file("prof_port: 6060\n"));
    EXPECT_EQ(code, 0) << out;
    EXPECT_NE(out.find("\"prof_port\" is not supported by osprey yet and is ignored"), std::string::npos) << out;
    // And at start-up, in the log.
    ServerProcess srv(OSPREY_BIN, {"-c", write_file("prof_port: 6061\n")});
    EXPECT_NE(srv.log().find("\"prof_port\" is not supported by osprey yet"), std::string::npos)
        << srv.log();
}
