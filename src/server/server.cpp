#include "server/server.h"
#include "transport/tls_context.h"
#include "transport/wire.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <crypt.h>
#include <unistd.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <condition_variable>
#include <fstream>

#include "server/account.h"
#include "server/auth/checks.h"
#include "server/auth/connect.h"
#include "server/auth/tls_map.h"
#include "server/auth/nkey.h"
#include "server/client.h"
#include "server/connect_opts.h"
#include "server/monitor.h"
#include "server/operator_state.h"
#include "server/system_services.h"
#include "subjects/subject.h"
#include "util/log.h"
#include "util/random.h"

namespace osprey::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

bool is_bcrypt(const std::string& s) {
    return s.size() > 4 && s[0] == '$' && s[1] == '2' && (s[3] == '$' || s[2] == '$');
}

// Constant-time comparison for plain secrets.
bool secure_equal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    unsigned char d = 0;
    for (std::size_t i = 0; i < a.size(); ++i) d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

std::string json_escape(std::string_view s) {
    std::string o;
    for (char c : s) {
        if (c == '"' || c == '\\') {
            o += '\\';
            o += c;
        } else if ((unsigned char)c < 0x20) {
            o += fmt::format("\\u{:04x}", int(c));
        } else {
            o += c;
        }
    }
    return o;
}

// A user's allowed_connection_types admit this connection (nats-server's
// connectionTypeAllowed for a STANDARD or WEBSOCKET connection).
bool type_allowed(const std::vector<std::string>& types, bool websocket) {
    if (types.empty()) return true;
    auto t = auth::convert_connection_types(types);
    return t.allowed.empty() ? !t.error
                             : t.allowed.count(std::string(websocket ? auth::kConnWebsocket : auth::kConnStandard)) > 0;
}


}  // namespace


bool check_secret(const std::string& given, const std::string& stored) {
    if (is_bcrypt(stored)) {
        // libcrypt (libxcrypt) implements bcrypt: hashing `given` with the stored setting must
        // reproduce the stored hash.
        crypt_data data{};
        const char* out = crypt_r(given.c_str(), stored.c_str(), &data);
        return out && out[0] != '*' && secure_equal(out, stored);
    }
    return secure_equal(given, stored);
}


Server::Server(Options opts) : opts_(std::move(opts)) {
    server_id_ = util::server_id();
    server_name_ = opts_.server_name.empty() ? server_id_ : opts_.server_name;
    build_accounts();
    build_jwt_accounts();
    accounts_built_ = true;
    auth_required_ = opts_.auth_required();
    nonce_required_ = opts_.nonce_required();
    setup_transports();
    build_info_prefix();
    // The monitoring bodies serve the HTTP port and the system account's requests alike.
    monitor_ = std::make_unique<Monitor>(*this);
    system_ = std::make_unique<SystemServices>(*this);
}

Server::~Server() {
    for (auto& l : loops_) l->stop();
    for (auto& t : threads_)
        if (t.joinable()) t.join();
}

void Server::build_info_prefix() {
    // nats-server's Info field order: ... auth_required, tls_required, tls_verify,
    // tls_available, max_payload. Websocket clients get the same INFO (copyInfo), with
    // auth_required also set by the websocket's own authorization.
    std::string tls;
    if (opts_.tls_enabled) {
        tls = opts_.allow_non_tls ? "" : "\"tls_required\":true,";
        if (opts_.tls.verify) tls += "\"tls_verify\":true,";
        if (opts_.allow_non_tls) tls += "\"tls_available\":true,";
    }
    auto head = [&](bool auth) {
        return fmt::format(
            "INFO {{\"server_id\":\"{}\",\"server_name\":\"{}\",\"version\":\"{}\",\"proto\":1,"
            "\"go\":\"go1.19.8\",\"host\":\"{}\",\"port\":{},\"headers\":true,{}{}\"max_payload\":",
            server_id_, json_escape(server_name_), kCompatVersion, json_escape(opts_.host), opts_.port,
            auth ? "\"auth_required\":true," : "", tls);
    };
    // With no_auth_user a client may come without credentials: nats-server does not
    // announce auth_required then.
    const bool auth = auth_required_ && opts_.no_auth_user.empty();
    info_head_ = head(auth);
    ws_info_head_ = head(auth || opts_.websocket.auth_override());
    info_tail_ = opts_.jetstream ? ",\"jetstream\":true" : "";
}

