// The parser fed every input whole, split at every byte boundary, and byte by byte: the same
// operations must come out, in the same order, with the same error.
#include "protocol/parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace osprey::protocol;

namespace {

struct Recorder {
    std::vector<std::string> ops;
    bool on_pub(const Pub& p) {
        ops.push_back("PUB|" + std::string(p.subject) + "|" + std::string(p.reply) + "|" +
                      std::string(p.headers) + "|" + std::string(p.payload));
        return true;
    }
    bool on_sub(const Sub& s) {
        ops.push_back("SUB|" + std::string(s.subject) + "|" + std::string(s.queue) + "|" +
                      std::string(s.sid));
        return true;
    }
    bool on_unsub(const Unsub& u) {
        ops.push_back("UNSUB|" + std::string(u.sid) + "|" + std::to_string(u.max));
        return true;
    }
    bool on_connect(std::string_view j) {
        ops.push_back("CONNECT|" + std::string(j));
        return true;
    }
    bool on_info(std::string_view j) {
        ops.push_back("INFO|" + std::string(j));
        return true;
    }
    bool on_ping() {
        ops.push_back("PING");
        return true;
    }
    bool on_pong() {
        ops.push_back("PONG");
        return true;
    }
    bool on_ok() {
        ops.push_back("OK");
        return true;
    }
    bool on_err(std::string_view e) {
        ops.push_back("ERR|" + std::string(e));
        return true;
    }
};

struct Outcome {
    std::vector<std::string> ops;
    Error error = Error::None;
    std::size_t leftover = 0;
};

// Feeds `chunks` the way a connection does: append, parse, keep the unconsumed tail.
Outcome feed(const std::vector<std::string>& chunks, Limits limits = {}) {
    limits.headers = true;
    Recorder rec;
    std::string buf;
    Outcome out;
    for (const auto& c : chunks) {
        buf += c;
        Result r = parse(buf, limits, rec);
        if (r.error != Error::None) {
            out.error = r.error;
            break;
        }
        buf.erase(0, r.consumed);
    }
    out.ops = rec.ops;
    out.leftover = buf.size();
    return out;
}

void expect_same_at_every_split(const std::string& input, Limits limits = {}) {
    Outcome whole = feed({input}, limits);
    for (std::size_t i = 1; i < input.size(); ++i) {
        Outcome split = feed({input.substr(0, i), input.substr(i)}, limits);
        ASSERT_EQ(split.ops, whole.ops) << "split at " << i << " of " << input;
        ASSERT_EQ(split.error, whole.error) << "split at " << i;
    }
    std::vector<std::string> bytes;
    for (char c : input) bytes.emplace_back(1, c);
    Outcome bb = feed(bytes, limits);
    EXPECT_EQ(bb.ops, whole.ops) << "byte by byte: " << input;
    EXPECT_EQ(bb.error, whole.error);
}

const std::vector<std::string> kValidInputs = {
    "PING\r\n",
    "ping\r\nPONG\r\n",
    "PING\n",
    "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n",
    "PUB foo 5\r\nhello\r\n",
    "PUB foo.bar _INBOX.1 3\r\nabc\r\nPING\r\n",
    "pub\tfoo\t\t2\r\nhi\r\n",
    "PUB foo 0\r\n\r\n",
    "PUB foo 4\r\n\r\n\r\n\r\n",
    "HPUB foo 12 17\r\nNATS/1.0\r\n\r\nhello\r\n",
    "HPUB foo reply 18 20\r\nNATS/1.0\r\nA: B\r\n\r\nhi\r\n",
    "SUB foo 1\r\nSUB foo.* q 2\r\nUNSUB 1\r\nUNSUB 2 10\r\n",
    "SUB  foo   1\r\n",
    "+OK\r\nINFO {}\r\nPING\r\n",
};

}  // namespace

TEST(Parser, ValidInputsParseTheSameAtEverySplit) {
    for (const auto& in : kValidInputs) {
        Outcome whole = feed({in});
        EXPECT_EQ(whole.error, Error::None) << in;
        EXPECT_EQ(whole.leftover, 0u) << in;
        EXPECT_FALSE(whole.ops.empty()) << in;
        expect_same_at_every_split(in);
    }
}

TEST(Parser, AllValidInputsConcatenated) {
    std::string all;
    for (const auto& in : kValidInputs) all += in;
    expect_same_at_every_split(all);
}

TEST(Parser, OperationsCarryTheirArguments) {
    Outcome o = feed({"PUB a.b r 3\r\nxyz\r\nSUB x q 9\r\nUNSUB 9 5\r\n"
                      "HPUB h 12 14\r\nNATS/1.0\r\n\r\nok\r\n"});
    ASSERT_EQ(o.error, Error::None);
    std::vector<std::string> want = {"PUB|a.b|r||xyz", "SUB|x|q|9", "UNSUB|9|5",
                                     "PUB|h||NATS/1.0\r\n\r\n|ok"};
    EXPECT_EQ(o.ops, want);
}

