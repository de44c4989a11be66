// Durability of acknowledged messages: kill -9 at random moments, flipped bits, torn tails,
// damaged metadata. Nothing acknowledged is lost; nothing damaged is served.
#include <filesystem>
#include <iostream>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include "c/js_helpers.h"

using namespace osprey::testing;
namespace fs = std::filesystem;

namespace {

Conn connect_retry(const std::string& url) {
    for (int i = 0; i < 100; ++i) {
        auto o = make_opts(url);
        natsConnection* c = nullptr;
        if (natsConnection_Connect(&c, o.get()) == NATS_OK) return Conn(c);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return nullptr;
}

std::string read_file(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}
void write_file(const std::string& p, const std::string& s) {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f << s;
}

std::string stream_dir(const JsServer& s, const std::string& name) {
    return s.dir() + "/jetstream/$G/streams/" + name;
}

}  // namespace

namespace {

void kill_nine_never_loses_acknowledged(JsServer& srv) {
    {
        Conn nc = connect(srv.url());
        Js js = jetstream(nc.get());
        jsStreamInfo* si = add_stream(js.get(), "CRASH", {"crash.>"});
        ASSERT_TRUE(si);
        jsStreamInfo_Destroy(si);
    }
    std::mutex mu;
    std::map<std::uint64_t, std::string> acked;
    std::mt19937 rng(std::random_device{}());
    const int rounds = 6;
    for (int round = 0; round < rounds; ++round) {
        std::atomic<bool> stop{false};
        std::vector<std::thread> pubs;
        for (int t = 0; t < 2; ++t) {
            pubs.emplace_back([&, t] {
                Conn nc = connect_retry(srv.url());
                if (!nc) return;
                Js js = jetstream(nc.get());
                for (int i = 0; !stop && i < 100000; ++i) {
                    std::string payload = "round" + std::to_string(round) + "-t" +
                                          std::to_string(t) + "-" + std::to_string(i);
                    jsPubAck* ack = nullptr;
                    jsErrCode e;
                    jsPubOptions po;
                    jsPubOptions_Init(&po);
                    po.MaxWait = 2000;
                    if (js_Publish(&ack, js.get(), "crash.x", payload.data(),
                                   int(payload.size()), &po, &e) != NATS_OK)
                        break;
                    std::lock_guard lk(mu);
                    acked[ack->Sequence] = payload;
                    jsPubAck_Destroy(ack);
                }
            });
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 300));
        srv.kill9();
        stop = true;
        for (auto& p : pubs) p.join();
        srv.start();
    }
    ASSERT_GT(acked.size(), 20u) << "the publishers should have got acks";
    std::cout << "acknowledged before the kills: " << acked.size() << " messages\n";
    Conn nc = connect(srv.url());
    Js js = jetstream(nc.get());
    std::size_t checked = 0;
    for (auto& [seq, payload] : acked) {
        natsMsg* m = nullptr;
        jsErrCode e;
        ASSERT_EQ(js_GetMsg(&m, js.get(), "CRASH", seq, nullptr, &e), NATS_OK)
            << "acknowledged sequence " << seq << " lost";
        ASSERT_EQ(data(m), payload) << "sequence " << seq;
        natsMsg_Destroy(m);
        ++checked;
    }
    EXPECT_EQ(checked, acked.size());
}

}  // namespace

TEST(Durability, KillNineNeverLosesAcknowledgedMessages) {
    JsServer srv;
    kill_nine_never_loses_acknowledged(srv);
}

// With a lazier sync_interval the promise is narrower (a machine crash may lose the window)
// but a process crash still loses nothing acknowledged: records reach the kernel first.
TEST(Durability, KillNineWithLazySyncLosesNothingAcknowledged) {
    const std::string conf = fresh_store_dir() + ".conf";
    { std::ofstream(conf) << "jetstream { sync_interval: \"2m\" }\n"; }
    JsServer srv({"-c", conf});
    kill_nine_never_loses_acknowledged(srv);
    fs::remove(conf);
}