void Server::build_accounts() {
    auto add = [&](const std::string& name) {
        auto& slot = accounts_[name];
        if (!slot) slot = std::make_unique<Account>(name);
        return slot.get();
    };
    global_ = add("$G");
    add(opts_.system_account);
    for (const auto& def : opts_.accounts) {
        Account* a = add(def.name);
        for (const auto& e : def.exports) a->add_export(e);
        for (auto u : def.users) {
            u.account = def.name;
            // The account's default permissions, else the server's, for users without any.
            if (!u.permissions) u.permissions = def.default_permissions ? def.default_permissions
                                                                       : opts_.default_permissions;
            users_.push_back(std::move(u));
            has_users_ = true;
        }
        for (auto u : def.nkeys) {
            u.account = def.name;
            if (!u.permissions) u.permissions = def.default_permissions ? def.default_permissions
                                                                       : opts_.default_permissions;
            nkeys_.push_back(std::move(u));
        }
    }
    for (const auto& def : opts_.accounts) {
        for (const auto& imp : def.imports) {
            Account* exporter = find_account(imp.account);
            if (!exporter) {
                throw std::runtime_error("import from unknown account \"" + imp.account + "\"");
            }
            std::string err = wire_import(*accounts_[def.name], *exporter, imp);
            if (!err.empty()) throw std::runtime_error(err);
        }
    }
    for (auto u : opts_.users) {
        if (!u.permissions && opts_.default_permissions) u.permissions = opts_.default_permissions;
        users_.push_back(std::move(u));
        has_users_ = true;
    }
    for (auto u : opts_.nkeys) {
        if (!u.permissions && opts_.default_permissions) u.permissions = opts_.default_permissions;
        nkeys_.push_back(std::move(u));
    }
    if (!opts_.username.empty()) {
        User u;
        u.username = opts_.username;
        u.password = opts_.password;
        u.permissions = opts_.default_permissions;
        users_.push_back(std::move(u));
    }
}

Account* Server::find_account(const std::string& name) const {
    std::shared_lock lk(accounts_mu_);
    auto it = accounts_.find(name);
    return it == accounts_.end() ? nullptr : it->second.get();
}

Account* Server::add_account(const std::string& name) {
    Account* made = nullptr;
    {
        std::unique_lock lk(accounts_mu_);
        auto& slot = accounts_[name];
        if (slot) return slot.get();
        slot = std::make_unique<Account>(name);
        made = slot.get();
    }
    if (accounts_built_)
        for (auto& h : account_hooks_) h(*made);
    return made;
}

std::vector<Server::JetStreamAccount> Server::jetstream_accounts() const {
    std::vector<JetStreamAccount> v{{global_}};
    for (const auto& def : opts_.accounts)
        if (def.jetstream)
            v.push_back({find_account(def.name), def.js_max_memory, def.js_max_file,
                         def.js_max_streams, def.js_max_consumers});
    if (op_) {
        // Accounts whose JWT grants JetStream (storage limits not 0), with its limits; tiered
        // limits are taken from the R1 tier (a single server).
        std::lock_guard lk(op_->mu);
        for (const auto& [name, jwt] : op_->jwts) {
            auto a = auth::decode_account(jwt);
            if (!a || name == opts_.system_account) continue;
            Account* acc = find_account(name);
            if (auto ja = jetstream_of(acc, *a)) v.push_back(*ja);
        }
    }
    return v;
}

std::vector<Account*> Server::accounts() const {
    std::vector<Account*> v;
    std::shared_lock lk(accounts_mu_);
    for (auto& [n, a] : accounts_) v.push_back(a.get());
    return v;
}

