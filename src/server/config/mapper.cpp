#include "server/config/mapper.h"

#include <fmt/format.h>

#include <cctype>

#include "server/config.h"

namespace osprey::server::config {

std::string lower(std::string_view s) {
    std::string o;
    for (char c : s) o += char(std::tolower((unsigned char)c));
    return o;
}

namespace {
// nats-server's positions: a value's error points at its key (or at the value itself in an
// array); its lexer counts columns from 0 on the first line and from 1 after a newline.
std::string position(const std::string& file, int line, int col) {
    return fmt::format("{}{}:{}", file.empty() ? "" : file + ":", line, line == 1 ? col - 1 : col);
}
std::string key_position(const std::string& file, const conf::Value& v) {
    return v.key_line > 0 ? position(file, v.key_line, v.key_col) : position(file, v.line, v.col);
}
}  // namespace

void Mapper::fail(const conf::Value& v, const std::string& msg) const {
    throw ConfigError{fmt::format("{}: {}", key_position(file_, v), msg)};
}

void Mapper::unknown(const std::string& key, const conf::Value& v) const {
    if (v.used_as_variable) return;
    errors_.push_back(fmt::format("{}: unknown field \"{}\"", key_position(file_, v), key));
}

void Mapper::not_implemented(const std::string& key, const conf::Value& v, bool refuse) const {
    const std::string where = key_position(file_, v);
    if (refuse)
        throw ConfigError{fmt::format("{}: \"{}\" is not supported by osprey yet", where, key)};
    o_.config_warnings.push_back(
        fmt::format("{}: \"{}\" is not supported by osprey yet and is ignored", where, key));
}

std::string Mapper::str(const conf::Value& v, const std::string& key) const {
    if (v.is_string()) return v.str();
    if (v.is_int()) return std::to_string(v.integer());
    fail(v, "expected a string for \"" + key + "\"");
}

std::int64_t Mapper::integer(const conf::Value& v, const std::string& key) const {
    if (v.is_int()) return v.integer();
    if (v.is_double()) return std::int64_t(std::get<double>(v.v));
    fail(v, "expected a number for \"" + key + "\"");
}

bool Mapper::boolean(const conf::Value& v, const std::string& key) const {
    if (v.is_bool()) return v.boolean();
    if (v.is_string()) {
        auto s = lower(v.str());
        if (s == "enabled" || s == "true") return true;
        if (s == "disabled" || s == "false") return false;
    }
    fail(v, "expected a boolean for \"" + key + "\"");
}

std::int64_t Mapper::duration_ms(const conf::Value& v, const std::string& key) const {
    if (v.is_int()) return v.integer() * 1000;
    if (v.is_double()) return std::int64_t(std::get<double>(v.v) * 1000);
    if (v.is_string()) {
        auto d = parse_duration_ms(v.str());
        if (!d) fail(v, "error parsing \"" + key + "\": " + d.error());
        return *d;
    }
    fail(v, "expected a duration for \"" + key + "\"");
}

std::vector<std::string> Mapper::strings(const conf::Value& v, const std::string& key) const {
    std::vector<std::string> out;
    if (v.is_array()) {
        for (const auto& e : v.array()) out.push_back(str(e, key));
    } else {
        out.push_back(str(v, key));
    }
    return out;
}

void Mapper::hostport(const conf::Value& v, std::string& host, int& port, const std::string& key) const {
    std::string s = str(v, key);
    auto colon = s.rfind(':');
    if (colon == std::string::npos) fail(v, "expected host:port for \"" + key + "\"");
    host = s.substr(0, colon);
    if (host.size() > 1 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    try {
        port = std::stoi(s.substr(colon + 1));
    } catch (...) {
        fail(v, "bad port in \"" + key + "\"");
    }
}

}  // namespace osprey::server::config
