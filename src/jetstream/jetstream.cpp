#include "jetstream/jetstream.h"


#include "jetstream/api/jetstream_internal.h"
#include "jetstream/api/json_fields.h"


#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <boost/json.hpp>
#include <filesystem>
#include <shared_mutex>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "jetstream/api/api_not_enabled.h"
#include "jetstream/consumer/consumer.h"
#include "server/account.h"
#include "server/client.h"
#include "server/server.h"
#include "subjects/subject.h"
#include "util/log.h"
#include "util/random.h"

namespace osprey::jetstream {

namespace json = boost::json;
namespace fs = std::filesystem;


namespace {

// Receives $JS.API requests on the publisher's loop and queues them for the API thread.
struct ApiIntake : server::Receiver {
    JetStream* js;
    JetStream::AccountState* acc;
    std::size_t prefix_len;  // strip "$JS.API." or "$JS.<domain>.API."
    bool deliver(const server::Message& m) override {
        JetStream::Request r{acc, "$JS.API." + std::string(m.subject.substr(prefix_len)),
                             std::string(m.reply), std::string(m.headers),
                             std::string(m.payload)};
        // Direct gets are plain reads: served right here on the requester's loop, in
        // parallel, without the hop to the API thread.
        server::Client::StallExempt internal;
        if (r.subject.starts_with("$JS.API.DIRECT.GET.") ||
            r.subject.starts_with("$JS.API.CONSUMER.MSG.NEXT.")) {
            js->handle(r);
        } else {
            js->enqueue(std::move(r));
        }
        return true;
    }
    bool shows_interest() const override { return false; }
    // A single server answers its own clients; in a cluster every server hears every request
    // and the responsible one answers.
    bool clustered = false;
    bool propagates() const override { return clustered; }
};

}  // namespace

JetStream::JetStream(server::Server& srv, JetStreamOptions opts)
    : srv_(srv), opts_(std::move(opts)) {
    usage_.max_file = opts_.max_file;
    usage_.max_memory = opts_.max_memory;
    usage_.exceeded = ApiError{503, 10023, "insufficient resources"};
}

JetStream::~JetStream() { stop(); }

std::string JetStream::stream_dir(const AccountState& a, const std::string& name) const {
    return a.dir + "/streams/" + name;
}

void JetStream::start(const std::vector<server::Server::JetStreamAccount>& accounts) {
    log::notice("Starting JetStream");
    log::notice("    Store Directory: \"{}\"", opts_.store_dir);
    log::notice("    Sync:            {}", opts_.sync_interval_ms == 0
                                               ? std::string("always (fdatasync before each ack)")
                                               : fmt::format("every {}ms", opts_.sync_interval_ms));
    if (!opts_.domain.empty()) log::notice("    Domain:          {}", opts_.domain);
    for (const auto& ja : accounts) open_account(ja);
    // Every other account (but the system account, which nats-server serves differently)
    // hears that it has no JetStream.
    for (server::Account* acc : srv_.accounts()) {
        if (acc->name() == srv_.options().system_account) continue;
        if (std::any_of(accounts_.begin(), accounts_.end(),
                        [&](const auto& st) { return st->account == acc; }))
            continue;
        auto subs = answer_not_enabled(*acc, opts_.domain);
        for (auto& s : subs) not_enabled_subs_.emplace_back(acc, std::move(s));
    }
    // Operator mode: an account JWT pushed while running may grant JetStream to an account.
    srv_.set_jetstream_account_hook([this](const server::Server::JetStreamAccount& ja, bool enabled) {
        post([this, ja, enabled] { configure_account(ja, enabled); });
    });
    srv_.add_monitor_endpoint("/jsz", [this](const std::map<std::string, std::string>& q) {
        return jsz(q);
    });
    srv_.add_varz_section("jetstream", [this](const std::map<std::string, std::string>&) {
        return varz_section();
    });
    worker_ = std::thread([this] { worker(); });
}

void JetStream::configure_account(const server::Server::JetStreamAccount& ja, bool enabled) {
    // nats-server's configJetStream after an account JWT update, on the API thread.
    AccountState* st = nullptr;
    for (auto& a : accounts_)
        if (a->account == ja.account) st = a.get();
    auto take_limits = [&ja](AccountState& a) {
        a.limits = ja;
        a.usage.max_file = ja.max_file;
        a.usage.max_memory = ja.max_memory;
    };
    if (opts_.clustered && (!st || !enabled || st->disabled)) {
        // In a cluster the meta group holds the account's streams: not changed while running.
        log::warn("JetStream for account [{}] changes at the next start (clustered)", ja.account->name());
        return;
    }
    if (!enabled) {
        if (!st || st->disabled) return;
        // DisableJetStream: the streams stop (their files stay), the API answers "not enabled".
        for (auto& s : st->api_subs) st->account->sublist().remove(s);
        st->api_subs.clear();
        {
            std::unique_lock lk(st->streams_mu);
            for (auto& [n, s] : st->streams) s->close(false);
            st->streams.clear();
        }
        if (st->stream_configs) st->stream_configs->close(false);
        st->disabled = true;
        for (auto& s : answer_not_enabled(*st->account, opts_.domain)) not_enabled_subs_.emplace_back(st->account, std::move(s));
        log::notice("JetStream disabled for account [{}]", st->account->name());
        return;
    }
    if (st && !st->disabled) {
        take_limits(*st);  // an account that has JetStream: its new limits, for what comes next
        return;
    }
    for (auto it = not_enabled_subs_.begin(); it != not_enabled_subs_.end();) {
        if (it->first == ja.account) {
            it->first->sublist().remove(it->second);
            it = not_enabled_subs_.erase(it);
        } else {
            ++it;
        }
    }
    if (st) {
        st->disabled = false;
        take_limits(*st);
        start_account(*st);
    } else {
        open_account(ja);
    }
    log::notice("JetStream enabled for account [{}]", ja.account->name());
}

void JetStream::open_account(const server::Server::JetStreamAccount& ja) {
    server::Account* acc = ja.account;
    auto st = std::make_unique<AccountState>();
    st->account = acc;
    st->limits = ja;
    st->usage.max_file = ja.max_file;
    st->usage.max_memory = ja.max_memory;
    st->usage.exceeded = ApiError{400, 10002, "resource limits exceeded for account"};
    st->usage.count_new_message = true;
    st->dir = opts_.store_dir + "/jetstream/" + acc->name();
    start_account(*st);
    // Threads other than the API's read the list under the lock (monitoring).
    std::unique_lock lk(accounts_mu_);
    accounts_.push_back(std::move(st));
}

void JetStream::start_account(AccountState& st) {
    server::Account* acc = st.account;
    fs::create_directories(st.dir + "/streams");
    st.stream_configs = std::make_unique<ConfigLog>(st.dir + "/stream_configs", opts_.sync_interval_ms);
    if (!opts_.clustered) load_streams(st);  // in a cluster the meta group opens them
    link(st);
    std::vector<std::string> prefixes{"$JS.API."};
    if (!opts_.domain.empty()) prefixes.push_back("$JS." + opts_.domain + ".API.");
    for (const auto& p : prefixes) {
        if (imports_api(*acc, p)) continue;  // the exporting account answers
        auto in = std::make_shared<ApiIntake>();
        in->js = this;
        in->acc = &st;
        in->prefix_len = p.size();
        in->clustered = opts_.clustered;
        in->subject = p + ">";
        acc->sublist().insert(in);
        st.api_subs.push_back(in);
    }
}

void JetStream::advise(AccountState& a, const std::string& stream, const char* action,
                       const std::string& consumer) {
    // nats-server's stream and consumer action advisories.
    const char* kind = std::string_view(action) == "create"   ? "CREATED"
                       : std::string_view(action) == "delete" ? "DELETED"
                                                              : "UPDATED";
    json::object o{{"type", consumer.empty() ? "io.nats.jetstream.advisory.v1.stream_action"
                                             : "io.nats.jetstream.advisory.v1.consumer_action"},
                   {"id", util::random_token(22)},
                   {"timestamp", rfc3339_ns(now_unix_ns())},
                   {"stream", stream}};
    if (!consumer.empty()) o["consumer"] = consumer;
    o["action"] = action;
    if (!opts_.domain.empty()) o["domain"] = opts_.domain;
    const std::string subject =
        consumer.empty() ? fmt::format("$JS.EVENT.ADVISORY.STREAM.{}.{}", kind, stream)
                         : fmt::format("$JS.EVENT.ADVISORY.CONSUMER.{}.{}.{}", kind, stream, consumer);
    const std::string body = json::serialize(o);
    server::Message m{subject, {}, {}, body, nullptr};
    a.account->route(m);
}

void JetStream::stop() {
    {
        std::lock_guard lk(mu_);
        if (stop_) return;
        stop_ = true;
    }
    cv_.notify_all();
    if (worker_.joinable()) worker_.join();
    persist_durable_consumers();
    for (auto& [acc, s] : not_enabled_subs_) acc->sublist().remove(s);
    not_enabled_subs_.clear();
    for (auto& a : accounts_) {
        for (auto& s : a->api_subs) a->account->sublist().remove(s);
        std::unique_lock lk(a->streams_mu);
        for (auto& [n, s] : a->streams) s->close(false);
        a->streams.clear();
        if (a->stream_configs) a->stream_configs->close(false);
    }
}


void JetStream::load_streams(AccountState& a) {
    // Configurations: the account's log (store/config_log.h); a directory written by an older
    // osprey has meta.json and meta.json.bak instead, moved into the log here.
    std::map<std::string, json::object> metas;
    for (auto& [name, text] : a.stream_configs->load()) {
        auto v = parse_body(text);
        if (v && v->is_object()) metas.emplace(name, std::move(v->get_object()));
        else log::error("JetStream stream {}: configuration record unreadable", name);
    }
    // A delete cut short by a crash (its directory set aside, its record still there): finished.
    const std::set<std::string> deleted = clear_set_aside(a.dir + "/streams");
    std::set<std::string> dirs;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(a.dir + "/streams", ec))
        if (e.is_directory()) dirs.insert(e.path().filename().string());
    for (const auto& name : deleted) {
        if (dirs.contains(name)) continue;  // re-created since
        metas.erase(name);
        a.stream_configs->erase(name);
    }
    for (const auto& [name, meta] : metas) {
        if (dirs.contains(name)) continue;
        // A memory stream may have no directory (no durable consumers); a file stream's lost.
        const auto* c = meta.if_contains("config");
        const auto* storage = c && c->is_object() ? c->get_object().if_contains("storage") : nullptr;
        if (!(storage && storage->is_string() && storage->get_string() == "memory"))
            log::error("JetStream stream {}: its directory is missing; opened without messages", name);
        dirs.insert(name);
    }
    for (const std::string& name : dirs) {
        const std::string dir = stream_dir(a, name);
        std::optional<json::object> meta;
        bool legacy = false;
        if (auto it = metas.find(name); it != metas.end()) {
            meta = it->second;
        } else {
            meta = read_meta(dir + "/meta.json");
            if (!meta) {
                meta = read_meta(dir + "/meta.json.bak");
                if (meta) log::warn("JetStream stream {}: meta.json damaged, using its backup", name);
            }
            legacy = meta.has_value();
        }
        StreamConfig cfg;
        std::int64_t created_ns = now_unix_ns();
        if (meta) {
            auto parsed = parse_stream_config((*meta)["config"], "");
            if (parsed) cfg = *parsed;
            created_ns = int_field(*meta, "created_ns", created_ns);
        }
        if (!meta || cfg.name.empty()) {
            // The metadata is gone: keep the messages, with a configuration that still takes
            // what they were published to. Logged loudly; an update can set it right.
            cfg = StreamConfig{};
            cfg.name = name;
            cfg.duplicate_window_ns = 120LL * 1000 * 1000 * 1000;
            log::error("JetStream stream {}: metadata unreadable, recovered with default "
                       "configuration (subjects \"{}\")",
                       name, name);
            cfg.subjects = {name};
        }
        auto s = Stream::open(*a.account, cfg, dir,
                              std::chrono::system_clock::time_point(
                                  std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                      std::chrono::nanoseconds(created_ns))),
                              opts_.sync_interval_ms, {&usage_, &a.usage}, opts_.domain);
        if (!s) {
            log::error("JetStream stream {}: cannot open: {}", name, s.error().description);
            continue;
        }
        auto rep = (*s)->store().recovery();
        auto st = (*s)->store().state();
        log::notice("  Restored stream '{} > {}': {} messages{}", a.account->name(), name, st.msgs,
                    rep.bad_records || rep.truncated_bytes
                        ? fmt::format(" ({} damaged records skipped, {} bytes cut)",
                                      rep.bad_records, rep.truncated_bytes)
                        : "");
        if (!meta || legacy) {
            // Into the log; an older layout's files go once the record is durable.
            persist(a, **s, [dir] {
                std::error_code rc;
                fs::remove(dir + "/meta.json", rc);
                fs::remove(dir + "/meta.json.bak", rc);
            });
        }
        {
            std::unique_lock lk(a.streams_mu);
            a.streams[name] = *s;
        }
        load_consumers(a, **s);
    }
}

