// nats-server 2.9.10's connect-time checks for JWT users (auth.go, jwt.go, accounts.go,
// client.go), see checks.h.
#include "server/auth/checks.h"

#include <fmt/format.h>

#include <algorithm>

#include "server/auth/go_net.h"
#include "server/auth/go_time.h"
#include "server/auth/go_unmarshal.h"
#include "server/auth/nkey.h"
#include "subjects/subject.h"

namespace osprey::server::auth {

namespace {


std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

bool is_template(std::string_view tk) { return tk.starts_with("{{") && tk.ends_with("}}"); }

// StringList.Add: no duplicates, no empty strings.
void add_unique(std::vector<std::string>& list, const std::string& v) {
    if (!v.empty() && std::find(list.begin(), list.end(), v) == list.end()) list.push_back(v);
}

struct TemplateInput {
    const UserClaims& user;
    std::string_view account_name_tag;
    const std::vector<std::string>& account_tags;
};

// processUserPermissionsTemplate's applyTemplate for one list.
std::expected<std::vector<std::string>, std::string> apply_list(
    const std::vector<std::string>& list, bool fail_on_bad, const TemplateInput& in) {
    const bool found = std::any_of(list.begin(), list.end(), [](const std::string& e) {
        const auto tokens = split(e, '.');
        return std::any_of(tokens.begin(), tokens.end(),
                           [](const std::string& t) { return is_template(t); });
    });
    if (!found) return list;
    std::vector<std::string> out;
    auto emit = [&](const std::string& subj) -> bool {
        if (subjects::valid_subject(subj)) {
            out.push_back(subj);
            return true;
        }
        return !fail_on_bad;
    };
    for (const auto& entry : list) {
        std::vector<std::string> tokens = split(entry, '.');
        std::vector<std::vector<std::string>> tag_values;
        for (auto& tk : tokens) {
            if (!is_template(tk)) continue;
            const std::string op = lower(tk.substr(2, tk.size() - 4));
            if (op == "name()") {
                tk = in.user.claims.name;
            } else if (op == "subject()") {
                tk = in.user.claims.sub;
            } else if (op == "account-name()") {
                tk = std::string(in.account_name_tag);
            } else if (op == "account-subject()") {
                tk = in.user.issuer_account;
            } else if ((op.starts_with("tag(") || op.starts_with("account-tag(")) &&
                       op.ends_with(")")) {
                // A placeholder filled from the tag values below (or left empty: invalid).
                tk.clear();
                const bool account = op.starts_with("account-tag(");
                const auto& tags = account ? in.account_tags : in.user.tags;
                const std::string inner =
                    op.substr(account ? 12 : 4, op.size() - (account ? 13 : 5));
                const std::string prefix = lower(inner) + ":";
                std::vector<std::string> values;
                for (const auto& tag : tags)
                    if (tag.starts_with(prefix)) values.push_back(tag.substr(prefix.size()));
                if (!values.empty()) tag_values.push_back(std::move(values));
            } else {
                tk = " ";  // an unknown macro makes the subject invalid on purpose
            }
        }
        if (tag_values.empty()) {
            std::string subj;
            for (std::size_t i = 0; i < tokens.size(); ++i) subj += (i ? "." : "") + tokens[i];
            if (!emit(subj)) return std::unexpected(std::string("generated invalid subject"));
            continue;
        }
        // The cartesian product of the tag value lists, the last list varying fastest; each
        // empty token takes the next value. (Go panics when empty tokens outnumber the lists;
        // such a combination is taken as an invalid subject here.)
        std::vector<std::size_t> idx(tag_values.size(), 0);
        for (;;) {
            std::string subj;
            std::size_t next = 0;
            bool bad = false;
            for (std::size_t i = 0; i < tokens.size(); ++i) {
                if (tokens[i].empty()) {
                    if (next >= tag_values.size()) {
                        bad = true;
                    } else {
                        subj += tag_values[next][idx[next]];
                        ++next;
                    }
                } else {
                    subj += tokens[i];
                }
                if (i + 1 != tokens.size()) subj += '.';
            }
            if (bad) subj = " ";
            if (!emit(subj)) return std::unexpected(std::string("generated invalid subject"));
            bool done = true;
            for (std::size_t j = tag_values.size(); j-- > 0;) {
                if (++idx[j] < tag_values[j].size()) {
                    done = false;
                    break;
                }
                idx[j] = 0;
            }
            if (done) break;
        }
    }
    return out;
}

}  // namespace

Trust trusted_keys(const std::vector<OperatorClaims>& operators) {
    Trust t;
    for (const auto& op : operators) {
        if (!op.strict_signing_key_usage) t.keys.push_back(op.claims.sub);
        t.keys.insert(t.keys.end(), op.signing_keys.begin(), op.signing_keys.end());
        if (op.strict_signing_key_usage)
            t.strict_signing_keys.insert(op.signing_keys.begin(), op.signing_keys.end());
    }
    return t;
}

bool is_trusted_issuer(const Trust& t, std::string_view issuer) {
    return std::find(t.keys.begin(), t.keys.end(), issuer) != t.keys.end();
}

std::optional<std::string> check_server_version(const OperatorClaims& op, int major, int minor,
                                                int update) {
    auto v = parse_server_version(op.assert_server_version);
    if (!v)
        return fmt::format("operator {} expects version {} got error instead: {}", op.claims.sub,
                           op.assert_server_version, v.error());
    const auto [ma, mi, up] = *v;
    if (ma > major)
        return fmt::format("operator {} expected major version {} > server major version {}",
                           op.claims.sub, ma, major);
    if (major > ma) return std::nullopt;
    if (mi > minor)
        return fmt::format("operator {} expected minor version {} > server minor version {}",
                           op.claims.sub, mi, minor);
    if (minor > mi) return std::nullopt;
    if (up > update)
        return fmt::format("operator {} expected update version {} > server update version {}",
                           op.claims.sub, up, update);
    return std::nullopt;
}

std::expected<AccountClaims, std::string> verify_account(std::string_view jwt,
                                                         std::string_view name, const Trust& trust,
                                                         std::int64_t now) {
    auto a = decode_account(jwt);
    if (!a) return a;
    const std::string failed = "account validation failed";
    if (!is_trusted_issuer(trust, a->claims.iss)) return std::unexpected(failed);
    if (validate(*a, now).is_blocking(true)) return std::unexpected(failed);
    if (a->claims.sub != name) return std::unexpected(failed);
    return a;
}

bool account_expired(const AccountClaims& a, std::int64_t now) {
    return a.claims.exp != 0 && a.claims.exp <= now;
}

std::optional<std::string> check_user(const UserClaims& u, std::int64_t now) {
    const ValidationResults vr = validate(u, now);
    if (vr.is_blocking(true)) return vr.format();
    return std::nullopt;
}

ConnectionTypes convert_connection_types(const std::vector<std::string>& types) {
    ConnectionTypes out;
    std::vector<std::string> unknown;
    for (const auto& t : types) {
        std::string up = t;
        std::transform(up.begin(), up.end(), up.begin(),
                       [](unsigned char c) { return std::toupper(c); });
        if (up == kConnStandard || up == kConnWebsocket || up == kConnLeafnode ||
            up == kConnLeafnodeWs || up == kConnMqtt || up == kConnMqttWs)
            out.allowed.insert(up);
        else
            unknown.push_back(up);
    }
    if (!unknown.empty()) {
        std::string list = "[";
        for (std::size_t i = 0; i < unknown.size(); ++i)
            list += (i ? " " : "") + gojson::go_quote(unknown[i]);
        out.error = "invalid connection types " + list + "]";
    }
    return out;
}

bool connection_type_allowed(const std::set<std::string>& allowed, std::string_view type) {
    return allowed.empty() || allowed.contains(std::string(type));
}

const std::string& user_issuer_account(const UserClaims& u) {
    return u.issuer_account.empty() ? u.claims.iss : u.issuer_account;
}

SigningKeys account_signing_keys(const AccountClaims& a, bool strict) {
    SigningKeys keys = a.signing_keys;
    if (!strict) keys[a.claims.sub] = std::nullopt;
    return keys;
}

const std::optional<UserScope>* find_signing_key(const SigningKeys& keys, std::string_view issuer) {
    auto it = keys.find(std::string(issuer));
    return it == keys.end() ? nullptr : &it->second;
}

std::expected<UserPermissionLimits, std::string> apply_template(
    const UserPermissionLimits& templ, const UserClaims& user, std::string_view account_name_tag,
    const std::vector<std::string>& account_tags) {
    const TemplateInput in{user, account_name_tag, account_tags};
    UserPermissionLimits lim = templ;
    const bool sub_allow_was = !lim.permissions.sub.allow.empty();
    const bool pub_allow_was = !lim.permissions.pub.allow.empty();
    auto sa = apply_list(lim.permissions.sub.allow, false, in);
    if (!sa) return std::unexpected(sa.error());
    auto sd = apply_list(lim.permissions.sub.deny, true, in);
    if (!sd) return std::unexpected(sd.error());
    auto pa = apply_list(lim.permissions.pub.allow, false, in);
    if (!pa) return std::unexpected(pa.error());
    auto pd = apply_list(lim.permissions.pub.deny, true, in);
    if (!pd) return std::unexpected(pd.error());
    lim.permissions.sub = {std::move(*sa), std::move(*sd)};
    lim.permissions.pub = {std::move(*pa), std::move(*pd)};
    // An allow list that expanded to nothing must not turn into "allow all".
    if (sub_allow_was && lim.permissions.sub.allow.empty())
        add_unique(lim.permissions.sub.deny, ">");
    if (pub_allow_was && lim.permissions.pub.allow.empty())
        add_unique(lim.permissions.pub.deny, ">");
    return lim;
}

std::expected<UserClaims, std::string> apply_scope(const UserScope& scope, const UserClaims& user,
                                                   std::string_view account_name_tag,
                                                   const std::vector<std::string>& account_tags) {
    if (user.claims.iss != scope.key)
        return std::unexpected(std::string("issuer not the scoped signer"));
    if (!user.empty)
        return std::unexpected(std::string("scoped users require no permissions or limits set"));
    auto lim = apply_template(scope.templ, user, account_name_tag, account_tags);
    if (!lim) return std::unexpected(lim.error());
    UserClaims out = user;
    static_cast<UserPermissionLimits&>(out) = std::move(*lim);
    return out;
}

std::optional<std::string> verify_nonce(std::string_view public_key, std::string_view sig,
                                        std::string_view nonce) {
    if (sig.empty()) return std::string("Signature missing");
    auto raw = decode_signature(sig);
    if (!raw) return std::string("Signature not valid base64");
    auto key = decode_public(public_key);
    if (!key) return "User nkey not valid: " + key.error();
    if (!verify(*key, *raw, nonce)) return std::string("Signature not verified");
    return std::nullopt;
}

bool is_revoked(const RevocationList& revocations, std::string_view subject, std::int64_t iat) {
    if (revocations.empty()) return false;
    auto at_or_after = [&](const std::string& key) {
        auto it = revocations.find(key);
        return it != revocations.end() && it->second >= iat;
    };
    return at_or_after(std::string(subject)) || at_or_after("*");
}

bool is_revoked(const std::optional<RevocationList>& revocations, std::string_view subject,
                std::int64_t iat) {
    return revocations && is_revoked(*revocations, subject, iat);
}

bool is_claim_revoked(const AccountClaims& a, const UserClaims& u) {
    if (u.claims.iat == 0 || u.claims.sub.empty()) return true;
    return is_revoked(a.revocations, u.claims.sub, u.claims.iat);
}

bool src_allowed(const std::vector<std::string>& src, std::string_view host) {
    if (src.empty()) return true;
    if (host.empty()) return false;
    auto ip = parse_ip(host);
    if (!ip) return false;
    for (const auto& text : src) {
        auto net = parse_cidr(text);
        if (!net) return false;  // cannot happen for a JWT that validated
        if (cidr_contains(*net, *ip)) return true;
    }
    return false;
}

TimesResult check_times(const UserPermissionLimits& u,
                        std::chrono::system_clock::time_point now_tp) {
    if (u.times.empty()) return {true, std::chrono::nanoseconds(0)};
    std::shared_ptr<const Location> loc = local_location();
    if (!u.times_location.empty()) {
        auto l = load_location(u.times_location);
        if (!l) return {};
        loc = *l;
    }
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::nanoseconds>(now_tp.time_since_epoch()).count();
    const std::int64_t now_s = now / 1'000'000'000 - (now % 1'000'000'000 < 0);
    std::int64_t y = 0;
    int m = 0, d = 0;
    loc->civil(now_s, y, m, d);
    for (const auto& r : u.times) {
        auto start = parse_clock(r.start);
        auto end = parse_clock(r.end);
        if (!start || !end) return {};
        auto tuple = [](const ClockTime& c) { return std::tuple(c.hour, c.min, c.sec, c.nsec); };
        // start > end: the range ends tomorrow, but still starts today (nats-server's quirk).
        const int end_day = tuple(*start) > tuple(*end) ? d + 1 : d;
        const std::int64_t s =
            loc->date(y, m, d, start->hour, start->min, start->sec) * 1'000'000'000 + start->nsec;
        if (s < now) {
            const std::int64_t e =
                loc->date(y, m, end_day, end->hour, end->min, end->sec) * 1'000'000'000 + end->nsec;
            if (e > now) return {true, std::chrono::nanoseconds(e - now)};
        }
    }
    return {};
}

