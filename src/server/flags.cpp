#include "server/flags.h"

#include <charconv>
#include <map>

namespace osprey::server {

namespace {

struct FlagDef {
    const char* canonical;
    bool boolean;
};

// Every spelling nats-server accepts, mapped to one canonical name.
const std::map<std::string, FlagDef, std::less<>>& flag_table() {
    static const std::map<std::string, FlagDef, std::less<>> t = {
        {"a", {"addr", false}},          {"addr", {"addr", false}},
        {"net", {"addr", false}},        {"p", {"port", false}},
        {"port", {"port", false}},       {"n", {"name", false}},
        {"name", {"name", false}},       {"server_name", {"name", false}},
        {"P", {"pid", false}},           {"pid", {"pid", false}},
        {"m", {"http_port", false}},     {"http_port", {"http_port", false}},
        {"c", {"config", false}},        {"config", {"config", false}},
        {"t", {"test", true}},           {"l", {"log", false}},
        {"log", {"log", false}},         {"T", {"logtime", true}},
        {"logtime", {"logtime", true}},  {"D", {"debug", true}},
        {"debug", {"debug", true}},      {"V", {"trace", true}},
        {"trace", {"trace", true}},      {"VV", {"trace", true}},
        {"DV", {"debug_trace", true}},   {"DVV", {"debug_trace", true}},
        {"user", {"user", false}},       {"pass", {"pass", false}},
        {"auth", {"auth", false}},       {"ports_file_dir", {"ports_file_dir", false}},
        {"client_advertise", {"client_advertise", false}},
        {"max_traced_msg_len", {"max_traced_msg_len", false}},
        {"h", {"help", true}},           {"help", {"help", true}},
        {"v", {"version", true}},        {"version", {"version", true}},
        {"js", {"jetstream", true}},     {"jetstream", {"jetstream", true}},
        {"sd", {"store_dir", false}},    {"store_dir", {"store_dir", false}},
        {"cluster", {"cluster", false}}, {"cluster_listen", {"cluster", false}},
        {"cluster_name", {"cluster_name", false}},
        {"routes", {"routes", false}},   {"no_advertise", {"no_advertise", true}},
        {"cluster_advertise", {"cluster_advertise", false}},
        {"connect_retries", {"connect_retries", false}},
        {"sl", {"signal", false}},       {"signal", {"signal", false}},
        {"tls", {"tls", true}},          {"tlscert", {"tlscert", false}},
        {"tlskey", {"tlskey", false}},   {"tlscacert", {"tlscacert", false}},
        {"tlsverify", {"tlsverify", true}},
        {"ms", {"https_port", false}},   {"https_port", {"https_port", false}},
    };
    return t;
}

std::expected<bool, std::string> parse_bool(const std::string& v) {
    if (v == "1" || v == "t" || v == "T" || v == "true" || v == "TRUE" || v == "True")
        return true;
    if (v == "0" || v == "f" || v == "F" || v == "false" || v == "FALSE" || v == "False")
        return false;
    return std::unexpected("invalid boolean value \"" + v + "\"");
}

std::expected<int, std::string> parse_int(const std::string& name, const std::string& v) {
    int x = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    if (ec != std::errc() || p != v.data() + v.size())
        return std::unexpected("invalid value \"" + v + "\" for flag -" + name +
                               ": parse error");
    return x;
}

}  // namespace

std::expected<FlagResult, std::string> parse_flags(const std::vector<std::string>& args) {
    FlagResult r;
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string a = args[i];
        if (a == "--") break;
        if (a.size() < 2 || a[0] != '-') break;  // Go stops at the first non-flag
        std::string body = a.substr(a[1] == '-' ? 2 : 1);
        std::string name = body, value;
        bool has_value = false;
        if (auto eq = body.find('='); eq != std::string::npos) {
            name = body.substr(0, eq);
            value = body.substr(eq + 1);
            has_value = true;
        }
        auto it = flag_table().find(name);
        if (it == flag_table().end())
            return std::unexpected("flag provided but not defined: -" + name);
        const FlagDef& def = it->second;
        if (def.boolean) {
            if (!has_value) value = "true";
            auto b = parse_bool(value);
            if (!b) return std::unexpected(b.error() + " for flag -" + name);
            value = *b ? "true" : "false";
        } else if (!has_value) {
            if (i + 1 >= args.size())
                return std::unexpected("flag needs an argument: -" + name);
            value = args[++i];
        }
        std::string canon = def.canonical;
        if (canon == "help") {
            r.show_help = value == "true";
        } else if (canon == "version") {
            r.show_version = value == "true";
        } else if (canon == "config") {
            r.config_file = value;
        } else {
            r.given.emplace_back(canon, value);
        }
    }
    return r;
}

