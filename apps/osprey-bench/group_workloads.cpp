// Consumer-group workloads (docs/groups.md, the team's groups-api.md):
//   group-ws        N WebSocket members (Ironflow /ws shape), one ack message per event
//   group-http      N HTTP members: POST .../fetch (max 100, wait_ms 1000), POST .../ack per event
//   js-group-fetch  the baseline with nats.c only (runs against nats-server too): one durable
//                   pull consumer, N fetchers (own connection each), Fetch batch 100, natsMsg_Ack
// All three: a stream GROUPS on grp.>, a nats.c publisher (JetStream async publish, at most
// --window messages ahead of the acked ones) whose JSON payload {"t":<steady ns>,"i":<index>,
// "p":"xx.."} carries the publish time and the message's index, so every delivery is timed
// (publish -> delivery, same machine, same steady clock) and counted per index (duplicates,
// missing). events/s is --msgs over first publish -> last index acked. Every wait is bounded:
// each network operation by a timeout, the whole workload by --time-limit.
#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "js_env.h"
#include "workloads.h"

namespace bench {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kStream = "GROUPS";
constexpr const char* kGroup = "bench";
constexpr const char* kPattern = "grp.>";
constexpr const char* kSubject = "grp.bench";
constexpr int kBatch = 100;  // max_inflight of the group, max of a fetch, batch of the baseline

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// What every member reports to: deliveries per index, acks per index, latency per member.
struct Tracker {
    long msgs = 0;
    std::unique_ptr<std::atomic<std::uint32_t>[]> seen;
    std::unique_ptr<std::atomic<std::uint8_t>[]> acked;
    std::atomic<long> unique{0}, acked_unique{0}, dups{0}, bad{0}, ack_errors{0}, errors{0};
    std::atomic<std::int64_t> first_pub_ns{0}, last_ack_ns{0};
    std::atomic<bool> stop{false};