std::expected<Server::Auth, Server::AuthFailure> Server::authenticate(const ConnectOpts& o,
                                                                      std::string_view nonce,
                                                                      std::string_view host,
                                                                      bool may_fetch,
                                                                      const ConnContext& cc) const {
    if (op_) return authenticate_jwt(o, nonce, host, may_fetch, cc.websocket);
    const auto fail = [](std::string log = {}) { return std::unexpected(AuthFailure{std::move(log), false, {}}); };
    const bool ws = cc.websocket;
    // A websocket authorization {} (or no_auth_user) replaces the server's own credentials
    // for websocket clients (nats-server's authOverride); the users stay the same.
    const bool ao = ws && opts_.websocket.auth_override();
    const std::string& no_auth_user = ao ? opts_.websocket.no_auth_user : opts_.no_auth_user;
    const std::string& username = ao ? opts_.websocket.username : opts_.username;
    const std::string& password = ao ? opts_.websocket.password : opts_.password;
    const std::string& token = ao ? opts_.websocket.token : opts_.token;
    const bool tls_map = ws ? opts_.websocket.tls.verify_and_map : opts_.tls.verify_and_map;
    // processClientOrLeafAuthentication without an operator: an nkey when nkey users exist and
    // the client sent one, else the users (the no_auth_user standing in for a client that sent
    // no credentials), else the token or the single user.
    if (!nkeys_.empty() && !o.nkey.empty()) {
        const NkeyUser* nk = nullptr;
        for (const auto& u : nkeys_)
            if (u.nkey == o.nkey) nk = &u;
        if (!nk || !type_allowed(nk->allowed_connection_types, ws)) return fail();
        if (auto err = auth::verify_nonce(o.nkey, o.sig, nonce)) return fail(*err);
        Auth a;
        a.account = nk->account.empty() ? global_ : find_account(nk->account);
        a.permissions = nk->permissions ? &*nk->permissions : nullptr;
        a.user = nk->nkey;
        return a;
    }
    if (has_users_) {
        std::string user = o.user;
        // The no_auth_user path passes no secret: it is a lookup by name only, and so is a
        // user named by the client's certificate (verify_and_map).
        bool by_name_only = !no_auth_user.empty() && o.user.empty() && o.pass.empty() &&
                            o.auth_token.empty();
        if (by_name_only) user = no_auth_user;
        if (tls_map) {
            if (!cc.cert) return fail("User required in cert, no TLS connection state");
            std::vector<std::string> names;
            for (const auto& u : users_) names.push_back(u.username);
            auto mapped = auth::map_certificate(*cc.cert, names, [&](const std::string& n) {
                for (const auto& u : users_)
                    if (u.username == n) return type_allowed(u.allowed_connection_types, ws);
                return false;
            });
            if (!mapped) return fail(fmt::format("User in cert [\"{}\"], not found", auth::rdn_string(*cc.cert)));
            if (!o.user.empty())
                log::warn("User \"{}\" found in connect proto, but user required from cert", o.user);
            user = *mapped;
            by_name_only = false;  // nats-server still compares the password (none: none sent)
        }
        if (!user.empty()) {
            for (const auto& u : users_) {
                if (u.username != user) continue;
                if (!type_allowed(u.allowed_connection_types, ws)) return fail();
                if (!by_name_only && !check_secret(o.pass, u.password)) return fail();
                Auth a;
                a.account = u.account.empty() ? global_ : find_account(u.account);
                a.permissions = u.permissions ? &*u.permissions : nullptr;
                a.user = u.username;
                return a;
            }
            return fail();
        }
    }
    Auth a;
    a.account = global_;
    a.permissions = opts_.default_permissions ? &*opts_.default_permissions : nullptr;
    if (!token.empty()) {
        if (!check_secret(o.auth_token, token)) return fail();
        return a;
    }
    if (!username.empty()) {
        if (o.user != username || !check_secret(o.pass, password)) return fail();
        a.user = username;
        return a;
    }
    return fail();
}

