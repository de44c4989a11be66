// Dead letters: when the consumer gives up on an event (its MAX_DELIVERIES advisory) or a
// member terms it, the stored message goes, JetStream-published with the Osprey-Dlq-*
// headers, to the group's dead-letter subject; redrive moves them back.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include "groups/gateway_internal.h"
#include "util/log.h"

namespace osprey::groups {

namespace asio = boost::asio;
namespace json = boost::json;
using server::HttpResponse;

namespace {

std::string str(const json::object& o, const char* k) {
    const auto* v = o.if_contains(k);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::uint64_t u64(const json::object& o, const char* k) {
    const auto* v = o.if_contains(k);
    return v && v->is_uint64() ? v->get_uint64() : v && v->is_int64() && v->get_int64() > 0 ? std::uint64_t(v->get_int64()) : 0;
}

bool ieq_prefix(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(s[i])) != std::tolower(static_cast<unsigned char>(prefix[i])))
            return false;
    return true;
}

// The header lines of a stored message ("NATS/1.0\r\nA: b\r\n\r\n") without the ones `drop`
// refuses, as "A: b\r\n" lines.
std::string header_lines(std::string_view h, const std::function<bool(std::string_view)>& drop) {
    std::string out;
    for_each_header(h, [&](std::string_view name, std::string_view, std::string_view line) {
        if (drop(name)) return;
        out += line;
        out += "\r\n";
    });
    return out;
}

// Headers that would steer the dead letter's (or the redriven message's) own publish.
bool publish_directive(std::string_view name) {
    return ieq_prefix(name, "Nats-Msg-Id") || ieq_prefix(name, "Nats-Expected") || ieq_prefix(name, "Nats-Rollup");
}

std::string header_value(std::string_view h, std::string_view name) {
    auto o = headers_json(h);
    for (const auto& [k, v] : o)
        if (k.size() == name.size() && ieq_prefix(k, name) && v.is_string()) return std::string(v.get_string());
    return {};
}

struct StoredMessage {
    std::string subject, headers, payload;
    std::uint64_t seq = 0;
};

// $JS.API.STREAM.MSG.GET: nullopt when there is no such message.
Awaitable<std::expected<std::optional<StoredMessage>, ApiFailure>> get_message(GatewayCore& gw, AccountCtx& ctx,
                                                                               const std::string& stream,
                                                                               std::string request) {
    auto r = co_await gw.api(ctx, "$JS.API.STREAM.MSG.GET." + stream, std::move(request));
    if (!r) {
        if (r.error().status == 404) co_return std::optional<StoredMessage>();
        co_return std::unexpected(r.error());
    }
    const auto* m = r->if_contains("message");
    if (!m || !m->is_object()) co_return std::unexpected(ApiFailure{500, "internal", "MSG.GET answered no message"});
    const auto& o = m->get_object();
    StoredMessage out;
    out.subject = str(o, "subject");
    out.seq = u64(o, "seq");
    if (auto h = str(o, "hdrs"); !h.empty()) out.headers = base64_decode(h).value_or("");
    if (auto d = str(o, "data"); !d.empty()) out.payload = base64_decode(d).value_or("");
    co_return out;
}

// A JetStream publish, answered by the stream's pub ack.
Awaitable<std::optional<ApiFailure>> js_publish(AccountCtx& ctx, std::string subject, std::string headers,
                                                std::string payload) {
    auto reply = co_await ctx.client->async_request(std::move(subject), std::move(headers), std::move(payload),
                                                    std::chrono::milliseconds(5000), asio::use_awaitable);
    if (!reply) co_return ApiFailure{500, "internal", "the dead-letter stream did not acknowledge in time"};
    if (reply->status() == "503") co_return ApiFailure{500, "internal", "no stream captures the subject"};
    boost::system::error_code ec;
    json::value v = json::parse(reply->payload, ec);
    if (ec || !v.is_object()) co_return ApiFailure{500, "internal", "the stream answered no pub ack"};
    if (const auto* e = v.get_object().if_contains("error"); e && e->is_object())
        co_return ApiFailure{500, "internal", str(e->get_object(), "description")};
    co_return std::nullopt;
}

// The stream that captures a literal subject.
Awaitable<std::string> stream_of(GatewayCore& gw, AccountCtx& ctx, const std::string& subject) {
    // (Bodies are built before the co_await: GCC 12 miscompiles braced lists inside one.)
    std::string body = json::serialize(json::object{{"subject", subject}});
    auto r = co_await gw.api(ctx, "$JS.API.STREAM.NAMES", std::move(body));
    if (!r) co_return std::string();
    if (const auto* s = r->if_contains("streams"); s && s->is_array() && !s->get_array().empty() &&
                                                   s->get_array().front().is_string())
        co_return std::string(s->get_array().front().get_string());
    co_return std::string();
}

}  // namespace

