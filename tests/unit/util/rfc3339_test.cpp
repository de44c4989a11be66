#include "util/rfc3339.h"

#include <gtest/gtest.h>

using namespace osprey::util;

TEST(Rfc3339, ParsesZonesAndFractions) {
    auto z = parse_rfc3339("2026-11-26T13:03:19Z");
    ASSERT_TRUE(z);
    EXPECT_EQ(z->unix_ns, 1795698199LL * 1'000'000'000);
    auto plus = parse_rfc3339("2026-11-26T14:03:19.5+01:00");
    ASSERT_TRUE(plus);
    EXPECT_EQ(plus->unix_ns, z->unix_ns + 500'000'000);
    EXPECT_EQ(plus->offset_minutes, 60);
    auto minus = parse_rfc3339("2026-11-26T08:33:19.000000001-04:30");
    ASSERT_TRUE(minus);
    EXPECT_EQ(minus->unix_ns, z->unix_ns + 1);
    EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:00Z")->unix_ns, 0);
    EXPECT_EQ(parse_rfc3339("1969-12-31T23:59:59Z")->unix_ns, -1'000'000'000);
}

TEST(Rfc3339, RejectsMalformed) {
    for (const char* bad : {"", "yesterday", "2026-11-26", "2026-11-26T13:03:19", "2026-13-01T00:00:00Z",
                            "2026-11-26T13:03:19.Z", "2026-11-26T13:03:19+0100", "2026-11-26T13:03:19Zx"})
        EXPECT_FALSE(parse_rfc3339(bad)) << bad;
}

TEST(Rfc3339, FormatsAsGoRfc3339Nano) {
    EXPECT_EQ(format_rfc3339_nano(*parse_rfc3339("2026-11-26T13:03:19.500000000+01:00")),
              "2026-11-26T13:03:19.5+01:00");
    EXPECT_EQ(format_rfc3339_nano(*parse_rfc3339("2026-11-26T13:03:19+00:00")), "2026-11-26T13:03:19Z");
    EXPECT_EQ(format_rfc3339_nano(*parse_rfc3339("2026-11-26T13:03:19.000000120Z")),
              "2026-11-26T13:03:19.00000012Z");
    EXPECT_EQ(format_rfc3339_nano(*parse_rfc3339("2026-11-26T08:33:19-04:30")), "2026-11-26T08:33:19-04:30");
}
