// Operator mode's accounts (nats-server's accounts from JWTs): built from the resolver at
// start, and changed while running when an account JWT is pushed (`nsc push`): limits,
// exports and imports, JetStream for an account that had none, and the connections of the
// account checked again (revoked users and connections over a lowered limit are closed).
#include <algorithm>
#include <chrono>
#include <set>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include "server/account.h"
#include "server/auth/checks.h"
#include "server/auth/connect.h"
#include "server/auth/nkey.h"
#include "server/client.h"
#include "server/internal_handler.h"
#include "server/operator_state.h"
#include "subjects/subject.h"
#include "util/log.h"
#include "util/random.h"

namespace osprey::server {

void Server::build_jwt_accounts() {
    if (!opts_.operator_mode()) return;
    op_ = std::make_unique<Operator>();
    for (const auto& j : opts_.trusted_operators)
        if (auto c = auth::decode_operator(j)) op_->operators.push_back(std::move(*c));
    op_->trust = auth::trusted_keys(op_->operators);
    op_->trust.keys.insert(op_->trust.keys.end(), opts_.trusted_keys.begin(), opts_.trusted_keys.end());
    if (opts_.resolver.empty()) return;  // trusted keys alone: no account can be found
    std::lock_guard lk(op_->mu);
    if (opts_.resolver == "FULL" || opts_.resolver == "CACHE") {
        // The directory: every account (full), or what was fetched before within its ttl
        // (cache; the rest is fetched when a user logs in). Preloads go into it unless it has
        // a newer JWT of that account (nats-server's saveIfNewer).
        const bool cache = opts_.resolver == "CACHE";
        op_->dir = std::make_unique<auth::JwtDirStore>(opts_.resolver_dir, opts_.resolver_limit, cache,
                                                       opts_.resolver_ttl_ms);
        for (const auto& [name, jwt] : opts_.resolver_preload)
            if (auto err = op_->dir->save_if_newer(name, jwt); !err.empty())
                log::warn("Preloaded account [{}] not stored: {}", name, err);
        log::notice("Managing {} jwt in exclusive directory {}", cache ? "some" : "all", opts_.resolver_dir);
        for (const auto& name : op_->dir->list())
            if (auto jwt = op_->dir->load(name)) op_->jwts[name] = *jwt;
    } else {
        for (const auto& [name, jwt] : opts_.resolver_preload) op_->jwts[name] = jwt;
    }
    // Every account the resolver knows exists from the start, with its exports, imports and
    // limits, before any connection routes a message. Whether an account may be used
    // (trust, expiry) is checked at each CONNECT, as nats-server's lookup.
    wire_jwt_accounts_locked(unix_now(), true);
}

void Server::wire_jwt_accounts_locked(std::int64_t now, bool at_start) {
    struct Loaded {
        Account* account;
        auth::AccountClaims claims;
        std::vector<ExportDef> exports;
        std::vector<std::size_t> from;  // exports[k] is claims.exports[from[k]]
    };
    std::vector<Loaded> loaded;
    for (const auto& [name, jwt] : op_->jwts) {
        auto a = auth::decode_account(jwt);
        if (!a) continue;
        if (at_start) {
            const auth::ValidationResults vr = auth::validate(*a, now);
            if (vr.is_blocking(true)) {
                log::warn("Account [{}] has validation issues:", name);
                for (const auto& i : vr.issues) log::warn("  - {}", i.description);
            }
        }
        Account* acc = add_account(name);
        acc->max_connections.store(a->limits.conn, std::memory_order_relaxed);
        Loaded l{acc, std::move(*a), {}, {}};
        for (std::size_t k = 0; k < l.claims.exports.size(); ++k) {
            const auto& e = l.claims.exports[k];
            if (e.is_null || e.type == auth::ExportType::Unknown) continue;
            l.from.push_back(k);
            ExportDef d;
            d.service = e.type == auth::ExportType::Service;
            d.subject = e.subject;
            d.token_required = e.token_req;
            d.response = e.response_type == "Stream" ? "stream" : e.response_type == "Chunked" ? "chunked" : "singleton";
            l.exports.push_back(std::move(d));
        }
        loaded.push_back(std::move(l));
    }
    auto find_loaded = [&](const std::string& name) -> Loaded* {
        for (auto& l : loaded)
            if (l.account->name() == name) return &l;
        return nullptr;
    };
    // Imports of token-required exports: the importer is admitted by a valid activation.
    std::vector<std::pair<Loaded*, ImportDef>> wires;
    for (auto& l : loaded) {
        for (const auto& i : l.claims.imports) {
            if (i.is_null || i.type == auth::ExportType::Unknown) continue;
            Loaded* exp = find_loaded(i.account);
            if (!exp) {
                log::error("Can't locate account [{}] for import of [{}] {} (err=account missing)", i.account,
                           i.subject, auth::export_type_name(i.type));
                continue;
            }
            const bool service = i.type == auth::ExportType::Service;
            ImportDef d;
            d.service = service;
            d.account = i.account;
            if (service) {
                d.subject = i.local_subject.empty() ? (i.to.empty() ? i.subject : i.to) : i.subject;
                d.to = i.local_subject.empty() ? i.subject : i.local_subject;
            } else {
                d.subject = i.subject;
                if (!i.local_subject.empty()) d.to = i.local_subject;
                else d.prefix = i.to;
            }
            bool ok = true;
            for (std::size_t k = 0; k < exp->exports.size(); ++k) {
                const auto& e = exp->claims.exports[exp->from[k]];
                auto& ed = exp->exports[k];
                if (ed.service != service || !subjects::is_subset(d.subject, ed.subject)) continue;
                if (e.account_token_position > 0 &&
                    !auth::account_token_position_ok(e, d.subject, l.account->name()))
                    ok = false;
                if (ed.token_required && !i.token.empty()) {
                    auto act = auth::check_activation(i, l.account->name(), i.account,
                                                      auth::account_signing_keys(exp->claims, false), &e, now);
                    if (act) ed.accounts.push_back(l.account->name());
                    else log::debug("Activation of import {} for {} refused: {}", i.subject, l.account->name(), act.error());
                }
            }
            if (ok) wires.emplace_back(&l, std::move(d));
        }
    }
    // All at once, as the exports and imports of one JWT may concern any other: the old
    // wiring goes, then the new one comes (a message crossing an import at that instant may
    // miss it, as one crossing nats-server's removal and re-adding of an account's imports).
    for (auto& l : loaded) l.account->unwire_imports();
    for (auto& l : loaded) l.account->set_exports(l.exports);
    for (auto& [l, d] : wires) {
        Account* exporter = find_account(d.account);
        std::string err = wire_import(*l->account, *exporter, d);
        if (!err.empty()) log::debug("Error adding import to account [{}]: {}", l->account->name(), err);
    }
}

std::optional<Server::JetStreamAccount> Server::jetstream_of(Account* acc, const auth::AccountClaims& a) const {
    // JetStream when the JWT grants storage; tiered limits are taken from the R1 tier.
    if (!acc || !a.limits.jetstream_enabled()) return std::nullopt;
    auth::JetStreamLimits l = a.limits.jetstream;
    if (!a.limits.tiered.empty()) {
        auto it = a.limits.tiered.find("R1");
        if (it == a.limits.tiered.end()) return std::nullopt;
        l = it->second;
    }
    return JetStreamAccount{acc, l.mem_storage, l.disk_storage, l.streams, l.consumer};
}

Server::ClaimsReply Server::update_claims(std::string_view jwt, const std::string& subject_account) {
    ClaimsReply r;
    auto fail = [&](std::string account, std::string message, std::string error) {
        r.code = 500;
        r.account = std::move(account);
        r.message = std::move(message);
        r.error = std::move(error);
        return r;
    };
    if (!op_ || opts_.resolver.empty()) return fail(subject_account, "jwt update resulted in error", "no resolver");
    const std::int64_t now = unix_now();
    if (opts_.resolver == "MEMORY") {
        // nats-server's accountClaimUpdate: only the accounts it has; the issuer is checked.
        if (jwt.empty()) return fail(subject_account, "jwt update error", "request body is empty");
        auto c = auth::decode_account(jwt);
        if (!c) return fail(subject_account, "jwt update resulted in error", c.error());
        if (c->claims.sub != subject_account)
            return fail(subject_account, "jwt update resulted in error", "subject does not match jwt content");
        std::lock_guard lk(op_->mu);
        r.account = subject_account;
        if (!op_->jwts.contains(subject_account)) {
            r.message = "jwt update skipped";
            return r;
        }
        auto v = auth::verify_account(jwt, subject_account, op_->trust, now);
        if (!v) return fail(subject_account, "jwt update resulted in error", "account validation failed");
        install_locked(subject_account, std::string(jwt), *v, now);
        r.message = "jwt updated";
        return r;
    }
    // DirAccResolver / CacheDirAccResolver: the claim's own validation (time checks do not
    // block), its subject, a strict operator's own key; the cache only for accounts it has.
    const bool cache = opts_.resolver == "CACHE";
    const std::string err_text = cache ? "jwt update cache resulted in error" : "jwt update resulted in error";
    auto c = auth::decode_account(jwt);
    if (!c) return fail(cache && !subject_account.empty() ? subject_account : "n/a", err_text, c.error());
    const std::string account = subject_account.empty() ? c->claims.sub : subject_account;
    if (!subject_account.empty() && c->claims.sub != subject_account)
        return fail(subject_account, err_text, "subject does not match jwt content");
    for (const auto& op : op_->operators)
        if (op.strict_signing_key_usage && op.claims.sub == c->claims.iss)
            return fail(account, err_text, "operator requires issuer to be a signing key");
    std::lock_guard lk(op_->mu);
    if (cache && !op_->jwts.contains(account)) {
        r.account = account;
        r.message = "jwt update cache skipped";
        return r;
    }
    const auth::ValidationResults vr = auth::validate(*c, now);
    if (vr.is_blocking(false)) {
        std::string list;
        for (const auto& e : vr.errors()) list += (list.empty() ? "" : " ") + e;
        return fail(c->claims.sub, cache ? "jwt update cache validation failed" : "jwt validation failed",
                    "validation errors: [" + list + "]");
    }
    if (auto err = op_->dir->save(account, std::string(jwt)); !err.empty()) return fail(account, err_text, err);
    r.account = account;
    r.message = cache ? "jwt updated cache" : "jwt updated";
    // In force only once it verifies (trusted issuer, not expired); else it stays stored and
    // the accounts keep what they had (nats-server: "update resulted in error").
    auto v = auth::verify_account(jwt, account, op_->trust, now);
    if (!v) {
        log::error("update resulted in error {}", v.error());
        return r;
    }
    install_locked(account, std::string(jwt), *v, now);
    return r;
}

void Server::install_locked(const std::string& account, std::string jwt, const auth::AccountClaims& claims,
                            std::int64_t now) {
    const bool is_new = !op_->jwts.contains(account);
    op_->jwts[account] = std::move(jwt);
    wire_jwt_accounts_locked(now, false);
    Account* acc = find_account(account);
    if (!acc) return;
    if (account != opts_.system_account && js_account_hook_) {
        if (auto ja = jetstream_of(acc, claims)) js_account_hook_(*ja, true);
        else js_account_hook_(JetStreamAccount{acc}, false);
    }
    if (!is_new) recheck_clients(*acc, claims);
}

void Server::recheck_clients(Account& acc, const auth::AccountClaims& claims) {
    // updateAccountClaimsWithRefresh on the local clients: over a lowered connection limit the
    // oldest go ("maximum account active connections exceeded"); a revoked user goes ("User
    // Authentication Revoked").
    struct Held {
        std::shared_ptr<Client> c;
        std::chrono::system_clock::time_point start;
    };
    std::vector<Held> held;
    for (auto& c : clients()) {
        auto i = c->info(false);
        if (i.account == acc.name()) held.push_back({c, i.start});
    }
    std::sort(held.begin(), held.end(), [](const Held& a, const Held& b) { return a.start > b.start; });
    const std::int64_t max = claims.limits.conn;
    auto revocations = claims.revocations;
    Account* target = &acc;
    const std::int64_t acc_subs = claims.limits.subs, acc_payload = claims.limits.payload;
    const std::int64_t srv_subs = opts_.max_subs > 0 ? opts_.max_subs : -1, srv_payload = opts_.max_payload;
    auto signers = std::make_shared<const auth::SigningKeys>(
        auth::account_signing_keys(claims, op_->trust.strict_signing_keys.contains(claims.claims.iss)));
    for (std::size_t k = 0; k < held.size(); ++k) {
        const bool over = max >= 0 && std::int64_t(k) >= max;
        held[k].c->recheck([=](Client& c) -> std::optional<Client::Verdict> {
            if (c.current_account() != target) return std::nullopt;
            if (over) return Client::Verdict{"maximum account active connections exceeded", CloseReason::MaxAccountConnections};
            if (auth::is_revoked(revocations, c.auth_user(), c.jwt_iat()))
                return Client::Verdict{"User Authentication Revoked", CloseReason::Revocation};
            // A user issued by a signing key the account no longer has (nats-server closes
            // it without an -ERR).
            if (!c.user_signer().empty() && !auth::find_signing_key(*signers, c.user_signer()))
                return Client::Verdict{"", CloseReason::AuthViolation};
            // applyAccountLimits: the user's, the account's and the server's, the least.
            const std::int64_t subs = auth::min_limit(auth::min_limit(c.user_max_subs(), acc_subs), srv_subs);
            const std::int64_t payload = auth::min_limit(auth::min_limit(c.user_max_payload(), acc_payload), srv_payload);
            c.set_jwt_limits(subs, payload);
            if (subs >= 0 && std::int64_t(c.num_subs()) >= subs)
                return Client::Verdict{"maximum subscriptions exceeded", CloseReason::MaxSubscriptions};
            return std::nullopt;
        });
    }
}


void Server::fetch_account(const std::string& account, std::function<void()> done) {
    Account* sys = system_account();
    if (!sys || loops_.empty()) {
        done();
        return;
    }
    struct State {
        std::atomic<bool> over{false};
        std::function<void()> done;
        std::shared_ptr<InternalHandler> inbox;
        std::unique_ptr<boost::asio::steady_timer> timer;
    };
    auto st = std::make_shared<State>();
    st->done = std::move(done);
    st->inbox = std::make_shared<InternalHandler>();
    st->inbox->subject = "$SYS._INBOX." + server_id_ + "." + util::random_token(8);
    st->timer = std::make_unique<boost::asio::steady_timer>(*loops_[0]);
    // Ends the fetch once: the inbox leaves the sublist and the timer stops on loop 0 (not on
    // the delivering thread), then `done`. The timer's handler owns the state until it runs.
    auto finish = [](Server* srv, Account* acc, const std::shared_ptr<State>& s) {
        boost::asio::post(*srv->loops_[0], [acc, s] {
            acc->sublist().remove(s->inbox);
            s->timer->cancel();
        });
        s->done();
    };
    std::weak_ptr<State> weak = st;
    st->inbox->fn = [this, sys, account, weak, finish](const Message& m) {
        auto s = weak.lock();
        if (!s || s->over.exchange(true)) return;
        const std::int64_t now = unix_now();
        {
            std::lock_guard lk(op_->mu);
            if (auto v = auth::verify_account(m.payload, account, op_->trust, now)) {
                // Stored as nats-server's Store does (saveIfNewer), then in force.
                if (op_->dir) op_->dir->save_if_newer(account, std::string(m.payload));
                install_locked(account, std::string(m.payload), *v, now);
            } else {
                log::debug("Account fetch of {} resulted in error: {}", account, v.error());
            }
        }
        finish(this, sys, s);
    };
    sys->sublist().insert(st->inbox);
    st->timer->expires_after(std::chrono::milliseconds(opts_.resolver_timeout_ms));
    st->timer->async_wait([this, sys, st, finish](const boost::system::error_code& ec) {
        if (ec || st->over.exchange(true)) return;
        log::debug("fetching jwt timed out");
        finish(this, sys, st);
    });
    const std::string subject = "$SYS.REQ.ACCOUNT." + account + ".CLAIMS.LOOKUP";
    Message req{subject, st->inbox->subject, {}, {}, nullptr};
    sys->route(req);
}

Server::ClaimsReply Server::delete_claims(std::string_view jwt) {
    // handleDeleteRequest, in its order of checks.
    ClaimsReply r;
    auto c = auth::decode_generic(jwt);
    const std::string by = c ? c->sub : std::string();
    auto fail = [&](std::string error) {
        r.code = 500;
        r.message = "delete accounts request by " + by + " failed";
        r.error = std::move(error);
        return r;
    };
    if (!op_ || !op_->dir) return fail("no resolver");
    if (opts_.resolver == "FULL" && !opts_.resolver_allow_delete) return fail("delete must be enabled in server config");
    if (!c) return fail(c.error());
    if (c->sub != c->iss) return fail("not self signed");
    if (!auth::is_trusted_issuer(op_->trust, c->iss)) return fail("not trusted");
    std::vector<std::string> keys;
    auto it = c->nats.find("accounts");
    if (it == c->nats.end() || !it->value().is_array()) return fail("malformed request");
    for (const auto& v : it->value().get_array()) {
        if (!v.is_string() || !auth::is_valid_public(auth::kAccount, v.get_string())) return fail("malformed request");
        keys.emplace_back(v.get_string());
    }
    for (const auto& k : keys)
        if (k == opts_.system_account) return fail("not allowed to delete system account");
    std::lock_guard lk(op_->mu);
    std::string errs;
    int deleted = 0;
    for (const auto& k : keys) {
        if (auto err = op_->dir->remove(k); !err.empty()) {
            errs += (errs.empty() ? "" : "\n") + err;
            continue;
        }
        ++deleted;
        // removeCb: the account takes no connection, and those it has go as expired.
        op_->jwts.erase(k);
        Account* acc = find_account(k);
        if (!acc) continue;
        acc->max_connections.store(0, std::memory_order_relaxed);
        acc->unwire_imports();
        acc->set_exports({});
        if (js_account_hook_) js_account_hook_(JetStreamAccount{acc}, false);
        for (auto& cl : clients())
            cl->recheck([acc](Client& x) -> std::optional<Client::Verdict> {
                if (x.current_account() != acc) return std::nullopt;
                return Client::Verdict{"Account Authentication Expired", CloseReason::AuthExpired};
            });
    }
    wire_jwt_accounts_locked(unix_now(), false);  // imports from what was deleted go
    if (!errs.empty())
        return fail(fmt::format("deleted {} accounts, failed for {}\n{}", deleted, keys.size() - std::size_t(deleted), errs));
    r.message = fmt::format("deleted {} accounts", deleted);
    return r;
}

std::vector<std::string> Server::pack_claims(std::string_view their_hash) const {
    if (!op_ || !op_->dir) return {};
    if (their_hash == op_->dir->hash()) return {};
    return op_->dir->pack();
}

std::string Server::claims_hash() const { return op_ && op_->dir ? op_->dir->hash() : std::string(32, '\0'); }

void Server::merge_claims(std::string_view line) {
    // Merge: `<key>|<jwt>`, kept when newer (saveIfNewer), in force when it verifies.
    const auto bar = line.find('|');
    if (bar == std::string_view::npos || line.find('|', bar + 1) != std::string_view::npos) {
        log::error("line in package didn't contain 2 entries: \"{}\"", line);
        return;
    }
    const std::string key(line.substr(0, bar)), jwt(line.substr(bar + 1));
    if (!auth::is_valid_public(auth::kAccount, key)) {
        log::error("key to merge is not a valid public account key");
        return;
    }
    if (!op_ || !op_->dir) return;
    std::lock_guard lk(op_->mu);
    bool written = false;
    if (auto err = op_->dir->save_if_newer(key, jwt, &written); !err.empty() || !written) return;
    const std::int64_t now = unix_now();
    if (auto v = auth::verify_account(jwt, key, op_->trust, now)) install_locked(key, jwt, *v, now);
}

void Server::start_claims_sync() {
    // DirAccResolver's sync: every interval, our store's hash to $SYS.REQ.CLAIMS.PACK; the one
    // full resolver that answers (queue "responder") sends what differs, line by line, then
    // an empty message; each line is merged (the newer JWT wins).
    Account* sys = system_account();
    if (!sys || opts_.resolver != "FULL" || loops_.empty()) return;
    struct Sync {
        std::shared_ptr<InternalHandler> inbox;
        std::unique_ptr<boost::asio::steady_timer> timer;
        std::function<void()> arm;
    };
    auto st = std::make_shared<Sync>();
    st->inbox = std::make_shared<InternalHandler>();
    st->inbox->subject = "$SYS._INBOX." + server_id_ + "." + util::random_token(8);
    st->inbox->fn = [this](const Message& m) {
        if (!m.payload.empty()) merge_claims(m.payload);
    };
    sys->sublist().insert(st->inbox);
    st->timer = std::make_unique<boost::asio::steady_timer>(*loops_[0]);
    std::weak_ptr<Sync> weak = st;
    st->arm = [this, sys, weak] {
        auto s = weak.lock();
        if (!s) return;
        s->timer->expires_after(std::chrono::milliseconds(opts_.resolver_interval_ms));
        s->timer->async_wait([this, sys, weak](const boost::system::error_code& ec) {
            auto s2 = weak.lock();
            if (ec || !s2 || shutting_down_) return;
            const std::string hash = claims_hash();
            Message req{"$SYS.REQ.CLAIMS.PACK", s2->inbox->subject, {}, hash, nullptr};
            sys->route(req);
            s2->arm();
        });
    };
    st->arm();
    claims_sync_ = st;
}

std::optional<std::string> Server::lookup_claims(const std::string& account) const {
    if (!op_ || !op_->dir) return std::nullopt;
    return op_->dir->load(account);
}

std::vector<std::string> Server::list_claims() const {
    if (!op_ || !op_->dir) return {};
    return op_->dir->list();
}

}  // namespace osprey::server
