// The CONNECT options a client sends, parsed from its JSON.
#pragma once
#include <expected>
#include <string>
#include <string_view>

namespace osprey::server {

struct ConnectOpts {
    bool verbose = true;  // nats-server's defaults before CONNECT arrives
    bool pedantic = true;
    bool echo = true;
    bool headers = false;
    bool no_responders = false;
    bool tls_required = false;
    int protocol = 0;
    std::string name, lang, version;
    std::string user, pass, auth_token;
    std::string nkey, sig, jwt;  // nkey users and operator mode: the key, its nonce signature
    std::string account;         // refused after authentication (nats-server)
    bool new_account = false;
};

// Fills `opts` from the JSON of a CONNECT; returns an error text for the log on bad JSON or a
// field of the wrong type (nats-server closes the connection then).
std::expected<void, std::string> parse_connect(std::string_view json, ConnectOpts& opts);

}  // namespace osprey::server