void GatewayCore::listen_advisories(AccountCtx& ctx) {
    if (ctx.advisories || !jetstream_) return;
    ctx.advisories = true;
    std::weak_ptr<GatewayCore> self = weak_from_this();
    AccountCtx* cp = &ctx;
    for (const char* kind : {"MAX_DELIVERIES", "MSG_TERMINATED"}) {
        const bool term = std::string_view(kind) == "MSG_TERMINATED";
        ctx.client->subscribe(fmt::format("$JS.EVENT.ADVISORY.CONSUMER.{}.*.*", kind), [self, cp, term](Msg& m) {
            auto core = self.lock();
            if (!core) return;
            boost::system::error_code ec;
            json::value v = json::parse(m.payload, ec);
            if (ec || !v.is_object()) return;
            const auto& o = v.get_object();
            std::string stream = str(o, "stream"), consumer = str(o, "consumer");
            const std::uint64_t seq = u64(o, "stream_seq"), deliveries = u64(o, "deliveries");
            if (!valid_name(consumer) || seq == 0) return;
            asio::co_spawn(
                core->loop(),
                [core, cp, stream, consumer, seq, deliveries, term]() -> Awaitable<void> {
                    auto found = co_await core->find_group(*cp, consumer);
                    if (!found || found->first->spec.stream != stream) co_return;
                    auto g = found->first;
                    auto it = g->inflight.find(seq);
                    // A member's term here was dead-lettered before the consumer heard it.
                    if (term && (g->terminated.erase(seq) || (it != g->inflight.end() && it->second.settling))) co_return;
                    if (it != g->inflight.end() && !it->second.settling) {
                        if (auto mem = it->second.member.lock()) --mem->inflight;
                        g->inflight.erase(it);
                    }
                    if (auto f = co_await core->dead_letter(g, seq, term ? "term" : "max_redeliveries", deliveries))
                        log::warn("groups: dead letter of {} in {} failed: {}", seq, g->spec.name, f->message);
                },
                asio::detached);
        });
    }
}

Awaitable<std::optional<ApiFailure>> GatewayCore::dead_letter(std::shared_ptr<Group> g, std::uint64_t seq,
                                                              std::string reason, std::uint64_t deliveries) {
    if (g->spec.dead_letter_subject.empty()) co_return std::nullopt;  // dropped
    AccountCtx& ctx = *g->acc;
    auto msg = co_await get_message(*this, ctx, g->spec.stream, fmt::format("{{\"seq\":{}}}", seq));
    if (!msg) co_return msg.error();
    if (!*msg) co_return std::nullopt;  // the stream no longer has it
    const StoredMessage& sm = **msg;
    std::string h = "NATS/1.0\r\n";
    h += header_lines(sm.headers, [](std::string_view n) { return publish_directive(n); });
    h += fmt::format("Osprey-Dlq-Reason: {}\r\nOsprey-Dlq-Group: {}\r\nOsprey-Dlq-Stream: {}\r\n"
                     "Osprey-Dlq-Sequence: {}\r\nOsprey-Dlq-Subject: {}\r\nOsprey-Dlq-Deliveries: {}\r\n"
                     "Nats-Msg-Id: {}-{}-{}\r\n\r\n",
                     reason, g->spec.name, g->spec.stream, seq, sm.subject, deliveries, g->spec.name,
                     g->spec.stream, seq);
    co_return co_await js_publish(ctx, g->spec.dead_letter_subject, std::move(h), sm.payload);
}

