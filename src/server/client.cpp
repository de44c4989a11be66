#include "server/client.h"
#include "transport/wire.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>

#include "protocol/encoder.h"
#include "server/account.h"
#include "server/auth/connect.h"
#include "server/permissions.h"
#include "server/server.h"
#include "server/system_services.h"
#include "subjects/subject.h"
#include "util/log.h"

namespace osprey::server {

namespace asio = boost::asio;

namespace {
constexpr std::size_t kMinReadBuf = 512;
constexpr std::size_t kMaxReadBuf = 64 * 1024;
// Clients that received data during this thread's current read batch.
thread_local std::vector<std::shared_ptr<Client>> t_flush;
// The client whose publish is being routed on this thread (a producer that may be stalled).
thread_local Client* t_reading = nullptr;

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}
}  // namespace

const char* reason_text(CloseReason r) {
    switch (r) {
        case CloseReason::ClientClosed: return "Client Closed";
        case CloseReason::ReadError: return "Read Error";
        case CloseReason::WriteError: return "Write Error";
        case CloseReason::ProtocolViolation: return "Protocol Violation";
        case CloseReason::AuthViolation: return "Authentication Failure";
        case CloseReason::AuthTimeout: return "Authentication Timeout";
        case CloseReason::MaxPayload: return "Maximum Message Payload Exceeded";
        case CloseReason::MaxControlLine: return "Maximum Control Line Exceeded";
        case CloseReason::MaxConnections: return "Maximum Connections Exceeded";
        case CloseReason::SlowConsumerPending: return "Slow Consumer (Pending Bytes)";
        case CloseReason::SlowConsumerDeadline: return "Slow Consumer (Write Deadline)";
        case CloseReason::StaleConnection: return "Stale Connection";
        case CloseReason::ServerShutdown: return "Server Shutdown";
        case CloseReason::AuthExpired: return "Authentication Expired";
        case CloseReason::MaxAccountConnections: return "Maximum Account Connections Exceeded";
        case CloseReason::MaxSubscriptions: return "Maximum Subscriptions Exceeded";
        case CloseReason::Revocation: return "Credentials Revoked";
        case CloseReason::TlsHandshakeError: return "TLS Handshake Failure";
    }
    return "Unknown";
}

bool ClientSub::deliver(const Message& m) {
    Client* c = client;
    if (m.origin == c && !c->echo()) return false;
    const Permissions* perms = c->permissions();
    if (perms) {
        if (c->deny_filter() && !may_deliver(*perms, m.route_subject())) return false;
        if (perms->responses && !m.reply.empty()) c->track_reply(m.reply);
    }
    const std::uint64_t limit = max.load(std::memory_order_relaxed);
    std::uint64_t n = 0;
    if (limit) {
        n = delivered.fetch_add(1, std::memory_order_relaxed) + 1;
        if (n > limit) return false;
    }
    // A client that did not ask for headers gets the message without them (as nats-server).
    bool ok = c->enqueue_msg(m.subject, sid, m.reply, c->takes_headers() ? m.headers : std::string_view(),
                             m.payload);
    if (limit && n == limit) c->auto_unsubscribe(this);
    return ok;
}

Client* Client::reading_client() { return t_reading; }
Client::StallExempt::StallExempt() : saved_(t_reading) { t_reading = nullptr; }
Client::StallExempt::~StallExempt() { t_reading = saved_; }

Client::Client(Server& server, int loop_index, tcp::socket socket, std::uint64_t cid,
               std::unique_ptr<transport::Wire> wire)
    : server_(server),
      loop_index_(loop_index),
      socket_(std::move(socket)),
      fd_(socket_.native_handle()),
      cid_(cid),
      start_(std::chrono::system_clock::now()),
      accepted_(std::chrono::steady_clock::now()),
      ping_timer_(socket_.get_executor()),
      auth_timer_(socket_.get_executor()),
      deadline_timer_(socket_.get_executor()),
      expire_timer_(socket_.get_executor()),
      stall_timer_(socket_.get_executor()),
      wire_(std::move(wire)),
      handshake_timer_(socket_.get_executor()) {
    needs_auth_ = server_.auth_required(wire_ && wire_->websocket());
    boost::system::error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    if (!ec) {
        ip_ = ep.address().to_string();
        port_ = ep.port();
    }
    socket_.non_blocking(true, ec);
    socket_.set_option(tcp::no_delay(true), ec);
    const auto& o = server_.options();
    limits_.max_control_line = std::size_t(o.max_control_line);
    limits_.max_payload = o.max_payload;
    limits_.headers = false;
    rbuf_.resize(kMinReadBuf);
    if (server_.nonce_required()) nonce_ = auth::make_nonce();
    max_subs_ = o.max_subs > 0 ? o.max_subs : -1;
    last_activity_ns_ = now_ns();
    tag_ = fmt::format("{}:{} - cid:{}", ip_, port_, cid_);  // no other thread sees us yet
}

Client::~Client() = default;

