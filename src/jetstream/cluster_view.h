// What JetStream needs to know of the cluster it runs in (implemented by the cluster layer,
// which sits above jetstream/): who leads the meta group, and how the cluster looks for the
// monitoring endpoints. Null in a single server.
#pragma once
#include <boost/json/object.hpp>

namespace osprey::jetstream {

struct ClusterView {
    virtual ~ClusterView() = default;
    // This server leads the meta group (it answers the API requests that change assets).
    virtual bool is_meta_leader() const = 0;
    // The meta group has a leader and this server is current with it (/healthz).
    virtual bool meta_ready() const = 0;
    // /jsz's "meta_cluster": name, leader, peer, replicas, cluster_size.
    virtual boost::json::object meta_cluster_json() = 0;
};

}  // namespace osprey::jetstream
