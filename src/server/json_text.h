// JSON text as nats-server's Go encoder writes it: <, > and & escaped as \u003c, \u003e,
// \u0026 (these only occur inside strings in JSON text, so the whole text is escaped).
#pragma once
#include <boost/json/value.hpp>
#include <string>

namespace osprey::server {

std::string go_json(const boost::json::value& v);

}  // namespace osprey::server
