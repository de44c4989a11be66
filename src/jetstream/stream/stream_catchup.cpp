// Catch-up between replicas of a stream (see stream.h): one replica's store serves a range of
// messages, another's takes them in order. What the source holds was already checked,
// limited and deduplicated when it was applied there, so the batch is stored as it is.
#include <boost/json/serialize.hpp>
#include <set>

#include "jetstream/consumer/consumer.h"
#include "jetstream/consumer/consumer_config.h"
#include "jetstream/stream/entry_codec.h"
#include "jetstream/stream/headers.h"
#include "jetstream/stream/stream.h"
#include "server/account.h"
#include "server/client.h"
#include "util/log.h"

namespace osprey::jetstream {

using namespace entry;

std::string Stream::catchup_batch(std::uint64_t from, std::uint64_t to, std::size_t max_bytes) {
    std::string body;
    std::uint64_t count = 0, next = from;
    const std::uint64_t last = store_->state().last_seq;
    for (auto m = store_->load_next("", from); m && m->seq <= to; m = store_->load_next("", m->seq + 1)) {
        put_varint(body, m->seq);
        put_varint(body, std::uint64_t(m->ts));
        put_bytes(body, m->subject);
        put_bytes(body, m->hdr);
        put_bytes(body, m->data);
        ++count;
        next = m->seq + 1;
        if (body.size() >= max_bytes) break;
    }
    // Nothing more up to `to` here: complete if this store reached `to`, else ask again later
    // (or elsewhere) from what it lacks.
    if (next <= to && (count == 0 || body.size() < max_bytes)) next = last >= to ? to + 1 : std::max(next, last + 1);
    std::string out;
    put_varint(out, next);
    put_varint(out, count);
    return out + body;
}

bool Stream::apply_catchup_batch(std::string_view batch, std::uint64_t& next) {
    Reader rd{batch};
    std::uint64_t count = 0;
    if (!rd.varint(next) || !rd.varint(count)) return false;
    struct Stored {
        std::string subject;
        std::uint64_t seq;
    };
    std::vector<Stored> stored;
    {
        std::lock_guard lk(mu_);
        if (closed_) return true;
        for (std::uint64_t i = 0; i < count; ++i) {
            std::uint64_t seq, ts;
            std::string_view subject, hdr, payload;
            if (!rd.varint(seq) || !rd.varint(ts) || !rd.bytes(subject) || !rd.bytes(hdr) || !rd.bytes(payload))
                return false;
            if (seq <= store_->state().last_seq) continue;
            auto r = store_->append(subject, hdr, payload, std::int64_t(ts), seq);
            if (!r) {
                log::error("JetStream stream '{} > {}': storing caught-up sequence {} failed: {}", account_.name(),
                           cfg_.name, seq, r.error());
                return false;
            }
            remember_id_locked(hdr.empty() ? std::string_view() : header_value(hdr, "Nats-Msg-Id"), seq,
                               std::int64_t(ts));
            stored.push_back({std::string(subject), seq});
        }
        if (limited()) account_usage_locked();
    }
    for (const auto& s : stored) notify_consumers(s.subject, s.seq);
    return true;
}

std::string Stream::consumers_catchup() {
    std::string out;
    for (auto& c : consumers()) {
        if (!c->replicated()) continue;
        // Proposer 0 and op 0: no replica's own, nothing to answer.
        std::string create(1, char(kConsumerCreate));
        put_varint(create, 0);
        put_varint(create, 0);
        put_bytes(create, c->name());
        put_varint(create, std::uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                             c->created().time_since_epoch())
                                             .count()));
        put_bytes(create, boost::json::serialize(to_json(c->config())));
        put_bytes(out, create);
        std::string state(1, char(kConsumerState));
        put_varint(state, 0);
        put_bytes(state, c->name());
        put_bytes(state, c->replica_state_text());
        put_bytes(out, state);
    }
    return out;
}

void Stream::apply_consumers_catchup(std::string_view body) {
    Reader rd{body};
    std::set<std::string> names;
    while (!rd.in.empty()) {
        std::string_view e;
        if (!rd.bytes(e) || e.empty()) {
            log::error("JetStream stream '{}': damaged consumers in a catch-up answer", cfg_.name);
            return;
        }
        if (std::uint8_t(e.front()) == kConsumerCreate) {
            Reader er{e.substr(1)};
            std::uint64_t proposer = 0, op = 0;
            std::string_view name;
            if (er.varint(proposer) && er.varint(op) && er.bytes(name)) names.emplace(name);
        }
        apply_entry(e);
    }
    for (auto& c : consumers())
        if (c->replicated() && !names.count(c->name()) && remove_consumer(c->name()) && consumer_hooks_.removed)
            consumer_hooks_.removed(c->name());
}

}  // namespace osprey::jetstream
