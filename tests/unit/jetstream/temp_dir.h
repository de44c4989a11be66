// A fresh directory per call under gtest's temporary directory, for the store tests.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace osprey::testing {

inline std::string temp_dir(const std::string& prefix = "osprey-store") {
    static int n = 0;
    auto d = std::filesystem::path(::testing::TempDir()) /
             (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    std::filesystem::remove_all(d);
    return d.string();
}

}  // namespace osprey::testing
