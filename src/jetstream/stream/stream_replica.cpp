// The replicated path of a stream (see stream.h): the leader's batches and every replica's
// apply. An entry is a batch of messages with the sequences the leader gave them:
//
//   u8 kind (1: messages)  varint proposer  varint count
//   per message: varint seq, varint ts, bytes subject, bytes reply, bytes hdr, bytes payload
//
// (bytes = varint length + bytes). Every check that depends on the stream's state ran on the
// leader against its applied state, so applying is deterministic and idempotent: a replica
// stores a message only if its store does not hold that sequence yet.
#include <boost/json.hpp>
#include <unordered_set>

#include "jetstream/consumer/consumer.h"
#include "jetstream/stream/entry_codec.h"
#include "jetstream/stream/headers.h"
#include "jetstream/stream/stream.h"
#include "jetstream/stream/stream_acks.h"
#include "server/account.h"
#include "server/client.h"
#include "util/log.h"

namespace osprey::jetstream {

using namespace entry;

bool Stream::leading() const {
    std::lock_guard lk(mu_);
    return leading_;
}

void Stream::set_leader(bool leading) {
    {
        std::lock_guard lk(mu_);
        if (closed_ || leading == leading_) return;
        leading_ = leading;
        if (!leading) {
            // What was waiting or in flight is not acknowledged: the publishers retry (their
            // message ids make a retry of something that did commit a duplicate, not a copy).
            waiting_.clear();
            batch_acks_.clear();
            in_flight_ = false;
            ops_.clear();  // their API requests time out: no answer is better than a guess
        }
    }
    if (leading) subscribe();
    else unsubscribe();
    // The durable consumers deliver where the stream leads (they applied everything
    // committed before this term, as the stream did).
    for (auto& c : consumers()) {
        if (!c->replicated()) continue;
        if (leading) c->activate();
        else c->deactivate();
    }
}

void Stream::ingest_replicated(const server::Message& m) {
    std::vector<std::pair<std::string, std::string>> replies;
    {
        std::lock_guard lk(mu_);
        if (closed_ || !leading_) return;
        const std::string_view hdr = m.headers;
        const JsUsage* over =
            limited() ? account_usage_locked(std::int64_t(
                            cfg_.storage == StorageType::File
                                ? file_msg_size(m.subject.size(), hdr.size(), m.payload.size())
                                : mem_msg_size(m.subject.size(), hdr.size(), m.payload.size())))
                      : nullptr;
        std::optional<ApiError> err;
        if (cfg_.sealed) err = errors::sealed();
        else if (over) err = over->exceeded;
        else if (hdr.size() > 64 * 1024) err = errors::header_too_big();
        else if (cfg_.max_msg_size >= 0 && hdr.size() + m.payload.size() > std::size_t(cfg_.max_msg_size))
            err = errors::msg_too_big();
        if (err) {
            if (!m.reply.empty()) replies.emplace_back(std::string(m.reply), error_ack(*err, cfg_.name));
        } else {
            waiting_.push_back(Waiting{std::string(m.subject), std::string(m.reply), std::string(hdr),
                                       std::string(m.payload), now_unix_ns()});
            if (!in_flight_) propose_batch_locked(replies);
        }
    }
    for (auto& [to, body] : replies) reply(to, body);
}

void Stream::propose_batch_locked(std::vector<std::pair<std::string, std::string>>& out) {
    if (waiting_.empty() || in_flight_ || !leading_) return;
    const StoreState st = store_->state();
    std::uint64_t next = st.last_seq + 1, msgs = st.msgs, bytes = st.bytes;
    std::unordered_map<std::string, std::uint64_t> batch_ids;     // message id -> sequence
    std::unordered_map<std::string, std::uint64_t> batch_subjects;  // subject -> count added
    std::string entry;
    entry.push_back(char(kMessages));
    put_varint(entry, replicator_->replica_id());
    std::string body;
    std::uint64_t count = 0;
    std::vector<BatchAck> acks;
    std::vector<std::uint64_t> uninteresting;
    const std::int64_t now = now_unix_ns();
    while (!dedup_order_.empty() && dedup_order_.front().first < now - cfg_.duplicate_window_ns) {
        auto it = dedup_.find(dedup_order_.front().second);
        if (it != dedup_.end()) dedup_.erase(it);
        dedup_order_.pop_front();
    }
    while (!waiting_.empty()) {
        Waiting& w = waiting_.front();
        std::string_view msg_id, rollup;
        bool needs_state = false;
        if (!w.hdr.empty()) {
            msg_id = header_value(w.hdr, "Nats-Msg-Id");
            rollup = header_value(w.hdr, "Nats-Rollup");
            needs_state = !rollup.empty() || !header_value(w.hdr, "Nats-Expected-Last-Subject-Sequence").empty() ||
                          !header_value(w.hdr, "Nats-Expected-Last-Sequence").empty() ||
                          !header_value(w.hdr, "Nats-Expected-Last-Msg-Id").empty();
        }
        // A publish that expects something of the stream's state is checked against the
        // applied state alone: it waits for the next batch when this one is not empty.
        if (needs_state && count > 0) break;
        std::optional<ApiError> err;
        std::optional<std::uint64_t> duplicate;
        if (!msg_id.empty()) {
            if (auto it = dedup_.find(std::string(msg_id)); it != dedup_.end()) duplicate = it->second;
            else if (auto b = batch_ids.find(std::string(msg_id)); b != batch_ids.end()) duplicate = b->second;
        }
        if (!duplicate && !w.hdr.empty()) {
            auto exp_stream = header_value(w.hdr, "Nats-Expected-Stream");
            if (!exp_stream.empty() && exp_stream != cfg_.name) err = errors::expected_stream_mismatch();
            auto exp_subj = header_value(w.hdr, "Nats-Expected-Last-Subject-Sequence");
            if (!err && !exp_subj.empty()) {
                auto want = parse_u64(exp_subj);
                auto last = store_->subject_state(w.subject).last;
                if (!want || *want != last) err = errors::wrong_last_sequence(last);
            }
            auto exp_last = header_value(w.hdr, "Nats-Expected-Last-Sequence");
            if (!err && !exp_last.empty()) {
                auto want = parse_u64(exp_last);
                if (!want || *want != st.last_seq) err = errors::wrong_last_sequence(st.last_seq);
            }
            auto exp_id = header_value(w.hdr, "Nats-Expected-Last-Msg-Id");
            if (!err && !exp_id.empty() && exp_id != last_msg_id_) err = errors::wrong_last_msg_id(last_msg_id_);
            if (!err && !rollup.empty()) {
                if (!cfg_.allow_rollup_hdrs) err = errors::rollup_failed("rollup not permitted");
                else if (rollup != "sub" && rollup != "all")
                    err = errors::rollup_failed(fmt::format("rollup value invalid: {}", rollup));
            }
        }
        const auto size = cfg_.storage == StorageType::File
                              ? file_msg_size(w.subject.size(), w.hdr.size(), w.payload.size())
                              : mem_msg_size(w.subject.size(), w.hdr.size(), w.payload.size());
        if (!duplicate && !err && cfg_.discard == Discard::New) {
            if (cfg_.max_msgs > 0 && msgs >= std::uint64_t(cfg_.max_msgs)) {
                err = errors::store_failed("maximum messages exceeded");
            } else if (cfg_.max_bytes > 0 && bytes + size > std::uint64_t(cfg_.max_bytes)) {
                err = errors::store_failed("maximum bytes exceeded");
            } else if (cfg_.discard_new_per_subject && cfg_.max_msgs_per_subject > 0 &&
                       store_->subject_state(w.subject).msgs + batch_subjects[w.subject] >=
                           std::uint64_t(cfg_.max_msgs_per_subject)) {
                err = errors::store_failed("maximum messages per subject exceeded");
            }
        }
        if (err) {
            if (!w.reply.empty()) out.emplace_back(w.reply, error_ack(*err, cfg_.name));
        } else if (duplicate) {
            // Answered as the original is: at once if applied, else with this batch.
            if (!w.reply.empty()) {
                if (*duplicate < next && *duplicate <= st.last_seq) out.emplace_back(w.reply, ok_ack(ack_prefix_, *duplicate, true));
                else acks.push_back(BatchAck{*duplicate, w.reply, true});
            }
        } else {
            const std::uint64_t seq = next++;
            put_varint(body, seq);
            put_varint(body, std::uint64_t(w.ts));
            put_bytes(body, w.subject);
            put_bytes(body, w.reply);
            put_bytes(body, w.hdr);
            put_bytes(body, w.payload);
            ++count;
            ++msgs;
            bytes += size;
            // Interest retention: nobody takes it now, so no replica keeps it.
            if (cfg_.retention == Retention::Interest && !any_consumer_takes(w.subject)) uninteresting.push_back(seq);
            ++batch_subjects[w.subject];
            if (!msg_id.empty()) batch_ids.emplace(std::string(msg_id), seq);
            if (!w.reply.empty() && !cfg_.no_ack) acks.push_back(BatchAck{seq, w.reply, false});
        }
        waiting_.pop_front();
        if (needs_state && count > 0) break;
    }
    if (count == 0) {
        // Nothing to store (errors, duplicates of applied messages): acks of duplicates of
        // this batch cannot exist then.
        return;
    }
    put_varint(entry, count);
    entry += body;
    if (!uninteresting.empty()) {
        put_varint(entry, uninteresting.size());
        for (auto q : uninteresting) put_varint(entry, q);
    }
    in_flight_ = true;
    batch_acks_ = std::move(acks);
    batch_last_ = next - 1;
    std::weak_ptr<Stream> weak = weak_from_this();
    replicator_->propose(std::move(entry), [weak](bool ok) {
        if (ok) return;
        if (auto s = weak.lock()) s->proposal_failed();
    });
}

void Stream::proposal_failed() {
    std::lock_guard lk(mu_);
    in_flight_ = false;
    batch_acks_.clear();
    waiting_.clear();
}

void Stream::store_applied_locked(std::string_view subject, std::string_view hdr, std::string_view data,
                                  std::int64_t ts, std::uint64_t seq) {
    const std::uint64_t last = store_->state().last_seq;
    if (seq != last + 1)
        log::error("JetStream stream '{} > {}': replicated sequence {} does not follow {}", account_.name(),
                   cfg_.name, seq, last);
    auto r = store_->append(subject, hdr, data, ts, seq);
    if (!r) {
        log::error("JetStream stream '{} > {}': storing replicated sequence {} failed: {}", account_.name(),
                   cfg_.name, seq, r.error());
        return;
    }
    std::string_view msg_id, rollup;
    if (!hdr.empty()) {
        msg_id = header_value(hdr, "Nats-Msg-Id");
        rollup = header_value(hdr, "Nats-Rollup");
    }
    remember_id_locked(msg_id, seq, ts);
    if (rollup == "sub") store_->purge(subject, seq, 0);
    else if (rollup == "all") store_->purge({}, seq, 0);
    enforce_limits_locked(subject);
    // (Interest retention: the entry says which ones nobody wanted; see apply_entry.)
    if (limited()) account_usage_locked();
}

bool Stream::propose_purge(const std::string& filter, std::uint64_t below, std::uint64_t keep,
                           std::function<void(std::uint64_t)> done) {
    std::string entry;
    {
        std::lock_guard lk(mu_);
        if (closed_ || !leading_) return false;
        // Everything proposed before this purge, and nothing after it.
        const std::uint64_t last = in_flight_ ? batch_last_ : store_->state().last_seq;
        const std::uint64_t bound = below == 0 ? last + 1 : std::min(below, last + 1);
        const std::uint64_t op = next_op_++;
        ops_[op] = std::move(done);
        entry.push_back(char(kPurge));
        put_varint(entry, replicator_->replica_id());
        put_varint(entry, op);
        put_bytes(entry, filter);
        put_varint(entry, bound);
        // `keep`: the newest of those below the bound stay, so a replay after a restart (its
        // store may hold newer messages already) keeps the same ones.
        if (keep) put_varint(entry, keep);
    }
    replicator_->propose(std::move(entry), [](bool) {});
    return true;
}

bool Stream::propose_delete(std::uint64_t seq, bool no_erase, std::function<void(bool)> done) {
    std::string entry;
    {
        std::lock_guard lk(mu_);
        if (closed_ || !leading_) return false;
        const std::uint64_t op = next_op_++;
        ops_[op] = [done = std::move(done)](std::uint64_t removed) { done(removed != 0); };
        entry.push_back(char(kDelete));
        put_varint(entry, replicator_->replica_id());
        put_varint(entry, op);
        put_varint(entry, seq);
        put_varint(entry, no_erase ? 1 : 0);
    }
    replicator_->propose(std::move(entry), [](bool) {});
    return true;
}

void Stream::propose_removal(std::uint64_t seq) {
    std::string entry;
    entry.push_back(char(kDelete));
    put_varint(entry, replicator_->replica_id());
    put_varint(entry, 0);  // no op: nobody waits for it
    put_varint(entry, seq);
    put_varint(entry, 1);  // no erase: a removal
    replicator_->propose(std::move(entry), [](bool) {});
}

void Stream::apply_entry(std::string_view data) {
    Reader rd{data};
    const std::uint8_t kind = rd.in.empty() ? 0 : std::uint8_t(rd.in.front());
    if (kind == kPurge || kind == kDelete) {
        rd.in.remove_prefix(1);
        std::uint64_t proposer = 0, op = 0, a = 0, b = 0;
        std::string_view filter;
        bool ok = rd.varint(proposer) && rd.varint(op);
        if (kind == kPurge) ok = ok && rd.bytes(filter) && rd.varint(a) && (rd.in.empty() || rd.varint(b));
        else ok = ok && rd.varint(a) && rd.varint(b);
        if (!ok) {
            log::error("JetStream stream '{}': damaged replicated entry", cfg_.name);
            return;
        }
        // The same on every replica: a bounded purge, or a delete (a second one finds nothing).
        std::uint64_t result = 0;
        if (kind == kPurge) {
            result = purge(std::string(filter), a, b);  // b: keep
        } else {
            result = (b ? store_->remove(a) : store_->erase(a)) ? 1 : 0;
        }
        std::function<void(std::uint64_t)> done;
        if (proposer == replicator_->replica_id()) {
            std::lock_guard lk(mu_);
            if (auto it = ops_.find(op); it != ops_.end()) {
                done = std::move(it->second);
                ops_.erase(it);
            }
        }
        if (done) done(result);
        return;
    }
    if (kind == kInterestDrop) {
        rd.in.remove_prefix(1);
        std::uint64_t proposer = 0, floor = 0, n = 0;
        if (!rd.varint(proposer) || !rd.varint(floor) || !rd.varint(n)) {
            log::error("JetStream stream '{}': damaged replicated entry", cfg_.name);
            return;
        }
        std::lock_guard lk(mu_);
        if (closed_) return;
        if (floor) store_->purge({}, floor + 1, 0);
        for (std::uint64_t i = 0, q = 0; i < n && rd.varint(q); ++i) store_->remove(q);
        return;
    }
    if (kind >= kConsumerCreate && kind <= kConsumerState) {
        rd.in.remove_prefix(1);
        apply_consumer_entry(kind, rd);
        return;
    }
    if (kind != kMessages) {
        log::error("JetStream stream '{}': unknown replicated entry", cfg_.name);
        return;
    }
    rd.in.remove_prefix(1);
    std::uint64_t proposer = 0, count = 0;
    if (!rd.varint(proposer) || !rd.varint(count)) return;
    struct Stored {
        std::string_view subject, hdr, payload;
        std::uint64_t seq;
    };
    std::vector<Stored> stored;
    std::vector<std::pair<std::string, std::string>> replies;
    const bool mine = proposer == replicator_->replica_id();
    {
        std::lock_guard lk(mu_);
        if (closed_) return;
        for (std::uint64_t i = 0; i < count; ++i) {
            std::uint64_t seq, ts;
            std::string_view subject, reply, hdr, payload;
            if (!rd.varint(seq) || !rd.varint(ts) || !rd.bytes(subject) || !rd.bytes(reply) || !rd.bytes(hdr) ||
                !rd.bytes(payload)) {
                log::error("JetStream stream '{}': damaged replicated entry", cfg_.name);
                break;
            }
            if (seq <= store_->state().last_seq) continue;  // already stored (a replay)
            store_applied_locked(subject, hdr, payload, std::int64_t(ts), seq);
            stored.push_back({subject, hdr, payload, seq});
        }
        // Interest retention: what the leader found nobody interested in (older entries end
        // before this list).
        std::uint64_t n = 0;
        if (!rd.in.empty() && rd.varint(n))
            for (std::uint64_t i = 0, q = 0; i < n && rd.varint(q); ++i) store_->remove(q);
        if (mine && in_flight_ && !stored.empty() && stored.back().seq >= batch_last_) {
            // Our batch committed on a majority: its publishers get their acks.
            for (auto& a : batch_acks_) replies.emplace_back(std::move(a.reply), ok_ack(ack_prefix_, a.seq, a.duplicate));
            batch_acks_.clear();
            in_flight_ = false;
        } else if (mine && in_flight_ && stored.empty()) {
            in_flight_ = false;  // ours, but already stored: nothing new to acknowledge
            batch_acks_.clear();
        }
        if (!in_flight_) propose_batch_locked(replies);
    }
    for (auto& [to, body] : replies) reply(to, body);
    for (const auto& s : stored) {
        if (cfg_.republish) {
            server::Message m{s.subject, {}, s.hdr, s.payload, nullptr};
            republish(m, s.seq, s.seq - 1);
        }
        notify_consumers(s.subject, s.seq);
    }
    if (!stored.empty()) notify_downstream();
    server::Client::flush_scheduled();
}

}  // namespace osprey::jetstream
