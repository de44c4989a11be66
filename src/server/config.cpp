#include "server/config.h"

#include <fmt/format.h>

#include <cctype>

namespace osprey::server {

namespace {

struct ConfigError {
    std::string msg;
};

std::string lower(std::string_view s) {
    std::string o;
    for (char c : s) o += char(std::tolower((unsigned char)c));
    return o;
}

class Mapper {
public:
    explicit Mapper(std::string file) : file_(std::move(file)) {}

    [[noreturn]] void fail(const conf::Value& v, const std::string& msg) {
        throw ConfigError{fmt::format("{}{}:{}: {}", file_.empty() ? "" : file_ + ":", v.line,
                                      v.col, msg)};
    }

    std::string str(const conf::Value& v, const std::string& key) {
        if (v.is_string()) return v.str();
        if (v.is_int()) return std::to_string(v.integer());
        fail(v, "expected a string for \"" + key + "\"");
    }
    std::int64_t integer(const conf::Value& v, const std::string& key) {
        if (v.is_int()) return v.integer();
        if (v.is_double()) return std::int64_t(std::get<double>(v.v));
        fail(v, "expected a number for \"" + key + "\"");
    }
    bool boolean(const conf::Value& v, const std::string& key) {
        if (v.is_bool()) return v.boolean();
        if (v.is_string()) {
            auto s = lower(v.str());
            if (s == "enabled" || s == "true") return true;
            if (s == "disabled" || s == "false") return false;
        }
        fail(v, "expected a boolean for \"" + key + "\"");
    }
    // Durations: a number of seconds, or a Go duration string.
    std::int64_t duration_ms(const conf::Value& v, const std::string& key) {
        if (v.is_int()) return v.integer() * 1000;
        if (v.is_double()) return std::int64_t(std::get<double>(v.v) * 1000);
        if (v.is_string()) {
            auto d = parse_duration_ms(v.str());
            if (!d) fail(v, "error parsing \"" + key + "\": " + d.error());
            return *d;
        }
        fail(v, "expected a duration for \"" + key + "\"");
    }
    std::vector<std::string> strings(const conf::Value& v, const std::string& key) {
        std::vector<std::string> out;
        if (v.is_array()) {
            for (const auto& e : v.array()) out.push_back(str(e, key));
        } else {
            out.push_back(str(v, key));
        }
        return out;
    }

    SubjectPermission subject_permission(const conf::Value& v) {
        SubjectPermission p;
        if (v.is_map()) {
            for (const auto& [k, e] : v.map()) {
                auto key = lower(k);
                if (key == "allow") {
                    p.allow = strings(e, k);
                } else if (key == "deny") {
                    p.deny = strings(e, k);
                } else {
                    fail(e, "unknown field \"" + k + "\" in permissions");
                }
            }
        } else {
            p.allow = strings(v, "permissions");
        }
        return p;
    }

    Permissions permissions(const conf::Value& v) {
        if (!v.is_map()) fail(v, "expected a map for permissions");
        Permissions p;
        for (const auto& [k, e] : v.map()) {
            auto key = lower(k);
            if (key == "publish" || key == "pub") {
                p.publish = subject_permission(e);
            } else if (key == "subscribe" || key == "sub") {
                p.subscribe = subject_permission(e);
            } else if (key == "allow_responses") {
                // accepted; responses are not restricted by publish permissions here
            } else {
                fail(e, "unknown field \"" + k + "\" in permissions");
            }
        }
        return p;
    }

    std::vector<User> users(const conf::Value& v) {
        if (!v.is_array()) fail(v, "expected an array of users");
        std::vector<User> out;
        for (const auto& u : v.array()) {
            if (!u.is_map()) fail(u, "expected a map for a user");
            User user;
            for (const auto& [k, e] : u.map()) {
                auto key = lower(k);
                if (key == "user" || key == "username") {
                    user.username = str(e, k);
                } else if (key == "password" || key == "pass") {
                    user.password = str(e, k);
                } else if (key == "permissions" || key == "permission") {
                    user.permissions = permissions(e);
                } else if (key == "account") {
                    user.account = str(e, k);
                }
            }
            if (user.username.empty()) fail(u, "user entry without \"user\"");
            out.push_back(std::move(user));
        }
        return out;
    }

