// A cheap reading of the monotonic clock, a few milliseconds coarse: for timestamps that only
// feed timers of 50 ms or more (ack deadlines, activity), read once per message.
#pragma once
#include <chrono>
#include <ctime>

namespace osprey::util {

// The same time base as std::chrono::steady_clock (CLOCK_MONOTONIC), so the two compare.
inline std::chrono::steady_clock::time_point coarse_now() {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return std::chrono::steady_clock::time_point(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

}  // namespace osprey::util
