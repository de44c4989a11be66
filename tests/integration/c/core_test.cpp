// Core NATS with the nats.c client against a real osprey process.
#include <sys/resource.h>

#include <atomic>
#include <map>
#include <thread>

#include "c/nats_helpers.h"

using namespace osprey::testing;

class Core : public OspreyTest {};

TEST_F(Core, PublishSubscribe) {
    Conn c = connect(url());
    Sub s = subscribe_sync(c.get(), "greet.joe");
    ASSERT_EQ(natsConnection_PublishString(c.get(), "greet.joe", "hello"), NATS_OK);
    Msg m = next(s.get());
    ASSERT_TRUE(m);
    EXPECT_STREQ(natsMsg_GetSubject(m.get()), "greet.joe");
    EXPECT_EQ(data(m.get()), "hello");
}

// A connection that publishes to its own subscription often enough for the subject to be
// cached: the cached result holds its subscription, which holds the connection. Closing must
// break that cycle (a sanitizer build reports the leak at server exit otherwise; found by the
// cluster tests).
TEST_F(Core, ClosedPublisherToItselfIsFreed) {
    for (int round = 0; round < 3; ++round) {
        Conn c = connect(url());
        Sub s = subscribe_sync(c.get(), "self.loop");
        for (int i = 0; i < 5; ++i) natsConnection_PublishString(c.get(), "self.loop", "x");
        natsConnection_Flush(c.get());
        for (int i = 0; i < 5; ++i) ASSERT_TRUE(next(s.get()));
    }
}

TEST_F(Core, PublisherAndSubscriberOnDifferentConnections) {
    Conn sub = connect(url());
    Conn pub = connect(url());
    Sub s = subscribe_sync(sub.get(), "x.y");
    natsConnection_Flush(sub.get());
    for (int i = 0; i < 1000; ++i)
        ASSERT_EQ(natsConnection_PublishString(pub.get(), "x.y", std::to_string(i).c_str()),
                  NATS_OK);
    natsConnection_Flush(pub.get());
    for (int i = 0; i < 1000; ++i) {
        Msg m = next(s.get());
        ASSERT_TRUE(m) << i;
        ASSERT_EQ(data(m.get()), std::to_string(i));  // in order
    }
}

TEST_F(Core, Wildcards) {
    Conn c = connect(url());
    Sub star = subscribe_sync(c.get(), "a.*.c");
    Sub full = subscribe_sync(c.get(), "a.>");
    Sub none = subscribe_sync(c.get(), "b.>");
    natsConnection_PublishString(c.get(), "a.b.c", "1");
    natsConnection_PublishString(c.get(), "a.b.c.d", "2");
    natsConnection_PublishString(c.get(), "a", "3");
    natsConnection_Flush(c.get());
    Msg m1 = next(star.get());
    ASSERT_TRUE(m1);
    EXPECT_EQ(data(m1.get()), "1");
    EXPECT_FALSE(next(star.get(), 100));
    Msg f1 = next(full.get()), f2 = next(full.get());
    ASSERT_TRUE(f1 && f2);
    EXPECT_EQ(data(f1.get()), "1");
    EXPECT_EQ(data(f2.get()), "2");
    EXPECT_FALSE(next(full.get(), 100));
    EXPECT_FALSE(next(none.get(), 100));
}

TEST_F(Core, QueueGroupDeliversEachMessageOnceAndSpreads) {
    Conn a = connect(url()), b = connect(url()), pub = connect(url());
    Sub qa = subscribe_sync(a.get(), "work", "workers");
    Sub qb = subscribe_sync(b.get(), "work", "workers");
    Sub plain = subscribe_sync(pub.get(), "work");
    natsConnection_Flush(a.get());
    natsConnection_Flush(b.get());
    const int n = 400;
    for (int i = 0; i < n; ++i)
        natsConnection_PublishString(pub.get(), "work", std::to_string(i).c_str());
    natsConnection_Flush(pub.get());
    std::map<std::string, int> seen;
    int got_a = 0, got_b = 0;
    for (;;) {
        Msg m = next(qa.get(), 300);
        if (!m) break;
        ++seen[data(m.get())];
        ++got_a;
    }
    for (;;) {
        Msg m = next(qb.get(), 300);
        if (!m) break;
        ++seen[data(m.get())];
        ++got_b;
    }
    EXPECT_EQ(int(seen.size()), n);
    for (auto& [k, v] : seen) EXPECT_EQ(v, 1) << k;
    EXPECT_GT(got_a, n / 5);  // random choice: both members get a fair share
    EXPECT_GT(got_b, n / 5);
    int plain_count = 0;
    while (next(plain.get(), 200)) ++plain_count;
    EXPECT_EQ(plain_count, n);  // plain subscribers get everything
}