Awaitable<std::uint64_t> GatewayCore::count_dead_letters(AccountCtx& ctx, const GroupSpec& g) {
    if (g.dead_letter_subject.empty()) co_return 0;
    const std::string stream = co_await stream_of(*this, ctx, g.dead_letter_subject);
    if (stream.empty()) co_return 0;
    std::string body = json::serialize(json::object{{"subjects_filter", g.dead_letter_subject}});
    auto info = co_await api(ctx, "$JS.API.STREAM.INFO." + stream, std::move(body));
    if (!info) co_return 0;
    const auto* state = info->if_contains("state");
    if (!state || !state->is_object()) co_return 0;
    const auto* subs = state->get_object().if_contains("subjects");
    if (!subs || !subs->is_object()) co_return 0;
    co_return u64(subs->get_object(), g.dead_letter_subject.c_str());
}

Awaitable<HttpResponse> GatewayCore::redrive(std::shared_ptr<Group> g, std::string body) {
    std::int64_t max = 100;
    if (!body.empty()) {
        boost::system::error_code ec;
        json::value v = json::parse(body, ec);
        if (ec) co_return failure_response({400, "invalid_argument", "malformed JSON: " + ec.message()});
        if (!v.is_object()) co_return failure_response({400, "invalid_argument", "the body must be a JSON object"});
        for (const auto& [k, x] : v.get_object()) {
            if (k != "max")
                co_return failure_response({400, "invalid_argument", fmt::format("unknown field \"{}\"", std::string_view(k))});
            if (!x.is_int64() || x.get_int64() < 1 || x.get_int64() > 10000)
                co_return failure_response({400, "invalid_argument", "max must be an integer in 1..10000"});
            max = x.get_int64();
        }
    }
    if (g->spec.dead_letter_subject.empty())
        co_return failure_response({400, "invalid_argument", "the group has no dead_letter_subject"});
    AccountCtx& ctx = *g->acc;
    const std::string dlq = co_await stream_of(*this, ctx, g->spec.dead_letter_subject);
    if (dlq.empty()) co_return failure_response({404, "not_found", "no stream captures the dead-letter subject"});
    std::int64_t moved = 0;
    std::uint64_t from = 1;
    while (moved < max) {
        std::string req = json::serialize(json::object{{"seq", from}, {"next_by_subj", g->spec.dead_letter_subject}});
        auto msg = co_await get_message(*this, ctx, dlq, std::move(req));
        if (!msg) co_return failure_response(msg.error());
        if (!*msg) break;
        const StoredMessage& sm = **msg;
        from = sm.seq + 1;
        if (header_value(sm.headers, "Osprey-Dlq-Group") != g->spec.name) continue;
        std::string subject = header_value(sm.headers, "Osprey-Dlq-Subject");
        if (subject.empty()) continue;
        std::string h = header_lines(sm.headers, [](std::string_view n) {
            return ieq_prefix(n, "Osprey-Dlq-") || publish_directive(n);
        });
        std::string headers;
        if (!h.empty()) headers = "NATS/1.0\r\n" + h + "\r\n";
        std::string payload = sm.payload;
        auto published = co_await js_publish(ctx, std::move(subject), std::move(headers), std::move(payload));
        if (published) co_return failure_response(*published);
        std::string del_subject = "$JS.API.STREAM.MSG.DELETE." + dlq;
        std::string del_body = fmt::format("{{\"seq\":{}}}", sm.seq);
        auto del = co_await api(ctx, std::move(del_subject), std::move(del_body));
        if (!del) co_return failure_response(del.error());
        ++moved;
    }
    co_return HttpResponse{200, "application/json", fmt::format("{{\"redriven\":{}}}", moved)};
}

}  // namespace osprey::groups
