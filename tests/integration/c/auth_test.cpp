// Authentication, permissions and accounts with the nats.c client.
#include <crypt.h>

#include <filesystem>
#include <fstream>

#include "c/nats_helpers.h"

using namespace osprey::testing;

namespace {

std::string write_config(const std::string& text) {
    static int n = 0;
    std::string path = "/tmp/osprey-auth-" + std::to_string(::getpid()) + "-" +
                       std::to_string(n++) + ".conf";
    std::ofstream(path) << text;
    return path;
}

std::string bcrypt(const std::string& password) {
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    crypt_gensalt_rn("$2b$", 4, nullptr, 0, setting, sizeof setting);
    crypt_data data{};
    return crypt_r(password.c_str(), setting, &data);
}

Conn connect_user(const std::string& url, const char* user, const char* pass,
                  natsStatus* st = nullptr) {
    auto o = make_opts(url);
    natsOptions_SetUserInfo(o.get(), user, pass);
    return connect_with(o.get(), st);
}

struct ErrorCollector {
    std::mutex mu;
    std::string last;
    static void on_error(natsConnection* nc, natsSubscription*, natsStatus, void* closure) {
        auto* self = static_cast<ErrorCollector*>(closure);
        const char* text = nullptr;
        natsConnection_GetLastError(nc, &text);
        std::lock_guard lk(self->mu);
        self->last = text ? text : "";
    }
    std::string get() {
        std::lock_guard lk(mu);
        return last;
    }
};

}  // namespace

TEST(Auth, Token) {
    ServerProcess srv(OSPREY_BIN, {"--auth", "s3cret"});
    natsStatus st;
    auto o = make_opts(srv.url());
    Conn none = connect_with(o.get(), &st);
    EXPECT_NE(st, NATS_OK);
    natsOptions_SetToken(o.get(), "wrong");
    Conn bad = connect_with(o.get(), &st);
    EXPECT_NE(st, NATS_OK);
    natsOptions_SetToken(o.get(), "s3cret");
    Conn good = connect_with(o.get(), &st);
    EXPECT_EQ(st, NATS_OK);
}

TEST(Auth, UserPasswordFromFlags) {
    ServerProcess srv(OSPREY_BIN, {"--user", "u", "--pass", "p"});
    natsStatus st;
    connect_user(srv.url(), "u", "wrong", &st);
    EXPECT_NE(st, NATS_OK);
    Conn ok = connect_user(srv.url(), "u", "p", &st);
    EXPECT_EQ(st, NATS_OK);
}

TEST(Auth, RawViolationText) {
    ServerProcess srv(OSPREY_BIN, {"--user", "u", "--pass", "p"});
    RawConn raw(srv.port());
    std::string info = raw.read("\r\n");
    EXPECT_NE(info.find("\"auth_required\":true"), std::string::npos) << info;
    raw.send("CONNECT {\"user\":\"u\",\"pass\":\"x\"}\r\n");
    std::string out = raw.read("", 1000);
    EXPECT_EQ(out, "-ERR 'Authorization Violation'\r\n");
    EXPECT_TRUE(raw.closed());
}

