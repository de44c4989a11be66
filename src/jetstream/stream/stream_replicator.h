// A replicated stream's way to its Raft group (implemented by the cluster layer). The stream
// leader proposes entries; every replica applies the committed ones (Stream::apply_entry), so
// a publish is acknowledged only once a majority of the replicas have it on disk.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace osprey::jetstream {

struct StreamReplicator {
    virtual ~StreamReplicator() = default;
    // Proposes an entry; done(false) when it could not be proposed (no longer the leader).
    // Whether it took effect is seen in apply_entry.
    virtual void propose(std::string entry, std::function<void(bool)> done) = 0;
    // This server's id in the group: entries carry their proposer's, so that only the
    // proposer answers the publishers.
    virtual std::uint64_t replica_id() const = 0;
    // The leader holds its lease: no other replica can lead now, so what it delivers and
    // answers from its state is current (a leader cut off from its majority stops serving
    // before another one can be elected).
    virtual bool may_serve() const = 0;
};

}  // namespace osprey::jetstream