void JetStream::link(AccountState& a) {
    // Connects every mirror and sourcing stream to the origins that exist now, and lets each
    // catch up on what it missed.
    std::vector<std::pair<std::shared_ptr<Stream>, std::shared_ptr<Stream>>> pairs;
    {
        std::shared_lock lk(a.streams_mu);
        for (auto& [n, t] : a.streams)
            for (const auto& origin : t->origins())
                if (auto it = a.streams.find(origin); it != a.streams.end())
                    pairs.emplace_back(it->second, t);
    }
    for (auto& [origin, target] : pairs) {
        origin->add_downstream(target);
        target->pull_from(*origin);
    }
}

bool JetStream::persist(AccountState& a, const Stream& s, std::function<void()> durable) {
    json::object meta{
        {"config", to_json(s.config())},
        {"created_ns", std::chrono::duration_cast<std::chrono::nanoseconds>(
                           s.created().time_since_epoch())
                           .count()},
    };
    // One record (written twice) in the account's configuration log: one fdatasync, shared by
    // every create meanwhile, where two files with two fsyncs and two renames each did before.
    return a.stream_configs->put(s.config().name, json::serialize(meta), std::move(durable));
}

void JetStream::enqueue(Request r) {
    {
        std::lock_guard lk(mu_);
        if (stop_) return;
        queue_.push_back(std::move(r));
    }
    cv_.notify_one();
}

