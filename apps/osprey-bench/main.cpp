// osprey-bench: a load generator for NATS servers (osprey or nats-server).
//   osprey-bench <pub|pubsub|fanout|queue|reqrep|idle> [--url U] [--msgs N] [--size B] [--subs N]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "workloads.h"

static void usage() {
    std::fprintf(stderr,
                 "usage: osprey-bench <pub|pubsub|fanout|queue|reqrep|idle|js-pub-sync|js-pub-async|js-get|\n"
                 "                    js-fetch|js-consume|js-ordered|kv-put|kv-get|\n"
                 "                    group-ws|group-http|js-group-fetch|tls-pubsub|tls-fanout|tls-handshakes|ws-pubsub>\n"
                 "  [--url URL] [--sub-urls URL,URL..] [--msgs N] [--size BYTES] [--subs N] [--window N] [--hold SECONDS]\n"
                 "  [--storage file|memory] [--members N] [--http-url http://HOST:PORT] [--time-limit SECONDS]\n"
                 "  [--ca CA_FILE]\n");
}

int main(int argc, char** argv) {
    if (argc < 2) {
        usage();
        return 2;
    }
    std::string workload = argv[1];
    bench::Config c;
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                usage();
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--url") c.url = value();
        else if (a == "--sub-urls") {
            std::string v = value();
            for (std::size_t p = 0; p <= v.size();) {
                const std::size_t q = std::min(v.find(',', p), v.size());
                if (q > p) c.sub_urls.push_back(v.substr(p, q - p));
                p = q + 1;
            }
        }
        else if (a == "--msgs") c.msgs = std::atol(value().c_str());
        else if (a == "--size") c.size = std::atoi(value().c_str());
        else if (a == "--subs") c.subs = std::atoi(value().c_str());
        else if (a == "--window") c.window = std::atol(value().c_str());
        else if (a == "--hold") c.hold_seconds = std::atoi(value().c_str());
        else if (a == "--storage") c.storage = value();
        else if (a == "--members") c.members = std::atoi(value().c_str());
        else if (a == "--http-url") c.http_url = value();
        else if (a == "--time-limit") c.time_limit = std::atoi(value().c_str());
        else if (a == "--ca") c.ca_file = value();
        else {
            usage();
            return 2;
        }
    }
    if (workload == "pub") return bench::run_pub(c);
    if (workload == "pubsub") return bench::run_pubsub(c);
    if (workload == "fanout") return bench::run_fanout(c);
    if (workload == "queue") return bench::run_queue(c);
    if (workload == "reqrep") return bench::run_reqrep(c);
    if (workload == "idle") return bench::run_idle(c);
    if (workload == "js-pub-sync") return bench::run_js_pub_sync(c);
    if (workload == "js-pub-async") return bench::run_js_pub_async(c);
    if (workload == "js-get") return bench::run_js_get(c);
    if (workload == "js-fetch") return bench::run_js_fetch(c);
    if (workload == "js-consume") return bench::run_js_consume(c);
    if (workload == "js-ordered") return bench::run_js_ordered(c);
    if (workload == "kv-put") return bench::run_kv_put(c);
    if (workload == "kv-get") return bench::run_kv_get(c);
    if (workload == "group-ws") return bench::run_group_ws(c);
    if (workload == "group-http") return bench::run_group_http(c);
    if (workload == "js-group-fetch") return bench::run_js_group_fetch(c);
    if (workload == "tls-pubsub") return bench::run_tls_pubsub(c);
    if (workload == "tls-fanout") return bench::run_tls_fanout(c);
    if (workload == "tls-handshakes") return bench::run_tls_handshakes(c);
    if (workload == "ws-pubsub") return bench::run_ws_pubsub(c);
    usage();
    return 2;
}
