// The decentralized-auth library (src/server/auth): nkeys, JWT decoding, claim validation and
// the connect checks, against jwt/v2 v2.3.0 / nkeys v0.3.0 / nats-server 2.9.10 behaviour.
// Every key is generated at run time; none is committed.
#include "server/auth/jwt.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <ctime>

#include "server/auth/checks.h"
#include "server/auth/claims.h"
#include "server/auth/go_net.h"
#include "server/auth/go_time.h"
#include "server/auth/nkey.h"
#include "server/auth/nkey_testing.h"

using namespace osprey::server::auth;
using testkit::encode_jwt;
using testkit::KeyPair;
using testkit::sign_jwt;
namespace json = boost::json;

namespace {

std::string str(const Bytes& b) { return std::string(b.begin(), b.end()); }
Bytes bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

std::int64_t now_s() { return std::int64_t(std::time(nullptr)); }

// A raw nkey text from a prefix byte and a key part (with a correct checksum).
std::string raw_key(std::uint8_t prefix, std::size_t key_len) {
    Bytes raw{prefix};
    raw.resize(1 + key_len, 7);
    const std::uint16_t crc = crc16(raw);
    raw.push_back(std::uint8_t(crc & 0xff));
    raw.push_back(std::uint8_t(crc >> 8));
    return base32_encode(raw);
}

const std::string kHeader = R"({"typ":"JWT","alg":"ed25519-nkey"})";

struct Chain {
    KeyPair op = KeyPair::generate(kOperator);
    KeyPair acc = KeyPair::generate(kAccount);
    KeyPair user = KeyPair::generate(kUser);
};

json::object user_payload(const KeyPair& user, json::object nats = {}) {
    nats["type"] = "user";
    if (!nats.contains("version")) nats["version"] = 2;
    return json::object{{"sub", user.public_key()}, {"name", "u"}, {"nats", nats}};
}

UserClaims user_from(json::object nats, const KeyPair& user, const KeyPair& acc) {
    auto u = decode_user(encode_jwt(user_payload(user, std::move(nats)), acc));
    EXPECT_TRUE(u.has_value()) << u.error();
    return *u;
}

AccountClaims account_from(json::object nats, const KeyPair& acc, const KeyPair& signer) {
    nats["type"] = "account";
    auto a = decode_account(
        encode_jwt(json::object{{"sub", acc.public_key()}, {"name", "A"}, {"nats", nats}}, signer));
    EXPECT_TRUE(a.has_value()) << a.error();
    return *a;
}

std::vector<std::string> errors_of(const ValidationResults& vr) { return vr.errors(); }

}  // namespace

// ---------------------------------------------------------------- nkeys

TEST(Nkey, Crc16IsXmodem) {
    EXPECT_EQ(crc16(bytes("123456789")), 0x31C3);
    EXPECT_EQ(crc16(Bytes{}), 0);
}

TEST(Nkey, Base32Rfc4648Vectors) {
    const std::pair<const char*, const char*> v[] = {
        {"f", "MY"},         {"fo", "MZXQ"},        {"foo", "MZXW6"},
        {"foob", "MZXW6YQ"}, {"fooba", "MZXW6YTB"}, {"foobar", "MZXW6YTBOI"}};
    for (auto [plain, enc] : v) {
        EXPECT_EQ(base32_encode(bytes(plain)), enc);
        auto d = base32_decode(enc);
        ASSERT_TRUE(d) << d.error();
        EXPECT_EQ(str(*d), plain);
    }
}

TEST(Nkey, Base32DecodesAsGo) {
    EXPECT_EQ(base32_decode("my").error(), "illegal base32 data at input byte 0");
    EXPECT_EQ(base32_decode("MY=").error(), "illegal base32 data at input byte 2");
    EXPECT_EQ(str(*base32_decode("MZ\r\nXQ")), "fo");        // newlines skipped
    EXPECT_EQ(str(*base32_decode("MZXW6YTBOIA")), "fooba");  // a final group of 3 is dropped
    EXPECT_EQ(base32_decode("MZX\nW1").error(),
              "illegal base32 data at input byte 4");  // offset after stripping
}

TEST(Nkey, PublicKeysRoundTripForEveryKind) {
    for (char kind : {kOperator, kAccount, kUser, kServer, kCluster}) {
        const KeyPair kp = KeyPair::generate(kind);
        const std::string text = kp.public_key();
        ASSERT_EQ(text.size(), 56u);
        EXPECT_EQ(text[0], kind);
        auto pk = decode_public(text);
        ASSERT_TRUE(pk) << pk.error();
        EXPECT_EQ(pk->kind, kind);
        EXPECT_EQ(pk->raw, kp.pub.raw);
        EXPECT_TRUE(is_valid_public(kind, text));
        const std::string seed = kp.seed_text();
        ASSERT_EQ(seed.size(), 58u);
        EXPECT_EQ(seed[0], 'S');
        EXPECT_EQ(seed[1], kind);
        auto back = KeyPair::from_seed(seed);
        ASSERT_TRUE(back) << back.error();
        EXPECT_EQ(back->pub.raw, kp.pub.raw);
        EXPECT_EQ(back->pub.kind, kind);
    }
}

TEST(Nkey, RejectsBadKeys) {
    const std::string key = KeyPair::generate(kUser).public_key();
    std::string flipped = key;
    flipped[10] = flipped[10] == 'A' ? 'B' : 'A';
    EXPECT_EQ(decode_public(flipped).error(), "nkeys: invalid checksum");
    std::string lower = key;
    lower[5] = char(std::tolower(lower[5]));
    if (lower != key) {
        EXPECT_EQ(decode_public(lower).error(), "illegal base32 data at input byte 5");
    }
    EXPECT_EQ(decode_public("AAAA").error(), "nkeys: invalid encoded key");
    EXPECT_EQ(decode_public(raw_key(15 << 3, 32)).error(),
              "nkeys: invalid public key");  // a private key
    EXPECT_EQ(decode_public(raw_key(23 << 3, 32)).error(), "nkeys: invalid public key");  // 'X'
    EXPECT_EQ(decode_public(raw_key(20 << 3, 16)).error(),
              "nkeys: invalid public key");  // too short
    EXPECT_EQ(decode_public(raw_key(20 << 3, 33)).error(),
              "nkeys: invalid public key");  // too long
    EXPECT_TRUE(decode_public(raw_key(20 << 3, 32)));
    EXPECT_EQ(decode_public(kAccount, key).error(), "nkeys: invalid prefix byte");
    EXPECT_FALSE(is_valid_public(kAccount, key));
    EXPECT_EQ(KeyPair::from_seed(key).error(), "nkeys: invalid seed");
}

TEST(Nkey, VerifiesEd25519Signatures) {
    const KeyPair kp = KeyPair::generate(kUser);
    const KeyPair other = KeyPair::generate(kUser);
    Bytes sig = kp.sign("hello nonce");
    ASSERT_EQ(sig.size(), 64u);
    EXPECT_TRUE(verify(kp.pub, sig, "hello nonce"));
    EXPECT_FALSE(verify(kp.pub, sig, "hello nonce!"));
    EXPECT_FALSE(verify(other.pub, sig, "hello nonce"));
    Bytes bad = sig;
    bad[3] ^= 1;
    EXPECT_FALSE(verify(kp.pub, bad, "hello nonce"));
    bad = sig;
    bad.pop_back();
    EXPECT_FALSE(verify(kp.pub, bad, "hello nonce"));
}

TEST(Nkey, Base64AsTheServerReadsSignatures) {
    EXPECT_EQ(str(*base64_raw_url_decode("QUJD")), "ABC");
    EXPECT_EQ(str(*base64_raw_url_decode("QUI")), "AB");
    EXPECT_EQ(base64_raw_url_decode("QUI=").error(), "illegal base64 data at input byte 3");
    EXPECT_EQ(base64_raw_url_decode("Q").error(), "illegal base64 data at input byte 0");
    EXPECT_EQ(base64_raw_url_decode("QU+D").error(), "illegal base64 data at input byte 2");
    EXPECT_EQ(str(*base64_raw_url_decode("QU\nJD")), "ABC");
    EXPECT_EQ(str(*base64_std_decode("QUI=")), "AB");
    EXPECT_EQ(base64_std_decode("QUI").error(), "illegal base64 data at input byte 0");
    EXPECT_EQ(base64_std_decode("QUI=QUJD").error(), "illegal base64 data at input byte 4");
    EXPECT_EQ(str(*base64_raw_url_decode("QR")), "A");  // non-zero trailing bits are accepted
    // `sig`: RawURL first, then padded Std.
    const Bytes data{0xfb, 0xff, 0xfe};
    EXPECT_EQ(*decode_signature(testkit::base64_raw_url_encode(data)), data);
    EXPECT_EQ(*decode_signature(testkit::base64_std_encode(data)), data);
    EXPECT_FALSE(decode_signature("!!!!"));
}

