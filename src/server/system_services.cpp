#include "server/system_services.h"

#include <sys/resource.h>

#include <boost/json.hpp>
#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "server/account.h"
#include "server/client.h"
#include "server/internal_handler.h"
#include "server/monitor.h"
#include "server/server.h"
#include "util/go_json.h"
#include "util/random.h"
#include "util/rfc3339.h"

namespace osprey::server {

namespace json = boost::json;

namespace {

std::string time_text(std::chrono::system_clock::time_point t) {
    return util::format_rfc3339_nano(
        util::Rfc3339{std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count(), 0});
}

std::string now_text() { return time_text(std::chrono::system_clock::now()); }

std::string compact(const std::string& pretty) {
    boost::system::error_code ec;
    auto v = json::parse(pretty, ec);
    return ec ? std::string("{}") : json::serialize(v);
}

}  // namespace

SystemServices::SystemServices(Server& server) : server_(server) {
    Account* sys = server_.system_account();
    auto add = [&](Account& acc, std::string subject, std::function<void(const Message&)> fn) {
        add_handler(acc, std::move(subject), std::move(fn), &acc != sys);
    };
    if (sys) {
        add(*sys, "$SYS.REQ.SERVER.PING", [this, sys](const Message& m) { server_request(*sys, m, "STATSZ"); });
        for (std::string prefix : {std::string("$SYS.REQ.SERVER.PING."), "$SYS.REQ.SERVER." + server_.server_id() + "."}) {
            add(*sys, prefix + "*", [this, sys, n = prefix.size()](const Message& m) {
                server_request(*sys, m, m.subject.substr(n));
            });
        }
        add(*sys, "$SYS.REQ.ACCOUNT.*.*", [this, sys](const Message& m) {
            // $SYS.REQ.ACCOUNT.<acc>.<EP>
            std::string_view rest = m.subject.substr(std::string_view("$SYS.REQ.ACCOUNT.").size());
            const auto dot = rest.find('.');
            account_request(*sys, m, std::string(rest.substr(0, dot)), rest.substr(dot + 1));
        });
        add_claims_handlers(*sys);
    }
    // Every other account may ask about itself (nats-server's service imports from the system
    // account).
    for (Account* acc : server_.accounts())
        if (acc != sys) add_account_handlers(*acc);
    // Accounts made while running (account JWTs) may ask too.
    server_.add_account_hook([this](Account& acc) { add_account_handlers(acc); });
}

void SystemServices::add_handler(Account& acc, std::string subject, std::function<void(const Message&)> fn,
                                 bool local) {
    auto h = std::make_shared<InternalHandler>();
    h->local = local;
    h->subject = std::move(subject);
    h->fn = std::move(fn);
    acc.sublist().insert(h);
    std::lock_guard lk(subs_mu_);
    subs_.emplace_back(&acc, h);
}

void SystemServices::add_account_handlers(Account& acc) {
    Account* a = &acc;
    for (const char* s : {"$SYS.REQ.ACCOUNT.PING.CONNZ", "$SYS.REQ.SERVER.PING.CONNZ"})
        add_handler(acc, s, [this, a](const Message& m) { account_request(*a, m, a->name(), "CONNZ"); }, true);
    add_handler(acc, "$SYS.REQ.ACCOUNT.PING.STATZ",
                [this, a](const Message& m) { account_request(*a, m, a->name(), "STATZ"); }, true);
}

SystemServices::~SystemServices() {
    std::lock_guard lk(subs_mu_);
    for (auto& [acc, sub] : subs_) acc->sublist().remove(sub);
}

std::string SystemServices::server_info() {
    const auto& o = server_.options();
    json::object s{{"name", server_.server_name()}, {"host", o.host},   {"id", server_.server_id()},
                   {"ver", kCompatVersion},           {"seq", ++seq_}, {"jetstream", o.jetstream},
                   {"time", now_text()}};
    return json::serialize(s);
}

void SystemServices::reply(Account& to, const Message& m, const std::string& body) {
    if (m.reply.empty()) return;
    Message r{m.reply, {}, {}, body, nullptr};
    to.route_reply(r);
}

void SystemServices::publish_event(const std::string& subject, const std::string& body) {
    Account* sys = server_.system_account();
    if (!sys) return;
    Message m{subject, {}, {}, body, nullptr};
    sys->route(m);
}

std::string SystemServices::statsz_json() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    std::uint64_t subs = 0, active = 0;
    for (auto* a : server_.accounts()) {
        subs += a->sublist().count();
        if (a->connections.load() > 0) ++active;
    }
    const auto t = server_.totals();
    json::object st{{"start", time_text(server_.start_time())},
                    {"mem", std::int64_t(ru.ru_maxrss) * 1024},
                    {"cores", std::thread::hardware_concurrency()},
                    {"cpu", 0},
                    {"connections", server_.num_clients()},
                    {"total_connections", server_.stats.total_connections.load()},
                    {"active_accounts", active},
                    {"subscriptions", subs},
                    {"sent", json::object{{"msgs", t.out_msgs}, {"bytes", t.out_bytes}}},
                    {"received", json::object{{"msgs", t.in_msgs}, {"bytes", t.in_bytes}}},
                    {"slow_consumers", server_.stats.slow_consumers.load()},
                    {"active_servers", 1}};
    // The JetStream member of /varz, when JetStream runs.
    boost::system::error_code ec;
    auto varz = json::parse(server_.monitor().handle("/varz"), ec);
    if (!ec && varz.is_object()) {
        auto it = varz.get_object().find("jetstream");
        if (it != varz.get_object().end() && it->value().is_object() && !it->value().get_object().empty())
            st["jetstream"] = it->value();
    }
    return json::serialize(st);
}

