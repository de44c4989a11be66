// A deterministic simulation of a Raft group: every node's core in one process, a simulated
// network (delay, drop, duplicate, reorder, partitions, flapping links), simulated disks (a
// crash loses what was not persisted; a crash during a persist keeps all or none of it),
// crashes and restarts, clock skew (nodes tick at different rates), membership changes and
// compaction with snapshots. Raft's safety properties are checked after every step:
//
//   election safety      at most one leader per term
//   leader completeness  a new leader holds every entry applied anywhere before
//   log matching         two logs agreeing on an entry's term agree on everything before it
//   state machine safety every node applies the same entry at each index
//   no rollback          a node's commit index never moves back while it runs; the core never
//                        truncates a committed entry
//   acknowledged writes  a proposal acknowledged to its client (applied by its leader with
//                        the proposed term) is never replaced, and after the faults stop and
//                        everything heals, every node applies it
//
// Everything random comes from one seed: a failing seed replays exactly.
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cluster/raft/node.h"

namespace osprey::raft::sim {

struct Options {
    std::uint64_t seed = 1;
    int nodes = 5;                 // the pool; voters start as all of them
    int fault_steps = 3000;        // steps with faults, then heal and settle
    int settle_steps = 3000;
    double drop = 0.03;
    double duplicate = 0.02;
    int max_delay = 6;             // steps a message may take (reordering follows)
    double crash = 0.002;          // per node per step
    double restart = 0.02;         // per crashed node per step
    double crash_in_persist = 0.01;
    double partition = 0.003;
    double heal = 0.01;
    double propose = 0.3;          // per step
    double membership_change = 0.002;
    double compact = 0.01;         // per node per step
    double transfer = 0.001;
    std::size_t max_append_bytes = 64;  // small messages: more interleavings
    std::size_t max_inflight = 8;
    bool unsafe_commit_older_terms_by_count = false;
};

struct Result {
    std::string violation;  // empty: every property held
    std::size_t acked = 0;
    std::size_t elections = 0;
    std::size_t crashes = 0;
    std::string trace;  // the last events, for a failing seed
};

class Simulation {
public:
    explicit Simulation(const Options& o);
    Result run();

    // For scripted scenarios (tests/unit/raft/node_test.cpp uses them too).
    void step();

private:
    struct Disk {
        HardState hs;
        SnapshotMeta snap;
        std::string snap_data;
        std::vector<Entry> entries;
    };
    struct SimNode {
        NodeId id = kNone;
        std::unique_ptr<Node> node;
        Disk disk;
        bool up = true;
        int tick_every = 1;
        int tick_phase = 0;
        Index sm_index = 0;
        std::uint64_t sm_hash = 0;
        Index last_commit_seen = 0;
    };
    struct Flight {
        int at;
        Message m;
    };
    struct Proposal {
        NodeId node;
        Index index;
        Term term;
        std::string data;
    };

    Config config_for(NodeId id, Index applied) const;
    void restart(SimNode& n);
    void crash(SimNode& n);
    void process_ready(SimNode& n);
    void persist(SimNode& n, const Ready& rd);
    void apply(SimNode& n, const Entry& e);
    void install(SimNode& n, const Snapshot& s);
    void deliver(const Message& m);
    void send(const Message& m);
    bool link_up(NodeId a, NodeId b) const;
    void random_faults();
    void client();
    void check();
    void check_logs_match();
    void fail(const std::string& why);
    void note(const std::string& event);
    SimNode* leader();

    Options o_;
    std::mt19937_64 rng_;
    int now_ = 0;
    bool faults_on_ = true;
    bool clients_on_ = true;
    std::vector<SimNode> nodes_;
    std::vector<Flight> net_;
    std::map<std::pair<NodeId, NodeId>, bool> cut_;  // (a, b), a < b: no messages either way
    std::map<Term, NodeId> leaders_;
    std::map<Index, Entry> applied_;                 // what some node applied at each index
    std::map<Index, std::uint64_t> hash_at_;         // the state machine's hash after it
    std::map<std::pair<NodeId, Index>, Proposal> proposals_;  // by (leader, index)
    std::map<Index, std::string> acked_;
    std::uint64_t next_data_ = 0;
    Result result_;
    std::deque<std::string> trace_;
};

// The state machine's running hash (FNV-1a over term, index, kind and data).
std::uint64_t chain(std::uint64_t h, const Entry& e);

}  // namespace osprey::raft::sim
