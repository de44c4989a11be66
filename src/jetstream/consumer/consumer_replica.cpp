// A durable consumer of a replicated stream (see consumer.h): active where the stream leads,
// passive elsewhere, its state following the stream's log on every replica.
#include <boost/json.hpp>

#include "jetstream/consumer/consumer.h"
#include "jetstream/store/file_store.h"
#include "jetstream/stream/stream.h"
#include "server/account.h"

namespace osprey::jetstream {

namespace json = boost::json;
using SteadyClock = std::chrono::steady_clock;

void Consumer::set_replicated(AckReplicator replicate) {
    replicate_ = std::move(replicate);
    std::lock_guard lk(mu_);
    passive_ = true;
}

void Consumer::activate() {
    {
        std::lock_guard lk(mu_);
        if (!passive_ || stopped_) return;
        passive_ = false;
        // What the previous leader delivered and nobody acknowledged yet is due one ack wait
        // from now: its client may still be working on it (and its ack now reaches us).
        const auto now = SteadyClock::now();
        for (auto& [sseq, p] : pending_)
            if (p.deadline == SteadyClock::time_point::max() && !p.due) p.deadline = now + redelivery_delay(p.deliveries);
        proposed_gen_ = ~std::uint64_t(0);  // the next round proposes our state
        last_activity_ = now;
    }
    subscribe_intakes();
    // Delivery starts on the JetStream thread (its wake-up), not here on the Raft thread that
    // runs every group: a backlog must not hold up the heartbeats.
    if (waker_) waker_(SteadyClock::now());
}

void Consumer::deactivate() {
    {
        std::lock_guard lk(mu_);
        if (passive_ || stopped_) return;
        passive_ = true;
        // Pull requests waiting here go unanswered (the clients ask again, and the new
        // leader hears them); what is pending stays pending, without a timer.
        waiting_.clear();
        redeliver_.clear();
        for (auto& [sseq, p] : pending_) {
            p.due = false;
            p.deadline = SteadyClock::time_point::max();
        }
        fc_subject_.clear();
        fc_bytes_ = 0;
    }
    unsubscribe_intakes(false);
}

void Consumer::apply_replicated_ack(char op, std::uint64_t sseq) {
    std::lock_guard lk(mu_);
    if (stopped_) return;
    ++state_gen_;
    // The leader applied its own ack when it arrived: applying it again changes nothing.
    apply_ack_record_locked(op, sseq);
    // A work queue forgets an acknowledged message here, on every replica alike.
    if (op == 'A')
        if (auto s = stream_.lock(); s && s->config().retention == Retention::WorkQueue) s->store().remove(sseq);
    update_floor_locked();
    if (passive_) {
        std::erase_if(redeliver_, [&](std::uint64_t q) { return !pending_.count(q); });
        last_ack_ns_ = now_unix_ns();
    }
    // This replica's own record, for a restart (lazily synced: the stream's log holds the ack
    // on a majority, and is compacted only after sync_log()).
    if (ack_log_) {
        const std::string data = std::to_string(sseq);
        ack_log_->append(std::string_view(&op, 1), {}, data, 0);
    }
    if (!passive_) deliver_locked();  // a freed max_ack_pending slot
}

void Consumer::apply_replicated_state(const json::object& st) {
    std::lock_guard lk(mu_);
    if (stopped_) return;
    ++state_gen_;
    // The leader's state replaces this copy's (the acks after it follow in the log).
    pending_.clear();
    redelivered_.clear();
    acked_ahead_.clear();
    read_state_locked(st, false);
    pending_count_ = exact_pending_locked();
}

void Consumer::propose_state_if_moved(const std::function<void(std::string)>& propose) {
    std::lock_guard lk(mu_);
    if (passive_ || stopped_ || state_gen_ == proposed_gen_) return;
    proposed_gen_ = state_gen_;
    propose(replica_state_locked());
}

std::string Consumer::replica_state_locked() {
    json::object st = state_json_locked();
    st.erase("log_seq");  // this replica's own ack log: meaningless elsewhere
    return json::serialize(st);
}

std::string Consumer::replica_state_text() {
    std::lock_guard lk(mu_);
    return replica_state_locked();
}

void Consumer::sync_log() {
    if (ack_log_) ack_log_->sync();
}

}  // namespace osprey::jetstream
