// Paced delivery (replay_policy original, rate_limit_bps) and the precise wake-ups it and
// pull request expiry ask the JetStream thread for.
#include "jetstream/consumer/consumer.h"

#include <algorithm>

#include "jetstream/stream/stream.h"
#include "server/client.h"

namespace osprey::jetstream {

namespace json = boost::json;
using SteadyClock = std::chrono::steady_clock;

bool Consumer::replay_due_locked(const StoredMsg& m) {
    // As nats-server: the gap between two messages' stream timestamps, when over 1 ms, is
    // kept between their deliveries. Live messages arrive spaced already and go at once.
    if (!cfg_.replay_original || replay_last_ts_ == 0) return true;
    const std::int64_t gap = m.ts - replay_last_ts_;
    if (gap <= 1'000'000) return true;
    const auto due = replay_last_sent_ + std::chrono::nanoseconds(gap);
    if (due <= SteadyClock::now()) return true;
    pace_until_locked(due);
    return false;
}

void Consumer::charge_rate_locked(std::size_t bytes) {
    // rate_limit_bps is in bits per second; the bucket holds one maximal message (the
    // stream's max_msg_size, else the default max payload), nats-server's burst.
    const double rate = double(cfg_.rate_limit_bps) / 8;
    double burst = 1024.0 * 1024;
    if (auto s = stream_.lock(); s && s->config().max_msg_size > 0) burst = double(s->config().max_msg_size);
    const auto now = SteadyClock::now();
    if (rate_refilled_ == SteadyClock::time_point{}) {
        rate_tokens_ = burst;
    } else {
        rate_tokens_ = std::min(burst, rate_tokens_ + rate * std::chrono::duration<double>(now - rate_refilled_).count());
    }
    rate_refilled_ = now;
    rate_tokens_ -= double(bytes);
    // In debt: the next delivery waits until the debt is paid back.
    if (rate_tokens_ < 0)
        pace_until_locked(now + std::chrono::duration_cast<SteadyClock::duration>(
                                    std::chrono::duration<double>(-rate_tokens_ / rate)));
}

void Consumer::pace_until_locked(SteadyClock::time_point t) {
    paced_until_ = t;
    if (waker_) waker_(t);
}

void Consumer::wake() {
    std::lock_guard lk(mu_);
    if (stopped_) return;
    const auto now = SteadyClock::now();
    expire_requests_locked(now);
    if (paced_until_ != SteadyClock::time_point{} && paced_until_ <= now) paced_until_ = {};
    deliver_locked();  // sets paced_until_ again if pacing holds the next message back
    rearm_locked();
    server::Client::flush_scheduled();
}

void Consumer::rearm_locked() {
    if (!waker_) return;
    auto next = paced_until_ == SteadyClock::time_point{} ? SteadyClock::time_point::max() : paced_until_;
    for (const auto& r : waiting_) next = std::min(next, r.deadline);
    if (next != SteadyClock::time_point::max()) waker_(next);
}

}  // namespace osprey::jetstream
