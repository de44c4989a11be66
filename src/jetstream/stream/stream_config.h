// A stream's configuration, parsed from and written to the JSON of nats-server 2.9 (field
// names, defaults, units: durations in nanoseconds), with its validation rules.
#pragma once
#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "jetstream/api/api_error.h"

namespace boost::json {
class object;
class value;
}  // namespace boost::json

namespace osprey::jetstream {

enum class Retention { Limits, Interest, WorkQueue };
enum class StorageType { File, Memory };
enum class Discard { Old, New };

struct StreamSource {
    std::string name;
    std::uint64_t opt_start_seq = 0;
    std::string opt_start_time;
    std::string filter_subject;
    // "external": another account's or domain's JetStream, reached through these prefixes.
    std::string external_api, external_deliver;
    bool external() const { return !external_api.empty() || !external_deliver.empty(); }
};

struct RePublish {
    std::string src, dest;
    bool headers_only = false;
};

struct StreamConfig {
    std::string name;
    std::string description;
    std::vector<std::string> subjects;
    Retention retention = Retention::Limits;
    std::int64_t max_consumers = -1;
    std::int64_t max_msgs = -1;
    std::int64_t max_bytes = -1;
    std::int64_t max_age_ns = 0;
    std::int64_t max_msgs_per_subject = -1;
    std::int32_t max_msg_size = -1;
    Discard discard = Discard::Old;
    bool discard_new_per_subject = false;
    StorageType storage = StorageType::File;
    int num_replicas = 1;
    bool no_ack = false;
    std::int64_t duplicate_window_ns = 0;  // 0: default (2m, or max_age if smaller)
    bool sealed = false;
    bool deny_delete = false;
    bool deny_purge = false;
    bool allow_rollup_hdrs = false;
    bool allow_direct = false;
    bool mirror_direct = false;
    std::optional<StreamSource> mirror;
    std::vector<StreamSource> sources;
    std::optional<RePublish> republish;
    std::optional<std::string> placement_json;  // echoed back as given
    std::string template_owner;  // set by stream templates (which osprey does not build)
};

// Parses a create/update request body and fills defaults as nats-server does; the stream
// name from the request subject is `subject_name`.
std::expected<StreamConfig, ApiError> parse_stream_config(const boost::json::value& body,
                                                          const std::string& subject_name);
// nats-server's checkStreamCfg, in its order: the configuration on its own, against the other
// streams of the account (`lookup` finds one by name, null if none), with the defaults it
// fills in (subjects, republish source). Returns the configuration to use.
using StreamLookup = std::function<const StreamConfig*(const std::string&)>;
std::expected<StreamConfig, ApiError> validate(StreamConfig c, const StreamLookup& lookup);
// What may change in an update (nats-server's rules); nullopt when the update is allowed.
std::optional<ApiError> check_update(const StreamConfig& old, const StreamConfig& next);

boost::json::object to_json(const StreamConfig& c);
bool same_config(const StreamConfig& a, const StreamConfig& b);
bool valid_stream_name(const std::string& name);

}  // namespace osprey::jetstream