TEST(Auth, BcryptUsersAndPermissions) {
    std::string cfg = write_config(
        "authorization {\n  users: [\n"
        "    {user: admin, password: \"" + bcrypt("adminpw") + "\"}\n"
        "    {user: limited, password: lpw, permissions: {\n"
        "       publish: {allow: [\"ok.>\"], deny: [\"ok.secret\"]}\n"
        "       subscribe: {allow: [\"ok.>\", \"_INBOX.>\"]}\n"
        "    }}\n  ]\n}\n");
    ServerProcess srv(OSPREY_BIN, {"-c", cfg});
    natsStatus st;
    connect_user(srv.url(), "admin", "nope", &st);
    EXPECT_NE(st, NATS_OK);
    Conn admin = connect_user(srv.url(), "admin", "adminpw", &st);
    ASSERT_EQ(st, NATS_OK);

    ErrorCollector errs;
    auto o = make_opts(srv.url());
    natsOptions_SetUserInfo(o.get(), "limited", "lpw");
    natsOptions_SetErrorHandler(o.get(), &ErrorCollector::on_error, &errs);
    Conn lim = connect_with(o.get(), &st);
    ASSERT_EQ(st, NATS_OK);

    Sub watch = subscribe_sync(admin.get(), "ok.>");
    natsConnection_Flush(admin.get());
    natsConnection_PublishString(lim.get(), "ok.public", "1");
    natsConnection_PublishString(lim.get(), "ok.secret", "2");
    natsConnection_Flush(lim.get());
    Msg m = next(watch.get());
    ASSERT_TRUE(m);
    EXPECT_STREQ(natsMsg_GetSubject(m.get()), "ok.public");
    EXPECT_FALSE(next(watch.get(), 200));
    for (int i = 0; i < 50 && errs.get().empty(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_NE(errs.get().find("Permissions Violation for Publish to \"ok.secret\""),
              std::string::npos)
        << errs.get();
    // The connection survives a violation.
    EXPECT_EQ(natsConnection_Status(lim.get()), NATS_CONN_STATUS_CONNECTED);

    // Subscribe violation, raw, to see the exact text.
    RawConn raw(srv.port());
    raw.read("\r\n");
    raw.send("CONNECT {\"user\":\"limited\",\"pass\":\"lpw\",\"verbose\":false}\r\n"
             "SUB not.allowed 1\r\nPING\r\n");
    std::string out = raw.read("PONG\r\n");
    EXPECT_EQ(out, "-ERR 'Permissions Violation for Subscription to \"not.allowed\"'\r\nPONG\r\n");
}

TEST(Auth, AccountsIsolateAndImportsCross) {
    std::string cfg = write_config(R"(
accounts {
  A: {
    users: [{user: a, password: a}]
    exports: [{stream: "events.>"}, {service: "help.>"}]
  }
  B: {
    users: [{user: b, password: b}]
    imports: [
      {stream: {account: A, subject: "events.>"}, prefix: "a"}
      {service: {account: A, subject: "help.me"}, to: "help"}
    ]
  }
  C: { users: [{user: c, password: c}] }
}
)");
    ServerProcess srv(OSPREY_BIN, {"-c", cfg});
    Conn a = connect_user(srv.url(), "a", "a");
    Conn b = connect_user(srv.url(), "b", "b");
    Conn c = connect_user(srv.url(), "c", "c");
    ASSERT_TRUE(a && b && c);

    // Same subject, different accounts: no crossing.
    Sub cs = subscribe_sync(c.get(), "events.x");
    Sub bs_plain = subscribe_sync(b.get(), "events.x");
    // The stream import appears in B under the prefix.
    Sub bs = subscribe_sync(b.get(), "a.events.>");
    natsConnection_Flush(b.get());
    natsConnection_Flush(c.get());
    natsConnection_PublishString(a.get(), "events.x", "hello");
    natsConnection_Flush(a.get());
    Msg m = next(bs.get());
    ASSERT_TRUE(m);
    EXPECT_STREQ(natsMsg_GetSubject(m.get()), "a.events.x");
    EXPECT_FALSE(next(cs.get(), 200));
    EXPECT_FALSE(next(bs_plain.get(), 100));

    // Publishing in C does not reach A.
    Sub as = subscribe_sync(a.get(), "events.x");
    natsConnection_Flush(a.get());
    natsConnection_PublishString(c.get(), "events.x", "from c");
    natsConnection_Flush(c.get());
    EXPECT_FALSE(next(as.get(), 200));

    // Service import: B requests "help", A answers on "help.me".
    Sub svc = subscribe_sync(a.get(), "help.me");
    natsConnection_Flush(a.get());
    std::thread responder([&] {
        Msg req = next(svc.get(), 3000);
        if (req) natsConnection_PublishString(a.get(), natsMsg_GetReply(req.get()), "helped");
    });
    natsMsg* reply = nullptr;
    natsStatus st = natsConnection_RequestString(&reply, b.get(), "help", "please", 3000);
    responder.join();
    ASSERT_EQ(st, NATS_OK) << natsStatus_GetText(st);
    EXPECT_EQ(data(reply), "helped");
    natsMsg_Destroy(reply);
}

TEST(Auth, UnexportedImportIsAConfigError) {
    std::string cfg = write_config(R"(
accounts {
  A: { users: [{user: a, password: a}] }
  B: { users: [{user: b, password: b}], imports: [{stream: {account: A, subject: "x"}}] }
}
)");
    EXPECT_THROW(ServerProcess(OSPREY_BIN, {"-c", cfg}), std::runtime_error);
}

TEST(Auth, NoAuthUser) {
    std::string cfg = write_config(R"(
accounts {
  A: { users: [{user: a, password: a}] }
  B: { users: [{user: b, password: b}] }
}
no_auth_user: b
)");
    ServerProcess srv(OSPREY_BIN, {"-c", cfg});
    Conn anon = connect(srv.url());  // lands in B
    Conn b = connect_user(srv.url(), "b", "b");
    Conn a = connect_user(srv.url(), "a", "a");
    ASSERT_TRUE(anon && a && b);
    Sub sb = subscribe_sync(b.get(), "q");
    Sub sa = subscribe_sync(a.get(), "q");
    natsConnection_Flush(b.get());
    natsConnection_Flush(a.get());
    natsConnection_PublishString(anon.get(), "q", "x");
    natsConnection_Flush(anon.get());
    EXPECT_TRUE(next(sb.get()));
    EXPECT_FALSE(next(sa.get(), 200));
}

TEST(Auth, AuthenticationTimeout) {
    std::string cfg = write_config("authorization { token: t, timeout: 0.3 }\n");
    ServerProcess srv(OSPREY_BIN, {"-c", cfg});
    RawConn raw(srv.port());
    std::string out = raw.read("Timeout'\r\n", 3000);
    EXPECT_NE(out.find("-ERR 'Authentication Timeout'"), std::string::npos) << out;
}

TEST(Auth, MaxConnections) {
    std::string cfg = write_config("max_connections: 2\n");
    ServerProcess srv(OSPREY_BIN, {"-c", cfg});
    Conn a = connect(srv.url());
    Conn b = connect(srv.url());
    ASSERT_TRUE(a && b);
    RawConn raw(srv.port());
    std::string out = raw.read("exceeded'\r\n");
    EXPECT_NE(out.find("-ERR 'maximum connections exceeded'"), std::string::npos) << out;
}

// The system account's events and requests, as monitoring tools use them over NATS: both
// servers, the same config, the same observations.
TEST(Auth, SystemAccountEventsAndRequests) {
    const std::string cfg = write_config(R"(
accounts {
  SYS: { users: [{user: sys, password: sys}] }
  APP: { users: [{user: app, password: app}] }
}
system_account: SYS
)");
    for (const std::string& bin : {std::string(NATS_SERVER_BIN), std::string(OSPREY_BIN)}) {
        if (!std::filesystem::exists(bin)) continue;
        SCOPED_TRACE(bin);
        ServerProcess srv(bin, {"-c", cfg});
        Conn sys = connect_user(srv.url(), "sys", "sys");
        ASSERT_TRUE(sys);
        Sub events = subscribe_sync(sys.get(), "$SYS.ACCOUNT.APP.*");
        natsConnection_Flush(sys.get());
        {
            auto o = make_opts(srv.url());
            natsOptions_SetUserInfo(o.get(), "app", "app");
            natsOptions_SetName(o.get(), "app-client");
            Conn app = connect_with(o.get());
            ASSERT_TRUE(app);
            Msg ev = next(events.get(), 2000);
            ASSERT_TRUE(ev);
            EXPECT_STREQ(natsMsg_GetSubject(ev.get()), "$SYS.ACCOUNT.APP.CONNECT");
            const std::string body = data(ev.get());
            for (const char* f : {"\"type\":\"io.nats.server.advisory.v1.client_connect\"", "\"acc\":\"APP\"",
                                  "\"user\":\"app\"", "\"name\":\"app-client\"", "\"kind\":\"Client\""})
                EXPECT_NE(body.find(f), std::string::npos) << f << "\n" << body;
            // An account asks about its own connections.
            natsMsg* r = nullptr;
            ASSERT_EQ(natsConnection_RequestString(&r, app.get(), "$SYS.REQ.ACCOUNT.PING.CONNZ", "", 2000), NATS_OK);
            Msg reply(r);
            const std::string connz = data(reply.get());
            EXPECT_NE(connz.find("\"data\":{"), std::string::npos) << connz;
            EXPECT_NE(connz.find("\"num_connections\":1"), std::string::npos) << connz;
            EXPECT_NE(connz.find("\"server\":{"), std::string::npos) << connz;
        }  // the app disconnects
        Msg gone = next(events.get(), 2000);
        ASSERT_TRUE(gone);
        // nats-server may announce the account's connection count first.
        while (gone && std::string(natsMsg_GetSubject(gone.get())) != "$SYS.ACCOUNT.APP.DISCONNECT")
            gone = next(events.get(), 2000);
        ASSERT_TRUE(gone);
        EXPECT_NE(data(gone.get()).find("\"reason\":\"Client Closed\""), std::string::npos) << data(gone.get());
        // The system account asks the server.
        natsMsg* r = nullptr;
        ASSERT_EQ(natsConnection_RequestString(&r, sys.get(), "$SYS.REQ.SERVER.PING.VARZ", "", 2000), NATS_OK);
        Msg varz(r);
        EXPECT_NE(data(varz.get()).find("\"server_id\""), std::string::npos) << data(varz.get());
        ASSERT_EQ(natsConnection_RequestString(&r, sys.get(), "$SYS.REQ.SERVER.PING", "", 2000), NATS_OK);
        Msg statsz(r);
        EXPECT_NE(data(statsz.get()).find("\"statsz\":{"), std::string::npos) << data(statsz.get());
        ASSERT_EQ(natsConnection_RequestString(&r, sys.get(), "$SYS.REQ.ACCOUNT.APP.INFO", "", 2000), NATS_OK);
        Msg info(r);
        EXPECT_NE(data(info.get()).find("\"account_name\":\"APP\""), std::string::npos) << data(info.get());
    }
}
