#include "groups/group_spec.h"

#include <boost/json.hpp>
#include <fmt/format.h>

#include "subjects/subject.h"

namespace osprey::groups {

namespace json = boost::json;

namespace {

constexpr std::string_view kDescriptionTag = "osprey-group ";

// An integer field in [lo, hi]; JSON integers only (not "5", not 5.5, not 5.0).
std::optional<std::string> take_int(const json::value& v, const char* name, std::int64_t lo, std::int64_t hi,
                                    std::int64_t& out) {
    if (!v.is_int64() && !v.is_uint64()) return fmt::format("{} must be an integer", name);
    if (v.is_uint64() && v.get_uint64() > std::uint64_t(hi)) return fmt::format("{} must be in {}..{}", name, lo, hi);
    const std::int64_t x = v.is_int64() ? v.get_int64() : std::int64_t(v.get_uint64());
    if (x < lo || x > hi) return fmt::format("{} must be in {}..{}", name, lo, hi);
    out = x;
    return std::nullopt;
}

std::optional<std::string> take_string(const json::value& v, const char* name, std::string& out) {
    if (!v.is_string()) return fmt::format("{} must be a string", name);
    out = std::string(v.get_string());
    return std::nullopt;
}

bool valid_pattern(std::string_view p) {
    if (p.empty() || p.size() > 1024) return false;
    for (char c : p)
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') return false;
    if (!subjects::valid_subject(p)) return false;
    // Stricter than NATS, as the contract says: a wildcard is a whole token ("a.b*" is no
    // literal token here).
    for (std::size_t start = 0; start <= p.size();) {
        const std::size_t end = std::min(p.find('.', start), p.size());
        std::string_view tok = p.substr(start, end - start);
        if (tok.size() > 1 && (tok.find('*') != std::string_view::npos || tok.find('>') != std::string_view::npos))
            return false;
        start = end + 1;
    }
    return true;
}

bool valid_stream_name(std::string_view s) {
    if (s.empty() || s.size() > 255) return false;
    for (char c : s)
        if (c == '.' || c == '*' || c == '>' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '/' ||
            c == '\\')
            return false;
    return true;
}

// Reads the fields of a create or patch body into `g`; `patch` refuses the immutable ones
// unless unchanged.
std::optional<std::string> read_fields(std::string_view body, GroupSpec& g, bool patch) {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec) return std::string("malformed JSON: ") + ec.message();
    if (!v.is_object()) return std::string("the body must be a JSON object");
    for (const auto& [k, val] : v.get_object()) {
        std::optional<std::string> err;
        if (k == "name" || k == "stream" || k == "pattern") {
            std::string s;
            if ((err = take_string(val, k.data(), s))) return err;
            std::string& field = k == "name" ? g.name : k == "stream" ? g.stream : g.pattern;
            if (patch) {
                if (s != field) return fmt::format("{} can not be changed", std::string_view(k));
                continue;
            }
            field = std::move(s);
        } else if (k == "max_inflight") {
            err = take_int(val, "max_inflight", 1, 10000, g.max_inflight);
        } else if (k == "max_redeliveries") {
            err = take_int(val, "max_redeliveries", 0, 1000, g.max_redeliveries);
        } else if (k == "redeliver_delay_ms") {
            err = take_int(val, "redeliver_delay_ms", 100, 3600000, g.redeliver_delay_ms);
        } else if (k == "dead_letter_subject") {
            if ((err = take_string(val, "dead_letter_subject", g.dead_letter_subject))) return err;
            if (!g.dead_letter_subject.empty() && !subjects::valid_literal_subject(g.dead_letter_subject))
                return std::string("dead_letter_subject must be a literal subject");
        } else if (k == "ack_mode") {
            std::string m;
            if ((err = take_string(val, "ack_mode", m))) return err;
            if (m != "manual" && m != "auto") return std::string("ack_mode must be \"manual\" or \"auto\"");
            g.ack_auto = m == "auto";
        } else if (k == "redeliver_backoff_ms") {
            if (!val.is_array()) return std::string("redeliver_backoff_ms must be an array of integers");
            const auto& a = val.get_array();
            if (a.size() > 100) return std::string("redeliver_backoff_ms takes at most 100 values");
            std::vector<std::int64_t> out;
            for (const auto& x : a) {
                std::int64_t ms = 0;
                if ((err = take_int(x, "redeliver_backoff_ms values", 100, 3600000, ms))) return err;
                out.push_back(ms);
            }
            g.backoff_ms = std::move(out);
        } else {
            return fmt::format("unknown field \"{}\"", std::string_view(k));
        }
        if (err) return err;
    }
    return std::nullopt;
}

}  // namespace

bool valid_name(std::string_view s) {
    if (s.empty() || s.size() > 64) return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    return true;
}

std::int64_t GroupSpec::hold_ms(std::uint64_t attempt) const {
    if (backoff_ms.empty()) return redeliver_delay_ms;
    const std::size_t i = attempt == 0 ? 0 : std::min<std::size_t>(attempt - 1, backoff_ms.size() - 1);
    return backoff_ms[i];
}

std::expected<GroupSpec, std::string> parse_create(std::string_view body) {
    GroupSpec g;
    if (auto e = read_fields(body, g, false)) return std::unexpected(*e);
    if (g.name.empty()) return std::unexpected(std::string("name is required"));
    if (!valid_name(g.name)) return std::unexpected(std::string("name must match [A-Za-z0-9_-]{1,64}"));
    if (g.pattern.empty()) return std::unexpected(std::string("pattern is required"));
    if (!valid_pattern(g.pattern)) return std::unexpected(std::string("pattern is not a valid subject filter"));
    if (!g.stream.empty() && !valid_stream_name(g.stream))
        return std::unexpected(std::string("stream is not a valid stream name"));
    return g;
}