std::expected<Server::Auth, Server::AuthFailure> Server::authenticate_jwt(
    const ConnectOpts& o, std::string_view nonce, std::string_view host, bool may_fetch, bool websocket) const {
    if (may_fetch && (opts_.resolver == "FULL" || opts_.resolver == "CACHE") && system_account()) {
        // DirAccResolver.Fetch: an account not in the directory is asked of the other servers
        // before the user is judged (the connection waits, its loop does not).
        if (auto u = auth::decode_user(o.jwt)) {
            const std::string& issuer = u->issuer_account.empty() ? u->claims.iss : u->issuer_account;
            if (auth::is_valid_public(auth::kAccount, issuer)) {
                std::lock_guard lk(op_->mu);
                if (!op_->jwts.contains(issuer)) return std::unexpected(AuthFailure{{}, false, issuer});
            }
        }
    }
    auth::JwtConnect jc;
    jc.jwt = o.jwt;
    jc.sig = o.sig;
    jc.nonce = nonce;
    jc.host = host;
    if (websocket) jc.conn_type = auth::kConnWebsocket;
    auto lookup = [this](const std::string& name) -> std::expected<std::string, std::string> {
        // fetchAccount: only account keys are fetched; a MEMORY resolver has what was preloaded.
        if (!auth::is_valid_public(auth::kAccount, name))
            return std::unexpected(std::string("will only fetch valid account keys"));
        std::lock_guard lk(op_->mu);
        auto it = op_->jwts.find(name);
        if (it == op_->jwts.end() || !find_account(name))
            return std::unexpected(std::string("account missing"));
        return it->second;
    };
    auto r = auth::authenticate_jwt(jc, op_->trust, opts_.resolver_pinned_accounts, lookup);
    if (!r) return std::unexpected(AuthFailure{r.error().log, r.error().error, {}});
    Auth a;
    a.jwt = true;
    a.account = find_account(r->account_name);
    if (r->permissions) a.owned = std::make_shared<const Permissions>(std::move(*r->permissions));
    a.permissions = a.owned.get();
    a.user = r->user.claims.sub;
    a.user_iat = r->user.claims.iat;
    a.user_max_subs = r->max_subs;
    a.user_max_payload = r->max_payload;
    if (!r->user.issuer_account.empty()) a.user_signer = r->user.claims.iss;
    // applyAccountLimits: the user's, the account's, then the server's (0 subs: unlimited).
    a.max_subs = auth::min_limit(r->max_subs, r->account.limits.subs);
    a.max_subs = auth::min_limit(a.max_subs, opts_.max_subs > 0 ? opts_.max_subs : -1);
    a.max_payload = auth::min_limit(r->max_payload, r->account.limits.payload);
    const std::int64_t limited = a.max_payload;
    a.max_payload = auth::min_limit(a.max_payload, opts_.max_payload);
    a.payload_overridden = limited != -1 && a.max_payload != limited;
    a.expires_in = r->expires_in;
    if (r->account.claims.exp != 0) {
        const std::int64_t left = r->account.claims.exp - unix_now();
        a.account_expires_in = std::chrono::seconds(left > 0 ? left : 0);
    }
    a.log = std::move(r->log);
    return a;
}

std::string Server::auth_error_line(const ConnectOpts& o) const {
    // authViolation: the operator mode says nothing more; else the nkey, else the user name.
    if (op_) return "authentication error";
    if (!nkeys_.empty()) return fmt::format("authentication error - Nkey \"{}\"", o.nkey);
    if (has_users_) return fmt::format("authentication error - User \"{}\"", o.user);
    return "authentication error";
}

std::string Server::info_line(std::uint64_t cid, const std::string& ip, bool ldm,
                              std::string_view nonce, std::int64_t max_payload, bool websocket) const {
    std::string cluster;
    {
        std::lock_guard lk(cluster_info_mu_);
        cluster = cluster_info_;
        if (ldm) {
            // In lame duck mode clients are told of the other servers only (nats-server).
            std::string urls;
            const auto own = client_urls();
            for (const auto& u : connect_urls_)
                if (std::find(own.begin(), own.end(), u) == own.end()) urls += (urls.empty() ? "\"" : ",\"") + u + "\"";
            cluster = cluster_name_.empty() ? std::string() : fmt::format(",\"cluster\":\"{}\"", json_escape(cluster_name_));
            if (!urls.empty()) cluster += ",\"connect_urls\":[" + urls + "]";
            cluster += ",\"ldm\":true";
        }
    }
    std::string n = nonce.empty() ? std::string() : fmt::format(",\"nonce\":\"{}\"", nonce);
    return fmt::format("{}{}{},\"client_id\":{},\"client_ip\":\"{}\"{}{}}} \r\n", websocket ? ws_info_head_ : info_head_,
                       max_payload < 0 ? opts_.max_payload : max_payload, info_tail_, cid, ip, n, cluster);
}

