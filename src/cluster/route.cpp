#include "cluster/route.h"

#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <cerrno>

#include "cluster/route_manager.h"
#include "server/account.h"
#include "server/client.h"
#include "server/server.h"
#include "util/log.h"

namespace osprey::cluster {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {
constexpr std::size_t kReadBuf = 64 * 1024;
constexpr std::size_t kMaxPendingSubs = 100000;  // interest kept for accounts not known yet
// Routes queued for a flush on this thread during its current batch.
thread_local std::vector<std::shared_ptr<Route>> t_flush;
}  // namespace

struct RouteSub : server::Receiver {
    Route* route = nullptr;
    std::shared_ptr<Route> keep;  // a publisher holding a match result keeps the route alive
    std::atomic<std::int32_t> queue_weight{1};
    bool deliver(const server::Message&) override { return false; }  // sent by send_routed
    server::RemoteTarget* remote() const override { return route; }
    std::int32_t weight() const override { return queue_weight.load(std::memory_order_relaxed); }
    bool propagates() const override { return false; }  // never announced onward (one hop)
    server::Account* account = nullptr;
};

Route::Route(RouteManager& mgr, int loop, tcp::socket socket, std::uint64_t rid, bool solicited,
             std::string url, bool configured)
    : mgr_(mgr),
      loop_(loop),
      socket_(std::move(socket)),
      fd_(socket_.native_handle()),
      rid_(rid),
      solicited_(solicited),
      configured_(configured),
      url_(std::move(url)),
      start_(std::chrono::system_clock::now()),
      ping_timer_(socket_.get_executor()),
      auth_timer_(socket_.get_executor()),
      deadline_timer_(socket_.get_executor()) {
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);
    socket_.set_option(tcp::no_delay(true), ec);
    auto ep = socket_.remote_endpoint(ec);
    if (!ec) {
        remote_ip = ep.address().to_string();
        remote_port = ep.port();
    }
    rbuf_.resize(kReadBuf);
}

Route::~Route() = default;

void Route::start() {
    // Dialed: CONNECT then INFO in one write; accepted: INFO at once (nats-server's order).
    if (solicited_) send_line(mgr_.connect_line(url_));
    send_line(mgr_.info_line(true));
    if (!solicited_ && mgr_.auth_required()) {
        auth_timer_.expires_after(std::chrono::milliseconds(mgr_.auth_timeout_ms()));
        auth_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
            if (ec || self->connect_received_ || self->closing_) return;
            self->send_err("Authentication Timeout");
            self->close_now("Authentication Timeout");
        });
    }
    start_ping_timer(true);
    flush();
    do_read();
}

void Route::start_ping_timer(bool first) {
    // The first PING after about a second, then every ping_interval (nats-server).
    const auto& o = mgr_.server().options();
    const std::int64_t ms = first ? std::min<std::int64_t>(1000, o.ping_interval_ms) : o.ping_interval_ms;
    ping_timer_.expires_after(std::chrono::milliseconds(ms));
    ping_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec || self->closing_) return;
        if (self->pings_out_ + 1 > self->mgr_.server().options().ping_max) {
            self->send_err("Stale Connection");
            self->close_now("Stale Connection");
            return;
        }
        ++self->pings_out_;
        self->ping_sent_ = std::chrono::steady_clock::now();
        self->send_line("PING\r\n");
        self->flush();
        self->start_ping_timer(false);
    });
}

void Route::do_read() {
    if (rlen_ == rbuf_.size()) rbuf_.resize(rbuf_.size() * 2);  // a large message
    socket_.async_read_some(asio::buffer(rbuf_.data() + rlen_, rbuf_.size() - rlen_),
                            [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                                self->on_read(ec, n);
                            });
}

