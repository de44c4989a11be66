// Everything the server can be configured with, from flags and the config file.
// Durations are in milliseconds, sizes in bytes. Defaults are nats-server 2.9.10's.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "transport/tls_config.h"

namespace osprey::server {

// Compatibility version reported to clients: they gate features on nats-server's version.
inline constexpr const char* kCompatVersion = "2.9.10";
inline constexpr const char* kOspreyVersion = "0.1.0";

struct SubjectPermission {
    std::vector<std::string> allow;
    std::vector<std::string> deny;
    bool empty() const { return allow.empty() && deny.empty(); }
};

// allow_responses: publishing to the reply subjects of requests this user received, up to
// `max` replies each, within `expires_ms` (nats-server's defaults: 1 reply, 2 minutes).
struct ResponsePermission {
    std::int64_t max = 1;
    std::int64_t expires_ms = 2 * 60 * 1000;
};

struct Permissions {
    SubjectPermission publish;
    SubjectPermission subscribe;
    std::optional<ResponsePermission> responses;
};

struct User {
    std::string username;
    std::string password;  // plain, or a bcrypt hash ("$2a$...")
    std::optional<Permissions> permissions;
    std::string account;  // empty: the global account
    // STANDARD, WEBSOCKET, LEAFNODE, MQTT (empty: any).
    std::vector<std::string> allowed_connection_types;
};

// A user known by its public nkey ("U..."): it proves itself by signing the INFO nonce.
struct NkeyUser {
    std::string nkey;
    std::optional<Permissions> permissions;
    std::string account;  // empty: the global account
    std::vector<std::string> allowed_connection_types;
};

struct ExportDef {
    bool service = false;
    std::string subject;
    std::vector<std::string> accounts;  // empty: public
    std::string response = "singleton";  // service replies: singleton, stream or chunked
    // Operator mode: a token-required export is private even with no account listed (the
    // importers holding a valid activation token are added to `accounts`).
    bool token_required = false;
};

struct ImportDef {
    bool service = false;
    std::string account;  // the exporting account
    std::string subject;  // the subject in the exporting account
    std::string to;       // service: local subject; stream: the subject seen locally ("to")
    std::string prefix;   // stream: prepended to the subject
};

struct AccountDef {
    std::string name;
    std::vector<User> users;
    std::vector<NkeyUser> nkeys;
    std::vector<ExportDef> exports;
    std::vector<ImportDef> imports;
    std::optional<Permissions> default_permissions;  // for its users that have none
    bool jetstream = false;
    // Account JetStream limits (-1: none): jetstream { max_mem, max_file, max_streams,
    // max_consumers } inside the account.
    std::int64_t js_max_memory = -1, js_max_file = -1, js_max_streams = -1, js_max_consumers = -1;
};

// The cluster {} block (nats-server 2.9.10): routes to the other servers of the cluster.
struct ClusterOptions {
    std::string name;  // empty: a random ("dynamic") name, adopted from a peer that has one
    std::string host = "0.0.0.0";
    int port = 0;      // 0: no cluster; -1: a random port
    std::vector<std::string> routes;  // nats://[user:pass@]host:port, dialed and kept
    std::string user, password;       // what a peer must send in its route CONNECT
    std::int64_t auth_timeout_ms = 2000;
    bool no_advertise = false;  // no connect_urls for clients, ours or the peers'
    int connect_retries = 0;    // extra attempts for implicit (gossiped) routes
    std::string advertise;      // host[:port] peers should dial instead of the listen address
    bool enabled() const { return port != 0; }
};

// The websocket {} block (nats-server 2.9.10): NATS clients over WebSocket on their own port.
struct WebsocketOptions {
    std::string host = "0.0.0.0";
    int port = 0;  // 0: no websocket listener; -1: a random port
    std::string advertise;
    bool no_tls = false;
    transport::TlsConfig tls;
    bool same_origin = false;
    std::vector<std::string> allowed_origins;
    bool compression = false;
    std::int64_t handshake_timeout_ms = 0;
    // authorization {}: overrides the server's for websocket clients.
    std::string username, password, token;
    std::int64_t auth_timeout_ms = 0;  // 0: the server's
    std::string no_auth_user;
    std::string jwt_cookie;
    bool enabled() const { return port != 0; }
    bool auth_override() const { return !username.empty() || !token.empty() || !no_auth_user.empty(); }
};

struct Options {
    // Listening
    std::string host = "0.0.0.0";
    int port = 4222;
    std::string server_name;
    // server_tags, trimmed and lowercased as nats-server keeps them: a stream's placement tags
    // choose among the servers that have them all.
    std::vector<std::string> server_tags;
    int http_port = 0;  // 0: no monitoring
    int https_port = 0;  // monitoring over TLS, with the tls {} block's certificate
    std::string http_host;

