// Subject syntax: validation and wildcard matching. Pure functions.
//
// A subject is a non-empty sequence of '.'-separated non-empty tokens without whitespace.
// In a subscription a token that is exactly "*" matches one token and a final token ">"
// matches one or more. Any other '*' or '>' inside a token is an ordinary character, as in
// nats-server.
#pragma once
#include <string_view>

namespace osprey::subjects {

bool valid_subject(std::string_view s);          // wildcards allowed
bool valid_literal_subject(std::string_view s);  // a publish subject: no wildcard tokens
// No empty token (".a", "a.", "a..b", ""): the cheap check of every published subject, as
// nats-server's match refuses such subjects. Whitespace cannot occur (the parser splits on it).
inline bool valid_tokens(std::string_view s) {
    if (s.empty() || s.front() == '.' || s.back() == '.') return false;
    for (std::size_t i = 1; i < s.size(); ++i)
        if (s[i] == '.' && s[i - 1] == '.') return false;
    return true;
}
bool valid_queue_name(std::string_view s);       // no whitespace, non-empty
bool has_wildcard(std::string_view s);           // some token is "*" or ">"
// Does `pattern` (which may hold wildcards) match the literal `subject`?
bool matches(std::string_view pattern, std::string_view subject);
// Is every subject matched by `inner` also matched by `outer`? (both may hold wildcards)
bool is_subset(std::string_view inner, std::string_view outer);

// Iterates the tokens of a subject without allocating.
class Tokens {
public:
    explicit Tokens(std::string_view s) : rest_(s), done_(false) {}
    bool next(std::string_view& tok) {
        if (done_) return false;
        auto dot = rest_.find('.');
        if (dot == std::string_view::npos) {
            tok = rest_;
            done_ = true;
        } else {
            tok = rest_.substr(0, dot);
            rest_.remove_prefix(dot + 1);
        }
        return true;
    }

private:
    std::string_view rest_;
    bool done_;
};

}  // namespace osprey::subjects
