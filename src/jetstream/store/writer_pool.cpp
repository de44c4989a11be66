#include "jetstream/store/writer_pool.h"

#include <algorithm>

namespace osprey::jetstream {

WriterPool& WriterPool::shared() {
    // Enough threads that one store's fdatasync does not hold up the others for long, few
    // enough to stay out of the event loops' way on a small machine.
    static WriterPool pool(std::clamp(int(std::thread::hardware_concurrency()), 2, 4));
    return pool;
}

WriterPool::WriterPool(int threads) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { loop(); });
}

WriterPool::~WriterPool() {
    {
        std::lock_guard lk(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_)
        if (t.joinable()) t.join();
}

void WriterPool::schedule(Task* t) {
    {
        std::lock_guard lk(mu_);
        if (running_.count(t)) {
            again_.insert(t);
            return;
        }
        if (!queued_.insert(t).second) return;
        ready_.push_back(t);
    }
    cv_.notify_one();
}

void WriterPool::schedule_at(Task* t, std::chrono::steady_clock::time_point when) {
    {
        std::lock_guard lk(mu_);
        for (auto it = timers_.begin(); it != timers_.end(); ++it) {
            if (it->second != t) continue;
            if (it->first <= when) return;  // an earlier run is already asked for
            timers_.erase(it);
            break;
        }
        timers_.emplace(when, t);
    }
    cv_.notify_one();
}

void WriterPool::cancel(Task* t) {
    std::unique_lock lk(mu_);
    idle_cv_.wait(lk, [&] { return !running_.count(t); });
    if (queued_.erase(t)) ready_.erase(std::find(ready_.begin(), ready_.end(), t));
    again_.erase(t);
    for (auto it = timers_.begin(); it != timers_.end();)
        it = it->second == t ? timers_.erase(it) : std::next(it);
}

void WriterPool::loop() {
    std::unique_lock lk(mu_);
    while (true) {
        // Timers that came due join the ready queue.
        const auto now = std::chrono::steady_clock::now();
        while (!timers_.empty() && timers_.begin()->first <= now) {
            Task* t = timers_.begin()->second;
            timers_.erase(timers_.begin());
            if (running_.count(t)) again_.insert(t);
            else if (queued_.insert(t).second) ready_.push_back(t);
        }
        if (stop_) return;
        if (ready_.empty()) {
            if (timers_.empty()) {
                cv_.wait(lk);
            } else {
                const auto until = timers_.begin()->first;  // a copy: the node may go while we wait
                cv_.wait_until(lk, until);
            }
            continue;
        }
        Task* t = ready_.front();
        ready_.pop_front();
        queued_.erase(t);
        running_.insert(t);
        lk.unlock();
        t->run_batch();
        lk.lock();
        running_.erase(t);
        if (again_.erase(t) && queued_.insert(t).second) {
            ready_.push_back(t);
            cv_.notify_one();
        }
        idle_cv_.notify_all();
    }
}

}  // namespace osprey::jetstream
