#include "util/go_text.h"

#include <gtest/gtest.h>

using namespace osprey::util;

TEST(GoText, DurationsAsGoPrintsThem) {
    EXPECT_EQ(go_duration(0), "0s");
    EXPECT_EQ(go_duration(999), "999ns");
    EXPECT_EQ(go_duration(1500), "1.5\u00b5s");
    EXPECT_EQ(go_duration(500'000'000), "500ms");
    EXPECT_EQ(go_duration(1'000'000'000), "1s");
    EXPECT_EQ(go_duration(1'500'000'000), "1.5s");
    EXPECT_EQ(go_duration(90'000'000'000), "1m30s");
    EXPECT_EQ(go_duration(7'200'000'000'000), "2h0m0s");
    EXPECT_EQ(go_duration(-1'000'000'000), "-1s");
}

TEST(GoText, AtoiLikeStrconv) {
    bool oor = false;
    EXPECT_EQ(go_atoi("42", oor), 42);
    EXPECT_EQ(go_atoi("+7", oor), 7);
    EXPECT_EQ(go_atoi("-9223372036854775808", oor), INT64_MIN);
    EXPECT_FALSE(go_atoi("9223372036854775808", oor));
    EXPECT_TRUE(oor);
    EXPECT_FALSE(go_atoi("12a", oor));
    EXPECT_FALSE(oor);
    EXPECT_FALSE(go_atoi("", oor));
    EXPECT_FALSE(go_atoi("-", oor));
}
