// JetStream streams with the nats.c client against a real osprey process.
#include <fstream>
#include <map>

#include "c/js_helpers.h"

using namespace osprey::testing;

namespace {

std::uint64_t publish(jsCtx* js, const char* subj, const std::string& data,
                      jsPubOptions* po = nullptr, jsErrCode* err = nullptr,
                      bool* dup = nullptr) {
    jsPubAck* ack = nullptr;
    jsErrCode e = jsErrCode(0);
    natsStatus s = js_Publish(&ack, js, subj, data.data(), int(data.size()), po, &e);
    if (err) *err = e;
    if (s != NATS_OK) return 0;
    std::uint64_t seq = ack->Sequence;
    if (dup) *dup = ack->Duplicate;
    jsPubAck_Destroy(ack);
    return seq;
}

jsStreamInfo* info(jsCtx* js, const char* name) {
    jsStreamInfo* si = nullptr;
    jsErrCode e;
    js_GetStreamInfo(&si, js, name, nullptr, &e);
    return si;
}

}  // namespace

class JetStream : public ::testing::Test {
protected:
    void SetUp() override {
        srv_ = std::make_unique<JsServer>();
        nc_ = connect(srv_->url());
        js_ = jetstream(nc_.get());
    }
    void reconnect() {
        js_.reset();
        nc_ = connect(srv_->url());
        js_ = jetstream(nc_.get());
    }
    std::unique_ptr<JsServer> srv_;
    Conn nc_;
    Js js_;
};

TEST_F(JetStream, CreateInfoPublishGet) {
    jsStreamInfo* si = add_stream(js_.get(), "ORDERS", {"orders.>"});
    ASSERT_TRUE(si);
    EXPECT_STREQ(si->Config->Name, "ORDERS");
    EXPECT_EQ(si->Config->Duplicates, 120LL * 1000 * 1000 * 1000);
    EXPECT_EQ(si->Config->MaxMsgs, -1);
    jsStreamInfo_Destroy(si);

    for (int i = 1; i <= 10; ++i)
        EXPECT_EQ(publish(js_.get(), "orders.new", "order " + std::to_string(i)), std::uint64_t(i));
    si = info(js_.get(), "ORDERS");
    ASSERT_TRUE(si);
    EXPECT_EQ(si->State.Msgs, 10u);
    EXPECT_EQ(si->State.FirstSeq, 1u);
    EXPECT_EQ(si->State.LastSeq, 10u);
    EXPECT_EQ(si->State.Bytes, 10u * (22 + 10 + 7 + 8) + 1);  // "order 10" is one byte longer
    jsStreamInfo_Destroy(si);

    natsMsg* m = nullptr;
    jsErrCode e;
    ASSERT_EQ(js_GetMsg(&m, js_.get(), "ORDERS", 3, nullptr, &e), NATS_OK);
    EXPECT_EQ(data(m), "order 3");
    EXPECT_STREQ(natsMsg_GetSubject(m), "orders.new");
    natsMsg_Destroy(m);
    ASSERT_EQ(js_GetLastMsg(&m, js_.get(), "ORDERS", "orders.new", nullptr, &e), NATS_OK);
    EXPECT_EQ(data(m), "order 10");
    natsMsg_Destroy(m);
    EXPECT_NE(js_GetMsg(&m, js_.get(), "ORDERS", 99, nullptr, &e), NATS_OK);
    EXPECT_EQ(e, 10037);
}

TEST_F(JetStream, CreateErrors) {
    jsStreamInfo* si = add_stream(js_.get(), "A", {"a.>"});
    ASSERT_TRUE(si);
    jsStreamInfo_Destroy(si);
    jsErrCode e;
    // Same name, different config.
    EXPECT_FALSE(add_stream(js_.get(), "A", {"a.b"}, js_FileStorage, nullptr, &e));
    EXPECT_EQ(e, 10058);
    // Overlapping subjects.
    EXPECT_FALSE(add_stream(js_.get(), "B", {"a.*"}, js_FileStorage, nullptr, &e));
    EXPECT_EQ(e, 10065);
    // Replicas.
    EXPECT_FALSE(add_stream(js_.get(), "C", {"c"}, js_FileStorage,
                            [](jsStreamConfig& c) { c.Replicas = 3; }, &e));
    EXPECT_EQ(e, 10074);
    // Identical config again: fine.
    si = add_stream(js_.get(), "A", {"a.>"});
    EXPECT_TRUE(si);
    jsStreamInfo_Destroy(si);
    EXPECT_NE(js_GetStreamInfo(&si, js_.get(), "NOPE", nullptr, &e), NATS_OK);
    EXPECT_EQ(e, 10059);
}

