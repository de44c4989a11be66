// nkeys decoding and Ed25519 verification. The decoders are ports of Go's encoding/base32 and
// encoding/base64 decode loops (Go 1.19), because nats-server's acceptance and its error texts
// are theirs: a hand-rolled "strict" decoder would refuse keys and signatures Go takes.
#include "server/auth/nkey.h"

#include <openssl/evp.h>

#include <memory>
#include <optional>

namespace osprey::server::auth {

namespace {

constexpr char kB32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr char kB64Std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int b32_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= '2' && c <= '7') return c - '2' + 26;
    return -1;
}

int b64_value(unsigned char c, const char* alphabet) {
    for (int i = 0; i < 64; ++i)
        if (static_cast<unsigned char>(alphabet[i]) == c) return i;
    return -1;
}

std::string b32_error(std::size_t at) {
    return "illegal base32 data at input byte " + std::to_string(at);
}
std::string b64_error(std::size_t at) {
    return "illegal base64 data at input byte " + std::to_string(at);
}

// Go's base64 Decode: repeated decodeQuantum (the 8-byte fast path gives the same result).
std::expected<Bytes, std::string> b64_decode(std::string_view src, const char* alphabet,
                                             bool padded) {
    Bytes out;
    std::size_t si = 0;
    while (si < src.size()) {
        int dbuf[4] = {0, 0, 0, 0};
        int dlen = 4;
        std::optional<std::string> err;
        for (int j = 0; j < 4; ++j) {
            if (si == src.size()) {
                if (j == 0) return out;
                if (j == 1 || padded) return std::unexpected(b64_error(si - j));
                dlen = j;
                break;
            }
            const unsigned char in = static_cast<unsigned char>(src[si++]);
            const int v = b64_value(in, alphabet);
            if (v >= 0) {
                dbuf[j] = v;
                continue;
            }
            if (in == '\n' || in == '\r') {
                --j;
                continue;
            }
            if (!padded || in != '=') return std::unexpected(b64_error(si - 1));
            // Padding: only after two or three characters, "==" after two.
            if (j == 0 || j == 1) return std::unexpected(b64_error(si - 1));
            if (j == 2) {
                while (si < src.size() && (src[si] == '\n' || src[si] == '\r')) ++si;
                if (si == src.size()) return std::unexpected(b64_error(src.size()));
                if (src[si] != '=') return std::unexpected(b64_error(si - 1));
                ++si;
            }
            while (si < src.size() && (src[si] == '\n' || src[si] == '\r')) ++si;
            if (si < src.size()) err = b64_error(si);  // trailing garbage
            dlen = j;
            break;
        }
        const unsigned val = unsigned(dbuf[0]) << 18 | unsigned(dbuf[1]) << 12 |
                             unsigned(dbuf[2]) << 6 | unsigned(dbuf[3]);
        const std::uint8_t b[3] = {std::uint8_t(val >> 16), std::uint8_t(val >> 8),
                                   std::uint8_t(val)};
        for (int k = 0; k < dlen - 1; ++k) out.push_back(b[k]);
        if (err) return std::unexpected(*err);
        if (dlen < 4) break;
    }
    return out;
}

}  // namespace

int prefix_byte(char kind) {
    switch (kind) {
        case kOperator:
            return 14 << 3;
        case kAccount:
            return 0;
        case kUser:
            return 20 << 3;
        case kServer:
            return 13 << 3;
        case kCluster:
            return 2 << 3;
        default:
            return -1;
    }
}

char kind_of_prefix(std::uint8_t b) {
    for (char k : {kOperator, kAccount, kUser, kServer, kCluster})
        if (prefix_byte(k) == b) return k;
    return 0;
}

