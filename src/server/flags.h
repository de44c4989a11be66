// nats-server's command line, with Go's flag package rules: "-x", "--x", "-x=v", "-x v";
// boolean flags take no separate value ("-D", "-T=false").
#pragma once
#include <expected>
#include <string>
#include <vector>

#include "server/options.h"

namespace osprey::server {

struct FlagResult {
    bool show_help = false;
    bool show_version = false;
    std::string config_file;
    // Applies the flags that were given on top of `opts` (flags win over the config file).
    std::vector<std::pair<std::string, std::string>> given;  // canonical name, value
};

std::expected<FlagResult, std::string> parse_flags(const std::vector<std::string>& args);
// Applies parsed flags to options; an error for a bad value.
std::expected<void, std::string> apply_flags(const FlagResult& f, Options& opts);
std::string usage_text();

}  // namespace osprey::server
