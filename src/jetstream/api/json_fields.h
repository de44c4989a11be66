// Typed reads of optional fields of an API request's JSON: absent or null gives the default,
// a field of the wrong type throws BadField (the caller answers "invalid JSON").
#pragma once
#include <boost/json.hpp>
#include <cstdint>
#include <string>
#include <string_view>

namespace osprey::jetstream::fields {

struct BadField {};

inline std::int64_t integer(const boost::json::object& o, std::string_view k, std::int64_t def = 0) {
    auto it = o.find(k);
    if (it == o.end() || it->value().is_null()) return def;
    const auto& v = it->value();
    if (v.is_int64()) return v.get_int64();
    if (v.is_uint64()) return std::int64_t(v.get_uint64());
    throw BadField{};  // Go does not decode 1.5 (or 1e3) into an integer
}

inline bool boolean(const boost::json::object& o, std::string_view k, bool def = false) {
    auto it = o.find(k);
    if (it == o.end() || it->value().is_null()) return def;
    if (!it->value().is_bool()) throw BadField{};
    return it->value().get_bool();
}

inline std::string string(const boost::json::object& o, std::string_view k) {
    auto it = o.find(k);
    if (it == o.end() || it->value().is_null()) return {};
    if (!it->value().is_string()) throw BadField{};
    return std::string(it->value().get_string());
}

}  // namespace osprey::jetstream::fields
