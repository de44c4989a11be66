// Little-endian u64 fields for the store's own files (the index summary): appending them, and
// reading them back with a sticky failure flag (a short or damaged input reads as zeros and
// says so once, at the end). Little-endian hosts only (as record.h).
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace osprey::jetstream::le_bytes {

inline void put64(std::string& out, std::uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }

struct Reader {
    std::string_view in;
    bool ok = true;
    std::uint64_t u64() {
        if (in.size() < 8) {
            ok = false;
            return 0;
        }
        std::uint64_t v;
        std::memcpy(&v, in.data(), 8);
        in.remove_prefix(8);
        return v;
    }
    std::string_view bytes(std::uint64_t n) {
        if (in.size() < n) {
            ok = false;
            return {};
        }
        auto v = in.substr(0, std::size_t(n));
        in.remove_prefix(std::size_t(n));
        return v;
    }
};

}  // namespace osprey::jetstream::le_bytes
