// One client connection. Lives on one event loop for its whole life.
//
// Threads: the read side (parsing, processing, subscriptions) runs on the client's own loop.
// The write side is shared: any loop that routes a message to this client appends to its
// outbound buffer under `out_mu_` and schedules one flush at the end of its read batch.
// Lock order: a client never holds its out_mu_ while taking another lock except the socket
// write itself; Sublist locks are never held while taking out_mu_.
#pragma once
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "protocol/parser.h"
#include "server/connect_opts.h"
#include "server/server.h"
#include "server/message.h"
#include "subjects/local_match_cache.h"

namespace osprey::transport {
class Wire;
}

namespace osprey::server {

class Server;
class Account;
struct Permissions;
struct ResponsePermission;

class Client;

// A client's subscription, as the trie holds it.
struct ClientSub : Receiver {
    Client* client = nullptr;  // valid while the sub is in a trie: the client removes its
                               // subs before it goes away, and a publisher keeps the client
                               // alive through `keep` while it delivers.
    std::shared_ptr<Client> keep;
    std::string sid;
    std::atomic<std::uint64_t> delivered{0};
    std::atomic<std::uint64_t> max{0};  // 0: no auto-unsubscribe
    bool deliver(const Message& m) override;
    Client* owner() const override { return client; }
};

enum class CloseReason {
    ClientClosed,
    ReadError,
    WriteError,
    ProtocolViolation,
    AuthViolation,
    AuthTimeout,
    MaxPayload,
    MaxControlLine,
    MaxConnections,
    SlowConsumerPending,
    SlowConsumerDeadline,
    StaleConnection,
    ServerShutdown,
    AuthExpired,             // a user JWT (or its account) expired while connected
    MaxAccountConnections,   // the account JWT's conn limit
    MaxSubscriptions,        // a JWT's subs limit reached at CONNECT
    Revocation,              // an account JWT update revoked the user's JWT
    TlsHandshakeError,       // TLS failed or timed out, or the WebSocket upgrade was refused
};
const char* reason_text(CloseReason r);

struct ClientStats {
    std::atomic<std::uint64_t> in_msgs{0}, in_bytes{0}, out_msgs{0}, out_bytes{0};
    std::atomic<std::uint64_t> stalls{0};  // times this producer paused for a slow reader
};

class Client : public std::enable_shared_from_this<Client> {
public:
    // Deliveries made by internal receivers (JetStream ingest, acks, the API) do not stall the
    // client whose publish set them off: nats-server delivers those from its own goroutines.
    class StallExempt {
    public:
        StallExempt();
        ~StallExempt();
        StallExempt(const StallExempt&) = delete;
        StallExempt& operator=(const StallExempt&) = delete;

    private:
        Client* saved_;
    };

    using tcp = boost::asio::ip::tcp;
    // `wire`: TLS and/or WebSocket between the socket and the protocol (null: plain TCP).
    Client(Server& server, int loop_index, tcp::socket socket, std::uint64_t cid,
           std::unique_ptr<transport::Wire> wire = nullptr);
    ~Client();

    void start();  // on its loop: send INFO, start timers and reading
    void reject_max_connections();  // on its loop: INFO, -ERR, close
    // The cluster changed (or lame duck): a fresh INFO, for clients that take async INFO.
    void send_async_info(bool ldm);
    // Something besides clients to flush at the end of a read batch (the cluster's routes).
    static void add_flush_hook(void (*fn)());
    // Close from any thread; the work happens on the client's loop.
    void close(CloseReason reason);
    // Operator mode, an account JWT was updated: `check` runs on the client's loop and names
    // the -ERR to send and the reason to close for, or nothing (the connection stays).
    struct Verdict {
        std::string err;  // "": closed without an -ERR
        CloseReason reason;
    };
    void recheck(std::function<std::optional<Verdict>(Client&)> check);
    // The connection's subs and payload limits after an account update (the loop only).
    void set_jwt_limits(std::int64_t max_subs, std::int64_t max_payload);
    std::int64_t user_max_subs() const { return user_max_subs_; }
    std::int64_t user_max_payload() const { return user_max_payload_; }
    const std::string& user_signer() const { return user_signer_; }
    std::size_t num_subs() const;
    // What the recheck looks at (the client's loop only).
    Account* current_account() const { return account_; }
    const std::string& auth_user() const { return user_; }  // a JWT user: its public key
    std::int64_t jwt_iat() const { return jwt_iat_; }       // the user JWT's issue time

    // Delivery, from any thread. Returns false if the client is closing.
    bool enqueue_msg(std::string_view subject, std::string_view sid, std::string_view reply,
                     std::string_view headers, std::string_view payload);
    // Writes out what is buffered (any thread).
    void flush();

