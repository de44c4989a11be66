// Scripted scenarios for the Raft core, one rule each, on a tiny synchronous harness (instant
// disks, a network that delivers everything unless a node is cut off). The simulator
// (sim_test.cpp) covers the random interleavings; these pin down the behaviour by name.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>

#include "cluster/raft/node.h"

using namespace osprey::raft;

namespace {

struct Harness {
    std::map<NodeId, std::unique_ptr<Node>> nodes;
    std::map<NodeId, std::vector<std::string>> applied;
    std::set<NodeId> cut;  // nodes that neither send nor receive
    std::set<std::pair<NodeId, NodeId>> cut_links;  // (a, b) with a < b: one link down, both ways
    bool link_down(NodeId a, NodeId b) const { return cut_links.count({std::min(a, b), std::max(a, b)}) > 0; }

    explicit Harness(std::vector<NodeId> ids, std::vector<NodeId> voters = {}) {
        if (voters.empty()) voters = ids;
        for (NodeId id : ids) add(id, Membership::of(voters));
    }
    void add(NodeId id, const Membership& m) {
        Config c;
        c.id = id;
        c.election_ticks = 10;
        c.heartbeat_ticks = 1;
        c.seed = id * 31;
        nodes[id] = std::make_unique<Node>(c, m);
    }
    Node& n(NodeId id) { return *nodes.at(id); }

    // Runs every Ready and delivers every message until nothing moves.
    void settle() {
        for (int round = 0; round < 1000; ++round) {
            std::vector<Message> msgs;
            bool any = false;
            for (auto& [id, node] : nodes) {
                if (!node->has_ready()) continue;
                any = true;
                Ready rd = node->ready();
                for (auto& e : rd.committed)
                    if (e.kind == EntryKind::normal) applied[id].push_back(e.data);
                if (!cut.count(id)) {
                    msgs.insert(msgs.end(), rd.messages_now.begin(), rd.messages_now.end());
                    msgs.insert(msgs.end(), rd.messages.begin(), rd.messages.end());
                }
                node->advance(rd);
            }
            for (auto& m : msgs)
                if (!cut.count(m.to) && nodes.count(m.to) && !link_down(m.from, m.to)) nodes[m.to]->step(m);
            if (!any && msgs.empty()) return;
        }
    }
    void ticks(int k) {
        for (int i = 0; i < k; ++i) {
            for (auto& [id, node] : nodes) node->tick();
            settle();
        }
    }
    NodeId leader() {
        NodeId l = kNone;
        Term best = 0;
        for (auto& [id, node] : nodes)
            if (!cut.count(id) && node->role() == Role::leader && node->term() >= best) {
                l = id;
                best = node->term();
            }
        return l;
    }
    NodeId elect() {
        for (int i = 0; i < 100 && leader() == kNone; ++i) ticks(1);
        return leader();
    }
};

}  // namespace

TEST(RaftNode, ASingleNodeElectsItselfAndCommits) {
    Harness h({1});
    ASSERT_EQ(h.elect(), 1u);
    ASSERT_TRUE(h.n(1).propose("a"));
    h.settle();
    EXPECT_EQ(h.applied[1], std::vector<std::string>{"a"});
}

TEST(RaftNode, ThreeNodesElectOneLeaderAndApplyTheSameEntries) {
    Harness h({1, 2, 3});
    const NodeId l = h.elect();
    ASSERT_NE(l, kNone);
    for (const char* d : {"a", "b", "c"}) ASSERT_TRUE(h.n(l).propose(d));
    h.settle();
    h.ticks(2);  // the followers learn the commit with the next append or heartbeat
    for (NodeId id : {1, 2, 3}) EXPECT_EQ(h.applied[id], (std::vector<std::string>{"a", "b", "c"})) << id;
    int leaders = 0;
    for (NodeId id : {1, 2, 3}) leaders += h.n(id).role() == Role::leader;
    EXPECT_EQ(leaders, 1);
}

TEST(RaftNode, AVoteNeverLeavesBeforeItIsPersisted) {
    Harness h({1, 2, 3});
    h.n(1).campaign();  // pre-vote first: term unchanged, nothing to persist
    Ready pre = h.n(1).ready();
    EXPECT_FALSE(pre.hard_state && pre.hard_state->vote != kNone);
    for (auto& m : pre.messages_now) EXPECT_NE(m.type, MessageType::vote);
    h.n(1).advance(pre);
    // Grant the pre-votes: now it campaigns for real, with a new term and its own vote.
    for (auto& m : pre.messages) {
        h.n(m.to).step(m);
        Ready r = h.n(m.to).ready();
        for (auto& resp : r.messages) h.n(1).step(resp);
        h.n(m.to).advance(r);
    }
    Ready rd = h.n(1).ready();
    ASSERT_TRUE(rd.hard_state);
    EXPECT_EQ(rd.hard_state->vote, 1u);
    EXPECT_TRUE(rd.messages_now.empty());  // every vote request waits for the persist
    bool asked = false;
    for (auto& m : rd.messages) asked |= m.type == MessageType::vote;
    EXPECT_TRUE(asked);
}