TEST(Durability, DamagedRecordsAreSkippedAndTornTailCut) {
    JsServer srv;
    const int n = 200;
    {
        Conn nc = connect(srv.url());
        Js js = jetstream(nc.get());
        jsStreamInfo_Destroy(add_stream(js.get(), "BITS", {"bits"}));
        for (int i = 1; i <= n; ++i) {
            std::string p = "payload-" + std::to_string(i) + std::string(40, 'x');
            jsPubAck* ack = nullptr;
            jsErrCode e;
            ASSERT_EQ(js_Publish(&ack, js.get(), "bits", p.data(), int(p.size()), nullptr, &e),
                      NATS_OK);
            jsPubAck_Destroy(ack);
        }
    }
    ASSERT_EQ(srv.term(), 0);
    const std::string seg = stream_dir(srv, "BITS") + "/msgs/0000000001.seg";
    std::string bytes = read_file(seg);
    std::vector<std::size_t> starts;
    for (std::size_t p = bytes.find("OSPR"); p != std::string::npos; p = bytes.find("OSPR", p + 1))
        starts.push_back(p);
    ASSERT_EQ(starts.size(), std::size_t(n));
    bytes[starts[9] + 45] ^= 0x10;  // a bit in the 10th message's payload
    bytes[starts[49] + 5] ^= 0x7f;  // the length field of the 50th
    bytes.resize(starts[n - 1] + 20);  // the last record torn
    write_file(seg, bytes);

    srv.start();
    Conn nc = connect(srv.url());
    Js js = jetstream(nc.get());
    jsStreamInfo* si = nullptr;
    jsErrCode e;
    ASSERT_EQ(js_GetStreamInfo(&si, js.get(), "BITS", nullptr, &e), NATS_OK);
    EXPECT_EQ(si->State.Msgs, std::uint64_t(n - 3));
    EXPECT_EQ(si->State.LastSeq, std::uint64_t(n - 1));
    jsStreamInfo_Destroy(si);
    for (int i = 1; i < n; ++i) {
        natsMsg* m = nullptr;
        natsStatus st = js_GetMsg(&m, js.get(), "BITS", std::uint64_t(i), nullptr, &e);
        if (i == 10 || i == 50) {
            EXPECT_NE(st, NATS_OK) << "damaged sequence " << i << " was served";
        } else {
            ASSERT_EQ(st, NATS_OK) << i;
            EXPECT_EQ(data(m), "payload-" + std::to_string(i) + std::string(40, 'x'));
        }
        natsMsg_Destroy(m);
    }
    const std::string log = srv.proc().log();
    EXPECT_NE(log.find("damaged record"), std::string::npos) << log;
    EXPECT_NE(log.find("cut"), std::string::npos) << log;
    const std::string jsz = http_get(srv.proc().http_port(), "/jsz?streams=1");
    EXPECT_NE(jsz.find("\"damaged_records\": 2"), std::string::npos) << jsz;
    EXPECT_NE(jsz.find("\"truncated_bytes\""), std::string::npos) << jsz;
    jsPubAck* ack = nullptr;
    ASSERT_EQ(js_Publish(&ack, js.get(), "bits", "new", 3, nullptr, &e), NATS_OK);
    EXPECT_EQ(ack->Sequence, std::uint64_t(n));
    jsPubAck_Destroy(ack);
}

namespace {

// The account's stream configuration log (one segment for a few streams).
std::string stream_config_segment(const JsServer& s) {
    std::vector<fs::path> segs;
    for (auto& e : fs::directory_iterator(s.dir() + "/jetstream/$G/stream_configs/msgs"))
        if (e.path().extension() == ".seg") segs.push_back(e.path());
    std::sort(segs.begin(), segs.end());
    return segs.empty() ? std::string() : segs.back().string();
}

// Flips a byte inside the `which`-th from last occurrence of `key` (0: the last).
bool flip_in(std::string& bytes, const std::string& key, int which) {
    std::size_t at = std::string::npos;
    for (int i = 0; i <= which; ++i) {
        at = bytes.rfind(key, at == std::string::npos ? std::string::npos : at - 1);
        if (at == std::string::npos) return false;
    }
    bytes[at + key.size() - 1] ^= 0x01;
    return true;
}

}  // namespace

TEST(Durability, DamagedMetadataDoesNotLoseTheStream) {
    JsServer srv;
    {
        Conn nc = connect(srv.url());
        Js js = jetstream(nc.get());
        jsStreamInfo_Destroy(add_stream(js.get(), "META", {"meta.>"}, js_FileStorage,
                                        [](jsStreamConfig& c) { c.MaxMsgs = 1000; }));
        for (int i = 0; i < 10; ++i) {
            jsPubAck* ack = nullptr;
            jsErrCode e;
            js_Publish(&ack, js.get(), "meta.a", "m", 1, nullptr, &e);
            jsPubAck_Destroy(ack);
        }
    }
    auto check = [&](bool config_kept) {
        Conn nc = connect(srv.url());
        Js js = jetstream(nc.get());
        jsStreamInfo* si = nullptr;
        jsErrCode e;
        ASSERT_EQ(js_GetStreamInfo(&si, js.get(), "META", nullptr, &e), NATS_OK);
        EXPECT_EQ(si->State.Msgs, 10u);
        if (config_kept) {
            EXPECT_EQ(si->Config->MaxMsgs, 1000);
        }
        jsStreamInfo_Destroy(si);
    };
    ASSERT_EQ(srv.term(), 0);
    const std::string seg = stream_config_segment(srv);
    ASSERT_FALSE(seg.empty());
    const std::string pristine = read_file(seg);
    // One copy of the record damaged (either one): the other carries the configuration.
    for (int which : {0, 1}) {
        std::string bad = pristine;
        ASSERT_TRUE(flip_in(bad, "\"max_msgs\":1000", which));
        write_file(seg, bad);
        srv.start();
        check(true);
        ASSERT_EQ(srv.term(), 0);
        write_file(seg, pristine);
    }
    // Both copies damaged: the messages stay, under a default configuration.
    std::string bad = pristine;
    ASSERT_TRUE(flip_in(bad, "\"max_msgs\":1000", 0));
    ASSERT_TRUE(flip_in(bad, "\"max_msgs\":1000", 0));  // the other copy is the last one now
    write_file(seg, bad);
    srv.start();
    check(false);
    EXPECT_NE(srv.proc().log().find("metadata unreadable"), std::string::npos);
}