// ---------------------------------------------------------------- JWT decoding

TEST(Jwt, EncodeDecodeRoundTrip) {
    Chain c;
    const std::string token =
        encode_jwt(user_payload(c.user, {{"pub", {{"allow", {"a.>"}}}}, {"subs", 5}}), c.acc);
    auto claims = decode(token);
    ASSERT_TRUE(claims) << claims.error();
    EXPECT_EQ(claims->kind, ClaimKind::User);
    EXPECT_EQ(claims->version, 2);
    EXPECT_EQ(claims->iss, c.acc.public_key());
    EXPECT_EQ(claims->sub, c.user.public_key());
    EXPECT_EQ(claims->name, "u");
    EXPECT_GT(claims->iat, 0);
    EXPECT_FALSE(claims->jti.empty());
    EXPECT_EQ(claims->nats.at("subs").as_int64(), 5);
    auto u = user_claims(*claims);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->permissions.pub.allow, std::vector<std::string>{"a.>"});
    EXPECT_EQ(u->limits.subs, 5);
    EXPECT_EQ(u->limits.payload, 0);  // absent means 0
    EXPECT_EQ(decode(token, ClaimKind::Account).error(), "not account claim");
    EXPECT_EQ(decode_account(token).error(), "not account claim");
}

TEST(Jwt, ChunksAndHeaderErrors) {
    Chain c;
    json::object p = user_payload(c.user);
    p["iss"] = c.acc.public_key();
    const std::string payload = json::serialize(p);
    const std::string token = sign_jwt(kHeader, payload, c.acc);
    EXPECT_EQ(decode(token.substr(0, token.rfind('.'))).error(), "expected 3 chunks");
    EXPECT_EQ(decode(token + ".").error(), "expected 3 chunks");
    EXPECT_EQ(decode("e=." + token.substr(token.find('.') + 1)).error(),
              "illegal base64 data at input byte 1");
    EXPECT_EQ(decode(sign_jwt(R"({"typ":"x","alg":"ed25519-nkey"})", payload, c.acc)).error(),
              R"(not supported type "x")");
    EXPECT_EQ(decode(sign_jwt(R"({"alg":"ed25519-nkey"})", payload, c.acc)).error(),
              R"(not supported type "")");
    EXPECT_EQ(decode(sign_jwt(R"({"typ":"JWT","alg":"HS256"})", payload, c.acc)).error(),
              R"(unexpected "HS256" algorithm)");
    EXPECT_EQ(decode(sign_jwt(R"({"typ":"JWT","alg":"ed25519x"})", payload, c.acc)).error(),
              R"(unexpected "ed25519x" algorithm)");
    EXPECT_EQ(decode(sign_jwt(R"({"typ":5})", payload, c.acc)).error(),
              "json: cannot unmarshal number into Go struct field Header.typ of type string");
    EXPECT_EQ(decode(sign_jwt("{bad", payload, c.acc)).error(),
              "invalid character 'b' looking for beginning of object key string");
    // Case does not matter, and the old algorithm name is taken with a v2 payload.
    EXPECT_TRUE(decode(sign_jwt(R"({"typ":"jwt","alg":"ED25519-NKEY"})", payload, c.acc)));
    EXPECT_TRUE(decode(sign_jwt(R"({"typ":"JWT","alg":"ed25519"})", payload, c.acc)));
}

TEST(Jwt, PayloadErrorsInGosWords) {
    Chain c;
    const std::string sub = c.user.public_key();
    auto err = [&](const std::string& payload) {
        auto r = decode(sign_jwt(kHeader, payload, c.acc));
        return r ? std::string("accepted") : r.error();
    };
    EXPECT_EQ(err(""), "unexpected end of JSON input");
    EXPECT_EQ(err("[1]"), "json: cannot unmarshal array into Go value of type jwt.identifier");
    EXPECT_EQ(err(R"({"nats":{"type":"user","version":"2"}})"),
              "json: cannot unmarshal string into Go struct field GenericFields.nats.version of "
              "type int");
    EXPECT_EQ(err(R"({"exp":"soon","nats":{"type":"user","version":2}})"),
              "json: cannot unmarshal string into Go struct field UserClaims.exp of type int64");
    EXPECT_EQ(
        err(R"({"exp":1.5,"nats":{"type":"user","version":2}})"),
        "json: cannot unmarshal number 1.5 into Go struct field UserClaims.exp of type int64");
    EXPECT_EQ(err(R"({"nats":{"type":"user","version":2,"pub":{"allow":"x"}}})"),
              "json: cannot unmarshal string into Go struct field Permission.nats.pub.allow of "
              "type jwt.StringList");
    EXPECT_EQ(err(R"({"nats":{"type":"user","version":2,"subs":"x"}})"),
              "json: cannot unmarshal string into Go struct field User.nats.subs of type int64");
    EXPECT_EQ(err(R"({"nats":{"type":"user","version":2,"src":5}})"),
              "json: cannot unmarshal number into Go value of type string");
    EXPECT_EQ(err(R"({"nats":{"type":"user","version":3}})"),
              "JWT was generated by a newer version ");
    EXPECT_EQ(err(R"({"nats":{"type":"user"}})"),
              "library supports version 2 or less - received 0");
    EXPECT_EQ(err(R"({"nats":{"type":"user","version":-1}})"),
              "library supports version 2 or less - received -1");
    EXPECT_EQ(err(R"({"nats":{"type":"server","version":2}})"), "ServerClaims are not supported");
    EXPECT_EQ(err(R"({"nats":{"type":"cluster","version":2}})"), "ClusterClaims are not supported");
    EXPECT_EQ(err(R"({"nats":{"type":"account","version":2,"exports":[{"type":"bogus"}]}})"),
              R"(unknown export type "bogus")");
    EXPECT_EQ(err(R"({"nats":{"type":"account","version":2,"exports":[{"type":null}]}})"),
              R"(unknown export type "")");
    EXPECT_EQ(err(R"({"nats":{"type":"account","version":2,"signing_keys":[{"kind":"foo"}]}})"),
              "unknown signing key scope %!q(<nil>)");
    EXPECT_EQ(err(R"({"nats":{"type":"account","version":2,"signing_keys":{}}})"),
              "json: cannot unmarshal object into Go value of type []interface {}");
    EXPECT_EQ(err(R"({"nats":{"type":"account","version":2,"exports":["x"]}})"),
              "json: cannot unmarshal string into Go struct field Account.nats.exports of type "
              "jwt.Export");
    EXPECT_EQ(err(R"({"nats":{"type":"account","version":2,"mappings":{"a":[{"weight":300}]}}})"),
              "json: cannot unmarshal number 300 into Go struct field "
              "WeightedMapping.nats.mappings.weight of type uint8");
    (void)sub;
}

TEST(Jwt, NestingDepthAsGo) {
    Chain c;
    auto err = [&](const std::string& payload) {
        auto r = decode(sign_jwt(kHeader, payload, c.acc));
        return r ? std::string("accepted") : r.error();
    };
    const std::string deep = R"({"nats":{"type":"user","version":2},"x":)" +
                             std::string(9998, '[') + std::string(9998, ']') + "}";
    EXPECT_EQ(err(deep), "claim failed V2 signature verification");  // no iss, but parsed fine
    const std::string deeper = R"({"x":)" + std::string(10000, '[') + std::string(10000, ']') + "}";
    EXPECT_EQ(err(deeper), "invalid character '[' exceeded max depth");
    // Deep values where Go decodes into interface{}: a signing key scope, a generic claim.
    const std::string junk = std::string(9990, '[') + std::string(9990, ']');
    const KeyPair sk = KeyPair::generate(kAccount);
    const std::string acc =
        R"({"sub":")" + c.acc.public_key() + R"(","iss":")" + c.acc.public_key() +
        R"(","nats":{"type":"account","version":2,"signing_keys":[{"kind":"user_scope","key":")" +
        sk.public_key() + R"(","junk":)" + junk + "}]}}";
    auto a = decode_account(sign_jwt(kHeader, acc, c.acc));
    ASSERT_TRUE(a) << a.error();
    EXPECT_TRUE(a->signing_keys.at(sk.public_key()));
    const std::string generic =
        R"({"iss":")" + c.acc.public_key() + R"(","nats":{"type":"x","deep":)" + junk + "}}";
    EXPECT_TRUE(decode(sign_jwt(kHeader, generic, c.acc, true)));
}

