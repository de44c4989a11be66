#include "jetstream/consumer/consumer_config.h"

#include <algorithm>

#include <boost/json.hpp>

#include "jetstream/api/json_fields.h"
#include "util/go_text.h"
#include "util/rfc3339.h"

namespace osprey::jetstream {

namespace json = boost::json;

namespace {
using Bad = fields::BadField;
constexpr std::int64_t kSecond = 1000LL * 1000 * 1000;
}  // namespace

namespace {
std::string_view without_percent(const std::string& f) {
    std::string_view s = f;
    if (s.ends_with('%')) s.remove_suffix(1);
    return s;
}
}  // namespace

int sample_percent(const std::string& sample_freq) {
    bool oor = false;
    auto v = util::go_atoi(without_percent(sample_freq), oor);
    if (!v || *v < 0) return 0;
    return int(std::min<std::int64_t>(*v, 100));
}

std::optional<std::string> sample_freq_error(const std::string& sample_freq) {
    if (sample_freq.empty()) return std::nullopt;
    const std::string_view s = without_percent(sample_freq);
    bool oor = false;
    auto v = util::go_atoi(s, oor);
    if (v && *v >= 0) return std::nullopt;
    if (v) return std::string("<nil>");  // negative: no parse error to report
    std::string quoted = "\"";
    for (char ch : s) {
        if (ch == '"' || ch == '\\') quoted += '\\';
        quoted += ch;
    }
    quoted += '"';
    return "strconv.Atoi: parsing " + quoted + (oor ? ": value out of range" : ": invalid syntax");
}

std::optional<std::string> start_position_error(const ConsumerConfig& c) {
    static const char* names[] = {"deliver all", "deliver last", "deliver new", "deliver by start sequence",
                                  "deliver by start time", "deliver last per subject"};
    const std::string policy = std::string("consumer delivery policy is ") + names[int(c.deliver_policy)];
    const bool seq = c.opt_start_seq != 0, time = !c.opt_start_time.empty();
    switch (c.deliver_policy) {
        case DeliverPolicy::All:
        case DeliverPolicy::Last:
        case DeliverPolicy::New:
        case DeliverPolicy::LastPerSubject:
            if (seq) return policy + ", but optional start sequence is also set";
            if (time) return policy + ", but optional start time is also set";
            if (c.deliver_policy == DeliverPolicy::LastPerSubject && c.filter_subject.empty())
                return policy + ", but optional filter subject is not set";
            break;
        case DeliverPolicy::ByStartSequence:
            if (!seq) return policy + ", but optional start sequence is not set";
            if (time) return policy + ", but optional start time is also set";
            break;
        case DeliverPolicy::ByStartTime:
            if (!time) return policy + ", but optional start time is not set";
            // sic: nats-server 2.9's text
            if (seq) return policy + ", but optional start start sequence is also set";
            break;
    }
    return std::nullopt;
}

std::expected<ConsumerConfig, ApiError> parse_consumer_config(const json::value& v) {
    static const json::object empty;  // an absent config: Go's zero value
    if (!v.is_object() && !v.is_null()) return std::unexpected(errors::invalid_json());
    const auto& o = v.is_null() ? empty : v.get_object();
    ConsumerConfig c;
    try {
        c.durable_name = fields::string(o, "durable_name");
        c.name = fields::string(o, "name");
        c.description = fields::string(o, "description");
        const std::string dp = fields::string(o, "deliver_policy");
        if (dp.empty() || dp == "all") c.deliver_policy = DeliverPolicy::All;
        else if (dp == "last") c.deliver_policy = DeliverPolicy::Last;
        else if (dp == "new") c.deliver_policy = DeliverPolicy::New;
        else if (dp == "by_start_sequence") c.deliver_policy = DeliverPolicy::ByStartSequence;
        else if (dp == "by_start_time") c.deliver_policy = DeliverPolicy::ByStartTime;
        else if (dp == "last_per_subject") c.deliver_policy = DeliverPolicy::LastPerSubject;
        else throw Bad{};
        c.opt_start_seq = std::uint64_t(fields::integer(o, "opt_start_seq"));
        if (const std::string t = fields::string(o, "opt_start_time"); !t.empty()) {
            auto parsed = util::parse_rfc3339(t);
            if (!parsed) throw Bad{};
            c.opt_start_ns = parsed->unix_ns;
            c.opt_start_time = util::format_rfc3339_nano(*parsed);
        }
        const std::string ap = fields::string(o, "ack_policy");
        if (ap.empty() || ap == "none") c.ack_policy = AckPolicy::None;
        else if (ap == "all") c.ack_policy = AckPolicy::All;
        else if (ap == "explicit") c.ack_policy = AckPolicy::Explicit;
        else throw Bad{};
        c.ack_wait_ns = fields::integer(o, "ack_wait");
        c.max_deliver = fields::integer(o, "max_deliver", -1);
        if (auto it = o.find("backoff"); it != o.end() && it->value().is_array())
            for (const auto& b : it->value().get_array())
                c.backoff_ns.push_back(b.is_int64() ? b.get_int64() : std::int64_t(b.to_number<double>()));
        c.filter_subject = fields::string(o, "filter_subject");
        const std::string rp = fields::string(o, "replay_policy");
        if (rp.empty() || rp == "instant") c.replay_original = false;
        else if (rp == "original") c.replay_original = true;
        else throw Bad{};
        c.sample_freq = fields::string(o, "sample_freq");
        c.rate_limit_bps = std::uint64_t(fields::integer(o, "rate_limit_bps"));
        c.max_ack_pending = fields::integer(o, "max_ack_pending");
        c.max_waiting = fields::integer(o, "max_waiting");
        c.max_batch = fields::integer(o, "max_batch");
        c.max_expires_ns = fields::integer(o, "max_expires");
        c.max_bytes = fields::integer(o, "max_bytes");
        c.inactive_threshold_ns = fields::integer(o, "inactive_threshold");
        c.headers_only = fields::boolean(o, "headers_only");
        c.flow_control = fields::boolean(o, "flow_control");
        c.idle_heartbeat_ns = fields::integer(o, "idle_heartbeat");
        c.deliver_subject = fields::string(o, "deliver_subject");
        c.deliver_group = fields::string(o, "deliver_group");
        c.mem_storage = fields::boolean(o, "mem_storage");
        c.direct = fields::boolean(o, "direct");
        c.num_replicas = int(fields::integer(o, "num_replicas"));
    } catch (const Bad&) {
        return std::unexpected(errors::invalid_json());
    } catch (const std::exception&) {
        return std::unexpected(errors::invalid_json());
    }
    // Defaults, as nats-server fills them.
    if (c.ack_policy != AckPolicy::None) {
        if (c.ack_wait_ns == 0) c.ack_wait_ns = 30 * kSecond;
        if (c.max_ack_pending == 0) c.max_ack_pending = 1000;
    }
    if (c.max_deliver == 0) c.max_deliver = -1;
    // A backoff schedule overrides ack_wait with its first step, as nats-server does.
    if (!c.backoff_ns.empty()) c.ack_wait_ns = c.backoff_ns.front();
    if (c.is_pull() && c.max_waiting == 0) c.max_waiting = 512;
    if (!c.durable() && c.inactive_threshold_ns == 0) c.inactive_threshold_ns = 5 * kSecond;
    return c;
}

json::object to_json(const ConsumerConfig& c) {
    json::object o;
    if (!c.durable_name.empty()) o["durable_name"] = c.durable_name;
    if (!c.name.empty()) o["name"] = c.name;
    if (!c.description.empty()) o["description"] = c.description;
    static const char* dps[] = {"all", "last", "new", "by_start_sequence", "by_start_time",
                                "last_per_subject"};
    o["deliver_policy"] = dps[int(c.deliver_policy)];
    if (c.opt_start_seq) o["opt_start_seq"] = c.opt_start_seq;
    if (!c.opt_start_time.empty()) o["opt_start_time"] = c.opt_start_time;
    static const char* aps[] = {"none", "all", "explicit"};
    o["ack_policy"] = aps[int(c.ack_policy)];
    if (c.ack_wait_ns) o["ack_wait"] = c.ack_wait_ns;
    o["max_deliver"] = c.max_deliver;
    if (!c.backoff_ns.empty()) {
        json::array b;
        for (auto x : c.backoff_ns) b.push_back(x);
        o["backoff"] = std::move(b);
    }
    if (!c.filter_subject.empty()) o["filter_subject"] = c.filter_subject;
    o["replay_policy"] = c.replay_original ? "original" : "instant";
    if (c.rate_limit_bps) o["rate_limit_bps"] = c.rate_limit_bps;
    if (!c.sample_freq.empty()) o["sample_freq"] = c.sample_freq;
    if (c.max_waiting) o["max_waiting"] = c.max_waiting;
    if (c.max_ack_pending) o["max_ack_pending"] = c.max_ack_pending;
    if (c.headers_only) o["headers_only"] = true;
    if (c.max_batch) o["max_batch"] = c.max_batch;
    if (c.max_expires_ns) o["max_expires"] = c.max_expires_ns;
    if (c.max_bytes) o["max_bytes"] = c.max_bytes;
    if (c.idle_heartbeat_ns) o["idle_heartbeat"] = c.idle_heartbeat_ns;
    if (c.flow_control) o["flow_control"] = true;
    if (!c.deliver_subject.empty()) o["deliver_subject"] = c.deliver_subject;
    if (!c.deliver_group.empty()) o["deliver_group"] = c.deliver_group;
    if (c.inactive_threshold_ns) o["inactive_threshold"] = c.inactive_threshold_ns;
    o["num_replicas"] = c.num_replicas;
    if (c.mem_storage) o["mem_storage"] = true;
    if (c.direct) o["direct"] = true;
    return o;
}

}  // namespace osprey::jetstream
