#include "cluster/route_manager.h"

#include "server/json_text.h"

#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include "cluster/route.h"
#include "server/account.h"
#include "server/client.h"
#include "server/message.h"
#include "server/server.h"
#include "util/log.h"
#include "util/random.h"
#include "util/rfc3339.h"

namespace osprey::cluster {

namespace asio = boost::asio;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using server::go_json;

namespace {

// nats://[user:pass@]host:port -> its parts.
struct Url {
    std::string user, pass, host, port;
};
std::optional<Url> parse_url(std::string_view u) {
    Url out;
    if (auto s = u.find("://"); s != std::string_view::npos) u.remove_prefix(s + 3);
    while (!u.empty() && u.back() == '/') u.remove_suffix(1);
    if (auto at = u.rfind('@'); at != std::string_view::npos) {
        std::string_view cred = u.substr(0, at);
        u.remove_prefix(at + 1);
        const auto c = cred.find(':');
        out.user = std::string(cred.substr(0, c));
        if (c != std::string_view::npos) out.pass = std::string(cred.substr(c + 1));
    }
    const auto colon = u.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    out.host = std::string(u.substr(0, colon));
    out.port = std::string(u.substr(colon + 1));
    if (out.host.size() > 1 && out.host.front() == '[') out.host = out.host.substr(1, out.host.size() - 2);
    if (out.host.empty() || out.port.empty()) return std::nullopt;
    return out;
}

std::string json_string(const json::object& o, const char* k) {
    auto it = o.find(k);
    return it != o.end() && it->value().is_string() ? std::string(it->value().get_string()) : std::string();
}
bool json_bool(const json::object& o, const char* k) {
    auto it = o.find(k);
    return it != o.end() && it->value().is_bool() && it->value().get_bool();
}


}  // namespace

RouteManager::RouteManager(server::Server& srv)
    : srv_(srv), opts_(srv.options().cluster), server_id_(srv.server_id()) {
    cluster_name_ = opts_.name;
    if (cluster_name_.empty()) {
        cluster_name_ = util::random_token(22);  // nats-server's dynamic name
        dynamic_name_ = true;
    }
    static bool hooked = false;
    if (!hooked) {
        server::Client::add_flush_hook(&Route::flush_scheduled);
        hooked = true;
    }
    // Local interest, as it is now and as it changes, for every account (also those made
    // while running, from account JWTs).
    auto watch = [this](server::Account* acc) {
        const std::string name = acc->name();
        for (const auto& s : acc->sublist().all()) local_interest(s, true, name);
        acc->sublist().set_observer([this, name](const subjects::SubPtr& s, bool inserted) {
            local_interest(s, inserted, name);
        });
    };
    for (server::Account* acc : srv_.accounts()) watch(acc);
    srv_.add_account_hook([this, watch](server::Account& acc) {
        watch(&acc);
        // What the peers announced for it before it existed here.
        std::vector<std::shared_ptr<Route>> routes;
        {
            std::lock_guard lk(mu_);
            routes.assign(routes_.begin(), routes_.end());
        }
        for (auto& r : routes) r->adopt_account(acc);
    });
    srv_.add_shutdown_hook([this] { stop(); });
    srv_.add_lame_duck_hook([this] { lame_duck(); });
    srv_.add_monitor_endpoint("/routez", [this](const std::map<std::string, std::string>& q) { return routez(q); });
    srv_.add_varz_section("cluster", [this](const std::map<std::string, std::string>&) { return varz_cluster(); });
    srv_.add_varz_section("routes", [this](const std::map<std::string, std::string>&) {
        std::lock_guard lk(mu_);
        return std::to_string(routes_.size());
    });
    srv_.add_varz_section("connect_urls", [this](const std::map<std::string, std::string>&) {
        json::array a;
        for (const auto& u : srv_.connect_urls()) a.push_back(json::value(u));
        return a.empty() ? std::string() : json::serialize(a);  // omitted when empty
    });
    srv_.add_varz_section("remotes", [this](const std::map<std::string, std::string>&) {
        std::lock_guard lk(mu_);
        return std::to_string(by_id_.size());
    });
}

RouteManager::~RouteManager() {
    for (server::Account* acc : srv_.accounts()) acc->sublist().set_observer(nullptr);
}

void RouteManager::start() {
    auto addr = asio::ip::make_address(opts_.host);
    tcp::endpoint ep(addr, static_cast<unsigned short>(opts_.port < 0 ? 0 : opts_.port));
    acceptor_ = std::make_unique<tcp::acceptor>(srv_.loop(0));
    acceptor_->open(ep.protocol());
    acceptor_->set_option(tcp::acceptor::reuse_address(true));
    acceptor_->bind(ep);
    acceptor_->listen(256);
    port_ = acceptor_->local_endpoint().port();
    advertise_host_ = opts_.host;
    advertise_port_ = port_;
    if (!opts_.advertise.empty()) {
        auto c = opts_.advertise.rfind(':');
        if (c == std::string::npos) {
            advertise_host_ = opts_.advertise;
        } else {
            advertise_host_ = opts_.advertise.substr(0, c);
            advertise_port_ = std::stoi(opts_.advertise.substr(c + 1));
        }
    }
    log::notice("Cluster name is {}", cluster_name_);
    log::notice("Listening for route connections on {}:{}", opts_.host, port_);
    {
        std::lock_guard lk(mu_);
        publish_urls_locked();
    }
    accept();
    for (const auto& url : opts_.routes) {
        auto u = parse_url(url);
        if (!u) {
            log::error("error parsing route url [\"{}\"]", url);
            continue;
        }
        dial(Dial{url, u->host, u->port, true, -1}, std::chrono::milliseconds(0));
    }
}

void RouteManager::stop() {
    std::vector<std::shared_ptr<Route>> routes;
    {
        std::lock_guard lk(mu_);
        if (stopped_) return;
        stopped_ = true;
        routes.assign(routes_.begin(), routes_.end());
    }
    if (acceptor_) {
        asio::post(srv_.loop(0), [this] {
            boost::system::error_code ec;
            acceptor_->close(ec);
        });
    }
    for (auto& r : routes) r->close("Server Shutdown");
    // Bounded wait for the loops to close them (the server stops its loops next): a route
    // closes its socket and drops the subscriptions that keep it alive.
    for (int i = 0; i < 200; ++i) {
        {
            std::lock_guard lk(mu_);
            if (routes_.empty()) break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

// ---- connections ----

void RouteManager::accept() {
    const int idx = int(util::fast_rand() % std::uint64_t(srv_.loop_count()));
    acceptor_->async_accept(srv_.loop(idx), [this, idx](const boost::system::error_code& ec, tcp::socket sock) {
        if (ec) {
            if (ec == asio::error::operation_aborted) return;
            std::lock_guard lk(mu_);
            if (stopped_) return;
        } else {
            std::shared_ptr<Route> r;
            {
                std::lock_guard lk(mu_);
                if (stopped_) return;
                r = std::make_shared<Route>(*this, idx, std::move(sock), ++next_rid_, false, std::string(), false);
                routes_.insert(r);
            }
            log::debug("{} - Route connection created", tag(*r));
            asio::post(srv_.loop(idx), [r] { r->start(); });
        }
        accept();
    });
}

void RouteManager::dial(Dial d, std::chrono::milliseconds after) {
    const int idx = int(util::fast_rand() % std::uint64_t(srv_.loop_count()));
    auto timer = std::make_shared<asio::steady_timer>(srv_.loop(idx), after);
    timer->async_wait([this, d, idx, timer](const boost::system::error_code& ec) {
        if (ec) return;
        {
            std::lock_guard lk(mu_);
            if (stopped_) return;
        }
        auto sock = std::make_shared<tcp::socket>(srv_.loop(idx));
        auto resolver = std::make_shared<tcp::resolver>(srv_.loop(idx));
        auto deadline = std::make_shared<asio::steady_timer>(srv_.loop(idx), std::chrono::seconds(1));
        deadline->async_wait([sock](const boost::system::error_code& e) {
            if (!e) {
                boost::system::error_code ignore;
                sock->close(ignore);  // the dial took too long (nats-server: 1 s)
            }
        });
        auto retry = [this, d](const std::string& why) mutable {
            if (d.attempts_left == 0) {
                log::debug("Giving up on route {}: {}", d.url, why);
                return;
            }
            if (d.attempts_left > 0) --d.attempts_left;
            log::debug("Error trying to connect to route {}: {}", d.url, why);
            dial(d, std::chrono::milliseconds(1000));
        };
        resolver->async_resolve(d.host, d.port, [this, d, idx, sock, resolver, deadline, retry](
                                                    const boost::system::error_code& rec,
                                                    tcp::resolver::results_type res) mutable {
            if (rec) {
                deadline->cancel();
                retry(rec.message());
                return;
            }
            asio::async_connect(*sock, res, [this, d, idx, sock, deadline, retry](const boost::system::error_code& cec,
                                                                                   const tcp::endpoint&) mutable {
                deadline->cancel();
                if (cec) {
                    retry(cec.message());
                    return;
                }
                std::shared_ptr<Route> r;
                {
                    std::lock_guard lk(mu_);
                    if (stopped_) return;
                    r = std::make_shared<Route>(*this, idx, std::move(*sock), ++next_rid_, true, d.url, d.configured);
                    routes_.insert(r);
                }
                log::debug("{} - Route connection created", tag(*r));
                r->start();
            });
        });
    });
}

void RouteManager::on_route_closed(const std::shared_ptr<Route>& r, const std::string& reason) {
    bool redial = false;
    {
        std::lock_guard lk(mu_);
        routes_.erase(r);
        auto it = by_id_.find(r->remote_id);
        const bool was_registered = it != by_id_.end() && it->second == r;
        if (was_registered) {
            by_id_.erase(it);
            for (const auto& u : r->remote_client_urls)
                if (--url_refs_[u] <= 0) url_refs_.erase(u);
            publish_urls_locked();
            log::notice("{} - Router connection closed: {}", tag(*r), reason);
        }
        // A configured route is dialed again, unless the peer is still there through another
        // connection or it was ourselves.
        redial = !stopped_ && r->solicited() && r->configured() && r->remote_id != server_id_ &&
                 !(by_id_.count(r->remote_id) && !was_registered);
        if (!redial && !stopped_ && r->solicited() && r->configured() && by_id_.count(r->remote_id)) {
            // Dormant: dialed again when that other connection goes.
            dialing_.insert(r->url() + "\n" + r->remote_id);
        }
        if (was_registered) {
            // Configured routes that waited for this peer's other connection.
            for (auto d = dialing_.begin(); d != dialing_.end();) {
                const auto nl = d->find('\n');
                if (d->substr(nl + 1) == r->remote_id) {
                    const std::string url = d->substr(0, nl);
                    if (auto u = parse_url(url))
                        dial(Dial{url, u->host, u->port, true, -1},
                             std::chrono::milliseconds(1000 + util::fast_rand() % 100));
                    d = dialing_.erase(d);
                } else {
                    ++d;
                }
            }
        }
    }
    if (redial) {
        if (auto u = parse_url(r->url()))
            dial(Dial{r->url(), u->host, u->port, true, -1}, std::chrono::milliseconds(1000 + util::fast_rand() % 100));
    }
}

// ---- the handshake ----

std::string RouteManager::cluster_name() const {
    std::lock_guard lk(mu_);
    return cluster_name_;
}

bool RouteManager::cluster_name_matches(const std::string& peer, bool peer_dynamic) {
    std::lock_guard lk(mu_);
    if (peer.empty() || peer == cluster_name_) return true;
    // A dynamic name gives way to a configured one, or to the greater of two dynamic ones.
    if (dynamic_name_ && (!peer_dynamic || cluster_name_ < peer)) {
        log::notice("Cluster name updated to {}", peer);
        cluster_name_ = peer;
        dynamic_name_ = peer_dynamic;
        publish_urls_locked();
        return true;
    }
    return false;
}

bool RouteManager::authorized(const std::string& user, const std::string& pass) const {
    if (!auth_required()) return true;
    return user == opts_.user && server::check_secret(pass, opts_.password);
}

std::size_t RouteManager::max_route_pending() const {
    // Routes carry the traffic of many clients: a larger bound than one client's.
    return std::size_t(std::max<std::int64_t>(srv_.options().max_pending, 64LL << 20)) * 4;
}

std::string RouteManager::tag(const Route& r) const {
    return fmt::format("{}:{} - rid:{}", r.remote_ip, r.remote_port, r.rid());
}

std::string RouteManager::info_line(bool first, bool ldm) {
    const auto& o = srv_.options();
    json::object i{{"server_id", server_id_},
                   {"server_name", srv_.server_name()},
                   {"version", server::kCompatVersion},
                   {"proto", 2},
                   {"go", "go1.19.8"},
                   {"host", advertise_host_},
                   {"port", advertise_port_},
                   {"headers", true}};
    if (auth_required()) i["auth_required"] = true;
    i["max_payload"] = o.max_payload;
    if (o.jetstream) i["jetstream"] = true;
    if (!o.server_tags.empty()) {
        json::array tags;
        for (const auto& t : o.server_tags) tags.push_back(json::value(t));
        i["tags"] = std::move(tags);  // (osprey's: a stream's placement among the servers)
    }
    if (!opts_.advertise.empty()) i["ip"] = fmt::format("nats-route://{}:{}/", advertise_host_, advertise_port_);
    if (first) i["nonce"] = util::random_token(15);
    {
        std::lock_guard lk(mu_);
        i["cluster"] = cluster_name_;
        if (dynamic_name_) i["cluster_dynamic"] = true;
    }
    if (!opts_.no_advertise) {
        json::array urls;
        for (const auto& u : srv_.client_urls()) urls.push_back(json::value(u));
        i["connect_urls"] = std::move(urls);
    }
    if (ldm) i["ldm"] = true;
    return "INFO " + go_json(i) + " \r\n";
}

std::string RouteManager::connect_line(const std::string& url) {
    // The route URL's credentials, or for a gossiped route our own cluster credentials.
    auto u = parse_url(url);
    std::string user = u ? u->user : std::string(), pass = u ? u->pass : std::string();
    if (user.empty() && !opts_.user.empty()) {
        user = opts_.user;
        pass = opts_.password;
    }
    json::object c{{"echo", true}, {"verbose", false}, {"pedantic", false}};
    if (!user.empty()) {
        c["user"] = user;
        c["pass"] = pass;
    }
    c["tls_required"] = false;
    c["headers"] = true;
    c["name"] = server_id_;
    {
        std::lock_guard lk(mu_);
        c["cluster"] = cluster_name_;
        if (dynamic_name_) c["cluster_dynamic"] = true;
    }
    return "CONNECT " + go_json(c) + "\r\n";
}

bool RouteManager::on_route_info(const std::shared_ptr<Route>& r, const json::object& info, bool first) {
    const std::string id = json_string(info, "server_id");
    if (!first) {
        if (!json_string(info, "gateway").empty()) return true;  // gateway gossip: not ours
        if (id == r->remote_id) {
            if (json_bool(info, "ldm")) {
                // The peer goes into lame duck: its clients should not come here.
                std::lock_guard lk(mu_);
                for (const auto& u : r->remote_client_urls)
                    if (--url_refs_[u] <= 0) url_refs_.erase(u);
                r->remote_client_urls.clear();
                publish_urls_locked();
            }
            return true;
        }
        // Gossip: a server of the cluster we do not know yet.
        std::string ip = json_string(info, "ip");
        std::lock_guard lk(mu_);
        if (id.empty() || id == server_id_ || by_id_.count(id) || ip.empty() || stopped_) return true;
        auto u = parse_url(ip);
        if (!u) return true;
        for (const auto& c : opts_.routes) {
            auto cu = parse_url(c);
            if (cu && cu->host == u->host && cu->port == u->port) return true;  // dialed anyway
        }
        const std::string key = "implicit:" + id;
        if (dialing_.count(key)) return true;
        dialing_.insert(key);
        log::debug("Implicit route to {} ({})", id, ip);
        dial(Dial{ip, u->host, u->port, false, opts_.connect_retries}, std::chrono::milliseconds(0));
        return true;
    }
    if (id == server_id_) {
        if (r->solicited()) log::debug("Detected route to self, ignoring \"{}\"", r->url());
        r->remote_id = id;
        return false;
    }
    const std::string cluster = json_string(info, "cluster");
    if (!cluster_name_matches(cluster, json_bool(info, "cluster_dynamic"))) {
        log::error("{} - Rejecting connection, cluster name \"{}\" does not match \"{}\"", tag(*r), cluster, cluster_name());
        return false;
    }
    const std::string name = json_string(info, "server_name");
    if (!r->solicited() && name == srv_.server_name()) {
        log::error("{} - Remote server has a duplicate name: \"{}\"", tag(*r), name);
        return false;
    }
    r->remote_id = id;
    r->remote_name = name;
    r->remote_cluster = cluster;
    r->remote_info = info;
    if (auto h = info.find("headers"); h != info.end() && h->value().is_bool()) r->peer_headers = r->peer_headers && h->value().get_bool();
    if (auto it = info.find("connect_urls"); it != info.end() && it->value().is_array())
        for (const auto& u : it->value().get_array())
            if (u.is_string()) r->remote_client_urls.emplace_back(u.get_string());
    std::lock_guard lk(mu_);
    if (stopped_) return false;
    dialing_.erase("implicit:" + id);
    if (by_id_.count(id)) {
        log::debug("{} - Detected duplicate remote route \"{}\"", tag(*r), id);
        return false;  // the first registered stays
    }
    by_id_[id] = r;
    log::notice("{} - Route connection created, registering remote route \"{}\" ({})", tag(*r), id, name);
    // Everything we are interested in, then every change as it happens (under mu_, in order).
    r->send_line(dump_locked());
    forward_info_locked(r);
    for (const auto& u : r->remote_client_urls) ++url_refs_[u];
    publish_urls_locked();
    Route::flush_scheduled();
    return true;
}

void RouteManager::forward_info_locked(const std::shared_ptr<Route>& about) {
    // The other routes learn of the new peer (and dial it): its INFO with the address we see.
    if (by_id_.size() < 2) return;
    json::object i = about->remote_info;
    i.erase("nonce");
    if (!i.contains("ip") || !i["ip"].is_string() || i["ip"].get_string().empty()) {
        auto p = about->remote_info.find("port");
        const std::string port = p != about->remote_info.end() ? json::serialize(p->value()) : "0";
        i["ip"] = fmt::format("nats-route://{}:{}/", about->remote_ip, port);
    }
    const std::string line = "INFO " + go_json(i) + "\r\n";
    for (auto& [id, r] : by_id_)
        if (r != about) r->send_line(line);
}

void RouteManager::publish_urls_locked() {
    // Clients learn the cluster's name and every server's client URLs (ours first).
    std::vector<std::string> urls;
    if (!opts_.no_advertise && !by_id_.empty()) {
        urls = srv_.client_urls();
        for (const auto& [u, n] : url_refs_)
            if (n > 0 && std::find(urls.begin(), urls.end(), u) == urls.end()) urls.push_back(u);
    }
    srv_.set_cluster_info(cluster_name_, urls);
}

// ---- interest ----

void RouteManager::local_interest(const subjects::SubPtr& sub, bool inserted, const std::string& account) {
    if (!sub->propagates()) return;
    const std::string key = sub->queue.empty() ? sub->subject : sub->subject + " " + sub->queue;
    std::lock_guard lk(mu_);
    using O = subjects::Subscription::Observed;
    if (inserted) {
        if (sub->observed == O::removed_first) return;  // gone already: never announce it
        sub->observed = O::counted;
    } else {
        if (sub->observed != O::counted) {
            sub->observed = O::removed_first;
            return;
        }
        sub->observed = O::none;
    }
    auto& counts = interest_[account];
    std::int64_t& n = counts[key];
    n += inserted ? 1 : -1;
    std::string line;
    if (sub->queue.empty()) {
        if (inserted && n == 1) line = fmt::format("RS+ {} {}\r\n", account, sub->subject);
        if (!inserted && n == 0) line = fmt::format("RS- {} {}\r\n", account, sub->subject);
    } else {
        line = n > 0 ? fmt::format("RS+ {} {} {} {}\r\n", account, sub->subject, sub->queue, n)
                     : fmt::format("RS- {} {} {}\r\n", account, sub->subject, sub->queue);
    }
    if (n <= 0) counts.erase(key);
    if (!line.empty()) broadcast_locked(line);
}

std::string RouteManager::dump_locked() const {
    std::string out;
    for (const auto& [acc, counts] : interest_) {
        for (const auto& [key, n] : counts) {
            if (n <= 0) continue;
            if (key.find(' ') == std::string::npos) out += fmt::format("RS+ {} {}\r\n", acc, key);
            else out += fmt::format("RS+ {} {} {}\r\n", acc, key, n);
        }
    }
    return out;
}

void RouteManager::broadcast_locked(const std::string& line) {
    for (auto& [id, r] : by_id_) r->send_line(line);
}

void RouteManager::lame_duck() {
    const std::string line = info_line(false, true);  // takes mu_ itself
    std::lock_guard lk(mu_);
    broadcast_locked(line);
    Route::flush_scheduled();
}

std::vector<RouteManager::Peer> RouteManager::peers() const {
    std::vector<Peer> out;
    std::lock_guard lk(mu_);
    for (const auto& [id, r] : by_id_) {
        Peer p{id, r->remote_name, false, {}};
        if (auto it = r->remote_info.find("jetstream"); it != r->remote_info.end() && it->value().is_bool())
            p.jetstream = it->value().get_bool();
        if (auto it = r->remote_info.find("tags"); it != r->remote_info.end() && it->value().is_array())
            for (const auto& t : it->value().get_array())
                if (t.is_string()) p.tags.emplace_back(t.get_string());
        out.push_back(std::move(p));
    }
    return out;
}

std::size_t RouteManager::configured_peers() const {
    // A configured route to our own listen port (one config shared by every server) is not a
    // peer.
    std::set<std::string> others;
    for (const auto& c : opts_.routes) {
        auto u = parse_url(c);
        if (!u) continue;
        const bool local = u->host == "127.0.0.1" || u->host == "localhost" || u->host == opts_.host ||
                           u->host == advertise_host_;
        if (local && u->port == std::to_string(port_)) continue;
        others.insert(u->host + ":" + u->port);
    }
    return others.size();
}

// ---- monitoring ----

std::string RouteManager::routez(const std::map<std::string, std::string>& q) {
    auto flag = [&](const char* k) {
        auto it = q.find(k);
        return it != q.end() && (it->second == "1" || it->second == "true" || it->second == "detail");
    };
    const bool with_subs = flag("subs");
    std::vector<std::shared_ptr<Route>> routes;
    {
        std::lock_guard lk(mu_);
        routes.assign(routes_.begin(), routes_.end());
    }
    std::sort(routes.begin(), routes.end(), [](auto& a, auto& b) { return a->rid() < b->rid(); });
    auto time_text = [](std::chrono::system_clock::time_point t) {
        return util::format_rfc3339_nano(util::Rfc3339{
            std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count(), 0});
    };
    json::array list;
    for (auto& r : routes) {
        if (r->remote_id.empty()) continue;
        auto subs = r->subscriptions();
        json::object e{{"rid", r->rid()},
                       {"remote_id", r->remote_id},
                       {"did_solicit", r->solicited()},
                       {"is_configured", r->configured()},
                       {"ip", r->remote_ip},
                       {"port", r->remote_port},
                       {"start", time_text(r->started())},
                       {"last_activity", time_text(std::chrono::system_clock::now())},
                       {"rtt", fmt::format("{}µs", r->rtt_ns() / 1000)},
                       {"uptime", fmt::format("{}s", std::chrono::duration_cast<std::chrono::seconds>(
                                                         std::chrono::system_clock::now() - r->started()).count())},
                       {"idle", "0s"},
                       {"pending_size", r->pending_bytes()},
                       {"in_msgs", r->stats.in_msgs.load()},
                       {"out_msgs", r->stats.out_msgs.load()},
                       {"in_bytes", r->stats.in_bytes.load()},
                       {"out_bytes", r->stats.out_bytes.load()},
                       {"subscriptions", subs.size()}};
        if (with_subs) {
            json::array sl;
            for (const auto& k : subs) {
                // "<acc> <subject>[ <queue>]" -> the subject
                auto a = k.find(' ');
                auto rest = k.substr(a + 1);
                sl.push_back(json::value(rest.substr(0, rest.find(' '))));
            }
            e["subscriptions_list"] = std::move(sl);
        }
        list.push_back(std::move(e));
    }
    json::object o{{"server_id", server_id_},
                   {"now", time_text(std::chrono::system_clock::now())},
                   {"num_routes", list.size()},
                   {"routes", std::move(list)}};
    return json::serialize(o);
}

std::string RouteManager::varz_cluster() {
    json::object c{{"name", cluster_name()}, {"addr", opts_.host}, {"cluster_port", port_},
                   {"auth_timeout", opts_.auth_timeout_ms % 1000 == 0 ? json::value(opts_.auth_timeout_ms / 1000)
                                                                 : json::value(double(opts_.auth_timeout_ms) / 1000.0)}};
    json::array urls;
    for (const auto& r : opts_.routes)
        if (auto u = parse_url(r)) urls.push_back(json::value(u->host + ":" + u->port));
    if (!urls.empty()) c["urls"] = std::move(urls);
    c["tls_timeout"] = 2;
    return json::serialize(c);
}

}  // namespace osprey::cluster
