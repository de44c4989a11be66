// The transports of the listeners: TLS on the client port, NATS over WebSocket on its own
// port (nats-server's websocket.go), and the certificates' reload.
#include <fmt/format.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <stdexcept>

#include "server/config.h"
#include "server/server.h"
#include "transport/tls_context.h"
#include "transport/wire.h"
#include "util/log.h"

namespace osprey::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

std::shared_ptr<const transport::TlsContext> make_context(const transport::TlsConfig& c) {
    auto ctx = transport::TlsContext::make(c);
    if (!ctx) throw std::runtime_error(ctx.error());
    return *ctx;
}

}  // namespace

std::string check_transports(const Options& o) {
    try {
        Transports t = make_transports(o);
    } catch (const std::exception& e) {
        return e.what();
    }
    return {};
}

Transports make_transports(const Options& opts_) {
    Transports t;
    if (opts_.tls_enabled) {
        if (opts_.tls.cert_file.empty() || opts_.tls.key_file.empty())
            throw std::runtime_error("TLS Server certificate must be present and valid");
        t.client = make_context(opts_.tls);
    } else if (opts_.https_port != 0) {
        throw std::runtime_error("Can't start monitoring: TLS cert and key required for HTTPS");
    }
    const auto& w = opts_.websocket;
    if (!w.enabled()) return t;
    // validateWebsocketOptions, with nats-server's texts.
    if (!w.tls.configured() && !w.no_tls) throw std::runtime_error("websocket requires TLS configuration");
    auto ws = std::make_shared<transport::WsSettings>();
    for (const auto& o : w.allowed_origins) {
        transport::WsOrigin origin;
        if (!transport::parse_origin(o, origin))
            throw std::runtime_error("unable to parse allowed origin: parse \"" + o + "\": invalid URI for request");
        ws->upgrade.allowed_origins.push_back(origin);
    }
    if (!w.no_auth_user.empty()) {
        bool found = false;
        for (const auto& u : opts_.users) found |= u.username == w.no_auth_user;
        for (const auto& a : opts_.accounts)
            for (const auto& u : a.users) found |= u.username == w.no_auth_user;
        if (!found)
            throw std::runtime_error(fmt::format("no_auth_user: \"{}\" not present as user or nkey in authorization block or account configuration", w.no_auth_user));
    }
    const bool users = !opts_.users.empty() || !opts_.nkeys.empty();
    if (users && !w.username.empty())
        throw std::runtime_error("websocket authentication username not compatible with presence of users/nkeys");
    if (users && !w.token.empty())
        throw std::runtime_error("websocket authentication token not compatible with presence of users/nkeys");
    if (!w.jwt_cookie.empty() && !opts_.operator_mode())
        throw std::runtime_error(fmt::format("trusted operators or trusted keys configuration is required for JWT authentication via cookie \"{}\"", w.jwt_cookie));
    ws->upgrade.compression = w.compression;
    ws->upgrade.same_origin = w.same_origin;
    ws->upgrade.jwt_cookie = w.jwt_cookie;
    ws->upgrade.tls = !w.no_tls;
    // Frames carry whole protocol writes of the client: room for the largest message with
    // its control line, and some batching on top.
    ws->max_message = std::size_t(std::max<std::int64_t>(8 << 20, 2 * opts_.max_payload + (1 << 20)));
    // nats-server waits for an upgrade without a bound when handshake_timeout is not set; a
    // connection that never upgrades is closed after 2 s here, as a TLS handshake would be.
    ws->handshake_timeout_ms = w.handshake_timeout_ms > 0 ? w.handshake_timeout_ms : 2000;
    t.ws = std::move(ws);
    if (!w.no_tls) t.ws_tls = make_context(w.tls);
    return t;
}

void Server::setup_transports() {
    Transports t = make_transports(opts_);
    tls_ctx_ = std::move(t.client);
    ws_tls_ctx_ = std::move(t.ws_tls);
    ws_settings_ = std::move(t.ws);
}

std::shared_ptr<const transport::TlsContext> Server::client_tls() const {
    std::lock_guard lk(tls_mu_);
    return tls_ctx_;
}

std::unique_ptr<transport::Wire> Server::make_wire(bool websocket) const {
    std::lock_guard lk(tls_mu_);
    if (websocket) return std::make_unique<transport::Wire>(ws_tls_ctx_, ws_settings_);
    if (!tls_ctx_) return nullptr;
    return std::make_unique<transport::Wire>(tls_ctx_, nullptr, opts_.allow_non_tls);
}

void Server::start_websocket() {
    const auto& w = opts_.websocket;
    if (!w.enabled()) return;
    auto addr = asio::ip::make_address(w.host.empty() ? std::string("0.0.0.0") : w.host);
    tcp::endpoint ep(addr, static_cast<unsigned short>(w.port < 0 ? 0 : w.port));
    ws_acceptor_ = std::make_unique<tcp::acceptor>(*loops_[0]);
    ws_acceptor_->open(ep.protocol());
    ws_acceptor_->set_option(tcp::acceptor::reuse_address(true));
    if (addr.is_v6()) ws_acceptor_->set_option(asio::ip::v6_only(false));
    ws_acceptor_->bind(ep);
    ws_acceptor_->listen(4096);
    ws_port_ = ws_acceptor_->local_endpoint().port();
    log::notice("Listening for websocket clients on {}://{}:{}", w.no_tls ? "ws" : "wss",
                addr.is_v6() ? "[" + w.host + "]" : w.host, ws_port_);
    if (w.no_tls) log::warn("Websocket not configured with TLS. DO NOT USE IN PRODUCTION!");
    do_accept(ws_acceptor_.get(), true);
}

void Server::reload() {
    log::notice("Reloading server configuration");
    if (opts_.config_file.empty()) {
        log::error("Failed to reload server configuration: config reload not supported: no configuration file");
        return;
    }
    Options next;
    if (auto r = load_config_file(opts_.config_file, next); !r) {
        log::error("Failed to reload server configuration: {}", r.error());
        return;
    }
    // Only the TLS blocks are reloaded (certificates, keys, CAs, ciphers): what nats-server
    // reloads for them. Their switches cannot change, as in nats-server.
    if (next.tls.verify_and_map != opts_.tls.verify_and_map) {
        log::error("Failed to reload server configuration: config reload not supported for TLSMap: old={}, new={}",
                   opts_.tls.verify_and_map, next.tls.verify_and_map);
        return;
    }
    if (next.tls_enabled != opts_.tls_enabled || (opts_.tls_enabled && next.tls.verify != opts_.tls.verify)) {
        log::error("Failed to reload server configuration: config reload not supported for TLSConfig: "
                   "turning TLS or client verification on or off needs a restart");
        return;
    }
    if (!reload_tls(next)) return;
    if (opts_.tls_enabled) log::notice("Reloaded: tls = enabled");
    log::notice("Reloaded server configuration");
    log::warn("osprey reloads the TLS certificates only: other changes in {} take effect at the next start",
              opts_.config_file);
}

bool Server::reload_tls(const Options& next) {
    try {
        std::shared_ptr<const transport::TlsContext> client, ws;
        if (opts_.tls_enabled) client = make_context(next.tls);
        if (ws_tls_ctx_) ws = make_context(next.websocket.tls);
        std::lock_guard lk(tls_mu_);
        if (client) tls_ctx_ = std::move(client);
        if (ws) ws_tls_ctx_ = std::move(ws);
        return true;
    } catch (const std::exception& e) {
        log::error("Failed to reload server configuration: {}", e.what());
        return false;
    }
}

}  // namespace osprey::server
