// A WebSocket connection of /ws (Ironflow's message shapes): its subscriptions are members of
// groups. RFC 6455 framing is osprey's own (protocol/ws_frames.h): every frame queued in a
// turn of the loop goes out in one write. A connection whose socket takes no bytes for 30 s
// is dropped; an idle one is pinged after 20 s and closed when nothing came back in 40 s.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <openssl/evp.h>

#include <array>
#include <boost/json.hpp>
#include <fmt/format.h>

#include "groups/gateway_internal.h"
#include "protocol/ws_frames.h"
#include "server/http_upgrade.h"
#include "util/random.h"

namespace osprey::groups {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;

namespace {
constexpr std::size_t kMaxQueued = 16u << 20;
constexpr auto kStuckWrite = std::chrono::seconds(30);

std::string error_json(const std::string& code, const std::string& message) {
    return json::serialize(json::object{{"type", "error"}, {"code", code}, {"message", message}});
}
}  // namespace

class WsSession : public std::enable_shared_from_this<WsSession> {
public:
    WsSession(std::shared_ptr<GatewayCore> gw, asio::ip::tcp::socket s, Caller caller)
        : gw_(std::move(gw)), sock_(std::move(s)), caller_(std::move(caller)), watchdog_(gw_->loop()) {}

    // The handshake (RFC 6455 4.2.2) answered here; then frames both ways.
    void accept(const http::request<http::string_body>& req) {
        const auto key = req.find(http::field::sec_websocket_key);
        const auto version = req.find(http::field::sec_websocket_version);
        if (key == req.end() || version == req.end() || version->value() != "13") {
            out_ = "HTTP/1.1 400 Bad Request\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            close_after_flush_ = true;
            flush();
            return;
        }
        const std::string input = std::string(key->value()) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int md_len = 0;
        EVP_Digest(input.data(), input.size(), md, &md_len, EVP_sha1(), nullptr);
        out_ = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
               base64_encode(std::string_view(reinterpret_cast<const char*>(md), md_len)) + "\r\n\r\n";
        gw_->sessions.insert(this);
        last_rx_ = SteadyClock::now();
        flush();
        read();
        watch();
    }

    void close() {
        if (closed_) return;
        closed_ = true;
        gw_->sessions.erase(this);
        watchdog_.cancel();
        for (auto& [id, sub] : subs_)
            if (!sub.group->deleted) gw_->leave(*sub.group, sub.member);
        subs_.clear();
        beast::error_code ec;
        sock_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
        sock_.close(ec);
    }

private:
    struct Sub {
        std::shared_ptr<Group> group;
        std::shared_ptr<Member> member;
    };
    struct AutoAck {
        std::uint64_t seq;
        std::weak_ptr<Group> group;
    };

    // Liveness: a ping after 20 s of silence; closed after 40 s of it, or when a write has
    // not finished in 30 s (a member that never reads).
    void watch() {
        watchdog_.expires_after(std::chrono::seconds(5));
        watchdog_.async_wait([self = shared_from_this()](beast::error_code ec) {
            if (ec || self->closed_) return;
            const auto now = SteadyClock::now();
            if (self->writing_ && now - self->write_started_ > kStuckWrite) return self->close();
            if (now - self->last_rx_ > std::chrono::seconds(40)) return self->close();
            if (now - self->last_rx_ > std::chrono::seconds(20) && !self->ping_sent_) {
                self->ping_sent_ = true;
                protocol::append_ws_frame(self->out_, protocol::WsOp::Ping, "");
                self->flush();
            }
            self->watch();
        });
    }

    void read() {
        sock_.async_read_some(asio::buffer(rbuf_), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
            if (ec || self->closed_) return self->close();
            self->last_rx_ = SteadyClock::now();
            self->ping_sent_ = false;
            std::vector<protocol::WsMessage> msgs;
            auto failure = self->decoder_.feed(std::string_view(self->rbuf_.data(), n), msgs);
            for (auto& m : msgs) {
                if (self->closed_ || self->close_after_flush_) break;
                switch (m.op) {
                    case protocol::WsOp::Text:
                    case protocol::WsOp::Binary:
                        self->on_message(m.payload);
                        break;
                    case protocol::WsOp::Ping:
                        protocol::append_ws_frame(self->out_, protocol::WsOp::Pong, m.payload);
                        break;
                    case protocol::WsOp::Close:
                        // Echo the code (RFC 6455 5.5.1), then close once it is written.
                        protocol::append_ws_close(self->out_, m.close_code == 1005 ? 1000 : m.close_code, "");
                        self->close_after_flush_ = true;
                        break;
                    default:
                        break;
                }
            }
            if (failure && !self->close_after_flush_) {
                protocol::append_ws_close(self->out_, failure->code, failure->reason);
                self->close_after_flush_ = true;
            }
            self->flush();
            if (!self->close_after_flush_ && !self->closed_) self->read();
        });
    }

