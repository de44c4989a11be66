// A group's settings (what create and PATCH take), their validation with the contract's
// rules, and their mapping onto the durable pull consumer that the group is: the JetStream
// fields where JetStream has one, the rest in the consumer's description
// ("osprey-group {json}"), so the group is stored, replicated and deleted with its consumer.
#pragma once
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace boost::json {
class object;
}

namespace osprey::groups {

struct GroupSpec {
    std::string name, stream, pattern;
    std::int64_t max_inflight = 100;
    std::int64_t max_redeliveries = 3;
    std::int64_t redeliver_delay_ms = 30000;
    std::string dead_letter_subject;
    bool ack_auto = false;
    std::vector<std::int64_t> backoff_ms;  // per attempt; the last one repeats
    std::string created_at, updated_at;    // RFC 3339

    // How long attempt `attempt` (1-based) is held before it may go to another member.
    std::int64_t hold_ms(std::uint64_t attempt) const;
};

// The body of POST /v1/groups, or the 400 text.
std::expected<GroupSpec, std::string> parse_create(std::string_view body);
// PATCH: the changed spec, or the 400 text.
std::expected<GroupSpec, std::string> apply_patch(std::string_view body, GroupSpec spec);
// A member id, a group name: [A-Za-z0-9_-]{1,64}.
bool valid_name(std::string_view s);

// The body of $JS.API.CONSUMER.DURABLE.CREATE.<stream>.<name>.
std::string consumer_create_request(const GroupSpec& g);
// The group a consumer info ({"stream_name","name","config",...}) is, or nullopt when the
// consumer is not a group.
std::optional<GroupSpec> spec_from_consumer_info(const boost::json::object& info);
// The group resource without its members and dead-letter count.
boost::json::object group_json(const GroupSpec& g, const boost::json::object& info);

}  // namespace osprey::groups
