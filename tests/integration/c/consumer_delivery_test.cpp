// What consumers deliver, and when, through nats.c: fetch edges, a durable shared by two
// fetchers, redelivery (ack wait, nak, in progress, term), deliver policies, push queue
// groups, headers only. Each test runs against nats-server 2.9.10 (the reference) and osprey.
#include <set>
#include <thread>

#include "c/js_helpers.h"

using namespace osprey::testing;
using std::chrono::milliseconds;

namespace {

constexpr std::int64_t kMs = 1000 * 1000;

void pub(jsCtx* js, const char* subj, const std::string& data) {
    jsPubAck* ack = nullptr;
    jsErrCode e;
    ASSERT_EQ(js_Publish(&ack, js, subj, data.data(), int(data.size()), nullptr, &e), NATS_OK);
    jsPubAck_Destroy(ack);
}

// A fetched batch; messages stay alive for acks and metadata.
struct Batch {
    natsMsgList list{};
    natsStatus status = NATS_OK;
    ~Batch() { natsMsgList_Destroy(&list); }
    int size() const { return list.Count; }
    natsMsg* operator[](int i) const { return list.Msgs[i]; }
    std::vector<std::string> data() const {
        std::vector<std::string> v;
        for (int i = 0; i < list.Count; ++i) v.push_back(osprey::testing::data(list.Msgs[i]));
        return v;
    }
};

std::unique_ptr<Batch> fetch(natsSubscription* sub, int n, int timeout_ms = 2000) {
    auto b = std::make_unique<Batch>();
    jsErrCode e;
    b->status = natsSubscription_Fetch(&b->list, sub, n, timeout_ms, &e);
    return b;
}

std::uint64_t deliveries(natsMsg* m) {
    jsMsgMetaData* md = nullptr;
    if (natsMsg_GetMetaData(&md, m) != NATS_OK) return 0;
    const std::uint64_t n = md->NumDelivered;
    jsMsgMetaData_Destroy(md);
    return n;
}

natsSubscription* pull(jsCtx* js, const char* subject, const char* durable,
                       void (*tweak)(jsConsumerConfig&) = nullptr) {
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Config.AckPolicy = js_AckExplicit;
    if (tweak) tweak(so.Config);
    natsSubscription* sub = nullptr;
    jsErrCode e;
    EXPECT_EQ(js_PullSubscribe(&sub, js, subject, durable, nullptr, &so, &e), NATS_OK);
    return sub;
}

struct Env {
    explicit Env(const std::string& bin) : srv({}, bin), nc(connect(srv.url())), js(jetstream(nc.get())) {}
    JsServer srv;
    Conn nc;
    Js js;
};

}  // namespace

TEST(ConsumerDelivery, FetchReturnsEarlyWithFewerAndExpiresEmpty) {
    for (const auto& bin : servers_to_compare()) {
        SCOPED_TRACE(bin);
        Env env(bin);
        jsStreamInfo_Destroy(add_stream(env.js.get(), "F", {"f"}));
        for (int i = 0; i < 3; ++i) pub(env.js.get(), "f", "m" + std::to_string(i));
        Sub sub(pull(env.js.get(), "f", "fe"));
        const auto t0 = std::chrono::steady_clock::now();
        auto b = fetch(sub.get(), 10, 3000);
        EXPECT_EQ(b->status, NATS_OK);
        EXPECT_EQ(b->data(), (std::vector<std::string>{"m0", "m1", "m2"}));
        EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(2500));  // did not wait it out
        for (int i = 0; i < b->size(); ++i) natsMsg_Ack((*b)[i], nullptr);
        auto empty = fetch(sub.get(), 5, 500);
        EXPECT_EQ(empty->status, NATS_TIMEOUT);
        EXPECT_EQ(empty->size(), 0);
        // A message published while a fetch waits is delivered to it.
        std::thread later([&] {
            std::this_thread::sleep_for(milliseconds(300));
            Conn nc2 = connect(env.srv.url());
            Js js2 = jetstream(nc2.get());
            pub(js2.get(), "f", "late");
        });
        auto waited = fetch(sub.get(), 1, 3000);
        later.join();
        EXPECT_EQ(waited->data(), (std::vector<std::string>{"late"}));
    }
}

TEST(ConsumerDelivery, TwoFetchersShareOneDurable) {
    for (const auto& bin : servers_to_compare()) {
        SCOPED_TRACE(bin);
        Env env(bin);
        jsStreamInfo_Destroy(add_stream(env.js.get(), "SH", {"sh"}));
        for (int i = 0; i < 20; ++i) pub(env.js.get(), "sh", std::to_string(i));
        Sub a(pull(env.js.get(), "sh", "shared"));
        Sub b(pull(env.js.get(), "sh", "shared"));
        std::multiset<std::string> seen;
        for (int round = 0; round < 2; ++round) {
            for (natsSubscription* s : {a.get(), b.get()}) {
                auto got = fetch(s, 5);
                EXPECT_EQ(got->size(), 5);
                for (int i = 0; i < got->size(); ++i) {
                    seen.insert(data((*got)[i]));
                    natsMsg_Ack((*got)[i], nullptr);
                }
            }
        }
        EXPECT_EQ(seen.size(), 20u);
        EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 20u);  // disjoint
    }
}

