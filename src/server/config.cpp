#include "server/config.h"

#include "server/config/mapper.h"

#include <fmt/format.h>

#include <cctype>

namespace osprey::server {

std::expected<std::int64_t, std::string> parse_duration_ms(std::string_view s) {
    if (s.empty()) return std::unexpected(std::string("invalid duration \"\""));
    double total_ms = 0;
    std::size_t i = 0;
    bool any = false;
    while (i < s.size()) {
        std::size_t start = i;
        while (i < s.size() && (std::isdigit((unsigned char)s[i]) || s[i] == '.')) ++i;
        if (i == start) return std::unexpected("invalid duration \"" + std::string(s) + "\"");
        double n = std::stod(std::string(s.substr(start, i - start)));
        std::size_t us = i;
        while (i < s.size() && std::isalpha((unsigned char)s[i])) ++i;
        std::string unit(s.substr(us, i - us));
        double mult;
        if (unit == "h") mult = 3600e3;
        else if (unit == "m") mult = 60e3;
        else if (unit == "s") mult = 1e3;
        else if (unit == "ms") mult = 1;
        else if (unit == "us" || unit == "µs") mult = 1e-3;
        else if (unit == "ns") mult = 1e-6;
        else return std::unexpected("invalid duration \"" + std::string(s) + "\"");
        total_ms += n * mult;
        any = true;
    }
    if (!any) return std::unexpected("invalid duration \"" + std::string(s) + "\"");
    return std::int64_t(total_ms);
}

std::expected<void, std::string> apply_config(const conf::Map& top, Options& opts,
                                              const std::string& file) {
    try {
        config::Mapper(file, opts).apply(top);
    } catch (const config::ConfigError& e) {
        return std::unexpected(e.msg);
    }
    return {};
}

std::expected<void, std::string> load_config_file(const std::string& path, Options& opts) {
    auto m = conf::parse_file(path);
    if (!m) return std::unexpected(m.error());
    opts.config_file = path;
    return apply_config(*m, opts, path);
}

}  // namespace osprey::server