// Streams as a client sees them across kill -9: a confirmed create, update and delete hold;
// a stream an older osprey wrote (meta.json in its directory) is read and moved into the log.
TEST(Durability, StreamConfigurationsSurviveKillNine) {
    JsServer srv;
    {
        Conn nc = connect(srv.url());
        Js js = jetstream(nc.get());
        for (int i = 0; i < 12; ++i) {
            const std::string name = "S" + std::to_string(i), subj = "s" + std::to_string(i) + ".>";
            jsStreamInfo* si = add_stream(js.get(), name.c_str(), {subj.c_str()});
            ASSERT_TRUE(si) << name;
            jsStreamInfo_Destroy(si);
        }
        jsErrCode e;
        for (int i = 0; i < 12; i += 3) ASSERT_EQ(js_DeleteStream(js.get(), ("S" + std::to_string(i)).c_str(), nullptr, &e), NATS_OK);
        jsStreamConfig cfg;
        jsStreamConfig_Init(&cfg);
        cfg.Name = "S1";
        const char* subjects[] = {"s1.>"};
        cfg.Subjects = subjects;
        cfg.SubjectsLen = 1;
        cfg.MaxMsgs = 77;
        jsStreamInfo* si = nullptr;
        ASSERT_EQ(js_UpdateStream(&si, js.get(), &cfg, nullptr, &e), NATS_OK);
        jsStreamInfo_Destroy(si);
    }
    auto names = [&] {
        Conn nc = connect_retry(srv.url());
        Js js = jetstream(nc.get());
        jsStreamNamesList* list = nullptr;
        jsErrCode e;
        std::vector<std::string> out;
        if (js_StreamNames(&list, js.get(), nullptr, &e) == NATS_OK && list) {
            for (int i = 0; i < list->Count; ++i) out.emplace_back(list->List[i]);
            jsStreamNamesList_Destroy(list);
        }
        std::sort(out.begin(), out.end());
        return out;
    };
    std::vector<std::string> want;
    for (int i = 0; i < 12; ++i)
        if (i % 3 != 0) want.push_back("S" + std::to_string(i));
    std::sort(want.begin(), want.end());
    srv.kill9();
    srv.start();
    EXPECT_EQ(names(), want) << "after kill -9";
    {
        Conn nc = connect(srv.url());
        Js js = jetstream(nc.get());
        jsStreamInfo* si = nullptr;
        jsErrCode e;
        ASSERT_EQ(js_GetStreamInfo(&si, js.get(), "S1", nullptr, &e), NATS_OK);
        EXPECT_EQ(si->Config->MaxMsgs, 77);
        jsStreamInfo_Destroy(si);
        // A deleted name can be created again, empty.
        jsStreamInfo_Destroy(add_stream(js.get(), "S0", {"s0.>"}));
        ASSERT_EQ(js_GetStreamInfo(&si, js.get(), "S0", nullptr, &e), NATS_OK);
        EXPECT_EQ(si->State.Msgs, 0u);
        jsStreamInfo_Destroy(si);
    }
    want.push_back("S0");
    std::sort(want.begin(), want.end());
    // A stream in the older layout.
    ASSERT_EQ(srv.term(), 0);
    const std::string legacy = stream_dir(srv, "OLD");
    fs::create_directories(legacy);
    const std::string meta = R"({"config":{"name":"OLD","subjects":["old.>"],"retention":"limits","max_consumers":-1,)"
                             R"("max_msgs":-1,"max_bytes":-1,"max_age":0,"max_msgs_per_subject":-1,"max_msg_size":-1,)"
                             R"("discard":"old","storage":"file","num_replicas":1,"duplicate_window":120000000000},)"
                             R"("created_ns":1700000000000000000})";
    write_file(legacy + "/meta.json", meta);
    write_file(legacy + "/meta.json.bak", meta);
    srv.start();
    want.push_back("OLD");
    std::sort(want.begin(), want.end());
    EXPECT_EQ(names(), want) << "the older layout";
    ASSERT_EQ(srv.term(), 0);
    EXPECT_FALSE(fs::exists(legacy + "/meta.json")) << "moved into the log";
    srv.start();
    EXPECT_EQ(names(), want) << "after the move";
    // A delete cut short by a crash (its directory renamed, the record still there): finished.
    ASSERT_EQ(srv.term(), 0);
    fs::rename(stream_dir(srv, "S2"), srv.dir() + "/jetstream/$G/streams/.deleted-S2.1");
    srv.start();
    std::erase(want, "S2");
    EXPECT_EQ(names(), want) << "an interrupted delete";
    EXPECT_FALSE(fs::exists(srv.dir() + "/jetstream/$G/streams/.deleted-S2.1"));
}

