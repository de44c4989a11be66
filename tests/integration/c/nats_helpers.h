// Small RAII helpers around the nats.c client for the tests.
#pragma once
#include <gtest/gtest.h>
#include <nats/nats.h>

#include <memory>
#include <string>

#include "common/server_process.h"

namespace osprey::testing {

struct ConnDeleter {
    void operator()(natsConnection* c) const { natsConnection_Destroy(c); }
};
struct SubDeleter {
    void operator()(natsSubscription* s) const { natsSubscription_Destroy(s); }
};
struct MsgDeleter {
    void operator()(natsMsg* m) const { natsMsg_Destroy(m); }
};
struct OptsDeleter {
    void operator()(natsOptions* o) const { natsOptions_Destroy(o); }
};
using Conn = std::unique_ptr<natsConnection, ConnDeleter>;
using Sub = std::unique_ptr<natsSubscription, SubDeleter>;
using Msg = std::unique_ptr<natsMsg, MsgDeleter>;
using Opts = std::unique_ptr<natsOptions, OptsDeleter>;

inline Opts make_opts(const std::string& url) {
    natsOptions* o = nullptr;
    natsOptions_Create(&o);
    natsOptions_SetURL(o, url.c_str());
    natsOptions_SetAllowReconnect(o, false);
    natsOptions_SetTimeout(o, 2000);
    return Opts(o);
}

inline Conn connect(const std::string& url) {
    auto o = make_opts(url);
    natsConnection* c = nullptr;
    natsStatus s = natsConnection_Connect(&c, o.get());
    EXPECT_EQ(s, NATS_OK) << natsStatus_GetText(s);
    return Conn(c);
}

inline Conn connect_with(natsOptions* o, natsStatus* status = nullptr) {
    natsConnection* c = nullptr;
    natsStatus s = natsConnection_Connect(&c, o);
    if (status) *status = s;
    return Conn(c);
}

inline Sub subscribe_sync(natsConnection* c, const char* subject, const char* queue = nullptr) {
    natsSubscription* s = nullptr;
    natsStatus st = queue ? natsConnection_QueueSubscribeSync(&s, c, subject, queue)
                          : natsConnection_SubscribeSync(&s, c, subject);
    EXPECT_EQ(st, NATS_OK) << natsStatus_GetText(st);
    return Sub(s);
}

inline Msg next(natsSubscription* s, int timeout_ms = 2000) {
    natsMsg* m = nullptr;
    natsSubscription_NextMsg(&m, s, timeout_ms);
    return Msg(m);
}

inline std::string data(natsMsg* m) {
    return std::string(natsMsg_GetData(m), std::size_t(natsMsg_GetDataLength(m)));
}

// A test fixture that starts osprey for each test.
class OspreyTest : public ::testing::Test {
protected:
    void SetUp() override { server_ = std::make_unique<ServerProcess>(OSPREY_BIN, args()); }
    void TearDown() override { server_.reset(); }
    virtual std::vector<std::string> args() { return {}; }
    std::string url() const { return server_->url(); }
    std::unique_ptr<ServerProcess> server_;
};

}  // namespace osprey::testing
