// Catch-up of a replicated stream's store from another replica, over the routes: a replica
// whose store is behind its Raft log's snapshot (it lost its files, or set damaged ones aside)
// asks a peer for the messages from a sequence on, one bounded batch per request, until it
// holds everything the snapshot covers; every server answers such requests from its own
// replica's store. Requests go to `$OSP.CATCHUP.<server id>` in the system account, answers
// to `$OSP.CATCHUP.R.<server id>`; nothing of it reaches clients or nats-server peers.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cluster/raft/types.h"

namespace osprey::server {
class Account;
class Server;
}  // namespace osprey::server
namespace osprey::jetstream {
class Stream;
}

namespace osprey::cluster {

struct RouteIntake;  // route_intake.h
class StreamCatchup {
public:
    // How a request's group name finds this server's replica (null: none here).
    using Finder = std::function<std::shared_ptr<jetstream::Stream>(const std::string& group)>;
    StreamCatchup(server::Server& srv, raft::NodeId self, Finder finder);
    ~StreamCatchup();
    void start();  // subscribes and starts the worker thread
    void stop();

    struct Job {
        std::string group;
        std::weak_ptr<jetstream::Stream> stream;
        std::uint64_t from = 1, to = 0;  // the sequences to fetch
        // The peers to ask, best first (the leader); asked again before each attempt.
        std::function<std::vector<raft::NodeId>()> sources;
        // On the worker thread, once the store reached `to`, with the stream's durable
        // consumers as a peer holds them (Stream::consumers_catchup(); empty if none could
        // tell): the catching-up replica applies them before the entries it held.
        std::function<void(std::string consumers)> done;
        // A memory stream's replicas all lose their messages in a restart: when every peer
        // answered that it has none of them either, they are gone, and the job ends there
        // (a file stream keeps asking: serving its holes would lose acknowledged messages).
        bool memory = false;
    };
    void fetch(Job job);  // queued: one job at a time
    // This server answered `peer`'s catch-up requests for `group` lately: that replica is
    // still filling its store (the leader does not hand it leadership meanwhile).
    bool serving(const std::string& group, raft::NodeId peer);

private:
    void serve(const std::string& reply, std::string_view body);
    void answer(std::string_view body);
    void run();
    bool run_job(Job& job, std::string& consumers);
    // One request to `to` and its answer (empty: none within the wait); nullopt: stopping.
    std::optional<std::string> ask(raft::NodeId to, const std::string& group, std::uint64_t from, std::uint64_t upto);
    std::string fetch_consumers(Job& job);

    server::Server& srv_;
    server::Account* sys_ = nullptr;
    const raft::NodeId self_;
    Finder finder_;
    std::shared_ptr<RouteIntake> requests_, answers_;

    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    std::deque<Job> jobs_;
    std::uint64_t waiting_for_ = 0;  // the request id the worker waits on
    std::string answer_;             // its answer, once it came
    bool answered_ = false;
    std::uint64_t next_id_ = 1;
    std::map<std::pair<std::string, raft::NodeId>, std::chrono::steady_clock::time_point> served_;
    std::thread worker_;
};

}  // namespace osprey::cluster
