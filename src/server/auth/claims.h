// Typed views of decoded operator, account, user and activation claims (jwt/v2 v2.3.0's
// structs), and their Validate() as nats-server runs it: the same issues, texts and order.
// Numbers absent from a claim are 0, and 0 is a real limit (-1 is unlimited): an account
// without "limits" allows no connections, a user without "subs" no subscriptions.
#pragma once
#include <array>
#include <boost/json.hpp>
#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/auth/jwt.h"

namespace osprey::server::auth {

struct Permission {
    std::vector<std::string> allow, deny;  // sub entries may be "subject queue"
};
struct ResponsePermission {
    std::int64_t max = 0;
    std::int64_t ttl_ns = 0;
};
struct Permissions {
    Permission pub, sub;
    std::optional<ResponsePermission> resp;
};
struct TimeRange {
    std::string start, end;  // "HH:MM:SS"
};
struct NatsLimits {
    std::int64_t subs = 0, data = 0, payload = 0;
};

// jwt.UserPermissionLimits: what a user JWT (or a scope's template) grants.
struct UserPermissionLimits {
    Permissions permissions;
    std::vector<std::string> src;  // CIDRs (a JSON list, or one comma-separated string)
    std::vector<TimeRange> times;
    std::string times_location;  // IANA zone; "" = the server's local zone
    NatsLimits limits;
    bool bearer_token = false;
    std::vector<std::string> allowed_connection_types;
    // Go's reflect.DeepEqual with the zero value: also false when an empty list was given.
    bool empty = true;
};

struct UserClaims : UserPermissionLimits {
    Claims claims;
    std::string issuer_account;  // set when a signing key issued it
    std::vector<std::string> tags;
};

enum class ExportType { Unknown, Stream, Service };
const char* export_type_name(ExportType t);  // "stream", "service", "unknown"

using RevocationList = std::map<std::string, std::int64_t>;  // key or "*" -> unix seconds

struct ServiceLatency {
    std::int64_t sampling = 0;  // 0 = "headers"
    std::string results;
};
struct Export {
    bool is_null = false;  // a JSON null in the list ("null export is not allowed")
    std::string name, subject;
    ExportType type = ExportType::Unknown;
    bool token_req = false;
    std::optional<RevocationList> revocations;
    std::string response_type;  // "", "Singleton", "Stream", "Chunked"
    std::int64_t response_threshold_ns = 0;
    std::optional<ServiceLatency> latency;
    std::uint64_t account_token_position = 0;
    bool advertise = false;
    std::string description, info_url;
};
struct Import {
    bool is_null = false;
    std::string name, subject, account, token, to, local_subject;
    ExportType type = ExportType::Unknown;
    bool share = false;
};

struct JetStreamLimits {
    std::int64_t mem_storage = 0, disk_storage = 0, streams = 0, consumer = 0, max_ack_pending = 0,
                 mem_max_stream_bytes = 0, disk_max_stream_bytes = 0;
    bool max_bytes_required = false;
    bool operator==(const JetStreamLimits&) const = default;
};
struct OperatorLimits : NatsLimits {
    std::int64_t imports = 0, exports = 0;
    bool wildcards = false, disallow_bearer = false;
    std::int64_t conn = 0, leaf = 0;
    JetStreamLimits jetstream;                      // zero when tiered limits are given
    std::map<std::string, JetStreamLimits> tiered;  // "R1", "R3", ...
    // JetStream is on when some storage limit is not 0 (in the tiers when there are tiers).
    bool jetstream_enabled() const;
    bool is_empty() const;  // every limit 0/false, no tiers
};

// A scoped signing key: users it signs get the template's permissions and limits.
struct UserScope {
    std::string key, role;
    UserPermissionLimits templ;
    boost::json::object template_json;  // as decoded, for template processing and display
};
using SigningKeys = std::map<std::string, std::optional<UserScope>>;  // nullopt: a plain key

struct WeightedMapping {
    std::string subject;
    std::uint8_t weight = 0;  // 0 means 100
    std::string cluster;
};

struct AccountClaims {
    Claims claims;
    std::vector<std::string> tags;
    std::vector<Import> imports;
    std::vector<Export> exports;
    OperatorLimits limits;
    SigningKeys signing_keys;
    std::optional<RevocationList> revocations;  // present (even empty) matters on updates
    Permissions default_permissions;
    std::map<std::string, std::vector<WeightedMapping>> mappings;
    std::string description, info_url;
};

struct OperatorClaims {
    Claims claims;
    std::vector<std::string> tags;
    std::vector<std::string> signing_keys;
    std::string account_server_url;
    std::vector<std::string> operator_service_urls;
    std::string system_account;
    std::string assert_server_version;
    bool strict_signing_key_usage = false;
};

struct ActivationClaims {
    Claims claims;
    std::vector<std::string> tags;
    std::string import_subject;
    ExportType import_type = ExportType::Unknown;
    std::string issuer_account;
};

// Views of a decoded claim; "not user claim" (etc.) for another kind.
std::expected<UserClaims, std::string> user_claims(const Claims& c);
std::expected<AccountClaims, std::string> account_claims(const Claims& c);
std::expected<OperatorClaims, std::string> operator_claims(const Claims& c);
std::expected<ActivationClaims, std::string> activation_claims(const Claims& c);
// jwt.Decode*Claims: decode() and the view.
std::expected<UserClaims, std::string> decode_user(std::string_view token);
std::expected<AccountClaims, std::string> decode_account(std::string_view token);
std::expected<OperatorClaims, std::string> decode_operator(std::string_view token);
std::expected<ActivationClaims, std::string> decode_activation(std::string_view token);

// UserPermissionLimits from a JSON object in the user/template layout.
UserPermissionLimits user_permission_limits(const boost::json::object& o);

// ---- validation (jwt.ValidationResults) ----

struct ValidationIssue {
    std::string description;
    bool blocking = false;
    bool time_check = false;
};
struct ValidationResults {
    std::vector<ValidationIssue> issues;
    void error(std::string d) { issues.push_back({std::move(d), true, false}); }
    void time_check(std::string d) { issues.push_back({std::move(d), false, true}); }
    void warning(std::string d) { issues.push_back({std::move(d), false, false}); }
    // IsBlocking: nats-server passes true (time checks count) for users and accounts.
    bool is_blocking(bool include_time_checks) const;
    std::vector<std::string> errors() const;    // blocking ones
    std::vector<std::string> warnings() const;  // the others
    // As nats-server logs it with %+v: "&{Issues:[claim is expired other issue]}".
    std::string format() const;
};

// Each Validate() at `now` (unix seconds). Account validation decodes the activation tokens
// of its imports. Map-ordered issues (signing keys, mappings, overlapping exports) come in
// key order here; Go's map order is random.
ValidationResults validate(const UserClaims& u, std::int64_t now);
ValidationResults validate(const AccountClaims& a, std::int64_t now);
ValidationResults validate(const OperatorClaims& o, std::int64_t now);
ValidationResults validate(const ActivationClaims& a, std::int64_t now);
// Import.Validate for the account `account_pub` holding the import.
void validate_import(const Import& i, std::string_view account_pub, ValidationResults& vr);
// The operator's assert_server_version as (major, minor, update); {0,0,0} when empty.
std::expected<std::array<int, 3>, std::string> parse_server_version(std::string_view v);

// Subject helpers of jwt/v2 (types.go), used by the checks.
bool jwt_has_wildcards(std::string_view subject);
bool jwt_is_contained_in(std::string_view subject, std::string_view other);
// strings.Split: every piece between separators, empty ones included.
std::vector<std::string> split(std::string_view s, char sep);

}  // namespace osprey::server::auth
