// The index file of a sealed segment (`NNNNNNNNNN.idx` beside `NNNNNNNNNN.seg`): the index
// entries of the sequences the segment holds, so a restart need not read the segment and
// memory need not hold them. A header block, then blocks of entries, each 4 KiB and
// checksummed (seeded with the segment id and block number, so a block from elsewhere does
// not pass): a reader loads one block per lookup and a damaged block is found on reading.
//
//   header: magic u64 | segment u64 | segment_size u64 | first u64 | count u64 | 0... | xxh64
//   block:  entries (ts i64, loc u64, subject_id u32, size u31 + has_hdr u1) x 170 | block u64 | xxh64
//
// Pure encoding; the file store does the I/O. Little-endian hosts only (as record.h).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "jetstream/store/message_index.h"

namespace osprey::jetstream::segment_index {

inline constexpr std::size_t kBlock = 4096;
inline constexpr std::size_t kEntrySize = 24;
inline constexpr std::size_t kPerBlock = (kBlock - 16) / kEntrySize;  // 170

struct Header {
    std::uint64_t segment = 0;
    std::uint64_t segment_size = 0;  // bytes of the segment the entries describe
    std::uint64_t first = 0;         // sequence of entries[0]
    std::uint64_t count = 0;         // entries, gaps included
    bool operator==(const Header&) const = default;
};

inline std::uint64_t file_size(std::uint64_t count) {
    return kBlock * (1 + (count + kPerBlock - 1) / kPerBlock);
}

std::string encode(const Header& h, const IndexEntry* entries, std::size_t n);
std::optional<Header> decode_header(std::string_view block);
// Fills out[0..kPerBlock) (fewer in the last block: the rest zero); false when damaged.
bool decode_block(std::string_view block, std::uint64_t segment, std::uint64_t block_no,
                  IndexEntry* out);

}  // namespace osprey::jetstream::segment_index
