#include "server/permissions.h"

#include "subjects/subject.h"

namespace osprey::server {

namespace {
bool any_match(const std::vector<std::string>& patterns, std::string_view subject) {
    for (auto& p : patterns)
        if (subjects::matches(p, subject)) return true;
    return false;
}
}  // namespace

bool may_publish(const Permissions& p, std::string_view subject) {
    const auto& pub = p.publish;
    if (!pub.allow.empty() && !any_match(pub.allow, subject)) return false;
    return !any_match(pub.deny, subject);
}

bool may_subscribe(const Permissions& p, std::string_view subject) {
    const auto& sub = p.subscribe;
    if (!sub.allow.empty() && !any_match(sub.allow, subject)) return false;
    return !any_match(sub.deny, subject);
}

bool may_deliver(const Permissions& p, std::string_view subject) {
    return !any_match(p.subscribe.deny, subject);
}

}  // namespace osprey::server
