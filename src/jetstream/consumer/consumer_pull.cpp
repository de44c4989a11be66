// Pull requests ($JS.API.CONSUMER.MSG.NEXT): the body as nats-server reads it, its checks
// against the consumer's limits, and expiry.
#include "jetstream/consumer/consumer.h"

#include <cctype>
#include <charconv>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "jetstream/stream/stream.h"
#include "util/go_json.h"
#include "util/go_text.h"

namespace osprey::jetstream {

namespace json = boost::json;
using SteadyClock = std::chrono::steady_clock;

namespace {

// Go's name for a JSON value's kind, as encoding/json reports a type mismatch.
const char* go_json_kind(const json::value& v) {
    if (v.is_string()) return "string";
    if (v.is_bool()) return "bool";
    if (v.is_array()) return "array";
    if (v.is_object()) return "object";
    return "number";
}

// A pull request body as nats-server reads it: empty (batch 1), a number (the batch), or
// {"batch","expires","max_bytes","no_wait","idle_heartbeat"}; anything else is batch 1.
// Returns the "400 Bad Request - ..." reason when the object does not decode.
std::optional<std::string> parse_pull_request(std::string_view body, std::int64_t& batch,
                                              std::int64_t& max_bytes, std::int64_t& expires,
                                              bool& no_wait, std::int64_t& heartbeat) {
    while (!body.empty() && std::isspace(static_cast<unsigned char>(body.front()))) body.remove_prefix(1);
    while (!body.empty() && std::isspace(static_cast<unsigned char>(body.back()))) body.remove_suffix(1);
    batch = 1;
    if (body.empty()) return std::nullopt;
    if (body.front() != '{') {
        std::int64_t n = 0;
        auto [p, ec] = std::from_chars(body.data(), body.data() + body.size(), n);
        if (ec == std::errc() && p == body.data() + body.size()) batch = n;
        return std::nullopt;
    }
    // Go's own words for a syntax error, as nats-server passes them on.
    if (auto syntax = util::go_json_syntax_error(body)) return *syntax;
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec || !v.is_object()) return std::string("unexpected end of JSON input");
    const auto& o = v.get_object();
    auto field = [&](const char* name, const char* go_type, std::int64_t& out) -> std::optional<std::string> {
        auto it = o.find(name);
        if (it == o.end() || it->value().is_null()) return std::nullopt;
        if (it->value().is_int64()) {
            out = it->value().get_int64();
            return std::nullopt;
        }
        return fmt::format("json: cannot unmarshal {} into Go struct field JSApiConsumerGetNextRequest.{} of type {}",
                           go_json_kind(it->value()), name, go_type);
    };
    if (auto e = field("expires", "time.Duration", expires)) return e;
    if (auto e = field("batch", "int", batch)) return e;
    if (auto e = field("max_bytes", "int", max_bytes)) return e;
    if (auto it = o.find("no_wait"); it != o.end() && !it->value().is_null()) {
        if (!it->value().is_bool())
            return fmt::format("json: cannot unmarshal {} into Go struct field JSApiConsumerGetNextRequest.no_wait of type bool",
                               go_json_kind(it->value()));
        no_wait = it->value().get_bool();
    }
    if (auto e = field("idle_heartbeat", "time.Duration", heartbeat)) return e;
    if (heartbeat > 0 && heartbeat * 2 > expires) return std::string("heartbeat value too large");
    return std::nullopt;
}

}  // namespace

void Consumer::pull(const std::string& reply, std::string_view body) {
    std::lock_guard lk(mu_);
    if (passive_) return;  // the stream's leader answers
    pull_locked(reply, body);
}

void Consumer::pull_locked(const std::string& reply, std::string_view body) {
    PullRequest r(reply, 1);
    std::int64_t expires = 0, heartbeat = 0;
    auto bad = parse_pull_request(body, r.batch, r.max_bytes, expires, r.no_wait, heartbeat);
    last_activity_ = SteadyClock::now();
    // nats-server's checks, in its order.
    if (!cfg_.is_pull()) {
        status_locked(reply, "409 Consumer is push based");
        return;
    }
    if (bad) {
        status_locked(reply, ("400 Bad Request - " + *bad).c_str());
        return;
    }
    if (cfg_.max_batch > 0 && r.batch > cfg_.max_batch) {
        status_locked(reply, fmt::format("409 Exceeded MaxRequestBatch of {}", cfg_.max_batch).c_str());
        return;
    }
    if (expires > 0 && cfg_.max_expires_ns > 0 && expires > cfg_.max_expires_ns) {
        status_locked(reply, ("409 Exceeded MaxRequestExpires of " + util::go_duration(cfg_.max_expires_ns)).c_str());
        return;
    }
    if (r.max_bytes > 0 && cfg_.max_bytes > 0 && r.max_bytes > cfg_.max_bytes) {
        status_locked(reply, fmt::format("409 Exceeded MaxRequestMaxBytes of {}", cfg_.max_bytes).c_str());
        return;
    }
    if (cfg_.max_waiting > 0 && std::int64_t(waiting_.size()) >= cfg_.max_waiting) {
        status_locked(reply, "409 Exceeded MaxWaiting");
        return;
    }
    if (r.batch <= 0) r.batch = 1;
    if (r.no_wait) {
        // nats-server decides a no_wait request up front: nothing to get and no expiry is a
        // 404; more asked for (by requests still listened to) than there is, a 408.
        std::uint64_t due = 0;
        for (auto q : redeliver_) {
            auto it = pending_.find(q);
            if (it != pending_.end() && it->second.due) ++due;
        }
        const std::uint64_t msgs_pending = num_pending_locked() + due;
        if (msgs_pending == 0 && expires == 0) {
            status_locked(reply, "404 No Messages");
            return;
        }
        if (msgs_pending > 0) {
            std::uint64_t asked = 0;
            for (auto it = waiting_.begin(); it != waiting_.end();) {
                if (!reply_listened_locked(*it)) {
                    it = waiting_.erase(it);
                    continue;
                }
                asked += std::uint64_t(std::max<std::int64_t>(0, it->batch - it->sent));
                ++it;
            }
            if (msgs_pending < asked) {
                status_locked(reply, "408 Requests Pending");
                return;
            }
        }
    }
    r.byte_limited = r.max_bytes > 0;
    if (expires != 0) r.deadline = SteadyClock::now() + std::chrono::nanoseconds(expires);
    r.heartbeat = std::chrono::nanoseconds(heartbeat);
    r.last_heartbeat = SteadyClock::now();
    const auto deadline = r.deadline;
    waiting_.push_back(std::move(r));
    deliver_locked();
    // Still waiting: expire it on time.
    if (waker_ && deadline != SteadyClock::time_point::max() && !waiting_.empty() &&
        waiting_.back().deadline == deadline)
        waker_(deadline);
}

void Consumer::expire_requests_locked(SteadyClock::time_point now) {
    for (auto it = waiting_.begin(); it != waiting_.end();) {
        if (it->deadline <= now) {
            status_locked(it->reply, "408 Request Timeout", it->batch - it->sent, it->max_bytes);
            it = waiting_.erase(it);
        } else {
            ++it;
        }
    }
}

}  // namespace osprey::jetstream