TEST_F(JetStream, DeduplicationAndExpectations) {
    jsStreamInfo_Destroy(add_stream(js_.get(), "D", {"d.>"}));
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = "id-1";
    bool dup = true;
    EXPECT_EQ(publish(js_.get(), "d.x", "first", &po, nullptr, &dup), 1u);
    EXPECT_FALSE(dup);
    EXPECT_EQ(publish(js_.get(), "d.x", "again", &po, nullptr, &dup), 1u);
    EXPECT_TRUE(dup);

    jsPubOptions_Init(&po);
    po.ExpectLastSeq = 5;
    jsErrCode e;
    EXPECT_EQ(publish(js_.get(), "d.x", "x", &po, &e), 0u);
    EXPECT_EQ(e, 10071);
    po.ExpectLastSeq = 1;
    EXPECT_EQ(publish(js_.get(), "d.x", "x", &po, &e), 2u);

    jsPubOptions_Init(&po);
    po.ExpectStream = "OTHER";
    EXPECT_EQ(publish(js_.get(), "d.x", "x", &po, &e), 0u);
    EXPECT_EQ(e, 10060);

    jsPubOptions_Init(&po);
    po.ExpectLastMsgId = "nope";
    EXPECT_EQ(publish(js_.get(), "d.x", "x", &po, &e), 0u);
    EXPECT_EQ(e, 10070);

    jsPubOptions_Init(&po);
    po.ExpectLastSubjectSeq = 2;
    EXPECT_EQ(publish(js_.get(), "d.x", "x", &po, &e), 3u);
    EXPECT_EQ(publish(js_.get(), "d.y", "y", &po, &e), 0u);  // d.y has no message yet
    EXPECT_EQ(e, 10071);
}

TEST_F(JetStream, LimitsDiscardOldAndNew) {
    jsStreamInfo_Destroy(add_stream(js_.get(), "OLD", {"old"}, js_FileStorage,
                                    [](jsStreamConfig& c) { c.MaxMsgs = 3; }));
    for (int i = 1; i <= 5; ++i) publish(js_.get(), "old", std::to_string(i));
    jsStreamInfo* si = info(js_.get(), "OLD");
    EXPECT_EQ(si->State.Msgs, 3u);
    EXPECT_EQ(si->State.FirstSeq, 3u);
    jsStreamInfo_Destroy(si);

    jsStreamInfo_Destroy(add_stream(js_.get(), "NEW", {"new"}, js_MemoryStorage,
                                    [](jsStreamConfig& c) {
                                        c.MaxMsgs = 2;
                                        c.Discard = js_DiscardNew;
                                        c.MaxMsgSize = 8;
                                    }));
    jsErrCode e;
    EXPECT_EQ(publish(js_.get(), "new", "1"), 1u);
    EXPECT_EQ(publish(js_.get(), "new", "2"), 2u);
    EXPECT_EQ(publish(js_.get(), "new", "3", nullptr, &e), 0u);
    EXPECT_EQ(e, 10077);
    EXPECT_EQ(publish(js_.get(), "new", "far too long", nullptr, &e), 0u);
    EXPECT_EQ(e, 10054);

    jsStreamInfo_Destroy(add_stream(js_.get(), "PER", {"per.*"}, js_FileStorage,
                                    [](jsStreamConfig& c) { c.MaxMsgsPerSubject = 2; }));
    for (int i = 0; i < 5; ++i) {
        publish(js_.get(), "per.a", "a");
        publish(js_.get(), "per.b", "b");
    }
    si = info(js_.get(), "PER");
    EXPECT_EQ(si->State.Msgs, 4u);
    EXPECT_EQ(si->State.NumSubjects, 2);
    jsStreamInfo_Destroy(si);
}

TEST_F(JetStream, MaxAgeExpires) {
    jsStreamInfo_Destroy(add_stream(js_.get(), "AGE", {"age"}, js_FileStorage,
                                    [](jsStreamConfig& c) { c.MaxAge = 300LL * 1000 * 1000; }));
    for (int i = 0; i < 5; ++i) publish(js_.get(), "age", "x");
    std::uint64_t msgs = 5;
    for (int i = 0; i < 40 && msgs; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        jsStreamInfo* si = info(js_.get(), "AGE");
        msgs = si->State.Msgs;
        jsStreamInfo_Destroy(si);
    }
    EXPECT_EQ(msgs, 0u);
}

