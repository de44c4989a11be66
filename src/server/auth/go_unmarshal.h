// Go's json.Unmarshal into typed structs, as jwt/v2 does it when decoding claims: which JSON
// a claim may hold, and the error text when it may not. Go's rules differ from a plain JSON
// reader in ways that decide acceptance: keys match struct fields case-insensitively, a later
// duplicate key decodes into the same field again (merging objects), `null` leaves a value as
// it was, numbers must fit the field's integer type, and the first type error is reported as
// "json: cannot unmarshal string into Go struct field UserClaims.exp of type int64" (decoding
// goes on meanwhile; only errors of custom decoders stop it).
//
// The result of a decode is a boost::json value in the shape Go would marshal the struct back
// to: canonical key names, integers as int64/uint64, absent (or null-cleared) fields missing.
#pragma once
#include <boost/json.hpp>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace osprey::server::auth::gojson {

// A JSON value as Go's decoder sees it: members in document order (duplicates kept), numbers
// as their literal text, strings decoded as Go decodes them (invalid UTF-8 and lone
// surrogates become U+FFFD).
struct Node {
    enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
    bool boolean = false;
    std::string text;  // a string's decoded value, or a number's literal
    std::string raw;   // a string's literal, quotes included (custom decoders compare it)
    std::vector<Node> items;
    std::vector<std::pair<std::string, Node>> members;

    Node() = default;
    Node(const Node&) = default;
    Node(Node&&) noexcept = default;
    Node& operator=(const Node&) = default;
    Node& operator=(Node&&) noexcept = default;
    ~Node();  // iterative: a tree may be 10000 levels deep (Go's limit)
};

// One JSON value with Go's syntax errors ("unexpected end of JSON input", "invalid character
// 'x' looking for beginning of value", ...).
std::expected<Node, std::string> parse(std::string_view text);

// What json.Unmarshal into interface{} and json.Marshal back make of a value: objects become
// maps (last duplicate wins, keys sorted), numbers pass through float64. Go's signing-key
// decoder does this round trip. Fails like Go for numbers beyond float64.
std::expected<Node, std::string> interface_round_trip(const Node& n);

struct Type;
// A type with its own UnmarshalJSON: gets every value, null included; an error stops decoding.
using Custom = std::optional<std::string> (*)(const Node& value, boost::json::value& target);

struct Field {
    std::string name;  // the JSON name
    const Type* type;
};

struct Type {
    enum Kind {
        String,
        Int,
        Uint,
        Bool,
        Struct,
        Slice,
        Map,
        Pointer,
        Interface,
        Custom
    } kind = String;
    std::string go_name;      // as Go prints the type: "int64", "jwt.StringList", "jwt.Permission"
    std::string struct_name;  // a struct's name without package ("" for an anonymous struct)
    int bits = 64;            // for Int and Uint
    std::vector<Field> fields;   // Struct, embedded structs' fields flattened in
    const Type* elem = nullptr;  // Slice, Map, Pointer
    gojson::Custom custom = nullptr;
};

// json.Unmarshal(node, &target) with `target` already holding defaults. Returns the error.
std::optional<std::string> unmarshal(const Node& node, const Type& type,
                                     boost::json::value& target);

// How Go's decoder names a JSON value in type errors: "bool", "number", "string", "array",
// "object", "null".
std::string value_name(const Node& n);

// Go's %q of a string (strconv.Quote).
std::string go_quote(std::string_view s);

}  // namespace osprey::server::auth::gojson
