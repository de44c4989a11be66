// Test-only key generation and signing with OpenSSL (see nkey_testing.h).
#include "server/auth/nkey_testing.h"

#include <openssl/evp.h>

#include <ctime>
#include <memory>
#include <stdexcept>

namespace osprey::server::auth::testkit {

namespace {

using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

PkeyPtr private_key(const std::array<std::uint8_t, 32>& seed) {
    return PkeyPtr(
        EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()),
        EVP_PKEY_free);
}

// A test helper may throw: a failure here is a broken test set-up, not a client's doing.
void require(bool ok, const char* what) {
    if (!ok) throw std::runtime_error(std::string("nkey_testing: ") + what);
}

std::string b64_encode(std::span<const std::uint8_t> data, const char* alphabet, bool pad) {
    std::string out;
    std::size_t i = 0;
    for (; i + 3 <= data.size(); i += 3) {
        const unsigned v = unsigned(data[i]) << 16 | unsigned(data[i + 1]) << 8 | data[i + 2];
        for (int s = 18; s >= 0; s -= 6) out += alphabet[(v >> s) & 63];
    }
    const std::size_t rest = data.size() - i;
    if (rest > 0) {
        unsigned v = unsigned(data[i]) << 16;
        if (rest == 2) v |= unsigned(data[i + 1]) << 8;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        if (rest == 2) out += alphabet[(v >> 6) & 63];
        if (pad) out += rest == 2 ? "=" : "==";
    }
    return out;
}

constexpr char kUrl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr char kStd[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

Bytes with_crc(Bytes raw) {
    const std::uint16_t crc = crc16(raw);
    raw.push_back(std::uint8_t(crc & 0xff));
    raw.push_back(std::uint8_t(crc >> 8));
    return raw;
}

// jwt/v2's ClaimsData.hash(): json.Marshal of the standard claims (Go's field order,
// omitempty, no jti), SHA-512/256, base32 without padding.
std::string claims_hash(const boost::json::object& c) {
    boost::json::object std_claims;
    for (const char* k : {"aud", "exp", "iat", "iss", "name", "nbf", "sub"}) {
        auto it = c.find(k);
        if (it == c.end()) continue;
        const auto& v = it->value();
        if ((v.is_string() && v.as_string().empty()) || (v.is_int64() && v.as_int64() == 0))
            continue;
        std_claims[k] = v;
    }
    const std::string text = boost::json::serialize(std_claims);
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    unsigned char md[64];
    unsigned len = 0;
    const EVP_MD* sha = EVP_get_digestbyname("SHA512-256");
    require(sha != nullptr && ctx && EVP_DigestInit_ex(ctx.get(), sha, nullptr) == 1 &&
                EVP_DigestUpdate(ctx.get(), text.data(), text.size()) == 1 &&
                EVP_DigestFinal_ex(ctx.get(), md, &len) == 1,
            "sha512/256");
    return base32_encode(std::span<const std::uint8_t>(md, len));
}

}  // namespace

KeyPair KeyPair::generate(char kind) {
    require(prefix_byte(kind) >= 0, "not a public key kind");
    std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
        EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr), EVP_PKEY_CTX_free);
    EVP_PKEY* raw = nullptr;
    require(ctx && EVP_PKEY_keygen_init(ctx.get()) == 1 && EVP_PKEY_keygen(ctx.get(), &raw) == 1,
            "keygen");
    PkeyPtr pk(raw, EVP_PKEY_free);
    KeyPair kp;
    kp.pub.kind = kind;
    std::size_t n = kp.seed.size();
    require(EVP_PKEY_get_raw_private_key(pk.get(), kp.seed.data(), &n) == 1 && n == 32,
            "private key");
    n = kp.pub.raw.size();
    require(EVP_PKEY_get_raw_public_key(pk.get(), kp.pub.raw.data(), &n) == 1 && n == 32,
            "public key");
    return kp;
}