// A durable pull consumer acknowledged with AckSync while the server is killed -9 at random
// moments: a confirmed ack is never undone (the message never comes back), and in the end
// every message was delivered at least once.
TEST(Durability, KillNineKeepsEveryConfirmedConsumerAck) {
    JsServer srv;
    const int kMessages = 6000;  // more than the rounds can ack: kills land mid-stream
    {
        Conn nc = connect(srv.url());
        Js js = jetstream(nc.get());
        jsStreamInfo_Destroy(add_stream(js.get(), "ACKS", {"acks"}));
        for (int i = 0; i < kMessages; ++i) {
            const std::string p = std::to_string(i);
            ASSERT_EQ(js_PublishAsync(js.get(), "acks", p.data(), int(p.size()), nullptr), NATS_OK);
        }
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = 10000;
        ASSERT_EQ(js_PublishAsyncComplete(js.get(), &po), NATS_OK);
        jsConsumerConfig cc;
        jsConsumerConfig_Init(&cc);
        cc.Durable = "k";
        cc.AckPolicy = js_AckExplicit;
        cc.AckWait = 500LL * 1000 * 1000;
        jsConsumerInfo* ci = nullptr;
        jsErrCode e;
        ASSERT_EQ(js_AddConsumer(&ci, js.get(), "ACKS", &cc, nullptr, &e), NATS_OK);
        jsConsumerInfo_Destroy(ci);
    }
    std::mt19937 rng(std::random_device{}());
    std::mutex mu;
    std::set<std::uint64_t> confirmed;
    std::vector<std::uint64_t> came_back;  // confirmed, then delivered again: must stay empty
    auto consume = [&](std::atomic<bool>& stop) {
        Conn nc = connect_retry(srv.url());
        if (!nc) return;
        Js js = jetstream(nc.get());
        natsSubscription* raw = nullptr;
        jsErrCode e;
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Stream = "ACKS";
        so.Consumer = "k";  // bind to the existing durable
        if (js_PullSubscribe(&raw, js.get(), "acks", "k", nullptr, &so, &e) != NATS_OK) return;
        Sub sub(raw);
        while (!stop) {
            natsMsgList list{};
            natsSubscription_Fetch(&list, sub.get(), 20, 300, &e);  // timeouts are normal
            for (int i = 0; i < list.Count; ++i) {
                jsMsgMetaData* md = nullptr;
                if (natsMsg_GetMetaData(&md, list.Msgs[i]) != NATS_OK) continue;
                const std::uint64_t seq = md->Sequence.Stream;
                jsMsgMetaData_Destroy(md);
                {
                    std::lock_guard lk(mu);
                    if (confirmed.count(seq)) came_back.push_back(seq);
                }
                if (natsMsg_AckSync(list.Msgs[i], nullptr, nullptr) == NATS_OK) {
                    std::lock_guard lk(mu);
                    confirmed.insert(seq);
                }
            }
            const bool empty = list.Count == 0;
            natsMsgList_Destroy(&list);
            if (empty && stop) break;
        }
    };
    for (int round = 0; round < 4; ++round) {
        std::atomic<bool> stop{false};
        std::thread t([&] { consume(stop); });
        std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 250));
        srv.kill9();
        stop = true;
        t.join();
        srv.start();
    }
    // Drain what is left (unacked deliveries come back after ack_wait).
    {
        std::atomic<bool> stop{false};
        std::thread t([&] { consume(stop); });
        // Done when the consumer has nothing left: all acknowledged. (An ack can be durable
        // while its confirmation was lost to a kill: then it is acknowledged, not confirmed.)
        Conn nc = connect(srv.url());
        Js js = jetstream(nc.get());
        std::string state;
        auto all_acked = [&] {
            jsConsumerInfo* ci = nullptr;
            jsErrCode e;
            if (js_GetConsumerInfo(&ci, js.get(), "ACKS", "k", nullptr, &e) != NATS_OK) return false;
            const bool done = ci->NumPending == 0 && ci->NumAckPending == 0 &&
                              ci->AckFloor.Stream == std::uint64_t(kMessages);
            state = "pending " + std::to_string(ci->NumPending) + ", ack pending " +
                    std::to_string(ci->NumAckPending) + ", ack floor " +
                    std::to_string(ci->AckFloor.Stream) + ", delivered " +
                    std::to_string(ci->Delivered.Stream) + ", redelivered " +
                    std::to_string(ci->NumRedelivered);
            jsConsumerInfo_Destroy(ci);
            return done;
        };
        // Bounded: under a sanitizer on a loaded machine every AckSync waits for a sync.
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(45);
        while (!all_acked() && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        stop = true;
        t.join();
        EXPECT_TRUE(all_acked()) << state << "\n" << srv.proc().log().substr(0, 3000);
    }
    EXPECT_TRUE(came_back.empty()) << came_back.size() << " confirmed acks were undone, first seq "
                                   << (came_back.empty() ? 0 : came_back.front());
    EXPECT_GT(confirmed.size(), std::size_t(kMessages * 9 / 10));
    std::cout << "confirmed acks across 4 kills: " << confirmed.size() << "\n";
}

