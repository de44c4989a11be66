// The server: event loops, the client listener, the registry of clients and accounts.
#pragma once
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <condition_variable>
#include <expected>
#include <functional>
#include <optional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/options.h"

namespace osprey::server {

class Client;
class Account;
class Monitor;
class SystemServices;
struct ConnectOpts;
namespace auth {
struct AccountClaims;
}
}  // namespace osprey::server
namespace osprey::transport {
class TlsContext;
class Wire;
struct PeerCertificate;
struct WsSettings;
}  // namespace osprey::transport
namespace osprey::server {

// Message counters live in each client (no shared cache line per message); the server keeps
// what closed clients counted and adds the live ones when asked.
struct ServerStats {
    std::atomic<std::uint64_t> in_msgs{0}, in_bytes{0}, out_msgs{0}, out_bytes{0};  // closed
    std::atomic<std::uint64_t> slow_consumers{0};
    std::atomic<std::uint64_t> stalls{0};  // fast producer stalls, all clients
    std::atomic<std::uint64_t> total_connections{0};
};

// The transports the options ask for (listeners.cpp): TLS contexts and websocket settings.
// Throws with nats-server's text on a bad setting; check_transports says it ("" when fine).
struct Transports {
    std::shared_ptr<const transport::TlsContext> client, ws_tls;
    std::shared_ptr<const transport::WsSettings> ws;
};
Transports make_transports(const Options& o);
std::string check_transports(const Options& o);

// How a client came, for its authentication: over WebSocket (its own auth settings and
// connection type), and the certificate it showed (verify_and_map).
struct ConnContext {
    bool websocket = false;
    const transport::PeerCertificate* cert = nullptr;
};

// A secret as the config holds it: plain, or a bcrypt hash ("$2a$...") of the given one.
bool check_secret(const std::string& given, const std::string& stored);

class Server {
public:
    explicit Server(Options opts);
    ~Server();

    // Binds the listeners and starts the loops; throws on a bind failure.
    void start();
    // Blocks until shutdown() completes (a signal or a call).
    void wait();
    // Graceful: stop accepting, flush and close every client, stop the loops.
    void shutdown();

    const Options& options() const { return opts_; }
    const std::string& server_id() const { return server_id_; }
    const std::string& server_name() const { return server_name_; }
    int client_port() const { return bound_port_; }
    int websocket_port() const { return ws_port_; }
    int https_port() const;  // the monitor's port when it serves HTTPS, else 0
    // The TLS context new connections of the client port take (null: no TLS); a reload
    // replaces it, and connections keep the one they started with.
    std::shared_ptr<const transport::TlsContext> client_tls() const;
    // SIGHUP: the certificates are read again (listeners.cpp). False with the error logged.
    bool reload_tls(const Options& next);
    void reload();  // SIGHUP: the config file read again; what osprey can reload, reloaded
    int http_port() const;
    // Adds a monitoring endpoint (before start()); a no-op without a monitor port.
    void add_monitor_endpoint(const std::string& path,
                              std::function<std::string(const std::map<std::string, std::string>&)> h);
    std::chrono::system_clock::time_point start_time() const { return start_time_; }
    boost::asio::io_context& loop(int i) { return *loops_[i]; }
    int loop_count() const { return int(loops_.size()); }
    Monitor& monitor() { return *monitor_; }
    SystemServices& system() { return *system_; }
    Account* system_account() const { return find_account(opts_.system_account); }
    // The cluster layer: runs first when the server shuts down (routes close before clients).
    void add_shutdown_hook(std::function<void()> fn) { shutdown_hooks_.push_back(std::move(fn)); }
    // What clients learn of the cluster in INFO: its name and the client URLs of every server
    // (ours first); connected clients get an INFO update when it changes.
    void set_cluster_info(const std::string& name, const std::vector<std::string>& connect_urls);
    std::vector<std::string> connect_urls() const {
        std::lock_guard lk(cluster_info_mu_);
        return connect_urls_;
    }
    // Our own client URLs, as the cluster advertises them (host:port).
    std::vector<std::string> client_urls() const;
    // Lame duck mode (SIGUSR2, --signal ldm): stop taking clients, tell them and the cluster
    // (hooks), then close clients over the lame duck duration and shut down.
    void add_lame_duck_hook(std::function<void()> fn) { lame_duck_hooks_.push_back(std::move(fn)); }
    void enter_lame_duck();
    bool lame_duck() const { return lame_duck_.load(); }
    // Fills a member of /varz (before start()); a no-op without a monitor port.
    void add_varz_section(const std::string& key,
                          std::function<std::string(const std::map<std::string, std::string>&)> h);

    // The INFO line for one client (ends in CRLF): its nonce (when one is required) and its
    // max_payload (-1: the server's).
    std::string info_line(std::uint64_t cid, const std::string& ip, bool ldm = false,
                          std::string_view nonce = {}, std::int64_t max_payload = -1,
                          bool websocket = false) const;