TEST(Parser, PayloadMayContainCRLF) {
    Outcome o = feed({"PUB a 6\r\n\r\nPING\r\n"});
    ASSERT_EQ(o.error, Error::None);
    ASSERT_EQ(o.ops.size(), 1u);
    EXPECT_EQ(o.ops[0], "PUB|a|||\r\nPING");
}

TEST(Parser, UnknownOperationIsDetectedEarly) {
    // nats-server rejects on the first impossible byte, without waiting for a newline.
    EXPECT_EQ(feed({"FOO"}).error, Error::UnknownOp);
    EXPECT_EQ(feed({"PUX"}).error, Error::UnknownOp);
    EXPECT_EQ(feed({"MSG foo 1 1\r\nx\r\n"}).error, Error::UnknownOp);
    EXPECT_EQ(feed({"PUB\r\n"}).error, Error::UnknownOp);
    EXPECT_EQ(feed({"UNSUB\r\n"}).error, Error::UnknownOp);
    // A prefix of an operation waits for more.
    EXPECT_EQ(feed({"PU"}).error, Error::None);
    EXPECT_EQ(feed({"CONNEC"}).error, Error::None);
}

TEST(Parser, PayloadMustEndWithCRLF) {
    EXPECT_EQ(feed({"PUB foo 3\r\nabcd\r\n"}).error, Error::UnknownOp);
    EXPECT_EQ(feed({"PUB foo 1\r\nx\nPING\r\n"}).error, Error::UnknownOp);
}

TEST(Parser, BadArgumentsCloseSilently) {
    EXPECT_EQ(feed({"PUB foo\r\n"}).error, Error::BadArgs);
    EXPECT_EQ(feed({"PUB foo x\r\n"}).error, Error::BadArgs);
    EXPECT_EQ(feed({"PUB foo -1\r\n"}).error, Error::BadArgs);
    EXPECT_EQ(feed({"PUB a b c 3\r\n"}).error, Error::BadArgs);
    EXPECT_EQ(feed({"SUB foo\r\n"}).error, Error::BadArgs);
    EXPECT_EQ(feed({"SUB a b c d\r\n"}).error, Error::BadArgs);
    EXPECT_EQ(feed({"UNSUB \r\n"}).error, Error::BadArgs);
    EXPECT_EQ(feed({"HPUB foo 14 12\r\n"}).error, Error::BadArgs);
    EXPECT_EQ(feed({"CONNECT\r\n"}).error, Error::BadArgs);
}

TEST(Parser, MaxPayloadIsCheckedFromTheHeader) {
    Limits l;
    l.max_payload = 10;
    EXPECT_EQ(feed({"PUB foo 11\r\n"}, l).error, Error::MaxPayload);
    EXPECT_EQ(feed({"PUB foo 10\r\n0123456789\r\n"}, l).error, Error::None);
    EXPECT_EQ(feed({"HPUB foo 2 11\r\n"}, l).error, Error::MaxPayload);
}

TEST(Parser, MaxControlLine) {
    Limits l;
    l.max_control_line = 16;
    EXPECT_EQ(feed({"PUB " + std::string(40, 'a') + " 1\r\nx\r\n"}, l).error,
              Error::MaxControlLine);
    // Detected before the newline arrives: a client cannot grow the buffer without end.
    EXPECT_EQ(feed({"SUB " + std::string(40, 'a')}, l).error, Error::MaxControlLine);
    EXPECT_EQ(feed({"SUB abc 1\r\n"}, l).error, Error::None);
    // CONNECT too, whatever max_payload says (nats-server's rule).
    l.max_payload = 1024 * 1024;
    EXPECT_EQ(feed({"CONNECT {\"name\":\"" + std::string(40, 'n') + "\"}\r\n"}, l).error,
              Error::MaxControlLine);
}

TEST(Parser, HeadersNeedToBeEnabled) {
    Limits l;
    l.headers = false;
    Recorder rec;
    Result r = parse("HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n", l, rec);
    EXPECT_EQ(r.error, Error::NoHeaders);
}

TEST(Parser, ClientErrStopsParsing) {
    Outcome o = feed({"-ERR 'x'\r\nPING\r\n"});
    EXPECT_EQ(o.error, Error::ClientErr);
    EXPECT_EQ(o.ops, std::vector<std::string>{"ERR|'x'"});
}

TEST(Parser, HandlerCanStopAfterAnOperation) {
    struct Stopper : Recorder {
        bool on_ping() {
            ops.push_back("PING");
            return false;
        }
    } h;
    Limits l;
    Result r = parse("PING\r\nPING\r\n", l, h);
    EXPECT_EQ(r.consumed, 6u);
    EXPECT_EQ(h.ops.size(), 1u);
}

TEST(Parser, UnsubMaxThatIsNotANumberMeansNow) {
    Outcome o = feed({"UNSUB 1 x\r\n"});
    EXPECT_EQ(o.ops, std::vector<std::string>{"UNSUB|1|-1"});
}

TEST(Parser, SplitArgs) {
    std::string_view a[3];
    EXPECT_EQ(split_args("a  b\tc", a, 3), 3);
    EXPECT_EQ(a[2], "c");
    EXPECT_EQ(split_args("a b c d", a, 3), 4);
    EXPECT_EQ(split_args("   ", a, 3), 0);
}