TEST_F(JetStream, DeletePurgeUpdateListAccount) {
    jsStreamInfo_Destroy(add_stream(js_.get(), "P", {"p.*"}));
    for (int i = 0; i < 6; ++i) publish(js_.get(), i % 2 ? "p.odd" : "p.even", std::to_string(i));
    jsErrCode e;
    EXPECT_EQ(js_DeleteMsg(js_.get(), "P", 2, nullptr, &e), NATS_OK);
    EXPECT_NE(js_DeleteMsg(js_.get(), "P", 2, nullptr, &e), NATS_OK);
    EXPECT_EQ(js_EraseMsg(js_.get(), "P", 3, nullptr, &e), NATS_OK);
    jsStreamInfo* si = info(js_.get(), "P");
    EXPECT_EQ(si->State.Msgs, 4u);
    EXPECT_EQ(si->State.NumDeleted, 2u);
    jsStreamInfo_Destroy(si);

    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = "P";
    const char* subs[] = {"p.*", "q.*"};
    cfg.Subjects = subs;
    cfg.SubjectsLen = 2;
    cfg.MaxMsgs = 100;
    ASSERT_EQ(js_UpdateStream(&si, js_.get(), &cfg, nullptr, &e), NATS_OK);
    EXPECT_EQ(si->Config->SubjectsLen, 2);
    EXPECT_EQ(si->Config->MaxMsgs, 100);
    jsStreamInfo_Destroy(si);
    EXPECT_EQ(publish(js_.get(), "q.new", "q"), 7u);
    cfg.Storage = js_MemoryStorage;
    EXPECT_NE(js_UpdateStream(&si, js_.get(), &cfg, nullptr, &e), NATS_OK);
    EXPECT_EQ(e, 10052);

    jsStreamNamesList* names = nullptr;
    ASSERT_EQ(js_StreamNames(&names, js_.get(), nullptr, &e), NATS_OK);
    ASSERT_EQ(names->Count, 1);
    EXPECT_STREQ(names->List[0], "P");
    jsStreamNamesList_Destroy(names);
    jsStreamInfoList* list = nullptr;
    ASSERT_EQ(js_Streams(&list, js_.get(), nullptr, &e), NATS_OK);
    ASSERT_EQ(list->Count, 1);
    EXPECT_EQ(list->List[0]->State.Msgs, 5u);
    jsStreamInfoList_Destroy(list);

    jsAccountInfo* ai = nullptr;
    ASSERT_EQ(js_GetAccountInfo(&ai, js_.get(), nullptr, &e), NATS_OK);
    EXPECT_EQ(ai->Streams, 1);
    EXPECT_GT(ai->Store, 0u);
    jsAccountInfo_Destroy(ai);

    ASSERT_EQ(js_PurgeStream(js_.get(), "P", nullptr, &e), NATS_OK);
    si = info(js_.get(), "P");
    EXPECT_EQ(si->State.Msgs, 0u);
    EXPECT_EQ(si->State.FirstSeq, 8u);
    jsStreamInfo_Destroy(si);
    EXPECT_EQ(publish(js_.get(), "p.x", "after purge"), 8u);
    ASSERT_EQ(js_DeleteStream(js_.get(), "P", nullptr, &e), NATS_OK);
    EXPECT_FALSE(info(js_.get(), "P"));
}

TEST_F(JetStream, StreamsAndMessagesSurviveRestart) {
    jsStreamInfo_Destroy(add_stream(js_.get(), "KEEP", {"keep.>"}));
    jsStreamInfo_Destroy(add_stream(js_.get(), "MEM", {"mem"}, js_MemoryStorage));
    for (int i = 1; i <= 100; ++i) publish(js_.get(), "keep.x", "v" + std::to_string(i));
    jsErrCode e;
    js_DeleteMsg(js_.get(), "KEEP", 50, nullptr, &e);
    publish(js_.get(), "mem", "gone after restart");
    js_.reset();
    nc_.reset();
    EXPECT_EQ(srv_->term(), 0);
    srv_->start();
    reconnect();
    jsStreamInfo* si = info(js_.get(), "KEEP");
    ASSERT_TRUE(si);
    EXPECT_EQ(si->State.Msgs, 99u);
    EXPECT_EQ(si->State.LastSeq, 100u);
    jsStreamInfo_Destroy(si);
    natsMsg* m = nullptr;
    ASSERT_EQ(js_GetMsg(&m, js_.get(), "KEEP", 77, nullptr, &e), NATS_OK);
    EXPECT_EQ(data(m), "v77");
    natsMsg_Destroy(m);
    EXPECT_NE(js_GetMsg(&m, js_.get(), "KEEP", 50, nullptr, &e), NATS_OK);
    EXPECT_EQ(publish(js_.get(), "keep.x", "next"), 101u);
    si = info(js_.get(), "MEM");  // the definition stays; memory contents do not
    ASSERT_TRUE(si);
    EXPECT_EQ(si->State.Msgs, 0u);
    jsStreamInfo_Destroy(si);
}

