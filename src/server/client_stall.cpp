// Fast producer stall, as nats-server 2.9 does it (the monitoring -- /varz stalled_clients,
// /connz stalls, the log line -- and the switch no_fast_producer_stall are later releases'): a reader whose pending bytes pass half of
// max_pending makes every client publishing to it pause before its next read, so the reader
// can drain instead of being cut as a slow consumer. The pause is bounded (100 ms, growing
// with the pending bytes up to 1 s) and ends early once the reader is below half again.
//
// Osprey's loops never block: a stalled producer simply does not post its next read until it
// is woken (by the reader's writer, from any thread, through a post to the producer's loop)
// or its timer fires. Other connections on the same loop keep flowing.
#include <boost/asio/post.hpp>

#include "server/client.h"
#include "server/server.h"
#include "util/go_text.h"
#include "util/log.h"

namespace osprey::server {

namespace asio = boost::asio;

namespace {
constexpr auto kStallMin = std::chrono::milliseconds(100);
constexpr auto kStallMax = std::chrono::milliseconds(1000);
constexpr auto kStallLogEvery = std::chrono::seconds(10);
}  // namespace

std::chrono::milliseconds Client::stall_duration(std::int64_t pending, std::int64_t max_pending) {
    if (pending >= max_pending) return kStallMax;
    const std::int64_t half = max_pending / 2;
    if (pending <= half) return kStallMin;
    // nats-server's stallDuration: one more step per tenth of the upper half.
    const std::int64_t step = std::max<std::int64_t>(1, half / 10);
    return std::min(kStallMax, kStallMin * (1 + (pending - half) / step));
}

// Under the reader's out_mu_, on the producer's thread (during its read batch).
void Client::check_stall_locked(std::size_t pending) {
    Client* producer = reading_client();
    if (!producer || producer == this || server_.options().no_fast_producer_stall) return;
    const std::int64_t max = server_.options().max_pending;
    if (std::int64_t(pending) <= max / 2) return;
    stalled_ = true;
    producer->note_stall(shared_from_this(), stall_duration(std::int64_t(pending), max));
}

// Under out_mu_, by whoever wrote the reader's bytes out.
void Client::release_stalled_locked() {
    if (!stalled_) return;
    if (!closed_ && std::int64_t(pending_locked()) > server_.options().max_pending / 2) return;
    stalled_ = false;
    for (auto& [weak, gen] : stall_waiters_) {
        if (auto p = weak.lock()) {
            asio::post(p->socket_.get_executor(), [p, g = gen] { p->resume_reading(g); });
        }
    }
    stall_waiters_.clear();
}

void Client::note_stall(const std::shared_ptr<Client>& reader, std::chrono::milliseconds ttl) {
    // The slowest reader of the batch decides how long we may wait.
    if (!stall_reader_ || ttl > stall_ttl_) {
        stall_reader_ = reader;
        stall_ttl_ = ttl;
    }
}

bool Client::add_stall_waiter(const std::shared_ptr<Client>& producer, std::uint64_t gen) {
    std::lock_guard lk(out_mu_);
    if (!stalled_ || closed_) return false;  // drained (or gone) by the end-of-batch flush
    stall_waiters_.emplace_back(producer, gen);
    return true;
}

bool Client::pause_reading() {
    auto reader = std::move(stall_reader_);
    stall_reader_.reset();
    if (!reader) return false;
    const auto ttl = stall_ttl_;
    stall_ttl_ = {};
    const std::uint64_t gen = ++stall_gen_;
    if (!reader->add_stall_waiter(shared_from_this(), gen)) return false;
    read_paused_ = true;
    stall_started_ = std::chrono::steady_clock::now();
    stats.stalls.fetch_add(1, std::memory_order_relaxed);
    server_.stats.stalls.fetch_add(1, std::memory_order_relaxed);
    stall_timer_.expires_after(ttl);
    stall_timer_.async_wait([self = shared_from_this(), gen](const boost::system::error_code& ec) {
        if (!ec) self->resume_reading(gen);
    });
    return true;
}

void Client::resume_reading(std::uint64_t gen) {
    if (!read_paused_ || gen != stall_gen_ || closing_) return;
    read_paused_ = false;
    stall_timer_.cancel();
    const auto now = std::chrono::steady_clock::now();
    stalled_total_ += now - stall_started_;
    if (now - stall_logged_ >= kStallLogEvery) {
        // nats-server's wording; rate-limited so a long flood logs a line now and then.
        log::warn("{} - Producer was stalled for a total of {}", tag(),
                  util::go_duration(std::chrono::duration_cast<std::chrono::nanoseconds>(stalled_total_).count()));
        stalled_total_ = {};
        stall_logged_ = now;
    }
    do_read();
}

}  // namespace osprey::server
