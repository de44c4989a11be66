// The Validate() methods of jwt/v2 v2.3.0 (types.go, account_claims.go, exports.go,
// imports.go, user_claims.go, operator_claims.go, activation_claims.go, signingkeys.go): the
// same checks in the same order with the same texts.
#include <fmt/format.h>

#include <algorithm>

#include "server/auth/claims.h"
#include "server/auth/go_net.h"
#include "server/auth/go_time.h"
#include "server/auth/go_unmarshal.h"
#include "server/auth/nkey.h"
#include "util/go_text.h"

namespace osprey::server::auth {

std::vector<std::string> split(std::string_view s, char sep) {
    std::vector<std::string> out;
    for (std::size_t start = 0;;) {
        const std::size_t at = s.find(sep, start);
        out.emplace_back(
            s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
        if (at == std::string_view::npos) return out;
        start = at + 1;
    }
}

namespace {

using gojson::go_quote;


// ---- Go's url.Parse, as far as claim validation looks at it ----

struct Url {
    std::string scheme, host, path;
    bool has_user = false;
};

bool ishex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
int unhex(char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

enum class Mode { Host, Path, UserPassword, Fragment };

bool should_escape_host(unsigned char c) {
    if (std::isalnum(c)) return false;
    switch (c) {
        case '!':
        case '$':
        case '&':
        case '\'':
        case '(':
        case ')':
        case '*':
        case '+':
        case ',':
        case ';':
        case '=':
        case ':':
        case '[':
        case ']':
        case '<':
        case '>':
        case '"':
        case '-':
        case '_':
        case '.':
        case '~':
            return false;
        default:
            return true;
    }
}

// url.unescape's validation: "%" must be followed by two hex digits; hosts allow only some
// bytes and no %-escape of an ASCII byte other than "%25".
std::optional<std::string> check_escapes(std::string_view s, Mode mode) {
    for (std::size_t i = 0; i < s.size();) {
        if (s[i] == '%') {
            if (i + 2 >= s.size() || !ishex(s[i + 1]) || !ishex(s[i + 2])) {
                std::string_view bad = s.substr(i, 3);
                return "invalid URL escape " + go_quote(bad);
            }
            if (mode == Mode::Host && unhex(s[i + 1]) < 8 && s.substr(i, 3) != "%25")
                return "invalid URL escape " + go_quote(s.substr(i, 3));
            i += 3;
            continue;
        }
        if (mode == Mode::Host && static_cast<unsigned char>(s[i]) < 0x80 &&
            should_escape_host(static_cast<unsigned char>(s[i])))
            return "invalid character " + go_quote(s.substr(i, 1)) + " in host name";
        ++i;
    }
    return std::nullopt;
}

bool valid_optional_port(std::string_view port) {
    if (port.empty()) return true;
    if (port[0] != ':') return false;
    return std::all_of(port.begin() + 1, port.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool valid_userinfo(std::string_view s) {
    for (unsigned char c : s) {
        if (std::isalnum(c)) continue;
        if (std::string_view("-._:~!$&'()*+,;=%@").find(char(c)) != std::string_view::npos)
            continue;
        return false;
    }
    return true;
}

std::expected<Url, std::string> parse_url(std::string_view raw_full) {
    const std::size_t hash = raw_full.find('#');
    const std::string_view raw = raw_full.substr(0, hash);
    auto fail = [&](std::string_view url, const std::string& why) {
        return std::unexpected("parse " + go_quote(url) + ": " + why);
    };
    for (unsigned char c : raw)
        if (c < 0x20 || c == 0x7f) return fail(raw, "net/url: invalid control character in URL");
    Url u;
    if (raw == "*") {
        u.path = "*";
        return u;
    }
    std::string_view rest = raw;
    for (std::size_t i = 0; i < raw.size(); ++i) {
        const unsigned char c = raw[i];
        if (std::isalpha(c)) continue;
        if (std::isdigit(c) || c == '+' || c == '-' || c == '.') {
            if (i == 0) break;
            continue;
        }
        if (c == ':') {
            if (i == 0) return fail(raw, "missing protocol scheme");
            u.scheme = std::string(raw.substr(0, i));
            std::transform(u.scheme.begin(), u.scheme.end(), u.scheme.begin(),
                           [](unsigned char x) { return std::tolower(x); });
            rest = raw.substr(i + 1);
        }
        break;
    }
    if (rest.ends_with('?') && std::count(rest.begin(), rest.end(), '?') == 1) {
        rest.remove_suffix(1);
    } else if (auto q = rest.find('?'); q != std::string_view::npos) {
        rest = rest.substr(0, q);
    }
    if (!rest.starts_with('/')) {
        if (!u.scheme.empty()) return u;  // opaque
        const std::string_view segment = rest.substr(0, rest.find('/'));
        if (segment.find(':') != std::string_view::npos)
            return fail(raw, "first path segment in URL cannot contain colon");
    }
    if ((!u.scheme.empty() || !rest.starts_with("///")) && rest.starts_with("//")) {
        std::string_view authority = rest.substr(2);
        rest = {};
        if (auto slash = authority.find('/'); slash != std::string_view::npos) {
            rest = authority.substr(slash);
            authority = authority.substr(0, slash);
        }
        const std::size_t at = authority.rfind('@');
        std::string_view host = at == std::string_view::npos ? authority : authority.substr(at + 1);
        if (host.starts_with('[')) {
            const std::size_t close = host.rfind(']');
            if (close == std::string_view::npos) return fail(raw, "missing ']' in host");
            if (!valid_optional_port(host.substr(close + 1)))
                return fail(raw,
                            "invalid port " + go_quote(host.substr(close + 1)) + " after host");
        } else if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
            if (!valid_optional_port(host.substr(colon)))
                return fail(raw, "invalid port " + go_quote(host.substr(colon)) + " after host");
        }
        if (!host.starts_with('['))
            if (auto err = check_escapes(host, Mode::Host)) return fail(raw, *err);
        if (at != std::string_view::npos) {
            const std::string_view userinfo = authority.substr(0, at);
            if (!valid_userinfo(userinfo)) return fail(raw, "net/url: invalid userinfo");
            if (auto err = check_escapes(userinfo, Mode::UserPassword)) return fail(raw, *err);
            u.has_user = true;
        }
        u.host = std::string(host);
    }
    if (auto err = check_escapes(rest, Mode::Path)) return fail(raw, *err);
    u.path = std::string(rest);
    if (hash != std::string_view::npos)
        if (auto err = check_escapes(raw_full.substr(hash + 1), Mode::Fragment))
            return fail(raw_full, *err);
    return u;
}

// url.URL.Hostname(): the host without port and brackets.
std::string hostname(const std::string& host) {
    std::string h = host;
    if (auto colon = h.rfind(':');
        colon != std::string::npos && valid_optional_port(std::string_view(h).substr(colon)))
        h.erase(colon);
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    return h;
}

// ---- the checks ----

void validate_subject(std::string_view s, ValidationResults& vr) {
    if (s.empty()) vr.error("subject cannot be empty");
    if (s.find(' ') != std::string_view::npos)
        vr.error("subject " + go_quote(s) + " cannot have spaces");
}

int count_token_wildcards(std::string_view s) {
    if (s == "*") return 1;
    int n = 0;
    for (const auto& t : split(s, '.'))
        if (t == "*") ++n;
    return n;
}

// RenamingSubject.Validate(from).
void validate_renaming(std::string_view s, std::string_view from, ValidationResults& vr) {
    validate_subject(s, vr);
    if (from.empty()) vr.error("subject cannot be empty");
    if (s.find(' ') != std::string_view::npos)
        vr.error("subject " + go_quote(s) + " cannot have spaces");
    auto suffix = [](std::string_view x) { return x == ">" || x.ends_with(".>"); };
    if (suffix(s) != suffix(from))
        vr.error("both, renaming subject and subject, need to end or not end in >");
    const int from_cnt = count_token_wildcards(from);
    int ref_cnt = 0;
    for (const auto& tk : split(s, '.')) {
        if (tk == "*") ++ref_cnt;
        if (tk.size() < 2) continue;
        if (tk[0] == '$') {
            bool oor = false;
            if (auto idx = util::go_atoi(std::string_view(tk).substr(1), oor)) {
                if (*idx > from_cnt)
                    vr.error(fmt::format("Reference ${} in {} reference * in {} that do not exist",
                                         *idx, go_quote(s), go_quote(from)));
                else
                    ++ref_cnt;
            }
        }
    }
    if (ref_cnt != from_cnt)
        vr.error("subject does not contain enough * or reference wildcards $[0-9]");
}

// RenamingSubject.ToSubject: "$N" tokens become "*".
std::string renaming_to_subject(std::string_view s) {
    if (s.find('$') == std::string_view::npos) return std::string(s);
    std::string out;
    const auto tokens = split(s, '.');
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        const auto& tk = tokens[i];
        bool oor = false;
        const bool ref =
            tk.size() > 1 && tk[0] == '$' && util::go_atoi(std::string_view(tk).substr(1), oor);
        out += ref ? "*" : tk;
        if (i + 1 != tokens.size()) out += '.';
    }
    return out;
}

void check_permission(std::string_view subj, bool permit_queue, ValidationResults& vr) {
    const auto tk = split(subj, ' ');
    if (tk.size() == 1) {
        validate_subject(tk[0], vr);
    } else if (tk.size() == 2) {
        validate_subject(tk[0], vr);
        validate_subject(tk[1], vr);
        if (!permit_queue)
            vr.error(
                fmt::format("Permission Subject \"{}\" is not allowed to contain queue", subj));
    } else {
        vr.error(fmt::format("Permission Subject \"{}\" contains too many spaces", subj));
    }
}

void validate_permission(const Permission& p, bool permit_queue, ValidationResults& vr) {
    for (const auto& s : p.allow) check_permission(s, permit_queue, vr);
    for (const auto& s : p.deny) check_permission(s, permit_queue, vr);
}

void validate_permissions(const Permissions& p, ValidationResults& vr) {
    // resp: any values are valid.
    validate_permission(p.sub, true, vr);
    validate_permission(p.pub, false, vr);
}

void validate_limits(const UserPermissionLimits& l, ValidationResults& vr) {
    for (const auto& cidr : l.src)
        if (!parse_cidr(cidr)) vr.error("invalid cidr " + go_quote(cidr) + " in user src limits");
    for (const auto& t : l.times) {
        if (t.start.empty())
            vr.error("time ranges start must contain a start");
        else if (!parse_clock(t.start))
            vr.error("start in time range is invalid " + go_quote(t.start));
        if (t.end.empty())
            vr.error("time ranges end must contain an end");
        else if (!parse_clock(t.end))
            vr.error("end in time range is invalid " + go_quote(t.end));
    }
    if (!l.times_location.empty())
        if (auto loc = load_location(l.times_location); !loc)
            vr.error("could not parse iana time zone by name: " + loc.error());
}

void validate_times(const Claims& c, std::int64_t now, ValidationResults& vr) {
    if (c.exp > 0 && now > c.exp) vr.time_check("claim is expired");
    if (c.nbf > 0 && c.nbf > now) vr.time_check("claim is not yet valid");
}

void validate_info(const std::string& description, const std::string& info_url,
                   ValidationResults& vr) {
    constexpr std::size_t kMax = 8 * 1024;
    if (description.size() > kMax) vr.error("Description is too long");
    if (info_url.empty()) return;
    if (info_url.size() > kMax) vr.error("Info URL is too long");
    auto u = parse_url(info_url);
    if (u && (hostname(u->host).empty() || u->scheme.empty()))
        vr.error("error parsing info url: no hostname or scheme");
    else if (!u)
        vr.error("error parsing info url: " + u.error());
}

void validate_activation_body(const ActivationClaims& a, ValidationResults& vr) {
    if (a.import_type == ExportType::Unknown) vr.error("invalid import type: \"unknown\"");
    validate_subject(a.import_subject, vr);
    if (!a.issuer_account.empty() && !is_valid_public(kAccount, a.issuer_account))
        vr.error("account_id is not an account public key");
}

void validate_export(const Export& e, ValidationResults& vr) {
    const bool service = e.type == ExportType::Service, stream = e.type == ExportType::Stream;
    if (!service && !stream)
        vr.error(fmt::format("invalid export type: \"{}\"", export_type_name(e.type)));
    if (service && !e.response_type.empty() && e.response_type != "Singleton" &&
        e.response_type != "Chunked" && e.response_type != "Stream")
        vr.error("invalid response type for service: " + go_quote(e.response_type));
    if (stream && !e.response_type.empty())
        vr.error("invalid response type for stream: " + go_quote(e.response_type));
    if (e.latency) {
        if (!service) vr.error("latency tracking only permitted for services");
        if (e.latency->sampling != 0 && (e.latency->sampling < 1 || e.latency->sampling > 100))
            vr.error("sampling percentage needs to be between 1-100");
        validate_subject(e.latency->results, vr);
        if (jwt_has_wildcards(e.latency->results))
            vr.error("results subject can not contain wildcards");
    }
    if (e.response_threshold_ns < 0) vr.error("negative response threshold is invalid");
    if (e.response_threshold_ns > 0 && !service)
        vr.error("response threshold only valid for services");
    validate_subject(e.subject, vr);
    if (e.account_token_position > 0) {
        if (!jwt_has_wildcards(e.subject)) {
            vr.error("Account Token Position can only be used with wildcard subjects: " +
                     e.subject);
        } else {
            const auto tokens = split(e.subject, '.');
            if (e.account_token_position > tokens.size())
                vr.error(fmt::format("Account Token Position {} exceeds length of subject '{}'",
                                     e.account_token_position, e.subject));
            else if (const auto& tk = tokens[e.account_token_position - 1]; tk != "*")
                vr.error(
                    fmt::format("Account Token Position {} matches '{}' but must match a * in: {}",
                                e.account_token_position, tk, e.subject));
        }
    }
    validate_info(e.description, e.info_url, vr);
}

// isContainedIn over one kind's export subjects: the first subject contained in each other.
void check_overlaps(const char* kind, const std::vector<std::string>& subjects,
                    ValidationResults& vr) {
    std::map<std::string, std::string> m;
    for (std::size_t i = 0; i < subjects.size(); ++i)
        for (std::size_t j = 0; j < subjects.size(); ++j)
            if (i != j && jwt_is_contained_in(subjects[i], subjects[j]) && !m.contains(subjects[j]))
                m[subjects[j]] = subjects[i];
    for (const auto& [k, v] : m)
        vr.error(
            fmt::format("{} export subject {} already exports {}", kind, go_quote(k), go_quote(v)));
}

}  // namespace

bool ValidationResults::is_blocking(bool include_time_checks) const {
    return std::any_of(issues.begin(), issues.end(), [&](const ValidationIssue& i) {
        return i.blocking || (include_time_checks && i.time_check);
    });
}

std::vector<std::string> ValidationResults::errors() const {
    std::vector<std::string> out;
    for (const auto& i : issues)
        if (i.blocking) out.push_back(i.description);
    return out;
}

std::vector<std::string> ValidationResults::warnings() const {
    std::vector<std::string> out;
    for (const auto& i : issues)
        if (!i.blocking) out.push_back(i.description);
    return out;
}

std::string ValidationResults::format() const {
    std::string out = "&{Issues:[";
    for (std::size_t i = 0; i < issues.size(); ++i) out += (i ? " " : "") + issues[i].description;
    return out + "]}";
}

bool jwt_has_wildcards(std::string_view v) {
    return v.ends_with(".>") || v.find(".*.") != std::string_view::npos || v.ends_with(".*") ||
           v.starts_with("*.") || v == "*" || v == ">";
}

bool jwt_is_contained_in(std::string_view subject, std::string_view other) {
    const auto o = split(other, '.');
    const auto mine = split(subject, '.');
    if (mine.size() > o.size() && o.back() != ">") return false;
    if (mine.size() < o.size()) return false;
    for (std::size_t i = 0; i < o.size(); ++i) {
        if (i == o.size() - 1 && o[i] == ">") return true;
        if (o[i] != mine[i] && o[i] != "*") return false;
    }
    return true;
}

std::expected<std::array<int, 3>, std::string> parse_server_version(std::string_view v) {
    if (v.empty()) return std::array<int, 3>{0, 0, 0};
    const auto parts = split(v, '.');
    if (parts.size() != 3)
        return std::unexpected(
            std::string("asserted server version must be of the form <major>.<minor>.<update>"));
    std::array<int, 3> out{};
    for (int i = 0; i < 3; ++i) {
        bool oor = false;
        auto n = util::go_atoi(parts[std::size_t(i)], oor);
        if (!n)
            return std::unexpected("asserted server version cant parse " + parts[std::size_t(i)] +
                                   " to int");
        out[std::size_t(i)] = int(*n);
    }
    if (out[0] < 0 || out[1] < 0 || out[2] < 0)
        return std::unexpected("asserted server version can'b contain negative values: " +
                               std::string(v));
    return out;
}

void validate_import(const Import& i, std::string_view account_pub, ValidationResults& vr) {
    // (An activation token inside an account is checked without time checks.)
    if (i.is_null) {
        vr.error("null import is not allowed");
        return;
    }
    const bool service = i.type == ExportType::Service, stream = i.type == ExportType::Stream;
    if (!service && !stream)
        vr.error(fmt::format("invalid import type: \"{}\"", export_type_name(i.type)));
    if (i.account.empty()) vr.error("account to import from is not specified");
    if (!i.to.empty()) vr.warning("the field to has been deprecated (use LocalSubject instead)");
    validate_subject(i.subject, vr);
    if (!i.local_subject.empty()) {
        validate_renaming(i.local_subject, i.subject, vr);
        if (!i.to.empty()) vr.error("Local Subject replaces To");
    }
    if (i.share && !service)
        vr.error("sharing information (for latency tracking) is only valid for services: " +
                 go_quote(i.subject));
    if (i.token.empty()) return;
    auto act = decode_activation(i.token);
    if (!act) {
        vr.error("import " + go_quote(i.subject) + " contains an invalid activation token");
        return;
    }
    if (!(act->claims.iss == i.account || act->issuer_account == i.account))
        vr.error("activation token doesn't match account for import " + go_quote(i.subject));
    if (act->claims.sub != account_pub)
        vr.error("activation token doesn't match account it is being included in, " +
                 go_quote(i.subject));
    if (act->import_type != i.type)
        vr.error(fmt::format("mismatch between token import type {} and type of import {}",
                             export_type_name(act->import_type), export_type_name(i.type)));
    validate_activation_body(*act, vr);
    const std::string& subj = service && !i.to.empty() ? i.to : i.subject;
    if (!jwt_is_contained_in(subj, act->import_subject))
        vr.error("activation token import subject " + go_quote(act->import_subject) +
                 " doesn't match import " + go_quote(i.subject));
}

ValidationResults validate(const UserClaims& u, std::int64_t now) {
    ValidationResults vr;
    validate_times(u.claims, now, vr);
    validate_permissions(u.permissions, vr);
    validate_limits(u, vr);
    if (!u.issuer_account.empty() && !is_valid_public(kAccount, u.issuer_account))
        vr.error("account_id is not an account public key");
    return vr;
}

ValidationResults validate(const AccountClaims& a, std::int64_t now) {
    ValidationResults vr;
    validate_times(a.claims, now, vr);
    // Imports: overlapping service namespaces, then each import.
    std::vector<std::string> to_set;
    for (const auto& i : a.imports) {
        if (i.is_null) {
            vr.error("null import is not allowed");
            continue;
        }
        if (i.type == ExportType::Service) {
            std::string sub = i.to;
            if (sub.empty()) sub = renaming_to_subject(i.local_subject);
            if (sub.empty()) sub = i.subject;
            for (const auto& k : to_set)
                if (jwt_is_contained_in(sub, k) || jwt_is_contained_in(k, sub))
                    vr.error("overlapping subject namespace for " + go_quote(sub) + " and " +
                             go_quote(k));
            if (std::find(to_set.begin(), to_set.end(), sub) != to_set.end())
                vr.error("overlapping subject namespace for " + go_quote(i.to));
            else
                to_set.push_back(sub);
        }
        validate_import(i, a.claims.sub, vr);
    }
    // Exports.
    std::vector<std::string> services, streams;
    for (const auto& e : a.exports) {
        if (e.is_null) {
            vr.error("null export is not allowed");
            continue;
        }
        (e.type == ExportType::Service ? services : streams).push_back(e.subject);
        validate_export(e, vr);
    }
    check_overlaps("service", services, vr);
    check_overlaps("stream", streams, vr);
    // Limits.
    if (!a.limits.tiered.empty()) {
        if (a.limits.jetstream != JetStreamLimits{})
            vr.error("JetStream Limits and tiered JetStream Limits are mutually exclusive");
        if (a.limits.tiered.contains(""))
            vr.error("Tiered JetStream Limits can not contain a blank \"\" tier name");
    }
    validate_permissions(a.default_permissions, vr);
    for (const auto& [from, list] : a.mappings) {
        validate_subject(from, vr);
        std::uint8_t total = 0;  // Go sums in uint8: it wraps
        for (const auto& wm : list) {
            validate_subject(wm.subject, vr);
            if (jwt_has_wildcards(wm.subject))
                vr.error(fmt::format(
                    "Subject {} in weighted mapping {} is not allowed to contains wildcard",
                    go_quote(wm.subject), go_quote(from)));
            total = std::uint8_t(total + (wm.weight == 0 ? 100 : wm.weight));
        }
        if (total > 100)
            vr.error(fmt::format("Mapping {} exceeds 100% among all of it's weighted to mappings",
                                 go_quote(from)));
    }
    const auto n_imports = std::int64_t(a.imports.size()),
               n_exports = std::int64_t(a.exports.size());
    // Go checks the import count twice (so the issue can appear twice).
    if (!a.limits.is_empty() && a.limits.imports >= 0 && n_imports > a.limits.imports)
        vr.error("the account contains more imports than allowed by the operator");
    if (a.limits.imports != -1 && n_imports > a.limits.imports)
        vr.error("the account contains more imports than allowed by the operator");
    if (a.limits.exports != -1) {
        if (n_exports > a.limits.exports)
            vr.error("the account contains more exports than allowed by the operator");
        if (!a.limits.wildcards)
            for (const auto& e : a.exports)
                if (!e.is_null && jwt_has_wildcards(e.subject))
                    vr.error(
                        "the account contains wildcard exports that are not allowed by the "
                        "operator");
    }
    for (const auto& [key, scope] : a.signing_keys) {
        if (scope) {
            if (!is_valid_public(kAccount, scope->key))
                vr.error(scope->key + " is not an account public key");
        } else if (!is_valid_public(kAccount, key)) {
            vr.error(go_quote(key) + " is not a valid account signing key");
        }
    }
    validate_info(a.description, a.info_url, vr);
    if (is_valid_public(kAccount, a.claims.iss) && !a.limits.is_empty())
        vr.warning("self-signed account JWTs shouldn't contain operator limits");
    return vr;
}

ValidationResults validate(const OperatorClaims& o, std::int64_t now) {
    ValidationResults vr;
    validate_times(o.claims, now, vr);
    if (!o.account_server_url.empty()) {
        auto u = parse_url(o.account_server_url);
        if (!u)
            vr.error("error parsing account server url: " + u.error());
        else if (u->scheme.empty())
            vr.error("account server url " + go_quote(o.account_server_url) +
                     " requires a protocol");
    }
    for (const auto& v : o.operator_service_urls) {
        if (v.empty()) continue;
        auto u = parse_url(v);
        if (!u)
            vr.error("error parsing operator service url " + go_quote(v) + ": " + u.error());
        else if (u->has_user)
            vr.error("operator service url " + go_quote(v) + " - credentials are not supported");
        else if (!u->path.empty())
            vr.error("operator service url " + go_quote(v) + " - paths are not supported");
        else if (u->scheme != "nats" && u->scheme != "tls")
            vr.error("operator service url " + go_quote(v) +
                     " - protocol not supported (only 'nats' or 'tls' only)");
    }
    for (const auto& k : o.signing_keys)
        if (!is_valid_public(kOperator, k)) vr.error(k + " is not an operator public key");
    if (!o.system_account.empty() && !is_valid_public(kAccount, o.system_account))
        vr.error(o.system_account + " is not an account public key");
    if (auto v = parse_server_version(o.assert_server_version); !v)
        vr.error("assert server version error: " + v.error());
    return vr;
}

ValidationResults validate(const ActivationClaims& a, std::int64_t now) {
    ValidationResults vr;
    validate_times(a.claims, now, vr);
    validate_activation_body(a, vr);
    return vr;
}

}  // namespace osprey::server::auth