    // Authentication of a CONNECT (nats-server's processClientOrLeafAuthentication): the
    // account, permissions and limits, or the log line of the failed check.
    struct Auth {
        Account* account = nullptr;
        const Permissions* permissions = nullptr;
        std::shared_ptr<const Permissions> owned;  // per connection (a user JWT's)
        std::string user;  // nats-server's raw auth user: the nkey, the user name, the JWT's key
        bool jwt = false;
        // Operator mode: the connection's limits (-1: none; the server's are applied too),
        // and when the user's (or the account's) credentials run out.
        std::int64_t max_subs = -1, max_payload = -1;
        bool payload_overridden = false;  // the server's max_payload cut a JWT limit
        std::optional<std::chrono::nanoseconds> expires_in, account_expires_in;
        std::string log;  // the debug line of a JWT authentication
        std::int64_t user_iat = 0;  // the user JWT's iat (revocations compare with it)
        std::int64_t user_max_subs = -1, user_max_payload = -1;  // the user JWT's own limits
        std::string user_signer;  // the account signing key that issued the user JWT, or ""
    };
    struct AuthFailure {
        std::string log;     // nats-server's debug (or error) line for the failed check, or ""
        bool error = false;  // logged as an error
        // The user's account is not known yet: fetch it (fetch_account) and authenticate again.
        std::string fetch;
    };
    // `may_fetch`: an unknown account may be fetched from the other servers first (the nats
    // based resolvers); false once that was tried.
    std::expected<Auth, AuthFailure> authenticate(const ConnectOpts& o, std::string_view nonce,
                                                  std::string_view host, bool may_fetch = false,
                                                  const ConnContext& cc = {}) const;
    // Asks the other servers for `account`'s JWT ($SYS.REQ.ACCOUNT.<key>.CLAIMS.LOOKUP, first
    // answer within the resolver's timeout); a verified one is stored and takes effect. `done`
    // runs once, on some thread, either way.
    void fetch_account(const std::string& account, std::function<void()> done);
    // authViolation's log line: "authentication error" with nats-server's suffix.
    std::string auth_error_line(const ConnectOpts& o) const;
    bool auth_required() const { return auth_required_; }
    // For a websocket client, its own authorization {} may require auth too.
    bool auth_required(bool websocket) const {
        return auth_required_ || (websocket && opts_.websocket.auth_override());
    }
    bool nonce_required() const { return nonce_required_; }
    bool operator_mode() const { return opts_.operator_mode(); }

    Account& global_account() { return *global_; }
    Account* find_account(const std::string& name) const;  // any thread
    // The accounts that have JetStream (the global one, and those configured with it), with
    // their account limits (-1: none).
    struct JetStreamAccount {
        Account* account;
        std::int64_t max_memory = -1, max_file = -1, max_streams = -1, max_consumers = -1;
    };
    std::vector<JetStreamAccount> jetstream_accounts() const;
    std::vector<Account*> accounts() const;

    // Operator mode with a resolver that takes updates (jwt_accounts.cpp): an account JWT
    // pushed to `$SYS.REQ.CLAIMS.UPDATE` / `$SYS.REQ.ACCOUNT.<key>.CLAIMS.UPDATE` (`account`
    // then names the key; empty for the former). The answer as nats-server's respondToUpdate
    // gives it (code 200 with `message`, else 500 with `message - error`).
    struct ClaimsReply {
        int code = 200;
        std::string account, message, error;
    };
    ClaimsReply update_claims(std::string_view jwt, const std::string& account);
    std::optional<std::string> lookup_claims(const std::string& account) const;  // FULL
    // $SYS.REQ.CLAIMS.DELETE: an operator-signed list of accounts to delete (allow_delete);
    // `account` stays empty in the reply.
    ClaimsReply delete_claims(std::string_view jwt);
    // The full resolvers' sync ($SYS.REQ.CLAIMS.PACK): our pack for a peer whose store hash is
    // `their_hash` (nothing when equal), our own hash, and a `<key>|<jwt>` line of a peer's.
    std::vector<std::string> pack_claims(std::string_view their_hash) const;
    std::string claims_hash() const;
    void merge_claims(std::string_view line);
    void start_claims_sync();  // at start() (full resolver): the periodic PACK request
    std::vector<std::string> list_claims() const;                               // FULL
    // "" (none), "MEMORY" or "FULL".
    const std::string& resolver() const { return opts_.resolver; }
    // Runs for every account made while the server runs (an account JWT pushed or fetched):
    // the layers that set something up per account (routes, system services) add it there.
    // Hooks are added before start().
    void add_account_hook(std::function<void(Account&)> fn) { account_hooks_.push_back(std::move(fn)); }
    // JetStream learns of an account whose JWT (pushed while running) grants it (`enabled`,
    // with its limits) or no longer does, or that was deleted (not `enabled`).
    void set_jetstream_account_hook(std::function<void(const JetStreamAccount&, bool enabled)> fn) {
        js_account_hook_ = std::move(fn);
    }

