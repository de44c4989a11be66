// Key-value buckets through nats.c's kvStore API (a client-side view over a stream): every
// test runs against nats-server 2.9.10 (the reference) and osprey.
#include <set>
#include <thread>

#include "c/js_helpers.h"

using namespace osprey::testing;

namespace {

struct KvDeleter {
    void operator()(kvStore* kv) const { kvStore_Destroy(kv); }
};
using Kv = std::unique_ptr<kvStore, KvDeleter>;
struct EntryDeleter {
    void operator()(kvEntry* e) const { kvEntry_Destroy(e); }
};
using Entry = std::unique_ptr<kvEntry, EntryDeleter>;
struct WatcherDeleter {
    void operator()(kvWatcher* w) const { kvWatcher_Destroy(w); }
};
using Watcher = std::unique_ptr<kvWatcher, WatcherDeleter>;

Kv bucket(jsCtx* js, const char* name, std::uint8_t history = 1, std::int64_t ttl_ns = 0) {
    kvConfig cfg;
    kvConfig_Init(&cfg);
    cfg.Bucket = name;
    cfg.History = history;
    cfg.TTL = ttl_ns;
    kvStore* kv = nullptr;
    EXPECT_EQ(js_CreateKeyValue(&kv, js, &cfg), NATS_OK) << nats_GetLastError(nullptr);
    return Kv(kv);
}

// The value of `key`, or "<status>" when there is none.
std::string get(kvStore* kv, const char* key, std::uint64_t* rev = nullptr) {
    kvEntry* e = nullptr;
    natsStatus s = kvStore_Get(&e, kv, key);
    if (s != NATS_OK) return std::string("<") + natsStatus_GetText(s) + ">";
    Entry entry(e);
    if (rev) *rev = kvEntry_Revision(e);
    return std::string(static_cast<const char*>(kvEntry_Value(e)), std::size_t(kvEntry_ValueLen(e)));
}

std::uint64_t put(kvStore* kv, const char* key, const char* value) {
    std::uint64_t rev = 0;
    EXPECT_EQ(kvStore_PutString(&rev, kv, key, value), NATS_OK);
    return rev;
}

}  // namespace

TEST(KeyValue, PutGetCreateUpdateDeletePurge) {
    for (const auto& bin : servers_to_compare()) {
        SCOPED_TRACE(bin);
        JsServer srv({}, bin);
        Conn nc = connect(srv.url());
        Js js = jetstream(nc.get());
        Kv kv = bucket(js.get(), "CFG", 5);
        ASSERT_TRUE(kv);
        EXPECT_EQ(put(kv.get(), "color", "red"), 1u);
        EXPECT_EQ(put(kv.get(), "color", "blue"), 2u);
        std::uint64_t rev = 0;
        EXPECT_EQ(get(kv.get(), "color", &rev), "blue");
        EXPECT_EQ(rev, 2u);
        // Create fails on an existing key; update needs the current revision.
        std::uint64_t r = 0;
        EXPECT_NE(kvStore_CreateString(&r, kv.get(), "color", "green"), NATS_OK);
        EXPECT_NE(kvStore_UpdateString(&r, kv.get(), "color", "green", 1), NATS_OK);
        EXPECT_EQ(kvStore_UpdateString(&r, kv.get(), "color", "green", 2), NATS_OK);
        EXPECT_EQ(r, 3u);
        // An older revision stays readable while history keeps it.
        kvEntry* e = nullptr;
        ASSERT_EQ(kvStore_GetRevision(&e, kv.get(), "color", 1), NATS_OK);
        EXPECT_STREQ(kvEntry_ValueString(e), "red");
        kvEntry_Destroy(e);
        // Delete: the key reads as absent, and may be created again.
        EXPECT_EQ(kvStore_Delete(kv.get(), "color"), NATS_OK);
        EXPECT_EQ(get(kv.get(), "color"), "<Not Found>");
        EXPECT_EQ(kvStore_CreateString(&r, kv.get(), "color", "black"), NATS_OK);
        EXPECT_EQ(get(kv.get(), "color"), "black");
        // History: every revision of the key, oldest first.
        kvEntryList hist{};
        ASSERT_EQ(kvStore_History(&hist, kv.get(), "color", nullptr), NATS_OK);
        ASSERT_EQ(hist.Count, 5);
        EXPECT_EQ(kvEntry_Operation(hist.Entries[3]), kvOp_Delete);
        EXPECT_STREQ(kvEntry_ValueString(hist.Entries[4]), "black");
        kvEntryList_Destroy(&hist);
        // Purge collapses the history to one marker.
        EXPECT_EQ(kvStore_Purge(kv.get(), "color", nullptr), NATS_OK);
        EXPECT_EQ(get(kv.get(), "color"), "<Not Found>");
        ASSERT_EQ(kvStore_History(&hist, kv.get(), "color", nullptr), NATS_OK);
        ASSERT_EQ(hist.Count, 1);
        EXPECT_EQ(kvEntry_Operation(hist.Entries[0]), kvOp_Purge);
        kvEntryList_Destroy(&hist);
        // Keys and status.
        put(kv.get(), "a", "1");
        put(kv.get(), "b.c", "2");
        kvKeysList keys{};
        ASSERT_EQ(kvStore_Keys(&keys, kv.get(), nullptr), NATS_OK);
        std::set<std::string> names;
        for (int i = 0; i < keys.Count; ++i) names.insert(keys.Keys[i]);
        EXPECT_EQ(names, (std::set<std::string>{"a", "b.c"}));
        kvKeysList_Destroy(&keys);
        kvStatus* st = nullptr;
        ASSERT_EQ(kvStore_Status(&st, kv.get()), NATS_OK);
        EXPECT_STREQ(kvStatus_Bucket(st), "CFG");
        EXPECT_EQ(kvStatus_History(st), 5);
        EXPECT_EQ(kvStatus_Values(st), 3u);  // the purge marker, a, b.c
        kvStatus_Destroy(st);
        // The bucket can be opened by name and deleted.
        kvStore* again = nullptr;
        ASSERT_EQ(js_KeyValue(&again, js.get(), "CFG"), NATS_OK);
        kvStore_Destroy(again);
        EXPECT_EQ(js_DeleteKeyValue(js.get(), "CFG"), NATS_OK);
        EXPECT_NE(js_KeyValue(&again, js.get(), "CFG"), NATS_OK);
    }
}

