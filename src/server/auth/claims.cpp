// Typed views of decoded claims. The decoder already applied Go's typing rules, so reading
// here cannot fail: an absent field is Go's zero value.
#include "server/auth/claims.h"

namespace osprey::server::auth {

namespace json = boost::json;

namespace {

const json::object kEmpty;

const json::object& obj(const json::object& o, std::string_view k) {
    const auto* v = o.if_contains(k);
    return v && v->is_object() ? v->as_object() : kEmpty;
}
std::string str(const json::object& o, std::string_view k) {
    const auto* v = o.if_contains(k);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}
std::int64_t i64(const json::object& o, std::string_view k) {
    const auto* v = o.if_contains(k);
    if (!v) return 0;
    if (v->is_int64()) return v->as_int64();
    if (v->is_uint64()) return std::int64_t(v->as_uint64());
    return 0;
}
std::uint64_t u64(const json::object& o, std::string_view k) {
    const auto* v = o.if_contains(k);
    if (!v) return 0;
    if (v->is_uint64()) return v->as_uint64();
    if (v->is_int64()) return std::uint64_t(v->as_int64());
    return 0;
}
bool boolean(const json::object& o, std::string_view k) {
    const auto* v = o.if_contains(k);
    return v && v->is_bool() && v->as_bool();
}
std::vector<std::string> strings(const json::object& o, std::string_view k) {
    std::vector<std::string> out;
    if (const auto* v = o.if_contains(k); v && v->is_array())
        for (const auto& s : v->as_array())
            out.push_back(s.is_string() ? std::string(s.as_string()) : std::string());
    return out;
}
ExportType export_type(const json::object& o, std::string_view k) {
    const std::string t = str(o, k);
    if (t == "stream") return ExportType::Stream;
    if (t == "service") return ExportType::Service;
    return ExportType::Unknown;
}
std::optional<RevocationList> revocations(const json::object& o, std::string_view k) {
    const auto* v = o.if_contains(k);
    if (!v || !v->is_object()) return std::nullopt;
    RevocationList r;
    for (const auto& [key, t] : v->as_object())
        r[std::string(key)] = t.is_int64() ? t.as_int64() : 0;
    return r;
}

Permission permission(const json::object& o) { return {strings(o, "allow"), strings(o, "deny")}; }

Permissions permissions(const json::object& o) {
    Permissions p{permission(obj(o, "pub")), permission(obj(o, "sub")), std::nullopt};
    if (const auto* r = o.if_contains("resp"); r && r->is_object())
        p.resp = ResponsePermission{i64(r->as_object(), "max"), i64(r->as_object(), "ttl")};
    return p;
}

// reflect.DeepEqual(UserPermissionLimits{}, x): any list given (even []) or pointer set, or
// any non-zero scalar, makes it non-empty. Fields absent from `o` are Go's zero values.
bool upl_is_zero(const json::object& o) {
    for (const char* k : {"pub", "sub"}) {
        const auto& p = obj(o, k);
        if (p.contains("allow") || p.contains("deny")) return false;
    }
    for (const char* k : {"resp", "src", "times", "allowed_connection_types"})
        if (o.contains(k)) return false;
    return str(o, "times_location").empty() && i64(o, "subs") == 0 && i64(o, "data") == 0 &&
           i64(o, "payload") == 0 && !boolean(o, "bearer_token");
}

JetStreamLimits js_limits(const json::object& o) {
    return {i64(o, "mem_storage"),
            i64(o, "disk_storage"),
            i64(o, "streams"),
            i64(o, "consumer"),
            i64(o, "max_ack_pending"),
            i64(o, "mem_max_stream_bytes"),
            i64(o, "disk_max_stream_bytes"),
            boolean(o, "max_bytes_required")};
}

}  // namespace

const char* export_type_name(ExportType t) {
    switch (t) {
        case ExportType::Stream:
            return "stream";
        case ExportType::Service:
            return "service";
        default:
            return "unknown";
    }
}

bool OperatorLimits::jetstream_enabled() const {
    if (!tiered.empty()) {
        for (const auto& [name, l] : tiered)
            if (l.mem_storage != 0 || l.disk_storage != 0) return true;
        return false;
    }
    return jetstream.mem_storage != 0 || jetstream.disk_storage != 0;
}

bool OperatorLimits::is_empty() const {
    return subs == 0 && data == 0 && payload == 0 && imports == 0 && exports == 0 && !wildcards &&
           !disallow_bearer && conn == 0 && leaf == 0 && jetstream == JetStreamLimits{} &&
           tiered.empty();
}

UserPermissionLimits user_permission_limits(const json::object& o) {
    UserPermissionLimits u;
    u.permissions = permissions(o);
    u.src = strings(o, "src");
    if (const auto* t = o.if_contains("times"); t && t->is_array())
        for (const auto& r : t->as_array())
            u.times.push_back(
                r.is_object() ? TimeRange{str(r.as_object(), "start"), str(r.as_object(), "end")}
                              : TimeRange{});
    u.times_location = str(o, "times_location");
    u.limits = {i64(o, "subs"), i64(o, "data"), i64(o, "payload")};
    u.bearer_token = boolean(o, "bearer_token");
    u.allowed_connection_types = strings(o, "allowed_connection_types");
    u.empty = upl_is_zero(o);
    return u;
}

std::expected<UserClaims, std::string> user_claims(const Claims& c) {
    if (c.kind != ClaimKind::User) return std::unexpected(std::string("not user claim"));
    UserClaims u;
    static_cast<UserPermissionLimits&>(u) = user_permission_limits(c.nats);
    u.claims = c;
    u.issuer_account = str(c.nats, "issuer_account");
    u.tags = strings(c.nats, "tags");
    return u;
}

std::expected<AccountClaims, std::string> account_claims(const Claims& c) {
    if (c.kind != ClaimKind::Account) return std::unexpected(std::string("not account claim"));
    const json::object& n = c.nats;
    AccountClaims a;
    a.claims = c;
    a.tags = strings(n, "tags");
    if (const auto* v = n.if_contains("imports"); v && v->is_array()) {
        for (const auto& e : v->as_array()) {
            Import i;
            if (!e.is_object()) {
                i.is_null = true;
            } else {
                const auto& o = e.as_object();
                i = Import{false,
                           str(o, "name"),
                           str(o, "subject"),
                           str(o, "account"),
                           str(o, "token"),
                           str(o, "to"),
                           str(o, "local_subject"),
                           export_type(o, "type"),
                           boolean(o, "share")};
            }
            a.imports.push_back(std::move(i));
        }
    }
    if (const auto* v = n.if_contains("exports"); v && v->is_array()) {
        for (const auto& e : v->as_array()) {
            Export x;
            if (!e.is_object()) {
                x.is_null = true;
            } else {
                const auto& o = e.as_object();
                x.name = str(o, "name");
                x.subject = str(o, "subject");
                x.type = export_type(o, "type");
                x.token_req = boolean(o, "token_req");
                x.revocations = revocations(o, "revocations");
                x.response_type = str(o, "response_type");
                x.response_threshold_ns = i64(o, "response_threshold");
                if (const auto* l = o.if_contains("service_latency"); l && l->is_object())
                    x.latency = ServiceLatency{i64(l->as_object(), "sampling"),
                                               str(l->as_object(), "results")};
                x.account_token_position = u64(o, "account_token_position");
                x.advertise = boolean(o, "advertise");
                x.description = str(o, "description");
                x.info_url = str(o, "info_url");
            }
            a.exports.push_back(std::move(x));
        }
    }
    const json::object& l = obj(n, "limits");
    a.limits.subs = i64(l, "subs");
    a.limits.data = i64(l, "data");
    a.limits.payload = i64(l, "payload");
    a.limits.imports = i64(l, "imports");
    a.limits.exports = i64(l, "exports");
    a.limits.wildcards = boolean(l, "wildcards");
    a.limits.disallow_bearer = boolean(l, "disallow_bearer");
    a.limits.conn = i64(l, "conn");
    a.limits.leaf = i64(l, "leaf");
    a.limits.jetstream = js_limits(l);
    for (const auto& [tier, v] : obj(l, "tiered_limits"))
        a.limits.tiered[std::string(tier)] =
            v.is_object() ? js_limits(v.as_object()) : JetStreamLimits{};
    for (const auto& [key, scope] : obj(n, "signing_keys")) {
        if (!scope.is_object()) {
            a.signing_keys[std::string(key)] = std::nullopt;
            continue;
        }
        const auto& s = scope.as_object();
        UserScope us{str(s, "key"), str(s, "role"), user_permission_limits(obj(s, "template")),
                     obj(s, "template")};
        a.signing_keys[std::string(key)] = std::move(us);
    }
    a.revocations = revocations(n, "revocations");
    a.default_permissions = permissions(obj(n, "default_permissions"));
    for (const auto& [from, list] : obj(n, "mappings")) {
        auto& out = a.mappings[std::string(from)];
        if (!list.is_array()) continue;
        for (const auto& m : list.as_array()) {
            const auto& o = m.is_object() ? m.as_object() : kEmpty;
            out.push_back({str(o, "subject"), std::uint8_t(u64(o, "weight")), str(o, "cluster")});
        }
    }
    a.description = str(n, "description");
    a.info_url = str(n, "info_url");
    return a;
}

std::expected<OperatorClaims, std::string> operator_claims(const Claims& c) {
    if (c.kind != ClaimKind::Operator) return std::unexpected(std::string("not operator claim"));
    const json::object& n = c.nats;
    return OperatorClaims{c,
                          strings(n, "tags"),
                          strings(n, "signing_keys"),
                          str(n, "account_server_url"),
                          strings(n, "operator_service_urls"),
                          str(n, "system_account"),
                          str(n, "assert_server_version"),
                          boolean(n, "strict_signing_key_usage")};
}

std::expected<ActivationClaims, std::string> activation_claims(const Claims& c) {
    if (c.kind != ClaimKind::Activation)
        return std::unexpected(std::string("not activation claim"));
    const json::object& n = c.nats;
    return ActivationClaims{c, strings(n, "tags"), str(n, "subject"), export_type(n, "kind"),
                            str(n, "issuer_account")};
}

std::expected<UserClaims, std::string> decode_user(std::string_view token) {
    auto c = decode(token);
    if (!c) return std::unexpected(c.error());
    return user_claims(*c);
}
std::expected<AccountClaims, std::string> decode_account(std::string_view token) {
    auto c = decode(token);
    if (!c) return std::unexpected(c.error());
    return account_claims(*c);
}
std::expected<OperatorClaims, std::string> decode_operator(std::string_view token) {
    auto c = decode(token);
    if (!c) return std::unexpected(c.error());
    return operator_claims(*c);
}
std::expected<ActivationClaims, std::string> decode_activation(std::string_view token) {
    auto c = decode(token);
    if (!c) return std::unexpected(c.error());
    return activation_claims(*c);
}

}  // namespace osprey::server::auth