    explicit Tracker(long n) : msgs(n), seen(new std::atomic<std::uint32_t>[std::size_t(n)]),
                               acked(new std::atomic<std::uint8_t>[std::size_t(n)]) {
        for (long i = 0; i < n; ++i) {
            seen[i].store(0, std::memory_order_relaxed);
            acked[i].store(0, std::memory_order_relaxed);
        }
    }
    // A delivery of index i published at t; false if it is not one of ours.
    bool delivered(std::int64_t t, long i, std::int64_t now, std::vector<double>& lat, long& count) {
        if (i < 0 || i >= msgs) {
            bad.fetch_add(1, std::memory_order_relaxed);
            return false;
        }
        lat.push_back(double(now - t) / 1e3);
        ++count;
        if (seen[i].fetch_add(1, std::memory_order_relaxed) > 0) dups.fetch_add(1, std::memory_order_relaxed);
        else unique.fetch_add(1, std::memory_order_relaxed);
        return true;
    }
    void ack_done(long i) {
        if (i < 0 || i >= msgs) return;
        if (acked[i].exchange(1, std::memory_order_relaxed) == 0) {
            last_ack_ns.store(now_ns(), std::memory_order_relaxed);
            acked_unique.fetch_add(1, std::memory_order_release);
        }
    }
    long missing() const {
        long m = 0;
        for (long i = 0; i < msgs; ++i) m += seen[i].load(std::memory_order_relaxed) == 0;
        return m;
    }
};

// {"t":..,"i":..} out of a raw payload.
bool parse_raw(std::string_view s, std::int64_t& t, long& i) {
    const auto pt = s.find("\"t\":");
    const auto pi = s.find("\"i\":");
    if (pt == std::string_view::npos || pi == std::string_view::npos) return false;
    std::string buf(s.substr(0, std::min<std::size_t>(s.size(), 64)));
    if (pt + 4 >= buf.size() || pi + 4 >= buf.size()) return false;
    t = std::strtoll(buf.c_str() + pt + 4, nullptr, 10);
    i = std::strtol(buf.c_str() + pi + 4, nullptr, 10);
    return true;
}

// The stamp out of an event's data: the parsed JSON object, or the payload as a string.
bool parse_data(const json::value* data, std::int64_t& t, long& i) {
    if (!data) return false;
    if (data->is_object()) {
        const auto& o = data->get_object();
        const auto* jt = o.if_contains("t");
        const auto* ji = o.if_contains("i");
        if (!jt || !ji || !jt->is_number() || !ji->is_number()) return false;
        t = jt->to_number<std::int64_t>();
        i = long(ji->to_number<std::int64_t>());
        return true;
    }
    if (data->is_string()) return parse_raw(std::string_view(data->get_string()), t, i);
    return false;
}

std::string make_payload(int size, std::int64_t t, long i) {
    char head[96];
    const int n = std::snprintf(head, sizeof head, "{\"t\":%lld,\"i\":%ld,\"p\":\"", (long long)t, i);
    std::string p(head, std::size_t(n));
    if (int(p.size()) + 2 < size) p.append(std::size_t(size - int(p.size()) - 2), 'x');
    p += "\"}";
    return p;
}

struct HttpUrl {
    std::string host = "127.0.0.1", port = "8222";
};

HttpUrl parse_url(const std::string& u) {
    HttpUrl r;
    std::string s = u;
    if (auto p = s.find("://"); p != std::string::npos) s = s.substr(p + 3);
    if (auto p = s.find('/'); p != std::string::npos) s = s.substr(0, p);
    if (auto p = s.rfind(':'); p != std::string::npos) {
        r.host = s.substr(0, p);
        r.port = s.substr(p + 1);
    } else if (!s.empty()) {
        r.host = s;
        r.port = "80";
    }
    return r;
}

// One HTTP request on a connection of its own, 10 s at most. status 0: no answer.
std::pair<int, std::string> http_call(const HttpUrl& u, http::verb verb, const std::string& target,
                                      const std::string& body) {
    asio::io_context ioc;
    std::pair<int, std::string> out{0, ""};
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            tcp::resolver resolver(ex);
            beast::tcp_stream stream(ex);
            stream.expires_after(10s);
            auto eps = co_await resolver.async_resolve(u.host, u.port, asio::use_awaitable);
            co_await stream.async_connect(eps, asio::use_awaitable);
            http::request<http::string_body> req{verb, target, 11};
            req.set(http::field::host, u.host + ":" + u.port);
            req.set(http::field::content_type, "application/json");
            req.keep_alive(false);
            if (!body.empty() || verb == http::verb::post) req.body() = body;
            req.prepare_payload();
            co_await http::async_write(stream, req, asio::use_awaitable);
            beast::flat_buffer buf;
            http::response<http::string_body> res;
            co_await http::async_read(stream, buf, res, asio::use_awaitable);
            out = {int(res.result_int()), res.body()};
        },
        [&](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                out.second = x.what();
            }
        });
    ioc.run_for(12s);
    return out;
}

// A member with an io_context and a thread of its own.
struct Member {
    std::string id;
    asio::io_context ioc;
    std::thread thread;
    std::function<void()> cancel;      // touched on the member's thread only
    std::atomic<int> state{0};         // 0 connecting, 1 subscribed, -1 failed
    std::atomic<bool> finished{false};
    std::vector<double> lat;           // member's thread only, read after join
    long count = 0;
    std::string error;
};

void note_failure(Member& m, Tracker& tr, std::exception_ptr e) {
    if (!e) return;
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        if (!tr.stop.load()) {
            m.error = x.what();
            tr.errors.fetch_add(1);
            std::fprintf(stderr, "member %s: %s\n", m.id.c_str(), x.what());
        }
    }
    if (m.state.load() == 0) m.state.store(-1);
}

struct ScopeExit {
    std::function<void()> f;
    ~ScopeExit() { f(); }
};

