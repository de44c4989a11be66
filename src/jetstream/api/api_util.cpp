// JSON and file helpers of the JetStream API.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "jetstream/api/jetstream_internal.h"
#include "jetstream/store/file_io.h"
#include "jetstream/api/json_fields.h"
#include "subjects/subject.h"

#include <fmt/format.h>

namespace osprey::jetstream {

namespace fs = std::filesystem;

json::object error_json(const ApiError& e) {
    return json::object{{"code", e.code}, {"err_code", e.err_code}, {"description", e.description}};
}


std::string typed(const std::string& type, json::object body) {
    json::object o;
    o["type"] = "io.nats.jetstream.api.v1." + type;
    for (auto& kv : body) o[kv.key()] = std::move(kv.value());
    return go_json(o);
}

std::string typed_error(const std::string& type, const ApiError& e, bool paged) {
    json::object o{{"error", error_json(e)}};
    if (paged) {
        o["total"] = 0;
        o["offset"] = 0;
        o["limit"] = 0;
    }
    return typed(type, std::move(o));
}

// Do two subject patterns have a literal subject in common?
bool overlap(std::string_view a, std::string_view b) {
    subjects::Tokens ta(a), tb(b);
    std::string_view x, y;
    while (true) {
        bool ha = ta.next(x), hb = tb.next(y);
        if (!ha || !hb) return ha == hb;
        if (x == ">" || y == ">") return true;
        if (x != "*" && y != "*" && x != y) return false;
    }
}

bool is_empty_request(const std::string& body) {
    if (body.empty() || body == "{}") return true;
    auto v = parse_body(body);
    return v && v->is_object() && v->get_object().empty();
}

std::optional<json::value> parse_body(const std::string& body) {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec) return std::nullopt;
    return v;
}

std::int64_t int_field(const json::object& o, std::string_view k, std::int64_t def) {
    auto it = o.find(k);
    if (it == o.end()) return def;
    if (it->value().is_int64()) return it->value().get_int64();
    if (it->value().is_uint64()) return std::int64_t(it->value().get_uint64());
    return def;
}
std::string str_field(const json::object& o, std::string_view k) {
    auto it = o.find(k);
    return it != o.end() && it->value().is_string() ? std::string(it->value().get_string()) : "";
}
bool bool_field(const json::object& o, std::string_view k) {
    auto it = o.find(k);
    return it != o.end() && it->value().is_bool() && it->value().get_bool();
}

std::string base64(std::string_view in) {
    static constexpr char t[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 |
                     (unsigned char)in[i + 2];
        out += t[v >> 18];
        out += t[(v >> 12) & 63];
        out += t[(v >> 6) & 63];
        out += t[v & 63];
    }
    if (i + 1 == in.size()) {
        unsigned v = (unsigned char)in[i] << 16;
        out += t[v >> 18];
        out += t[(v >> 12) & 63];
        out += "==";
    } else if (i + 2 == in.size()) {
        unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
        out += t[v >> 18];
        out += t[(v >> 12) & 63];
        out += t[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

// Writes `text` to path atomically (temp file, fsync, rename, fsync of the directory).
bool write_atomic_all(const std::string& dir, const std::vector<std::pair<std::string, std::string>>& files) {
    // Every file written and synced under a temporary name, then all renamed, then one sync of
    // the directory: a crash leaves each file old or new, never half written.
    for (const auto& [name, text] : files) {
        const std::string tmp = dir + "/" + name + ".tmp";
        int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) return false;
        const bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && ::fsync(fd) == 0;
        ::close(fd);
        if (!ok) return false;
    }
    for (const auto& [name, text] : files)
        if (::rename((dir + "/" + name + ".tmp").c_str(), (dir + "/" + name).c_str()) != 0) return false;
    file_io::sync_dir(dir);
    return true;
}

bool write_atomic(const std::string& path, const std::string& text) {
    const std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return false;
    bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) return false;
    file_io::sync_dir(fs::path(path).parent_path().string());
    return true;
}

std::string set_aside(const std::string& parent, const std::string& name) {
    static std::atomic<std::uint64_t> n{0};
    const std::string gone = parent + "/" + std::string(kSetAsidePrefix) + name + "." + std::to_string(++n);
    std::error_code ec;
    fs::rename(parent + "/" + name, gone, ec);
    if (ec) return {};
    file_io::sync_dir(parent);
    return gone;
}

std::set<std::string> clear_set_aside(const std::string& parent) {
    std::set<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(parent, ec)) {
        const std::string f = e.path().filename().string();
        if (!f.starts_with(kSetAsidePrefix)) continue;
        const std::size_t dot = f.rfind('.');
        if (dot > kSetAsidePrefix.size()) names.insert(f.substr(kSetAsidePrefix.size(), dot - kSetAsidePrefix.size()));
        std::error_code rc;
        fs::remove_all(e.path(), rc);
    }
    return names;
}

