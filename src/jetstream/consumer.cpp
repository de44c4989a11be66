#include "jetstream/consumer.h"

#include <array>
#include <cctype>
#include <charconv>
#include <boost/json.hpp>
#include <functional>
#include <fmt/format.h>

#include "jetstream/store/file_store.h"
#include "jetstream/stream.h"
#include "server/account.h"
#include "server/client.h"
#include "subjects/subject.h"
#include "util/random.h"

namespace osprey::jetstream {

namespace json = boost::json;
using SteadyClock = std::chrono::steady_clock;

// The consumer's subscription on its ack subjects.
struct Consumer::AckIntake : server::Receiver {
    std::weak_ptr<Consumer> consumer;
    bool deliver(const server::Message& m) override {
        if (auto c = consumer.lock()) {
            c->on_ack(m);
            return true;
        }
        return false;
    }
};

// The consumer's subscription on its flow control replies.
struct FlowControlIntake : server::Receiver {
    std::function<void(std::string_view)> on_reply;
    bool deliver(const server::Message& m) override {
        if (on_reply) on_reply(m.subject);
        return true;
    }
};

Consumer::Consumer(std::shared_ptr<Stream> stream, server::Account& account, std::string name,
                   ConsumerConfig cfg, std::chrono::system_clock::time_point created)
    : stream_(stream),
      account_(account),
      name_(std::move(name)),
      stream_name_(stream->config().name),
      cfg_(std::move(cfg)),
      filter_(cfg_.filter_subject),
      created_(created),
      last_activity_(SteadyClock::now()),
      last_delivery_(SteadyClock::now()) {
    Store& st = stream->store();
    const auto state = st.state();
    const std::string& f = cfg_.filter_subject;
    switch (cfg_.deliver_policy) {
        case DeliverPolicy::All: next_sseq_ = std::max<std::uint64_t>(1, state.first_seq); break;
        case DeliverPolicy::New: next_sseq_ = state.last_seq + 1; break;
        case DeliverPolicy::Last: {
            auto m = st.load_last(f);
            next_sseq_ = m ? m->seq : state.last_seq + 1;
            break;
        }
        case DeliverPolicy::ByStartSequence: next_sseq_ = std::max<std::uint64_t>(1, cfg_.opt_start_seq); break;
        case DeliverPolicy::ByStartTime: {
            next_sseq_ = state.last_seq + 1;
            for (auto m = st.load_next(f, state.first_seq); m; m = st.load_next(f, m->seq + 1)) {
                if (m->ts >= cfg_.opt_start_ns) {
                    next_sseq_ = m->seq;
                    break;
                }
            }
            break;
        }
        case DeliverPolicy::LastPerSubject: {
            // The last message of every subject first, in sequence order, then what is new.
            std::vector<std::uint64_t> lasts;
            for (const auto& [subject, n] : st.subject_totals(f))
                lasts.push_back(st.subject_state(subject).last);
            std::sort(lasts.begin(), lasts.end());
            redeliver_.assign(lasts.begin(), lasts.end());
            initial_left_ = lasts.size();
            next_sseq_ = state.last_seq + 1;
            break;
        }
    }
    pending_count_ = st.count_after(f, next_sseq_ - 1);
    sample_percent_ = sample_percent(cfg_.sample_freq);
}

Consumer::~Consumer() {
    if (ack_log_) ack_log_->stop();
}

void Consumer::attach_log(const std::string& dir) {
    FileStoreConfig fc;
    fc.dir = dir + "/acklog";
    fc.segment_bytes = 1024 * 1024;
    fc.after_callbacks = [] { server::Client::flush_scheduled(); };
    ack_log_ = std::make_unique<FileStore>(fc);
}

void Consumer::log_ack_locked(char op, std::uint64_t sseq, const std::string& confirm_to) {
    if (!ack_log_) {
        if (!confirm_to.empty()) {
            server::Message r{confirm_to, {}, {}, {}, nullptr};
            account_.route_reply(r);
        }
        return;
    }
    const std::string data = std::to_string(sseq);
    auto seq = ack_log_->append(std::string_view(&op, 1), {}, data, 0);
    if (!confirm_to.empty() && seq) {
        // Confirmed (AckSync) once the ack is as durable as a stored message.
        server::Account* acc = &account_;
        ack_log_->when_durable(*seq, [acc, to = confirm_to] {
            server::Message r{to, {}, {}, {}, nullptr};
            acc->route_reply(r);
        });
    }
}

void Consumer::replay_log_locked(std::uint64_t after) {
    if (!ack_log_) return;
    for (auto m = ack_log_->load_next("", after + 1); m; m = ack_log_->load_next("", m->seq + 1)) {
        std::uint64_t sseq = 0;
        for (char c : m->data) sseq = sseq * 10 + std::uint64_t(c - '0');
        if (m->subject == "L") {  // ack all up to sseq
            for (auto it = pending_.begin(); it != pending_.end() && it->first <= sseq;)
                it = pending_.erase(it);
            if (sseq >= next_sseq_) next_sseq_ = sseq + 1;
            delivered_sseq_ = std::max(delivered_sseq_, sseq);
        } else {  // "A" ack, "T" term
            if (pending_.erase(sseq) == 0 && sseq >= next_sseq_) acked_ahead_.insert(sseq);
            delivered_sseq_ = std::max(delivered_sseq_, sseq);
        }
    }
    std::erase_if(redeliver_, [&](std::uint64_t q) { return !pending_.count(q); });
    update_floor_locked();
}

void Consumer::start() {
    ack_sub_ = std::make_shared<AckIntake>();
    ack_sub_->consumer = weak_from_this();
    ack_sub_->subject = "$JS.ACK." + stream_name_ + "." + name_ + ".>";
    account_.sublist().insert(ack_sub_);
    if (cfg_.flow_control && !cfg_.is_pull()) {
        auto fc = std::make_shared<FlowControlIntake>();
        std::weak_ptr<Consumer> weak = weak_from_this();
        fc->on_reply = [weak](std::string_view subject) {
            if (auto c = weak.lock()) c->on_flow_control_reply(subject);
        };
        fc->subject = "$JS.FC." + stream_name_ + "." + name_ + ".>";
        account_.sublist().insert(fc);
        fc_sub_ = fc;
    }
    std::lock_guard lk(mu_);
    deliver_locked();
}

void Consumer::on_flow_control_reply(std::string_view subject) {
    std::lock_guard lk(mu_);
    if (fc_subject_.empty() || subject != fc_subject_) return;
    fc_subject_.clear();
    // What was sent before the request is confirmed; what went out after it stays counted.
    fc_bytes_ = std::max<std::int64_t>(0, fc_bytes_ - kFlowControlBytes);
    deliver_locked();
}

void Consumer::update_config(const ConsumerConfig& cfg) {
    std::lock_guard lk(mu_);
    cfg_ = cfg;
    sample_percent_ = sample_percent(cfg_.sample_freq);
    deliver_locked();  // a larger max_ack_pending may let more out
}

void Consumer::stop() {
    {
        std::lock_guard lk(mu_);
        if (stopped_) return;
        stopped_ = true;
        // Pull requests still waiting learn why nothing comes.
        for (auto& r : waiting_) status_locked(r.reply, "409 Consumer Deleted");
        waiting_.clear();
    }
    if (ack_sub_) account_.sublist().remove(ack_sub_);
    if (fc_sub_) account_.sublist().remove(fc_sub_);
    if (ack_log_) ack_log_->stop();
}

std::uint64_t Consumer::exact_pending_locked() const {
    auto s = stream_.lock();
    if (!s) return 0;
    // Acknowledged before a restart but not reached again yet: not pending.
    const std::uint64_t n = s->store().count_after(cfg_.filter_subject, next_sseq_ - 1);
    return initial_left_ + (n > acked_ahead_.size() ? n - acked_ahead_.size() : 0);
}

std::uint64_t Consumer::num_pending_locked() const { return initial_left_ + pending_count_; }

std::chrono::nanoseconds Consumer::redelivery_delay(std::uint64_t deliveries) const {
    if (!cfg_.backoff_ns.empty()) {
        std::size_t i = std::min<std::size_t>(deliveries ? deliveries - 1 : 0, cfg_.backoff_ns.size() - 1);
        return std::chrono::nanoseconds(cfg_.backoff_ns[i]);
    }
    return std::chrono::nanoseconds(cfg_.ack_wait_ns);
}

void Consumer::status_locked(const std::string& to, const char* status, std::int64_t pending_msgs,
                             std::int64_t pending_bytes) {
    std::string hdr = std::string("NATS/1.0 ") + status + "\r\n";
    if (pending_msgs >= 0)
        hdr += fmt::format("Nats-Pending-Messages: {}\r\nNats-Pending-Bytes: {}\r\n", pending_msgs,
                           std::max<std::int64_t>(0, pending_bytes));
    hdr += "\r\n";
    server::Message m{to, {}, hdr, {}, nullptr};
    account_.route_reply(m);
}

void Consumer::send_locked(const StoredMsg& msg, std::uint64_t deliveries, PullRequest* req) {
    const std::uint64_t sseq = msg.seq;
    ++dseq_;
    // Messages still to come after this one (exact: clients count down to 0).
    const std::uint64_t pending = num_pending_locked();
    reply_buf_.clear();
    fmt::format_to(std::back_inserter(reply_buf_), "$JS.ACK.{}.{}.{}.{}.{}.{}.{}", stream_name_,
                   name_, deliveries, sseq, dseq_, msg.ts, pending);
    const std::string& reply = reply_buf_;
    std::string_view hdr = msg.hdr;
    std::string_view data = msg.data;
    if (cfg_.headers_only) {
        hdr_buf_ = msg.hdr.empty() ? std::string("NATS/1.0\r\n") : msg.hdr.substr(0, msg.hdr.size() - 2);
        hdr_buf_ += fmt::format("Nats-Msg-Size: {}\r\n\r\n", msg.data.size());
        hdr = hdr_buf_;
        data = {};
    }
    // Delivered to the pull request's inbox or the push subject, with the message's own
    // subject in the MSG line.
    server::Message out{msg.subject, reply, hdr, data, nullptr};
    if (req) {
        auto& sl = account_.sublist();
        const std::uint64_t gen = sl.generation();
        if (!req->route || req->route_gen != gen) {
            req->route = sl.match_uncached(req->reply);
            req->route_gen = gen;
        }
        account_.deliver(*req->route, out);
    } else {
        account_.deliver_as(cfg_.deliver_subject, out, true);
        if (cfg_.flow_control) {
            fc_bytes_ += std::int64_t(msg.data.size() + msg.hdr.size());
            if (fc_subject_.empty() && fc_bytes_ >= kFlowControlBytes) {
                // Ask the subscriber to confirm it keeps up; deliveries wait for the answer.
                fc_subject_ = fmt::format("$JS.FC.{}.{}.{}", stream_name_, name_,
                                          util::random_token(4));
                server::Message fc{cfg_.deliver_subject, fc_subject_,
                                   "NATS/1.0 100 FlowControl Request\r\n\r\n", {}, nullptr};
                account_.route(fc);
            }
        }
    }
    last_delivery_ = SteadyClock::now();
    if (sseq > delivered_sseq_) delivered_sseq_ = sseq;
    if (cfg_.ack_policy == AckPolicy::None) {
        floor_cseq_ = dseq_;
        floor_sseq_ = std::max(floor_sseq_, sseq);
    } else {
        pending_[sseq] = Pending{dseq_, deliveries, SteadyClock::now() + redelivery_delay(deliveries),
                                 sample_percent_ ? now_unix_ns() : 0};
        if (deliveries > 1) redelivered_[sseq] = deliveries;
    }
    if (req) {
        ++req->sent;
        if (req->max_bytes > 0) req->max_bytes -= std::int64_t(msg.data.size() + msg.hdr.size());
    }
    if (cfg_.rate_limit_bps) charge_rate_locked(msg.subject.size() + reply.size() + hdr.size() + data.size());
    if (cfg_.replay_original && deliveries == 1) {
        replay_last_ts_ = msg.ts;
        replay_last_sent_ = SteadyClock::now();
    }
}

bool Consumer::replay_due_locked(const StoredMsg& m) {
    // As nats-server: the gap between two messages' stream timestamps, when over 1 ms, is
    // kept between their deliveries. Live messages arrive spaced already and go at once.
    if (!cfg_.replay_original || replay_last_ts_ == 0) return true;
    const std::int64_t gap = m.ts - replay_last_ts_;
    if (gap <= 1'000'000) return true;
    const auto due = replay_last_sent_ + std::chrono::nanoseconds(gap);
    if (due <= SteadyClock::now()) return true;
    pace_until_locked(due);
    return false;
}

void Consumer::charge_rate_locked(std::size_t bytes) {
    // rate_limit_bps is in bits per second; the bucket holds one maximal message (the
    // stream's max_msg_size, else the default max payload), nats-server's burst.
    const double rate = double(cfg_.rate_limit_bps) / 8;
    double burst = 1024.0 * 1024;
    if (auto s = stream_.lock(); s && s->config().max_msg_size > 0) burst = double(s->config().max_msg_size);
    const auto now = SteadyClock::now();
    if (rate_refilled_ == SteadyClock::time_point{}) {
        rate_tokens_ = burst;
    } else {
        rate_tokens_ = std::min(burst, rate_tokens_ + rate * std::chrono::duration<double>(now - rate_refilled_).count());
    }
    rate_refilled_ = now;
    rate_tokens_ -= double(bytes);
    // In debt: the next delivery waits until the debt is paid back.
    if (rate_tokens_ < 0)
        pace_until_locked(now + std::chrono::duration_cast<SteadyClock::duration>(
                                    std::chrono::duration<double>(-rate_tokens_ / rate)));
}

void Consumer::pace_until_locked(SteadyClock::time_point t) {
    paced_until_ = t;
    if (waker_) waker_(t);
}

void Consumer::wake() {
    std::lock_guard lk(mu_);
    if (stopped_) return;
    const auto now = SteadyClock::now();
    expire_requests_locked(now);
    if (paced_until_ != SteadyClock::time_point{} && paced_until_ <= now) paced_until_ = {};
    deliver_locked();  // sets paced_until_ again if pacing holds the next message back
    rearm_locked();
    server::Client::flush_scheduled();
}

void Consumer::rearm_locked() {
    if (!waker_) return;
    auto next = paced_until_ == SteadyClock::time_point{} ? SteadyClock::time_point::max() : paced_until_;
    for (const auto& r : waiting_) next = std::min(next, r.deadline);
    if (next != SteadyClock::time_point::max()) waker_(next);
}

void Consumer::expire_requests_locked(SteadyClock::time_point now) {
    for (auto it = waiting_.begin(); it != waiting_.end();) {
        if (it->deadline <= now) {
            status_locked(it->reply, "408 Request Timeout", it->batch - it->sent, it->max_bytes);
            it = waiting_.erase(it);
        } else {
            ++it;
        }
    }
}

void Consumer::deliver_locked() {
    if (stopped_) return;
    auto s = stream_.lock();
    if (!s) return;
    unsigned sent_in_run = 0;
    while (true) {
        if (paced_until_ != SteadyClock::time_point{}) {
            if (SteadyClock::now() < paced_until_) break;  // wake() comes back then
            paced_until_ = {};
        }
        if (cfg_.ack_policy != AckPolicy::None && cfg_.max_ack_pending > 0 &&
            std::int64_t(pending_.size()) >= cfg_.max_ack_pending)
            break;
        // Stalled: a flow control answer is overdue (one window is allowed in flight, so the
        // subscriber's answer and our deliveries overlap).
        if (!fc_subject_.empty() && fc_bytes_ >= 2 * kFlowControlBytes) break;
        PullRequest* req = nullptr;
        if (cfg_.is_pull()) {
            while (!waiting_.empty() && (waiting_.front().sent >= waiting_.front().batch ||
                                         (waiting_.front().max_bytes < 0)))
                waiting_.pop_front();
            if (waiting_.empty()) break;
            req = &waiting_.front();
        }
        // Due again first (and the last-per-subject start list), then what is next.
        std::optional<StoredMsg> msg;
        std::uint64_t deliveries = 1;
        while (!redeliver_.empty() && !msg) {
            const std::uint64_t cand = redeliver_.front();
            redeliver_.pop_front();
            if (auto it = pending_.find(cand); it != pending_.end()) {
                deliveries = it->second.deliveries + 1;  // due again
                pending_.erase(it);
            } else {
                if (initial_left_) --initial_left_;  // a last-per-subject start entry
                deliveries = 1;
            }
            msg = s->store().load(cand);  // gone meanwhile (deleted, purged): nothing to send
        }
        if (!msg) {
            msg = s->store().load_next(cfg_.filter_subject, next_sseq_);
            if (!msg) {
                pending_count_ = 0;  // caught up: exact again
                break;
            }
            if (!replay_due_locked(*msg)) break;
            const std::uint64_t sseq = msg->seq;
            next_sseq_ = sseq + 1;
            if (pending_count_) --pending_count_;
            if (!acked_ahead_.empty() && acked_ahead_.erase(sseq)) {
                // Delivered and acknowledged before a restart (the ack log says so).
                delivered_sseq_ = std::max(delivered_sseq_, sseq);
                update_floor_locked();
                continue;
            }
            // Deletes of messages not delivered yet are not counted down: near the end, where
            // clients watch the count reach 0, count exactly.
            if (pending_count_ < 1024) pending_count_ = exact_pending_locked() - initial_left_;
        }
        if (cfg_.max_deliver > 0 && std::int64_t(deliveries) > cfg_.max_deliver) {
            gave_up_locked(msg->seq, deliveries - 1);
            continue;
        }
        send_locked(*msg, deliveries, req);
        if (req && req->sent >= req->batch) waiting_.pop_front();
        // A long run (a backlog to a push consumer): let the bytes flow while we go on, so
        // the subscriber works in parallel instead of waiting for the whole run.
        if ((++sent_in_run & 255) == 0) server::Client::flush_scheduled();
    }
    // no_wait requests that cannot be served now end here; one with expires that got
    // nothing yet waits for its first message or its expiry (nats-server 2.9).
    for (auto it = waiting_.begin(); it != waiting_.end();) {
        if (it->no_wait && !(it->sent == 0 && it->deadline != SteadyClock::time_point::max())) {
            if (it->sent == 0) {
                status_locked(it->reply, "404 No Messages");
            } else {
                status_locked(it->reply, "408 Request Timeout", it->batch - it->sent, it->max_bytes);
            }
            it = waiting_.erase(it);
        } else {
            ++it;
        }
    }
}

namespace {

// Go's name for a JSON value's kind, as encoding/json reports a type mismatch.
const char* go_json_kind(const json::value& v) {
    if (v.is_string()) return "string";
    if (v.is_bool()) return "bool";
    if (v.is_array()) return "array";
    if (v.is_object()) return "object";
    return "number";
}

// A pull request body as nats-server reads it: empty (batch 1), a number (the batch), or
// {"batch","expires","max_bytes","no_wait","idle_heartbeat"}; anything else is batch 1.
// Returns the "400 Bad Request - ..." reason when the object does not decode.
std::optional<std::string> parse_pull_request(std::string_view body, std::int64_t& batch,
                                              std::int64_t& max_bytes, std::int64_t& expires,
                                              bool& no_wait, std::int64_t& heartbeat) {
    while (!body.empty() && std::isspace(static_cast<unsigned char>(body.front()))) body.remove_prefix(1);
    while (!body.empty() && std::isspace(static_cast<unsigned char>(body.back()))) body.remove_suffix(1);
    batch = 1;
    if (body.empty()) return std::nullopt;
    if (body.front() != '{') {
        std::int64_t n = 0;
        auto [p, ec] = std::from_chars(body.data(), body.data() + body.size(), n);
        if (ec == std::errc() && p == body.data() + body.size()) batch = n;
        return std::nullopt;
    }
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec || !v.is_object()) return std::string("invalid JSON: ") + ec.message();
    const auto& o = v.get_object();
    auto field = [&](const char* name, const char* go_type, std::int64_t& out) -> std::optional<std::string> {
        auto it = o.find(name);
        if (it == o.end() || it->value().is_null()) return std::nullopt;
        if (it->value().is_int64()) {
            out = it->value().get_int64();
            return std::nullopt;
        }
        return fmt::format("json: cannot unmarshal {} into Go struct field JSApiConsumerGetNextRequest.{} of type {}",
                           go_json_kind(it->value()), name, go_type);
    };
    if (auto e = field("expires", "time.Duration", expires)) return e;
    if (auto e = field("batch", "int", batch)) return e;
    if (auto e = field("max_bytes", "int", max_bytes)) return e;
    if (auto it = o.find("no_wait"); it != o.end() && !it->value().is_null()) {
        if (!it->value().is_bool())
            return fmt::format("json: cannot unmarshal {} into Go struct field JSApiConsumerGetNextRequest.no_wait of type bool",
                               go_json_kind(it->value()));
        no_wait = it->value().get_bool();
    }
    if (auto e = field("idle_heartbeat", "time.Duration", heartbeat)) return e;
    if (heartbeat > 0 && heartbeat * 2 > expires) return std::string("heartbeat value too large");
    return std::nullopt;
}

// Go's time.Duration String(): "1s", "1.5s", "500ms", "1m30s", "2h0m0s".
std::string go_duration(std::int64_t ns) {
    if (ns == 0) return "0s";
    std::string sign = ns < 0 ? "-" : "";
    std::uint64_t u = ns < 0 ? std::uint64_t(-(ns + 1)) + 1 : std::uint64_t(ns);
    auto frac = [](std::uint64_t v, std::uint64_t unit) {
        std::string digits = fmt::format("{:0{}}", v % unit, std::to_string(unit).size() - 1);
        while (!digits.empty() && digits.back() == '0') digits.pop_back();
        return fmt::format("{}{}{}", v / unit, digits.empty() ? "" : ".", digits);
    };
    if (u < 1000) return sign + fmt::format("{}ns", u);
    if (u < 1000'000) return sign + frac(u, 1000) + "\u00b5s";
    if (u < 1000'000'000) return sign + frac(u, 1000'000) + "ms";
    const std::uint64_t h = u / 3600'000'000'000ULL, m = (u / 60'000'000'000ULL) % 60;
    const std::string secs = frac(u % 60'000'000'000ULL, 1000'000'000) + "s";
    if (h) return sign + fmt::format("{}h{}m", h, m) + secs;
    if (m) return sign + fmt::format("{}m", m) + secs;
    return sign + secs;
}

}  // namespace

void Consumer::pull(const std::string& reply, std::string_view body) {
    PullRequest r(reply, 1);
    std::int64_t expires = 0, heartbeat = 0;
    auto bad = parse_pull_request(body, r.batch, r.max_bytes, expires, r.no_wait, heartbeat);
    std::lock_guard lk(mu_);
    last_activity_ = SteadyClock::now();
    // nats-server's checks, in its order.
    if (!cfg_.is_pull()) {
        status_locked(reply, "409 Consumer is push based");
        return;
    }
    if (bad) {
        status_locked(reply, ("400 Bad Request - " + *bad).c_str());
        return;
    }
    if (cfg_.max_batch > 0 && r.batch > cfg_.max_batch) {
        status_locked(reply, fmt::format("409 Exceeded MaxRequestBatch of {}", cfg_.max_batch).c_str());
        return;
    }
    if (expires > 0 && cfg_.max_expires_ns > 0 && expires > cfg_.max_expires_ns) {
        status_locked(reply, ("409 Exceeded MaxRequestExpires of " + go_duration(cfg_.max_expires_ns)).c_str());
        return;
    }
    if (r.max_bytes > 0 && cfg_.max_bytes > 0 && r.max_bytes > cfg_.max_bytes) {
        status_locked(reply, fmt::format("409 Exceeded MaxRequestMaxBytes of {}", cfg_.max_bytes).c_str());
        return;
    }
    if (cfg_.max_waiting > 0 && std::int64_t(waiting_.size()) >= cfg_.max_waiting) {
        status_locked(reply, "409 Exceeded MaxWaiting");
        return;
    }
    if (r.batch <= 0) r.batch = 1;
    if (expires != 0) r.deadline = SteadyClock::now() + std::chrono::nanoseconds(expires);
    r.heartbeat = std::chrono::nanoseconds(heartbeat);
    r.last_heartbeat = SteadyClock::now();
    const auto deadline = r.deadline;
    waiting_.push_back(std::move(r));
    deliver_locked();
    // Still waiting: expire it on time.
    if (waker_ && deadline != SteadyClock::time_point::max() && !waiting_.empty() &&
        waiting_.back().deadline == deadline)
        waker_(deadline);
}

void Consumer::heartbeat_locked(const std::string& to) {
    std::string hdr = fmt::format(
        "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: {}\r\nNats-Last-Stream: {}\r\n",
        dseq_, next_sseq_ - 1);
    // A stalled push consumer names the flow control subject it waits on.
    if (!fc_subject_.empty()) hdr += "Nats-Consumer-Stalled: " + fc_subject_ + "\r\n";
    hdr += "\r\n";
    server::Message m{to, {}, hdr, {}, nullptr};
    account_.route_reply(m);
}

void Consumer::on_stream_append(std::string_view subject, std::uint64_t seq) {
    std::lock_guard lk(mu_);
    if (seq >= next_sseq_ &&
        (cfg_.filter_subject.empty() || subjects::matches(cfg_.filter_subject, subject)))
        ++pending_count_;
    deliver_locked();
}

void Consumer::tick() {
    std::lock_guard lk(mu_);
    if (stopped_) return;
    const auto now = SteadyClock::now();
    // Ack wait: what was not acknowledged in time is due again, oldest first.
    for (auto it = pending_.begin(); it != pending_.end();) {
        auto& [sseq, p] = *it;
        if (p.deadline <= now &&
            std::find(redeliver_.begin(), redeliver_.end(), sseq) == redeliver_.end()) {
            if (cfg_.max_deliver > 0 && std::int64_t(p.deliveries) >= cfg_.max_deliver) {
                const std::uint64_t seq = sseq, times = p.deliveries;
                it = pending_.erase(it);
                gave_up_locked(seq, times);
                continue;
            }
            redeliver_.push_back(sseq);
            p.deadline = SteadyClock::time_point::max();
        }
        ++it;
    }
    // Pull requests that expired (normally already on time by wake()); the others hear a
    // heartbeat if they asked for one.
    expire_requests_locked(now);
    for (auto& r : waiting_) {
        if (r.heartbeat.count() > 0 && now - r.last_heartbeat >= r.heartbeat) {
            heartbeat_locked(r.reply);
            r.last_heartbeat = now;
        }
    }
    deliver_locked();
    // Push consumers: tell an idle subscriber we are alive.
    if (!cfg_.is_pull() && cfg_.idle_heartbeat_ns > 0 &&
        now - last_delivery_ >= std::chrono::nanoseconds(cfg_.idle_heartbeat_ns)) {
        heartbeat_locked(cfg_.deliver_subject);
        last_delivery_ = now;
    }
}

void Consumer::gave_up_locked(std::uint64_t sseq, std::uint64_t deliveries) {
    // nats-server's max deliveries advisory.
    const std::string subject =
        fmt::format("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{}.{}", stream_name_, name_);
    const std::string body = fmt::format(
        "{{\"type\":\"io.nats.jetstream.advisory.v1.max_deliver\",\"id\":\"{}\","
        "\"timestamp\":\"{}\",\"stream\":\"{}\",\"consumer\":\"{}\",\"stream_seq\":{},"
        "\"deliveries\":{}}}",
        util::random_token(22), rfc3339_ns(now_unix_ns()), stream_name_, name_, sseq, deliveries);
    server::Message adv{subject, {}, {}, body, nullptr};
    account_.route(adv);
    update_floor_locked();
}

void Consumer::sample_ack_locked(std::uint64_t sseq, std::string_view cseq,
                                 std::string_view deliveries) {
    // nats-server's ack sampling: a share of the acks (sample_freq percent) is reported with
    // the time the message waited for its ack.
    auto it = pending_.find(sseq);
    if (it == pending_.end()) return;
    if (sample_percent_ < 100 && int(util::fast_rand() % 100) > sample_percent_) return;
    const std::int64_t now = now_unix_ns();
    const std::string subject =
        fmt::format("$JS.EVENT.METRIC.CONSUMER.ACK.{}.{}", stream_name_, name_);
    const std::string body = fmt::format(
        "{{\"type\":\"io.nats.jetstream.metric.v1.consumer_ack\",\"id\":\"{}\","
        "\"timestamp\":\"{}\",\"stream\":\"{}\",\"consumer\":\"{}\",\"consumer_seq\":{},"
        "\"stream_seq\":{},\"ack_time\":{},\"deliveries\":{}}}",
        util::random_token(22), rfc3339_ns(now), stream_name_, name_, cseq, sseq,
        now - it->second.sent_ns, deliveries);
    server::Message adv{subject, {}, {}, body, nullptr};
    account_.route(adv);
}

void Consumer::update_floor_locked() {
    if (pending_.empty()) {
        floor_cseq_ = dseq_;
        floor_sseq_ = delivered_sseq_;
    } else {
        const auto& [sseq, p] = *pending_.begin();
        floor_sseq_ = sseq - 1;
        floor_cseq_ = p.cseq - 1;
    }
}

void Consumer::ack_locked(std::uint64_t sseq) {
    // A work queue forgets a message once one consumer acknowledged it.
    if (auto s = stream_.lock(); s && s->config().retention == Retention::WorkQueue) {
        if (cfg_.ack_policy == AckPolicy::All) {
            for (auto it = pending_.begin(); it != pending_.end() && it->first <= sseq; ++it)
                s->store().remove(it->first);
        } else if (pending_.count(sseq)) {
            s->store().remove(sseq);
        }
    }
    if (cfg_.ack_policy == AckPolicy::All) {
        for (auto it = pending_.begin(); it != pending_.end() && it->first <= sseq;) {
            redelivered_.erase(it->first);
            it = pending_.erase(it);
        }
    } else {
        pending_.erase(sseq);
        redelivered_.erase(sseq);
    }
    update_floor_locked();
}

void Consumer::on_ack(const server::Message& m) {
    // $JS.ACK.<stream>.<consumer>.<deliveries>.<sseq>.<cseq>.<ts>.<pending>; anything else
    // (other token counts, non-numbers) is not an ack of ours and is ignored, as nats-server.
    std::array<std::string_view, 9> t;
    subjects::Tokens tok(m.subject);
    std::string_view x;
    std::size_t n = 0;
    while (tok.next(x)) {
        if (n == t.size()) return;
        t[n++] = x;
    }
    if (n != t.size()) return;
    auto number = [](std::string_view v, std::uint64_t& out) {
        if (v.empty() || v.size() > 19) return false;
        out = 0;
        for (char c : v) {
            if (c < '0' || c > '9') return false;
            out = out * 10 + std::uint64_t(c - '0');
        }
        return true;
    };
    std::uint64_t sseq = 0, cseq = 0, delivered = 0;
    if (!number(t[5], sseq) || !number(t[6], cseq) || !number(t[4], delivered)) return;
    std::string_view body = m.payload;
    std::uint64_t settled = 0;
    {
        std::lock_guard lk(mu_);
        last_activity_ = SteadyClock::now();
        const bool confirm = !m.reply.empty() && !body.starts_with("+NXT");
        std::string confirm_to = confirm ? std::string(m.reply) : std::string();
        bool logged = false;  // acknowledged or terminated: settled for interest retention
        if (body.empty() || body == "+ACK" || body.starts_with("+NXT")) {
            if (sample_percent_ && cfg_.ack_policy == AckPolicy::Explicit) sample_ack_locked(sseq, t[6], t[4]);
            ack_locked(sseq);
            log_ack_locked(cfg_.ack_policy == AckPolicy::All ? 'L' : 'A', sseq, confirm_to);
            logged = true;
            settled = sseq;
            last_ack_ns_ = now_unix_ns();
            if (body.starts_with("+NXT") && !m.reply.empty() && cfg_.is_pull()) {
                waiting_.emplace_back(std::string(m.reply), 1);
            }
        } else if (body.starts_with("-NAK")) {
            auto it = pending_.find(sseq);
            if (it != pending_.end()) {
                std::int64_t delay = 0;
                auto brace = body.find('{');
                if (brace != std::string_view::npos) {
                    boost::system::error_code ec;
                    json::value v = json::parse(body.substr(brace), ec);
                    if (!ec && v.is_object() && v.get_object().contains("delay") &&
                        v.get_object().at("delay").is_int64())
                        delay = v.get_object().at("delay").get_int64();
                }
                if (delay > 0) {
                    it->second.deadline = SteadyClock::now() + std::chrono::nanoseconds(delay);
                } else {
                    it->second.deadline = SteadyClock::time_point::max();
                    redeliver_.push_back(sseq);
                }
            }
        } else if (body == "+WPI") {
            auto it = pending_.find(sseq);
            if (it != pending_.end())
                it->second.deadline = SteadyClock::now() + std::chrono::nanoseconds(cfg_.ack_wait_ns);
        } else if (body.starts_with("+TERM")) {
            pending_.erase(sseq);
            redelivered_.erase(sseq);
            update_floor_locked();
            log_ack_locked('T', sseq, confirm_to);
            logged = true;
            settled = sseq;
            last_ack_ns_ = now_unix_ns();
        }
        // A double ack (the client asked for a confirmation): an empty reply, once durable.
        if (confirm && !logged) {
            server::Message r{m.reply, {}, {}, {}, nullptr};
            account_.route_reply(r);
        }
        deliver_locked();
    }
    // Interest retention: what every interested consumer has acknowledged can go (outside
    // our lock: the stream asks every consumer).
    if (auto st = stream_.lock(); st && st->config().retention == Retention::Interest)
        st->interest_acked(settled);
}

bool Consumer::interested_in(std::string_view subject) const {
    return filter_.empty() || subjects::matches(filter_, subject);
}

bool Consumer::still_needs(std::uint64_t sseq, std::string_view subject) const {
    if (!interested_in(subject)) return false;
    std::lock_guard lk(mu_);
    if (sseq <= floor_sseq_) return false;
    if (pending_.count(sseq)) return true;  // delivered, not acknowledged
    if (sseq >= next_sseq_) return !acked_ahead_.count(sseq);  // not delivered yet
    // Passed and not pending: acknowledged, unless a last-per-subject start entry waits.
    return std::find(redeliver_.begin(), redeliver_.end(), sseq) != redeliver_.end();
}

std::uint64_t Consumer::ack_floor() const {
    std::lock_guard lk(mu_);
    return floor_sseq_;
}

bool Consumer::inactive_for_too_long() const {
    if (cfg_.durable() || cfg_.inactive_threshold_ns <= 0) return false;
    std::lock_guard lk(mu_);
    if (!cfg_.is_pull()) {
        // A push consumer is active while someone listens on its deliver subject.
        auto r = account_.sublist().match_uncached(cfg_.deliver_subject);
        if (server::has_interest(*r)) return false;
    } else if (!waiting_.empty()) {
        return false;
    }
    return SteadyClock::now() - last_activity_ > std::chrono::nanoseconds(cfg_.inactive_threshold_ns);
}

json::object Consumer::info_json() {
    std::lock_guard lk(mu_);
    json::object o;
    o["stream_name"] = stream_name_;
    o["name"] = name_;
    o["created"] = rfc3339_ns(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  created_.time_since_epoch())
                                  .count());
    o["config"] = to_json(cfg_);
    json::object delivered{{"consumer_seq", dseq_}, {"stream_seq", delivered_sseq_}};
    if (dseq_) {
        // The wall-clock time of the last delivery.
        const auto ago = SteadyClock::now() - last_delivery_;
        delivered["last_active"] = rfc3339_ns(std::chrono::duration_cast<std::chrono::nanoseconds>(
            (std::chrono::system_clock::now() - ago).time_since_epoch()).count());
    }
    o["delivered"] = std::move(delivered);
    json::object floor{{"consumer_seq", floor_cseq_}, {"stream_seq", floor_sseq_}};
    if (last_ack_ns_) floor["last_active"] = rfc3339_ns(last_ack_ns_);
    o["ack_floor"] = std::move(floor);
    o["num_ack_pending"] = pending_.size();
    o["num_redelivered"] = redelivered_.size();
    o["num_waiting"] = waiting_.size();
    pending_count_ = exact_pending_locked() - initial_left_;  // info is rare: count exactly
    o["num_pending"] = num_pending_locked();
    if (!cfg_.is_pull()) {
        auto r = account_.sublist().match_uncached(cfg_.deliver_subject);
        if (server::has_interest(*r)) o["push_bound"] = true;
    }
    return o;
}

json::object Consumer::state_json() {
    std::lock_guard lk(mu_);
    const std::uint64_t log_seq = ack_log_ ? ack_log_->state().last_seq : 0;
    json::array pend;
    for (auto& [sseq, p] : pending_)
        pend.push_back(json::array{sseq, p.cseq, p.deliveries});
    json::array ahead;
    for (auto q : acked_ahead_) ahead.push_back(q);
    return json::object{{"next_sseq", next_sseq_},   {"dseq", dseq_},
                        {"delivered_sseq", delivered_sseq_}, {"floor_cseq", floor_cseq_},
                        {"floor_sseq", floor_sseq_}, {"pending", std::move(pend)},
                        {"acked_ahead", std::move(ahead)}, {"log_seq", log_seq}};
}

void Consumer::restore_state(const json::object& st) {
    std::lock_guard lk(mu_);
    auto u = [&](const char* k) {
        auto it = st.find(k);
        return it != st.end() && it->value().is_number() ? it->value().to_number<std::uint64_t>() : 0;
    };
    if (st.contains("next_sseq")) {  // else: positioned by the deliver policy
        next_sseq_ = std::max<std::uint64_t>(1, u("next_sseq"));
        initial_left_ = 0;
    }
    dseq_ = u("dseq");
    delivered_sseq_ = u("delivered_sseq");
    floor_cseq_ = u("floor_cseq");
    floor_sseq_ = u("floor_sseq");
    redeliver_.clear();
    if (auto it = st.find("pending"); it != st.end() && it->value().is_array()) {
        for (const auto& e : it->value().get_array()) {
            if (!e.is_array() || e.get_array().size() != 3) continue;
            const auto& a = e.get_array();
            const auto sseq = a[0].to_number<std::uint64_t>();
            // Not acknowledged before the restart: due again at once.
            pending_[sseq] = Pending{a[1].to_number<std::uint64_t>(), a[2].to_number<std::uint64_t>(),
                                     SteadyClock::time_point::max(), now_unix_ns()};
            redeliver_.push_back(sseq);
        }
    }
    if (auto it = st.find("acked_ahead"); it != st.end() && it->value().is_array())
        for (const auto& q : it->value().get_array()) acked_ahead_.insert(q.to_number<std::uint64_t>());
    replay_log_locked(u("log_seq"));
    pending_count_ = exact_pending_locked();
}

void Consumer::trim_log(std::uint64_t upto) {
    // The snapshot covers the log up to `upto`: those records can go.
    if (!ack_log_ || !upto) return;
    if (upto >= ack_log_->state().last_seq) {
        ack_log_->purge("", 0, 0);  // one purge marker instead of a tombstone per record
    } else {
        ack_log_->purge("", upto + 1, 0);
    }
}

}  // namespace osprey::jetstream