void Route::on_read(const boost::system::error_code& ec, std::size_t n) {
    if (closing_) return;
    if (ec) {
        close_now(ec == asio::error::eof ? "Client Closed" : "Read Error");
        return;
    }
    rlen_ += n;
    auto r = protocol::parse_route(std::string_view(rbuf_.data(), rlen_), *this);
    server::Client::flush_scheduled();  // clients (and routes) the messages went to
    if (closing_) return;
    if (r.error == protocol::RouteError::UnknownOp) {
        log::error("{} - Route Error: unknown protocol operation '{}'", mgr_.tag(*this), std::string(r.detail));
        send_err("Unknown Protocol Operation");
        close_now("Protocol Violation");
        return;
    }
    if (r.error == protocol::RouteError::BadArgs) {
        log::error("{} - Route Parse Error: '{}'", mgr_.tag(*this), std::string(r.detail));
        close_now("Protocol Violation");
        return;
    }
    if (r.consumed > 0) {
        std::memmove(rbuf_.data(), rbuf_.data() + r.consumed, rlen_ - r.consumed);
        rlen_ -= r.consumed;
    }
    if (rlen_ < kReadBuf && rbuf_.size() > kReadBuf) {
        rbuf_.resize(std::max(kReadBuf, rlen_));
        rbuf_.shrink_to_fit();
    }
    do_read();
}

// ---- the protocol ----

bool Route::on_connect(std::string_view text) {
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (ec || !v.is_object()) {
        close_now("Protocol Violation");
        return false;
    }
    const auto& o = v.get_object();
    auto str = [&](const char* k) {
        auto it = o.find(k);
        return it != o.end() && it->value().is_string() ? std::string(it->value().get_string()) : std::string();
    };
    // nats-server's checks of a route CONNECT, in its order.
    if (o.contains("account") || o.contains("new_account")) {
        send_err("Authorization Violation");
        close_now("Authentication Failure");
        return false;
    }
    if (!mgr_.authorized(str("user"), str("pass"))) {
        log::error("{} - authentication error", mgr_.tag(*this));
        send_err("Authorization Violation");
        close_now("Authentication Failure");
        return false;
    }
    if (o.contains("lang")) {
        send_err("attempted to connect to route port");
        close_now("Incorrect Port");
        return false;
    }
    if (const std::string gw = str("gateway"); !gw.empty()) {
        send_err("Rejecting connection from gateway \"" + gw + "\" on the Route port");
        close_now("Wrong Gateway");
        return false;
    }
    auto dyn = o.find("cluster_dynamic");
    const bool dynamic = dyn != o.end() && dyn->value().is_bool() && dyn->value().get_bool();
    if (!mgr_.cluster_name_matches(str("cluster"), dynamic)) {
        send_err("Rejecting connection, cluster name \"" + str("cluster") + "\" does not match \"" +
                 mgr_.cluster_name() + "\"");
        close_now("Cluster Name Conflict");
        return false;
    }
    if (auto h = o.find("headers"); h != o.end() && h->value().is_bool()) peer_headers = h->value().get_bool();
    connect_received_ = true;
    auth_timer_.cancel();
    return true;
}

bool Route::on_info(std::string_view text) {
    if (!solicited_ && mgr_.auth_required() && !connect_received_) {
        // With cluster auth, a CONNECT must come first.
        send_err("Authorization Violation");
        close_now("Authentication Failure");
        return false;
    }
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (ec || !v.is_object()) {
        close_now("Protocol Violation");
        return false;
    }
    const bool first = !info_received_;
    info_received_ = true;
    if (!mgr_.on_route_info(shared_from_this(), v.get_object(), first)) {
        if (!closing_) close_now("Duplicate Route");
        return false;
    }
    return true;
}

bool Route::on_ping() {
    send_line("PONG\r\n");
    return true;
}

bool Route::on_pong() {
    if (pings_out_ > 0) {
        rtt_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - ping_sent_)
                      .count();
    }
    pings_out_ = 0;
    return true;
}

bool Route::on_err(std::string_view text) {
    log::error("{} - Route Error '{}'", mgr_.tag(*this), std::string(text));
    close_now("Parse Error");
    return false;
}

