// A group's settings: the contract's validation, the mapping onto the consumer and back, and
// the event shapes members see.
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "groups/gateway_internal.h"
#include "groups/group_spec.h"

namespace osprey::groups {
namespace {

namespace json = boost::json;

std::string create_error(const std::string& body) {
    auto r = parse_create(body);
    return r ? std::string() : r.error();
}

TEST(GroupSpec, CreateTakesTheContractsFieldsWithTheirDefaults) {
    auto g = parse_create(R"({"name":"order-workers","pattern":"orders.>"})");
    ASSERT_TRUE(g);
    EXPECT_EQ(g->name, "order-workers");
    EXPECT_EQ(g->pattern, "orders.>");
    EXPECT_EQ(g->max_inflight, 100);
    EXPECT_EQ(g->max_redeliveries, 3);
    EXPECT_EQ(g->redeliver_delay_ms, 30000);
    EXPECT_FALSE(g->ack_auto);
    auto full = parse_create(R"({"name":"a","pattern":"x.*","stream":"S","max_inflight":1,"max_redeliveries":0,
        "redeliver_delay_ms":100,"dead_letter_subject":"dlq.a","ack_mode":"auto","redeliver_backoff_ms":[100,200]})");
    ASSERT_TRUE(full);
    EXPECT_TRUE(full->ack_auto);
    EXPECT_EQ(full->backoff_ms, (std::vector<std::int64_t>{100, 200}));
}

TEST(GroupSpec, CreateRefusesWhatTheContractRefuses) {
    EXPECT_NE(create_error("{"), "");
    EXPECT_NE(create_error("[]"), "");
    EXPECT_EQ(create_error(R"({"name":"a","pattern":"x","typo":1})"), "unknown field \"typo\"");
    EXPECT_EQ(create_error(R"({"pattern":"x"})"), "name is required");
    EXPECT_NE(create_error(R"({"name":"a b","pattern":"x"})"), "");
    EXPECT_NE(create_error(R"({"name":")" + std::string(65, 'a') + R"(","pattern":"x"})"), "");
    for (const char* p : {"", "a..b", "a.>.b", "a.b*", " a", "a b", ">x"})
        EXPECT_NE(create_error(std::string(R"({"name":"a","pattern":")") + p + "\"}"), "") << p;
    EXPECT_EQ(create_error(R"({"name":"a","pattern":"x","max_inflight":"5"})"), "max_inflight must be an integer");
    EXPECT_EQ(create_error(R"({"name":"a","pattern":"x","max_inflight":5.5})"), "max_inflight must be an integer");
    EXPECT_EQ(create_error(R"({"name":"a","pattern":"x","max_inflight":5.0})"), "max_inflight must be an integer");
    EXPECT_EQ(create_error(R"({"name":"a","pattern":"x","max_inflight":0})"), "max_inflight must be in 1..10000");
    EXPECT_EQ(create_error(R"({"name":"a","pattern":"x","max_inflight":18446744073709551615})"),
              "max_inflight must be in 1..10000");
    EXPECT_EQ(create_error(R"({"name":"a","pattern":"x","max_redeliveries":1001})"),
              "max_redeliveries must be in 0..1000");
    EXPECT_EQ(create_error(R"({"name":"a","pattern":"x","redeliver_delay_ms":99})"),
              "redeliver_delay_ms must be in 100..3600000");
    EXPECT_EQ(create_error(R"({"name":"a","pattern":"x","dead_letter_subject":"dlq.*"})"),
              "dead_letter_subject must be a literal subject");
    EXPECT_NE(create_error(R"({"name":"a","pattern":"x","ack_mode":"sometimes"})"), "");
    EXPECT_NE(create_error(R"({"name":"a","pattern":"x","redeliver_backoff_ms":[1]})"), "");
    EXPECT_NE(create_error(R"({"name":"a","pattern":"x","stream":"A.B"})"), "");
}

TEST(GroupSpec, PatchChangesTheMutableFieldsOnly) {
    auto g = parse_create(R"({"name":"a","pattern":"x.>","stream":"S"})");
    ASSERT_TRUE(g);
    auto p = apply_patch(R"({"max_inflight":7,"name":"a","stream":"S","pattern":"x.>"})", *g);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->max_inflight, 7);
    EXPECT_EQ(apply_patch(R"({"pattern":"y.>"})", *g).error(), "pattern can not be changed");
    EXPECT_EQ(apply_patch(R"({"stream":"T"})", *g).error(), "stream can not be changed");
    EXPECT_EQ(apply_patch(R"({"created_at":"x"})", *g).error(), "unknown field \"created_at\"");
}

