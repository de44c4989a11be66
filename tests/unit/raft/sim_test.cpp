// The Raft core under the deterministic simulator: many seeds within a time budget, every
// safety property checked after every step. A failing seed prints its trace and replays with
// OSPREY_SEED=<seed> (and OSPREY_RAFT_BUDGET_S=<seconds> sets the budget, default 20).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <random>

#include "sim.h"

using namespace osprey::raft;

namespace {

double budget_seconds(double fallback) {
    const char* b = std::getenv("OSPREY_RAFT_BUDGET_S");
    return b ? std::atof(b) : fallback;
}

// Each seed also picks how hostile its world is.
sim::Options options_for(std::uint64_t seed) {
    std::mt19937_64 r(seed * 0x9E3779B97F4A7C15ULL + 17);
    auto pick = [&](double lo, double hi) { return lo + (hi - lo) * double(r() % 1000) / 1000.0; };
    sim::Options o;
    o.seed = seed;
    o.nodes = r() % 3 == 0 ? 3 : 5;
    o.fault_steps = 1500 + int(r() % 1500);
    o.settle_steps = 2500;
    o.drop = pick(0, 0.1);
    o.duplicate = pick(0, 0.05);
    o.max_delay = 1 + int(r() % 8);
    o.crash = pick(0, 0.004);
    o.restart = pick(0.005, 0.05);
    o.crash_in_persist = pick(0, 0.02);
    o.partition = pick(0, 0.006);
    o.heal = pick(0.002, 0.02);
    o.propose = pick(0.05, 0.5);
    o.membership_change = pick(0, 0.004);
    o.compact = pick(0, 0.03);
    o.transfer = pick(0, 0.003);
    return o;
}

// The self-test's seed range (see CatchesCommittingAnOlderTermByCount).
constexpr std::uint64_t kSelfTestBase = 1;
constexpr std::uint64_t kSelfTestSeeds = 400;

struct Sweep {
    std::uint64_t seeds = 0, failed_seed = 0, acked = 0, elections = 0, crashes = 0;
    sim::Result failure;
};

// `fixed_base` (non-zero) starts the sweep at that seed instead of a random one, so the run is
// the same on every machine whatever its speed.
Sweep sweep(bool unsafe, double budget, std::uint64_t max_seeds, bool stop_at_first, std::uint64_t fixed_base = 0) {
    Sweep s;
    const char* replay = std::getenv("OSPREY_SEED");
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(budget);
    std::random_device rd;
    const std::uint64_t base = replay        ? std::strtoull(replay, nullptr, 10)
                               : fixed_base ? fixed_base
                                            : (std::uint64_t(rd()) << 20);
    for (std::uint64_t k = 0; k < max_seeds && std::chrono::steady_clock::now() < end; ++k) {
        const std::uint64_t seed = base + k;
        sim::Options o = options_for(seed);
        if (unsafe || std::getenv("OSPREY_RAFT_HARSH")) {
            // Figure 8 needs a new leader to get an old entry onto a majority before its own
            // first entry: one entry per append, leaders that crash often.
            o.unsafe_commit_older_terms_by_count = unsafe;
            o.max_append_bytes = 0;
            o.max_inflight = 1;
            o.nodes = 5;
            o.crash = 0.01;
            o.restart = 0.05;
            o.drop = 0.2;
            o.propose = 0.5;
            o.membership_change = 0;
        }
        sim::Result r = sim::Simulation(o).run();
        ++s.seeds;
        s.acked += r.acked;
        s.elections += r.elections;
        s.crashes += r.crashes;
        if (!r.violation.empty() && s.failure.violation.empty()) {
            s.failure = r;
            s.failed_seed = seed;
            if (stop_at_first) break;
        }
        if (replay) break;
    }
    return s;
}

}  // namespace

TEST(RaftSimulation, SafetyHoldsUnderFaultsAcrossManySeeds) {
    const Sweep s = sweep(false, budget_seconds(20), 100000, true);
    std::printf("raft sim: %llu seeds, %llu acknowledged entries, %llu elections, %llu crashes\n",
                (unsigned long long)s.seeds, (unsigned long long)s.acked, (unsigned long long)s.elections,
                (unsigned long long)s.crashes);
    EXPECT_TRUE(s.failure.violation.empty()) << "seed " << s.failed_seed << " (replay: OSPREY_SEED=" << s.failed_seed
                                             << "): " << s.failure.violation << "\n--- last events ---\n"
                                             << s.failure.trace;
    EXPECT_GT(s.seeds, 0u);
    EXPECT_GT(s.acked, 0u);
}

// The simulator is only worth its checks if it catches a broken rule: commit an earlier term's
// entry by counting replicas (Raft's figure 8) and some seed must lose a committed entry.
// A fixed range of seeds bounded by count, not by time: a random start under a time budget
// found nothing in 34 seeds once on a loaded CI machine (ASan), a verdict that says more about
// the machine than the checks. OSPREY_SELFTEST_BASE=<seed> tries another range.
TEST(RaftSimulation, CatchesCommittingAnOlderTermByCount) {
    const char* b = std::getenv("OSPREY_SELFTEST_BASE");
    const std::uint64_t base = b ? std::strtoull(b, nullptr, 10) : kSelfTestBase;
    const Sweep s = sweep(true, 1e9, kSelfTestSeeds, true, base);
    EXPECT_FALSE(s.failure.violation.empty()) << "no violation in " << s.seeds << " seeds";
    if (!s.failure.violation.empty())
        std::printf("broken rule caught at seed %llu after %llu seeds: %s\n", (unsigned long long)s.failed_seed,
                    (unsigned long long)s.seeds, s.failure.violation.c_str());
}
