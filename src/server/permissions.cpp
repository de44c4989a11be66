#include "server/permissions.h"

#include "subjects/subject.h"

namespace osprey::server {

namespace {

// A permission entry is a subject, or "subject queue" (strings.Fields in nats-server).
struct Entry {
    std::string_view subject, queue;
};
Entry split(std::string_view s) {
    auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!s.empty() && ws(s.front())) s.remove_prefix(1);
    while (!s.empty() && ws(s.back())) s.remove_suffix(1);
    std::size_t i = 0;
    while (i < s.size() && !ws(s[i])) ++i;
    Entry e{s.substr(0, i), {}};
    std::string_view rest = s.substr(i);
    while (!rest.empty() && ws(rest.front())) rest.remove_prefix(1);
    e.queue = rest;
    return e;
}

// nats-server's queueMatches: the queue name itself, or a wildcard queue entry covering it.
bool queue_matches(std::string_view queue, std::string_view entry) {
    return queue == entry || (subjects::has_wildcard(entry) && subjects::is_subset(queue, entry));
}

// What a permission Sublist's Match returns for `subject`: whether plain entries matched, and
// whether queue entries matched (and one of them takes `queue`).
struct Matched {
    bool plain = false, queued = false, queue_taken = false;
};
Matched match(const std::vector<std::string>& entries, std::string_view subject, std::string_view queue) {
    Matched m;
    if (!subjects::valid_tokens(subject)) return m;  // nats-server's match: empty tokens match nothing
    for (const auto& raw : entries) {
        const Entry e = split(raw);
        if (!subjects::matches(e.subject, subject)) continue;
        if (e.queue.empty()) {
            m.plain = true;
        } else {
            m.queued = true;
            if (!queue.empty() && queue_matches(queue, e.queue)) m.queue_taken = true;
        }
    }
    return m;
}

}  // namespace

bool may_publish(const Permissions& p, std::string_view subject) {
    const auto& pub = p.publish;
    // allow_responses without a publish allow list allows nothing but replies (nats-server
    // turns the blanket allow off); replies are the client's own check.
    if ((!pub.allow.empty() || p.responses) && !match(pub.allow, subject, {}).plain) return false;
    return !match(pub.deny, subject, {}).plain;
}

bool may_subscribe(const Permissions& p, std::string_view subject, std::string_view queue) {
    const auto& sub = p.subscribe;
    bool allowed = true;
    if (!sub.allow.empty()) {
        const Matched m = match(sub.allow, subject, queue);
        allowed = m.plain;
        if (!queue.empty() && m.queued) allowed = m.queue_taken;
    }
    if (allowed && !sub.deny.empty()) {
        const Matched m = match(sub.deny, subject, queue);
        allowed = !m.plain;
        if (!queue.empty() && m.queued) allowed = !m.queue_taken;
    }
    return allowed;
}

bool needs_deny_filter(const Permissions& p, std::string_view subject) {
    if (p.subscribe.deny.empty() || !subjects::has_wildcard(subject)) return false;
    for (const auto& raw : p.subscribe.deny)
        if (subjects::is_subset(split(raw).subject, subject)) return true;
    return false;
}

bool may_deliver(const Permissions& p, std::string_view subject) {
    return !match(p.subscribe.deny, subject, {}).plain;
}

std::optional<std::string> invalid_permission_subject(const std::vector<std::string>& entries) {
    for (const auto& s : entries) {
        if (subjects::valid_subject(s)) continue;
        const Entry e = split(s);
        if (e.queue.empty() || e.queue.find_first_of(" \t") != std::string_view::npos)
            return "subject \"" + s + "\" is not a valid subject";
        if (!subjects::valid_subject(e.subject))
            return "subject \"" + std::string(e.subject) + "\" is not a valid subject";
    }
    return std::nullopt;
}

}  // namespace osprey::server