void JetStream::post(std::function<void()> fn) {
    {
        std::lock_guard lk(mu_);
        if (stop_) return;
        tasks_.push_back(std::move(fn));
    }
    cv_.notify_one();
}

void JetStream::persist_durable_consumers() {
    for_each_consumer([this](AccountState&, Stream& s, const std::shared_ptr<Consumer>& c) {
        if (c->durable()) persist_consumer_state(s, c);
    });
    // Replicated streams this server leads: their consumers' states that moved, into the log.
    for (auto& a : accounts_) {
        std::vector<std::shared_ptr<Stream>> streams;
        {
            std::shared_lock lk(a->streams_mu);
            for (auto& [n, s] : a->streams)
                if (s->replicated()) streams.push_back(s);
        }
        for (auto& s : streams) s->propose_consumer_states();
    }
}

void JetStream::worker() {
    auto last_expiry = std::chrono::steady_clock::now();
    auto last_persist = last_expiry;
    std::unique_lock lk(mu_);
    while (true) {
        // The 50 ms tick, or earlier when a paced consumer delivery is due.
        const auto tick_at = last_expiry + std::chrono::milliseconds(50);
        cv_.wait_until(lk, std::min(tick_at, next_wake_), [&] {
            return stop_ || !queue_.empty() || !tasks_.empty() || next_wake_ <= std::chrono::steady_clock::now();
        });
        if (stop_) break;
        while (!tasks_.empty()) {
            auto fn = std::move(tasks_.front());
            tasks_.pop_front();
            lk.unlock();
            fn();
            server::Client::flush_scheduled();
            lk.lock();
            if (stop_) break;
        }
        if (stop_) break;
        if (next_wake_ <= std::chrono::steady_clock::now()) {
            next_wake_ = std::chrono::steady_clock::time_point::max();
            lk.unlock();
            consumer_wakes();
            lk.lock();
            if (stop_) break;
        }
        while (!queue_.empty()) {
            Request r = std::move(queue_.front());
            queue_.pop_front();
            lk.unlock();
            handle(r);
            server::Client::flush_scheduled();
            lk.lock();
            if (stop_) break;
        }
        if (std::chrono::steady_clock::now() - last_expiry >= std::chrono::milliseconds(50)) {
            last_expiry = std::chrono::steady_clock::now();
            lk.unlock();
            for (auto& a : accounts_)
                for (auto& [n, s] : a->streams) s->expire_old();
            consumer_ticks();
            if (last_expiry - last_persist >= std::chrono::seconds(1)) {
                last_persist = last_expiry;
                persist_durable_consumers();
            }
            server::Client::flush_scheduled();
            lk.lock();
        }
    }
}

