// Logging in nats-server's format: "[pid] 2006/01/02 15:04:05.000000 [INF] text".
// One global logger; writes are whole lines under a mutex so threads never interleave.
#pragma once
#include <fmt/format.h>

#include <atomic>
#include <string>

namespace osprey::log {

enum class Level { Fatal, Error, Warn, Notice, Debug, Trace };

struct Settings {
    std::string file;        // empty: stderr
    bool timestamps = true;  // -T
    bool debug = false;      // -D
    bool trace = false;      // -V
};

void configure(const Settings& s);
bool debug_enabled();
bool trace_enabled();
void write(Level level, std::string_view text);

template <typename... A>
void notice(fmt::format_string<A...> f, A&&... a) {
    write(Level::Notice, fmt::format(f, std::forward<A>(a)...));
}
template <typename... A>
void warn(fmt::format_string<A...> f, A&&... a) {
    write(Level::Warn, fmt::format(f, std::forward<A>(a)...));
}
template <typename... A>
void error(fmt::format_string<A...> f, A&&... a) {
    write(Level::Error, fmt::format(f, std::forward<A>(a)...));
}
template <typename... A>
void fatal(fmt::format_string<A...> f, A&&... a) {
    write(Level::Fatal, fmt::format(f, std::forward<A>(a)...));
}
template <typename... A>
void debug(fmt::format_string<A...> f, A&&... a) {
    if (debug_enabled()) write(Level::Debug, fmt::format(f, std::forward<A>(a)...));
}
template <typename... A>
void trace(fmt::format_string<A...> f, A&&... a) {
    if (trace_enabled()) write(Level::Trace, fmt::format(f, std::forward<A>(a)...));
}

}  // namespace osprey::log
