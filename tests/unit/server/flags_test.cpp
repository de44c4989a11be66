#include "server/flags.h"

#include <gtest/gtest.h>

using namespace osprey::server;

namespace {
Options apply(std::vector<std::string> args) {
    auto f = parse_flags(args);
    EXPECT_TRUE(f) << (f ? "" : f.error());
    Options o;
    EXPECT_TRUE(apply_flags(*f, o));
    return o;
}
}  // namespace

TEST(Flags, GoStyleSpellings) {
    Options o = apply({"-p", "5000", "--addr=::", "-m=8333", "--name", "n1", "-DV"});
    EXPECT_EQ(o.port, 5000);
    EXPECT_EQ(o.host, "::");
    EXPECT_EQ(o.http_port, 8333);
    EXPECT_EQ(o.server_name, "n1");
    EXPECT_TRUE(o.debug);
    EXPECT_TRUE(o.trace);
    o = apply({"-T=false", "--user", "u", "--pass", "p", "-js", "-sd", "/tmp/x"});
    EXPECT_FALSE(o.logtime);
    EXPECT_EQ(o.username, "u");
    EXPECT_EQ(o.password, "p");
    EXPECT_TRUE(o.jetstream);
    EXPECT_EQ(o.store_dir, "/tmp/x");
}

TEST(Flags, UnknownFlagIsAnError) {
    auto f = parse_flags({"-x"});
    ASSERT_FALSE(f);
    EXPECT_EQ(f.error(), "flag provided but not defined: -x");
    EXPECT_FALSE(parse_flags({"-p"}));  // needs an argument
    auto g = parse_flags({"-p", "abc"});
    ASSERT_TRUE(g);
    Options o;
    EXPECT_FALSE(apply_flags(*g, o));
}

TEST(Flags, ConfigHelpVersion) {
    auto f = parse_flags({"-c", "x.conf", "-h"});
    ASSERT_TRUE(f);
    EXPECT_EQ(f->config_file, "x.conf");
    EXPECT_TRUE(f->show_help);
    EXPECT_TRUE(parse_flags({"--version"})->show_version);
}
