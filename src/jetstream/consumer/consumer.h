// A consumer of a stream: the delivery state machine (what was delivered, what waits for an
// ack, what is due again), pull requests waiting for messages, push delivery with idle
// heartbeats, and the acks arriving on $JS.ACK.<stream>.<consumer>.>.
// Thread-safe: deliveries run on whichever thread wakes the consumer (a publish, a pull
// request, an ack, the JetStream timer), under the consumer's lock.
#pragma once
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "jetstream/consumer/consumer_config.h"
#include "server/message.h"
#include "subjects/sublist.h"

namespace boost::json {
class object;
}
namespace osprey::server {
class Account;
}

namespace osprey::jetstream {

class Stream;
struct StoredMsg;

class Consumer : public std::enable_shared_from_this<Consumer> {
public:
    Consumer(std::shared_ptr<Stream> stream, server::Account& account, std::string name,
             ConsumerConfig cfg, std::chrono::system_clock::time_point created);
    ~Consumer();

    const std::string& name() const { return name_; }
    // A copy: update_config() may replace it meanwhile on another thread.
    ConsumerConfig config() const {
        std::lock_guard lk(mu_);
        return cfg_;
    }
    // The filter subject (an update may change it), without the delivery lock.
    std::string filter() const {
        std::lock_guard lk(filter_mu_);
        return filter_;
    }
    // What never changes, readable without the lock.
    bool durable() const { return durable_; }
    std::chrono::system_clock::time_point created() const { return created_; }

    // Paced delivery (replay_policy original, rate_limit_bps) asks its owner to call wake() at
    // a time; set before start().
    // Pull request expiry uses it too: clients time their fetches, and a 408 that comes late
    // lands in their next fetch.
    using Waker = std::function<void(std::chrono::steady_clock::time_point)>;
    void set_waker(Waker w) { waker_ = std::move(w); }
    void wake();   // a paced delivery or a pull request's expiry may be due

    // Where the deliver policy placed it when it was made (0: a start list, last per
    // subject): kept with its configuration, so that a restart before its first state
    // snapshot starts it there again, not where the policy would place it now (a "new"
    // consumer would skip what it was given and did not acknowledge).
    std::uint64_t start_seq() const { return start_seq_; }
    void position_at(std::uint64_t start);  // before start(): back at that start
    void start();  // subscribes to acks and delivers what is there
    // Applies a new configuration whose policies and subjects are unchanged (checked by the
    // caller): limits, waits, backoff, description...
    void update_config(const ConsumerConfig& cfg);
    void stop();

    // A pull request (MSG.NEXT): `body` is a number or {"batch","expires","no_wait","max_bytes"}.
    void pull(const std::string& reply, std::string_view body);
    void on_stream_append(std::string_view subject, std::uint64_t seq);  // the stream stored this
    // The stream was purged up to `first` (the first sequence left): what is gone counts as
    // delivered and acknowledged.
    void on_purge(std::uint64_t first);
    // Delivered messages that the stream no longer has (limits, deletes, age) count as
    // acknowledged, as nats-server treats them: they free max_ack_pending at once.
    void tick();              // timers: ack wait, pull expiry, heartbeats
    void on_ack(const server::Message& m);

    boost::json::object info_json();
    // Interest retention: whether this consumer's filter takes `subject` at all, and whether
    // it has yet to acknowledge message `sseq` on `subject`.
    bool interested_in(std::string_view subject) const;
    bool still_needs(std::uint64_t sseq, std::string_view subject) const;
    std::uint64_t ack_floor() const;  // stream sequence everything up to which is acknowledged
    bool inactive_for_too_long() const;  // ephemeral past inactive_threshold

    // State for durable consumers across restarts: a snapshot (a record of the stream's
    // consumer state log, every second when it moved, and at shutdown) plus an ack log with
    // the messages' durability rule (group-committed fdatasync; an ack that asks for
    // confirmation is confirmed once logged).
    void attach_log(const std::string& dir, std::int64_t sync_interval_ms);  // before start()
    boost::json::object state_json();
    // Bumped by every change a snapshot would show: periodic snapshots skip consumers whose
    // state did not move since the last one (thousands of idle consumers cost nothing).
    std::uint64_t state_generation() const {
        std::lock_guard lk(mu_);
        return state_gen_;
    }
    std::uint64_t persisted_generation = ~std::uint64_t(0);  // the API thread's
    void restore_state(const boost::json::object& state);
    void trim_log(std::uint64_t upto);  // after the snapshot with that log_seq is on disk