void Client::start() {
    log::debug("{} - Client connection created", tag());
    if (wire_) {
        start_wire();
        do_read();
        return;
    }
    send_info();
    if (needs_auth_) start_auth_timer();
    start_ping_timer(true);
    flush();
    do_read();
}

void Client::reject_max_connections() {
    send_info();
    send_err("maximum connections exceeded");
    close_now(CloseReason::MaxConnections);
}

void Client::send_info() {
    send_proto(server_.info_line(cid_, ip_, false, nonce_, -1, wire_ && wire_->websocket()));
}

void Client::start_auth_timer() {
    // Websocket clients may have their own (websocket { authorization { timeout } }).
    const auto& opts = server_.options();
    const bool ws = wire_ && wire_->websocket();
    auth_timer_.expires_after(std::chrono::milliseconds(
        ws && opts.websocket.auth_timeout_ms > 0 ? opts.websocket.auth_timeout_ms : opts.auth_timeout_ms));
    auth_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec || self->connect_received_ || self->closing_) return;
        self->send_err("Authentication Timeout");
        self->close_now(CloseReason::AuthTimeout);
    });
}

void Client::start_ping_timer(bool first) {
    // The first PING comes early (nats-server: after 2 s), so the round trip time is known
    // soon (monitoring, Nats-Request-Info); then every ping_interval.
    std::int64_t ms = server_.options().ping_interval_ms;
    if (first) ms = std::min<std::int64_t>(ms, 2000);
    ping_timer_.expires_after(std::chrono::milliseconds(ms));
    ping_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec || self->closing_) return;
        if (self->pings_out_ + 1 > self->server_.options().ping_max) {
            log::debug("{} - Stale Client Connection - Closing", self->tag());
            self->send_err("Stale Connection");
            self->close_now(CloseReason::StaleConnection);
            return;
        }
        ++self->pings_out_;
        self->ping_sent_ = std::chrono::steady_clock::now();
        self->send_proto("PING\r\n");
        self->flush();
        self->start_ping_timer();
    });
}

void Client::do_read() {
    if (wire_) {
        if (wraw_.empty()) wraw_.resize(kMinReadBuf * 4);
        socket_.async_read_some(
            asio::buffer(wraw_.data(), wraw_.size()),
            [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                self->on_read(ec, n);
            });
        return;
    }
    if (rlen_ == rbuf_.size()) {
        // Full: the pending operation needs more room (a large payload) or reads are fast.
        std::size_t want = rbuf_.size() * 2;
        rbuf_.resize(want);
    }
    socket_.async_read_some(
        asio::buffer(rbuf_.data() + rlen_, rbuf_.size() - rlen_),
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
            self->on_read(ec, n);
        });
}

void Client::on_read(const boost::system::error_code& ec, std::size_t n) {
    if (closing_) return;
    if (ec) {
        close_now(ec == asio::error::eof ? CloseReason::ClientClosed : CloseReason::ReadError);
        flush_scheduled();  // what the close queued for others (routes, events) goes out now
        return;
    }
    if (wire_) {
        last_activity_ns_.store(now_ns(), std::memory_order_relaxed);
        if (!ingest_wire(n)) return;
        process_buffer();
        flush_scheduled();
        if (closing_ || fetching_ || pause_reading()) return;
        do_read();
        return;
    }
    const bool filled = rlen_ + n == rbuf_.size();
    rlen_ += n;
    last_activity_ns_.store(now_ns(), std::memory_order_relaxed);
    process_buffer();
    flush_scheduled();
    if (closing_ || fetching_) return;  // a fetch resumes reading when it ends
    // Adapt the buffer: grow when reads fill it, shrink back when the client is quiet.
    if (filled && rbuf_.size() < kMaxReadBuf) {
        rbuf_.resize(std::max(rbuf_.size() * 2, rlen_ + 1));
    } else if (!filled && rlen_ == 0 && rbuf_.size() > kMinReadBuf && n < rbuf_.size() / 4) {
        // Shrink only after a run of small reads, so a bursty client does not churn memory.
        if (++small_reads_ >= 16) {
            small_reads_ = 0;
            rbuf_.resize(rbuf_.size() / 2);
            rbuf_.shrink_to_fit();
        }
    } else {
        small_reads_ = 0;
    }
    if (pause_reading()) return;  // a reader is far behind: let it drain first
    do_read();
}

void Client::start_fetch(std::string json) {
    // The user's account is asked of the other servers; this connection reads nothing more
    // until the answer (or the timeout), then its CONNECT is judged again and the bytes after
    // it are parsed. The loop serves the others meanwhile.
    fetching_ = true;
    const std::string account = std::exchange(fetch_, std::string());
    std::weak_ptr<Client> weak = weak_from_this();
    auto ex = socket_.get_executor();
    server_.fetch_account(account, [weak, ex, json = std::move(json)] {
        asio::post(ex, [weak, json] {
            if (auto self = weak.lock()) self->finish_fetch(json);
        });
    });
}

