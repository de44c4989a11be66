// Consumer groups with the C client: nats.c publishers feed a group's pattern, HTTP members
// fetch and ack, and a nats.c pull subscriber bound to the group's durable shares the same
// consumer (one delivery state for both).
#include <boost/json.hpp>
#include <set>

#include "c/js_helpers.h"

using namespace osprey::testing;
namespace json = boost::json;

namespace {

HttpReply http(int port, const std::string& method, const std::string& path, const std::string& body = "") {
    return http_request(port, method, path, body);
}

}  // namespace

TEST(Groups, NatsCPublishersFeedAGroupAndAPullSubscriberSharesItsDurable) {
    JsServer srv;
    Conn nc = connect(srv.url());
    Js js = jetstream(nc.get());
    jsStreamInfo_Destroy(add_stream(js.get(), "CORDERS", {"corders.>"}));
    const int port = srv.proc().http_port();

    // Published before the group: never delivered (DeliverNew).
    jsErrCode e;
    ASSERT_EQ(js_Publish(nullptr, js.get(), "corders.old", "old", 3, nullptr, &e), NATS_OK);
    auto created = http(port, "POST", "/v1/groups", R"({"name":"c-workers","pattern":"corders.>","redeliver_delay_ms":30000})");
    ASSERT_EQ(created.status, 201) << created.body;

    const int N = 20;
    for (int i = 0; i < N; ++i) {
        std::string d = "e" + std::to_string(i);
        ASSERT_EQ(js_Publish(nullptr, js.get(), "corders.eu", d.data(), int(d.size()), nullptr, &e), NATS_OK);
    }

    // A NATS pull subscriber bound to the group's durable, beside an HTTP member.
    natsSubscription* raw = nullptr;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = "CORDERS";
    so.Consumer = "c-workers";
    ASSERT_EQ(js_PullSubscribe(&raw, js.get(), "corders.>", "c-workers", nullptr, &so, &e), NATS_OK) << e;
    Sub sub(raw);

    std::set<std::string> seen;
    int by_http = 0, by_nats = 0;
    for (int round = 0; round < 40 && int(seen.size()) < N; ++round) {
        if (round % 2 == 0) {
            auto f = http(port, "POST", "/v1/groups/c-workers/fetch", R"({"member_id":"c1","max":3,"wait_ms":200})");
            ASSERT_EQ(f.status, 200) << f.body;
            const json::value got = json::parse(f.body);
            for (const auto& ev : got.at("events").as_array()) {
                const std::string data(ev.at("data").as_string());
                EXPECT_TRUE(seen.insert(data).second) << data << " delivered twice";
                ++by_http;
                const std::string id(ev.at("event_id").as_string());
                auto a = http(port, "POST", "/v1/groups/c-workers/ack", R"({"event_id":")" + id + "\"}");
                EXPECT_EQ(a.status, 200) << a.body;
            }
        } else {
            natsMsgList list{};
            if (natsSubscription_Fetch(&list, sub.get(), 3, 300, &e) == NATS_OK) {
                for (int i = 0; i < list.Count; ++i) {
                    EXPECT_TRUE(seen.insert(data(list.Msgs[i])).second) << data(list.Msgs[i]) << " delivered twice";
                    ++by_nats;
                    EXPECT_EQ(natsMsg_AckSync(list.Msgs[i], nullptr, &e), NATS_OK);
                }
                natsMsgList_Destroy(&list);
            }
        }
    }
    EXPECT_EQ(int(seen.size()), N);
    EXPECT_GT(by_http, 0);
    EXPECT_GT(by_nats, 0);
    EXPECT_FALSE(seen.count("old"));

    // One consumer state for both: everything acked.
    jsConsumerInfo* ci = nullptr;
    ASSERT_EQ(js_GetConsumerInfo(&ci, js.get(), "CORDERS", "c-workers", nullptr, &e), NATS_OK);
    EXPECT_EQ(ci->AckFloor.Stream, std::uint64_t(N + 1));
    EXPECT_EQ(ci->NumAckPending, 0);
    jsConsumerInfo_Destroy(ci);
    auto g = json::parse(http(port, "GET", "/v1/groups/c-workers").body).as_object();
    EXPECT_EQ(g.at("ack_floor_sequence").to_number<std::uint64_t>(), std::uint64_t(N + 1));
    EXPECT_EQ(g.at("num_ack_pending").to_number<std::uint64_t>(), 0u);
}