    std::uint64_t cid() const { return cid_; }
    std::int64_t rtt_ns() const { return rtt_ns_.load(std::memory_order_relaxed); }
    bool echo() const { return opts_.echo; }
    bool takes_headers() const { return headers_ok_.load(std::memory_order_relaxed); }
    const Permissions* permissions() const { return perms_.load(std::memory_order_acquire); }
    // Deliveries are checked against the subscribe deny list once a wildcard subscription
    // covered one of its entries (nats-server's rule).
    bool deny_filter() const { return deny_filter_.load(std::memory_order_relaxed); }
    void auto_unsubscribe(ClientSub* sub);  // max reached
    // allow_responses: a request delivered to this client may be answered on its reply subject
    // (up to the permission's count, within its time).
    void track_reply(std::string_view reply);

    // For monitoring (snapshot, any thread).
    struct Info {
        std::uint64_t cid;
        std::string ip;
        int port;
        std::chrono::system_clock::time_point start, last_activity;
        std::size_t pending_bytes;
        std::uint64_t in_msgs, in_bytes, out_msgs, out_bytes;
        std::uint64_t stalls;
        std::size_t num_subs;
        std::vector<std::string> subs;
        std::string name, lang, version, account, user;
        std::int64_t rtt_ns;
        std::string tls_version, tls_cipher;  // empty: not TLS
    };
    Info info(bool with_subs) const;

    // Protocol handler interface (called by protocol::parse on the client's loop).
    bool on_pub(const protocol::Pub& p);
    bool on_sub(const protocol::Sub& s);
    bool on_unsub(const protocol::Unsub& u);
    bool on_connect(std::string_view json);
    bool on_info(std::string_view) { return true; }
    bool on_ping();
    bool on_pong();
    bool on_ok() { return true; }
    bool on_err(std::string_view msg);

    // Flushes every client that received data during the current batch on this thread.
    static void flush_scheduled();

    // Fast producer stall (client_stall.cpp), as nats-server: while a reader's pending bytes
    // are above half of max_pending, a client that publishes to it pauses reading after its
    // current batch, until the reader drains below half or a bounded wait runs out. Only that
    // connection pauses; the loop goes on serving the others.
    static std::chrono::milliseconds stall_duration(std::int64_t pending, std::int64_t max_pending);

private:
    void do_read();
    // Transports (client_wire.cpp): the handshakes before the protocol starts, the socket's
    // bytes through the Wire into rbuf_, and protocol bytes through it onto the socket.
    void start_wire();
    bool ingest_wire(std::size_t n);  // false: the connection closed
    void on_wire_ready();
    bool write_wire_locked();
    void close_wire_locked(CloseReason reason);  // the close frame / close_notify, sent best effort
    std::size_t pending_locked() const {
        return out_.size() - out_off_ + (wire_ ? wout_.size() - wout_off_ : 0);
    }
    // Stall (client_stall.cpp). Producer side, on its loop: note_stall during a batch, then
    // pause_reading after it; resume_reading when woken or timed out. Reader side, under
    // out_mu_: check_stall_locked after appending, release_stalled_locked once drained.
    void note_stall(const std::shared_ptr<Client>& reader, std::chrono::milliseconds ttl);
    bool pause_reading();  // false: nothing to wait for, read on
    static Client* reading_client();  // the client whose read batch runs on this thread
    void resume_reading(std::uint64_t gen);
    bool add_stall_waiter(const std::shared_ptr<Client>& producer, std::uint64_t gen);
    void check_stall_locked(std::size_t pending);
    void release_stalled_locked();
    void on_read(const boost::system::error_code& ec, std::size_t n);
    void process_buffer();
    void send_info();
    void send_proto(std::string_view text);  // control replies (+OK, PONG, -ERR, PING)
    void send_err(std::string_view text);    // "-ERR 'text'"
    void close_now(CloseReason reason);
    void start_ping_timer(bool first = false);
    void start_auth_timer();
    void wait_writable();  // on the loop: register for writability after a short write
    void on_writable();
    bool write_locked();  // writes under out_mu_; false on a hard error
    void schedule_flush_locked();
    // Authenticates a CONNECT and switches to its account, permissions and limits; false when
    // the connection was closed (the replies and log lines are nats-server's).
    bool authorize(ConnectOpts& o);
    void start_fetch(std::string json);         // the CONNECT's account is fetched first
    void finish_fetch(const std::string& json);
    void apply_auth(Server::Auth& a);
    void start_expiry_timer(std::chrono::nanoseconds in, bool account);
    void move_subs_to(Account& next);  // a second CONNECT changed the account
    bool on_err_auth_needed();
    Account& account();
    void remove_all_subs();
    std::string tag() const;  // "ip:port - cid:N - \"vX:lang:name\"", for log lines
    void trace_in(std::string_view what) const;
    void trace_out(std::string_view what) const;