TEST(Jwt, SignatureAndIssuerChecks) {
    Chain c;
    const std::string payload = json::serialize(user_payload(c.user));
    // Signed by someone other than `iss`.
    json::object p = user_payload(c.user);
    p["iss"] = c.acc.public_key();
    const std::string forged = sign_jwt(kHeader, json::serialize(p), KeyPair::generate(kAccount));
    EXPECT_EQ(decode(forged).error(), "claim failed V2 signature verification");
    // A tampered payload (same signature).
    const std::string token = encode_jwt(user_payload(c.user), c.acc);
    const std::size_t d1 = token.find('.'), d2 = token.rfind('.');
    json::object changed = user_payload(c.user);
    changed["iss"] = c.acc.public_key();
    changed["name"] = "other";
    const std::string tampered = token.substr(0, d1 + 1) +
                                 testkit::base64_raw_url_encode(json::serialize(changed)) +
                                 token.substr(d2);
    EXPECT_EQ(decode(tampered).error(), "claim failed V2 signature verification");
    // A signature that is not base64.
    EXPECT_EQ(decode(token.substr(0, d2) + ".a=").error(), "illegal base64 data at input byte 1");
    // Issuer kinds.
    EXPECT_EQ(decode(encode_jwt(user_payload(c.user), c.op)).error(),
              "unable to validate expected prefixes - [account]");
    EXPECT_EQ(decode(encode_jwt(
                         json::object{{"sub", c.acc.public_key()}, {"nats", {{"type", "account"}}}},
                         c.user))
                  .error(),
              "unable to validate expected prefixes - [account operator]");
    EXPECT_EQ(decode(encode_jwt(
                         json::object{{"sub", c.op.public_key()}, {"nats", {{"type", "operator"}}}},
                         c.acc))
                  .error(),
              "unable to validate expected prefixes - [operator]");
    auto acc = decode(encode_jwt(
        json::object{{"sub", c.acc.public_key()}, {"nats", {{"type", "account"}}}}, c.acc));
    EXPECT_TRUE(acc) << acc.error();  // self-signed accounts decode
    (void)payload;
}

TEST(Jwt, Version1Claims) {
    Chain c;
    json::object p{{"sub", c.user.public_key()},
                   {"iss", c.acc.public_key()},
                   {"type", "user"},
                   {"issuer_account", "AX"},
                   {"nats", {{"pub", {{"allow", {"x"}}}}, {"allowed_connection_types", {"MQTT"}}}}};
    const std::string text = json::serialize(p);
    auto v1 = decode(sign_jwt(R"({"typ":"JWT","alg":"ed25519"})", text, c.acc, true));
    ASSERT_TRUE(v1) << v1.error();
    EXPECT_EQ(v1->version, 1);
    EXPECT_EQ(v1->kind, ClaimKind::User);
    auto u = user_claims(*v1);
    EXPECT_EQ(u->limits.subs, -1);  // v1 users default to unlimited
    EXPECT_EQ(u->limits.payload, -1);
    EXPECT_EQ(u->issuer_account, "AX");
    EXPECT_EQ(u->permissions.pub.allow, std::vector<std::string>{"x"});
    EXPECT_TRUE(u->allowed_connection_types.empty());  // not a v1 field
    // v1 is verified over the payload only.
    EXPECT_EQ(decode(sign_jwt(kHeader, text, c.acc, false)).error(),
              "claim failed V1 signature verification");
    // A generic claim (unknown kind) is verified as v1 and has no issuer expectations.
    json::object g{
        {"sub", "x"}, {"iss", c.user.public_key()}, {"nats", {{"type", "thing"}, {"k", 1}}}};
    auto gen = decode(sign_jwt(kHeader, json::serialize(g), c.user, true));
    ASSERT_TRUE(gen) << gen.error();
    EXPECT_EQ(gen->kind, ClaimKind::Generic);
    EXPECT_EQ(decode_user(sign_jwt(kHeader, json::serialize(g), c.user, true)).error(),
              "not user claim");
}

TEST(Jwt, GoKeyMatchingRules) {
    Chain c;
    // Keys match fields case-insensitively (and "ſ" folds to "s"); the last duplicate wins.
    const std::string payload =
        "{\"SUB\":\"" + c.user.public_key() + "\",\"iss\":\"" + c.acc.public_key() +
        "\",\"Exp\":5,\"name\":\"a\",\"name\":\"b\",\"nats\":{\"TYPE\":\"user\",\"version\":2,"
        "\"\xC5\xBF"
        "ubs\":7,\"pub\":{\"allow\":[\"x\"]},\"pub\":{\"deny\":[\"y\"]}}}";
    auto claims = decode(sign_jwt(kHeader, payload, c.acc));
    ASSERT_TRUE(claims) << claims.error();
    EXPECT_EQ(claims->sub, c.user.public_key());
    EXPECT_EQ(claims->exp, 5);
    EXPECT_EQ(claims->name, "b");
    auto u = user_claims(*claims);
    EXPECT_EQ(u->limits.subs, 7);
    // A repeated object decodes into the same struct: both lists survive.
    EXPECT_EQ(u->permissions.pub.allow, std::vector<std::string>{"x"});
    EXPECT_EQ(u->permissions.pub.deny, std::vector<std::string>{"y"});
}

TEST(Jwt, TimeValidity) {
    Claims c;
    const std::int64_t now = 1'700'000'000;
    EXPECT_FALSE(time_valid(c, now));
    c.exp = now;
    EXPECT_FALSE(time_valid(c, now));  // exp == now passes
    c.exp = now - 1;
    EXPECT_EQ(*time_valid(c, now), "claim is expired");
    c.exp = 0;
    c.nbf = now;
    EXPECT_FALSE(time_valid(c, now));
    c.nbf = now + 1;
    EXPECT_EQ(*time_valid(c, now), "claim is not yet valid");
}

// ---------------------------------------------------------------- claim views and validation

TEST(Claims, UserValidationTexts) {
    Chain c;
    const std::int64_t now = now_s();
    auto issues = [&](json::object nats) {
        return validate(user_from(std::move(nats), c.user, c.acc), now);
    };
    EXPECT_TRUE(issues({}).issues.empty());
    EXPECT_EQ(errors_of(issues({{"src", {"127.0.0.1"}}})),
              std::vector<std::string>{R"(invalid cidr "127.0.0.1" in user src limits)"});
    EXPECT_EQ(errors_of(issues({{"times", {{{"start", "9:00"}, {"end", "17:00:00"}}}}})),
              std::vector<std::string>{R"(start in time range is invalid "9:00")"});
    EXPECT_EQ(errors_of(issues({{"times", {{{"start", "9:00:00"}, {"end", "25:00:00"}}}}})),
              std::vector<std::string>{R"(end in time range is invalid "25:00:00")"});
    EXPECT_EQ(errors_of(issues({{"times", {json::object{}}}})),
              (std::vector<std::string>{"time ranges start must contain a start",
                                        "time ranges end must contain an end"}));
    EXPECT_EQ(errors_of(issues({{"times_location", "Mars/Olympus"}})),
              std::vector<std::string>{
                  "could not parse iana time zone by name: unknown time zone Mars/Olympus"});
    EXPECT_EQ(errors_of(issues({{"pub", {{"allow", {""}}}}})),
              std::vector<std::string>{"subject cannot be empty"});
    EXPECT_EQ(
        errors_of(issues({{"pub", {{"deny", {"a q"}}}}})),
        std::vector<std::string>{R"(Permission Subject "a q" is not allowed to contain queue)"});
    EXPECT_TRUE(issues({{"sub", {{"allow", {"a q"}}}}}).issues.empty());  // queues are fine for sub
    EXPECT_EQ(errors_of(issues({{"sub", {{"allow", {"a b c"}}}}})),
              std::vector<std::string>{R"(Permission Subject "a b c" contains too many spaces)"});
    EXPECT_EQ(errors_of(issues({{"issuer_account", c.user.public_key()}})),
              std::vector<std::string>{"account_id is not an account public key"});
    // Time checks come first and are not "errors" but block with time checks included.
    auto expired =
        decode_user(encode_jwt(json::object{{"sub", c.user.public_key()},
                                            {"exp", now - 10},
                                            {"nats", {{"type", "user"}, {"src", {"bad"}}}}},
                               c.acc));
    ASSERT_TRUE(expired);
    const ValidationResults vr = validate(*expired, now);
    EXPECT_EQ(vr.format(), R"(&{Issues:[claim is expired invalid cidr "bad" in user src limits]})");
    EXPECT_TRUE(vr.is_blocking(false));
    auto only_expired = decode_user(encode_jwt(
        json::object{{"sub", c.user.public_key()}, {"exp", now - 10}, {"nats", {{"type", "user"}}}},
        c.acc));
    EXPECT_FALSE(validate(*only_expired, now).is_blocking(false));
    EXPECT_TRUE(validate(*only_expired, now).is_blocking(true));
    EXPECT_EQ(*check_user(*only_expired, now), "&{Issues:[claim is expired]}");
    EXPECT_FALSE(check_user(user_from({}, c.user, c.acc), now));
}