std::expected<void, std::string> apply_flags(const FlagResult& f, Options& o) {
    for (const auto& [name, value] : f.given) {
        if (name == "addr") {
            o.host = value;
        } else if (name == "port") {
            auto v = parse_int("port", value);
            if (!v) return std::unexpected(v.error());
            o.port = *v;
        } else if (name == "http_port") {
            auto v = parse_int("http_port", value);
            if (!v) return std::unexpected(v.error());
            o.http_port = *v;
        } else if (name == "name") {
            o.server_name = value;
        } else if (name == "pid") {
            o.pid_file = value;
        } else if (name == "test") {
            o.check_config = value == "true";
        } else if (name == "log") {
            o.log_file = value;
        } else if (name == "logtime") {
            o.logtime = value == "true";
        } else if (name == "debug") {
            o.debug = value == "true";
        } else if (name == "trace") {
            o.trace = value == "true";
        } else if (name == "debug_trace") {
            o.debug = o.trace = value == "true";
        } else if (name == "user") {
            o.username = value;
        } else if (name == "pass") {
            o.password = value;
        } else if (name == "auth") {
            o.token = value;
        } else if (name == "ports_file_dir") {
            o.ports_file_dir = value;
        } else if (name == "jetstream") {
            o.jetstream = value == "true";
        } else if (name == "store_dir") {
            o.store_dir = value;
        } else if (name == "cluster") {
            // A URL, nats://[user:pass@]host:port (nats-server's --cluster); empty: none.
            if (value.empty()) {
                o.cluster.port = 0;
                continue;
            }
            const auto scheme = value.find("://");
            if (scheme == std::string::npos)
                return std::unexpected("parse \"" + value + "\": first path segment in URL cannot contain colon");
            std::string rest = value.substr(scheme + 3);
            if (auto at = rest.rfind('@'); at != std::string::npos) {
                const std::string cred = rest.substr(0, at);
                rest = rest.substr(at + 1);
                const auto colon = cred.find(':');
                if (colon == std::string::npos) return std::unexpected(std::string("expected cluster password to be set"));
                o.cluster.user = cred.substr(0, colon);
                o.cluster.password = cred.substr(colon + 1);
            } else {
                // As nats-server: a --cluster URL without credentials clears the config file's.
                o.cluster.user.clear();
                o.cluster.password.clear();
            }
            const auto colon = rest.rfind(':');
            if (colon == std::string::npos) return std::unexpected("cluster url \"" + value + "\" needs a port");
            o.cluster.host = rest.substr(0, colon);
            auto p = parse_int("cluster", rest.substr(colon + 1));
            if (!p) return std::unexpected(p.error());
            o.cluster.port = *p;
        } else if (name == "cluster_name") {
            o.cluster.name = value;
        } else if (name == "routes") {
            o.cluster.routes.clear();
            std::size_t start = 0;
            while (start <= value.size() && !value.empty()) {
                auto comma = value.find(',', start);
                std::string r = value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
                while (!r.empty() && r.front() == ' ') r.erase(0, 1);
                while (!r.empty() && r.back() == ' ') r.pop_back();
                if (!r.empty()) o.cluster.routes.push_back(r);
                if (comma == std::string::npos) break;
                start = comma + 1;
            }
        } else if (name == "no_advertise") {
            o.cluster.no_advertise = value == "true";
        } else if (name == "cluster_advertise") {
            o.cluster.advertise = value;
        } else if (name == "connect_retries") {
            auto v = parse_int("connect_retries", value);
            if (!v) return std::unexpected(v.error());
            o.cluster.connect_retries = *v;
        } else if (name == "signal") {
            o.signal = value;
        } else if (name == "https_port") {
            auto v = parse_int("https_port", value);
            if (!v) return std::unexpected(v.error());
            o.https_port = *v;
        } else if (name == "tls" || name == "tlsverify") {
            // nats-server's overrideTLS: any TLS flag turns TLS on, with the flags' files.
            const bool on = value == "true";
            if (name == "tlsverify") o.tls.verify = on;
            if (on) o.tls_enabled = true;
        } else if (name == "tlscert") {
            o.tls.cert_file = value;
            o.tls_enabled = true;
        } else if (name == "tlskey") {
            o.tls.key_file = value;
            o.tls_enabled = true;
        } else if (name == "tlscacert") {
            o.tls.ca_file = value;
            o.tls_enabled = true;
        } else if (name == "client_advertise" || name == "max_traced_msg_len") {
            // Accepted for script compatibility; said at start-up, as the config file says it.
            o.config_warnings.push_back("flag --" + name + " is not supported by osprey yet and is ignored");
        }
    }
    return {};
}

std::string usage_text() {
    return R"(
Usage: osprey [options]

Server Options:
    -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)
    -p, --port <port>                Use port for clients (default: 4222)
    -n, --name
        --server_name <server_name>  Server name (default: auto)
    -P, --pid <file>                 File to store PID
    -m, --http_port <port>           Use port for http monitoring
    -c, --config <file>              Configuration file
    -t                               Test configuration and exit
        --ports_file_dir <dir>       Creates a ports file in the specified directory (osprey_<pid>.ports).

Logging Options:
    -l, --log <file>                 File to redirect log output
    -T, --logtime                    Timestamp log entries (default: true)
    -D, --debug                      Enable debugging output
    -V, --trace                      Trace the raw protocol
    -DV                              Debug and trace

JetStream Options:
    -js, --jetstream                 Enable JetStream functionality
    -sd, --store_dir <dir>           Set the storage directory

TLS Options:
        --tls                        Enable TLS, do not verify clients (default: false)
        --tlscert <file>             Server certificate file
        --tlskey <file>              Private key for server certificate
        --tlsverify                  Enable TLS, verify client certificates
        --tlscacert <file>           Client certificate CA for verification
    -ms,--https_port <port>          Use port for https monitoring

Authorization Options:
        --user <user>                User required for connections
        --pass <password>            Password required for connections
        --auth <token>               Authorization token required for connections

Common Options:
    -h, --help                       Show this message
    -v, --version                    Show version
)";
}

}  // namespace osprey::server
