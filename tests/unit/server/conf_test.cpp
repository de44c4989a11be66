// The nats-server configuration format on valid and broken files.
#include "server/conf.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "server/config.h"

using namespace osprey::server;

TEST(Conf, SeparatorsCommentsAndTypes) {
    auto m = conf::parse(R"(
# a comment
port: 4333
host = "127.0.0.1"   // trailing comment
server_name osprey-1
debug: true
trace: off
max_payload: 2MB
max_pending: 10kb
ratio: 1.5
ping_interval: "30s"
list: [a, "b", 3]
list2: [
  x
  y
]
block {
  inner: 1
}
)");
    ASSERT_TRUE(m) << m.error();
    conf::Value root;
    root.v = *m;
    EXPECT_EQ(root.find("port")->integer(), 4333);
    EXPECT_EQ(root.find("host")->str(), "127.0.0.1");
    EXPECT_EQ(root.find("server_name")->str(), "osprey-1");
    EXPECT_TRUE(root.find("debug")->boolean());
    EXPECT_FALSE(root.find("trace")->boolean());
    EXPECT_EQ(root.find("max_payload")->integer(), 2 * 1024 * 1024);
    EXPECT_EQ(root.find("max_pending")->integer(), 10 * 1024);
    EXPECT_EQ(root.find("list")->array().size(), 3u);
    EXPECT_EQ(root.find("list2")->array().size(), 2u);
    EXPECT_EQ(root.find("block")->find("inner")->integer(), 1);
    EXPECT_EQ(root.find("PORT")->integer(), 4333);  // keys are case-insensitive
}

// URLs keep their "//" in bare words (one-line route lists, as nats-server reads them); after a
// blank "//" is a comment.
TEST(Conf, BareUrlsAreNotComments) {
    auto m = conf::parse("routes: [nats://127.0.0.1:6222, nats://h:6223] // the others\nurl: nats://a:1\n");
    ASSERT_TRUE(m) << m.error();
    conf::Value root;
    root.v = *m;
    ASSERT_EQ(root.find("routes")->array().size(), 2u);
    EXPECT_EQ(root.find("routes")->array()[0].str(), "nats://127.0.0.1:6222");
    EXPECT_EQ(root.find("routes")->array()[1].str(), "nats://h:6223");
    EXPECT_EQ(root.find("url")->str(), "nats://a:1");
}

TEST(Conf, VariablesAndEnvironment) {
    ::setenv("OSPREY_TEST_PORT", "4555", 1);
    auto m = conf::parse(R"(
secret: "s3cr3t"
port: $OSPREY_TEST_PORT
authorization { token: $secret }
)");
    ASSERT_TRUE(m) << m.error();
    Options o;
    ASSERT_TRUE(apply_config(*m, o));
    EXPECT_EQ(o.port, 4555);
    EXPECT_EQ(o.token, "s3cr3t");
}

TEST(Conf, Include) {
    const std::string dir = ::testing::TempDir();
    {
        std::ofstream(dir + "/inc.conf") << "max_connections: 7\n";
        std::ofstream(dir + "/main.conf") << "port: 1234\ninclude ./inc.conf\n";
    }
    Options o;
    auto r = load_config_file(dir + "/main.conf", o);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(o.port, 1234);
    EXPECT_EQ(o.max_connections, 7);
}

TEST(Conf, ErrorsCarryLineAndColumn) {
    auto m = conf::parse("port: 4222\nhost: \"unterminated\n", "x.conf");
    ASSERT_FALSE(m);
    EXPECT_NE(m.error().find("x.conf:2:"), std::string::npos) << m.error();

    m = conf::parse("a {\n b: 1\n", "y.conf");
    ASSERT_FALSE(m);
    EXPECT_NE(m.error().find("y.conf:"), std::string::npos) << m.error();

    m = conf::parse("port: $NOPE_NOT_SET_ANYWHERE\n");
    ASSERT_FALSE(m);
    EXPECT_NE(m.error().find("1:7"), std::string::npos) << m.error();

    m = conf::parse("list: [1, 2\n");
    ASSERT_FALSE(m);
}

TEST(Conf, WrongTypeIsReportedWithPosition) {
    auto m = conf::parse("\nport: \"abc\"\n");
    ASSERT_TRUE(m);
    Options o;
    auto r = apply_config(*m, o, "z.conf");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("z.conf:2:1"), std::string::npos) << r.error();
}

TEST(Conf, AuthorizationUsersAndPermissions) {
    auto m = conf::parse(R"(
authorization {
  users: [
    {user: alice, password: "$2a$11$abcdefghijklmnopqrstuuIhI8Gb1gyMI3Qz0CrV5Ey7ZWs2DNGYy"}
    {user: bob, password: pw, permissions: {
        publish: {allow: ["a.>"], deny: ["a.secret"]}
        subscribe: "b.*"
    }}
  ]
  timeout: 3
}
)");
    ASSERT_TRUE(m) << m.error();
    Options o;
    ASSERT_TRUE(apply_config(*m, o));
    ASSERT_EQ(o.users.size(), 2u);
    EXPECT_EQ(o.users[1].permissions->publish.allow, std::vector<std::string>{"a.>"});
    EXPECT_EQ(o.users[1].permissions->publish.deny, std::vector<std::string>{"a.secret"});
    EXPECT_EQ(o.users[1].permissions->subscribe.allow, std::vector<std::string>{"b.*"});
    EXPECT_EQ(o.auth_timeout_ms, 3000);
}

TEST(Conf, AccountsExportsImports) {
    auto m = conf::parse(R"(
accounts {
  A: { users: [{user: a, password: a}], exports: [{stream: "ev.>"}, {service: "svc.*", accounts: [B]}] }
  B: { users: [{user: b, password: b}], imports: [
      {stream: {account: A, subject: "ev.>"}, prefix: "fromA"}
      {service: {account: A, subject: "svc.x"}, to: "x"}
  ] }
}
no_auth_user: a
)");
    ASSERT_TRUE(m) << m.error();
    Options o;
    ASSERT_TRUE(apply_config(*m, o));
    ASSERT_EQ(o.accounts.size(), 2u);
    EXPECT_EQ(o.accounts[0].exports.size(), 2u);
    EXPECT_TRUE(o.accounts[0].exports[1].service);
    EXPECT_EQ(o.accounts[1].imports[0].prefix, "fromA");
    EXPECT_EQ(o.accounts[1].imports[1].to, "x");
    EXPECT_EQ(o.no_auth_user, "a");
}

TEST(Conf, Durations) {
    EXPECT_EQ(*parse_duration_ms("2s"), 2000);
    EXPECT_EQ(*parse_duration_ms("1m30s"), 90000);
    EXPECT_EQ(*parse_duration_ms("250ms"), 250);
    EXPECT_EQ(*parse_duration_ms("1h"), 3600000);
    EXPECT_FALSE(parse_duration_ms("abc"));
    EXPECT_FALSE(parse_duration_ms("5x"));
}
