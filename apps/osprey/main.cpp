// osprey: a NATS-compatible message server. Started like nats-server.
#include <sys/resource.h>

#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "cluster/js_cluster.h"
#include "cluster/route_manager.h"
#include "groups/gateway.h"
#include "jetstream/jetstream.h"
#include "server/client.h"
#include "server/config.h"
#include "server/flags.h"
#include "server/server.h"
#include "util/log.h"

using namespace osprey;

namespace {

// --signal <command>[=<pid>], as nats-server: stop, quit, term, reopen, reload, ldm.
int send_signal(const std::string& spec) {
    const auto eq = spec.find('=');
    const std::string cmd = spec.substr(0, eq);
    if (eq == std::string::npos) {
        std::cerr << "osprey: --signal needs a process id: " << cmd << "=<pid>\n";
        return 1;
    }
    const pid_t pid = pid_t(std::atoi(spec.c_str() + eq + 1));
    int sig = 0;
    if (cmd == "stop") sig = SIGKILL;
    else if (cmd == "quit") sig = SIGINT;
    else if (cmd == "term") sig = SIGTERM;
    else if (cmd == "reopen") sig = SIGUSR1;
    else if (cmd == "reload") sig = SIGHUP;
    else if (cmd == "ldm") sig = SIGUSR2;
    if (!sig || pid <= 0) {
        std::cerr << "osprey: unknown signal \"" << spec << "\"\n";
        return 1;
    }
    if (::kill(pid, sig) != 0) {
        std::cerr << "osprey: cannot signal " << pid << ": " << std::strerror(errno) << "\n";
        return 1;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    auto flags = server::parse_flags(args);
    if (!flags) {
        std::cerr << flags.error() << "\n" << server::usage_text();
        return 1;
    }
    if (flags->show_help) {
        std::cout << server::usage_text();
        return 0;
    }
    if (flags->show_version) {
        std::cout << "osprey: v" << server::kOspreyVersion << " (nats-server "
                  << server::kCompatVersion << " compatible)\n";
        return 0;
    }
    server::Options opts;
    if (!flags->config_file.empty()) {
        if (auto r = server::load_config_file(flags->config_file, opts); !r) {
            std::cerr << "osprey: " << r.error() << "\n";
            return 1;
        }
    }
    if (auto r = server::apply_flags(*flags, opts); !r) {
        std::cerr << "osprey: " << r.error() << "\n" << server::usage_text();
        return 1;
    }
    if (!opts.signal.empty()) return send_signal(opts.signal);
    if (!opts.cluster.routes.empty() && !opts.cluster.enabled()) {
        std::cerr << "osprey: solicited routes require cluster capabilities, e.g. --cluster\n";
        return 1;
    }
    if (opts.cluster.enabled() && opts.jetstream && opts.server_name.empty()) {
        std::cerr << "osprey: jetstream cluster requires `server_name` to be set\n";
        return 1;
    }
    // getDefaultAuthTimeout: a TLS client's handshake comes out of its time to authenticate.
    if (opts.tls_enabled && !opts.auth_timeout_set) opts.auth_timeout_ms = opts.tls.timeout_ms + 1000;
    if (auto err = server::check_transports(opts); !err.empty()) {
        std::cerr << "osprey: " << err << "\n";
        return 1;
    }
    if (opts.check_config) {
        for (const auto& w : opts.config_warnings) std::cerr << "osprey: warning: " << w << "\n";
        std::cout << "osprey: configuration file " << opts.config_file << " is valid\n";
        return 0;
    }
    log::configure({opts.log_file, opts.logtime, opts.debug, opts.trace});
    for (const auto& w : opts.config_warnings) log::warn("{}", w);
    // Like Go's runtime does for nats-server: allow as many descriptors as the hard limit.
    if (rlimit rl; ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
    try {
        server::Server srv(opts);
        std::unique_ptr<jetstream::JetStream> js;
        if (opts.jetstream) {
            jetstream::JetStreamOptions jo;
            jo.store_dir = opts.store_dir.empty() ? "/tmp/osprey/jetstream" : opts.store_dir;
            jo.sync_interval_ms = opts.js_sync_interval_ms;
            jo.max_memory = opts.js_max_memory;
            jo.max_file = opts.js_max_file;
            jo.domain = opts.js_domain;
            jo.clustered = opts.cluster.enabled();
            js = std::make_unique<jetstream::JetStream>(srv, jo);
            // Streams are loaded and the API subscribed before the first client connects.
            js->start(srv.jetstream_accounts());
        }
        std::unique_ptr<cluster::RouteManager> routes;
        if (opts.cluster.enabled()) routes = std::make_unique<cluster::RouteManager>(srv);
        // Consumer groups on the monitoring port (its handlers are added before it starts).
        auto gateway = std::make_unique<groups::Gateway>(srv, bool(js));
        srv.start();
        if (routes) routes->start();
        std::unique_ptr<cluster::JetStreamCluster> js_cluster;
        if (routes && js) {
            js_cluster = std::make_unique<cluster::JetStreamCluster>(srv, *routes, *js);
            if (std::string err; !js_cluster->start(err)) throw std::runtime_error(err);
            js->set_cluster(js_cluster.get());
        }
        if (js) gateway->start();
        srv.wait();
        gateway.reset();
        if (js) js->set_cluster(nullptr);
        if (js_cluster) js_cluster->stop();
        if (js) js->stop();  // after the clients: every store flushed and closed
        // What the stops queued for routes on this thread (interest removals) is written, and
        // the thread's flush list let go, while the server's loops still exist.
        server::Client::flush_scheduled();
    } catch (const std::exception& e) {
        log::fatal("{}", e.what());
        return 1;
    }
    return 0;
}