TEST_F(Core, RequestReply) {
    Conn svc = connect(url());
    Conn cli = connect(url());
    std::atomic<bool> stop{false};
    Sub s = subscribe_sync(svc.get(), "time.now");
    natsConnection_Flush(svc.get());
    std::thread responder([&] {
        while (!stop) {
            Msg m = next(s.get(), 100);
            if (!m) continue;
            std::string reply = "re:" + data(m.get());
            natsConnection_PublishString(svc.get(), natsMsg_GetReply(m.get()), reply.c_str());
        }
    });
    for (int i = 0; i < 20; ++i) {
        natsMsg* r = nullptr;
        natsStatus st = natsConnection_RequestString(&r, cli.get(), "time.now",
                                                     std::to_string(i).c_str(), 2000);
        ASSERT_EQ(st, NATS_OK) << natsStatus_GetText(st);
        EXPECT_EQ(data(r), "re:" + std::to_string(i));
        natsMsg_Destroy(r);
    }
    stop = true;
    responder.join();
}

TEST_F(Core, NoRespondersFailsFast) {
    Conn c = connect(url());
    natsMsg* r = nullptr;
    auto t0 = std::chrono::steady_clock::now();
    natsStatus st = natsConnection_RequestString(&r, c.get(), "nobody.home", "x", 5000);
    EXPECT_EQ(st, NATS_NO_RESPONDERS) << natsStatus_GetText(st);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(4));
}

TEST_F(Core, Headers) {
    Conn c = connect(url());
    Sub s = subscribe_sync(c.get(), "h");
    natsMsg* m = nullptr;
    natsMsg_Create(&m, "h", nullptr, "body", 4);
    natsMsgHeader_Set(m, "X-Trace", "abc");
    natsMsgHeader_Add(m, "X-Multi", "1");
    natsMsgHeader_Add(m, "X-Multi", "2");
    ASSERT_EQ(natsConnection_PublishMsg(c.get(), m), NATS_OK);
    natsMsg_Destroy(m);
    Msg got = next(s.get());
    ASSERT_TRUE(got);
    const char* v = nullptr;
    ASSERT_EQ(natsMsgHeader_Get(got.get(), "X-Trace", &v), NATS_OK);
    EXPECT_STREQ(v, "abc");
    const char** vals = nullptr;
    int count = 0;
    ASSERT_EQ(natsMsgHeader_Values(got.get(), "X-Multi", &vals, &count), NATS_OK);
    EXPECT_EQ(count, 2);
    free(vals);
    EXPECT_EQ(data(got.get()), "body");
}

TEST_F(Core, MaxPayloadIsAnnouncedAndEnforced) {
    Conn c = connect(url());
    EXPECT_EQ(natsConnection_GetMaxPayload(c.get()), 1024 * 1024);
    std::string big(1024 * 1024 + 1, 'x');
    natsStatus st = natsConnection_Publish(c.get(), "big", big.data(), int(big.size()));
    EXPECT_EQ(st, NATS_MAX_PAYLOAD);
    // The raw protocol: the server answers the violation and closes.
    RawConn raw(server_->port());
    raw.read("\r\n");
    raw.send("CONNECT {\"verbose\":false}\r\nPUB foo 2000000\r\n");
    std::string out = raw.read("Violation'\r\n");
    EXPECT_NE(out.find("-ERR 'Maximum Payload Violation'"), std::string::npos) << out;
    raw.read("", 500);
    EXPECT_TRUE(raw.closed());
}

TEST_F(Core, AutoUnsubscribe) {
    Conn c = connect(url());
    Sub s = subscribe_sync(c.get(), "auto");
    ASSERT_EQ(natsSubscription_AutoUnsubscribe(s.get(), 3), NATS_OK);
    for (int i = 0; i < 10; ++i) natsConnection_PublishString(c.get(), "auto", "x");
    natsConnection_Flush(c.get());
    int n = 0;
    while (next(s.get(), 200)) ++n;
    EXPECT_EQ(n, 3);
}

TEST_F(Core, EchoOff) {
    auto o = make_opts(url());
    natsOptions_SetNoEcho(o.get(), true);
    Conn quiet = connect_with(o.get());
    ASSERT_TRUE(quiet);
    Conn other = connect(url());
    Sub mine = subscribe_sync(quiet.get(), "e");
    natsConnection_Flush(quiet.get());
    natsConnection_PublishString(quiet.get(), "e", "self");
    natsConnection_PublishString(other.get(), "e", "other");
    natsConnection_Flush(quiet.get());
    natsConnection_Flush(other.get());
    Msg m = next(mine.get());
    ASSERT_TRUE(m);
    EXPECT_EQ(data(m.get()), "other");
    EXPECT_FALSE(next(mine.get(), 200));
}

TEST_F(Core, ThousandConcurrentConnections) {
    if (rlimit rl; ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
    std::vector<Conn> conns;
    for (int i = 0; i < 1000; ++i) {
        conns.push_back(connect(url()));
        ASSERT_TRUE(conns.back()) << i;
    }
    Sub s = subscribe_sync(conns[999].get(), "many");
    natsConnection_Flush(conns[999].get());
    for (int i = 0; i < 1000; i += 100) natsConnection_PublishString(conns[i].get(), "many", "x");
    for (int i = 0; i < 1000; i += 100) natsConnection_Flush(conns[i].get());
    int n = 0;
    while (next(s.get(), 300)) ++n;
    EXPECT_EQ(n, 10);
    std::string varz = http_get(server_->http_port(), "/varz");
    EXPECT_NE(varz.find("\"connections\": 1000"), std::string::npos);
}
