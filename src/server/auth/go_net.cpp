// A port of Go 1.19's net/ip.go parsing and IPNet.Contains (see go_net.h).
#include "server/auth/go_net.h"

namespace osprey::server::auth {

namespace {

constexpr int kBig = 0xFFFFFF;
constexpr std::uint8_t kV4InV6[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool dtoi(std::string_view s, int& n, std::size_t& i) {
    n = 0;
    for (i = 0; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
        n = n * 10 + (s[i] - '0');
        if (n >= kBig) return false;
    }
    return i > 0;
}

bool xtoi(std::string_view s, int& n, std::size_t& i) {
    n = 0;
    for (i = 0; i < s.size(); ++i) {
        const char c = s[i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            break;
        n = n * 16 + d;
        if (n >= kBig) return false;
    }
    return i > 0;
}

std::optional<Ip> parse_v4(std::string_view s) {
    Ip ip{};
    std::copy(std::begin(kV4InV6), std::end(kV4InV6), ip.begin());
    for (int k = 0; k < 4; ++k) {
        if (s.empty()) return std::nullopt;
        if (k > 0) {
            if (s[0] != '.') return std::nullopt;
            s.remove_prefix(1);
        }
        int n;
        std::size_t c;
        if (!dtoi(s, n, c) || n > 0xFF) return std::nullopt;
        if (c > 1 && s[0] == '0') return std::nullopt;  // leading zeros are refused
        s.remove_prefix(c);
        ip[12 + k] = std::uint8_t(n);
    }
    if (!s.empty()) return std::nullopt;
    return ip;
}

std::optional<Ip> parse_v6(std::string_view s) {
    Ip ip{};
    int ellipsis = -1;
    if (s.size() >= 2 && s[0] == ':' && s[1] == ':') {
        ellipsis = 0;
        s.remove_prefix(2);
        if (s.empty()) return ip;
    }
    int i = 0;
    while (i < 16) {
        int n;
        std::size_t c;
        if (!xtoi(s, n, c) || n > 0xFFFF) return std::nullopt;
        if (c < s.size() && s[c] == '.') {
            if ((ellipsis < 0 && i != 12) || i + 4 > 16) return std::nullopt;
            auto v4 = parse_v4(s);
            if (!v4) return std::nullopt;
            for (int k = 0; k < 4; ++k) ip[std::size_t(i + k)] = (*v4)[std::size_t(12 + k)];
            s = {};
            i += 4;
            break;
        }
        ip[std::size_t(i)] = std::uint8_t(n >> 8);
        ip[std::size_t(i + 1)] = std::uint8_t(n);
        i += 2;
        s.remove_prefix(c);
        if (s.empty()) break;
        if (s[0] != ':' || s.size() == 1) return std::nullopt;
        s.remove_prefix(1);
        if (s[0] == ':') {
            if (ellipsis >= 0) return std::nullopt;
            ellipsis = i;
            s.remove_prefix(1);
            if (s.empty()) break;
        }
    }
    if (!s.empty()) return std::nullopt;
    if (i < 16) {
        if (ellipsis < 0) return std::nullopt;
        const int n = 16 - i;
        for (int j = i - 1; j >= ellipsis; --j) ip[std::size_t(j + n)] = ip[std::size_t(j)];
        for (int j = ellipsis + n - 1; j >= ellipsis; --j) ip[std::size_t(j)] = 0;
    } else if (ellipsis >= 0) {
        return std::nullopt;  // "::" must stand for at least one group
    }
    return ip;
}

bool is_v4_mapped(const std::vector<std::uint8_t>& ip) {
    return ip.size() == 16 && std::equal(std::begin(kV4InV6), std::end(kV4InV6), ip.begin());
}

}  // namespace

std::optional<Ip> parse_ip(std::string_view s) {
    for (char c : s) {
        if (c == '.') return parse_v4(s);
        if (c == ':') return parse_v6(s);
    }
    return std::nullopt;
}

std::optional<Cidr> parse_cidr(std::string_view s) {
    const std::size_t slash = s.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    const std::string_view addr = s.substr(0, slash), mask = s.substr(slash + 1);
    std::size_t len = 4;
    auto ip = parse_v4(addr);
    if (!ip) {
        len = 16;
        ip = parse_v6(addr);
    }
    int n;
    std::size_t used;
    if (!ip || !dtoi(mask, n, used) || used != mask.size() || n < 0 || n > int(8 * len))
        return std::nullopt;
    Cidr c;
    c.mask.assign(len, 0);
    for (int b = 0; b < n; ++b) c.mask[std::size_t(b / 8)] |= std::uint8_t(0x80 >> (b % 8));
    // ip.Mask(m): a 4-byte mask takes the IPv4 part of the address.
    const std::size_t off = 16 - len;
    for (std::size_t k = 0; k < len; ++k) c.ip.push_back((*ip)[off + k] & c.mask[k]);
    return c;
}

bool cidr_contains(const Cidr& net, const Ip& ip) {
    // networkNumberAndMask: an IPv4-mapped network number is taken as IPv4.
    std::vector<std::uint8_t> nn = net.ip;
    if (is_v4_mapped(nn)) nn.erase(nn.begin(), nn.begin() + 12);
    std::vector<std::uint8_t> m = net.mask;
    if (m.size() == 4 && nn.size() != 4) return false;
    if (m.size() == 16 && nn.size() == 4) m.erase(m.begin(), m.begin() + 12);
    std::vector<std::uint8_t> x(ip.begin(), ip.end());
    if (is_v4_mapped(x)) x.erase(x.begin(), x.begin() + 12);
    if (x.size() != nn.size()) return false;
    for (std::size_t k = 0; k < x.size(); ++k)
        if ((nn[k] & m[k]) != (x[k] & m[k])) return false;
    return true;
}

}  // namespace osprey::server::auth