std::vector<std::string> Server::client_urls() const {
    // The listen address, or every non-loopback address of the machine for 0.0.0.0
    // (nats-server's rule); loopback when that is all there is.
    std::vector<std::string> out;
    const std::string port = std::to_string(opts_.port);
    if (opts_.host != "0.0.0.0" && opts_.host != "::" && !opts_.host.empty()) {
        out.push_back((opts_.host.find(':') != std::string::npos ? "[" + opts_.host + "]" : opts_.host) + ":" + port);
        return out;
    }
    ifaddrs* ifs = nullptr;
    if (::getifaddrs(&ifs) == 0) {
        for (ifaddrs* i = ifs; i; i = i->ifa_next) {
            if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
            char buf[INET_ADDRSTRLEN];
            ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof buf);
            if (std::string_view(buf).starts_with("127.")) continue;
            out.push_back(std::string(buf) + ":" + port);
        }
        ::freeifaddrs(ifs);
    }
    if (out.empty()) out.push_back("127.0.0.1:" + port);
    return out;
}

void Server::set_cluster_info(const std::string& name, const std::vector<std::string>& connect_urls) {
    {
        std::lock_guard lk(cluster_info_mu_);
        std::string text = name.empty() ? std::string() : fmt::format(",\"cluster\":\"{}\"", json_escape(name));
        if (!connect_urls.empty()) {
            text += ",\"connect_urls\":[";
            for (std::size_t i = 0; i < connect_urls.size(); ++i)
                text += (i ? ",\"" : "\"") + json_escape(connect_urls[i]) + "\"";
            text += "]";
        }
        const bool urls_changed = connect_urls != connect_urls_;
        cluster_info_ = std::move(text);
        cluster_name_ = name;
        connect_urls_ = connect_urls;
        if (!urls_changed) return;
    }
    send_async_info(false);
}

void Server::send_async_info(bool ldm) {
    // Clients that speak protocol 1 take INFO at any time (nats-server's async INFO).
    for (auto& c : clients()) c->send_async_info(ldm);
}

void Server::enter_lame_duck() {
    if (lame_duck_.exchange(true) || shutting_down_) return;
    log::notice("Entering lame duck mode, stop accepting new clients");
    asio::post(*loops_[0], [this] {
        boost::system::error_code ec;
        acceptor_->close(ec);
        if (ws_acceptor_) ws_acceptor_->close(ec);
    });
    if (num_clients() == 0) {
        std::thread([this] { shutdown(); }).detach();
        return;
    }
    for (auto& h : lame_duck_hooks_) h();
    send_async_info(true);
    // Clients go over the lame duck duration, after the grace period, then the server.
    std::thread([this] {
        std::this_thread::sleep_for(std::chrono::milliseconds(opts_.lame_duck_grace_ms));
        auto list = clients();
        const auto spread = std::chrono::milliseconds(
            std::max<std::int64_t>(0, opts_.lame_duck_duration_ms - opts_.lame_duck_grace_ms));
        // No longer than a second between two closes (nats-server): a few clients leave soon.
        const auto step = std::min<std::chrono::milliseconds>(
            std::chrono::seconds(1), list.empty() ? spread : spread / std::int64_t(list.size()));
        for (std::size_t i = 0; i < list.size(); ++i) {
            if (shutting_down_) return;
            list[i]->close(CloseReason::ServerShutdown);
            if (i + 1 < list.size()) std::this_thread::sleep_for(step);
        }
        shutdown();
    }).detach();
}

