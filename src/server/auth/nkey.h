// NATS nkeys (nkeys v0.3.0, the version nats-server 2.9.10 uses): the base32 text form of
// ed25519 public keys with a kind prefix and a CRC-16, and the base64 forms nats-server reads
// signatures in. Decoding follows Go's decoders byte for byte (what they accept, and the error
// texts nats-server logs), so a key or signature is accepted here exactly when Go accepts it.
// Pure functions; verify() uses OpenSSL's raw Ed25519.
#pragma once
#include <array>
#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace osprey::server::auth {

using Bytes = std::vector<std::uint8_t>;

// The kinds of public keys, named by the first character of their text form.
inline constexpr char kOperator = 'O';
inline constexpr char kAccount = 'A';
inline constexpr char kUser = 'U';
inline constexpr char kServer = 'N';
inline constexpr char kCluster = 'C';

// The prefix byte of a public kind (0 for 'A', 20<<3 for 'U', ...); -1 for anything else.
int prefix_byte(char kind);
// The kind whose prefix byte is `b`, or 0 when `b` is no public prefix.
char kind_of_prefix(std::uint8_t b);

// RFC 4648 base32, standard alphabet, no padding (Go's StdEncoding.WithPadding(NoPadding)).
std::string base32_encode(std::span<const std::uint8_t> data);
// As Go decodes it: '\r' and '\n' are skipped, '=' and lower case are invalid ("illegal base32
// data at input byte N"), and a final group of 1, 3 or 6 characters is silently dropped.
std::expected<Bytes, std::string> base32_decode(std::string_view text);

// CRC-16/XMODEM (poly 0x1021, init 0): the nkey checksum, stored little-endian after the key.
std::uint16_t crc16(std::span<const std::uint8_t> data);

struct PublicKey {
    char kind = 0;  // kOperator, kAccount, kUser, kServer or kCluster
    std::array<std::uint8_t, 32> raw{};
};

// nkeys.FromPublicKey: any public kind. Errors as nkeys gives them: the base32 error,
// "nkeys: invalid encoded key" (under 4 bytes), "nkeys: invalid checksum", "nkeys: invalid
// public key" (prefix). Go accepts a key part of any length (and would then panic when
// verifying); a key part that is not 32 bytes is refused here as "nkeys: invalid public key".
std::expected<PublicKey, std::string> decode_public(std::string_view key);
// nkeys.Decode(prefix): the key must be of `kind`, else "nkeys: invalid prefix byte".
std::expected<PublicKey, std::string> decode_public(char kind, std::string_view key);
// nkeys.IsValidPublic{User,Account,...}Key.
bool is_valid_public(char kind, std::string_view key);

// Pure Ed25519 (no prehash) of `message` by `key`; false for a signature that is not 64 bytes.
bool verify(const PublicKey& key, std::span<const std::uint8_t> signature,
            std::span<const std::uint8_t> message);
bool verify(const PublicKey& key, std::span<const std::uint8_t> signature,
            std::string_view message);

// Go's base64.RawURLEncoding / StdEncoding DecodeString: newlines skipped, errors "illegal
// base64 data at input byte N", non-zero trailing bits accepted (the encodings are not strict).
std::expected<Bytes, std::string> base64_raw_url_decode(std::string_view text);
std::expected<Bytes, std::string> base64_std_decode(std::string_view text);
// A CONNECT `sig` as nats-server reads it: RawURL first, then Std (padded).
std::expected<Bytes, std::string> decode_signature(std::string_view text);

}  // namespace osprey::server::auth