    void authorization(const conf::Value& v, Options& o) {
        if (!v.is_map()) fail(v, "expected a map for \"authorization\"");
        for (const auto& [k, e] : v.map()) {
            auto key = lower(k);
            if (key == "user" || key == "username") {
                o.username = str(e, k);
            } else if (key == "password" || key == "pass") {
                o.password = str(e, k);
            } else if (key == "token") {
                o.token = str(e, k);
            } else if (key == "users") {
                o.users = users(e);
            } else if (key == "timeout") {
                o.auth_timeout_ms = duration_ms(e, k);
            } else if (key == "default_permissions" || key == "permissions") {
                o.default_permissions = permissions(e);
            }
        }
    }

    ExportDef export_def(const conf::Value& v) {
        if (!v.is_map()) fail(v, "expected a map for an export");
        ExportDef d;
        bool kind = false;
        for (const auto& [k, e] : v.map()) {
            auto key = lower(k);
            if (key == "stream" || key == "service") {
                d.service = key == "service";
                d.subject = str(e, k);
                kind = true;
            } else if (key == "accounts") {
                d.accounts = strings(e, k);
            }
        }
        if (!kind) fail(v, "export needs \"stream\" or \"service\"");
        return d;
    }

    ImportDef import_def(const conf::Value& v) {
        if (!v.is_map()) fail(v, "expected a map for an import");
        ImportDef d;
        bool kind = false;
        for (const auto& [k, e] : v.map()) {
            auto key = lower(k);
            if (key == "stream" || key == "service") {
                d.service = key == "service";
                if (!e.is_map()) fail(e, "expected {account, subject} for an import");
                if (auto* a = e.find("account")) d.account = str(*a, "account");
                if (auto* s = e.find("subject")) d.subject = str(*s, "subject");
                if (d.account.empty() || d.subject.empty())
                    fail(e, "import needs \"account\" and \"subject\"");
                kind = true;
            } else if (key == "to") {
                d.to = str(e, k);
            } else if (key == "prefix") {
                d.prefix = str(e, k);
            }
        }
        if (!kind) fail(v, "import needs \"stream\" or \"service\"");
        return d;
    }

    void accounts(const conf::Value& v, Options& o) {
        if (!v.is_map()) fail(v, "expected a map for \"accounts\"");
        for (const auto& [name, a] : v.map()) {
            AccountDef def;
            def.name = name;
            if (a.is_map()) {
                for (const auto& [k, e] : a.map()) {
                    auto key = lower(k);
                    if (key == "users") {
                        def.users = users(e);
                    } else if (key == "exports") {
                        if (!e.is_array()) fail(e, "expected an array of exports");
                        for (const auto& x : e.array()) def.exports.push_back(export_def(x));
                    } else if (key == "imports") {
                        if (!e.is_array()) fail(e, "expected an array of imports");
                        for (const auto& x : e.array()) def.imports.push_back(import_def(x));
                    } else if (key == "jetstream") {
                        def.jetstream = e.is_map() ? true : boolean(e, k);
                        if (e.is_map()) {
                            for (const auto& [jk, jv] : e.map()) {
                                auto jkey = lower(jk);
                                if (jkey == "max_mem" || jkey == "max_memory" ||
                                    jkey == "max_memory_store")
                                    def.js_max_memory = integer(jv, jk);
                                else if (jkey == "max_file" || jkey == "max_store" ||
                                         jkey == "max_file_store")
                                    def.js_max_file = integer(jv, jk);
                                else if (jkey == "max_streams")
                                    def.js_max_streams = integer(jv, jk);
                                else if (jkey == "max_consumers")
                                    def.js_max_consumers = integer(jv, jk);
                            }
                        }
                    }
                }
            }
            o.accounts.push_back(std::move(def));
        }
    }

    void hostport(const conf::Value& v, std::string& host, int& port, const std::string& key) {
        std::string s = str(v, key);
        auto colon = s.rfind(':');
        if (colon == std::string::npos) fail(v, "expected host:port for \"" + key + "\"");
        host = s.substr(0, colon);
        if (host.size() > 1 && host.front() == '[' && host.back() == ']')
            host = host.substr(1, host.size() - 2);
        try {
            port = std::stoi(s.substr(colon + 1));
        } catch (...) {
            fail(v, "bad port in \"" + key + "\"");
        }
    }