std::optional<std::string> SystemServices::endpoint_data(std::string_view endpoint, const std::string& options,
                                                         const std::string& account, std::string& error) {
    // The options as the monitor's query, and nats-server's filter on this server.
    std::string query;
    if (!options.empty()) {
        if (auto e = util::go_json_syntax_error(options)) {
            error = *e;
            return std::string();
        }
        auto v = json::parse(options);
        if (v.is_object()) {
            const auto& o = v.get_object();
            auto filter = [&](const char* key, const std::string& mine) {
                auto it = o.find(key);
                return it == o.end() || !it->value().is_string() ||
                       mine.find(std::string(it->value().get_string())) != std::string::npos;
            };
            if (!filter("server_name", server_.server_name()) || !filter("host", server_.options().host) ||
                !filter("cluster", "") || !filter("domain", server_.options().js_domain))
                return std::nullopt;
            for (const auto& kv : o) {
                std::string key(kv.key());
                if (key == "subscriptions") key = "subs";
                if (key == "subscriptions_detail") key = "subs";
                std::string val;
                if (kv.value().is_bool()) val = kv.value().get_bool() ? "1" : "0";
                else if (kv.value().is_string()) val = std::string(kv.value().get_string());
                else if (kv.value().is_number()) val = json::serialize(kv.value());
                else continue;
                query += (query.empty() ? "?" : "&") + key + "=" + val;
            }
        }
    }
    auto with_account = [&](std::string q) {
        if (account.empty()) return q;
        return q + (q.find('?') == std::string::npos ? "?" : "&") + "acc=" + account;
    };
    Monitor& mon = server_.monitor();
    const std::string now = now_text(), id = server_.server_id();
    if (endpoint == "VARZ") return compact(mon.handle("/varz" + query));
    if (endpoint == "CONNZ") return compact(mon.handle(with_account("/connz" + query)));
    if (endpoint == "SUBSZ") {
        std::string q = query.empty() ? "?subs=1" : query;
        if (!account.empty() && q.find("subs=") == std::string::npos) q += "&subs=1";  // q starts with "?"
        return compact(mon.handle(with_account("/subsz" + q)));
    }
    if (endpoint == "ROUTEZ") return compact(mon.handle("/routez" + query));
    if (endpoint == "HEALTHZ") return std::string(R"({"status":"ok"})");
    if (endpoint == "JSZ") {
        auto body = mon.handle(with_account("/jsz" + query));
        return body.empty() ? fmt::format(R"({{"server_id":"{}","now":"{}","disabled":true}})", id, now) : compact(body);
    }
    if (endpoint == "GATEWAYZ")
        return fmt::format(R"({{"server_id":"{}","now":"{}","outbound_gateways":{{}},"inbound_gateways":{{}}}})", id, now);
    if (endpoint == "LEAFZ")
        return fmt::format(R"({{"server_id":"{}","now":"{}","leafnodes":0,"leafs":null}})", id, now);
    if (endpoint == "ACCOUNTZ") {
        json::array names;
        for (auto* a : server_.accounts()) names.push_back(json::value(a->name()));
        return json::serialize(json::object{{"server_id", id},
                                            {"now", now},
                                            {"system_account", server_.options().system_account},
                                            {"accounts", std::move(names)}});
    }
    error = "unknown endpoint";
    return std::nullopt;
}

