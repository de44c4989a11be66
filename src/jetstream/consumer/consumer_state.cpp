// A durable consumer's state across restarts: the ack log (the messages' durability rule)
// and the snapshot that trims it.
#include "jetstream/consumer/consumer.h"

#include <boost/json.hpp>

#include "jetstream/store/file_store.h"
#include "jetstream/stream/stream.h"
#include "server/account.h"
#include "server/client.h"

namespace osprey::jetstream {

namespace json = boost::json;
using SteadyClock = std::chrono::steady_clock;

void Consumer::attach_log(const std::string& dir, std::int64_t sync_interval_ms) {
    FileStoreConfig fc;
    fc.dir = dir + "/acklog";
    fc.sync_interval_ms = sync_interval_ms;  // the messages' rule, whatever the user chose
    fc.segment_bytes = 1024 * 1024;
    fc.after_callbacks = [] { server::Client::flush_scheduled(); };
    ack_log_ = std::make_unique<FileStore>(fc);
}

void Consumer::log_ack_locked(char op, std::uint64_t sseq, const std::string& confirm_to) {
    if (replicate_) {
        replicate_(op, sseq, confirm_to);  // logged and confirmed when it applies
        return;
    }
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

void Consumer::apply_ack_record_locked(char op, std::uint64_t sseq) {
    if (op == 'L') {  // ack all up to sseq
        for (auto it = pending_.begin(); it != pending_.end() && it->first <= sseq;) {
            redelivered_.erase(it->first);
            it = pending_.erase(it);
        }
        if (sseq >= next_sseq_) next_sseq_ = sseq + 1;
        delivered_sseq_ = std::max(delivered_sseq_, sseq);
    } else {  // 'A' ack, 'T' term
        redelivered_.erase(sseq);
        // Acknowledged past what the state says was delivered (the snapshot is older than
        // the ack): remembered, and skipped when delivery reaches it. It must not move the
        // delivered sequence, or the floor would pass the unacknowledged messages before it
        // (delivered after the snapshot, not acked) and they would be lost after a kill -9.
        if (pending_.erase(sseq) == 0 && sseq >= next_sseq_) {
            acked_ahead_.insert(sseq);
            return;
        }
        delivered_sseq_ = std::max(delivered_sseq_, sseq);
    }
}

void Consumer::replay_log_locked(std::uint64_t after) {
    if (!ack_log_) return;
    for (auto m = ack_log_->load_next("", after + 1); m; m = ack_log_->load_next("", m->seq + 1)) {
        std::uint64_t sseq = 0;
        for (char c : m->data) sseq = sseq * 10 + std::uint64_t(c - '0');
        apply_ack_record_locked(m->subject.empty() ? 'A' : m->subject[0], sseq);
    }
    // What was acknowledged right after the state's delivered point counts as delivered now
    // (as the delivery would find when it passes them), up to the first message that was not.
    if (auto s = stream_.lock(); s && !acked_ahead_.empty()) {
        for (auto msg = s->store().load_next(cfg_.filter_subject, next_sseq_);
             msg && acked_ahead_.erase(msg->seq); msg = s->store().load_next(cfg_.filter_subject, next_sseq_)) {
            next_sseq_ = msg->seq + 1;
            delivered_sseq_ = std::max(delivered_sseq_, msg->seq);
        }
    }
    update_floor_locked();
}

json::object Consumer::state_json() {
    std::lock_guard lk(mu_);
    return state_json_locked();
}

json::object Consumer::state_json_locked() {
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

void Consumer::read_state_locked(const json::object& st, bool due_now) {
    auto u = [&](const char* k) {
        auto it = st.find(k);
        return it != st.end() && it->value().is_number() ? it->value().to_number<std::uint64_t>() : 0;
    };
    if (st.contains("next_sseq")) {  // else: positioned by the deliver policy
        next_sseq_ = std::max<std::uint64_t>(1, u("next_sseq"));
        start_list_.clear();
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
            const auto deliveries = a[2].to_number<std::uint64_t>();
            auto& p = pending_[sseq];
            p = Pending{a[1].to_number<std::uint64_t>(), deliveries, SteadyClock::time_point::max(), now_unix_ns()};
            if (deliveries > 1) redelivered_[sseq] = deliveries;
            // Not acknowledged before a restart: due again at once. (A passive copy's pending
            // entries get their deadlines when it is activated.)
            if (due_now) queue_redelivery_locked(sseq, p);
        }
    }
    if (auto it = st.find("acked_ahead"); it != st.end() && it->value().is_array())
        for (const auto& q : it->value().get_array()) acked_ahead_.insert(q.to_number<std::uint64_t>());
}

void Consumer::restore_state(const json::object& st) {
    std::lock_guard lk(mu_);
    auto it = st.find("log_seq");
    const std::uint64_t log_seq =
        it != st.end() && it->value().is_number() ? it->value().to_number<std::uint64_t>() : 0;
    read_state_locked(st, true);
    replay_log_locked(log_seq);
    pending_count_ = exact_pending_locked();
}

void Consumer::trim_log(std::uint64_t upto) {
    // The snapshot covers the log up to `upto`: those records can go. The store compares
    // with its last record under its own lock, so an ack logged meanwhile stays.
    if (!ack_log_ || !upto) return;
    ack_log_->purge("", upto + 1, 0);
}

}  // namespace osprey::jetstream