void JetStream::respond(AccountState& a, const std::string& reply, const std::string& body) {
    if (reply.empty()) return;
    server::Message m{reply, {}, {}, body, nullptr};
    a.account->route_reply(m);
}

void JetStream::handle(Request& r) {
    AccountState& a = *r.acc;
    std::vector<std::string> t;
    {
        subjects::Tokens tok(r.subject);
        std::string_view x;
        while (tok.next(x)) t.emplace_back(x);
    }
    // t[0] = "$JS", t[1] = "API"
    const std::size_t n = t.size();
    auto is = [&](std::initializer_list<const char*> words) {
        if (n < 2 + words.size()) return false;
        std::size_t i = 2;
        for (auto* w : words)
            if (t[i++] != w) return false;
        return true;
    };
    if (cluster_.load() && handle_clustered(a, r, t)) return;
    std::string out;
    if (n == 3 && t[2] == "INFO") {
        out = account_info(a);  // counts the calls before this one, as nats-server
        ++a.api_total;
    } else if (n == 5 && is({"STREAM", "CREATE"})) {
        out = stream_create(a, t[4], r);
    } else if (n == 5 && is({"STREAM", "UPDATE"})) {
        out = stream_update(a, t[4], r);
    } else if (n == 5 && is({"STREAM", "INFO"})) {
        out = stream_info(a, t[4], r.payload);
    } else if (n == 5 && is({"STREAM", "DELETE"})) {
        out = stream_delete(a, t[4], r);
    } else if (n == 5 && is({"STREAM", "PURGE"})) {
        out = stream_purge(a, t[4], r.payload);
    } else if (n == 4 && is({"STREAM", "NAMES"})) {
        out = stream_names(a, r.payload, false);
    } else if (n == 4 && is({"STREAM", "LIST"})) {
        out = stream_names(a, r.payload, true);
    } else if (n == 6 && is({"STREAM", "MSG", "GET"})) {
        out = msg_get(a, t[5], r.payload);
    } else if (n == 6 && is({"STREAM", "MSG", "DELETE"})) {
        out = msg_delete(a, t[5], r.payload);
    } else if (n >= 5 && is({"DIRECT", "GET"})) {
        std::string subj;
        for (std::size_t i = 5; i < n; ++i) subj += (i > 5 ? "." : "") + t[i];
        direct_get(a, t[4], subj, r);
        return;
    } else if (n == 7 && is({"CONSUMER", "MSG", "NEXT"})) {
        consumer_next(a, t[5], t[6], r);
        return;
    } else if ((n == 6 && is({"STREAM", "PEER", "REMOVE"})) ||
               (n == 6 && is({"STREAM", "LEADER", "STEPDOWN"})) ||
               (n == 7 && is({"CONSUMER", "LEADER", "STEPDOWN"}))) {
        out = clustering_required(t[2] == "CONSUMER" ? "consumer_leader_stepdown_response"
                                  : t[3] == "PEER"   ? "stream_remove_peer_response"
                                                     : "stream_leader_stepdown_response");
    } else if (n >= 5 && is({"CONSUMER", "CREATE"})) {
        out = consumer_create(a, t, r);
    } else if (n == 7 && is({"CONSUMER", "DURABLE", "CREATE"})) {
        out = consumer_create(a, t, r);
    } else if (n == 6 && is({"CONSUMER", "INFO"})) {
        out = consumer_info(a, t[4], t[5]);
    } else if (n == 6 && is({"CONSUMER", "DELETE"})) {
        out = consumer_delete(a, t[4], t[5], r);
    } else if (n == 5 && is({"CONSUMER", "NAMES"})) {
        out = consumer_names(a, t[4], r.payload, false);
    } else if (n == 5 && is({"CONSUMER", "LIST"})) {
        out = consumer_names(a, t[4], r.payload, true);
    } else {
        return;  // nats-server does not answer unknown API subjects
    }
    if (!(n == 3 && t[2] == "INFO")) ++a.api_total;
    if (out.empty()) return;  // answered later (a durable write, the stream's log)
    finish(r, out);
}