TEST_F(JetStream, KeyValuePutGetCreateUpdate) {
    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = "config";
    kc.History = 3;
    kvStore* kv = nullptr;
    ASSERT_EQ(js_CreateKeyValue(&kv, js_.get(), &kc), NATS_OK);
    std::uint64_t rev = 0;
    ASSERT_EQ(kvStore_PutString(&rev, kv, "color", "blue"), NATS_OK);
    EXPECT_EQ(rev, 1u);
    kvEntry* entry = nullptr;
    ASSERT_EQ(kvStore_Get(&entry, kv, "color"), NATS_OK);
    EXPECT_STREQ(kvEntry_ValueString(entry), "blue");
    EXPECT_EQ(kvEntry_Revision(entry), 1u);
    kvEntry_Destroy(entry);
    EXPECT_NE(kvStore_CreateString(&rev, kv, "color", "red"), NATS_OK);  // exists
    ASSERT_EQ(kvStore_UpdateString(&rev, kv, "color", "green", 1), NATS_OK);
    EXPECT_EQ(rev, 2u);
    EXPECT_NE(kvStore_UpdateString(&rev, kv, "color", "pink", 1), NATS_OK);  // stale revision
    ASSERT_EQ(kvStore_Delete(kv, "color"), NATS_OK);
    EXPECT_EQ(kvStore_Get(&entry, kv, "color"), NATS_NOT_FOUND);
    ASSERT_EQ(kvStore_CreateString(&rev, kv, "color", "red"), NATS_OK);  // after delete: ok
    kvStore_Destroy(kv);
}

TEST_F(JetStream, AdvisoriesAndJsz) {
    Sub adv = subscribe_sync(nc_.get(), "$JS.EVENT.ADVISORY.STREAM.>");
    natsConnection_Flush(nc_.get());
    jsStreamInfo_Destroy(add_stream(js_.get(), "ADV", {"adv"}));
    publish(js_.get(), "adv", "x");
    Msg created = next(adv.get());
    ASSERT_TRUE(created);
    EXPECT_STREQ(natsMsg_GetSubject(created.get()), "$JS.EVENT.ADVISORY.STREAM.CREATED.ADV");
    EXPECT_NE(data(created.get()).find("\"action\":\"create\""), std::string::npos);

    std::string jsz = http_get(srv_->proc().http_port(), "/jsz?streams=1&config=1");
    for (const char* f : {"\"streams\": 1", "\"messages\": 1", "\"account_details\"",
                          "\"stream_detail\"", "\"name\": \"ADV\"", "\"max_msgs\": -1",
                          "\"store_dir\""})
        EXPECT_NE(jsz.find(f), std::string::npos) << f << "\n" << jsz;
    EXPECT_EQ(http_get(srv_->proc().http_port(), "/jsz").find("account_details"),
              std::string::npos);

    jsErrCode e;
    ASSERT_EQ(js_DeleteStream(js_.get(), "ADV", nullptr, &e), NATS_OK);
    Msg deleted = next(adv.get());
    ASSERT_TRUE(deleted);
    EXPECT_STREQ(natsMsg_GetSubject(deleted.get()), "$JS.EVENT.ADVISORY.STREAM.DELETED.ADV");
}

