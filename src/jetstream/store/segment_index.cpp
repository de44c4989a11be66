#include "jetstream/store/segment_index.h"

#include <xxhash.h>

#include <cstring>

namespace osprey::jetstream::segment_index {

namespace {
constexpr std::uint64_t kMagic = 0x3130584449505350ull;  // "PSPIDX01"

void put(char* p, std::uint64_t v) { std::memcpy(p, &v, 8); }
std::uint64_t get(const char* p) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}
void seal_block(char* b, std::uint64_t seed) {
    put(b + kBlock - 8, XXH64(b, kBlock - 8, seed));
}
bool block_ok(const char* b, std::uint64_t seed) {
    return get(b + kBlock - 8) == XXH64(b, kBlock - 8, seed);
}
}  // namespace

std::string encode(const Header& h, const IndexEntry* entries, std::size_t n) {
    std::string out(file_size(n), '\0');
    char* b = out.data();
    put(b, kMagic);
    put(b + 8, h.segment);
    put(b + 16, h.segment_size);
    put(b + 24, h.first);
    put(b + 32, n);
    seal_block(b, h.segment);
    for (std::size_t i = 0, blk = 0; i < n; i += kPerBlock, ++blk) {
        char* p = b + kBlock * (1 + blk);
        for (std::size_t k = 0; k < kPerBlock && i + k < n; ++k) {
            const IndexEntry& e = entries[i + k];
            char* q = p + k * kEntrySize;
            put(q, std::uint64_t(e.ts));
            put(q + 8, e.loc);
            const std::uint32_t sid = e.subject_id, sz = e.size | (std::uint32_t(e.has_hdr) << 31);
            std::memcpy(q + 16, &sid, 4);
            std::memcpy(q + 20, &sz, 4);
        }
        put(p + kBlock - 16, blk);
        seal_block(p, h.segment ^ (std::uint64_t(blk + 1) << 32));
    }
    return out;
}

std::optional<Header> decode_header(std::string_view block) {
    if (block.size() < kBlock || get(block.data()) != kMagic) return std::nullopt;
    Header h;
    h.segment = get(block.data() + 8);
    if (!block_ok(block.data(), h.segment)) return std::nullopt;
    h.segment_size = get(block.data() + 16);
    h.first = get(block.data() + 24);
    h.count = get(block.data() + 32);
    return h;
}

bool decode_block(std::string_view block, std::uint64_t segment, std::uint64_t block_no,
                  IndexEntry* out) {
    if (block.size() < kBlock) return false;
    const char* p = block.data();
    if (!block_ok(p, segment ^ ((block_no + 1) << 32)) || get(p + kBlock - 16) != block_no)
        return false;
    for (std::size_t k = 0; k < kPerBlock; ++k) {
        const char* q = p + k * kEntrySize;
        IndexEntry& e = out[k];
        e.ts = std::int64_t(get(q));
        e.loc = get(q + 8);
        std::uint32_t sid, sz;
        std::memcpy(&sid, q + 16, 4);
        std::memcpy(&sz, q + 20, 4);
        e.subject_id = sid;
        e.size = sz & 0x7fffffffu;
        e.has_hdr = sz >> 31;
    }
    return true;
}

}  // namespace osprey::jetstream::segment_index