bool Route::on_sub(std::string_view account, std::string_view subject, std::string_view queue,
                   std::int32_t weight) {
    if (!info_received_) return true;  // nats-server takes interest once the route is registered
    std::string key = std::string(account) + " " + std::string(subject);
    if (!queue.empty()) key += " " + std::string(queue);
    server::Account* acc = mgr_.server().find_account(std::string(account));
    if (!acc) {
        // nats-server looks the account up (fetching its JWT); here it is remembered until the
        // account is made from its JWT (a user logs in, a push), when it takes effect.
        const std::string& r = mgr_.server().resolver();
        if (r == "FULL" || r == "CACHE") {
            std::lock_guard lk(subs_mu_);
            if (pending_count_ < kMaxPendingSubs &&
                pending_[std::string(account)].emplace(key, PendingSub{std::string(subject), std::string(queue), weight}).second)
                ++pending_count_;
        }
        log::debug("{} - Unknown account \"{}\" for remote subject \"{}\"", mgr_.tag(*this), std::string(account),
                   std::string(subject));
        return true;
    }
    take_interest(acc, key, subject, queue, weight);
    return true;
}

void Route::adopt_account(server::Account& acc) {
    std::unordered_map<std::string, PendingSub> subs;
    {
        std::lock_guard lk(subs_mu_);
        auto it = pending_.find(acc.name());
        if (it == pending_.end()) return;
        subs = std::move(it->second);
        pending_.erase(it);
        pending_count_ -= subs.size();
    }
    for (auto& [key, p] : subs) take_interest(&acc, key, p.subject, p.queue, p.weight);
}

void Route::take_interest(server::Account* acc, const std::string& key, std::string_view subject,
                          std::string_view queue, std::int32_t weight) {
    std::shared_ptr<RouteSub> sub;
    {
        std::lock_guard lk(subs_mu_);
        auto it = subs_.find(key);
        if (it != subs_.end()) {
            // A plain one again is nothing; a queue group's count replaces the weight.
            if (!queue.empty()) it->second->queue_weight = weight;
            return;
        }
        sub = std::make_shared<RouteSub>();
        sub->subject = std::string(subject);
        sub->queue = std::string(queue);
        sub->route = this;
        sub->keep = shared_from_this();
        sub->account = acc;
        sub->queue_weight = queue.empty() ? 1 : weight;
        subs_.emplace(key, sub);
    }
    acc->sublist().insert(sub);
}

bool Route::on_unsub(std::string_view account, std::string_view subject, std::string_view queue) {
    std::string key = std::string(account) + " " + std::string(subject);
    if (!queue.empty()) key += " " + std::string(queue);
    std::shared_ptr<RouteSub> sub;
    {
        std::lock_guard lk(subs_mu_);
        auto it = subs_.find(key);
        if (it == subs_.end()) {
            if (auto p = pending_.find(std::string(account)); p != pending_.end() && p->second.erase(key)) --pending_count_;
            return true;
        }
        sub = it->second;
        subs_.erase(it);
    }
    sub->account->sublist().remove(sub);
    return true;
}

bool Route::on_msg(const protocol::RouteMsg& rm) {
    stats.in_msgs.fetch_add(1, std::memory_order_relaxed);
    stats.in_bytes.fetch_add(rm.headers.size() + rm.payload.size(), std::memory_order_relaxed);
    // The account of the last message again, without the server's lookup (a lock and a
    // string per message); accounts are never removed, so the pointer stays good.
    if (rm.account != last_account_ || !last_acc_) {
        last_acc_ = mgr_.server().find_account(std::string(rm.account));
        last_account_.assign(rm.account);
    }
    server::Account* acc = last_acc_;
    if (!acc) return true;  // an account we do not have: dropped, as nats-server does
    server::Message m{rm.subject, rm.reply, rm.headers, rm.payload, nullptr};
    m.from_route = true;
    m.route_queues = rm.queues;
    // A consumer's delivery, as nats-server routes one: by its deliver subject (or pull
    // request inbox), the reply carrying "@<the message's own subject>" to show the client.
    if (rm.reply.starts_with("$JS.ACK.")) {
        if (const auto at = rm.reply.rfind('@'); at != std::string_view::npos) {
            m.reply = rm.reply.substr(0, at);
            m.subject = rm.reply.substr(at + 1);
            acc->deliver_as(rm.subject, m, false);
            return true;
        }
    }
    acc->route(m);
    return true;
}

