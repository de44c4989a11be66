// FNV-1a, 64 bits: a stable hash of names (Raft node ids from server names, seeds, group
// names), the same in every process and release.
#pragma once
#include <cstdint>
#include <string_view>

namespace osprey::util {

inline std::uint64_t fnv1a64(std::string_view s, std::uint64_t h = 1469598103934665603ull) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    return h;
}

}  // namespace osprey::util