void Server::start() {
    start_time_ = std::chrono::system_clock::now();
    int n = opts_.loops > 0 ? opts_.loops : int(std::max(1u, std::thread::hardware_concurrency()));
    for (int i = 0; i < n; ++i) loops_.push_back(std::make_unique<asio::io_context>(1));

    log::notice("Starting osprey");
    log::notice("  Version:  {} (osprey {})", kCompatVersion, kOspreyVersion);
    log::notice("  Git:      [not set]");
    log::notice("  Name:     {}", server_name_);
    log::notice("  ID:       {}", server_id_);
    if (!opts_.config_file.empty()) log::notice("Using configuration file: {}", opts_.config_file);
    if (op_ && !op_->operators.empty()) {
        auto when = [](std::int64_t t) {
            std::time_t tt = std::time_t(t);
            std::tm tm{};
            ::localtime_r(&tt, &tm);
            char buf[64];
            std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %z %Z", &tm);
            return std::string(buf);
        };
        log::notice("Trusted Operators");
        for (const auto& op : op_->operators) {
            log::notice("  System  : \"{}\"", op.claims.aud);
            log::notice("  Operator: \"{}\"", op.claims.name);
            log::notice("  Issued  : {}", when(op.claims.iat));
            log::notice("  Expires : {}", op.claims.exp == 0 ? std::string("Never") : when(op.claims.exp));
        }
        if (opts_.system_account == "$SYS") log::warn("Trusted Operators should utilize a System Account");
    }

    start_claims_sync();
    if (opts_.http_port != 0 && opts_.https_port != 0)
        throw std::runtime_error(fmt::format("Can't start monitoring: can't specify both HTTP ({}) and HTTPs ({}) ports",
                                             opts_.http_port, opts_.https_port));
    if (opts_.http_port != 0) {
        monitor_->start(opts_.http_host.empty() ? opts_.host : opts_.http_host, opts_.http_port);
    } else if (opts_.https_port != 0) {
        // The client port's certificate, never asking for a client's (nats-server's rule).
        transport::TlsConfig t = opts_.tls;
        t.verify = t.verify_and_map = false;
        auto ctx = transport::TlsContext::make(t);
        if (!ctx) throw std::runtime_error("Can't start monitoring: " + ctx.error());
        monitor_->start(opts_.http_host.empty() ? opts_.host : opts_.http_host, opts_.https_port, *ctx);
    }

    auto addr = asio::ip::make_address(opts_.host);
    tcp::endpoint ep(addr, static_cast<unsigned short>(opts_.port < 0 ? 0 : opts_.port));
    acceptor_ = std::make_unique<tcp::acceptor>(*loops_[0]);
    acceptor_->open(ep.protocol());
    acceptor_->set_option(tcp::acceptor::reuse_address(true));
    if (addr.is_v6()) acceptor_->set_option(asio::ip::v6_only(false));
    acceptor_->bind(ep);
    acceptor_->listen(4096);
    bound_port_ = acceptor_->local_endpoint().port();
    log::notice("Listening for client connections on {}:{}",
                addr.is_v6() ? "[" + opts_.host + "]" : opts_.host, bound_port_);
    if (opts_.tls_enabled) log::notice("TLS required for client connections");
    if (bound_port_ != opts_.port) {
        // A random port (-1/0) is reported in INFO as the real one.
        opts_.port = bound_port_;
        build_info_prefix();
    }
    if (!opts_.pid_file.empty()) {
        std::ofstream(opts_.pid_file) << ::getpid();
    }
    start_websocket();
    write_ports_file();
    install_signals();
    do_accept(acceptor_.get(), false);
    for (auto& l : loops_) {
        threads_.emplace_back([ctx = l.get()] {
            auto guard = asio::make_work_guard(*ctx);
            ctx->run();
        });
    }
    log::notice("Server is ready");
}

int Server::http_port() const { return monitor_ && opts_.https_port == 0 ? monitor_->port() : 0; }
int Server::https_port() const { return monitor_ && opts_.https_port != 0 ? monitor_->port() : 0; }

void Server::add_monitor_endpoint(
    const std::string& path, std::function<std::string(const std::map<std::string, std::string>&)> h) {
    monitor_->add_endpoint(path, std::move(h));
}

void Server::add_varz_section(
    const std::string& key, std::function<std::string(const std::map<std::string, std::string>&)> h) {
    monitor_->add_varz_section(key, std::move(h));
}

void Server::write_ports_file() {
    if (opts_.ports_file_dir.empty()) return;
    // Same name and shape as nats-server: <executable>_<pid>.ports with the listen URLs.
    std::string path = fmt::format("{}/osprey_{}.ports", opts_.ports_file_dir, ::getpid());
    std::string host = opts_.host == "0.0.0.0" || opts_.host == "::" ? "127.0.0.1" : opts_.host;
    std::ofstream f(path);
    f << "{\"nats\":[\"nats://" << host << ":" << bound_port_ << "\"]";
    if (monitor_) f << ",\"monitoring\":[\"http://" << host << ":" << monitor_->port() << "\"]";
    f << "}";
}

void Server::install_signals() {
    signals_set_ = std::make_unique<asio::signal_set>(*loops_[0], SIGINT, SIGTERM, SIGUSR2);
    signals_set_->add(SIGHUP);
    wait_signal();
}

void Server::wait_signal() {
    signals_set_->async_wait([this](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP) {  // --signal reload
            wait_signal();
            // Off the loop: reading files and loading certificates takes a while.
            std::thread([this] { reload(); }).detach();
            return;
        }
        if (sig == SIGUSR2) {  // nats-server's lame duck signal
            wait_signal();
            enter_lame_duck();
            return;
        }
        if (signals_.fetch_add(1) > 0) {
            log::notice("Second signal, exiting now");
            std::_Exit(1);
        }
        log::notice("Trapped \"{}\" signal", sig == SIGINT ? "interrupt" : "terminated");
        wait_signal();
        // Shutdown waits for the loops to close clients, so it cannot run on a loop.
        std::thread([this] { shutdown(); }).detach();
    });
}

