// A consumer's configuration: nats-server 2.9's JSON (names, defaults, nanosecond durations)
// and its validation.
#pragma once
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <vector>

#include "jetstream/api/api_error.h"

namespace boost::json {
class object;
class value;
}  // namespace boost::json

namespace osprey::jetstream {

enum class DeliverPolicy { All, Last, New, ByStartSequence, ByStartTime, LastPerSubject };
enum class AckPolicy { None, All, Explicit };

struct ConsumerConfig {
    std::string durable_name, name, description;
    DeliverPolicy deliver_policy = DeliverPolicy::All;
    std::uint64_t opt_start_seq = 0;
    std::string opt_start_time;  // as nats-server echoes it (Go's RFC3339Nano)
    std::int64_t opt_start_ns = 0;
    AckPolicy ack_policy = AckPolicy::None;
    std::int64_t ack_wait_ns = 0;
    std::int64_t max_deliver = -1;
    std::vector<std::int64_t> backoff_ns;
    std::string filter_subject;
    bool replay_original = false;
    std::string sample_freq;
    std::uint64_t rate_limit_bps = 0;
    std::int64_t max_ack_pending = 0;
    std::int64_t max_waiting = 0;
    std::int64_t max_batch = 0, max_expires_ns = 0, max_bytes = 0;
    std::int64_t inactive_threshold_ns = 0;
    bool headers_only = false;
    bool flow_control = false;
    std::int64_t idle_heartbeat_ns = 0;
    std::string deliver_subject, deliver_group;
    bool mem_storage = false;
    bool direct = false;  // an ephemeral push consumer sources and mirrors use
    int num_replicas = 0;

    bool is_pull() const { return deliver_subject.empty(); }
    bool durable() const { return !durable_name.empty(); }
};

// The percentage of acks sampled ("30" or "30%"; 0 when empty). nats-server parses it with Go's
// strconv.Atoi after dropping one trailing '%', and reports Go's error text.
int sample_percent(const std::string& sample_freq);
std::optional<std::string> sample_freq_error(const std::string& sample_freq);

// A start position that contradicts the deliver policy, in nats-server's words.
std::optional<std::string> start_position_error(const ConsumerConfig& c);

// Parses the "config" of a create request and fills nats-server's defaults.
std::expected<ConsumerConfig, ApiError> parse_consumer_config(const boost::json::value& v);
boost::json::object to_json(const ConsumerConfig& c);

}  // namespace osprey::jetstream