asio::awaitable<void> ws_member(Member& m, Tracker& tr, HttpUrl u) {
    auto ex = co_await asio::this_coro::executor;
    tcp::resolver resolver(ex);
    websocket::stream<beast::tcp_stream> ws(ex);
    m.cancel = [&ws] { beast::get_lowest_layer(ws).cancel(); };
    ScopeExit reset{[&m] { m.cancel = nullptr; }};
    beast::get_lowest_layer(ws).expires_after(5s);
    auto eps = co_await resolver.async_resolve(u.host, u.port, asio::use_awaitable);
    co_await beast::get_lowest_layer(ws).async_connect(eps, asio::use_awaitable);
    beast::get_lowest_layer(ws).socket().set_option(tcp::no_delay(true));
    beast::get_lowest_layer(ws).expires_never();
    websocket::stream_base::timeout to{};
    to.handshake_timeout = 5s;
    to.idle_timeout = websocket::stream_base::none();
    to.keep_alive_pings = false;
    ws.set_option(to);
    co_await ws.async_handshake(u.host + ":" + u.port, "/ws", asio::use_awaitable);
    ws.text(true);
    const std::string sub = json::serialize(json::object{
        {"type", "subscribe"},
        {"subscription",
         json::object{{"pattern", kPattern},
                      {"options", json::object{{"consumerGroup", kGroup}, {"consumerId", m.id}}}}}});
    co_await ws.async_write(asio::buffer(sub), asio::use_awaitable);
    std::unordered_map<std::string, long> unacked;  // eventId -> index, until its ack_result
    beast::flat_buffer buf;
    std::string ack;
    while (!tr.stop.load(std::memory_order_relaxed)) {
        buf.clear();
        co_await ws.async_read(buf, asio::use_awaitable);
        const std::int64_t now = now_ns();
        const auto text = beast::buffers_to_string(buf.data());
        json::error_code ec;
        json::value v = json::parse(text, ec);
        if (ec || !v.is_object()) {
            tr.bad.fetch_add(1);
            continue;
        }
        const auto& o = v.get_object();
        const auto* type = o.if_contains("type");
        const std::string_view t = type && type->is_string() ? std::string_view(type->get_string()) : "";
        if (t == "event") {
            const auto* id = o.if_contains("eventId");
            std::int64_t ts = 0;
            long idx = -1;
            if (!id || !id->is_string() || !parse_data(o.if_contains("data"), ts, idx)) {
                tr.bad.fetch_add(1);
                continue;
            }
            std::string eid(id->get_string());
            if (!tr.delivered(ts, idx, now, m.lat, m.count)) continue;
            unacked[eid] = idx;
            ack = "{\"type\":\"ack\",\"eventId\":\"" + eid + "\"}";
            co_await ws.async_write(asio::buffer(ack), asio::use_awaitable);
        } else if (t == "ack_result") {
            const auto* id = o.if_contains("eventId");
            const auto* st = o.if_contains("status");
            if (!id || !id->is_string()) continue;
            auto it = unacked.find(std::string(id->get_string()));
            if (it == unacked.end()) continue;
            if (st && st->is_string() && st->get_string() == "ok") tr.ack_done(it->second);
            else {
                tr.ack_errors.fetch_add(1);
                if (tr.ack_errors.load() <= 3) std::fprintf(stderr, "member %s: %s\n", m.id.c_str(), text.c_str());
            }
            unacked.erase(it);
        } else if (t == "subscription_result") {
            const auto* rs = o.if_contains("results");
            bool ok = rs && rs->is_array() && !rs->get_array().empty() && rs->get_array()[0].is_object();
            if (ok) {
                const auto* st = rs->get_array()[0].get_object().if_contains("status");
                ok = st && st->is_string() && st->get_string() == "ok";
            }
            if (!ok) {
                m.error = text;
                std::fprintf(stderr, "member %s: %s\n", m.id.c_str(), text.c_str());
            }
            m.state.store(ok ? 1 : -1);
            if (!ok) co_return;
        } else {
            tr.errors.fetch_add(1);
            std::fprintf(stderr, "member %s: %s\n", m.id.c_str(), text.c_str());
        }
    }
}

