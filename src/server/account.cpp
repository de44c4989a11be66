#include "server/account.h"

#include <set>

#include "subjects/transform.h"

#include <fmt/format.h>

#include <chrono>
#include <deque>

#include "server/client.h"
#include "subjects/mapping.h"
#include "subjects/subject.h"
#include "util/log.h"
#include "util/random.h"

namespace osprey::server {

namespace {
// Imports can form cycles (A imports from B, B from A); bound the forwarding depth.
thread_local int t_route_depth = 0;
constexpr int kMaxRouteDepth = 8;
}  // namespace

int Account::route(const Message& m) {
    subjects::MatchPtr r = sublist_.match(m.subject);
    return deliver(*r, m);
}

int Account::route_reply(const Message& m) {
    subjects::MatchPtr r = sublist_.match_uncached(m.subject);
    return deliver(*r, m);
}

int Account::deliver_as(std::string_view to, const Message& m, bool cache) {
    subjects::MatchPtr r = cache ? sublist_.match(to) : sublist_.match_uncached(to);
    Message routed = m;
    routed.routed = to;
    return deliver(*r, routed);
}

namespace {
// Whether `name` is one of the space separated queue names of a routed message.
bool named(std::string_view list, std::string_view name) {
    while (!list.empty()) {
        const auto sp = list.find(' ');
        if (list.substr(0, sp) == name) return true;
        if (sp == std::string_view::npos) break;
        list.remove_prefix(sp + 1);
    }
    return false;
}
}  // namespace

int Account::deliver(const subjects::MatchResult& r, const Message& m) {
    if (t_route_depth >= kMaxRouteDepth) return 0;
    ++t_route_depth;
    int delivered = 0;
    // One message per route for one publish: its plain interest and the queue groups picked
    // for it, sent together at the end (a local vector: deliveries can reenter).
    struct RouteTarget {
        RemoteTarget* route;
        std::string queues;
    };
    std::vector<RouteTarget> routes;
    auto target = [&](RemoteTarget* rt) -> RouteTarget& {
        for (auto& t : routes)
            if (t.route == rt) return t;
        return routes.emplace_back(RouteTarget{rt, {}});
    };
    for (const auto& s : r.plain) {
        auto* rcv = static_cast<Receiver*>(s.get());
        if (RemoteTarget* rt = rcv->remote()) {
            if (!m.from_route) target(rt);  // one hop: never from route to route
            continue;
        }
        if (rcv->deliver(m)) ++delivered;
    }
    for (const auto& group : r.queues) {
        const std::size_t n = group.size();
        if (n == 0) continue;
        const std::string& qname = group.front()->queue;
        if (m.from_route) {
            // Only the groups the sender picked us for; a member here first, else (as
            // nats-server does) a route member one hop further.
            if (!named(m.route_queues, qname)) continue;
            const std::size_t start = util::fast_rand() % n;
            bool done = false;
            for (std::size_t i = 0; i < n && !done; ++i) {
                auto* rcv = static_cast<Receiver*>(group[(start + i) % n].get());
                if (!rcv->remote() && rcv->deliver(m)) done = true;
            }
            for (std::size_t i = 0; i < n && !done; ++i) {
                auto* rcv = static_cast<Receiver*>(group[(start + i) % n].get());
                if (RemoteTarget* rt = rcv->remote()) {
                    auto& t = target(rt);
                    t.queues += (t.queues.empty() ? "" : " ") + qname;
                    done = true;
                }
            }
            if (done) ++delivered;
            continue;
        }
        // One member at random, a route's weighted by its member count (nats-server), so
        // members spread evenly over the cluster; a local one that refuses (echo off,
        // closing) passes to the next.
        std::int64_t total = 0;
        for (const auto& s : group) total += std::max<std::int32_t>(1, static_cast<Receiver*>(s.get())->weight());
        std::int64_t pick = std::int64_t(util::fast_rand() % std::uint64_t(total));
        std::size_t start = 0;
        for (; start < n; ++start) {
            pick -= std::max<std::int32_t>(1, static_cast<Receiver*>(group[start].get())->weight());
            if (pick < 0) break;
        }
        for (std::size_t i = 0; i < n; ++i) {
            auto* rcv = static_cast<Receiver*>(group[(start + i) % n].get());
            if (RemoteTarget* rt = rcv->remote()) {
                auto& t = target(rt);
                t.queues += (t.queues.empty() ? "" : " ") + qname;
                ++delivered;
                break;
            }
            if (rcv->deliver(m)) {
                ++delivered;
                break;
            }
        }
    }
    for (auto& t : routes) {
        t.route->send_routed(name_, m, t.queues);
        if (t.queues.empty()) ++delivered;  // counted with its queue group otherwise
    }
    --t_route_depth;
    return delivered;
}

bool Account::exports_to(bool service, std::string_view subject,
                         const std::string& importer) const {
    for (const auto& e : exports_) {
        if (e.service != service) continue;
        if (!subjects::is_subset(subject, e.subject)) continue;
        if (e.accounts.empty() && !e.token_required) return true;
        for (const auto& a : e.accounts)
            if (a == importer) return true;
    }
    return false;
}

bool Account::exports_stream_matching(std::string_view subject) const {
    for (const auto& e : exports_)
        if (!e.service && subjects::is_subset(subject, e.subject)) return true;
    return false;
}

std::string Account::service_response(std::string_view subject) const {
    for (const auto& e : exports_)
        if (e.service && subjects::is_subset(subject, e.subject)) return e.response;
    return "singleton";
}

namespace {

// Two subjects (wildcards allowed) that some literal subject matches (Go's SubjectsCollide).
bool collide(std::string_view a, std::string_view b) {
    subjects::Tokens ta(a), tb(b);
    std::string_view x, y;
    while (true) {
        const bool ha = ta.next(x), hb = tb.next(y);
        if (!ha || !hb) return ha == hb;
        if (x == ">" || y == ">") return true;
        if (x != "*" && y != "*" && x != y) return false;
    }
}

// nats-server's checkStreamImportsForCycles / checkServiceImportsForCycles: does `a`, through
// the imports it has whose subjects collide with `subject`, reach an account already visited?
bool forms_cycle(const Account& a, bool service, std::string subject, std::set<std::string>& visited) {
    if (visited.size() >= 1024) return true;  // nats-server's search depth
    if (!service && !a.exports_stream_matching(subject)) return false;
    for (const auto& r : a.imports()) {
        if (r.service != service) continue;
        const std::string& theirs = service ? r.remote : r.local;
        if (!collide(subject, theirs)) continue;
        if (visited.count(r.from->name())) return true;
        visited.insert(a.name());
        const std::string& narrower = service ? r.local : r.local;
        if (subjects::is_subset(narrower, subject)) subject = narrower;
        if (forms_cycle(*r.from, service, subject, visited)) return true;
    }
    return false;
}

// "a.*.>" -> "a.$1.>": a subject's '*' tokens as positional references (transformTokenize).
std::string tokenize_wildcards(std::string_view s) {
    std::string out;
    subjects::Tokens t(s);
    std::string_view x;
    int n = 0;
    while (t.next(x)) {
        if (!out.empty()) out += '.';
        if (x == "*") out += "$" + std::to_string(++n);
        else out += x;
    }
    return out;
}

// A stream import: messages of the exporter on `subject` reach the importer's subscribers.
struct StreamImport : Receiver {
    Account* importer;
    std::string from, to;
    bool deliver(const Message& m) override {
        std::string mapped = subjects::map_subject(m.route_subject(), from, to);
        Message fwd = m;
        fwd.origin = nullptr;
        if (m.routed.empty()) {
            fwd.subject = mapped;
            return importer->route(fwd) > 0;
        }
        // A consumer's delivery: routed by the deliver subject, shown with its own subject.
        return importer->deliver_as(mapped, fwd, true) > 0;
    }
};

// The way back for one request through a service import: the responder's reply, published
// in the exporter's account on a private subject, goes to the requester's reply subject.
struct ServiceResponse : Receiver, std::enable_shared_from_this<ServiceResponse> {
    Account* requester_account;
    Account* exporter;
    std::string reply;
    bool multi = false;  // a stream or chunked response: every reply until the route expires
    std::atomic<bool> used{false};
    bool deliver(const Message& m) override {
        if (multi) {
            if (used.load()) return false;
            Message fwd = m;
            fwd.origin = nullptr;
            if (m.routed.empty()) {
                fwd.subject = reply;
                return requester_account->route(fwd) > 0;
            }
            return requester_account->deliver_as(reply, fwd, false) > 0;
        }
        if (used.exchange(true)) return false;
        Message fwd = m;
        fwd.origin = nullptr;
        bool ok;
        if (m.routed.empty()) {
            fwd.subject = reply;
            ok = requester_account->route(fwd) > 0;
        } else {  // a consumer's delivery keeps its message's subject
            ok = requester_account->deliver_as(reply, fwd, false) > 0;
        }
        exporter->sublist().remove(shared_from_this());
        return ok;
    }
};

// A service import: requests on a local subject go to the exporter's subject, with a reply
// subject that routes the answer back.
struct ServiceImport : Receiver {
    bool propagates() const override { return false; }  // the importer's own forwarder
    Account* importer;
    Account* exporter;
    std::string local, remote;
    // Response routes not used yet, oldest first: a request nobody answers must not leave its
    // route behind forever (nats-server drops them after 2 minutes too).
    std::mutex mu;
    std::deque<std::pair<std::chrono::steady_clock::time_point, std::weak_ptr<ServiceResponse>>>
        pending;
    static constexpr auto kResponseTtl = std::chrono::minutes(2);
    static constexpr std::size_t kMaxPending = 100000;

