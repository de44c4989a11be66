// JetStream consumers with the nats.c client: pull fetch, push subscribe, acks, and durable
// consumer state across restarts.
#include <fstream>
#include <mutex>
#include <thread>

#include "c/js_helpers.h"

using namespace osprey::testing;

namespace {

std::uint64_t pub(jsCtx* js, const char* subj, const std::string& data) {
    jsPubAck* ack = nullptr;
    jsErrCode e;
    if (js_Publish(&ack, js, subj, data.data(), int(data.size()), nullptr, &e) != NATS_OK) return 0;
    std::uint64_t s = ack->Sequence;
    jsPubAck_Destroy(ack);
    return s;
}

std::vector<std::string> fetch(natsSubscription* sub, int n, bool ack = true, bool sync = false) {
    natsMsgList list{};
    jsErrCode e;
    std::vector<std::string> out;
    if (natsSubscription_Fetch(&list, sub, n, 2000, &e) != NATS_OK) return out;
    for (int i = 0; i < list.Count; ++i) {
        out.push_back(data(list.Msgs[i]));
        if (ack) {
            if (sync) {
                natsMsg_AckSync(list.Msgs[i], nullptr, nullptr);
            } else {
                natsMsg_Ack(list.Msgs[i], nullptr);
            }
        }
    }
    natsMsgList_Destroy(&list);
    return out;
}

jsConsumerInfo* cinfo(jsCtx* js, const char* stream, const char* name) {
    jsConsumerInfo* ci = nullptr;
    jsErrCode e;
    js_GetConsumerInfo(&ci, js, stream, name, nullptr, &e);
    return ci;
}

}  // namespace

TEST(Consumers, PullFetchAckAndInfo) {
    JsServer srv;
    Conn nc = connect(srv.url());
    Js js = jetstream(nc.get());
    jsStreamInfo_Destroy(add_stream(js.get(), "Q", {"q.*"}));
    for (int i = 0; i < 10; ++i) pub(js.get(), "q.x", "m" + std::to_string(i));
    natsSubscription* raw = nullptr;
    jsErrCode e;
    ASSERT_EQ(js_PullSubscribe(&raw, js.get(), "q.x", "pullers", nullptr, nullptr, &e), NATS_OK);
    Sub sub(raw);
    auto first = fetch(sub.get(), 3);
    EXPECT_EQ(first, (std::vector<std::string>{"m0", "m1", "m2"}));
    natsConnection_Flush(nc.get());
    jsConsumerInfo* ci = cinfo(js.get(), "Q", "pullers");
    ASSERT_TRUE(ci);
    EXPECT_EQ(ci->NumPending, 7u);
    EXPECT_EQ(ci->Delivered.Stream, 3u);
    EXPECT_EQ(ci->AckFloor.Stream, 3u);
    EXPECT_EQ(ci->NumAckPending, 0);
    jsConsumerInfo_Destroy(ci);
    auto rest = fetch(sub.get(), 100);
    EXPECT_EQ(rest.size(), 7u);
}

TEST(Consumers, PushSubscribeReceivesInOrder) {
    JsServer srv;
    Conn nc = connect(srv.url());
    Js js = jetstream(nc.get());
    jsStreamInfo_Destroy(add_stream(js.get(), "P", {"p"}));
    for (int i = 0; i < 20; ++i) pub(js.get(), "p", std::to_string(i));
    natsSubscription* raw = nullptr;
    jsErrCode e;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Config.AckPolicy = js_AckExplicit;
    ASSERT_EQ(js_SubscribeSync(&raw, js.get(), "p", nullptr, &so, &e), NATS_OK);
    Sub sub(raw);
    for (int i = 0; i < 20; ++i) {
        Msg m = next(sub.get());
        ASSERT_TRUE(m) << i;
        EXPECT_EQ(data(m.get()), std::to_string(i));
        natsMsg_Ack(m.get(), nullptr);
    }
}

