// Bodies of the monitoring endpoints, shaped like nats-server 2.9.10's.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <fstream>
#include <vector>
#include <map>
#include <thread>

#include <fmt/format.h>

#include "server/account.h"
#include "server/client.h"
#include "server/monitor.h"
#include "util/log.h"
#include "server/server.h"

namespace osprey::server {

namespace json = boost::json;
using Clock = std::chrono::system_clock;

namespace {

std::string rfc3339(Clock::time_point t) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
    time_t secs = time_t(ns / 1000000000);
    tm u;
    gmtime_r(&secs, &u);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", u.tm_year + 1900,
                       u.tm_mon + 1, u.tm_mday, u.tm_hour, u.tm_min, u.tm_sec, ns % 1000000000);
}

// nats-server's uptime style: "1y2d3h4m5s", leading zero units omitted.
std::string go_uptime(std::chrono::nanoseconds d) {
    std::int64_t s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
    std::int64_t y = s / (365 * 86400);
    s %= 365 * 86400;
    std::int64_t days = s / 86400;
    s %= 86400;
    std::int64_t h = s / 3600;
    s %= 3600;
    std::int64_t m = s / 60;
    s %= 60;
    if (y) return fmt::format("{}y{}d{}h{}m{}s", y, days, h, m, s);
    if (days) return fmt::format("{}d{}h{}m{}s", days, h, m, s);
    if (h) return fmt::format("{}h{}m{}s", h, m, s);
    if (m) return fmt::format("{}m{}s", m, s);
    return fmt::format("{}s", s);
}

// /varz "websocket": nats-server's WebsocketOptsVarz, its fields omitted when empty.
json::object websocket_varz(const Options& o, int port) {
    json::object w;
    const auto& ws = o.websocket;
    if (!ws.enabled()) return w;
    w["host"] = ws.host;
    w["port"] = port;
    if (!ws.advertise.empty()) w["advertise"] = ws.advertise;
    if (!ws.no_auth_user.empty()) w["no_auth_user"] = ws.no_auth_user;
    if (!ws.jwt_cookie.empty()) w["jwt_cookie"] = ws.jwt_cookie;
    if (ws.handshake_timeout_ms > 0) w["handshake_timeout"] = ws.handshake_timeout_ms * 1000000;
    if (ws.auth_timeout_ms > 0) w["auth_timeout"] = double(ws.auth_timeout_ms) / 1000.0;
    if (ws.no_tls) w["no_tls"] = true;
    if (ws.tls.verify_and_map) w["tls_map"] = true;
    if (ws.same_origin) w["same_origin"] = true;
    if (!ws.allowed_origins.empty()) {
        json::array a;
        for (const auto& x : ws.allowed_origins) a.push_back(json::value(x));
        w["allowed_origins"] = std::move(a);
    }
    if (ws.compression) w["compression"] = true;
    return w;
}

// Go's time.Duration String() for small values, as /connz shows rtt.
std::string go_duration(std::int64_t ns) {
    if (ns == 0) return "0s";
    if (ns < 1000) return fmt::format("{}ns", ns);
    if (ns < 1000000) return fmt::format("{}µs", double(ns) / 1e3);
    if (ns < 1000000000) return fmt::format("{}ms", double(ns) / 1e6);
    return fmt::format("{}s", double(ns) / 1e9);
}

void pretty(std::string& out, const json::value& v, int indent) {
    auto pad = [&](int n) { out.append(std::size_t(n), ' '); };
    switch (v.kind()) {
        case json::kind::object: {
            const auto& o = v.get_object();
            if (o.empty()) {
                out += "{}";
                return;
            }
            out += "{\n";
            bool first = true;
            for (const auto& kv : o) {
                if (!first) out += ",\n";
                first = false;
                pad(indent + 2);
                out += json::serialize(json::value(kv.key()));
                out += ": ";
                pretty(out, kv.value(), indent + 2);
            }
            out += "\n";
            pad(indent);
            out += "}";
            return;
        }
        case json::kind::array: {
            const auto& a = v.get_array();
            if (a.empty()) {
                out += "[]";
                return;
            }
            out += "[\n";
            for (std::size_t i = 0; i < a.size(); ++i) {
                if (i) out += ",\n";
                pad(indent + 2);
                pretty(out, a[i], indent + 2);
            }
            out += "\n";
            pad(indent);
            out += "]";
            return;
        }
        default: out += json::serialize(v);
    }
}

std::string to_text(const json::value& v) {
    std::string s;
    pretty(s, v, 0);
    return s;
}