asio::awaitable<void> http_member(Member& m, Tracker& tr, HttpUrl u) {
    auto ex = co_await asio::this_coro::executor;
    tcp::resolver resolver(ex);
    auto eps = co_await resolver.async_resolve(u.host, u.port, asio::use_awaitable);
    beast::tcp_stream stream(ex);
    m.cancel = [&stream] { stream.cancel(); };
    ScopeExit reset{[&m] { m.cancel = nullptr; }};
    bool connected = false;
    beast::flat_buffer buf;
    const std::string host = u.host + ":" + u.port;
    const std::string fetch_target = std::string("/v1/groups/") + kGroup + "/fetch";
    const std::string ack_target = std::string("/v1/groups/") + kGroup + "/ack";
    const std::string fetch_body = "{\"member_id\":\"" + m.id + "\",\"max\":" + std::to_string(kBatch) +
                                   ",\"wait_ms\":1000}";
    // One request on the keep-alive connection (reconnecting if the server closed it).
    auto call = [&](const std::string& target, std::string body,
                    http::response<http::string_body>& res) -> asio::awaitable<void> {
        if (!connected) {
            stream.expires_after(5s);
            co_await stream.async_connect(eps, asio::use_awaitable);
            stream.socket().set_option(tcp::no_delay(true));
            buf.clear();
            connected = true;
        }
        http::request<http::string_body> req{http::verb::post, target, 11};
        req.set(http::field::host, host);
        req.set(http::field::content_type, "application/json");
        req.keep_alive(true);
        req.body() = std::move(body);
        req.prepare_payload();
        stream.expires_after(6s);  // wait_ms 1000 + slack
        co_await http::async_write(stream, req, asio::use_awaitable);
        co_await http::async_read(stream, buf, res, asio::use_awaitable);
        stream.expires_never();
        if (res.need_eof()) {
            beast::error_code ec;
            stream.socket().shutdown(tcp::socket::shutdown_both, ec);
            stream.close();
            connected = false;
        }
    };
    bool first = true;
    while (!tr.stop.load(std::memory_order_relaxed)) {
        http::response<http::string_body> res;
        co_await call(fetch_target, fetch_body, res);
        if (first) {  // the member exists once it fetched
            first = false;
            m.state.store(res.result_int() == 200 ? 1 : -1);
            if (res.result_int() != 200) {
                m.error = res.body();
                std::fprintf(stderr, "member %s: fetch %d %s\n", m.id.c_str(), res.result_int(), res.body().c_str());
                co_return;
            }
        }
        const std::int64_t now = now_ns();
        if (res.result_int() != 200) {
            tr.errors.fetch_add(1);
            std::fprintf(stderr, "member %s: fetch %d %s\n", m.id.c_str(), res.result_int(), res.body().c_str());
            asio::steady_timer pause(ex, 10ms);
            co_await pause.async_wait(asio::use_awaitable);
            continue;
        }
        json::error_code ec;
        json::value v = json::parse(res.body(), ec);
        const json::value* evs = !ec && v.is_object() ? v.get_object().if_contains("events") : nullptr;
        if (!evs || !evs->is_array()) {
            tr.bad.fetch_add(1);
            continue;
        }
        for (const auto& e : evs->get_array()) {
            if (!e.is_object()) continue;
            const auto& o = e.get_object();
            const auto* id = o.if_contains("event_id");
            std::int64_t ts = 0;
            long idx = -1;
            if (!id || !id->is_string() || !parse_data(o.if_contains("data"), ts, idx)) {
                tr.bad.fetch_add(1);
                continue;
            }
            if (!tr.delivered(ts, idx, now, m.lat, m.count)) continue;
            http::response<http::string_body> ar;
            co_await call(ack_target, "{\"event_id\":\"" + std::string(id->get_string()) + "\"}", ar);
            if (ar.result_int() == 200) tr.ack_done(idx);
            else if (tr.ack_errors.fetch_add(1) < 3)
                std::fprintf(stderr, "member %s: ack %d %s\n", m.id.c_str(), ar.result_int(), ar.body().c_str());
        }
    }
}