void Route::remove_all_subs() {
    std::unordered_map<std::string, std::shared_ptr<RouteSub>> subs;
    {
        std::lock_guard lk(subs_mu_);
        subs.swap(subs_);
    }
    // The map held them; now only match results still in someone's hands do (and keep the
    // route alive until they are done).
    for (auto& [key, sub] : subs) sub->account->sublist().remove(sub);
}

std::vector<std::string> Route::subscriptions() const {
    std::lock_guard lk(subs_mu_);
    std::vector<std::string> v;
    for (auto& [key, sub] : subs_) v.push_back(key);
    return v;
}

// ---- the write side ----

void Route::send_routed(std::string_view acc, const server::Message& m, std::string_view queues) {
    // RMSG <acc> <subject> [reply | + reply q.. | | q..] <size>, HMSG with the header size too;
    // a peer without headers gets the message without them.
    const bool hdr = !m.headers.empty() && peer_headers;
    const std::size_t total = (hdr ? m.headers.size() : 0) + m.payload.size();
    // A consumer's delivery is routed by its deliver subject and shown with the message's own
    // subject: nats-server's way over a route is "<reply>@<shown subject>".
    // (Anything else routed apart from its subject, such as an import's, goes by the subject
    // it was routed by.)
    const bool routed_apart = !m.routed.empty() && m.routed != m.subject;
    const bool shown_apart = routed_apart && m.reply.starts_with("$JS.ACK.");
    const std::string_view subject = routed_apart ? m.routed : m.subject;
    std::string line;
    line.reserve(subject.size() + m.reply.size() + m.subject.size() + queues.size() + acc.size() + 40);
    line.append(hdr ? "HMSG " : "RMSG ").append(acc).append(" ").append(subject).append(" ");
    auto reply = [&] {
        line.append(m.reply);
        if (shown_apart) line.append("@").append(m.subject);
        line.append(" ");
    };
    if (!queues.empty()) {
        if (!m.reply.empty()) line.append("+ "), reply();
        else line.append("| ");
        line.append(queues).append(" ");
    } else if (!m.reply.empty()) {
        reply();
    }
    if (hdr) line.append(std::to_string(m.headers.size())).append(" ");
    line.append(std::to_string(total)).append("\r\n");
    std::lock_guard lk(out_mu_);
    if (closed_) return;
    if (out_.size() - out_off_ + line.size() + total > mgr_.max_route_pending()) {
        // A peer that does not read: cut it (a dialed route is dialed again).
        closed_ = true;
        asio::post(socket_.get_executor(), [self = shared_from_this()] { self->close_now("Slow Consumer (Pending Bytes)"); });
        return;
    }
    if (out_off_ > 0 && out_off_ == out_.size()) {
        out_.clear();
        out_off_ = 0;
    }
    out_.append(line);
    if (hdr) out_.append(m.headers);
    out_.append(m.payload).append("\r\n");
    stats.out_msgs.fetch_add(1, std::memory_order_relaxed);
    stats.out_bytes.fetch_add(total, std::memory_order_relaxed);
    if (!flush_scheduled_) {
        flush_scheduled_ = true;
        t_flush.push_back(shared_from_this());
    }
}

