// The HTTP plumbing of the monitor (Boost.Beast). The endpoint bodies are in monitor.cpp.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>
#include <boost/beast/websocket/rfc6455.hpp>
#include <array>
#include <atomic>
#include <cctype>
#include <mutex>
#include <optional>

#include "server/monitor.h"
#include "server/http_upgrade.h"
#include "server/server.h"
#include "transport/tls_context.h"
#include "util/log.h"

namespace osprey::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct Monitor::Impl {
    Server& server;
    std::unique_ptr<tcp::acceptor> acceptor;
    int port = 0;
    std::unique_ptr<asio::ssl::context> tls;  // https_port: the tls {} block's certificate
    explicit Impl(Server& s) : server(s) {}
};

namespace {

// %XX and '+' of a query component.
std::string url_decode(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        const char c = in[i];
        if (c == '+') {
            out += ' ';
        } else if (c == '%' && i + 2 < in.size() + 0 && std::isxdigit(static_cast<unsigned char>(in[i + 1])) &&
                   std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
            out += char(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

std::map<std::string, std::string> decode_query(std::string_view q) {
    std::map<std::string, std::string> m;
    while (!q.empty()) {
        const auto amp = q.find('&');
        std::string_view kv = q.substr(0, amp);
        const auto eq = kv.find('=');
        m[url_decode(kv.substr(0, eq))] = eq == std::string_view::npos ? "" : url_decode(kv.substr(eq + 1));
        if (amp == std::string_view::npos) break;
        q.remove_prefix(amp + 1);
    }
    return m;
}

// Bodies above this are refused with 413 (the groups API's limit; the monitor takes none).
constexpr std::size_t kMaxBody = 1 << 20;

// One HTTP connection; `Stream` is a plain TCP stream, or one with TLS (https_port).
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
    static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;
    using std::enable_shared_from_this<Session<Stream>>::shared_from_this;

public:
    template <class... Args>
    Session(Monitor& m, Args&&... args) : stream_(std::forward<Args>(args)...), monitor_(m) {}
    void start() {
        if constexpr (kTls) {
            lowest().expires_after(std::chrono::seconds(10));
            stream_.async_handshake(asio::ssl::stream_base::server,
                                    [self = shared_from_this()](beast::error_code ec) {
                                        if (!ec) self->read();
                                    });
        } else {
            read();
        }
    }

private:
    beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }
    void read() {
        parser_.emplace();
        parser_->body_limit(kMaxBody);
        lowest().expires_after(std::chrono::seconds(30));
        http::async_read(stream_, buf_, *parser_,
                         [self = shared_from_this()](beast::error_code ec, std::size_t) {
                             if (ec == http::error::body_limit) {
                                 self->too_large();
                                 return;
                             }
                             if (ec) return;
                             self->respond(self->parser_->release());
                         });
    }
    void too_large() {
        HttpResponse r{413, "application/json",
                       http_error_json("resource_exhausted", "request body is larger than 1 MiB")};
        http::request<http::string_body> req;
        req.version(11);
        req.keep_alive(false);
        write(req, std::move(r));
    }
    void respond(http::request<http::string_body> req) {
        std::string target(req.target());
        std::string_view path = std::string_view(target).substr(0, target.find('?'));
        if constexpr (!kTls) {
            // Groups' WebSocket members: over plain HTTP only, for now.
            if (beast::websocket::is_upgrade(req)) {
                if (const UpgradeHandler* up = monitor_.upgrade_handler(path)) {
                    stream_.expires_never();
                    (*up)(std::make_unique<HttpUpgrade>(std::move(stream_), std::move(buf_), std::move(req)));
                    return;
                }
            }
        }
        if (const HttpHandler* h = monitor_.http_handler(path)) {
            HttpRequest hr;
            hr.method = std::string(req.method_string());
            hr.path = std::string(path);
            if (auto q = target.find('?'); q != std::string::npos) hr.query = decode_query(std::string_view(target).substr(q + 1));
            if (auto it = req.find(http::field::authorization); it != req.end()) hr.authorization = std::string(it->value());
            beast::error_code ec;
            auto ep = lowest().socket().remote_endpoint(ec);
            if (!ec) hr.remote = ep.address().to_string();
            hr.body = std::move(req.body());
            // A long poll may answer after the read timeout would have struck.
            lowest().expires_never();
            auto head = std::make_shared<http::request<http::string_body>>();
            head->version(req.version());
            head->keep_alive(req.keep_alive());
            auto once = std::make_shared<std::atomic<bool>>(false);
            (*h)(std::move(hr), [self = shared_from_this(), head, once](HttpResponse r) {
                if (once->exchange(true)) return;
                asio::post(self->stream_.get_executor(),
                           [self, head, r = std::move(r)]() mutable { self->write(*head, std::move(r)); });
            });
            return;
        }
        int status = 200;
        std::string body = req.method() == http::verb::get ? monitor_.handle(target, &status) : "";
        if (body.empty()) {
            write(req, HttpResponse{404, "text/plain; charset=utf-8", "404 page not found\n"});
        } else {
            write(req, HttpResponse{status, "application/json", std::move(body)});
        }
    }
    void write(const http::request<http::string_body>& req, HttpResponse r) {
        auto res = std::make_shared<http::response<http::string_body>>();
        res->version(req.version());
        res->keep_alive(req.keep_alive());
        res->result(static_cast<http::status>(r.status));
        res->set(http::field::content_type, r.content_type);
        // The browser module is loaded cross-origin by pages of other hosts.
        res->set(http::field::access_control_allow_origin, "*");
        res->set(http::field::access_control_allow_headers, "Authorization, Content-Type");
        res->set(http::field::access_control_allow_methods, "GET, POST, PATCH, DELETE, OPTIONS");
        res->body() = std::move(r.body);
        res->prepare_payload();
        lowest().expires_after(std::chrono::seconds(30));
        http::async_write(stream_, *res,
                          [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                              if (ec || !res->keep_alive()) {
                                  self->lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
                                  // What the client still sends (the rest of a body refused
                                  // with 413) is read and dropped: closing with unread bytes
                                  // would reset the connection before it read the answer.
                                  if (!ec) self->drain();
                                  return;
                              }
                              self->read();
                          });
    }

    void drain() {
        lowest().expires_after(std::chrono::seconds(2));
        auto scratch = std::make_shared<std::array<char, 16384>>();
        stream_.async_read_some(asio::buffer(*scratch), [self = shared_from_this(), scratch](beast::error_code ec, std::size_t n) {
            self->drained_ += n;
            if (!ec && self->drained_ < 8 * kMaxBody) self->drain();
        });
    }

    Stream stream_;
    std::size_t drained_ = 0;
    beast::flat_buffer buf_;
    std::optional<http::request_parser<http::string_body>> parser_;
    Monitor& monitor_;
};

void accept_loop(tcp::acceptor& acc, Monitor& m, asio::ssl::context* tls) {
    acc.async_accept([&acc, &m, tls](beast::error_code ec, tcp::socket s) {
        if (ec) return;
        // Small answers (a WebSocket member's ack results, long-poll replies) go at once, not
        // after the peer's delayed ACK.
        s.set_option(tcp::no_delay(true), ec);
        if (tls) {
            std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(m, std::move(s), *tls)->start();
        } else {
            std::make_shared<Session<beast::tcp_stream>>(m, std::move(s))->start();
        }
        accept_loop(acc, m, tls);
    });
}

}  // namespace

Monitor::Monitor(Server& server) : server_(server), impl_(std::make_unique<Impl>(server)) {}
Monitor::~Monitor() = default;

void Monitor::start(const std::string& host, int port, std::shared_ptr<const transport::TlsContext> tls) {
    if (tls) {
        // Asio's context takes ownership of the SSL_CTX it wraps: it gets its own reference.
        SSL_CTX_up_ref(tls->native());
        impl_->tls = std::make_unique<asio::ssl::context>(tls->native());
    }
    auto addr = asio::ip::make_address(host);
    tcp::endpoint ep(addr, static_cast<unsigned short>(port < 0 ? 0 : port));
    impl_->acceptor = std::make_unique<tcp::acceptor>(impl_->server.loop(0));
    impl_->acceptor->open(ep.protocol());
    impl_->acceptor->set_option(tcp::acceptor::reuse_address(true));
    if (addr.is_v6()) impl_->acceptor->set_option(asio::ip::v6_only(false));
    impl_->acceptor->bind(ep);
    impl_->acceptor->listen();
    impl_->port = impl_->acceptor->local_endpoint().port();
    log::notice("Starting {} monitor on {}:{}", impl_->tls ? "https" : "http", host, impl_->port);
    accept_loop(*impl_->acceptor, *this, impl_->tls.get());
}

void Monitor::stop() {
    if (!impl_->acceptor) return;
    asio::post(impl_->server.loop(0), [this] {
        beast::error_code ec;
        impl_->acceptor->close(ec);
    });
}

int Monitor::port() const { return impl_->port; }

}  // namespace osprey::server