    void send(const std::string& text, std::uint64_t auto_ack = 0, std::weak_ptr<Group> g = {}) {
        if (closed_ || close_after_flush_) return;
        protocol::append_ws_frame(out_, protocol::WsOp::Text, text);
        if (out_.size() > kMaxQueued) return close();  // a member that never reads
        if (auto_ack) auto_acks_.push_back(AutoAck{auto_ack, std::move(g)});
        // Written at the end of this turn of the loop, with whatever else is queued by then.
        if (!flush_posted_) {
            flush_posted_ = true;
            asio::post(gw_->loop(), [self = shared_from_this()] {
                self->flush_posted_ = false;
                self->flush();
            });
        }
    }

    // Every frame queued so far in one write.
    void flush() {
        if (writing_ || closed_) return;
        if (out_.empty()) {
            if (close_after_flush_) close();
            return;
        }
        writing_ = true;
        write_started_ = SteadyClock::now();
        wbuf_.swap(out_);
        out_.clear();
        written_acks_.swap(auto_acks_);
        auto_acks_.clear();
        asio::async_write(sock_, asio::buffer(wbuf_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
            self->writing_ = false;
            if (ec) return self->close();
            for (auto& a : self->written_acks_)
                if (auto g = a.group.lock(); g && !g->deleted)
                    self->gw_->settle(*g, a.seq, GatewayCore::AckType::Ack, 0, {});
            self->written_acks_.clear();
            self->wbuf_.clear();
            self->flush();
        });
    }

    void on_message(const std::string& text) {
        boost::system::error_code ec;
        json::value v = json::parse(text, ec);
        if (ec || !v.is_object()) return send(error_json("invalid_argument", ec ? "malformed JSON" : "a message must be a JSON object"));
        const auto& o = v.get_object();
        const auto* type = o.if_contains("type");
        if (!type || !type->is_string()) return send(error_json("invalid_argument", "type is required"));
        if (type->get_string() == "subscribe") return subscribe(o);
        if (type->get_string() == "ack") return ack(o);
        if (type->get_string() == "unsubscribe") return unsubscribe(o);
        send(error_json("invalid_argument", fmt::format("unknown message type \"{}\"", std::string_view(type->get_string()))));
    }

