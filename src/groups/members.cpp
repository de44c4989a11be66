// Members of a group on this server: each asks the consumer for what it has room for (pull
// requests on a subscription of its own), holds what it was given until it acks, naks or
// terms it or its hold (the consumer's ack wait) passes, and HTTP members fetch with a long
// poll. Delivery is first-available: whoever has room and is asking takes the next event.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include "groups/gateway_internal.h"
#include "util/random.h"

namespace osprey::groups {

namespace asio = boost::asio;
namespace json = boost::json;
using server::HttpResponse;

namespace {

constexpr auto kWsPullExpiry = std::chrono::seconds(30);
constexpr auto kSettleTimeout = std::chrono::milliseconds(5000);

int room(const Group& g, const Member& m) { return int(g.spec.max_inflight) - m.inflight - m.requested; }

// Waits on the loop until `signal` is cancelled or `limit` passes.
Awaitable<void> wait_for(asio::steady_timer& signal, std::chrono::milliseconds limit) {
    signal.expires_after(limit);
    boost::system::error_code ec;
    co_await signal.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

HttpResponse bad(std::string m) { return failure_response({400, "invalid_argument", std::move(m)}); }

}  // namespace

std::shared_ptr<Member> GatewayCore::join(Group& g, const std::string& id, bool ws) {
    auto m = std::make_shared<Member>();
    m->id = id.empty() ? "m-" + util::random_token(10) : id;
    m->ws = ws;
    m->prefix = g.acc->client->unique_prefix();
    g.members[m->id] = m;
    return m;
}

void GatewayCore::end_pull(Group& g, const std::shared_ptr<Member>& m, std::uint64_t id, bool retry_soon) {
    auto it = m->pulls.find(id);
    if (it == m->pulls.end()) return;
    // Its subscription goes: the consumer drops the request when it next looks at it.
    g.acc->client->unsubscribe(it->second.sub);
    if (it->second.timer) it->second.timer->cancel();
    m->requested -= it->second.remaining;
    auto done = std::move(it->second.done);
    m->pulls.erase(it);
    if (done) done();
    if (m->ws && retry_soon) top_up(g, m);
}

void GatewayCore::leave(Group& g, const std::shared_ptr<Member>& m) {
    m->closed = true;
    m->take = nullptr;
    // Its requests die with their subscriptions; what it holds comes back when its hold passes.
    std::vector<std::uint64_t> ids;
    for (auto& [id, p] : m->pulls) ids.push_back(id);
    for (auto id : ids) end_pull(g, m, id, false);
    m->requested = 0;
    if (auto it = g.members.find(m->id); it != g.members.end() && it->second == m) g.members.erase(it);
}

void GatewayCore::pull(Group& g, const std::shared_ptr<Member>& m, int batch, bool no_wait,
                       std::chrono::milliseconds expires, std::function<void()> done) {
    const int r = room(g, *m);
    if (batch <= 0 || batch > r) batch = r;
    if (batch <= 0 || m->closed || g.deleted) {
        if (done) done();
        return;
    }
    const std::uint64_t id = ++m->next_pull;
    const std::string reply = fmt::format("{}.{}", m->prefix, id);
    std::weak_ptr<Member> wm = m;
    Group* gp = &g;
    std::weak_ptr<GatewayCore> self = weak_from_this();
    Member::Pull p;
    p.remaining = batch;
    p.done = std::move(done);
    p.sub = g.acc->client->subscribe(reply, [self, gp, wm, id](Msg& msg) {
        auto core = self.lock();
        auto member = wm.lock();
        if (!core || !member || member->closed) return;
        auto it = member->pulls.find(id);
        if (it == member->pulls.end()) return;
        const std::string_view status = msg.status();
        if (!status.empty()) {
            if (status == "100") return;  // a heartbeat
            if (status == "409") ++member->refused;
            // The consumer is gone (deleted with a NATS tool): a fresh look ends the group here.
            if (status == "503" || msg.headers.find("Consumer Deleted") != std::string::npos)
                asio::co_spawn(core->loop(), core->recheck(gp->acc, gp->spec.name), asio::detached);
            core->end_pull(*gp, member, id, status == "408" || status == "404");
            return;
        }
        Event ev;
        if (!parse_ack_subject(msg.reply, ev)) return;
        ev.subject = std::move(msg.subject);
        ev.ack_subject = std::move(msg.reply);
        ev.headers = std::move(msg.headers);
        ev.payload = std::move(msg.payload);
        --it->second.remaining;
        --member->requested;
        if (it->second.remaining <= 0) core->end_pull(*gp, member, id, false);
        core->hand_out(*gp, std::move(ev), member);
    });
    // A request that never ends by itself (no_wait with nothing to give once what was due
    // was given up on waits, as nats-server's does) ends here after a while.
    p.timer = std::make_shared<asio::steady_timer>(loop());
    p.timer->expires_after(no_wait ? std::chrono::milliseconds(500) : expires + std::chrono::milliseconds(1000));
    p.timer->async_wait([self, gp, wm, id](boost::system::error_code ec) {
        auto core = self.lock();
        auto member = wm.lock();
        if (ec || !core || !member || member->closed) return;
        core->end_pull(*gp, member, id, true);
    });
    m->pulls[id] = std::move(p);
    m->requested += batch;
    std::string body = no_wait ? fmt::format("{{\"batch\":{},\"no_wait\":true}}", batch)
                               : fmt::format("{{\"batch\":{},\"expires\":{}}}", batch,
                                             std::chrono::duration_cast<std::chrono::nanoseconds>(expires).count());
    g.acc->client->publish(fmt::format("$JS.API.CONSUMER.MSG.NEXT.{}.{}", g.spec.stream, g.spec.name), reply, {}, body);
}

void GatewayCore::top_up(Group& g, const std::shared_ptr<Member>& m) {
    if (!m->ws || m->closed || g.deleted) return;
    // A new request once a quarter of the room is free (one per event would cost a request
    // per event); with nothing asked at all, at once.
    const int r = room(g, *m);
    const int threshold = std::max<int>(1, int(g.spec.max_inflight / 4));
    if (r >= threshold || (r > 0 && m->requested == 0)) pull(g, m, 0, false, kWsPullExpiry);
}

void GatewayCore::hand_out(Group& g, Event ev, const std::shared_ptr<Member>& to) {
    // A hold of the same event (its hold passed here, the consumer gave it out again) ends.
    if (auto it = g.inflight.find(ev.seq); it != g.inflight.end()) {
        if (auto old = it->second.member.lock()) --old->inflight;
        g.inflight.erase(it);
    }
    auto try_take = [&](const std::shared_ptr<Member>& m) {
        if (!m || m->closed || !m->take) return false;
        if (m != to && room(g, *m) <= 0) return false;
        Inflight hold{m, ev.ack_subject,
                      SteadyClock::now() + std::chrono::milliseconds(g.spec.hold_ms(ev.attempt)), ev.attempt};
        const std::uint64_t seq = ev.seq;
        ++m->inflight;
        g.inflight[seq] = std::move(hold);
        if (m->take(ev)) return true;
        --m->inflight;
        g.inflight.erase(seq);
        return false;
    };
    if (try_take(to)) return;
    for (auto& [id, m] : g.members)
        if (m != to && try_take(m)) return;
    // Nobody can take it now: the next member with room does (unless its hold passes first).
    ev.parked_until = SteadyClock::now() + std::chrono::milliseconds(g.spec.hold_ms(ev.attempt));
    g.parked.push_back(std::move(ev));
    if (g.parked.size() > 100000) g.parked.pop_front();
}

void GatewayCore::drain_parked(Group& g) {
    while (!g.parked.empty()) {
        std::shared_ptr<Member> taker;
        for (auto& [id, m] : g.members)
            if (!m->closed && m->take && room(g, *m) > 0) {
                taker = m;
                break;
            }
        if (!taker) return;
        Event ev = std::move(g.parked.front());
        g.parked.pop_front();
        const auto before = taker->inflight;
        hand_out(g, std::move(ev), taker);
        if (taker->inflight == before) return;  // it did not take it after all (parked again)
    }
}

void GatewayCore::settle(Group& g, std::uint64_t seq, AckType type, std::int64_t delay_ms,
                         std::function<void(std::optional<ApiFailure>)> done) {
    auto it = g.inflight.find(seq);
    if (it == g.inflight.end() || it->second.settling) {
        if (done) done(ApiFailure{404, "not_found", fmt::format("event {} is not pending in group {}", seq, g.spec.name)});
        return;
    }
    it->second.settling = true;
    const std::string ack_subject = it->second.ack_subject;
    const std::uint64_t attempt = it->second.attempt;
    std::weak_ptr<GatewayCore> self = weak_from_this();
    std::shared_ptr<Group> gs;
    if (auto git = g.acc->groups.find(g.spec.name); git != g.acc->groups.end()) gs = git->second;
    auto release = [self, gs, seq, ack_subject](bool settled) {
        auto core = self.lock();
        if (!core || !gs) return;
        auto it = gs->inflight.find(seq);
        if (it == gs->inflight.end() || it->second.ack_subject != ack_subject) return;
        if (!settled) {
            it->second.settling = false;
            return;
        }
        auto m = it->second.member.lock();
        gs->inflight.erase(it);
        if (m) {
            --m->inflight;
            core->top_up(*gs, m);
        }
        core->drain_parked(*gs);
    };
    auto send = [self, gs, ack_subject, release, done](std::string body, bool term, std::uint64_t s) {
        auto core = self.lock();
        if (!core || !gs) return;
        gs->acc->client->request(ack_subject, {}, body, kSettleTimeout,
                                 [release, done, gs, term, s](std::optional<Msg> reply) {
                                     if (!reply) {
                                         release(false);
                                         if (done) done(ApiFailure{500, "internal", "the consumer did not confirm in time"});
                                         return;
                                     }
                                     if (term) {
                                         gs->terminated.insert(s);
                                         if (gs->terminated.size() > 10000) gs->terminated.erase(gs->terminated.begin());
                                     }
                                     release(true);
                                     if (done) done(std::nullopt);
                                 });
    };
    // An ack or a nak ends the member's hold at once: it no longer holds the event, so its
    // room is free for the next one while the ack is made durable (the answer waits for
    // that). Were the ack lost, the consumer gives the event out again after its ack wait.
    switch (type) {
        case AckType::Ack:
            send("+ACK", false, seq);
            release(true);
            break;
        case AckType::Nak:
            send(delay_ms > 0 ? fmt::format("-NAK {{\"delay\":{}}}", delay_ms * 1000000) : std::string("-NAK"), false, seq);
            release(true);
            break;
        case AckType::Term:
            // The dead letter first: a crash before the term brings the event back rather
            // than losing it.
            if (!gs) break;
            asio::co_spawn(loop(), dead_letter(gs, seq, "term", attempt),
                           [send, release, done, seq](std::exception_ptr e, std::optional<ApiFailure> f) {
                               if (e || f) {
                                   release(false);
                                   if (done) done(f ? *f : ApiFailure{500, "internal", "dead letter failed"});
                                   return;
                               }
                               send("+TERM", true, seq);
                           });
            break;
    }
}

void GatewayCore::sweep() {
    static thread_local unsigned ticks = 0;
    const bool retry = (++ticks % 10) == 0;
    const auto now = SteadyClock::now();
    for (auto& [acc, ctx] : accounts_) {
        for (auto& [name, gp] : ctx->groups) {
            Group& g = *gp;
            std::vector<std::shared_ptr<Member>> freed;
            for (auto it = g.inflight.begin(); it != g.inflight.end();) {
                if (it->second.deadline <= now && !it->second.settling) {
                    if (auto m = it->second.member.lock()) {
                        --m->inflight;
                        freed.push_back(m);
                    }
                    it = g.inflight.erase(it);
                } else {
                    ++it;
                }
            }
            // Parked events whose hold passed are the consumer's to give out again.
            std::erase_if(g.parked, [&](const Event& e) { return e.parked_until <= now; });
            for (auto it = g.members.begin(); it != g.members.end();) {
                auto m = it->second;
                if (!m->ws && !m->asking && m->inflight == 0 && now - m->last_seen > std::chrono::seconds(60)) {
                    ++it;
                    leave(g, m);
                    continue;
                }
                ++it;
            }
            for (auto& m : freed) top_up(g, m);
            if (retry)
                for (auto& [id, m] : g.members) top_up(g, m);
            drain_parked(g);
        }
    }
}

void GatewayCore::group_deleted(Group& g) {
    g.deleted = true;
    auto members = g.members;
    for (auto& [id, m] : members) {
        auto notify = m->group_deleted;
        leave(g, m);
        if (notify) notify();
    }
    g.inflight.clear();
    g.parked.clear();
}

Awaitable<HttpResponse> GatewayCore::fetch(Caller, std::shared_ptr<Group> g, std::string body) {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec) co_return bad("malformed JSON: " + ec.message());
    if (!v.is_object()) co_return bad("the body must be a JSON object");
    std::string member_id;
    std::int64_t max = 1, wait_ms = 0;
    for (const auto& [k, x] : v.get_object()) {
        if (k == "member_id") {
            if (!x.is_string()) co_return bad("member_id must be a string");
            member_id = std::string(x.get_string());
        } else if (k == "max" || k == "wait_ms") {
            if (!x.is_int64() && !x.is_uint64()) co_return bad(fmt::format("{} must be an integer", std::string_view(k)));
            const std::int64_t n = x.is_int64() ? x.get_int64() : std::int64_t(std::min<std::uint64_t>(x.get_uint64(), 1u << 30));
            if (k == "max") {
                if (n < 1 || n > 1000) co_return bad("max must be in 1..1000");
                max = n;
            } else {
                if (n < 0 || n > 60000) co_return bad("wait_ms must be in 0..60000");
                wait_ms = n;
            }
        } else {
            co_return bad(fmt::format("unknown field \"{}\"", std::string_view(k)));
        }
    }
    if (member_id.empty()) co_return bad("member_id is required");
    if (!valid_name(member_id)) co_return bad("member_id must match [A-Za-z0-9_-]{1,64}");
    std::shared_ptr<Member> m;
    if (auto it = g->members.find(member_id); it != g->members.end()) {
        m = it->second;
        if (m->ws) co_return failure_response({409, "already_exists", fmt::format("member id {} is in use", member_id)});
        if (m->asking)
            co_return failure_response({409, "already_exists", fmt::format("member {} has a fetch waiting", member_id)});
    } else {
        m = join(*g, member_id, false);
    }
    m->last_seen = SteadyClock::now();
    // Shared with the callbacks, which may outlive this coroutine (a pull that ends late).
    struct State {
        explicit State(asio::io_context& l) : signal(l) {}
        asio::steady_timer signal;
        std::vector<Event> events;
        std::size_t want = 0;
        bool open = true;
        bool ended = false;
    };
    auto st = std::make_shared<State>(loop());
    const int r = room(*g, *m);
    st->want = std::size_t(std::max<std::int64_t>(0, std::min<std::int64_t>(max, r)));
    if (st->want > 0) {
        m->asking = true;
        m->take = [st](Event& e) {
            if (!st->open || st->events.size() >= st->want) return false;
            st->events.push_back(e);
            if (st->events.size() >= st->want) st->signal.cancel();
            return true;
        };
        drain_parked(*g);
        auto ended = [st] {
            st->ended = true;
            st->signal.cancel();
        };
        if (st->events.size() < st->want) {
            st->ended = false;
            pull(*g, m, int(st->want - st->events.size()), true, {}, ended);
            while (!st->ended && st->events.size() < st->want) co_await wait_for(st->signal, std::chrono::milliseconds(1000));
        }
        if (st->events.empty() && wait_ms > 0 && !g->deleted && !m->closed) {
            // The long poll: one event ends it.
            st->ended = false;
            pull(*g, m, 1, false, std::chrono::milliseconds(wait_ms), ended);
            const auto until = SteadyClock::now() + std::chrono::milliseconds(wait_ms + 2000);
            while (!st->ended && st->events.empty() && SteadyClock::now() < until)
                co_await wait_for(st->signal, std::chrono::milliseconds(wait_ms + 2000));
        }
        st->open = false;
        m->asking = false;
        m->take = nullptr;
        m->last_seen = SteadyClock::now();
    }
    std::string out = "{\"events\":[";
    for (std::size_t i = 0; i < st->events.size(); ++i) {
        if (i) out += ',';
        out += http_event_json(st->events[i]);
    }
    out += "]}";
    if (g->spec.ack_auto)
        for (const auto& e : st->events) settle(*g, e.seq, AckType::Ack, 0, {});
    co_return HttpResponse{200, "application/json", std::move(out)};
}

Awaitable<HttpResponse> GatewayCore::ack(Caller, std::shared_ptr<Group> g, std::string body) {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec) co_return bad("malformed JSON: " + ec.message());
    if (!v.is_object()) co_return bad("the body must be a JSON object");
    std::string event_id, type = "ack";
    std::int64_t delay_ms = 0;
    for (const auto& [k, x] : v.get_object()) {
        if (k == "event_id") {
            if (!x.is_string()) co_return bad("event_id must be a string");
            event_id = std::string(x.get_string());
        } else if (k == "type") {
            if (!x.is_string()) co_return bad("type must be a string");
            type = std::string(x.get_string());
            if (type != "ack" && type != "nak" && type != "term") co_return bad("type must be ack, nak or term");
        } else if (k == "delay_ms") {
            if (!x.is_int64() && !x.is_uint64()) co_return bad("delay_ms must be an integer");
            delay_ms = x.is_int64() ? x.get_int64() : 3600001;
            if (delay_ms < 0 || delay_ms > 3600000) co_return bad("delay_ms must be in 0..3600000");
        } else {
            co_return bad(fmt::format("unknown field \"{}\"", std::string_view(k)));
        }
    }
    if (event_id.empty()) co_return bad("event_id is required");
    std::uint64_t seq = 0;
    for (char c : event_id) {
        if (c < '0' || c > '9' || event_id.size() > 19) co_return bad("event_id must be a decimal stream sequence");
        seq = seq * 10 + std::uint64_t(c - '0');
    }
    if (g->spec.ack_auto) co_return HttpResponse{200, "application/json", "{}"};
    struct State {
        explicit State(asio::io_context& l) : signal(l) {}
        asio::steady_timer signal;
        std::optional<std::optional<ApiFailure>> result;
    };
    auto st = std::make_shared<State>(loop());
    settle(*g, seq, type == "ack" ? AckType::Ack : type == "nak" ? AckType::Nak : AckType::Term, delay_ms,
           [st](std::optional<ApiFailure> f) {
               st->result = std::move(f);
               st->signal.cancel();
           });
    const auto until = SteadyClock::now() + std::chrono::seconds(20);
    while (!st->result && SteadyClock::now() < until) co_await wait_for(st->signal, std::chrono::seconds(20));
    if (!st->result) co_return failure_response({500, "internal", "the ack was not confirmed in time"});
    if (*st->result) co_return failure_response(**st->result);
    co_return HttpResponse{200, "application/json", "{}"};
}

}  // namespace osprey::groups