TEST(RaftNode, ALeaderCountsOnlyWhatItHasPersisted) {
    Harness h({1, 2, 3});
    const NodeId l = h.elect();
    ASSERT_NE(l, kNone);
    h.cut.insert(l == 1 ? 2 : 1);  // one follower away: the leader's own copy is needed
    const NodeId f = l == 3 ? 2 : 3;
    (void)h.n(l).propose("x");
    Ready rd = h.n(l).ready();  // not advanced: the leader has not persisted "x"
    for (auto& m : rd.messages_now) {
        if (m.to != f) continue;
        h.n(f).step(m);
        Ready fr = h.n(f).ready();
        h.n(f).advance(fr);
        for (auto& resp : fr.messages) h.n(l).step(resp);
    }
    const Index x = rd.entries.back().index;
    EXPECT_LT(h.n(l).log().committed(), x) << "committed before its own disk had it";
    h.n(l).advance(rd);
    EXPECT_EQ(h.n(l).log().committed(), x);
}

TEST(RaftNode, PreVoteKeepsACutOffNodeFromDisruptingTheGroup) {
    Harness h({1, 2, 3});
    const NodeId l = h.elect();
    const Term term = h.n(l).term();
    const NodeId lone = l == 3 ? 1 : 3;
    h.cut.insert(lone);
    h.ticks(100);  // it times out again and again
    EXPECT_EQ(h.n(lone).term(), term) << "pre-vote: a node that cannot win does not raise its term";
    h.cut.clear();
    h.ticks(60);  // back: it keeps asking, the others keep their leader (they heard from it)
    EXPECT_EQ(h.leader(), l);
    EXPECT_EQ(h.n(l).term(), term);
}

TEST(RaftNode, ANodeThatLostOnlyTheLeaderDoesNotUnseatIt) {
    // The third node hears nothing from the leader but still reaches the other follower, whose
    // log is no newer than its own: only the follower's lease (it hears from the leader) keeps
    // it from granting the pre-vote and the vote that would depose a healthy leader.
    Harness h({1, 2, 3});
    const NodeId l = h.elect();
    const Term term = h.n(l).term();
    const NodeId lone = l == 3 ? 1 : 3;
    h.cut_links.insert({std::min(l, lone), std::max(l, lone)});
    h.ticks(200);
    EXPECT_EQ(h.leader(), l);
    EXPECT_EQ(h.n(l).term(), term) << "a node cut from the leader alone deposed it";
    EXPECT_EQ(h.n(lone).term(), term) << "its pre-vote was granted by a follower that has a leader";
}

TEST(RaftNode, ALeaderCutOffFromItsMajorityStepsDown) {
    Harness h({1, 2, 3});
    const NodeId l = h.elect();
    h.cut.insert(l);
    for (int i = 0; i < 30; ++i) h.n(l).tick();
    EXPECT_NE(h.n(l).role(), Role::leader) << "check-quorum";
    EXPECT_FALSE(h.n(l).has_quorum_lease());
    // The others elect a new leader meanwhile.
    h.ticks(40);
    EXPECT_NE(h.leader(), kNone);
    EXPECT_NE(h.leader(), l);
}

TEST(RaftNode, LeadershipMovesToTheChosenNode) {
    Harness h({1, 2, 3});
    const NodeId l = h.elect();
    const NodeId to = l == 1 ? 2 : 1;
    ASSERT_TRUE(h.n(l).propose("before"));
    h.settle();
    ASSERT_TRUE(h.n(l).transfer_leadership(to));
    EXPECT_FALSE(h.n(l).propose("during")) << "no proposals while leadership moves";
    h.settle();
    h.ticks(3);
    EXPECT_EQ(h.leader(), to);
    ASSERT_TRUE(h.n(to).propose("after"));
    h.settle();
    h.ticks(2);
    EXPECT_EQ(h.applied[l], (std::vector<std::string>{"before", "after"}));
}

