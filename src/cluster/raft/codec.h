// Binary encoding of Raft messages for the wire, and the primitives the WAL shares with it.
// Layout: a version byte, then LEB128 varints for every integer, a flag byte for the booleans
// and the optional snapshot, length-prefixed byte strings. decode() treats its input as hostile:
// every count and length is checked against the bytes left before anything is allocated, and
// anything not exactly one well-formed message (truncated, trailing bytes, unknown enum values,
// unknown flag bits, a non-canonical membership) is rejected.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/raft/types.h"

namespace osprey::raft {

constexpr std::uint8_t kCodecVersion = 1;

std::string encode(const Message& m);
std::optional<Message> decode(std::string_view data);

namespace wire {

void put_u8(std::string& out, std::uint8_t v);
void put_varint(std::string& out, std::uint64_t v);
void put_bytes(std::string& out, std::string_view b);  // varint length, then the bytes
void put_entries(std::string& out, const Entry* e, std::size_t n);
void put_snapshot(std::string& out, const SnapshotMeta& meta, std::string_view data);
void put_hard_state(std::string& out, const HardState& hs);
void put_u32(std::string& out, std::uint32_t v);  // little-endian, fixed width
std::uint32_t get_u32(const char* p);
// CRC-32C (Castagnoli), as in iSCSI, ext4 and most WALs; crc32c("123456789") == 0xE3069283.
std::uint32_t crc32c(std::string_view data, std::uint32_t crc = 0);

// Reads what the put_ functions wrote. Every getter returns false (and leaves the reader
// failed) on truncated or malformed input.
class Reader {
public:
    explicit Reader(std::string_view in) : in_(in) {}
    bool u8(std::uint8_t& v);
    bool varint(std::uint64_t& v);
    bool bytes(std::string& v);
    bool entries(std::vector<Entry>& v);
    bool snapshot(SnapshotMeta& meta, std::string& data);
    bool hard_state(HardState& hs);
    std::size_t left() const { return in_.size() - pos_; }
    bool done() const { return ok_ && pos_ == in_.size(); }

private:
    bool fail() { return ok_ = false; }
    std::string_view in_;
    std::size_t pos_ = 0;
    bool ok_ = true;
};

}  // namespace wire
}  // namespace osprey::raft
