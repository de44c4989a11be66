#include "server/json_text.h"

#include <boost/json/serialize.hpp>

namespace osprey::server {

std::string go_json(const boost::json::value& v) {
    std::string s = boost::json::serialize(v), out;
    out.reserve(s.size() + 16);
    for (char c : s) {
        if (c == '>') out += "\\u003e";
        else if (c == '<') out += "\\u003c";
        else if (c == '&') out += "\\u0026";
        else out += c;
    }
    return out;
}

}  // namespace osprey::server