TEST_F(JetStream, RepublishCarriesTheStreamHeaders) {
    Sub out = subscribe_sync(nc_.get(), "out.>");
    natsConnection_Flush(nc_.get());
    jsStreamInfo_Destroy(add_stream(js_.get(), "RP", {"rp.>"}, js_FileStorage, [](jsStreamConfig& c) {
        static jsRePublish rp;
        jsRePublish_Init(&rp);
        rp.Source = "rp.>";
        rp.Destination = "out.>";
        c.RePublish = &rp;
    }));
    EXPECT_EQ(publish(js_.get(), "rp.a.b", "payload"), 1u);
    Msg m = next(out.get());
    ASSERT_TRUE(m);
    EXPECT_STREQ(natsMsg_GetSubject(m.get()), "out.a.b");
    EXPECT_EQ(data(m.get()), "payload");
    const char* v = nullptr;
    ASSERT_EQ(natsMsgHeader_Get(m.get(), "Nats-Stream", &v), NATS_OK);
    EXPECT_STREQ(v, "RP");
    ASSERT_EQ(natsMsgHeader_Get(m.get(), "Nats-Sequence", &v), NATS_OK);
    EXPECT_STREQ(v, "1");
    ASSERT_EQ(natsMsgHeader_Get(m.get(), "Nats-Subject", &v), NATS_OK);
    EXPECT_STREQ(v, "rp.a.b");
}