    void subscribe(const json::object& o) {
        const auto* sub = o.if_contains("subscription");
        std::string pattern;
        auto result = [this, &pattern](const std::string& code, const std::string& message) {
            send(json::serialize(json::object{
                {"type", "subscription_result"},
                {"results", json::array{json::object{{"pattern", pattern}, {"status", "error"}, {"code", code}, {"message", message}}}}}));
        };
        if (!sub || !sub->is_object()) return result("invalid_argument", "subscription is required");
        const auto& so = sub->get_object();
        if (const auto* p = so.if_contains("pattern"); p && p->is_string()) pattern = std::string(p->get_string());
        if (pattern.empty()) return result("invalid_argument", "pattern is required");
        const auto* opts = so.if_contains("options");
        if (!opts || !opts->is_object()) return result("unimplemented", "only consumer group subscriptions are served");
        const auto& oo = opts->get_object();
        const auto* group = oo.if_contains("consumerGroup");
        if (!group || !group->is_string() || group->get_string().empty())
            return result("unimplemented", "only consumer group subscriptions are served");
        std::string ack_mode = "", consumer_id;
        if (const auto* a = oo.if_contains("ackMode")) {
            if (!a->is_string() || (a->get_string() != "manual" && a->get_string() != "auto"))
                return result("invalid_argument", "ackMode must be \"manual\" or \"auto\"");
            ack_mode = std::string(a->get_string());
        }
        if (const auto* c = oo.if_contains("consumerId"); c && !c->is_null()) {
            if (!c->is_string() || !valid_name(c->get_string()))
                return result("invalid_argument", "consumerId must match [A-Za-z0-9_-]{1,64}");
            consumer_id = std::string(c->get_string());
        }
        if (!gw_->jetstream()) return result("internal", "JetStream is not enabled");
        if (!GatewayCore::may_subscribe(caller_, pattern))
            return result("permission_denied", fmt::format("not allowed to subscribe to {}", pattern));
        const std::string name(group->get_string());
        auto self = shared_from_this();
        asio::co_spawn(
            gw_->loop(),
            [self, name, pattern, ack_mode, consumer_id]() -> Awaitable<void> {
                auto& gw = *self->gw_;
                auto found = co_await gw.find_group(gw.context(*self->caller_.account), name, false);
                if (self->closed_) co_return;
                auto fail = [&](const std::string& code, const std::string& message) {
                    self->send(json::serialize(json::object{
                        {"type", "subscription_result"},
                        {"results", json::array{json::object{
                                        {"pattern", pattern}, {"status", "error"}, {"code", code}, {"message", message}}}}}));
                };
                if (!found) co_return fail(found.error().code, found.error().message);
                auto g = found->first;
                if (g->spec.pattern != pattern)
                    co_return fail("invalid_argument",
                                   fmt::format("pattern {} is not the pattern of group {} ({})", pattern, name, g->spec.pattern));
                if (!ack_mode.empty() && (ack_mode == "auto") != g->spec.ack_auto)
                    co_return fail("invalid_argument", fmt::format("group {} acknowledges {}", name, g->spec.ack_auto ? "auto" : "manual"));
                if (!consumer_id.empty())
                    if (auto it = g->members.find(consumer_id); it != g->members.end() && !it->second->closed)
                        co_return fail("already_exists", fmt::format("member id {} is in use", consumer_id));
                auto m = gw.join(*g, consumer_id, true);
                const std::string sub_id = "sub-" + util::random_token(12);
                std::weak_ptr<WsSession> ws = self;
                std::weak_ptr<Group> wg = g;
                m->take = [ws, sub_id, wg](Event& e) {
                    auto s = ws.lock();
                    auto grp = wg.lock();
                    if (!s || s->closed_ || !grp) return false;
                    s->send(ws_event_json(e, sub_id), grp->spec.ack_auto ? e.seq : 0, grp);
                    return true;
                };
                m->group_deleted = [ws, sub_id, name] {
                    auto s = ws.lock();
                    if (!s || s->closed_) return;
                    s->subs_.erase(sub_id);
                    s->send(json::serialize(json::object{{"type", "subscription_error"},
                                                         {"subscriptionId", sub_id},
                                                         {"code", "not_found"},
                                                         {"message", fmt::format("group {} was deleted", name)},
                                                         {"retrying", false}}));
                };
                self->subs_[sub_id] = Sub{g, m};
                self->send(json::serialize(json::object{
                    {"type", "subscription_result"},
                    {"results", json::array{json::object{
                                    {"pattern", pattern}, {"status", "ok"}, {"subscriptionId", sub_id}, {"memberId", m->id}}}}}));
                gw.drain_parked(*g);
                gw.top_up(*g, m);
            },
            asio::detached);
    }

