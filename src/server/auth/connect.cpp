// The operator-mode CONNECT chain (see connect.h and the step table of checks.h).
#include "server/auth/connect.h"

#include <fmt/format.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <regex>
#include <stdexcept>

#include "server/auth/go_unmarshal.h"
#include "server/auth/nkey.h"

namespace osprey::server::auth {

namespace {

std::string quote_list(const std::vector<std::string>& v) {
    std::string out = "[";
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (i) out += ' ';
        out += gojson::go_quote(v[i]);
    }
    return out + "]";
}

std::int64_t unix_seconds(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

std::expected<JwtAuth, JwtAuthError> authenticate_jwt(const JwtConnect& c, const Trust& trust,
                                                      const std::vector<std::string>& pinned,
                                                      const AccountLookup& lookup) {
    auto fail = [](std::string text, bool error = false) {
        return std::unexpected(JwtAuthError{std::move(text), error});
    };
    const std::int64_t now = unix_seconds(c.now);
    // 1-3: the user JWT.
    if (c.jwt.empty()) return fail("Authentication requires a user JWT");
    auto decoded = decode_user(c.jwt);
    if (!decoded) return fail("User JWT not valid: " + decoded.error());
    UserClaims user = std::move(*decoded);
    if (auto issues = check_user(user, now)) return fail("User JWT no longer valid: " + *issues);
    // 4-5: connection types.
    const ConnectionTypes types = convert_connection_types(user.allowed_connection_types);
    if (types.error) {
        if (types.refuse()) return fail(*types.error);
        // nats-server logs the unknown ones and goes on with the known ones.
    }
    if (!connection_type_allowed(types.allowed, c.conn_type)) return fail("Connection type not allowed");
    // 6-8: the account.
    const std::string issuer = user_issuer_account(user);
    if (!pinned.empty() && std::find(pinned.begin(), pinned.end(), issuer) == pinned.end())
        return fail(fmt::format("Account {} not listed as operator pinned account", issuer));
    auto account_jwt = lookup(issuer);
    if (!account_jwt) return fail("Account JWT lookup error: " + account_jwt.error());
    auto account = verify_account(*account_jwt, issuer, trust, now);
    if (!account) return fail("Account JWT lookup error: " + account.error());
    if (!is_trusted_issuer(trust, account->claims.iss))
        return fail("Account JWT not signed by trusted operator");
    // 9-10: the user's issuer among the account's keys, a scope's template.
    const SigningKeys keys =
        account_signing_keys(*account, trust.strict_signing_keys.count(account->claims.iss) > 0);
    const std::optional<UserScope>* scope = find_signing_key(keys, user.claims.iss);
    if (!scope) return fail("User JWT issuer is not known");
    if (scope->has_value()) {
        auto scoped = apply_scope(**scope, user, account->claims.name, account->tags);
        if (!scoped) {
            if (scoped.error() == "generated invalid subject")
                return fail("User JWT generated invalid permissions");
            return fail("User JWT is not valid: " + scoped.error());
        }
        user = std::move(*scoped);
    }
    // 11-14: account expiry, bearer tokens, the nonce, revocations.
    if (account_expired(*account, now)) return fail("Account JWT has expired");
    if (user.bearer_token && account->limits.disallow_bearer)
        return fail("Account does not allow bearer token");
    if (!user.bearer_token) {
        if (auto err = verify_nonce(user.claims.sub, c.sig, c.nonce)) return fail(*err);
    }
    if (is_revoked(account->revocations, user.claims.sub, user.claims.iat))
        return fail("User authentication revoked");
    // 15-16: source address and connect times (logged as errors).
    if (!src_allowed(user.src, c.host)) return fail(fmt::format("Bad src Ip {}", c.host), true);
    const TimesResult times = check_times(user, c.now);
    if (!times.allowed) return fail("Outside connect times", true);

    JwtAuth out;
    out.permissions = server_permissions(user.permissions);
    if (!out.permissions) out.permissions = server_permissions(account->default_permissions);
    out.max_subs = user.limits.subs;
    out.max_payload = user.limits.payload;
    // setExpiration: the JWT's exp (0 when already reached), or the time range's end if sooner.
    const std::chrono::nanoseconds valid_for = times.valid_for;
    if (user.claims.exp == 0) {
        if (valid_for.count() != 0) out.expires_in = valid_for;
    } else {
        std::chrono::nanoseconds at{0};
        if (user.claims.exp > now) at = std::chrono::seconds(user.claims.exp - now);
        out.expires_in = valid_for.count() != 0 && valid_for < at ? valid_for : at;
    }
    out.log = fmt::format(
        "Authenticated JWT: Client {} (claim-name: {}, claim-tags: {}) signed with {} by Account "
        "{} (claim-name: {}, claim-tags: {}) signed with {} has mappings {}",
        gojson::go_quote(user.claims.sub), gojson::go_quote(user.claims.name), quote_list(user.tags),
        gojson::go_quote(user.claims.iss), gojson::go_quote(issuer),
        gojson::go_quote(account->claims.name), quote_list(account->tags),
        gojson::go_quote(account->claims.iss), account->mappings.empty() ? "false" : "true");
    out.account_name = issuer;
    out.user = std::move(user);
    out.account = std::move(*account);
    return out;
}

std::string make_nonce() {
    std::uint8_t raw[11];
    if (RAND_bytes(raw, sizeof raw) != 1) throw std::runtime_error("no random bytes for a nonce");
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (std::uint8_t b : raw) {
        acc = (acc << 8) | b;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out += kAlphabet[(acc >> bits) & 63];
        }
    }
    if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 63];
    return out;
}

std::string parse_decorated_jwt(std::string_view contents) {
    // jwt/v2's userConfigRE: the first block between two "---...---" lines.
    static const std::regex re(R"(\s*(?:(?:-{3,}.*-{3,}\r?\n)([\w\-.=]+)(?:\r?\n-{3,}.*-{3,}\r?\n)))");
    std::match_results<std::string_view::const_iterator> m;
    if (!std::regex_search(contents.begin(), contents.end(), m, re)) return std::string(contents);
    std::string s = m[1].str();
    while (!s.empty() && std::isspace((unsigned char)s.back())) s.pop_back();
    while (!s.empty() && std::isspace((unsigned char)s.front())) s.erase(s.begin());
    return s;
}

}  // namespace osprey::server::auth