std::string base32_encode(std::span<const std::uint8_t> data) {
    std::string out;
    out.reserve((data.size() * 8 + 4) / 5);
    unsigned buffer = 0;
    int bits = 0;
    for (std::uint8_t byte : data) {
        buffer = (buffer << 8) | byte;
        bits += 8;
        while (bits >= 5) {
            out += kB32[(buffer >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0) out += kB32[(buffer << (5 - bits)) & 31];
    return out;
}

std::expected<Bytes, std::string> base32_decode(std::string_view text) {
    // Go strips newlines first; error offsets count in the stripped text.
    std::string src;
    src.reserve(text.size());
    for (char c : text)
        if (c != '\r' && c != '\n') src += c;
    Bytes out;
    std::size_t i = 0;
    while (i < src.size()) {
        int dbuf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int dlen = 0;
        while (dlen < 8 && i < src.size()) {
            const int v = b32_value(static_cast<unsigned char>(src[i]));
            if (v < 0) return std::unexpected(b32_error(i));
            dbuf[dlen++] = v;
            ++i;
        }
        // Go packs 8, 7, 5, 4 or 2 characters; a group of 1, 3 or 6 yields nothing.
        std::uint8_t b[5];
        b[4] = std::uint8_t(dbuf[6] << 5 | dbuf[7]);
        b[3] = std::uint8_t(dbuf[4] << 7 | dbuf[5] << 2 | dbuf[6] >> 3);
        b[2] = std::uint8_t(dbuf[3] << 4 | dbuf[4] >> 1);
        b[1] = std::uint8_t(dbuf[1] << 6 | dbuf[2] << 1 | dbuf[3] >> 4);
        b[0] = std::uint8_t(dbuf[0] << 3 | dbuf[1] >> 2);
        int n = 0;
        switch (dlen) {
            case 8:
                n = 5;
                break;
            case 7:
                n = 4;
                break;
            case 5:
                n = 3;
                break;
            case 4:
                n = 2;
                break;
            case 2:
                n = 1;
                break;
            default:
                n = 0;
                break;
        }
        out.insert(out.end(), b, b + n);
    }
    return out;
}

std::uint16_t crc16(std::span<const std::uint8_t> data) {
    std::uint16_t crc = 0;
    for (std::uint8_t b : data) {
        crc ^= std::uint16_t(b) << 8;
        for (int i = 0; i < 8; ++i)
            crc = (crc & 0x8000) ? std::uint16_t((crc << 1) ^ 0x1021) : std::uint16_t(crc << 1);
    }
    return crc;
}

namespace {

// nkeys' decode(): base32, at least 4 bytes, checksum; returns prefix + key (no checksum).
std::expected<Bytes, std::string> decode_checked(std::string_view key) {
    auto raw = base32_decode(key);
    if (!raw) return std::unexpected(raw.error());
    if (raw->size() < 4) return std::unexpected(std::string("nkeys: invalid encoded key"));
    const std::size_t n = raw->size() - 2;
    const std::uint16_t want = std::uint16_t((*raw)[n] | (*raw)[n + 1] << 8);
    if (crc16(std::span(raw->data(), n)) != want)
        return std::unexpected(std::string("nkeys: invalid checksum"));
    raw->resize(n);
    return raw;
}

}  // namespace

std::expected<PublicKey, std::string> decode_public(std::string_view key) {
    auto raw = decode_checked(key);
    if (!raw) return std::unexpected(raw.error());
    const char kind = kind_of_prefix((*raw)[0]);
    if (kind == 0 || raw->size() != 33)
        return std::unexpected(std::string("nkeys: invalid public key"));
    PublicKey pk;
    pk.kind = kind;
    std::copy(raw->begin() + 1, raw->end(), pk.raw.begin());
    return pk;
}

std::expected<PublicKey, std::string> decode_public(char kind, std::string_view key) {
    auto raw = decode_checked(key);
    if (!raw) return std::unexpected(raw.error());
    if (prefix_byte(kind) < 0 || (*raw)[0] != prefix_byte(kind))
        return std::unexpected(std::string("nkeys: invalid prefix byte"));
    if (raw->size() != 33) return std::unexpected(std::string("nkeys: invalid public key"));
    PublicKey pk;
    pk.kind = kind;
    std::copy(raw->begin() + 1, raw->end(), pk.raw.begin());
    return pk;
}

bool is_valid_public(char kind, std::string_view key) {
    return decode_public(kind, key).has_value();
}

bool verify(const PublicKey& key, std::span<const std::uint8_t> signature,
            std::span<const std::uint8_t> message) {
    if (signature.size() != 64) return false;
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pk(
        EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key.raw.data(), key.raw.size()),
        EVP_PKEY_free);
    if (!pk) return false;
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    if (!ctx) return false;
    if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pk.get()) != 1) return false;
    return EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(),
                            message.size()) == 1;
}

bool verify(const PublicKey& key, std::span<const std::uint8_t> signature,
            std::string_view message) {
    return verify(key, signature,
                  std::span(reinterpret_cast<const std::uint8_t*>(message.data()), message.size()));
}

std::expected<Bytes, std::string> base64_raw_url_decode(std::string_view text) {
    return b64_decode(text, kB64Url, false);
}

std::expected<Bytes, std::string> base64_std_decode(std::string_view text) {
    return b64_decode(text, kB64Std, true);
}

std::expected<Bytes, std::string> decode_signature(std::string_view text) {
    auto raw = base64_raw_url_decode(text);
    if (raw) return raw;
    return base64_std_decode(text);
}

}  // namespace osprey::server::auth