    Server& server_;
    int loop_index_;
    tcp::socket socket_;
    int fd_;
    std::uint64_t cid_;
    std::string ip_;
    int port_ = 0;
    std::chrono::system_clock::time_point start_;
    std::chrono::steady_clock::time_point accepted_;

    // Read side: the client's loop only.
    std::string rbuf_;  // bytes read, not yet parsed (front is the start of an operation)
    std::size_t rlen_ = 0;
    int small_reads_ = 0;
    protocol::Limits limits_;
    ConnectOpts opts_;
    bool connect_received_ = false;
    bool needs_auth_ = false;  // the server's (or the websocket's) auth applies to this client
    bool connected_event_ = false;  // the first CONNECT passed: announce it once set up
    Account* account_ = nullptr;
    // Replaced by a second CONNECT (read by deliveries on other threads).
    std::atomic<const Permissions*> perms_{nullptr};
    std::atomic<bool> deny_filter_{false};
    std::atomic<bool> headers_ok_{false};  // the CONNECT said headers: true
    std::string user_;
    std::int64_t jwt_iat_ = 0;
    std::int64_t user_max_subs_ = -1, user_max_payload_ = -1;
    std::string user_signer_;
    std::string fetch_;      // the account authorize() wants fetched
    bool fetching_ = false;  // waiting for it: nothing more is read or parsed
    bool fetched_ = false;   // judging the CONNECT again after the fetch
    std::string auth_label_ = "User \"N/A\"";  // for violation log lines (getAuthUser)
    std::string nonce_;                     // sent in INFO when the server needs one
    // Permissions of earlier CONNECTs stay alive: deliveries on other threads may still read
    // the pointer they loaded.
    std::vector<std::shared_ptr<const Permissions>> owned_perms_;
    std::int64_t max_subs_ = -1;     // -1: unlimited
    std::int64_t max_payload_ = -1;  // the connection's own (JWT), -1: the server's
    bool first_pong_sent_ = false;
    mutable std::mutex tag_mu_;  // a leaf: taken under any other lock for log lines
    std::string tag_;
    subjects::LocalMatchCache match_cache_;
    boost::asio::steady_timer ping_timer_;
    boost::asio::steady_timer auth_timer_;
    boost::asio::steady_timer deadline_timer_;
    boost::asio::steady_timer expire_timer_;  // a user JWT's exp
    int pings_out_ = 0;
    std::chrono::steady_clock::time_point ping_sent_;
    std::atomic<std::int64_t> rtt_ns_{0};
    std::atomic<std::int64_t> last_activity_ns_{0};

    // Producer side of a stall: the client's loop only.
    std::shared_ptr<Client> stall_reader_;  // the reader that asked us to pause, this batch
    std::chrono::milliseconds stall_ttl_{0};
    boost::asio::steady_timer stall_timer_;
    bool read_paused_ = false;
    std::uint64_t stall_gen_ = 0;
    std::chrono::steady_clock::time_point stall_started_{};
    std::chrono::steady_clock::duration stalled_total_{};  // since the last log line
    std::chrono::steady_clock::time_point stall_logged_{};

    // Subscriptions: changed on the client's loop, read by monitoring and auto-unsubscribe.
    mutable std::mutex subs_mu_;
    std::unordered_map<std::string, std::shared_ptr<ClientSub>> subs_;

    // allow_responses bookkeeping: reply subject -> when received, replies sent so far.
    struct ReplyPermit {
        std::chrono::steady_clock::time_point received;
        std::int64_t sent = 0;
    };
    std::mutex replies_mu_;
    std::unordered_map<std::string, ReplyPermit> replies_;
    bool take_reply(std::string_view subject, const ResponsePermission& rp);

    // Write side: any thread, under out_mu_.
    mutable std::mutex out_mu_;
    std::string out_;
    std::size_t out_off_ = 0;
    // With a Wire (under out_mu_ too, read side included): its state, and the socket's bytes
    // it made from out_ (protocol bytes move from out_ to wout_ at each flush).
    std::unique_ptr<transport::Wire> wire_;
    std::string wout_;
    std::size_t wout_off_ = 0;
    std::string wraw_;    // the read side's socket bytes (the loop only)
    std::string wplain_;  // what the Wire made of them, before it joins rbuf_
    boost::asio::steady_timer handshake_timer_;
    bool flush_scheduled_ = false;
    bool write_blocked_ = false;
    bool closed_ = false;  // no more writes; the socket may be gone
    bool stalled_ = false;  // pending above half of max_pending: producers pause
    std::vector<std::pair<std::weak_ptr<Client>, std::uint64_t>> stall_waiters_;
    std::atomic<bool> closing_{false};

public:
    ClientStats stats;
};

}  // namespace osprey::server
