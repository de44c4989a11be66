// The HTTP plumbing of the monitor (Boost.Beast). The endpoint bodies are in monitor.cpp.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>

#include "server/monitor.h"
#include "server/server.h"
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
    explicit Impl(Server& s) : server(s) {}
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket s, Monitor& m) : stream_(std::move(s)), monitor_(m) {}
    void start() { read(); }

private:
    void read() {
        req_ = {};
        stream_.expires_after(std::chrono::seconds(30));
        http::async_read(stream_, buf_, req_,
                         [self = shared_from_this()](beast::error_code ec, std::size_t) {
                             if (ec) return;
                             self->respond();
                         });
    }
    void respond() {
        auto res = std::make_shared<http::response<http::string_body>>();
        res->version(req_.version());
        res->keep_alive(req_.keep_alive());
        std::string target(req_.target());
        int status = 200;
        std::string body = req_.method() == http::verb::get ? monitor_.handle(target, &status) : "";
        if (body.empty()) {
            res->result(http::status::not_found);
            res->set(http::field::content_type, "text/plain; charset=utf-8");
            res->body() = "404 page not found\n";
        } else {
            res->result(status == 503 ? http::status::service_unavailable : http::status::ok);
            res->set(http::field::content_type, "application/json");
            res->body() = std::move(body);
        }
        res->prepare_payload();
        http::async_write(stream_, *res,
                          [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                              if (ec || !res->keep_alive()) {
                                  self->stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
                                  return;
                              }
                              self->read();
                          });
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buf_;
    http::request<http::string_body> req_;
    Monitor& monitor_;
};

void accept_loop(tcp::acceptor& acc, Monitor& m) {
    acc.async_accept([&acc, &m](beast::error_code ec, tcp::socket s) {
        if (ec) return;
        std::make_shared<Session>(std::move(s), m)->start();
        accept_loop(acc, m);
    });
}

}  // namespace

Monitor::Monitor(Server& server) : server_(server), impl_(std::make_unique<Impl>(server)) {}
Monitor::~Monitor() = default;

void Monitor::start(const std::string& host, int port) {
    auto addr = asio::ip::make_address(host);
    tcp::endpoint ep(addr, static_cast<unsigned short>(port < 0 ? 0 : port));
    impl_->acceptor = std::make_unique<tcp::acceptor>(impl_->server.loop(0));
    impl_->acceptor->open(ep.protocol());
    impl_->acceptor->set_option(tcp::acceptor::reuse_address(true));
    if (addr.is_v6()) impl_->acceptor->set_option(asio::ip::v6_only(false));
    impl_->acceptor->bind(ep);
    impl_->acceptor->listen();
    impl_->port = impl_->acceptor->local_endpoint().port();
    log::notice("Starting http monitor on {}:{}", host, impl_->port);
    accept_loop(*impl_->acceptor, *this);
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
