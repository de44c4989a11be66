// The checks nats-server 2.9.10 runs when a client authenticates in operator mode
// (processClientOrLeafAuthentication, docs: /work/notes/jwt-auth.md section 3), as pure
// functions the server layer calls in the table's order:
//
//   1  no JWT in CONNECT                          -> "Authentication requires a user JWT"
//   2  decode_user(jwt)                           -> "User JWT not valid: <error>"
//   3  check_user(claims, now)                    -> "User JWT no longer valid: <issues>"
//   4  convert_connection_types(...)              -> "<error>" (fail only if none is known)
//   5  connection_type_allowed(...)               -> "Connection type not allowed"
//   6  user_issuer_account(claims) (+ pinned accounts, a server option)
//   7  verify_account(account jwt, name, trust)   -> "Account JWT lookup error: <error>"
//   8  is_trusted_issuer(trust, account iss)      -> "Account JWT not signed by trusted operator"
//   9  find_signing_key(account_signing_keys(..)) -> "User JWT issuer is not known"
//  10  apply_scope(...)                           -> "User JWT is not valid: <error>" /
//                                                    "User JWT generated invalid permissions"
//  11  account_expired(account, now)              -> "Account JWT has expired"
//  12  bearer && limits.disallow_bearer           -> "Account does not allow bearer token"
//  13  verify_nonce(sub, sig, nonce) unless bearer -> its text
//  14  is_revoked(account revocations, sub, iat)  -> "User authentication revoked"
//  15  src_allowed(src, client host)              -> ERR "Bad src Ip <host>"
//  16  check_times(claims, now)                   -> ERR "Outside connect times"
//
// (Texts on the right are nats-server's log lines; the client only ever sees
// "Authorization Violation".) Plus the activation-token check for imports of token-required
// exports, and the helpers around trust, signing keys and permissions.
#pragma once
#include <chrono>
#include <cstdint>
#include <expected>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "server/auth/claims.h"
#include "server/options.h"

