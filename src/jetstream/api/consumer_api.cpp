// The $JS.API.CONSUMER.* handlers, and durable consumer persistence.
#include <atomic>
#include <filesystem>
#include <set>
#include <fstream>
#include <shared_mutex>
#include <sstream>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "jetstream/consumer/consumer.h"
#include "jetstream/jetstream.h"
#include "jetstream/api/jetstream_internal.h"
#include "jetstream/store/config_log.h"
#include "jetstream/stream/stream.h"
#include "jetstream/api/json_fields.h"
#include "server/account.h"
#include "subjects/subject.h"
#include "util/log.h"
#include "util/random.h"

namespace osprey::jetstream {

namespace json = boost::json;
namespace fs = std::filesystem;

std::shared_ptr<Stream> JetStream::find_stream(AccountState& a, const std::string& name) {
    std::shared_lock lk(a.streams_mu);
    auto it = a.streams.find(name);
    return it == a.streams.end() ? nullptr : it->second;
}

namespace {

bool valid_consumer_name(const std::string& n) {
    if (n.empty()) return false;
    for (char c : n)
        if (c == '.' || c == '*' || c == '>' || c == ' ' || c == '\t' || c == '/' || c == '\\')
            return false;
    return true;
}

// nats-server's checks of a consumer configuration against its stream, in its order (the
// first failing one is reported).
std::optional<ApiError> config_error(const ConsumerConfig& c, const StreamConfig& stream) {
    auto bad = [](int err_code, std::string text) { return ApiError{400, err_code, std::move(text)}; };
    if (c.num_replicas > 0 && c.num_replicas > stream.num_replicas)
        return bad(10126, "consumer config replica count exceeds parent stream");
    if (c.num_replicas < 0) return bad(10133, "replicas count cannot be negative");
    // An unset max_deliver (-1) is not greater either: nats-server refuses that too.
    if (!c.backoff_ns.empty() && c.max_deliver <= std::int64_t(c.backoff_ns.size()))
        return bad(10116, "max deliver is required to be > length of backoff values");
    if (c.description.size() > 4096)
        return bad(10107, "consumer description is too long, maximum allowed is 4096");
    if (!c.is_pull()) {
        if (subjects::has_wildcard(c.deliver_subject)) return bad(10079, "consumer deliver subject has wildcards");
        if (!subjects::valid_subject(c.deliver_subject)) return bad(10112, "invalid push consumer deliver subject");
        // Deliveries the stream would store again.
        for (const auto& s : stream.subjects)
            if (subjects::is_subset(c.deliver_subject, s)) return bad(10081, "consumer deliver subject forms a cycle");
        if (c.max_waiting != 0) return bad(10080, "consumer in push mode can not set max waiting");
        if (c.ack_policy == AckPolicy::None && c.max_ack_pending > 0)
            return bad(10082, "consumer requires ack policy for max ack pending");
        if (c.idle_heartbeat_ns > 0 && c.idle_heartbeat_ns < 100'000'000)
            return bad(10083, "consumer idle heartbeat needs to be >= 100ms");
    } else {
        if (c.ack_policy == AckPolicy::None && stream.retention == Retention::WorkQueue)
            return bad(10084, "consumer in pull mode requires ack policy");
        if (c.idle_heartbeat_ns) return bad(10088, "consumer idle heartbeat requires a push based consumer");
        if (c.rate_limit_bps) return bad(10086, "consumer in pull mode can not have rate limit set");
        if (c.max_waiting < 0) return bad(10087, "consumer max waiting needs to be positive");
        if (c.flow_control) return bad(10089, "consumer flow control requires a push based consumer");
        if (c.max_batch < 0) return bad(10114, "consumer max request batch needs to be > 0");
        if (c.max_expires_ns != 0 && c.max_expires_ns < 1'000'000)
            return bad(10115, "consumer max request expires needs to be >= 1ms");
    }
    if (c.direct) {
        if (c.is_pull()) return bad(10090, "consumer direct requires a push based consumer");
        if (c.durable()) return bad(10091, "consumer direct requires an ephemeral consumer");
    }
    if (!c.filter_subject.empty()) {
        // A valid subject that is a subset of a stream subject, or a wider wildcard that
        // covers one (">" on "S.>"); any valid filter where the stream has no subjects.
        const bool valid = subjects::valid_subject(c.filter_subject);
        const bool wild = subjects::has_wildcard(c.filter_subject);
        bool ok = valid && stream.subjects.empty();
        for (const auto& s : stream.subjects)
            ok = ok || (valid && (subjects::is_subset(c.filter_subject, s) ||
                                  (wild && subjects::is_subset(s, c.filter_subject))));
        if (!ok) return bad(10093, "consumer filter subject is not a valid subset of the interest subjects");
    }
    if (auto e = start_position_error(c)) return bad(10094, *e);
    if (auto e = sample_freq_error(c.sample_freq))
        return bad(10095, "failed to parse consumer sampling configuration: " + *e);
    if (c.flow_control && c.idle_heartbeat_ns == 0)
        return bad(10108, "consumer with flow control also needs heartbeats");
    return std::nullopt;
}

// A work queue hands each message to one consumer: explicit acks, and consumers whose
// filters do not overlap (nats-server 2.9's rules for a new consumer).
std::optional<ApiError> work_queue_error(const ConsumerConfig& c,
                                         const std::vector<std::shared_ptr<Consumer>>& others) {
    if (c.ack_policy != AckPolicy::Explicit) return ApiError{400, 10098, "workqueue stream requires explicit ack"};
    if (!others.empty()) {
        if (c.filter_subject.empty())
            return ApiError{400, 10099, "multiple non-filtered consumers not allowed on workqueue stream"};
        for (const auto& o : others) {
            const std::string f = o->filter();
            if (f.empty() || subjects::is_subset(c.filter_subject, f) || subjects::is_subset(f, c.filter_subject))
                return ApiError{400, 10100, "filtered consumer not unique on workqueue stream"};
        }
    }
    if (c.deliver_policy != DeliverPolicy::All)
        return ApiError{400, 10101, "consumer must be deliver all on workqueue stream"};
    return std::nullopt;
}

// An existing consumer re-created with another configuration: what nats-server 2.9.10 lets
// change (checkNewConsumerConfig, in its order). Its start-time check compares pointers, so
// a consumer with a start time can not be updated at all.
std::optional<ApiError> check_update(const ConsumerConfig& a, const ConsumerConfig& b,
                                     bool deliver_subject_listened) {
    auto no = [](std::string what) { return ApiError{500, 10012, std::move(what)}; };
    if (json::serialize(to_json(a)) == json::serialize(to_json(b))) return std::nullopt;
    if (a.deliver_policy != b.deliver_policy) return no("deliver policy can not be updated");
    if (a.opt_start_seq != b.opt_start_seq) return no("start sequence can not be updated");
    if (!a.opt_start_time.empty() || !b.opt_start_time.empty()) return no("start time can not be updated");
    if (a.ack_policy != b.ack_policy) return no("ack policy can not be updated");
    if (a.replay_original != b.replay_original) return no("replay policy can not be updated");
    if (a.idle_heartbeat_ns != b.idle_heartbeat_ns) return no("heart beats can not be updated");
    if (a.flow_control != b.flow_control) return no("flow control can not be updated");
    if (a.max_waiting != b.max_waiting) return no("max waiting can not be updated");
    if (a.deliver_subject != b.deliver_subject) {
        if (a.deliver_subject.empty()) return no("can not update pull consumer to push based");
        if (b.deliver_subject.empty()) return no("can not update push consumer to pull based");
        if (deliver_subject_listened) return ApiError{400, 10013, "consumer name already in use"};
    }
    return std::nullopt;
}

}  // namespace

std::string JetStream::consumer_create(AccountState& a, const std::vector<std::string>& t, const Request& r) {
    const std::string& body = r.payload;
    const std::string type = "consumer_create_response";
    auto fail = [&](ApiError e) { return typed_error(type, e); };
    // The request first (nats-server decodes it before anything else).
    auto v = parse_body(body);
    if (!v || !v->is_object()) return fail(errors::invalid_json());
    const auto& o = v->get_object();
    std::string req_stream;
    try {
        req_stream = fields::string(o, "stream_name");
    } catch (const fields::BadField&) {
        return fail(errors::invalid_json());
    }
    auto it = o.find("config");
    auto cfg = parse_consumer_config(it == o.end() ? json::value(nullptr) : it->value());
    if (!cfg) return fail(cfg.error());
    // $JS.API.CONSUMER.CREATE.<stream> (legacy ephemeral), .DURABLE.CREATE.<stream>.<name>
    // (legacy durable), .CREATE.<stream>.<name>[.<filter>] (2.9). nats-server takes a filter
    // from the subject only when it has two or more tokens.
    const std::size_t n = t.size();
    enum { LegacyEphemeral, LegacyDurable, Named } kind = Named;
    std::string stream_name, consumer_name, subject_filter;
    if (n == 5) {
        kind = LegacyEphemeral;
        stream_name = t[4];
    } else {
        if (t[3] == "DURABLE") {
            kind = LegacyDurable;
            if (n != 7) return fail(ApiError{400, 10016, "consumer expected to be durable but no durable name set in subject"});
            stream_name = t[5];
            consumer_name = t[6];
        } else {
            stream_name = t[4];
            consumer_name = t[5];
        }
        if (n > 7)
            for (std::size_t i = 6; i < n; ++i) subject_filter += (i > 6 ? "." : "") + t[i];
    }
    if (stream_name != req_stream) return fail(errors::stream_name_mismatch());
    if (consumer_name.find_first_of("/\\") != std::string::npos)
        return fail(ApiError{400, 10127, "Consumer name can not contain path separators"});
    if (kind == LegacyDurable) {
        if (cfg->durable_name.empty())
            return fail(ApiError{400, 10018, "consumer expected to be durable but a durable name was not set"});
        if (cfg->durable_name != consumer_name)
            return fail(ApiError{400, 10017, "consumer name in subject does not match durable name in request"});
    }
    if (kind == Named) {
        if (!cfg->durable_name.empty() && cfg->durable_name != consumer_name)
            return fail(ApiError{400, 10017, "consumer name in subject does not match durable name in request"});
        cfg->name = consumer_name;
    }
    if (kind == LegacyEphemeral && !cfg->durable_name.empty())
        return fail(ApiError{400, 10020, "consumer expected to be ephemeral but a durable name was set in request"});
    if (!subject_filter.empty() && cfg->filter_subject != subject_filter)
        return fail(ApiError{400, 10131, "Consumer create request did not match filtered subject from create subject"});
    if (!cluster_.load() && cfg->num_replicas > 1) return fail(errors::replicas_not_supported());
    auto stream = find_stream(a, stream_name);
    if (!stream) return fail(errors::stream_not_found());
    if (cluster_.load()) {
        if (cfg->num_replicas < 0) return fail(ApiError{400, 10133, "replicas count cannot be negative"});
        if (cfg->num_replicas > std::max<std::int64_t>(1, stream->config().num_replicas))
            return fail(ApiError{400, 10126, "consumer config replica count exceeds parent stream"});
    }
    if (auto e = config_error(*cfg, stream->config())) return fail(*e);
    if (!cfg->name.empty() && !cfg->durable_name.empty() && cfg->name != cfg->durable_name)
        return fail(ApiError{400, 10132, "Consumer Durable and Name have to be equal if both are provided"});
    std::string name = !cfg->durable_name.empty() ? cfg->durable_name : cfg->name;
    if (!name.empty()) {
        if (auto existing = stream->find_consumer(name)) {
            const auto old = existing->config();
            const bool listened = !old.deliver_subject.empty() &&
                                  server::has_interest(*a.account->sublist().match_uncached(old.deliver_subject));
            if (auto e = check_update(old, *cfg, listened)) return fail(*e);
            if (existing->replicated())
                return propose_consumer(a, stream, name, *cfg, existing->created(), r, false);
            existing->update_config(*cfg);
            stream->reindex_consumer(existing);  // the filter may have changed
            std::string answer = typed(type, consumer_info_json(a, *stream, *existing));
            if (!cfg->durable()) return answer;
            if (!record_consumer_config(*stream, *existing, r, answer))
                return fail(ApiError{500, 10012, "consumer configuration could not be written"});
            return {};  // answered once the configuration is durable
        }
    }
    // The stream's limit, or the account's where it is lower (nats-server's rule).
    std::int64_t max_consumers = stream->config().max_consumers;
    if (max_consumers <= 0 || (a.limits.max_consumers > 0 && a.limits.max_consumers < max_consumers))
        max_consumers = a.limits.max_consumers;
    if (max_consumers > 0 && std::int64_t(stream->consumer_count()) >= max_consumers)
        return fail(ApiError{400, 10026, "maximum consumers limit reached"});
    if (stream->config().retention == Retention::WorkQueue && !cfg->direct)
        if (auto e = work_queue_error(*cfg, stream->consumers())) return fail(*e);
    if (cfg->durable() && cfg->durable_name.size() > 255)
        return fail(ApiError{400, 10102, "consumer name is too long, maximum allowed is 255"});
    if (name.empty()) name = util::random_token(8);
    if (!valid_consumer_name(name))
        return fail(ApiError{400, 10103, "durable name can not contain '.', '*', '>'"});
    // A durable consumer of a replicated stream: through the stream's log, on every replica.
    // An ephemeral one lives on the stream's leader alone (nats-server's R1 ephemerals).
    if (stream->replicated() && cfg->durable())
        return propose_consumer(a, stream, name, *cfg, std::chrono::system_clock::now(), r, true);
    auto c = std::make_shared<Consumer>(stream, *a.account, name, *cfg,
                                        std::chrono::system_clock::now());
    set_waker(*c);
    if (cfg->durable()) {
        const std::string dir = stream->dir() + "/consumers/" + name;
        // Files under this name without a configuration (it was lost) are not this consumer's.
        std::error_code ec;
        fs::remove_all(dir, ec);
        try {
            c->attach_log(dir, opts_.sync_interval_ms);
        } catch (const std::exception& e) {
            return fail(ApiError{500, 10012, e.what()});
        }
        c->persisted_generation = c->state_generation();  // nothing to snapshot yet
    }
    std::string answer = typed(type, consumer_info_json(a, *stream, *c));
    // A durable one is answered once its configuration is durable.
    if (cfg->durable() && !record_consumer_config(*stream, *c, r, answer))
        return fail(ApiError{500, 10012, "consumer configuration could not be written"});
    stream->add_consumer(c);
    c->start();
    advise(a, stream_name, "create", name);
    return cfg->durable() ? std::string() : answer;
}

bool JetStream::record_consumer_config(Stream& s, const Consumer& c, const Request& r, std::string answer) {
    // One append to the stream's consumer configuration log; the answer goes out once the
    // writer's fdatasync covered it (one fdatasync for every create meanwhile).
    return s.consumer_configs().put(c.name(), consumer_meta_text(c),
                                    [this, r, answer = std::move(answer)] { finish_later(r, answer); });
}

std::string JetStream::consumer_info(AccountState& a, const std::string& stream_name,
                                     const std::string& name) {
    const std::string type = "consumer_info_response";
    auto stream = find_stream(a, stream_name);
    if (!stream) return typed_error(type, errors::stream_not_found());
    auto c = stream->find_consumer(name);
    if (!c) return typed_error(type, ApiError{404, 10014, "consumer not found"});
    return typed(type, consumer_info_json(a, *stream, *c));
}

std::string JetStream::consumer_delete(AccountState& a, const std::string& stream_name,
                                       const std::string& name, const Request& r) {
    const std::string type = "consumer_delete_response";
    if (!is_empty_request(r.payload)) return typed_error(type, errors::not_empty_request());
    auto stream = find_stream(a, stream_name);
    if (!stream) return typed_error(type, errors::stream_not_found());
    if (auto c = stream->find_consumer(name); c && c->replicated())
        return propose_consumer_delete(a, stream, name, r);
    if (!stream->remove_consumer(name))
        return typed_error(type, ApiError{404, 10014, "consumer not found"});
    advise(a, stream_name, "delete", name);
    // Its directory set aside at once (a consumer of the same name created before the erasure
    // is durable gets a fresh one, which the removal below never touches), then the record
    // erased; answered, and the files removed, once that is durable.
    const std::string gone = set_aside(stream->dir() + "/consumers", name);
    stream->consumer_states().erase(name);  // a record left by a crash is dropped at load too
    std::string answer = typed(type, json::object{{"success", true}});
    if (!stream->consumer_configs().erase(name, [this, r, answer, gone] {
            std::error_code rc;
            if (!gone.empty()) fs::remove_all(gone, rc);
            finish_later(r, answer);
        }))
        return typed_error(type, ApiError{500, 10012, "consumer configuration could not be written"});
    return {};
}

std::string JetStream::consumer_names(AccountState& a, const std::string& stream_name,
                                      const std::string& body, bool list) {
    const std::string type = list ? "consumer_list_response" : "consumer_names_response";
    auto fail = [&](const ApiError& e) {
        json::object o{{"error", error_json(e)}, {"total", 0}, {"offset", 0}, {"limit", 0}};
        o["consumers"] = json::array{};
        return typed(type, std::move(o));
    };
    std::int64_t offset = 0;
    if (!is_empty_request(body)) {
        auto v = parse_body(body);
        if (!v || !v->is_object()) return fail(errors::invalid_json());
        try {
            offset = std::max<std::int64_t>(0, fields::integer(v->get_object(), "offset"));
        } catch (const fields::BadField&) {
            return fail(errors::invalid_json());
        }
    }
    auto stream = find_stream(a, stream_name);
    if (!stream) return fail(errors::stream_not_found());
    auto cs = stream->consumers();  // by name, as nats-server sorts them
    const std::int64_t limit = list ? 256 : 1024;
    offset = std::min<std::int64_t>(offset, std::int64_t(cs.size()));
    json::array items;
    for (std::int64_t i = offset; i < std::int64_t(cs.size()) && i < offset + limit; ++i) {
        if (list) items.push_back(consumer_info_json(a, *stream, *cs[std::size_t(i)]));
        else items.push_back(json::value(cs[std::size_t(i)]->name()));
    }
    json::object o{{"total", cs.size()}, {"offset", offset}, {"limit", limit}};
    o["consumers"] = std::move(items);
    return typed(type, std::move(o));
}

void JetStream::consumer_next(AccountState& a, const std::string& stream_name,
                              const std::string& name, const Request& r) {
    if (r.reply.empty()) return;
    auto stream = find_stream(a, stream_name);
    auto c = stream ? stream->find_consumer(name) : nullptr;
    // No such consumer: no answer, as nats-server (whose consumer is the subscriber).
    if (!c) return;
    c->pull(r.reply, r.payload);
}

namespace {

std::int64_t created_ns_of(const Consumer& c) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(c.created().time_since_epoch()).count();
}

}  // namespace