namespace {

void durable_state_survives_restarts(JsServer& srv) {
    {
        Conn nc = connect(srv.url());
        Js js = jetstream(nc.get());
        jsStreamInfo_Destroy(add_stream(js.get(), "D", {"d"}));
        for (int i = 0; i < 10; ++i) pub(js.get(), "d", std::to_string(i));
        natsSubscription* raw = nullptr;
        jsErrCode e;
        ASSERT_EQ(js_PullSubscribe(&raw, js.get(), "d", "keeper", nullptr, nullptr, &e), NATS_OK);
        Sub sub(raw);
        EXPECT_EQ(fetch(sub.get(), 4).size(), 4u);  // acked
        EXPECT_EQ(fetch(sub.get(), 2, false).size(), 2u);  // delivered, not acked
        natsConnection_Flush(nc.get());
    }
    // Graceful: the state is written on shutdown.
    ASSERT_EQ(srv.term(), 0);
    srv.start();
    {
        Conn nc = connect(srv.url());
        Js js = jetstream(nc.get());
        jsConsumerInfo* ci = cinfo(js.get(), "D", "keeper");
        ASSERT_TRUE(ci);
        EXPECT_EQ(ci->AckFloor.Stream, 4u) << srv.proc().log();
        EXPECT_EQ(ci->Delivered.Stream, 6u);
        jsConsumerInfo_Destroy(ci);
        natsSubscription* raw = nullptr;
        jsErrCode e;
        ASSERT_EQ(js_PullSubscribe(&raw, js.get(), "d", "keeper", nullptr, nullptr, &e), NATS_OK);
        Sub sub(raw);
        // The two unacknowledged come again first, then the rest; acknowledged synchronously:
        // confirmed only once the ack is on disk.
        auto got = fetch(sub.get(), 10, true, true);
        EXPECT_EQ(got, (std::vector<std::string>{"4", "5", "6", "7", "8", "9"}));
    }
    // kill -9 right away: every confirmed ack is kept (the ack log), no snapshot needed.
    srv.kill9();
    srv.start();
    Conn nc = connect(srv.url());
    Js js = jetstream(nc.get());
    jsConsumerInfo* ci = cinfo(js.get(), "D", "keeper");
    ASSERT_TRUE(ci);
    EXPECT_EQ(ci->AckFloor.Stream, 10u);
    EXPECT_EQ(ci->NumPending, 0u);
    jsConsumerInfo_Destroy(ci);
}

}  // namespace

TEST(Consumers, DurableStateSurvivesRestarts) {
    JsServer srv;
    durable_state_survives_restarts(srv);
}

// With a lazy sync_interval the ack log follows the messages' rule too: written to the kernel
// before the ack is confirmed, so kill -9 keeps it.
TEST(Consumers, DurableStateSurvivesRestartsWithLazySync) {
    const std::string conf = fresh_store_dir() + ".conf";
    { std::ofstream(conf) << "jetstream { sync_interval: \"2m\" }\n"; }
    JsServer srv({"-c", conf});
    durable_state_survives_restarts(srv);
    std::filesystem::remove(conf);
}

TEST(Consumers, MaxDeliveriesAdvisory) {
    JsServer srv;
    Conn nc = connect(srv.url());
    Js js = jetstream(nc.get());
    jsStreamInfo_Destroy(add_stream(js.get(), "M", {"m"}));
    pub(js.get(), "m", "poison");
    Sub adv = subscribe_sync(nc.get(), "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>");
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = "md";
    cc.AckPolicy = js_AckExplicit;
    cc.AckWait = 200LL * 1000 * 1000;
    cc.MaxDeliver = 2;
    jsConsumerInfo* ci = nullptr;
    jsErrCode e;
    ASSERT_EQ(js_AddConsumer(&ci, js.get(), "M", &cc, nullptr, &e), NATS_OK);
    jsConsumerInfo_Destroy(ci);
    natsSubscription* raw = nullptr;
    ASSERT_EQ(js_PullSubscribe(&raw, js.get(), "m", "md", nullptr, nullptr, &e), NATS_OK);
    Sub sub(raw);
    int deliveries = 0;
    for (int i = 0; i < 4; ++i) deliveries += int(fetch(sub.get(), 1, false).size());
    EXPECT_EQ(deliveries, 2);
    Msg m = next(adv.get(), 3000);
    ASSERT_TRUE(m);
    EXPECT_STREQ(natsMsg_GetSubject(m.get()), "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.M.md");
    EXPECT_NE(data(m.get()).find("\"deliveries\":2"), std::string::npos) << data(m.get());
}