namespace osprey::server::auth {

// ---- trust in operators ----

struct Trust {
    std::vector<std::string> keys;              // operator keys and signing keys
    std::set<std::string> strict_signing_keys;  // signing keys of strict operators
};
// validateTrustedOperators + processTrustedKeys: each operator's own key (unless it has
// strict_signing_key_usage) and its signing keys.
Trust trusted_keys(const std::vector<OperatorClaims>& operators);
bool is_trusted_issuer(const Trust& t, std::string_view issuer);
// The operator's assert_server_version against the server's version:
// "operator O.. expected minor version 10 > server minor version 9" and the like.
std::optional<std::string> check_server_version(const OperatorClaims& op, int major, int minor,
                                                int update);

// ---- the account (step 7) ----

// verifyAccountClaims and fetchAccountClaims' name check: decode errors as they are, else
// "account validation failed" (untrusted issuer, blocking issue incl. expiry, other subject).
std::expected<AccountClaims, std::string> verify_account(std::string_view jwt,
                                                         std::string_view name, const Trust& trust,
                                                         std::int64_t now);
// Account.checkExpiration: expired when exp is set and exp <= now.
bool account_expired(const AccountClaims& a, std::int64_t now);

// ---- the user ----

// Step 3: Validate() with time checks; the text is the issue list as nats-server logs it
// ("&{Issues:[claim is expired]}"), nullopt when nothing blocks.
std::optional<std::string> check_user(const UserClaims& u, std::int64_t now);

inline constexpr std::string_view kConnStandard = "STANDARD";
inline constexpr std::string_view kConnWebsocket = "WEBSOCKET";
inline constexpr std::string_view kConnLeafnode = "LEAFNODE";
inline constexpr std::string_view kConnLeafnodeWs = "LEAFNODE_WS";
inline constexpr std::string_view kConnMqtt = "MQTT";
inline constexpr std::string_view kConnMqttWs = "MQTT_WS";

struct ConnectionTypes {
    std::set<std::string> allowed;     // upper-cased known types; empty = every type
    std::optional<std::string> error;  // `invalid connection types ["FOO"]` when some are unknown
    // nats-server refuses the client when some types were unknown and none is left.
    bool refuse() const { return error && allowed.empty(); }
};
// Step 4: convertAllowedConnectionTypes.
ConnectionTypes convert_connection_types(const std::vector<std::string>& types);
// Step 5: `type` is one of the kConn* constants.
bool connection_type_allowed(const std::set<std::string>& allowed, std::string_view type);

// Step 6: the account to look up: issuer_account when a signing key issued the user.
const std::string& user_issuer_account(const UserClaims& u);

// Step 9: the signing keys the server holds for an account: the JWT's, plus the account's
// own key unless `strict` (the account was issued by a strict operator's signing key).
SigningKeys account_signing_keys(const AccountClaims& a, bool strict);
// nullptr: the issuer is not known; else its scope (nullopt for a plain key).
const std::optional<UserScope>* find_signing_key(const SigningKeys& keys, std::string_view issuer);

// Step 10: a user issued by a scoped key must carry no permissions or limits of its own
// ("issuer not the scoped signer", "scoped users require no permissions or limits set");
// the template then replaces them, with its {{name()}}, {{subject()}}, {{account-name()}},
// {{account-subject()}}, {{tag(x)}}, {{account-tag(x)}} expanded ("generated invalid subject"
// when a deny entry expands to no valid subject).
std::expected<UserClaims, std::string> apply_scope(const UserScope& scope, const UserClaims& user,
                                                   std::string_view account_name_tag,
                                                   const std::vector<std::string>& account_tags);
// processUserPermissionsTemplate alone.
std::expected<UserPermissionLimits, std::string> apply_template(
    const UserPermissionLimits& templ, const UserClaims& user, std::string_view account_name_tag,
    const std::vector<std::string>& account_tags);

// Step 13: the nonce signature (RawURL, then Std base64) by the user's key `public_key`.
// "Signature missing", "Signature not valid base64", "User nkey not valid: <err>",
// "Signature not verified".
std::optional<std::string> verify_nonce(std::string_view public_key, std::string_view sig,
                                        std::string_view nonce);

// Step 14 (and export revocations of activations): revoked when the entry for `subject`, or
// for "*", is >= iat (the JWT was issued at or before the revocation).
bool is_revoked(const RevocationList& revocations, std::string_view subject, std::int64_t iat);
bool is_revoked(const std::optional<RevocationList>& revocations, std::string_view subject,
                std::int64_t iat);
// AccountClaims.IsClaimRevoked, used on account updates: also true for iat 0 or no subject.
bool is_claim_revoked(const AccountClaims& a, const UserClaims& u);

// Step 15: no CIDRs = any host; else the client's IP (as text; unparsable fails) must be in one.
bool src_allowed(const std::vector<std::string>& src, std::string_view host);

// Step 16, validateTimes: no ranges = allowed (valid_for 0 = no limit). Each range is taken on
// the current date in times_location (the server's local zone when empty); a range with
// start > end ends tomorrow, but starts today, so 22:00-06:00 admits 22:00-24:00 only. Both
// ends are strict. valid_for = end - now for the first range that admits.
struct TimesResult {
    bool allowed = false;
    std::chrono::nanoseconds valid_for{0};
};
TimesResult check_times(const UserPermissionLimits& u, std::chrono::system_clock::time_point now);

// buildPermissionsFromJwt + validateResponsePermissions: nullopt when the JWT sets none
// (then the account's default_permissions apply); a `resp` gets max 0 -> 1, ttl 0 -> 2m.
std::optional<server::Permissions> server_permissions(const Permissions& p);

// ---- imports ----

// checkActivation for an import of a token-required export of account `exporter`: the
// import validates (incl. its token, with time checks), the token's issuer_account (if any)
// is the exporter and its issuer one of `exporter_keys`, it is not expired (exp <= now is),
// and not revoked by the export's revocations (when `export_def` is given).
std::expected<ActivationClaims, std::string> check_activation(
    const Import& import, std::string_view importing_account, std::string_view exporter,
    const SigningKeys& exporter_keys, const Export* export_def, std::int64_t now);
// An export with account_token_position N admits an import whose subject's token N is the
// importing account's key.
bool account_token_position_ok(const Export& e, std::string_view import_subject,
                               std::string_view importing_account);

}  // namespace osprey::server::auth
