// The cluster of core NATS: the route listener, the routes we dial (configured ones forever,
// gossiped ones a few times), the registry of peers by server id (one route per peer, the
// first registered wins as in nats-server 2.9.10), the propagation of local interest (RS+/RS-
// refcounted per account, subject and queue), the client URLs the cluster advertises, lame
// duck, and /routez with the /varz cluster block.
//
// Lock order: RouteManager::mu_ < Route::subs_mu_ / out_mu_. Interest updates arrive from any
// thread (a Sublist observer) and are sent under mu_, so every route sees them in order and
// a new route's full dump is never overtaken.
#pragma once
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "server/options.h"
#include "subjects/sublist.h"

namespace osprey::server {
class Server;
struct Message;
}

namespace osprey::cluster {

class Route;

class RouteManager {
public:
    // Installs the interest observers (before the server starts serving).
    explicit RouteManager(server::Server& srv);
    ~RouteManager();
    void start();  // after the server's loops run: listen, dial the configured routes
    void stop();

    server::Server& server() { return srv_; }
    // For routes.
    std::string info_line(bool first, bool ldm = false);
    std::string connect_line(const std::string& url);
    bool auth_required() const { return !opts_.user.empty(); }
    std::int64_t auth_timeout_ms() const { return opts_.auth_timeout_ms; }
    bool authorized(const std::string& user, const std::string& pass) const;
    bool cluster_name_matches(const std::string& peer, bool peer_dynamic);
    std::string cluster_name() const;
    std::size_t max_route_pending() const;
    // The peer's INFO: false when the route must go (self, duplicate, other cluster).
    bool on_route_info(const std::shared_ptr<Route>& r, const boost::json::object& info, bool first);
    void on_route_closed(const std::shared_ptr<Route>& r, const std::string& reason);
    std::string tag(const Route& r) const;

    // The servers registered through routes now (JetStream's cluster layer counts them).
    struct Peer {
        std::string server_id, server_name;
        bool jetstream = false;
        std::vector<std::string> tags;  // its server_tags (an osprey peer's INFO carries them)
    };
    std::vector<Peer> peers() const;
    // How many servers the configured routes name besides this one (the cluster size a first
    // start waits for, minus one).
    std::size_t configured_peers() const;

private:
    struct Dial {
        std::string url, host, port;
        bool configured;
        int attempts_left;  // -1: forever
    };
    void accept();
    void dial(Dial d, std::chrono::milliseconds after);
    void local_interest(const subjects::SubPtr& sub, bool inserted, const std::string& account);
    std::string dump_locked() const;
    void broadcast_locked(const std::string& line);
    void publish_urls_locked();
    void forward_info_locked(const std::shared_ptr<Route>& about);
    void lame_duck();
    std::string routez(const std::map<std::string, std::string>& q);
    std::string varz_cluster();

    server::Server& srv_;
    const server::ClusterOptions opts_;
    std::string server_id_;
    mutable std::mutex mu_;
    std::string cluster_name_;
    bool dynamic_name_ = false;
    std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
    int port_ = 0;
    std::string advertise_host_;
    int advertise_port_ = 0;
    std::uint64_t next_rid_ = 0;
    std::set<std::shared_ptr<Route>> routes_;                   // every open route
    std::map<std::string, std::shared_ptr<Route>> by_id_;      // registered, by server id
    std::set<std::string> dialing_;                            // urls being dialed
    // Local interest: per account, "<subject>" or "<subject> <queue>" -> count.
    std::map<std::string, std::map<std::string, std::int64_t>> interest_;
    std::map<std::string, std::int64_t> url_refs_;             // peers' client URLs
    std::vector<std::unique_ptr<boost::asio::steady_timer>> timers_;
    bool stopped_ = false;
};

}  // namespace osprey::cluster
