// Hostile input to the JetStream API and the consumer subjects: thousands of mutated requests
// (broken JSON, wrong types, huge and negative numbers, odd subjects) must each get an answer
// or be ignored, never crash, hang or corrupt the server; valid requests work afterwards.
#include <random>

#include "c/js_helpers.h"

using namespace osprey::testing;

namespace {

struct Template {
    std::string subject, body;
};

const std::vector<Template>& templates() {
    static const std::vector<Template> t{
        {"$JS.API.INFO", ""},
        {"$JS.API.STREAM.CREATE.S", R"({"name":"S","subjects":["s.>"],"max_msgs":100,"max_age":1000000000,"storage":"file"})"},
        {"$JS.API.STREAM.CREATE.M", R"({"name":"M","subjects":["m.*"],"storage":"memory","max_msgs_per_subject":2,"discard":"new"})"},
        {"$JS.API.STREAM.UPDATE.S", R"({"name":"S","subjects":["s.>"],"max_msgs":50})"},
        {"$JS.API.STREAM.INFO.S", R"({"subjects_filter":">","deleted_details":true,"offset":0})"},
        {"$JS.API.STREAM.NAMES", R"({"offset":0,"subject":"s.x"})"},
        {"$JS.API.STREAM.LIST", R"({"offset":1})"},
        {"$JS.API.STREAM.PURGE.S", R"({"filter":"s.a","keep":1,"seq":3})"},
        {"$JS.API.STREAM.MSG.GET.S", R"({"seq":1})"},
        {"$JS.API.STREAM.MSG.GET.S", R"({"last_by_subj":"s.a"})"},
        {"$JS.API.STREAM.MSG.DELETE.S", R"({"seq":2,"no_erase":true})"},
        {"$JS.API.DIRECT.GET.S", R"({"seq":1})"},
        {"$JS.API.DIRECT.GET.S.s.a", ""},
        {"$JS.API.CONSUMER.CREATE.S", R"({"stream_name":"S","config":{"ack_policy":"explicit","deliver_subject":"d","idle_heartbeat":1000000000,"flow_control":true}})"},
        {"$JS.API.CONSUMER.DURABLE.CREATE.S.dur", R"({"stream_name":"S","config":{"durable_name":"dur","ack_policy":"explicit","max_deliver":3,"backoff":[1000000,2000000],"filter_subject":"s.a","max_waiting":4}})"},
        {"$JS.API.CONSUMER.CREATE.S.named.s.b", R"({"stream_name":"S","config":{"name":"named","filter_subject":"s.b","deliver_policy":"by_start_sequence","opt_start_seq":2}})"},
        {"$JS.API.CONSUMER.CREATE.S", R"({"stream_name":"S","config":{"deliver_policy":"by_start_time","opt_start_time":"2026-01-01T00:00:00Z","replay_policy":"original","rate_limit_bps":80000,"deliver_subject":"r","sample_freq":"50%"}})"},
        {"$JS.API.CONSUMER.INFO.S.dur", ""},
        {"$JS.API.CONSUMER.NAMES.S", R"({"offset":0})"},
        {"$JS.API.CONSUMER.LIST.S", R"({"offset":0})"},
        {"$JS.API.CONSUMER.MSG.NEXT.S.dur", R"({"batch":3,"expires":50000000,"max_bytes":1000,"idle_heartbeat":10000000})"},
        {"$JS.API.CONSUMER.MSG.NEXT.S.dur", "5"},
        {"$JS.API.CONSUMER.MSG.NEXT.S.dur", R"({"batch":2,"no_wait":true})"},
        {"$JS.ACK.S.dur.1.1.1.1700000000000000000.0", "+ACK"},
        {"$JS.ACK.S.dur.1.2.2.1700000000000000000.0", "-NAK {\"delay\":1000000}"},
        {"$JS.ACK.S.dur.1.3.3.1700000000000000000.0", "+WPI"},
        {"$JS.ACK.S.dur.1.4.4.1700000000000000000.0", "+TERM"},
        {"$JS.ACK.S.dur.1.5.5.1700000000000000000.0", "+NXT {\"batch\":2}"},
        {"$JS.API.CONSUMER.DELETE.S.named", ""},
        {"$JS.API.STREAM.DELETE.M", ""},
        {"s.a", "payload"},
        {"m.b", "payload"},
    };
    return t;
}

std::string mutate(std::mt19937& rng, std::string s) {
    static const std::vector<std::string> values{
        "null", "-1", "0", "18446744073709551616", "-9223372036854775809", "1e309", "1.5",
        "\"x\"", "\"\"", "[]", "{}", "true", "[1,2,3]", "\"2026-13-45T99:99:99Z\"", "\"%\""};
    static const std::string chars = "{}[]\":,0123456789-.e tfn\\\x01\xff";
    const int ops = 1 + int(rng() % 4);
    for (int i = 0; i < ops; ++i) {
        switch (rng() % 6) {
            case 0:  // delete a range
                if (!s.empty()) {
                    auto at = rng() % s.size();
                    s.erase(at, 1 + rng() % 8);
                }
                break;
            case 1:  // insert a character
                s.insert(s.empty() ? 0 : rng() % s.size(), 1, chars[rng() % chars.size()]);
                break;
            case 2: {  // replace the value after a ':'
                auto at = s.find(':', s.empty() ? 0 : rng() % s.size());
                if (at == std::string::npos) break;
                auto end = s.find_first_of(",}", at + 1);
                s.replace(at + 1, end == std::string::npos ? std::string::npos : end - at - 1,
                          values[rng() % values.size()]);
                break;
            }
            case 3:  // truncate
                s.resize(s.empty() ? 0 : rng() % s.size());
                break;
            case 4:  // a whole other value
                s = values[rng() % values.size()];
                break;
            default:  // nest it
                s = "{\"config\":" + s + ",\"stream_name\":" + s + "}";
                break;
        }
    }
    return s;
}

std::string mutate_subject(std::mt19937& rng, std::string subj) {
    static const std::vector<std::string> tails{".x", ".S", ".NOPE", ".dur", ".*", ".>", ".a.b.c", ".0.0.0.0.0"};
    switch (rng() % 5) {
        case 0:
            subj += tails[rng() % tails.size()];
            break;
        case 1: {
            auto dot = subj.rfind('.');
            if (dot != std::string::npos) subj.resize(dot);
            break;
        }
        default:
            break;  // keep: most mutations go to the body
    }
    return subj;
}

}  // namespace

