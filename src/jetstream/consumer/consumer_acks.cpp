// Acks arriving on $JS.ACK.<stream>.<consumer>.<deliveries>.<sseq>.<cseq>.<ts>.<pending>:
// the ack floor, retention, max deliveries, ack sampling, interest questions from the stream.
#include "jetstream/consumer/consumer.h"

#include <algorithm>
#include <array>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "jetstream/stream/stream.h"
#include "server/account.h"
#include "subjects/subject.h"
#include "util/coarse_clock.h"
#include "util/random.h"

namespace osprey::jetstream {

namespace json = boost::json;
using SteadyClock = std::chrono::steady_clock;

void Consumer::sample_ack_locked(std::uint64_t sseq, std::string_view cseq,
                                 std::string_view deliveries) {
    // nats-server's ack sampling: a share of the acks (sample_freq percent) is reported with
    // the time the message waited for its ack.
    auto it = pending_.find(sseq);
    if (it == pending_.end()) return;
    if (sample_percent_ < 100 && int(util::fast_rand() % 100) > sample_percent_) return;
    const std::int64_t now = now_unix_ns();
    event_locked("$JS.EVENT.METRIC.CONSUMER.ACK", "io.nats.jetstream.metric.v1.consumer_ack", now,
                 fmt::format("\"consumer_seq\":{},\"stream_seq\":{},\"ack_time\":{},\"deliveries\":{}",
                             cseq, sseq, now - it->second.sent_ns, deliveries));
}

void Consumer::event_locked(std::string_view subject_prefix, std::string_view type, std::int64_t now,
                            std::string_view fields) {
    // nats-server's event shape: type, id, timestamp, stream, consumer, then the event's own.
    const std::string subject = fmt::format("{}.{}.{}", subject_prefix, stream_name_, name_);
    const std::string body = fmt::format(
        "{{\"type\":\"{}\",\"id\":\"{}\",\"timestamp\":\"{}\",\"stream\":\"{}\",\"consumer\":\"{}\",{}}}",
        type, util::random_token(22), rfc3339_ns(now), stream_name_, name_, fields);
    server::Message ev{subject, {}, {}, body, nullptr};
    account_.route(ev);
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
    // A work queue forgets a message once one consumer acknowledged it. Replicated, every
    // replica removes it when the ack applies (a replicated consumer's ack entry, or for one
    // that is not replicated, a removal proposed with it), so all copies stay the same.
    if (auto s = stream_.lock(); s && s->config().retention == Retention::WorkQueue) {
        if (s->replicated()) {
            if (!replicate_ && pending_.count(sseq)) s->propose_removal(sseq);
        } else if (cfg_.ack_policy == AckPolicy::All) {
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
        ++state_gen_;
        last_activity_ = util::coarse_now();
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
                // "+NXT" may carry a pull request ("+NXT {"batch":5,"no_wait":true}").
                std::string_view req = body.substr(4);
                pull_locked(std::string(m.reply), req);
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
                    queue_redelivery_locked(sseq, it->second);
                }
            }
        } else if (body == "+WPI") {
            auto it = pending_.find(sseq);
            if (it != pending_.end())
                it->second.deadline = SteadyClock::now() + std::chrono::nanoseconds(cfg_.ack_wait_ns);
        } else if (body.starts_with("+TERM")) {
            // nats-server's processTerm: an advisory (a candidate for dead-letter handling),
            // pending or not.
            event_locked("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED", "io.nats.jetstream.advisory.v1.terminated",
                         now_unix_ns(),
                         fmt::format("\"consumer_seq\":{},\"stream_seq\":{},\"deliveries\":{}", cseq, sseq, delivered));
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

void Consumer::settle_removed_locked(Store& st) {
    const std::uint64_t removals = st.removals();
    if (removals == seen_removals_) return;
    seen_removals_ = removals;
    std::vector<std::uint64_t> gone;
    for (auto it = pending_.begin(); it != pending_.end();) {
        if (st.contains(it->first)) {
            ++it;
            continue;
        }
        gone.push_back(it->first);
        redelivered_.erase(it->first);
        it = pending_.erase(it);
    }
    if (gone.empty()) return;
    ++state_gen_;
    std::erase_if(redeliver_, [&](std::uint64_t q) { return std::binary_search(gone.begin(), gone.end(), q); });
    last_ack_ns_ = now_unix_ns();
    update_floor_locked();
}

void Consumer::on_purge(std::uint64_t first) {
    std::lock_guard lk(mu_);
    ++state_gen_;
    if (next_sseq_ < first) next_sseq_ = first;
    delivered_sseq_ = std::max(delivered_sseq_, next_sseq_ - 1);
    if (floor_sseq_ < first) {
        floor_sseq_ = first - 1;
        for (auto it = pending_.begin(); it != pending_.end() && it->first <= floor_sseq_;) {
            floor_cseq_ = std::max(floor_cseq_, it->second.cseq);
            redelivered_.erase(it->first);
            it = pending_.erase(it);
        }
        std::erase_if(redeliver_, [&](std::uint64_t q) { return q <= floor_sseq_; });
        std::erase_if(acked_ahead_, [&](std::uint64_t q) { return q <= floor_sseq_; });
    }
    pending_count_ = exact_pending_locked() - start_list_.size();
}

bool Consumer::interested_in(std::string_view subject) const {
    std::lock_guard lk(filter_mu_);
    return filter_.empty() || subjects::matches(filter_, subject);
}

bool Consumer::still_needs(std::uint64_t sseq, std::string_view subject) const {
    if (!interested_in(subject)) return false;
    std::lock_guard lk(mu_);
    if (sseq <= floor_sseq_) return false;
    if (pending_.count(sseq)) return true;  // delivered, not acknowledged
    if (sseq >= next_sseq_) return !acked_ahead_.count(sseq);  // not delivered yet
    // Passed and not pending: acknowledged, unless a last-per-subject start entry waits.
    return std::find(start_list_.begin(), start_list_.end(), sseq) != start_list_.end();
}

std::uint64_t Consumer::ack_floor() const {
    std::lock_guard lk(mu_);
    return floor_sseq_;
}

void Consumer::gave_up_locked(std::uint64_t sseq, std::uint64_t deliveries) {
    ++state_gen_;
    event_locked("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES", "io.nats.jetstream.advisory.v1.max_deliver",
                 now_unix_ns(), fmt::format("\"stream_seq\":{},\"deliveries\":{}", sseq, deliveries));
    update_floor_locked();
}

}  // namespace osprey::jetstream
