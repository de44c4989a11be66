// JetStream in a cluster: which server answers which API request, the replies that wait for
// the meta group (stream create and delete), and the replicas the cluster layer opens on
// this server. Everything here runs on the API thread.
#include <filesystem>
#include <shared_mutex>

#include "jetstream/consumer/consumer.h"
#include "jetstream/jetstream.h"
#include "jetstream/api/jetstream_internal.h"
#include "jetstream/api/json_fields.h"
#include "server/account.h"
#include "server/client.h"
#include "util/log.h"

#include <fmt/format.h>

namespace osprey::jetstream {

namespace fs = std::filesystem;

JetStream::AccountState* JetStream::account_state(const std::string& name) {
    std::shared_lock lk(accounts_mu_);
    for (auto& a : accounts_)
        if (a->account->name() == name) return a.get();
    return nullptr;
}

std::shared_ptr<Stream> JetStream::open_replica(const std::string& account, const StreamConfig& cfg,
                                                std::chrono::system_clock::time_point created,
                                                const std::string& tag, StreamReplicator* replicator) {
    AccountState* a = account_state(account);
    if (!a) {
        log::error("JetStream cluster: stream '{} > {}' assigned here, but the account has no JetStream",
                   account, cfg.name);
        return nullptr;
    }
    if (auto it = a->streams.find(cfg.name); it != a->streams.end()) return it->second;
    const std::string dir = stream_dir(*a, cfg.name) + "~" + tag;
    // The replica's store may sync lazily: every entry it applies is on disk in the WAL
    // already (an ack waits for that on a majority), a crash replays what the store lost, and
    // the log is compacted only as far as the store has synced.
    const std::int64_t lazy = std::max<std::int64_t>(opts_.sync_interval_ms, 1000);
    auto s = Stream::open(*a->account, cfg, dir, created, lazy, {&usage_, &a->usage}, opts_.domain, replicator);
    if (s && (*s)->store().recovery().bad_records > 0) {
        // A damaged store serves nothing it cannot vouch for, but its holes would be served as
        // missing messages once this replica leads: it is set aside and rebuilt, from the log
        // and (beyond the log's snapshot) from the other replicas' stores.
        log::warn("JetStream cluster: stream '{} > {}': its store had {} damaged records; set aside in {}/msgs.damaged "
                  "and rebuilt from the other replicas",
                  account, cfg.name, (*s)->store().recovery().bad_records, dir);
        (*s)->close(false);
        std::error_code ec;
        fs::remove_all(dir + "/msgs.damaged", ec);
        fs::rename(dir + "/msgs", dir + "/msgs.damaged", ec);
        if (ec) fs::remove_all(dir + "/msgs", ec);
        s = Stream::open(*a->account, cfg, dir, created, lazy, {&usage_, &a->usage}, opts_.domain, replicator);
    }
    if (!s) {
        log::error("JetStream cluster: cannot open stream '{} > {}': {}", account, cfg.name, s.error().description);
        return nullptr;
    }
    attach_consumer_hooks(*a, **s);
    load_consumers(*a, **s);  // its durable consumers, passive until this replica leads
    std::unique_lock lk(a->streams_mu);
    a->streams[cfg.name] = *s;
    return *s;
}

void JetStream::close_replica(const std::string& account, const std::string& stream, bool erase) {
    AccountState* a = account_state(account);
    if (!a) return;
    std::shared_ptr<Stream> s;
    {
        std::unique_lock lk(a->streams_mu);
        auto it = a->streams.find(stream);
        if (it == a->streams.end()) return;
        s = it->second;
        a->streams.erase(it);
    }
    s->close(erase);
}

std::optional<ApiError> JetStream::update_replica(const std::string& account, const StreamConfig& cfg) {
    AccountState* a = account_state(account);
    if (!a) return std::nullopt;
    auto s = find_stream(*a, cfg.name);
    if (!s) return std::nullopt;
    return s->update(cfg);
}

void JetStream::reply_created(AccountState& a, const std::string& reply, const std::string& name,
                              std::optional<ApiError> err) {
    const std::string type = "stream_create_response";
    std::string out;
    if (err) {
        out = typed_error(type, *err);
        ++a.api_errors;
    } else if (auto s = find_stream(a, name)) {
        auto o = s->info_json(false, "", false);
        if (ClusterView* c = cluster_.load()) o["cluster"] = c->stream_cluster_json(a.account->name(), name);
        o["did_create"] = true;
        out = typed(type, std::move(o));
        advise(a, name, "create");
    } else if (auto cfg = cluster_.load() ? cluster_.load()->stream_config(a.account->name(), name) : std::nullopt) {
        // Placed on other servers (its placement left this one out): the new stream, empty.
        json::object o{{"config", to_json(*cfg)},
                       {"created", rfc3339_ns(now_unix_ns())},
                       {"state", json::object{{"messages", 0},
                                              {"bytes", 0},
                                              {"first_seq", 0},
                                              {"first_ts", "0001-01-01T00:00:00Z"},
                                              {"last_seq", 0},
                                              {"last_ts", "0001-01-01T00:00:00Z"},
                                              {"consumer_count", 0}}},
                       {"cluster", cluster_.load()->stream_cluster_json(a.account->name(), name)},
                       {"did_create", true}};
        out = typed(type, std::move(o));
        advise(a, name, "create");
    } else {
        out = typed_error(type, ApiError{500, 10049, "stream created elsewhere: not known on the meta leader"});
    }
    respond(a, reply, out);
}

// A replicated stream's purge: checked here as the single server checks it, then through
// the log; answered once this replica (the leader) applied it.
bool JetStream::purge_replicated(AccountState& a, Request& r, const std::shared_ptr<Stream>& s) {
    const std::string type = "stream_purge_response";
    auto fail = [&](const ApiError& e) {
        ++a.api_total;
        ++a.api_errors;
        respond(a, r.reply, typed(type, json::object{{"error", error_json(e)}, {"purged", 0}}));
        return true;
    };
    auto req = parse_purge_request(r.payload);
    if (!req) return fail(req.error());
    if (auto e = purge_refused(s->config())) return fail(*e);
    ++a.api_total;
    const bool ok = s->propose_purge(req->filter, req->seq, req->keep, [this, ap = &a, reply = r.reply](std::uint64_t purged) {
        post([this, ap, reply, purged] {
            respond(*ap, reply, typed("stream_purge_response", json::object{{"success", true}, {"purged", purged}}));
        });
    });
    if (!ok) --a.api_total;  // no longer the leader: the new one answers the retry
    return true;
}

bool JetStream::delete_replicated(AccountState& a, Request& r, const std::shared_ptr<Stream>& s) {
    const std::string type = "stream_msg_delete_response";
    auto fail = [&](const ApiError& e) {
        ++a.api_total;
        ++a.api_errors;
        respond(a, r.reply, typed_error(type, e));
        return true;
    };
    auto req = parse_delete_request(r.payload);
    if (!req) return fail(req.error());
    if (auto e = delete_refused(s->config())) return fail(*e);
    ++a.api_total;
    std::weak_ptr<Stream> weak = s;
    s->propose_delete(req->seq, req->no_erase, [this, ap = &a, reply = r.reply, seq = req->seq, weak](bool removed) {
        std::string out;
        auto st = weak.lock();
        if (removed || !st) out = typed("stream_msg_delete_response", json::object{{"success", removed}});
        else out = typed_error("stream_msg_delete_response", delete_not_found(st->config(), st->store().state(), seq));
        post([this, ap, reply, out] { respond(*ap, reply, out); });
    });
    return true;
}

// A stream's stepdown (a consumer's too: it leads where its stream leads), answered once the
// leadership moved.
void JetStream::step_down_replicated(AccountState& a, const std::string& reply, const std::string& stream,
                                     const std::string& type) {
    ++a.api_total;
    cluster_.load()->step_down_stream(a.account->name(), stream, [this, ap = &a, reply, type](std::optional<ApiError> e) {
        post([this, ap, reply, e, type] {
            respond(*ap, reply, e ? typed_error(type, *e) : typed(type, json::object{{"success", true}}));
        });
    });
}

bool JetStream::handle_clustered(AccountState& a, Request& r, const std::vector<std::string>& t) {
    ClusterView* c = cluster_.load();
    const std::string acc = a.account->name();
    const std::size_t n = t.size();
    auto is = [&](std::initializer_list<const char*> words) {
        if (n < 2 + words.size()) return false;
        std::size_t i = 2;
        for (auto* w : words)
            if (t[i++] != w) return false;
        return true;
    };
    // Removed from the cluster (SERVER.REMOVE): the others answer, this one no more.
    if (c->removed()) return true;
    const bool meta = c->is_meta_leader();
    auto answer = [&](const std::string& body) {
        ++a.api_total;
        if (body.find("\"error\":{") != std::string::npos) ++a.api_errors;
        respond(a, r.reply, body);
    };
    // A stream's own requests: its leader answers; when no server has it, the meta leader
    // says it is not found.
    auto stream_leader_answers = [&](const std::string& stream) {
        if (!c->stream_config(acc, stream)) return !meta;  // the meta leader's handler: not found
        auto s = find_stream(a, stream);
        // A leader without its lease answers nothing: another may lead already, and a read
        // must see every acknowledged write (the client asks again).
        return !(s && (!s->replicated() || (s->leading() && s->may_serve())));
    };
    if (n == 3 && t[2] == "INFO") return !meta;
    if (n == 5 && is({"STREAM", "CREATE"})) {
        if (!meta) return true;
        const std::string type = "stream_create_response";
        auto v = parse_body(r.payload);
        if (!v) return answer(typed_error(type, errors::invalid_json())), true;
        auto cfg = parse_stream_config(*v, t[4]);
        if (!cfg) return answer(typed_error(type, cfg.error())), true;
        if (cfg->name.find_first_of("/\\") != std::string::npos)
            return answer(typed_error(type, errors::name_has_separators())), true;
        auto checked = validate(*cfg, lookup_in(a));
        if (!checked) return answer(typed_error(type, checked.error())), true;
        *cfg = std::move(*checked);
        if (cfg->mirror || !cfg->sources.empty())
            return answer(typed_error(type, errors::invalid_config(
                                                "mirrors and sources in a cluster are not supported by osprey yet"))),
                   true;
        if (auto existing = c->stream_config(acc, cfg->name)) {
            if (!same_config(*existing, *cfg)) return answer(typed_error(type, errors::stream_name_exists())), true;
            reply_created(a, r.reply, cfg->name, std::nullopt);
            ++a.api_total;
            return true;
        }
        for (const auto& other : c->stream_names(acc))
            if (auto oc = c->stream_config(acc, other))
                for (auto& x : oc->subjects)
                    for (auto& y : cfg->subjects)
                        if (overlap(x, y)) return answer(typed_error(type, errors::subjects_overlap())), true;
        if (a.limits.max_streams > 0 && std::int64_t(c->stream_names(acc).size()) >= a.limits.max_streams)
            return answer(typed_error(type, errors::max_streams())), true;
        if (auto e = check_resources(a, *cfg)) return answer(typed_error(type, *e)), true;
        ++a.api_total;
        c->create_stream(acc, *cfg, [this, ap = &a, reply = r.reply, name = cfg->name](std::optional<ApiError> e) {
            post([this, ap, reply, name, e] { reply_created(*ap, reply, name, e); });
        });
        return true;
    }
    if (n == 5 && is({"STREAM", "DELETE"})) {
        if (!meta) return true;
        const std::string type = "stream_delete_response";
        if (!is_empty_request(r.payload)) return answer(typed_error(type, errors::not_empty_request())), true;
        if (!c->stream_config(acc, t[4])) return answer(typed_error(type, errors::stream_not_found())), true;
        ++a.api_total;
        c->delete_stream(acc, t[4], [this, ap = &a, reply = r.reply, name = t[4]](std::optional<ApiError> e) {
            post([this, ap, reply, e, name] {
                const std::string type = "stream_delete_response";
                respond(*ap, reply, e ? typed_error(type, *e) : typed(type, json::object{{"success", true}}));
                if (!e) advise(*ap, name, "delete");
            });
        });
        return true;
    }
    if (n == 5 && is({"STREAM", "UPDATE"})) {
        if (!meta) return true;
        const std::string type = "stream_update_response";
        auto v = parse_body(r.payload);
        if (!v) return answer(typed_error(type, errors::invalid_json())), true;
        auto cfg = parse_stream_config(*v, "");
        if (!cfg) return answer(typed_error(type, cfg.error())), true;
        auto checked = validate(*cfg, lookup_in(a));
        if (!checked) return answer(typed_error(type, checked.error())), true;
        *cfg = std::move(*checked);
        if (cfg->name != t[4]) return answer(typed_error(type, errors::stream_name_mismatch())), true;
        auto existing = c->stream_config(acc, t[4]);
        if (!existing) return answer(typed_error(type, errors::stream_not_found())), true;
        if (auto e = check_update(*existing, *cfg)) return answer(typed_error(type, *e)), true;
        for (const auto& other : c->stream_names(acc)) {
            if (other == cfg->name) continue;
            if (auto oc = c->stream_config(acc, other))
                for (auto& x : oc->subjects)
                    for (auto& y : cfg->subjects)
                        if (overlap(x, y)) return answer(typed_error(type, errors::subjects_overlap())), true;
        }
        if (auto e = check_resources(a, *cfg)) return answer(typed_error(type, *e)), true;
        ++a.api_total;
        c->update_stream(acc, *cfg, [this, ap = &a, reply = r.reply, name = cfg->name, cfg = *cfg](std::optional<ApiError> e) {
            post([this, ap, reply, name, e, cfg] {
                const std::string type = "stream_update_response";
                if (e) return respond(*ap, reply, typed_error(type, *e));
                json::object o;
                if (auto s = find_stream(*ap, name)) o = s->info_json(false, "");
                else o = json::object{{"config", to_json(cfg)}};
                if (ClusterView* cv = cluster_.load()) o["cluster"] = cv->stream_cluster_json(ap->account->name(), name);
                respond(*ap, reply, typed(type, std::move(o)));
                advise(*ap, name, "modify");
            });
        });
        return true;
    }
    if (n == 4 && is({"STREAM", "NAMES"})) return !meta;  // from the assignments
    if (n == 4 && is({"STREAM", "LIST"})) return !meta;
    if (n == 5 && is({"META", "LEADER", "STEPDOWN"})) {
        if (!meta) return true;
        ++a.api_total;
        c->step_down_meta([this, ap = &a, reply = r.reply](std::optional<ApiError> e) {
            post([this, ap, reply, e] {
                const std::string type = "meta_leader_stepdown_response";
                respond(*ap, reply, e ? typed_error(type, *e) : typed(type, json::object{{"success", true}}));
            });
        });
        return true;
    }
    if (n == 6 && is({"STREAM", "LEADER", "STEPDOWN"})) {
        if (stream_leader_answers(t[5])) return true;
        if (!c->stream_config(acc, t[5])) return false;
        step_down_replicated(a, r.reply, t[5], "stream_leader_stepdown_response");
        return true;
    }
    if ((n == 5 && (is({"STREAM", "PURGE"}))) || (n == 6 && is({"STREAM", "MSG", "DELETE"}))) {
        const std::string& stream = t[2 + (n == 5 ? 2 : 3)];
        if (stream_leader_answers(stream)) return true;
        auto s = find_stream(a, stream);
        if (!s || !s->replicated()) return false;
        return n == 5 ? purge_replicated(a, r, s) : delete_replicated(a, r, s);
    }
    // A stream's replica moves (the meta leader commits the new placement; the stream's
    // leader moves its voters); a server leaves the meta group (its replicas move first).
    if (n == 6 && is({"STREAM", "PEER", "REMOVE"})) {
        if (!meta) return true;  // nats-server's meta leader answers it
        const std::string type = "stream_remove_peer_response";
        if (is_empty_request(r.payload)) return answer(typed_error(type, ApiError{400, 10003, "bad request"})), true;
        auto v = parse_body(r.payload);
        if (!v) return answer(typed_error(type, errors::invalid_json())), true;
        if (!c->stream_config(acc, t[5])) return answer(typed_error(type, errors::stream_not_found())), true;
        std::string peer;
        if (v->is_object())
            if (auto it = v->get_object().find("peer"); it != v->get_object().end() && it->value().is_string())
                peer = std::string(it->value().get_string());
        if (peer.empty()) return answer(typed_error(type, ApiError{400, 10003, "bad request"})), true;
        ++a.api_total;
        c->remove_stream_peer(acc, t[5], peer, [this, ap = &a, reply = r.reply](std::optional<ApiError> e) {
            post([this, ap, reply, e] {
                const std::string type = "stream_remove_peer_response";
                respond(*ap, reply, e ? typed_error(type, *e) : typed(type, json::object{{"success", true}}));
            });
        });
        return true;
    }
    if (n == 4 && is({"SERVER", "REMOVE"})) {
        if (!meta) return true;
        const std::string type = "meta_server_remove_response";
        if (is_empty_request(r.payload)) return answer(typed_error(type, ApiError{400, 10003, "bad request"})), true;
        auto v = parse_body(r.payload);
        if (!v) return answer(typed_error(type, errors::invalid_json())), true;
        auto text = [&](const char* k) {
            if (!v->is_object()) return std::string();
            auto it = v->get_object().find(k);
            return it != v->get_object().end() && it->value().is_string() ? std::string(it->value().get_string())
                                                                          : std::string();
        };
        const std::string name = text("peer"), peer_id = text("peer_id");
        if (name.empty() && peer_id.empty())
            return answer(typed_error(type, ApiError{400, 10044, "server is not a member of the cluster"})), true;
        ++a.api_total;
        c->remove_server(name, peer_id, [this, ap = &a, reply = r.reply](std::optional<ApiError> e) {
            post([this, ap, reply, e] {
                const std::string type = "meta_server_remove_response";
                respond(*ap, reply, e ? typed_error(type, *e) : typed(type, json::object{{"success", true}}));
            });
        });
        return true;
    }
    if (n == 7 && is({"CONSUMER", "LEADER", "STEPDOWN"})) {
        // A consumer leads where its stream leads: its stepdown is the stream's. One that is not
        // replicated (an ephemeral, on one server) has nothing to hand over (nats-server: R1).
        auto s = find_stream(a, t[5]);
        auto cons = s ? s->find_consumer(t[6]) : nullptr;
        const std::string type = "consumer_leader_stepdown_response";
        if (cons && !cons->replicated()) return answer(typed(type, json::object{{"success", true}})), true;
        if (stream_leader_answers(t[5])) return true;
        if (!c->stream_config(acc, t[5])) return answer(typed_error(type, errors::stream_not_found())), true;
        if (!cons) return answer(typed_error(type, ApiError{404, 10014, "consumer not found"})), true;
        step_down_replicated(a, r.reply, t[5], type);
        return true;
    }
    // A consumer that is not replicated is answered by the server that has it, leader or not.
    if ((n == 6 && (is({"CONSUMER", "INFO"}) || is({"CONSUMER", "DELETE"}))) || (n == 7 && is({"CONSUMER", "MSG", "NEXT"}))) {
        const bool next = n == 7;
        if (auto s = find_stream(a, next ? t[5] : t[4]))
            if (auto cons = s->find_consumer(next ? t[6] : t[5]); cons && !cons->replicated()) return false;
    }
    // The rest names its stream at t[4] (STREAM.INFO, MSG.GET, DIRECT.GET, CONSUMER.CREATE,
    // CONSUMER.INFO/DELETE/NAMES/LIST) or t[5] (CONSUMER.DURABLE.CREATE, CONSUMER.MSG.NEXT).
    std::string stream;
    if ((n >= 7 && is({"CONSUMER", "DURABLE", "CREATE"})) || (n == 7 && is({"CONSUMER", "MSG", "NEXT"})) ||
        (n == 6 && is({"STREAM", "MSG", "GET"})))
        stream = t[5];
    else if (n >= 5)
        stream = t[4];
    if (stream.empty()) return !meta;
    if (n == 5 && is({"STREAM", "INFO"})) {
        // Between two leaders (a stepdown, an election) nobody would answer: the group's
        // elected leader answers before it has caught up with its term, and with no leader
        // known the meta leader answers from its own replica (no "leader" in the cluster
        // block), as nats-server does.
        auto s = find_stream(a, stream);
        if (s && s->replicated() && !s->leading())
            switch (c->stream_group_leader(acc, stream)) {
                case ClusterView::GroupLeader::self: return false;
                case ClusterView::GroupLeader::none: return !meta;
                case ClusterView::GroupLeader::other: return true;
            }
    }
    return stream_leader_answers(stream);
}

}  // namespace osprey::jetstream