std::expected<KeyPair, std::string> KeyPair::from_seed(std::string_view seed_text) {
    auto raw = base32_decode(seed_text);
    if (!raw) return std::unexpected(raw.error());
    if (raw->size() < 4) return std::unexpected(std::string("nkeys: invalid encoded key"));
    const std::size_t n = raw->size() - 2;
    if (crc16(std::span(raw->data(), n)) != std::uint16_t((*raw)[n] | (*raw)[n + 1] << 8))
        return std::unexpected(std::string("nkeys: invalid checksum"));
    const std::uint8_t b1 = (*raw)[0] & 0xF8;
    const std::uint8_t b2 = std::uint8_t(((*raw)[0] & 7) << 5 | ((*raw)[1] & 0xF8) >> 3);
    const char kind = kind_of_prefix(b2);
    if (b1 != (18 << 3) || kind == 0 || n != 34)
        return std::unexpected(std::string("nkeys: invalid seed"));
    KeyPair kp;
    kp.pub.kind = kind;
    std::copy(raw->begin() + 2, raw->begin() + 34, kp.seed.begin());
    PkeyPtr pk = private_key(kp.seed);
    std::size_t len = kp.pub.raw.size();
    if (!pk || EVP_PKEY_get_raw_public_key(pk.get(), kp.pub.raw.data(), &len) != 1)
        return std::unexpected(std::string("nkeys: invalid seed"));
    return kp;
}

std::string KeyPair::public_key() const { return encode_public(pub); }
std::string KeyPair::seed_text() const { return encode_seed(pub.kind, seed); }

Bytes KeyPair::sign(std::span<const std::uint8_t> message) const {
    PkeyPtr pk = private_key(seed);
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    Bytes sig(64);
    std::size_t len = sig.size();
    require(pk && ctx && EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pk.get()) == 1 &&
                EVP_DigestSign(ctx.get(), sig.data(), &len, message.data(), message.size()) == 1 &&
                len == 64,
            "sign");
    return sig;
}

Bytes KeyPair::sign(std::string_view message) const {
    return sign(std::span(reinterpret_cast<const std::uint8_t*>(message.data()), message.size()));
}

std::string encode_public(const PublicKey& key) {
    Bytes raw{std::uint8_t(prefix_byte(key.kind))};
    raw.insert(raw.end(), key.raw.begin(), key.raw.end());
    return base32_encode(with_crc(std::move(raw)));
}

std::string encode_seed(char kind, std::span<const std::uint8_t, 32> seed) {
    const auto p = std::uint8_t(prefix_byte(kind));
    Bytes raw{std::uint8_t((18 << 3) | (p >> 5)), std::uint8_t((p & 31) << 3)};
    raw.insert(raw.end(), seed.begin(), seed.end());
    return base32_encode(with_crc(std::move(raw)));
}

std::string base64_raw_url_encode(std::span<const std::uint8_t> data) {
    return b64_encode(data, kUrl, false);
}
std::string base64_raw_url_encode(std::string_view data) {
    return base64_raw_url_encode(
        std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
}
std::string base64_std_encode(std::span<const std::uint8_t> data) {
    return b64_encode(data, kStd, true);
}

std::string sign_jwt(std::string_view header_json, std::string_view payload_json,
                     const KeyPair& signer, bool v1) {
    const std::string h = base64_raw_url_encode(header_json);
    const std::string p = base64_raw_url_encode(payload_json);
    const std::string signed_part = v1 ? p : h + "." + p;
    return h + "." + p + "." + base64_raw_url_encode(signer.sign(signed_part));
}

std::string encode_jwt(boost::json::object claims, const KeyPair& signer) {
    claims["iss"] = signer.public_key();
    if (!claims.contains("iat")) claims["iat"] = std::int64_t(std::time(nullptr));
    if (!claims.contains("jti")) claims["jti"] = claims_hash(claims);
    if (auto* nats = claims.if_contains("nats");
        nats && nats->is_object() && !nats->as_object().contains("version"))
        nats->as_object()["version"] = 2;
    return sign_jwt(R"({"typ":"JWT","alg":"ed25519-nkey"})", boost::json::serialize(claims),
                    signer);
}

}  // namespace osprey::server::auth::testkit
