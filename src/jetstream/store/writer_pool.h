// The threads that write and sync file stores: a few for the whole process, instead of one per
// stream and per durable consumer (thousands of stores, a handful of threads). A store with
// work asks to be run; a free thread runs one batch of it (write what is queued, fdatasync,
// call back) and the store asks again if more came meanwhile. Lazy-sync stores also ask for a
// run at a time (their next sync). One store never runs on two threads at once.
//
// Lock order: a store may call schedule()/schedule_at() under its own lock; the pool never
// holds its lock while running a store.
#pragma once
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace osprey::jetstream {

class WriterPool {
public:
    // Something with batches to run (a FileStore).
    struct Task {
        virtual ~Task() = default;
        virtual void run_batch() = 0;
    };

    static WriterPool& shared();
    explicit WriterPool(int threads);
    ~WriterPool();

    void schedule(Task* t);  // run it soon (no-op when already queued)
    void schedule_at(Task* t, std::chrono::steady_clock::time_point when);
    // Forget `t` (its destruction is near): waits until no thread runs it.
    void cancel(Task* t);
    int threads() const { return int(threads_.size()); }

private:
    void loop();

    std::mutex mu_;
    std::condition_variable cv_, idle_cv_;
    std::deque<Task*> ready_;
    std::set<Task*> queued_;   // in ready_
    std::set<Task*> running_;  // on a thread now
    std::set<Task*> again_;    // asked for while running: queued when done
    std::multimap<std::chrono::steady_clock::time_point, Task*> timers_;
    bool stop_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace osprey::jetstream