TEST(GroupSpec, MapsOntoADurablePullConsumerAndBack) {
    auto g = parse_create(R"({"name":"w","pattern":"o.>","stream":"O","max_redeliveries":2,"redeliver_delay_ms":1500,
        "dead_letter_subject":"dlq.w","max_inflight":9,"redeliver_backoff_ms":[100,200,300,400]})");
    ASSERT_TRUE(g);
    g->created_at = g->updated_at = "2026-12-02T00:00:00Z";
    json::object req = json::parse(consumer_create_request(*g)).as_object();
    EXPECT_EQ(req["stream_name"], "O");
    auto& c = req["config"].as_object();
    EXPECT_EQ(c["durable_name"], "w");
    EXPECT_EQ(c["filter_subject"], "o.>");
    EXPECT_EQ(c["deliver_policy"], "new");
    EXPECT_EQ(c["ack_policy"], "explicit");
    EXPECT_EQ(c["ack_wait"].as_int64(), 1500000000);
    EXPECT_EQ(c["max_deliver"].as_int64(), 3);
    EXPECT_FALSE(c.contains("deliver_subject"));
    // Fewer backoff values than deliveries, as JetStream requires.
    EXPECT_EQ(c["backoff"].as_array().size(), 2u);
    EXPECT_EQ(c["backoff"].as_array()[1].as_int64(), 200000000);

    // What a consumer info gives back is the same group.
    json::object info{{"stream_name", "O"}, {"name", "w"}, {"config", c}, {"num_pending", 4},
                      {"num_ack_pending", 2}, {"ack_floor", json::object{{"stream_seq", 10}}},
                      {"delivered", json::object{{"stream_seq", 12}}}};
    auto back = spec_from_consumer_info(info);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->name, "w");
    EXPECT_EQ(back->stream, "O");
    EXPECT_EQ(back->pattern, "o.>");
    EXPECT_EQ(back->max_redeliveries, 2);
    EXPECT_EQ(back->max_inflight, 9);
    EXPECT_EQ(back->dead_letter_subject, "dlq.w");
    EXPECT_EQ(back->backoff_ms.size(), 4u);
    auto j = group_json(*back, info);
    EXPECT_EQ(j["num_pending"].to_number<std::uint64_t>(), 4u);
    EXPECT_EQ(j["ack_floor_sequence"].to_number<std::uint64_t>(), 10u);
    EXPECT_EQ(j["delivered_sequence"].to_number<std::uint64_t>(), 12u);
    // The hold of each attempt follows the backoff list, whose last value repeats.
    EXPECT_EQ(back->hold_ms(1), 100);
    EXPECT_EQ(back->hold_ms(4), 400);
    EXPECT_EQ(back->hold_ms(9), 400);

    // A consumer that is not a group is not one.
    json::object plain{{"stream_name", "O"}, {"config", json::object{{"durable_name", "x"}, {"description", "mine"}}}};
    EXPECT_FALSE(spec_from_consumer_info(plain));
}

TEST(GroupEvents, ShapesForHttpAndWebSocket) {
    Event e;
    ASSERT_TRUE(parse_ack_subject("$JS.ACK.ORDERS.w.2.42.7.1764633600000000000.3", e));
    EXPECT_EQ(e.seq, 42u);
    EXPECT_EQ(e.attempt, 2u);
    EXPECT_EQ(e.ts_ns, 1764633600000000000);
    EXPECT_FALSE(parse_ack_subject("$JS.ACK.ORDERS.w.x.42.7.1.3", e));
    EXPECT_FALSE(parse_ack_subject("orders.eu.1", e));
    e.subject = "orders.eu.1";
    e.payload = R"({"id":1})";
    e.headers = "NATS/1.0\r\nX-Trace: t-1\r\nX-Trace: t-2\r\n\r\n";
    auto h = json::parse(http_event_json(e)).as_object();
    EXPECT_EQ(h["event_id"], "42");
    EXPECT_EQ(h["subject"], "orders.eu.1");
    EXPECT_EQ(h["sequence"].to_number<std::uint64_t>(), 42u);
    EXPECT_EQ(h["delivery_attempt"].to_number<std::uint64_t>(), 2u);
    EXPECT_EQ(h["data"].as_object()["id"].as_int64(), 1);
    EXPECT_FALSE(h.contains("data_base64"));
    EXPECT_EQ(h["headers"].as_object()["X-Trace"], "t-1");
    EXPECT_EQ(h["timestamp"], "2025-12-02T00:00:00Z");
    e.payload = std::string("hi\xff", 3);
    auto w = json::parse(ws_event_json(e, "sub-1")).as_object();
    EXPECT_EQ(w["type"], "event");
    EXPECT_EQ(w["eventId"], "42");
    EXPECT_EQ(w["topic"], "orders.eu.1");
    EXPECT_EQ(w["deliveryAttempt"].to_number<std::uint64_t>(), 2u);
    EXPECT_EQ(w["meta"].as_object()["sequence"].to_number<std::uint64_t>(), 42u);
    EXPECT_EQ(*base64_decode(std::string(w["dataBase64"].as_string())), std::string("hi\xff", 3));
}

TEST(GroupEvents, Base64RoundTrips) {
    for (std::string s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)})
        EXPECT_EQ(*base64_decode(base64_encode(s)), s);
    EXPECT_EQ(base64_encode("hello"), "aGVsbG8=");
    EXPECT_FALSE(base64_decode("a$b"));
}

}  // namespace
}  // namespace osprey::groups
