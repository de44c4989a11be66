// Shared by the JetStream API files: the per-account state and JSON helpers. Internal to
// jetstream/.
#pragma once
#include <atomic>
#include <expected>
#include <boost/json.hpp>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "jetstream/jetstream.h"
#include "jetstream/store/config_log.h"
#include "server/json_text.h"

namespace osprey::jetstream {

struct JetStream::AccountState {
    server::Account* account = nullptr;
    std::string dir;
    // Changed on the API thread only, under the lock; direct gets read it from the loops.
    std::shared_mutex streams_mu;
    std::map<std::string, std::shared_ptr<Stream>> streams;
    std::atomic<std::uint64_t> api_total{0}, api_errors{0};
    server::Server::JetStreamAccount limits;
    JsUsage usage;  // against the account's own limits
    std::vector<std::shared_ptr<server::Receiver>> api_subs;
    // Its streams' configurations (single server; in a cluster the meta group keeps them).
    std::unique_ptr<ConfigLog> stream_configs;
    // Its account JWT took JetStream away (or the account was deleted): no streams, no API;
    // kept (requests in flight point here) and opened again if a JWT grants it again.
    bool disabled = false;
};

namespace json = boost::json;

json::object error_json(const ApiError& e);
using server::go_json;  // nats-server's JSON text (server/json_text.h)
std::string typed(const std::string& type, json::object body);
std::string typed_error(const std::string& type, const ApiError& e, bool paged = false);
bool overlap(std::string_view a, std::string_view b);
std::optional<json::value> parse_body(const std::string& body);
// nats-server's isEmptyRequest: nothing, or a JSON object without members.
bool is_empty_request(const std::string& body);
std::int64_t int_field(const json::object& o, std::string_view k, std::int64_t def = 0);
std::string str_field(const json::object& o, std::string_view k);
bool bool_field(const json::object& o, std::string_view k);
std::string base64(std::string_view in);
bool write_atomic(const std::string& path, const std::string& text);
// Several files of one directory, each atomically, with one directory sync.
// A durable consumer's meta.json: its configuration and creation time.
std::string consumer_meta_text(const class Consumer& c);
bool write_atomic_all(const std::string& dir, const std::vector<std::pair<std::string, std::string>>& files);
// A deleted stream's or consumer's directory, until its erasure from the configuration log is
// durable: `parent/name` renamed (durably) to `parent/.deleted-<name>.<n>`, unique per call, so
// a directory made again under the name meanwhile is never touched by the removal. Returns the
// new path ("" when there was nothing to rename). A name never has a '.'.
inline constexpr std::string_view kSetAsidePrefix = ".deleted-";
std::string set_aside(const std::string& parent, const std::string& name);
// At start: removes what a delete cut short left set aside in `parent`; the names it held.
std::set<std::string> clear_set_aside(const std::string& parent);
std::optional<json::value> read_json_file(const std::string& path);
// Purge and message-delete requests, read and checked as nats-server does (in its order: the
// request, then the stream, then its policies), for the single server and the replicated path.
struct PurgeRequest {
    std::string filter;
    std::uint64_t seq = 0, keep = 0;
};
std::expected<PurgeRequest, ApiError> parse_purge_request(const std::string& body);
std::optional<ApiError> purge_refused(const StreamConfig& cfg);
struct DeleteRequest {
    std::uint64_t seq = 0;
    bool no_erase = false;
};
std::expected<DeleteRequest, ApiError> parse_delete_request(const std::string& body);
std::optional<ApiError> delete_refused(const StreamConfig& cfg);
// What nats-server answers when the message to delete is not there.
ApiError delete_not_found(const StreamConfig& cfg, const StoreState& state, std::uint64_t seq);

// A stream's meta.json: nullopt when missing or damaged.
std::optional<json::object> read_meta(const std::string& path);

}  // namespace osprey::jetstream