namespace {

std::vector<std::string> consumer_names(const JsServer& srv, const std::string& stream) {
    Conn nc = connect_retry(srv.url());
    Js js = jetstream(nc.get());
    jsConsumerNamesList* list = nullptr;
    jsErrCode e;
    std::vector<std::string> out;
    if (js_ConsumerNames(&list, js.get(), stream.c_str(), nullptr, &e) == NATS_OK && list) {
        for (int i = 0; i < list->Count; ++i) out.emplace_back(list->List[i]);
        jsConsumerNamesList_Destroy(list);
    }
    std::sort(out.begin(), out.end());
    return out;
}

jsConsumerInfo* consumer_info(const JsServer& srv, const std::string& stream, const std::string& name) {
    Conn nc = connect_retry(srv.url());
    Js js = jetstream(nc.get());
    jsConsumerInfo* ci = nullptr;
    jsErrCode e;
    js_GetConsumerInfo(&ci, js.get(), stream.c_str(), name.c_str(), nullptr, &e);
    return ci;
}

}  // namespace

// A durable consumer's configuration is one record (twice) in its stream's configuration
// log: a confirmed create survives kill -9 at once, a confirmed delete never comes back, an
// update keeps its new value, a flipped byte in either copy loses nothing, and consumers
// written by an older osprey (meta.json in their directory) are read and moved into the log.
TEST(Durability, ConsumerConfigurationsSurviveKillNineAndAFlippedByte) {
    JsServer srv;
    {
        Conn nc = connect(srv.url());
        Js js = jetstream(nc.get());
        jsStreamInfo_Destroy(add_stream(js.get(), "CFG", {"cfg.>"}));
        for (int i = 0; i < 20; ++i) {
            jsConsumerConfig cc;
            jsConsumerConfig_Init(&cc);
            const std::string name = "d" + std::to_string(i), filter = "cfg." + std::to_string(i);
            cc.Durable = name.c_str();
            cc.FilterSubject = filter.c_str();
            cc.AckPolicy = js_AckExplicit;
            jsConsumerInfo* ci = nullptr;
            jsErrCode e;
            ASSERT_EQ(js_AddConsumer(&ci, js.get(), "CFG", &cc, nullptr, &e), NATS_OK) << name;
            jsConsumerInfo_Destroy(ci);
        }
        jsErrCode e;
        for (int i = 0; i < 20; i += 4) ASSERT_EQ(js_DeleteConsumer(js.get(), "CFG", ("d" + std::to_string(i)).c_str(), nullptr, &e), NATS_OK);
        // An update: the new description must be what comes back.
        jsConsumerConfig cc;
        jsConsumerConfig_Init(&cc);
        cc.Durable = "d1";
        cc.FilterSubject = "cfg.1";
        cc.AckPolicy = js_AckExplicit;
        cc.Description = "updated";
        jsConsumerInfo* ci = nullptr;
        ASSERT_EQ(js_UpdateConsumer(&ci, js.get(), "CFG", &cc, nullptr, &e), NATS_OK);
        jsConsumerInfo_Destroy(ci);
    }
    std::vector<std::string> want;
    for (int i = 0; i < 20; ++i)
        if (i % 4 != 0) want.push_back("d" + std::to_string(i));
    std::sort(want.begin(), want.end());
    srv.kill9();
    srv.start();
    EXPECT_EQ(consumer_names(srv, "CFG"), want) << "after kill -9";
    if (jsConsumerInfo* ci = consumer_info(srv, "CFG", "d1")) {
        EXPECT_STREQ(ci->Config->Description, "updated");
        EXPECT_STREQ(ci->Config->FilterSubject, "cfg.1");
        jsConsumerInfo_Destroy(ci);
    } else {
        ADD_FAILURE() << "d1 lost";
    }

    // Flip one byte inside each consumer's newest record in turn (first copy, then second):
    // every consumer is still there, with its own filter.
    ASSERT_EQ(srv.term(), 0);
    const std::string seg_dir = stream_dir(srv, "CFG") + "/consumer_configs/msgs";
    std::vector<fs::path> segs;
    for (auto& e : fs::directory_iterator(seg_dir))
        if (e.path().extension() == ".seg") segs.push_back(e.path());
    ASSERT_FALSE(segs.empty());
    std::sort(segs.begin(), segs.end());
    const std::string pristine = read_file(segs.back().string());
    for (int copy = 0; copy < 2; ++copy) {
        std::string bad = pristine;
        std::size_t at = 0;
        int flipped = 0;
        for (const auto& name : want) {
            // The copies of a name's newest record: its last two occurrences of the filter.
            const std::string key = "\"filter_subject\":\"cfg." + name.substr(1) + "\"";
            std::size_t last = pristine.rfind(key), prev = last == std::string::npos ? last : pristine.rfind(key, last - 1);
            at = copy == 0 ? prev : last;
            if (at == std::string::npos) continue;
            bad[at + key.size() - 3] ^= 0x01;  // inside the filter's value
            ++flipped;
        }
        ASSERT_EQ(flipped, int(want.size()));
        write_file(segs.back().string(), bad);
        srv.start();
        EXPECT_EQ(consumer_names(srv, "CFG"), want) << "copy " << copy << " damaged";
        for (const auto& name : want) {
            jsConsumerInfo* ci = consumer_info(srv, "CFG", name);
            ASSERT_TRUE(ci) << name;
            EXPECT_EQ(std::string(ci->Config->FilterSubject), "cfg." + name.substr(1)) << "copy " << copy;
            jsConsumerInfo_Destroy(ci);
        }
        ASSERT_EQ(srv.term(), 0);
        // The load rewrote nothing it did not have to: put the pristine log back.
        for (auto& e : fs::directory_iterator(seg_dir)) fs::remove(e.path());
        write_file(segs.back().string(), pristine);
    }

    // A consumer as an older osprey wrote it: meta.json (and its backup) in its directory.
    const std::string legacy = stream_dir(srv, "CFG") + "/consumers/old";
    fs::create_directories(legacy);
    const std::string meta = R"({"config":{"durable_name":"old","deliver_policy":"all","ack_policy":"explicit",)"
                             R"("ack_wait":30000000000,"max_deliver":-1,"filter_subject":"cfg.old","replay_policy":"instant",)"
                             R"("max_ack_pending":1000},"created_ns":1700000000000000000})";
    write_file(legacy + "/meta.json", meta);
    write_file(legacy + "/meta.json.bak", meta);
    srv.start();
    want.push_back("old");
    std::sort(want.begin(), want.end());
    EXPECT_EQ(consumer_names(srv, "CFG"), want) << "the older layout";
    ASSERT_EQ(srv.term(), 0);
    EXPECT_FALSE(fs::exists(legacy + "/meta.json")) << "moved into the log";
    srv.start();
    EXPECT_EQ(consumer_names(srv, "CFG"), want) << "after the move";
    if (jsConsumerInfo* ci = consumer_info(srv, "CFG", "old")) {
        EXPECT_STREQ(ci->Config->FilterSubject, "cfg.old");
        jsConsumerInfo_Destroy(ci);
    }
    // A delete cut short (its directory renamed, its record not yet erased): finished at start.
    ASSERT_EQ(srv.term(), 0);
    const std::string consumers = stream_dir(srv, "CFG") + "/consumers/";
    fs::rename(consumers + "d2", consumers + ".deleted-d2.7");
    srv.start();
    std::erase(want, "d2");
    EXPECT_EQ(consumer_names(srv, "CFG"), want) << "an interrupted delete";
    EXPECT_FALSE(fs::exists(consumers + ".deleted-d2.7"));
}