void Client::finish_fetch(const std::string& json) {
    fetching_ = false;
    if (closing_) return;
    fetched_ = true;
    const bool ok = on_connect(json);
    fetched_ = false;  // a later CONNECT may fetch again
    if (!ok || closing_) return;
    process_buffer();
    flush_scheduled();
    if (closing_ || fetching_ || pause_reading()) return;
    do_read();
}

void Client::process_buffer() {
    if (fetching_) return;  // the rest waits for the CONNECT's account
    auto r = protocol::parse(std::string_view(rbuf_.data(), rlen_), limits_, *this);
    if (r.error != protocol::Error::None) {
        using protocol::Error;
        std::string detail(r.detail);
        switch (r.error) {
            case Error::UnknownOp:
                log::error("{} - Client parser ERROR: proto='{}'", tag(),
                           detail);
                send_err("Unknown Protocol Operation");
                close_now(CloseReason::ProtocolViolation);
                break;
            case Error::MaxControlLine:
                log::error("{} - maximum control line exceeded: max_control_line {}",
                           tag(), limits_.max_control_line);
                send_err("maximum control line exceeded");
                close_now(CloseReason::MaxControlLine);
                break;
            case Error::MaxPayload:
                log::error("{} - maximum payload exceeded: \"{}\" vs {}", tag(), detail, limits_.max_payload);
                send_err("Maximum Payload Violation");
                close_now(CloseReason::MaxPayload);
                break;
            case Error::NoHeaders:
                log::error("{} - message headers not supported", tag());
                close_now(CloseReason::ProtocolViolation);
                break;
            case Error::BadArgs:
                log::error("{} - Parse Error: \"{}\"", tag(), detail);
                close_now(CloseReason::ProtocolViolation);
                break;
            case Error::ClientErr: close_now(CloseReason::ClientClosed); break;
            case Error::None: break;
        }
        return;
    }
    if (closing_) return;
    if (r.consumed > 0) {
        std::memmove(rbuf_.data(), rbuf_.data() + r.consumed, rlen_ - r.consumed);
        rlen_ -= r.consumed;
    }
}

bool Client::authorize(ConnectOpts& o) {
    // Outside operator mode a JWT is ignored (nats-server discards it before authenticating).
    if (!server_.operator_mode()) o.jwt.clear();
    // getAuthUser: how violation log lines name the client.
    if (!o.nkey.empty()) auth_label_ = fmt::format("Nkey \"{}\"", o.nkey);
    else if (!o.user.empty()) auth_label_ = fmt::format("User \"{}\"", o.user);
    else if (!o.jwt.empty()) auth_label_.clear();  // set below from the JWT's key
    else auth_label_ = "User \"N/A\"";
    const bool ws = wire_ && wire_->websocket();
    if (!needs_auth_) {
        account_ = &server_.global_account();
        return true;
    }
    ConnContext cc;
    cc.websocket = ws;
    std::optional<transport::PeerCertificate> cert;
    if (wire_) {
        std::lock_guard lk(out_mu_);
        if (wire_->tls() && wire_->tls()->has_peer()) cert = wire_->tls()->peer();
        // jwt_cookie: a browser's user JWT, when the CONNECT has none.
        if (const auto* up = wire_->upgrade(); up && o.jwt.empty() && server_.operator_mode()) o.jwt = up->cookie_jwt;
    }
    if (cert) cc.cert = &*cert;
    auto a = server_.authenticate(o, nonce_, ip_, !fetched_, cc);
    if (!a && !a.error().fetch.empty()) {
        fetch_ = a.error().fetch;  // on_connect fetches it, then authenticates again
        return false;
    }
    if (!a) {
        if (!a.error().log.empty()) {
            if (a.error().error) log::error("{} - {}", tag(), a.error().log);
            else log::debug("{} - {}", tag(), a.error().log);
        }
        server_.system().auth_failed(*this, o.user);
        log::error("{} - {}", tag(), server_.auth_error_line(o));
        send_err("Authorization Violation");
        close_now(CloseReason::AuthViolation);
        return false;
    }
    if (a->jwt && auth_label_.empty()) auth_label_ = fmt::format("JWT User \"{}\"", a->user);
    // A CONNECT naming an account was an option for sandboxes; nats-server refuses it now.
    if (o.new_account || !o.account.empty()) {
        server_.system().auth_failed(*this, o.user);
        log::error("{} - {}", tag(), server_.auth_error_line(o));
        send_err("Authorization Violation");
        close_now(CloseReason::AuthViolation);
        return false;
    }
    if (a->jwt) log::debug("{} - {} accused {}", tag(), a->log, fmt::ptr(a->account));
    apply_auth(*a);
    return !closing_;
}