std::optional<json::value> read_json_file(const std::string& path) {
    std::ifstream f(path);
    if (!f) return std::nullopt;
    std::stringstream ss;
    ss << f.rdbuf();
    return parse_body(ss.str());
}

std::optional<json::object> read_meta(const std::string& path) {
    std::ifstream f(path);
    if (!f) return std::nullopt;
    std::stringstream ss;
    ss << f.rdbuf();
    auto v = parse_body(ss.str());
    if (!v || !v->is_object()) return std::nullopt;
    auto& o = v->get_object();
    if (!o.contains("config") || !o.contains("created_ns")) return std::nullopt;
    return o;
}


std::expected<PurgeRequest, ApiError> parse_purge_request(const std::string& body) {
    PurgeRequest r;
    if (is_empty_request(body)) return r;
    auto v = parse_body(body);
    if (!v || !v->is_object()) return std::unexpected(errors::invalid_json());
    try {
        const auto& o = v->get_object();
        r.filter = fields::string(o, "filter");
        r.seq = std::uint64_t(fields::integer(o, "seq"));
        r.keep = std::uint64_t(fields::integer(o, "keep"));
    } catch (const fields::BadField&) {
        return std::unexpected(errors::invalid_json());
    }
    if (r.seq && r.keep) return std::unexpected(errors::bad_request());
    return r;
}

std::optional<ApiError> purge_refused(const StreamConfig& cfg) {
    if (cfg.sealed) return errors::sealed();
    if (cfg.deny_purge) return errors::purge_failed("stream purge not permitted");
    return std::nullopt;
}

std::expected<DeleteRequest, ApiError> parse_delete_request(const std::string& body) {
    if (is_empty_request(body)) return std::unexpected(errors::bad_request());
    auto v = parse_body(body);
    if (!v || !v->is_object()) return std::unexpected(errors::invalid_json());
    DeleteRequest r;
    try {
        r.seq = std::uint64_t(fields::integer(v->get_object(), "seq"));
        r.no_erase = fields::boolean(v->get_object(), "no_erase");
    } catch (const fields::BadField&) {
        return std::unexpected(errors::invalid_json());
    }
    return r;
}

std::optional<ApiError> delete_refused(const StreamConfig& cfg) {
    if (cfg.sealed) return errors::sealed();
    if (cfg.deny_delete) return errors::msg_delete_failed("message delete not permitted");
    return std::nullopt;
}

ApiError delete_not_found(const StreamConfig& cfg, const StoreState& state, std::uint64_t seq) {
    // nats-server's answers differ by store: its file store reports a sequence it never had
    // (0, past the end, or gone with everything before it) as a store error; an interior gap,
    // and anything in a memory store, is "sequence not found".
    if (cfg.storage == StorageType::File) {
        if (seq > state.last_seq) return errors::msg_delete_failed("stream store EOF");
        if (seq == 0 || state.msgs == 0 || seq < state.first_seq) return errors::msg_delete_failed("no message found");
    }
    return ApiError{400, 10043, fmt::format("sequence {} not found", seq)};
}

}  // namespace osprey::jetstream