TEST(ConsumerDelivery, RedeliveryAfterAckWaitNakInProgressAndTerm) {
    for (const auto& bin : servers_to_compare()) {
        SCOPED_TRACE(bin);
        Env env(bin);
        jsStreamInfo_Destroy(add_stream(env.js.get(), "RD", {"rd.*"}));
        pub(env.js.get(), "rd.a", "a");
        Sub sub(pull(env.js.get(), "rd.a", "rda", [](jsConsumerConfig& c) { c.AckWait = 300 * kMs; }));
        {
            auto first = fetch(sub.get(), 1);
            ASSERT_EQ(first->size(), 1);
            EXPECT_EQ(deliveries((*first)[0]), 1u);
        }  // not acknowledged: due again after ack_wait
        std::this_thread::sleep_for(milliseconds(500));
        auto second = fetch(sub.get(), 1);
        ASSERT_EQ(second->size(), 1);
        EXPECT_EQ(data((*second)[0]), "a");
        EXPECT_EQ(deliveries((*second)[0]), 2u);
        // Nak: due again at once.
        EXPECT_EQ(natsMsg_Nak((*second)[0], nullptr), NATS_OK);
        auto third = fetch(sub.get(), 1, 1000);
        ASSERT_EQ(third->size(), 1);
        EXPECT_EQ(deliveries((*third)[0]), 3u);
        // Term: never again.
        EXPECT_EQ(natsMsg_Term((*third)[0], nullptr), NATS_OK);
        std::this_thread::sleep_for(milliseconds(500));
        EXPECT_EQ(fetch(sub.get(), 1, 400)->size(), 0);

        // In progress pushes the deadline out by another ack_wait.
        pub(env.js.get(), "rd.b", "b");
        Sub slow(pull(env.js.get(), "rd.b", "rdb", [](jsConsumerConfig& c) { c.AckWait = 1000 * kMs; }));
        auto got = fetch(slow.get(), 1);
        ASSERT_EQ(got->size(), 1);
        std::this_thread::sleep_for(milliseconds(600));
        EXPECT_EQ(natsMsg_InProgress((*got)[0], nullptr), NATS_OK);
        std::this_thread::sleep_for(milliseconds(600));  // 1.2 s after delivery, 0.6 s after +WPI
        EXPECT_EQ(fetch(slow.get(), 1, 200)->size(), 0);
        auto again = fetch(slow.get(), 1, 2000);  // due 1 s after +WPI
        ASSERT_EQ(again->size(), 1);
        EXPECT_EQ(deliveries((*again)[0]), 2u);
        EXPECT_EQ(natsMsg_AckSync((*again)[0], nullptr, nullptr), NATS_OK);
    }
}

// A message whose ack_wait ran out while no pull request waited is due again; an ack that
// arrives before the redelivery goes out settles it for good (a confirmed ack must never be
// followed by another delivery). Osprey once kept it queued and delivered it again.
TEST(ConsumerDelivery, AckAfterAckWaitCancelsTheQueuedRedelivery) {
    for (const auto& bin : servers_to_compare()) {
        SCOPED_TRACE(bin);
        // nats-server 2.9.10 still redelivers a message terminated (or nak'd a second time)
        // while it was queued for redelivery; osprey does neither.
        const bool reference = bin == NATS_SERVER_BIN;
        Env env(bin);
        jsStreamInfo_Destroy(add_stream(env.js.get(), "LA", {"la"}));
        for (int i = 0; i < 3; ++i) pub(env.js.get(), "la", "m" + std::to_string(i));
        Sub sub(pull(env.js.get(), "la", "late", [](jsConsumerConfig& c) { c.AckWait = 200 * kMs; }));
        auto first = fetch(sub.get(), 3);
        ASSERT_EQ(first->size(), 3);
        std::this_thread::sleep_for(milliseconds(600));  // all three are due again now
        EXPECT_EQ(natsMsg_AckSync((*first)[0], nullptr, nullptr), NATS_OK);
        if (!reference) {
            EXPECT_EQ(natsMsg_Term((*first)[1], nullptr), NATS_OK);
            EXPECT_EQ(natsMsg_Nak((*first)[2], nullptr), NATS_OK);
            EXPECT_EQ(natsMsg_Nak((*first)[2], nullptr), NATS_OK);
        }
        auto again = fetch(sub.get(), 3, 800);
        using V = std::vector<std::string>;
        EXPECT_EQ(again->data(), reference ? (V{"m1", "m2"}) : (V{"m2"}));
        for (int i = 0; i < again->size(); ++i)
            EXPECT_EQ(natsMsg_AckSync((*again)[i], nullptr, nullptr), NATS_OK);
        EXPECT_EQ(fetch(sub.get(), 3, 500)->size(), 0);
    }
}