void JetStream::finish(const Request& r, const std::string& out) {
    AccountState& a = *r.acc;
    // nats-server does not count a delete of a missing message as an API error (the intake
    // has put every request, a domain's too, under "$JS.API.").
    if (out.find("\"error\":{") != std::string::npos && !r.subject.starts_with("$JS.API.STREAM.MSG.DELETE."))
        ++a.api_errors;
    respond(a, r.reply, out);
    audit(a, r, out);
}

void JetStream::finish_later(const Request& r, std::string out) {
    post([this, r, out = std::move(out)] { finish(r, out); });
}

void JetStream::audit(AccountState& a, const Request& r, const std::string& response) {
    // nats-server's API audit advisory, one per answered API call; built only when someone
    // listens (monitoring tools).
    static const std::string subject = "$JS.EVENT.ADVISORY.API";
    if (!server::has_interest(*a.account->sublist().match(subject))) return;
    json::object o{{"type", "io.nats.jetstream.advisory.v1.api_audit"},
                   {"id", util::random_token(22)},
                   {"timestamp", rfc3339_ns(now_unix_ns())},
                   {"server", srv_.server_id()},
                   {"client", json::object{{"acc", a.account->name()}, {"server", srv_.server_id()}}},
                   {"subject", r.subject},
                   {"request", r.payload},
                   {"response", response}};
    if (!opts_.domain.empty()) o["domain"] = opts_.domain;
    const std::string body = json::serialize(o);
    server::Message m{subject, {}, {}, body, nullptr};
    a.account->route(m);
}

std::string JetStream::account_info(AccountState& a) {
    std::uint64_t mem = 0, store = 0;
    for (auto& [n, s] : a.streams) {
        auto st = s->store().state();
        (s->config().storage == StorageType::Memory ? mem : store) += st.bytes;
    }
    json::object o{
        {"memory", mem},
        {"storage", store},
        {"streams", cluster_.load() ? cluster_.load()->stream_names(a.account->name()).size() : a.streams.size()},
        {"consumers", consumer_count(a)},
        // The account's own limits (-1: none); server-wide limits are not shown here, as in
        // nats-server.
        {"limits", json::object{{"max_memory", a.limits.max_memory},
                                {"max_storage", a.limits.max_file},
                                {"max_streams", a.limits.max_streams},
                                {"max_consumers", a.limits.max_consumers},
                                {"max_ack_pending", -1},
                                {"memory_max_stream_bytes", -1},
                                {"storage_max_stream_bytes", -1},
                                {"max_bytes_required", false}}},
    };
    if (!opts_.domain.empty()) o["domain"] = opts_.domain;
    o["api"] = json::object{{"total", a.api_total.load()}, {"errors", a.api_errors.load()}};
    return typed("account_info_response", std::move(o));
}

std::string JetStream::clustering_required(const std::string& type) {
    // A server that is not in a cluster, as nats-server answers it.
    return typed_error(type, ApiError{503, 10010, "JetStream clustering support required"});
}

std::string JetStream::stream_create(AccountState& a, const std::string& name, const Request& r) {
    const std::string& body = r.payload;
    const std::string type = "stream_create_response";
    auto v = parse_body(body);
    if (!v) return typed_error(type, errors::invalid_json());
    auto cfg = parse_stream_config(*v, name);
    if (!cfg) return typed_error(type, cfg.error());
    // nats-server's create-only checks come before the configuration's own.
    if (cfg->name.find_first_of("/\\") == std::string::npos) {
        if (cfg->sealed)
            return typed_error(type, errors::invalid_config("stream configuration for create can not be sealed"));
        if (cfg->mirror_direct && !cfg->mirror)
            return typed_error(type, errors::invalid_config("stream has no mirror but does have mirror direct"));
    }
    if (cfg->name.find_first_of("/\\") != std::string::npos)
        return typed_error(type, errors::name_has_separators());
    if (a.limits.max_streams > 0 && std::int64_t(a.streams.size()) >= a.limits.max_streams &&
        !a.streams.count(cfg->name))
        return typed_error(type, errors::max_streams());
    auto checked = validate(*cfg, lookup_in(a));
    if (!checked) return typed_error(type, checked.error());
    *cfg = std::move(*checked);
    if (cfg->num_replicas > 1) return typed_error(type, errors::replicas_not_supported());
    if (auto it = a.streams.find(cfg->name); it != a.streams.end()) {
        if (!same_config(it->second->config(), *cfg))
            return typed_error(type, errors::stream_name_exists());
        auto o = it->second->info_json(false, "", false);
        o["did_create"] = true;  // nats-server says so for an identical re-create too
        return typed(type, std::move(o));
    }
    for (auto& [n, s] : a.streams)
        for (auto& x : s->config().subjects)
            for (auto& y : cfg->subjects)
                if (overlap(x, y)) return typed_error(type, errors::subjects_overlap());
    auto created = std::chrono::system_clock::now();
    if (auto e = check_resources(a, *cfg)) return typed_error(type, *e);
    auto s = Stream::open(*a.account, *cfg, stream_dir(a, cfg->name), created,
                          opts_.sync_interval_ms, {&usage_, &a.usage}, opts_.domain);
    if (!s) return typed_error(type, s.error());
    auto o = (*s)->info_json(false, "", false);
    o["did_create"] = true;
    // Answered once its configuration is durable.
    if (!persist(a, **s, [this, r, answer = typed(type, std::move(o))] { finish_later(r, answer); })) {
        (*s)->close(true);
        std::error_code ec;
        fs::remove_all(stream_dir(a, cfg->name), ec);
        return typed_error(type, ApiError{500, 10049, "stream configuration could not be written"});
    }
    {
        std::unique_lock lk(a.streams_mu);
        a.streams[cfg->name] = *s;
    }
    link(a);
    advise(a, cfg->name, "create");
    return {};
}