void SystemServices::server_request(Account& from, const Message& m, std::string_view endpoint) {
    if (endpoint == "STATSZ") {
        reply(from, m, fmt::format(R"({{"server":{},"statsz":{}}})", server_info(), statsz_json()));
        return;
    }
    std::string error;
    auto data = endpoint_data(endpoint, std::string(m.payload), {}, error);
    if (!data) return;  // filtered out, or not an endpoint of 2.9.10
    if (!error.empty()) {
        reply(from, m, fmt::format(R"({{"server":{},"error":{{"code":400,"description":{}}}}})", server_info(),
                                   json::serialize(json::value(error))));
        return;
    }
    reply(from, m, fmt::format(R"({{"server":{},"data":{}}})", server_info(), *data));
}

std::string SystemServices::account_conns_event(Account& a) {
    std::uint64_t in_m = 0, in_b = 0, out_m = 0, out_b = 0;
    for (auto& c : server_.clients()) {
        auto i = c->info(false);
        if (i.account != a.name()) continue;
        in_m += i.in_msgs;
        in_b += i.in_bytes;
        out_m += i.out_msgs;
        out_b += i.out_bytes;
    }
    const int conns = a.connections.load();
    return fmt::format(
        R"({{"type":"io.nats.server.advisory.v1.account_connections","id":"{}","timestamp":"{}","server":{},"acc":"{}","conns":{},"leafnodes":0,"total_conns":{},"sent":{{"msgs":{},"bytes":{}}},"received":{{"msgs":{},"bytes":{}}},"slow_consumers":0}})",
        util::random_token(22), now_text(), server_info(), a.name(), conns, conns, out_m, out_b, in_m, in_b);
}

void SystemServices::account_request(Account& from, const Message& m, const std::string& account,
                                     std::string_view endpoint) {
    Account* acc = server_.find_account(account);
    const std::string envelope = server_info();
    if (endpoint == "CONNS") {
        if (acc) reply(from, m, account_conns_event(*acc));
        return;
    }
    if (endpoint == "STATZ") {
        // Accounts with connections only, unless asked for all.
        const bool unused = std::string_view(m.payload).find("\"include_unused\":true") != std::string_view::npos;
        json::array list;
        if (acc && (acc->connections.load() > 0 || unused)) {
            boost::system::error_code ec;
            auto ev = json::parse(account_conns_event(*acc), ec);
            if (!ec) {
                auto& o = ev.get_object();
                list.push_back(json::object{{"acc", o["acc"]}, {"conns", o["conns"]}, {"leafnodes", 0},
                                            {"total_conns", o["total_conns"]}, {"sent", o["sent"]},
                                            {"received", o["received"]}, {"slow_consumers", 0}});
            }
        }
        if (list.empty() && !unused) return;
        reply(from, m, fmt::format(R"({{"server":{},"data":{}}})", envelope,
                                   json::serialize(json::object{{"server_id", server_.server_id()},
                                                                {"now", now_text()},
                                                                {"account_statz", std::move(list)}})));
        return;
    }
    if (endpoint == "INFO") {
        if (!acc) {
            reply(from, m, fmt::format(R"({{"server":{},"data":null,"error":{{"code":500,"description":"Account {} does not exist"}}}})",
                                       envelope, account));
            return;
        }
        json::object info{{"account_name", acc->name()},
                          {"update_time", time_text(server_.start_time())},
                          {"expired", false},
                          {"complete", true},
                          {"jetstream_enabled", server_.options().jetstream},
                          {"leafnode_connections", 0},
                          {"client_connections", acc->connections.load()},
                          {"subscriptions", acc->sublist().count()}};
        if (acc == server_.system_account()) info["is_system"] = true;
        reply(from, m, fmt::format(R"({{"server":{},"data":{}}})", envelope, json::serialize(info)));
        return;
    }
    if (endpoint != "CONNZ" && endpoint != "SUBSZ" && endpoint != "LEAFZ" && endpoint != "JSZ") return;
    std::string error;
    auto data = endpoint_data(endpoint, std::string(m.payload), account, error);
    if (!data) return;
    if (!error.empty()) {
        reply(from, m, fmt::format(R"({{"server":{},"error":{{"code":400,"description":{}}}}})", envelope,
                                   json::serialize(json::value(error))));
        return;
    }
    reply(from, m, fmt::format(R"({{"server":{},"data":{}}})", envelope, *data));
}

