#include "jetstream/store/record.h"

#include <xxhash.h>

#include <cstring>

namespace osprey::jetstream::record {

namespace {
template <typename T>
void put(std::string& out, T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));  // little-endian hosts only (x86-64, arm64)
    out.append(b, sizeof(T));
}
template <typename T>
T get(const char* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}
}  // namespace

void append(std::string& out, Type type, std::uint64_t seq, std::int64_t ts,
            std::string_view subject, std::string_view hdr, std::string_view data) {
    const std::size_t start = out.size();
    const auto length =
        std::uint32_t(kHeaderSize + subject.size() + hdr.size() + data.size() + kTrailerSize);
    put<std::uint32_t>(out, kMagic);
    put<std::uint32_t>(out, length);
    put<std::uint8_t>(out, std::uint8_t(type));
    put<std::uint64_t>(out, seq);
    put<std::int64_t>(out, ts);
    put<std::uint16_t>(out, std::uint16_t(subject.size()));
    put<std::uint32_t>(out, std::uint32_t(hdr.size()));
    out.append(subject);
    out.append(hdr);
    out.append(data);
    put<std::uint64_t>(out, XXH64(out.data() + start, out.size() - start, 0));
}

Decode decode(std::string_view in, View& v) {
    if (in.size() < 8) return Decode::NeedMore;
    if (get<std::uint32_t>(in.data()) != kMagic) return Decode::Bad;
    const auto length = get<std::uint32_t>(in.data() + 4);
    if (length < kHeaderSize + kTrailerSize || length > kMaxRecord) return Decode::Bad;
    if (in.size() < length) return Decode::NeedMore;
    const char* p = in.data();
    const auto sum = get<std::uint64_t>(p + length - kTrailerSize);
    if (XXH64(p, length - kTrailerSize, 0) != sum) return Decode::Bad;
    const auto type = get<std::uint8_t>(p + 8);
    if (type < 1 || type > 3) return Decode::Bad;
    v.type = Type(type);
    v.seq = get<std::uint64_t>(p + 9);
    v.ts = get<std::int64_t>(p + 17);
    const auto slen = get<std::uint16_t>(p + 25);
    const auto hlen = get<std::uint32_t>(p + 27);
    if (kHeaderSize + std::size_t(slen) + hlen + kTrailerSize > length) return Decode::Bad;
    const char* body = p + kHeaderSize;
    v.subject = std::string_view(body, slen);
    v.hdr = std::string_view(body + slen, hlen);
    v.data = std::string_view(body + slen + hlen, length - kHeaderSize - kTrailerSize - slen - hlen);
    v.length = length;
    return Decode::Ok;
}

}  // namespace osprey::jetstream::record