StreamLookup JetStream::lookup_in(AccountState& a) {
    return [&a](const std::string& name) -> const StreamConfig* {
        auto it = a.streams.find(name);  // on the API thread, which alone changes the map
        return it == a.streams.end() ? nullptr : &it->second->config();
    };
}

std::optional<ApiError> JetStream::check_resources(const AccountState& a,
                                                   const StreamConfig& c) const {
    const bool mem = c.storage == StorageType::Memory;
    std::int64_t limit = mem ? opts_.max_memory : opts_.max_file;
    const std::int64_t acc_limit = mem ? a.limits.max_memory : a.limits.max_file;
    if (acc_limit > 0 && (limit <= 0 || acc_limit < limit)) limit = acc_limit;
    if (limit > 0 && c.max_bytes > limit)
        return mem ? ApiError{500, 10028, "insufficient memory resources available"}
                   : errors::storage_exceeded();
    return std::nullopt;
}

std::string JetStream::stream_update(AccountState& a, const std::string& name, const Request& r) {
    const std::string& body = r.payload;
    const std::string type = "stream_update_response";
    // nats-server's order: the body, the configuration on its own, the name, the stream.
    auto v = parse_body(body);
    if (!v) return typed_error(type, errors::invalid_json());
    auto cfg = parse_stream_config(*v, "");
    if (!cfg) return typed_error(type, cfg.error());
    auto checked = validate(*cfg, lookup_in(a));
    if (!checked) return typed_error(type, checked.error());
    *cfg = std::move(*checked);
    if (cfg->name != name) return typed_error(type, errors::stream_name_mismatch());
    auto it = a.streams.find(name);
    if (it == a.streams.end()) return typed_error(type, errors::stream_not_found());
    for (auto& [n, s] : a.streams) {
        if (n == name) continue;
        for (auto& x : s->config().subjects)
            for (auto& y : cfg->subjects)
                if (overlap(x, y)) return typed_error(type, errors::subjects_overlap());
    }
    if (auto e = check_resources(a, *cfg)) return typed_error(type, *e);
    if (auto e = it->second->update(*cfg)) return typed_error(type, *e);
    link(a);  // sources added by the update start copying
    advise(a, name, "modify");
    if (!persist(a, *it->second, [this, r, answer = typed(type, it->second->info_json(false, ""))] {
            finish_later(r, answer);
        }))
        return typed_error(type, ApiError{500, 10049, "stream configuration could not be written"});
    return {};  // answered once its configuration is durable
}

std::string JetStream::stream_info(AccountState& a, const std::string& name,
                                   const std::string& body) {
    const std::string type = "stream_info_response";
    bool deleted_details = false;
    std::string filter;
    std::int64_t offset = 0;
    if (!is_empty_request(body)) {
        auto v = parse_body(body);
        if (!v || !v->is_object()) return typed_error(type, errors::invalid_json(), true);
        try {
            const auto& o = v->get_object();
            deleted_details = fields::boolean(o, "deleted_details");
            filter = fields::string(o, "subjects_filter");
            offset = fields::integer(o, "offset");
        } catch (const fields::BadField&) {
            return typed_error(type, errors::invalid_json(), true);
        }
    }
    auto it = a.streams.find(name);
    if (it == a.streams.end()) return typed_error(type, errors::stream_not_found(), true);
    json::object o{{"total", 0}, {"offset", 0}, {"limit", 0}};
    for (auto& kv : it->second->info_json(deleted_details, "")) o[kv.key()] = kv.value();
    if (ClusterView* c = cluster_.load()) o["cluster"] = c->stream_cluster_json(a.account->name(), name);
    if (!filter.empty()) {
        // Subject details, sorted, a page of at most 100000 from `offset` (nats-server).
        constexpr std::size_t kMaxSubjectDetails = 100'000;
        auto totals = it->second->store().subject_totals(filter);
        if (!totals.empty()) {
            const std::size_t from = std::min<std::size_t>(std::size_t(std::max<std::int64_t>(0, offset)), totals.size());
            json::object subs;
            std::size_t i = 0;
            for (auto& [k, n] : totals) {
                if (i >= from && i < from + kMaxSubjectDetails) subs[k] = n;
                ++i;
            }
            if (!subs.empty()) o["state"].get_object()["subjects"] = std::move(subs);
            o["total"] = totals.size();
            o["offset"] = from;
            o["limit"] = kMaxSubjectDetails;
        }
    }
    return typed(type, std::move(o));
}