TEST(ConsumerDelivery, DeliverPolicies) {
    for (const auto& bin : servers_to_compare()) {
        SCOPED_TRACE(bin);
        Env env(bin);
        jsStreamInfo_Destroy(add_stream(env.js.get(), "DP", {"dp.*"}));
        // seq: 1 a, 2 b, 3 a, 4 c, 5 b
        const char* subjects[] = {"dp.a", "dp.b", "dp.a", "dp.c", "dp.b"};
        for (int i = 0; i < 5; ++i) pub(env.js.get(), subjects[i], std::to_string(i + 1));
        auto consume = [&](const char* name, void (*tweak)(jsConsumerConfig&), const char* subject = "dp.*") {
            Sub s(pull(env.js.get(), subject, name, tweak));
            auto b = fetch(s.get(), 10, 500);
            for (int i = 0; i < b->size(); ++i) natsMsg_Ack((*b)[i], nullptr);
            return b->data();
        };
        using V = std::vector<std::string>;
        EXPECT_EQ(consume("all", nullptr), (V{"1", "2", "3", "4", "5"}));
        EXPECT_EQ(consume("last", [](jsConsumerConfig& c) { c.DeliverPolicy = js_DeliverLast; }), (V{"5"}));
        EXPECT_EQ(consume("new", [](jsConsumerConfig& c) { c.DeliverPolicy = js_DeliverNew; }), (V{}));
        EXPECT_EQ(consume("seq", [](jsConsumerConfig& c) {
                      c.DeliverPolicy = js_DeliverByStartSequence;
                      c.OptStartSeq = 3;
                  }),
                  (V{"3", "4", "5"}));
        EXPECT_EQ(consume("lps", [](jsConsumerConfig& c) { c.DeliverPolicy = js_DeliverLastPerSubject; }),
                  (V{"3", "4", "5"}));
        EXPECT_EQ(consume("lpsf", [](jsConsumerConfig& c) { c.DeliverPolicy = js_DeliverLastPerSubject; }, "dp.b"),
                  (V{"5"}));
        // By start time: everything stored at or after a moment.
        std::this_thread::sleep_for(milliseconds(50));
        // nats.c 3.4.1 drops the leading zeros of the fraction when it formats OptStartTime
        // (.015 s goes out as .15 s): take a moment whose fraction has none.
        static std::int64_t start_ns;
        auto now_ns = [] {
            return std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                .count();
        };
        for (start_ns = now_ns(); start_ns % 1'000'000'000 < 100'000'000; start_ns = now_ns())
            std::this_thread::sleep_for(milliseconds(10));
        std::this_thread::sleep_for(milliseconds(50));
        pub(env.js.get(), "dp.a", "6");
        EXPECT_EQ(consume("time", [](jsConsumerConfig& c) {
                      c.DeliverPolicy = js_DeliverByStartTime;
                      c.OptStartTime = start_ns;
                  }),
                  (V{"6"}));
    }
}

TEST(ConsumerDelivery, PushQueueGroupSplitsMessages) {
    for (const auto& bin : servers_to_compare()) {
        SCOPED_TRACE(bin);
        Env env(bin);
        jsStreamInfo_Destroy(add_stream(env.js.get(), "QG", {"qg"}));
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Queue = "workers";  // the durable takes the queue name, deliver_group too
        so.Config.Durable = "workers";
        so.Config.AckPolicy = js_AckExplicit;
        natsSubscription *r1 = nullptr, *r2 = nullptr;
        jsErrCode e;
        ASSERT_EQ(js_SubscribeSync(&r1, env.js.get(), "qg", nullptr, &so, &e), NATS_OK);
        ASSERT_EQ(js_SubscribeSync(&r2, env.js.get(), "qg", nullptr, &so, &e), NATS_OK);
        Sub s1(r1), s2(r2);
        for (int i = 0; i < 40; ++i) pub(env.js.get(), "qg", std::to_string(i));
        std::multiset<std::string> seen;
        int per[2] = {0, 0};
        for (int idle = 0; idle < 3 && seen.size() < 40;) {
            bool any = false;
            for (int k = 0; k < 2; ++k) {
                natsMsg* m = nullptr;
                if (natsSubscription_NextMsg(&m, k ? s2.get() : s1.get(), 200) == NATS_OK) {
                    seen.insert(data(m));
                    ++per[k];
                    natsMsg_Ack(m, nullptr);
                    natsMsg_Destroy(m);
                    any = true;
                }
            }
            idle = any ? 0 : idle + 1;
        }
        EXPECT_EQ(seen.size(), 40u);
        EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 40u);  // each once
        EXPECT_GT(per[0], 0);
        EXPECT_GT(per[1], 0);
    }
}

