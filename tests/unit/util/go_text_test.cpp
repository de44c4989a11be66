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

#include "util/go_json.h"

// The texts Go's json.Unmarshal gives (checked against Go 1.19's encoding/json).
TEST(GoJson, SyntaxErrorsInGosWords) {
    using osprey::util::go_json_syntax_error;
    EXPECT_FALSE(go_json_syntax_error(R"({"batch": 1, "no_wait": true})"));
    EXPECT_FALSE(go_json_syntax_error(" [1, 2.5e3, -0, \"x\\u00e9\", null, false] "));
    EXPECT_FALSE(go_json_syntax_error("12"));
    EXPECT_EQ(*go_json_syntax_error("{bad"), "invalid character 'b' looking for beginning of object key string");
    EXPECT_EQ(*go_json_syntax_error("{\"a\" 1}"), "invalid character '1' after object key");
    EXPECT_EQ(*go_json_syntax_error("{\"a\":1 \"b\":2}"), "invalid character '\"' after object key:value pair");
    EXPECT_EQ(*go_json_syntax_error("[1 2]"), "invalid character '2' after array element");
    EXPECT_EQ(*go_json_syntax_error("{\"a\":"), "unexpected end of JSON input");
    EXPECT_EQ(*go_json_syntax_error("{\"a\":tru}"), "invalid character '}' in literal true (expecting 'e')");
    EXPECT_EQ(*go_json_syntax_error("{\"a\":01}"), "invalid character '1' after object key:value pair");
    EXPECT_EQ(*go_json_syntax_error("{\"a\":1.}"), "invalid character '}' after decimal point in numeric literal");
    EXPECT_EQ(*go_json_syntax_error("{} x"), "invalid character 'x' after top-level value");
    EXPECT_EQ(*go_json_syntax_error("{'a':1}"), "invalid character '\\'' looking for beginning of object key string");
    EXPECT_EQ(*go_json_syntax_error("{\"a\":\"\n\"}"), "invalid character '\\n' in string literal");
}
