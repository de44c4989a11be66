// A stream: an internal subscriber on its subjects that stores what is published to them,
// enforces limits, deduplicates, checks the expected-headers, and acknowledges once the
// message is durable. Thread-safe: ingest may run on any loop, admin calls on the API thread.
#pragma once
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "jetstream/consumer/consumer_config.h"
#include "jetstream/store/store.h"
#include "jetstream/stream/stream_config.h"
#include "jetstream/stream/stream_replicator.h"
#include "subjects/sublist.h"
#include "server/message.h"

namespace boost::json {
class object;
}

namespace osprey::server {
class Account;
}

namespace osprey::jetstream {

class ConfigLog;

namespace entry {
struct Reader;
}

// Server-wide JetStream resource limits and what the streams use of them (bytes).
struct JsUsage {
    // <= 0: no limit. Atomic: an account JWT update changes an account's while it publishes.
    std::atomic<std::int64_t> max_file{-1}, max_memory{-1};
    std::atomic<std::int64_t> file{0}, memory{0};
    ApiError exceeded;  // what a publish over the limit gets
    // nats-server checks an account limit with the new message counted, the server limit
    // without it.
    bool count_new_message = false;
};

class Stream : public std::enable_shared_from_this<Stream> {
public:
    // Opens the store (recovering it) and subscribes to the subjects.
    static std::expected<std::shared_ptr<Stream>, ApiError> open(
        server::Account& account, StreamConfig cfg, const std::string& dir,
        std::chrono::system_clock::time_point created, std::int64_t sync_interval_ms,
        std::vector<JsUsage*> usage = {}, const std::string& domain = {},
        StreamReplicator* replicator = nullptr);
    ~Stream();

    // Replicated streams (stream_replica.cpp). A replica takes the stream's subjects only while
    // it leads and has applied everything committed before its term; it then checks each
    // publish against its (fully applied) state, assigns sequences and proposes batches, one
    // at a time; every replica stores the committed entries in order, skipping what its store
    // already holds (a replay after a restart), and the proposer acknowledges.
    bool replicated() const { return replicator_ != nullptr; }
    // Whether this replica may deliver and answer reads now: a single server always; a
    // replicated stream's leader while it holds its lease (see StreamReplicator::may_serve).
    bool may_serve() const { return !replicator_ || replicator_->may_serve(); }
    void set_leader(bool leading);
    bool leading() const;
    void apply_entry(std::string_view data);
    // Leader: a purge (of what matches `filter` below `below`, 0: everything; bounded to what
    // was proposed before it, so that a replay after a restart removes nothing newer) or a
    // message delete, through the log; `done` runs after this replica applied it, with the
    // number purged or whether the message was there. False: not the leader.
    bool propose_purge(const std::string& filter, std::uint64_t below, std::uint64_t keep,
                       std::function<void(std::uint64_t)> done);
    bool propose_delete(std::uint64_t seq, bool no_erase, std::function<void(bool)> done);
    // A work queue's removal of an acknowledged message, through the log (no answer; takes
    // no stream lock: called under a consumer's).
    void propose_removal(std::uint64_t seq);

    // Durable consumers of a replicated stream (stream_consumer_replica.cpp): their creation,
    // updates, deletion, acks and state go through the stream's log, so every replica holds
    // each one (a passive copy on followers) and whichever replica leads the stream delivers.
    // An AckSync is confirmed once its ack is committed; the leader proposes each consumer's
    // state when it moved (each second), so a new leader knows what was delivered.
    struct ConsumerHooks {
        // This replica's object for a new durable consumer, its files made; not started.
        std::function<std::shared_ptr<class Consumer>(const std::string& name, const ConsumerConfig& cfg,
                                                      std::chrono::system_clock::time_point created)>
            make;
        std::function<void(class Consumer&)> updated;       // its configuration changed
        std::function<void(const std::string& name)> removed;  // deleted: its files go
    };
    void set_consumer_hooks(ConsumerHooks h);
    // A consumer made by the hooks or loaded from this replica's files: takes part in the log.
    void adopt_replicated_consumer(const std::shared_ptr<class Consumer>& c);
    // Leader: done runs once this replica applied it (on the Raft thread), with the consumer
    // (null: deleted meanwhile). False: not the leader.
    using ConsumerDone = std::function<void(std::shared_ptr<class Consumer>)>;
    bool propose_consumer(const std::string& name, const ConsumerConfig& cfg,
                          std::chrono::system_clock::time_point created, ConsumerDone done);
    bool propose_consumer_delete(const std::string& name, std::function<void(bool)> done);
    void propose_consumer_states();  // leader, periodically: the states that moved
    void sync_consumer_logs();       // every replica, before its log is compacted