std::string JetStream::stream_delete(AccountState& a, const std::string& name, const Request& r) {
    const std::string& body = r.payload;
    const std::string type = "stream_delete_response";
    if (!is_empty_request(body)) return typed_error(type, errors::not_empty_request());
    auto it = a.streams.find(name);
    if (it == a.streams.end()) return typed_error(type, errors::stream_not_found());
    auto stream = it->second;
    {
        std::unique_lock lk(a.streams_mu);
        a.streams.erase(it);
    }
    stream->close(true);
    // Its directory set aside first (durably), then its record erased; the answer and the
    // directory's removal once the erasure is durable. A crash in between: the next start
    // finds the set-aside directory and finishes the delete.
    const std::string gone = set_aside(a.dir + "/streams", name);
    advise(a, name, "delete");
    if (!a.stream_configs->erase(name, [this, r, gone, answer = typed(type, json::object{{"success", true}})] {
            std::error_code rc;
            if (!gone.empty()) fs::remove_all(gone, rc);
            finish_later(r, answer);
        }))
        return typed_error(type, ApiError{500, 10049, "stream configuration could not be written"});
    return {};
}

std::string JetStream::stream_purge(AccountState& a, const std::string& name,
                                    const std::string& body) {
    const std::string type = "stream_purge_response";
    auto fail = [&](const ApiError& e) {
        json::object o{{"error", error_json(e)}, {"purged", 0}};
        return typed(type, std::move(o));
    };
    auto req = parse_purge_request(body);
    if (!req) return fail(req.error());
    auto it = a.streams.find(name);
    if (it == a.streams.end()) return fail(errors::stream_not_found());
    if (auto e = purge_refused(it->second->config())) return fail(*e);
    std::uint64_t n = it->second->purge(req->filter, req->seq, req->keep);
    it->second->store().sync();  // answered once the purge is on disk: purged data stays gone
    return typed(type, json::object{{"success", true}, {"purged", n}});
}

std::string JetStream::stream_names(AccountState& a, const std::string& body, bool list) {
    const std::string type = list ? "stream_list_response" : "stream_names_response";
    // nats-server: names start as null, the list as []; errors carry the paging fields too.
    auto empty_items = [&] { return list ? json::value(json::array{}) : json::value(nullptr); };
    std::int64_t offset = 0;
    std::string subject;
    if (!is_empty_request(body)) {
        auto v = parse_body(body);
        bool ok = v && v->is_object();
        if (ok) {
            try {
                offset = std::max<std::int64_t>(0, fields::integer(v->get_object(), "offset"));
                subject = fields::string(v->get_object(), "subject");
            } catch (const fields::BadField&) {
                ok = false;
            }
        }
        if (!ok) {
            json::object o{{"error", error_json(errors::invalid_json())}, {"total", 0}, {"offset", 0}, {"limit", 0}};
            o["streams"] = empty_items();
            return typed(type, std::move(o));
        }
    }
    // The streams by name (as nats-server sorts): this server's, or in a cluster every one the
    // meta group assigned (a stream without a replica here is listed from its assignment).
    struct Listed {
        StreamConfig cfg;
        std::shared_ptr<Stream> local;
    };
    std::vector<Listed> all;
    ClusterView* cv = cluster_.load();
    if (cv) {
        for (const auto& n : cv->stream_names(a.account->name()))
            if (auto c = cv->stream_config(a.account->name(), n)) all.push_back({*c, find_stream(a, n)});
    } else {
        for (auto& [n, s] : a.streams) all.push_back({s->config(), s});
    }
    std::vector<Listed*> matched;
    for (auto& l : all) {
        bool ok = subject.empty();
        for (auto& x : l.cfg.subjects) ok = ok || overlap(x, subject);
        if (ok) matched.push_back(&l);
    }
    const std::int64_t limit = list ? 256 : 1024;
    offset = std::min<std::int64_t>(offset, std::int64_t(matched.size()));
    json::value items = empty_items();
    for (std::int64_t i = offset; i < std::int64_t(matched.size()) && i < offset + limit; ++i) {
        if (items.is_null()) items = json::array{};
        const Listed& l = *matched[std::size_t(i)];
        if (!list) {
            items.get_array().push_back(json::value(l.cfg.name));
            continue;
        }
        json::object info;
        if (l.local) {
            info = l.local->info_json(false, "");
        } else {
            info = json::object{{"config", to_json(l.cfg)},
                                {"created", rfc3339_ns(0)},
                                {"state", json::object{{"messages", 0}, {"bytes", 0}, {"first_seq", 0},
                                                       {"first_ts", rfc3339_ns(0)}, {"last_seq", 0},
                                                       {"last_ts", rfc3339_ns(0)}, {"consumer_count", 0}}}};
        }
        if (cv) info["cluster"] = cv->stream_cluster_json(a.account->name(), l.cfg.name);
        items.get_array().push_back(std::move(info));
    }
    json::object o{{"total", matched.size()}, {"offset", offset}, {"limit", limit}};
    o["streams"] = std::move(items);
    return typed(type, std::move(o));
}

