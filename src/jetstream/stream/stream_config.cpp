#include "jetstream/stream/stream_config.h"

#include <boost/json.hpp>
#include <algorithm>
#include <set>

#include "jetstream/api/json_fields.h"
#include "subjects/subject.h"
#include "subjects/transform.h"

#include <fmt/format.h>

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
    if (auto it = o.find("external"); it != o.end() && !it->value().is_null()) {
        if (!it->value().is_object()) throw Bad{};
        s.external_api = fields::string(it->value().get_object(), "api");
        s.external_deliver = fields::string(it->value().get_object(), "deliver");
    }
    return s;
}

json::object source_json(const StreamSource& s) {
    json::object o{{"name", s.name}};
    if (s.opt_start_seq) o["opt_start_seq"] = s.opt_start_seq;
    if (!s.opt_start_time.empty()) o["opt_start_time"] = s.opt_start_time;
    if (!s.filter_subject.empty()) o["filter_subject"] = s.filter_subject;
    if (s.external()) {
        json::object e{{"api", s.external_api}};
        if (!s.external_deliver.empty()) e["deliver"] = s.external_deliver;
        o["external"] = std::move(e);
    }
    return o;
}

}  // namespace

bool valid_stream_name(const std::string& name) {
    if (name.empty()) return false;
    for (char c : name)
        if (c == '.' || c == '*' || c == '>' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f')
            return false;
    return true;
}

std::expected<StreamConfig, ApiError> parse_stream_config(const json::value& body,
                                                          const std::string& subject_name) {
    // Go decodes `null` into an empty configuration (then the name does not match).
    static const json::object empty;
    if (!body.is_object() && !body.is_null()) return std::unexpected(errors::invalid_json());
    const auto& o = body.is_null() ? empty : body.get_object();
    StreamConfig c;
    try {
        c.name = fields::string(o, "name");
        c.description = fields::string(o, "description");
        if (auto it = o.find("subjects"); it != o.end() && !it->value().is_null()) {
            if (!it->value().is_array()) throw Bad{};
            for (const auto& s : it->value().get_array()) {
                if (s.is_null()) {
                    c.subjects.emplace_back();  // Go's zero string: "invalid subject" later
                    continue;
                }
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
        c.template_owner = fields::string(o, "template_owner");
        if (auto it = o.find("placement"); it != o.end() && !it->value().is_null())
            c.placement_json = json::serialize(it->value());
    } catch (const Bad&) {
        return std::unexpected(errors::invalid_json());
    }
    if (!subject_name.empty() && c.name != subject_name)
        return std::unexpected(errors::stream_name_mismatch());
    // Defaults, as nats-server fills them (the subjects default comes with validation).
    if (c.max_consumers == 0) c.max_consumers = -1;
    if (c.max_msgs == 0) c.max_msgs = -1;
    if (c.max_bytes == 0) c.max_bytes = -1;
    if (c.max_msgs_per_subject == 0) c.max_msgs_per_subject = -1;
    if (c.max_msg_size == 0) c.max_msg_size = -1;
    if (c.num_replicas == 0) c.num_replicas = 1;
    if (c.duplicate_window_ns == 0 && !c.mirror) {
        c.duplicate_window_ns = (c.max_age_ns != 0 && c.max_age_ns < kDefaultDuplicateWindow)
                                    ? c.max_age_ns
                                    : kDefaultDuplicateWindow;
    }
    return c;
}

namespace {

// Go's SubjectsCollide: two subjects (wildcards allowed) that some literal subject matches.
bool collide(std::string_view a, std::string_view b) {
    subjects::Tokens ta(a), tb(b);
    std::string_view x, y;
    while (true) {
        const bool ha = ta.next(x), hb = tb.next(y);
        if (!ha || !hb) return ha == hb;
        if (x == ">" || y == ">") return true;
        if (x != "*" && y != "*" && x != y) return false;
    }
}

bool valid_publish_subject(std::string_view s) {
    return subjects::valid_subject(s) && !subjects::has_wildcard(s);
}

}  // namespace

std::expected<StreamConfig, ApiError> validate(StreamConfig c, const StreamLookup& lookup) {
    using errors::invalid_config;
    auto bad = [](ApiError e) { return std::unexpected(std::move(e)); };
    if (!valid_stream_name(c.name))
        return bad(invalid_config("stream name is required and can not contain '.', '*', '>'"));
    if (c.name.size() > 255) return bad(invalid_config("stream name is too long, maximum allowed is 255"));
    if (c.description.size() > 4096)
        return bad(invalid_config("stream description is too long, maximum allowed is 4096"));
    if (c.num_replicas > 5) return bad(invalid_config("maximum replicas is 5"));
    if (c.num_replicas < 0) return bad(ApiError{400, 10133, "replicas count cannot be negative"});
    if (c.max_age_ns > 0 && c.max_age_ns < 100'000'000) return bad(invalid_config("max age needs to be >= 100ms"));
    if (c.duplicate_window_ns < 0) return bad(invalid_config("duplicates window can not be negative"));
    if (c.max_age_ns != 0 && c.duplicate_window_ns > c.max_age_ns)
        return bad(invalid_config("duplicates window can not be larger then max age"));
    if (c.duplicate_window_ns > 0 && c.duplicate_window_ns < 100'000'000)
        return bad(invalid_config("duplicates window needs to be >= 100ms"));
    if (c.deny_purge && c.allow_rollup_hdrs) return bad(invalid_config("roll-ups require the purge permission"));
    if (c.discard_new_per_subject) {
        if (c.discard != Discard::New)
            return bad(invalid_config("discard new per subject requires discard new policy to be set"));
        if (c.max_msgs_per_subject <= 0)
            return bad(invalid_config("discard new per subject requires max msgs per subject > 0"));
    }
    auto filter_overlaps = [](const std::string& filter, const std::vector<std::string>& subs) {
        if (filter.empty() || subs.empty()) return true;
        return std::any_of(subs.begin(), subs.end(), [&](const std::string& s) { return collide(s, filter); });
    };
    std::vector<std::string> origin_subjects, deliver_prefixes, api_prefixes;
    auto note_external = [&](const StreamSource& s) {
        if (!s.external_deliver.empty()) deliver_prefixes.push_back(s.external_deliver);
        if (!s.external_api.empty()) api_prefixes.push_back(s.external_api);
    };
    if (c.mirror) {
        if (!c.subjects.empty()) return bad(ApiError{400, 10034, "stream mirrors can not contain subjects"});
        if (!c.sources.empty()) return bad(ApiError{400, 10031, "stream mirrors can not also contain other sources"});
        if (const StreamConfig* origin = lookup(c.mirror->name)) {
            origin_subjects.insert(origin_subjects.end(), origin->subjects.begin(), origin->subjects.end());
            if (c.max_msg_size > 0 && origin->max_msg_size > 0 && c.max_msg_size < origin->max_msg_size)
                return bad(ApiError{400, 10030, "stream mirror must have max message size >= source"});
            if (!filter_overlaps(c.mirror->filter_subject, origin->subjects))
                return bad(invalid_config(fmt::format(
                    "mirror '{}' filter subject '{}' does not overlap with any origin stream subject",
                    c.mirror->name, c.mirror->filter_subject)));
            c.mirror_direct = origin->allow_direct;  // a mirror serves direct gets as its origin
        }
        note_external(*c.mirror);
    }
    for (const auto& src : c.sources) {
        if (const StreamConfig* origin = lookup(src.name)) {
            origin_subjects.insert(origin_subjects.end(), origin->subjects.begin(), origin->subjects.end());
            if (c.max_msg_size > 0 && origin->max_msg_size > 0 && c.max_msg_size < origin->max_msg_size)
                return bad(ApiError{400, 10046, "stream source must have max message size >= target"});
            // nats-server compares with every origin subject gathered so far.
            if (!filter_overlaps(src.filter_subject, origin_subjects))
                return bad(invalid_config(fmt::format(
                    "source '{}' filter subject '{}' does not overlap with any origin stream subject",
                    src.name, src.filter_subject)));
        }
        note_external(src);
    }
    for (const auto& pfx : deliver_prefixes) {
        if (!valid_publish_subject(pfx))
            return bad(ApiError{400, 10024, fmt::format("stream external delivery prefix {} must not contain wildcards", pfx)});
        for (const auto& sub : origin_subjects)
            if (collide(sub, pfx + "." + sub))
                return bad(ApiError{400, 10022, fmt::format(
                    "stream external delivery prefix {} overlaps with stream subject {}", pfx, sub)});
    }
    for (const auto& pfx : api_prefixes) {
        if (!valid_publish_subject(pfx))
            return bad(invalid_config(fmt::format(
                "stream external api prefix \"{}\" must be a valid subject without wildcards", pfx)));
        if (collide(pfx, "$JS.API"))
            return bad(ApiError{400, 10021, fmt::format("stream external api prefix {} must not overlap with $JS.API", pfx)});
    }
    // Sources and mirrors must not come back around to this stream.
    {
        std::vector<const StreamConfig*> to_visit{&c};
        std::set<std::string> visited;
        while (!to_visit.empty()) {
            const StreamConfig* cur = to_visit.front();
            to_visit.erase(to_visit.begin());
            visited.insert(cur->name);
            for (const auto& src : cur->sources) {
                if (src.external()) continue;
                if (visited.count(src.name)) return bad(invalid_config("detected cycle"));
                if (const StreamConfig* next = lookup(src.name)) to_visit.push_back(next);
            }
            if (cur->mirror && !cur->mirror->external()) {
                if (visited.count(cur->mirror->name)) return bad(invalid_config("detected cycle"));
                if (const StreamConfig* next = lookup(cur->mirror->name)) to_visit.push_back(next);
            }
        }
    }
    if (c.subjects.empty()) {
        if (!c.mirror && c.sources.empty()) c.subjects.push_back(c.name);
    } else {
        if (c.mirror) return bad(ApiError{400, 10034, "stream mirrors can not contain subjects"});
        std::set<std::string> seen;
        for (const auto& s : c.subjects) {
            if (seen.count(s)) return bad(invalid_config("duplicate subjects detected"));
            if (subjects::valid_subject(s) && subjects::is_subset(s, "$JS.API.>"))
                return bad(invalid_config("subjects overlap with jetstream api"));
            if (!subjects::valid_subject(s)) return bad(invalid_config("invalid subject"));
            seen.insert(s);
        }
    }
    if (c.subjects.empty() && c.sources.empty() && !c.mirror)
        return bad(invalid_config("stream needs at least one configured subject or be a source/mirror"));
    if (c.subjects.size() > 1) {
        for (const auto& a : c.subjects)
            for (const auto& b : c.subjects)
                if (a != b && collide(b, a))
                    return bad(invalid_config(fmt::format("subject \"{}\" overlaps with \"{}\"", a, b)));
    }
    if (c.republish) {
        if (c.republish->src.empty()) c.republish->src = ">";
        const auto& rp = *c.republish;
        if (std::none_of(c.subjects.begin(), c.subjects.end(), [&](auto& s) { return collide(rp.src, s); }))
            return bad(invalid_config("stream configuration for republish source is not valid subset of subjects"));
        if (std::any_of(c.subjects.begin(), c.subjects.end(), [&](auto& s) { return collide(rp.dest, s); }))
            return bad(invalid_config("stream configuration for republish destination forms a cycle"));
        if (!subjects::Transform::compile(rp.src, rp.dest))
            return bad(invalid_config("stream configuration for republish not valid"));
    }
    return c;
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
    if (!old.template_owner.empty())
        return errors::update_failed("stream configuration update not allowed on template owned stream");
    if (!next.template_owner.empty())
        return errors::update_failed("stream configuration update can not be owned by a template");
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
    if (c.duplicate_window_ns) o["duplicate_window"] = c.duplicate_window_ns;  // omitempty
    if (c.placement_json) o["placement"] = json::parse(*c.placement_json);
    if (!c.template_owner.empty()) o["template_owner"] = c.template_owner;
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
