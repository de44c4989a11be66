#include "util/log.h"

#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <mutex>

namespace osprey::log {
namespace {
std::mutex g_mu;
FILE* g_out = stderr;
std::atomic<bool> g_debug{false}, g_trace{false};
bool g_timestamps = true;

const char* tag(Level l) {
    switch (l) {
        case Level::Fatal: return "[FTL]";
        case Level::Error: return "[ERR]";
        case Level::Warn: return "[WRN]";
        case Level::Notice: return "[INF]";
        case Level::Debug: return "[DBG]";
        case Level::Trace: return "[TRC]";
    }
    return "[INF]";
}
}  // namespace

void configure(const Settings& s) {
    std::lock_guard lk(g_mu);
    if (!s.file.empty()) {
        if (FILE* f = std::fopen(s.file.c_str(), "a")) {
            if (g_out != stderr) std::fclose(g_out);
            g_out = f;
        }
    }
    g_timestamps = s.timestamps;
    g_debug = s.debug;
    g_trace = s.trace;
}

bool debug_enabled() { return g_debug.load(std::memory_order_relaxed); }
bool trace_enabled() { return g_trace.load(std::memory_order_relaxed); }

void write(Level level, std::string_view text) {
    std::string line = fmt::format("[{}] ", ::getpid());
    if (g_timestamps) {
        timeval tv;
        ::gettimeofday(&tv, nullptr);
        tm t;
        ::localtime_r(&tv.tv_sec, &t);
        line += fmt::format("{:04}/{:02}/{:02} {:02}:{:02}:{:02}.{:06} ", t.tm_year + 1900,
                            t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, tv.tv_usec);
    }
    line += tag(level);
    line += ' ';
    line += text;
    line += '\n';
    std::lock_guard lk(g_mu);
    std::fwrite(line.data(), 1, line.size(), g_out);
    std::fflush(g_out);
}

}  // namespace osprey::log
