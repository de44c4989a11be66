#include "groups/internal_client.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "server/account.h"
#include "server/client.h"
#include "util/random.h"

namespace osprey::groups {

namespace asio = boost::asio;

std::string_view Msg::status() const {
    // "NATS/1.0 404 No Messages\r\n..." (a status message has no payload to speak of).
    std::string_view h(headers);
    if (!h.starts_with("NATS/1.0 ") || h.size() < 12) return {};
    std::string_view code = h.substr(9, 3);
    for (char c : code)
        if (c < '0' || c > '9') return {};
    return code;
}

struct InternalClient::Shared {
    bool alive = true;  // read and written on the loop only
};

namespace {

// A subscription of the client: copies each message and runs the handler on the loop.
struct LoopReceiver : server::Receiver {
    asio::io_context* loop = nullptr;
    std::shared_ptr<std::function<void(Msg&)>> fn;
    std::shared_ptr<bool> active;  // false once unsubscribed (on the loop)
    bool deliver(const server::Message& m) override {
        server::Client::StallExempt internal;
        Msg copy{std::string(m.subject), std::string(m.reply), std::string(m.headers), std::string(m.payload),
                 m.routed.empty() ? std::string() : std::string(m.routed)};
        asio::post(*loop, [fn = fn, active = active, copy = std::move(copy)]() mutable {
            if (*active) (*fn)(copy);
        });
        return true;
    }
};

}  // namespace

InternalClient::InternalClient(server::Account& account, asio::io_context& loop)
    : account_(account), loop_(loop), shared_(std::make_shared<Shared>()) {
    inbox_prefix_ = "_OSP_GW." + util::random_token(16) + ".";
    auto r = std::make_shared<LoopReceiver>();
    r->subject = inbox_prefix_ + ">";
    r->loop = &loop_;
    r->active = std::make_shared<bool>(true);
    r->fn = std::make_shared<std::function<void(Msg&)>>([this](Msg& m) { on_inbox(m); });
    inbox_sub_ = r;
    account_.sublist().insert(inbox_sub_);
}

InternalClient::~InternalClient() {
    shared_->alive = false;
    account_.sublist().remove(inbox_sub_);
    *static_cast<LoopReceiver&>(*inbox_sub_).active = false;
    for (auto& [id, s] : subs_) {
        account_.sublist().remove(s);
        *static_cast<LoopReceiver&>(*s).active = false;
    }
}

std::uint64_t InternalClient::subscribe(const std::string& subject, std::function<void(Msg&)> fn) {
    auto r = std::make_shared<LoopReceiver>();
    r->subject = subject;
    r->loop = &loop_;
    r->active = std::make_shared<bool>(true);
    r->fn = std::make_shared<std::function<void(Msg&)>>(std::move(fn));
    const std::uint64_t id = ++next_id_;
    subs_[id] = r;
    account_.sublist().insert(r);
    return id;
}

void InternalClient::unsubscribe(std::uint64_t id) {
    auto it = subs_.find(id);
    if (it == subs_.end()) return;
    account_.sublist().remove(it->second);
    *static_cast<LoopReceiver&>(*it->second).active = false;
    subs_.erase(it);
}

std::string InternalClient::add_inbox(std::function<void(Msg&)> fn) {
    std::string token = std::to_string(++next_id_);
    inboxes_[token] = std::move(fn);
    return inbox_prefix_ + token;
}

void InternalClient::drop_inbox(const std::string& subject) {
    if (subject.starts_with(inbox_prefix_)) inboxes_.erase(subject.substr(inbox_prefix_.size()));
}

std::string InternalClient::unique_prefix() {
    return "_OSP_GWM." + inbox_prefix_.substr(8, inbox_prefix_.size() - 9) + "." + std::to_string(++next_id_);
}

void InternalClient::on_inbox(Msg& m) {
    const std::string& to = m.to.empty() ? m.subject : m.to;
    if (!to.starts_with(inbox_prefix_)) return;
    std::string_view token = std::string_view(to).substr(inbox_prefix_.size());
    auto it = inboxes_.find(std::string(token));
    if (it == inboxes_.end()) return;  // dropped: a late answer
    auto fn = it->second;  // the handler may drop its own inbox
    fn(m);
}

void InternalClient::publish(std::string_view subject, std::string_view reply, std::string_view headers,
                             std::string_view payload) {
    server::Message m{subject, reply, headers, payload, nullptr};
    account_.route(m);
    schedule_flush();
}

void InternalClient::schedule_flush() {
    // Deliveries of our publishes to clients are written once per turn of the loop, as a
    // client's read batch is.
    if (flush_posted_) return;
    flush_posted_ = true;
    asio::post(loop_, [this, shared = shared_] {
        if (!shared->alive) return;
        flush_posted_ = false;
        server::Client::flush_scheduled();
    });
}

void InternalClient::request(std::string_view subject, std::string_view headers, std::string_view payload,
                             std::chrono::milliseconds timeout,
                             std::move_only_function<void(std::optional<Msg>)> done) {
    struct Pending {
        std::move_only_function<void(std::optional<Msg>)> done;
        asio::steady_timer timer;
        explicit Pending(asio::io_context& l) : timer(l) {}
    };
    auto p = std::make_shared<Pending>(loop_);
    p->done = std::move(done);
    const std::string inbox = add_inbox([this, p](Msg& m) {
        if (!p->done) return;
        p->timer.cancel();
        drop_inbox(m.to.empty() ? m.subject : m.to);
        auto d = std::move(p->done);
        p->done = nullptr;
        d(std::move(m));
    });
    p->timer.expires_after(timeout);
    p->timer.async_wait([this, p, inbox, shared = shared_](boost::system::error_code ec) {
        if (ec || !shared->alive || !p->done) return;
        drop_inbox(inbox);
        auto d = std::move(p->done);
        p->done = nullptr;
        d(std::nullopt);
    });
    publish(subject, inbox, headers, payload);
}

}  // namespace osprey::groups