    void ack(const json::object& o) {
        std::string event_id, ack_type = "ack";
        std::int64_t delay = 0;
        if (const auto* e = o.if_contains("eventId"); e && e->is_string()) event_id = std::string(e->get_string());
        if (const auto* t = o.if_contains("ackType"); t && !t->is_null()) {
            if (!t->is_string() || (t->get_string() != "ack" && t->get_string() != "nak" && t->get_string() != "term"))
                return send(error_json("invalid_argument", "ackType must be ack, nak or term"));
            ack_type = std::string(t->get_string());
        }
        if (const auto* d = o.if_contains("redeliverDelay"); d && !d->is_null()) {
            if (!d->is_int64() || d->get_int64() < 0 || d->get_int64() > 3600000)
                return send(error_json("invalid_argument", "redeliverDelay must be an integer in 0..3600000"));
            delay = d->get_int64();
        }
        auto answer = [this, event_id, ack_type](const std::optional<ApiFailure>& f) {
            json::object r{{"type", "ack_result"}, {"eventId", event_id}, {"ackType", ack_type}};
            if (f) {
                r["status"] = "error";
                r["code"] = f->code;
                r["message"] = f->message;
            } else {
                r["status"] = "ok";
            }
            send(json::serialize(r));
        };
        std::uint64_t seq = 0;
        bool number = !event_id.empty() && event_id.size() <= 19;
        for (char c : event_id) {
            if (c < '0' || c > '9') number = false;
            seq = seq * 10 + std::uint64_t(c - '0');
        }
        if (!number) return answer(ApiFailure{400, "invalid_argument", "eventId must be a decimal stream sequence"});
        // The subscription holding it (a connection may be a member of several groups).
        // The group of a subscription holding it, else of any subscription whose group holds
        // it (an ack from any member of the group counts).
        std::shared_ptr<Group> group;
        for (auto& [id, sub] : subs_) {
            auto it = sub.group->inflight.find(seq);
            if (it == sub.group->inflight.end()) continue;
            if (!group || it->second.member.lock() == sub.member) group = sub.group;
        }
        if (!group) {
            for (auto& [id, sub] : subs_)
                if (sub.group->spec.ack_auto) return answer(std::nullopt);
            return answer(ApiFailure{404, "not_found", fmt::format("event {} is not pending", event_id)});
        }
        if (group->spec.ack_auto) return answer(std::nullopt);
        std::weak_ptr<WsSession> ws = shared_from_this();
        gw_->settle(*group, seq,
                    ack_type == "ack"   ? GatewayCore::AckType::Ack
                    : ack_type == "nak" ? GatewayCore::AckType::Nak
                                        : GatewayCore::AckType::Term,
                    delay, [ws, answer](std::optional<ApiFailure> f) {
                        if (auto s = ws.lock(); s && !s->closed_) answer(f);
                    });
    }

    void unsubscribe(const json::object& o) {
        const auto* id = o.if_contains("subscriptionId");
        if (!id || !id->is_string()) return send(error_json("invalid_argument", "subscriptionId is required"));
        auto it = subs_.find(std::string(id->get_string()));
        if (it == subs_.end()) return send(error_json("not_found", "no such subscription"));
        gw_->leave(*it->second.group, it->second.member);
        subs_.erase(it);
    }

    std::shared_ptr<GatewayCore> gw_;
    asio::ip::tcp::socket sock_;
    Caller caller_;
    protocol::WsDecoder decoder_{1 << 20};
    std::array<char, 16384> rbuf_{};
    std::string out_, wbuf_;  // frames queued; frames being written
    std::vector<AutoAck> auto_acks_, written_acks_;
    bool writing_ = false, flush_posted_ = false, close_after_flush_ = false, ping_sent_ = false;
    SteadyClock::time_point write_started_, last_rx_;
    asio::steady_timer watchdog_;
    std::map<std::string, Sub> subs_;
    bool closed_ = false;
};

void GatewayCore::upgrade(std::unique_ptr<server::HttpUpgrade> up) {
    std::string token;
    std::string target(up->request.target());
    if (auto q = target.find("?token="); q != std::string::npos) token = target.substr(q + 7, target.find('&', q + 1) - q - 7);
    else if (auto q2 = target.find("&token="); q2 != std::string::npos) token = target.substr(q2 + 7, target.find('&', q2 + 1) - q2 - 7);
    std::string authz;
    if (auto it = up->request.find(http::field::authorization); it != up->request.end()) authz = std::string(it->value());
    beast::error_code ec;
    auto ep = up->stream.socket().remote_endpoint(ec);
    auto caller = authenticate(authz, token, ec ? std::string() : ep.address().to_string());
    if (!caller) {
        // Refused before the upgrade, with the API's error body.
        auto res = std::make_shared<http::response<http::string_body>>(http::status::unauthorized, 11);
        res->set(http::field::content_type, "application/json");
        res->body() = server::http_error_json(caller.error().code, caller.error().message);
        res->keep_alive(false);
        res->prepare_payload();
        auto stream = std::make_shared<beast::tcp_stream>(std::move(up->stream));
        stream->expires_after(std::chrono::seconds(10));
        http::async_write(*stream, *res, [stream, res](beast::error_code e, std::size_t) {
            stream->socket().shutdown(asio::ip::tcp::socket::shutdown_send, e);
        });
        return;
    }
    auto s = std::make_shared<WsSession>(shared_from_this(), up->stream.release_socket(), std::move(*caller));
    s->accept(up->request);
}

}  // namespace osprey::groups
