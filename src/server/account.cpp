#include "server/account.h"

#include <chrono>
#include <deque>

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

int Account::deliver(const subjects::MatchResult& r, const Message& m) {
    if (t_route_depth >= kMaxRouteDepth) return 0;
    ++t_route_depth;
    int delivered = 0;
    for (const auto& s : r.plain) {
        if (static_cast<Receiver*>(s.get())->deliver(m)) ++delivered;
    }
    for (const auto& group : r.queues) {
        // One member at random; if it refuses (echo off, closing), try the others in turn.
        const std::size_t n = group.size();
        const std::size_t start = util::fast_rand() % n;
        for (std::size_t i = 0; i < n; ++i) {
            auto* rcv = static_cast<Receiver*>(group[(start + i) % n].get());
            if (rcv->deliver(m)) {
                ++delivered;
                break;
            }
        }
    }
    --t_route_depth;
    return delivered;
}

bool Account::exports_to(bool service, std::string_view subject,
                         const std::string& importer) const {
    for (const auto& e : exports_) {
        if (e.service != service) continue;
        if (!subjects::is_subset(subject, e.subject)) continue;
        if (e.accounts.empty()) return true;
        for (const auto& a : e.accounts)
            if (a == importer) return true;
    }
    return false;
}

namespace {

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
    std::atomic<bool> used{false};
    bool deliver(const Message& m) override {
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

    bool deliver(const Message& m) override {
        std::string mapped = subjects::map_subject(m.route_subject(), local, remote);
        Message fwd = m;
        fwd.subject = mapped;
        fwd.origin = nullptr;
        std::string reply;
        if (!m.reply.empty()) {
            auto resp = std::make_shared<ServiceResponse>();
            resp->requester_account = importer;
            resp->exporter = exporter;
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
    if (!exporter.exports_to(imp.service, imp.subject, importer.name())) {
        return "import of \"" + imp.subject + "\" from account \"" + exporter.name() +
               "\" is not exported to \"" + importer.name() + "\"";
    }
    if (imp.service) {
        auto s = std::make_shared<ServiceImport>();
        s->importer = &importer;
        s->exporter = &exporter;
        s->remote = imp.subject;
        s->local = imp.to.empty() ? imp.subject : imp.to;
        s->subject = s->local;
        importer.sublist().insert(s);
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
    }
    return {};
}

}  // namespace osprey::server