TEST(ApiRobustness, MutatedRequestsNeverHurtTheServer) {
    JsServer srv;
    // OSPREY_SEED=<n> replays a failing run.
    const char* env_seed = std::getenv("OSPREY_SEED");
    const unsigned seed = env_seed ? unsigned(std::stoul(env_seed)) : std::random_device{}();
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    RawConn c(srv.proc().port());
    c.read("\r\n");
    c.send("CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true}\r\nSUB _R.> 1\r\nSUB d 2\r\nSUB r 3\r\nPING\r\n");
    ASSERT_NE(c.read("PONG\r\n").find("PONG"), std::string::npos);
    // Valid requests first, so mutations hit existing streams and consumers too.
    std::string batch;
    for (const auto& t : templates())
        batch += "PUB " + t.subject + " _R.v " + std::to_string(t.body.size()) + "\r\n" + t.body + "\r\n";
    c.send(batch + "PING\r\n");
    c.read("PONG\r\n", 3000);
    const int kRequests = 3000;
    for (int i = 0; i < kRequests; ++i) {
        const Template& t = templates()[rng() % templates().size()];
        const std::string subject = mutate_subject(rng, t.subject);
        const std::string body = rng() % 8 == 0 ? t.body : mutate(rng, t.body);
        std::string hdr;
        if (rng() % 10 == 0) {
            static const std::vector<std::string> headers{
                "Nats-Expected-Last-Sequence: x", "Nats-Expected-Last-Subject-Sequence: -5",
                "Nats-Msg-Id: ", "Nats-Rollup: everything", "Nats-Expected-Stream: ??",
                "Nats-TTL: 1s", "Nats-Expected-Last-Msg-Id: a"};
            hdr = "NATS/1.0\r\n" + headers[rng() % headers.size()] + "\r\n\r\n";
        }
        std::string line = hdr.empty()
            ? "PUB " + subject + " _R." + std::to_string(i) + " " + std::to_string(body.size()) + "\r\n"
            : "HPUB " + subject + " _R." + std::to_string(i) + " " + std::to_string(hdr.size()) + " " +
                  std::to_string(hdr.size() + body.size()) + "\r\n" + hdr;
        c.send(line + body + "\r\n");
        if (i % 100 == 99) {
            // Keep reading so the server never sees us as a slow consumer; it must answer.
            c.send("PING\r\n");
            std::string got = c.read("PONG\r\n", 5000);
            ASSERT_NE(got.find("PONG"), std::string::npos)
                << "no PONG after request " << i << " (server "
                << (::kill(srv.proc().pid(), 0) == 0 ? "alive" : "gone") << "); server log:\n"
                << srv.proc().log().substr(0, 4000);
            ASSERT_FALSE(c.closed()) << "connection closed after request " << i;
        }
    }
    // Still alive and still right.
    ASSERT_EQ(::kill(srv.proc().pid(), 0), 0);
    Conn nc = connect(srv.url());
    Js js = jetstream(nc.get());
    jsStreamInfo_Destroy(add_stream(js.get(), "AFTER", {"after"}));
    jsPubAck* ack = nullptr;
    jsErrCode e;
    ASSERT_EQ(js_Publish(&ack, js.get(), "after", "ok", 2, nullptr, &e), NATS_OK);
    EXPECT_EQ(ack->Sequence, 1u);
    jsPubAck_Destroy(ack);
    const std::string log = srv.proc().log();
    EXPECT_EQ(log.find("terminate"), std::string::npos);
    EXPECT_EQ(log.find("AddressSanitizer"), std::string::npos);
    EXPECT_EQ(log.find("runtime error"), std::string::npos) << log;
}