void Client::apply_auth(Server::Auth& a) {
    // registerWithAccount: a new account takes the connection if under its JWT's limit.
    Account* next = a.account;
    if (!connect_received_ || next != account_) {
        if (!next->add_connection()) {
            log::error("{} - maximum account active connections exceeded", tag());
            send_err("maximum account active connections exceeded");
            close_now(CloseReason::MaxAccountConnections);
            return;
        }
        if (connect_received_ && account_) account_->connections.fetch_sub(1, std::memory_order_relaxed);
        if (account_ && account_ != next) move_subs_to(*next);
    }
    account_ = next;
    if (a.owned) owned_perms_.push_back(a.owned);
    perms_.store(a.permissions, std::memory_order_release);
    deny_filter_ = false;
    user_ = a.user;
    jwt_iat_ = a.user_iat;
    user_max_subs_ = a.user_max_subs;
    user_max_payload_ = a.user_max_payload;
    user_signer_ = a.user_signer;
    if (a.jwt) {
        // applyAccountLimits: the connection's subs and payload limits (Server computed them).
        max_subs_ = a.max_subs;
        max_payload_ = a.max_payload;
        limits_.max_payload = a.max_payload < 0 ? server_.options().max_payload : a.max_payload;
        if (a.payload_overridden)
            log::error("{} - Max Payload set to {} from server overrides account or user config", tag(),
                       server_.options().max_payload);
        expire_timer_.cancel();
        if (a.expires_in && (!a.account_expires_in || *a.expires_in <= *a.account_expires_in))
            start_expiry_timer(*a.expires_in, false);
        else if (a.account_expires_in)
            start_expiry_timer(*a.account_expires_in, true);
        std::size_t n;
        {
            std::lock_guard lk(subs_mu_);
            n = subs_.size();
        }
        if (max_subs_ >= 0 && std::int64_t(n) >= max_subs_) {
            // subsAtLimit at registration: nats-server says so and closes 20 ms later.
            log::error("{} - maximum subscriptions exceeded", tag());
            send_err("maximum subscriptions exceeded");
            auto t = std::make_shared<boost::asio::steady_timer>(socket_.get_executor());
            t->expires_after(std::chrono::milliseconds(20));
            t->async_wait([self = shared_from_this(), t](const boost::system::error_code& ec) {
                if (!ec) self->close_now(CloseReason::MaxSubscriptions);
            });
        }
    }
}

void Client::start_expiry_timer(std::chrono::nanoseconds in, bool account) {
    expire_timer_.expires_after(in);
    expire_timer_.async_wait([self = shared_from_this(), account](const boost::system::error_code& ec) {
        if (ec || self->closing_) return;
        const char* text = account ? "Account Authentication Expired" : "User Authentication Expired";
        self->send_err(text);
        log::debug("{} - {}", self->tag(), text);
        self->close_now(CloseReason::AuthExpired);
    });
}

void Client::move_subs_to(Account& next) {
    // A copy first: a Sublist lock is never taken under subs_mu_ (the lock order).
    std::vector<std::shared_ptr<ClientSub>> subs;
    {
        std::lock_guard lk(subs_mu_);
        for (auto& [sid, sub] : subs_) subs.push_back(sub);
    }
    for (auto& sub : subs) {
        account_->sublist().remove(sub);
        next.sublist().insert(sub);
    }
}

bool Client::on_connect(std::string_view json) {
    if (log::trace_enabled()) trace_in(fmt::format("CONNECT {}", json));
    ConnectOpts o = opts_;
    if (auto r = parse_connect(json, o); !r) {
        log::error("{} - {}", tag(), r.error());
        close_now(CloseReason::ProtocolViolation);
        return false;
    }
    // The name and version are in the log lines from here on, the authentication's too.
    {
        std::string tag = fmt::format("{}:{} - cid:{}", ip_, port_, cid_);
        if (!o.lang.empty() || !o.version.empty() || !o.name.empty())
            tag += fmt::format(" - \"v{}:{}{}{}\"", o.version, o.lang, o.name.empty() ? "" : ":", o.name);
        std::lock_guard lk(tag_mu_);
        tag_ = std::move(tag);
    }
    // Every CONNECT authenticates, a second one on an open connection too (nats-server
    // re-checks it and closes the connection on bad credentials).
    if (!authorize(o)) {
        if (!fetch_.empty() && !closing_) start_fetch(std::string(json));
        return false;
    }
    if (!connect_received_) {
        auth_timer_.cancel();
        // nats-server's first estimate of the round trip: from accept to CONNECT.
        rtt_ns_ = std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                 std::chrono::steady_clock::now() - accepted_).count());
        connected_event_ = true;
        if (!needs_auth_) account_->connections.fetch_add(1, std::memory_order_relaxed);
    }
    connect_received_ = true;
    {
        std::lock_guard lk(subs_mu_);  // monitoring reads name/lang/version
        opts_ = std::move(o);
    }
    limits_.headers = opts_.headers;
    headers_ok_ = opts_.headers;
    if (connected_event_) {
        connected_event_ = false;
        server_.system().client_connected(*this);  // after the names above are set
    }
    if (opts_.verbose) send_proto("+OK\r\n");
    return true;
}

std::string Client::tag() const {
    std::lock_guard lk(tag_mu_);  // a leaf lock: log lines come from under any other lock
    return tag_;
}

void Client::trace_in(std::string_view what) const {
    log::trace("{} - <<- [{}]", tag(), what);
}

