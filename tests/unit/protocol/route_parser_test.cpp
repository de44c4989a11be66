// The route protocol parser on lines captured from nats-server 2.9.10, split at every byte.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocol/route_parser.h"

using namespace osprey::protocol;

namespace {

struct Recorder : RouteHandler {
    std::vector<std::string> ops;
    bool on_info(std::string_view j) override { return add("INFO " + std::string(j)); }
    bool on_connect(std::string_view j) override { return add("CONNECT " + std::string(j)); }
    bool on_ping() override { return add("PING"); }
    bool on_pong() override { return add("PONG"); }
    bool on_err(std::string_view t) override { return add("ERR " + std::string(t)); }
    bool on_sub(std::string_view a, std::string_view s, std::string_view q, std::int32_t w) override {
        return add("SUB " + std::string(a) + " " + std::string(s) + (q.empty() ? "" : " " + std::string(q) + " " + std::to_string(w)));
    }
    bool on_unsub(std::string_view a, std::string_view s, std::string_view q) override {
        return add("UNSUB " + std::string(a) + " " + std::string(s) + (q.empty() ? "" : " " + std::string(q)));
    }
    bool on_msg(const RouteMsg& m) override {
        return add("MSG " + std::string(m.account) + " " + std::string(m.subject) + " r=" + std::string(m.reply) +
                   " q=" + std::string(m.queues) + " h=" + std::string(m.headers) + " p=" + std::string(m.payload));
    }
    bool add(std::string s) {
        ops.push_back(std::move(s));
        return true;
    }
};

// Feeds `in` in two pieces at every split point; all must give the same operations.
std::vector<std::string> feed(const std::string& in, RouteError* err = nullptr) {
    std::vector<std::string> first;
    for (std::size_t cut = 0; cut <= in.size(); ++cut) {
        Recorder rec;
        std::string buf = in.substr(0, cut);
        auto r = parse_route(buf, rec);
        RouteError e = r.error;
        if (e == RouteError::None) {
            buf.erase(0, r.consumed);
            buf += in.substr(cut);
            r = parse_route(buf, rec);
            e = r.error;
            if (e == RouteError::None) {
                EXPECT_EQ(r.consumed, buf.size()) << in << " cut " << cut;
            }
        }
        if (err) *err = e;
        if (cut == 0) {
            first = rec.ops;
        } else if (e == RouteError::None) {
            EXPECT_EQ(rec.ops, first) << "cut at " << cut;
        }
    }
    return first;
}

}  // namespace

TEST(RouteParser, CapturedLines) {
    using V = std::vector<std::string>;
    EXPECT_EQ(feed("INFO {\"server_id\":\"N1\",\"cluster\":\"C1\"} \r\nPING\r\npong\r\n"),
              (V{"INFO {\"server_id\":\"N1\",\"cluster\":\"C1\"}", "PING", "PONG"}));
    EXPECT_EQ(feed("RS+ $G foo\r\nRS+ $G bar q1 2\r\nRS- $G bar q1\r\nRS- $G foo\r\n"),
              (V{"SUB $G foo", "SUB $G bar q1 2", "UNSUB $G bar q1", "UNSUB $G foo"}));
    EXPECT_EQ(feed("RMSG $G foo 5\r\nhello\r\nRMSG $G foo reply.1 5\r\nhello\r\n"),
              (V{"MSG $G foo r= q= h= p=hello", "MSG $G foo r=reply.1 q= h= p=hello"}));
    EXPECT_EQ(feed("RMSG $G bar | q1 2\r\nhi\r\nRMSG $G bar + rep.2 q1 q2 2\r\nhi\r\n"),
              (V{"MSG $G bar r= q=q1 h= p=hi", "MSG $G bar r=rep.2 q=q1 q2 h= p=hi"}));
    EXPECT_EQ(feed("HMSG $G foo 18 23\r\nNATS/1.0\r\nA: 1\r\n\r\nhello\r\n"),
              (V{"MSG $G foo r= q= h=NATS/1.0\r\nA: 1\r\n\r\n p=hello"}));
    EXPECT_EQ(feed("HMSG $G bar + r.3 q1 18 23\r\nNATS/1.0\r\nA: 1\r\n\r\nhello\r\n"),
              (V{"MSG $G bar r=r.3 q=q1 h=NATS/1.0\r\nA: 1\r\n\r\n p=hello"}));
    EXPECT_EQ(feed("-ERR 'Authorization Violation'\r\n"), (V{"ERR Authorization Violation"}));
    EXPECT_EQ(feed("LS+ LC $G lq grp 1\r\nLS-  $G lf\r\n"), (V{"SUB $G lq grp 1", "UNSUB $G lf"}));
}

TEST(RouteParser, ErrorsAsNatsServer) {
    RouteError e;
    feed("XYZ foo\r\n", &e);
    EXPECT_EQ(e, RouteError::UnknownOp);
    feed("RMSG $G foo 10\r\nabc\r\n..........\r\n", &e);  // payload longer than said
    EXPECT_EQ(e, RouteError::UnknownOp);
    feed("RS+ $G foo q1\r\n", &e);  // a queue needs its weight
    EXPECT_EQ(e, RouteError::BadArgs);
    feed("RMSG $G foo x y 3\r\nabc\r\n", &e);  // bad reply indicator
    EXPECT_EQ(e, RouteError::BadArgs);
    feed("HMSG $G foo 9 3\r\nabc\r\n", &e);  // header larger than the total
    EXPECT_EQ(e, RouteError::BadArgs);
}