TEST(ConsumerDelivery, HeadersOnlyCarriesTheSize) {
    for (const auto& bin : servers_to_compare()) {
        SCOPED_TRACE(bin);
        Env env(bin);
        jsStreamInfo_Destroy(add_stream(env.js.get(), "HO", {"ho"}));
        natsMsg* m = nullptr;
        ASSERT_EQ(natsMsg_Create(&m, "ho", nullptr, "twelve bytes", 12), NATS_OK);
        natsMsgHeader_Set(m, "X-Trace", "t1");
        jsPubAck* ack = nullptr;
        jsErrCode e;
        ASSERT_EQ(js_PublishMsg(&ack, env.js.get(), m, nullptr, &e), NATS_OK);
        jsPubAck_Destroy(ack);
        natsMsg_Destroy(m);
        Sub sub(pull(env.js.get(), "ho", "heads", [](jsConsumerConfig& c) { c.HeadersOnly = true; }));
        auto b = fetch(sub.get(), 1);
        ASSERT_EQ(b->size(), 1);
        EXPECT_EQ(natsMsg_GetDataLength((*b)[0]), 0);
        const char* v = nullptr;
        ASSERT_EQ(natsMsgHeader_Get((*b)[0], "Nats-Msg-Size", &v), NATS_OK);
        EXPECT_STREQ(v, "12");
        ASSERT_EQ(natsMsgHeader_Get((*b)[0], "X-Trace", &v), NATS_OK);
        EXPECT_STREQ(v, "t1");
    }
}

// A push consumer waits while nobody listens on its deliver subject, then delivers from where
// it stood once someone subscribes (nothing is sent into the void and lost).
TEST(ConsumerDelivery, PushWaitsForASubscriber) {
    for (const auto& bin : servers_to_compare()) {
        SCOPED_TRACE(bin);
        Env env(bin);
        jsStreamInfo_Destroy(add_stream(env.js.get(), "PW", {"pw"}));
        jsConsumerConfig cc;
        jsConsumerConfig_Init(&cc);
        cc.Durable = "later";
        cc.DeliverSubject = "pw.deliver";
        cc.AckPolicy = js_AckNone;
        jsConsumerInfo* ci = nullptr;
        jsErrCode e;
        ASSERT_EQ(js_AddConsumer(&ci, env.js.get(), "PW", &cc, nullptr, &e), NATS_OK);
        jsConsumerInfo_Destroy(ci);
        for (int i = 0; i < 5; ++i) pub(env.js.get(), "pw", std::to_string(i));
        std::this_thread::sleep_for(milliseconds(200));
        ASSERT_EQ(js_GetConsumerInfo(&ci, env.js.get(), "PW", "later", nullptr, &e), NATS_OK);
        EXPECT_EQ(ci->Delivered.Stream, 0u);
        EXPECT_FALSE(ci->PushBound);
        jsConsumerInfo_Destroy(ci);
        Sub sub = subscribe_sync(env.nc.get(), "pw.deliver");
        std::vector<std::string> got;
        for (int i = 0; i < 5; ++i) {
            Msg m = next(sub.get(), 3000);
            if (!m) break;
            got.push_back(data(m.get()));
        }
        EXPECT_EQ(got, (std::vector<std::string>{"0", "1", "2", "3", "4"}));
    }
}

// Osprey only: a subject purge leaves consumers it does not concern where they were, so an
// unfiltered consumer still gets the messages the purge kept. (nats-server 2.9.10 moves every
// consumer past the end on any purge; later releases fixed it.)
TEST(ConsumerDelivery, SubjectPurgeKeepsOtherConsumersInPlace) {
    Env env(OSPREY_BIN);
    jsStreamInfo_Destroy(add_stream(env.js.get(), "SP", {"sp.*"}));
    Sub all(pull(env.js.get(), "sp.*", "everything"));
    for (const char* s : {"sp.a", "sp.b", "sp.a", "sp.b"}) pub(env.js.get(), s, s);
    jsOptions o;
    jsOptions_Init(&o);
    o.Stream.Purge.Subject = "sp.a";
    jsErrCode e;
    ASSERT_EQ(js_PurgeStream(env.js.get(), "SP", &o, &e), NATS_OK);
    auto b = fetch(all.get(), 10, 500);
    EXPECT_EQ(b->data(), (std::vector<std::string>{"sp.b", "sp.b"}));
}
