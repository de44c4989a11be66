// The on-disk record of the FileStore, one per message or tombstone:
//
//   magic u32 | length u32 | type u8 | seq u64 | ts i64 | subj_len u16 | hdr_len u32 |
//   subject | headers | data | xxh64 u64 (of every byte before it)
//
// Little-endian. `length` covers the whole record. The magic lets recovery find the next
// record after a damaged one (a flipped length must not hide what follows); the checksum
// keeps a damaged record from ever being served.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace osprey::jetstream::record {

inline constexpr std::uint32_t kMagic = 0x5250534f;  // "OSPR"
inline constexpr std::size_t kHeaderSize = 4 + 4 + 1 + 8 + 8 + 2 + 4;
inline constexpr std::size_t kTrailerSize = 8;
inline constexpr std::size_t kMaxRecord = 80u * 1024 * 1024;

enum class Type : std::uint8_t {
    Message = 1,
    Delete = 2,  // tombstone for `seq`
    Purge = 3,   // every sequence below `seq` is gone; `seq` is the next first sequence
};

struct View {
    Type type;
    std::uint64_t seq;
    std::int64_t ts;
    std::string_view subject, hdr, data;
    std::uint32_t length;
};

void append(std::string& out, Type type, std::uint64_t seq, std::int64_t ts,
            std::string_view subject, std::string_view hdr, std::string_view data);

enum class Decode { Ok, NeedMore, Bad };
// Decodes the record at the front of `in`.
Decode decode(std::string_view in, View& out);

}  // namespace osprey::jetstream::record
