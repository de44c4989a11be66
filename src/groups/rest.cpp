// The /v1/groups resource: create, list, get, patch, delete, and the routes of members
// (fetch, ack) and dead letters (redrive), mapped onto the JetStream API of the caller's
// account.
#include <algorithm>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include "groups/gateway_internal.h"
#include "server/account.h"
#include "subjects/subject.h"

namespace osprey::groups {

namespace asio = boost::asio;
namespace json = boost::json;
using server::HttpResponse;

namespace {

constexpr auto kApiTimeout = std::chrono::seconds(5);

HttpResponse ok_json(int status, const json::value& v) { return {status, "application/json", json::serialize(v)}; }

ApiFailure bad(std::string message) { return {400, "invalid_argument", std::move(message)}; }

std::string str(const json::object& o, const char* k) {
    const auto* v = o.if_contains(k);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::vector<std::string> stream_subjects(const json::object& cfg) {
    std::vector<std::string> out;
    if (const auto* s = cfg.if_contains("subjects"); s && s->is_array())
        for (const auto& x : s->get_array())
            if (x.is_string()) out.emplace_back(x.get_string());
    return out;
}

}  // namespace

Awaitable<std::expected<json::object, ApiFailure>> GatewayCore::api(AccountCtx& ctx, std::string subject,
                                                                    std::string body) {
    auto reply = co_await ctx.client->async_request(std::move(subject), {}, std::move(body),
                                                    std::chrono::duration_cast<std::chrono::milliseconds>(kApiTimeout),
                                                    asio::use_awaitable);
    if (!reply) co_return std::unexpected(ApiFailure{500, "internal", "JetStream did not answer in time"});
    if (reply->status() == "503")
        co_return std::unexpected(ApiFailure{500, "internal", "JetStream is not enabled for this account"});
    boost::system::error_code ec;
    json::value v = json::parse(reply->payload, ec);
    if (ec || !v.is_object()) co_return std::unexpected(ApiFailure{500, "internal", "JetStream answered no JSON"});
    auto& o = v.get_object();
    if (const auto* e = o.if_contains("error"); e && e->is_object()) {
        const auto& eo = e->get_object();
        const auto* code = eo.if_contains("code");
        const auto* err_code = eo.if_contains("err_code");
        const std::int64_t c = code && code->is_int64() ? code->get_int64() : 500;
        const std::int64_t ec2 = err_code && err_code->is_int64() ? err_code->get_int64() : 0;
        std::string desc = str(eo, "description");
        if (ec2 == 10039) co_return std::unexpected(ApiFailure{500, "internal", "JetStream is not enabled for this account"});
        if (ec2 == 10013 || ec2 == 10148 || ec2 == 10105) co_return std::unexpected(ApiFailure{409, "already_exists", desc});
        if (c == 404) co_return std::unexpected(ApiFailure{404, "not_found", desc});
        if (c == 400) co_return std::unexpected(ApiFailure{400, "invalid_argument", desc});
        co_return std::unexpected(ApiFailure{500, "internal", desc});
    }
    co_return std::move(o);
}

namespace {

// Every stream's configuration ($JS.API.STREAM.LIST, page by page).
Awaitable<std::expected<std::vector<json::object>, ApiFailure>> list_streams(GatewayCore& gw, AccountCtx& ctx) {
    std::vector<json::object> out;
    for (std::size_t offset = 0;;) {
        auto r = co_await gw.api(ctx, "$JS.API.STREAM.LIST", fmt::format("{{\"offset\":{}}}", offset));
        if (!r) co_return std::unexpected(r.error());
        std::size_t got = 0;
        if (const auto* s = r->if_contains("streams"); s && s->is_array())
            for (const auto& x : s->get_array())
                if (x.is_object() && x.get_object().contains("config") && x.get_object().at("config").is_object()) {
                    out.push_back(x.get_object().at("config").get_object());
                    ++got;
                }
        const auto* total = r->if_contains("total");
        offset += got;
        if (got == 0 || !total || !total->is_int64() || offset >= std::size_t(total->get_int64())) break;
    }
    co_return out;
}

// Every consumer info of a stream ($JS.API.CONSUMER.LIST).
Awaitable<std::expected<std::vector<json::object>, ApiFailure>> list_consumers(GatewayCore& gw, AccountCtx& ctx,
                                                                               const std::string& stream) {
    std::vector<json::object> out;
    for (std::size_t offset = 0;;) {
        auto r = co_await gw.api(ctx, "$JS.API.CONSUMER.LIST." + stream, fmt::format("{{\"offset\":{}}}", offset));
        if (!r) co_return std::unexpected(r.error());
        std::size_t got = 0;
        if (const auto* s = r->if_contains("consumers"); s && s->is_array())
            for (const auto& x : s->get_array())
                if (x.is_object()) {
                    out.push_back(x.get_object());
                    ++got;
                }
        const auto* total = r->if_contains("total");
        offset += got;
        if (got == 0 || !total || !total->is_int64() || offset >= std::size_t(total->get_int64())) break;
    }
    co_return out;
}

// Every group of the account, with its consumer info.
Awaitable<std::expected<std::vector<std::pair<GroupSpec, json::object>>, ApiFailure>> all_groups(GatewayCore& gw,
                                                                                              AccountCtx& ctx) {
    std::vector<std::pair<GroupSpec, json::object>> out;
    auto streams = co_await list_streams(gw, ctx);
    if (!streams) co_return std::unexpected(streams.error());
    for (const auto& cfg : *streams) {
        auto consumers = co_await list_consumers(gw, ctx, str(cfg, "name"));
        if (!consumers) continue;  // deleted meanwhile
        for (auto& info : *consumers)
            if (auto spec = spec_from_consumer_info(info)) out.emplace_back(std::move(*spec), std::move(info));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first.name < b.first.name; });
    co_return out;
}

// The stream a group's pattern belongs to, and the dead-letter subject's check.
std::optional<ApiFailure> place(GroupSpec& g, const std::vector<json::object>& streams) {
    if (!g.stream.empty()) {
        const json::object* cfg = nullptr;
        for (const auto& s : streams)
            if (str(s, "name") == g.stream) cfg = &s;
        if (!cfg) return ApiFailure{404, "not_found", fmt::format("stream {} not found", g.stream)};
        bool inside = false;
        for (const auto& subj : stream_subjects(*cfg)) inside = inside || subjects::is_subset(g.pattern, subj);
        if (!inside) return bad(fmt::format("pattern {} is not inside the subjects of stream {}", g.pattern, g.stream));
    } else {
        std::vector<std::string> names;
        for (const auto& s : streams) {
            bool inside = false;
            for (const auto& subj : stream_subjects(s)) inside = inside || subjects::is_subset(g.pattern, subj);
            if (inside) names.push_back(str(s, "name"));
        }
        if (names.empty()) return bad(fmt::format("pattern {} is not inside the subjects of any stream", g.pattern));
        if (names.size() > 1)
            return bad(fmt::format("pattern {} is inside the subjects of several streams ({}): give stream", g.pattern,
                                   fmt::join(names, ", ")));
        g.stream = names.front();
    }
    if (!g.dead_letter_subject.empty()) {
        bool captured = false;
        for (const auto& s : streams)
            for (const auto& subj : stream_subjects(s)) {
                if (!subjects::matches(subj, g.dead_letter_subject)) continue;
                captured = true;
                if (str(s, "name") == g.stream && subjects::matches(g.pattern, g.dead_letter_subject))
                    return bad("dead_letter_subject must not match the group's own pattern");
            }
        if (!captured) return bad(fmt::format("dead_letter_subject {} is not captured by any stream", g.dead_letter_subject));
    }
    return std::nullopt;
}

// The gateway's runtime of a group of the account (made when first seen).
std::shared_ptr<Group> known_group(AccountCtx& ctx, const std::string& name) {
    auto& slot = ctx.groups[name];
    if (!slot) {
        slot = std::make_shared<Group>();
        slot->acc = &ctx;
    }
    return slot;
}

}  // namespace

json::object GatewayCore::resource_json(Group& g, const json::object& info, std::uint64_t dead_lettered) {
    json::object o = group_json(g.spec, info);
    json::array members;
    const auto now = SteadyClock::now();
    for (const auto& [id, m] : g.members) {
        if (m->closed) continue;
        if (!m->ws && m->inflight == 0 && !m->asking && now - m->last_seen > std::chrono::seconds(30)) continue;
        members.push_back(json::object{{"id", m->id},
                                       {"transport", m->ws ? "ws" : "http"},
                                       {"inflight", m->inflight},
                                       {"joined_at", format_time(m->joined)}});
    }
    o["member_count"] = members.size();
    o["members"] = std::move(members);
    o["num_dead_lettered"] = dead_lettered;
    return o;
}

Awaitable<std::expected<std::pair<std::shared_ptr<Group>, json::object>, ApiFailure>> GatewayCore::find_group(
    AccountCtx& ctx, const std::string& name, bool fresh) {
    if (!valid_name(name)) co_return std::unexpected(ApiFailure{404, "not_found", fmt::format("group {} not found", name)});
    if (auto it = ctx.groups.find(name); it != ctx.groups.end()) {
        auto g = it->second;
        if (!fresh && !g->deleted) co_return std::make_pair(g, g->last_info);
        auto info = co_await api(ctx, fmt::format("$JS.API.CONSUMER.INFO.{}.{}", g->spec.stream, name), "");
        if (info) {
            if (auto spec = spec_from_consumer_info(*info)) {
                g->spec = std::move(*spec);
                co_return std::make_pair(g, std::move(*info));
            }
        } else if (info.error().status != 404) {
            co_return std::unexpected(info.error());
        }
        // Gone (deleted with a NATS tool, or no longer a group).
        group_deleted(*g);
        ctx.groups.erase(name);
    }
    auto groups = co_await all_groups(*this, ctx);
    if (!groups) co_return std::unexpected(groups.error());
    for (auto& [spec, info] : *groups) {
        if (spec.name != name) continue;
        auto slot = known_group(ctx, name);
        slot->spec = std::move(spec);
        co_return std::make_pair(slot, std::move(info));
    }
    co_return std::unexpected(ApiFailure{404, "not_found", fmt::format("group {} not found", name)});
}

Awaitable<void> GatewayCore::recheck(AccountCtx* ctx, std::string name) {
    co_await find_group(*ctx, name, true);
}

Awaitable<void> GatewayCore::load_groups(AccountCtx& ctx) {
    auto groups = co_await all_groups(*this, ctx);
    if (!groups) co_return;
    for (auto& [spec, info] : *groups) {
        auto slot = known_group(ctx, spec.name);
        if (slot->spec.name.empty()) slot->spec = std::move(spec);
        slot->last_info = std::move(info);
    }
}

Awaitable<void> GatewayCore::refresh_monitoring() {
    if (refreshing_) co_return;
    refreshing_ = true;
    json::array out;
    std::vector<std::shared_ptr<Group>> groups;
    for (auto& [acc, ctx] : accounts_)
        for (auto& [name, g] : ctx->groups) groups.push_back(g);
    for (auto& g : groups) {
        if (g->deleted || stopped_) continue;
        auto info = co_await api(*g->acc, fmt::format("$JS.API.CONSUMER.INFO.{}.{}", g->spec.stream, g->spec.name), "");
        if (info) g->last_info = std::move(*info);
        if (g->deleted) continue;
        json::object o = resource_json(*g, g->last_info, 0);
        o.erase("num_dead_lettered");
        o["account"] = g->acc->account->name();
        const auto pending = o["num_pending"].to_number<std::uint64_t>();
        const auto ack_pending = o["num_ack_pending"].to_number<std::uint64_t>();
        o["lag"] = pending + ack_pending;
        out.push_back(std::move(o));
    }
    {
        std::lock_guard lk(jsz_mu_);
        jsz_groups_ = json::serialize(out);
    }
    refreshing_ = false;
}

std::string GatewayCore::jsz_groups() const {
    std::lock_guard lk(jsz_mu_);
    return jsz_groups_;
}

Awaitable<HttpResponse> GatewayCore::rest(Caller caller, server::HttpRequest req) {
    AccountCtx& ctx = context(*caller.account);
    std::string_view rest = req.path;
    rest.remove_prefix(std::string_view("/v1/groups").size());
    if (!req.path.starts_with("/v1/groups") || (!rest.empty() && rest.front() != '/'))
        co_return failure_response({404, "not_found", "no such route"});
    if (!rest.empty()) rest.remove_prefix(1);
    std::string name(rest.substr(0, rest.find('/')));
    std::string action = rest.find('/') == std::string_view::npos ? "" : std::string(rest.substr(rest.find('/') + 1));
    const std::string& method = req.method;

    if (name.empty()) {
        if (method == "GET") {
            auto groups = co_await all_groups(*this, ctx);
            if (!groups) co_return failure_response(groups.error());
            json::array list;
            for (auto& [spec, info] : *groups) {
                auto slot = known_group(ctx, spec.name);
                slot->spec = spec;
                const std::uint64_t dead = co_await count_dead_letters(ctx, spec);
                list.push_back(resource_json(*slot, info, dead));
            }
            const std::size_t n = list.size();
            co_return ok_json(200, json::object{{"groups", std::move(list)}, {"total", n}});
        }
        if (method != "POST") co_return failure_response({404, "not_found", "no such route"});
        auto spec = parse_create(req.body);
        if (!spec) co_return failure_response(bad(spec.error()));
        if (!may_subscribe(caller, spec->pattern))
            co_return failure_response({403, "permission_denied", fmt::format("not allowed to subscribe to {}", spec->pattern)});
        if (!may_publish(caller, spec->dead_letter_subject))
            co_return failure_response(
                {403, "permission_denied", fmt::format("not allowed to publish to {}", spec->dead_letter_subject)});
        auto streams = co_await list_streams(*this, ctx);
        if (!streams) co_return failure_response(streams.error());
        if (auto f = place(*spec, *streams)) co_return failure_response(*f);
        auto groups = co_await all_groups(*this, ctx);
        if (!groups) co_return failure_response(groups.error());
        for (const auto& [other, info] : *groups)
            if (other.name == spec->name)
                co_return failure_response({409, "already_exists", fmt::format("group {} already exists", spec->name)});
        auto existing = co_await api(ctx, fmt::format("$JS.API.CONSUMER.INFO.{}.{}", spec->stream, spec->name), "");
        if (existing)
            co_return failure_response({409, "already_exists",
                                        fmt::format("a consumer named {} already exists on stream {}", spec->name, spec->stream)});
        spec->created_at = spec->updated_at = rfc3339_now();
        auto info = co_await api(ctx, fmt::format("$JS.API.CONSUMER.DURABLE.CREATE.{}.{}", spec->stream, spec->name),
                                 consumer_create_request(*spec));
        if (!info) co_return failure_response(info.error());
        auto slot = known_group(ctx, spec->name);
        slot->spec = std::move(*spec);
        if (auto s = spec_from_consumer_info(*info)) slot->spec = std::move(*s);
        co_return ok_json(201, resource_json(*slot, *info, 0));
    }

    // A member's fetch and ack take the group as known here: a consumer info each would cost
    // more than the call (its pending count walks the backlog).
    const bool member_call = action == "fetch" || action == "ack";
    auto found = co_await find_group(ctx, name, !member_call);
    if (!found) co_return failure_response(found.error());
    auto [g, info] = std::move(*found);
    if (!may_subscribe(caller, g->spec.pattern))
        co_return failure_response({403, "permission_denied", fmt::format("not allowed to subscribe to {}", g->spec.pattern)});

    if (action.empty()) {
        if (method == "GET") {
            const std::uint64_t dead = co_await count_dead_letters(ctx, g->spec);
            co_return ok_json(200, resource_json(*g, info, dead));
        }
        if (method == "DELETE") {
            auto r = co_await api(ctx, fmt::format("$JS.API.CONSUMER.DELETE.{}.{}", g->spec.stream, name), "");
            if (!r && r.error().status != 404) co_return failure_response(r.error());
            group_deleted(*g);
            ctx.groups.erase(name);
            co_return ok_json(200, json::object{});
        }
        if (method == "PATCH") {
            auto spec = apply_patch(req.body, g->spec);
            if (!spec) co_return failure_response(bad(spec.error()));
            if (!may_publish(caller, spec->dead_letter_subject))
                co_return failure_response(
                    {403, "permission_denied", fmt::format("not allowed to publish to {}", spec->dead_letter_subject)});
            auto streams = co_await list_streams(*this, ctx);
            if (!streams) co_return failure_response(streams.error());
            if (auto f = place(*spec, *streams)) co_return failure_response(*f);
            spec->updated_at = rfc3339_now();
            auto updated = co_await api(ctx, fmt::format("$JS.API.CONSUMER.DURABLE.CREATE.{}.{}", spec->stream, name),
                                        consumer_create_request(*spec));
            if (!updated) co_return failure_response(updated.error());
            g->spec = std::move(*spec);
            if (auto s = spec_from_consumer_info(*updated)) g->spec = std::move(*s);
            for (auto& [id, m] : g->members)
                if (m->ws) top_up(*g, m);
            const std::uint64_t dead = co_await count_dead_letters(ctx, g->spec);
            co_return ok_json(200, resource_json(*g, *updated, dead));
        }
        co_return failure_response({404, "not_found", "no such route"});
    }
    if (method != "POST") co_return failure_response({404, "not_found", "no such route"});
    if (action == "fetch") co_return co_await fetch(std::move(caller), g, std::move(req.body));
    if (action == "ack") co_return co_await ack(std::move(caller), g, std::move(req.body));
    if (action == "redrive") co_return co_await redrive(g, std::move(req.body));
    co_return failure_response({404, "not_found", "no such route"});
}

}  // namespace osprey::groups