std::expected<GroupSpec, std::string> apply_patch(std::string_view body, GroupSpec spec) {
    if (auto e = read_fields(body, spec, true)) return std::unexpected(*e);
    return spec;
}

std::string consumer_create_request(const GroupSpec& g) {
    json::object desc{{"max_inflight", g.max_inflight},
                      {"redeliver_delay_ms", g.redeliver_delay_ms},
                      {"dead_letter_subject", g.dead_letter_subject},
                      {"ack_mode", g.ack_auto ? "auto" : "manual"},
                      {"created_at", g.created_at},
                      {"updated_at", g.updated_at}};
    json::array backoff_ms;
    for (auto ms : g.backoff_ms) backoff_ms.push_back(ms);
    desc["redeliver_backoff_ms"] = std::move(backoff_ms);
    const std::int64_t max_deliver = g.max_redeliveries + 1;
    json::object cfg{{"durable_name", g.name},
                     {"description", std::string(kDescriptionTag) + json::serialize(desc)},
                     {"deliver_policy", "new"},
                     {"ack_policy", "explicit"},
                     {"ack_wait", g.redeliver_delay_ms * 1000000},
                     {"max_deliver", max_deliver},
                     {"filter_subject", g.pattern},
                     {"replay_policy", "instant"},
                     {"max_ack_pending", -1},
                     {"max_waiting", 4096}};
    // JetStream wants fewer backoff values than deliveries; the ones past the last delivery
    // would never be used.
    if (!g.backoff_ms.empty() && max_deliver > 1) {
        json::array b;
        for (std::size_t i = 0; i < g.backoff_ms.size() && std::int64_t(i) < max_deliver - 1; ++i)
            b.push_back(g.backoff_ms[i] * 1000000);
        cfg["backoff"] = std::move(b);
    }
    return json::serialize(json::object{{"stream_name", g.stream}, {"config", std::move(cfg)}});
}

std::optional<GroupSpec> spec_from_consumer_info(const json::object& info) {
    const auto* cfg = info.if_contains("config");
    if (!cfg || !cfg->is_object()) return std::nullopt;
    const auto& c = cfg->get_object();
    const auto* d = c.if_contains("description");
    if (!d || !d->is_string() || !d->get_string().starts_with(kDescriptionTag)) return std::nullopt;
    boost::system::error_code ec;
    json::value dv = json::parse(std::string_view(d->get_string()).substr(kDescriptionTag.size()), ec);
    if (ec || !dv.is_object()) return std::nullopt;
    const auto& desc = dv.get_object();
    auto str = [](const json::object& o, const char* k) {
        const auto* v = o.if_contains(k);
        return v && v->is_string() ? std::string(v->get_string()) : std::string();
    };
    auto num = [](const json::object& o, const char* k, std::int64_t dflt) {
        const auto* v = o.if_contains(k);
        return v && v->is_int64() ? v->get_int64() : v && v->is_uint64() ? std::int64_t(v->get_uint64()) : dflt;
    };
    GroupSpec g;
    g.name = str(c, "durable_name");
    g.stream = str(info, "stream_name");
    g.pattern = str(c, "filter_subject");
    g.max_inflight = num(desc, "max_inflight", 100);
    g.redeliver_delay_ms = num(desc, "redeliver_delay_ms", num(c, "ack_wait", 0) / 1000000);
    g.dead_letter_subject = str(desc, "dead_letter_subject");
    g.ack_auto = str(desc, "ack_mode") == "auto";
    g.created_at = str(desc, "created_at");
    g.updated_at = str(desc, "updated_at");
    if (const auto* b = desc.if_contains("redeliver_backoff_ms"); b && b->is_array())
        for (const auto& x : b->get_array())
            if (x.is_int64()) g.backoff_ms.push_back(x.get_int64());
    // The consumer is the truth for what JetStream enforces (a NATS tool may have changed it).
    const std::int64_t max_deliver = num(c, "max_deliver", -1);
    g.max_redeliveries = max_deliver > 0 ? max_deliver - 1 : 1000;
    return g;
}

json::object group_json(const GroupSpec& g, const json::object& info) {
    auto u64 = [](const json::object& o, const char* k) -> std::uint64_t {
        const auto* v = o.if_contains(k);
        return v && v->is_uint64() ? v->get_uint64() : v && v->is_int64() ? std::uint64_t(v->get_int64()) : 0;
    };
    auto stream_seq = [&](const char* k) -> std::uint64_t {
        const auto* v = info.if_contains(k);
        return v && v->is_object() ? u64(v->get_object(), "stream_seq") : 0;
    };
    json::array backoff;
    for (auto ms : g.backoff_ms) backoff.push_back(ms);
    return json::object{{"name", g.name},
                        {"stream", g.stream},
                        {"pattern", g.pattern},
                        {"max_inflight", g.max_inflight},
                        {"max_redeliveries", g.max_redeliveries},
                        {"redeliver_delay_ms", g.redeliver_delay_ms},
                        {"redeliver_backoff_ms", std::move(backoff)},
                        {"dead_letter_subject", g.dead_letter_subject},
                        {"ack_mode", g.ack_auto ? "auto" : "manual"},
                        {"created_at", g.created_at},
                        {"updated_at", g.updated_at},
                        {"num_pending", u64(info, "num_pending")},
                        {"num_ack_pending", u64(info, "num_ack_pending")},
                        {"num_redelivered", u64(info, "num_redelivered")},
                        {"ack_floor_sequence", stream_seq("ack_floor")},
                        {"delivered_sequence", stream_seq("delivered")}};
}

}  // namespace osprey::groups
