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
    // A fresh stream `name` on one subject, with the storage the workload asks for.
    bool fresh_stream(const char* name, const char* subject, const Config& c, bool allow_direct = false) {
        jsErrCode e;
        js_DeleteStream(js, name, nullptr, &e);
        jsStreamConfig cfg;
        jsStreamConfig_Init(&cfg);
        cfg.Name = name;
        const char* subj[] = {subject};
        cfg.Subjects = subj;
        cfg.SubjectsLen = 1;
        cfg.Storage = c.storage == "memory" ? js_MemoryStorage : js_FileStorage;
        cfg.AllowDirect = allow_direct;
        jsStreamInfo* si = nullptr;
        natsStatus s = js_AddStream(&si, js, &cfg, nullptr, &e);
        if (s != NATS_OK) {
            std::fprintf(stderr, "add stream: %s (%d)\n", natsStatus_GetText(s), int(e));
            return false;
        }
        jsStreamInfo_Destroy(si);
        return true;
    }
};

}  // namespace bench