std::string SystemServices::client_json(const Client& c, bool closing) {
    const auto i = c.info(false);
    json::object o{{"start", time_text(i.start)}, {"host", i.ip}, {"id", i.cid}, {"acc", i.account}};
    if (!i.user.empty()) o["user"] = i.user;
    if (!i.name.empty()) o["name"] = i.name;
    if (!i.lang.empty()) o["lang"] = i.lang;
    if (!i.version.empty()) o["ver"] = i.version;
    if (closing) {
        if (i.rtt_ns) o["rtt"] = i.rtt_ns;
        o["stop"] = now_text();
    }
    o["kind"] = "Client";
    o["client_type"] = "nats";
    return json::serialize(o);
}

void SystemServices::client_connected(const Client& c) {
    const std::string acc = c.info(false).account;
    if (acc.empty() || acc == "$G") return;  // nats-server has no events for the global account
    const std::string subject = "$SYS.ACCOUNT." + acc + ".CONNECT";
    Account* sys = server_.system_account();
    if (!sys || !has_interest(*sys->sublist().match_uncached(subject))) return;
    publish_event(subject, fmt::format(R"({{"type":"io.nats.server.advisory.v1.client_connect","id":"{}","timestamp":"{}","server":{},"client":{}}})",
                                       util::random_token(22), now_text(), server_info(), client_json(c, false)));
}

void SystemServices::client_disconnected(const Client& c, CloseReason reason) {
    const auto i = c.info(false);
    if (i.account.empty() || i.account == "$G") return;
    const std::string subject = "$SYS.ACCOUNT." + i.account + ".DISCONNECT";
    Account* sys = server_.system_account();
    if (!sys || !has_interest(*sys->sublist().match_uncached(subject))) return;
    publish_event(subject,
                  fmt::format(R"({{"type":"io.nats.server.advisory.v1.client_disconnect","id":"{}","timestamp":"{}","server":{},"client":{},"sent":{{"msgs":{},"bytes":{}}},"received":{{"msgs":{},"bytes":{}}},"reason":"{}"}})",
                              util::random_token(22), now_text(), server_info(), client_json(c, true), i.in_msgs,
                              i.in_bytes, i.out_msgs, i.out_bytes, reason_text(reason)));
}

void SystemServices::auth_failed(const Client& c, const std::string& user) {
    const std::string subject = "$SYS.SERVER." + server_.server_id() + ".CLIENT.AUTH.ERR";
    Account* sys = server_.system_account();
    if (!sys || !has_interest(*sys->sublist().match_uncached(subject))) return;
    const auto i = c.info(false);
    json::object cl{{"start", time_text(i.start)}, {"host", i.ip}, {"id", i.cid}, {"acc", "$G"}};
    if (!user.empty()) cl["user"] = user;
    if (!i.name.empty()) cl["name"] = i.name;
    if (!i.lang.empty()) cl["lang"] = i.lang;
    if (!i.version.empty()) cl["ver"] = i.version;
    cl["stop"] = now_text();
    cl["kind"] = "Client";
    cl["client_type"] = "nats";
    publish_event(subject,
                  fmt::format(R"({{"type":"io.nats.server.advisory.v1.client_disconnect","id":"{}","timestamp":"{}","server":{},"client":{},"sent":{{"msgs":0,"bytes":0}},"received":{{"msgs":0,"bytes":0}},"reason":"Authentication Failure"}})",
                              util::random_token(22), now_text(), server_info(), json::serialize(cl)));
}

}  // namespace osprey::server