void JetStream::persist_consumer_state(Stream& s, const std::shared_ptr<Consumer>& c) {
    // The state only when it moved since the last snapshot. It is one record of the stream's
    // consumer state log: the API thread only appends, and one fdatasync on the log's writer
    // covers every consumer that moved this second (a file, two fsyncs and a rename each did,
    // on this thread, answering nothing meanwhile). The ack log is trimmed once the record
    // is durable. The record names the consumer's creation time, so that a consumer made
    // again under the same name never takes an older one's state.
    const std::uint64_t gen = c->state_generation();
    if (gen == c->persisted_generation) return;
    auto st = c->state_json();
    const auto log_seq = std::uint64_t(int_field(st, "log_seq"));
    st["created_ns"] = created_ns_of(*c);
    std::weak_ptr<Consumer> weak = c;
    if (!s.consumer_states().put(c->name(), json::serialize(st), [weak, log_seq] {
            if (auto live = weak.lock()) live->trim_log(log_seq);
        })) {
        log::error("JetStream consumer {}: cannot write its state in {}", c->name(), s.dir());
        return;
    }
    c->persisted_generation = gen;
}

namespace {

// A consumer written before the configuration log: meta.json in its directory (meta.json.bak
// when that is damaged).
std::optional<json::value> legacy_meta(const std::string& dir) {
    for (const char* f : {"/meta.json", "/meta.json.bak"}) {
        auto meta = read_json_file(dir + f);
        if (meta && meta->is_object() && meta->get_object().contains("config")) {
            if (std::string_view(f).ends_with(".bak")) log::warn("JetStream consumer {}: meta.json damaged, using its backup", dir);
            return meta;
        }
    }
    return std::nullopt;
}

// A loaded durable consumer's newest snapshot: its record in the stream's state log when that
// is this consumer's (same creation time), else a state.json written by an older osprey (moved
// into the log), else none (the ack log alone). `states` loses the names it used.
void restore_consumer_state(Stream& s, const std::shared_ptr<Consumer>& c, const std::string& dir,
                            std::map<std::string, std::string>& states, std::uint64_t start_seq) {
    if (auto it = states.find(c->name()); it != states.end()) {
        auto st = parse_body(it->second);
        if (st && st->is_object() && int_field(st->get_object(), "created_ns") == created_ns_of(*c)) {
            states.erase(it);
            c->restore_state(st->get_object());
            return;
        }
    }
    auto legacy = read_json_file(dir + "/state.json");
    if (!legacy || !legacy->is_object()) {
        // No snapshot yet: from where it started (its acks since are in the log).
        c->position_at(start_seq);
        c->restore_state(json::object{});
        return;
    }
    c->restore_state(legacy->get_object());
    json::object& st = legacy->get_object();
    const auto log_seq = std::uint64_t(int_field(st, "log_seq"));
    st["created_ns"] = created_ns_of(*c);
    states.erase(c->name());
    std::weak_ptr<Consumer> weak = c;
    s.consumer_states().put(c->name(), json::serialize(st), [weak, log_seq, dir] {
        std::error_code ec;
        fs::remove(dir + "/state.json", ec);
        if (auto live = weak.lock()) live->trim_log(log_seq);
    });
}

}  // namespace