// Publishes c.msgs stamped messages, at most c.window ahead of the acked ones.
bool publish(const Config& c, Tracker& tr, Clock::time_point deadline) {
    JsEnv env;
    if (!env.open(c, std::max<long>(c.window, 1) + 16)) return false;
    tr.first_pub_ns.store(now_ns());
    for (long i = 0; i < c.msgs; ++i) {
        while (i - tr.acked_unique.load(std::memory_order_acquire) >= c.window) {
            if (Clock::now() > deadline) {
                std::fprintf(stderr, "publish: no progress (published %ld, acked %ld)\n", i, tr.acked_unique.load());
                return false;
            }
            std::this_thread::sleep_for(20us);
        }
        const std::string p = make_payload(c.size, now_ns(), i);
        natsStatus s;
        while ((s = js_PublishAsync(env.js, kSubject, p.data(), int(p.size()), nullptr)) != NATS_OK) {
            if (Clock::now() > deadline) {
                std::fprintf(stderr, "publish async: %s\n", natsStatus_GetText(s));
                return false;
            }
        }
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    po.MaxWait = std::max<std::int64_t>(1000, left);
    if (js_PublishAsyncComplete(env.js, &po) != NATS_OK) {
        std::fprintf(stderr, "publish async: not all acknowledged\n");
        return false;
    }
    return true;
}

void wait_acked(Tracker& tr, Clock::time_point deadline) {
    while (tr.acked_unique.load() < tr.msgs && Clock::now() < deadline) std::this_thread::sleep_for(100us);
    // A moment for an immediate duplicate to show.
    std::this_thread::sleep_for(100ms);
}

int report(const char* name, const Config& c, Tracker& tr, std::vector<std::vector<double>*> lats,
           const std::vector<long>& counts) {
    std::vector<double> v;
    for (auto* l : lats) v.insert(v.end(), l->begin(), l->end());
    std::sort(v.begin(), v.end());
    auto pct = [&](double p) { return v.empty() ? 0.0 : v[std::min(v.size() - 1, std::size_t(p * double(v.size())))]; };
    const std::int64_t end = tr.last_ack_ns.load() ? tr.last_ack_ns.load() : now_ns();
    const double secs = double(end - tr.first_pub_ns.load()) / 1e9;
    const long missing = tr.missing();
    std::string per;
    for (std::size_t i = 0; i < counts.size(); ++i) per += (i ? "/" : "") + std::to_string(counts[i]);
    std::printf(
        "workload=%s members=%d msgs=%ld size=%d window=%ld delivered=%ld acked=%ld duplicates=%ld missing=%ld "
        "ack_errors=%ld errors=%ld bad=%ld per_member=%s elapsed_s=%.4f msgs_per_s=%.0f p50_us=%.1f p90_us=%.1f "
        "p99_us=%.1f p999_us=%.1f\n",
        name, c.members, c.msgs, c.size, c.window, tr.unique.load(), tr.acked_unique.load(), tr.dups.load(), missing,
        tr.ack_errors.load(), tr.errors.load(), tr.bad.load(), per.c_str(), secs,
        secs > 0 ? double(tr.acked_unique.load()) / secs : 0.0, pct(0.5), pct(0.9), pct(0.99), pct(0.999));
    std::fflush(stdout);
    return missing == 0 && tr.acked_unique.load() == c.msgs ? 0 : 1;
}

bool fresh_stream(JsEnv& env, const Config& c) { return env.fresh_stream(kStream, kPattern, c); }

int run_gateway(const Config& c, bool ws) {
    const char* name = ws ? "group-ws" : "group-http";
    const auto deadline = Clock::now() + std::chrono::seconds(c.time_limit);
    const HttpUrl u = parse_url(c.http_url);
    http_call(u, http::verb::delete_, std::string("/v1/groups/") + kGroup, "");
    {
        JsEnv env;
        if (!env.open(c) || !fresh_stream(env, c)) return 1;
    }
    const std::string body = std::string("{\"name\":\"") + kGroup + "\",\"stream\":\"" + kStream +
                             "\",\"pattern\":\"" + kPattern + "\",\"max_inflight\":" + std::to_string(kBatch) +
                             ",\"redeliver_delay_ms\":30000}";
    auto [status, answer] = http_call(u, http::verb::post, "/v1/groups", body);
    if (status != 201) {
        std::fprintf(stderr, "create group: %d %s\n", status, answer.c_str());
        return 1;
    }
    Tracker tr(c.msgs);
    std::vector<std::unique_ptr<Member>> members;
    for (int i = 0; i < c.members; ++i) {
        auto m = std::make_unique<Member>();
        m->id = (ws ? "m" : "h") + std::to_string(i);
        m->lat.reserve(std::size_t(c.msgs / std::max(1, c.members) * 2 + 16));
        Member* mp = m.get();
        if (ws)
            asio::co_spawn(mp->ioc, ws_member(*mp, tr, u), [mp, &tr](std::exception_ptr e) { note_failure(*mp, tr, e); });
        else
            asio::co_spawn(mp->ioc, http_member(*mp, tr, u), [mp, &tr](std::exception_ptr e) { note_failure(*mp, tr, e); });
        mp->thread = std::thread([mp] {
            mp->ioc.run();
            mp->finished.store(true);
        });
        members.push_back(std::move(m));
    }
    bool ready = false;
    for (auto until = Clock::now() + 10s; Clock::now() < until;) {
        int ok = 0, failed = 0;
        for (auto& m : members) ok += m->state.load() == 1, failed += m->state.load() < 0;
        if (failed) break;
        if (ok == c.members) {
            ready = true;
            break;
        }
        std::this_thread::sleep_for(1ms);
    }
    int rc = 1;
    if (!ready) std::fprintf(stderr, "%s: members not subscribed within 10 s\n", name);
    else if (publish(c, tr, deadline)) {
        wait_acked(tr, deadline);
        std::vector<std::vector<double>*> lats;
        std::vector<long> counts;
        tr.stop.store(true);
        for (auto& m : members) asio::post(m->ioc, [mp = m.get()] { if (mp->cancel) mp->cancel(); });
        for (auto& m : members) {
            for (auto until = Clock::now() + 3s; !m->finished.load() && Clock::now() < until;)
                std::this_thread::sleep_for(1ms);
            m->ioc.stop();
            m->thread.join();
            lats.push_back(&m->lat);
            counts.push_back(m->count);
        }
        rc = report(name, c, tr, lats, counts);
    }
    tr.stop.store(true);
    for (auto& m : members) {
        if (!m->thread.joinable()) continue;
        asio::post(m->ioc, [mp = m.get()] { if (mp->cancel) mp->cancel(); });
        for (auto until = Clock::now() + 3s; !m->finished.load() && Clock::now() < until;)
            std::this_thread::sleep_for(1ms);
        m->ioc.stop();
        m->thread.join();
    }
    return rc;
}

}  // namespace

