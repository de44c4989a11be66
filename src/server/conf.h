// The nats-server configuration format: a tree of maps, arrays and scalars.
//
// "key: value", "key = value", "key value", "key { ... }"; arrays "[a, b]" (commas or
// newlines); "#" and "//" comments; quoted and bare strings; numbers with size suffixes
// (k, kb, m, mb, g, gb: 1000- and 1024-based); true/false/yes/no/on/off; "$name" variables
// (an earlier key in this or an enclosing block, else the environment); "include <file>".
#pragma once
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace osprey::server::conf {

struct Value;
using Map = std::vector<std::pair<std::string, Value>>;  // keys in file order
using Array = std::vector<Value>;

struct Value {
    std::variant<bool, std::int64_t, double, std::string, Array, Map> v;
    int line = 0, col = 0;
    int key_line = 0, key_col = 0;  // where its key starts (for "unknown field" errors)
    // Referenced as $name somewhere: a variable, not a setting (nats-server does not call
    // such keys unknown).
    mutable bool used_as_variable = false;

    bool is_map() const { return std::holds_alternative<Map>(v); }
    bool is_array() const { return std::holds_alternative<Array>(v); }
    bool is_string() const { return std::holds_alternative<std::string>(v); }
    bool is_int() const { return std::holds_alternative<std::int64_t>(v); }
    bool is_bool() const { return std::holds_alternative<bool>(v); }
    bool is_double() const { return std::holds_alternative<double>(v); }
    const Map& map() const { return std::get<Map>(v); }
    const Array& array() const { return std::get<Array>(v); }
    const std::string& str() const { return std::get<std::string>(v); }
    std::int64_t integer() const { return std::get<std::int64_t>(v); }
    bool boolean() const { return std::get<bool>(v); }
    // Finds a key (case-insensitive, as nats-server); null if absent.
    const Value* find(std::string_view key) const;
};

// Parses text; `file` names it in errors ("file:line:col: message") and anchors includes.
std::expected<Map, std::string> parse(std::string_view text, const std::string& file = "");
std::expected<Map, std::string> parse_file(const std::string& path);

}  // namespace osprey::server::conf