TEST(RaftNode, MembershipChangesOneVoterAtATime) {
    Harness h({1, 2, 3, 4}, {1, 2, 3});
    const NodeId l = h.elect();
    ASSERT_TRUE(h.n(l).propose("a"));
    h.settle();
    EXPECT_FALSE(h.n(l).propose_membership(Membership::of({1})));  // two at once: refused
    ASSERT_TRUE(h.n(l).propose_membership(Membership::of({1, 2, 3, 4})));
    EXPECT_FALSE(h.n(l).propose_membership(Membership::of({1, 2, 4}))) << "one change at a time";
    h.settle();
    h.ticks(3);
    EXPECT_EQ(h.n(4).membership(), Membership::of({1, 2, 3, 4}));
    EXPECT_EQ(h.applied[4], std::vector<std::string>{"a"}) << "the new voter caught up";
    // Remove the leader itself: it steps aside once the change is committed.
    ASSERT_TRUE(h.n(l).propose_membership(Membership::of([&] {
        std::vector<NodeId> v{1, 2, 3, 4};
        v.erase(std::find(v.begin(), v.end(), l));
        return v;
    }())));
    h.settle();
    h.ticks(40);
    const NodeId l2 = h.leader();
    ASSERT_NE(l2, kNone);
    EXPECT_NE(l2, l);
    ASSERT_TRUE(h.n(l2).propose("b"));
    h.settle();
    h.ticks(2);
    EXPECT_EQ(h.applied[4], (std::vector<std::string>{"a", "b"}));
}

TEST(RaftNode, ARemovedNodeLearnsThatItsRemovalCommitted) {
    // The host closes a removed replica only once the replica itself knows its removal is
    // committed; the leader keeps telling it until then, though it counts for nothing.
    Harness h({1, 2, 3, 4}, {1, 2, 3});
    EXPECT_FALSE(h.n(4).removed()) << "a node joining, outside its first membership, is not removed";
    const NodeId l = h.elect();
    ASSERT_TRUE(h.n(l).propose_membership(Membership::of({1, 2, 3, 4})));
    h.settle();
    h.ticks(3);
    ASSERT_EQ(h.n(4).membership(), Membership::of({1, 2, 3, 4}));
    const NodeId gone = l == 1 ? 2 : 1;
    std::vector<NodeId> rest;
    for (NodeId v : {1, 2, 3, 4})
        if (v != gone) rest.push_back(v);
    ASSERT_TRUE(h.n(l).propose_membership(Membership::of(rest)));
    h.settle();
    h.ticks(6);
    EXPECT_TRUE(h.n(gone).removed());
    for (NodeId v : rest) EXPECT_FALSE(h.n(v).removed());
    for (auto& p : h.n(l).progress()) EXPECT_NE(p.id, gone) << "not reported as a peer";
    ASSERT_TRUE(h.n(l).propose("after"));
    h.settle();
    h.ticks(2);
    for (NodeId v : rest) EXPECT_EQ(h.applied[v].back(), "after");
    // Removing the leader itself: it knows once the change committed, and steps aside.
    std::vector<NodeId> without_leader;
    for (NodeId v : rest)
        if (v != l) without_leader.push_back(v);
    ASSERT_TRUE(h.n(l).propose_membership(Membership::of(without_leader)));
    h.settle();
    h.ticks(2);
    EXPECT_TRUE(h.n(l).removed());
    EXPECT_NE(h.n(l).role(), Role::leader);
}

TEST(RaftNode, AFollowerFarBehindCatchesUpFromASnapshot) {
    Harness h({1, 2, 3});
    const NodeId l = h.elect();
    const NodeId lag = l == 3 ? 1 : 3;
    h.cut.insert(lag);
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(h.n(l).propose("e" + std::to_string(i)));
    h.settle();
    h.ticks(2);
    // Every node but the lagging one compacts its log away.
    for (auto& [id, node] : h.nodes)
        if (id != lag) node->compact(node->log().applied(), "state@" + std::to_string(node->log().applied()));
    h.cut.clear();
    bool got_snapshot = false;
    for (int i = 0; i < 20 && !got_snapshot; ++i) {
        for (auto& [id, node] : h.nodes) node->tick();
        for (int r = 0; r < 50; ++r) {
            bool moved = false;
            for (auto& [id, node] : h.nodes) {
                if (!node->has_ready()) continue;
                moved = true;
                Ready rd = node->ready();
                if (id == lag && rd.snapshot) {
                    got_snapshot = true;
                    EXPECT_EQ(rd.snapshot->data, "state@" + std::to_string(rd.snapshot->meta.index));
                }
                std::vector<Message> msgs = rd.messages_now;
                msgs.insert(msgs.end(), rd.messages.begin(), rd.messages.end());
                node->advance(rd);
                for (auto& m : msgs) h.n(m.to).step(m);
            }
            if (!moved) break;
        }
    }
    EXPECT_TRUE(got_snapshot);
    EXPECT_EQ(h.n(lag).log().committed(), h.n(l).log().committed());
}

TEST(RaftNode, MembershipEncodingRoundTrips) {
    const Membership m = Membership::of({5, 1, 3, 3});
    EXPECT_EQ(m.voters, (std::vector<NodeId>{1, 3, 5}));
    EXPECT_EQ(Membership::decode(m.encode()), m);
    EXPECT_FALSE(Membership::decode("1,,2"));
    EXPECT_FALSE(Membership::decode("1,x"));
    EXPECT_FALSE(Membership::decode("0"));
}
