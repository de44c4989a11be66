// The operator-mode CONNECT of nats-server 2.9.10 (processClientOrLeafAuthentication with a user
// JWT) as one pure function over the checks of checks.h, in their order: what the server layer
// calls with the CONNECT's jwt/sig, the INFO nonce, the client's address, the time and a way to
// find account JWTs (the resolver). The result carries what the server applies to the
// connection: the account, the permissions, the limits and when the credentials run out.
#pragma once
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/auth/checks.h"

namespace osprey::server::auth {

struct JwtConnect {
    std::string_view jwt, sig, nonce;
    std::string_view host;                       // the client's IP as text
    std::string_view conn_type = kConnStandard;  // kConn*
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
};

// The resolver: the JWT of an account (by public key), or nats-server's lookup error.
using AccountLookup =
    std::function<std::expected<std::string, std::string>(const std::string& account)>;

struct JwtAuth {
    UserClaims user;        // with a scoped signing key's template applied
    AccountClaims account;  // verified
    std::string account_name;
    // The user's permissions, else the account's default_permissions; nullopt: none at all.
    std::optional<server::Permissions> permissions;
    // The user's limits (a scope's template's), -1 = unlimited; the account's are in `account`.
    std::int64_t max_subs = -1, max_payload = -1;
    // When the connection must close ("User Authentication Expired"): the JWT's exp or the
    // end of the current connect time range, whichever comes first; nullopt: never.
    std::optional<std::chrono::nanoseconds> expires_in;
    std::string log;  // nats-server's debug line on success ("Authenticated JWT: ...")
};

struct JwtAuthError {
    std::string log;      // the log line's text
    bool error = false;   // logged at ERR (src and times), else at DBG
};

// Steps 1-16 of checks.h. `pinned`: resolver_pinned_accounts (empty = any account).
std::expected<JwtAuth, JwtAuthError> authenticate_jwt(const JwtConnect& c, const Trust& trust,
                                                      const std::vector<std::string>& pinned,
                                                      const AccountLookup& lookup);

// The plain nkey user path (no operator): "Signature missing", "Signature not valid base64",
// "User nkey not valid: <err>", "Signature not verified"; nullopt when the nonce is signed.
inline std::optional<std::string> verify_nkey_user(std::string_view nkey, std::string_view sig,
                                                   std::string_view nonce) {
    return verify_nonce(nkey, sig, nonce);
}

// A fresh nonce as nats-server makes one: 11 random bytes in RawURL base64 (15 characters).
std::string make_nonce();

// The effective limit of two, -1 being unlimited (nats-server's minLimit).
inline std::int64_t min_limit(std::int64_t a, std::int64_t b) {
    if (a == -1) return b;
    if (b == -1) return a;
    return b < a ? b : a;
}

// A JWT from a (possibly decorated, "-----BEGIN NATS ... JWT-----") file's text:
// jwt.ParseDecoratedJWT.
std::string parse_decorated_jwt(std::string_view contents);

}  // namespace osprey::server::auth