void Client::trace_out(std::string_view what) const {
    log::trace("{} - ->> [{}]", tag(), what);
}

namespace {
// Go's %q of a payload, as nats-server traces it.
std::string quoted(std::string_view s) {
    std::string o = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            o += '\\';
            o += char(c);
        } else if (c == '\n') {
            o += "\\n";
        } else if (c == '\r') {
            o += "\\r";
        } else if (c == '\t') {
            o += "\\t";
        } else if (c < 0x20 || c >= 0x7f) {
            o += fmt::format("\\x{:02x}", c);
        } else {
            o += char(c);
        }
    }
    return o + "\"";
}
}  // namespace

bool Client::on_ping() {
    if (log::trace_enabled()) trace_in("PING");
    if (needs_auth_ && !connect_received_) return on_err_auth_needed();
    send_proto("PONG\r\n");
    // The first PING of a client that takes async INFO: an INFO with its own max_payload when
    // that is not the server's (a JWT's limit), as nats-server.
    if (connect_received_ && !first_pong_sent_) {
        first_pong_sent_ = true;
        if (opts_.protocol >= 1 && max_payload_ >= 0 && max_payload_ != server_.options().max_payload)
            send_proto(server_.info_line(cid_, ip_, false, {}, max_payload_));
    }
    return true;
}

bool Client::on_pong() {
    if (log::trace_enabled()) trace_in("PONG");
    if (pings_out_ > 0 || ping_sent_.time_since_epoch().count() != 0) {
        auto rtt = std::chrono::steady_clock::now() - ping_sent_;
        rtt_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(rtt).count();
    }
    pings_out_ = 0;
    return true;
}

bool Client::on_err(std::string_view msg) {
    log::error("{} - Client Error {}", tag(), msg);
    return false;
}

bool Client::on_err_auth_needed() {
    send_err("Authorization Violation");
    close_now(CloseReason::AuthViolation);
    return false;
}

Account& Client::account() { return account_ ? *account_ : server_.global_account(); }

bool Client::on_pub(const protocol::Pub& p) {
    if (log::trace_enabled()) {
        std::string line = p.headers.empty() ? "PUB " : "HPUB ";
        line += std::string(p.subject) + (p.reply.empty() ? "" : " ") + std::string(p.reply);
        if (!p.headers.empty()) line += " " + std::to_string(p.headers.size());
        line += " " + std::to_string(p.total());
        trace_in(line);
        log::trace("{} - <<- MSG_PAYLOAD: [{}]", tag(),
                   quoted(std::string(p.headers) + std::string(p.payload)));
    }
    if (needs_auth_ && !connect_received_) return on_err_auth_needed();
    const std::size_t size = p.total();
    // Only this loop writes these: a plain store, no locked read-modify-write per message.
    stats.in_msgs.store(stats.in_msgs.load(std::memory_order_relaxed) + 1,
                        std::memory_order_relaxed);
    stats.in_bytes.store(stats.in_bytes.load(std::memory_order_relaxed) + size,
                         std::memory_order_relaxed);
    // nats-server's pedantic check answers, then routes anyway.
    if (opts_.pedantic && !subjects::valid_literal_subject(p.subject)) send_err("Invalid Publish Subject");
    // A subject with empty tokens matches nothing in nats-server: no permission allows it, and
    // without permissions it reaches nobody.
    const bool routable = subjects::valid_tokens(p.subject);
    const Permissions* perms = perms_.load(std::memory_order_relaxed);
    if (perms && (!routable || !may_publish(*perms, p.subject)) &&
        !(routable && perms->responses && take_reply(p.subject, *perms->responses))) {
        log::error("{} - Publish Violation - {}, Subject \"{}\"", tag(), auth_label_, p.subject);
        send_err(fmt::format("Permissions Violation for Publish to \"{}\"", p.subject));
        return true;
    }
    if (opts_.verbose) send_proto("+OK\r\n");
    if (!routable) return true;
    Message m{p.subject, p.reply, p.headers, p.payload, this};
    Account& acc = account();
    subjects::MatchPtr r = match_cache_.match(acc.sublist(), p.subject);
    t_reading = this;
    const int delivered = acc.deliver(*r, m);
    t_reading = nullptr;
    if (delivered == 0 && !p.reply.empty() && opts_.no_responders && opts_.headers) {
        // No one listens: tell the requester at once with a 503 status on its reply subject.
        static constexpr std::string_view k503 = "NATS/1.0 503\r\n\r\n";
        subjects::MatchPtr r = acc.sublist().match(p.reply);
        for (const auto& s : r->plain) {
            auto* rcv = static_cast<Receiver*>(s.get());
            if (rcv->owner() == this) {
                auto* cs = static_cast<ClientSub*>(rcv);
                enqueue_msg(p.reply, cs->sid, {}, k503, {});
                break;
            }
        }
    }
    return !closing_;
}