TEST(KeyValue, WatchInitialValuesThenUpdates) {
    for (const auto& bin : servers_to_compare()) {
        SCOPED_TRACE(bin);
        JsServer srv({}, bin);
        Conn nc = connect(srv.url());
        Js js = jetstream(nc.get());
        Kv kv = bucket(js.get(), "W", 10);
        put(kv.get(), "k.1", "a");
        put(kv.get(), "k.1", "b");
        put(kv.get(), "k.2", "c");
        put(kv.get(), "other", "x");
        EXPECT_EQ(kvStore_Delete(kv.get(), "k.2"), NATS_OK);

        auto drain_initial = [](kvWatcher* w) {
            std::vector<std::string> seen;
            for (int i = 0; i < 20; ++i) {
                kvEntry* e = nullptr;
                if (kvWatcher_Next(&e, w, 3000) != NATS_OK) {
                    seen.push_back("<timeout>");
                    break;
                }
                if (!e) break;  // end of the initial values
                std::string v = kvEntry_Operation(e) == kvOp_Put ? kvEntry_ValueString(e) : "<del>";
                seen.push_back(std::string(kvEntry_Key(e)) + "=" + v);
                kvEntry_Destroy(e);
            }
            return seen;
        };
        // Latest values only, deletes included; then live updates.
        kvWatcher* raw = nullptr;
        ASSERT_EQ(kvStore_Watch(&raw, kv.get(), "k.*", nullptr), NATS_OK);
        Watcher w(raw);
        EXPECT_EQ(drain_initial(w.get()), (std::vector<std::string>{"k.1=b", "k.2=<del>"}));
        put(kv.get(), "k.3", "live");
        put(kv.get(), "other", "not for us");
        kvEntry* e = nullptr;
        ASSERT_EQ(kvWatcher_Next(&e, w.get(), 3000), NATS_OK);
        ASSERT_TRUE(e);
        EXPECT_STREQ(kvEntry_Key(e), "k.3");
        EXPECT_STREQ(kvEntry_ValueString(e), "live");
        kvEntry_Destroy(e);
        e = nullptr;
        EXPECT_EQ(kvWatcher_Next(&e, w.get(), 300), NATS_TIMEOUT);

        // With history, without deletes.
        kvWatchOptions o;
        kvWatchOptions_Init(&o);
        o.IncludeHistory = true;
        o.IgnoreDeletes = true;
        raw = nullptr;
        ASSERT_EQ(kvStore_Watch(&raw, kv.get(), "k.*", &o), NATS_OK);
        Watcher wh(raw);
        EXPECT_EQ(drain_initial(wh.get()),
                  (std::vector<std::string>{"k.1=a", "k.1=b", "k.2=c", "k.3=live"}));
    }
}

TEST(KeyValue, TtlExpiresValues) {
    for (const auto& bin : servers_to_compare()) {
        SCOPED_TRACE(bin);
        JsServer srv({}, bin);
        Conn nc = connect(srv.url());
        Js js = jetstream(nc.get());
        Kv kv = bucket(js.get(), "T", 1, 1000LL * 1000 * 1000);  // TTL in nanoseconds
        put(kv.get(), "session", "s1");
        EXPECT_EQ(get(kv.get(), "session"), "s1");
        kvStatus* st = nullptr;
        ASSERT_EQ(kvStore_Status(&st, kv.get()), NATS_OK);
        EXPECT_EQ(kvStatus_TTL(st), 1000LL * 1000 * 1000);
        kvStatus_Destroy(st);
        std::string v;
        for (int i = 0; i < 40; ++i) {  // up to 4 s
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            v = get(kv.get(), "session");
            if (v != "s1") break;
        }
        EXPECT_EQ(v, "<Not Found>");
    }
}

// Osprey only: a bucket's acknowledged writes survive kill -9.
TEST(KeyValue, SurvivesKill9) {
    JsServer srv;
    {
        Conn nc = connect(srv.url());
        Js js = jetstream(nc.get());
        Kv kv = bucket(js.get(), "D", 3);
        for (int i = 0; i < 50; ++i) put(kv.get(), ("k" + std::to_string(i % 5)).c_str(), std::to_string(i).c_str());
    }
    srv.kill9();
    srv.start();
    Conn nc = connect(srv.url());
    Js js = jetstream(nc.get());
    kvStore* raw = nullptr;
    ASSERT_EQ(js_KeyValue(&raw, js.get(), "D"), NATS_OK);
    Kv kv(raw);
    for (int k = 0; k < 5; ++k)
        EXPECT_EQ(get(kv.get(), ("k" + std::to_string(k)).c_str()), std::to_string(45 + k));
    kvEntryList hist{};
    ASSERT_EQ(kvStore_History(&hist, kv.get(), "k0", nullptr), NATS_OK);
    EXPECT_EQ(hist.Count, 3);  // history 3 per key
    kvEntryList_Destroy(&hist);
}