void JetStream::load_consumers(AccountState& a, Stream& s) {
    const std::string root = s.dir() + "/consumers";
    std::map<std::string, json::value> metas;
    for (auto& [name, text] : s.consumer_configs().load()) {
        auto meta = parse_body(text);
        if (!meta || !meta->is_object() || !meta->get_object().contains("config")) {
            log::error("JetStream consumer {}/{}: configuration unreadable, skipped", root, name);
            continue;
        }
        metas.emplace(name, std::move(*meta));
    }
    // A delete cut short (its directory set aside, its record still there): finished.
    const std::set<std::string> deleted = clear_set_aside(root);
    std::set<std::string> dirs;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(root, ec))
        if (e.is_directory()) dirs.insert(e.path().filename().string());
    for (const auto& who : deleted) {
        if (dirs.contains(who) || !metas.contains(who)) continue;  // made again since, or erased
        metas.erase(who);
        s.consumer_configs().erase(who);
    }
    for (const std::string& name : dirs) {
        const std::string dir = root + "/" + name;
        if (metas.contains(name)) continue;
        auto meta = legacy_meta(dir);
        if (!meta) {
            // Its configuration is lost (both copies damaged, or a delete's rename lost in a
            // power cut after its erasure was durable): its files stay until a consumer of that
            // name is made.
            log::warn("JetStream consumer {}: no configuration, not loaded", dir);
            continue;
        }
        // Into the log; the old files go once the record is durable.
        s.consumer_configs().put(name, json::serialize(*meta), [dir] {
            std::error_code rc;
            fs::remove(dir + "/meta.json", rc);
            fs::remove(dir + "/meta.json.bak", rc);
        });
        metas.emplace(name, std::move(*meta));
    }
    std::map<std::string, std::string> states = s.consumer_states().load();
    for (auto& [name, meta] : metas) {
        const std::string dir = root + "/" + name;
        auto cfg = parse_consumer_config(meta.get_object().at("config"));
        if (!cfg) continue;
        const std::int64_t created_ns = int_field(meta.get_object(), "created_ns");
        auto c = std::make_shared<Consumer>(
            s.shared_from_this(), *a.account, name, *cfg,
            std::chrono::system_clock::time_point(
                std::chrono::duration_cast<std::chrono::system_clock::duration>(
                    std::chrono::nanoseconds(created_ns))));
        set_waker(*c);
        c->attach_log(dir, consumer_sync_ms(s));
        restore_consumer_state(s, c, dir, states, std::uint64_t(int_field(meta.get_object(), "start_seq")));
        if (s.replicated()) {
            s.adopt_replicated_consumer(c);  // passive until this replica leads
            continue;
        }
        s.add_consumer(c);
        c->start();
    }
    // Records no loaded consumer took: of deleted consumers whose erasure was cut short, or of
    // an older consumer of a name made again.
    for (const auto& [name, text] : states) s.consumer_states().erase(name);
}