bool Client::on_sub(const protocol::Sub& s) {
    if (log::trace_enabled())
        trace_in(fmt::format("SUB {} {} {}", s.subject, s.queue, s.sid));
    if (needs_auth_ && !connect_received_) return on_err_auth_needed();
    // nats-server's order: permissions first, then the subject's syntax.
    const Permissions* perms = perms_.load(std::memory_order_relaxed);
    if (perms && !may_subscribe(*perms, s.subject, s.queue)) {
        if (s.queue.empty()) {
            log::error("{} - Subscription Violation - {}, Subject \"{}\"", tag(), auth_label_, s.subject);
            send_err(fmt::format("Permissions Violation for Subscription to \"{}\"", s.subject));
        } else {
            log::error("{} - Subscription Violation - {}, Subject \"{}\", Queue: \"{}\"", tag(), auth_label_,
                       s.subject, s.queue);
            send_err(fmt::format("Permissions Violation for Subscription to \"{}\" using queue \"{}\"",
                                 s.subject, s.queue));
        }
        return true;
    }
    if (!subjects::valid_subject(s.subject) ||
        (!s.queue.empty() && !subjects::valid_queue_name(s.queue))) {
        send_err("Invalid Subject");
        return true;
    }
    if (perms && !deny_filter_ && needs_deny_filter(*perms, s.subject)) deny_filter_ = true;
    std::shared_ptr<ClientSub> sub;
    bool exists = false, too_many = false;
    {
        std::lock_guard lk(subs_mu_);
        exists = subs_.count(std::string(s.sid)) > 0;  // nats-server keeps the existing one
        too_many = !exists && max_subs_ >= 0 && std::int64_t(subs_.size()) >= max_subs_;
    }
    // Replies go out without subs_mu_ held (out_mu_ is taken after it only by monitoring).
    if (exists) {
        if (opts_.verbose) send_proto("+OK\r\n");
        return true;
    }
    if (too_many) {
        send_err("maximum subscriptions exceeded");
        return true;
    }
    {
        std::lock_guard lk(subs_mu_);
        sub = std::make_shared<ClientSub>();
        sub->subject = std::string(s.subject);
        sub->queue = std::string(s.queue);
        sub->sid = std::string(s.sid);
        sub->client = this;
        sub->keep = shared_from_this();
        subs_.emplace(sub->sid, sub);
    }
    account().sublist().insert(sub);
    if (opts_.verbose) send_proto("+OK\r\n");
    return true;
}

bool Client::on_unsub(const protocol::Unsub& u) {
    if (log::trace_enabled())
        trace_in(u.max > 0 ? fmt::format("UNSUB {} {}", u.sid, u.max) : fmt::format("UNSUB {}", u.sid));
    if (needs_auth_ && !connect_received_) return on_err_auth_needed();
    std::shared_ptr<ClientSub> sub;
    {
        std::lock_guard lk(subs_mu_);
        auto it = subs_.find(std::string(u.sid));
        if (it != subs_.end()) {
            if (u.max > 0 && std::uint64_t(u.max) > it->second->delivered.load()) {
                it->second->max = std::uint64_t(u.max);
            } else {
                sub = it->second;
                subs_.erase(it);
            }
        }
    }
    if (sub) account().sublist().remove(sub);
    if (opts_.verbose) send_proto("+OK\r\n");
    return true;
}

void Client::track_reply(std::string_view reply) {
    std::lock_guard lk(replies_mu_);
    if (replies_.size() >= 4096) {
        // Forget what has expired (nats-server prunes at the same size).
        const auto now = std::chrono::steady_clock::now();
        const Permissions* p = permissions();
        const auto ttl = std::chrono::milliseconds(p && p->responses ? p->responses->expires_ms : 0);
        std::erase_if(replies_, [&](const auto& kv) { return now - kv.second.received > ttl; });
    }
    replies_.insert_or_assign(std::string(reply), ReplyPermit{std::chrono::steady_clock::now(), 0});
}

bool Client::take_reply(std::string_view subject, const ResponsePermission& rp) {
    std::lock_guard lk(replies_mu_);
    auto it = replies_.find(std::string(subject));
    if (it == replies_.end()) return false;
    ++it->second.sent;
    if ((rp.max > 0 && it->second.sent > rp.max) ||
        (rp.expires_ms > 0 &&
         std::chrono::steady_clock::now() - it->second.received > std::chrono::milliseconds(rp.expires_ms))) {
        replies_.erase(it);
        return false;
    }
    return true;
}

void Client::auto_unsubscribe(ClientSub* raw) {
    std::shared_ptr<ClientSub> sub;
    {
        std::lock_guard lk(subs_mu_);
        auto it = subs_.find(raw->sid);
        if (it == subs_.end() || it->second.get() != raw) return;
        sub = it->second;
        subs_.erase(it);
    }
    account().sublist().remove(sub);
}

void Client::remove_all_subs() {
    std::unordered_map<std::string, std::shared_ptr<ClientSub>> subs;
    {
        std::lock_guard lk(subs_mu_);
        subs.swap(subs_);
    }
    for (auto& [sid, sub] : subs) account().sublist().remove(sub);
}

