// JetStream for the accounts that have it: their streams (loaded from the store directory at
// start), the $JS.API request handlers, and the periodic age expiry. API requests are taken
// off the publishing connection's loop and served, in order, by one API thread.
#pragma once
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "jetstream/api/cluster_view.h"
#include "jetstream/stream/stream.h"

#include "server/server.h"

namespace boost::json {
class object;
}

namespace osprey::jetstream {

struct JetStreamOptions {
    std::string store_dir;
    std::int64_t sync_interval_ms = 0;  // 0: fdatasync before every ack batch ("always")
    std::int64_t max_memory = -1;
    std::int64_t max_file = -1;
    std::string domain;
    // In a cluster: streams come from the meta group's assignments (not loaded from the store
    // directory by themselves), and every server hears every API request.
    bool clustered = false;
};

class JetStream {
public:
    JetStream(server::Server& srv, JetStreamOptions opts);
    ~JetStream();
    // Enables JetStream in `accounts`, loads their streams, subscribes the API.
    void start(const std::vector<server::Server::JetStreamAccount>& accounts);
    void stop();

    struct AccountState;
    struct Request {
        AccountState* acc;
        std::string subject, reply, hdr, payload;
    };

    void handle(Request& r);  // on the API thread; direct gets on the requester's loop

    // In a cluster: the view of the meta group (null: a single server). Set after start.
    void set_cluster(ClusterView* c);
    const std::string& store_dir() const { return opts_.store_dir; }

    // For the cluster layer (jetstream_cluster.cpp). post: runs fn on the API thread, which
    // alone changes the stream maps; the replica calls below must run there.
    void post(std::function<void()> fn);
    // This server's replica of an assigned stream, opened (a restart finds its store again:
    // `tag` names the assignment's incarnation in the directory, so a deleted and recreated
    // stream never meets the old one's data). Null (and logged) if the store cannot open.
    std::shared_ptr<Stream> open_replica(const std::string& account, const StreamConfig& cfg,
                                         std::chrono::system_clock::time_point created,
                                         const std::string& tag, StreamReplicator* replicator);
    void close_replica(const std::string& account, const std::string& stream, bool erase);
    std::optional<ApiError> update_replica(const std::string& account, const StreamConfig& cfg);

private:
    void worker();
    // Cluster mode: whether this server answers the request, and the handlers that differ
    // (jetstream_cluster.cpp). True: handled (answered, deferred, or left to another server).
    bool handle_clustered(AccountState& a, Request& r, const std::vector<std::string>& t);
    bool purge_replicated(AccountState& a, Request& r, const std::shared_ptr<Stream>& s);
    void step_down_replicated(AccountState& a, const std::string& reply, const std::string& stream,
                              const std::string& type);
    bool delete_replicated(AccountState& a, Request& r, const std::shared_ptr<Stream>& s);
    void reply_created(AccountState& a, const std::string& reply, const std::string& name,
                       std::optional<ApiError> err);
    AccountState* account_state(const std::string& name);
    std::deque<std::function<void()>> tasks_;  // under mu_
    void load_streams(AccountState& a);
    void link(AccountState& a);
    void open_account(const server::Server::JetStreamAccount& ja);
    void start_account(AccountState& st);  // its streams, links and API subscriptions
    void configure_account(const server::Server::JetStreamAccount& ja, bool enabled);
    std::string stream_dir(const AccountState& a, const std::string& name) const;
    // Writes a stream's configuration; `durable` runs once it is (on a writer thread).
    bool persist(AccountState& a, const Stream& s, std::function<void()> durable = {});
    void respond(AccountState& a, const std::string& reply, const std::string& body);
    void audit(AccountState& a, const Request& r, const std::string& response);
    // The answer to a request, on the API thread: counted (an error too), sent, audited.
    void finish(const Request& r, const std::string& out);
    // The same from any thread, for answers that wait (a durable write, a replicated change).
    void finish_later(const Request& r, std::string out);
    std::string api_response(AccountState& a, const std::string& op, const std::string& body);