TEST(Claims, UserFieldsAndAbsentMeansZero) {
    Chain c;
    UserClaims u = user_from({{"src", "127.0.0.0/8, 10.0.0.0/8,127.0.0.0/8"},
                              {"resp", {{"max", 3}, {"ttl", 1000}}},
                              {"bearer_token", true},
                              {"times_location", "UTC"},
                              {"allowed_connection_types", {"STANDARD"}},
                              {"tags", {"a:1"}}},
                             c.user, c.acc);
    EXPECT_EQ(u.src, (std::vector<std::string>{"127.0.0.0/8",
                                               "10.0.0.0/8"}));  // string form: split, deduped
    ASSERT_TRUE(u.permissions.resp);
    EXPECT_EQ(u.permissions.resp->max, 3);
    EXPECT_EQ(u.permissions.resp->ttl_ns, 1000);
    EXPECT_TRUE(u.bearer_token);
    EXPECT_EQ(u.tags, std::vector<std::string>{"a:1"});
    EXPECT_EQ(u.limits.subs, 0);
    EXPECT_EQ(u.limits.data, 0);
    EXPECT_FALSE(u.empty);
    // reflect.DeepEqual: an empty given list is not "empty", an empty object is.
    EXPECT_TRUE(user_from({}, c.user, c.acc).empty);
    EXPECT_TRUE(user_from({{"pub", json::object{}}}, c.user, c.acc).empty);
    EXPECT_FALSE(user_from({{"pub", {{"allow", json::array{}}}}}, c.user, c.acc).empty);
    EXPECT_FALSE(user_from({{"src", ""}}, c.user, c.acc).empty);
    EXPECT_FALSE(user_from({{"subs", -1}}, c.user, c.acc).empty);
}

TEST(Claims, AccountFieldsAndJetStreamLimits) {
    Chain c;
    const KeyPair sk = KeyPair::generate(kAccount), scoped = KeyPair::generate(kAccount);
    AccountClaims a = account_from({{"limits",
                                     {{"conn", -1},
                                      {"subs", 10},
                                      {"tiered_limits", {{"R1", {{"mem_storage", 5}}}}},
                                      {"disk_storage", 9}}},
                                    {"signing_keys",
                                     {sk.public_key(),
                                      {{"kind", "user_scope"},
                                       {"key", scoped.public_key()},
                                       {"role", "r"},
                                       {"template", {{"pub", {{"allow", {"x"}}}}}}}}},
                                    {"revocations", json::object{}},
                                    {"exports",
                                     {{{"subject", "svc.>"},
                                       {"type", "service"},
                                       {"response_type", "Stream"},
                                       {"token_req", true}}}},
                                    {"default_permissions", {{"sub", {{"deny", {"secret"}}}}}}},
                                   c.acc, c.op);
    EXPECT_EQ(a.limits.conn, -1);
    EXPECT_EQ(a.limits.subs, 10);
    EXPECT_EQ(a.limits.payload, 0);
    EXPECT_EQ(a.limits.jetstream.disk_storage, 0);  // tiers replace the plain JetStream limits
    EXPECT_EQ(a.limits.tiered.at("R1").mem_storage, 5);
    EXPECT_TRUE(a.limits.jetstream_enabled());
    ASSERT_EQ(a.signing_keys.size(), 2u);
    EXPECT_FALSE(a.signing_keys.at(sk.public_key()));
    const auto& scope = a.signing_keys.at(scoped.public_key());
    ASSERT_TRUE(scope);
    EXPECT_EQ(scope->role, "r");
    EXPECT_EQ(scope->templ.permissions.pub.allow, std::vector<std::string>{"x"});
    EXPECT_EQ(scope->templ.limits.subs, -1);  // NewUserScope's defaults
    EXPECT_EQ(scope->template_json.at("payload").as_int64(), -1);
    ASSERT_TRUE(a.revocations);
    EXPECT_TRUE(a.revocations->empty());
    ASSERT_EQ(a.exports.size(), 1u);
    EXPECT_EQ(a.exports[0].type, ExportType::Service);
    EXPECT_TRUE(a.exports[0].token_req);
    EXPECT_EQ(a.default_permissions.sub.deny, std::vector<std::string>{"secret"});
    // No limits at all: every limit 0, JetStream off.
    AccountClaims bare = account_from({}, c.acc, c.op);
    EXPECT_EQ(bare.limits.conn, 0);
    EXPECT_TRUE(bare.limits.is_empty());
    EXPECT_FALSE(bare.limits.jetstream_enabled());
    EXPECT_FALSE(bare.revocations);
}

