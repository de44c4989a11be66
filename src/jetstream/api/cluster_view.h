// What JetStream needs of the cluster it runs in (implemented by the cluster layer, which
// sits above jetstream/): the meta group's leadership and the asset assignments it commits,
// and each replicated stream's group. Null in a single server.
//
// In a cluster every server receives every $JS.API request (the API subscriptions cross the
// routes) and only the responsible one answers, as nats-server does: the meta leader for what
// creates, deletes or lists assets and for the account info, a stream's leader for the rest.
#pragma once
#include <boost/json/object.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "jetstream/api/api_error.h"
#include "jetstream/stream/stream_config.h"

namespace osprey::jetstream {

struct ClusterView {
    virtual ~ClusterView() = default;
    // This server leads the meta group (it answers the API requests that change assets).
    virtual bool is_meta_leader() const = 0;
    // The meta group has a leader (/healthz).
    virtual bool meta_ready() const = 0;
    // SERVER.REMOVE took this server out of the cluster: its JetStream answers nothing more
    // (the other servers do), and /healthz says so, as nats-server's disabled JetStream.
    virtual bool removed() const { return false; }
    // /jsz's "meta_cluster": name, leader, peer, replicas, cluster_size.
    virtual boost::json::object meta_cluster_json() = 0;

    // Meta leader: places the stream's replicas and commits its assignment; done runs (on
    // any thread) once the stream's group has a leader, or with the error that stopped it.
    using Done = std::function<void(std::optional<ApiError>)>;
    virtual void create_stream(const std::string& account, const StreamConfig& cfg, Done done) = 0;
    virtual void delete_stream(const std::string& account, const std::string& stream, Done done) = 0;
    // Meta leader: commits a new configuration (checked by the caller); done once this
    // server's replica, if any, took it.
    virtual void update_stream(const std::string& account, const StreamConfig& cfg, Done done) = 0;
    // Meta leader: takes a server out of the stream's replicas (STREAM.PEER.REMOVE), with a
    // replacement when a server is free for it; done once committed (10040 when the server
    // is not a replica; 10075 when no replacement was found: the group shrinks, as in
    // nats-server).
    virtual void remove_stream_peer(const std::string& account, const std::string& stream,
                                    const std::string& server, Done done) = 0;
    // Meta leader: takes a server out of the meta group (SERVER.REMOVE), by name or by peer
    // id; its streams' replicas move to other servers. 10044 when it is not a member.
    virtual void remove_server(const std::string& name, const std::string& peer_id, Done done) = 0;
    // The streams the meta group has assigned in the account, by name.
    virtual std::vector<std::string> stream_names(const std::string& account) = 0;
    virtual std::optional<StreamConfig> stream_config(const std::string& account, const std::string& stream) = 0;
    // A stream info's "cluster": name, leader, replicas.
    virtual boost::json::object stream_cluster_json(const std::string& account, const std::string& stream) = 0;
    // Who leads the stream's group as this server knows it.
    enum class GroupLeader { none, self, other };
    virtual GroupLeader stream_group_leader(const std::string& account, const std::string& stream) = 0;
    // Stream leader: hands leadership to another current replica.
    virtual void step_down_stream(const std::string& account, const std::string& stream, Done done) = 0;
    virtual void step_down_meta(Done done) = 0;
};

}  // namespace osprey::jetstream