// ---- write side ----

void Client::schedule_flush_locked() {
    if (!flush_scheduled_) {
        flush_scheduled_ = true;
        t_flush.push_back(shared_from_this());
    }
}

void Client::send_proto(std::string_view text) {
    if (log::trace_enabled() && text.size() > 2 && !text.starts_with("INFO"))
        trace_out(text == "+OK\r\n" ? "OK" : text.substr(0, text.size() - 2));
    std::lock_guard lk(out_mu_);
    if (closed_) return;
    out_.append(text);
    schedule_flush_locked();
}

void Client::send_err(std::string_view text) {
    std::string line;
    line.reserve(text.size() + 10);
    line.append("-ERR '").append(text).append("'\r\n");
    send_proto(line);
}

bool Client::enqueue_msg(std::string_view subject, std::string_view sid, std::string_view reply,
                         std::string_view headers, std::string_view payload) {
    const std::size_t total = headers.size() + payload.size();
    if (log::trace_enabled()) {
        trace_out(headers.empty()
                      ? fmt::format("MSG {} {}{}{} {}", subject, sid, reply.empty() ? "" : " ",
                                    reply, total)
                      : fmt::format("HMSG {} {}{}{} {} {}", subject, sid, reply.empty() ? "" : " ",
                                    reply, headers.size(), total));
    }
    {
        std::lock_guard lk(out_mu_);
        if (closed_) return false;
        const std::size_t pending = pending_locked();
        if (pending + total > std::size_t(server_.options().max_pending)) {
            closed_ = true;  // no more writes; the loop closes the connection
            release_stalled_locked();
            server_.stats.slow_consumers.fetch_add(1, std::memory_order_relaxed);
            log::notice("{} - Slow Consumer Detected: MaxPending of {} Exceeded", tag(), server_.options().max_pending);
            asio::post(socket_.get_executor(), [self = shared_from_this()] {
                self->close_now(CloseReason::SlowConsumerPending);
            });
            return false;
        }
        if (out_off_ > 0 && out_off_ == out_.size()) {
            out_.clear();
            out_off_ = 0;
        }
        protocol::append_msg(out_, subject, sid, reply, headers, payload);
        schedule_flush_locked();
        if (t_reading) check_stall_locked(pending_locked());
        // Writers of these hold out_mu_: plain stores suffice.
        stats.out_msgs.store(stats.out_msgs.load(std::memory_order_relaxed) + 1,
                             std::memory_order_relaxed);
        stats.out_bytes.store(stats.out_bytes.load(std::memory_order_relaxed) + total,
                              std::memory_order_relaxed);
    }
    return true;
}

namespace {
std::vector<void (*)()>& flush_hooks() {
    static std::vector<void (*)()> hooks;
    return hooks;
}
}  // namespace

void Client::add_flush_hook(void (*fn)()) { flush_hooks().push_back(fn); }

void Client::send_async_info(bool ldm) {
    asio::post(socket_.get_executor(), [self = shared_from_this(), ldm] {
        if (self->closing_ || !self->connect_received_ || self->opts_.protocol < 1) return;
        self->send_proto(self->server_.info_line(self->cid_, self->ip_, ldm, {}, self->max_payload_,
                                                 self->wire_ && self->wire_->websocket()));
        self->flush();
    });
}

void Client::flush_scheduled() {
    for (auto fn : flush_hooks()) fn();
    // Swap out first: flushing may schedule more (it does not today, but stay safe).
    while (!t_flush.empty()) {
        std::vector<std::shared_ptr<Client>> batch;
        batch.swap(t_flush);
        for (auto& c : batch) c->flush();
        batch.clear();
        if (t_flush.empty()) t_flush.swap(batch);  // keep the capacity
    }
}

void Client::flush() {
    std::lock_guard lk(out_mu_);
    flush_scheduled_ = false;
    if (closed_ || write_blocked_) return;
    if (!write_locked()) {
        closed_ = true;
        asio::post(socket_.get_executor(),
                   [self = shared_from_this()] { self->close_now(CloseReason::WriteError); });
    }
}

bool Client::write_locked() {
    if (wire_) return write_wire_locked();
    while (out_off_ < out_.size()) {
        ssize_t n = ::send(fd_, out_.data() + out_off_, out_.size() - out_off_,
                           MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            out_off_ += std::size_t(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            // Drop what was sent, so a reader that never quite catches up does not make the
            // buffer grow with bytes already written (memory stays ~ pending bytes).
            if (out_off_ >= 64 * 1024 && out_off_ * 2 >= out_.size()) {
                out_.erase(0, out_off_);
                out_off_ = 0;
            }
            write_blocked_ = true;
            release_stalled_locked();
            asio::post(socket_.get_executor(), [self = shared_from_this()] { self->wait_writable(); });
            return true;
        }
        return false;
    }
    out_.clear();
    out_off_ = 0;
    release_stalled_locked();
    if (out_.capacity() > 4 * 1024 * 1024) std::string().swap(out_);
    return true;
}

void Client::wait_writable() {
    if (closing_) return;
    deadline_timer_.expires_after(std::chrono::milliseconds(server_.options().write_deadline_ms));
    deadline_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec || self->closing_) return;
        {
            std::lock_guard lk(self->out_mu_);
            if (!self->write_blocked_) return;
            self->closed_ = true;
        }
        self->server_.stats.slow_consumers.fetch_add(1, std::memory_order_relaxed);
        log::notice("{} - Slow Consumer Detected: WriteDeadline of {}ms exceeded",
                    self->tag(), self->server_.options().write_deadline_ms);
        self->close_now(CloseReason::SlowConsumerDeadline);
    });
    socket_.async_wait(tcp::socket::wait_write,
                       [self = shared_from_this()](const boost::system::error_code& ec) {
                           if (ec) return;
                           self->on_writable();
                       });
}