TEST(Claims, AccountValidationTexts) {
    Chain c;
    const std::int64_t now = now_s();
    auto issues = [&](json::object nats, const KeyPair* signer = nullptr) {
        return validate(account_from(std::move(nats), c.acc, signer ? *signer : c.op), now);
    };
    const json::object unlimited{
        {"imports", -1}, {"exports", -1}, {"wildcards", true}, {"conn", -1}};
    EXPECT_TRUE(issues({{"limits", unlimited}}).issues.empty());
    // More imports than allowed: Go checks twice.
    const json::object imp{{"subject", "x"}, {"account", c.op.public_key()}, {"type", "stream"}};
    EXPECT_EQ(errors_of(issues({{"limits", {{"imports", 0}, {"conn", 1}}}, {"imports", {imp}}})),
              (std::vector<std::string>{
                  "the account contains more imports than allowed by the operator",
                  "the account contains more imports than allowed by the operator"}));
    EXPECT_EQ(errors_of(issues({{"limits", {{"exports", 0}, {"imports", -1}}},
                                {"exports", {{{"subject", "a.*"}, {"type", "stream"}}}}})),
              (std::vector<std::string>{
                  "the account contains more exports than allowed by the operator",
                  "the account contains wildcard exports that are not allowed by the operator"}));
    EXPECT_EQ(
        errors_of(issues(
            {{"limits",
              {{"imports", -1}, {"exports", -1}, {"tiered_limits", {{"", json::object{}}}}}}})),
        std::vector<std::string>{
            R"(Tiered JetStream Limits can not contain a blank "" tier name)"});
    EXPECT_EQ(errors_of(issues({{"limits", unlimited}, {"signing_keys", {c.user.public_key()}}})),
              std::vector<std::string>{"\"" + c.user.public_key() +
                                       "\" is not a valid account signing key"});
    EXPECT_EQ(errors_of(issues(
                  {{"limits", unlimited},
                   {"signing_keys", {{{"kind", "user_scope"}, {"key", c.user.public_key()}}}}})),
              std::vector<std::string>{c.user.public_key() + " is not an account public key"});
    EXPECT_EQ(
        errors_of(issues(
            {{"limits", unlimited},
             {"mappings",
              {{"m",
                {{{"subject", "a"}, {"weight", 60}}, {{"subject", "b.*"}, {"weight", 50}}}}}}})),
        (std::vector<std::string>{
            R"(Subject "b.*" in weighted mapping "m" is not allowed to contains wildcard)",
            R"(Mapping "m" exceeds 100% among all of it's weighted to mappings)"}));
    // Go sums weights in a uint8: 200 + 100 wraps to 44 and passes.
    EXPECT_TRUE(
        issues(
            {{"limits", unlimited},
             {"mappings",
              {{"m", {{{"subject", "a"}, {"weight", 200}}, {{"subject", "b"}, {"weight", 100}}}}}}})
            .issues.empty());
    EXPECT_EQ(errors_of(issues({{"limits", unlimited}, {"exports", {{{"subject", "a"}}}}})),
              std::vector<std::string>{R"(invalid export type: "unknown")"});
    EXPECT_EQ(
        errors_of(issues(
            {{"limits", unlimited},
             {"exports", {{{"subject", "a"}, {"type", "service"}, {"response_type", "Many"}}}}})),
        std::vector<std::string>{R"(invalid response type for service: "Many")"});
    EXPECT_EQ(errors_of(issues(
                  {{"limits", unlimited},
                   {"exports",
                    {{{"subject", "a"}, {"type", "stream"}, {"account_token_position", 1}}}}})),
              std::vector<std::string>{
                  "Account Token Position can only be used with wildcard subjects: a"});
    EXPECT_EQ(errors_of(issues(
                  {{"limits", unlimited},
                   {"exports",
                    {{{"subject", "a.*"}, {"type", "stream"}, {"account_token_position", 1}}}}})),
              std::vector<std::string>{
                  "Account Token Position 1 matches 'a' but must match a * in: a.*"});
    EXPECT_EQ(errors_of(issues(
                  {{"limits", unlimited},
                   {"exports",
                    {{{"subject", "a.*"}, {"type", "stream"}, {"account_token_position", 3}}}}})),
              std::vector<std::string>{"Account Token Position 3 exceeds length of subject 'a.*'"});
    EXPECT_EQ(errors_of(issues({{"limits", unlimited},
                                {"exports",
                                 {{{"subject", "a.>"}, {"type", "service"}},
                                  {{"subject", "a.b"}, {"type", "service"}}}}})),
              std::vector<std::string>{R"(service export subject "a.>" already exports "a.b")"});
    EXPECT_EQ(errors_of(issues({{"limits", unlimited}, {"exports", {nullptr}}})),
              std::vector<std::string>{"null export is not allowed"});
    EXPECT_EQ(errors_of(issues({{"limits", unlimited}, {"info_url", "nowhere"}})),
              std::vector<std::string>{"error parsing info url: no hostname or scheme"});
    EXPECT_EQ(
        errors_of(issues({{"limits", unlimited}, {"info_url", "http://a b/"}})),
        std::vector<std::string>{
            R"(error parsing info url: parse "http://a b/": invalid character " " in host name)"});
    EXPECT_EQ(errors_of(issues({{"limits", unlimited},
                                {"imports", {{{"subject", "a b"}, {"type", "stream"}}}}})),
              (std::vector<std::string>{"account to import from is not specified",
                                        R"(subject "a b" cannot have spaces)"}));
    EXPECT_EQ(errors_of(issues({{"limits", unlimited},
                                {"imports",
                                 {{{"subject", "x"},
                                   {"account", c.op.public_key()},
                                   {"type", "stream"},
                                   {"token", "garbage"}}}}})),
              std::vector<std::string>{R"(import "x" contains an invalid activation token)"});
    const json::object svc{{"subject", "q.>"}, {"account", c.op.public_key()}, {"type", "service"}};
    const json::object svc2{
        {"subject", "q.a"}, {"account", c.op.public_key()}, {"type", "service"}};
    EXPECT_EQ(errors_of(issues({{"limits", unlimited}, {"imports", {svc, svc2}}})),
              std::vector<std::string>{R"(overlapping subject namespace for "q.a" and "q.>")"});
    // Self-signed with limits: a warning only.
    const ValidationResults self = issues({{"limits", unlimited}}, &c.acc);
    EXPECT_FALSE(self.is_blocking(true));
    EXPECT_EQ(self.warnings(), std::vector<std::string>{
                                   "self-signed account JWTs shouldn't contain operator limits"});
}

TEST(Claims, OperatorValidationTexts) {
    Chain c;
    auto issues = [&](json::object nats) {
        nats["type"] = "operator";
        auto o = decode_operator(
            encode_jwt(json::object{{"sub", c.op.public_key()}, {"nats", nats}}, c.op));
        EXPECT_TRUE(o) << o.error();
        return errors_of(validate(*o, now_s()));
    };
    const KeyPair osk = KeyPair::generate(kOperator);
    EXPECT_TRUE(issues({{"signing_keys", {osk.public_key()}},
                        {"system_account", c.acc.public_key()},
                        {"account_server_url", "http://localhost:9090/jwt/v1"},
                        {"operator_service_urls", {"nats://localhost:4222", "tls://h:4222"}},
                        {"assert_server_version", "2.9.0"},
                        {"strict_signing_key_usage", true}})
                    .empty());
    EXPECT_EQ(issues({{"signing_keys", {c.acc.public_key()}}}),
              std::vector<std::string>{c.acc.public_key() + " is not an operator public key"});
    EXPECT_EQ(issues({{"system_account", c.op.public_key()}}),
              std::vector<std::string>{c.op.public_key() + " is not an account public key"});
    EXPECT_EQ(issues({{"account_server_url", "localhost"}}),
              std::vector<std::string>{R"(account server url "localhost" requires a protocol)"});
    EXPECT_EQ(issues({{"account_server_url", ":x"}}),
              std::vector<std::string>{
                  R"(error parsing account server url: parse ":x": missing protocol scheme)"});
    EXPECT_EQ(
        issues({{"operator_service_urls", {"http://h:1"}}}),
        std::vector<std::string>{
            R"(operator service url "http://h:1" - protocol not supported (only 'nats' or 'tls' only))"});
    EXPECT_EQ(issues({{"operator_service_urls", {"nats://h:1/p"}}}),
              std::vector<std::string>{
                  R"(operator service url "nats://h:1/p" - paths are not supported)"});
    EXPECT_EQ(issues({{"operator_service_urls", {"nats://u:p@h:1"}}}),
              std::vector<std::string>{
                  R"(operator service url "nats://u:p@h:1" - credentials are not supported)"});
    EXPECT_EQ(issues({{"assert_server_version", "2.9"}}),
              std::vector<std::string>{"assert server version error: asserted server version must "
                                       "be of the form <major>.<minor>.<update>"});
    EXPECT_EQ(issues({{"assert_server_version", "2.x.1"}}),
              std::vector<std::string>{
                  "assert server version error: asserted server version cant parse x to int"});
    auto op = decode_operator(encode_jwt(
        json::object{{"sub", c.op.public_key()},
                     {"nats", {{"type", "operator"}, {"assert_server_version", "2.10.0"}}}},
        c.op));
    EXPECT_EQ(
        *check_server_version(*op, 2, 9, 10),
        "operator " + c.op.public_key() + " expected minor version 10 > server minor version 9");
    EXPECT_FALSE(check_server_version(*op, 2, 10, 0));
    EXPECT_FALSE(check_server_version(*op, 3, 0, 0));
}

// ---------------------------------------------------------------- connect checks

TEST(Claims, RevocationRule) {
    RevocationList r{{"U1", 100}};
    EXPECT_TRUE(is_revoked(r, "U1", 100));  // issued at the revocation time: revoked
    EXPECT_TRUE(is_revoked(r, "U1", 99));
    EXPECT_FALSE(is_revoked(r, "U1", 101));  // re-issued later: fine
    EXPECT_FALSE(is_revoked(r, "U2", 1));
    r["*"] = 50;
    EXPECT_TRUE(is_revoked(r, "U2", 50));
    EXPECT_FALSE(is_revoked(r, "U2", 51));
    EXPECT_FALSE(is_revoked(RevocationList{}, "U1", 0));
    EXPECT_FALSE(is_revoked(std::optional<RevocationList>{}, "U1", 0));
    Chain c;
    AccountClaims a =
        account_from({{"revocations", {{c.user.public_key(), now_s() + 100}}}}, c.acc, c.op);
    UserClaims u = user_from({}, c.user, c.acc);
    EXPECT_TRUE(is_claim_revoked(a, u));
    u.claims.iat = 0;
    EXPECT_TRUE(
        is_claim_revoked(account_from({}, c.acc, c.op), u));  // iat 0 counts as revoked on updates
}

TEST(Claims, CidrMatchesAsGo) {
    EXPECT_TRUE(src_allowed({}, "1.2.3.4"));
    EXPECT_TRUE(src_allowed({"127.0.0.0/8"}, "127.0.0.1"));
    EXPECT_FALSE(src_allowed({"127.0.0.0/8"}, "128.0.0.1"));
    EXPECT_TRUE(src_allowed({"10.0.0.0/8", "192.168.1.0/24"}, "192.168.1.77"));
    EXPECT_TRUE(src_allowed({"::1/128"}, "::1"));
    EXPECT_FALSE(src_allowed({"::1/128"}, "127.0.0.1"));
    EXPECT_FALSE(src_allowed({"::/0"}, "127.0.0.1"));  // IPv6 nets never hold IPv4 clients
    EXPECT_TRUE(src_allowed({"127.0.0.0/8"}, "::ffff:127.0.0.1"));  // an IPv4-mapped client is IPv4
    EXPECT_TRUE(
        src_allowed({"::ffff:10.0.0.0/104"}, "10.1.2.3"));  // a v4-mapped net holds IPv4 clients
    EXPECT_TRUE(src_allowed({"2001:db8::/32"}, "2001:db8::42"));
    EXPECT_FALSE(src_allowed({"127.0.0.0/8"}, "localhost"));
    EXPECT_FALSE(src_allowed({"127.0.0.0/8"}, ""));
    EXPECT_FALSE(src_allowed({"127.0.0.0/8"}, "fe80::1%eth0"));
    EXPECT_FALSE(parse_cidr("127.0.0.01/8"));  // leading zeros
    EXPECT_FALSE(parse_cidr("127.0.0.1/33"));
    EXPECT_FALSE(parse_cidr("::1/129"));
    EXPECT_FALSE(parse_cidr("1::2::3/64"));
    EXPECT_TRUE(parse_cidr("1.2.3.4/08"));  // the mask may have leading zeros
    EXPECT_TRUE(parse_cidr("::ffff:1.2.3.4/128"));
}

TEST(Claims, ClockParsingAsGo) {
    EXPECT_TRUE(parse_clock("9:00:00"));  // one-digit hour
    EXPECT_FALSE(parse_clock("09:00"));
    EXPECT_FALSE(parse_clock("09:0:00"));
    EXPECT_FALSE(parse_clock("24:00:00"));
    EXPECT_FALSE(parse_clock("08:60:00"));
    EXPECT_FALSE(parse_clock("08:00:00x"));
    EXPECT_EQ(parse_clock("08:00:00.5")->nsec, 500'000'000);
    EXPECT_EQ(parse_clock("08:00:00,123456789123")->nsec, 123'456'789);
    EXPECT_EQ(parse_clock("23:59:59")->hour, 23);
}

namespace {

std::chrono::system_clock::time_point utc(int y, int m, int d, int hh, int mm, int ss) {
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    return std::chrono::system_clock::from_time_t(timegm(&tm));
}

bool have_tzdata() { return ::access("/usr/share/zoneinfo/America/New_York", R_OK) == 0; }

UserPermissionLimits times(std::string zone, std::vector<TimeRange> ranges) {
    UserPermissionLimits u;
    u.times_location = std::move(zone);
    u.times = std::move(ranges);
    return u;
}

}  // namespace

TEST(Claims, ConnectTimes) {
    using std::chrono::hours;
    const auto ten = utc(2024, 1, 15, 10, 0, 0);
    EXPECT_TRUE(check_times(UserPermissionLimits{}, ten).allowed);
    auto r = check_times(times("UTC", {{"09:00:00", "17:00:00"}}), ten);
    EXPECT_TRUE(r.allowed);
    EXPECT_EQ(r.valid_for, hours(7));
    EXPECT_FALSE(
        check_times(times("UTC", {{"10:00:00", "17:00:00"}}), ten).allowed);  // strict start
    EXPECT_FALSE(check_times(times("UTC", {{"08:00:00", "10:00:00"}}), ten).allowed);  // strict end
    EXPECT_FALSE(check_times(times("UTC", {{"11:00:00", "17:00:00"}}), ten).allowed);
    // The second range admits.
    r = check_times(times("UTC", {{"11:00:00", "12:00:00"}, {"9:30:00", "10:30:00"}}), ten);
    EXPECT_TRUE(r.allowed);
    EXPECT_EQ(r.valid_for, std::chrono::minutes(30));
    // Overnight ranges: before midnight fine, after midnight refused (nats-server's quirk).
    r = check_times(times("UTC", {{"22:00:00", "06:00:00"}}), utc(2024, 1, 15, 23, 0, 0));
    EXPECT_TRUE(r.allowed);
    EXPECT_EQ(r.valid_for, hours(7));
    EXPECT_FALSE(
        check_times(times("UTC", {{"22:00:00", "06:00:00"}}), utc(2024, 1, 16, 1, 0, 0)).allowed);
    EXPECT_FALSE(check_times(times("Mars/Olympus", {{"00:00:00", "23:59:59"}}), ten).allowed);
}

TEST(Claims, ConnectTimesInNamedZones) {
    using std::chrono::hours;
    if (!have_tzdata()) GTEST_SKIP() << "no tz database (Debian package tzdata)";
    auto r = check_times(UserPermissionLimits{}, utc(2024, 1, 15, 10, 0, 0));
    // Named zones, standard and summer time, and past the zone file's table (its POSIX rule).
    r = check_times(times("America/New_York", {{"09:00:00", "11:00:00"}}),
                    utc(2024, 1, 15, 15, 0, 0));
    EXPECT_TRUE(r.allowed);
    EXPECT_EQ(r.valid_for, hours(1));
    r = check_times(times("America/New_York", {{"09:00:00", "11:00:00"}}),
                    utc(2024, 7, 15, 14, 0, 0));
    EXPECT_TRUE(r.allowed);
    EXPECT_EQ(r.valid_for, hours(1));
    r = check_times(times("America/New_York", {{"09:00:00", "11:00:00"}}),
                    utc(2060, 7, 15, 14, 0, 0));
    EXPECT_TRUE(r.allowed);
    EXPECT_EQ(r.valid_for, hours(1));
    EXPECT_FALSE(check_times(times("America/New_York", {{"09:00:00", "11:00:00"}}),
                             utc(2060, 1, 15, 13, 30, 0))
                     .allowed);
    r = check_times(times("Asia/Kolkata", {{"15:00:00", "16:00:00"}}),
                    utc(2024, 3, 1, 9, 45, 0));  // +05:30
    EXPECT_TRUE(r.allowed);
    EXPECT_EQ(r.valid_for, std::chrono::minutes(45));
    // The calendar date is the zone's: 23:30 UTC is already tomorrow in Tokyo.
    r = check_times(times("Asia/Tokyo", {{"08:00:00", "09:00:00"}}), utc(2024, 3, 1, 23, 30, 0));
    EXPECT_TRUE(r.allowed);
    EXPECT_EQ(r.valid_for, std::chrono::minutes(30));
}

TEST(Claims, LoadLocationAsGo) {
    if (!have_tzdata()) GTEST_SKIP() << "no tz database (Debian package tzdata)";
    EXPECT_EQ(load_location("Mars/Olympus").error(), "unknown time zone Mars/Olympus");
    EXPECT_EQ(load_location("../etc/passwd").error(), "time: invalid location name");
    EXPECT_EQ(load_location("/etc/localtime").error(), "time: invalid location name");
    EXPECT_EQ(load_location("America").error(), "is a directory");
    EXPECT_EQ(load_location("zone.tab").error(), "malformed time zone information");
    EXPECT_EQ((*load_location(""))->name, "UTC");
    EXPECT_TRUE(load_location("Local"));
    auto berlin = load_location("Europe/Berlin");
    ASSERT_TRUE(berlin);
    // 2024-03-31 02:30 does not exist in Berlin; Go's time.Date picks 03:30 CEST (01:30 UTC).
    EXPECT_EQ((*berlin)->date(2024, 3, 31, 2, 30, 0), 1711848600);
    EXPECT_EQ(location_from_tzdata("x", "TZif").error(), "malformed time zone information");
}

TEST(Claims, ConnectionTypes) {
    auto ct = convert_connection_types({"standard", "WebSocket"});
    EXPECT_EQ(ct.allowed, (std::set<std::string>{"STANDARD", "WEBSOCKET"}));
    EXPECT_FALSE(ct.error);
    EXPECT_TRUE(connection_type_allowed(ct.allowed, kConnStandard));
    EXPECT_FALSE(connection_type_allowed(ct.allowed, kConnMqtt));
    ct = convert_connection_types({"foo"});
    EXPECT_EQ(*ct.error, R"(invalid connection types ["FOO"])");
    EXPECT_TRUE(ct.refuse());
    ct = convert_connection_types({"STANDARD", "foo", "bar"});
    EXPECT_EQ(*ct.error, R"(invalid connection types ["FOO" "BAR"])");
    EXPECT_FALSE(ct.refuse());
    EXPECT_TRUE(connection_type_allowed(convert_connection_types({}).allowed,
                                        kConnLeafnode));  // empty = all
}

TEST(Claims, NonceSignature) {
    const KeyPair u = KeyPair::generate(kUser);
    const std::string nonce = "ORr4SToyCR9s_Ho";
    const Bytes sig = u.sign(nonce);  // the nonce text as received, not its decoded bytes
    EXPECT_FALSE(verify_nonce(u.public_key(), testkit::base64_raw_url_encode(sig), nonce));
    EXPECT_FALSE(verify_nonce(u.public_key(), testkit::base64_std_encode(sig), nonce));
    EXPECT_EQ(*verify_nonce(u.public_key(), "", nonce), "Signature missing");
    EXPECT_EQ(*verify_nonce(u.public_key(), "!!", nonce), "Signature not valid base64");
    EXPECT_EQ(*verify_nonce("UXYZ", testkit::base64_raw_url_encode(sig), nonce),
              "User nkey not valid: nkeys: invalid encoded key");
    EXPECT_EQ(
        *verify_nonce(u.public_key(),
                      testkit::base64_raw_url_encode(u.sign(*base64_raw_url_decode(nonce))), nonce),
        "Signature not verified");
}

TEST(Claims, TrustAccountsAndSigningKeys) {
    Chain c;
    const KeyPair osk = KeyPair::generate(kOperator);
    auto op = decode_operator(encode_jwt(
        json::object{{"sub", c.op.public_key()},
                     {"nats", {{"type", "operator"}, {"signing_keys", {osk.public_key()}}}}},
        c.op));
    ASSERT_TRUE(op);
    Trust trust = trusted_keys({*op});
    EXPECT_TRUE(is_trusted_issuer(trust, c.op.public_key()));
    EXPECT_TRUE(is_trusted_issuer(trust, osk.public_key()));
    op->strict_signing_key_usage = true;
    Trust strict = trusted_keys({*op});
    EXPECT_FALSE(is_trusted_issuer(strict, c.op.public_key()));
    EXPECT_TRUE(strict.strict_signing_keys.contains(osk.public_key()));

    const std::int64_t now = now_s();
    const json::object lim{{"conn", -1}, {"imports", -1}, {"exports", -1}, {"wildcards", true}};
    auto acc_jwt = [&](json::object extra, const KeyPair& signer) {
        json::object p{{"sub", c.acc.public_key()},
                       {"nats", {{"type", "account"}, {"limits", lim}}}};
        for (auto& [k, v] : extra) p[k] = v;
        return encode_jwt(p, signer);
    };
    EXPECT_TRUE(verify_account(acc_jwt({}, c.op), c.acc.public_key(), trust, now));
    EXPECT_TRUE(verify_account(acc_jwt({}, osk), c.acc.public_key(), trust, now));
    EXPECT_EQ(
        verify_account(acc_jwt({}, KeyPair::generate(kOperator)), c.acc.public_key(), trust, now)
            .error(),
        "account validation failed");
    EXPECT_EQ(
        verify_account(acc_jwt({{"exp", now - 1}}, c.op), c.acc.public_key(), trust, now).error(),
        "account validation failed");
    EXPECT_EQ(
        verify_account(acc_jwt({}, c.op), KeyPair::generate(kAccount).public_key(), trust, now)
            .error(),
        "account validation failed");
    EXPECT_EQ(verify_account("x.y", c.acc.public_key(), trust, now).error(), "expected 3 chunks");
    auto a = verify_account(acc_jwt({{"exp", now + 5}}, c.op), c.acc.public_key(), trust, now);
    ASSERT_TRUE(a);
    EXPECT_FALSE(account_expired(*a, now));
    EXPECT_TRUE(account_expired(*a, now + 5));

    // The account's own key signs unless strict; a listed key always does.
    const KeyPair ask = KeyPair::generate(kAccount);
    AccountClaims ac = account_from({{"signing_keys", {ask.public_key()}}}, c.acc, c.op);
    auto keys = account_signing_keys(ac, false);
    EXPECT_TRUE(find_signing_key(keys, c.acc.public_key()));
    EXPECT_TRUE(find_signing_key(keys, ask.public_key()));
    EXPECT_FALSE(find_signing_key(keys, c.user.public_key()));
    EXPECT_FALSE(find_signing_key(account_signing_keys(ac, true), c.acc.public_key()));
    // A user issued by a signing key names its account.
    UserClaims u = user_from({{"issuer_account", c.acc.public_key()}}, c.user, ask);
    EXPECT_EQ(user_issuer_account(u), c.acc.public_key());
    EXPECT_EQ(user_issuer_account(user_from({}, c.user, c.acc)), c.acc.public_key());
}

TEST(Claims, ScopedSigningKeys) {
    Chain c;
    const KeyPair sk = KeyPair::generate(kAccount);
    // Built from text: nested initializer lists are ambiguous for one-element arrays.
    const std::string scope_json =
        R"({"signing_keys": [{"kind": "user_scope", "key": ")" + sk.public_key() + R"(",
        "template": {"pub": {"allow": ["u.{{name()}}.>", "id.{{subject()}}", "acc.{{account-name()}}", "t.{{tag(dept)}}.*"],
                             "deny": ["x.{{account-tag(env)}}"]},
                     "sub": {"allow": ["{{nope()}}"]}, "subs": 10, "bearer_token": true}}]})";
    AccountClaims a = account_from(json::parse(scope_json).as_object(), c.acc, c.op);
    const SigningKeys keys = account_signing_keys(a, false);
    const auto* scope = find_signing_key(keys, sk.public_key());
    ASSERT_TRUE(scope && *scope);
    json::object p = user_payload(c.user);
    p["name"] = "bob";
    p["nats"].as_object()["issuer_account"] = c.acc.public_key();
    p["nats"].as_object()["tags"] = json::array{"dept:eng", "dept:ops", "x:y"};
    auto u = decode_user(encode_jwt(p, sk));
    ASSERT_TRUE(u) << u.error();
    auto scoped = apply_scope(**scope, *u, "A", {"env:prod"});
    ASSERT_TRUE(scoped) << scoped.error();
    EXPECT_EQ(scoped->permissions.pub.allow,
              (std::vector<std::string>{"u.bob.>", "id." + c.user.public_key(), "acc.A", "t.eng.*",
                                        "t.ops.*"}));
    EXPECT_EQ(scoped->permissions.pub.deny, std::vector<std::string>{"x.prod"});
    // An unknown macro yields no subject; an allow list emptied this way becomes "deny >".
    EXPECT_TRUE(scoped->permissions.sub.allow.empty());
    EXPECT_EQ(scoped->permissions.sub.deny, std::vector<std::string>{">"});
    EXPECT_EQ(scoped->limits.subs, 10);
    EXPECT_TRUE(scoped->bearer_token);
    // Users of a scoped key carry nothing themselves, and must be issued by that key.
    p["nats"].as_object()["subs"] = -1;
    auto with_limits = decode_user(encode_jwt(p, sk));
    EXPECT_EQ(apply_scope(**scope, *with_limits, "A", {}).error(),
              "scoped users require no permissions or limits set");
    EXPECT_EQ(apply_scope(**scope, *decode_user(encode_jwt(user_payload(c.user), c.acc)), "A", {})
                  .error(),
              "issuer not the scoped signer");
    // A deny entry that expands to nothing valid fails the user.
    UserPermissionLimits bad;
    bad.permissions.pub.deny = {"{{tag(none)}}.x"};
    EXPECT_EQ(apply_template(bad, *u, "A", {}).error(), "generated invalid subject");
}

TEST(Claims, ServerPermissions) {
    EXPECT_FALSE(server_permissions(Permissions{}));
    Permissions p;
    p.resp = ResponsePermission{0, 0};
    auto s = server_permissions(p);
    ASSERT_TRUE(s && s->responses);
    EXPECT_EQ(s->responses->max, 1);
    EXPECT_EQ(s->responses->expires_ms, 120'000);
    p.pub.allow = {"a"};
    p.resp = ResponsePermission{5, 3'000'000'000};
    s = server_permissions(p);
    EXPECT_EQ(s->publish.allow, std::vector<std::string>{"a"});
    EXPECT_EQ(s->responses->max, 5);
    EXPECT_EQ(s->responses->expires_ms, 3000);
}

TEST(Claims, ActivationTokens) {
    const std::int64_t now = now_s();
    const KeyPair exporter = KeyPair::generate(kAccount), importer = KeyPair::generate(kAccount);
    const KeyPair exporter_sk = KeyPair::generate(kAccount), stranger = KeyPair::generate(kAccount);
    auto activation = [&](const KeyPair& signer, const KeyPair& sub, std::string subject,
                          json::object extra = {}, json::object nats_extra = {}) {
        json::object nats{{"type", "activation"}, {"subject", subject}, {"kind", "service"}};
        for (auto& [k, v] : nats_extra) nats[k] = v;
        json::object p{{"sub", sub.public_key()}, {"nats", nats}};
        for (auto& [k, v] : extra) p[k] = v;
        return encode_jwt(p, signer);
    };
    const SigningKeys exporter_keys{{exporter.public_key(), std::nullopt},
                                    {exporter_sk.public_key(), std::nullopt}};
    auto import_with = [&](std::string token, std::string subject = "svc.a") {
        return Import{false,
                      "",
                      subject,
                      exporter.public_key(),
                      std::move(token),
                      "",
                      "",
                      ExportType::Service,
                      false};
    };
    Export ex;
    ex.subject = "svc.>";
    ex.type = ExportType::Service;
    ex.token_req = true;

    auto good =
        check_activation(import_with(activation(exporter, importer, "svc.>")),
                         importer.public_key(), exporter.public_key(), exporter_keys, &ex, now);
    ASSERT_TRUE(good) << good.error();
    EXPECT_EQ(good->import_subject, "svc.>");
    // Issued by the exporter's signing key, naming the exporter.
    EXPECT_TRUE(
        check_activation(import_with(activation(exporter_sk, importer, "svc.>", {},
                                                {{"issuer_account", exporter.public_key()}})),
                         importer.public_key(), exporter.public_key(), exporter_keys, &ex, now));
    // For another importing account.
    auto wrong_sub =
        check_activation(import_with(activation(exporter, stranger, "svc.>")),
                         importer.public_key(), exporter.public_key(), exporter_keys, &ex, now);
    EXPECT_FALSE(wrong_sub);
    // Not covering the import's subject.
    auto wrong_subject =
        check_activation(import_with(activation(exporter, importer, "other.>")),
                         importer.public_key(), exporter.public_key(), exporter_keys, &ex, now);
    ASSERT_FALSE(wrong_subject);
    EXPECT_TRUE(wrong_subject.error().starts_with(
        "import not valid: &{Issues:[activation token import subject"))
        << wrong_subject.error();
    ValidationResults vr;
    validate_import(import_with(activation(exporter, importer, "other.>")), importer.public_key(),
                    vr);
    EXPECT_EQ(vr.errors(),
              std::vector<std::string>{
                  R"(activation token import subject "other.>" doesn't match import "svc.a")"});
    // Issued by a stranger, or naming the exporter while signed by a key it does not hold.
    EXPECT_FALSE(check_activation(import_with(activation(stranger, importer, "svc.>")),
                                  importer.public_key(), exporter.public_key(), exporter_keys, &ex,
                                  now));
    EXPECT_EQ(
        check_activation(import_with(activation(stranger, importer, "svc.>", {},
                                                {{"issuer_account", exporter.public_key()}})),
                         importer.public_key(), exporter.public_key(), exporter_keys, &ex, now)
            .error(),
        "activation token issuer not trusted");
    // Expired (exp <= now is expired for activations).
    auto expired =
        check_activation(import_with(activation(exporter, importer, "svc.>", {{"exp", now}})),
                         importer.public_key(), exporter.public_key(), exporter_keys, &ex, now);
    EXPECT_EQ(expired.error(), "activation token expired");
    auto long_expired =
        check_activation(import_with(activation(exporter, importer, "svc.>", {{"exp", now - 10}})),
                         importer.public_key(), exporter.public_key(), exporter_keys, &ex, now);
    EXPECT_FALSE(long_expired);
    // Revoked through the export.
    ex.revocations = RevocationList{{importer.public_key(), now + 10}};
    EXPECT_EQ(
        check_activation(import_with(activation(exporter, importer, "svc.>")),
                         importer.public_key(), exporter.public_key(), exporter_keys, &ex, now)
            .error(),
        "activation token revoked");
    // Account token position instead of a token.
    Export pos;
    pos.subject = "req.*.>";
    pos.account_token_position = 2;
    EXPECT_TRUE(account_token_position_ok(pos, "req." + importer.public_key() + ".x",
                                          importer.public_key()));
    EXPECT_FALSE(account_token_position_ok(pos, "req.other.x", importer.public_key()));
    EXPECT_FALSE(account_token_position_ok(pos, "req", importer.public_key()));
}

TEST(Claims, ImportExportValidationTexts) {
    Chain c;
    const KeyPair other = KeyPair::generate(kAccount);
    const std::string exp_acc = other.public_key();
    auto issues = [&](const std::string& nats_json) {
        json::object n = json::parse(nats_json).as_object();
        n["limits"] =
            json::object{{"imports", -1}, {"exports", -1}, {"wildcards", true}, {"conn", -1}};
        return validate(account_from(n, c.acc, c.op), now_s());
    };
    auto imports = [&](const std::string& list) {
        return errors_of(issues(R"({"imports":)" + list + "}"));
    };
    auto exports = [&](const std::string& list) {
        return errors_of(issues(R"({"exports":)" + list + "}"));
    };
    const std::string acc = R"("account":")" + exp_acc + R"(")";
    EXPECT_EQ(
        imports(R"([{"subject":"a.*",)" + acc + R"(,"type":"stream","local_subject":"b.$1"}])"),
        std::vector<std::string>{});
    EXPECT_EQ(
        imports(R"([{"subject":"a.*",)" + acc + R"(,"type":"stream","local_subject":"b.$2"}])"),
        (std::vector<std::string>{
            R"(Reference $2 in "b.$2" reference * in "a.*" that do not exist)",
            "subject does not contain enough * or reference wildcards $[0-9]"}));
    EXPECT_EQ(imports(R"([{"subject":"a.>",)" + acc + R"(,"type":"stream","local_subject":"b"}])"),
              std::vector<std::string>{
                  "both, renaming subject and subject, need to end or not end in >"});
    EXPECT_EQ(
        imports(R"([{"subject":"a",)" + acc + R"(,"type":"stream","local_subject":"b","to":"c"}])"),
        std::vector<std::string>{"Local Subject replaces To"});
    EXPECT_EQ(imports(R"([{"subject":"a",)" + acc + R"(,"type":"stream","share":true}])"),
              std::vector<std::string>{
                  R"(sharing information (for latency tracking) is only valid for services: "a")"});
    EXPECT_EQ(imports(R"([{"subject":"a",)" + acc + R"(}])"),
              std::vector<std::string>{R"(invalid import type: "unknown")"});
    EXPECT_EQ(imports("[null]"), std::vector<std::string>{"null import is not allowed"});
    const ValidationResults to =
        issues(R"({"imports":[{"subject":"a",)" + acc + R"(,"type":"stream","to":"b"}]})");
    EXPECT_EQ(to.warnings(), std::vector<std::string>{
                                 "the field to has been deprecated (use LocalSubject instead)"});
    // An activation token for a stream used on a service import, issued by a third account.
    const KeyPair third = KeyPair::generate(kAccount);
    const std::string token = encode_jwt(
        json::object{{"sub", c.acc.public_key()},
                     {"nats", {{"type", "activation"}, {"subject", "a"}, {"kind", "stream"}}}},
        third);
    EXPECT_EQ(
        imports(R"([{"subject":"a",)" + acc + R"(,"type":"service","token":")" + token + R"("}])"),
        (std::vector<std::string>{
            R"(activation token doesn't match account for import "a")",
            "mismatch between token import type stream and type of import service"}));
    const std::string for_other = encode_jwt(
        json::object{{"sub", third.public_key()},
                     {"nats", {{"type", "activation"}, {"subject", "a"}, {"kind", "stream"}}}},
        other);
    EXPECT_EQ(imports(R"([{"subject":"a",)" + acc + R"(,"type":"stream","token":")" + for_other +
                      R"("}])"),
              std::vector<std::string>{
                  R"(activation token doesn't match account it is being included in, "a")"});

    EXPECT_EQ(exports(R"([{"subject":"a","type":"stream","response_type":"Stream"}])"),
              std::vector<std::string>{R"(invalid response type for stream: "Stream")"});
    EXPECT_EQ(
        exports(
            R"([{"subject":"a","type":"stream","service_latency":{"sampling":101,"results":"r.*"}}])"),
        (std::vector<std::string>{"latency tracking only permitted for services",
                                  "sampling percentage needs to be between 1-100",
                                  "results subject can not contain wildcards"}));
    EXPECT_EQ(
        exports(
            R"([{"subject":"a","type":"service","service_latency":{"sampling":"headers","results":"r"}}])"),
        std::vector<std::string>{});
    EXPECT_EQ(exports(R"([{"subject":"a","type":"stream","response_threshold":5}])"),
              std::vector<std::string>{"response threshold only valid for services"});
    EXPECT_EQ(exports(R"([{"subject":"a","type":"service","response_threshold":-5}])"),
              std::vector<std::string>{"negative response threshold is invalid"});
    EXPECT_EQ(exports(R"([{"subject":"a.b","type":"stream"},{"subject":"a.*","type":"stream"}])"),
              std::vector<std::string>{R"(stream export subject "a.*" already exports "a.b")"});
    EXPECT_EQ(exports(R"([{"subject":"","type":"stream","description":")" + std::string(8193, 'd') +
                      R"("}])"),
              (std::vector<std::string>{"subject cannot be empty", "Description is too long"}));
}
