// Shared by the JetStream API files: the per-account state and JSON helpers. Internal to
// jetstream/.
#pragma once
#include <atomic>
#include <boost/json.hpp>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "jetstream/jetstream.h"

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
};

namespace json = boost::json;

json::object error_json(const ApiError& e);
std::string go_json(const json::value& v);
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
bool write_atomic_all(const std::string& dir, const std::vector<std::pair<std::string, std::string>>& files);
std::optional<json::value> read_json_file(const std::string& path);
// A stream's meta.json: nullopt when missing or damaged.
std::optional<json::object> read_meta(const std::string& path);

}  // namespace osprey::jetstream
