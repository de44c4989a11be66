// Durable consumers of replicated streams with nats.c, for the cluster tests: a consumer's
// state as its info shows it, bounded waits for a state, pull fetches that ack.
#pragma once
#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "c/js_cluster_helpers.h"

namespace osprey::testing {

inline int stream_leader(jsCtx* js, const char* stream) {
    jsStreamInfo* si = nullptr;
    jsErrCode err;
    if (js_GetStreamInfo(&si, js, stream, nullptr, &err) != NATS_OK || !si) return -1;
    const int l = si->Cluster && si->Cluster->Leader ? index_of(si->Cluster->Leader) : -1;
    jsStreamInfo_Destroy(si);
    return l;
}

struct ConsumerState {
    bool ok = false;
    std::uint64_t ack_floor = 0, delivered = 0, ack_pending = 0, pending = 0;
    std::string leader;
    int replicas = 0;
};

inline ConsumerState consumer_state(jsCtx* js, const char* stream, const char* name) {
    ConsumerState s;
    jsConsumerInfo* ci = nullptr;
    jsErrCode err;
    if (js_GetConsumerInfo(&ci, js, stream, name, nullptr, &err) != NATS_OK || !ci) return s;
    s.ok = true;
    s.ack_floor = ci->AckFloor.Stream;
    s.delivered = ci->Delivered.Stream;
    s.ack_pending = std::uint64_t(ci->NumAckPending);
    s.pending = ci->NumPending;
    if (ci->Cluster) {
        if (ci->Cluster->Leader) s.leader = ci->Cluster->Leader;
        s.replicas = ci->Cluster->ReplicasLen;
    }
    jsConsumerInfo_Destroy(ci);
    return s;
}

// Bounded: the state as `want` says, seen through server `via`'s client.
inline bool wait_state(jsCtx* js, const char* stream, const char* name, std::chrono::milliseconds within,
                const std::function<bool(const ConsumerState&)>& want) {
    const auto end = Clock::now() + within;
    while (Clock::now() < end) {
        if (auto s = consumer_state(js, stream, name); s.ok && want(s)) return true;
        std::this_thread::sleep_for(100ms);
    }
    return false;
}

inline jsConsumerInfo* add_durable(jsCtx* js, const char* stream, const char* name, std::int64_t ack_wait_ms,
                            jsErrCode* err) {
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = name;
    cc.AckPolicy = js_AckExplicit;
    cc.AckWait = ack_wait_ms * 1000000;
    jsConsumerInfo* ci = nullptr;
    js_AddConsumer(&ci, js, stream, &cc, nullptr, err);
    return ci;
}

// Fetches up to `n` messages (bounded by `within`) from a pull subscription bound to the
// durable; returns their stream sequences, in order, acking each with AckSync when asked.
inline std::vector<std::uint64_t> fetch(natsSubscription* sub, int n, std::chrono::milliseconds within, bool ack_sync,
                                 std::set<std::uint64_t>* confirmed = nullptr) {
    std::vector<std::uint64_t> got;
    const auto end = Clock::now() + within;
    while (int(got.size()) < n && Clock::now() < end) {
        natsMsgList list{};
        jsErrCode err;
        const int want = std::min(10, n - int(got.size()));
        if (natsSubscription_Fetch(&list, sub, want, 1000, &err) != NATS_OK) continue;
        for (int i = 0; i < list.Count; ++i) {
            jsMsgMetaData* md = nullptr;
            if (natsMsg_GetMetaData(&md, list.Msgs[i]) == NATS_OK && md) {
                got.push_back(md->Sequence.Stream);
                if (ack_sync) {
                    if (natsMsg_AckSync(list.Msgs[i], nullptr, &err) == NATS_OK && confirmed)
                        confirmed->insert(md->Sequence.Stream);
                }
                jsMsgMetaData_Destroy(md);
            }
        }
        natsMsgList_Destroy(&list);
    }
    return got;
}

inline Sub pull_sub(jsCtx* js, const char* subject, const char* durable, const char* stream = "WORK") {
    natsSubscription* sub = nullptr;
    jsErrCode err;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Consumer = durable;
    if (js_PullSubscribe(&sub, js, subject, durable, nullptr, &so, &err) != NATS_OK) return nullptr;
    return Sub(sub);
}

// The same, tried again (bounded) while the consumer has no leader: nats-server elects a
// consumer's own leader seconds after its stream's.
inline Sub pull_sub_within(jsCtx* js, const char* subject, const char* durable, const char* stream,
                           std::chrono::milliseconds within) {
    Sub sub;
    for (const auto end = Clock::now() + within; Clock::now() < end && !sub; std::this_thread::sleep_for(200ms))
        sub = pull_sub(js, subject, durable, stream);
    return sub;
}

}  // namespace osprey::testing
