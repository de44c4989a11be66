#include "jetstream/stream_config.h"

#include <boost/json.hpp>
#include <algorithm>
#include <set>

#include "jetstream/json_fields.h"
#include "subjects/subject.h"

namespace osprey::jetstream {

namespace json = boost::json;

namespace {

constexpr std::int64_t kDefaultDuplicateWindow = 120LL * 1000 * 1000 * 1000;

using Bad = fields::BadField;

StreamSource parse_source(const json::value& v) {
    if (!v.is_object()) throw Bad{};
    const auto& o = v.get_object();
    StreamSource s;
    s.name = fields::string(o, "name");
    s.opt_start_seq = std::uint64_t(fields::integer(o, "opt_start_seq", 0));
    s.opt_start_time = fields::string(o, "opt_start_time");
    s.filter_subject = fields::string(o, "filter_subject");
    return s;
}

json::object source_json(const StreamSource& s) {
    json::object o{{"name", s.name}};
    if (s.opt_start_seq) o["opt_start_seq"] = s.opt_start_seq;
    if (!s.opt_start_time.empty()) o["opt_start_time"] = s.opt_start_time;
    if (!s.filter_subject.empty()) o["filter_subject"] = s.filter_subject;
    return o;
}

}  // namespace

bool valid_stream_name(const std::string& name) {
    if (name.empty()) return false;
    for (char c : name)
        if (c == '.' || c == '*' || c == '>' || c == ' ' || c == '\t' || c == '\r' || c == '\n')
            return false;
    return true;
}

std::expected<StreamConfig, ApiError> parse_stream_config(const json::value& body,
                                                          const std::string& subject_name) {
    if (!body.is_object()) return std::unexpected(errors::invalid_json());
    const auto& o = body.get_object();
    StreamConfig c;
    try {
        c.name = fields::string(o, "name");
        c.description = fields::string(o, "description");
        if (auto it = o.find("subjects"); it != o.end() && !it->value().is_null()) {
            if (!it->value().is_array()) throw Bad{};
            for (const auto& s : it->value().get_array()) {
                if (!s.is_string()) throw Bad{};
                c.subjects.emplace_back(s.get_string());
            }
        }
        const std::string retention = fields::string(o, "retention");
        if (retention.empty() || retention == "limits") c.retention = Retention::Limits;
        else if (retention == "interest") c.retention = Retention::Interest;
        else if (retention == "workqueue") c.retention = Retention::WorkQueue;
        else throw Bad{};
        const std::string storage = fields::string(o, "storage");
        if (storage.empty() || storage == "file") c.storage = StorageType::File;
        else if (storage == "memory") c.storage = StorageType::Memory;
        else throw Bad{};
        const std::string discard = fields::string(o, "discard");
        if (discard.empty() || discard == "old") c.discard = Discard::Old;
        else if (discard == "new") c.discard = Discard::New;
        else throw Bad{};
        c.max_consumers = fields::integer(o, "max_consumers", -1);
        c.max_msgs = fields::integer(o, "max_msgs", -1);
        c.max_bytes = fields::integer(o, "max_bytes", -1);
        c.max_age_ns = fields::integer(o, "max_age", 0);
        c.max_msgs_per_subject = fields::integer(o, "max_msgs_per_subject", -1);
        c.max_msg_size = std::int32_t(fields::integer(o, "max_msg_size", -1));
        c.num_replicas = int(fields::integer(o, "num_replicas", 1));
        c.no_ack = fields::boolean(o, "no_ack", false);
        c.duplicate_window_ns = fields::integer(o, "duplicate_window", 0);
        c.sealed = fields::boolean(o, "sealed", false);
        c.deny_delete = fields::boolean(o, "deny_delete", false);
        c.deny_purge = fields::boolean(o, "deny_purge", false);
        c.allow_rollup_hdrs = fields::boolean(o, "allow_rollup_hdrs", false);
        c.allow_direct = fields::boolean(o, "allow_direct", false);
        c.mirror_direct = fields::boolean(o, "mirror_direct", false);
        c.discard_new_per_subject = fields::boolean(o, "discard_new_per_subject", false);
        if (auto it = o.find("mirror"); it != o.end() && !it->value().is_null())
            c.mirror = parse_source(it->value());
        if (auto it = o.find("sources"); it != o.end() && !it->value().is_null()) {
            if (!it->value().is_array()) throw Bad{};
            for (const auto& s : it->value().get_array()) c.sources.push_back(parse_source(s));
        }
        if (auto it = o.find("republish"); it != o.end() && !it->value().is_null()) {
            if (!it->value().is_object()) throw Bad{};
            RePublish r;
            r.src = fields::string(it->value().get_object(), "src");
            r.dest = fields::string(it->value().get_object(), "dest");
            r.headers_only = fields::boolean(it->value().get_object(), "headers_only", false);
            c.republish = r;
        }
        if (auto it = o.find("placement"); it != o.end() && !it->value().is_null())
            c.placement_json = json::serialize(it->value());
    } catch (const Bad&) {
        return std::unexpected(errors::invalid_json());
    }
    if (!subject_name.empty() && c.name != subject_name)
        return std::unexpected(errors::stream_name_mismatch());
    // Defaults, as nats-server fills them.
    if (c.subjects.empty() && !c.mirror && c.sources.empty()) c.subjects.push_back(c.name);
    if (c.max_consumers == 0) c.max_consumers = -1;
    if (c.max_msgs == 0) c.max_msgs = -1;
    if (c.max_bytes == 0) c.max_bytes = -1;
    if (c.max_msgs_per_subject == 0) c.max_msgs_per_subject = -1;
    if (c.max_msg_size == 0) c.max_msg_size = -1;
    if (c.num_replicas == 0) c.num_replicas = 1;
    if (c.duplicate_window_ns == 0) {
        c.duplicate_window_ns = (c.max_age_ns != 0 && c.max_age_ns < kDefaultDuplicateWindow)
                                    ? c.max_age_ns
                                    : kDefaultDuplicateWindow;
    }
    return c;
}

std::optional<ApiError> validate(const StreamConfig& c) {
    if (c.name.find('/') != std::string::npos || c.name.find('\\') != std::string::npos)
        return errors::name_has_separators();
    if (!valid_stream_name(c.name))
        return errors::invalid_config("stream name is required and can not contain '.', '*', '>'");
    if (c.num_replicas > 1) return errors::replicas_not_supported();
    if (c.num_replicas < 0) return ApiError{400, 10133, "replicas count cannot be negative"};
    // nats-server's checks, in its order: a negative max_age is not reported as such (it
    // becomes the duplicate window, reported next, or fails the window comparison).
    if (c.max_age_ns > 0 && c.max_age_ns < 100'000'000)
        return errors::invalid_config("max age needs to be >= 100ms");
    if (c.duplicate_window_ns < 0)
        return errors::invalid_config("duplicates window can not be negative");
    if (c.max_age_ns != 0 && c.duplicate_window_ns > c.max_age_ns)
        return errors::invalid_config("duplicates window can not be larger then max age");
    if (c.mirror && !c.subjects.empty())
        return ApiError{400, 10034, "stream mirrors can not contain subjects"};
    if (c.mirror && !c.sources.empty())
        return ApiError{400, 10031, "stream mirrors can not also contain other sources"};
    if ((c.mirror && c.mirror->name == c.name) ||
        std::any_of(c.sources.begin(), c.sources.end(), [&](auto& s) { return s.name == c.name; }))
        return errors::invalid_config("stream can not mirror or source itself");
    std::set<std::string> seen;
    for (const auto& s : c.subjects) {
        if (!subjects::valid_subject(s)) return errors::invalid_config("invalid subject");
        if (!seen.insert(s).second) return errors::invalid_config("duplicate subjects detected");
        if (subjects::is_subset("$JS.API.x", s) || subjects::is_subset(s, "$JS.API.>") ||
            s == "$JS.API.>")
            return errors::invalid_config("subjects overlap with jetstream api");
    }
    if (c.republish) {
        if (!subjects::valid_subject(c.republish->dest) || c.republish->dest.empty())
            return errors::invalid_config("stream configuration for republish destination not valid");
    }
    return std::nullopt;
}

std::optional<ApiError> check_update(const StreamConfig& old, const StreamConfig& next) {
    auto no = [](const char* what) {
        return errors::update_failed(std::string("stream configuration update can not change ") +
                                     what);
    };
    if (old.max_consumers != next.max_consumers) return no("MaxConsumers");
    if (old.storage != next.storage) return no("storage type");
    if (old.retention != next.retention) return no("retention policy");
    if (old.mirror.has_value() != next.mirror.has_value() ||
        (old.mirror && next.mirror && old.mirror->name != next.mirror->name))
        return ApiError{400, 10055, "stream mirror configuration can not be updated"};
    if (old.sealed && !next.sealed)
        return errors::update_failed("stream configuration update can not unseal a sealed stream");
    if (old.deny_delete && !next.deny_delete)
        return errors::update_failed(
            "stream configuration update can not cancel deny message deletes");
    if (old.deny_purge && !next.deny_purge)
        return errors::update_failed("stream configuration update can not cancel deny purge");
    auto same_republish = [](const std::optional<RePublish>& a, const std::optional<RePublish>& b) {
        if (a.has_value() != b.has_value()) return false;
        return !a || (a->src == b->src && a->dest == b->dest && a->headers_only == b->headers_only);
    };
    if (!same_republish(old.republish, next.republish)) return no("RePublish");
    return std::nullopt;
}

json::object to_json(const StreamConfig& c) {
    json::object o;
    o["name"] = c.name;
    if (!c.description.empty()) o["description"] = c.description;
    if (!c.subjects.empty()) {
        json::array a;
        for (auto& s : c.subjects) a.push_back(json::value(s));
        o["subjects"] = std::move(a);
    }
    o["retention"] = c.retention == Retention::Limits     ? "limits"
                     : c.retention == Retention::Interest ? "interest"
                                                          : "workqueue";
    o["max_consumers"] = c.max_consumers;
    o["max_msgs"] = c.max_msgs;
    o["max_bytes"] = c.max_bytes;
    o["max_age"] = c.max_age_ns;
    o["max_msgs_per_subject"] = c.max_msgs_per_subject;
    o["max_msg_size"] = c.max_msg_size;
    o["discard"] = c.discard == Discard::Old ? "old" : "new";
    if (c.discard_new_per_subject) o["discard_new_per_subject"] = true;
    o["storage"] = c.storage == StorageType::File ? "file" : "memory";
    o["num_replicas"] = c.num_replicas;
    if (c.no_ack) o["no_ack"] = true;
    o["duplicate_window"] = c.duplicate_window_ns;
    if (c.placement_json) o["placement"] = json::parse(*c.placement_json);
    if (c.mirror) o["mirror"] = source_json(*c.mirror);
    if (!c.sources.empty()) {
        json::array a;
        for (auto& s : c.sources) a.push_back(source_json(s));
        o["sources"] = std::move(a);
    }
    if (c.republish) {
        json::object r{{"src", c.republish->src}, {"dest", c.republish->dest}};
        if (c.republish->headers_only) r["headers_only"] = true;
        o["republish"] = std::move(r);
    }
    o["allow_direct"] = c.allow_direct;
    o["mirror_direct"] = c.mirror_direct;
    o["sealed"] = c.sealed;
    o["deny_delete"] = c.deny_delete;
    o["deny_purge"] = c.deny_purge;
    o["allow_rollup_hdrs"] = c.allow_rollup_hdrs;
    return o;
}

bool same_config(const StreamConfig& a, const StreamConfig& b) {
    return json::serialize(to_json(a)) == json::serialize(to_json(b));
}

}  // namespace osprey::jetstream