    // A durable consumer of a replicated stream (consumer_replica.cpp). Its acks go through
    // the stream's log (`replicate` proposes one; the ack log is written, and an AckSync
    // confirmed, when it applies), and only the copy where the stream leads is active
    // (subscribed to its acks, delivering). A passive copy's state follows the log: the acks,
    // and the state the leader proposes when it moved.
    using AckReplicator = std::function<void(char op, std::uint64_t sseq, const std::string& confirm_to)>;
    void set_replicated(AckReplicator replicate);  // before start(); passive until activate()
    bool replicated() const { return bool(replicate_); }
    void activate();    // this replica leads the stream now: subscribes and delivers
    void deactivate();  // it no longer does: what was delivered stays pending
    void apply_replicated_ack(char op, std::uint64_t sseq);
    void apply_replicated_state(const boost::json::object& st);
    // Leader: hands the state to `propose` when it moved since the last time, under the
    // consumer's lock, so that it is ordered with the acks proposed before and after it.
    void propose_state_if_moved(const std::function<void(std::string)>& propose);
    // The state as propose_state_if_moved() gives it, now (a new replica's catch-up).
    std::string replica_state_text();
    void sync_log();  // the ack log on disk (before the stream's log is compacted)

private:
    struct Pending {
        std::uint64_t cseq;
        std::uint64_t deliveries;
        std::chrono::steady_clock::time_point deadline;
        std::int64_t sent_ns;  // unix time of the delivery (ack sampling reports the delay)
        bool due = false;      // queued in redeliver_ (an ack or a term takes it out again)
    };
    struct PullRequest {
        PullRequest(std::string r, std::int64_t b) : reply(std::move(r)), batch(b) {}
        std::string reply;
        std::int64_t batch;
        std::int64_t max_bytes = 0;  // bytes left when byte_limited
        bool byte_limited = false;
        std::chrono::steady_clock::time_point deadline =
            std::chrono::steady_clock::time_point::max();  // max(): no expiry
        bool no_wait = false;
        std::int64_t sent = 0;
        std::chrono::nanoseconds heartbeat{0};  // idle_heartbeat of the request (0: none)
        // Who listens on `reply`, looked up once per request (redone if the trie changes).
        std::shared_ptr<const subjects::MatchResult> route;
        std::uint64_t route_gen = 0;
        std::chrono::steady_clock::time_point last_heartbeat{};
    };
    struct AckIntake;

    void deliver_locked();
    void pull_locked(const std::string& reply, std::string_view body);
    bool reply_listened_locked(PullRequest& r);
    // A push consumer delivers only while someone listens on its deliver subject (as
    // nats-server): a message sent to nobody would count as delivered and, with ack none,
    // be lost. Rechecked when the account's subscriptions change (and on every tick).
    bool push_listened_locked();
    void settle_removed_locked(class Store& st);
    void send_locked(const StoredMsg& msg, std::uint64_t deliveries, PullRequest* req);
    // A pull request's max_bytes, counted as nats-server does (subject, ack subject, headers,
    // payload): false, after a 409 Message Size Exceeds MaxBytes ends the request, when the
    // next delivery does not fit.
    bool fits_locked(PullRequest& req, const StoredMsg& m, std::uint64_t deliveries);
    void status_locked(const std::string& to, const char* status,
                       std::int64_t pending_msgs = -1, std::int64_t pending_bytes = -1);
    void ack_locked(std::uint64_t sseq);
    void update_floor_locked();
    void gave_up_locked(std::uint64_t sseq, std::uint64_t deliveries);  // max_deliver reached
    void heartbeat_locked(const std::string& to);
    // Pacing: false (and a wake-up asked for) when `m`, next in the stream, must wait for its
    // original spacing; after a send, charges its bytes to the rate limit.
    bool replay_due_locked(const StoredMsg& m);
    void charge_rate_locked(std::size_t bytes);
    void pace_until_locked(std::chrono::steady_clock::time_point t);
    void expire_requests_locked(std::chrono::steady_clock::time_point now);
    void rearm_locked();  // asks for a wake-up at the next expiry or paced delivery
    void sample_ack_locked(std::uint64_t sseq, std::string_view cseq, std::string_view deliveries);
    // Publishes <subject_prefix>.<stream>.<consumer> with nats-server's event JSON.
    void event_locked(std::string_view subject_prefix, std::string_view type, std::int64_t now_ns,
                      std::string_view fields);
    std::uint64_t num_pending_locked() const;
    std::uint64_t exact_pending_locked() const;
    std::chrono::nanoseconds redelivery_delay(std::uint64_t deliveries) const;