TEST(Consumers, InterestRetentionDropsWhatAllConsumersAcked) {
    JsServer srv;
    Conn nc = connect(srv.url());
    Js js = jetstream(nc.get());
    jsStreamInfo_Destroy(add_stream(js.get(), "INTR", {"intr"}, js_FileStorage,
                                    [](jsStreamConfig& c) { c.Retention = js_InterestPolicy; }));
    jsErrCode e;
    natsSubscription *ra = nullptr, *rb = nullptr;
    ASSERT_EQ(js_PullSubscribe(&ra, js.get(), "intr", "a", nullptr, nullptr, &e), NATS_OK);
    ASSERT_EQ(js_PullSubscribe(&rb, js.get(), "intr", "b", nullptr, nullptr, &e), NATS_OK);
    Sub a(ra), b(rb);
    for (int i = 0; i < 3; ++i) pub(js.get(), "intr", std::to_string(i));
    auto msgs = [&] {
        jsStreamInfo* si = nullptr;
        js_GetStreamInfo(&si, js.get(), "INTR", nullptr, &e);
        std::uint64_t n = si ? si->State.Msgs : 99;
        jsStreamInfo_Destroy(si);
        return n;
    };
    EXPECT_EQ(msgs(), 3u);  // consumers exist: kept until they acknowledge
    EXPECT_EQ(fetch(a.get(), 3, true, true).size(), 3u);
    EXPECT_EQ(msgs(), 3u);  // b has not acknowledged yet
    EXPECT_EQ(fetch(b.get(), 3, true, true).size(), 3u);
    std::uint64_t left = 3;
    for (int i = 0; i < 50 && left; ++i) {
        left = msgs();
        if (left) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(left, 0u);
}

namespace {

// What a push subscriber saw: arrival times and the messages, filled by nats.c's thread.
struct Arrivals {
    std::mutex mu;
    std::vector<std::chrono::steady_clock::time_point> at;
    std::vector<std::string> data;
    bool ack = false;
    static void on_msg(natsConnection*, natsSubscription*, natsMsg* m, void* closure) {
        auto* self = static_cast<Arrivals*>(closure);
        {
            std::lock_guard lk(self->mu);
            self->at.push_back(std::chrono::steady_clock::now());
            self->data.push_back(osprey::testing::data(m));
        }
        if (self->ack) natsMsg_Ack(m, nullptr);
        natsMsg_Destroy(m);
    }
    std::size_t size() {
        std::lock_guard lk(mu);
        return at.size();
    }
    bool wait_for(std::size_t n, int ms) {
        for (int i = 0; i < ms / 10 && size() < n; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        return size() >= n;
    }
};

}  // namespace

// replay_policy original keeps the spacing the messages were stored with; live messages are
// not held back. Run against nats-server too, as the reference.
TEST(Consumers, ReplayOriginalKeepsTheSpacing) {
    for (const auto& bin : servers_to_compare()) {
        SCOPED_TRACE(bin);
        JsServer srv({}, bin);
        Conn nc = connect(srv.url());
        Js js = jetstream(nc.get());
        jsStreamInfo_Destroy(add_stream(js.get(), "RP", {"rp"}));
        for (int i = 0; i < 3; ++i) {
            if (i) std::this_thread::sleep_for(std::chrono::milliseconds(400));
            pub(js.get(), "rp", "m" + std::to_string(i));
        }
        Arrivals got;
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Config.ReplayPolicy = js_ReplayOriginal;
        so.Config.AckPolicy = js_AckNone;
        natsSubscription* raw = nullptr;
        jsErrCode e;
        ASSERT_EQ(js_Subscribe(&raw, js.get(), "rp", Arrivals::on_msg, &got, nullptr, &so, &e), NATS_OK);
        Sub sub(raw);
        ASSERT_TRUE(got.wait_for(3, 5000));
        std::lock_guard lk(got.mu);
        EXPECT_EQ(got.data, (std::vector<std::string>{"m0", "m1", "m2"}));
        for (int i = 1; i < 3; ++i)
            EXPECT_GE(got.at[i] - got.at[i - 1], std::chrono::milliseconds(300)) << "gap " << i;
    }
}

// rate_limit_bps (bits per second) spreads deliveries: 12 x 500 B at 4000 B/s, with a
// burst of one max_msg_size (600 B), cannot arrive in less than about 1.4 s.
TEST(Consumers, RateLimitSpreadsDeliveries) {
    for (const auto& bin : servers_to_compare()) {
        SCOPED_TRACE(bin);
        JsServer srv({}, bin);
        Conn nc = connect(srv.url());
        Js js = jetstream(nc.get());
        jsStreamInfo_Destroy(add_stream(js.get(), "RL", {"rl"}, js_FileStorage,
                                        [](jsStreamConfig& c) { c.MaxMsgSize = 600; }));
        for (int i = 0; i < 12; ++i) pub(js.get(), "rl", std::string(500, char('a' + i)));
        Arrivals got;
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Config.RateLimit = 4000 * 8;
        so.Config.AckPolicy = js_AckNone;
        natsSubscription* raw = nullptr;
        jsErrCode e;
        const auto t0 = std::chrono::steady_clock::now();
        ASSERT_EQ(js_Subscribe(&raw, js.get(), "rl", Arrivals::on_msg, &got, nullptr, &so, &e), NATS_OK);
        Sub sub(raw);
        ASSERT_TRUE(got.wait_for(12, 8000));
        EXPECT_GE(got.at.back() - t0, std::chrono::milliseconds(1000));
        EXPECT_EQ(got.data[11], std::string(500, 'l'));
    }
}

// sample_freq: acks are reported on $JS.EVENT.METRIC.CONSUMER.ACK.<stream>.<consumer> with
// the sequences, the delivery count and how long the ack took.
TEST(Consumers, AckSamplingReportsMetrics) {
    for (const auto& bin : servers_to_compare()) {
        SCOPED_TRACE(bin);
        JsServer srv({}, bin);
        Conn nc = connect(srv.url());
        Js js = jetstream(nc.get());
        jsStreamInfo_Destroy(add_stream(js.get(), "SF", {"sf"}));
        pub(js.get(), "sf", "one");
        pub(js.get(), "sf", "two");
        Sub metrics = subscribe_sync(nc.get(), "$JS.EVENT.METRIC.CONSUMER.ACK.SF.>");
        natsConnection_Flush(nc.get());
        Arrivals got;
        got.ack = true;
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Config.Durable = "sampled";
        so.Config.AckPolicy = js_AckExplicit;
        so.Config.SampleFrequency = "100%";
        natsSubscription* raw = nullptr;
        jsErrCode e;
        ASSERT_EQ(js_Subscribe(&raw, js.get(), "sf", Arrivals::on_msg, &got, nullptr, &so, &e), NATS_OK);
        Sub sub(raw);
        for (std::uint64_t seq = 1; seq <= 2; ++seq) {
            Msg m = next(metrics.get(), 3000);
            ASSERT_TRUE(m);
            EXPECT_STREQ(natsMsg_GetSubject(m.get()), "$JS.EVENT.METRIC.CONSUMER.ACK.SF.sampled");
            const std::string body = data(m.get());
            EXPECT_NE(body.find("\"type\":\"io.nats.jetstream.metric.v1.consumer_ack\""), std::string::npos) << body;
            EXPECT_NE(body.find("\"stream\":\"SF\",\"consumer\":\"sampled\",\"consumer_seq\":" +
                                std::to_string(seq) + ",\"stream_seq\":" + std::to_string(seq) +
                                ",\"ack_time\":"),
                      std::string::npos) << body;
            EXPECT_NE(body.find(",\"deliveries\":1}"), std::string::npos) << body;
        }
    }
}

// Interest retention with filtered consumers: a message goes once every consumer whose filter
// takes it acknowledged it (however far behind another consumer's ack floor is); a message no
// filter takes is not kept; deleting the last consumer drops what nobody needs any more.
TEST(Consumers, InterestRetentionFollowsFilters) {
    for (const auto& bin : servers_to_compare()) {
        SCOPED_TRACE(bin);
        JsServer srv({}, bin);
        Conn nc = connect(srv.url());
        Js js = jetstream(nc.get());
        jsStreamInfo_Destroy(add_stream(js.get(), "IF", {"if.>"}, js_FileStorage,
                                        [](jsStreamConfig& c) { c.Retention = js_InterestPolicy; }));
        jsErrCode e;
        natsSubscription *ra = nullptr, *rb = nullptr;
        ASSERT_EQ(js_PullSubscribe(&ra, js.get(), "if.a", "fa", nullptr, nullptr, &e), NATS_OK);
        ASSERT_EQ(js_PullSubscribe(&rb, js.get(), "if.b", "fb", nullptr, nullptr, &e), NATS_OK);
        Sub a(ra), b(rb);
        auto msgs = [&] {
            jsStreamInfo* si = nullptr;
            js_GetStreamInfo(&si, js.get(), "IF", nullptr, &e);
            std::uint64_t n = si ? si->State.Msgs : 99;
            jsStreamInfo_Destroy(si);
            return n;
        };
        auto settle_to = [&](std::uint64_t want) {
            std::uint64_t n = msgs();
            for (int i = 0; i < 50 && n != want; ++i) {
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                n = msgs();
            }
            return n;
        };
        pub(js.get(), "if.a", "a1");
        pub(js.get(), "if.b", "b1");
        pub(js.get(), "if.a", "a2");
        pub(js.get(), "if.c", "nobody");  // no filter takes it: not kept
        EXPECT_EQ(msgs(), 3u);
        EXPECT_EQ(fetch(b.get(), 1, true, true), (std::vector<std::string>{"b1"}));
        EXPECT_EQ(settle_to(2), 2u);  // b1 goes although fa's floor is still 0
        EXPECT_EQ(fetch(a.get(), 2, true, true), (std::vector<std::string>{"a1", "a2"}));
        EXPECT_EQ(settle_to(0), 0u);

        // Deleting the last consumer: nothing keeps the rest.
        pub(js.get(), "if.a", "a3");
        pub(js.get(), "if.a", "a4");
        EXPECT_EQ(msgs(), 2u);
        b.reset();
        ASSERT_EQ(js_DeleteConsumer(js.get(), "IF", "fb", nullptr, &e), NATS_OK);
        EXPECT_EQ(msgs(), 2u);  // fa still needs them
        a.reset();
        ASSERT_EQ(js_DeleteConsumer(js.get(), "IF", "fa", nullptr, &e), NATS_OK);
        EXPECT_EQ(settle_to(0), 0u);
    }
}

// Consumer create and delete advisories, as nats-server sends them.
TEST(Consumers, ActionAdvisories) {
    for (const auto& bin : servers_to_compare()) {
        SCOPED_TRACE(bin);
        JsServer srv({}, bin);
        Conn nc = connect(srv.url());
        Js js = jetstream(nc.get());
        jsStreamInfo_Destroy(add_stream(js.get(), "ADV", {"adv"}));
        Sub adv = subscribe_sync(nc.get(), "$JS.EVENT.ADVISORY.CONSUMER.>");
        Sub audit = subscribe_sync(nc.get(), "$JS.EVENT.ADVISORY.API");
        natsConnection_Flush(nc.get());
        jsConsumerConfig cc;
        jsConsumerConfig_Init(&cc);
        cc.Durable = "watched";
        cc.AckPolicy = js_AckExplicit;
        jsConsumerInfo* ci = nullptr;
        jsErrCode e;
        ASSERT_EQ(js_AddConsumer(&ci, js.get(), "ADV", &cc, nullptr, &e), NATS_OK);
        jsConsumerInfo_Destroy(ci);
        ASSERT_EQ(js_DeleteConsumer(js.get(), "ADV", "watched", nullptr, &e), NATS_OK);
        for (const char* action : {"create", "delete"}) {
            Msg m = next(adv.get(), 3000);
            ASSERT_TRUE(m) << action;
            const std::string kind = std::string(action) == "create" ? "CREATED" : "DELETED";
            EXPECT_EQ(std::string(natsMsg_GetSubject(m.get())), "$JS.EVENT.ADVISORY.CONSUMER." + kind + ".ADV.watched");
            const std::string body = data(m.get());
            EXPECT_NE(body.find("\"type\":\"io.nats.jetstream.advisory.v1.consumer_action\""), std::string::npos) << body;
            EXPECT_NE(body.find("\"stream\":\"ADV\",\"consumer\":\"watched\",\"action\":\"" + std::string(action) + "\""),
                      std::string::npos) << body;
        }
        // Every answered API call is audited with its subject, request and response.
        for (const char* call : {"$JS.API.CONSUMER.DURABLE.CREATE.ADV.watched", "$JS.API.CONSUMER.DELETE.ADV.watched"}) {
            Msg m = next(audit.get(), 3000);
            ASSERT_TRUE(m) << call;
            const std::string body = data(m.get());
            EXPECT_NE(body.find("\"type\":\"io.nats.jetstream.advisory.v1.api_audit\""), std::string::npos) << body;
            EXPECT_NE(body.find("\"subject\":\"" + std::string(call) + "\""), std::string::npos) << body;
            EXPECT_NE(body.find("\"response\":\"{"), std::string::npos) << body;
        }
    }
}