    // Catch-up between replicas (stream_catchup.cpp): a replica whose store is behind its
    // log's snapshot (it lost its files, or set damaged ones aside) takes the messages from
    // another replica's store. A batch holds the messages from `from` to at most `to`, within
    // about max_bytes: varint next (the sequence to ask for next), varint count, then per
    // message varint seq, varint ts, bytes subject, bytes hdr, bytes payload. `next` is past
    // `to` once the range is complete (messages the limits removed are simply not there).
    std::string catchup_batch(std::uint64_t from, std::uint64_t to, std::size_t max_bytes);
    // Stores a batch's messages this store does not hold yet, in order; false if damaged.
    bool apply_catchup_batch(std::string_view batch, std::uint64_t& next);
    // The durable consumers, for a replica whose log starts after their creation: per
    // consumer, a create entry and a state entry (as the log carries them), each as bytes.
    std::string consumers_catchup();
    // Applies them (on the Raft thread, before the entries held during the catch-up):
    // creates what is missing, takes the states, and drops the replicated consumers the peer
    // no longer has (deleted in the part of the log this replica never saw).
    void apply_consumers_catchup(std::string_view body);

    const StreamConfig& config() const { return cfg_; }
    const std::string& dir() const { return dir_; }  // its files (and its consumers')

    std::chrono::system_clock::time_point created() const { return created_; }
    Store& store() { return *store_; }
    // Its durable consumers' configurations (store/config_log.h).
    ConfigLog& consumer_configs() { return *consumer_configs_; }
    // The durable consumers' state snapshots (one record per consumer, newest wins).
    ConfigLog& consumer_states() { return *consumer_states_; }

    // The publish path (any loop thread).
    void ingest(const server::Message& m);

    std::optional<ApiError> update(const StreamConfig& next);

    // Consumers of this stream (owned here; delivery is woken after every store).
    void add_consumer(const std::shared_ptr<class Consumer>& c);
    std::shared_ptr<class Consumer> find_consumer(const std::string& name);
    bool remove_consumer(const std::string& name);
    std::vector<std::shared_ptr<class Consumer>> consumers();
    std::size_t consumer_count();
    // The purge API (`filter` empty: all; below `seq`; or keeping `keep`): removes from the
    // store, then moves the consumers it concerns past what is gone, as nats-server does.
    std::uint64_t purge(const std::string& filter, std::uint64_t seq, std::uint64_t keep);
    // Interest retention: drops what every consumer has acknowledged (below all their ack
    // floors), and message `settled` (0: none) once no consumer interested in it still needs it.
    void interest_acked(std::uint64_t settled);
    // Interest retention, after `gone` was removed: drops what no remaining consumer needs.
    void drop_uninteresting(const Consumer& gone);
    // A replicated stream's leader: the interest-retention removals, as log entries.
    void propose_interest_drop(std::uint64_t floor, const std::vector<std::uint64_t>& seqs);

    // Mirrors and sources within this server: `origin` hands every message it stores to the
    // streams that mirror or source it; each pulls what it has not copied yet, so a late start
    // or a missed hand-off is caught up from the origin's store.
    void add_downstream(const std::shared_ptr<Stream>& target);
    void pull_from(Stream& origin);
    // The origins this stream copies from (mirror or sources).
    std::vector<std::string> origins() const;
    // Unsubscribes and stops the store; `erase` deletes the data.
    void close(bool erase);
    void expire_old();  // max_age, called periodically