void Server::do_accept(tcp::acceptor* acc, bool websocket) {
    const int idx = int(next_loop_.fetch_add(1) % loops_.size());
    acc->async_accept(*loops_[idx], [this, idx, acc, websocket](const boost::system::error_code& ec,
                                                                tcp::socket sock) {
        if (ec) {
            if (ec == asio::error::operation_aborted || shutting_down_) return;
            log::error("Error accepting client connection: {}", ec.message());
            do_accept(acc, websocket);
            return;
        }
        const std::uint64_t cid = ++next_cid_;
        stats.total_connections.fetch_add(1, std::memory_order_relaxed);
        auto c = std::make_shared<Client>(*this, idx, std::move(sock), cid, make_wire(websocket));
        bool over = false;
        {
            std::lock_guard lk(clients_mu_);
            if (int(clients_.size()) >= opts_.max_connections) {
                over = true;
            } else {
                clients_.emplace(cid, c);
            }
        }
        if (over) {
            // Like nats-server: the INFO, then the error, then close.
            asio::post(*loops_[idx], [c, this] {
                log::error("maximum connections exceeded");
                c->reject_max_connections();
            });
        } else {
            asio::post(*loops_[idx], [c] { c->start(); });
        }
        do_accept(acc, websocket);
    });
}

Server::Totals Server::totals() const {
    Totals t{stats.in_msgs, stats.in_bytes, stats.out_msgs, stats.out_bytes};
    for (auto& c : clients()) {
        t.in_msgs += c->stats.in_msgs;
        t.in_bytes += c->stats.in_bytes;
        t.out_msgs += c->stats.out_msgs;
        t.out_bytes += c->stats.out_bytes;
    }
    return t;
}

void Server::client_closed(Client* c) {
    stats.in_msgs += c->stats.in_msgs;
    stats.in_bytes += c->stats.in_bytes;
    stats.out_msgs += c->stats.out_msgs;
    stats.out_bytes += c->stats.out_bytes;
    std::shared_ptr<Client> keep;
    std::lock_guard lk(clients_mu_);
    auto it = clients_.find(c->cid());
    if (it != clients_.end() && it->second.get() == c) {
        keep = std::move(it->second);  // released after the lock
        clients_.erase(it);
    }
}

std::vector<std::shared_ptr<Client>> Server::clients() const {
    std::lock_guard lk(clients_mu_);
    std::vector<std::shared_ptr<Client>> v;
    v.reserve(clients_.size());
    for (auto& [id, c] : clients_) v.push_back(c);
    return v;
}

std::size_t Server::num_clients() const {
    std::lock_guard lk(clients_mu_);
    return clients_.size();
}

void Server::shutdown() {
    if (shutting_down_.exchange(true)) return;
    log::notice("Initiating Shutdown...");
    for (auto& h : shutdown_hooks_) h();
    asio::post(*loops_[0], [this] {
        boost::system::error_code ec;
        acceptor_->close(ec);
        if (ws_acceptor_) ws_acceptor_->close(ec);
    });
    if (monitor_) monitor_->stop();
    for (auto& c : clients()) c->close(CloseReason::ServerShutdown);
    // Wait (bounded) for the loops to close every client and flush what they had.
    for (int i = 0; i < 200 && num_clients() > 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    for (auto& l : loops_) l->stop();
    log::notice("Server Exiting..");
    if (!opts_.pid_file.empty()) ::unlink(opts_.pid_file.c_str());
    if (!opts_.ports_file_dir.empty())
        ::unlink(fmt::format("{}/osprey_{}.ports", opts_.ports_file_dir, ::getpid()).c_str());
    std::lock_guard lk(done_mu_);
    done_ = true;
    done_cv_.notify_all();
}

void Server::wait() {
    std::unique_lock lk(done_mu_);
    done_cv_.wait(lk, [this] { return done_; });
    lk.unlock();
    for (auto& t : threads_)
        if (t.joinable()) t.join();
}

}  // namespace osprey::server
