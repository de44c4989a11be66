// JetStream's monitoring: /jsz, the "jetstream" member of /varz and the counts they share,
// with nats-server 2.9.10's field names.
#include <sys/statvfs.h>
#include <unistd.h>

#include <shared_mutex>

#include "jetstream/consumer/consumer.h"
#include "jetstream/jetstream.h"
#include "jetstream/api/jetstream_internal.h"
#include "server/account.h"
#include "server/monitor.h"

namespace osprey::jetstream {

std::uint64_t JetStream::consumer_count(AccountState& a) {
    std::uint64_t n = 0;
    std::shared_lock lk(a.streams_mu);
    for (auto& [name, s] : a.streams) n += s->consumer_count();
    return n;
}

// The limits in force: the configured ones, or what nats-server assumes without them (three
// quarters of the memory, three quarters of the free space of the store's file system).
json::object JetStream::config_json() const {
    std::int64_t mem = opts_.max_memory, file = opts_.max_file;
    if (mem <= 0) mem = std::int64_t(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGE_SIZE) / 4 * 3;
    if (file <= 0) {
        struct statvfs fs{};
        if (::statvfs(opts_.store_dir.c_str(), &fs) == 0) file = std::int64_t(fs.f_bavail) * std::int64_t(fs.f_frsize) / 4 * 3;
    }
    json::object cfg{{"max_memory", mem}, {"max_storage", file}, {"store_dir", opts_.store_dir + "/jetstream"}};
    if (!opts_.domain.empty()) cfg["domain"] = opts_.domain;
    if (opts_.max_memory > 0 && opts_.max_file > 0) cfg["compress_ok"] = true;
    return cfg;
}

void JetStream::set_cluster(ClusterView* c) {
    cluster_ = c;
    // nats-server's /healthz in a cluster: unavailable until the meta group has a leader
    // (what Kubernetes probes wait for); js-enabled-only skips the check.
    srv_.monitor().set_health_check([this](const std::map<std::string, std::string>& q) -> std::string {
        ClusterView* cv = cluster_.load();
        if (!cv) return {};
        auto flag = [&](const char* k) {
            auto it = q.find(k);
            return it != q.end() && (it->second == "true" || it->second == "1");
        };
        if (flag("js-enabled-only") || flag("js-enabled")) return {};
        if (cv->removed()) return "JetStream is disabled: this server was removed from the cluster";
        if (!cv->meta_ready()) return "JetStream has not established contact with a meta leader";
        return {};
    });
}

std::string JetStream::varz_section() {
    std::uint64_t mem = 0, store = 0, total = 0, errs = 0;
    std::shared_lock alk(accounts_mu_);
    for (auto& a : accounts_) {
        std::shared_lock lk(a->streams_mu);
        for (auto& [n, s] : a->streams)
            (s->config().storage == StorageType::Memory ? mem : store) += s->store().state().bytes;
        total += a->api_total;
        errs += a->api_errors;
    }
    json::object stats{{"memory", mem},         {"storage", store},
                       {"reserved_memory", 0},  {"reserved_storage", 0},
                       {"accounts", accounts_.size()}, {"ha_assets", cluster_.load() ? 1 : 0},
                       {"api", json::object{{"total", total}, {"errors", errs}}}};
    json::object o{{"config", config_json()}, {"stats", std::move(stats)}};
    if (ClusterView* c = cluster_.load()) o["meta"] = c->meta_cluster_json();
    return json::serialize(o);
}

std::string JetStream::jsz(const std::map<std::string, std::string>& q) {
    auto flag = [&](const char* k) {
        auto it = q.find(k);
        return it != q.end() && (it->second == "1" || it->second == "true");
    };
    const bool with_streams = flag("streams"), with_config = flag("config");
    const bool with_accounts = flag("accounts") || with_streams;
    std::uint64_t mem = 0, store = 0, streams = 0, consumers = 0, msgs = 0, bytes = 0, total = 0, errs = 0;
    json::array details;
    std::shared_lock alk(accounts_mu_);
    for (auto& a : accounts_) {
        std::uint64_t amem = 0, astore = 0;
        json::array sd;
        consumers += consumer_count(*a);
        std::shared_lock lk(a->streams_mu);
        for (auto& [n, s] : a->streams) {
            auto st = s->store().state();
            (s->config().storage == StorageType::Memory ? amem : astore) += st.bytes;
            ++streams;
            msgs += st.msgs;
            bytes += st.bytes;
            if (with_streams) {
                json::object d{{"name", n},
                               {"created", rfc3339_ns(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                               s->created().time_since_epoch()).count())},
                               {"cluster", json::object{{"leader", srv_.server_id()}}}};
                if (with_config) d["config"] = to_json(s->config());
                d["state"] = s->state_json(false, "");
                // Osprey's addition: what recovery had to skip or cut at the last start.
                auto rep = s->store().recovery();
                if (rep.bad_records || rep.truncated_bytes) {
                    json::array notes;
                    for (auto& t : rep.notes) notes.push_back(json::value(t));
                    d["recovery"] = json::object{{"damaged_records", rep.bad_records},
                                                 {"truncated_bytes", rep.truncated_bytes},
                                                 {"notes", std::move(notes)}};
                }
                sd.push_back(std::move(d));
            }
        }
        mem += amem;
        store += astore;
        total += a->api_total;
        errs += a->api_errors;
        if (with_accounts) {
            json::object ad{{"name", a->account->name()}, {"id", a->account->name()},
                            {"memory", amem}, {"storage", astore},
                            {"reserved_memory", 0}, {"reserved_storage", 0},
                            {"accounts", 0}, {"ha_assets", 0},
                            {"api", json::object{{"total", a->api_total.load()},
                                                 {"errors", a->api_errors.load()}}}};
            if (with_streams) ad["stream_detail"] = std::move(sd);
            details.push_back(std::move(ad));
        }
    }
    json::object cfg = config_json();
    cfg["sync_interval"] = opts_.sync_interval_ms * 1000000;  // osprey's addition
    if (!opts_.domain.empty()) cfg["domain"] = opts_.domain;
    json::object o{{"server_id", srv_.server_id()},
                   {"now", rfc3339_ns(now_unix_ns())},
                   {"config", std::move(cfg)},
                   {"memory", mem},
                   {"storage", store},
                   {"reserved_memory", 0},
                   {"reserved_storage", 0},
                   {"accounts", accounts_.size()},
                   {"ha_assets", cluster_.load() ? 1 : 0},  // the meta group
                   {"api", json::object{{"total", total}, {"errors", errs}}},
                   {"streams", streams},
                   {"consumers", consumers},
                   {"messages", msgs},
                   {"bytes", bytes}};
    if (ClusterView* c = cluster_.load()) o["meta_cluster"] = c->meta_cluster_json();
    if (with_accounts) o["account_details"] = std::move(details);
    return json::serialize(o);
}

}  // namespace osprey::jetstream