std::optional<server::Permissions> server_permissions(const Permissions& p) {
    const bool pub = !p.pub.allow.empty() || !p.pub.deny.empty();
    const bool sub = !p.sub.allow.empty() || !p.sub.deny.empty();
    if (!pub && !sub && !p.resp) return std::nullopt;
    server::Permissions out;
    out.publish = {p.pub.allow, p.pub.deny};
    out.subscribe = {p.sub.allow, p.sub.deny};
    if (p.resp) {
        server::ResponsePermission r;
        r.max = p.resp->max == 0 ? 1 : p.resp->max;
        r.expires_ms = p.resp->ttl_ns == 0 ? 2 * 60 * 1000 : p.resp->ttl_ns / 1'000'000;
        out.responses = r;
    }
    return out;
}

std::expected<ActivationClaims, std::string> check_activation(
    const Import& import, std::string_view importing_account, std::string_view exporter,
    const SigningKeys& exporter_keys, const Export* export_def, std::int64_t now) {
    if (import.token.empty()) return std::unexpected(std::string("activation token missing"));
    ValidationResults vr;
    validate_import(import, importing_account, vr);
    if (vr.is_blocking(true)) return std::unexpected("import not valid: " + vr.format());
    auto act = decode_activation(import.token);
    if (!act) return std::unexpected("activation token not valid: " + act.error());
    // isIssuerClaimTrusted: without issuer_account the import check above tied iss to the
    // exporter; with it, the exporter must be named and iss be one of its keys.
    if (!act->issuer_account.empty() &&
        (act->issuer_account != exporter || !find_signing_key(exporter_keys, act->claims.iss)))
        return std::unexpected(std::string("activation token issuer not trusted"));
    const ValidationResults avr = validate(*act, now);
    if (avr.is_blocking(true))
        return std::unexpected("activation token not valid: " + avr.format());
    if (act->claims.exp != 0 && act->claims.exp <= now)
        return std::unexpected(std::string("activation token expired"));
    if (export_def && is_revoked(export_def->revocations, act->claims.sub, act->claims.iat))
        return std::unexpected(std::string("activation token revoked"));
    return act;
}

bool account_token_position_ok(const Export& e, std::string_view import_subject,
                               std::string_view importing_account) {
    if (e.account_token_position == 0) return true;
    const auto tokens = split(import_subject, '.');
    return e.account_token_position <= tokens.size() &&
           tokens[e.account_token_position - 1] == importing_account;
}

}  // namespace osprey::server::auth
