// FOR TESTS ONLY: making keys and signed JWTs at run time, so that no key is ever committed.
// The server never signs anything; nothing outside tests/ should include this header.
#pragma once
#include <array>
#include <boost/json.hpp>
#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>

#include "server/auth/nkey.h"

namespace osprey::server::auth::testkit {

struct KeyPair {
    PublicKey pub;
    std::array<std::uint8_t, 32> seed{};  // the ed25519 private seed

    // A fresh random key of `kind` (kOperator, kAccount, kUser, kServer, kCluster).
    static KeyPair generate(char kind);
    // From an nkey seed text ("SU...", "SA..."): nkeys.FromSeed.
    static std::expected<KeyPair, std::string> from_seed(std::string_view seed_text);

    std::string public_key() const;  // "U..." (56 characters)
    std::string seed_text() const;   // "SU..." (58 characters)
    Bytes sign(std::span<const std::uint8_t> message) const;
    Bytes sign(std::string_view message) const;
};

std::string encode_public(const PublicKey& key);
std::string encode_seed(char kind, std::span<const std::uint8_t, 32> seed);
std::string base64_raw_url_encode(std::span<const std::uint8_t> data);
std::string base64_raw_url_encode(std::string_view data);
std::string base64_std_encode(std::span<const std::uint8_t> data);

// A v2 JWT as jwt/v2's Encode makes it: header {"typ":"JWT","alg":"ed25519-nkey"}, `iss` set to
// the signer, `iat` set to now unless given, `jti` (base32 SHA-512/256 of the standard claims)
// unless given, nats.version 2 unless given; signature over "header.payload".
std::string encode_jwt(boost::json::object claims, const KeyPair& signer);
// Any header and payload text, signed as v2 (over "h.p") or v1 (over "p"), for error tests.
std::string sign_jwt(std::string_view header_json, std::string_view payload_json,
                     const KeyPair& signer, bool v1 = false);

}  // namespace osprey::server::auth::testkit
