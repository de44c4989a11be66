#include "server/auth/tls_map.h"

#include <algorithm>
#include <cctype>

namespace osprey::server::auth {

namespace {

using Rdn = std::vector<std::pair<std::string, std::string>>;

std::string upper(std::string s) {
    for (auto& c : s) c = char(std::toupper((unsigned char)c));
    return s;
}

// RFC 4514 2.4, as Go's escape: ,+"\<>; anywhere, # and space first, space last.
std::string escape(const std::string& v) {
    std::string o;
    for (std::size_t i = 0; i < v.size(); ++i) {
        const char c = v[i];
        const bool special = c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';' ||
                             (i == 0 && (c == '#' || c == ' ')) || (i + 1 == v.size() && c == ' ');
        if (special) o += '\\';
        o += c;
    }
    return o;
}

// A DN as a user wrote it: "CN=alice, OU=eng+O=x"; nullopt when it is not one (go-ldap's
// ParseDN: every RDN is type=value, escapes and quoted values allowed).
std::optional<std::vector<Rdn>> parse_dn(const std::string& s) {
    std::vector<Rdn> out;
    Rdn cur;
    std::string type, value;
    bool in_value = false, quoted = false;
    auto push_attr = [&]() -> bool {
        auto trim = [](std::string x) {
            while (!x.empty() && x.front() == ' ') x.erase(0, 1);
            while (!x.empty() && x.back() == ' ') x.pop_back();
            return x;
        };
        type = trim(type);
        if (type.empty() || !in_value) return false;
        cur.emplace_back(upper(type), value);
        type.clear();
        value.clear();
        in_value = false;
        return true;
    };
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (!in_value) {
            if (c == '=') {
                in_value = true;
                while (i + 1 < s.size() && s[i + 1] == ' ') ++i;
                if (i + 1 < s.size() && s[i + 1] == '"') {
                    quoted = true;
                    ++i;
                }
            } else if (c == ',' || c == '+' || c == ';') {
                return std::nullopt;
            } else {
                type += c;
            }
            continue;
        }
        if (c == '\\' && i + 1 < s.size()) {
            const char n = s[i + 1];
            if (std::isxdigit((unsigned char)n) && i + 2 < s.size() && std::isxdigit((unsigned char)s[i + 2])) {
                value += char(std::stoi(s.substr(i + 1, 2), nullptr, 16));
                i += 2;
            } else {
                value += n;
                ++i;
            }
            continue;
        }
        if (quoted) {
            if (c == '"') quoted = false;
            else value += c;
            continue;
        }
        if (c == ',' || c == ';' || c == '+') {
            while (!value.empty() && value.back() == ' ') value.pop_back();
            if (!push_attr()) return std::nullopt;
            if (c != '+') {
                out.push_back(std::move(cur));
                cur.clear();
            }
            continue;
        }
        value += c;
    }
    if (quoted) return std::nullopt;
    while (!value.empty() && value.back() == ' ') value.pop_back();
    if (!push_attr()) return std::nullopt;
    out.push_back(std::move(cur));
    return out;
}

bool rdn_equal(const Rdn& a, const Rdn& b) {
    if (a.size() != b.size()) return false;
    for (const auto& x : a)
        if (std::none_of(b.begin(), b.end(), [&](const auto& y) { return x.first == y.first && x.second == y.second; }))
            return false;
    return true;
}

// The certificate's DN in string order (last RDN first), as go-ldap's FromRawCertSubject.
std::vector<Rdn> cert_dn(const CertNames& c) { return {c.subject.rbegin(), c.subject.rend()}; }

bool dn_equal(const std::vector<Rdn>& a, const std::vector<Rdn>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (!rdn_equal(a[i], b[i])) return false;
    return true;
}

// go-ldap's RDNsMatch: the same RDNs, in any order.
bool rdns_match(const std::vector<Rdn>& a, const std::vector<Rdn>& b) {
    if (a.size() != b.size()) return false;
    std::vector<bool> used(b.size());
    for (const auto& x : a) {
        bool found = false;
        for (std::size_t j = 0; j < b.size() && !found; ++j)
            if (!used[j] && rdn_equal(x, b[j])) used[j] = found = true;
        if (!found) return false;
    }
    return true;
}

}  // namespace

std::string rdn_string(const CertNames& c) {
    // pkix.Name.ToRDNSequence keeps only these, in this order, each type's values in one RDN;
    // String() then prints the sequence last first.
    static const char* kOrder[] = {"C", "ST", "L", "STREET", "POSTALCODE", "O", "OU", "CN", "SERIALNUMBER"};
    std::vector<std::string> rdns;
    for (const char* t : kOrder) {
        std::string part;
        for (const auto& rdn : c.subject)
            for (const auto& [type, v] : rdn)
                if (type == t) part += (part.empty() ? "" : "+") + type + "=" + escape(v);
        if (!part.empty()) rdns.push_back(std::move(part));
    }
    std::string out;
    for (auto it = rdns.rbegin(); it != rdns.rend(); ++it) out += (out.empty() ? "" : ",") + *it;
    return out;
}

std::optional<std::string> map_certificate(const CertNames& c, const std::vector<std::string>& users,
                                           const std::function<bool(const std::string&)>& allowed) {
    for (const auto* list : {&c.emails, &c.dns_names, &c.uris})
        for (const auto& n : *list)
            if (allowed(n)) return n;
    if (!c.subject.empty()) {
        const auto dn = cert_dn(c);
        std::vector<std::pair<const std::string*, std::vector<Rdn>>> parsed;
        for (const auto& u : users) {
            if (!allowed(u)) continue;
            auto p = parse_dn(u);
            if (!p) continue;
            if (dn_equal(*p, dn)) return u;
            parsed.emplace_back(&u, std::move(*p));
        }
        for (const auto& [u, p] : parsed)
            if (rdns_match(p, dn)) return *u;
    }
    // Then the subject as Go prints it, with the DCs appended (getTLSAuthDCs), then without.
    const std::string rdn = rdn_string(c);
    std::string dcs;
    for (const auto& r : c.subject)
        for (const auto& [t, v] : r)
            if (t == "DC") dcs += (dcs.empty() ? "" : ",") + ("DC=" + v);
    if (!dcs.empty() && allowed(rdn + "," + dcs)) return rdn + "," + dcs;
    if (!rdn.empty() && allowed(rdn)) return rdn;
    return std::nullopt;
}

}  // namespace osprey::server::auth
