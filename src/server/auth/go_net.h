// Go 1.19's net.ParseIP, net.ParseCIDR and IPNet.Contains, for user JWT `src` limits: which
// CIDR texts a JWT may carry, and which client addresses they admit (an IPv4 client matches
// IPv4 CIDRs and IPv4-mapped IPv6 ones, never "::/0"). Pure functions.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace osprey::server::auth {

using Ip = std::array<std::uint8_t, 16>;  // IPv4 as ::ffff:a.b.c.d, as Go holds it

// net.ParseIP: IPv4 (no leading zeros), IPv6 (with "::" and a trailing IPv4); no zones.
std::optional<Ip> parse_ip(std::string_view s);

struct Cidr {
    std::vector<std::uint8_t> ip;    // masked network number: 4 or 16 bytes
    std::vector<std::uint8_t> mask;  // 4 or 16 bytes
};
// net.ParseCIDR.
std::optional<Cidr> parse_cidr(std::string_view s);
// IPNet.Contains.
bool cidr_contains(const Cidr& net, const Ip& ip);

}  // namespace osprey::server::auth
