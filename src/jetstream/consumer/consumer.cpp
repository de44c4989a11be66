// The consumer's delivery loop, its subscriptions, timers and info. Acks, pull requests,
// pacing and durable state live in consumer_acks/_pull/_pacing/_state.cpp.
#include "jetstream/consumer/consumer.h"

#include <charconv>
#include <functional>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "jetstream/store/file_store.h"
#include "jetstream/stream/stream.h"
#include "server/account.h"
#include "server/client.h"
#include "subjects/subject.h"
#include "util/coarse_clock.h"
#include "util/random.h"

namespace osprey::jetstream {

namespace json = boost::json;
using SteadyClock = std::chrono::steady_clock;

// The consumer's subscription on its ack subjects.
struct Consumer::AckIntake : server::Receiver {
    std::weak_ptr<Consumer> consumer;
    bool deliver(const server::Message& m) override {
        if (auto c = consumer.lock()) {
            server::Client::StallExempt internal;
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
        server::Client::StallExempt internal;
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
      ack_prefix_("$JS.ACK." + stream_name_ + "." + name_ + "."),
      cfg_(std::move(cfg)),
      filter_(cfg_.filter_subject),
      durable_(cfg_.durable()),
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
            start_list_.assign(lasts.begin(), lasts.end());
            next_sseq_ = state.last_seq + 1;
            break;
        }
    }
    pending_count_ = st.count_after(f, next_sseq_ - 1);
    // nats-server reports the stream sequence before its start as delivered.
    delivered_sseq_ = (start_list_.empty() ? next_sseq_ : start_list_.front()) - 1;
    if (start_list_.empty()) start_seq_ = next_sseq_;
    sample_percent_ = sample_percent(cfg_.sample_freq);
}

void Consumer::position_at(std::uint64_t start) {
    std::lock_guard lk(mu_);
    auto s = stream_.lock();
    if (!s || start == 0) return;
    next_sseq_ = start;
    start_seq_ = start;
    start_list_.clear();
    delivered_sseq_ = start - 1;
    floor_sseq_ = start - 1;
    pending_count_ = s->store().count_after(cfg_.filter_subject, start - 1);
}

Consumer::~Consumer() {
    if (ack_log_) ack_log_->stop();
}

void Consumer::start() {
    subscribe_intakes();
    std::lock_guard lk(mu_);
    deliver_locked();
}

void Consumer::subscribe_intakes() {
    // Activation (the Raft thread) and stop() (the API thread) may meet: one lock, and none
    // once stopped.
    std::lock_guard ik(intakes_mu_);
    if (intakes_closed_ || ack_sub_) return;
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
    const bool refilter = cfg.filter_subject != cfg_.filter_subject;
    cfg_ = cfg;
    if (refilter) {
        {
            std::lock_guard fl(filter_mu_);
            filter_ = cfg_.filter_subject;
        }
        pending_count_ = exact_pending_locked() - start_list_.size();
    }
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
    unsubscribe_intakes(true);
    if (ack_log_) ack_log_->stop();
}

void Consumer::unsubscribe_intakes(bool for_good) {
    std::lock_guard ik(intakes_mu_);
    if (for_good) intakes_closed_ = true;
    if (auto a = std::exchange(ack_sub_, nullptr)) account_.sublist().remove(a);
    if (auto f = std::exchange(fc_sub_, nullptr)) account_.sublist().remove(f);
}

std::uint64_t Consumer::exact_pending_locked() const {
    auto s = stream_.lock();
    if (!s) return 0;
    // Acknowledged before a restart but not reached again yet: not pending.
    const std::uint64_t n = s->store().count_after(cfg_.filter_subject, next_sseq_ - 1);
    return start_list_.size() + (n > acked_ahead_.size() ? n - acked_ahead_.size() : 0);
}

std::uint64_t Consumer::num_pending_locked() const { return start_list_.size() + pending_count_; }

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
    ++state_gen_;
    const std::uint64_t sseq = msg.seq;
    ++dseq_;
    // Messages still to come after this one (exact: clients count down to 0).
    const std::uint64_t pending = num_pending_locked();
    // $JS.ACK.<stream>.<consumer>.<deliveries>.<sseq>.<cseq>.<ts>.<pending>, built by hand:
    // formatting it with fmt was a tenth of the delivery cost.
    reply_buf_.assign(ack_prefix_);
    auto number = [this](std::uint64_t v, bool dot) {
        char buf[24];
        auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
        reply_buf_.append(buf, end);
        if (dot) reply_buf_ += '.';
    };
    number(deliveries, true);
    number(sseq, true);
    number(dseq_, true);
    number(std::uint64_t(msg.ts), true);
    number(pending, false);
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
        out.routed = req->reply;
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
    // Deadlines and heartbeats run on a 50 ms tick: a coarse clock does (replay pacing, which
    // keeps millisecond gaps, reads the precise one).
    const auto now = cfg_.replay_original ? SteadyClock::now() : util::coarse_now();
    last_delivery_ = now;
    if (sseq > delivered_sseq_) delivered_sseq_ = sseq;
    if (cfg_.ack_policy == AckPolicy::None) {
        floor_cseq_ = dseq_;
        floor_sseq_ = std::max(floor_sseq_, sseq);
    } else {
        pending_[sseq] = Pending{dseq_, deliveries, now + redelivery_delay(deliveries),
                                 sample_percent_ ? now_unix_ns() : 0};
        if (deliveries > 1) redelivered_[sseq] = deliveries;
    }
    if (req) {
        ++req->sent;
        if (req->byte_limited)
            req->max_bytes -= std::int64_t(msg.subject.size() + reply.size() + hdr.size() + data.size());
    }
    if (cfg_.rate_limit_bps) charge_rate_locked(msg.subject.size() + reply.size() + hdr.size() + data.size());
    if (cfg_.replay_original && deliveries == 1) {
        replay_last_ts_ = msg.ts;
        replay_last_sent_ = now;
    }
}

