// A fast per-thread PRNG (xoshiro-style splitmix) for queue-member choice and ids.
// Not for secrets.
#pragma once
#include <cstdint>
#include <random>
#include <string>

namespace osprey::util {

inline std::uint64_t fast_rand() {
    thread_local std::uint64_t state = [] {
        std::random_device rd;
        return (std::uint64_t(rd()) << 32) ^ rd() ^ 0x9e3779b97f4a7c15ULL;
    }();
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// An id shaped like a NATS server id: 'N' followed by 55 base32 characters.
inline std::string server_id() {
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    std::string id = "N";
    for (int i = 0; i < 55; ++i) id += kAlphabet[fast_rand() % 32];
    return id;
}

// A random token of base62 characters (reply-subject prefixes and the like).
inline std::string random_token(int len) {
    static constexpr char kAlphabet[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    std::string s;
    for (int i = 0; i < len; ++i) s += kAlphabet[fast_rand() % 62];
    return s;
}

}  // namespace osprey::util