    // TLS on the client port (tls {} or --tls*): clients start TLS after the INFO.
    transport::TlsConfig tls;
    bool tls_enabled = false;  // --tls, or a tls {} block
    bool allow_non_tls = false;
    WebsocketOptions websocket;
    std::string pid_file;
    std::string ports_file_dir;
    std::string config_file;
    bool check_config = false;
    std::string signal;  // --signal <command>[=<pid>]: send a command to a running server

    // Logging
    std::string log_file;
    bool logtime = true;
    bool debug = false;
    bool trace = false;

    // Authentication and authorization
    std::string username;
    std::string password;
    std::string token;
    std::vector<User> users;
    std::vector<NkeyUser> nkeys;
    std::optional<Permissions> default_permissions;
    std::int64_t auth_timeout_ms = 2000;
    bool auth_timeout_set = false;  // else with TLS: the TLS timeout and a second (nats-server)
    std::string no_auth_user;
    std::vector<AccountDef> accounts;
    std::string system_account = "$SYS";

    // Operator (JWT) mode: the operators' JWTs (as read from their files, or inline), or bare
    // trusted operator keys; accounts then come from the resolver ("MEMORY", or "FULL": the
    // nats based resolver keeping every account JWT in `resolver_dir`) with its preloaded
    // account JWTs (account public key -> JWT).
    std::vector<std::string> trusted_operators;
    std::vector<std::string> trusted_keys;
    std::string resolver;  // "" (none), "MEMORY", "FULL" or "CACHE"
    std::string resolver_dir;
    bool resolver_allow_delete = false;
    std::int64_t resolver_limit = 0;  // FULL: at most this many JWTs (0: no limit); CACHE: 1000
    std::int64_t resolver_ttl_ms = 0;        // CACHE: a cached JWT older than this is fetched again
    std::int64_t resolver_timeout_ms = 1900; // fetching a missing account from the other servers
    std::int64_t resolver_interval_ms = 60000;  // FULL: the sync with the other full resolvers
    std::vector<std::pair<std::string, std::string>> resolver_preload;
    std::vector<std::string> resolver_pinned_accounts;  // empty: any account

    // Limits
    std::int64_t max_payload = 1024 * 1024;
    std::int64_t max_control_line = 4096;
    int max_connections = 64 * 1024;
    std::int64_t max_pending = 64LL * 1024 * 1024;
    int max_subs = 0;  // per connection; 0: unlimited
    std::int64_t ping_interval_ms = 2 * 60 * 1000;
    int ping_max = 2;
    std::int64_t write_deadline_ms = 10 * 1000;
    bool no_fast_producer_stall = false;  // nats-server 2.11's switch: cut, never pause

    // JetStream (the flags exist now; the engine comes with its own issue)
    bool jetstream = false;
    std::string store_dir;
    std::int64_t js_sync_interval_ms = 0;  // 0: "always" (fdatasync before each ack batch)
    std::int64_t js_max_memory = -1;
    std::int64_t js_max_file = -1;
    std::string js_domain;

    ClusterOptions cluster;
    std::int64_t lame_duck_duration_ms = 2 * 60 * 1000;  // nats-server's defaults
    std::int64_t lame_duck_grace_ms = 10 * 1000;

    // Threads: event loops serving connections (0: one per core).
    int loops = 0;

    // nats-server keys osprey accepts without acting on them, named for the start-up log.
    std::vector<std::string> config_warnings;

    bool operator_mode() const { return !trusted_operators.empty() || !trusted_keys.empty(); }
    bool auth_required() const {
        return !username.empty() || !token.empty() || !users.empty() || !nkeys.empty() ||
               has_account_users() || operator_mode();
    }
    bool has_account_users() const {
        for (auto& a : accounts)
            if (!a.users.empty() || !a.nkeys.empty()) return true;
        return false;
    }
    // nats-server sends a nonce in INFO when some user is an nkey, or in operator mode.
    bool nonce_required() const {
        if (operator_mode() || !nkeys.empty()) return true;
        for (auto& a : accounts)
            if (!a.nkeys.empty()) return true;
        return false;
    }
};

}  // namespace osprey::server