int run_group_ws(const Config& c) { return run_gateway(c, true); }
int run_group_http(const Config& c) { return run_gateway(c, false); }

int run_js_group_fetch(const Config& c) {
    const auto deadline = Clock::now() + std::chrono::seconds(c.time_limit);
    JsEnv admin;
    if (!admin.open(c) || !fresh_stream(admin, c)) return 1;
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = kGroup;
    cc.DeliverPolicy = js_DeliverNew;
    cc.AckPolicy = js_AckExplicit;
    cc.FilterSubject = kPattern;
    cc.AckWait = std::int64_t(30) * 1000000000;
    cc.MaxAckPending = -1;  // as osprey's groups: the members bound themselves (batch 100)
    jsConsumerInfo* ci = nullptr;
    jsErrCode e;
    if (natsStatus s = js_AddConsumer(&ci, admin.js, kStream, &cc, nullptr, &e); s != NATS_OK) {
        std::fprintf(stderr, "add consumer: %s (%d)\n", natsStatus_GetText(s), int(e));
        return 1;
    }
    jsConsumerInfo_Destroy(ci);
    Tracker tr(c.msgs);
    struct Fetcher {
        std::thread thread;
        std::atomic<int> state{0};
        std::vector<double> lat;
        long count = 0;
    };
    std::vector<std::unique_ptr<Fetcher>> fs;
    for (int i = 0; i < c.members; ++i) {
        auto f = std::make_unique<Fetcher>();
        f->lat.reserve(std::size_t(c.msgs / std::max(1, c.members) * 2 + 16));
        Fetcher* fp = f.get();
        fp->thread = std::thread([fp, &c, &tr, deadline] {
            JsEnv env;
            natsSubscription* sub = nullptr;
            jsSubOptions so;
            jsSubOptions_Init(&so);
            so.Stream = kStream;
            so.Consumer = kGroup;
            jsErrCode err;
            if (!env.open(c) || js_PullSubscribe(&sub, env.js, kPattern, kGroup, nullptr, &so, &err) != NATS_OK) {
                std::fprintf(stderr, "pull subscribe failed\n");
                fp->state.store(-1);
                return;
            }
            fp->state.store(1);
            while (!tr.stop.load(std::memory_order_relaxed) && Clock::now() < deadline) {
                natsMsgList list{};
                natsStatus s = natsSubscription_Fetch(&list, sub, kBatch, 1000, &err);
                if (s == NATS_TIMEOUT) continue;
                if (s != NATS_OK) {
                    if (tr.errors.fetch_add(1) < 3) std::fprintf(stderr, "fetch: %s (%d)\n", natsStatus_GetText(s), int(err));
                    std::this_thread::sleep_for(10ms);
                    continue;
                }
                const std::int64_t now = now_ns();
                for (int k = 0; k < list.Count; ++k) {
                    natsMsg* m = list.Msgs[k];
                    std::int64_t ts = 0;
                    long idx = -1;
                    if (!parse_raw(std::string_view(natsMsg_GetData(m), std::size_t(natsMsg_GetDataLength(m))), ts, idx)) {
                        tr.bad.fetch_add(1);
                        continue;
                    }
                    if (!tr.delivered(ts, idx, now, fp->lat, fp->count)) continue;
                    if (natsMsg_Ack(m, nullptr) == NATS_OK) tr.ack_done(idx);
                    else tr.ack_errors.fetch_add(1);
                }
                natsMsgList_Destroy(&list);
            }
            natsSubscription_Unsubscribe(sub);
            natsSubscription_Destroy(sub);
        });
        fs.push_back(std::move(f));
    }
    bool ready = false;
    for (auto until = Clock::now() + 10s; Clock::now() < until;) {
        int ok = 0, failed = 0;
        for (auto& f : fs) ok += f->state.load() == 1, failed += f->state.load() < 0;
        if (failed) break;
        if (ok == c.members) {
            ready = true;
            break;
        }
        std::this_thread::sleep_for(1ms);
    }
    int rc = 1;
    const bool published = ready && publish(c, tr, deadline);
    if (published) wait_acked(tr, deadline);
    tr.stop.store(true);
    std::vector<std::vector<double>*> lats;
    std::vector<long> counts;
    for (auto& f : fs) {
        f->thread.join();  // each Fetch ends within its 1 s timeout
        lats.push_back(&f->lat);
        counts.push_back(f->count);
    }
    if (published) rc = report("js-group-fetch", c, tr, lats, counts);
    else std::fprintf(stderr, "js-group-fetch: %s\n", ready ? "publish failed" : "fetchers not ready within 10 s");
    return rc;
}

}  // namespace bench