    std::weak_ptr<Stream> stream_;
    server::Account& account_;
    std::string name_, stream_name_;
    std::uint64_t start_seq_ = 0;  // see start_seq()
    // The store's removal count at the last exact pending count (deliveries count down).
    std::uint64_t counted_removals_ = ~std::uint64_t(0);
    std::string ack_prefix_;  // "$JS.ACK.<stream>.<consumer>."
    ConsumerConfig cfg_;
    // cfg_.filter_subject for readers that must not take mu_ (the stream, under its own lock).
    mutable std::mutex filter_mu_;
    std::string filter_;
    const bool durable_;
    std::chrono::system_clock::time_point created_;

    mutable std::mutex mu_;
    bool stopped_ = false;
    std::uint64_t state_gen_ = 0;     // see state_generation()
    std::uint64_t next_sseq_ = 1;     // next stream sequence to look at
    std::uint64_t dseq_ = 0;          // consumer sequence of the last delivery
    std::uint64_t delivered_sseq_ = 0;
    std::uint64_t floor_cseq_ = 0, floor_sseq_ = 0;
    // Messages at or after next_sseq_ matching the filter: kept up to date incrementally (a
    // scan per delivery would be quadratic), recounted exactly when small or when asked.
    std::uint64_t pending_count_ = 0;
    std::map<std::uint64_t, Pending> pending_;  // by stream sequence
    std::map<std::uint64_t, std::uint64_t> redelivered_;  // sseq -> times delivered (> 1)
    // Due again, in order: sequences whose pending entry is marked `due`. An ack removes the
    // pending entry, which makes its queue entry stale (skipped when reached): a confirmed
    // ack must never be followed by another delivery of that message.
    std::deque<std::uint64_t> redeliver_;
    std::deque<std::uint64_t> start_list_;  // last-per-subject start entries not delivered yet
    void queue_redelivery_locked(std::uint64_t sseq, Pending& p);
    std::deque<PullRequest> waiting_;
    std::chrono::steady_clock::time_point last_activity_, last_delivery_;
    std::int64_t last_ack_ns_ = 0;  // unix time of the last ack or term (info's ack_floor.last_active)
    std::shared_ptr<AckIntake> ack_sub_;
    std::unique_ptr<class FileStore> ack_log_;
    // Push flow control: every kFlowControlBytes a FlowControl Request goes out; delivery
    // stalls when a second window was sent and the answer (on fc_subject_) has not come.
    static constexpr std::int64_t kFlowControlBytes = 2 * 1024 * 1024;
    std::int64_t fc_bytes_ = 0;
    std::string fc_subject_;  // non-empty: waiting for this answer
    std::shared_ptr<server::Receiver> fc_sub_;
    void on_flow_control_reply(std::string_view subject);
    // Pacing state: no delivery before paced_until_; replay keeps the previous message's
    // stream timestamp and delivery time; the rate limit is a token bucket in bytes.
    Waker waker_;
    std::chrono::steady_clock::time_point paced_until_{};
    std::int64_t replay_last_ts_ = 0;
    std::chrono::steady_clock::time_point replay_last_sent_{};
    double rate_tokens_ = 0;
    std::chrono::steady_clock::time_point rate_refilled_{};
    int sample_percent_ = 0;
    std::uint64_t interest_gen_ = ~std::uint64_t(0);
    std::uint64_t seen_removals_ = 0;  // the store's removals() when pending was last checked
    bool interest_ = false;
    std::set<std::uint64_t> acked_ahead_;  // acked after the snapshot, beyond next_sseq_
    std::string reply_buf_, hdr_buf_;  // reused per delivery (ack subject, headers_only header)
    void log_ack_locked(char op, std::uint64_t sseq, const std::string& confirm_to);
    void apply_ack_record_locked(char op, std::uint64_t sseq);  // an ack read from a log
    boost::json::object state_json_locked();
    std::string replica_state_locked();  // the state replicas take (no log_seq), serialized
    // A state_json() read back into this consumer; `due_now`: what is pending is due again.
    void read_state_locked(const boost::json::object& st, bool due_now);
    // The ack and flow control subscriptions (under intakes_mu_, not mu_); for_good: stopped.
    void subscribe_intakes();
    void unsubscribe_intakes(bool for_good);
    std::mutex intakes_mu_;
    bool intakes_closed_ = false;  // under intakes_mu_
    AckReplicator replicate_;
    bool passive_ = false;                        // under mu_
    std::uint64_t proposed_gen_ = ~std::uint64_t(0);  // state_gen_ last proposed
    void replay_log_locked(std::uint64_t after);
};

}  // namespace osprey::jetstream
