// Maps a parsed nats-server configuration onto Options.
#pragma once
#include <expected>
#include <string>

#include "server/conf.h"
#include "server/options.h"

namespace osprey::server {

// Reads the config file into `opts`. Errors carry "file:line:col".
std::expected<void, std::string> load_config_file(const std::string& path, Options& opts);
std::expected<void, std::string> apply_config(const conf::Map& top, Options& opts,
                                              const std::string& file = "");
// Go's time.ParseDuration subset ("1h2m3.5s", "500ms", "10us"): milliseconds.
std::expected<std::int64_t, std::string> parse_duration_ms(std::string_view s);

}  // namespace osprey::server
