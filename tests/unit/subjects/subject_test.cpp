#include "subjects/subject.h"

#include <gtest/gtest.h>

using namespace osprey::subjects;

TEST(Subject, Validity) {
    EXPECT_TRUE(valid_subject("foo"));
    EXPECT_TRUE(valid_subject("foo.bar.*"));
    EXPECT_TRUE(valid_subject("foo.>"));
    EXPECT_TRUE(valid_subject(">"));
    EXPECT_TRUE(valid_subject("foo*.bar"));  // '*' inside a token is a plain character
    EXPECT_FALSE(valid_subject(""));
    EXPECT_FALSE(valid_subject("foo..bar"));
    EXPECT_FALSE(valid_subject(".foo"));
    EXPECT_FALSE(valid_subject("foo."));
    EXPECT_FALSE(valid_subject("foo.>.bar"));
    EXPECT_FALSE(valid_subject("foo bar"));
    EXPECT_TRUE(valid_literal_subject("foo.bar"));
    EXPECT_FALSE(valid_literal_subject("foo.*"));
    EXPECT_FALSE(valid_literal_subject("foo.>"));
}

TEST(Subject, Matches) {
    EXPECT_TRUE(matches("foo.*", "foo.bar"));
    EXPECT_FALSE(matches("foo.*", "foo.bar.baz"));
    EXPECT_TRUE(matches("foo.>", "foo.bar.baz"));
    EXPECT_FALSE(matches("foo.>", "foo"));
    EXPECT_TRUE(matches(">", "a"));
    EXPECT_TRUE(matches("*.b.*", "a.b.c"));
    EXPECT_FALSE(matches("a.b", "a.b.c"));
    EXPECT_FALSE(matches("a.b.c", "a.b"));
}

TEST(Subject, Subset) {
    EXPECT_TRUE(is_subset("foo.bar", "foo.*"));
    EXPECT_TRUE(is_subset("foo.*", "foo.>"));
    EXPECT_TRUE(is_subset("foo.>", "foo.>"));
    EXPECT_FALSE(is_subset("foo.>", "foo.*"));
    EXPECT_FALSE(is_subset("foo.*", "foo.bar"));
    EXPECT_TRUE(is_subset("a.b.c", ">"));
}
