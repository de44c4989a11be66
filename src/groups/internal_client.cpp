#include "groups/internal_client.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <mutex>
#include <vector>

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

namespace {
struct Handler {
    std::function<void(Msg&)> fn;
    bool active = true;  // false once unsubscribed (on the loop)
};
}  // namespace

// What deliveries on other threads reach: the loop's queue of copied messages. One post
// drains all that arrived meanwhile (a post, and a wake-up of the loop, per batch rather
// than per message).
struct InternalClient::Shared {
    bool alive = true;  // read and written on the loop only
    std::mutex mu;
    std::vector<std::pair<std::shared_ptr<Handler>, Msg>> queue;  // under mu
    bool posted = false;                                          // under mu
};

namespace {

struct LoopReceiver : server::Receiver {
    asio::io_context* loop = nullptr;
    std::shared_ptr<Handler> handler;
    std::shared_ptr<InternalClient::Shared> shared;
    bool deliver(const server::Message& m) override {
        server::Client::StallExempt internal;
        Msg copy{std::string(m.subject), std::string(m.reply), std::string(m.headers), std::string(m.payload),
                 m.routed.empty() ? std::string() : std::string(m.routed)};
        bool post = false;
        {
            std::lock_guard lk(shared->mu);
            shared->queue.emplace_back(handler, std::move(copy));
            post = !std::exchange(shared->posted, true);
        }
        if (post)
            asio::post(*loop, [sh = shared] {
                std::vector<std::pair<std::shared_ptr<Handler>, Msg>> batch;
                {
                    std::lock_guard lk(sh->mu);
                    batch.swap(sh->queue);
                    sh->posted = false;
                }
                for (auto& [h, msg] : batch)
                    if (sh->alive && h->active) h->fn(msg);
            });
        return true;
    }
};

std::shared_ptr<LoopReceiver> make_receiver(std::string subject, asio::io_context& loop,
                                            const std::shared_ptr<InternalClient::Shared>& shared,
                                            std::function<void(Msg&)> fn) {
    auto r = std::make_shared<LoopReceiver>();
    r->subject = std::move(subject);
    r->loop = &loop;
    r->shared = shared;
    r->handler = std::make_shared<Handler>();
    r->handler->fn = std::move(fn);
    return r;
}

}  // namespace

InternalClient::InternalClient(server::Account& account, asio::io_context& loop)
    : account_(account), loop_(loop), shared_(std::make_shared<Shared>()), expiry_(loop) {
    inbox_prefix_ = "_OSP_GW." + util::random_token(16) + ".";
    inbox_sub_ = make_receiver(inbox_prefix_ + ">", loop_, shared_, [this](Msg& m) { on_inbox(m); });
    account_.sublist().insert(inbox_sub_);
}

InternalClient::~InternalClient() {
    shared_->alive = false;
    expiry_.cancel();
    account_.sublist().remove(inbox_sub_);
    static_cast<LoopReceiver&>(*inbox_sub_).handler->active = false;
    for (auto& [id, s] : subs_) {
        account_.sublist().remove(s);
        static_cast<LoopReceiver&>(*s).handler->active = false;
    }
}

std::uint64_t InternalClient::subscribe(const std::string& subject, std::function<void(Msg&)> fn) {
    auto r = make_receiver(subject, loop_, shared_, std::move(fn));
    const std::uint64_t id = ++next_id_;
    subs_[id] = r;
    account_.sublist().insert(r);
    return id;
}

void InternalClient::unsubscribe(std::uint64_t id) {
    auto it = subs_.find(id);
    if (it == subs_.end()) return;
    account_.sublist().remove(it->second);
    static_cast<LoopReceiver&>(*it->second).handler->active = false;
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
    const std::uint64_t id = ++next_id_;
    const std::string token = "r" + std::to_string(id);
    requests_.emplace(id, std::move(done));
    deadlines_.emplace(SteadyClock::now() + timeout, id);
    inboxes_[token] = [this, id, token](Msg& m) {
        inboxes_.erase(token);
        auto it = requests_.find(id);
        if (it == requests_.end()) return;
        auto d = std::move(it->second);
        requests_.erase(it);
        d(std::move(m));
    };
    arm_expiry();
    publish(subject, inbox_prefix_ + token, headers, payload);
}

void InternalClient::arm_expiry() {
    // One timer for all requests (a timer each cost more than an ack): it looks every
    // 100 ms while some wait.
    if (expiry_armed_ || deadlines_.empty()) return;
    expiry_armed_ = true;
    expiry_.expires_after(std::chrono::milliseconds(100));
    expiry_.async_wait([this, shared = shared_](boost::system::error_code ec) {
        if (ec || !shared->alive) return;
        expiry_armed_ = false;
        const auto now = SteadyClock::now();
        while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
            const std::uint64_t id = deadlines_.begin()->second;
            deadlines_.erase(deadlines_.begin());
            auto it = requests_.find(id);
            if (it == requests_.end()) continue;  // answered
            auto d = std::move(it->second);
            requests_.erase(it);
            inboxes_.erase("r" + std::to_string(id));
            d(std::nullopt);
        }
        // Deadlines of answered requests are dropped as they come up; the rest wait.
        while (!deadlines_.empty() && !requests_.contains(deadlines_.begin()->second))
            deadlines_.erase(deadlines_.begin());
        arm_expiry();
    });
}

}  // namespace osprey::groups