    void apply(const conf::Map& top, Options& o) {
        for (const auto& [k, v] : top) {
            auto key = lower(k);
            if (key == "listen") {
                hostport(v, o.host, o.port, k);
            } else if (key == "host" || key == "net") {
                o.host = str(v, k);
            } else if (key == "port") {
                o.port = int(integer(v, k));
            } else if (key == "server_name") {
                o.server_name = str(v, k);
            } else if (key == "http_port" || key == "monitor_port") {
                o.http_port = int(integer(v, k));
            } else if (key == "http") {
                if (v.is_int()) {
                    o.http_port = int(v.integer());
                } else {
                    hostport(v, o.http_host, o.http_port, k);
                }
            } else if (key == "pid_file") {
                o.pid_file = str(v, k);
            } else if (key == "ports_file_dir") {
                o.ports_file_dir = str(v, k);
            } else if (key == "log_file" || key == "logfile") {
                o.log_file = str(v, k);
            } else if (key == "logtime") {
                o.logtime = boolean(v, k);
            } else if (key == "debug") {
                o.debug = boolean(v, k);
            } else if (key == "trace") {
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
                authorization(v, o);
            } else if (key == "accounts") {
                accounts(v, o);
            } else if (key == "no_auth_user") {
                o.no_auth_user = str(v, k);
            } else if (key == "system_account") {
                o.system_account = str(v, k);
            } else if (key == "jetstream") {
                if (v.is_map()) {
                    o.jetstream = true;
                    for (const auto& [jk, jv] : v.map()) {
                        auto jkey = lower(jk);
                        if (jkey == "store_dir" || jkey == "storedir") {
                            o.store_dir = str(jv, jk);
                        } else if (jkey == "enabled") {
                            o.jetstream = boolean(jv, jk);
                        } else if (jkey == "max_memory_store" || jkey == "max_mem_store" ||
                                   jkey == "max_mem") {
                            o.js_max_memory = integer(jv, jk);
                        } else if (jkey == "max_file_store" || jkey == "max_file") {
                            o.js_max_file = integer(jv, jk);
                        } else if (jkey == "domain") {
                            o.js_domain = str(jv, jk);
                        } else if (jkey == "sync_interval" || jkey == "sync") {
                            // nats-server's option: a duration, or "always".
                            if (jv.is_string() && lower(jv.str()) == "always") {
                                o.js_sync_interval_ms = 0;
                            } else {
                                o.js_sync_interval_ms = duration_ms(jv, jk);
                                if (o.js_sync_interval_ms <= 0) o.js_sync_interval_ms = 0;
                            }
                        }
                    }
                } else {
                    o.jetstream = boolean(v, k);
                }
            }
            // Other nats-server keys (cluster, tls, leafnodes...) are accepted and not used yet.
        }
        if (o.max_payload <= 0) throw ConfigError{"max_payload must be positive"};
        if (o.max_payload > 64LL * 1024 * 1024)
            throw ConfigError{"max_payload cannot exceed 64 MB"};
    }

private:
    std::string file_;
};

}  // namespace

std::expected<std::int64_t, std::string> parse_duration_ms(std::string_view s) {
    if (s.empty()) return std::unexpected(std::string("invalid duration \"\""));
    double total_ms = 0;
    std::size_t i = 0;
    bool any = false;
    while (i < s.size()) {
        std::size_t start = i;
        while (i < s.size() && (std::isdigit((unsigned char)s[i]) || s[i] == '.')) ++i;
        if (i == start) return std::unexpected("invalid duration \"" + std::string(s) + "\"");
        double n = std::stod(std::string(s.substr(start, i - start)));
        std::size_t us = i;
        while (i < s.size() && std::isalpha((unsigned char)s[i])) ++i;
        std::string unit(s.substr(us, i - us));
        double mult;
        if (unit == "h") mult = 3600e3;
        else if (unit == "m") mult = 60e3;
        else if (unit == "s") mult = 1e3;
        else if (unit == "ms") mult = 1;
        else if (unit == "us" || unit == "µs") mult = 1e-3;
        else if (unit == "ns") mult = 1e-6;
        else return std::unexpected("invalid duration \"" + std::string(s) + "\"");
        total_ms += n * mult;
        any = true;
    }
    if (!any) return std::unexpected("invalid duration \"" + std::string(s) + "\"");
    return std::int64_t(total_ms);
}

std::expected<void, std::string> apply_config(const conf::Map& top, Options& opts,
                                              const std::string& file) {
    try {
        Mapper(file).apply(top, opts);
    } catch (const ConfigError& e) {
        return std::unexpected(e.msg);
    }
    return {};
}

std::expected<void, std::string> load_config_file(const std::string& path, Options& opts) {
    auto m = conf::parse_file(path);
    if (!m) return std::unexpected(m.error());
    opts.config_file = path;
    return apply_config(*m, opts, path);
}

}  // namespace osprey::server