void Client::on_writable() {
    std::unique_lock lk(out_mu_);
    if (closed_) return;
    write_blocked_ = false;
    if (!write_locked()) {
        closed_ = true;
        lk.unlock();
        close_now(CloseReason::WriteError);
        return;
    }
    if (!write_blocked_) deadline_timer_.cancel();
}

// ---- closing ----

void Client::close(CloseReason reason) {
    asio::post(socket_.get_executor(),
               [self = shared_from_this(), reason] { self->close_now(reason); });
}

void Client::set_jwt_limits(std::int64_t max_subs, std::int64_t max_payload) {
    max_subs_ = max_subs;
    max_payload_ = max_payload;
    limits_.max_payload = max_payload < 0 ? server_.options().max_payload : max_payload;
}

std::size_t Client::num_subs() const {
    std::lock_guard lk(subs_mu_);
    return subs_.size();
}

void Client::recheck(std::function<std::optional<Verdict>(Client&)> check) {
    asio::post(socket_.get_executor(), [self = shared_from_this(), check = std::move(check)] {
        if (self->closing_ || !self->connect_received_) return;
        auto v = check(*self);
        if (!v) return;
        if (!v->err.empty()) {
            log::debug("{} - {}", self->tag(), v->err);
            self->send_err(v->err);
        }
        self->close_now(v->reason);
    });
}

void Client::close_now(CloseReason reason) {
    if (closing_.exchange(true)) return;
    log::debug("{} - Client connection closed: {}", tag(),
               reason_text(reason));
    remove_all_subs();
    match_cache_.reset();  // cached results may hold our own subscriptions, which hold us
    if (connect_received_ && account_) account_->connections.fetch_sub(1);
    if (connect_received_) server_.system().client_disconnected(*this, reason);
    boost::system::error_code ec;
    ping_timer_.cancel();
    auth_timer_.cancel();
    handshake_timer_.cancel();
    deadline_timer_.cancel();
    expire_timer_.cancel();
    stall_timer_.cancel();
    {
        std::lock_guard lk(out_mu_);
        // Best effort: what is buffered (an -ERR, the last messages) goes out before close,
        // unless this is a slow consumer that cannot take it.
        if (wire_) {
            if (!closed_ && !write_blocked_) close_wire_locked(reason);
        } else if (!closed_ && !write_blocked_) {
            while (out_off_ < out_.size()) {
                ssize_t n = ::send(fd_, out_.data() + out_off_, out_.size() - out_off_,
                                   MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n <= 0) break;
                out_off_ += std::size_t(n);
            }
        }
        closed_ = true;
        release_stalled_locked();
        socket_.shutdown(tcp::socket::shutdown_both, ec);
        socket_.close(ec);
        std::string().swap(out_);
    }
    server_.client_closed(this);
}

Client::Info Client::info(bool with_subs) const {
    Info i;
    i.cid = cid_;
    i.ip = ip_;
    i.port = port_;
    i.start = start_;
    i.last_activity = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(last_activity_ns_.load())));
    {
        std::lock_guard lk(out_mu_);
        i.pending_bytes = pending_locked();
        // As nats-server: only TLS on the client port shows (not a wss connection's).
        if (wire_ && !wire_->websocket() && wire_->tls() && wire_->tls()->established()) {
            i.tls_version = wire_->tls()->version();
            i.tls_cipher = wire_->tls()->cipher();
        }
    }
    i.in_msgs = stats.in_msgs;
    i.in_bytes = stats.in_bytes;
    i.out_msgs = stats.out_msgs;
    i.out_bytes = stats.out_bytes;
    i.stalls = stats.stalls;
    {
        std::lock_guard lk(subs_mu_);
        i.num_subs = subs_.size();
        if (with_subs)
            for (auto& [sid, s] : subs_) i.subs.push_back(s->subject);
    }
    {
        std::lock_guard lk(subs_mu_);
        i.name = opts_.name;
        i.lang = opts_.lang;
        i.version = opts_.version;
    }
    i.account = account_ ? account_->name() : std::string();
    i.user = user_;
    i.rtt_ns = rtt_ns_;
    return i;
}

}  // namespace osprey::server
