// Consumers in a cluster: durable consumers of a replicated stream are created, updated and
// deleted through the stream's log (answered once the leader applied it), and every replica
// keeps their files; consumer info carries its "cluster" block. Runs on the API thread, but
// for the hooks, which run where the stream's entries apply (the Raft thread).
#include <filesystem>

#include <boost/json.hpp>

#include "jetstream/consumer/consumer.h"
#include "jetstream/jetstream.h"
#include "jetstream/api/jetstream_internal.h"
#include "jetstream/store/config_log.h"
#include "jetstream/stream/stream.h"
#include "server/account.h"
#include "util/log.h"

namespace osprey::jetstream {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

// A replica's consumer files sync lazily: the stream's log has every entry on a majority's
// disks, and is compacted only after the consumers' logs are synced.
constexpr std::int64_t kReplicaSyncMs = 1000;

// A replica's copy of a durable consumer's configuration: no one waits for it (the stream's
// log already holds it on a majority).
void write_consumer_meta(Stream& s, const Consumer& c) {
    if (!s.consumer_configs().put(c.name(), consumer_meta_text(c)))
        log::error("JetStream consumer {}: cannot write its configuration in {}", c.name(), s.dir());
}

}  // namespace

std::string consumer_meta_text(const Consumer& c) {
    json::object meta{{"config", to_json(c.config())},
                      {"created_ns", std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         c.created().time_since_epoch()).count()}};
    if (c.start_seq()) meta["start_seq"] = c.start_seq();
    return json::serialize(meta);
}

std::int64_t JetStream::consumer_sync_ms(const Stream& s) const {
    return s.replicated() ? std::max<std::int64_t>(opts_.sync_interval_ms, kReplicaSyncMs) : opts_.sync_interval_ms;
}

void JetStream::attach_consumer_hooks(AccountState& a, Stream& s) {
    Stream::ConsumerHooks h;
    std::weak_ptr<Stream> weak = s.weak_from_this();
    server::Account* account = a.account;
    h.make = [this, weak, account](const std::string& name, const ConsumerConfig& cfg,
                                   std::chrono::system_clock::time_point created) -> std::shared_ptr<Consumer> {
        auto st = weak.lock();
        if (!st) return nullptr;
        auto c = std::make_shared<Consumer>(st, *account, name, cfg, created);
        set_waker(*c);
        const std::string dir = st->dir() + "/consumers/" + name;
        try {
            c->attach_log(dir, consumer_sync_ms(*st));
        } catch (const std::exception& e) {
            log::error("JetStream consumer '{} > {} > {}': {}", account->name(), st->config().name, name, e.what());
            return nullptr;
        }
        write_consumer_meta(*st, *c);
        return c;
    };
    h.updated = [weak](Consumer& c) {
        if (auto st = weak.lock()) write_consumer_meta(*st, c);
    };
    h.removed = [weak](const std::string& name) {
        auto st = weak.lock();
        if (!st) return;
        st->consumer_configs().erase(name);
        st->consumer_states().erase(name);
        std::error_code ec;
        fs::remove_all(st->dir() + "/consumers/" + name, ec);
    };
    s.set_consumer_hooks(std::move(h));
}

json::object JetStream::consumer_info_json(AccountState& a, const Stream& s, Consumer& c) {
    json::object o = c.info_json();
    ClusterView* cv = cluster_.load();
    if (!cv) return o;
    json::object cl = cv->stream_cluster_json(a.account->name(), s.config().name);
    if (!c.replicated()) {
        // Not replicated (an ephemeral): it lives on this server alone, as nats-server's R1.
        json::object r1{{"name", cl.contains("name") ? cl["name"] : json::value("")}};
        r1["leader"] = srv_.server_name();
        cl = std::move(r1);
    }
    o["cluster"] = std::move(cl);
    return o;
}

std::string JetStream::propose_consumer(AccountState& a, const std::shared_ptr<Stream>& s, const std::string& name,
                                        const ConsumerConfig& cfg, std::chrono::system_clock::time_point created,
                                        const Request& r, bool is_new) {
    std::weak_ptr<Stream> weak = s;
    const std::string stream_name = s->config().name;
    s->propose_consumer(name, cfg, created, [this, ap = &a, weak, r, stream_name, name, is_new](std::shared_ptr<Consumer> c) {
        post([this, ap, weak, r, stream_name, name, is_new, c] {
            const std::string type = "consumer_create_response";
            auto st = weak.lock();
            if (!c || !st) return finish(r, typed_error(type, ApiError{500, 10012, "consumer could not be created"}));
            finish(r, typed(type, consumer_info_json(*ap, *st, *c)));
            if (is_new) advise(*ap, stream_name, "create", name);
        });
    });
    // Answered once applied; a leader that lost its place answers nothing (the client's retry
    // reaches the new one).
    return {};
}

std::string JetStream::propose_consumer_delete(AccountState& a, const std::shared_ptr<Stream>& s,
                                               const std::string& name, const Request& r) {
    const std::string stream_name = s->config().name;
    s->propose_consumer_delete(name, [this, ap = &a, r, stream_name, name](bool removed) {
        post([this, ap, r, stream_name, name, removed] {
            const std::string type = "consumer_delete_response";
            if (!removed) return finish(r, typed_error(type, ApiError{404, 10014, "consumer not found"}));
            finish(r, typed(type, json::object{{"success", true}}));
            advise(*ap, stream_name, "delete", name);
        });
    });
    return {};
}

}  // namespace osprey::jetstream
