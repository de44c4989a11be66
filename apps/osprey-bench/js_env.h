// A connection and JetStream context for the JetStream workloads.
#pragma once
#include <nats/nats.h>

#include <cstdint>
#include <cstdio>

#include "workloads.h"

namespace bench {

struct JsEnv {
    natsConnection* nc = nullptr;
    jsCtx* js = nullptr;
    ~JsEnv() {
        if (js) jsCtx_Destroy(js);
        if (nc) natsConnection_Destroy(nc);
    }
    // Connects to c.url; `max_pending` bounds asynchronous publishes in flight (0: default).
    bool open(const Config& c, std::int64_t max_pending = 0) {
        natsOptions* o = nullptr;
        natsOptions_Create(&o);
        natsOptions_SetURL(o, c.url.c_str());
        natsOptions_SetAllowReconnect(o, false);
        natsOptions_SetMaxPendingMsgs(o, 10000000);
        natsStatus s = natsConnection_Connect(&nc, o);
        natsOptions_Destroy(o);
        if (s != NATS_OK) {
            std::fprintf(stderr, "connect: %s\n", natsStatus_GetText(s));
            return false;
        }
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = 10000;
        if (max_pending) jo.PublishAsync.MaxPending = max_pending;
        return natsConnection_JetStream(&js, nc, &jo) == NATS_OK;
    }
};

}  // namespace bench
