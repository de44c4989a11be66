#include "protocol/parser.h"

#include <array>

namespace osprey::protocol {

std::optional<std::int64_t> parse_size(std::string_view s) {
    if (s.empty() || s.size() > 18) return std::nullopt;
    std::int64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + (c - '0');
    }
    return v;
}

int split_args(std::string_view line, std::string_view* out, int max_args) {
    int n = 0;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        if (i >= line.size()) break;
        std::size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
        if (n == max_args) return max_args + 1;
        out[n++] = line.substr(start, i - start);
    }
    return n;
}

namespace {

struct Keyword {
    std::string_view word;
    OpKind kind;
    bool needs_space;  // arguments must follow after a space or tab
};

// Order matters only for readability: no keyword is a prefix of another once the space
// requirement is taken into account (PING/PONG share "P", PUB too).
constexpr std::array<Keyword, 10> kKeywords{{
    {"PUB", OpKind::Pub, true},
    {"HPUB", OpKind::HPub, true},
    {"SUB", OpKind::Sub, true},
    {"UNSUB", OpKind::Unsub, true},
    {"PING", OpKind::Ping, false},
    {"PONG", OpKind::Pong, false},
    {"CONNECT", OpKind::Connect, false},
    {"INFO", OpKind::Info, true},
    {"+OK", OpKind::Ok, false},
    {"-ERR", OpKind::Err, true},
}};

inline char upper(char c) { return (c >= 'a' && c <= 'z') ? char(c - 32) : c; }

}  // namespace

std::optional<OpKind> identify_op(std::string_view in, bool& need_more, std::size_t& arg_start) {
    need_more = false;
    bool any_prefix = false;
    for (const auto& k : kKeywords) {
        const std::size_t n = std::min(in.size(), k.word.size());
        bool match = true;
        for (std::size_t i = 0; i < n; ++i) {
            if (upper(in[i]) != k.word[i]) {
                match = false;
                break;
            }
        }
        if (!match) continue;
        if (in.size() < k.word.size()) {
            any_prefix = true;
            continue;
        }
        if (!k.needs_space) {
            arg_start = k.word.size();
            return k.kind;
        }
        if (in.size() == k.word.size()) {
            any_prefix = true;
            continue;
        }
        const char c = in[k.word.size()];
        if (c == ' ' || c == '\t') {
            arg_start = k.word.size() + 1;
            return k.kind;
        }
        // e.g. "PUBX" or "PUB\r": not this keyword; others may still match ("PUB" vs nothing).
    }
    need_more = any_prefix;
    return std::nullopt;
}

}  // namespace osprey::protocol
