#include "subjects/subject.h"

namespace osprey::subjects {

namespace {
inline bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f'; }

bool check(std::string_view s, bool allow_wildcards) {
    if (s.empty()) return false;
    Tokens t(s);
    std::string_view tok;
    bool after_fwc = false;
    while (t.next(tok)) {
        if (tok.empty() || after_fwc) return false;
        for (char c : tok)
            if (is_space(c)) return false;
        if (tok.size() == 1 && (tok[0] == '*' || tok[0] == '>')) {
            if (!allow_wildcards) return false;
            if (tok[0] == '>') after_fwc = true;
        }
    }
    return true;
}
}  // namespace

bool valid_subject(std::string_view s) { return check(s, true); }
bool valid_literal_subject(std::string_view s) { return check(s, false); }

bool valid_queue_name(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (is_space(c)) return false;
    return true;
}

bool has_wildcard(std::string_view s) {
    Tokens t(s);
    std::string_view tok;
    while (t.next(tok))
        if (tok == "*" || tok == ">") return true;
    return false;
}

bool matches(std::string_view pattern, std::string_view subject) {
    Tokens p(pattern), s(subject);
    std::string_view pt, st;
    while (p.next(pt)) {
        if (!s.next(st)) return false;
        if (pt == ">") return true;
        if (pt != "*" && pt != st) return false;
    }
    return !s.next(st);
}

bool is_subset(std::string_view inner, std::string_view outer) {
    Tokens i(inner), o(outer);
    std::string_view it, ot;
    while (o.next(ot)) {
        if (!i.next(it)) return false;
        if (ot == ">") return true;
        if (it == ">") return false;
        if (ot == "*") continue;
        if (it == "*" || it != ot) return false;
    }
    return !i.next(it);
}

}  // namespace osprey::subjects