std::map<std::string, std::string> parse_query(std::string_view q) {
    std::map<std::string, std::string> m;
    while (!q.empty()) {
        auto amp = q.find('&');
        std::string_view kv = q.substr(0, amp);
        auto eq = kv.find('=');
        m[std::string(kv.substr(0, eq))] =
            eq == std::string_view::npos ? "" : std::string(kv.substr(eq + 1));
        if (amp == std::string_view::npos) break;
        q.remove_prefix(amp + 1);
    }
    return m;
}

std::int64_t rss_bytes() {
    std::ifstream f("/proc/self/statm");
    std::int64_t size = 0, rss = 0;
    f >> size >> rss;
    return rss * sysconf(_SC_PAGESIZE);
}

}  // namespace

void Monitor::add_varz_section(const std::string& key, Endpoint handler) {
    std::lock_guard lk(endpoints_mu_);
    varz_sections_[key] = std::move(handler);
}

void Monitor::add_endpoint(const std::string& path, Endpoint handler) {
    std::lock_guard lk(endpoints_mu_);
    endpoints_[path] = std::move(handler);
}

void Monitor::add_section(const std::string& path, const std::string& key, Endpoint handler) {
    std::lock_guard lk(endpoints_mu_);
    sections_[{path, key}] = std::move(handler);
}

void Monitor::add_http_handler(const std::string& prefix, HttpHandler handler) {
    http_handlers_[prefix] = std::move(handler);
}

void Monitor::add_upgrade_handler(const std::string& path, UpgradeHandler upgrade) {
    upgrade_handlers_[path] = std::move(upgrade);
}

const HttpHandler* Monitor::http_handler(std::string_view path) const {
    for (const auto& [prefix, h] : http_handlers_)
        if (path.starts_with(prefix) || path == std::string_view(prefix).substr(0, prefix.size() - 1)) return &h;
    return nullptr;
}

const UpgradeHandler* Monitor::upgrade_handler(std::string_view path) const {
    auto it = upgrade_handlers_.find(std::string(path));
    return it == upgrade_handlers_.end() ? nullptr : &it->second;
}

std::string http_error_json(const std::string& code, const std::string& message) {
    return json::serialize(json::object{{"code", code}, {"message", message}});
}

void Monitor::set_health_check(Endpoint check) {
    std::lock_guard lk(endpoints_mu_);
    health_check_ = std::move(check);
}

