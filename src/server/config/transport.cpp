// The tls {} and websocket {} blocks, with nats-server 2.9.10's keys and error texts
// (opts.go parseTLS, parseWebsocket, parseSimpleAuth).
#include <fmt/format.h>

#include "server/config/mapper.h"
#include "transport/tls_context.h"

namespace osprey::server::config {

transport::TlsConfig Mapper::tls(const conf::Value& v) const {
    if (!v.is_map()) fail(v, "error parsing tls config, expected a map");
    transport::TlsConfig t;
    auto file = [&](const conf::Value& x, const std::string& k) {
        if (!x.is_string()) fail(x, "error parsing tls config, expected '" + k + "' to be filename");
        return x.str();
    };
    auto flag = [&](const conf::Value& x, const std::string& k) {
        if (!x.is_bool()) fail(x, "error parsing tls config, expected '" + k + "' to be a boolean");
        return x.boolean();
    };
    for (const auto& [k, x] : v.map()) {
        const auto key = lower(k);
        if (key == "cert_file") {
            t.cert_file = file(x, "cert_file");
        } else if (key == "key_file") {
            t.key_file = file(x, "key_file");
        } else if (key == "ca_file") {
            t.ca_file = file(x, "ca_file");
        } else if (key == "insecure") {
            t.insecure = flag(x, "insecure");
        } else if (key == "verify") {
            t.verify = flag(x, "verify");
        } else if (key == "verify_and_map") {
            const bool b = flag(x, "verify_and_map");
            if (b) t.verify = true;
            t.verify_and_map = b;
        } else if (key == "cipher_suites" || key == "curve_preferences") {
            const bool ciphers = key == "cipher_suites";
            if (!x.is_array() || x.array().empty())
                fail(x, "error parsing tls config, '" + key + "' cannot be empty");
            for (const auto& e : x.array()) {
                const std::string name = str(e, key);
                if (ciphers && !transport::known_cipher_suite(name)) fail(e, "unrecognized cipher " + name);
                if (!ciphers && !transport::known_curve(name)) fail(e, "unrecognized curve preference " + name);
                (ciphers ? t.cipher_suites : t.curve_preferences).push_back(name);
            }
        } else if (key == "timeout") {
            if (x.is_int()) t.timeout_ms = x.integer() * 1000;
            else if (x.is_double()) t.timeout_ms = std::int64_t(std::get<double>(x.v) * 1000);
            else if (x.is_string()) t.timeout_ms = duration_ms(x, "timeout");
            else fail(x, "error parsing tls config, 'timeout' wrong type");
        } else if (key == "min_version") {
            // nats-server 2.10's key; 2.9.10 has a fixed minimum of TLS 1.2.
            t.min_version = str(x, k);
            if (t.min_version != "1.2" && t.min_version != "1.3")
                fail(x, "error parsing tls config, unknown version '" + t.min_version + "'");
        } else if (key == "verify_cert_and_check_known_urls") {
            if (flag(x, key)) fail(x, "verify_cert_and_check_known_urls not supported in this context");
        } else if (key == "pinned_certs" || key == "connection_rate_limit" || key == "cert_store" ||
                   key == "cert_match_by" || key == "cert_match") {
            not_implemented(k, x, true);
        } else {
            if (x.used_as_variable) continue;
            fail(x, fmt::format("error parsing tls config, unknown field [\"{}\"]", k));
        }
    }
    return t;
}

void Mapper::websocket(const conf::Value& v) {
    if (!v.is_map()) fail(v, "Expected websocket to be a map");
    WebsocketOptions& w = o_.websocket;
    for (const auto& [k, x] : v.map()) {
        const auto key = lower(k);
        if (key == "listen") {
            if (x.is_int()) w.port = int(x.integer());
            else hostport(x, w.host, w.port, k);
        } else if (key == "port") {
            w.port = int(integer(x, k));
        } else if (key == "host" || key == "net") {
            w.host = str(x, k);
        } else if (key == "advertise") {
            w.advertise = str(x, k);
        } else if (key == "no_tls") {
            w.no_tls = boolean(x, k);
        } else if (key == "tls") {
            w.tls = tls(x);
            if (w.tls.cert_file.empty() || w.tls.key_file.empty())
                fail(x, w.tls.cert_file.empty() ? "missing 'cert_file' in TLS configuration"
                                                : "missing 'key_file' in TLS configuration");
            if (auto ctx = transport::TlsContext::make(w.tls); !ctx) fail(x, ctx.error());
        } else if (key == "same_origin") {
            w.same_origin = boolean(x, k);
        } else if (key == "allowed_origins" || key == "allowed_origin" || key == "allow_origins" ||
                   key == "allow_origin" || key == "origins" || key == "origin") {
            w.allowed_origins = strings(x, k);
        } else if (key == "handshake_timeout") {
            w.handshake_timeout_ms = duration_ms(x, k);
        } else if (key == "compress" || key == "compression") {
            w.compression = boolean(x, k);
        } else if (key == "authorization" || key == "authentication") {
            if (!x.is_map()) fail(x, "expected a map for websocket authorization");
            for (const auto& [ak, av] : x.map()) {
                const auto akey = lower(ak);
                if (akey == "user" || akey == "username") w.username = str(av, ak);
                else if (akey == "pass" || akey == "password") w.password = str(av, ak);
                else if (akey == "token") w.token = str(av, ak);
                else if (akey == "timeout") w.auth_timeout_ms = av.is_int() || av.is_double() ? duration_ms(av, ak) : 1000;
                else unknown(ak, av);
            }
        } else if (key == "jwt_cookie") {
            w.jwt_cookie = str(x, k);
        } else if (key == "no_auth_user") {
            w.no_auth_user = str(x, k);
        } else {
            unknown(k, x);
        }
    }
}

}  // namespace osprey::server::config
