// Durable consumers of a replicated stream (see stream.h): their entries in the stream's log.
// Creation and deletion apply on every replica at the same point of the stream (a consumer
// created with deliver policy "new" starts at the same sequence everywhere); acks apply on
// every replica, and the proposer confirms an AckSync then, once a majority has it on disk;
// the leader's state snapshots bring the followers' copies up to what was delivered.
#include <boost/json.hpp>

#include "jetstream/consumer/consumer.h"
#include "jetstream/consumer/consumer_config.h"
#include "jetstream/stream/entry_codec.h"
#include "jetstream/stream/stream.h"
#include "server/account.h"
#include "server/client.h"
#include "util/log.h"

namespace osprey::jetstream {

using namespace entry;
namespace json = boost::json;

void Stream::set_consumer_hooks(ConsumerHooks h) { consumer_hooks_ = std::move(h); }

void Stream::adopt_replicated_consumer(const std::shared_ptr<Consumer>& c) {
    std::weak_ptr<Stream> weak = weak_from_this();
    c->set_replicated([weak, name = c->name()](char op, std::uint64_t sseq, const std::string& confirm_to) {
        if (auto s = weak.lock()) s->propose_consumer_ack(name, op, sseq, confirm_to);
    });
    add_consumer(c);
    if (leading()) c->activate();
}

std::optional<Stream::ConsumerOp> Stream::take_consumer_op(std::uint64_t proposer, std::uint64_t op) {
    if (proposer != replicator_->replica_id() || op == 0) return std::nullopt;
    std::lock_guard lk(consumer_ops_mu_);
    auto it = consumer_ops_.find(op);
    if (it == consumer_ops_.end()) return std::nullopt;
    ConsumerOp o = std::move(it->second);
    consumer_ops_.erase(it);
    return o;
}

std::uint64_t Stream::add_consumer_op(ConsumerOp op) {
    std::lock_guard lk(consumer_ops_mu_);
    const std::uint64_t id = next_consumer_op_++;
    consumer_ops_[id] = std::move(op);
    return id;
}

void Stream::propose_consumer_entry(std::string entry, std::uint64_t op) {
    std::weak_ptr<Stream> weak = weak_from_this();
    replicator_->propose(std::move(entry), [weak, op](bool ok) {
        if (ok || op == 0) return;
        // Not proposed (no longer the leader): nobody is answered or confirmed; the client
        // asks again, and the new leader hears it.
        if (auto s = weak.lock()) {
            std::lock_guard lk(s->consumer_ops_mu_);
            s->consumer_ops_.erase(op);
        }
    });
}

bool Stream::propose_consumer(const std::string& name, const ConsumerConfig& cfg,
                              std::chrono::system_clock::time_point created, ConsumerDone done) {
    if (!leading()) return false;
    const std::uint64_t op = add_consumer_op(ConsumerOp{{}, std::move(done), {}});
    std::string e(1, char(kConsumerCreate));
    put_varint(e, replicator_->replica_id());
    put_varint(e, op);
    put_bytes(e, name);
    put_varint(e, std::uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(created.time_since_epoch()).count()));
    put_bytes(e, json::serialize(to_json(cfg)));
    propose_consumer_entry(std::move(e), op);
    return true;
}

bool Stream::propose_consumer_delete(const std::string& name, std::function<void(bool)> done) {
    if (!leading()) return false;
    const std::uint64_t op = add_consumer_op(ConsumerOp{{}, {}, std::move(done)});
    std::string e(1, char(kConsumerDelete));
    put_varint(e, replicator_->replica_id());
    put_varint(e, op);
    put_bytes(e, name);
    propose_consumer_entry(std::move(e), op);
    return true;
}

void Stream::propose_consumer_ack(const std::string& name, char op_kind, std::uint64_t sseq,
                                  const std::string& confirm_to) {
    // Called under the consumer's lock: takes only consumer_ops_mu_ (and the host's queue).
    const std::uint64_t op = confirm_to.empty() ? 0 : add_consumer_op(ConsumerOp{confirm_to, {}, {}});
    std::string e(1, char(kConsumerAck));
    put_varint(e, replicator_->replica_id());
    put_varint(e, op);
    put_bytes(e, name);
    e.push_back(op_kind);
    put_varint(e, sseq);
    propose_consumer_entry(std::move(e), op);
}