std::string JetStream::msg_get(AccountState& a, const std::string& name, const std::string& body) {
    const std::string type = "stream_msg_get_response";
    // nats-server's order: the request, then the stream.
    if (is_empty_request(body)) return typed_error(type, errors::bad_request());
    auto v = parse_body(body);
    if (!v || !v->is_object()) return typed_error(type, errors::invalid_json());
    std::uint64_t seq = 0;
    std::string last, next;
    try {
        const auto& o = v->get_object();
        seq = std::uint64_t(fields::integer(o, "seq"));
        last = fields::string(o, "last_by_subj");
        next = fields::string(o, "next_by_subj");
    } catch (const fields::BadField&) {
        return typed_error(type, errors::invalid_json());
    }
    if ((seq > 0 && !last.empty()) || (seq == 0 && last.empty() && next.empty()) ||
        (!last.empty() && !next.empty()))
        return typed_error(type, errors::bad_request());
    auto it = a.streams.find(name);
    if (it == a.streams.end()) return typed_error(type, errors::stream_not_found());
    std::optional<StoredMsg> m;
    Store& st = it->second->store();
    if (!last.empty()) {
        m = st.load_last(last);
    } else if (!next.empty()) {
        m = st.load_next(next, seq);
    } else {
        m = st.load(seq);
    }
    if (!m) return typed_error(type, errors::no_message_found());
    json::object msg{{"subject", m->subject}, {"seq", m->seq}};
    // Go's omitempty: no "hdrs" or "data" for empty ones (a KV delete marker has no data).
    if (!m->hdr.empty()) msg["hdrs"] = base64(m->hdr);
    if (!m->data.empty()) msg["data"] = base64(m->data);
    msg["time"] = rfc3339_ns(m->ts);
    return typed(type, json::object{{"message", std::move(msg)}});
}

std::string JetStream::msg_delete(AccountState& a, const std::string& name,
                                  const std::string& body) {
    const std::string type = "stream_msg_delete_response";
    // nats-server's order: the request, the stream, its policies.
    auto req = parse_delete_request(body);
    if (!req) return typed_error(type, req.error());
    auto it = a.streams.find(name);
    if (it == a.streams.end()) return typed_error(type, errors::stream_not_found());
    const auto& cfg = it->second->config();
    if (auto e = delete_refused(cfg)) return typed_error(type, *e);
    Store& st = it->second->store();
    if (!(req->no_erase ? st.remove(req->seq) : st.erase(req->seq)))
        return typed_error(type, delete_not_found(cfg, st.state(), req->seq));
    st.sync();  // answered once the tombstone is on disk: a deleted message stays deleted
    return typed(type, json::object{{"success", true}});
}

void JetStream::direct_get(AccountState& a, const std::string& name, const std::string& subject,
                           const Request& r) {
    if (r.reply.empty()) return;
    std::shared_ptr<Stream> stream;
    {
        std::shared_lock lk(a.streams_mu);
        auto found = a.streams.find(name);
        if (found != a.streams.end()) stream = found->second;
    }
    auto status = [&](const char* text) {
        std::string hdr = std::string("NATS/1.0 ") + text + "\r\n\r\n";
        server::Message m{r.reply, {}, hdr, {}, nullptr};
        a.account->route_reply(m);
    };
    // A missing stream, or one without direct gets, does not answer (nats-server subscribes
    // only for streams that allow them).
    if (!stream || !stream->config().allow_direct) return;
    Store& st = stream->store();
    std::optional<StoredMsg> m;
    if (!subject.empty()) {
        m = st.load_last(subject);
    } else {
        if (is_empty_request(r.payload)) {
            status("408 Empty Request");
            return;
        }
        auto v = parse_body(r.payload);
        if (!v || !v->is_object()) {
            status("408 Malformed Request");
            return;
        }
        std::uint64_t seq = 0;
        std::string last, next;
        try {
            const auto& o = v->get_object();
            seq = std::uint64_t(fields::integer(o, "seq"));
            last = fields::string(o, "last_by_subj");
            next = fields::string(o, "next_by_subj");
        } catch (const fields::BadField&) {
            status("408 Malformed Request");
            return;
        }
        if ((seq > 0 && !last.empty()) || (seq == 0 && last.empty() && next.empty()) ||
            (!last.empty() && !next.empty())) {
            status("408 Bad Request");
            return;
        }
        if (!last.empty()) m = st.load_last(last);
        else if (!next.empty()) m = st.load_next(next, seq);
        else m = st.load(seq);
    }
    if (!m) {
        status("404 Message Not Found");
        return;
    }
    // The stored headers, then the Nats-* description of the message.
    std::string hdr = m->hdr.empty() ? std::string("NATS/1.0\r\n")
                                     : m->hdr.substr(0, m->hdr.size() - 2);
    hdr += "Nats-Stream: " + name + "\r\n";
    hdr += "Nats-Subject: " + m->subject + "\r\n";
    hdr += "Nats-Sequence: " + std::to_string(m->seq) + "\r\n";
    hdr += "Nats-Time-Stamp: " + rfc3339_ns(m->ts) + "\r\n\r\n";
    server::Message out{r.reply, {}, hdr, m->data, nullptr};
    a.account->route_reply(out);
}

}  // namespace osprey::jetstream