// A delete and a create of the same durable name in flight together (pipelined requests): the
// delete's files go once its erasure is durable, which can be after the new consumer made its
// ack log; the new consumer's confirmed acks must survive a restart (they went into a
// removed directory before the delete renamed its own out of the way).
TEST(Durability, ADeleteAndACreateOfOneNameInFlightKeepTheNewConsumersAcks) {
    JsServer srv;
    Conn nc = connect(srv.url());
    Js js = jetstream(nc.get());
    jsStreamInfo_Destroy(add_stream(js.get(), "RE", {"re"}));
    const std::string create = R"({"stream_name":"RE","config":{"durable_name":"C","ack_policy":"explicit"}})";
    for (int round = 0; round < 5; ++round) {
        natsSubscription* raw = nullptr;
        ASSERT_EQ(natsConnection_SubscribeSync(&raw, nc.get(), "re.replies"), NATS_OK);
        Sub replies(raw);
        ASSERT_EQ(natsConnection_PublishRequestString(nc.get(), "$JS.API.CONSUMER.DURABLE.CREATE.RE.C", "re.replies",
                                                      create.c_str()), NATS_OK);
        ASSERT_TRUE(next(replies.get(), 5000)) << "create";
        // The delete and the new create back to back, without waiting in between.
        ASSERT_EQ(natsConnection_PublishRequestString(nc.get(), "$JS.API.CONSUMER.DELETE.RE.C", "re.replies", ""), NATS_OK);
        ASSERT_EQ(natsConnection_PublishRequestString(nc.get(), "$JS.API.CONSUMER.DURABLE.CREATE.RE.C", "re.replies",
                                                      create.c_str()), NATS_OK);
        for (int i = 0; i < 2; ++i) ASSERT_TRUE(next(replies.get(), 5000)) << "delete / create " << i;
        jsPubAck* ack = nullptr;
        jsErrCode e;
        ASSERT_EQ(js_Publish(&ack, js.get(), "re", "m", 1, nullptr, &e), NATS_OK);
        const std::uint64_t seq = ack->Sequence;
        jsPubAck_Destroy(ack);
        natsSubscription* ps = nullptr;
        ASSERT_EQ(js_PullSubscribe(&ps, js.get(), "re", "C", nullptr, nullptr, &e), NATS_OK);
        Sub pull(ps);
        // A new consumer (deliver all) gets every message stored so far: seq 1 .. seq.
        for (std::uint64_t got = 0; got < seq;) {
            natsMsgList list{};
            ASSERT_EQ(natsSubscription_Fetch(&list, pull.get(), int(seq - got), 5000, &e), NATS_OK);
            for (int i = 0; i < list.Count; ++i) ASSERT_EQ(natsMsg_AckSync(list.Msgs[i], nullptr, &e), NATS_OK);
            got += std::uint64_t(list.Count);
            natsMsgList_Destroy(&list);
        }
        pull.reset();
        // Give a late removal of the deleted consumer's files its chance, then restart.
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        srv.kill9();
        srv.start();
        js.reset();
        nc = connect(srv.url());
        js = jetstream(nc.get());
        jsConsumerInfo* ci = nullptr;
        ASSERT_EQ(js_GetConsumerInfo(&ci, js.get(), "RE", "C", nullptr, &e), NATS_OK);
        EXPECT_EQ(ci->AckFloor.Stream, seq) << "round " << round << ": the confirmed ack was lost";
        EXPECT_EQ(ci->NumAckPending, 0) << "round " << round;
        jsConsumerInfo_Destroy(ci);
        ASSERT_EQ(js_DeleteConsumer(js.get(), "RE", "C", nullptr, &e), NATS_OK);
    }
}

