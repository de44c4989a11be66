// The top level of a nats-server config and its jetstream block.
#include "server/config/mapper.h"
#include "transport/tls_context.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "server/auth/checks.h"
#include "server/config.h"
#include "server/auth/connect.h"
#include "server/auth/nkey.h"

namespace osprey::server::config {

namespace {

// How Go's %T names a config value's type in nats-server's errors.
std::string go_type(const conf::Value& v) {
    if (v.is_string()) return "string";
    if (v.is_int()) return "int64";
    if (v.is_double()) return "float64";
    if (v.is_bool()) return "bool";
    if (v.is_array()) return "[]interface {}";
    return "map[string]interface {}";
}

// readOperatorJWT: a file (possibly decorated), else the value itself when it is a JWT.
std::expected<std::string, std::string> read_operator_jwt(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::string contents;
    if (f) {
        std::ostringstream ss;
        ss << f.rdbuf();
        contents = ss.str();
    } else {
        if (!path.starts_with("eyJ")) {
            std::string err = std::strerror(errno);
            if (!err.empty()) err[0] = char(std::tolower((unsigned char)err[0]));
            return std::unexpected("open " + path + ": " + err);
        }
        contents = path;
    }
    std::string jwt = auth::parse_decorated_jwt(contents);
    auto op = auth::decode_operator(jwt);
    if (!op) return std::unexpected(op.error());
    return jwt;
}

// nats-server 2.9.10 keys osprey does not implement yet. Refused: running without them would
// leave a port closed, a security check undone or messages routed otherwise. Warned: the
// server behaves correctly without them (tuning, reporting, cluster-only hints).
struct Missing {
    const char* key;
    bool refuse;
};
constexpr Missing kMissing[] = {
    {"gateway", true},
    {"leaf", true},             {"leafnodes", true},
    {"http_base_path", true},   {"mqtt", true},
    {"resolver_tls", true},  // for URL resolvers, which osprey does not have
    {"mappings", true},         {"maps", true},
    {"ocsp", true},             {"syslog", true},
    {"remote_syslog", true},    {"no_header_support", true},
    {"max_sub_tokens", true},   {"max_subscription_tokens", true},
    {"client_advertise", false}, {"disable_sublist_cache", false},
    {"no_sublist_cache", false}, {"logfile_size_limit", false},
    {"log_size_limit", false},  {"prof_port", false},
    {"max_traced_msg_len", false}, {"no_system_account", false},
    {"no_system", false},       {"no_sys_acc", false},
    {"connect_error_reports", false}, {"reconnect_error_reports", false},
    {"default_js_domain", false},
};

}  // namespace

void Mapper::jetstream(const conf::Value& v) {
    if (!v.is_map()) {
        o_.jetstream = boolean(v, "jetstream");
        return;
    }
    o_.jetstream = true;
    for (const auto& [jk, jv] : v.map()) {
        auto jkey = lower(jk);
        if (jkey == "store_dir" || jkey == "storedir" || jkey == "store") {
            o_.store_dir = str(jv, jk);
        } else if (jkey == "enabled" || jkey == "enable") {
            o_.jetstream = boolean(jv, jk);
        } else if (jkey == "disabled" || jkey == "disable") {
            o_.jetstream = !boolean(jv, jk);
        } else if (jkey == "max_memory_store" || jkey == "max_mem_store" || jkey == "max_mem") {
            o_.js_max_memory = integer(jv, jk);
        } else if (jkey == "max_file_store" || jkey == "max_file") {
            o_.js_max_file = integer(jv, jk);
        } else if (jkey == "domain") {
            o_.js_domain = str(jv, jk);
        } else if (jkey == "sync_interval" || jkey == "sync") {
            // nats-server 2.10's option: a duration, or "always" (osprey's default).
            if (jv.is_string() && lower(jv.str()) == "always") {
                o_.js_sync_interval_ms = 0;
            } else {
                o_.js_sync_interval_ms = duration_ms(jv, jk);
                if (o_.js_sync_interval_ms <= 0) o_.js_sync_interval_ms = 0;
            }
        } else if (jkey == "key" || jkey == "ek" || jkey == "encryption_key" || jkey == "cipher" ||
                   jkey == "limits") {
            not_implemented(jk, jv, true);  // encryption at rest, server-wide limits
        } else if (jkey == "unique_tag" || jkey == "max_outstanding_catchup" || jkey == "extension_hint") {
            not_implemented(jk, jv, false);
        } else {
            unknown(jk, jv);
        }
    }
}

void Mapper::cluster(const conf::Value& v) {
    if (!v.is_map()) fail(v, "Expected map to define cluster");
    ClusterOptions& c = o_.cluster;
    bool port_set = false;
    for (const auto& [ck, cv] : v.map()) {
        auto key = lower(ck);
        if (key == "name") {
            c.name = str(cv, ck);
        } else if (key == "listen") {
            if (cv.is_int()) {
                c.port = int(cv.integer());
            } else {
                hostport(cv, c.host, c.port, ck);
            }
            port_set = true;
        } else if (key == "host" || key == "net") {
            c.host = str(cv, ck);
        } else if (key == "port") {
            c.port = int(integer(cv, ck));
            port_set = true;
        } else if (key == "routes") {
            if (!cv.is_array()) fail(cv, "interface conversion: interface {} is string, not []interface {}");
            for (const auto& r : cv.array()) {
                const std::string url = str(r, ck);
                if (std::find(c.routes.begin(), c.routes.end(), url) != c.routes.end()) {
                    o_.config_warnings.push_back("Duplicate route entry detected: " + url);
                    continue;
                }
                c.routes.push_back(url);
            }
        } else if (key == "authorization") {
            if (!cv.is_map()) fail(cv, "expected a map for cluster authorization");
            for (const auto& [ak, av] : cv.map()) {
                auto akey = lower(ak);
                if (akey == "user" || akey == "username") c.user = str(av, ak);
                else if (akey == "password" || akey == "pass") c.password = str(av, ak);
                else if (akey == "timeout") c.auth_timeout_ms = duration_ms(av, ak);
                else if (akey == "users") fail(av, "Cluster authorization does not allow multiple users");
                else if (akey == "token") fail(av, "Cluster authorization does not support tokens");
                else if (akey == "permissions") not_implemented(ak, av, true);
                else unknown(ak, av);
            }
        } else if (key == "advertise" || key == "cluster_advertise") {
            c.advertise = str(cv, ck);
        } else if (key == "no_advertise") {
            c.no_advertise = boolean(cv, ck);
        } else if (key == "connect_retries") {
            c.connect_retries = int(integer(cv, ck));
        } else if (key == "tls" || key == "permissions") {
            not_implemented(ck, cv, true);
        } else {
            unknown(ck, cv);  // pool_size, compression, accounts: 2.10's, unknown to 2.9.10
        }
    }
    (void)port_set;
}

void Mapper::apply_key(const std::string& k, const conf::Value& v) {
    Options& o = o_;
    auto key = lower(k);
    if (key == "listen") {
        hostport(v, o.host, o.port, k);
    } else if (key == "host" || key == "net") {
        o.host = str(v, k);
    } else if (key == "port") {
        o.port = int(integer(v, k));
    } else if (key == "server_name") {
        o.server_name = str(v, k);
    } else if (key == "server_tags") {
        for (std::string t : strings(v, k)) {
            t.erase(0, t.find_first_not_of(" \t"));
            t.erase(t.find_last_not_of(" \t") + 1);
            t = lower(t);
            if (!t.empty() && std::find(o.server_tags.begin(), o.server_tags.end(), t) == o.server_tags.end())
                o.server_tags.push_back(t);
        }
    } else if (key == "http_port" || key == "monitor_port") {
        o.http_port = int(integer(v, k));
    } else if (key == "http") {
        if (v.is_int()) {
            o.http_port = int(v.integer());
        } else {
            hostport(v, o.http_host, o.http_port, k);
        }
    } else if (key == "https") {
        if (v.is_int()) o.https_port = int(v.integer());
        else hostport(v, o.http_host, o.https_port, k);
    } else if (key == "https_port") {
        o.https_port = int(integer(v, k));
    } else if (key == "tls") {
        o.tls = tls(v);
        o.tls_enabled = true;
        if (auto ctx = transport::TlsContext::make(o.tls); !ctx) fail(v, ctx.error());
    } else if (key == "allow_non_tls") {
        o.allow_non_tls = boolean(v, k);
    } else if (key == "websocket" || key == "ws") {
        websocket(v);
    } else if (key == "pid_file" || key == "pidfile") {
        o.pid_file = str(v, k);
    } else if (key == "ports_file_dir") {
        o.ports_file_dir = str(v, k);
    } else if (key == "log_file" || key == "logfile") {
        o.log_file = str(v, k);
    } else if (key == "logtime") {
        o.logtime = boolean(v, k);
    } else if (key == "debug") {
        o.debug = boolean(v, k);
    } else if (key == "trace" || key == "trace_verbose") {
        o.trace = boolean(v, k);
    } else if (key == "max_payload") {
        o.max_payload = integer(v, k);
    } else if (key == "max_control_line") {
        o.max_control_line = integer(v, k);
    } else if (key == "max_connections" || key == "max_conn") {
        o.max_connections = int(integer(v, k));
    } else if (key == "max_pending") {
        o.max_pending = integer(v, k);
    } else if (key == "max_subscriptions" || key == "max_subs") {
        o.max_subs = int(integer(v, k));
    } else if (key == "ping_interval") {
        o.ping_interval_ms = duration_ms(v, k);
    } else if (key == "ping_max") {
        o.ping_max = int(integer(v, k));
    } else if (key == "write_deadline") {
        o.write_deadline_ms = duration_ms(v, k);
    } else if (key == "no_fast_producer_stall") {
        o.no_fast_producer_stall = boolean(v, k);
    } else if (key == "authorization") {
        authorization(v);
    } else if (key == "accounts") {
        accounts(v);
    } else if (key == "no_auth_user") {
        o.no_auth_user = str(v, k);
    } else if (key == "system_account" || key == "system") {
        o.system_account = str(v, k);
        system_set_ = true;
    } else if (key == "operator" || key == "operators" || key == "roots" || key == "root" ||
               key == "root_operators" || key == "root_operator") {
        if (!v.is_string()) fail(v, "error parsing operators: unsupported type " + go_type(v));
        auto jwt = read_operator_jwt(v.str());
        if (!jwt) fail(v, "error parsing operator JWT: " + jwt.error());
        o.trusted_operators = {*jwt};
    } else if (key == "trusted" || key == "trusted_keys") {
        if (!v.is_string() && !v.is_array()) fail(v, "error parsing trusted: unsupported type " + go_type(v));
        o.trusted_keys.clear();
        if (v.is_string()) {
            o.trusted_keys.push_back(v.str());
        } else {
            for (const auto& e : v.array()) {
                if (!e.is_string()) fail(e, "error parsing trusted: unsupported type in array " + go_type(e));
                o.trusted_keys.push_back(e.str());
            }
        }
        for (const auto& tk : o.trusted_keys)
            if (!auth::is_valid_public(auth::kOperator, tk))
                fail(v, "trust key \"" + tk + "\" required to be a valid public operator nkey");
    } else if (key == "resolver" || key == "account_resolver" || key == "accounts_resolver") {
        // nats-server's patterns, matched anywhere in the text (case-insensitive).
        static const std::regex mem("(MEM|MEMORY)\\s*", std::regex::icase);
        static const std::regex url("URL", std::regex::icase);
        if (v.is_map()) {
            resolver_map(v);
        } else if (!v.is_string()) {
            fail(v, "error parsing operator resolver, wrong type " + go_type(v));
        } else if (std::regex_search(v.str(), mem)) {
            o.resolver = "MEMORY";
        } else if (std::regex_search(v.str(), url)) {
            fail(v, "\"" + k + "\": URL account resolvers are not supported by osprey yet");
        } else {
            fail(v, "error parsing account resolver, should be MEM or  URL(\"url\") or a map containing dir and type state=[FULL|CACHE])");
        }
    } else if (key == "resolver_preload") {
        if (!v.is_map()) fail(v, "preload should be a map of account_public_key:account_jwt");
        o.resolver_preload.clear();
        for (const auto& [pk, pv] : v.map()) {
            if (!pv.is_string()) fail(pv, "preload map value should be a string JWT");
            if (!auth::decode_account(pv.str())) fail(pv, "invalid account JWT");
            o.resolver_preload.emplace_back(pk, pv.str());
        }
    } else if (key == "resolver_pinned_accounts") {
        o.resolver_pinned_accounts.clear();
        if (v.is_string()) {
            o.resolver_pinned_accounts.push_back(v.str());
        } else if (v.is_array()) {
            for (const auto& e : v.array()) {
                if (!e.is_string())
                    fail(e, "error parsing resolver_pinned_accounts: unsupported type in array " + go_type(e));
                o.resolver_pinned_accounts.push_back(e.str());
            }
        } else {
            fail(v, "error parsing resolver_pinned_accounts: unsupported type " + go_type(v));
        }
    } else if (key == "jetstream") {
        jetstream(v);
    } else if (key == "store_dir" || key == "storedir") {
        o.store_dir = str(v, k);
    } else if (key == "cluster") {
        cluster(v);
    } else if (key == "lame_duck_duration") {
        o.lame_duck_duration_ms = duration_ms(v, k);
        if (o.lame_duck_duration_ms < 30000) fail(v, "lame_duck_duration should be at least 30s");
    } else if (key == "lame_duck_grace_period") {
        o.lame_duck_grace_ms = duration_ms(v, k);
        if (o.lame_duck_grace_ms < 0) fail(v, "invalid lame_duck_grace_period, needs to be positive");
    } else {
        bool known = false;
        for (const auto& m : kMissing) {
            if (key == m.key) {
                not_implemented(k, v, m.refuse);
                known = true;
                break;
            }
        }
        if (!known) unknown(k, v);
    }
}

void Mapper::apply(const conf::Map& top) {
    Options& o = o_;
    // As nats-server: every key is read and every refusal reported, one line each.
    for (const auto& [k, v] : top) {
        try {
            apply_key(k, v);
        } catch (const ConfigError& e) {
            errors_.push_back(e.msg);
        }
    }
    if (!errors_.empty()) {
        std::string all;
        for (const auto& e : errors_) all += (all.empty() ? "" : "\n") + e;
        throw ConfigError{all};
    }
    check_auth();
    check_imports();
    check_operator();
    if (!o.operator_mode() && o.system_account != "$SYS" &&
        std::none_of(o.accounts.begin(), o.accounts.end(), [&](const AccountDef& a) { return a.name == o.system_account; }))
        throw ConfigError{"system account \"" + o.system_account + "\": account missing"};
    if (o.max_payload <= 0) throw ConfigError{"max_payload must be positive"};
    if (o.max_payload > 64LL * 1024 * 1024) throw ConfigError{"max_payload cannot exceed 64 MB"};
}

void Mapper::resolver_map(const conf::Value& v) {
    // nats-server's map form: type FULL or CACHE (any case), dir, allow_delete, limit, ttl,
    // interval, timeout. A value of another type is Go's failed type assertion.
    auto want_string = [&](const conf::Value& x) -> const std::string& {
        if (!x.is_string()) fail(x, "interface conversion: interface {} is " + go_type(x) + ", not string");
        return x.str();
    };
    std::string type, dir;
    bool has_ttl = false, has_interval = false, has_timeout = false;
    for (const auto& [name, x] : v.map()) {
        const std::string n = lower(name);
        if (n == "type") {
            type = want_string(x);
        } else if (n == "dir") {
            dir = want_string(x);
        } else if (n == "allow_delete") {
            if (!x.is_bool()) fail(x, "interface conversion: interface {} is " + go_type(x) + ", not bool");
            o_.resolver_allow_delete = x.boolean();

        } else if (n == "limit") {
            if (!x.is_int()) fail(x, "interface conversion: interface {} is " + go_type(x) + ", not int64");
            o_.resolver_limit = x.integer();
        } else if (n == "ttl" || n == "interval" || n == "timeout") {
            auto d = parse_duration_ms(want_string(x));
            if (!d) fail(x, d.error());
            if (n == "timeout" && *d <= 0) fail(x, "Fetch timeout " + want_string(x) + " is too smal");
            if (n == "timeout") o_.resolver_timeout_ms = *d;
            if (n == "interval" && *d > 0) o_.resolver_interval_ms = *d;
            if (n == "ttl") o_.resolver_ttl_ms = *d;
            (n == "ttl" ? has_ttl : n == "interval" ? has_interval : has_timeout) = true;
        } else {
            // nats-server ignores other keys; osprey names them.
            o_.config_warnings.push_back("resolver: unknown key \"" + name + "\" ignored");
        }
    }
    const std::string t = lower(type);
    if (t != "full" && t != "cache")
        fail(v, "error parsing account resolver, should be MEM or  URL(\"url\") or a map containing dir and type state=[FULL|CACHE])");
    if (dir.empty()) fail(v, "dir has no value and needs to point to a directory");
    std::error_code ec;
    if (std::filesystem::exists(dir, ec) && !std::filesystem::is_directory(dir, ec))
        fail(v, "dir needs to point to an accessible directory");
    o_.resolver_dir = dir;
    if (t == "cache") {
        if (has_interval) fail(v, "CACHE does not accept sync");
        if (o_.resolver_allow_delete) fail(v, "CACHE does not accept allow_delete");
        if (o_.resolver_limit <= 0) o_.resolver_limit = 1000;
        o_.resolver = "CACHE";
        return;
    }
    (void)has_timeout;
    if (has_ttl) fail(v, "FULL does not accept ttl");
    o_.resolver = "FULL";
}

void Mapper::check_operator() {
    Options& o = o_;
    if (!o.trusted_operators.empty()) {
        // validateTrustedOperators, in its order.
        auto op = auth::decode_operator(o.trusted_operators.front());
        if (!op) throw ConfigError{"error parsing operator JWT: " + op.error()};
        if (o.resolver.empty()) {
            // Without a resolver nats-server fetches accounts from the operator's
            // account_server_url (a URL resolver).
            if (op->account_server_url.empty())
                throw ConfigError{"could not fetch <\"/accounts/\">: Get \"/accounts/\": unsupported protocol scheme \"\""};
            throw ConfigError{"\"operator\": the URL account resolver of account_server_url \"" +
                              op->account_server_url + "\" is not supported by osprey yet (set resolver: MEMORY)"};
        }
        if (!o.accounts.empty()) throw ConfigError{"operators do not allow Accounts to be configured directly"};
        if (!o.users.empty() || !o.nkeys.empty())
            throw ConfigError{"operators do not allow users to be configured directly"};
        if (!o.trusted_keys.empty()) throw ConfigError{"conflicting options for 'TrustedKeys' and 'TrustedOperators'"};
        if (system_set_) {
            if (!op->system_account.empty() && op->system_account != o.system_account)
                throw ConfigError{"system_account in config and operator JWT must be identical"};
        } else if (!op->system_account.empty()) {
            o.system_account = op->system_account;
            system_set_ = true;
        }
        if (auto e = auth::check_server_version(*op, 2, 9, 10)) throw ConfigError{*e};
    }
    if (!o.operator_mode()) return;
    if ((o.resolver == "FULL" || o.resolver == "CACHE") && !system_set_)
        throw ConfigError{"using nats based account resolver - the system account needs to be specified in configuration or the operator jwt"};
    if (!o.no_auth_user.empty() && !o.trusted_operators.empty())
        throw ConfigError{"no_auth_user not compatible with Trusted Operator"};
    for (const auto& a : o.resolver_pinned_accounts)
        if (!auth::is_valid_public(auth::kAccount, a))
            throw ConfigError{"pinned account key \"" + a + "\" is not a valid public account nkey"};
    if (!o.resolver_pinned_accounts.empty() && system_set_)
        o.resolver_pinned_accounts.push_back(o.system_account);
    if (system_set_) {
        // The system account is looked up at start (SetSystemAccount).
        std::vector<auth::OperatorClaims> ops;
        for (const auto& j : o.trusted_operators)
            if (auto c = auth::decode_operator(j)) ops.push_back(std::move(*c));
        auth::Trust trust = auth::trusted_keys(ops);
        trust.keys.insert(trust.keys.end(), o.trusted_keys.begin(), o.trusted_keys.end());
        const std::string* jwt = nullptr;
        if (!o.resolver.empty())
            for (const auto& [name, j] : o.resolver_preload)
                if (name == o.system_account) jwt = &j;
        std::string stored;
        if (!jwt && (o.resolver == "FULL" || o.resolver == "CACHE")) {
            // In the directory, or not yet: nats-server then starts with a bootstrapping
            // system account and takes its JWT when one is pushed.
            std::ifstream f(o.resolver_dir + "/" + o.system_account + ".jwt", std::ios::binary);
            stored.assign(std::istreambuf_iterator<char>(f), {});
            if (stored.empty()) return;
            jwt = &stored;
        }
        if (!jwt) throw ConfigError{"error resolving system account: account missing"};
        const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
        if (auto a = auth::verify_account(*jwt, o.system_account, trust, now); !a)
            throw ConfigError{"error resolving system account: " + a.error()};
    }
}

}  // namespace osprey::server::config
