// osprey-bench workloads, built on the nats.c client. Each prints one result line.
#pragma once
#include <string>
#include <vector>

namespace bench {

struct Config {
    std::string url = "nats://127.0.0.1:4222";
    long msgs = 100000;
    int size = 128;
    int subs = 1;
    long window = 50000;  // publisher stays at most this many messages ahead of the slowest sub
    int hold_seconds = 5;  // idle: how long the connections stay open
    std::string storage = "file";  // JetStream workloads: file or memory
    // Clusters: subscribers (and the reqrep responder) connect here, round-robin; the
    // publisher (and requester) to `url`. Empty: everything on `url`.
    std::vector<std::string> sub_urls;
    // Consumer-group workloads (group_workloads.cpp).
    int members = 4;                                // group members / baseline fetchers
    std::string http_url = "http://127.0.0.1:8222";  // osprey's monitoring port (groups API)
    int time_limit = 120;                           // seconds, the whole workload
    std::string ca_file;  // TLS workloads (transport_workloads.cpp): the CA that signed the server's certificate
};

int run_pub(const Config& c);
int run_pubsub(const Config& c);   // 1 publisher, 1 subscriber
int run_fanout(const Config& c);   // 1 publisher, N subscribers, each gets every message
int run_queue(const Config& c);    // 1 publisher, N queue members, each message once
int run_reqrep(const Config& c);   // sequential requests, latency percentiles
int run_idle(const Config& c);     // N idle connections held open
int run_js_pub_sync(const Config& c);   // publish, wait for each ack
int run_js_pub_async(const Config& c);  // publish with up to --window acks outstanding
int run_js_get(const Config& c);        // direct get by sequence, latency percentiles
int run_js_fetch(const Config& c);      // pull consumer, batches of --subs (default 100), acks
int run_js_consume(const Config& c);    // push consumer, explicit acks
int run_js_ordered(const Config& c);    // ordered push consumer
int run_kv_put(const Config& c);        // KV puts over 1000 keys
int run_kv_get(const Config& c);        // KV gets over 1000 keys
int run_group_ws(const Config& c);      // consumer group, --members WebSocket members, ack each
int run_group_http(const Config& c);    // consumer group, --members HTTP members (fetch, ack each)
int run_js_group_fetch(const Config& c);  // baseline: one durable, --members nats.c fetchers
int run_tls_pubsub(const Config& c);      // pubsub over TLS (--ca)
int run_tls_fanout(const Config& c);      // fanout over TLS, --subs subscribers
int run_tls_handshakes(const Config& c);  // --msgs TLS connections: connect, flush, close
int run_ws_pubsub(const Config& c);       // pubsub over WebSocket (--url ws://..), Beast client

}  // namespace bench