std::string Monitor::handle(const std::string& target, int* status) {
    std::string_view t(target);
    std::string_view path = t.substr(0, t.find('?'));
    auto q = parse_query(t.find('?') == std::string_view::npos ? std::string_view()
                                                                : t.substr(t.find('?') + 1));
    const auto& o = server_.options();
    const auto now = Clock::now();
    if (path == "/healthz") {
        Endpoint check;
        {
            std::lock_guard lk(endpoints_mu_);
            check = health_check_;
        }
        const std::string err = check ? check(q) : std::string();
        if (err.empty()) return "{\"status\":\"ok\"}";
        log::warn("Healthcheck failed: \"{}\"", err);
        if (status) *status = 503;
        return json::serialize(json::object{{"status", "unavailable"}, {"error", err}});
    }
    if (path == "/" ) {
        return to_text(json::object{{"varz", "/varz"},
                                    {"connz", "/connz"},
                                    {"subsz", "/subsz"},
                                    {"routez", "/routez"},
                                    {"healthz", "/healthz"}});
    }
    if (path == "/varz") {
        const auto totals = server_.totals();
        std::uint64_t subs = 0;
        for (auto* a : server_.accounts()) subs += a->sublist().count();
        rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        const double cpu_s = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
                             ru.ru_stime.tv_usec / 1e6;
        const double up_s =
            std::chrono::duration<double>(now - server_.start_time()).count();
        json::object v{
            {"server_id", server_.server_id()},
            {"server_name", server_.server_name()},
            {"version", kCompatVersion},
            {"proto", 1},
            {"go", "go1.19.8"},
            {"host", o.host},
            {"port", server_.client_port()},
            {"max_connections", o.max_connections},
            {"ping_interval", o.ping_interval_ms * 1000000},
            {"ping_max", o.ping_max},
            {"http_host", o.http_host.empty() ? o.host : o.http_host},
            {"http_port", server_.http_port()},
            {"http_base_path", ""},
            {"https_port", server_.https_port()},
            {"auth_timeout", double(o.auth_timeout_ms) / 1000.0},
            {"max_control_line", o.max_control_line},
            {"max_payload", o.max_payload},
            {"max_pending", o.max_pending},
            {"cluster", json::object{}},
            {"gateway", json::object{}},
            {"leaf", json::object{}},
            {"mqtt", json::object{}},
            {"websocket", websocket_varz(o, server_.websocket_port())},
            {"jetstream", json::object{}},
            {"tls_timeout", double(o.tls.timeout_ms) / 1000.0},
            {"write_deadline", o.write_deadline_ms * 1000000},
            {"start", rfc3339(server_.start_time())},
            {"now", rfc3339(now)},
            {"uptime", go_uptime(now - server_.start_time())},
            {"mem", rss_bytes()},
            {"cores", std::thread::hardware_concurrency()},
            {"gomaxprocs", server_.loop_count()},
            {"cpu", up_s > 0 ? double(int(cpu_s / up_s * 1000)) / 10.0 : 0.0},
            {"connections", server_.num_clients()},
            {"total_connections", server_.stats.total_connections.load()},
            {"routes", 0},
            {"remotes", 0},
            {"leafnodes", 0},
            {"in_msgs", totals.in_msgs},
            {"out_msgs", totals.out_msgs},
            {"in_bytes", totals.in_bytes},
            {"out_bytes", totals.out_bytes},
            {"slow_consumers", server_.stats.slow_consumers.load()},
            {"stalled_clients", server_.stats.stalls.load()},
            {"subscriptions", subs},
            {"config_load_time", rfc3339(server_.start_time())},
            {"system_account", o.system_account},
        };
        if (o.tls_enabled && !o.allow_non_tls) v["tls_required"] = true;
        if (o.tls_enabled && o.tls.verify) v["tls_verify"] = true;
        if (!o.server_tags.empty()) {
            json::array tags;
            for (const auto& t : o.server_tags) tags.push_back(json::value(t));
            v["tags"] = std::move(tags);
        }
        std::map<std::string, Endpoint> sections;
        {
            std::lock_guard lk(endpoints_mu_);
            sections = varz_sections_;
        }
        for (auto& [key, fn] : sections) {
            boost::system::error_code ec;
            auto section = json::parse(fn({}), ec);
            if (!ec) v[key] = std::move(section);
        }
        return to_text(v);
    }
    if (path == "/connz") {
        const bool with_subs = q.count("subs") && (q["subs"] == "1" || q["subs"] == "true" ||
                                                    q["subs"] == "detail");
        const bool with_auth = q.count("auth") && (q["auth"] == "1" || q["auth"] == "true");
        std::int64_t offset = 0, limit = 1024;
        try {
            if (q.count("offset")) offset = std::max<std::int64_t>(0, std::stoll(q["offset"]));
            if (q.count("limit")) limit = std::max<std::int64_t>(0, std::stoll(q["limit"]));
        } catch (...) {
        }
        std::string sort = q.count("sort") ? q["sort"] : "cid";
        std::vector<Client::Info> infos;
        for (auto& c : server_.clients()) {
            if (q.count("cid") && std::to_string(c->cid()) != q["cid"]) continue;
            auto info = c->info(with_subs);
            if (q.count("acc") && info.account != q["acc"]) continue;  // the system account's per-account connz
            infos.push_back(std::move(info));
        }
        using I = Client::Info;
        std::function<bool(const I&, const I&)> less;
        if (sort == "subs") {
            less = [](const I& a, const I& b) { return a.num_subs > b.num_subs; };
        } else if (sort == "pending") {
            less = [](const I& a, const I& b) { return a.pending_bytes > b.pending_bytes; };
        } else if (sort == "msgs_to") {
            less = [](const I& a, const I& b) { return a.out_msgs > b.out_msgs; };
        } else if (sort == "msgs_from") {
            less = [](const I& a, const I& b) { return a.in_msgs > b.in_msgs; };
        } else if (sort == "bytes_to") {
            less = [](const I& a, const I& b) { return a.out_bytes > b.out_bytes; };
        } else if (sort == "bytes_from") {
            less = [](const I& a, const I& b) { return a.in_bytes > b.in_bytes; };
        } else if (sort == "last") {
            less = [](const I& a, const I& b) { return a.last_activity > b.last_activity; };
        } else if (sort == "idle") {
            less = [](const I& a, const I& b) { return a.last_activity < b.last_activity; };
        } else if (sort == "uptime" || sort == "start") {
            less = [](const I& a, const I& b) { return a.start < b.start; };
        } else {
            sort = "cid";
            less = [](const I& a, const I& b) { return a.cid < b.cid; };
        }
        std::stable_sort(infos.begin(), infos.end(), less);
        json::array conns;
        for (std::int64_t i = offset; i < std::int64_t(infos.size()) && i < offset + limit; ++i) {
            const auto& c = infos[std::size_t(i)];
            json::object j{
                {"cid", c.cid},
                {"kind", "Client"},
                {"type", "nats"},
                {"ip", c.ip},
                {"port", c.port},
                {"start", rfc3339(c.start)},
                {"last_activity", rfc3339(c.last_activity)},
                {"rtt", go_duration(c.rtt_ns)},
                {"uptime", go_uptime(now - c.start)},
                {"idle", go_uptime(now - c.last_activity)},
                {"pending_bytes", c.pending_bytes},
                {"in_msgs", c.in_msgs},
                {"out_msgs", c.out_msgs},
                {"in_bytes", c.in_bytes},
                {"out_bytes", c.out_bytes},
                {"subscriptions", c.num_subs},
            };
            if (c.stalls) j["stalls"] = c.stalls;
            if (!c.name.empty()) j["name"] = c.name;
            if (!c.lang.empty()) j["lang"] = c.lang;
            if (!c.version.empty()) j["version"] = c.version;
            if (!c.tls_version.empty()) {
                j["tls_version"] = c.tls_version;
                j["tls_cipher_suite"] = c.tls_cipher;
            }
            if (with_auth && !c.user.empty()) j["authorized_user"] = c.user;
            if (with_auth && !c.account.empty()) j["account"] = c.account;
            if (with_subs && !c.subs.empty()) {
                json::array subs;
                for (auto& s : c.subs) subs.push_back(json::value(s));
                j["subscriptions_list"] = std::move(subs);
            }
            conns.push_back(std::move(j));
        }
        json::object v{
            {"server_id", server_.server_id()},
            {"now", rfc3339(now)},
            {"num_connections", conns.size()},
            {"total", infos.size()},
            {"offset", offset},
            {"limit", limit},
            {"connections", std::move(conns)},
        };
        return to_text(v);
    }
    if (path == "/subsz" || path == "/subscriptionsz") {
        subjects::SublistStats total;
        double fanout_weighted = 0;
        std::uint64_t misses = 0;
        for (auto* a : server_.accounts()) {
            if (q.count("acc") && a->name() != q["acc"]) continue;
            auto s = a->sublist().stats();
            total.subscriptions += s.subscriptions;
            total.cache_entries += s.cache_entries;
            total.inserts += s.inserts;
            total.removes += s.removes;
            total.matches += s.matches;
            total.cache_hits += s.cache_hits;
            total.max_fanout = std::max(total.max_fanout, s.max_fanout);
            fanout_weighted += s.avg_fanout * double(s.matches - s.cache_hits);
            misses += s.matches - s.cache_hits;
        }
        json::object v{
            {"num_subscriptions", total.subscriptions},
            {"num_cache", total.cache_entries},
            {"num_inserts", total.inserts},
            {"num_removes", total.removes},
            {"num_matches", total.matches},
            {"cache_hit_rate",
             total.matches ? double(total.cache_hits) / double(total.matches) : 0.0},
            {"max_fanout", total.max_fanout},
            {"avg_fanout", misses ? fanout_weighted / double(misses) : 0.0},
        };
        if (q.count("subs") && (q["subs"] == "1" || q["subs"] == "true")) {
            json::array list;
            for (auto* a : server_.accounts()) {
                if (q.count("acc") && a->name() != q["acc"]) continue;
                for (auto& s : a->sublist().all()) {
                    json::object e{{"account", a->name()}, {"subject", s->subject}};
                    if (!s->queue.empty()) e["qgroup"] = s->queue;
                    list.push_back(std::move(e));
                }
            }
            v["total"] = list.size();
            v["subscriptions_list"] = std::move(list);
        }
        return to_text(v);
    }
    {
        Endpoint ep;
        {
            std::lock_guard lk(endpoints_mu_);
            auto it = endpoints_.find(std::string(path));
            if (it != endpoints_.end()) ep = it->second;
        }
        if (ep) {
            boost::system::error_code ec;
            json::value v = json::parse(ep(q), ec);
            if (ec) return std::string("{}");
            std::vector<std::pair<std::string, Endpoint>> sections;
            {
                std::lock_guard lk(endpoints_mu_);
                for (const auto& [k, fn] : sections_) if (k.first == path) sections.emplace_back(k.second, fn);
            }
            for (auto& [key, fn] : sections) {
                json::value part = json::parse(fn(q), ec);
                if (!ec && v.is_object()) v.as_object()[key] = std::move(part);
            }
            return to_text(v);
        }
    }
    if (path == "/routez") {
        return to_text(json::object{{"server_id", server_.server_id()},
                                    {"now", rfc3339(now)},
                                    {"num_routes", 0},
                                    {"routes", json::array{}}});
    }
    return {};
}

}  // namespace osprey::server