bool Consumer::fits_locked(PullRequest& req, const StoredMsg& m, std::uint64_t deliveries) {
    if (!req.byte_limited) return true;
    auto digits = [](std::uint64_t v) {
        std::size_t n = 1;
        for (; v >= 10; v /= 10) ++n;
        return n;
    };
    const std::size_t reply = ack_prefix_.size() + digits(deliveries) + digits(m.seq) + digits(dseq_ + 1) +
                              digits(std::uint64_t(m.ts)) + digits(num_pending_locked()) + 4;
    if (std::int64_t(m.subject.size() + reply + m.hdr.size() + m.data.size()) <= req.max_bytes) return true;
    status_locked(req.reply, "409 Message Size Exceeds MaxBytes", req.batch - req.sent, req.max_bytes);
    req.sent = req.batch;  // done: popped at the top of the delivery loop
    return false;
}

bool Consumer::push_listened_locked() {
    auto& sl = account_.sublist();
    const std::uint64_t gen = sl.generation();
    if (gen != interest_gen_) {
        interest_ = server::has_interest(*sl.match_uncached(cfg_.deliver_subject));
        interest_gen_ = gen;
    }
    return interest_;
}

void Consumer::deliver_locked() {
    if (stopped_ || passive_) return;
    auto s = stream_.lock();
    if (!s) return;
    // A leader that may have been replaced (cut off from its majority) delivers nothing: a
    // new leader may already have had these messages acknowledged. The next tick tries again.
    if (!s->may_serve()) return;
    if (!cfg_.is_pull() && !push_listened_locked()) return;
    unsigned sent_in_run = 0;
    bool end_of_stream = false;  // stopped because nothing is left to send
    while (true) {
        if (paced_until_ != SteadyClock::time_point{}) {
            if (SteadyClock::now() < paced_until_) break;  // wake() comes back then
            paced_until_ = {};
        }
        if (cfg_.ack_policy != AckPolicy::None && cfg_.max_ack_pending > 0 &&
            std::int64_t(pending_.size()) >= cfg_.max_ack_pending) {
            settle_removed_locked(s->store());  // removed messages free their slots
            if (std::int64_t(pending_.size()) >= cfg_.max_ack_pending) break;
        }
        // Stalled: a flow control answer is overdue (one window is allowed in flight, so the
        // subscriber's answer and our deliveries overlap).
        if (!fc_subject_.empty() && fc_bytes_ >= 2 * kFlowControlBytes) break;
        PullRequest* req = nullptr;
        if (cfg_.is_pull()) {
            // Done requests go, and so do those nobody listens to any more (the requester
            // left): nats-server drops them without a word.
            while (!waiting_.empty() && (waiting_.front().sent >= waiting_.front().batch ||
                                         (waiting_.front().byte_limited && waiting_.front().max_bytes <= 0) ||
                                         !reply_listened_locked(waiting_.front())))
                waiting_.pop_front();
            if (waiting_.empty()) break;
            req = &waiting_.front();
        }
        // Due again first, then the last-per-subject start list, then what is next.
        std::optional<StoredMsg> msg;
        std::uint64_t deliveries = 1;
        bool too_big = false;  // for this request: it ended, the message waits for the next
        while (!redeliver_.empty() && !msg) {
            const std::uint64_t cand = redeliver_.front();
            auto it = pending_.find(cand);
            if (it == pending_.end() || !it->second.due) {
                redeliver_.pop_front();  // acknowledged or terminated meanwhile: stale
                continue;
            }
            deliveries = it->second.deliveries + 1;
            msg = s->store().load(cand);  // gone meanwhile (deleted, purged): nothing to send
            if (msg && req && !fits_locked(*req, *msg, deliveries)) {
                too_big = true;
                break;
            }
            redeliver_.pop_front();
            pending_.erase(it);  // due again: send_locked pends it anew
        }
        while (!start_list_.empty() && !msg && !too_big) {
            deliveries = 1;
            msg = s->store().load(start_list_.front());
            if (msg && req && !fits_locked(*req, *msg, deliveries)) {
                too_big = true;
                break;
            }
            start_list_.pop_front();
        }
        if (too_big) continue;
        if (!msg) {
            msg = s->store().load_next(cfg_.filter_subject, next_sseq_);
            if (!msg) {
                pending_count_ = 0;  // caught up: exact again
                end_of_stream = true;
                break;
            }
            if (!replay_due_locked(*msg)) break;
            if (req && !fits_locked(*req, *msg, 1)) continue;
            const std::uint64_t sseq = msg->seq;
            next_sseq_ = sseq + 1;
            ++state_gen_;
            if (pending_count_) --pending_count_;
            if (!acked_ahead_.empty() && acked_ahead_.erase(sseq)) {
                // Delivered and acknowledged before a restart (the ack log says so).
                delivered_sseq_ = std::max(delivered_sseq_, sseq);
                update_floor_locked();
                continue;
            }
            // Deletes of messages not delivered yet are not counted down: near the end, where
            // clients watch the count reach 0, count exactly, but only when something was
            // removed since the last count (else the count down is exact, and a recount per
            // delivery would walk the whole backlog behind it each time).
            if (pending_count_ < 1024 && s->store().removals() != counted_removals_) {
                counted_removals_ = s->store().removals();
                pending_count_ = exact_pending_locked() - start_list_.size();
            }
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
    // At the end of what there is, no_wait requests that got something end with a 408 and
    // what they did not get (nats-server's processWaiting at end of stream).
    if (end_of_stream) {
        for (auto it = waiting_.begin(); it != waiting_.end();) {
            if (it->no_wait && it->sent > 0) {
                status_locked(it->reply, "408 Request Timeout", it->batch - it->sent, it->max_bytes);
                it = waiting_.erase(it);
            } else {
                ++it;
            }
        }
    }
}

bool Consumer::reply_listened_locked(PullRequest& r) {
    auto& sl = account_.sublist();
    const std::uint64_t gen = sl.generation();
    if (!r.route || r.route_gen != gen) {
        r.route = sl.match_uncached(r.reply);
        r.route_gen = gen;
    }
    return server::has_interest(*r.route);
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
    if (stopped_ || passive_) return;
    if (auto s = stream_.lock()) settle_removed_locked(s->store());
    const auto now = SteadyClock::now();
    // Ack wait: what was not acknowledged in time is due again, oldest first.
    for (auto it = pending_.begin(); it != pending_.end();) {
        auto& [sseq, p] = *it;
        if (p.deadline <= now && !p.due) {
            if (cfg_.max_deliver > 0 && std::int64_t(p.deliveries) >= cfg_.max_deliver) {
                const std::uint64_t seq = sseq, times = p.deliveries;
                it = pending_.erase(it);
                gave_up_locked(seq, times);
                continue;
            }
            queue_redelivery_locked(sseq, p);
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

void Consumer::queue_redelivery_locked(std::uint64_t sseq, Pending& p) {
    if (p.due) return;  // queued once: a second nak does not deliver it twice
    p.due = true;
    p.deadline = SteadyClock::time_point::max();
    redeliver_.push_back(sseq);
}

bool Consumer::inactive_for_too_long() const {
    if (durable_) return false;
    std::lock_guard lk(mu_);
    if (cfg_.inactive_threshold_ns <= 0) return false;
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
    if (auto s = stream_.lock()) settle_removed_locked(s->store());
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
    pending_count_ = exact_pending_locked() - start_list_.size();  // info is rare: count exactly
    o["num_pending"] = num_pending_locked();
    if (!cfg_.is_pull()) {
        auto r = account_.sublist().match_uncached(cfg_.deliver_subject);
        if (server::has_interest(*r)) o["push_bound"] = true;
    }
    return o;
}

}  // namespace osprey::jetstream