    void track(const std::shared_ptr<ServiceResponse>& r) {
        const auto now = std::chrono::steady_clock::now();
        std::lock_guard lk(mu);
        while (!pending.empty() &&
               (pending.front().first + kResponseTtl < now || pending.size() >= kMaxPending)) {
            if (auto old = pending.front().second.lock()) {
                if (!old->used.exchange(true)) exporter->sublist().remove(old);
            }
            pending.pop_front();
        }
        pending.emplace_back(now, r);
    }

    std::string response_type = "singleton";

    bool deliver(const Message& m) override {
        std::string mapped = subjects::map_subject(m.route_subject(), local, remote);
        Message fwd = m;
        fwd.subject = mapped;
        fwd.origin = nullptr;
        // The responder learns who asks (nats-server's Nats-Request-Info: the requesting
        // account, and the requester's round trip time when known).
        std::string hdr;
        if (m.origin) {
            const std::int64_t rtt = m.origin->rtt_ns();
            const std::string info = rtt > 0 ? fmt::format("{{\"acc\":\"{}\",\"rtt\":{}}}", importer->name(), rtt)
                                             : fmt::format("{{\"acc\":\"{}\"}}", importer->name());
            hdr = m.headers.empty() ? std::string("NATS/1.0\r\n")
                                    : std::string(m.headers.substr(0, m.headers.size() - 2));
            hdr += "Nats-Request-Info: " + info + "\r\n\r\n";
            fwd.headers = hdr;
        }
        std::string reply;
        if (!m.reply.empty()) {
            auto resp = std::make_shared<ServiceResponse>();
            resp->requester_account = importer;
            resp->exporter = exporter;
            resp->multi = response_type != "singleton";
            resp->reply = std::string(m.reply);
            reply = "_R_." + util::random_token(10);
            resp->subject = reply;
            exporter->sublist().insert(resp);
            track(resp);
            fwd.reply = reply;
        }
        return exporter->route(fwd) > 0;
    }
};

}  // namespace

std::string wire_import(Account& importer, Account& exporter, const ImportDef& imp) {
    // nats-server's texts (its config error adds `Error adding stream import "<subject>": `).
    if (!exporter.exports_to(imp.service, imp.subject, importer.name()))
        return imp.service ? "service import not authorized" : "stream import not authorized";
    const std::string local = imp.service ? (imp.to.empty() ? imp.subject : imp.to)
                              : !imp.to.empty()     ? imp.to
                              : !imp.prefix.empty() ? imp.prefix + "." + imp.subject
                                                    : imp.subject;
    if (!imp.service && !imp.prefix.empty() && subjects::has_wildcard(imp.prefix))
        return "stream import prefix can not contain wildcard tokens";
    // nats-server's checks of a mapping between the two subjects.
    if (imp.service && subjects::has_wildcard(local) && local != imp.subject &&
        !subjects::Transform::compile(local, tokenize_wildcards(imp.subject)))
        return "failed to create mapping transform for service import subject \"" + imp.subject +
               "\" to \"" + local + "\"";
    if (!imp.service && subjects::has_wildcard(imp.subject) && local != imp.subject &&
        !subjects::Transform::compile(imp.subject, tokenize_wildcards(local)))
        return "failed to create mapping transform for stream import subject \"" + imp.subject +
               "\" to \"" + local + "\"";
    {
        std::set<std::string> visited{importer.name()};
        if (forms_cycle(exporter, imp.service, local, visited)) return "import forms a cycle";
    }
    Account::ImportRecord rec{imp.service, &exporter, imp.subject, local, nullptr, nullptr};
    if (imp.service) {
        auto s = std::make_shared<ServiceImport>();
        s->importer = &importer;
        s->exporter = &exporter;
        s->remote = imp.subject;
        s->local = imp.to.empty() ? imp.subject : imp.to;
        s->subject = s->local;
        s->response_type = exporter.service_response(imp.subject);
        importer.sublist().insert(s);
        rec.wired = s;
        rec.wired_in = &importer;
    } else {
        auto s = std::make_shared<StreamImport>();
        s->importer = &importer;
        s->from = imp.subject;
        if (!imp.to.empty()) {
            s->to = imp.to;
        } else if (!imp.prefix.empty()) {
            s->to = imp.prefix + "." + imp.subject;
        } else {
            s->to = imp.subject;
        }
        s->subject = imp.subject;
        exporter.sublist().insert(s);
        rec.wired = s;
        rec.wired_in = &exporter;
    }
    importer.add_import(std::move(rec));
    return {};
}

void Account::unwire_imports() {
    for (auto& r : imports_)
        if (r.wired && r.wired_in) r.wired_in->sublist().remove(r.wired);
    imports_.clear();
}

}  // namespace osprey::server
