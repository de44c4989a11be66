// The gateway's set-up on the monitoring port, the HTTP dispatch, authentication and the
// account contexts. All of it runs on the monitor's loop (loop 0).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include "groups/gateway_internal.h"
#include "server/account.h"
#include "server/connect_opts.h"
#include "server/http_upgrade.h"
#include "server/monitor.h"
#include "server/permissions.h"
#include "server/server.h"
#include "util/log.h"

namespace osprey::groups {

namespace asio = boost::asio;
namespace json = boost::json;

extern const char* const kGroupsJs;  // web/groups.js, embedded at build time

Gateway::Gateway(server::Server& srv, bool jetstream) : core_(std::make_shared<GatewayCore>(srv, jetstream)) {
    std::weak_ptr<GatewayCore> weak = core_;
    srv.monitor().add_http_handler("/v1/", [weak](server::HttpRequest&& req, server::HttpRespond respond) {
        auto core = weak.lock();
        if (!core) return respond(failure_response({500, "internal", "the server is shutting down"}));
        core->serve(std::move(req), std::move(respond));
    });
    srv.monitor().add_section("/jsz", "groups", [weak](const server::Monitor::Query&) {
        auto core = weak.lock();
        return core ? core->jsz_groups() : std::string("[]");
    });
    srv.monitor().add_upgrade_handler("/ws", [weak](std::unique_ptr<server::HttpUpgrade> up) {
        if (auto core = weak.lock()) core->upgrade(std::move(up));
    });
}

// After the server's loops stopped (main), so the gateway's state is ours alone here.
Gateway::~Gateway() {
    if (core_) core_->stop();
}

void Gateway::start() {
    asio::post(core_->loop(), [core = core_] { core->start(); });
}

void Gateway::stop() {
    if (core_) core_->stop();
}

GatewayCore::GatewayCore(server::Server& srv, bool jetstream) : srv_(srv), jetstream_(jetstream) {}

asio::io_context& GatewayCore::loop() { return srv_.loop(0); }

void GatewayCore::start() {
    if (!jetstream_) return;
    // Dead letters of groups nobody asked about since the start still go out.
    for (const auto& ja : srv_.jetstream_accounts())
        asio::co_spawn(loop(), load_groups(context(*ja.account)), asio::detached);
    sweeper_ = std::make_unique<asio::steady_timer>(loop());
    schedule_sweep();
}

void GatewayCore::schedule_sweep() {
    if (stopped_ || !sweeper_) return;
    sweeper_->expires_after(std::chrono::milliseconds(100));
    sweeper_->async_wait([weak = weak_from_this()](boost::system::error_code ec) {
        auto self = weak.lock();
        if (ec || !self || self->stopped_) return;
        self->sweep();
        // The /jsz view every 2 s.
        if (++self->ticks_ % 20 == 0) asio::co_spawn(self->loop(), self->refresh_monitoring(), asio::detached);
        self->schedule_sweep();
    });
}

void GatewayCore::stop() {
    stopped_ = true;
    sweeper_.reset();
    for (auto& [acc, ctx] : accounts_)
        for (auto& [name, g] : ctx->groups)
            for (auto& [id, m] : g->members) m->closed = true;
    accounts_.clear();
}

AccountCtx& GatewayCore::context(server::Account& acc) {
    auto& slot = accounts_[&acc];
    if (!slot) {
        slot = std::make_unique<AccountCtx>();
        slot->account = &acc;
        slot->client = std::make_unique<InternalClient>(acc, loop());
        listen_advisories(*slot);
    }
    return *slot;
}

std::expected<Caller, ApiFailure> GatewayCore::authenticate(const std::string& authorization,
                                                            const std::string& token, const std::string& remote) {
    Caller c;
    if (!srv_.auth_required()) {
        c.account = &srv_.global_account();
        const auto& dp = srv_.options().default_permissions;
        c.permissions = dp ? &*dp : nullptr;
        return c;
    }
    server::ConnectOpts o;
    std::string_view a(authorization);
    if (a.starts_with("Bearer ") || a.starts_with("bearer ")) {
        o.auth_token = std::string(a.substr(7));
    } else if (a.starts_with("Basic ") || a.starts_with("basic ")) {
        auto decoded = base64_decode(a.substr(6));
        if (!decoded) return std::unexpected(ApiFailure{401, "unauthenticated", "malformed Basic credentials"});
        const auto colon = decoded->find(':');
        if (colon == std::string::npos)
            return std::unexpected(ApiFailure{401, "unauthenticated", "malformed Basic credentials"});
        o.user = decoded->substr(0, colon);
        o.pass = decoded->substr(colon + 1);
    } else if (!token.empty()) {
        o.auth_token = token;
    } else {
        return std::unexpected(ApiFailure{401, "unauthenticated", "credentials are required"});
    }
    if (srv_.operator_mode())
        return std::unexpected(ApiFailure{401, "unauthenticated", "operator mode users connect with NATS"});
    auto auth = srv_.authenticate(o, {}, remote);
    if (!auth || !auth->account) return std::unexpected(ApiFailure{401, "unauthenticated", "invalid credentials"});
    c.account = auth->account;
    c.permissions = auth->permissions;
    c.owned = auth->owned;
    if (c.owned) c.permissions = c.owned.get();
    return c;
}

bool GatewayCore::may_subscribe(const Caller& c, const std::string& pattern) {
    return !c.permissions || server::may_subscribe(*c.permissions, pattern, "");
}

bool GatewayCore::may_publish(const Caller& c, const std::string& subject) {
    return subject.empty() || !c.permissions || server::may_publish(*c.permissions, subject);
}

void GatewayCore::serve(server::HttpRequest&& req, server::HttpRespond respond) {
    if (req.method == "OPTIONS") return respond({204, "text/plain", ""});
    if (req.path == "/v1/groups.js") {
        if (req.method != "GET") return respond(failure_response({404, "not_found", "no such route"}));
        return respond({200, "text/javascript; charset=utf-8", kGroupsJs});
    }
    if (!jetstream_) return respond(failure_response({500, "internal", "JetStream is not enabled"}));
    auto caller = authenticate(req.authorization, {}, req.remote);
    if (!caller) return respond(failure_response(caller.error()));
    asio::co_spawn(
        loop(),
        [self = shared_from_this(), caller = std::move(*caller), req = std::move(req)]() mutable {
            return self->rest(std::move(caller), std::move(req));
        },
        [respond = std::move(respond)](std::exception_ptr e, server::HttpResponse r) {
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& ex) {
                    log::error("groups: {}", ex.what());
                    return respond(failure_response({500, "internal", ex.what()}));
                }
            }
            respond(std::move(r));
        });
}

}  // namespace osprey::groups