    void client_closed(Client* c);
    std::vector<std::shared_ptr<Client>> clients() const;
    std::size_t num_clients() const;

    ServerStats stats;
    struct Totals {
        std::uint64_t in_msgs, in_bytes, out_msgs, out_bytes;
    };
    Totals totals() const;

private:
    void build_accounts();
    void build_jwt_accounts();
    Account* add_account(const std::string& name);  // new or existing; any thread
    // Every JWT account's exports and imports as the JWTs in force say (op_->mu held).
    void wire_jwt_accounts_locked(std::int64_t now, bool at_start);
    // An update took effect for `acc`: its connections checked against the new claims.
    void recheck_clients(Account& acc, const auth::AccountClaims& claims);
    // A verified account JWT takes effect (op_->mu held).
    void install_locked(const std::string& account, std::string jwt, const auth::AccountClaims& claims,
                        std::int64_t now);
    std::optional<JetStreamAccount> jetstream_of(Account* acc, const auth::AccountClaims& claims) const;
    std::expected<Auth, AuthFailure> authenticate_jwt(const ConnectOpts& o, std::string_view nonce,
                                                      std::string_view host, bool may_fetch,
                                                      bool websocket) const;
    void build_info_prefix();
    // listeners.cpp: the TLS contexts and the websocket settings (throws on a bad setting),
    // the websocket listener, and the accept loops of both ports.
    void setup_transports();
    void start_websocket();
    void do_accept(boost::asio::ip::tcp::acceptor* acc, bool websocket);
    std::unique_ptr<transport::Wire> make_wire(bool websocket) const;  // null: plain TCP
    void write_ports_file();
    void install_signals();
    void wait_signal();

    Options opts_;
    std::string server_id_, server_name_;
    std::string info_head_;  // INFO json up to max_payload
    std::string info_tail_;  // after max_payload, up to the per-client fields
    std::string ws_info_head_;  // info_head_ for websocket clients (their auth_required)
    bool auth_required_ = false;
    bool nonce_required_ = false;
    std::chrono::system_clock::time_point start_time_;

    std::vector<std::unique_ptr<boost::asio::io_context>> loops_;
    std::vector<std::thread> threads_;
    std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
    std::unique_ptr<boost::asio::signal_set> signals_set_;
    int bound_port_ = 0;
    std::unique_ptr<boost::asio::ip::tcp::acceptor> ws_acceptor_;
    int ws_port_ = 0;
    mutable std::mutex tls_mu_;
    std::shared_ptr<const transport::TlsContext> tls_ctx_, ws_tls_ctx_;
    std::shared_ptr<const transport::WsSettings> ws_settings_;
    std::atomic<unsigned> next_loop_{0};
    std::atomic<std::uint64_t> next_cid_{0};

    mutable std::shared_mutex accounts_mu_;  // accounts_: JWT accounts are added while running
    std::map<std::string, std::unique_ptr<Account>> accounts_;
    std::function<void(const JetStreamAccount&, bool)> js_account_hook_;
    std::vector<std::function<void(Account&)>> account_hooks_;
    bool accounts_built_ = false;  // after the start's accounts, new ones run the hooks
    std::shared_ptr<void> claims_sync_;  // the full resolver's sync (jwt_accounts.cpp)
    Account* global_ = nullptr;
    std::vector<User> users_;  // every user of every account, with its account filled in
    bool has_users_ = false;   // users from a users array (not the single user/password)
    std::vector<NkeyUser> nkeys_;  // every nkey user of every account
    struct Operator;               // operator mode: trust and the resolver's account JWTs
    std::unique_ptr<Operator> op_;

    mutable std::mutex clients_mu_;
    std::map<std::uint64_t, std::shared_ptr<Client>> clients_;

    std::unique_ptr<Monitor> monitor_;
    std::unique_ptr<SystemServices> system_;
    std::vector<std::function<void()>> shutdown_hooks_, lame_duck_hooks_;
    std::atomic<bool> lame_duck_{false};
    mutable std::mutex cluster_info_mu_;
    std::string cluster_info_;  // ,"cluster":..,"connect_urls":[..] for client INFO
    std::string cluster_name_;
    std::vector<std::string> connect_urls_;
    void send_async_info(bool ldm);
    std::mutex done_mu_;
    std::condition_variable done_cv_;
    bool done_ = false;
    std::atomic<int> signals_{0};
    std::atomic<bool> shutting_down_{false};
};

}  // namespace osprey::server
