// One route: a connection to another server of the cluster, speaking nats-server 2.9.10's
// route protocol (INFO/CONNECT, RS+/RS- interest, RMSG/HMSG, PING/PONG).
//
// Threads: like a client, a route lives on one event loop (reads, parsing, interest updates,
// timers). Messages to it come from any loop: they append to its outbound buffer under
// out_mu_ and are flushed at the end of the delivering thread's batch. A peer that stops
// reading is cut at a bound (its messages would otherwise grow without end) and, for a route
// we dialed, dialed again by the manager.
#pragma once
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "protocol/route_parser.h"
#include "server/message.h"

namespace osprey::server {
class Account;
}

namespace osprey::cluster {

class RouteManager;

// What a peer is subscribed to, as one subscription in the account's trie.
struct RouteSub;

class Route : public std::enable_shared_from_this<Route>,
              public server::RemoteTarget,
              private protocol::RouteHandler {
public:
    using tcp = boost::asio::ip::tcp;
    Route(RouteManager& mgr, int loop, tcp::socket socket, std::uint64_t rid, bool solicited,
          std::string url, bool configured);
    ~Route() override;

    void start();                    // on its loop: CONNECT+INFO (dialed) or INFO (accepted), read
    void close(const std::string& reason);  // from any thread
    // Messages and protocol lines, from any thread.
    void send_routed(std::string_view account, const server::Message& m, std::string_view queues) override;
    void send_line(std::string_view line);
    static void flush_scheduled();   // end of a batch: write out what this thread queued

    std::uint64_t rid() const { return rid_; }
    bool solicited() const { return solicited_; }
    bool configured() const { return configured_; }
    const std::string& url() const { return url_; }
    // Set once the peer's INFO was taken (on the route's loop; read under the manager's lock).
    std::string remote_id, remote_name, remote_cluster;
    std::vector<std::string> remote_client_urls;
    boost::json::object remote_info;  // as the peer sent it (for gossip)
    std::string remote_ip;            // the peer's address as we see it
    int remote_port = 0;              // its cluster port when we dialed, an ephemeral one if it did
    bool peer_headers = true;

    struct Stats {
        std::atomic<std::uint64_t> in_msgs{0}, in_bytes{0}, out_msgs{0}, out_bytes{0};
    } stats;
    std::chrono::system_clock::time_point started() const { return start_; }
    std::int64_t rtt_ns() const { return rtt_ns_.load(); }
    std::size_t pending_bytes() const;
    std::vector<std::string> subscriptions() const;  // "<acc> <subject>[ <queue>]"
    // An account this server did not have when the peer announced interest in it (operator
    // mode: made later from its JWT): that interest takes effect now.
    void adopt_account(server::Account& acc);

private:
    // RouteHandler
    bool on_info(std::string_view json) override;
    bool on_connect(std::string_view json) override;
    bool on_ping() override;
    bool on_pong() override;
    bool on_err(std::string_view text) override;
    bool on_sub(std::string_view account, std::string_view subject, std::string_view queue,
                std::int32_t weight) override;
    bool on_unsub(std::string_view account, std::string_view subject, std::string_view queue) override;
    bool on_msg(const protocol::RouteMsg& m) override;

    void do_read();
    void on_read(const boost::system::error_code& ec, std::size_t n);
    void close_now(const std::string& reason);
    void start_ping_timer(bool first);
    void send_err(std::string_view text);
    bool write_locked();
    void wait_writable();
    void flush();
    void remove_all_subs();

    RouteManager& mgr_;
    int loop_;
    tcp::socket socket_;
    int fd_;
    std::uint64_t rid_;
    bool solicited_, configured_;
    std::string url_;
    std::chrono::system_clock::time_point start_;

    // Read side: the route's loop only.
    std::string rbuf_;
    std::size_t rlen_ = 0;
    bool connect_received_ = false;
    bool info_received_ = false;
    // on_msg's lookup of the last message's account (the route's loop only).
    std::string last_account_;
    server::Account* last_acc_ = nullptr;
    int pings_out_ = 0;
    std::chrono::steady_clock::time_point ping_sent_{};
    std::atomic<std::int64_t> rtt_ns_{0};
    boost::asio::steady_timer ping_timer_, auth_timer_, deadline_timer_;
    // The peer's subscriptions, by nats-server's key "<acc> <subject>[ <queue>]".
    mutable std::mutex subs_mu_;
    std::unordered_map<std::string, std::shared_ptr<RouteSub>> subs_;
    // Interest in accounts not (yet) known here, by account then key, as subject, queue and
    // weight; bounded, kept only where accounts appear while running (a nats based resolver).
    struct PendingSub {
        std::string subject, queue;
        std::int32_t weight;
    };
    std::unordered_map<std::string, std::unordered_map<std::string, PendingSub>> pending_;
    std::size_t pending_count_ = 0;
    void take_interest(server::Account* acc, const std::string& key, std::string_view subject,
                       std::string_view queue, std::int32_t weight);

    // Write side: any thread.
    mutable std::mutex out_mu_;
    std::string out_;
    std::size_t out_off_ = 0;
    bool flush_scheduled_ = false, write_blocked_ = false, closed_ = false;
    bool line_flush_posted_ = false;  // a protocol line waits for the flush posted to our loop
    std::atomic<bool> closing_{false};
};

}  // namespace osprey::cluster