void Stream::propose_consumer_states() {
    if (!leading()) return;
    for (auto& c : consumers()) {
        if (!c->replicated()) continue;
        c->propose_state_if_moved([&](std::string state) {
            std::string e(1, char(kConsumerState));
            put_varint(e, replicator_->replica_id());
            put_bytes(e, c->name());
            put_bytes(e, state);
            replicator_->propose(std::move(e), [](bool) {});
        });
    }
}

void Stream::sync_consumer_logs() {
    for (auto& c : consumers())
        if (c->replicated()) c->sync_log();
}

void Stream::apply_consumer_entry(std::uint8_t kind, Reader& rd) {
    std::uint64_t proposer = 0, op = 0;
    std::string_view name;
    bool ok = rd.varint(proposer);
    if (kind != kConsumerState) ok = ok && rd.varint(op);
    ok = ok && rd.bytes(name);
    auto damaged = [&] { log::error("JetStream stream '{}': damaged replicated consumer entry", cfg_.name); };
    if (!ok) return damaged();
    const std::string cname(name);
    const bool mine = proposer == replicator_->replica_id();
    switch (kind) {
        case kConsumerCreate: {
            std::uint64_t created_ns = 0;
            std::string_view text;
            if (!rd.varint(created_ns) || !rd.bytes(text)) return damaged();
            boost::system::error_code ec;
            json::value v = json::parse(text, ec);
            auto cfg = ec ? std::expected<ConsumerConfig, ApiError>(std::unexpected(ApiError{}))
                          : parse_consumer_config(v);
            std::shared_ptr<Consumer> c;
            if (!cfg) {
                log::error("JetStream stream '{}': replicated consumer '{}' has an unreadable configuration",
                           cfg_.name, cname);
            } else if ((c = find_consumer(cname))) {
                c->update_config(*cfg);
                reindex_consumer(c);
                if (consumer_hooks_.updated) consumer_hooks_.updated(*c);
            } else if (consumer_hooks_.make) {
                const auto created = std::chrono::system_clock::time_point(
                    std::chrono::duration_cast<std::chrono::system_clock::duration>(
                        std::chrono::nanoseconds(created_ns)));
                c = consumer_hooks_.make(cname, *cfg, created);
                if (c) adopt_replicated_consumer(c);
            }
            if (auto o = take_consumer_op(proposer, op); o && o->created) o->created(c);
            return;
        }
        case kConsumerDelete: {
            const bool removed = remove_consumer(cname);
            if (removed && consumer_hooks_.removed) consumer_hooks_.removed(cname);
            if (auto o = take_consumer_op(proposer, op); o && o->deleted) o->deleted(removed);
            return;
        }
        case kConsumerAck: {
            std::uint64_t sseq = 0;
            if (rd.in.empty()) return damaged();
            const char ack_kind = rd.in.front();
            rd.in.remove_prefix(1);
            if (!rd.varint(sseq)) return damaged();
            if (auto c = find_consumer(cname)) c->apply_replicated_ack(ack_kind, sseq);
            if (auto o = take_consumer_op(proposer, op); o && !o->confirm_to.empty()) {
                // The ack is on a majority's disks: an AckSync gets its (empty) answer.
                server::Message r{o->confirm_to, {}, {}, {}, nullptr};
                account_.route_reply(r);
                server::Client::flush_scheduled();
            }
            return;
        }
        case kConsumerState: {
            std::string_view text;
            if (!rd.bytes(text)) return damaged();
            // The proposer's own copy is where the state came from (and at least as new).
            if (mine) return;
            boost::system::error_code ec;
            json::value v = json::parse(text, ec);
            if (ec || !v.is_object()) return damaged();
            if (auto c = find_consumer(cname)) c->apply_replicated_state(v.get_object());
            return;
        }
    }
}

}  // namespace osprey::jetstream
