// jwt/v2 v2.3.0's claim structs as gojson schemas, with its custom UnmarshalJSON methods
// (ExportType, SamplingRate, ScopeType, CIDRList, SigningKeys) ported with their quirks.
#include "server/auth/jwt_schema.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

namespace osprey::server::auth::schema {

namespace {

using gojson::Field;
using gojson::Node;
using gojson::Type;
namespace json = boost::json;


// json.Unmarshal(b, &s) for a string s, as the custom decoders call it.
std::expected<std::string, std::string> plain_string(const Node& n) {
    if (n.kind == Node::Null) return std::string();
    if (n.kind == Node::String) return n.text;
    return std::unexpected("json: cannot unmarshal " + gojson::value_name(n) +
                           " into Go value of type string");
}

std::optional<std::string> export_type(const Node& n, json::value& target) {
    auto s = plain_string(n);
    if (!s) return s.error();
    if (*s == "stream" || *s == "service") {
        target = json::string(*s);
        return std::nullopt;
    }
    return "unknown export type " + gojson::go_quote(*s);
}

std::optional<std::string> sampling_rate(const Node& n, json::value& target) {
    std::string lower = n.raw;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (n.kind == Node::String && lower == "\"headers\"") {
        target = std::int64_t(0);
        return std::nullopt;
    }
    if (n.kind == Node::Null) {
        target = std::int64_t(0);
        return std::nullopt;
    }
    if (n.kind != Node::Number)
        return "json: cannot unmarshal " + gojson::value_name(n) + " into Go value of type int";
    std::int64_t v = 0;
    auto r = std::from_chars(n.text.data(), n.text.data() + n.text.size(), v);
    if (r.ec != std::errc() || r.ptr != n.text.data() + n.text.size())
        return "json: cannot unmarshal number " + n.text + " into Go value of type int";
    target = v;
    return std::nullopt;
}

std::optional<std::string> scope_type(const Node& n, json::value& target) {
    auto s = plain_string(n);
    if (!s) return s.error();
    if (*s == "user_scope") {
        target = "user_scope";
        return std::nullopt;
    }
    // Go formats the *ScopeType pointer here; unreachable from signing keys (see below).
    return "unknown scope type " + gojson::go_quote(*s);
}

std::string trim_lower(std::string s) {
    auto sp = [](unsigned char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
    };
    while (!s.empty() && sp(s.back())) s.pop_back();
    std::size_t b = 0;
    while (b < s.size() && sp(s[b])) ++b;
    s.erase(0, b);
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

// CIDRList: a []string as given, else a comma-separated string (lower-cased, trimmed,
// de-duplicated); the error is the string attempt's.
std::optional<std::string> cidr_list(const Node& n, json::value& target) {
    if (n.kind == Node::Null) {
        target = nullptr;
        return std::nullopt;
    }
    if (n.kind == Node::Array && std::all_of(n.items.begin(), n.items.end(), [](const Node& i) {
            return i.kind == Node::String || i.kind == Node::Null;
        })) {
        json::array a;
        for (const auto& i : n.items) a.push_back(json::string(i.text));
        target = std::move(a);
        return std::nullopt;
    }
    if (n.kind != Node::String)
        return "json: cannot unmarshal " + gojson::value_name(n) + " into Go value of type string";
    json::array a;
    std::string lower = n.text;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    std::size_t start = 0;
    for (;;) {
        const std::size_t comma = lower.find(',', start);
        std::string part = trim_lower(
            lower.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        if (!part.empty() && std::find(a.begin(), a.end(), json::value(part)) == a.end())
            a.push_back(json::string(part));
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    target = std::move(a);
    return std::nullopt;
}

const Type& user_scope();

// Go's fmt %q of an interface{} holding a decoded JSON value.
std::string q_interface(const Node* n) {
    if (!n || n->kind == Node::Null) return "%!q(<nil>)";
    if (n->kind == Node::String) return gojson::go_quote(n->text);
    if (n->kind == Node::Bool) return fmt::format("%!q(bool={})", n->boolean ? "true" : "false");
    if (n->kind == Node::Number) return "%!q(float64=" + n->text + ")";
    return "%!q(" + gojson::value_name(*n) + ")";
}

// SigningKeys: an array of keys (strings) and scopes (objects with "kind":"user_scope"), into
// a map key -> scope (null for a plain key). A scope object is decoded after a round trip
// through map[string]interface{}, as Go does (sorted keys, float64 numbers).
std::optional<std::string> signing_keys(const Node& n, json::value& target) {
    if (!target.is_object()) target = json::object();
    if (n.kind == Node::Null) return std::nullopt;
    if (n.kind != Node::Array)
        return "json: cannot unmarshal " + gojson::value_name(n) + " into Go value of type []interface {}";
    auto items = gojson::interface_round_trip(n);
    if (!items) return items.error();
    for (const auto& item : items->items) {
        if (item.kind == Node::String) {
            target.as_object()[item.text] = nullptr;
            continue;
        }
        if (item.kind != Node::Object) continue;
        const Node* kind = nullptr;
        const Node* type = nullptr;
        for (const auto& [k, v] : item.members) {
            if (k == "kind") kind = &v;
            if (k == "type") type = &v;
        }
        if (!kind || kind->kind != Node::String || kind->text != "user_scope")
            return "unknown signing key scope " + q_interface(type);
        json::value scope =
            json::object{{"kind", "user_scope"},
                         {"template", json::object{{"subs", -1}, {"data", -1}, {"payload", -1}}}};
        if (auto err = gojson::unmarshal(item, user_scope(), scope)) return err;
        const auto* key = scope.as_object().if_contains("key");
        target.as_object()[key ? std::string(key->as_string()) : std::string()] = std::move(scope);
    }
    return std::nullopt;
}

Type make(Type::Kind k, std::string go) {
    Type t;
    t.kind = k;
    t.go_name = std::move(go);
    return t;
}
Type scalar(Type::Kind k, std::string go, int bits = 64) {
    Type t = make(k, std::move(go));
    t.bits = bits;
    return t;
}
Type custom(std::string go, gojson::Custom fn) {
    Type t = make(Type::Custom, std::move(go));
    t.custom = fn;
    return t;
}
Type container(Type::Kind k, std::string go, const Type& elem) {
    Type t = make(k, std::move(go));
    t.elem = &elem;
    return t;
}
Type structure(std::string name, std::string go, std::vector<Field> fields) {
    Type t = make(Type::Struct, std::move(go));
    t.struct_name = std::move(name);
    t.fields = std::move(fields);
    return t;
}
std::vector<Field> operator+(std::vector<Field> a, const std::vector<Field>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

struct Types {
    Type str = scalar(Type::String, "string");
    Type subject = scalar(Type::String, "jwt.Subject");
    Type renaming = scalar(Type::String, "jwt.RenamingSubject");
    Type claim_type = scalar(Type::String, "jwt.ClaimType");
    Type response_type = scalar(Type::String, "jwt.ResponseType");
    Type i64 = scalar(Type::Int, "int64");
    Type i = scalar(Type::Int, "int");
    Type duration = scalar(Type::Int, "time.Duration");
    Type u = scalar(Type::Uint, "uint");
    Type u8 = scalar(Type::Uint, "uint8", 8);
    Type boolean = scalar(Type::Bool, "bool");
    Type string_list = container(Type::Slice, "jwt.StringList", str);
    Type tag_list = container(Type::Slice, "jwt.TagList", str);
    Type export_type = custom("jwt.ExportType", schema::export_type);
    Type sampling = custom("jwt.SamplingRate", schema::sampling_rate);
    Type scope_type = custom("jwt.ScopeType", schema::scope_type);
    Type cidr_list = custom("jwt.CIDRList", schema::cidr_list);
    Type signing_keys = custom("jwt.SigningKeys", schema::signing_keys);
    Type revocations = container(Type::Map, "jwt.RevocationList", i64);

    std::vector<Field> claims_data{{"aud", &str}, {"exp", &i64},  {"jti", &str}, {"iat", &i64},
                                   {"iss", &str}, {"name", &str}, {"nbf", &i64}, {"sub", &str}};
    std::vector<Field> generic_fields{{"tags", &tag_list}, {"type", &claim_type}, {"version", &i}};
    std::vector<Field> v1_deleted{
        {"tags", &tag_list}, {"type", &claim_type}, {"issuer_account", &str}};
    std::vector<Field> nats_limits{{"subs", &i64}, {"data", &i64}, {"payload", &i64}};
    std::vector<Field> account_limits{{"imports", &i64},       {"exports", &i64},
                                      {"wildcards", &boolean}, {"disallow_bearer", &boolean},
                                      {"conn", &i64},          {"leaf", &i64}};
    std::vector<Field> js_limits{{"mem_storage", &i64},
                                 {"disk_storage", &i64},
                                 {"streams", &i64},
                                 {"consumer", &i64},
                                 {"max_ack_pending", &i64},
                                 {"mem_max_stream_bytes", &i64},
                                 {"disk_max_stream_bytes", &i64},
                                 {"max_bytes_required", &boolean}};
    std::vector<Field> info{{"description", &str}, {"info_url", &str}};

    Type header = structure("Header", "jwt.Header", {{"typ", &str}, {"alg", &str}});
    Type generic_fields_t = structure("GenericFields", "jwt.GenericFields", generic_fields);
    Type identifier = structure("identifier", "jwt.identifier",
                                {{"type", &claim_type}, {"nats", &generic_fields_t}});

    Type permission = structure("Permission", "jwt.Permission",
                                {{"allow", &string_list}, {"deny", &string_list}});
    Type resp = structure("ResponsePermission", "jwt.ResponsePermission",
                          {{"max", &i}, {"ttl", &duration}});
    Type resp_ptr = container(Type::Pointer, "*jwt.ResponsePermission", resp);
    std::vector<Field> permissions{{"pub", &permission}, {"sub", &permission}, {"resp", &resp_ptr}};
    Type time_range = structure("TimeRange", "jwt.TimeRange", {{"start", &str}, {"end", &str}});
    Type times = container(Type::Slice, "[]jwt.TimeRange", time_range);
    std::vector<Field> user_limits{
        {"src", &cidr_list}, {"times", &times}, {"times_location", &str}};
    std::vector<Field> upl =
        permissions + user_limits + nats_limits +
        std::vector<Field>{{"bearer_token", &boolean}, {"allowed_connection_types", &string_list}};
    Type upl_t = structure("UserPermissionLimits", "jwt.UserPermissionLimits", upl);
    Type user_scope =
        structure("UserScope", "jwt.UserScope",
                  {{"kind", &scope_type}, {"key", &str}, {"role", &str}, {"template", &upl_t}});

    Type user = structure("User", "jwt.User",
                          upl + std::vector<Field>{{"issuer_account", &str}} + generic_fields);
    Type user_claims = structure("UserClaims", "jwt.UserClaims",
                                 claims_data + std::vector<Field>{{"nats", &user}});
    Type v1_user = structure("v1User", "jwt.v1User",
                             permissions + user_limits + nats_limits +
                                 std::vector<Field>{{"bearer_token", &boolean}, {"max", &i64}});
    Type v1_user_claims =
        structure("v1UserClaims", "jwt.v1UserClaims",
                  claims_data + v1_deleted + std::vector<Field>{{"nats", &v1_user}});

    Type latency = structure("ServiceLatency", "jwt.ServiceLatency",
                             {{"sampling", &sampling}, {"results", &subject}});
    Type latency_ptr = container(Type::Pointer, "*jwt.ServiceLatency", latency);
    Type export_t = structure("Export", "jwt.Export",
                              std::vector<Field>{{"name", &str},
                                                 {"subject", &subject},
                                                 {"type", &export_type},
                                                 {"token_req", &boolean},
                                                 {"revocations", &revocations},
                                                 {"response_type", &response_type},
                                                 {"response_threshold", &duration},
                                                 {"service_latency", &latency_ptr},
                                                 {"account_token_position", &u},
                                                 {"advertise", &boolean}} +
                                  info);
    Type export_ptr = container(Type::Pointer, "*jwt.Export", export_t);
    Type exports = container(Type::Slice, "jwt.Exports", export_ptr);
    Type import_t = structure("Import", "jwt.Import",
                              {{"name", &str},
                               {"subject", &subject},
                               {"account", &str},
                               {"token", &str},
                               {"to", &subject},
                               {"local_subject", &renaming},
                               {"type", &export_type},
                               {"share", &boolean}});
    Type import_ptr = container(Type::Pointer, "*jwt.Import", import_t);
    Type imports = container(Type::Slice, "jwt.Imports", import_ptr);
    Type js_limits_t = structure("JetStreamLimits", "jwt.JetStreamLimits", js_limits);
    Type tiered = container(Type::Map, "jwt.JetStreamTieredLimits", js_limits_t);
    Type operator_limits = structure(
        "OperatorLimits", "jwt.OperatorLimits",
        nats_limits + account_limits + js_limits + std::vector<Field>{{"tiered_limits", &tiered}});
    Type permissions_t = structure("Permissions", "jwt.Permissions", permissions);
    Type weighted = structure("WeightedMapping", "jwt.WeightedMapping",
                              {{"subject", &subject}, {"weight", &u8}, {"cluster", &str}});
    Type weighted_list = container(Type::Slice, "[]jwt.WeightedMapping", weighted);
    Type mapping = container(Type::Map, "jwt.Mapping", weighted_list);
    Type account = structure("Account", "jwt.Account",
                             std::vector<Field>{{"imports", &imports},
                                                {"exports", &exports},
                                                {"limits", &operator_limits},
                                                {"signing_keys", &signing_keys},
                                                {"revocations", &revocations},
                                                {"default_permissions", &permissions_t},
                                                {"mappings", &mapping}} +
                                 info + generic_fields);
    Type account_claims = structure("AccountClaims", "jwt.AccountClaims",
                                    claims_data + std::vector<Field>{{"nats", &account}});
    Type v1_limits =
        structure("", "struct { jwt.NatsLimits; jwt.AccountLimits }", nats_limits + account_limits);
    Type v1_account = structure("v1NatsAccount", "jwt.v1NatsAccount",
                                {{"imports", &imports},
                                 {"exports", &exports},
                                 {"limits", &v1_limits},
                                 {"signing_keys", &string_list},
                                 {"revocations", &revocations}});
    Type v1_account_claims =
        structure("v1AccountClaims", "jwt.v1AccountClaims",
                  claims_data + v1_deleted + std::vector<Field>{{"nats", &v1_account}});

    Type operator_t = structure("Operator", "jwt.Operator",
                                std::vector<Field>{{"signing_keys", &string_list},
                                                   {"account_server_url", &str},
                                                   {"operator_service_urls", &string_list},
                                                   {"system_account", &str},
                                                   {"assert_server_version", &str},
                                                   {"strict_signing_key_usage", &boolean}} +
                                    generic_fields);
    Type operator_claims = structure("OperatorClaims", "jwt.OperatorClaims",
                                     claims_data + std::vector<Field>{{"nats", &operator_t}});
    Type v1_operator = structure("v1NatsOperator", "jwt.v1NatsOperator",
                                 {{"signing_keys", &string_list},
                                  {"account_server_url", &str},
                                  {"operator_service_urls", &string_list},
                                  {"system_account", &str}});
    Type v1_operator_claims =
        structure("v1OperatorClaims", "jwt.v1OperatorClaims",
                  claims_data + v1_deleted + std::vector<Field>{{"nats", &v1_operator}});

    Type activation =
        structure("Activation", "jwt.Activation",
                  std::vector<Field>{
                      {"subject", &subject}, {"kind", &export_type}, {"issuer_account", &str}} +
                      generic_fields);
    Type activation_claims = structure("ActivationClaims", "jwt.ActivationClaims",
                                       claims_data + std::vector<Field>{{"nats", &activation}});
    Type v1_activation = structure("v1NatsActivation", "jwt.v1NatsActivation",
                                   {{"subject", &subject},
                                    {"type", &export_type},
                                    {"max", &i64},
                                    {"payload", &i64},
                                    {"src", &str},
                                    {"times", &times}});
    Type v1_activation_claims =
        structure("v1ActivationClaims", "jwt.v1ActivationClaims",
                  claims_data + v1_deleted + std::vector<Field>{{"nats", &v1_activation}});

    Type any = make(Type::Interface, "interface {}");
    Type data = container(Type::Map, "map[string]interface {}", any);
    Type generic_claims = structure("GenericClaims", "jwt.GenericClaims",
                                    claims_data + std::vector<Field>{{"nats", &data}});
};

// Built once; the Types hold pointers into themselves, so the object never moves.
const Types& types() {
    static const Types* t = new Types();
    return *t;
}

const Type& user_scope() { return types().user_scope; }

}  // namespace

const gojson::Type& header() { return types().header; }
const gojson::Type& identifier() { return types().identifier; }
const gojson::Type& generic() { return types().generic_claims; }

const gojson::Type& claims(std::string_view kind, int version) {
    const Types& t = types();
    const bool v1 = version == 1;
    if (kind == "operator") return v1 ? t.v1_operator_claims : t.operator_claims;
    if (kind == "account") return v1 ? t.v1_account_claims : t.account_claims;
    if (kind == "user") return v1 ? t.v1_user_claims : t.user_claims;
    if (kind == "activation") return v1 ? t.v1_activation_claims : t.activation_claims;
    return t.generic_claims;
}

}  // namespace osprey::server::auth::schema