    // Handlers return the JSON body of the response.
    std::string account_info(AccountState& a);
    std::string clustering_required(const std::string& type);
    std::string stream_create(AccountState& a, const std::string& name, const Request& r);
    std::string stream_update(AccountState& a, const std::string& name, const Request& r);
    std::string stream_info(AccountState& a, const std::string& name, const std::string& body);
    std::string stream_delete(AccountState& a, const std::string& name, const Request& r);
    std::string stream_purge(AccountState& a, const std::string& name, const std::string& body);
    std::string stream_names(AccountState& a, const std::string& body, bool list);
    std::string msg_get(AccountState& a, const std::string& name, const std::string& body);
    std::string msg_delete(AccountState& a, const std::string& name, const std::string& body);
    void direct_get(AccountState& a, const std::string& name, const std::string& subject,
                    const Request& r);
    // Monitoring (jetstream_monitor.cpp).
    std::string jsz(const std::map<std::string, std::string>& query);
    std::string varz_section();
    boost::json::object config_json() const;
    std::uint64_t consumer_count(AccountState& a);
    // Consumers (consumer_api.cpp). An empty answer: it comes later (a replicated consumer's
    // create or delete answers once applied).
    std::string consumer_create(AccountState& a, const std::vector<std::string>& t, const Request& r);
    std::string consumer_info(AccountState& a, const std::string& stream, const std::string& name);
    std::string consumer_delete(AccountState& a, const std::string& stream, const std::string& name,
                                const Request& r);
    // In a cluster (consumer_cluster.cpp).
    std::int64_t consumer_sync_ms(const Stream& s) const;
    void attach_consumer_hooks(AccountState& a, Stream& s);
    boost::json::object consumer_info_json(AccountState& a, const Stream& s, class Consumer& c);
    std::string propose_consumer(AccountState& a, const std::shared_ptr<Stream>& s, const std::string& name,
                                 const ConsumerConfig& cfg, std::chrono::system_clock::time_point created,
                                 const Request& r, bool is_new);
    std::string propose_consumer_delete(AccountState& a, const std::shared_ptr<Stream>& s,
                                        const std::string& name, const Request& r);
    std::string consumer_names(AccountState& a, const std::string& stream, const std::string& body,
                               bool list);
    void consumer_next(AccountState& a, const std::string& stream, const std::string& name,
                       const Request& r);
    void persist_consumer_state(Stream& s, const std::shared_ptr<class Consumer>& c);  // when it moved
    // Writes a durable consumer's configuration; `answer` finishes `r` once it is durable.
    bool record_consumer_config(Stream& s, const class Consumer& c, const Request& r, std::string answer);
    void load_consumers(AccountState& a, Stream& s);
    void consumer_ticks();
    void consumer_wakes();  // paced deliveries whose time came
    void for_each_consumer(
        const std::function<void(AccountState&, Stream&, const std::shared_ptr<class Consumer>&)>& fn);
    void wake_at(std::chrono::steady_clock::time_point t);
    void set_waker(class Consumer& c);
    void persist_durable_consumers();
    std::shared_ptr<Stream> find_stream(AccountState& a, const std::string& name);
    StreamLookup lookup_in(AccountState& a);
    std::optional<ApiError> check_resources(const AccountState& a, const StreamConfig& c) const;
    // A stream action advisory, or a consumer's when `consumer` is given.
    void advise(AccountState& a, const std::string& stream, const char* action,
                const std::string& consumer = {});

    server::Server& srv_;
    JetStreamOptions opts_;
    std::atomic<ClusterView*> cluster_{nullptr};
    // Added to by the API thread (at start, and when an account JWT grants JetStream), which
    // reads it freely; other threads (monitoring, the cluster layer) read under the lock.
    mutable std::shared_mutex accounts_mu_;
    std::vector<std::unique_ptr<AccountState>> accounts_;
    std::vector<std::pair<server::Account*, std::shared_ptr<server::Receiver>>> not_enabled_subs_;
    JsUsage usage_;

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Request> queue_;
    bool stop_ = false;
    std::chrono::steady_clock::time_point next_wake_ = std::chrono::steady_clock::time_point::max();
    std::thread worker_;

public:
    void enqueue(Request r);
};

}  // namespace osprey::jetstream