void Route::send_line(std::string_view line) {
    // Protocol lines (interest, INFO) come from any thread, also from ones that never flush
    // what they queued (a connection closing on its read error, a timer): the route's own loop
    // writes them. A line left behind in such a thread's list would also keep every later
    // line from being scheduled, and interest would silently stop crossing this route.
    std::lock_guard lk(out_mu_);
    if (closed_) return;
    out_.append(line);
    if (!line_flush_posted_) {
        line_flush_posted_ = true;
        asio::post(socket_.get_executor(), [self = shared_from_this()] {
            {
                std::lock_guard lk2(self->out_mu_);
                self->line_flush_posted_ = false;
            }
            self->flush();
        });
    }
}

void Route::send_err(std::string_view text) {
    send_line("-ERR '" + std::string(text) + "'\r\n");
    flush();
}

void Route::flush_scheduled() {
    while (!t_flush.empty()) {
        std::vector<std::shared_ptr<Route>> batch;
        batch.swap(t_flush);
        for (auto& r : batch) r->flush();
    }
}

void Route::flush() {
    std::lock_guard lk(out_mu_);
    flush_scheduled_ = false;
    if (closed_ || write_blocked_) return;
    if (!write_locked()) {
        closed_ = true;
        asio::post(socket_.get_executor(), [self = shared_from_this()] { self->close_now("Write Error"); });
    }
}

std::size_t Route::pending_bytes() const {
    std::lock_guard lk(out_mu_);
    return out_.size() - out_off_;
}

bool Route::write_locked() {
    while (out_off_ < out_.size()) {
        ssize_t n = ::send(fd_, out_.data() + out_off_, out_.size() - out_off_, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            out_off_ += std::size_t(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (out_off_ >= 64 * 1024 && out_off_ * 2 >= out_.size()) {
                out_.erase(0, out_off_);
                out_off_ = 0;
            }
            write_blocked_ = true;
            asio::post(socket_.get_executor(), [self = shared_from_this()] { self->wait_writable(); });
            return true;
        }
        return false;
    }
    out_.clear();
    out_off_ = 0;
    if (out_.capacity() > 4 * 1024 * 1024) std::string().swap(out_);
    return true;
}

void Route::wait_writable() {
    if (closing_) return;
    // A peer that takes nothing for write_deadline is stuck: cut it.
    deadline_timer_.expires_after(std::chrono::milliseconds(mgr_.server().options().write_deadline_ms));
    deadline_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec || self->closing_) return;
        {
            std::lock_guard lk(self->out_mu_);
            if (!self->write_blocked_) return;
            self->closed_ = true;
        }
        self->close_now("Slow Consumer (Write Deadline)");
    });
    socket_.async_wait(tcp::socket::wait_write, [self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec) return;
        std::unique_lock lk(self->out_mu_);
        if (self->closed_) return;
        self->write_blocked_ = false;
        if (!self->write_locked()) {
            self->closed_ = true;
            lk.unlock();
            self->close_now("Write Error");
            return;
        }
        if (!self->write_blocked_) self->deadline_timer_.cancel();
    });
}

void Route::close(const std::string& reason) {
    asio::post(socket_.get_executor(), [self = shared_from_this(), reason] { self->close_now(reason); });
}

void Route::close_now(const std::string& reason) {
    if (closing_.exchange(true)) return;
    log::debug("{} - Router connection closed: {}", mgr_.tag(*this), reason);
    ping_timer_.cancel();
    auth_timer_.cancel();
    deadline_timer_.cancel();
    remove_all_subs();
    {
        std::lock_guard lk(out_mu_);
        if (!closed_ && !write_blocked_) {
            while (out_off_ < out_.size()) {
                ssize_t n = ::send(fd_, out_.data() + out_off_, out_.size() - out_off_, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n <= 0) break;
                out_off_ += std::size_t(n);
            }
        }
        closed_ = true;
        boost::system::error_code ec;
        socket_.shutdown(tcp::socket::shutdown_both, ec);
        socket_.close(ec);
        std::string().swap(out_);
    }
    mgr_.on_route_closed(shared_from_this(), reason);
}

}  // namespace osprey::cluster
