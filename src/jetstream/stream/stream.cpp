#include "jetstream/stream/stream.h"

#include "jetstream/store/config_log.h"
#include "jetstream/stream/entry_codec.h"

#include <algorithm>
#include <boost/json.hpp>
#include <ctime>

#include <fmt/format.h>

#include "jetstream/consumer/consumer.h"
#include "jetstream/stream/headers.h"
#include "jetstream/stream/stream_acks.h"
#include "jetstream/store/file_store.h"
#include "jetstream/store/mem_store.h"
#include "server/account.h"
#include "server/client.h"
#include "subjects/mapping.h"
#include "subjects/subject.h"
#include "subjects/transform.h"
#include "util/log.h"
#include "util/rfc3339.h"

namespace osprey::jetstream {

namespace json = boost::json;

std::int64_t now_unix_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string rfc3339_ns(std::int64_t ns) {
    if (ns == 0) return "0001-01-01T00:00:00Z";  // Go's zero time
    return util::format_rfc3339_nano(util::Rfc3339{ns, 0});
}


// The stream's subscription on one of its subjects.
struct Stream::Intake : server::Receiver {
    std::weak_ptr<Stream> stream;
    bool deliver(const server::Message& m) override {
        if (auto s = stream.lock()) {
            server::Client::StallExempt internal;
            s->ingest(m);
            return true;
        }
        return false;
    }
};

Stream::Stream(server::Account& account, StreamConfig cfg, std::unique_ptr<Store> store,
               std::chrono::system_clock::time_point created)
    : account_(account), cfg_(std::move(cfg)), store_(std::move(store)), created_(created) {
    set_domain({});
    if (cfg_.mirror) {
        cursors_.push_back({cfg_.mirror->name, cfg_.mirror->filter_subject, 0, true});
    }
    for (const auto& src : cfg_.sources) cursors_.push_back({src.name, src.filter_subject, 0, false});
}

std::vector<std::string> Stream::origins() const {
    std::vector<std::string> out;
    if (cfg_.mirror) out.push_back(cfg_.mirror->name);
    for (const auto& s : cfg_.sources) out.push_back(s.name);
    return out;
}

void Stream::add_downstream(const std::shared_ptr<Stream>& target) {
    std::lock_guard lk(down_mu_);
    std::erase_if(downstream_, [](const std::weak_ptr<Stream>& w) { return w.expired(); });
    for (auto& w : downstream_)
        if (w.lock() == target) return;
    downstream_.push_back(target);
}

struct Stream::ConsumerEntry : subjects::Subscription {
    std::weak_ptr<Consumer> consumer;
};

void Stream::index_consumer_locked(const std::shared_ptr<Consumer>& c) {
    if (auto it = index_entries_.find(c->name()); it != index_entries_.end()) {
        consumer_index_.remove(it->second);
        index_entries_.erase(it);
    }
    auto e = std::make_shared<ConsumerEntry>();
    const std::string f = c->filter();
    e->subject = f.empty() ? ">" : f;
    e->consumer = c;
    consumer_index_.insert(e);
    index_entries_[c->name()] = std::move(e);
}

void Stream::add_consumer(const std::shared_ptr<Consumer>& c) {
    std::lock_guard lk(cons_mu_);
    consumers_[c->name()] = c;
    index_consumer_locked(c);
}

void Stream::reindex_consumer(const std::shared_ptr<Consumer>& c) {
    std::lock_guard lk(cons_mu_);
    if (consumers_.count(c->name())) index_consumer_locked(c);
}

std::shared_ptr<Consumer> Stream::find_consumer(const std::string& name) {
    std::lock_guard lk(cons_mu_);
    auto it = consumers_.find(name);
    return it == consumers_.end() ? nullptr : it->second;
}

bool Stream::remove_consumer(const std::string& name) {
    std::shared_ptr<Consumer> c;
    {
        std::lock_guard lk(cons_mu_);
        auto it = consumers_.find(name);
        if (it == consumers_.end()) return false;
        c = it->second;
        consumers_.erase(it);
        if (auto e = index_entries_.find(name); e != index_entries_.end()) {
            consumer_index_.remove(e->second);
            index_entries_.erase(e);
        }
    }
    c->stop();
    if (cfg_.retention == Retention::Interest) drop_uninteresting(*c);
    return true;
}

std::size_t Stream::consumer_count() {
    std::lock_guard lk(cons_mu_);
    return consumers_.size();
}

std::vector<std::shared_ptr<Consumer>> Stream::consumers() {
    std::lock_guard lk(cons_mu_);
    std::vector<std::shared_ptr<Consumer>> v;
    for (auto& [n, c] : consumers_) v.push_back(c);
    return v;
}

std::uint64_t Stream::purge(const std::string& filter, std::uint64_t seq, std::uint64_t keep) {
    const std::uint64_t n = store_->purge(filter, seq, keep);
    // Where the consumers start again: the first message left (of the purged subject).
    const StoreState st = store_->state();
    std::uint64_t first = st.msgs ? st.first_seq : 0;
    if (!filter.empty()) {
        auto m = store_->load_next(filter, st.first_seq);
        first = m ? m->seq : 0;
    }
    if (first == 0) first = st.last_seq + 1;  // all of it is gone
    for (auto& c : consumers()) {
        const std::string f = c->filter();
        // nats-server: all consumers for a full purge; for a subject purge those whose filter
        // is that subject or inside it.
        if (filter.empty() || f == filter || (!f.empty() && subjects::is_subset(f, filter)))
            c->on_purge(first);
    }
    return n;
}

void Stream::interest_acked(std::uint64_t settled) {
    const auto cs = consumers();
    std::uint64_t floor = UINT64_MAX;
    for (auto& c : cs) floor = std::min(floor, c->ack_floor());
    // One message, as nats-server: consumers whose filter does not take it, or that have
    // acknowledged it, do not keep it (their floors may lag far behind).
    bool drop = false;
    if (settled && (floor == UINT64_MAX || settled > floor)) {
        if (auto m = store_->load(settled)) {
            drop = true;
            for (auto& c : cs) drop = drop && !c->still_needs(settled, m->subject);
        }
    }
    if (replicated()) {
        // The leader decides for every replica: one entry, after the ack's.
        const std::uint64_t f = floor == UINT64_MAX ? 0 : floor;
        {
            std::lock_guard lk(mu_);
            if (closed_ || !leading_) return;
            if (!drop && f <= interest_floor_proposed_) return;
            interest_floor_proposed_ = std::max(interest_floor_proposed_, f);
        }
        propose_interest_drop(f, drop ? std::vector<std::uint64_t>{settled} : std::vector<std::uint64_t>{});
        return;
    }
    std::lock_guard lk(mu_);
    if (closed_) return;
    if (floor != UINT64_MAX && floor != 0) store_->purge({}, floor + 1, 0);
    if (drop) store_->remove(settled);
}

void Stream::propose_interest_drop(std::uint64_t floor, const std::vector<std::uint64_t>& seqs) {
    constexpr std::size_t kPerEntry = 4096;
    for (std::size_t at = 0; at < std::max<std::size_t>(seqs.size(), 1); at += kPerEntry) {
        std::string e(1, char(entry::kInterestDrop));
        entry::put_varint(e, replicator_->replica_id());
        entry::put_varint(e, at == 0 ? floor : 0);
        const std::size_t n = std::min(kPerEntry, seqs.size() - std::min(at, seqs.size()));
        entry::put_varint(e, n);
        for (std::size_t i = 0; i < n; ++i) entry::put_varint(e, seqs[at + i]);
        replicator_->propose(std::move(e), [](bool) {});
    }
}

void Stream::drop_uninteresting(const Consumer& gone) {
    const auto cs = consumers();
    const StoreState st = store_->state();
    std::vector<std::uint64_t> drop;
    for (auto m = store_->load_next({}, std::max(st.first_seq, gone.ack_floor() + 1)); m;
         m = store_->load_next({}, m->seq + 1)) {
        bool needed = false;
        for (auto& c : cs) needed = needed || c->still_needs(m->seq, m->subject);
        if (!needed) drop.push_back(m->seq);
    }
    if (replicated()) {
        // Every replica applies the consumer's deletion; its leader says what goes with it.
        if (!leading()) return;
        if (!drop.empty()) propose_interest_drop(0, drop);
        return;
    }
    std::lock_guard lk(mu_);
    if (closed_) return;
    for (auto seq : drop) store_->remove(seq);
}

void Stream::notify_consumers(std::string_view subject, std::uint64_t seq) {
    // The trie's match is an immutable result, walked without any lock: O(consumers whose
    // filter takes the subject), not O(consumers).
    auto r = consumer_index_.match(subject);
    for (const auto& s : r->plain)
        if (auto c = static_cast<const ConsumerEntry*>(s.get())->consumer.lock()) c->on_stream_append(subject, seq);
}

bool Stream::any_consumer_takes(std::string_view subject) {
    return !consumer_index_.match(subject)->plain.empty();
}

void Stream::notify_downstream() {
    std::vector<std::shared_ptr<Stream>> targets;
    {
        std::lock_guard lk(down_mu_);
        if (downstream_.empty()) return;
        for (auto& w : downstream_)
            if (auto t = w.lock()) targets.push_back(std::move(t));
    }
    for (auto& t : targets) t->pull_from(*this);
}

void Stream::pull_from(Stream& origin) {
    bool stored_any = false;
    std::string last_subject;
    std::uint64_t last_seq = 0;
    {
        std::lock_guard lk(mu_);
        if (closed_) return;
        for (auto& c : cursors_) {
            if (c.origin != origin.cfg_.name) continue;
            if (c.next == 0) {
                // Position: a mirror continues after its own last sequence (they are the
                // origin's); a source after the last message it copied, found by its header.
                if (c.mirror) {
                    c.next = store_->state().last_seq + 1;
                } else {
                    c.next = 1;
                    for (const auto& src : cfg_.sources)
                        if (src.name == c.origin && src.opt_start_seq) c.next = src.opt_start_seq;
                    const std::string tag = c.origin + " ";
                    for (std::uint64_t s : store_->with_headers_since(0)) {
                        auto m = store_->load(s);
                        auto v = m ? header_value(m->hdr, "Nats-Stream-Source") : std::string_view();
                        if (v.starts_with(tag)) {
                            c.next = parse_u64(v.substr(tag.size())).value_or(0) + 1;
                            break;
                        }
                    }
                }
            }
            const std::string filter = c.filter.empty() ? std::string() : c.filter;
            for (auto m = origin.store_->load_next(filter, c.next); m;
                 m = origin.store_->load_next(filter, c.next)) {
                if (c.mirror) {
                    if (!store_->append(m->subject, m->hdr, m->data, m->ts, m->seq)) break;
                } else {
                    std::string hdr = m->hdr.empty() ? std::string("NATS/1.0\r\n")
                                                     : m->hdr.substr(0, m->hdr.size() - 2);
                    hdr += fmt::format("Nats-Stream-Source: {} {}\r\n\r\n", c.origin, m->seq);
                    if (!store_->append(m->subject, hdr, m->data, m->ts)) break;
                }
                c.next = m->seq + 1;
                stored_any = true;
                last_subject = m->subject;
                last_seq = store_->state().last_seq;
                enforce_limits_locked(m->subject);
            }
            const std::uint64_t origin_last = origin.store_->state().last_seq;
            c.lag = origin_last >= c.next ? origin_last - c.next + 1 : 0;
            c.last_active = std::chrono::steady_clock::now();
        }
    }
    if (stored_any) {
        notify_consumers(last_subject, last_seq);
        notify_downstream();  // chains: a mirror of a mirror
    }
}

Stream::~Stream() {
    if (!closed_) close(false);
}

std::expected<std::shared_ptr<Stream>, ApiError> Stream::open(
    server::Account& account, StreamConfig cfg, const std::string& dir,
    std::chrono::system_clock::time_point created, std::int64_t sync_interval_ms,
    std::vector<JsUsage*> usage, const std::string& domain, StreamReplicator* replicator) {
    std::unique_ptr<Store> store;
    if (cfg.storage == StorageType::Memory) {
        store = std::make_unique<MemStore>();
    } else {
        try {
            FileStoreConfig fc;
            fc.dir = dir;
            fc.sync_interval_ms = sync_interval_ms;
            // Acks routed from the writer thread go out in one flush per batch.
            fc.after_callbacks = [] { server::Client::flush_scheduled(); };
            store = std::make_unique<FileStore>(fc);
        } catch (const std::exception& e) {
            return std::unexpected(ApiError{500, 10049, e.what()});
        }
    }
    std::shared_ptr<Stream> s(new Stream(account, std::move(cfg), std::move(store), created));
    s->usage_ = std::move(usage);
    s->dir_ = dir;
    s->consumer_configs_ = std::make_unique<ConfigLog>(dir + "/consumer_configs", sync_interval_ms);
    s->consumer_states_ = std::make_unique<ConfigLog>(dir + "/consumer_states", sync_interval_ms);
    s->set_domain(domain);
    {
        std::lock_guard lk(s->mu_);
        s->account_usage_locked();
    }
    std::weak_ptr<Stream> weak = s;
    s->store_->set_durable_listener([weak](std::uint64_t durable) {
        if (auto st = weak.lock()) st->send_acks(durable);
    });
    s->rebuild_dedup();
    s->replicator_ = replicator;
    if (!replicator) s->subscribe();  // a replica subscribes when it leads
    return s;
}

void Stream::subscribe() {
    for (const auto& subj : cfg_.subjects) {
        auto in = std::make_shared<Intake>();
        in->subject = subj;
        in->stream = weak_from_this();
        account_.sublist().insert(in);
        intakes_.push_back(in);
    }
}

void Stream::unsubscribe() {
    for (auto& in : intakes_) account_.sublist().remove(in);
    intakes_.clear();
}

void Stream::set_domain(const std::string& domain) {
    ack_prefix_ = "{\"stream\":" + json::serialize(json::value(cfg_.name)) + ", ";
    if (!domain.empty()) ack_prefix_ += "\"domain\":" + json::serialize(json::value(domain)) + ", ";
    ack_prefix_ += "\"seq\":";
}

bool Stream::limited() const {
    const bool mem = cfg_.storage == StorageType::Memory;
    for (auto* u : usage_)
        if ((mem ? u->max_memory : u->max_file) > 0) return true;
    return false;
}

const JsUsage* Stream::account_usage_locked(std::int64_t incoming) {
    const bool mem = cfg_.storage == StorageType::Memory;
    const auto now = std::int64_t(store_->state().bytes);
    const std::int64_t delta = now - accounted_bytes_;
    accounted_bytes_ = now;
    const JsUsage* over = nullptr;
    for (auto* u : usage_) {
        auto& used = mem ? u->memory : u->file;
        used += delta;
        const std::int64_t limit = mem ? u->max_memory : u->max_file;
        const std::int64_t would = used.load() + (u->count_new_message ? incoming : 0);
        if (!over && limit > 0 && would > limit) over = u;
    }
    return over;
}

void Stream::close(bool erase) {
    {
        std::lock_guard lk(mu_);
        if (closed_) return;
        closed_ = true;
        for (auto* u : usage_)
            (cfg_.storage == StorageType::Memory ? u->memory : u->file) -= accounted_bytes_;
        accounted_bytes_ = 0;
    }
    unsubscribe();
    // The last snapshots flushed first: their durable callbacks trim the consumers' ack logs,
    // which stop next.
    if (consumer_states_) consumer_states_->close(erase);
    for (auto& c : consumers()) c->stop();
    if (consumer_configs_) consumer_configs_->close(erase);
    if (erase) {
        store_->destroy();
    } else {
        store_->stop();
    }
}

void Stream::remember_id_locked(std::string_view msg_id, std::uint64_t seq, std::int64_t ts) {
    if (!msg_id.empty()) {
        dedup_.emplace(std::string(msg_id), seq);
        dedup_order_.emplace_back(ts, std::string(msg_id));
    }
    // The id of the last message, empty when it had none (as nats-server).
    last_msg_id_.assign(msg_id);
}

void Stream::rebuild_dedup() {
    // Message ids of the last duplicate window come back from the stored headers; only
    // messages with headers are read.
    const std::int64_t cutoff = now_unix_ns() - cfg_.duplicate_window_ns;
    const std::uint64_t last = store_->state().last_seq;
    std::vector<std::pair<std::int64_t, std::string>> found;
    for (std::uint64_t s : store_->with_headers_since(cutoff)) {
        auto m = store_->load(s);
        if (!m) continue;
        auto id = header_value(m->hdr, "Nats-Msg-Id");
        if (id.empty()) continue;
        if (last_msg_id_.empty() && s == last) last_msg_id_ = std::string(id);
        if (dedup_.emplace(std::string(id), s).second) found.emplace_back(m->ts, std::string(id));
    }
    for (auto it = found.rbegin(); it != found.rend(); ++it) dedup_order_.push_back(*it);
}

void Stream::reply(std::string_view reply_subject, std::string_view payload) {
    if (reply_subject.empty()) return;
    server::Message m{reply_subject, {}, {}, payload, nullptr};
    account_.route_reply(m);
}

void Stream::send_acks(std::uint64_t durable) {
    // Taken out under the lock, sent after it: an ack routed to a subject this very stream
    // takes would come back into ingest, which takes mu_ and then acks_mu_.
    std::vector<PendingAck> ready;  // local: sending can reenter another stream's send_acks
    {
        std::lock_guard lk(acks_mu_);
        while (!acks_.empty() && acks_.front().seq <= durable) {
            ready.push_back(std::move(acks_.front()));
            acks_.pop_front();
        }
    }
    char buf[512];
    for (const auto& a : ready) {
        if (a.duplicate) reply(a.reply, ok_ack(ack_prefix_, a.seq, true));
        else reply(a.reply, ok_ack_into(buf, sizeof buf, ack_prefix_, a.seq));
    }
}

void Stream::ingest(const server::Message& m) {
    if (replicator_) return ingest_replicated(m);
    std::string ack;
    std::uint64_t seq = 0, last_before = 0, duplicate_of = 0;
    bool stored = false;
    {
        std::lock_guard lk(mu_);
        if (closed_) return;
        auto fail = [&](const ApiError& e) { ack = error_ack(e, cfg_.name); };
        const std::int64_t now = now_unix_ns();
        // Forget message ids that left the duplicate window.
        while (!dedup_order_.empty() &&
               dedup_order_.front().first < now - cfg_.duplicate_window_ns) {
            auto it = dedup_.find(dedup_order_.front().second);
            if (it != dedup_.end()) dedup_.erase(it);
            dedup_order_.pop_front();
        }
        const std::string_view hdr = m.headers;
        std::string_view msg_id, rollup;
        if (!hdr.empty()) {
            msg_id = header_value(hdr, "Nats-Msg-Id");
            rollup = header_value(hdr, "Nats-Rollup");
        }
        const bool limited = this->limited();
        const JsUsage* over =
            limited ? account_usage_locked(std::int64_t(
                          cfg_.storage == StorageType::File
                              ? file_msg_size(m.subject.size(), m.headers.size(), m.payload.size())
                              : mem_msg_size(m.subject.size(), m.headers.size(), m.payload.size())))
                    : nullptr;
        if (cfg_.sealed) {
            fail(errors::sealed());
        } else if (over) {
            // Over the server's or the account's limit (checked before storing, as nats-server).
            fail(over->exceeded);
        } else if (hdr.size() > 64 * 1024) {
            fail(errors::header_too_big());
        } else if (cfg_.max_msg_size >= 0 &&
                   hdr.size() + m.payload.size() > std::size_t(cfg_.max_msg_size)) {
            fail(errors::msg_too_big());
        } else if (!msg_id.empty() && dedup_.count(std::string(msg_id))) {
            duplicate_of = dedup_[std::string(msg_id)];
            ack = ok_ack(ack_prefix_, duplicate_of, true);
        } else {
            std::optional<ApiError> err;
            if (!hdr.empty()) {
                auto exp_stream = header_value(hdr, "Nats-Expected-Stream");
                if (!exp_stream.empty() && exp_stream != cfg_.name)
                    err = errors::expected_stream_mismatch();
                // nats-server's order: subject sequence, stream sequence, last message id.
                auto exp_subj = header_value(hdr, "Nats-Expected-Last-Subject-Sequence");
                if (!err && !exp_subj.empty()) {
                    auto want = parse_u64(exp_subj);
                    auto last = store_->subject_state(m.subject).last;
                    if (!want || *want != last) err = errors::wrong_last_sequence(last);
                }
                auto exp_last = header_value(hdr, "Nats-Expected-Last-Sequence");
                if (!err && !exp_last.empty()) {
                    auto want = parse_u64(exp_last);
                    auto last = store_->state().last_seq;
                    if (!want || *want != last) err = errors::wrong_last_sequence(last);
                }
                auto exp_id = header_value(hdr, "Nats-Expected-Last-Msg-Id");
                if (!err && !exp_id.empty() && exp_id != last_msg_id_)
                    err = errors::wrong_last_msg_id(last_msg_id_);
                if (!err && !rollup.empty()) {
                    if (!cfg_.allow_rollup_hdrs) {
                        err = errors::rollup_failed("rollup not permitted");
                    } else if (rollup != "sub" && rollup != "all") {
                        err = errors::rollup_failed(fmt::format("rollup value invalid: {}", rollup));
                    }
                }
            }
            if (!err && cfg_.discard == Discard::New) {
                auto st = store_->state();
                const auto size =
                    cfg_.storage == StorageType::File
                        ? file_msg_size(m.subject.size(), hdr.size(), m.payload.size())
                        : mem_msg_size(m.subject.size(), hdr.size(), m.payload.size());
                if (cfg_.max_msgs > 0 && st.msgs >= std::uint64_t(cfg_.max_msgs)) {
                    err = errors::store_failed("maximum messages exceeded");
                } else if (cfg_.max_bytes > 0 && st.bytes + size > std::uint64_t(cfg_.max_bytes)) {
                    err = errors::store_failed("maximum bytes exceeded");
                } else if (cfg_.discard_new_per_subject && cfg_.max_msgs_per_subject > 0 &&
                           store_->subject_state(m.subject).msgs >=
                               std::uint64_t(cfg_.max_msgs_per_subject)) {
                    err = errors::store_failed("maximum messages per subject exceeded");
                }
            }
            if (err) {
                fail(*err);
            } else {
                if (cfg_.republish) last_before = store_->state().last_seq;
                auto r = store_->append(m.subject, hdr, m.payload, now);
                if (!r) {
                    fail(errors::store_failed(r.error()));
                } else {
                    seq = *r;
                    stored = true;
                    remember_id_locked(msg_id, seq, now);
                    if (rollup == "sub") {
                        store_->purge(m.subject, seq, 0);
                    } else if (rollup == "all") {
                        store_->purge({}, seq, 0);
                    }
                    enforce_limits_locked(m.subject);
                    // Interest retention keeps a message only while a consumer's filter takes
                    // it; with none it is acknowledged and dropped, as nats-server does.
                    if (cfg_.retention == Retention::Interest && !any_consumer_takes(m.subject))
                        store_->remove(seq);
                    if (limited) account_usage_locked();
                    if (cfg_.storage == StorageType::Memory) {
                        ack = ok_ack(ack_prefix_, seq, false);
                    } else if (!m.reply.empty() && !cfg_.no_ack) {
                        // Queued in sequence order (still under the stream lock).
                        std::lock_guard ak(acks_mu_);
                        acks_.push_back(PendingAck{seq, std::string(m.reply)});
                    }
                }
            }
        }
    }
    if (stored && cfg_.republish) republish(m, seq, last_before);
    if (stored) {
        notify_consumers(m.subject, seq);
        notify_downstream();
    }
    if (m.reply.empty() || (cfg_.no_ack && stored)) return;
    if (duplicate_of && cfg_.storage == StorageType::File && store_->durable_seq() < duplicate_of) {
        // A duplicate is acknowledged as the original is: once that is on disk.
        {
            std::lock_guard ak(acks_mu_);
            acks_.push_back(PendingAck{duplicate_of, std::string(m.reply), true});
        }
        if (const auto d = store_->durable_seq(); d >= duplicate_of) send_acks(d);
        return;
    }
    if (!stored) {
        reply(m.reply, ack);
        return;
    }
    if (cfg_.storage == StorageType::Memory) {
        reply(m.reply, ack);
        return;
    }
    // Acknowledged once durable: the store's listener sends what became durable after each
    // batch; if that already happened for this sequence, send it here.
    if (store_->durable_seq() >= seq) send_acks(seq);
}

void Stream::republish(const server::Message& m, std::uint64_t seq, std::uint64_t last_before) {
    const RePublish& rp = *cfg_.republish;
    const std::string src = rp.src.empty() ? ">" : rp.src;
    if (!subjects::matches(src, m.subject)) return;
    auto tf = subjects::Transform::compile(src, rp.dest);
    if (!tf) return;  // refused at create or update; an older stored config may hold one
    const std::string dest = tf->apply(m.subject);
    std::string hdr = m.headers.empty() ? std::string("NATS/1.0\r\n")
                                        : std::string(m.headers.substr(0, m.headers.size() - 2));
    hdr += fmt::format("Nats-Stream: {}\r\nNats-Subject: {}\r\nNats-Sequence: {}\r\n"
                       "Nats-Last-Sequence: {}\r\n",
                       cfg_.name, m.subject, seq, last_before);
    if (rp.headers_only) hdr += fmt::format("Nats-Msg-Size: {}\r\n", m.payload.size());
    hdr += "\r\n";
    server::Message out{dest, {}, hdr, rp.headers_only ? std::string_view() : m.payload, nullptr};
    account_.route(out);
}

void Stream::enforce_limits_locked(std::string_view subject) {
    if (cfg_.max_msgs_per_subject > 0) {
        while (store_->subject_state(subject).msgs > std::uint64_t(cfg_.max_msgs_per_subject)) {
            auto first = store_->subject_state(subject).first;
            if (!first || !store_->remove(first)) break;
        }
    }
    if (cfg_.discard == Discard::Old && (cfg_.max_msgs > 0 || cfg_.max_bytes > 0)) {
        for (;;) {
            auto st = store_->state();
            const bool over_msgs = cfg_.max_msgs > 0 && st.msgs > std::uint64_t(cfg_.max_msgs);
            const bool over_bytes = cfg_.max_bytes > 0 && st.bytes > std::uint64_t(cfg_.max_bytes);
            if (!over_msgs && !over_bytes) break;
            if (!st.msgs || !store_->remove(st.first_seq)) break;
        }
    }
}

void Stream::expire_old() {
    if (cfg_.max_age_ns <= 0) return;
    std::lock_guard lk(mu_);
    if (closed_) return;
    const std::int64_t cutoff = now_unix_ns() - cfg_.max_age_ns;
    for (;;) {
        auto [seq, ts] = store_->oldest();
        if (!seq || ts > cutoff) break;
        if (!store_->remove(seq)) break;
    }
}

std::optional<ApiError> Stream::update(const StreamConfig& requested) {
    if (auto e = check_update(cfg_, requested)) return e;
    StreamConfig next = requested;
    if (next.sealed) {
        // A sealed stream keeps what it has, as nats-server arranges it.
        next.max_age_ns = 0;
        next.discard = Discard::New;
        next.deny_delete = next.deny_purge = true;
        next.allow_rollup_hdrs = false;
    }
    {
        std::lock_guard lk(mu_);
        cfg_ = next;
        // Sources may come and go: keep the position of those that stay.
        std::vector<SourceCursor> cursors;
        for (const auto& src : cfg_.sources) {
            auto it = std::find_if(cursors_.begin(), cursors_.end(),
                                   [&](const SourceCursor& c) { return !c.mirror && c.origin == src.name; });
            if (it != cursors_.end()) {
                it->filter = src.filter_subject;
                cursors.push_back(*it);
            } else {
                cursors.push_back({src.name, src.filter_subject, 0, false});
            }
        }
        for (const auto& c : cursors_)
            if (c.mirror) cursors.insert(cursors.begin(), c);
        cursors_ = std::move(cursors);
    }
    bool takes_subjects = true;
    {
        std::lock_guard lk(mu_);
        takes_subjects = !replicator_ || leading_;  // a follower replica does not subscribe
    }
    unsubscribe();
    if (takes_subjects) subscribe();
    std::lock_guard lk(mu_);
    enforce_limits_locked({});
    return std::nullopt;
}

json::object Stream::state_json(bool deleted_details, const std::string& subjects_filter) {
    auto st = store_->state();
    json::object o{
        {"messages", st.msgs},
        {"bytes", st.bytes},
        {"first_seq", st.first_seq},
        {"first_ts", rfc3339_ns(st.first_ts)},
        {"last_seq", st.last_seq},
        {"last_ts", rfc3339_ns(st.last_ts)},
    };
    if (st.num_deleted) {
        if (deleted_details) {
            json::array d;
            for (auto s : store_->deleted()) d.push_back(s);
            o["deleted"] = std::move(d);
        }
        o["num_deleted"] = st.num_deleted;
    }
    if (st.num_subjects) o["num_subjects"] = st.num_subjects;
    if (!subjects_filter.empty()) {
        json::object subs;
        for (auto& [k, v] : store_->subject_totals(subjects_filter)) subs[k] = v;
        if (!subs.empty()) o["subjects"] = std::move(subs);
    }
    {
        std::lock_guard lk(cons_mu_);
        o["consumer_count"] = consumers_.size();
    }
    return o;
}

json::object Stream::info_json(bool deleted_details, const std::string& subjects_filter,
                              bool with_origins) {
    json::object o;
    o["config"] = to_json(cfg_);
    o["created"] = rfc3339_ns(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  created_.time_since_epoch())
                                  .count());
    o["state"] = state_json(deleted_details, subjects_filter);
    if (!with_origins) return o;
    // Where a mirror or a sourcing stream stands with its origins (nats-server: active is the
    // time since it last heard from the origin, -1 never).
    std::lock_guard lk(mu_);
    auto info = [](const SourceCursor& c) {
        const std::int64_t active =
            c.last_active == std::chrono::steady_clock::time_point{}
                ? -1
                : std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - c.last_active).count();
        return json::object{{"name", c.origin}, {"lag", c.lag}, {"active", active}};
    };
    json::array sources;
    for (const auto& c : cursors_) {
        if (c.mirror) o["mirror"] = info(c);
        else sources.push_back(info(c));
    }
    if (!sources.empty()) o["sources"] = std::move(sources);
    return o;
}

}  // namespace osprey::jetstream
