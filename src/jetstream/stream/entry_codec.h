// The varint and length-prefixed fields of a replicated stream's log entries (internal to
// jetstream/): a Reader never reads past its input, so a damaged entry is refused, not
// followed.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace osprey::jetstream::entry {

inline void put_varint(std::string& out, std::uint64_t v) {
    while (v >= 0x80) {
        out.push_back(char(v | 0x80));
        v >>= 7;
    }
    out.push_back(char(v));
}

inline void put_bytes(std::string& out, std::string_view b) {
    put_varint(out, b.size());
    out.append(b);
}

struct Reader {
    std::string_view in;
    bool varint(std::uint64_t& v) {
        v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (in.empty()) return false;
            const auto c = std::uint8_t(in.front());
            in.remove_prefix(1);
            v |= std::uint64_t(c & 0x7f) << shift;
            if (!(c & 0x80)) return true;
        }
        return false;
    }
    bool bytes(std::string_view& b) {
        std::uint64_t n;
        if (!varint(n) || n > in.size()) return false;
        b = in.substr(0, n);
        in.remove_prefix(n);
        return true;
    }
};

// Entry kinds (the first byte). 0xC0 and up belong to the cluster layer (compaction).
constexpr std::uint8_t kMessages = 1;
constexpr std::uint8_t kPurge = 2;   // varint proposer, varint op, bytes filter, varint below[, varint keep]
constexpr std::uint8_t kDelete = 3;  // varint proposer, varint op, varint seq, varint no_erase
// Durable consumers (stream_consumer_replica.cpp):
constexpr std::uint8_t kConsumerCreate = 4;  // varint proposer, varint op, bytes name, varint created_ns, bytes config
constexpr std::uint8_t kConsumerDelete = 5;  // varint proposer, varint op, bytes name
constexpr std::uint8_t kConsumerAck = 6;     // varint proposer, varint op (0: no confirmation), bytes name, u8 kind, varint sseq
constexpr std::uint8_t kConsumerState = 7;   // varint proposer, bytes name, bytes state
// Interest retention, decided by the leader (it knows every consumer, its ephemerals too):
// varint proposer, varint floor (everything up to it goes; 0: none), varint count, varint seq...
// A messages entry may end with the same list for messages nobody was interested in.
constexpr std::uint8_t kInterestDrop = 8;

}  // namespace osprey::jetstream::entry