TEST_F(JetStream, MirrorsAndSourcesWithinTheServer) {
    jsStreamInfo_Destroy(add_stream(js_.get(), "ORIGIN", {"o.*"}));
    for (int i = 1; i <= 5; ++i) publish(js_.get(), i % 2 ? "o.a" : "o.b", "m" + std::to_string(i));
    jsErrCode e;
    ASSERT_EQ(js_DeleteMsg(js_.get(), "ORIGIN", 2, nullptr, &e), NATS_OK);

    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = "MIRROR";
    jsStreamSource mirror;
    jsStreamSource_Init(&mirror);
    mirror.Name = "ORIGIN";
    cfg.Mirror = &mirror;
    jsStreamInfo* si = nullptr;
    ASSERT_EQ(js_AddStream(&si, js_.get(), &cfg, nullptr, &e), NATS_OK) << int(e);
    jsStreamInfo_Destroy(si);

    jsStreamConfig_Init(&cfg);
    cfg.Name = "AGG";
    const char* aggsubj[] = {"agg"};
    cfg.Subjects = aggsubj;
    cfg.SubjectsLen = 1;
    jsStreamSource src;
    jsStreamSource_Init(&src);
    src.Name = "ORIGIN";
    src.FilterSubject = "o.a";
    jsStreamSource* srcs[] = {&src};
    cfg.Sources = srcs;
    cfg.SourcesLen = 1;
    ASSERT_EQ(js_AddStream(&si, js_.get(), &cfg, nullptr, &e), NATS_OK) << int(e);
    jsStreamInfo_Destroy(si);

    publish(js_.get(), "o.a", "m6");
    auto wait_msgs = [&](const char* name, std::uint64_t want) {
        std::uint64_t got = 0;
        for (int i = 0; i < 100; ++i) {
            jsStreamInfo* s = info(js_.get(), name);
            got = s ? s->State.Msgs : 0;
            jsStreamInfo_Destroy(s);
            if (got == want) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return got;
    };
    EXPECT_EQ(wait_msgs("MIRROR", 5), 5u);  // 1,3,4,5,6: the origin's sequences
    natsMsg* m = nullptr;
    ASSERT_EQ(js_GetMsg(&m, js_.get(), "MIRROR", 6, nullptr, &e), NATS_OK);
    EXPECT_EQ(data(m), "m6");
    natsMsg_Destroy(m);
    EXPECT_NE(js_GetMsg(&m, js_.get(), "MIRROR", 2, nullptr, &e), NATS_OK);

    EXPECT_EQ(wait_msgs("AGG", 4), 4u);  // o.a only: m1, m3, m5, m6
    ASSERT_EQ(js_GetMsg(&m, js_.get(), "AGG", 4, nullptr, &e), NATS_OK);
    EXPECT_EQ(data(m), "m6");
    const char* v = nullptr;
    ASSERT_EQ(natsMsgHeader_Get(m, "Nats-Stream-Source", &v), NATS_OK);
    EXPECT_STREQ(v, "ORIGIN 6");
    natsMsg_Destroy(m);

    // After a restart they continue where they were: no duplicates.
    js_.reset();
    nc_.reset();
    ASSERT_EQ(srv_->term(), 0);
    srv_->start();
    reconnect();
    publish(js_.get(), "o.a", "m7");
    EXPECT_EQ(wait_msgs("MIRROR", 6), 6u);
    EXPECT_EQ(wait_msgs("AGG", 5), 5u);
}

TEST_F(JetStream, InterestRetentionWithoutConsumersKeepsNothing) {
    jsStreamInfo_Destroy(add_stream(js_.get(), "INT", {"int"}, js_FileStorage,
                                    [](jsStreamConfig& c) { c.Retention = js_InterestPolicy; }));
    EXPECT_EQ(publish(js_.get(), "int", "a"), 1u);
    EXPECT_EQ(publish(js_.get(), "int", "b"), 2u);
    jsStreamInfo* si = info(js_.get(), "INT");
    EXPECT_EQ(si->State.Msgs, 0u);
    EXPECT_EQ(si->State.FirstSeq, 3u);
    EXPECT_EQ(si->State.LastSeq, 2u);
    jsStreamInfo_Destroy(si);
}

TEST(JetStreamAccounts, EachAccountSeesOnlyItsOwnStreams) {
    const std::string dir = fresh_store_dir();
    const std::string conf = dir + ".conf";
    {
        std::ofstream(conf) << "jetstream { store_dir: \"" << dir << "\" }\n"
                            << "accounts {\n  A: { jetstream: enabled, users: [{user: a, password: a}] }\n"
                            << "  B: { jetstream: enabled, users: [{user: b, password: b}] }\n"
                            << "  C: { users: [{user: c, password: c}] }\n}\n";
    }
    ServerProcess srv(OSPREY_BIN, {"-c", conf});
    auto conn = [&](const char* u) {
        auto o = make_opts(srv.url());
        natsOptions_SetUserInfo(o.get(), u, u);
        return connect_with(o.get());
    };
    Conn a = conn("a"), b = conn("b"), c = conn("c");
    Js ja = jetstream(a.get()), jb = jetstream(b.get()), jc = jetstream(c.get());
    jsStreamInfo_Destroy(add_stream(ja.get(), "ONLY_A", {"same.subject"}));
    // B may use the same name and subjects: another subject space.
    jsStreamInfo_Destroy(add_stream(jb.get(), "ONLY_B", {"same.subject"}));
    jsErrCode e;
    jsStreamNamesList* names = nullptr;
    ASSERT_EQ(js_StreamNames(&names, jb.get(), nullptr, &e), NATS_OK);
    ASSERT_EQ(names->Count, 1);
    EXPECT_STREQ(names->List[0], "ONLY_B");
    jsStreamNamesList_Destroy(names);
    jsStreamInfo* si = nullptr;
    EXPECT_NE(js_GetStreamInfo(&si, jb.get(), "ONLY_A", nullptr, &e), NATS_OK);
    EXPECT_EQ(publish(ja.get(), "same.subject", "for A"), 1u);
    ASSERT_EQ(js_GetStreamInfo(&si, jb.get(), "ONLY_B", nullptr, &e), NATS_OK);
    EXPECT_EQ(si->State.Msgs, 0u);
    jsStreamInfo_Destroy(si);
    // C has no JetStream: its requests find no responders.
    jsAccountInfo* ai = nullptr;
    EXPECT_NE(js_GetAccountInfo(&ai, jc.get(), nullptr, &e), NATS_OK);
    std::filesystem::remove_all(dir);
    std::filesystem::remove(conf);
}

TEST(JetStreamAccounts, DomainPrefix) {
    const std::string dir = fresh_store_dir();
    const std::string conf = dir + ".conf";
    { std::ofstream(conf) << "jetstream { store_dir: \"" << dir << "\", domain: hub }\n"; }
    ServerProcess srv(OSPREY_BIN, {"-c", conf});
    Conn nc = connect(srv.url());
    jsCtx* raw = nullptr;
    jsOptions o;
    jsOptions_Init(&o);
    o.Domain = "hub";
    ASSERT_EQ(natsConnection_JetStream(&raw, nc.get(), &o), NATS_OK);
    Js js(raw);
    jsStreamInfo* si = add_stream(js.get(), "DOM", {"dom"});
    ASSERT_TRUE(si);
    jsStreamInfo_Destroy(si);
    jsPubAck* ack = nullptr;
    jsErrCode e;
    ASSERT_EQ(js_Publish(&ack, js.get(), "dom", "x", 1, nullptr, &e), NATS_OK);
    EXPECT_STREQ(ack->Domain, "hub");
    jsPubAck_Destroy(ack);
    jsAccountInfo* ai = nullptr;
    ASSERT_EQ(js_GetAccountInfo(&ai, js.get(), nullptr, &e), NATS_OK);
    EXPECT_STREQ(ai->Domain, "hub");
    jsAccountInfo_Destroy(ai);
    std::filesystem::remove_all(dir);
    std::filesystem::remove(conf);
}