namespace {

jsConsumerInfo* must_info(const JsServer& srv, const std::string& stream, const std::string& name) {
    for (int i = 0; i < 50; ++i) {
        if (jsConsumerInfo* ci = consumer_info(srv, stream, name)) return ci;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return nullptr;
}

void make_pull_durable(jsCtx* js, const char* stream, const char* name) {
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = name;
    cc.AckPolicy = js_AckExplicit;
    jsConsumerInfo* ci = nullptr;
    jsErrCode e;
    ASSERT_EQ(js_AddConsumer(&ci, js, stream, &cc, nullptr, &e), NATS_OK) << e;
    jsConsumerInfo_Destroy(ci);
}

}  // namespace

// A durable consumer's state snapshot is a record of its stream's consumer state log (one
// fdatasync per second for all that moved, written off the API's way), not a state.json each:
// the snapshot brings the state back after a restart; a record left by a deleted consumer of
// the same name (an erasure lost) is never taken by the new one; a state.json written by an
// older osprey is read and moved into the log.
TEST(Durability, ConsumerStatesAreLogRecordsThatANewConsumerOfTheNameNeverTakes) {
    JsServer srv;
    const std::string sdir = stream_dir(srv, "ST");
    {
        Conn nc = connect(srv.url());
        Js js = jetstream(nc.get());
        jsStreamInfo_Destroy(add_stream(js.get(), "ST", {"st"}));
        jsErrCode e;
        for (int i = 0; i < 10; ++i) {
            jsPubAck* pa = nullptr;
            ASSERT_EQ(js_Publish(&pa, js.get(), "st", "m", 1, nullptr, &e), NATS_OK);
            jsPubAck_Destroy(pa);
        }
        make_pull_durable(js.get(), "ST", "A");
        natsSubscription* ps = nullptr;
        ASSERT_EQ(js_PullSubscribe(&ps, js.get(), "st", "A", nullptr, nullptr, &e), NATS_OK);
        Sub pull(ps);
        natsMsgList list{};
        ASSERT_EQ(natsSubscription_Fetch(&list, pull.get(), 10, 5000, &e), NATS_OK);
        ASSERT_EQ(list.Count, 10);
        for (int i = 0; i < 6; ++i) ASSERT_EQ(natsMsg_AckSync(list.Msgs[i], nullptr, &e), NATS_OK);
        natsMsgList_Destroy(&list);
        // Past the once-a-second snapshot, so that the ack log is trimmed by a record.
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    }
    ASSERT_EQ(srv.term(), 0);
    EXPECT_TRUE(fs::exists(sdir + "/consumer_states")) << "the snapshot is a log record";
    EXPECT_FALSE(fs::exists(sdir + "/consumers/A/state.json"));
    srv.start();
    if (jsConsumerInfo* ci = must_info(srv, "ST", "A")) {
        EXPECT_EQ(ci->AckFloor.Stream, 6u);
        EXPECT_EQ(ci->NumAckPending, 4);
        jsConsumerInfo_Destroy(ci);
    } else {
        ADD_FAILURE() << "A lost";
    }
    ASSERT_EQ(srv.term(), 0);
    const std::string saved = srv.dir() + "/saved_states";
    fs::copy(sdir + "/consumer_states", saved, fs::copy_options::recursive);

    // A deleted, made again; then the old record comes back as if its erasure were lost.
    srv.start();
    {
        Conn nc = connect_retry(srv.url());
        Js js = jetstream(nc.get());
        jsErrCode e;
        ASSERT_EQ(js_DeleteConsumer(js.get(), "ST", "A", nullptr, &e), NATS_OK);
        make_pull_durable(js.get(), "ST", "A");
    }
    ASSERT_EQ(srv.term(), 0);
    fs::remove_all(sdir + "/consumer_states");
    fs::copy(saved, sdir + "/consumer_states", fs::copy_options::recursive);
    srv.start();
    if (jsConsumerInfo* ci = must_info(srv, "ST", "A")) {
        EXPECT_EQ(ci->AckFloor.Stream, 0u) << "the new A took the deleted A's state";
        EXPECT_EQ(ci->NumPending, 10u);
        EXPECT_EQ(ci->NumAckPending, 0);
        jsConsumerInfo_Destroy(ci);
    } else {
        ADD_FAILURE() << "the new A lost";
    }

    // The older layout: state.json in the consumer's directory, no state log.
    ASSERT_EQ(srv.term(), 0);
    fs::remove_all(sdir + "/consumer_states");
    write_file(sdir + "/consumers/A/state.json",
               R"({"next_sseq":4,"dseq":3,"delivered_sseq":3,"floor_cseq":3,"floor_sseq":3,)"
               R"("pending":[],"acked_ahead":[],"log_seq":0})");
    for (int round = 0; round < 2; ++round) {
        srv.start();
        if (jsConsumerInfo* ci = must_info(srv, "ST", "A")) {
            EXPECT_EQ(ci->AckFloor.Stream, 3u) << "round " << round;
            EXPECT_EQ(ci->NumPending, 7u) << "round " << round;
            jsConsumerInfo_Destroy(ci);
        } else {
            ADD_FAILURE() << "A lost, round " << round;
        }
        ASSERT_EQ(srv.term(), 0);
        EXPECT_FALSE(fs::exists(sdir + "/consumers/A/state.json")) << "moved into the log";
    }
}

// A "deliver new" consumer killed before its first state snapshot: after the restart it starts
// where it was made (kept with its configuration), not at the stream's end as its policy would
// place it now. Before, the acks replayed from its log moved the ack floor past the messages it
// had been given and not acknowledged, and those were never delivered again.
TEST(Durability, KillNineBeforeTheFirstSnapshotLosesNoUnacknowledgedMessage) {
    JsServer srv;
    {
        Conn nc = connect(srv.url());
        Js js = jetstream(nc.get());
        jsStreamInfo_Destroy(add_stream(js.get(), "NEWC", {"newc"}));
        jsErrCode e;
        jsConsumerConfig cc;
        jsConsumerConfig_Init(&cc);
        cc.Durable = "N";
        cc.AckPolicy = js_AckExplicit;
        cc.DeliverPolicy = js_DeliverNew;
        jsConsumerInfo* ci = nullptr;
        ASSERT_EQ(js_AddConsumer(&ci, js.get(), "NEWC", &cc, nullptr, &e), NATS_OK) << e;
        jsConsumerInfo_Destroy(ci);
        for (int i = 0; i < 6; ++i) {
            jsPubAck* pa = nullptr;
            ASSERT_EQ(js_Publish(&pa, js.get(), "newc", "m", 1, nullptr, &e), NATS_OK);
            jsPubAck_Destroy(pa);
        }
        natsSubscription* ps = nullptr;
        ASSERT_EQ(js_PullSubscribe(&ps, js.get(), "newc", "N", nullptr, nullptr, &e), NATS_OK);
        Sub pull(ps);
        natsMsgList list{};
        ASSERT_EQ(natsSubscription_Fetch(&list, pull.get(), 6, 5000, &e), NATS_OK);
        ASSERT_EQ(list.Count, 6);
        for (int i = 0; i < 6; i += 2) ASSERT_EQ(natsMsg_AckSync(list.Msgs[i], nullptr, &e), NATS_OK);  // 1, 3, 5
        natsMsgList_Destroy(&list);
    }
    srv.kill9();  // at once: no snapshot yet, only the ack log
    srv.start();
    Conn nc = connect_retry(srv.url());
    Js js = jetstream(nc.get());
    jsErrCode e;
    natsSubscription* ps = nullptr;
    ASSERT_EQ(js_PullSubscribe(&ps, js.get(), "newc", "N", nullptr, nullptr, &e), NATS_OK);
    Sub pull(ps);
    std::vector<std::uint64_t> again;
    natsMsgList list{};
    if (natsSubscription_Fetch(&list, pull.get(), 6, 3000, &e) == NATS_OK) {
        for (int i = 0; i < list.Count; ++i) {
            jsMsgMetaData* md = nullptr;
            if (natsMsg_GetMetaData(&md, list.Msgs[i]) == NATS_OK) {
                again.push_back(md->Sequence.Stream);
                jsMsgMetaData_Destroy(md);
            }
        }
        natsMsgList_Destroy(&list);
    }
    EXPECT_EQ(again, (std::vector<std::uint64_t>{2, 4, 6})) << "the unacknowledged ones, and only those";
}