void JetStream::set_waker(Consumer& c) {
    c.set_waker([this](std::chrono::steady_clock::time_point t) { wake_at(t); });
}

void JetStream::wake_at(std::chrono::steady_clock::time_point t) {
    {
        std::lock_guard lk(mu_);
        if (t >= next_wake_) return;
        next_wake_ = t;
    }
    cv_.notify_one();
}

void JetStream::for_each_consumer(
    const std::function<void(AccountState&, Stream&, const std::shared_ptr<Consumer>&)>& fn) {
    for (auto& a : accounts_) {
        std::vector<std::shared_ptr<Stream>> streams;  // a snapshot: fn may remove consumers
        {
            std::shared_lock lk(a->streams_mu);
            for (auto& [n, s] : a->streams) streams.push_back(s);
        }
        for (auto& s : streams)
            for (auto& c : s->consumers()) fn(*a, *s, c);
    }
}

void JetStream::consumer_wakes() {
    for_each_consumer([](AccountState&, Stream&, const std::shared_ptr<Consumer>& c) { c->wake(); });
}

void JetStream::consumer_ticks() {
    for_each_consumer([this](AccountState& a, Stream& s, const std::shared_ptr<Consumer>& c) {
        c->tick();
        if (c->inactive_for_too_long() && s.remove_consumer(c->name()))
            advise(a, s.config().name, "delete", c->name());
    });
}

}  // namespace osprey::jetstream