    // "state" of stream info.
    boost::json::object state_json(bool deleted_details, const std::string& subjects_filter);
    // with_origins: the mirror/sources state (info, list, update; not create, as nats-server).
    boost::json::object info_json(bool deleted_details, const std::string& subjects_filter,
                                  bool with_origins = true);

private:
    struct Intake;
    void ingest_replicated(const server::Message& m);
    // Takes what waits into one proposal (under mu_); replies to send after the lock go to
    // `out` as (reply subject, body).
    void propose_batch_locked(std::vector<std::pair<std::string, std::string>>& out);
    void proposal_failed();
    void store_applied_locked(std::string_view subject, std::string_view hdr, std::string_view data,
                              std::int64_t ts, std::uint64_t seq);
    void apply_consumer_entry(std::uint8_t kind, entry::Reader& rd);
    void propose_consumer_ack(const std::string& name, char op, std::uint64_t sseq, const std::string& confirm_to);
    // Our consumer operations in flight (by op id): what to do once applied.
    struct ConsumerOp {
        std::string confirm_to;  // an ack's confirmation
        ConsumerDone created;
        std::function<void(bool)> deleted;
    };
    std::mutex consumer_ops_mu_;  // alone: proposals come from under a consumer's lock
    std::uint64_t next_consumer_op_ = 1;
    std::map<std::uint64_t, ConsumerOp> consumer_ops_;
    ConsumerHooks consumer_hooks_;  // set before the group starts
    std::optional<ConsumerOp> take_consumer_op(std::uint64_t proposer, std::uint64_t op);
    std::uint64_t add_consumer_op(ConsumerOp op);
    void propose_consumer_entry(std::string entry, std::uint64_t op);  // op 0: nobody waits
    StreamReplicator* replicator_ = nullptr;
    bool leading_ = false;    // under mu_
    bool in_flight_ = false;  // a batch of ours is proposed and not applied yet
    std::uint64_t interest_floor_proposed_ = 0;  // leader: the last floor proposed (under mu_)
    struct Waiting {
        std::string subject, reply, hdr, payload;
        std::int64_t ts;
    };
    std::deque<Waiting> waiting_;
    struct BatchAck {
        std::uint64_t seq;
        std::string reply;
        bool duplicate;
    };
    std::vector<BatchAck> batch_acks_;
    std::uint64_t batch_last_ = 0;  // the last sequence of the batch in flight
    std::uint64_t next_op_ = 1;     // ids of our purges and deletes in flight
    std::map<std::uint64_t, std::function<void(std::uint64_t)>> ops_;  // under mu_
    Stream(server::Account& account, StreamConfig cfg, std::unique_ptr<Store> store,
           std::chrono::system_clock::time_point created);
    void subscribe();
    void unsubscribe();
    void enforce_limits_locked(std::string_view subject);
    void rebuild_dedup();
    // A stored message's Nats-Msg-Id (empty: none) for deduplication and the expected last id.
    void remember_id_locked(std::string_view msg_id, std::uint64_t seq, std::int64_t ts);
    void reply(std::string_view reply_subject, std::string_view payload);
    void send_acks(std::uint64_t durable);  // acknowledge what is durable now
    void republish(const server::Message& m, std::uint64_t seq, std::uint64_t last_before);
    // The JetStream domain, named in every pub ack (as nats-server does when one is set).
    void set_domain(const std::string& domain);
    // Brings this stream's share of the server's and the account's usage up to date; returns
    // the limit that is exceeded, if any.
    const JsUsage* account_usage_locked(std::int64_t incoming = 0);
    bool limited() const;
    std::vector<JsUsage*> usage_;  // server-wide, then account
    std::int64_t accounted_bytes_ = 0;
    std::string ack_prefix_;  // {"stream":"NAME", ["domain":"D", ]"seq":

    server::Account& account_;
    std::string dir_;
    StreamConfig cfg_;
    std::unique_ptr<Store> store_;
    std::unique_ptr<ConfigLog> consumer_configs_;
    std::unique_ptr<ConfigLog> consumer_states_;
    std::chrono::system_clock::time_point created_;
    mutable std::mutex mu_;
    std::vector<std::shared_ptr<Intake>> intakes_;
    // Deduplication: Nats-Msg-Id -> sequence, expired in arrival order.
    std::unordered_map<std::string, std::uint64_t> dedup_;
    std::deque<std::pair<std::int64_t, std::string>> dedup_order_;
    std::string last_msg_id_;
    bool closed_ = false;
    // Acknowledgements waiting for their message to be durable, in sequence order.
    struct PendingAck {
        std::uint64_t seq;
        std::string reply;
        bool duplicate = false;  // the answer to a duplicate of message `seq`
    };
    std::mutex acks_mu_;
    std::deque<PendingAck> acks_;

    struct SourceCursor {
        std::string origin, filter;
        std::uint64_t next = 0;  // next origin sequence to copy; 0: not positioned yet
        bool mirror = false;
        // For info's "mirror"/"sources": how far behind the origin, and when it last copied.
        std::uint64_t lag = 0;
        std::chrono::steady_clock::time_point last_active{};
    };
    std::vector<SourceCursor> cursors_;  // under mu_
    std::mutex down_mu_;
    std::vector<std::weak_ptr<Stream>> downstream_;
    void notify_downstream();
    std::mutex cons_mu_;
    std::map<std::string, std::shared_ptr<class Consumer>> consumers_;
    // Consumers by filter subject (unfiltered ones under ">"): a stored message wakes only
    // the consumers whose filter takes it, found as the subscription trie finds receivers.
    struct ConsumerEntry;
    subjects::Sublist consumer_index_;
    std::map<std::string, std::shared_ptr<ConsumerEntry>> index_entries_;  // by consumer name, under cons_mu_
    void index_consumer_locked(const std::shared_ptr<class Consumer>& c);
    void notify_consumers(std::string_view subject, std::uint64_t seq);
    bool any_consumer_takes(std::string_view subject);

public:
    // A consumer's filter changed (an update): index it anew.
    void reindex_consumer(const std::shared_ptr<class Consumer>& c);
};

std::int64_t now_unix_ns();
std::string rfc3339_ns(std::int64_t unix_ns);  // "0001-01-01T00:00:00Z" for 0

}  // namespace osprey::jetstream
