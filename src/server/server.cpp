#include "server/server.h"

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
#include "server/client.h"
#include "server/monitor.h"
#include "server/system_services.h"
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
    auth_required_ = opts_.auth_required();
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
    info_prefix_ = fmt::format(
        "INFO {{\"server_id\":\"{}\",\"server_name\":\"{}\",\"version\":\"{}\",\"proto\":1,"
        "\"go\":\"go1.19.8\",\"host\":\"{}\",\"port\":{},\"headers\":true,{}\"max_payload\":{}{}",
        server_id_, json_escape(server_name_), kCompatVersion, json_escape(opts_.host),
        // With no_auth_user a client may come without credentials: nats-server does not
        // announce auth_required then.
        opts_.port, auth_required_ && opts_.no_auth_user.empty() ? "\"auth_required\":true," : "", opts_.max_payload,
        opts_.jetstream ? ",\"jetstream\":true" : "");
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
    auto it = accounts_.find(name);
    return it == accounts_.end() ? nullptr : it->second.get();
}

std::vector<Server::JetStreamAccount> Server::jetstream_accounts() const {
    std::vector<JetStreamAccount> v{{global_}};
    for (const auto& def : opts_.accounts)
        if (def.jetstream)
            v.push_back({find_account(def.name), def.js_max_memory, def.js_max_file,
                         def.js_max_streams, def.js_max_consumers});
    return v;
}

std::vector<Account*> Server::accounts() const {
    std::vector<Account*> v;
    for (auto& [n, a] : accounts_) v.push_back(a.get());
    return v;
}

std::optional<Server::Auth> Server::authenticate(const std::string& user, const std::string& pass,
                                                 const std::string& token) const {
    // The no_auth_user path passes no secret: it is a lookup by name only.
    const bool by_name_only = pass.empty() && token.empty() && user == opts_.no_auth_user &&
                              !opts_.no_auth_user.empty();
    if (!opts_.token.empty() && users_.empty()) {
        if (!check_secret(token, opts_.token)) return std::nullopt;
        Auth a;
        a.account = global_;
        a.permissions = opts_.default_permissions ? &*opts_.default_permissions : nullptr;
        return a;
    }
    for (const auto& u : users_) {
        if (u.username != user) continue;
        if (!by_name_only && !check_secret(pass, u.password)) return std::nullopt;
        Auth a;
        a.account = u.account.empty() ? global_ : find_account(u.account);
        a.permissions = u.permissions ? &*u.permissions : nullptr;
        a.user = u.username;
        return a;
    }
    return std::nullopt;
}

std::string Server::info_line(std::uint64_t cid, const std::string& ip, bool ldm) const {
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
    return fmt::format("{},\"client_id\":{},\"client_ip\":\"{}\"{}}} \r\n", info_prefix_, cid, ip, cluster);
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

    if (opts_.http_port != 0) {
        monitor_->start(opts_.http_host.empty() ? opts_.host : opts_.http_host, opts_.http_port);
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
    if (bound_port_ != opts_.port) {
        // A random port (-1/0) is reported in INFO as the real one.
        opts_.port = bound_port_;
        build_info_prefix();
    }
    if (!opts_.pid_file.empty()) {
        std::ofstream(opts_.pid_file) << ::getpid();
    }
    write_ports_file();
    install_signals();
    do_accept();
    for (auto& l : loops_) {
        threads_.emplace_back([ctx = l.get()] {
            auto guard = asio::make_work_guard(*ctx);
            ctx->run();
        });
    }
    log::notice("Server is ready");
}

int Server::http_port() const { return monitor_ ? monitor_->port() : 0; }

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
    wait_signal();
}

void Server::wait_signal() {
    signals_set_->async_wait([this](const boost::system::error_code& ec, int sig) {
        if (ec) return;
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

void Server::do_accept() {
    const int idx = int(next_loop_.fetch_add(1) % loops_.size());
    acceptor_->async_accept(*loops_[idx], [this, idx](const boost::system::error_code& ec,
                                                      tcp::socket sock) {
        if (ec) {
            if (ec == asio::error::operation_aborted || shutting_down_) return;
            log::error("Error accepting client connection: {}", ec.message());
            do_accept();
            return;
        }
        const std::uint64_t cid = ++next_cid_;
        stats.total_connections.fetch_add(1, std::memory_order_relaxed);
        auto c = std::make_shared<Client>(*this, idx, std::move(sock), cid);
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
        do_accept();
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
