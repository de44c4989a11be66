#include "server/connect_opts.h"

#include <boost/json.hpp>

namespace osprey::server {

namespace json = boost::json;

namespace {
// Reads a field if present; a present field of the wrong type is an error (as Go's decoder).
template <typename T>
bool read_field(const json::object& o, std::string_view key, T& out, std::string& err) {
    auto it = o.find(key);
    if (it == o.end() || it->value().is_null()) return true;
    const json::value& v = it->value();
    if constexpr (std::is_same_v<T, bool>) {
        if (!v.is_bool()) {
            err = "json: cannot unmarshal into Go struct field ClientOpts." + std::string(key) +
                  " of type bool";
            return false;
        }
        out = v.get_bool();
    } else if constexpr (std::is_same_v<T, int>) {
        if (v.is_int64()) {
            out = int(v.get_int64());
        } else if (v.is_uint64()) {
            out = int(v.get_uint64());
        } else {
            err = "json: cannot unmarshal into Go struct field ClientOpts." + std::string(key) +
                  " of type int";
            return false;
        }
    } else {
        if (!v.is_string()) {
            err = "json: cannot unmarshal into Go struct field ClientOpts." + std::string(key) +
                  " of type string";
            return false;
        }
        out = std::string(v.get_string());
    }
    return true;
}
}  // namespace

std::expected<void, std::string> parse_connect(std::string_view text, ConnectOpts& opts) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec) return std::unexpected(ec.message());
    if (!v.is_object()) return std::unexpected(std::string("CONNECT is not a JSON object"));
    const auto& o = v.get_object();
    std::string err;
    bool ok = read_field(o, "verbose", opts.verbose, err) &&
              read_field(o, "pedantic", opts.pedantic, err) &&
              read_field(o, "echo", opts.echo, err) &&
              read_field(o, "headers", opts.headers, err) &&
              read_field(o, "no_responders", opts.no_responders, err) &&
              read_field(o, "tls_required", opts.tls_required, err) &&
              read_field(o, "protocol", opts.protocol, err) &&
              read_field(o, "name", opts.name, err) && read_field(o, "lang", opts.lang, err) &&
              read_field(o, "version", opts.version, err) &&
              read_field(o, "user", opts.user, err) && read_field(o, "pass", opts.pass, err) &&
              read_field(o, "auth_token", opts.auth_token, err) &&
              read_field(o, "nkey", opts.nkey, err) && read_field(o, "sig", opts.sig, err) &&
              read_field(o, "jwt", opts.jwt, err) && read_field(o, "account", opts.account, err) &&
              read_field(o, "new_account", opts.new_account, err);
    if (!ok) return std::unexpected(err);
    return {};
}

}  // namespace osprey::server
